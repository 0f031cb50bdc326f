//! The same MQTT cases against rumqttd's stock listener and against mqid's edge, both on one
//! rumqttd router and both deciding with the same `Authenticator` (the stock listener through
//! its bool hook), with clients nobody here wrote: rumqttc (3.1.1 and 5), `mosquitto_pub` /
//! `mosquitto_sub` and Eclipse Paho (Python). Prints a two-column table (`--nocapture`) and
//! fails if the edge fails any case (a case the stock listener fails is reported, not failed).

mod common;

use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use mqid_rumqttd::edge::Version;
use mqid_rumqttd::Authenticator;
use rumqttc::v5::mqttbytes::v5::{Packet as P5, PublishProperties};
use rumqttc::v5::{AsyncClient as Client5, Event as E5, MqttOptions as Opts5};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};

#[derive(Clone, Copy)]
struct Target {
    v4: SocketAddr,
    v5: SocketAddr,
}

type Outcome = Result<(), String>;

fn opts4(t: Target, id: &str) -> MqttOptions {
    let mut o = MqttOptions::new(id, t.v4.ip().to_string(), t.v4.port());
    o.set_credentials("fleet", "fleet-secret");
    o.set_keep_alive(Duration::from_secs(10));
    o
}

/// Polls until `f` returns `Some`, for up to 5 s.
async fn until<T>(
    ev: &mut rumqttc::EventLoop,
    what: &str,
    mut f: impl FnMut(&Event) -> Option<T>,
) -> Result<T, String> {
    tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match ev.poll().await {
                Ok(e) => {
                    if let Some(t) = f(&e) {
                        return Ok(t);
                    }
                }
                Err(e) => return Err(format!("{what}: {e}")),
            }
        }
    })
    .await
    .map_err(|_| format!("no {what} in 5 s"))?
}

async fn subscribed(
    t: Target,
    id: &str,
    filter: &str,
    clean: bool,
) -> Result<(AsyncClient, rumqttc::EventLoop), String> {
    let mut o = opts4(t, id);
    o.set_clean_session(clean);
    let (c, mut ev) = AsyncClient::new(o, 10);
    c.subscribe(filter, QoS::ExactlyOnce).await.unwrap();
    until(&mut ev, "SUBACK", |e| {
        matches!(e, Event::Incoming(Packet::SubAck(_))).then_some(())
    })
    .await?;
    Ok((c, ev))
}

fn publish_of(e: &Event) -> Option<(String, Vec<u8>)> {
    match e {
        Event::Incoming(Packet::Publish(p)) => Some((p.topic.clone(), p.payload.to_vec())),
        _ => None,
    }
}

async fn case_wrong_password(t: Target) -> Outcome {
    let mut o = opts4(t, "cw");
    o.set_credentials("fleet", "wrong");
    let (_c, mut ev) = AsyncClient::new(o, 10);
    match ev.poll().await {
        // rumqttc reports a refusing CONNACK as this error
        Err(rumqttc::ConnectionError::ConnectionRefused(
            rumqttc::ConnectReturnCode::BadUserNamePassword,
        )) => Ok(()),
        other => Err(format!("{other:?}")),
    }
}

async fn case_keepalive_zero(t: Target) -> Outcome {
    let c = RawConnect {
        v5: false,
        client_id: "k0",
        login: Some(("fleet", "fleet-secret")),
        keep_alive: 0,
        clean: true,
        will: None,
    };
    let (got, closed) = exchange(t.v4, &c.bytes(), Duration::from_millis(1000)).await;
    if got.get(..4) == Some(&[0x20, 0x02, 0x00, 0x00][..]) && !closed {
        Ok(())
    } else {
        Err(format!("got {got:?}, closed {closed}"))
    }
}

async fn case_will(t: Target, clean_disconnect: bool) -> Outcome {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (_w, mut wev) = subscribed(t, "will-watch", "cwill/#", true).await?;
    let c = RawConnect {
        v5: false,
        client_id: "mortal",
        login: Some(("fleet", "fleet-secret")),
        keep_alive: 30,
        clean: true,
        will: Some(("cwill/x", b"bye", 1)),
    };
    let mut s = tokio::net::TcpStream::connect(t.v4).await.unwrap();
    s.write_all(&c.bytes()).await.unwrap();
    let mut ack = [0u8; 4];
    s.read_exact(&mut ack).await.map_err(|e| e.to_string())?;
    if clean_disconnect {
        s.write_all(&[0xE0, 0]).await.unwrap();
    }
    drop(s);
    let got = until(&mut wev, "will", publish_of).await;
    match (clean_disconnect, got) {
        (false, Ok(p)) if p == ("cwill/x".into(), b"bye".to_vec()) => Ok(()),
        (true, Err(_)) => Ok(()),
        (_, other) => Err(format!("{other:?}")),
    }
}

async fn case_takeover(t: Target) -> Outcome {
    let (_a, mut aev) = AsyncClient::new(opts4(t, "twin"), 10);
    until(&mut aev, "CONNACK", |e| {
        matches!(e, Event::Incoming(Packet::ConnAck(_))).then_some(())
    })
    .await?;
    let (b, mut bev) = AsyncClient::new(opts4(t, "twin"), 10);
    until(&mut bev, "CONNACK", |e| {
        matches!(e, Event::Incoming(Packet::ConnAck(_))).then_some(())
    })
    .await?;
    // the old one is closed
    let old = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if aev.poll().await.is_err() {
                return;
            }
        }
    })
    .await;
    old.map_err(|_| "the old connection stayed open".to_string())?;
    b.subscribe("tk/x", QoS::AtLeastOnce).await.unwrap();
    until(&mut bev, "SUBACK on the new one", |e| {
        matches!(e, Event::Incoming(Packet::SubAck(_))).then_some(())
    })
    .await
}

async fn case_persistent_session(t: Target) -> Outcome {
    let (c, mut ev) = subscribed(t, "sleeper", "ps/#", false).await?;
    c.disconnect().await.unwrap();
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while ev.poll().await.is_ok() {}
    })
    .await;
    let (p, mut pev) = AsyncClient::new(opts4(t, "ps-pub"), 10);
    p.publish("ps/1", QoS::AtLeastOnce, false, "kept")
        .await
        .unwrap();
    until(&mut pev, "PUBACK", |e| {
        matches!(e, Event::Incoming(Packet::PubAck(_))).then_some(())
    })
    .await?;
    let mut o = opts4(t, "sleeper");
    o.set_clean_session(false);
    let (_c, mut ev) = AsyncClient::new(o, 10);
    let present = until(&mut ev, "CONNACK", |e| match e {
        Event::Incoming(Packet::ConnAck(a)) => Some(a.session_present),
        _ => None,
    })
    .await?;
    let got = until(&mut ev, "the queued message", publish_of).await?;
    if present && got == ("ps/1".into(), b"kept".to_vec()) {
        Ok(())
    } else {
        Err(format!("session_present {present}, got {got:?}"))
    }
}

fn mosquitto(args: &[String]) -> std::process::Child {
    Command::new(&args[0])
        .args(&args[1..])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("mosquitto clients (./scripts/test installs them)")
}

async fn case_retained_mosquitto(t: Target) -> Outcome {
    let port = t.v4.port().to_string();
    let base = [
        "-h",
        "127.0.0.1",
        "-p",
        &port,
        "-u",
        "fleet",
        "-P",
        "fleet-secret",
    ];
    let mut pubv = vec![
        "mosquitto_pub",
        "-i",
        "ret-pub",
        "-t",
        "ret/x",
        "-m",
        "sticky",
        "-r",
        "-q",
        "1",
    ];
    pubv.extend(base);
    let pubv: Vec<String> = pubv.iter().map(|s| s.to_string()).collect();
    let out = tokio::task::spawn_blocking(move || mosquitto(&pubv).wait_with_output())
        .await
        .unwrap()
        .unwrap();
    if !out.status.success() {
        return Err(format!(
            "mosquitto_pub: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let mut subv = vec![
        "mosquitto_sub",
        "-i",
        "ret-sub",
        "-t",
        "ret/x",
        "-C",
        "1",
        "-W",
        "5",
    ];
    subv.extend(base);
    let subv: Vec<String> = subv.iter().map(|s| s.to_string()).collect();
    let out = tokio::task::spawn_blocking(move || mosquitto(&subv).wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    if text.trim() == "sticky" {
        Ok(())
    } else {
        Err(format!(
            "mosquitto_sub got {text:?} {}",
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

async fn case_qos2_mosquitto(t: Target) -> Outcome {
    let port = t.v4.port().to_string();
    let base = [
        "-h",
        "127.0.0.1",
        "-p",
        &port,
        "-u",
        "fleet",
        "-P",
        "fleet-secret",
    ];
    let mut subv = vec![
        "mosquitto_sub",
        "-i",
        "q2-sub",
        "-t",
        "q2/x",
        "-q",
        "2",
        "-C",
        "1",
        "-W",
        "5",
        "-v",
    ];
    subv.extend(base);
    let subv: Vec<String> = subv.iter().map(|s| s.to_string()).collect();
    let sub = mosquitto(&subv);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut pubv = vec![
        "mosquitto_pub",
        "-i",
        "q2-pub",
        "-t",
        "q2/x",
        "-m",
        "exactly",
        "-q",
        "2",
    ];
    pubv.extend(base);
    let pubv: Vec<String> = pubv.iter().map(|s| s.to_string()).collect();
    let out = tokio::task::spawn_blocking(move || mosquitto(&pubv).wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let published = out.status.success();
    let pub_err = String::from_utf8_lossy(&out.stderr).into_owned();
    // mosquitto_sub ends by itself (-C 1 or -W 5); waited for either way.
    let out = tokio::task::spawn_blocking(move || sub.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    if !published {
        return Err(format!("mosquitto_pub: {pub_err}"));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    if text.trim() == "q2/x exactly" {
        Ok(())
    } else {
        Err(format!("mosquitto_sub got {text:?}"))
    }
}

async fn case_paho_refusal(t: Target, version: &str) -> Outcome {
    let script = mqid_test_support::python::script("paho_connect.py");
    let port = if version == "5" {
        t.v5.port()
    } else {
        t.v4.port()
    }
    .to_string();
    let version = version.to_string();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(mqid_test_support::python::test_python())
            .arg(&script)
            .args([&port, &version, "pp-1", "fleet", "wrong"])
            .output()
    })
    .await
    .unwrap()
    .expect("the test Python with paho-mqtt (./scripts/test installs it)");
    let text = String::from_utf8_lossy(&out.stdout).to_lowercase();
    if text.contains("bad user name or password") {
        Ok(())
    } else {
        Err(text.trim().to_string())
    }
}

/// Publishes `payload` at QoS 1 with a content type and a user property, and keeps the
/// client's event loop running.
async fn publish_with_properties(
    (client, mut ev): (Client5, rumqttc::v5::EventLoop),
    topic: &str,
    payload: &'static str,
) {
    let props = PublishProperties {
        content_type: Some("text/plain".into()),
        user_properties: vec![("k".into(), "v".into())],
        ..Default::default()
    };
    client
        .publish_with_properties(
            topic,
            rumqttc::v5::mqttbytes::QoS::AtLeastOnce,
            false,
            payload,
            props,
        )
        .await
        .unwrap();
    tokio::spawn(async move { while ev.poll().await.is_ok() {} });
}

async fn case_v5_properties(t: Target) -> Outcome {
    let opts = |id: &str| {
        let mut o = Opts5::new(id, t.v5.ip().to_string(), t.v5.port());
        o.set_credentials("fleet", "fleet-secret");
        o
    };
    let (s, mut sev) = Client5::new(opts("p5-sub"), 10);
    s.subscribe("p5/x", rumqttc::v5::mqttbytes::QoS::AtLeastOnce)
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if let Ok(E5::Incoming(P5::SubAck(_))) = sev.poll().await {
                return;
            }
        }
    })
    .await
    .map_err(|_| "no SUBACK".to_string())?;
    publish_with_properties(Client5::new(opts("p5-pub"), 10), "p5/x", "body").await;
    let got = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match sev.poll().await {
                Ok(E5::Incoming(P5::Publish(p))) => return Ok(p),
                Err(e) => return Err(e.to_string()),
                _ => {}
            }
        }
    })
    .await
    .map_err(|_| "no PUBLISH".to_string())??;
    let props = got.properties.unwrap_or_default();
    if props.content_type.as_deref() == Some("text/plain")
        && props.user_properties == [("k".to_string(), "v".to_string())]
    {
        Ok(())
    } else {
        Err(format!("properties {props:?}"))
    }
}

/// Eclipse Paho (Python, MQTT 5): one case of `tests/python/paho_v5_cases.py`.
async fn case_paho_v5(t: Target, case: &'static str) -> Outcome {
    let script = mqid_test_support::python::script("paho_v5_cases.py");
    let port = t.v5.port().to_string();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(mqid_test_support::python::test_python())
            .arg(&script)
            .args([case, &port, "fleet", "fleet-secret"])
            .output()
    })
    .await
    .unwrap()
    .expect("the test Python with paho-mqtt (./scripts/test installs it)");
    let text = String::from_utf8_lossy(&out.stdout);
    if out.status.success() && text.trim() == "ok" {
        Ok(())
    } else {
        Err(format!(
            "{} {}",
            text.trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// A second CONNECT on one connection: one CONNACK (for the first), then the connection closes.
async fn case_second_connect(t: Target) -> Outcome {
    let c = RawConnect {
        v5: false,
        client_id: "twice",
        login: Some(("fleet", "fleet-secret")),
        keep_alive: 30,
        clean: true,
        will: None,
    };
    let mut twice = c.bytes();
    twice.extend(c.bytes());
    let (got, closed) = exchange(t.v4, &twice, Duration::from_secs(3)).await;
    if closed && got == [0x20, 0x02, 0x00, 0x00] {
        Ok(())
    } else {
        Err(format!("got {got:?}, closed {closed}"))
    }
}

/// A packet before CONNECT (PINGREQ): closed, nothing answered.
async fn case_packet_before_connect(t: Target) -> Outcome {
    let (got, closed) = exchange(t.v4, &[0xC0, 0x00], Duration::from_secs(3)).await;
    if closed && got.is_empty() {
        Ok(())
    } else {
        Err(format!("got {got:?}, closed {closed}"))
    }
}

/// `$share/g/...`: two members of one group; each of 10 messages reaches exactly one of them.
async fn case_shared_subscription(t: Target) -> Outcome {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut members = Vec::new();
    for id in ["sh-a", "sh-b"] {
        let (c, mut ev) = subscribed(t, id, "$share/g/sh/x", true).await?;
        let tx = tx.clone();
        members.push(c);
        tokio::spawn(async move {
            while let Ok(e) = ev.poll().await {
                if let Some((_, payload)) = publish_of(&e) {
                    let _ = tx.send((id, payload));
                }
            }
        });
    }
    let (p, mut pev) = AsyncClient::new(opts4(t, "sh-pub"), 10);
    for i in 0..10 {
        p.publish("sh/x", QoS::AtLeastOnce, false, format!("m{i}"))
            .await
            .unwrap();
    }
    tokio::spawn(async move { while pev.poll().await.is_ok() {} });
    let mut got = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        while got.len() < 10 {
            match rx.recv().await {
                Some(m) => got.push(m),
                None => return,
            }
        }
        // a duplicate would arrive by now
        tokio::time::sleep(Duration::from_millis(500)).await;
        while let Ok(m) = rx.try_recv() {
            got.push(m);
        }
    })
    .await;
    let mut payloads: Vec<Vec<u8>> = got.iter().map(|(_, p)| p.clone()).collect();
    payloads.sort();
    let mut expected: Vec<Vec<u8>> = (0..10).map(|i| format!("m{i}").into_bytes()).collect();
    expected.sort();
    let both = ["sh-a", "sh-b"]
        .iter()
        .all(|id| got.iter().any(|(who, _)| who == id));
    drop(members);
    if payloads == expected && both {
        Ok(())
    } else {
        Err(format!(
            "{} messages, to {:?}",
            got.len(),
            got.iter().map(|(who, _)| *who).collect::<Vec<_>>()
        ))
    }
}

/// Polls an MQTT 5 client until `f` returns `Some`, for up to 5 s. `Err(None)`: nothing in
/// 5 s; `Err(Some(e))`: the connection failed.
async fn until5<T>(
    ev: &mut rumqttc::v5::EventLoop,
    mut f: impl FnMut(&E5) -> Option<T>,
) -> Result<T, Option<String>> {
    tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match ev.poll().await {
                Ok(e) => {
                    if let Some(t) = f(&e) {
                        return Ok(t);
                    }
                }
                Err(e) => return Err(Some(e.to_string())),
            }
        }
    })
    .await
    .map_err(|_| None)?
}

fn opts5(t: Target, id: &str) -> Opts5 {
    let mut o = Opts5::new(id, t.v5.ip().to_string(), t.v5.port());
    o.set_credentials("fleet", "fleet-secret");
    o
}

/// An MQTT 5 client, after its CONNACK.
async fn connected5(o: Opts5) -> Result<(Client5, rumqttc::v5::EventLoop), String> {
    let (c, mut ev) = Client5::new(o, 10);
    until5(&mut ev, |e| {
        matches!(e, E5::Incoming(P5::ConnAck(_))).then_some(())
    })
    .await
    .map_err(|e| format!("no CONNACK: {e:?}"))?;
    Ok((c, ev))
}

/// An MQTT 5 client subscribed (QoS 1) to `filter`.
async fn subscribed5(
    t: Target,
    id: &str,
    filter: &str,
) -> Result<(Client5, rumqttc::v5::EventLoop), String> {
    let (c, mut ev) = Client5::new(opts5(t, id), 10);
    c.subscribe(filter, rumqttc::v5::mqttbytes::QoS::AtLeastOnce)
        .await
        .unwrap();
    until5(&mut ev, |e| {
        matches!(e, E5::Incoming(P5::SubAck(_))).then_some(())
    })
    .await
    .map_err(|e| format!("no SUBACK: {e:?}"))?;
    Ok((c, ev))
}

fn publish5_of(e: &E5) -> Option<(Vec<u8>, Vec<u8>)> {
    match e {
        E5::Incoming(P5::Publish(p)) => Some((p.topic.to_vec(), p.payload.to_vec())),
        _ => None,
    }
}

/// MQTT 5 will delay (2 s, session expiry 30 s) after an abnormal close, watched by an MQTT 5
/// subscriber: published after the delay, not before; or, when the client id connects again
/// within the delay, never.
async fn case_will_delay(t: Target, reconnect: bool) -> Outcome {
    use rumqttc::v5::mqttbytes::v5::{LastWill, LastWillProperties};
    use rumqttc::v5::mqttbytes::QoS as Q5;
    let tag = if reconnect { "wdr" } else { "wdp" };
    let topic = format!("wdelay/{tag}");
    let (_w, mut wev) = subscribed5(t, &format!("{tag}-watch"), &topic).await?;
    let opts = |will: bool| {
        let mut o = opts5(t, &format!("{tag}-mortal"));
        o.set_session_expiry_interval(Some(30));
        if will {
            let props = LastWillProperties {
                delay_interval: Some(2),
                payload_format_indicator: None,
                message_expiry_interval: None,
                content_type: None,
                response_topic: None,
                correlation_data: None,
                user_properties: Vec::new(),
            };
            o.set_last_will(LastWill::new(
                topic.clone(),
                "late",
                Q5::AtLeastOnce,
                false,
                Some(props),
            ));
        }
        o
    };
    // The abnormal close: the socket goes without DISCONNECT.
    drop(connected5(opts(true)).await?);
    if reconnect {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let _again = connected5(opts(false)).await?;
        return match until5(&mut wev, publish5_of).await {
            Err(None) => Ok(()),
            Err(Some(e)) => Err(format!("the watcher failed: {e}")),
            Ok(p) => Err(format!("the will was published after a reconnect: {p:?}")),
        };
    }
    let early =
        tokio::time::timeout(Duration::from_millis(1000), until5(&mut wev, publish5_of)).await;
    if let Ok(Ok(p)) = early {
        return Err(format!("published before its delay: {p:?}"));
    }
    match until5(&mut wev, publish5_of).await {
        Ok(p) if p == (topic.clone().into_bytes(), b"late".to_vec()) => Ok(()),
        other => Err(format!("{other:?}")),
    }
}

/// A message an MQTT 5 client publishes with properties reaches a 3.1.1 subscriber.
async fn case_v5_message_to_v4(t: Target) -> Outcome {
    let (_s, mut sev) = subscribed(t, "xv-sub", "xv/x", true).await?;
    publish_with_properties(connected5(opts5(t, "xv-pub")).await?, "xv/x", "across").await;
    match until(&mut sev, "the message", publish_of).await {
        Ok(m) if m == ("xv/x".into(), b"across".to_vec()) => Ok(()),
        other => Err(format!("{other:?}")),
    }
}

async fn run_all(t: Target) -> Vec<(&'static str, Outcome)> {
    vec![
        (
            "wrong password → CONNACK 4 (rumqttc 3.1.1)",
            case_wrong_password(t).await,
        ),
        (
            "wrong password → reason shown (paho 3.1.1)",
            case_paho_refusal(t, "3").await,
        ),
        (
            "wrong password → reason shown (paho 5)",
            case_paho_refusal(t, "5").await,
        ),
        ("keepalive 0 accepted", case_keepalive_zero(t).await),
        ("will on abnormal close", case_will(t, false).await),
        ("no will after clean DISCONNECT", case_will(t, true).await),
        ("takeover of a client id", case_takeover(t).await),
        (
            "persistent session, QoS 1 across reconnect",
            case_persistent_session(t).await,
        ),
        (
            "retained message (mosquitto_pub/sub)",
            case_retained_mosquitto(t).await,
        ),
        (
            "QoS 2 end to end (mosquitto_pub/sub)",
            case_qos2_mosquitto(t).await,
        ),
        ("MQTT 5 properties (rumqttc 5)", case_v5_properties(t).await),
        (
            "MQTT 5 message with properties → 3.1.1 subscriber (rumqttc)",
            case_v5_message_to_v4(t).await,
        ),
        (
            "MQTT 5 will delay: published after it (rumqttc 5)",
            case_will_delay(t, false).await,
        ),
        (
            "MQTT 5 will delay: cancelled by a reconnect within it (rumqttc 5)",
            case_will_delay(t, true).await,
        ),
        ("QoS 2 end to end (paho 5)", case_paho_v5(t, "qos2").await),
        (
            "MQTT 5 session expiry, session kept across reconnect (paho 5)",
            case_paho_v5(t, "session").await,
        ),
        (
            "shared subscription $share/g/… (rumqttc 3.1.1)",
            case_shared_subscription(t).await,
        ),
        (
            "packet too large → DISCONNECT 0x95 shown (paho 5)",
            case_paho_v5(t, "too_large").await,
        ),
        (
            "second CONNECT on a connection: closed after one CONNACK",
            case_second_connect(t).await,
        ),
        (
            "packet before CONNECT: closed, nothing answered",
            case_packet_before_connect(t).await,
        ),
    ]
}

/// A TLS listener (3.1.1, the certificate made in the test) and a websocket listener.
#[derive(Clone)]
struct Transports {
    tls: SocketAddr,
    ws: SocketAddr,
    cert: String,
}

/// `mosquitto_pub` over TLS with `password`: admitted, or refused with the reason shown.
async fn case_tls_mosquitto(t: &Transports, password: &str) -> Outcome {
    let port = t.tls.port().to_string();
    let cmd: Vec<String> = [
        "mosquitto_pub",
        // By host name: mosquitto sends an IP address as SNI, which rustls refuses.
        "-h",
        "localhost",
        "-p",
        &port,
        "--cafile",
        &t.cert,
        "-i",
        "tls-1",
        "-u",
        "fleet",
        "-P",
        password,
        "-t",
        "tls/x",
        "-m",
        "hi",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let (ok, out) = run_command(cmd).await;
    let out = out.trim();
    let admitted = password == "fleet-secret";
    if admitted && ok {
        return Ok(());
    }
    if !admitted && !ok && out.to_lowercase().contains("bad user name or password") {
        return Ok(());
    }
    Err(format!("exit ok {ok}: {out}"))
}

/// Paho (3.1.1) over the websocket listener with `password`: admitted, or refused with the
/// reason shown.
async fn case_ws_paho(t: &Transports, password: &str) -> Outcome {
    let script = mqid_test_support::python::script("paho_connect.py");
    let port = t.ws.port().to_string();
    let python = mqid_test_support::python::test_python();
    let cmd: Vec<String> = [
        python.to_str().expect("a UTF-8 path"),
        script.to_str().expect("a UTF-8 path"),
        &port,
        "3",
        "ws-1",
        "fleet",
        password,
        "websockets",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let (ok, out) = run_command(cmd).await;
    let out = out.trim().to_string();
    let admitted = password == "fleet-secret";
    if admitted && ok && out.contains("admitted") {
        return Ok(());
    }
    if !admitted && !ok && out.to_lowercase().contains("bad user name or password") {
        return Ok(());
    }
    Err(out)
}

async fn run_transports(t: &Transports) -> Vec<(&'static str, Outcome)> {
    vec![
        (
            "TLS (mosquitto_pub 3.1.1, certificate made in the test)",
            case_tls_mosquitto(t, "fleet-secret").await,
        ),
        (
            "TLS: wrong password → reason shown (mosquitto_pub)",
            case_tls_mosquitto(t, "wrong").await,
        ),
        (
            "websocket (paho 3.1.1)",
            case_ws_paho(t, "fleet-secret").await,
        ),
        (
            "websocket: wrong password → reason shown (paho 3.1.1)",
            case_ws_paho(t, "wrong").await,
        ),
    ]
}

/// `settings` on `addr`, deciding through rumqttd's bool hook with `auth`.
fn stock_settings(
    mut settings: rumqttd::ServerSettings,
    addr: SocketAddr,
    auth: &Arc<Authenticator>,
) -> rumqttd::ServerSettings {
    settings.listen = addr;
    let a = auth.clone();
    settings.set_auth_handler(move |c: String, u: String, p: String| {
        std::future::ready(a.authenticate(&c, &u, &p))
    });
    settings
}

async fn wait_until_up(addrs: &[SocketAddr]) {
    for &addr in addrs {
        tokio::time::timeout(WAIT, async {
            while tokio::net::TcpStream::connect(addr).await.is_err() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .expect("stock listener up");
    }
}

fn free_addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], mqid_test_support::ports::free_port()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stock_listener_and_mqid_edge_side_by_side() {
    // The edge (and the router it spawned); rumqttd's stock listeners on a second router of the
    // same configuration (so that sessions of one run cannot leak into the other), deciding
    // with an authenticator on the same index through rumqttd's bool hook.
    let e = start(IDS, &[]).await;
    let other = start(IDS, &[]).await;
    let auth = Arc::new(Authenticator::new(e.index.clone()));
    let stock = Target {
        v4: free_addr(),
        v5: free_addr(),
    };
    for (addr, version) in [(stock.v4, Version::V4), (stock.v5, Version::V5)] {
        let settings = config(1000).v4.unwrap().remove("1").unwrap();
        let settings = stock_settings(settings, addr, &auth);
        tokio::spawn(other.edge.engine().stock_listener(settings, version));
    }
    wait_until_up(&[stock.v4, stock.v5]).await;
    // TLS and websockets: the edge's own listeners of those kinds on its router, rumqttd's
    // stock ones on the other, with the same keys and certificate.
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = make_cert(dir.path());
    let json = format!(
        r#"{{"id":0,"router":{{"max_connections":1000,"max_outgoing_packet_count":200,
           "max_segment_size":1048576,"max_segment_count":10}},
           "v4":{{"1":{}}},"ws":{{"1":{}}}}}"#,
        listener_json("tls-v4", Some((&cert, &key))),
        listener_json("ws", None),
    );
    let transport_config: rumqttd::Config = serde_json::from_str(&json).unwrap();
    let edge_transports = mqid_rumqttd::edge::Edge::start(
        &transport_config,
        Arc::new(Authenticator::new(e.index.clone())),
        mqid_rumqttd::edge::EdgeOptions::default(),
    )
    .await
    .unwrap();
    let stock_transports = Transports {
        tls: free_addr(),
        ws: free_addr(),
        cert: cert.clone(),
    };
    for (key, addr) in [("1", stock_transports.tls), ("ws", stock_transports.ws)] {
        let settings = match key {
            "1" => transport_config.v4.clone().unwrap().remove("1").unwrap(),
            _ => transport_config.ws.clone().unwrap().remove("1").unwrap(),
        };
        let settings = stock_settings(settings, addr, &auth);
        let engine = other.edge.engine();
        if key == "1" {
            tokio::spawn(engine.stock_listener(settings, Version::V4));
        } else {
            tokio::spawn(engine.stock_websocket_listener(settings));
        }
    }
    wait_until_up(&[stock_transports.tls, stock_transports.ws]).await;
    let edge_transports = Transports {
        tls: edge_transports.addr("v4.1").unwrap(),
        ws: edge_transports.addr("ws.1").unwrap(),
        cert,
    };

    let edge = Target { v4: e.v4, v5: e.v5 };
    let mut stock_results = run_all(stock).await;
    stock_results.extend(run_transports(&stock_transports).await);
    let mut edge_results = run_all(edge).await;
    edge_results.extend(run_transports(&edge_transports).await);

    let mut table = String::from("| case | rumqttd stock listener | mqid edge |\n|---|---|---|\n");
    let mark = |o: &Outcome| match o {
        Ok(()) => "pass".to_string(),
        Err(e) => format!(
            "FAIL ({})",
            e.chars().take(60).collect::<String>().replace('|', "/")
        ),
    };
    for ((case, s), (_, m)) in stock_results.iter().zip(&edge_results) {
        table.push_str(&format!("| {case} | {} | {} |\n", mark(s), mark(m)));
    }
    println!("{table}");
    let failed: Vec<_> = edge_results.iter().filter(|(_, o)| o.is_err()).collect();
    assert!(failed.is_empty(), "mqid's edge fails cases:\n{table}");
}
