//! Test harness: a real `mqid serve` process on free loopback ports, and real MQTT clients.
#![allow(dead_code)] // each test binary uses a different part of the harness

pub mod cloud;
mod mqtt;

pub use mqtt::*;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};

pub fn mqid() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mqid"))
}

/// A running `mqid serve`. Killed on drop.
pub struct Broker {
    pub dir: tempfile::TempDir,
    pub v4: u16,
    pub v5: u16,
    pub child: Child,
    pub log: PathBuf,
}

impl Broker {
    /// Starts `mqid serve` with `auth_toml` as the `[auth]` table (paths relative to `dir`).
    pub fn start_with(dir: tempfile::TempDir, auth_toml: &str, env: &[(&str, &str)]) -> Broker {
        let (v4, v5) = (free_port(), free_port());
        let config = dir.path().join("mqid.toml");
        std::fs::write(&config, format!("{}\n{auth_toml}", broker_toml(v4, v5))).unwrap();
        let log = dir.path().join("mqid.log");
        let mut cmd = mqid();
        cmd.arg("serve")
            .arg("--config")
            .arg(&config)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn mqid serve");
        wait_for_port(v4, &mut child, &log);
        wait_for_port(v5, &mut child, &log);
        wait_for_ready(&mut child, &log);
        Broker {
            dir,
            v4,
            v5,
            child,
            log,
        }
    }

    /// Starts `mqid serve` on the file source with `identities` (JSON text).
    pub fn with_file(identities: &str) -> Broker {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("identities.json"), identities).unwrap();
        Broker::start_with(
            dir,
            "[auth]\nsource = \"file\"\nfile = \"identities.json\"\nwatch_interval_ms = 50\n",
            &[],
        )
    }

    pub fn identities_path(&self) -> PathBuf {
        self.dir.path().join("identities.json")
    }

    /// Stops the process and hands back its folder (config, files, snapshot), to start again.
    pub fn stop(mut self) -> tempfile::TempDir {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap())
    }

    /// Everything mqid logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Broker {
    pub fn port(&self, p: Proto) -> u16 {
        match p {
            Proto::V4 => self.v4,
            Proto::V5 => self.v5,
        }
    }
}

/// An admitted v4 client subscribes to `topic`, publishes `payload` there and receives it.
pub async fn publish_and_receive(port: u16, client_id: &str, creds: (&str, &str), topic: &str) {
    let mut o = MqttOptions::new(client_id, "127.0.0.1", port);
    o.set_credentials(creds.0, creds.1);
    let (client, mut ev) = AsyncClient::new(o, 10);
    client.subscribe(topic, QoS::AtLeastOnce).await.unwrap();
    let payload = format!("hello from {client_id}");
    let mut published = false;
    let got = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match ev
                .poll()
                .await
                .expect("admitted client lost its connection")
            {
                Event::Incoming(Packet::SubAck(_)) if !published => {
                    client
                        .publish(topic, QoS::AtLeastOnce, false, payload.clone())
                        .await
                        .unwrap();
                    published = true;
                }
                Event::Incoming(Packet::Publish(p)) => return p,
                _ => {}
            }
        }
    })
    .await
    .expect("the message did not come back within 10 s");
    assert_eq!(got.topic, topic);
    assert_eq!(&got.payload[..], payload.as_bytes());
}

fn mqtt_str(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(&(s.len() as u16).to_be_bytes());
    out.extend_from_slice(s);
}

fn with_fixed_header(kind: u8, body: Vec<u8>) -> Vec<u8> {
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

/// MQTT 3.1.1 CONNECT (clean session, username + password) followed by a QoS 0 PUBLISH, as raw
/// bytes written in one go: what a client that does not wait for CONNACK sends.
pub fn raw_connect_then_publish(
    client_id: &str,
    user: &str,
    pass: &str,
    topic: &str,
    payload: &[u8],
) -> Vec<u8> {
    let mut c = Vec::new();
    mqtt_str(&mut c, b"MQTT");
    c.push(4); // protocol level 3.1.1
    c.push(0b1100_0010); // username, password, clean session
    c.extend_from_slice(&30u16.to_be_bytes());
    mqtt_str(&mut c, client_id.as_bytes());
    mqtt_str(&mut c, user.as_bytes());
    mqtt_str(&mut c, pass.as_bytes());
    let mut p = Vec::new();
    mqtt_str(&mut p, topic.as_bytes());
    p.extend_from_slice(payload);
    let mut out = with_fixed_header(0x10, c);
    out.extend(with_fixed_header(0x30, p));
    out
}

/// Sends raw bytes and returns what the broker wrote back before closing (or before 3 s).
pub fn raw_exchange(port: u16, bytes: &[u8]) -> (Vec<u8>, bool) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    s.write_all(bytes).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    let closed = loop {
        match s.read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break true,
            Err(_) => break false, // timed out: still open
        }
    };
    (got, closed)
}

/// `cargo metadata` of this workspace, for the host platform only (what is built here; needs no
/// network), resolved from the lock file.
pub fn cargo_metadata() -> serde_json::Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let version = Command::new(rustc).arg("-vV").output().unwrap();
    let version = String::from_utf8_lossy(&version.stdout);
    let host = version
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .expect("rustc -vV names the host");
    let out = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--locked", "--offline"])
        .args(["--filter-platform", host])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

impl Broker {
    /// As [`Broker::start_with`], with `tweak` applied to the command before it is spawned (to
    /// run it as another user, say).
    pub fn start_with_command(
        dir: tempfile::TempDir,
        auth_toml: &str,
        tweak: impl FnOnce(&mut Command),
    ) -> Broker {
        let (v4, v5) = (free_port(), free_port());
        let config = dir.path().join("mqid.toml");
        std::fs::write(&config, format!("{}\n{auth_toml}", broker_toml(v4, v5))).unwrap();
        let log = dir.path().join("mqid.log");
        let mut cmd = mqid();
        cmd.arg("serve")
            .arg("--config")
            .arg(&config)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        tweak(&mut cmd);
        let mut child = cmd.spawn().expect("spawn mqid serve");
        wait_for_port(v4, &mut child, &log);
        wait_for_port(v5, &mut child, &log);
        wait_for_ready(&mut child, &log);
        Broker {
            dir,
            v4,
            v5,
            child,
            log,
        }
    }
}

/// The Python interpreter of the test peers (paho-mqtt, Alibaba's SDKs): `MQID_TEST_PYTHON`,
/// which `./scripts/test` exports for the virtual environment it creates, else that virtual
/// environment (`target/test-venv`) if a run of the script left one. Panics, saying what to do,
/// when there is neither: the tests that need it never pass without having run it.
pub fn test_python() -> PathBuf {
    if let Some(p) = std::env::var_os("MQID_TEST_PYTHON") {
        return PathBuf::from(p);
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-venv/bin/python");
    assert!(
        venv.exists(),
        "MQID_TEST_PYTHON is not set and {} does not exist: run ./scripts/test, which creates \
         that virtual environment with tests/python/requirements.txt (or set MQID_TEST_PYTHON to \
         a Python that has them)",
        venv.display()
    );
    venv
}

/// `mqid` for the subcommands of the `dev-tools` feature (`openapi-emulator`, `bench`); panics,
/// saying how to build them, when this `mqid` was built without it.
pub fn mqid_dev_tools() -> Command {
    let help = mqid().arg("--help").output().expect("run mqid --help");
    assert!(
        String::from_utf8_lossy(&help.stdout).contains("openapi-emulator"),
        "this mqid was built without the dev-tools feature (openapi-emulator, bench): run \
         ./scripts/test, or cargo test --features dev-tools"
    );
    mqid()
}
