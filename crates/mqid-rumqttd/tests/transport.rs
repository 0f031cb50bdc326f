//! TLS (rumqttd's `tls` keys, a certificate made here with `openssl`) and websocket listeners
//! through mqid's edge, with clients nobody here wrote: `mosquitto_pub` over TLS, Eclipse Paho
//! over TLS and over websockets, Python's `ssl` resuming sessions. Refusals get their CONNACK on
//! both.

mod common;

use std::sync::Arc;

use common::*;
use mqid_core::SharedIndex;
use mqid_rumqttd::edge::{Edge, EdgeOptions};
use mqid_rumqttd::Authenticator;

async fn start_tls_and_ws(cert: &str, key: &str) -> Edge {
    let json = format!(
        r#"{{"id":0,"router":{{"max_connections":100,"max_outgoing_packet_count":200,
           "max_segment_size":1048576,"max_segment_count":10}},
           "v4":{{"1":{}}},"v5":{{"1":{}}},"ws":{{"1":{}}}}}"#,
        listener_json("tls-v4", Some((cert, key))),
        listener_json("tls-v5", Some((cert, key))),
        listener_json("ws", None),
    );
    let config: rumqttd::Config = serde_json::from_str(&json).unwrap();
    let shared = Arc::new(SharedIndex::new(index(IDS, &[])));
    Edge::start(
        &config,
        Arc::new(Authenticator::new(shared)),
        EdgeOptions::default(),
    )
    .await
    .unwrap()
}

/// The test Python and `tests/python/paho_connect.py`, as arguments.
fn paho_connect() -> (String, String) {
    use mqid_test_support::python::{script, test_python};
    let path = |p: std::path::PathBuf| p.to_string_lossy().into_owned();
    (path(test_python()), path(script("paho_connect.py")))
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_listeners_serve_mosquitto_and_paho_with_connack_codes() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = make_cert(dir.path());
    let edge = start_tls_and_ws(&cert, &key).await;
    let v4 = edge.addr("v4.1").unwrap().port().to_string();
    let v5 = edge.addr("v5.1").unwrap().port().to_string();
    for (port, version) in [(&v4, "mqttv311"), (&v5, "mqttv5")] {
        let base = [
            "mosquitto_pub",
            // By host name: mosquitto sends an IP address as SNI, which rustls (here as in
            // rumqttd) refuses as an illegal SNI host name.
            "-h",
            "localhost",
            "-p",
            port,
            "-V",
            version,
        ];
        let tls = [
            "--cafile", &cert, "-i", "t-1", "-u", "fleet", "-t", "t/x", "-m", "hi",
        ];
        let (ok, out) = run_command(strings(
            &[&base[..], &tls[..], &["-P", "fleet-secret"]].concat(),
        ))
        .await;
        assert!(ok, "{version} over TLS: {out}");
        let (ok, out) =
            run_command(strings(&[&base[..], &tls[..], &["-P", "wrong"]].concat())).await;
        assert!(
            !ok && out.to_lowercase().contains("bad user name or password"),
            "{version}: {out}"
        );
    }
    let (python, script) = paho_connect();
    let tls = format!("tls:{cert}");
    let (ok, out) = run_command(strings(&[
        &python,
        &script,
        &v4,
        "3",
        "p-1",
        "fleet",
        "fleet-secret",
        &tls,
    ]))
    .await;
    assert!(ok && out.contains("admitted"), "paho over TLS: {out}");
    // Plain MQTT on a TLS listener: the handshake fails, nothing is decided.
    let (got, closed) = exchange(
        edge.addr("v4.1").unwrap(),
        &RawConnect::login(false, "plain", "fleet", "fleet-secret").bytes(),
        std::time::Duration::from_secs(5),
    )
    .await;
    assert!(closed && got.first() != Some(&0x20), "{got:?}");
}

/// Devices resume their TLS sessions, across a fleet larger than rustls' default session
/// cache (256): Python's `ssl` (OpenSSL) connects 300 devices, then each again with its session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_of_300_devices_resumes_its_tls_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = make_cert(dir.path());
    let edge = start_tls_and_ws(&cert, &key).await;
    let port = edge.addr("v4.1").unwrap().port().to_string();
    let python = mqid_test_support::python::test_python();
    let script = mqid_test_support::python::script("tls_resume.py");
    let (ok, out) = run_command(strings(&[
        &python.to_string_lossy(),
        &script.to_string_lossy(),
        &port,
        &cert,
        "300",
        "fleet",
        "fleet-secret",
    ]))
    .await;
    assert!(ok, "{out}");
    assert!(
        out.contains("first: 300 admitted, 0 resumed; again: 300 admitted, 300 resumed"),
        "{out}"
    );
    // OpenSSL's client lists AES-256-GCM-SHA384 first; the edge picks its SHA-256 suite.
    assert!(out.contains("cipher: TLS_AES_128_GCM_SHA256"), "{out}");
    // A client that lists ChaCha20 first gets it (`openssl s_client`).
    for (first, expect) in [
        (
            "TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256",
            "TLS_CHACHA20_POLY1305_SHA256",
        ),
        (
            "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256",
            "TLS_CHACHA20_POLY1305_SHA256",
        ),
        (
            "TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256",
            "TLS_AES_128_GCM_SHA256",
        ),
    ] {
        let (_, out) = run_command(strings(&[
            "sh",
            "-c",
            &format!(
                "openssl s_client -connect 127.0.0.1:{port} -servername localhost \
                 -CAfile {cert} -ciphersuites {first} </dev/null 2>&1"
            ),
        ]))
        .await;
        assert!(
            out.contains(&format!("Cipher is {expect}")),
            "{first}: {}",
            out.lines()
                .filter(|l| l.contains("Cipher"))
                .collect::<Vec<_>>()
                .join(" | ")
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_listener_serves_paho_with_connack_codes() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = make_cert(dir.path());
    let edge = start_tls_and_ws(&cert, &key).await;
    let ws = edge.addr("ws.1").unwrap().port().to_string();
    let (python, script) = paho_connect();
    // paho's websocket transport, MQTT 3.1.1, client id w-1, user "fleet"
    let paho = |password: &str| {
        run_command(strings(&[
            &python,
            &script,
            &ws,
            "3",
            "w-1",
            "fleet",
            password,
            "websockets",
        ]))
    };
    let (ok, out) = paho("fleet-secret").await;
    assert!(
        ok && out.contains("admitted"),
        "paho over websockets: {out}"
    );
    let (ok, out) = paho("wrong").await;
    assert!(
        !ok && out.to_lowercase().contains("bad user name or password"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_certificate_file_stops_start_up_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let bogus = dir.path().join("bogus.pem");
    std::fs::write(&bogus, "not a certificate").unwrap();
    let b = bogus.to_string_lossy().into_owned();
    let json = format!(
        r#"{{"id":0,"router":{{"max_connections":100,"max_outgoing_packet_count":200,
           "max_segment_size":1048576,"max_segment_count":10}},"v4":{{"1":{}}}}}"#,
        listener_json("tls-v4", Some((&b, &b)))
    );
    let config: rumqttd::Config = serde_json::from_str(&json).unwrap();
    let shared = Arc::new(SharedIndex::new(index(IDS, &[])));
    let e = Edge::start(
        &config,
        Arc::new(Authenticator::new(shared)),
        EdgeOptions::default(),
    )
    .await
    .err()
    .expect("started with a bogus certificate")
    .to_string();
    assert!(
        e.contains("[broker.v4.1] tls") && e.contains("bogus.pem"),
        "{e}"
    );
}
