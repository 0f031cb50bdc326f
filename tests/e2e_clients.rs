//! End to end with MQTT clients nobody here wrote: Debian's `mosquitto_pub` and Python's
//! `paho-mqtt`, against `mqid serve` on the file source. `./scripts/test` installs both.

mod common;

use std::process::Command;

use common::*;

const S: &str = "62a5916d71767185b48907d85c2efae2";
const FLEET_ICP: &str = "P+SmVoTf3AU9RoxclbU9WOcbmyM="; // shared/docs known answer

fn identities() -> String {
    format!(
        r#"[{{"Username":"plain","Secret":"plain-secret-1","IdentityType":"USER","SignMode":"ORIGIN"}},
            {{"Username":"fleet","Secret":"{S}","IdentityType":"USER","SignMode":"SIGNED"}}]"#
    )
}

/// Fails (never skips) when a test peer is missing.
fn require(cmd: &str, probe: &[&str], must_succeed: bool) {
    let ok = Command::new(cmd)
        .args(probe)
        .output()
        .map(|o| o.status.success() || !must_succeed);
    assert!(
        matches!(ok, Ok(true)),
        "`{cmd} {}` failed: run ./scripts/test, which installs the test peers",
        probe.join(" ")
    );
}

fn mosquitto_pub(port: u16, version: &str, client_id: &str, user: &str, pass: &str) -> bool {
    let out = Command::new("mosquitto_pub")
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-V", version])
        .args([
            "-i",
            client_id,
            "-u",
            user,
            "-P",
            pass,
            "-t",
            "e2e/mosquitto",
            "-m",
            "hi",
        ])
        .output()
        .expect("run mosquitto_pub");
    out.status.success()
}

#[test]
fn mosquitto_pub_v311_and_v5() {
    require("mosquitto_pub", &["--help"], false);
    let broker = Broker::with_file(&identities());
    for (port, version) in [(broker.v4, "mqttv311"), (broker.v5, "mqttv5")] {
        assert!(
            mosquitto_pub(port, version, "m-1", "plain", "plain-secret-1"),
            "{version} ORIGIN"
        );
        assert!(
            mosquitto_pub(port, version, "GID_ICP@@@4d378084", "fleet", FLEET_ICP),
            "{version} SIGNED"
        );
        assert!(
            !mosquitto_pub(port, version, "m-1", "plain", "nope"),
            "{version} wrong password"
        );
        assert!(
            !mosquitto_pub(port, version, "GID_x@@@y", "fleet", FLEET_ICP),
            "{version} signed for another id"
        );
    }
}

fn paho(port: u16, version: &str, client_id: &str, user: &str, pass: &str) -> (bool, String) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/paho_connect.py");
    let out = Command::new(test_python())
        .args([script, &port.to_string(), version, client_id, user, pass])
        .output()
        .expect("run the test Python");
    let text = output_text(&out);
    (out.status.success() && text.contains("admitted"), text)
}

#[test]
fn paho_mqtt_v311_and_v5() {
    let python = test_python();
    require(
        python.to_str().unwrap(),
        &["-c", "import paho.mqtt.client"],
        true,
    );
    let broker = Broker::with_file(&identities());
    for (port, version) in [(broker.v4, "3"), (broker.v5, "5")] {
        let (ok, out) = paho(port, version, "p-1", "plain", "plain-secret-1");
        assert!(ok, "paho v{version} ORIGIN: {out}");
        let (ok, out) = paho(port, version, "GID_ICP@@@4d378084", "fleet", FLEET_ICP);
        assert!(ok, "paho v{version} SIGNED: {out}");
        let (ok, out) = paho(port, version, "p-1", "plain", "nope");
        assert!(
            !ok && out.contains("refused"),
            "paho v{version} wrong password: {out}"
        );
    }
}
