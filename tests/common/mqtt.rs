//! The part of the test harness that needs no `mqid` binary of its own: free ports, waiting for
//! a process, real MQTT CONNECTs (rumqttc). Shared by the main
//! workspace's tests (through `common`) and the rmqtt cluster suite (`tests/cluster`, which
//! includes this file by path).
#![allow(dead_code)] // each test binary uses a different part of the harness

use std::net::TcpStream;
use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

use rumqttc::{AsyncClient, Event, MqttOptions, Packet};

#[path = "../../crates/mqid-test-support/src/ports.rs"]
mod ports;
/// A port nobody listens on right now, outside the range client sockets take theirs from.
pub use ports::free_port;

/// Waits until something accepts TCP connections on `port`.
pub fn wait_for_port(port: u16, child: &mut Child, log: &Path) {
    wait_for(child, log, &format!("listening on port {port}"), || {
        TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
}

/// Waits until `mqid serve` has logged that it is ready: its listeners accept connections a
/// moment before the line is written.
pub fn wait_for_ready(child: &mut Child, log: &Path) {
    wait_for(child, log, "\"mqid ready\" in the log", || {
        std::fs::read_to_string(log).is_ok_and(|l| l.contains("mqid ready"))
    });
}

/// Polls `done` for up to 30 s; panics with the log if `child` exits first.
fn wait_for(child: &mut Child, log: &Path, what: &str, done: impl Fn() -> bool) {
    wait_for_secs(child, log, what, 30, done);
}

/// Polls `done` for up to `secs` seconds; panics with the log if `child` (mqid, or another
/// process of the test) exits first.
pub fn wait_for_secs(
    child: &mut Child,
    log: &Path,
    what: &str,
    secs: u64,
    done: impl Fn() -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if done() {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "the process exited with {status} before {what}; its log {}:\n{}",
                log.display(),
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("no {what} after {secs} s");
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proto {
    V4,
    V5,
}

/// What a CONNECT came to.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A successful CONNACK arrived.
    Admitted,
    /// The broker closed the connection, or refused it: the text says how.
    Refused(String),
}

impl Outcome {
    pub fn admitted(&self) -> bool {
        *self == Outcome::Admitted
    }
}

pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// One CONNECT with rumqttc (v4 or v5), credentials as given (`None`: no credentials at all).
pub fn connect(port: u16, proto: Proto, client_id: &str, creds: Option<(&str, &str)>) -> Outcome {
    rt().block_on(connect_async(port, proto, client_id, creds))
}

pub async fn connect_async(
    port: u16,
    proto: Proto,
    client_id: &str,
    creds: Option<(&str, &str)>,
) -> Outcome {
    try_connect_async(port, proto, client_id, creds)
        .await
        .expect("no answer to CONNECT within 10 s: the broker neither admitted nor closed")
}

/// As [`connect_async`]; `None` when no answer came within 10 s.
pub async fn try_connect_async(
    port: u16,
    proto: Proto,
    client_id: &str,
    creds: Option<(&str, &str)>,
) -> Option<Outcome> {
    let fut = async {
        match proto {
            Proto::V4 => {
                let mut o = MqttOptions::new(client_id, "127.0.0.1", port);
                o.set_keep_alive(Duration::from_secs(30));
                if let Some((u, p)) = creds {
                    o.set_credentials(u, p);
                }
                let (client, mut ev) = AsyncClient::new(o, 10);
                match ev.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(a)))
                        if a.code == rumqttc::ConnectReturnCode::Success =>
                    {
                        // Leave cleanly (see `CLEAN_DISCONNECT`).
                        let _ = client.disconnect().await;
                        let _ = tokio::time::timeout(CLEAN_DISCONNECT, async {
                            while ev.poll().await.is_ok() {}
                        })
                        .await;
                        Outcome::Admitted
                    }
                    Ok(other) => Outcome::Refused(format!("{other:?}")),
                    Err(e) => Outcome::Refused(e.to_string()),
                }
            }
            Proto::V5 => {
                use rumqttc::v5::{mqttbytes::v5::Packet as P5, Event as E5};
                let mut o = rumqttc::v5::MqttOptions::new(client_id, "127.0.0.1", port);
                o.set_keep_alive(Duration::from_secs(30));
                if let Some((u, p)) = creds {
                    o.set_credentials(u, p);
                }
                let (client, mut ev) = rumqttc::v5::AsyncClient::new(o, 10);
                match ev.poll().await {
                    Ok(E5::Incoming(P5::ConnAck(a)))
                        if a.code == rumqttc::v5::mqttbytes::v5::ConnectReturnCode::Success =>
                    {
                        let _ = client.disconnect().await;
                        let _ = tokio::time::timeout(CLEAN_DISCONNECT, async {
                            while ev.poll().await.is_ok() {}
                        })
                        .await;
                        Outcome::Admitted
                    }
                    Ok(other) => Outcome::Refused(format!("{other:?}")),
                    Err(e) => Outcome::Refused(e.to_string()),
                }
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), fut)
        .await
        .ok()
}

/// How long an admitted test client waits for the broker to close after its DISCONNECT.
/// Dropping a connection abruptly and reconnecting at once with the same client id races inside
/// rumqttd 0.20 (the old link's late disconnect can close the new connection); a clean
/// DISCONNECT keeps the tests from tripping over that broker behaviour, which is not mqid's.
const CLEAN_DISCONNECT: Duration = Duration::from_secs(2);

/// Polls `f` until it holds, for up to `secs` seconds.
pub fn eventually(secs: u64, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("not reached within {secs} s: {what}");
}
