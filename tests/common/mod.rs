//! Test harness: a real `mqid serve` process on free loopback ports, and real MQTT clients.
#![allow(dead_code)] // each test binary uses a different part of the harness

pub mod cloud;
mod mqtt;

pub use mqtt::*;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use mqid_test_support::mqtt::{publish_qos0, RawConnect};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};

pub fn mqid() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mqid"))
}

/// The `[broker]` part of a test config: one v4 and one v5 listener on the given ports.
pub fn broker_toml(v4: u16, v5: u16) -> String {
    mqid_test_support::config::broker_toml(&format!("127.0.0.1:{v4}"), &format!("127.0.0.1:{v5}"))
}

#[allow(unused_imports)] // each test binary uses a different part of the harness
pub use mqid_test_support::config::openapi_auth_toml;

/// An `[auth]` table on the file source, `identities.json` beside the config.
pub const FILE_AUTH: &str = "[auth]\nsource = \"file\"\nfile = \"identities.json\"\n";

/// Writes `mqid.toml` (a test `[broker]` on free ports, and `auth_toml`) into `dir`; returns its
/// path.
pub fn write_config(dir: &Path, auth_toml: &str) -> PathBuf {
    let config = dir.join("mqid.toml");
    std::fs::write(
        &config,
        format!("{}\n{auth_toml}", broker_toml(free_port(), free_port())),
    )
    .unwrap();
    config
}

/// `mqid serve --config config`, run to its end (for configurations it must refuse).
pub fn serve_to_the_end(config: &Path) -> Output {
    mqid()
        .arg("serve")
        .arg("--config")
        .arg(config)
        .output()
        .unwrap()
}

/// What a process wrote to stdout.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What a process wrote to stderr.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// What a process wrote to stdout, then what it wrote to stderr.
pub fn output_text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `mqid openapi-emulator` (dev-tools) as a process on a free port, with the AccessKey
/// `access_key` (id, secret), serving `dir/cloud-identities.json` and the files `files` name
/// (`("--blacklist", "cloud-blacklist.json")`, ...: flag, file in `dir`); once it listens.
/// Returns the process (its log in `dir/emulator.log`) and its endpoint.
pub fn emulator_process(
    dir: &Path,
    access_key: (&str, &str),
    files: &[(&str, &str)],
) -> (Child, String) {
    let port = free_port();
    let log = dir.join("emulator.log");
    let mut cmd = mqid_dev_tools();
    cmd.args(["openapi-emulator", "--listen", &format!("127.0.0.1:{port}")])
        .arg("--identities")
        .arg(dir.join("cloud-identities.json"));
    for (flag, file) in files {
        cmd.arg(flag).arg(dir.join(file));
    }
    let mut emu = cmd
        .args(["--access-key-id", access_key.0])
        .args(["--access-key-secret", access_key.1])
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    wait_for_port(port, &mut emu, &log);
    (emu, format!("http://127.0.0.1:{port}"))
}

/// `mqid sync --config config` with the (flag, path) pairs `args`, the AccessKey `access_key`
/// (id, secret) in the environment.
pub fn sync_command(config: &Path, args: &[(&str, &Path)], access_key: (&str, &str)) -> Output {
    let mut cmd = mqid();
    cmd.arg("sync").arg("--config").arg(config);
    for (flag, path) in args {
        cmd.arg(flag).arg(path);
    }
    cmd.env("ALIBABA_CLOUD_ACCESS_KEY_ID", access_key.0)
        .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", access_key.1)
        .output()
        .unwrap()
}

/// `mqid bench <args> --json` (dev-tools): asserts that it succeeded, returns its report.
pub fn bench_json(args: &[&str]) -> serde_json::Value {
    let out = mqid_dev_tools()
        .arg("bench")
        .args(args)
        .arg("--json")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.trim()).unwrap()
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
        Broker::start_with_command(dir, auth_toml, |cmd| {
            for (k, v) in env {
                cmd.env(k, v);
            }
        })
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

/// MQTT 3.1.1 CONNECT (clean session, username + password) followed by a QoS 0 PUBLISH, as raw
/// bytes written in one go: what a client that does not wait for CONNACK sends.
pub fn raw_connect_then_publish(
    client_id: &str,
    user: &str,
    pass: &str,
    topic: &str,
    payload: &[u8],
) -> Vec<u8> {
    let mut out = RawConnect {
        v5: false,
        client_id,
        login: Some((user, pass)),
        keep_alive: 30,
        clean: true,
        will: None,
    }
    .bytes();
    out.extend(publish_qos0(topic, payload));
    out
}

/// Sends raw bytes and returns what the broker wrote back before closing (or before 3 s).
pub fn raw_exchange(port: u16, bytes: &[u8]) -> (Vec<u8>, bool) {
    let addr = (std::net::Ipv4Addr::LOCALHOST, port).into();
    mqid_test_support::mqtt::exchange(addr, bytes, Duration::from_secs(3))
}

/// `cargo metadata` of this workspace, for the host platform only (what is built here; needs no
/// network), resolved from the lock file.
pub fn cargo_metadata() -> serde_json::Value {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let version = Command::new(rustc).arg("-vV").output().unwrap();
    let version = String::from_utf8_lossy(&version.stdout);
    let host = version
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .expect("rustc -vV names the host");
    let out = cargo_offline(&[
        "metadata",
        "--format-version",
        "1",
        "--filter-platform",
        host,
    ]);
    serde_json::from_str(&out).unwrap()
}

/// `cargo <args> --locked --offline` in this workspace (the cargo that runs the tests); its
/// stdout. Panics with its stderr when it fails.
pub fn cargo_offline(args: &[&str]) -> String {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(args)
        .args(["--locked", "--offline"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cargo {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
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

#[allow(unused_imports)]
pub use mqid_test_support::python::test_python;

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
