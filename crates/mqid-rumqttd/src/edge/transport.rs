//! TLS and websocket under the MQTT connection, with rumqttd's own config keys.
//!
//! # Contract
//!
//! * `tls = { certpath, keypath }` (rumqttd's `TlsConfig::Rustls`) on a `[v4.N]`, `[v5.N]` or
//!   `[ws.N]` listener: the certificate chain and key are read at start-up (a bad file stops
//!   start-up naming it) and each handshake runs in its connection's task, never in the accept
//!   loop, within `connection_timeout_ms`.
//! * Sessions resume with stateless TLS 1.3 tickets (one per connection, sealed with a key of
//!   the process that rotates every 6 hours), so a fleet of any size resumes; rustls' default
//!   (which rumqttd's own listener keeps) is a cache of 256 sessions. A restart forgets the key:
//!   devices then make full handshakes.
//! * Cipher suites: the SHA-256 suites first (AES-128-GCM, then ChaCha20-Poly1305, then
//!   AES-256-GCM-SHA384), chosen by the edge: their key schedules run on SHA-256, which CPUs
//!   accelerate and small devices compute faster than SHA-384 (AES-128-GCM is the suite TLS 1.3
//!   requires of everyone). A client that lists ChaCha20-Poly1305 first (a device without AES
//!   hardware says so) gets its own order, as Go's TLS server does.
//! * `capath` (client certificates) and `pkcs12path` (native TLS) are refused at start-up:
//!   rumqttd's default build ignores `capath` with a warning, which would let a deployment
//!   believe clients are verified.
//! * `[ws.N]`: the websocket handshake (answering `Sec-WebSocket-Protocol: mqtt`, as rumqttd
//!   does) also runs in the connection's task within `connection_timeout_ms`; MQTT 3.1.1 runs
//!   over it, as on rumqttd's websocket listeners.

use std::fs::File;
use std::io::BufReader;
use std::sync::Arc;

use async_tungstenite::tungstenite::handshake::server::{
    Callback, ErrorResponse, Request, Response,
};
use async_tungstenite::tungstenite::http::HeaderValue;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::rustls::crypto::{ring as ring_provider, CryptoProvider};
use tokio_rustls::rustls::server::Acceptor;
use tokio_rustls::rustls::{CipherSuite, ServerConfig, SupportedCipherSuite};
use tokio_rustls::server::TlsStream;
use tokio_rustls::LazyConfigAcceptor;

use super::EdgeError;

/// A TLS listener's server side: one configuration for clients that list ChaCha20 first (their
/// order), one for the rest (the edge's order). Both share the certificate and the ticket key.
pub(crate) struct ServerTls {
    edge_order: Arc<ServerConfig>,
    client_order: Arc<ServerConfig>,
}

impl ServerTls {
    /// The handshake on `io`, with the configuration its ClientHello asks for.
    pub(crate) async fn accept<IO>(&self, io: IO) -> std::io::Result<TlsStream<IO>>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        let start = LazyConfigAcceptor::new(Acceptor::default(), io).await?;
        let config = if chacha_first(start.client_hello().cipher_suites()) {
            &self.client_order
        } else {
            &self.edge_order
        };
        start.into_stream(config.clone()).await
    }
}

fn is_chacha(s: CipherSuite) -> bool {
    matches!(
        s,
        CipherSuite::TLS13_CHACHA20_POLY1305_SHA256
            | CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
            | CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256
    )
}

fn is_sha384(s: CipherSuite) -> bool {
    matches!(
        s,
        CipherSuite::TLS13_AES_256_GCM_SHA384
            | CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
            | CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384
    )
}

/// Does the client's first suite that the edge supports use ChaCha20?
fn chacha_first(offered: &[CipherSuite]) -> bool {
    offered
        .iter()
        .find(|s| {
            ring_provider::ALL_CIPHER_SUITES
                .iter()
                .any(|o| o.suite() == **s)
        })
        .is_some_and(|s| is_chacha(*s))
}

/// The edge's order: SHA-256 suites first, AES-GCM before ChaCha20 (stable otherwise).
fn edge_suites() -> Vec<SupportedCipherSuite> {
    let mut suites = ring_provider::ALL_CIPHER_SUITES.to_vec();
    suites.sort_by_key(|s| (is_sha384(s.suite()), is_chacha(s.suite())));
    suites
}

/// The TLS server side for `tls` on listener `key`.
pub(crate) fn acceptor(key: &str, tls: &rumqttd::TlsConfig) -> Result<ServerTls, EdgeError> {
    let bad = |what: String| EdgeError::Tls(format!("[broker.{key}] tls: {what}"));
    let (certpath, keypath) = match tls {
        rumqttd::TlsConfig::Rustls {
            capath: Some(_), ..
        } => {
            return Err(bad(
                "capath (client certificate verification) is not supported by mqid's edge; \
                 remove it (clients authenticate with their MQTT credentials)"
                    .into(),
            ))
        }
        rumqttd::TlsConfig::Rustls {
            certpath, keypath, ..
        } => (certpath, keypath),
        rumqttd::TlsConfig::NativeTls { .. } => {
            return Err(bad(
                "pkcs12path (native TLS) is not supported; use certpath and keypath (PEM)".into(),
            ))
        }
    };
    let open = |path: &str| {
        File::open(path)
            .map(BufReader::new)
            .map_err(|e| bad(format!("cannot read {path}: {e}")))
    };
    let certs = rustls_pemfile::certs(&mut open(certpath)?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(format!("{certpath} is not a PEM certificate chain: {e}")))?;
    if certs.is_empty() {
        return Err(bad(format!("{certpath} holds no certificate")));
    }
    let key = rustls_pemfile::private_key(&mut open(keypath)?)
        .map_err(|e| bad(format!("{keypath}: {e}")))?
        .ok_or_else(|| bad(format!("{keypath} holds no private key")))?;
    // Sessions resume across the whole fleet: stateless tickets (sealed with a key of this
    // process that rotates every 6 hours) instead of rustls' default cache of 256 sessions,
    // which a fleet larger than that evicts before its devices come back. One ticket per
    // connection: an MQTT device holds one connection and resumes it once.
    let ticketer =
        ring_provider::Ticketer::new().map_err(|e| bad(format!("session tickets: {e}")))?;
    let config = |suites: Vec<SupportedCipherSuite>, edge_order: bool| {
        let provider = CryptoProvider {
            cipher_suites: suites,
            ..ring_provider::default_provider()
        };
        let mut c = ServerConfig::builder_with_provider(Arc::new(provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| bad(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(certs.clone(), key.clone_key())
            .map_err(|e| bad(format!("{certpath} / {keypath}: {e}")))?;
        c.ticketer = ticketer.clone();
        c.send_tls13_tickets = 1;
        c.ignore_client_order = edge_order;
        Ok::<_, EdgeError>(Arc::new(c))
    };
    Ok(ServerTls {
        edge_order: config(edge_suites(), true)?,
        client_order: config(ring_provider::ALL_CIPHER_SUITES.to_vec(), false)?,
    })
}

/// Answers the websocket handshake with `Sec-WebSocket-Protocol: mqtt`.
pub(crate) struct MqttSubprotocol;

impl Callback for MqttSubprotocol {
    fn on_request(self, _: &Request, mut response: Response) -> Result<Response, ErrorResponse> {
        response
            .headers_mut()
            .insert("sec-websocket-protocol", HeaderValue::from_static("mqtt"));
        Ok(response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use CipherSuite as S;

    #[test]
    fn the_edge_orders_sha256_suites_first_aes_before_chacha() {
        let tls13: Vec<CipherSuite> = edge_suites()
            .iter()
            .map(|s| s.suite())
            .filter(|s| format!("{s:?}").starts_with("TLS13"))
            .collect();
        assert_eq!(
            tls13,
            [
                S::TLS13_AES_128_GCM_SHA256,
                S::TLS13_CHACHA20_POLY1305_SHA256,
                S::TLS13_AES_256_GCM_SHA384
            ]
        );
    }

    #[test]
    fn a_client_listing_chacha_first_among_known_suites_keeps_its_order() {
        let unknown = S::Unknown(0x1301 + 0x40);
        for (offered, chacha) in [
            (
                vec![
                    S::TLS13_CHACHA20_POLY1305_SHA256,
                    S::TLS13_AES_128_GCM_SHA256,
                ],
                true,
            ),
            (vec![unknown, S::TLS13_CHACHA20_POLY1305_SHA256], true),
            (
                vec![
                    S::TLS13_AES_256_GCM_SHA384,
                    S::TLS13_CHACHA20_POLY1305_SHA256,
                ],
                false,
            ),
            (vec![S::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256], true),
            (vec![], false),
        ] {
            assert_eq!(chacha_first(&offered), chacha, "{offered:?}");
        }
    }
}
