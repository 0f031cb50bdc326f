//! The client against a local HTTP server (mqid-test-support's, hyper) answering as the
//! handlers here say. The handlers check every signature with the [`sign`] functions, as the
//! real service would, and answer `SignatureDoesNotMatch` when one is wrong.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mqid_core::Secret;
use mqid_test_support::http::{FakeServer, Request, Response};
use tokio::net::TcpListener;

use super::*;
use crate::{OpenApiConfig, Origin, SignatureVersion};

const AK_ID: &str = "LTAI5tTestKeyId";
const AK_SECRET: &str = "TopSecretValue-9f8e7d";
const TOKEN: &str = "STS.Tok/en+Value==";

#[derive(Clone, Debug)]
struct Req {
    path: String,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
}

impl Req {
    fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    /// The operation, from `x-acs-action` (V3) or `Action` (V1).
    fn action(&self) -> &str {
        self.header("x-acs-action")
            .or_else(|| self.param("Action"))
            .unwrap_or("")
    }
}

struct Resp {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
}

fn json(status: u16, body: serde_json::Value) -> Resp {
    Resp {
        status,
        headers: vec![],
        body: body.to_string().into_bytes(),
    }
}

struct Server {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Req>>>,
    _http: FakeServer,
}

impl Server {
    async fn start(handler: impl Fn(&Req) -> Resp + Send + Sync + 'static) -> Server {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let seen2 = seen.clone();
        let http = FakeServer::start(move |r: Request| {
            let req = Req {
                path: r.path,
                query: sign::parse_query(&r.query),
                headers: r.headers,
            };
            let resp = handler(&req);
            seen2.lock().unwrap().push(req);
            Response {
                status: resp.status,
                headers: resp
                    .headers
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), v))
                    .collect(),
                body: resp.body,
            }
        })
        .await;
        Server {
            addr: http.addr(),
            seen,
            _http: http,
        }
    }

    fn requests(&self) -> Vec<Req> {
        self.seen.lock().unwrap().clone()
    }

    fn tokens(&self, action: &str) -> Vec<String> {
        self.requests()
            .iter()
            .filter(|r| r.action() == action)
            .map(|r| r.param("NextToken").unwrap_or("<absent>").to_owned())
            .collect()
    }
}

fn config(addr: SocketAddr, signature: SignatureVersion) -> OpenApiConfig {
    OpenApiConfig {
        endpoint: Some(format!("http://{addr}/")),
        region_id: "cn-test".into(),
        instance_id: "post-cn-test".into(),
        page_size: 2,
        refresh_secs: 60,
        signature,
        max_requests_per_sec: 100.0,
        snapshot: None,
        request_timeout_secs: 5,
        max_retries_per_pass: 3,
        max_staleness_secs: Some(0),
        on_stale: crate::OnStale::Serve,
        permissions: true,
    }
}

fn credentials(secret: &str) -> Credentials {
    Credentials::new(AK_ID, Secret::new(secret), Some(Secret::new(TOKEN)))
}

fn client(cfg: &OpenApiConfig, secret: &str) -> Client {
    Client::new(cfg, credentials(secret))
        .unwrap()
        .with_backoff(Duration::from_millis(1), Duration::from_millis(5))
}

fn sig_mismatch(what: &str) -> Resp {
    json(
        400,
        serde_json::json!({
            "RequestId": "R-SIG", "HostId": "onsmqtt.test", "Code": "SignatureDoesNotMatch",
            "Message": format!("Specified signature is not matched with our calculation ({what})."),
        }),
    )
}

/// Checks the request as the service would: signature, version, token, parameters. `None`
/// when it is fine.
fn check_request(r: &Req) -> Option<Resp> {
    if r.path != "/" {
        return Some(json(404, serde_json::json!({"Code": "ApiNotSupport"})));
    }
    match r.header("authorization") {
        Some(auth) => {
            // V3.
            let Ok(a) = sign::V3Authorization::parse(auth) else {
                return Some(sig_mismatch("malformed Authorization"));
            };
            let expected_signed = [
                "host",
                "x-acs-action",
                "x-acs-content-sha256",
                "x-acs-date",
                "x-acs-security-token",
                "x-acs-signature-nonce",
                "x-acs-version",
            ];
            if a.credential != AK_ID
                || a.signed_headers != expected_signed
                || r.header("x-acs-version") != Some(API_VERSION)
                || r.header("x-acs-content-sha256") != Some(sign::EMPTY_SHA256_HEX)
                || r.header("x-acs-security-token") != Some(TOKEN)
                || r.header("x-acs-date")
                    .and_then(sign::parse_timestamp)
                    .is_none()
            {
                return Some(sig_mismatch("headers"));
            }
            if !a.verify(
                AK_SECRET,
                "GET",
                &r.path,
                &r.query,
                &r.headers,
                sign::EMPTY_SHA256_HEX,
            ) {
                return Some(sig_mismatch("V3"));
            }
        }
        None => {
            // V1.
            if r.param("AccessKeyId") != Some(AK_ID)
                || r.param("Version") != Some(API_VERSION)
                || r.param("SecurityToken") != Some(TOKEN)
                || r.param("SignatureMethod") != Some("HMAC-SHA1")
                || r.param("Format") != Some("JSON")
                || !sign::v1_verify(AK_SECRET, "GET", &r.query)
            {
                return Some(sig_mismatch("V1"));
            }
        }
    }
    if r.param("InstanceId") != Some("post-cn-test") || r.param("Size") != Some("2") {
        return Some(json(
            400,
            serde_json::json!({"Code": "InvalidParameter.InstanceId"}),
        ));
    }
    None
}

fn page(results: serde_json::Value, next: Option<&str>) -> Resp {
    let mut data = serde_json::json!({ "Results": results });
    if let Some(n) = next {
        data["NextToken"] = n.into();
    }
    json(
        200,
        serde_json::json!({"RequestId": "R", "Code": 200, "Success": true,
            "Message": "operation success.", "Data": data}),
    )
}

/// A token with characters that must survive percent-encoding unchanged.
const TOKEN1: &str = "AAAA/xy+z= é&q";

/// Three pages of identities (one record invalid), two of blacklist and two of topic rules (one
/// record invalid).
fn api(r: &Req) -> Resp {
    if let Some(refusal) = check_request(r) {
        return refusal;
    }
    let token = r.param("NextToken").unwrap_or("");
    match (r.action(), token) {
        (ACTION_IDENTITY, "") => page(
            serde_json::json!([
                {"Username": "alice", "Secret": "s-alice", "IdentityType": "USER", "SignMode": "ORIGIN"},
                {"Username": "bob", "Secret": "s-bob", "IdentityType": "CLIENT",
                 "ClientId": "GID_x@@@1", "SignMode": "SIGNED"},
            ]),
            Some(TOKEN1),
        ),
        (ACTION_IDENTITY, TOKEN1) => page(
            serde_json::json!([
                {"Username": "carol", "Secret": "s-carol", "IdentityType": "USER", "SignMode": "SIGNED"},
                {"Username": "mallory", "Secret": "s-mallory", "IdentityType": "ADMIN", "SignMode": "ORIGIN"},
            ]),
            Some("t2"),
        ),
        (ACTION_IDENTITY, "t2") => page(
            serde_json::json!([
                {"Username": "dave", "Secret": "s-dave", "IdentityType": "USER", "SignMode": "ORIGIN"},
            ]),
            None,
        ),
        (ACTION_CONNECT_BLACK, "") => page(
            serde_json::json!([
                {"ClientId": "bad-1", "PermitAction": "CONNECT", "Effect": "DENY"},
                {"ClientId": "bad-2", "PermitAction": "CONNECT"},
            ]),
            Some("b1"),
        ),
        (ACTION_CONNECT_BLACK, "b1") => page(
            serde_json::json!([
                {"ClientId": "fine", "PermitAction": "CONNECT", "Effect": "ALLOW"},
            ]),
            Some(""),
        ),
        (ACTION_PERMISSION, "") => page(
            serde_json::json!([
                {"Identity": "alice", "IdentityType": "USER", "Topic": "fleet/+/up",
                 "PermitAction": "PUB_SUB", "Effect": "ALLOW"},
                {"Identity": "alice", "IdentityType": "USER", "Topic": "fleet/#/up",
                 "PermitAction": "PUB", "Effect": "ALLOW"},
            ]),
            Some("p/1+"),
        ),
        (ACTION_PERMISSION, "p/1+") => page(
            serde_json::json!([
                {"Identity": "GID_x@@@1", "IdentityType": "CLIENT", "Topic": "fleet/secret",
                 "PermitAction": "SUB", "Effect": "DENY", "Extra": 1},
            ]),
            None,
        ),
        _ => json(
            400,
            serde_json::json!({"Code": "InvalidParameter.NextToken", "Message": "unknown token"}),
        ),
    }
}

async fn full_pass(signature: SignatureVersion) {
    let server = Server::start(api).await;
    let cfg = config(server.addr, signature);
    let (loaded, stats) = client(&cfg, AK_SECRET).pass().await.unwrap();

    let names: Vec<&str> = loaded
        .identities
        .iter()
        .map(|i| i.username.as_str())
        .collect();
    assert_eq!(names, ["alice", "bob", "carol", "dave"]);
    assert_eq!(loaded.skipped.len(), 1);
    assert_eq!(loaded.skipped[0].position, 3);
    assert_eq!(loaded.skipped[0].username.as_deref(), Some("mallory"));
    assert_eq!(loaded.blacklist, ["bad-1", "bad-2"]);
    let rules: Vec<String> = loaded
        .permissions
        .as_ref()
        .expect("rules were read")
        .iter()
        .map(|p| p.to_string())
        .collect();
    assert_eq!(
        rules,
        [
            r#"ALLOW PUB_SUB on "fleet/+/up" for USER "alice""#,
            r#"DENY SUB on "fleet/secret" for CLIENT "GID_x@@@1""#
        ]
    );
    // The rule whose topic is not an MQTT filter is skipped and named, position across pages.
    assert_eq!(loaded.skipped_permissions.len(), 1);
    let skipped = loaded.skipped_permissions[0].to_string();
    assert!(
        skipped.contains("#1") && skipped.contains("fleet/#/up") && skipped.contains("alice"),
        "{skipped}"
    );
    assert_eq!(
        loaded.origin,
        Origin::Api {
            endpoint: format!("http://{}", server.addr)
        }
    );
    assert_eq!(
        (
            stats.pages,
            stats.requests,
            stats.retries,
            stats.identities,
            stats.blacklisted,
            stats.skipped,
            stats.blacklist_ignored,
            stats.permissions,
            stats.permissions_skipped
        ),
        (7, 7, 0, 4, 2, 1, 1, Some(2), 1)
    );
    // Tokens went back exactly as returned, the first one empty.
    assert_eq!(server.tokens(ACTION_IDENTITY), ["", TOKEN1, "t2"]);
    assert_eq!(server.tokens(ACTION_CONNECT_BLACK), ["", "b1"]);
    assert_eq!(server.tokens(ACTION_PERMISSION), ["", "p/1+"]);
    // Every request carried a fresh nonce.
    let reqs = server.requests();
    let nonce = |r: &Req| {
        r.header("x-acs-signature-nonce")
            .or_else(|| r.param("SignatureNonce"))
            .unwrap()
            .to_owned()
    };
    let mut nonces: Vec<String> = reqs.iter().map(nonce).collect();
    nonces.sort();
    nonces.dedup();
    assert_eq!(nonces.len(), reqs.len());
    for r in &reqs {
        match signature {
            SignatureVersion::V3 => {
                let auth = r.header("authorization").unwrap();
                assert!(auth.starts_with("ACS3-HMAC-SHA256 Credential=LTAI5tTestKeyId,SignedHeaders=host;x-acs-action;"), "{auth}");
                assert_eq!(r.param("Signature"), None);
            }
            SignatureVersion::V1 => {
                assert_eq!(r.header("authorization"), None);
                assert!(r.param("Signature").is_some());
            }
        }
    }
}

#[tokio::test]
async fn v3_pass_over_three_pages() {
    full_pass(SignatureVersion::V3).await;
}

#[tokio::test]
async fn v1_pass_over_three_pages() {
    full_pass(SignatureVersion::V1).await;
}

#[tokio::test]
async fn permissions_off_pages_no_rules() {
    let server = Server::start(api).await;
    let mut cfg = config(server.addr, SignatureVersion::V1);
    cfg.permissions = false;
    let (loaded, stats) = client(&cfg, AK_SECRET).pass().await.unwrap();
    assert!(loaded.permissions.is_none());
    assert_eq!((stats.pages, stats.permissions), (5, None));
    assert!(server.tokens(ACTION_PERMISSION).is_empty());
    assert!(
        stats.to_string().contains("topic rules not read"),
        "{stats}"
    );
}

#[tokio::test]
async fn a_bad_permission_page_fails_the_whole_pass() {
    let server = Server::start(|r| {
        if r.action() == ACTION_PERMISSION && r.param("NextToken") == Some("p/1+") {
            return page(serde_json::json!("not a list"), None);
        }
        api(r)
    })
    .await;
    let err = client(&config(server.addr, SignatureVersion::V3), AK_SECRET)
        .pass()
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            PassError::BadPage {
                action: ACTION_PERMISSION,
                page: 2,
                ..
            }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn throttled_then_retried_after_the_hint() {
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    let server = Server::start(move |r| match c.fetch_add(1, Ordering::SeqCst) {
        0 => Resp {
            headers: vec![(
                "x-ratelimit-user-api",
                "Limit:1,Remain:0,TimeLeft:60,Reset:1".into(),
            )],
            ..json(
                429,
                serde_json::json!({"RequestId": "R1", "Code": "Throttling.User",
                    "Message": "Request was denied due to user flow control."}),
            )
        },
        1 => json(
            400,
            serde_json::json!({"Code": "Throttling.Api", "Message": "api flow control"}),
        ),
        2 => json(503, serde_json::json!({"Code": "ServiceUnavailable"})),
        _ => api(r),
    })
    .await;
    let cfg = config(server.addr, SignatureVersion::V3);
    let started = std::time::Instant::now();
    let (loaded, stats) = client(&cfg, AK_SECRET).pass().await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(60));
    assert_eq!(loaded.identities.len(), 4);
    assert_eq!((stats.retries, stats.requests, stats.pages), (3, 10, 7));
    // The retried request was the first page, asked for again from the start.
    assert_eq!(
        server.tokens(ACTION_IDENTITY),
        ["", "", "", "", TOKEN1, "t2"]
    );
}

#[tokio::test]
async fn retry_budget_is_per_pass() {
    let server = Server::start(|_| json(503, serde_json::json!({}))).await;
    let mut cfg = config(server.addr, SignatureVersion::V3);
    cfg.max_retries_per_pass = 2;
    let err = client(&cfg, AK_SECRET).pass().await.unwrap_err();
    assert!(
        matches!(
            err,
            PassError::RetriesExhausted {
                retries: 2,
                page: 1,
                ..
            }
        ),
        "{err}"
    );
    assert!(!err.needs_operator());
    assert_eq!(server.requests().len(), 3);
    let s = err.to_string();
    assert!(
        s.contains("max_retries_per_pass") && s.contains("HTTP 503"),
        "{s}"
    );
}

#[tokio::test]
async fn wrong_secret_fails_at_once_without_leaking() {
    // The real service echoes its string to sign; this one also echoes the token and, to be
    // sure the scrubbing works, the very secret the client used.
    let wrong = "WrongSecret-abc123";
    let server = Server::start(move |r| {
        let mut resp = api(r);
        if resp.status == 400 {
            resp.body = serde_json::json!({
                "RequestId": "R-SIG", "HostId": "onsmqtt.test", "Code": "SignatureDoesNotMatch",
                "Message": format!(
                    "Specified signature is not matched with our calculation. server string to sign is:GET&%2F&SecurityToken%3D{}&raw={TOKEN}&enc={}&key={wrong}",
                    sign::pct(&sign::pct(TOKEN)),
                    sign::pct(TOKEN)
                ),
            })
            .to_string()
            .into_bytes();
        }
        resp
    })
    .await;
    for signature in [SignatureVersion::V3, SignatureVersion::V1] {
        let cfg = config(server.addr, signature);
        let before = server.requests().len();
        let err = client(&cfg, wrong).pass().await.unwrap_err();
        assert_eq!(server.requests().len(), before + 1, "retried a rejection");
        assert!(
            matches!(&err, PassError::Rejected { code: Some(c), status: 400, .. } if c == "SignatureDoesNotMatch"),
            "{err}"
        );
        assert!(err.needs_operator());
        let shown = format!("{err} {err:?}");
        assert!(
            shown.contains("check ALIBABA_CLOUD_ACCESS_KEY_SECRET"),
            "{shown}"
        );
        assert!(shown.contains("R-SIG"), "{shown}");
        for leak in [
            wrong.to_owned(),
            TOKEN.to_owned(),
            sign::pct(TOKEN),
            sign::pct(&sign::pct(TOKEN)),
        ] {
            assert!(!shown.contains(&leak), "{leak} in {shown}");
        }
    }
}

#[tokio::test]
async fn configuration_errors_say_what_to_fix() {
    let server = Server::start(|r| {
        let code = if r.action() == ACTION_CONNECT_BLACK {
            "InstancePermissionCheckFailed"
        } else {
            "InvalidTimeStamp.Expired"
        };
        json(400, serde_json::json!({"Code": code}))
    })
    .await;
    let err = client(&config(server.addr, SignatureVersion::V3), AK_SECRET)
        .pass()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("clock skew"), "{err}");
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn repeated_next_token_fails_the_pass() {
    let server = Server::start(|r| {
        if let Some(refusal) = check_request(r) {
            return refusal;
        }
        let user = serde_json::json!([
            {"Username": "u", "Secret": "s", "IdentityType": "USER", "SignMode": "ORIGIN"}
        ]);
        match r.param("NextToken") {
            Some("") => page(user, Some("A")),
            Some("A") => page(user, Some("B")),
            _ => page(user, Some("A")),
        }
    })
    .await;
    let err = client(&config(server.addr, SignatureVersion::V3), AK_SECRET)
        .pass()
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            PassError::BadPage {
                action: ACTION_IDENTITY,
                page: 3,
                problem: PageProblem::RepeatedNextToken { first_page: 1 }
            }
        ),
        "{err}"
    );
    let s = err.to_string();
    assert!(
        s.contains("QueryCustomAuthIdentity page 3") && s.contains("NextToken"),
        "{s}"
    );
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn bad_pages_fail_the_pass() {
    type Expect = fn(&PageProblem) -> bool;
    let cases: Vec<(&'static str, Expect)> = vec![
        ("not json at all", |p| matches!(p, PageProblem::Json(_))),
        (r#"{"Success":false,"Code":"Oops","Message":"m"}"#, |p| {
            matches!(p, PageProblem::NotSuccess { .. })
        }),
        (r#"{"Success":true}"#, |p| *p == PageProblem::MissingData),
        (r#"{"Success":true,"Data":{"Results":[{},{},{}]}}"#, |p| {
            *p == PageProblem::TooManyResults { got: 3, size: 2 }
        }),
    ];
    for (body, expected) in cases {
        let server = Server::start(move |_| Resp {
            status: 200,
            headers: vec![],
            body: body.as_bytes().to_vec(),
        })
        .await;
        let err = client(&config(server.addr, SignatureVersion::V3), AK_SECRET)
            .pass()
            .await
            .unwrap_err();
        match &err {
            PassError::BadPage {
                action: ACTION_IDENTITY,
                page: 1,
                problem,
            } => assert!(expected(problem), "{body}: {err}"),
            other => panic!("{body}: {other}"),
        }
        assert_eq!(server.requests().len(), 1, "{body}");
    }
}

#[tokio::test]
async fn oversized_body_is_refused() {
    let server = Server::start(api).await;
    let err = client(&config(server.addr, SignatureVersion::V3), AK_SECRET)
        .with_max_body(100)
        .pass()
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            PassError::BadPage {
                problem: PageProblem::TooLarge { limit: 100 },
                ..
            }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn connection_errors_are_retried_and_keep_the_url_out() {
    // A port with nobody listening.
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let mut cfg = config(addr, SignatureVersion::V1);
    cfg.max_retries_per_pass = 1;
    let err = client(&cfg, AK_SECRET).pass().await.unwrap_err();
    assert!(
        matches!(err, PassError::RetriesExhausted { retries: 1, .. }),
        "{err}"
    );
    let shown = format!("{err} {err:?}");
    assert!(shown.contains("could not connect"), "{shown}");
    for leak in ["Signature=", "SecurityToken", "STS.", AK_SECRET] {
        assert!(!shown.contains(leak), "{leak} in {shown}");
    }
}

#[tokio::test]
async fn timeouts_are_transient() {
    // Accepts and never answers.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    let mut cfg = config(addr, SignatureVersion::V3);
    cfg.request_timeout_secs = 1;
    cfg.max_retries_per_pass = 0;
    let err = client(&cfg, AK_SECRET).pass().await.unwrap_err();
    assert!(err.to_string().contains("timed out"), "{err}");
}

#[tokio::test]
async fn requests_are_paced() {
    let server = Server::start(api).await;
    let mut cfg = config(server.addr, SignatureVersion::V3);
    cfg.max_requests_per_sec = 10.0;
    let c = client(&cfg, AK_SECRET);
    let started = std::time::Instant::now();
    let (_, stats) = c.pass().await.unwrap();
    assert_eq!(stats.requests, 7);
    // Seven request starts, at least 100 ms apart.
    assert!(
        started.elapsed() >= Duration::from_millis(600),
        "{:?}",
        started.elapsed()
    );
    // The pacing carries over into the next pass.
    let again = std::time::Instant::now();
    c.pass().await.unwrap();
    assert!(
        again.elapsed() >= Duration::from_millis(650),
        "{:?}",
        again.elapsed()
    );
}

#[test]
fn credentials_from_variables() {
    let vars = |id: Option<&str>, secret: Option<&str>, token: Option<&str>| {
        let (id, secret, token) = (
            id.map(str::to_owned),
            secret.map(str::to_owned),
            token.map(str::to_owned),
        );
        move |name: &'static str| -> Result<Option<String>, ()> {
            Ok(match name {
                ENV_ACCESS_KEY_ID => id.clone(),
                ENV_ACCESS_KEY_SECRET => secret.clone(),
                ENV_SECURITY_TOKEN => token.clone(),
                _ => None,
            })
        }
    };
    let e = Credentials::from_lookup(vars(None, Some("s"), None)).unwrap_err();
    assert_eq!(e, CredentialsError::Missing(ENV_ACCESS_KEY_ID));
    assert!(e.to_string().contains("ALIBABA_CLOUD_ACCESS_KEY_ID"));
    let e = Credentials::from_lookup(vars(Some("id"), None, None)).unwrap_err();
    assert!(
        e.to_string().contains("ALIBABA_CLOUD_ACCESS_KEY_SECRET"),
        "{e}"
    );
    assert_eq!(
        Credentials::from_lookup(vars(Some("id"), Some(""), None)).unwrap_err(),
        CredentialsError::Empty(ENV_ACCESS_KEY_SECRET)
    );
    assert_eq!(
        Credentials::from_lookup(vars(Some("id"), Some("s"), Some("to\nken"))).unwrap_err(),
        CredentialsError::BadCharacters(ENV_SECURITY_TOKEN)
    );
    assert_eq!(
        Credentials::from_lookup(|_| Err(())).unwrap_err(),
        CredentialsError::NotUnicode(ENV_ACCESS_KEY_ID)
    );
    let c = Credentials::from_lookup(vars(Some("id"), Some("s3cr3t-value"), Some(""))).unwrap();
    assert!(!c.has_security_token());
    let c = Credentials::from_lookup(vars(Some("LTAIid"), Some("s3cr3t-value"), Some("tok-123")))
        .unwrap();
    assert!(c.has_security_token());
    assert_eq!(c.access_key_id(), "LTAIid");
    let shown = format!("{c:?} {c:#?}");
    assert!(shown.contains("LTAIid"), "{shown}");
    assert!(
        !shown.contains("s3cr3t") && !shown.contains("tok-123"),
        "{shown}"
    );
    let client = Client::new(
        &config("127.0.0.1:1".parse().unwrap(), SignatureVersion::V3),
        c,
    )
    .unwrap();
    let shown = format!("{client:?}");
    assert!(
        !shown.contains("s3cr3t") && !shown.contains("tok-123"),
        "{shown}"
    );
}

#[test]
fn endpoints() {
    let c = || credentials(AK_SECRET);
    let mut cfg = config("127.0.0.1:8080".parse().unwrap(), SignatureVersion::V3);
    assert_eq!(
        Client::new(&cfg, c()).unwrap().endpoint(),
        "http://127.0.0.1:8080"
    );
    cfg.endpoint = None;
    cfg.region_id = "cn-hangzhou".into();
    assert_eq!(
        Client::new(&cfg, c()).unwrap().endpoint(),
        "https://onsmqtt.cn-hangzhou.aliyuncs.com"
    );
    for bad in [
        "onsmqtt.cn-hangzhou.aliyuncs.com",
        "ftp://x",
        "https://u:pw@x",
        "https://x/?a=1",
    ] {
        cfg.endpoint = Some(bad.into());
        let e = Client::new(&cfg, c()).unwrap_err();
        assert!(e.to_string().contains("[auth.openapi] endpoint"), "{e}");
        assert!(!e.to_string().contains("pw"), "{e}");
    }
}

/// A pass can run on a spawned task.
#[allow(dead_code)]
fn pass_future_is_send(c: &Client) {
    fn is_send<T: Send>(_: T) {}
    is_send(c.pass());
}
