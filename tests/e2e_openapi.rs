//! End to end: `mqid serve` on the OpenAPI source, paging the local emulator (a real HTTP
//! server), with real MQTT clients. The emulator runs in this test process so the test can edit
//! its files, inject faults, stop it and start it again.

mod common;

use std::path::Path;

use common::cloud::Cloud;
use common::*;
use mqid_emulator::Faults;

const AK_ID: &str = "LTAI5tE2eTestKeyId";
const AK_SECRET: &str = "e2e-access-key-secret-value";

const A: &str =
    r#"{"Username":"alpha","Secret":"alpha-secret","IdentityType":"USER","SignMode":"ORIGIN"}"#;
const B: &str = r#"{"Username":"bravo","Secret":"bravo-secret","IdentityType":"CLIENT","ClientId":"bravo-1","SignMode":"ORIGIN"}"#;
const B2: &str = r#"{"Username":"bravo","Secret":"bravo-rotated","IdentityType":"CLIENT","ClientId":"bravo-1","SignMode":"ORIGIN"}"#;
const C: &str =
    r#"{"Username":"charlie","Secret":"charlie-secret","IdentityType":"USER","SignMode":"ORIGIN"}"#;
const D: &str =
    r#"{"Username":"delta","Secret":"delta-secret","IdentityType":"USER","SignMode":"ORIGIN"}"#;
const E: &str =
    r#"{"Username":"echo","Secret":"echo-secret","IdentityType":"USER","SignMode":"ORIGIN"}"#;

fn write_ids(dir: &Path, records: &[&str]) {
    std::fs::write(
        dir.join("cloud-identities.json"),
        format!("[{}]", records.join(",\n")),
    )
    .unwrap();
}

fn write_blacklist(dir: &Path, client_ids: &[&str]) {
    let recs: Vec<String> = client_ids
        .iter()
        .map(|c| format!(r#"{{"ClientId":"{c}","PermitAction":"CONNECT","Effect":"DENY"}}"#))
        .collect();
    std::fs::write(
        dir.join("cloud-blacklist.json"),
        format!("[{}]", recs.join(",")),
    )
    .unwrap();
}

fn auth_toml(endpoint: &str, extra: &str) -> String {
    openapi_auth_toml(
        endpoint,
        &format!(
            r#"page_size = 2
refresh_secs = 1
max_requests_per_sec = 50
request_timeout_secs = 2
snapshot = "state/snapshot.json"
{extra}"#
        ),
    )
}

fn start_broker(dir: tempfile::TempDir, endpoint: &str, secret: &str) -> Broker {
    start_broker_with(dir, endpoint, secret, "max_retries_per_pass = 50\n")
}

fn start_broker_with(dir: tempfile::TempDir, endpoint: &str, secret: &str, extra: &str) -> Broker {
    Broker::start_with(
        dir,
        &auth_toml(endpoint, extra),
        &[
            ("ALIBABA_CLOUD_ACCESS_KEY_ID", AK_ID),
            ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", secret),
            ("RUST_LOG", "info,mqid_sync=debug"),
        ],
    )
}

/// The emulator on `dir`'s `cloud-*.json`, written with these identities and blacklist.
fn start_cloud(dir: &Path, ids: &[&str], blacklist: &[&str]) -> Cloud {
    write_ids(dir, ids);
    write_blacklist(dir, blacklist);
    Cloud::start(dir, AK_ID, AK_SECRET)
}

fn ok(b: &Broker, client_id: &str, user: &str, pass: &str) -> bool {
    connect(b.v4, Proto::V4, client_id, Some((user, pass))).admitted()
}

#[test]
fn the_index_follows_the_cloud() {
    let dir = tempfile::tempdir().unwrap();
    let cloud = start_cloud(dir.path(), &[A, B, C], &[]);
    let endpoint = format!("http://{}", cloud.addr);
    let broker = start_broker(dir, &endpoint, AK_SECRET);
    let d = broker.dir.path().to_owned();

    assert!(ok(&broker, "a-1", "alpha", "alpha-secret"));
    assert!(ok(&broker, "bravo-1", "bravo", "bravo-secret"));
    assert!(!ok(&broker, "d-1", "delta", "delta-secret"));

    // added in the cloud: admitted after the next pass
    write_ids(&d, &[A, B, C, D]);
    eventually(15, "added identity admitted", || {
        ok(&broker, "d-1", "delta", "delta-secret")
    });

    // deleted: refused; re-keyed: the new secret works and the old one does not
    write_ids(&d, &[B2, C, D]);
    eventually(15, "deleted identity refused", || {
        !ok(&broker, "a-1", "alpha", "alpha-secret")
    });
    assert!(ok(&broker, "bravo-1", "bravo", "bravo-rotated"));
    assert!(!ok(&broker, "bravo-1", "bravo", "bravo-secret"));

    // blacklisted client id: refused whatever its credentials
    write_blacklist(&d, &["c-banned"]);
    assert!(ok(&broker, "c-banned", "charlie", "charlie-secret"));
    eventually(15, "blacklisted client refused", || {
        !ok(&broker, "c-banned", "charlie", "charlie-secret")
    });
    assert!(ok(&broker, "c-other", "charlie", "charlie-secret"));
    let log = broker.log();
    assert!(log.contains("reason=\"blacklisted\""), "{log}");
    for secret in [AK_SECRET, "alpha-secret", "bravo-rotated", "charlie-secret"] {
        assert!(!log.contains(secret), "secret {secret} in the log:\n{log}");
    }
    drop(cloud);
}

#[test]
fn converges_under_throttling_and_503s() {
    let dir = tempfile::tempdir().unwrap();
    let cloud = start_cloud(dir.path(), &[A, B, C], &[]);
    let broker = start_broker(dir, &format!("http://{}", cloud.addr), AK_SECRET);
    let d = broker.dir.path().to_owned();
    assert!(ok(&broker, "a-1", "alpha", "alpha-secret"));

    cloud.faults(Faults {
        throttle_every: 3,
        throttle_time_left_ms: 30,
        unavailable_every: 4,
        drop_every: 7,
        ..Faults::none()
    });
    let before = cloud.requests();
    write_ids(&d, &[B, C, D, E]);
    eventually(30, "converged despite faults", || {
        ok(&broker, "e-1", "echo", "echo-secret") && !ok(&broker, "a-1", "alpha", "alpha-secret")
    });
    assert!(cloud.requests() > before + 6, "passes ran under faults");
    let log = broker.log();
    assert!(
        log.contains("Throttling") || log.contains("ServiceUnavailable"),
        "{log}"
    );
}

#[test]
fn keeps_the_last_good_index_and_restarts_from_the_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let mut cloud = start_cloud(dir.path(), &[A, B], &["bad-1"]);
    let endpoint = format!("http://{}", cloud.addr);
    // few retries per pass, so that a pass against a stopped API fails within the test's time
    let few = "max_retries_per_pass = 2\n";
    let broker = start_broker_with(dir, &endpoint, AK_SECRET, few);
    let snapshot = broker.dir.path().join("state/snapshot.json");
    eventually(10, "snapshot written", || snapshot.exists());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&snapshot).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the snapshot holds secrets");
    }

    // the API goes away: passes fail, the last good index keeps serving
    cloud.stop();
    eventually(30, "a pass fails", || {
        broker.log().contains("refresh pass failed")
    });
    assert!(ok(&broker, "a-1", "alpha", "alpha-secret"));
    assert!(ok(&broker, "bravo-1", "bravo", "bravo-secret"));
    assert!(
        !ok(&broker, "bad-1", "alpha", "alpha-secret"),
        "blacklist kept too"
    );

    // restarted with the API still down: it serves from the snapshot
    let dir = broker.stop();
    let broker = start_broker_with(dir, &endpoint, AK_SECRET, few);
    assert!(ok(&broker, "a-1", "alpha", "alpha-secret"));
    assert!(!ok(&broker, "bad-1", "alpha", "alpha-secret"));
    assert!(broker.log().contains("snapshot"), "{}", broker.log());

    // the API comes back with a change: the first good pass applies it
    write_ids(broker.dir.path(), &[B, D]);
    cloud.restart();
    eventually(15, "caught up after the outage", || {
        ok(&broker, "d-1", "delta", "delta-secret") && !ok(&broker, "a-1", "alpha", "alpha-secret")
    });
}

#[test]
fn wrong_credentials_stop_start_up_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let cloud = start_cloud(dir.path(), &[A], &[]);
    let config = dir.path().join("mqid.toml");
    std::fs::write(
        &config,
        format!(
            "{}\n{}",
            broker_toml(free_port(), free_port()),
            auth_toml(&format!("http://{}", cloud.addr), "")
        ),
    )
    .unwrap();
    let wrong = "not-the-right-secret-42";
    let out = mqid()
        .args(["serve", "--config"])
        .arg(&config)
        .env("ALIBABA_CLOUD_ACCESS_KEY_ID", AK_ID)
        .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", wrong)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("SignatureDoesNotMatch"), "{err}");
    assert!(err.contains("ALIBABA_CLOUD_ACCESS_KEY_SECRET"), "{err}");
    assert!(!err.contains(wrong), "{err}");

    let out = mqid()
        .args(["serve", "--config"])
        .arg(&config)
        .env_remove("ALIBABA_CLOUD_ACCESS_KEY_ID")
        .env_remove("ALIBABA_CLOUD_ACCESS_KEY_SECRET")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("ALIBABA_CLOUD_ACCESS_KEY_ID"), "{err}");
}

/// `mqid openapi-emulator` as a process, `mqid sync --out` against it with V1 signatures.
#[test]
fn sync_command_against_the_emulator_command() {
    let dir = tempfile::tempdir().unwrap();
    write_ids(dir.path(), &[A, B, C, D, E]);
    write_blacklist(dir.path(), &["x-1"]);
    let (mut emu, endpoint) = emulator_process(
        dir.path(),
        (AK_ID, AK_SECRET),
        &[("--blacklist", "cloud-blacklist.json")],
    );
    let config = write_config(dir.path(), &auth_toml(&endpoint, "signature = \"v1\"\n"));
    let out_file = dir.path().join("pulled.json");
    let out = sync_command(&config, &[("--out", &out_file)], (AK_ID, AK_SECRET));
    let _ = emu.kill();
    let _ = emu.wait();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("5 identities"), "{stdout}");
    // the written file is a valid identities file with the same five records
    let written = mqid_core::parse_identity_list(&std::fs::read(&out_file).unwrap()).unwrap();
    let mut names: Vec<_> = written.iter().map(|i| i.username.as_str()).collect();
    names.sort();
    assert_eq!(names, ["alpha", "bravo", "charlie", "delta", "echo"]);
}

/// `mqid bench refresh` runs end to end (emulator as a child process, one measured pass); the
/// figures are for the benchmark, here only the counts are checked.
#[test]
fn refresh_bench_smoke() {
    let report = bench_json(&["refresh", "--identities", "500"]);
    assert_eq!(report["identities"], 500);
    assert_eq!(
        report["requests"], 7,
        "5 identity pages of 100, 1 blacklist page and 1 (empty) permissions page"
    );
}
