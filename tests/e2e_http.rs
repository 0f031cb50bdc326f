//! End to end: `mqid serve` with only `[http]`, run as a real process on a free loopback port,
//! asked over real HTTP (reqwest, keep-alive) in each broker's own contract (README "Clustered
//! brokers"). The expected answers are each broker's documented response shapes applied by hand
//! to the identities and rules below, with mqid's rules (README "Topic permissions").

mod common;

use std::process::{Child, Stdio};

use common::*;
use serde_json::{json, Value};

const IDENTITIES: &str = r#"[
  {"Username":"fleet","Secret":"fleet-secret","IdentityType":"USER","SignMode":"ORIGIN"},
  {"Username":"fleet","Secret":"dev9-secret","IdentityType":"CLIENT","ClientId":"dev-9","SignMode":"ORIGIN"}
]"#;

/// USER rules for "fleet": publish fleet/+/up except fleet/7/up; subscribe to everything except
/// fleet/secret.
const RULES: &str = r##"[
  {"Identity":"fleet","IdentityType":"USER","Topic":"fleet/+/up","PermitAction":"PUB","Effect":"ALLOW"},
  {"Identity":"fleet","IdentityType":"USER","Topic":"fleet/7/up","PermitAction":"PUB","Effect":"DENY"},
  {"Identity":"fleet","IdentityType":"USER","Topic":"#","PermitAction":"SUB","Effect":"ALLOW"},
  {"Identity":"fleet","IdentityType":"USER","Topic":"fleet/secret","PermitAction":"SUB","Effect":"DENY"}
]"##;

struct Server {
    port: u16,
    child: Child,
    dir: tempfile::TempDir,
    client: reqwest::Client,
    /// "http", or "https" with `[http] tls`
    scheme: &'static str,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const FILE_AND_RULES_AUTH: &str = "[auth]\nsource = \"file\"\nfile = \"identities.json\"\n\
    watch_interval_ms = 50\n[auth.permissions]\nfile = \"rules.json\"\n";

/// `[http]` table body (without `listen`), environment; the file source.
fn start(http_extra: &str, env: &[(&str, &str)]) -> Server {
    start_in(
        tempfile::tempdir().unwrap(),
        http_extra,
        FILE_AND_RULES_AUTH,
        env,
    )
}

/// In `dir`, with `auth` as the `[auth]` table (the limiter's cooldown added).
fn start_in(dir: tempfile::TempDir, http_extra: &str, auth: &str, env: &[(&str, &str)]) -> Server {
    start_with_client(dir, http_extra, auth, env, reqwest::Client::new(), "http")
}

/// As [`start_in`], asking with `client` over `scheme`.
fn start_with_client(
    dir: tempfile::TempDir,
    http_extra: &str,
    auth: &str,
    env: &[(&str, &str)],
    client: reqwest::Client,
    scheme: &'static str,
) -> Server {
    std::fs::write(dir.path().join("identities.json"), IDENTITIES).unwrap();
    std::fs::write(dir.path().join("rules.json"), RULES).unwrap();
    let port = free_port();
    let config = dir.path().join("mqid.toml");
    std::fs::write(
        &config,
        format!(
            "[http]\nlisten = \"127.0.0.1:{port}\"\n{http_extra}\n{auth}\n\
             [auth.limits]\nmax_failures = 3\ncooldown_secs = 600\n"
        ),
    )
    .unwrap();
    // Debug level: the password check below covers every line mqid can write.
    let env = [&[("RUST_LOG", "debug")][..], env].concat();
    let mut s = serve_http(dir, port, &env);
    s.client = client;
    s.scheme = scheme;
    eventually(10, "/healthz answers 200", || s.get("/healthz").0 == 200);
    s
}

/// `mqid serve` on `dir/mqid.toml` (`MQID_HTTP_TOKEN` unset, then `env`), its log in
/// `dir/mqid.log`; once its HTTP port accepts connections.
fn serve_http(dir: tempfile::TempDir, port: u16, env: &[(&str, &str)]) -> Server {
    let log = dir.path().join("mqid.log");
    let mut cmd = mqid();
    cmd.arg("serve")
        .arg("--config")
        .arg(dir.path().join("mqid.toml"))
        .env_remove("MQID_HTTP_TOKEN")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn mqid serve");
    wait_for_port(port, &mut child, &log);
    Server {
        port,
        child,
        dir,
        client: reqwest::Client::new(),
        scheme: "http",
    }
}

/// (status, content type, X-Mqid-Reason, body)
type Reply = (u16, String, String, String);

impl Server {
    fn url(&self, path: &str) -> String {
        format!("{}://127.0.0.1:{}{path}", self.scheme, self.port)
    }

    fn send(&self, req: reqwest::RequestBuilder) -> Reply {
        rt().block_on(async {
            let r = req.send().await.expect("HTTP request");
            let header = |n: &str| {
                r.headers()
                    .get(n)
                    .map(|v| v.to_str().unwrap().to_owned())
                    .unwrap_or_default()
            };
            let (status, ct, reason) = (
                r.status().as_u16(),
                header("content-type"),
                header("x-mqid-reason"),
            );
            assert!(
                r.headers().get("x-superuser").is_none(),
                "never a superuser header"
            );
            (status, ct, reason, r.text().await.unwrap())
        })
    }

    fn get(&self, path: &str) -> Reply {
        self.send(self.client.get(self.url(path)))
    }

    fn json(&self, path: &str, body: Value, headers: &[(&str, &str)]) -> Reply {
        let mut req = self
            .client
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body.to_string());
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        self.send(req)
    }

    fn form(&self, path: &str, pairs: &[(&str, &str)]) -> Reply {
        let body: String = pairs
            .iter()
            .map(|(k, v)| format!("{k}={}", v.replace('/', "%2F").replace('#', "%23")))
            .collect::<Vec<_>>()
            .join("&");
        self.send(
            self.client
                .post(self.url(path))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body),
        )
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("mqid.log")).unwrap_or_default()
    }
}

fn body_json(r: &Reply) -> Value {
    serde_json::from_str(&r.3).unwrap_or_else(|e| panic!("not JSON ({e}): {r:?}"))
}

fn emqx_authn(s: &Server, c: &str, u: &str, p: &str) -> Reply {
    let r = s.json(
        "/emqx/authn",
        json!({"clientid": c, "username": u, "password": p, "peerhost": "127.0.0.1"}),
        &[],
    );
    assert_eq!(r.0, 200, "{r:?}");
    assert_eq!(r.1, "application/json", "{r:?}");
    r
}

fn emqx_result(r: &Reply) -> String {
    body_json(r)["result"].as_str().unwrap().to_owned()
}

/// Asserts that EMQX's authn request (client id, username, password) is denied, with mqid's
/// `reason`.
#[track_caller]
fn assert_emqx_denies(s: &Server, (c, u, p): (&str, &str, &str), reason: &str) {
    let r = emqx_authn(s, c, u, p);
    assert_eq!(
        (emqx_result(&r).as_str(), r.2.as_str()),
        ("deny", reason),
        "{r:?}"
    );
}

#[test]
fn emqx_5_authn_and_authz() {
    let s = start("", &[]);
    let ok = emqx_authn(&s, "dev-1", "fleet", "fleet-secret");
    assert_eq!(
        body_json(&ok),
        json!({"result": "allow", "is_superuser": false})
    );
    // The CLIENT identity of dev-9 takes precedence over USER "fleet".
    assert_eq!(
        emqx_result(&emqx_authn(&s, "dev-9", "fleet", "dev9-secret")),
        "allow"
    );
    assert_emqx_denies(&s, ("dev-9", "fleet", "fleet-secret"), "bad_password");
    assert_emqx_denies(&s, ("dev-1", "nobody", "x"), "unknown_identity");
    // A request mqid cannot read is denied (EMQX reads a 4xx as "ignore"), and says why.
    let r = s.json(
        "/emqx/authn",
        json!({"username": "fleet", "password": "fleet-secret"}),
        &[],
    );
    assert_eq!((r.0, emqx_result(&r).as_str()), (200, "deny"), "{r:?}");
    assert!(r.2.contains("clientid"), "{r:?}");
    let big = json!({"clientid": "dev-1", "username": "fleet", "password": "fleet-secret",
                     "pad": "x".repeat(70 * 1024)});
    let r = s.json("/emqx/authn", big, &[]);
    assert_eq!((r.0, emqx_result(&r).as_str()), (200, "deny"), "{r:?}");
    assert!(r.2.contains("65536 bytes"), "{r:?}");

    let authz = |action: &str, topic: &str| {
        let r = s.json(
            "/emqx/authz",
            json!({"clientid": "dev-1", "username": "fleet", "topic": topic, "action": action}),
            &[],
        );
        assert_eq!((r.0, r.1.as_str()), (200, "application/json"), "{r:?}");
        (emqx_result(&r), r.2)
    };
    assert_eq!(authz("publish", "fleet/1/up").0, "allow");
    assert_eq!(
        authz("publish", "fleet/7/up"),
        ("deny".into(), "deny_rule".into())
    );
    assert_eq!(
        authz("publish", "other/1"),
        ("deny".into(), "no_matching_rule".into())
    );
    assert_eq!(authz("subscribe", "fleet/public").0, "allow");
    assert_eq!(authz("subscribe", "$share/g/fleet/public").0, "allow");
    // EMQX asks nothing at delivery: a filter a DENY rule overlaps is refused (mqid's edge would
    // admit it and drop fleet/secret at delivery).
    assert_eq!(
        authz("subscribe", "fleet/+"),
        ("deny".into(), "deny_rule_overlaps".into())
    );
    assert_eq!(authz("subscribe", "#").0, "deny");
    assert_eq!(authz("subscribe", "fleet/secret").0, "deny");
    assert_eq!(authz("all", "fleet/1/up").0, "deny");
    assert_eq!(
        authz("publish", "fleet/+/up").0,
        "deny",
        "a filter is no topic name"
    );
    assert!(!s.log().contains("fleet-secret") && !s.log().contains("dev9-secret"));
}

#[test]
fn rmqtt_auth_and_acl_as_form_json_and_query() {
    let s = start("", &[]);
    let auth = |pairs: &[(&str, &str)]| {
        let r = s.form("/rmqtt/auth", pairs);
        assert_eq!((r.0, r.1.as_str()), (200, "text/plain"), "{r:?}");
        r.3
    };
    let creds = |p| {
        [
            ("clientid", "dev-1"),
            ("username", "fleet"),
            ("password", p),
        ]
    };
    assert_eq!(auth(&creds("fleet-secret")), "allow");
    assert_eq!(auth(&creds("wrong")), "deny");
    assert_eq!(
        auth(&[("clientid", "x"), ("username", "nobody"), ("password", "p")]),
        "deny"
    );
    // JSON (http_auth_req.headers content-type = application/json) and GET (query string).
    let r = s.json(
        "/rmqtt/auth",
        json!({"clientid": "dev-9", "username": "fleet", "password": "dev9-secret"}),
        &[],
    );
    assert_eq!(r.3, "allow");
    let r = s.get("/rmqtt/auth?clientid=dev-1&username=fleet&password=fleet-secret");
    assert_eq!(r.3, "allow");

    let acl = |access: &str, topic: &str| {
        let r = s.form(
            "/rmqtt/acl",
            &[
                ("access", access),
                ("username", "fleet"),
                ("clientid", "dev-1"),
                ("ipaddr", "127.0.0.1"),
                ("topic", topic),
            ],
        );
        assert_eq!(r.0, 200, "{r:?}");
        r.3
    };
    assert_eq!(acl("2", "fleet/1/up"), "allow");
    assert_eq!(acl("2", "fleet/7/up"), "deny");
    assert_eq!(acl("1", "fleet/public"), "allow");
    assert_eq!(acl("1", "fleet/#"), "deny");
    // rmqtt reads any other 2xx body as "allow": mqid answers "deny" for what it cannot read.
    assert_eq!(acl("3", "fleet/1/up"), "deny");
    assert_eq!(s.form("/rmqtt/acl", &[("access", "2")]).3, "deny");
}

#[test]
fn vernemq_webhooks() {
    let s = start("", &[]);
    let hook = |h: &str, body: Value| {
        let r = s.json("/vernemq", body, &[("vernemq-hook", h)]);
        assert_eq!((r.0, r.1.as_str()), (200, "application/json"), "{r:?}");
        body_json(&r)
    };
    let register = |c: &str, p: &str| {
        json!({"peer_addr": "127.0.0.1", "peer_port": 8888, "username": "fleet", "password": p,
               "mountpoint": "", "client_id": c, "clean_session": false})
    };
    let ok = json!({"result": "ok"});
    let not_allowed = json!({"result": {"error": "not_allowed"}});
    assert_eq!(
        hook("auth_on_register", register("dev-1", "fleet-secret")),
        ok
    );
    assert_eq!(
        hook("auth_on_register_m5", register("dev-9", "dev9-secret")),
        ok
    );
    assert_eq!(
        hook("auth_on_register", register("dev-1", "nope")),
        not_allowed
    );

    let publish = |t: &str| {
        json!({"username": "fleet", "client_id": "dev-1", "mountpoint": "", "qos": 1,
               "topic": t, "payload": "aGVsbG8=", "retain": false})
    };
    assert_eq!(hook("auth_on_publish", publish("fleet/3/up")), ok);
    assert_eq!(
        hook("auth_on_publish_m5", publish("fleet/7/up")),
        not_allowed
    );

    let subscribe = json!({"client_id": "dev-1", "mountpoint": "", "username": "fleet",
        "topics": [{"topic": "fleet/public", "qos": 1}, {"topic": "fleet/+", "qos": 2}]});
    assert_eq!(
        hook("auth_on_subscribe", subscribe.clone()),
        json!({"result": "ok", "topics": [{"topic": "fleet/public", "qos": 1},
                                          {"topic": "fleet/+", "qos": 128}]})
    );
    assert_eq!(
        hook("auth_on_subscribe_m5", subscribe),
        json!({"result": "ok", "modifiers": {"topics": [{"topic": "fleet/public", "qos": 1},
                                                        {"topic": "fleet/+", "qos": 135}]}})
    );
    let all_ok = json!({"client_id": "dev-1", "mountpoint": "", "username": "fleet",
        "topics": [{"topic": "a/b", "qos": 0}]});
    assert_eq!(hook("auth_on_subscribe", all_ok), ok);

    let r = s.json("/vernemq", json!({}), &[("vernemq-hook", "on_deliver")]);
    assert_eq!(r.0, 400, "{r:?}");
    assert!(
        r.3.contains("on_deliver") && r.3.contains("auth_on_register"),
        "{r:?}"
    );
    let r = s.json("/vernemq", json!({}), &[]);
    assert_eq!(r.0, 400, "{r:?}");
}

#[test]
fn mosquitto_go_auth_http_backend() {
    let s = start("", &[]);
    let user = |p: &str| {
        s.json(
            "/go-auth/user",
            json!({"username": "fleet", "password": p, "clientid": "dev-1"}),
            &[],
        )
    };
    let r = user("fleet-secret");
    assert_eq!(
        (r.0, body_json(&r)),
        (200, json!({"Ok": true, "Error": ""}))
    );
    let r = user("wrong");
    assert_eq!(
        (r.0, body_json(&r)["Ok"].clone()),
        (403, json!(false)),
        "{r:?}"
    );
    let r = s.json("/go-auth/superuser", json!({"username": "fleet"}), &[]);
    assert_eq!(r.0, 403, "mqid grants no superuser: {r:?}");

    // http_params_mode = form, acc as mosquitto's MOSQ_ACL_* values.
    let acl = |acc: &str, topic: &str| {
        s.form(
            "/go-auth/acl",
            &[
                ("username", "fleet"),
                ("clientid", "dev-1"),
                ("topic", topic),
                ("acc", acc),
            ],
        )
        .0
    };
    assert_eq!(acl("2", "fleet/1/up"), 200);
    assert_eq!(acl("2", "fleet/7/up"), 403);
    // Subscribe (4) as on mqid's edge: fleet/# is covered by ALLOW #, and the read check (1) per
    // delivered message keeps fleet/secret away.
    assert_eq!(acl("4", "fleet/#"), 200);
    assert_eq!(acl("1", "fleet/public"), 200);
    assert_eq!(acl("1", "fleet/secret"), 403);
    // READ|WRITE: fleet/1/up may be published, and delivered (ALLOW # on SUB).
    assert_eq!(acl("3", "fleet/1/up"), 200);
    assert_eq!(acl("3", "fleet/secret"), 403);
    assert_eq!(acl("5", "fleet/1/up"), 403);
}

#[test]
fn go_auth_text_mode() {
    let s = start("go_auth_response = \"text\"", &[]);
    let r = s.json(
        "/go-auth/user",
        json!({"username": "fleet", "password": "fleet-secret", "clientid": "dev-1"}),
        &[],
    );
    assert_eq!((r.0, r.3.as_str()), (200, "ok"));
    let r = s.json(
        "/go-auth/user",
        json!({"username": "fleet", "password": "x", "clientid": "dev-1"}),
        &[],
    );
    assert_eq!((r.0, r.3.as_str()), (403, "bad_password"));
}

#[test]
fn limiter_is_per_username_and_client_id_across_contracts() {
    let s = start("", &[]);
    for _ in 0..3 {
        assert_eq!(
            emqx_result(&emqx_authn(&s, "dev-2", "fleet", "bad")),
            "deny"
        );
    }
    // The pair cools down, whatever the password and whichever contract asks ...
    assert_emqx_denies(&s, ("dev-2", "fleet", "fleet-secret"), "rate_limited");
    let r = s.form(
        "/rmqtt/auth",
        &[
            ("clientid", "dev-2"),
            ("username", "fleet"),
            ("password", "fleet-secret"),
        ],
    );
    assert_eq!((r.3.as_str(), r.2.as_str()), ("deny", "rate_limited"));
    // ... another client id of the same username does not.
    assert_eq!(
        emqx_result(&emqx_authn(&s, "dev-3", "fleet", "fleet-secret")),
        "allow"
    );
    assert!(!s.log().contains("fleet-secret"), "{}", s.log());
}

#[test]
fn a_removed_identity_is_refused_after_the_refresh() {
    let s = start("", &[]);
    assert_eq!(
        emqx_result(&emqx_authn(&s, "dev-9", "fleet", "dev9-secret")),
        "allow"
    );
    let only_user = r#"[{"Username":"fleet","Secret":"fleet-secret","IdentityType":"USER","SignMode":"ORIGIN"}]"#;
    std::fs::write(s.dir.path().join("identities.json"), only_user).unwrap();
    eventually(10, "dev-9's CLIENT identity is gone", || {
        emqx_result(&emqx_authn(&s, "dev-9", "fleet", "dev9-secret")) == "deny"
    });
    assert_eq!(
        emqx_result(&emqx_authn(&s, "dev-9", "fleet", "fleet-secret")),
        "allow"
    );
}

#[test]
fn bearer_token_and_unknown_identity_ignore() {
    let token = "0123456789abcdef-shared";
    let s = start(
        "unknown_identity = \"ignore\"",
        &[("MQID_HTTP_TOKEN", token)],
    );
    let body = json!({"clientid": "dev-1", "username": "fleet", "password": "fleet-secret"});
    // Without the token: the contract's deny (never "ignore"), and why.
    let r = s.json("/emqx/authn", body.clone(), &[]);
    assert_eq!((r.0, emqx_result(&r).as_str()), (200, "deny"), "{r:?}");
    assert!(r.2.starts_with("unauthorized"), "{r:?}");
    let wrong = s.json(
        "/emqx/authn",
        body.clone(),
        &[("authorization", "Bearer nope")],
    );
    assert_eq!(emqx_result(&wrong), "deny");
    let r = s.json("/go-auth/user", body.clone(), &[]);
    assert_eq!(r.0, 403);
    let r = s.json(
        "/vernemq",
        body.clone(),
        &[("vernemq-hook", "auth_on_register")],
    );
    assert_eq!(body_json(&r), json!({"result": {"error": "not_allowed"}}));
    // With it.
    let bearer = format!("Bearer {token}");
    let auth = [("authorization", bearer.as_str())];
    assert_eq!(emqx_result(&s.json("/emqx/authn", body, &auth)), "allow");
    // An unknown identity is left to the broker's next authenticator.
    let unknown = json!({"clientid": "c", "username": "nobody", "password": "p", "client_id": "c"});
    assert_eq!(
        emqx_result(&s.json("/emqx/authn", unknown.clone(), &auth)),
        "ignore"
    );
    let r = s.json(
        "/vernemq",
        unknown.clone(),
        &[auth[0], ("vernemq-hook", "auth_on_register")],
    );
    assert_eq!(body_json(&r), json!({"result": "next"}));
    let r = s.send(
        s.client
            .post(s.url("/rmqtt/auth"))
            .header("authorization", &bearer)
            .body("clientid=c&username=nobody&password=p"),
    );
    assert_eq!(r.3, "ignore");
    // go-auth has no "ignore".
    assert_eq!(s.json("/go-auth/user", unknown, &auth).0, 403);
    // /healthz needs no token.
    assert_eq!(s.get("/healthz").0, 200);
    assert!(!s.log().contains(token), "the token is never logged");
}

#[test]
fn non_loopback_without_token_and_only_broker_less_configs_are_named() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("identities.json"), IDENTITIES).unwrap();
    let run = |toml: &str| {
        let config = dir.path().join("mqid.toml");
        std::fs::write(&config, toml).unwrap();
        let out = mqid()
            .arg("serve")
            .arg("--config")
            .arg(&config)
            .env_remove("MQID_HTTP_TOKEN")
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let auth = "[auth]\nsource = \"file\"\nfile = \"identities.json\"\n";
    let (code, err) = run(&format!(
        "[http]\nlisten = \"0.0.0.0:{}\"\n{auth}",
        free_port()
    ));
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("not a loopback address") && err.contains("MQID_HTTP_TOKEN"),
        "{err}"
    );
    let (code, err) = run(auth);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("nothing to serve"), "{err}");
}

#[test]
fn followers_take_the_leaders_set_over_http() {
    let token = "leader-follower-shared-token";
    let env = [("MQID_HTTP_TOKEN", token)];
    let leader = start("", &env);
    let bearer = format!("Bearer {token}");

    // The leader's /snapshot: behind the token, with an ETag, 304 when unchanged.
    let snap = |etag: Option<&str>, auth: bool| {
        let mut req = leader.client.get(leader.url("/snapshot"));
        if auth {
            req = req.header("authorization", &bearer);
        }
        if let Some(e) = etag {
            req = req.header("if-none-match", e);
        }
        rt().block_on(async {
            let r = req.send().await.unwrap();
            let etag = r
                .headers()
                .get("etag")
                .map(|v| v.to_str().unwrap().to_owned());
            (r.status().as_u16(), etag, r.text().await.unwrap())
        })
    };
    assert_eq!(snap(None, false).0, 401);
    let (status, etag, body) = snap(None, true);
    assert_eq!(status, 200);
    let etag = etag.expect("an ETag");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["identities"].as_array().unwrap().len(), 2, "{body}");
    assert_eq!(v["permissions"].as_array().unwrap().len(), 4, "{body}");
    assert_eq!(snap(Some(&etag), true).0, 304);

    let follower_auth = format!(
        "[auth]\nsource = \"follower\"\n[auth.follower]\nleader = \"{}\"\n\
         interval_secs = 1\nsnapshot = \"follower-snapshot.json\"\n\
         token_file = \"leader.token\"\n",
        leader.url("")
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("leader.token"), format!("{token}\n")).unwrap();
    // The follower's own [http] has a token of its own; it polls the leader with token_file.
    let own = "follower-own-token-123456";
    let own_env = [("MQID_HTTP_TOKEN", own)];
    let follower = start_in(dir, "", &follower_auth, &own_env);
    let own_bearer = format!("Bearer {own}");
    let auth = [("authorization", own_bearer.as_str())];
    let authn = |s: &Server, c: &str, p: &str| {
        let r = s.json(
            "/emqx/authn",
            json!({"clientid": c, "username": "fleet", "password": p}),
            &auth,
        );
        emqx_result(&r)
    };
    let authz = |s: &Server, topic: &str| {
        let r = s.json(
            "/emqx/authz",
            json!({"clientid": "dev-1", "username": "fleet", "topic": topic, "action": "publish"}),
            &auth,
        );
        emqx_result(&r)
    };
    // Same identities, same rules.
    assert_eq!(authn(&follower, "dev-9", "dev9-secret"), "allow");
    assert_eq!(authn(&follower, "dev-9", "fleet-secret"), "deny");
    assert_eq!(authz(&follower, "fleet/1/up"), "allow");
    assert_eq!(authz(&follower, "fleet/7/up"), "deny");

    // An identity removed at the leader's source is refused by the follower within a poll.
    let only_user = r#"[{"Username":"fleet","Secret":"fleet-secret","IdentityType":"USER","SignMode":"ORIGIN"}]"#;
    std::fs::write(leader.dir.path().join("identities.json"), only_user).unwrap();
    eventually(10, "the follower refuses dev-9", || {
        authn(&follower, "dev-9", "dev9-secret") == "deny"
    });
    assert_eq!(authn(&follower, "dev-9", "fleet-secret"), "allow");
    assert_ne!(snap(Some(&etag), true).0, 304, "a new set, a new ETag");

    // The leader goes away: the follower keeps deciding, and starts again from its own copy.
    drop(leader);
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert_eq!(authn(&follower, "dev-9", "fleet-secret"), "allow");
    assert!(
        follower.log().contains("keeping the set in force"),
        "{}",
        follower.log()
    );
    let dir = stop(follower);
    let again = start_in(dir, "", &follower_auth, &own_env);
    assert_eq!(authn(&again, "dev-9", "fleet-secret"), "allow");
    assert_eq!(authn(&again, "dev-9", "dev9-secret"), "deny");
    assert!(!again.log().contains(token) && !again.log().contains("fleet-secret"));
}

/// Stops a server and hands back its folder, to start again.
fn stop(mut s: Server) -> tempfile::TempDir {
    let _ = s.child.kill();
    let _ = s.child.wait();
    std::mem::replace(&mut s.dir, tempfile::tempdir().unwrap())
}

#[test]
fn bench_http_smoke() {
    let out = mqid()
        .args([
            "bench",
            "http",
            "--quick",
            "--seconds",
            "0.2",
            "--identities",
            "400",
            "--json",
        ])
        .env("RUST_LOG", "off")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    for side in ["baseline", "mqid"] {
        assert!(v[side]["requests"].as_u64().unwrap() > 0, "{v}");
        assert_eq!(
            v[side]["unexpected"].as_u64(),
            Some(0),
            "every answer as expected: {v}"
        );
        assert!(v[side]["latency_us"]["p99"].as_f64().unwrap() > 0.0, "{v}");
    }
    assert!(v["throughput_ratio"].as_f64().unwrap().is_finite(), "{v}");
}

#[test]
fn broker_and_http_together() {
    let (v4, v5) = (free_port(), free_port());
    let mut s = start_in(
        tempfile::tempdir().unwrap(),
        &broker_toml(v4, v5),
        FILE_AND_RULES_AUTH,
        &[],
    );
    let log = s.dir.path().join("mqid.log");
    wait_for_port(v4, &mut s.child, &log);
    // The same identity, admitted by the rumqttd edge and by the HTTP contract.
    assert!(connect(v4, Proto::V4, "dev-1", Some(("fleet", "fleet-secret"))).admitted());
    assert!(!connect(v4, Proto::V4, "dev-1", Some(("fleet", "nope"))).admitted());
    assert_eq!(
        emqx_result(&emqx_authn(&s, "dev-1", "fleet", "fleet-secret")),
        "allow"
    );
    assert_eq!(
        emqx_result(&emqx_authn(&s, "dev-1", "fleet", "nope")),
        "deny"
    );
}

#[test]
fn healthz_is_503_and_everything_refused_before_an_index_is_in_force() {
    // An OpenAPI endpoint that accepts connections and never answers: the first pass waits.
    let black_hole = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", black_hole.local_addr().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = dir.path().join("mqid.toml");
    std::fs::write(
        &config,
        format!(
            "[http]\nlisten = \"127.0.0.1:{port}\"\n{}",
            openapi_auth_toml(&endpoint, "request_timeout_secs = 30")
        ),
    )
    .unwrap();
    let s = serve_http(
        dir,
        port,
        &[
            ("ALIBABA_CLOUD_ACCESS_KEY_ID", "LTAI5tHealthzKeyId"),
            ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "healthz-key-secret"),
        ],
    );
    let r = s.get("/healthz");
    assert_eq!((r.0, r.2.as_str()), (503, "not_ready"), "{r:?}");
    assert_emqx_denies(&s, ("dev-1", "fleet", "fleet-secret"), "not_ready");
    let r = s.form(
        "/rmqtt/acl",
        &[("access", "2"), ("clientid", "c"), ("topic", "t")],
    );
    assert_eq!((r.3.as_str(), r.2.as_str()), ("deny", "not_ready"));
    drop(black_hole);
}

/// Certificates for `[http] tls`, made here with rcgen: a CA; mqid's server certificate for
/// 127.0.0.1, signed by it; a broker's client certificate signed by it; and a client certificate
/// signed by another CA. PEM text.
struct Pki {
    ca: String,
    server_cert: String,
    server_key: String,
    /// certificate and key, as reqwest's `Identity::from_pem` takes them
    client: String,
    stranger: String,
}

fn pki() -> Pki {
    use rcgen::{
        BasicConstraints, Certificate, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa,
        KeyPair,
    };
    let ca = |name: &str| {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.distinguished_name.push(DnType::CommonName, name);
        (p.self_signed(&key).unwrap(), key)
    };
    let leaf = |name: &str, eku: ExtendedKeyUsagePurpose, issuer: &(Certificate, KeyPair)| {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(vec![name.to_owned()]).unwrap();
        p.distinguished_name.push(DnType::CommonName, name);
        p.extended_key_usages = vec![eku];
        (p.signed_by(&key, &issuer.0, &issuer.1).unwrap(), key)
    };
    let (ca_a, ca_b) = (ca("mqid test CA"), ca("another CA"));
    let server = leaf("127.0.0.1", ExtendedKeyUsagePurpose::ServerAuth, &ca_a);
    let client = leaf("broker-1", ExtendedKeyUsagePurpose::ClientAuth, &ca_a);
    let stranger = leaf("broker-x", ExtendedKeyUsagePurpose::ClientAuth, &ca_b);
    let identity = |(c, k): &(Certificate, KeyPair)| format!("{}{}", c.pem(), k.serialize_pem());
    Pki {
        ca: ca_a.0.pem(),
        server_cert: server.0.pem(),
        server_key: server.1.serialize_pem(),
        client: identity(&client),
        stranger: identity(&stranger),
    }
}

/// An HTTPS client that trusts only `ca`, presenting `identity` (certificate and key) if any.
fn https_client(ca: &str, identity: Option<&str>) -> reqwest::Client {
    let mut b = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca.as_bytes()).unwrap());
    if let Some(id) = identity {
        b = b.identity(reqwest::Identity::from_pem(id.as_bytes()).unwrap());
    }
    b.build().unwrap()
}

/// `mqid serve` with `[http] tls` (mqid's certificate from `pki`; with `client_ca`, client
/// certificates required), asked over HTTPS by `client`: waits for /healthz through it.
fn start_tls(pki: &Pki, client_ca: bool, client: reqwest::Client) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("ca.pem"), &pki.ca).unwrap();
    std::fs::write(d.join("server.pem"), &pki.server_cert).unwrap();
    std::fs::write(d.join("server.key"), &pki.server_key).unwrap();
    let ca = match client_ca {
        true => format!(", client_ca = \"{}\"", d.join("ca.pem").display()),
        false => String::new(),
    };
    let tls = format!(
        "tls = {{ cert = \"{}\", key = \"{}\"{ca} }}\n",
        d.join("server.pem").display(),
        d.join("server.key").display()
    );
    start_with_client(dir, &tls, FILE_AND_RULES_AUTH, &[], client, "https")
}

/// rmqtt's auth for "fleet" with `password`: the answer's body.
fn rmqtt_auth(s: &Server, password: &str) -> String {
    let r = s.form(
        "/rmqtt/auth",
        &[
            ("clientid", "dev-1"),
            ("username", "fleet"),
            ("password", password),
        ],
    );
    assert_eq!(r.0, 200, "{r:?}");
    r.3
}

#[test]
fn mtls_requires_a_client_certificate_the_ca_signed() {
    let pki = pki();
    let s = start_tls(&pki, true, https_client(&pki.ca, Some(&pki.client)));
    assert_eq!(rmqtt_auth(&s, "fleet-secret"), "allow");
    assert_eq!(rmqtt_auth(&s, "wrong"), "deny");

    // Refused at the handshake: no certificate, one another CA signed; and plain HTTP.
    let refused = |client: reqwest::Client, url: String| {
        rt().block_on(async { client.get(url).send().await.map(|r| r.status()) })
    };
    for (what, client) in [
        ("no client certificate", https_client(&pki.ca, None)),
        (
            "a certificate another CA signed",
            https_client(&pki.ca, Some(&pki.stranger)),
        ),
    ] {
        let r = refused(client, s.url("/healthz"));
        assert!(r.is_err(), "{what}: answered {r:?}");
    }
    let plain = format!("http://127.0.0.1:{}/healthz", s.port);
    let r = refused(reqwest::Client::new(), plain);
    assert!(r.is_err(), "plain HTTP to the HTTPS port: answered {r:?}");
    eventually(5, "mqid logs the refused handshake", || {
        s.log().contains("TLS handshake refused")
    });
}

#[test]
fn tls_without_client_ca_serves_https_to_any_client() {
    let pki = pki();
    let s = start_tls(&pki, false, https_client(&pki.ca, None));
    assert_eq!(rmqtt_auth(&s, "fleet-secret"), "allow");
}

#[test]
fn tls_start_up_errors_name_the_key_and_the_file() {
    let pki = pki();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("identities.json"), IDENTITIES).unwrap();
    std::fs::write(d.join("ca.pem"), &pki.ca).unwrap();
    std::fs::write(d.join("server.pem"), &pki.server_cert).unwrap();
    std::fs::write(d.join("server.key"), &pki.server_key).unwrap();
    std::fs::write(d.join("not-pem.txt"), "hello\n").unwrap();
    std::fs::write(
        d.join("broken.key"),
        "-----BEGIN PRIVATE KEY-----\nSECRET-KEY-MATERIAL\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    let p = |name: &str| d.join(name).display().to_string();
    let run = |cert: &str, key: &str, ca: &str| {
        let config = d.join("mqid.toml");
        std::fs::write(
            &config,
            format!(
                "[http]\nlisten = \"127.0.0.1:{}\"\n\
                 tls = {{ cert = \"{cert}\", key = \"{key}\", client_ca = \"{ca}\" }}\n\
                 [auth]\nsource = \"file\"\nfile = \"identities.json\"\n",
                free_port()
            ),
        )
        .unwrap();
        let out = mqid()
            .arg("serve")
            .arg("--config")
            .arg(&config)
            .env_remove("MQID_HTTP_TOKEN")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!out.status.success(), "mqid started: {err}");
        assert!(!err.contains("SECRET-KEY-MATERIAL"), "{err}");
        err
    };
    let (cert, key, ca) = (p("server.pem"), p("server.key"), p("ca.pem"));
    let missing = p("missing.pem");
    let err = run(&missing, &key, &ca);
    assert!(err.contains(&format!("[http] tls.cert {missing}")), "{err}");
    let err = run(&p("not-pem.txt"), &key, &ca);
    assert!(
        err.contains(&format!(
            "[http] tls.cert {}: no certificate",
            p("not-pem.txt")
        )),
        "{err}"
    );
    // the certificate where the key should be
    let err = run(&cert, &cert, &ca);
    assert!(
        err.contains(&format!("[http] tls.key {cert}: no private key")),
        "{err}"
    );
    let err = run(&cert, &p("broken.key"), &ca);
    assert!(
        err.contains(&format!(
            "[http] tls.key {}: not valid PEM",
            p("broken.key")
        )),
        "{err}"
    );
    let err = run(&cert, &key, &p("not-pem.txt"));
    assert!(
        err.contains(&format!(
            "[http] tls.client_ca {}: no certificate",
            p("not-pem.txt")
        )),
        "{err}"
    );
}
