//! End to end, the operating side of `mqid serve`: failed-auth limiting, the staleness policy and
//! the metrics on rumqttd's Prometheus endpoint, with real brokers, real MQTT clients, the
//! OpenAPI emulator as a real HTTP server and plain HTTP scrapes.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use common::cloud::Cloud;
use common::*;

const FLEET: &str = r#"[
  {"Username":"fleet","Secret":"fleet-secret","IdentityType":"USER","SignMode":"ORIGIN"},
  {"Username":"gw","Secret":"gw-secret","IdentityType":"CLIENT","ClientId":"gw-1","SignMode":"ORIGIN"}
]"#;

fn ok(port: u16, proto: Proto, client_id: &str, user: &str, pass: &str) -> bool {
    connect(port, proto, client_id, Some((user, pass))).admitted()
}

fn prometheus_toml(port: u16) -> String {
    format!("[broker.prometheus]\nlisten = \"127.0.0.1:{port}\"\ninterval = 1\n")
}

/// `GET /metrics` with a plain TCP stream; `None` while nothing answers.
fn scrape(port: u16) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut body = String::new();
    s.read_to_string(&mut body).ok()?;
    body.starts_with("HTTP/1.1 200").then_some(body)
}

/// The value of the sample `name{labels}` (exactly those labels) in a Prometheus text page.
fn sample(page: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let mut want: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    want.sort();
    page.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (n, got) = match series.split_once('{') {
                Some((n, rest)) => {
                    let mut got: Vec<String> = rest
                        .trim_end_matches('}')
                        .split(',')
                        .filter(|p| !p.is_empty())
                        .map(str::to_owned)
                        .collect();
                    got.sort();
                    (n, got)
                }
                None => (series, Vec::new()),
            };
            (n == name && got == want).then(|| value.parse().ok())?
        })
}

/// A sample expected on the page: name, labels, value.
type Expect<'a> = (&'a str, &'a [(&'a str, &'a str)], f64);

/// Scrapes until every expectation holds (metrics are published once a second).
fn eventually_metrics(port: u16, expect: &[Expect<'_>]) -> String {
    let mut last = String::new();
    for _ in 0..200 {
        if let Some(page) = scrape(port) {
            if expect
                .iter()
                .all(|(n, l, v)| sample(&page, n, l) == Some(*v))
            {
                return page;
            }
            last = page;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let seen: Vec<String> = expect
        .iter()
        .map(|(n, l, v)| format!("{n}{l:?}: want {v}, got {:?}", sample(&last, n, l)))
        .collect();
    panic!("metrics not reached in 20 s:\n{}\n{last}", seen.join("\n"));
}

#[test]
fn a_client_id_cools_down_after_bad_passwords_and_the_fleet_does_not() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("identities.json"), FLEET).unwrap();
    let broker = Broker::start_with(
        dir,
        "[auth]\nsource = \"file\"\nfile = \"identities.json\"\n\
         [auth.limits]\nmax_failures = 4\nwindow_secs = 60\ncooldown_secs = 300\n",
        &[],
    );
    // a device, or someone, guesses under the shared USER username with one client id
    for _ in 0..4 {
        assert!(!ok(broker.v4, Proto::V4, "dev-guess", "fleet", "guess"));
    }
    // the right password is refused during the cool-down, on either protocol
    assert!(!ok(
        broker.v4,
        Proto::V4,
        "dev-guess",
        "fleet",
        "fleet-secret"
    ));
    assert!(!ok(
        broker.v5,
        Proto::V5,
        "dev-guess",
        "fleet",
        "fleet-secret"
    ));
    // the rest of the fleet, same USER username, is admitted
    for i in 0..5 {
        assert!(ok(
            broker.v4,
            Proto::V4,
            &format!("dev-{i}"),
            "fleet",
            "fleet-secret"
        ));
    }
    assert!(ok(broker.v5, Proto::V5, "dev-9", "fleet", "fleet-secret"));
    let log = broker.log();
    assert!(log.contains("reason=\"rate_limited\""), "{log}");
    assert!(
        log.contains("4 bad passwords within 60 s") && log.contains("client_id=\"dev-guess\""),
        "{log}"
    );
    assert!(!log.contains("fleet-secret"), "{log}");
}

#[test]
fn connect_decisions_and_the_index_on_the_prometheus_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("identities.json"), FLEET).unwrap();
    let prom = free_port();
    let broker = Broker::start_with(
        dir,
        &format!(
            "[auth]\nsource = \"file\"\nfile = \"identities.json\"\n\
             [auth.limits]\nmax_failures = 3\n{}",
            prometheus_toml(prom)
        ),
        &[],
    );
    assert!(ok(broker.v4, Proto::V4, "dev-1", "fleet", "fleet-secret"));
    assert!(ok(broker.v5, Proto::V5, "gw-1", "gw", "gw-secret"));
    for _ in 0..3 {
        assert!(!ok(broker.v4, Proto::V4, "dev-2", "fleet", "wrong"));
    }
    assert!(!ok(broker.v4, Proto::V4, "dev-2", "fleet", "fleet-secret"));
    assert!(!ok(broker.v4, Proto::V4, "dev-3", "nobody", "x"));
    assert!(ok(broker.v4, Proto::V4, "dev-4", "fleet", "fleet-secret"));

    const CONNECTS: &str = "mqid_connect_total";
    let page = eventually_metrics(
        prom,
        &[
            (CONNECTS, &[("result", "admitted"), ("reason", "ok")], 3.0),
            (
                CONNECTS,
                &[("result", "refused"), ("reason", "bad_password")],
                3.0,
            ),
            (
                CONNECTS,
                &[("result", "refused"), ("reason", "rate_limited")],
                1.0,
            ),
            (
                CONNECTS,
                &[("result", "refused"), ("reason", "unknown_identity")],
                1.0,
            ),
            (
                CONNECTS,
                &[("result", "refused"), ("reason", "blacklisted")],
                0.0,
            ),
            (CONNECTS, &[("result", "refused"), ("reason", "stale")], 0.0),
            ("mqid_limiter_cooldowns_total", &[], 1.0),
            ("mqid_limiter_evictions_total", &[], 0.0),
            (
                "mqid_index_identities",
                &[("type", "user"), ("mode", "origin")],
                1.0,
            ),
            (
                "mqid_index_identities",
                &[("type", "client"), ("mode", "origin")],
                1.0,
            ),
            (
                "mqid_index_identities",
                &[("type", "user"), ("mode", "signed")],
                0.0,
            ),
            ("mqid_index_blacklisted_client_ids", &[], 0.0),
        ],
    );
    // the pair that cooled down, and the username's count
    let tracked = sample(&page, "mqid_limiter_tracked_keys", &[]).unwrap();
    assert!(tracked >= 2.0, "{page}");
    // rumqttd's own metrics share the endpoint
    assert!(
        page.contains("metrics_router_total_connections") || page.contains("metrics.router"),
        "{page}"
    );
    assert!(page.contains("# HELP mqid_connect_total"), "{page}");
    for secret in ["fleet-secret", "gw-secret"] {
        assert!(!page.contains(secret), "{page}");
    }
}

// ---------------------------------------------------------------- the OpenAPI source

const AK_ID: &str = "LTAI5tOpsTestKeyId";
const AK_SECRET: &str = "ops-access-key-secret-value";
/// Writes the cloud's files (identity "alpha", no blacklist) and starts the emulator on them.
fn write_cloud(dir: &Path) -> Cloud {
    std::fs::write(dir.join("cloud-identities.json"), ALPHA).unwrap();
    std::fs::write(dir.join("cloud-blacklist.json"), "[]").unwrap();
    Cloud::start(dir, AK_ID, AK_SECRET)
}

const ALPHA: &str =
    r#"[{"Username":"alpha","Secret":"alpha-secret","IdentityType":"USER","SignMode":"ORIGIN"}]"#;

#[test]
fn a_stale_index_is_refused_under_on_stale_refuse_until_a_pass_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let mut cloud = write_cloud(dir.path());
    let prom = free_port();
    let auth = openapi_auth_toml(
        &format!("http://{}", cloud.addr),
        &format!(
            r#"refresh_secs = 1
request_timeout_secs = 1
max_retries_per_pass = 1
snapshot = "state/snapshot.json"
max_staleness_secs = 5
on_stale = "refuse"
{}"#,
            prometheus_toml(prom)
        ),
    );
    let broker = Broker::start_with(
        dir,
        &auth,
        &[
            ("ALIBABA_CLOUD_ACCESS_KEY_ID", AK_ID),
            ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", AK_SECRET),
        ],
    );
    let log = broker.log();
    assert!(
        log.contains("mqid ready: index loaded from OpenAPI http://"),
        "{log}"
    );
    assert!(ok(broker.v4, Proto::V4, "a-1", "alpha", "alpha-secret"));
    eventually_metrics(prom, &[("mqid_openapi_stale", &[], 0.0)]);

    // the API goes away: after max_staleness_secs without a good pass, everything is refused
    cloud.stop();
    eventually(30, "stale index refused", || {
        !ok(broker.v4, Proto::V4, "a-1", "alpha", "alpha-secret")
    });
    assert!(!ok(broker.v5, Proto::V5, "a-2", "alpha", "alpha-secret"));
    let log = broker.log();
    assert!(log.contains("reason=\"stale\""), "{log}");
    assert!(log.contains("the index is STALE"), "{log}");
    assert_eq!(
        log.matches("the index is STALE").count(),
        1,
        "one line per change:\n{log}"
    );
    let page = eventually_metrics(prom, &[("mqid_openapi_stale", &[], 1.0)]);
    assert!(sample(&page, "mqid_openapi_last_good_pass_age_seconds", &[]).unwrap() >= 5.0);
    assert!(
        sample(
            &page,
            "mqid_openapi_pass_errors_total",
            &[("code", "retries_exhausted")]
        )
        .unwrap()
            >= 1.0,
        "{page}"
    );
    assert!(sample(&page, "mqid_openapi_passes_total", &[("result", "ok")]).unwrap() >= 1.0);

    // the API comes back: the first good pass opens the gate again
    cloud.restart();
    eventually(30, "admitted after a good pass", || {
        ok(broker.v4, Proto::V4, "a-1", "alpha", "alpha-secret")
    });
    assert!(broker.log().contains("the index is fresh again"));
    let page = eventually_metrics(prom, &[("mqid_openapi_stale", &[], 0.0)]);
    assert!(sample(&page, "mqid_openapi_last_good_pass_age_seconds", &[]).unwrap() < 5.0);
    assert!(
        sample(
            &page,
            "mqid_connect_total",
            &[("result", "refused"), ("reason", "stale")]
        )
        .unwrap()
            >= 2.0
    );
    assert!(!broker.log().contains(AK_SECRET));
}

#[test]
fn an_old_snapshot_counts_towards_staleness_at_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let mut cloud = write_cloud(dir.path());
    cloud.stop(); // the API is down from the start
    std::fs::create_dir_all(dir.path().join("state")).unwrap();
    // a snapshot written by a pass two hours ago
    let synced_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 7200;
    std::fs::write(
        dir.path().join("state/snapshot.json"),
        format!(r#"{{"format":1,"synced_at":{synced_at},"identities":{ALPHA},"blacklist":[]}}"#),
    )
    .unwrap();
    let auth = |policy: &str| {
        openapi_auth_toml(
            &format!("http://{}", cloud.addr),
            &format!(
                r#"refresh_secs = 2
request_timeout_secs = 1
max_retries_per_pass = 1
snapshot = "state/snapshot.json"
max_staleness_secs = 3600
on_stale = "{policy}""#
            ),
        )
    };
    let env = [
        ("ALIBABA_CLOUD_ACCESS_KEY_ID", AK_ID),
        ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", AK_SECRET),
    ];
    // serve: admitted, with a loud warning and the snapshot's age on the ready line
    let broker = Broker::start_with(dir, &auth("serve"), &env);
    assert!(ok(broker.v4, Proto::V4, "a-1", "alpha", "alpha-secret"));
    let log = broker.log();
    assert!(log.contains("the index is STALE"), "{log}");
    assert!(log.contains("still serving the last good index"), "{log}");
    assert!(
        log.contains("mqid ready: index loaded from snapshot"),
        "{log}"
    );
    assert!(log.contains("last synced 72"), "{log}"); // 7200 s and a little
                                                      // refuse: refused from the first CONNECT
    let dir = broker.stop();
    let broker = Broker::start_with(dir, &auth("refuse"), &env);
    assert!(!ok(broker.v4, Proto::V4, "a-1", "alpha", "alpha-secret"));
    let log = broker.log();
    assert!(log.contains("reason=\"stale\""), "{log}");
    // and the API coming back fixes it
    cloud.restart();
    eventually(30, "admitted after a good pass", || {
        ok(broker.v4, Proto::V4, "a-1", "alpha", "alpha-secret")
    });
}
