//! `mqid serve` on its own edge, end to end: CONNACK refusals as `mosquitto_pub` and paho-mqtt
//! report them, what start-up refuses by name, a listener that cannot bind, hostile bytes and
//! running out of file descriptors.

mod common;

use std::process::Command;

use common::*;

const IDS: &str =
    r#"[{"Username":"plain","Secret":"plain-secret-1","IdentityType":"USER","SignMode":"ORIGIN"}]"#;

fn mosquitto_pub(port: u16, version: &str, user: &str, pass: &str) -> (i32, String) {
    let out = Command::new("mosquitto_pub")
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-V", version])
        .args(["-i", "m-1", "-u", user, "-P", pass, "-t", "t/x", "-m", "hi"])
        .output()
        .expect("mosquitto_pub (./scripts/test installs it)");
    (out.status.code().unwrap_or(-1), output_text(&out))
}

/// mosquitto's own texts for the CONNACK codes (3.1.1: 4; 5: 0x86), instead of rumqttd's
/// "The connection was lost".
#[test]
fn mosquitto_pub_reports_the_refusal_reason() {
    let broker = Broker::with_file(IDS);
    let (rc, out) = mosquitto_pub(broker.v4, "mqttv311", "plain", "wrong");
    assert_ne!(rc, 0, "{out}");
    assert!(
        out.contains("Connection Refused: bad user name or password"),
        "{out}"
    );
    let (rc, out) = mosquitto_pub(broker.v5, "mqttv5", "plain", "wrong");
    assert_eq!(
        rc, 0x86,
        "mosquitto_pub exits with the v5 reason code: {out}"
    );
    assert!(out.contains("Bad User Name or Password"), "{out}");
    let (rc, out) = mosquitto_pub(broker.v4, "mqttv311", "plain", "plain-secret-1");
    assert_eq!(rc, 0, "{out}");
}

#[test]
fn paho_reports_the_refusal_reason() {
    let script = mqid_test_support::python::script("paho_connect.py");
    let broker = Broker::with_file(IDS);
    for (port, version) in [(broker.v4, "3"), (broker.v5, "5")] {
        let out = Command::new(test_python())
            .arg(&script)
            .args([&port.to_string(), version, "p-1", "plain", "wrong"])
            .output()
            .expect("run the test Python");
        let text = String::from_utf8_lossy(&out.stdout).to_lowercase();
        assert!(
            text.contains("refused") && text.contains("bad user name or password"),
            "paho v{version}: {text}"
        );
    }
}

fn serve_fails(broker_extra: &str, v4: u16) -> String {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("identities.json"), IDS).unwrap();
    let config = dir.path().join("mqid.toml");
    std::fs::write(
        &config,
        format!(
            "{}{broker_extra}\n{FILE_AUTH}",
            broker_toml(v4, free_port())
        ),
    )
    .unwrap();
    let out = serve_to_the_end(&config);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "mqid serve started: {err}");
    assert!(!err.contains("mqid ready"), "{err}");
    err
}

#[test]
fn start_up_refuses_what_the_edge_cannot_serve_by_name() {
    let capath =
        "[broker.v4.1.tls]\ncapath = \"ca.pem\"\ncertpath = \"c.pem\"\nkeypath = \"k.pem\"\n";
    let err = serve_fails(capath, free_port());
    assert!(
        err.contains("[broker.v4.1] tls") && err.contains("capath"),
        "{err}"
    );

    let console = "[broker.console]\nlisten = \"127.0.0.1:0\"\n";
    let err = serve_fails(console, free_port());
    assert!(err.contains("[broker.console]"), "{err}");
}

#[test]
fn a_listener_that_cannot_bind_stops_start_up_naming_the_address() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let err = serve_fails("", port);
    assert!(
        err.contains(&format!("127.0.0.1:{port}")) && err.contains("[broker.v4.1]"),
        "{err}"
    );
}

/// What an attacker sends never lands in the log at length, and no password is ever logged:
/// a second CONNECT with a password, a megabyte of garbage before CONNECT, a 20,000-byte
/// client id.
#[test]
fn hostile_bytes_never_reach_the_log() {
    use std::io::{Read, Write};
    let broker = Broker::with_file(IDS);
    let first = raw_connect_then_publish("twice", "plain", "plain-secret-1", "t/a", b"x");
    let mut second =
        raw_connect_then_publish("twice", "plain", "second-connect-password", "t/b", b"y");
    let mut both = first.clone();
    both.append(&mut second);
    let (answer, closed) = raw_exchange(broker.v4, &both);
    assert!(closed, "a second CONNECT closes the connection");
    assert_eq!(&answer[..4], &[0x20, 0x02, 0x00, 0x00]);

    let mut s = std::net::TcpStream::connect(("127.0.0.1", broker.v4)).unwrap();
    let junk = vec![0xEEu8; 1 << 20];
    let _ = s.write_all(&junk);
    let _ = s.read(&mut [0u8; 16]);

    let long_id = "L".repeat(20_000);
    let (answer, _) = raw_exchange(
        broker.v4,
        &raw_connect_then_publish(&long_id, "plain", "long-id-password", "t/c", b"z"),
    );
    // over ApsaraMQ's 64 characters: refused before any password check, identifier rejected
    assert_eq!(answer, [0x20, 0x02, 0x00, 0x02], "refused with CONNACK 2");

    std::thread::sleep(std::time::Duration::from_millis(300));
    let log = broker.log();
    assert!(!log.contains("second-connect-password"), "{log}");
    assert!(!log.contains("long-id-password"), "{log}");
    assert!(!log.contains("plain-secret-1"), "{log}");
    assert!(
        log.contains("second_connect"),
        "the second CONNECT is logged once: {log}"
    );
    let longest = log.lines().map(str::len).max().unwrap_or(0);
    assert!(longest < 1_000, "a log line of {longest} bytes");
    assert!(log.len() < 20_000, "{} bytes of log", log.len());
}

/// Out of file descriptors, the accept loop backs off instead of spinning: one log line per
/// interval, and the broker serves again once descriptors are free.
#[test]
fn out_of_file_descriptors_the_accept_loop_backs_off() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("identities.json"), IDS).unwrap();
    let (v4, v5) = (free_port(), free_port());
    let config = dir.path().join("mqid.toml");
    std::fs::write(
        &config,
        format!(
            "{}\n[auth]\nsource = \"file\"\nfile = \"identities.json\"\n",
            broker_toml(v4, v5)
        ),
    )
    .unwrap();
    let log = dir.path().join("mqid.log");
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -n 64 && exec '{}' serve --config '{}'",
            env!("CARGO_BIN_EXE_mqid"),
            config.display()
        ))
        .env("RUST_LOG", "info")
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    wait_for_port(v4, &mut child, &log);
    let idle: Vec<_> = (0..80)
        .filter_map(|_| std::net::TcpStream::connect(("127.0.0.1", v4)).ok())
        .collect();
    std::thread::sleep(std::time::Duration::from_secs(2));
    let text = std::fs::read_to_string(&log).unwrap();
    let lines = text.matches("cannot accept connections").count();
    assert!(
        (1..=2).contains(&lines),
        "{lines} accept-error lines (expected one per 10 s):\n{text}"
    );
    assert!(text.len() < 20_000, "{} bytes of log", text.len());
    drop(idle);
    eventually(15, "a device is admitted again", || {
        connect(v4, Proto::V4, "after", Some(("plain", "plain-secret-1"))).admitted()
    });
    let _ = child.kill();
    let _ = child.wait();
}

/// `[auth] permissions` enforced on the wire by `mqid serve`, as `mosquitto_sub` and
/// `mosquitto_pub` (MQTT 5) report it; an allowed topic still flows.
#[test]
fn topic_permissions_on_the_wire_with_mosquitto() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("identities.json"), IDS).unwrap();
    std::fs::write(
        dir.path().join("rules.json"),
        r#"[{"Identity":"plain","IdentityType":"USER","Topic":"fleet/#","PermitAction":"PUB_SUB","Effect":"ALLOW"}]"#,
    )
    .unwrap();
    let broker = Broker::start_with(
        dir,
        "[auth]\nsource = \"file\"\nfile = \"identities.json\"\npermissions = \"rules.json\"\n",
        &[],
    );
    let port = broker.v5.to_string();
    let base = [
        "-h",
        "127.0.0.1",
        "-p",
        &port,
        "-V",
        "mqttv5",
        "-u",
        "plain",
        "-P",
        "plain-secret-1",
    ];
    let run = |cmd: &str, args: &[&str]| {
        let out = Command::new(cmd)
            .args(base)
            .args(args)
            .output()
            .expect("mosquitto clients (./scripts/test installs them)");
        output_text(&out)
    };
    let out = run("mosquitto_sub", &["-i", "s-1", "-t", "other/x", "-W", "3"]);
    assert!(
        out.contains("All subscription requests were denied"),
        "{out}"
    );
    let out = run(
        "mosquitto_pub",
        &["-i", "p-1", "-t", "other/x", "-m", "m", "-q", "1"],
    );
    assert!(out.contains("Not authorized"), "{out}");

    // allowed: a subscriber on fleet/# receives a message published to fleet/x
    let sub = Command::new("mosquitto_sub")
        .args(base)
        .args(["-i", "s-2", "-t", "fleet/#", "-C", "1", "-W", "10", "-v"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    let out = run(
        "mosquitto_pub",
        &["-i", "p-2", "-t", "fleet/x", "-m", "ok", "-q", "1"],
    );
    assert!(!out.contains("failed"), "{out}");
    let got = sub.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&got.stdout).trim(), "fleet/x ok");
}

fn positive(report: &serde_json::Value, v: &serde_json::Value, what: &str) -> f64 {
    let x = v.as_f64().unwrap_or(f64::NAN);
    assert!(x.is_finite() && x > 0.0, "{what} = {v}: {report}");
    x
}

/// `mqid bench publish` end to end at a tiny size: `mqid serve` with 100 rules on the identity
/// and the stock rumqttd helper, each its own process; both moved messages at QoS 0 and 1 and
/// delivered every latency probe. The figures are for the benchmark, never checked here.
#[test]
fn publish_bench_smoke() {
    let r = bench_json(&["publish", "--quick", "--seconds", "0.3"]);
    assert_eq!(r["rules"], 100);
    let rows = r["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 4, "stock and edge at QoS 0 and 1: {r}");
    for row in rows {
        positive(&r, &row["msgs_per_s"], "msg/s");
        positive(&r, &row["cpu_us_per_msg"], "broker CPU per message");
        assert_eq!(
            row["latency_us"]["count"], 300,
            "every probe delivered: {r}"
        );
        positive(&r, &row["latency_us"]["p50"], "latency p50");
    }
    for ratio in r["ratios"].as_array().unwrap() {
        positive(&r, &ratio["msgs_per_s"], "msg/s ratio");
        positive(&r, &ratio["latency_p99"], "p99 ratio");
    }
    assert_eq!(r["targets"].as_array().unwrap().len(), 2);
}

/// `mqid bench idle` at 300 connections: each broker process grew by a sane amount per idle
/// connection (more than nothing, less than a megabyte).
#[test]
fn idle_bench_smoke() {
    let r = bench_json(&["idle", "--quick", "--connections", "300"]);
    assert_eq!(r["connections"], 300);
    assert_eq!(r["runs"].as_array().unwrap().len(), 2, "{r}");
    for key in ["stock_bytes_per_connection", "edge_bytes_per_connection"] {
        let b = positive(&r, &r[key], key);
        assert!(b < 1e6, "{key} = {b}: {r}");
    }
    positive(&r, &r["ratio"], "ratio");
}

/// `mqid bench reconnect` at 300 devices: every device was connected again after each broker
/// was killed and restarted.
#[test]
fn reconnect_bench_smoke() {
    let r = bench_json(&[
        "reconnect",
        "--quick",
        "--devices",
        "300",
        "--spread",
        "0.2",
    ]);
    let runs = r["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2, "{r}");
    for run in runs {
        assert_eq!(run["reconnected"], 300, "{r}");
        let first = positive(&r, &run["first_seconds"], "first CONNACK");
        let all = positive(&r, &run["all_seconds"], "all back");
        assert!(first <= all, "{r}");
    }
    positive(&r, &r["speedup"], "speedup");
}

/// `mqid bench connect --tls` with 40 CONNECTs, 1 listener, 1 round, 4 at a time, and `extra`.
fn tls_connect_bench(extra: &[&str]) -> serde_json::Value {
    let base = [
        "connect",
        "--tls",
        "--connects",
        "40",
        "--listeners",
        "1",
        "--rounds",
        "1",
        "--concurrency",
        "4",
    ];
    bench_json(&[&base[..], extra].concat())
}

/// `mqid bench connect --tls` at a tiny size: a certificate made in the run, the three brokers
/// over TLS, every CONNECT decided as expected (1 in 4 refused by mqid), client CPU measured.
#[test]
fn connect_tls_bench_smoke() {
    let r = tls_connect_bench(&[]);
    assert_eq!(r["tls"], true);
    let configs = r["configs"].as_array().unwrap();
    assert_eq!(configs.len(), 3, "{r}");
    for c in configs {
        assert_eq!(c["failed"], 0, "{r}");
        assert_eq!(c["unexpected"], 0, "{r}");
        positive(&r, &c["connects_per_s"], "connects/s");
        positive(&r, &c["client_cpu_share"], "client CPU");
        let admitted = c["admitted"].as_u64().unwrap();
        let expected = if c["broker"] == "no-auth" { 40 } else { 30 };
        assert_eq!(admitted, expected, "{r}");
    }
    // The clients never offer a session: every handshake on the edge was a full one.
    assert_eq!(r["edge_tls_full"], 40, "{r}");
    assert_eq!(r["edge_tls_resumed"], 0, "{r}");
}

/// `--resume`: each device's first pass is not measured; in the measured one every device
/// resumes its session on the edge (the edge's own counters say so).
#[test]
fn connect_tls_resume_bench_smoke() {
    let r = tls_connect_bench(&["--resume"]);
    assert_eq!(r["resume"], true, "{r}");
    for c in r["configs"].as_array().unwrap() {
        assert_eq!(c["failed"], 0, "{r}");
        assert_eq!(c["unexpected"], 0, "{r}");
    }
    assert_eq!(r["edge_tls_full"], 0, "{r}");
    assert_eq!(r["edge_tls_resumed"], 40, "{r}");
}
