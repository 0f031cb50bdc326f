//! mqid's decisions over HTTP, for clustered brokers that delegate authentication and
//! authorization to an HTTP service: EMQX 5, rmqtt (`rmqtt-auth-http`), VerneMQ (webhooks) and
//! mosquitto-go-auth (HTTP backend). Each broker's contract is on its own path
//! ([`contracts`]); all of them ask one [`Decider`], which decides as mqid's own edge does (the
//! same index, stale gate, failed-auth limiter per (username, client id) and topic rules).
//!
//! The server is HTTP/1.1 with keep-alive (hyper 1), bound to loopback by default, with an
//! optional shared bearer token (`[http] token_file` or `MQID_HTTP_TOKEN`) and optional HTTPS
//! with client certificates required (`[http] tls`, rustls). No password reaches a
//! log line, an error or a `Debug` output.
#![forbid(unsafe_code)]

pub mod contracts;
pub mod decide;
pub mod params;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use zeroize::Zeroizing;

pub use decide::{ConnectOutcome, Decider, TopicOutcome};

use contracts::Resp;
use params::Params;

/// The environment variable that holds the bearer token when `[http] token_file` is not set.
pub const TOKEN_ENV: &str = "MQID_HTTP_TOKEN";

/// Largest request body read; a larger one is refused (the contract's deny).
pub const MAX_BODY: usize = 64 * 1024;

/// `[http]`: serve mqid's decisions over HTTP.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Where to listen; loopback by default. Any other address needs a bearer token.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// A file holding the shared bearer token the brokers send (`Authorization: Bearer ...`);
    /// without it, `MQID_HTTP_TOKEN`; without either, no token is asked.
    pub token_file: Option<PathBuf>,
    /// What a CONNECT of an unknown identity gets: `"deny"` (default) or `"ignore"` (EMQX and
    /// rmqtt "ignore", VerneMQ "next": the broker's next authenticator decides).
    #[serde(default)]
    pub unknown_identity: UnknownIdentity,
    /// The body of `/go-auth/*` answers: `"json"` (default; also fits `status` mode) or
    /// `"text"`; match mosquitto-go-auth's `auth_opt_http_response_mode`.
    #[serde(default)]
    pub go_auth_response: GoAuthResponse,
    /// HTTPS, and with `client_ca` client certificates required (mutual TLS).
    pub tls: Option<TlsConfig>,
}

/// `[http] tls = { cert, key, client_ca }`: PEM files.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// The server's certificate chain (leaf first).
    pub cert: PathBuf,
    /// The server's private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// The CA certificates that sign the brokers' client certificates; when set, a client
    /// without a certificate they sign cannot complete the handshake.
    pub client_ca: Option<PathBuf>,
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8088))
}

/// `[http] unknown_identity`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UnknownIdentity {
    #[default]
    Deny,
    Ignore,
}

/// `[http] go_auth_response`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GoAuthResponse {
    #[default]
    Json,
    Status,
    Text,
}

/// Why the HTTP server could not start.
#[derive(Debug)]
pub struct StartError(pub String);

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StartError {}

/// A bearer token; never shown.
pub struct Token(Zeroizing<Vec<u8>>);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

impl Token {
    /// The token of `config`: `token_file` (relative to `base`), else [`TOKEN_ENV`], else none.
    pub fn from_config(config: &HttpConfig, base: &Path) -> Result<Option<Token>, StartError> {
        let text = match &config.token_file {
            Some(p) => {
                let p = base.join(p);
                let t = std::fs::read_to_string(&p)
                    .map_err(|e| StartError(format!("[http] token_file {}: {e}", p.display())))?;
                Some(Zeroizing::new(t))
            }
            None => std::env::var(TOKEN_ENV).ok().map(Zeroizing::new),
        };
        let Some(text) = text else { return Ok(None) };
        let t = text.trim();
        if t.len() < 16 || t.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(StartError(format!(
                "[http] token (from {}): it must be at least 16 printable characters without \
                 spaces",
                match &config.token_file {
                    Some(p) => p.display().to_string(),
                    None => TOKEN_ENV.to_owned(),
                }
            )));
        }
        Ok(Some(Token(Zeroizing::new(t.as_bytes().to_vec()))))
    }

    fn matches(&self, header: Option<&[u8]>) -> bool {
        use subtle::ConstantTimeEq;
        let Some(value) = header.and_then(|h| h.strip_prefix(b"Bearer ")) else {
            return false;
        };
        value.len() == self.0.len() && bool::from(value.ct_eq(&self.0))
    }
}

/// The TLS side of `[http] tls`: the acceptor, built once at start-up.
#[derive(Clone)]
pub struct Tls(tokio_rustls::TlsAcceptor);

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tls(..)")
    }
}

impl Tls {
    /// The acceptor of `config.tls` (files relative to `base`), or `None` without `tls`. Every
    /// error names the key (`[http] tls.cert`, `tls.key`, `tls.client_ca`) and the file; none
    /// shows what a key file holds.
    pub fn from_config(config: &HttpConfig, base: &Path) -> Result<Option<Tls>, StartError> {
        use rustls::pki_types::pem::{self, PemObject};
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};

        let Some(tls) = &config.tls else {
            return Ok(None);
        };
        let certs = |key: &str, path: &Path| -> Result<Vec<CertificateDer<'static>>, StartError> {
            let path = base.join(path);
            let err = |e: String| StartError(format!("[http] tls.{key} {}: {e}", path.display()));
            let certs = CertificateDer::pem_file_iter(&path)
                .map_err(|e| err(e.to_string()))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| err(format!("not valid PEM: {e}")))?;
            if certs.is_empty() {
                return Err(err(
                    "no certificate in it (PEM \"CERTIFICATE\" blocks)".into()
                ));
            }
            Ok(certs)
        };
        let chain = certs("cert", &tls.cert)?;
        let key_path = base.join(&tls.key);
        let key = PrivateKeyDer::from_pem_file(&key_path).map_err(|e| {
            let why = match e {
                pem::Error::Io(e) => e.to_string(),
                pem::Error::NoItemsFound => "no private key in it (PEM \"PRIVATE KEY\", \
                    \"RSA PRIVATE KEY\" or \"EC PRIVATE KEY\")"
                    .to_owned(),
                // The other errors may quote the file: it holds a secret.
                _ => "not valid PEM".to_owned(),
            };
            StartError(format!("[http] tls.key {}: {why}", key_path.display()))
        })?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| StartError(format!("[http] tls: {e}")))?;
        let builder = match &tls.client_ca {
            None => builder.with_no_client_auth(),
            Some(ca) => {
                let mut roots = rustls::RootCertStore::empty();
                for c in certs("client_ca", ca)? {
                    roots.add(c).map_err(|e| {
                        StartError(format!(
                            "[http] tls.client_ca {}: not a usable CA certificate: {e}",
                            base.join(ca).display()
                        ))
                    })?;
                }
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    provider,
                )
                .build()
                .map_err(|e| {
                    StartError(format!(
                        "[http] tls.client_ca {}: {e}",
                        base.join(ca).display()
                    ))
                })?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut server = builder.with_single_cert(chain, key).map_err(|e| {
            StartError(format!(
                "[http] tls.cert {} and tls.key {}: {e}",
                base.join(&tls.cert).display(),
                key_path.display()
            ))
        })?;
        server.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Some(Tls(tokio_rustls::TlsAcceptor::from(Arc::new(server)))))
    }
}

/// What the server needs.
pub struct State {
    pub decider: Arc<Decider>,
    pub config: HttpConfig,
    pub token: Option<Token>,
    pub leader: Leader,
    /// HTTPS (`[http] tls`); `None`: plain HTTP.
    pub tls: Option<Tls>,
}

/// The leader side of "one sync for many nodes": `/snapshot` serves the set in force in the
/// snapshot format, with a strong `ETag` (SHA-256 of the body), `304` on `If-None-Match`.
/// Serialised once per index generation. It holds secrets in clear: served only with a bearer
/// token configured and presented.
pub struct Leader {
    cache: std::sync::Mutex<Option<(u64, Bytes, String)>>,
    /// When the set in force was last known to match its source (a follower's staleness).
    synced_at: Box<dyn Fn() -> SystemTime + Send + Sync>,
}

impl Leader {
    pub fn new(synced_at: impl Fn() -> SystemTime + Send + Sync + 'static) -> Leader {
        Leader {
            cache: std::sync::Mutex::new(None),
            synced_at: Box::new(synced_at),
        }
    }

    fn current(&self, d: &Decider) -> (Bytes, String) {
        use sha2::Digest;
        let index = d.index().load();
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        match &*cache {
            Some((generation, body, etag)) if *generation == index.generation() => {
                (body.clone(), etag.clone())
            }
            _ => {
                let body = Bytes::from(mqid_sync::snapshot::to_bytes(&index, (self.synced_at)()));
                let digest = sha2::Sha256::digest(&body);
                let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
                let etag = format!("\"{hex}\"");
                *cache = Some((index.generation(), body.clone(), etag.clone()));
                (body, etag)
            }
        }
    }
}

/// Binds `config.listen`; refuses a non-loopback address without a token or client
/// certificates (`[http] tls.client_ca`).
pub fn bind(
    config: &HttpConfig,
    token: Option<&Token>,
) -> Result<std::net::TcpListener, StartError> {
    let client_certs = config.tls.as_ref().is_some_and(|t| t.client_ca.is_some());
    if !config.listen.ip().is_loopback() && token.is_none() && !client_certs {
        return Err(StartError(format!(
            "[http] listen = \"{}\" is not a loopback address: set [http] token_file or {TOKEN_ENV}, \
             or [http] tls.client_ca, so that only the brokers can ask",
            config.listen
        )));
    }
    let l = std::net::TcpListener::bind(config.listen)
        .map_err(|e| StartError(format!("[http] listen = \"{}\": {e}", config.listen)))?;
    l.set_nonblocking(true)
        .map_err(|e| StartError(format!("[http] listen: {e}")))?;
    Ok(l)
}

/// Serves on `listener` until `shutdown` completes: one task per connection, keep-alive.
pub async fn serve(
    listener: std::net::TcpListener,
    state: Arc<State>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let listener = TcpListener::from_std(listener)?;
    let mut conns = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    let _ = stream.set_nodelay(true);
                    let state = state.clone();
                    conns.spawn(async move {
                        match state.tls.clone() {
                            None => serve_connection(stream, state).await,
                            Some(Tls(acceptor)) => {
                                let shake = tokio::time::timeout(
                                    TLS_HANDSHAKE_TIMEOUT,
                                    acceptor.accept(stream),
                                );
                                match shake.await {
                                    Ok(Ok(tls)) => serve_connection(tls, state).await,
                                    Ok(Err(e)) => {
                                        warn_limited(&format!("TLS handshake refused: {e}"));
                                    }
                                    Err(_) => warn_limited("TLS handshake timed out"),
                                }
                            }
                        }
                    });
                }
                Err(e) => {
                    warn_limited(&format!("accept failed: {e}"));
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    conns.shutdown().await;
    Ok(())
}

/// How long a client has to complete the TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// HTTP/1.1 with keep-alive on one connection (plain or TLS) until the client closes it.
async fn serve_connection<I>(io: I, state: Arc<State>)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let svc = service_fn(move |req| handle(state.clone(), req));
    let _ = http1::Builder::new()
        .keep_alive(true)
        .serve_connection(TokioIo::new(io), svc)
        .await;
}

/// Starts the server on a thread of its own (a two-worker runtime), on an already bound
/// listener. Returns the thread.
pub fn spawn(
    listener: std::net::TcpListener,
    state: Arc<State>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("mqid-http")
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name("mqid-http".into())
        .spawn(move || {
            if let Err(e) = rt.block_on(serve(listener, state, std::future::pending())) {
                tracing::error!("the HTTP server stopped: {e}");
            }
        })
}

/// The paths, for the start-up log line.
pub const PATHS: [&str; 10] = [
    "/emqx/authn",
    "/emqx/authz",
    "/rmqtt/auth",
    "/rmqtt/acl",
    "/vernemq",
    "/go-auth/user",
    "/go-auth/superuser",
    "/go-auth/acl",
    "/healthz",
    "/snapshot",
];

async fn handle(state: Arc<State>, req: Request<Incoming>) -> Result<Resp, Infallible> {
    let path = req.uri().path().to_owned();
    if path == "/healthz" {
        return Ok(healthz(&state.decider));
    }
    if path == "/snapshot" {
        return Ok(snapshot(&state, &req));
    }
    let authorized = state.token.as_ref().is_none_or(|t| {
        t.matches(
            req.headers()
                .get(hyper::header::AUTHORIZATION)
                .map(|v| v.as_bytes()),
        )
    });
    let hook = req
        .headers()
        .get("vernemq-hook")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let query = req.uri().query().map(str::to_owned);
    // Read the body only for a known path and an authorized caller.
    let known = matches!(
        path.as_str(),
        "/emqx/authn"
            | "/emqx/authz"
            | "/rmqtt/auth"
            | "/rmqtt/acl"
            | "/vernemq"
            | "/go-auth/user"
            | "/go-auth/superuser"
            | "/go-auth/acl"
    );
    if !known {
        return Ok(contracts::response(
            StatusCode::NOT_FOUND,
            "text/plain",
            "unknown_path",
            format!("mqid serves {}\n", PATHS.join(", ")),
        ));
    }
    let params: Result<Params, String> = if !authorized {
        warn_limited("a request without the configured bearer token was refused");
        Err("unauthorized: missing or wrong bearer token".to_owned())
    } else {
        match Limited::new(req.into_body(), MAX_BODY).collect().await {
            Ok(body) => Params::parse(query.as_deref(), &body.to_bytes()).map_err(|e| e.0),
            Err(_) => Err(format!("the body is unreadable or over {MAX_BODY} bytes")),
        }
    };
    let (p, reason) = match &params {
        Ok(p) => (Some(p), None),
        Err(e) => (None, Some(e.as_str())),
    };
    let d = &state.decider;
    let c = &state.config;
    let resp = match (path.as_str(), reason) {
        ("/emqx/authn", Some(r)) => contracts::emqx_authn_answer(&contracts::Answer::deny(r)),
        ("/emqx/authn", None) => contracts::emqx_authn(d, c, p),
        ("/emqx/authz", Some(r)) => contracts::emqx_authz_answer(&contracts::Answer::deny(r)),
        ("/emqx/authz", None) => contracts::emqx_authz(d, p),
        ("/rmqtt/auth", Some(r)) | ("/rmqtt/acl", Some(r)) => contracts::rmqtt_deny(r),
        ("/rmqtt/auth", None) => contracts::rmqtt_auth(d, c, p),
        ("/rmqtt/acl", None) => contracts::rmqtt_acl(d, p),
        ("/vernemq", _) => match hook.as_deref() {
            Some(h) if contracts::VERNEMQ_HOOKS.contains(&h) => match reason {
                Some(r) => contracts::vernemq_deny(r),
                None => contracts::vernemq(d, c, h, p),
            },
            // Not a hook mqid answers: a 400 that VerneMQ logs as an error (for an auth_on_*
            // hook that is a refusal), with what is wrong.
            other => contracts::response(
                StatusCode::BAD_REQUEST,
                "text/plain",
                "unknown_hook",
                format!(
                    "vernemq-hook {:?} is not one mqid answers ({})\n",
                    other.unwrap_or("(missing)"),
                    contracts::VERNEMQ_HOOKS.join(", ")
                ),
            ),
        },
        (_, Some(r)) => contracts::go_auth_deny(c, r),
        ("/go-auth/user", None) => contracts::go_auth_user(d, c, p),
        ("/go-auth/superuser", None) => contracts::go_auth_superuser(c),
        _ => contracts::go_auth_acl(d, c, p),
    };
    Ok(resp)
}

fn snapshot(state: &State, req: &Request<Incoming>) -> Resp {
    let text = |status, reason: &str, body: &str| {
        contracts::response(status, "text/plain", reason, format!("{body}\n"))
    };
    let Some(token) = &state.token else {
        return text(
            StatusCode::FORBIDDEN,
            "no_token",
            "/snapshot holds secrets: set [http] token_file or MQID_HTTP_TOKEN to serve it",
        );
    };
    let header = req
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .map(|v| v.as_bytes());
    if !token.matches(header) {
        warn_limited("a /snapshot request without the configured bearer token was refused");
        return text(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing or wrong bearer token",
        );
    }
    let d = &state.decider;
    if !d.is_ready() || d.is_stale() {
        return text(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            "no index in force, or it is stale: followers keep their own copy",
        );
    }
    let (body, etag) = state.leader.current(d);
    let unchanged = req
        .headers()
        .get(hyper::header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == etag.as_bytes());
    let builder = hyper::Response::builder().header("etag", &etag);
    if unchanged {
        return builder
            .status(StatusCode::NOT_MODIFIED)
            .body(http_body_util::Full::new(Bytes::new()))
            .expect("valid response parts");
    }
    builder
        .status(StatusCode::OK)
        .header("content-type", "application/json")
        .body(http_body_util::Full::new(body))
        .expect("valid response parts")
}

fn healthz(d: &Decider) -> Resp {
    if d.is_ready() {
        let stats = d.index().load().stats();
        contracts::response(
            StatusCode::OK,
            "text/plain",
            "ready",
            format!("ok: {stats}\n"),
        )
    } else {
        contracts::response(
            StatusCode::SERVICE_UNAVAILABLE,
            "text/plain",
            "not_ready",
            "no index in force yet\n".to_owned(),
        )
    }
}

/// A warning at most once a second (a flood of bad requests never floods the log).
fn warn_limited(message: &str) {
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let last = LAST.load(Ordering::Relaxed);
    if now != last
        && LAST
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    {
        tracing::warn!("{message}");
    }
}
