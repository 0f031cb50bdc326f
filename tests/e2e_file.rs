//! End to end: `mqid serve` on the file source, real rumqttd listeners, real MQTT clients.
//!
//! Passwords of SIGNED identities are known answers computed outside mqid (Python's `hmac`, see
//! crates/mqid-core/tests/data/signed-passwords.json and the comments below).

mod common;

use common::*;

const S: &str = "62a5916d71767185b48907d85c2efae2";

/// One USER/ORIGIN, one USER/SIGNED, a CLIENT/SIGNED under the same username (precedence),
/// and a CLIENT/ORIGIN.
fn identities() -> String {
    format!(
        r#"[
  {{"Username":"plain","Secret":"plain-secret-1","IdentityType":"USER","SignMode":"ORIGIN"}},
  {{"Username":"fleet","Secret":"{S}","IdentityType":"USER","SignMode":"SIGNED"}},
  {{"Username":"fleet","Secret":"sec-ü","IdentityType":"CLIENT","ClientId":"client-ü","SignMode":"SIGNED"}},
  {{"Username":"gw","Secret":"gateway-secret","IdentityType":"CLIENT","ClientId":"GID_demo@@@gateway-01","SignMode":"ORIGIN"}}
]"#
    )
}

// Python: base64.b64encode(hmac.new(secret, client_id, sha1).digest())
const FLEET_ICP: &str = "P+SmVoTf3AU9RoxclbU9WOcbmyM="; // S, GID_ICP@@@4d378084 (shared/docs)
const FLEET_TEST: &str = "8R9v0rSDYq15E0Raz/GJmgxtPLk="; // S, GID_test@@@test (shared/docs)
const FLEET_UTF8: &str = "v98vMPpsIRbsmpBIsAqZCqFMwas="; // S, GID_设备@@@温度-01
const CLIENT_U: &str = "7qPM/K7fWGDzj+1Kic1mDp5K3kE="; // sec-ü, client-ü
const USER_SIGNED_FOR_CLIENT_U: &str = "SjbD2d5R3HCnjAeOwB2Rj2+GR34="; // S, client-ü

#[test]
fn connect_matrix_on_v4_and_v5() {
    let broker = Broker::with_file(&identities());
    #[rustfmt::skip]
    let cases: &[(&str, &str, &str, bool, &str)] = &[
        // client id,               username, password,            admitted, what
        ("any-1",                   "plain", "plain-secret-1",     true,  "USER/ORIGIN"),
        ("any-2",                   "plain", "plain-secret-1",     true,  "USER/ORIGIN, another client id"),
        ("any-1",                   "plain", "plain-secret-2",     false, "USER/ORIGIN wrong password"),
        ("GID_ICP@@@4d378084",      "fleet", FLEET_ICP,            true,  "USER/SIGNED"),
        ("GID_test@@@test",         "fleet", FLEET_TEST,           true,  "USER/SIGNED, second client id"),
        ("GID_设备@@@温度-01",       "fleet", FLEET_UTF8,           true,  "USER/SIGNED, UTF-8 client id"),
        ("GID_test@@@test",         "fleet", FLEET_ICP,            false, "signed for another client id"),
        ("GID_test@@@test",         "fleet", S,                    false, "secret sent as a SIGNED password"),
        ("client-ü",                "fleet", CLIENT_U,             true,  "CLIENT/SIGNED"),
        ("client-ü",                "fleet", USER_SIGNED_FOR_CLIENT_U, false, "precedence: USER not tried when CLIENT exists"),
        ("GID_demo@@@gateway-01",   "gw",    "gateway-secret",     true,  "CLIENT/ORIGIN"),
        ("GID_demo@@@gateway-02",   "gw",    "gateway-secret",     false, "CLIENT/ORIGIN, other client id"),
        ("any-1",                   "nobody","plain-secret-1",     false, "unknown username"),
        ("any-1",                   "plain", "",                   false, "empty password"),
    ];
    for proto in [Proto::V4, Proto::V5] {
        for (client_id, user, pass, admitted, what) in cases {
            let got = connect(broker.port(proto), proto, client_id, Some((user, pass)));
            assert_eq!(
                got.admitted(),
                *admitted,
                "{proto:?} {what}: {got:?}\n{}",
                broker.log()
            );
        }
        let got = connect(broker.port(proto), proto, "anon", None);
        assert!(!got.admitted(), "{proto:?} no credentials: {got:?}");
    }
    let log = broker.log();
    assert!(log.contains("reason=\"bad_password\""), "{log}");
    assert!(log.contains("reason=\"unknown_identity\""), "{log}");
    for secret in [
        S,
        "plain-secret-1",
        "plain-secret-2",
        "sec-ü",
        "gateway-secret",
        FLEET_ICP,
        CLIENT_U,
    ] {
        assert!(
            !log.contains(secret),
            "the log shows a secret or password: {secret}\n{log}"
        );
    }
}

#[test]
fn admitted_clients_publish_and_receive() {
    let broker = Broker::with_file(&identities());
    rt().block_on(async {
        publish_and_receive(broker.v4, "any-9", ("plain", "plain-secret-1"), "t/plain").await;
        publish_and_receive(broker.v4, "client-ü", ("fleet", CLIENT_U), "t/fleet").await;
    });
}

/// A client that sends CONNECT and PUBLISH without waiting for CONNACK: with a good password
/// the message reaches a subscriber (so the raw packets are valid), with a bad one the answer is
/// a CONNACK with code 4 (bad user name or password), the socket is closed and nothing reaches
/// the router.
#[test]
fn refused_connect_never_reaches_the_router() {
    let broker = Broker::with_file(&identities());
    let port = broker.v4;
    rt().block_on(async move {
        let mut o = rumqttc::MqttOptions::new("watcher", "127.0.0.1", port);
        o.set_credentials("plain", "plain-secret-1");
        let (client, mut ev) = rumqttc::AsyncClient::new(o, 10);
        client
            .subscribe("raw/#", rumqttc::QoS::AtMostOnce)
            .await
            .unwrap();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok(e) = ev.poll().await {
                match e {
                    rumqttc::Event::Incoming(rumqttc::Packet::SubAck(_)) => {
                        let _ = tx.send(None);
                    }
                    rumqttc::Event::Incoming(rumqttc::Packet::Publish(p)) => {
                        let _ = tx.send(Some(p.topic));
                    }
                    _ => {}
                }
            }
        });
        assert_eq!(rx.recv().await, Some(None), "subscribed");

        let bad = raw_connect_then_publish("intruder", "plain", "wrong", "raw/bad", b"bad");
        let (answer, closed) = tokio::task::spawn_blocking(move || raw_exchange(port, &bad))
            .await
            .unwrap();
        // MQTT 3.1.1 §3.2: CONNACK, remaining length 2, no session, return code 4.
        assert_eq!(
            answer,
            [0x20, 0x02, 0x00, 0x04],
            "a refusal is answered with CONNACK 4"
        );
        assert!(closed, "the refused connection must be closed");

        let good =
            raw_connect_then_publish("insider", "plain", "plain-secret-1", "raw/good", b"ok");
        let (answer, _) = tokio::task::spawn_blocking(move || raw_exchange(port, &good))
            .await
            .unwrap();
        assert_eq!(&answer[..4], &[0x20, 0x02, 0x00, 0x00], "CONNACK accepted");

        let first = tokio::time::timeout(std::time::Duration::from_secs(10), rx.recv())
            .await
            .expect("the good client's message arrives");
        assert_eq!(
            first,
            Some(Some("raw/good".to_string())),
            "raw/bad must never arrive"
        );
    });
}

#[test]
fn file_changes_apply_while_running_and_a_bad_file_changes_nothing() {
    let broker = Broker::with_file(&identities());
    let path = broker.identities_path();
    let v4 = broker.v4;
    let admitted = |c: &str, u: &str, p: &str| connect(v4, Proto::V4, c, Some((u, p))).admitted();
    assert!(admitted("c1", "plain", "plain-secret-1"));
    assert!(!admitted("c1", "newbie", "newbie-secret"));

    // add "newbie", remove "plain"
    let next = identities().replace(
        r#"{"Username":"plain","Secret":"plain-secret-1","IdentityType":"USER","SignMode":"ORIGIN"}"#,
        r#"{"Username":"newbie","Secret":"newbie-secret","IdentityType":"USER","SignMode":"ORIGIN"}"#,
    );
    std::fs::write(&path, &next).unwrap();
    eventually(10, "the new identity is admitted", || {
        admitted("c1", "newbie", "newbie-secret")
    });
    assert!(
        !admitted("c1", "plain", "plain-secret-1"),
        "a removed identity is refused"
    );

    // an invalid file: nothing changes, and the log says why
    std::fs::write(&path, next.replace("\"ORIGIN\"", "\"PLAIN\"")).unwrap();
    eventually(10, "the refusal is logged", || {
        broker.log().contains("reload refused")
    });
    assert!(admitted("c1", "newbie", "newbie-secret"));
    assert!(admitted("client-ü", "fleet", CLIENT_U));
    assert!(broker.log().contains("PLAIN"), "{}", broker.log());

    std::fs::write(&path, "").unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(
        admitted("c1", "newbie", "newbie-secret"),
        "an empty file never empties the index"
    );

    // and a good file again applies
    std::fs::write(&path, identities()).unwrap();
    eventually(10, "the restored identity is admitted", || {
        admitted("c1", "plain", "plain-secret-1")
    });
}

#[test]
fn a_bad_file_at_start_up_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("identities.json"),
        r#"[{"Username":"x","Secret":"y","IdentityType":"CLIENT","SignMode":"ORIGIN"}]"#,
    )
    .unwrap();
    let out = serve_to_the_end(&write_config(dir.path(), FILE_AUTH));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("identities.json"), "{err}");
    assert!(err.contains("record #0"), "{err}");
    assert!(err.contains("ClientId is required"), "{err}");
}

#[test]
fn sign_and_check_commands() {
    let out = mqid()
        .args(["sign", "--secret", S, "--client-id", "GID_ICP@@@4d378084"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), FLEET_ICP);

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("identities.json"), identities()).unwrap();
    let config = write_config(dir.path(), FILE_AUTH);
    let check = |c: &str, u: &str, p: &str| {
        mqid()
            .arg("check")
            .arg("--config")
            .arg(&config)
            .args(["--username", u, "--client-id", c])
            .env("MQID_PASSWORD", p)
            .output()
            .unwrap()
    };
    let ok = check("client-ü", "fleet", CLIENT_U);
    assert_eq!(ok.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&ok.stdout).contains("CLIENT \"fleet\""));
    let no = check("client-ü", "fleet", USER_SIGNED_FOR_CLIENT_U);
    assert_eq!(no.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&no.stdout).contains("bad_password"));
    let no = check("x", "ghost", "pw");
    assert_eq!(no.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&no.stdout).contains("unknown_identity"));
}

/// A flood of bad CONNECTs is logged at most 20 lines a second, then counted in one summary
/// line; rumqttd's own per-refusal error line is not echoed.
#[test]
fn a_flood_of_bad_connects_does_not_flood_the_log() {
    let broker = Broker::with_file(&identities());
    let port = broker.v4;
    rt().block_on(async move {
        let attempts: Vec<_> = (0..100)
            .map(|i| {
                tokio::spawn(async move {
                    let id = format!("flood-{i}");
                    connect_async(port, Proto::V4, &id, Some(("plain", "wrong"))).await
                })
            })
            .collect();
        for a in attempts {
            assert!(!a.await.unwrap().admitted());
        }
    });
    std::thread::sleep(std::time::Duration::from_millis(1100));
    assert!(!connect(port, Proto::V4, "late", Some(("plain", "wrong"))).admitted());
    let log = broker.log();
    let lines = log.matches("CONNECT refused").count();
    assert!((20..=41).contains(&lines), "{lines} refusal lines\n{log}");
    assert!(log.contains("not logged"), "{log}");
    assert!(!log.contains("InvalidAuth"), "{log}");
}
