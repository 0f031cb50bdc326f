//! End to end: the defects of issue 12, each on the real `mqid` command (real processes, real
//! sockets, real MQTT clients), so that each stays fixed.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::*;

const ORIGIN_A: &str =
    r#"{"Username":"a","Secret":"pw-a","IdentityType":"USER","SignMode":"ORIGIN"}"#;

/// `mqid check` against `config`.
fn check(config: &Path, username: &str, client_id: &str, password: &str) -> Output {
    mqid()
        .arg("check")
        .arg("--config")
        .arg(config)
        .args(["--username", username, "--client-id", client_id])
        .env("MQID_PASSWORD", password)
        .output()
        .unwrap()
}

/// Issue 12, item 5: a bad record's message is printed once, not once per error in the chain.
#[test]
fn an_invalid_record_is_reported_once() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("identities.json"),
        r#"[{"Username":"a","Secret":"pw","IdentityType":"USER","SignMode":"MD5"}]"#,
    )
    .unwrap();
    let config = write_config(dir.path(), FILE_AUTH);
    let out = check(&config, "a", "c", "pw");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.matches("SignMode \"MD5\"").count(), 1, "{err}");
    assert!(
        err.contains("identities.json") && err.contains("record #0"),
        "{err}"
    );
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// `[auth]` on the OpenAPI source (an endpoint nothing answers on) with a snapshot, and `extra`
/// lines in `[auth.openapi]`.
fn openapi_auth(extra: &str) -> String {
    openapi_auth_toml(
        &format!("http://127.0.0.1:{}", free_port()),
        &format!("snapshot = \"snapshot.json\"\n{extra}"),
    )
}

fn write_snapshot(dir: &Path, synced_at: &str, identities: &str) {
    std::fs::write(
        dir.join("snapshot.json"),
        format!(
            r#"{{"format":1,"synced_at":{synced_at},"identities":[{identities}],"blacklist":[]}}"#
        ),
    )
    .unwrap();
}

/// Issue 12, item 2: an hourly refresh with `max_staleness_secs` unset is a valid configuration
/// (the default follows `refresh_secs`); only an explicit contradiction is refused.
#[test]
fn an_hourly_refresh_needs_no_staleness_setting() {
    let dir = tempfile::tempdir().unwrap();
    write_snapshot(dir.path(), &now_secs().to_string(), ORIGIN_A);
    let config = write_config(dir.path(), &openapi_auth("refresh_secs = 3600"));
    let out = check(&config, "a", "c", "pw-a");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    let config = write_config(
        dir.path(),
        &openapi_auth("refresh_secs = 3600\nmax_staleness_secs = 3600"),
    );
    let out = check(&config, "a", "c", "pw-a");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("max_staleness_secs: 3600 must be more than refresh_secs"),
        "{err}"
    );
}

/// The folder of the rumqttd crate this workspace builds against, from `cargo metadata`.
fn rumqttd_crate_dir() -> PathBuf {
    let manifest = cargo_metadata()["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "rumqttd")
        .expect("rumqttd is a dependency")["manifest_path"]
        .as_str()
        .unwrap()
        .to_owned();
    Path::new(&manifest).parent().unwrap().to_owned()
}

/// Issue 12, item 1: the `rumqttd.toml` shipped inside the rumqttd crate, nested under
/// `[broker]`, is accepted; the keys rumqttd itself ignores (`router.id`) are named in a warning.
#[test]
fn rumqttds_own_example_config_is_accepted() {
    let example = std::fs::read_to_string(rumqttd_crate_dir().join("rumqttd.toml")).unwrap();
    let example: toml::Table = toml::from_str(&example).unwrap();
    let mut whole = toml::Table::new();
    whole.insert("broker".into(), toml::Value::Table(example));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("identities.json"), format!("[{ORIGIN_A}]")).unwrap();
    let config = dir.path().join("mqid.toml");
    std::fs::write(
        &config,
        format!("{}\n{FILE_AUTH}", toml::to_string(&whole).unwrap()),
    )
    .unwrap();
    let out = check(&config, "a", "c", "pw-a");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("unknown key") && err.contains("broker.router.id"),
        "{err}"
    );
}

/// Issue 12, item 4: a misspelt required `[broker]` key or table is named with the error.
#[test]
fn a_misspelt_required_broker_key_is_named() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("identities.json"), format!("[{ORIGIN_A}]")).unwrap();
    let config = write_config(dir.path(), FILE_AUTH);
    let good = std::fs::read_to_string(&config).unwrap();
    for (from, to, missing) in [
        (
            "max_inflight_count",
            "max_inflight_cout",
            "max_inflight_count",
        ),
        ("[broker.router]", "[broker.routr]", "router"),
    ] {
        std::fs::write(&config, good.replacen(from, to, 1)).unwrap();
        let out = check(&config, "a", "c", "pw-a");
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains(&format!("missing field `{missing}`")), "{err}");
        let typo = to.trim_matches(['[', ']']);
        assert!(
            err.contains("unknown key broker.") && err.contains(typo),
            "{err}"
        );
    }
}

const AK_ID: &str = "LTAI5tDefectsKeyId";
const AK_SECRET: &str = "defects-access-key-secret";

/// The in-process emulator serving `identities` (JSON records, comma-separated) from `dir`.
fn cloud(dir: &Path, identities: &str) -> common::cloud::Cloud {
    std::fs::write(dir.join("cloud-identities.json"), format!("[{identities}]")).unwrap();
    std::fs::write(dir.join("cloud-blacklist.json"), "[]").unwrap();
    common::cloud::Cloud::start(dir, AK_ID, AK_SECRET)
}

/// `mqid serve` on the OpenAPI source at `endpoint`, snapshot `snapshot.json`, `extra` lines in
/// `[auth.openapi]`.
fn serve_openapi(dir: tempfile::TempDir, endpoint: &str, extra: &str) -> Broker {
    let auth = openapi_auth_toml(
        endpoint,
        &format!(
            "snapshot = \"snapshot.json\"\nrefresh_secs = 1\nmax_requests_per_sec = 50\n\
             request_timeout_secs = 2\n{extra}"
        ),
    );
    Broker::start_with(
        dir,
        &auth,
        &[
            ("ALIBABA_CLOUD_ACCESS_KEY_ID", AK_ID),
            ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", AK_SECRET),
        ],
    )
}

const GHOST: &str =
    r#"{"Username":"ghost","Secret":"ghost-secret","IdentityType":"USER","SignMode":"ORIGIN"}"#;

/// Issue 12, item 8: a snapshot whose `synced_at` is out of range or in the future does not
/// make start-up panic and is not taken as fresh: it is reported as corrupt and ignored, and the
/// broker starts from the API.
#[test]
fn a_snapshot_synced_in_the_future_is_refused_not_a_panic() {
    let mut dir = tempfile::tempdir().unwrap();
    let cloud = cloud(dir.path(), ORIGIN_A);
    let endpoint = cloud.endpoint();
    for synced_at in [u64::MAX, now_secs() + 7 * 86_400] {
        write_snapshot(dir.path(), &synced_at.to_string(), GHOST);
        let b = serve_openapi(dir, &endpoint, "");
        let log = b.log();
        assert!(!log.contains("panicked"), "{synced_at}: {log}");
        let line = log
            .lines()
            .find(|l| l.contains("is corrupt and was not loaded"))
            .unwrap_or_else(|| panic!("{synced_at}: not reported:\n{log}"));
        assert!(line.contains("synced_at"), "{line}");
        assert!(log.contains("no snapshot to start from"), "{log}");
        assert!(connect(b.v4, Proto::V4, "c1", Some(("a", "pw-a"))).admitted());
        assert!(!connect(b.v4, Proto::V4, "c2", Some(("ghost", "ghost-secret"))).admitted());
        dir = b.stop();
    }
}

/// Issue 12, item 7: an identities file that the broker cannot read is read again at every poll,
/// so that making it readable (`chmod`, which changes neither its size nor its modification time)
/// applies it. As root, the broker runs as `nobody` and the file is made root's, mode 0600; as
/// another user, the file is made mode 0000.
#[cfg(unix)]
#[test]
fn a_file_that_becomes_readable_is_applied() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    use std::os::unix::process::CommandExt;
    let mode = |p: &Path, m: u32| std::fs::set_permissions(p, std::fs::Permissions::from_mode(m));
    let dir = tempfile::tempdir().unwrap();
    let as_root = std::fs::metadata(dir.path()).unwrap().uid() == 0;
    mode(dir.path(), 0o755).unwrap();
    let path = dir.path().join("identities.json");
    std::fs::write(&path, format!("[{ORIGIN_A}]")).unwrap();
    mode(&path, 0o644).unwrap();
    // the new version replaces the whole set: no share rule here (item 6)
    let auth = "[auth]\nsource = \"file\"\nfile = \"identities.json\"\nwatch_interval_ms = 50\n\
                max_removal_percent = 100\n";
    let b = Broker::start_with_command(dir, auth, |cmd| {
        if as_root {
            cmd.uid(65534).gid(65534); // nobody
        }
    });
    assert!(connect(b.v4, Proto::V4, "c1", Some(("a", "pw-a"))).admitted());

    // a new version lands unreadable to the broker ...
    std::fs::write(&path, format!("[{GHOST}]")).unwrap();
    mode(&path, if as_root { 0o600 } else { 0o000 }).unwrap();
    eventually(10, "the read error is logged", || {
        b.log().contains("Permission denied")
    });
    assert!(connect(b.v4, Proto::V4, "c2", Some(("a", "pw-a"))).admitted());
    let stamp = std::fs::metadata(&path).unwrap().modified().unwrap();
    std::thread::sleep(std::time::Duration::from_secs(4)); // past the watcher's "recent" window
                                                           // ... and is made readable, nothing else changed
    mode(&path, 0o644).unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().modified().unwrap(), stamp);
    eventually(10, "the file, readable again, is applied", || {
        connect(b.v4, Proto::V4, "c3", Some(("ghost", "ghost-secret"))).admitted()
    });
    assert!(!connect(b.v4, Proto::V4, "c4", Some(("a", "pw-a"))).admitted());
    assert_eq!(
        b.log().matches("Permission denied").count(),
        1,
        "{}",
        b.log()
    );
}

fn user(name: &str) -> String {
    format!(
        r#"{{"Username":"{name}","Secret":"{name}-secret","IdentityType":"USER","SignMode":"ORIGIN"}}"#
    )
}

fn users(names: &[&str]) -> String {
    let records: Vec<String> = names.iter().map(|n| user(n)).collect();
    format!("[{}]", records.join(","))
}

fn admits(b: &Broker, name: &str) -> bool {
    connect(
        b.v4,
        Proto::V4,
        &format!("{name}-c"),
        Some((name, &format!("{name}-secret"))),
    )
    .admitted()
}

/// Issue 12, item 6, file source: `[]` or a file that removes more than `max_removal_percent`
/// of the identities in force is refused with an ERROR naming the setting, and the index in
/// force stays; an ordinary change still applies; an empty file at start-up stops it; and
/// `allow_empty` lets an empty file through.
#[test]
fn an_empty_or_gutted_identities_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("identities.json");
    std::fs::write(&path, users(&["u1", "u2", "u3", "u4"])).unwrap();
    let auth = "[auth]\nsource = \"file\"\nfile = \"identities.json\"\nwatch_interval_ms = 50\n";
    let b = Broker::start_with(dir, auth, &[]);
    assert!(admits(&b, "u1"));

    std::fs::write(&path, "[]").unwrap();
    eventually(10, "the empty file is refused", || {
        b.log().contains("allow_empty")
    });
    let line = b
        .log()
        .lines()
        .find(|l| l.contains("allow_empty"))
        .unwrap()
        .to_owned();
    assert!(
        line.contains("ERROR") && line.contains("identities.json"),
        "{line}"
    );
    assert!(admits(&b, "u1"), "an empty file emptied the index");

    // three of four removed (75 % > 50 %)
    std::fs::write(&path, users(&["u1", "n1", "n2", "n3"])).unwrap();
    eventually(10, "the gutting file is refused", || {
        b.log().contains("max_removal_percent = 50")
    });
    assert!(admits(&b, "u2") && !admits(&b, "n1"));

    // two of four removed (50 %): applied
    std::fs::write(&path, users(&["u1", "u2", "n1", "n2"])).unwrap();
    eventually(10, "an ordinary change applies", || admits(&b, "n1"));
    assert!(!admits(&b, "u3"));
    let dir = b.stop();

    // start-up: an empty file stops it, naming the setting
    std::fs::write(&path, "[]").unwrap();
    let out = serve_to_the_end(&write_config(dir.path(), FILE_AUTH));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("allow_empty"), "{err}");

    // allowed: the empty file applies
    let b = Broker::start_with(dir, &format!("{auth}allow_empty = true\n"), &[]);
    std::fs::write(&path, users(&["u1"])).unwrap();
    eventually(10, "u1 admitted", || admits(&b, "u1"));
    std::fs::write(&path, "[]").unwrap();
    eventually(10, "the allowed empty file applies", || !admits(&b, "u1"));
}

/// Issue 12, item 6, OpenAPI source: a pass that returns no identity is refused (ERROR naming
/// `allow_empty`), the index in force stays, and the next good pass applies.
#[test]
fn an_empty_openapi_pass_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cloud = cloud(dir.path(), users(&["u1", "u2"]).trim_matches(['[', ']']));
    let endpoint = cloud.endpoint();
    let b = serve_openapi(dir, &endpoint, "");
    assert!(admits(&b, "u1"));
    std::fs::write(b.dir.path().join("cloud-identities.json"), "[]").unwrap();
    eventually(15, "the empty pass is refused", || {
        b.log().contains("allow_empty")
    });
    let log = b.log();
    let line = log.lines().find(|l| l.contains("allow_empty")).unwrap();
    assert!(line.contains("ERROR"), "{line}");
    assert!(admits(&b, "u1"), "an empty pass emptied the index");
    // and the snapshot still holds the last good set
    let snap = mqid_sync::snapshot::read(&b.dir.path().join("snapshot.json"))
        .unwrap()
        .unwrap();
    assert_eq!(snap.identities.len(), 2);
    std::fs::write(
        b.dir.path().join("cloud-identities.json"),
        users(&["u1", "u2", "u3"]),
    )
    .unwrap();
    eventually(15, "the next good pass applies", || admits(&b, "u3"));
}

/// Issue 12, item 12: a client id over 64 characters is refused at CONNECT (as ApsaraMQ
/// refuses it), reason `client_id_too_long`, even under a `USER` identity that admits any
/// client id; 64 characters (counted as characters, not bytes) are admitted.
#[test]
fn a_client_id_over_64_characters_is_refused() {
    let b = Broker::with_file(&format!("[{ORIGIN_A}]"));
    for proto in [Proto::V4, Proto::V5] {
        let port = b.port(proto);
        let at_limit = "é".repeat(64);
        assert!(connect(port, proto, &at_limit, Some(("a", "pw-a"))).admitted());
        let over = "c".repeat(65);
        assert!(!connect(port, proto, &over, Some(("a", "pw-a"))).admitted());
    }
    let log = b.log();
    assert!(log.contains("reason=\"client_id_too_long\""), "{log}");
    let config = b.dir.path().join("mqid.toml");
    let out = check(&config, "a", &"c".repeat(65), "pw-a");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("client_id_too_long"));
}

/// Issue 12, item 3: a listener whose port is taken stops start-up with a non-zero exit that
/// names the address, and the broker never says it is ready.
#[test]
fn a_listener_that_cannot_bind_stops_start_up() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("identities.json"), format!("[{ORIGIN_A}]")).unwrap();
    let config = dir.path().join("mqid.toml");
    std::fs::write(
        &config,
        format!("{}\n{FILE_AUTH}", broker_toml(free_port(), port)),
    )
    .unwrap();
    let mut child = mqid()
        .arg("serve")
        .arg("--config")
        .arg(&config)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("mqid serve kept running with a listener that cannot bind");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(!status.success(), "{status}: {err}");
    assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
    assert!(err.contains("[broker.v5.1]"), "{err}");
    assert!(!err.contains("mqid ready"), "{err}");
    drop(taken);
}

/// Issue 12, item 11: SIGTERM and SIGINT stop `mqid serve` with one log line and exit status 0
/// (not killed by the signal), whether or not a client is connected.
#[cfg(unix)]
#[test]
fn sigterm_and_sigint_stop_cleanly() {
    use std::os::unix::process::ExitStatusExt;
    for signal in ["TERM", "INT"] {
        let mut b = Broker::with_file(&format!("[{ORIGIN_A}]"));
        // a connected client, left connected
        let mut client = rumqttc::MqttOptions::new("held", "127.0.0.1", b.v4);
        client.set_credentials("a", "pw-a");
        let (_c, mut conn) = rumqttc::Client::new(client, 10);
        match conn.recv_timeout(std::time::Duration::from_secs(10)) {
            Ok(Ok(rumqttc::Event::Incoming(rumqttc::Packet::ConnAck(_)))) => {}
            other => panic!("the client was not admitted: {other:?}"),
        }
        let status = std::process::Command::new("kill")
            .args([&format!("-{signal}"), &b.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let exit = loop {
            if let Some(s) = b.child.try_wait().unwrap() {
                break s;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "SIG{signal}: still running"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        let log = b.log();
        assert_eq!(
            (exit.code(), exit.signal()),
            (Some(0), None),
            "SIG{signal}: {exit}\n{log}"
        );
        assert_eq!(
            log.matches(&format!("SIG{signal} received")).count(),
            1,
            "{log}"
        );
        // the client sees its connection closed
        let closed = (0..50).any(|_| {
            matches!(
                conn.recv_timeout(std::time::Duration::from_millis(200)),
                Ok(Err(_))
            )
        });
        assert!(closed, "SIG{signal}: the client's connection stayed open");
    }
}

/// Issue 12, item 13: `mqid bench logging` runs end to end (two `mqid serve` processes, default
/// logging and RUST_LOG=off, one publisher and one subscriber each); the figures are for the
/// benchmark, here only that both configurations moved messages.
#[test]
fn logging_bench_smoke() {
    let report = bench_json(&["logging", "--quick"]);
    assert_eq!(report["payload"], 64);
    for key in ["default_median", "off_median", "ratio"] {
        let v = report[key].as_f64().unwrap();
        assert!(v.is_finite() && v > 0.0, "{key} = {v}: {report}");
    }
    // rumqttd's router spans on (the old default) may move nothing in a short debug-build window
    let by_hand = report["by_hand_median"].as_f64().unwrap();
    assert!(by_hand.is_finite() && by_hand >= 0.0, "{report}");
}
