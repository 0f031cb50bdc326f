//! An edge on rumqttd's router, in process, on free loopback ports (port 0), and rumqttc
//! clients for it.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use mqid_core::{parse_identity_list, Index, SharedIndex};
use mqid_rumqttd::edge::{Edge, EdgeOptions};
use mqid_rumqttd::Authenticator;

pub const IDS: &str = r#"[
  {"Username":"fleet","Secret":"fleet-secret","IdentityType":"USER","SignMode":"ORIGIN"},
  {"Username":"gw","Secret":"gw-secret","IdentityType":"CLIENT","ClientId":"gw-1","SignMode":"ORIGIN"}
]"#;

pub fn index(json: &str, blacklist: &[&str]) -> Index {
    Index::build(
        parse_identity_list(json.as_bytes()).unwrap(),
        blacklist.iter().map(|s| s.to_string()),
    )
    .0
}

/// rumqttd's config: one v4 and one v5 listener on port 0 (and `extra` TOML-as-JSON fields).
pub fn config(max_connections: usize) -> rumqttd::Config {
    let listener = |name: &str| {
        format!(
            r#"{{"name":"{name}","listen":"127.0.0.1:0","next_connection_delay_ms":0,
               "connections":{{"connection_timeout_ms":2000,"max_payload_size":20480,
               "max_inflight_count":100,"dynamic_filters":true}}}}"#
        )
    };
    let json = format!(
        r#"{{"id":0,"router":{{"max_connections":{max_connections},"max_outgoing_packet_count":200,
           "max_segment_size":1048576,"max_segment_count":10}},
           "v4":{{"1":{}}},"v5":{{"1":{}}}}}"#,
        listener("v4-1"),
        listener("v5-1"),
    );
    serde_json::from_str(&json).unwrap()
}

pub struct TestEdge {
    pub edge: Edge,
    pub index: Arc<SharedIndex>,
    pub v4: SocketAddr,
    pub v5: SocketAddr,
}

pub async fn start(ids: &str, blacklist: &[&str]) -> TestEdge {
    start_with(ids, blacklist, config(1000), EdgeOptions::default()).await
}

pub async fn start_with(
    ids: &str,
    blacklist: &[&str],
    config: rumqttd::Config,
    options: EdgeOptions,
) -> TestEdge {
    let shared = Arc::new(SharedIndex::new(index(ids, blacklist)));
    let auth = Arc::new(Authenticator::new(shared.clone()));
    let edge = Edge::start(&config, auth, options).await.unwrap();
    let v4 = edge.addr("v4.1").unwrap();
    let v5 = edge.addr("v5.1").unwrap();
    TestEdge {
        edge,
        index: shared,
        v4,
        v5,
    }
}

pub const WAIT: Duration = Duration::from_secs(10);

fn mqtt_str(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(&(s.len() as u16).to_be_bytes());
    out.extend_from_slice(s);
}

/// A packet with its fixed header (`kind` is the first byte).
pub fn packet(kind: u8, body: Vec<u8>) -> Vec<u8> {
    let mut out = vec![kind];
    let mut len = body.len();
    loop {
        let mut b = (len % 128) as u8;
        len /= 128;
        if len > 0 {
            b |= 0x80;
        }
        out.push(b);
        if len == 0 {
            break;
        }
    }
    out.extend(body);
    out
}

/// A raw CONNECT (MQTT 3.1.1 when `v5` is false), written from the standard's layout.
pub struct RawConnect<'a> {
    pub v5: bool,
    pub client_id: &'a str,
    pub login: Option<(&'a str, &'a str)>,
    pub keep_alive: u16,
    pub clean: bool,
    /// (topic, payload, qos)
    pub will: Option<(&'a str, &'a [u8], u8)>,
}

impl RawConnect<'_> {
    pub fn bytes(&self) -> Vec<u8> {
        let mut c = Vec::new();
        mqtt_str(&mut c, b"MQTT");
        c.push(if self.v5 { 5 } else { 4 });
        let mut flags = 0u8;
        if self.clean {
            flags |= 0x02;
        }
        if let Some((_, _, qos)) = self.will {
            flags |= 0x04 | (qos << 3);
        }
        if self.login.is_some() {
            flags |= 0xC0;
        }
        c.push(flags);
        c.extend_from_slice(&self.keep_alive.to_be_bytes());
        if self.v5 {
            c.push(0); // no properties
        }
        mqtt_str(&mut c, self.client_id.as_bytes());
        if let Some((topic, payload, _)) = self.will {
            if self.v5 {
                c.push(0); // no will properties
            }
            mqtt_str(&mut c, topic.as_bytes());
            mqtt_str(&mut c, payload);
        }
        if let Some((u, p)) = self.login {
            mqtt_str(&mut c, u.as_bytes());
            mqtt_str(&mut c, p.as_bytes());
        }
        packet(0x10, c)
    }
}

/// Writes `bytes`, returns what came back before the peer closed (or `wait` passed) and
/// whether it closed.
pub async fn exchange(addr: SocketAddr, bytes: &[u8], wait: Duration) -> (Vec<u8>, bool) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(bytes).await.unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 512];
    let closed = loop {
        match tokio::time::timeout(wait, s.read(&mut buf)).await {
            Ok(Ok(0)) => break true,
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Ok(Err(_)) => break true,
            Err(_) => break false,
        }
    };
    (got, closed)
}

/// A self-signed certificate for localhost and 127.0.0.1 (also the clients' CA file).
pub fn make_cert(dir: &Path) -> (String, String) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let out = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args([
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        cert.to_string_lossy().into_owned(),
        key.to_string_lossy().into_owned(),
    )
}

/// One listener of rumqttd's config as JSON (port 0), with `tls` (cert, key) if given.
pub fn listener_json(name: &str, tls: Option<(&str, &str)>) -> String {
    let tls = tls
        .map(|(c, k)| format!(r#","tls":{{"certpath":"{c}","keypath":"{k}"}}"#))
        .unwrap_or_default();
    format!(
        r#"{{"name":"{name}","listen":"127.0.0.1:0","next_connection_delay_ms":0{tls},
           "connections":{{"connection_timeout_ms":3000,"max_payload_size":20480,
           "max_inflight_count":100}}}}"#
    )
}

/// Runs `cmd` (program, then arguments) off the async workers; returns whether it succeeded and
/// its stdout then stderr.
pub async fn run_command(cmd: Vec<String>) -> (bool, String) {
    tokio::task::spawn_blocking(move || {
        let out = Command::new(&cmd[0])
            .args(&cmd[1..])
            .output()
            .expect(&cmd[0]);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    })
    .await
    .unwrap()
}
