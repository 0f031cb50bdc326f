//! Topic permissions on the wire through mqid's edge, with rumqttc (3.1.1 and 5) clients: SUBACK
//! codes per refused filter, refused PUBLISHes acknowledged as the contract says and never
//! delivered, deliveries on denied topics filtered, wills checked at CONNECT, rule changes live.

mod common;

use std::time::Duration;

use common::*;
use mqid_core::{parse_permission_list, Index, Permissions};
use mqid_rumqttd::edge::{DenyAction, EdgeOptions};
use rumqttc::v5::mqttbytes::v5::{Packet as P5, PubAckReason, SubscribeReasonCode as Sub5};
use rumqttc::v5::mqttbytes::QoS as Q5;
use rumqttc::v5::{AsyncClient as Client5, Event as E5, MqttOptions as Opts5};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS, SubscribeReasonCode};
use tokio::sync::mpsc::UnboundedReceiver;

const IDS_P: &str = r#"[
  {"Username":"fleet","Secret":"fleet-secret","IdentityType":"USER","SignMode":"ORIGIN"},
  {"Username":"watch","Secret":"watch-secret","IdentityType":"USER","SignMode":"ORIGIN"}
]"#;

fn rule(identity: &str, topic: &str, action: &str, effect: &str) -> String {
    format!(
        r#"{{"Identity":"{identity}","IdentityType":"USER","Topic":"{topic}","PermitAction":"{action}","Effect":"{effect}"}}"#
    )
}

fn rules(extra: &[String]) -> Vec<String> {
    let mut r = vec![
        rule("fleet", "fleet/#", "PUB_SUB", "ALLOW"),
        rule("fleet", "fleet/secret", "SUB", "DENY"),
        rule("watch", "#", "PUB_SUB", "ALLOW"),
    ];
    r.extend_from_slice(extra);
    r
}

fn index_with(rules: &[String]) -> Index {
    let list = parse_permission_list(format!("[{}]", rules.join(",")).as_bytes()).unwrap();
    index(IDS_P, &[]).with_permissions(Some(Permissions::build(list)))
}

async fn start_p(options: EdgeOptions) -> TestEdge {
    let e = start_with(IDS_P, &[], config(1000), options).await;
    e.index.replace(index_with(&rules(&[])));
    e
}

/// Everything a v4 client receives, as events on a channel.
async fn v4_client(
    addr: std::net::SocketAddr,
    id: &str,
    user: &str,
) -> (AsyncClient, UnboundedReceiver<Packet>) {
    let mut o = MqttOptions::new(id, addr.ip().to_string(), addr.port());
    o.set_credentials(user, format!("{user}-secret"));
    let (client, mut ev) = AsyncClient::new(o, 10);
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok(e) = ev.poll().await {
            if let Event::Incoming(p) = e {
                let _ = tx.send(p);
            }
        }
    });
    (client, rx)
}

async fn v5_client(
    addr: std::net::SocketAddr,
    id: &str,
    user: &str,
) -> (Client5, UnboundedReceiver<P5>) {
    let mut o = Opts5::new(id, addr.ip().to_string(), addr.port());
    o.set_credentials(user, format!("{user}-secret"));
    let (client, mut ev) = Client5::new(o, 10);
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok(e) = ev.poll().await {
            if let E5::Incoming(p) = e {
                let _ = tx.send(p);
            }
        }
    });
    (client, rx)
}

async fn next_where<T: std::fmt::Debug>(
    rx: &mut UnboundedReceiver<T>,
    what: &str,
    mut f: impl FnMut(&T) -> bool,
) -> T {
    tokio::time::timeout(WAIT, async {
        loop {
            let p = rx.recv().await.expect("client ended");
            if f(&p) {
                return p;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no {what} within {WAIT:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suback_codes_per_refused_filter_on_both_versions() {
    let e = start_p(EdgeOptions::default()).await;
    let (c4, mut rx4) = v4_client(e.v4, "s4", "fleet").await;
    c4.subscribe_many([
        rumqttc::SubscribeFilter::new("fleet/a".into(), QoS::AtLeastOnce),
        rumqttc::SubscribeFilter::new("other/b".into(), QoS::AtLeastOnce),
        rumqttc::SubscribeFilter::new("fleet/+".into(), QoS::AtMostOnce),
    ])
    .await
    .unwrap();
    let Packet::SubAck(ack) =
        next_where(&mut rx4, "SUBACK", |p| matches!(p, Packet::SubAck(_))).await
    else {
        unreachable!()
    };
    assert_eq!(
        ack.return_codes,
        [
            SubscribeReasonCode::Success(QoS::AtLeastOnce),
            SubscribeReasonCode::Failure, // 0x80
            SubscribeReasonCode::Success(QoS::AtMostOnce),
        ]
    );

    let (c5, mut rx5) = v5_client(e.v5, "s5", "fleet").await;
    c5.subscribe("other/b", Q5::AtLeastOnce).await.unwrap();
    let P5::SubAck(ack) = next_where(&mut rx5, "SUBACK", |p| matches!(p, P5::SubAck(_))).await
    else {
        unreachable!()
    };
    assert_eq!(ack.return_codes, [Sub5::NotAuthorized]); // 0x87
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_publishes_are_acknowledged_as_the_contract_says_and_never_delivered() {
    let e = start_p(EdgeOptions::default()).await;
    let (w, mut wrx) = v4_client(e.v4, "watcher", "watch").await;
    w.subscribe("#", QoS::AtLeastOnce).await.unwrap();
    next_where(&mut wrx, "SUBACK", |p| matches!(p, Packet::SubAck(_))).await;

    // 3.1.1: refused QoS 1 and 2 are still acknowledged (PUBACK; PUBREC then PUBCOMP).
    let (c4, mut rx4) = v4_client(e.v4, "p4", "fleet").await;
    c4.publish("other/q1", QoS::AtLeastOnce, false, "no")
        .await
        .unwrap();
    next_where(&mut rx4, "PUBACK", |p| matches!(p, Packet::PubAck(_))).await;
    c4.publish("other/q2", QoS::ExactlyOnce, false, "no")
        .await
        .unwrap();
    next_where(&mut rx4, "PUBCOMP", |p| matches!(p, Packet::PubComp(_))).await;
    // 5: PUBACK 0x87
    let (c5, mut rx5) = v5_client(e.v5, "p5", "fleet").await;
    c5.publish("other/q1", Q5::AtLeastOnce, false, "no")
        .await
        .unwrap();
    let P5::PubAck(ack) = next_where(&mut rx5, "PUBACK", |p| matches!(p, P5::PubAck(_))).await
    else {
        unreachable!()
    };
    assert_eq!(ack.reason, PubAckReason::NotAuthorized);

    // An allowed one arrives, and it is the only one.
    c4.publish("fleet/ok", QoS::AtLeastOnce, false, "yes")
        .await
        .unwrap();
    let Packet::Publish(p) =
        next_where(&mut wrx, "PUBLISH", |p| matches!(p, Packet::Publish(_))).await
    else {
        unreachable!()
    };
    assert_eq!(p.topic, "fleet/ok");
    let more = tokio::time::timeout(Duration::from_millis(800), async {
        loop {
            if let Some(Packet::Publish(p)) = wrx.recv().await {
                return p;
            }
        }
    })
    .await;
    assert!(more.is_err(), "a refused PUBLISH was delivered: {more:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_on_a_denied_topic_are_filtered_and_rule_changes_apply_live() {
    let e = start_p(EdgeOptions::default()).await;
    let (f, mut frx) = v4_client(e.v4, "reader", "fleet").await;
    f.subscribe("fleet/#", QoS::AtLeastOnce).await.unwrap();
    next_where(&mut frx, "SUBACK", |p| matches!(p, Packet::SubAck(_))).await;
    let (w, mut wrx) = v4_client(e.v4, "writer", "watch").await;
    // Both denied messages are in the router (the QoS 2 one completed) before the allowed one.
    w.publish("fleet/secret", QoS::AtLeastOnce, false, "m")
        .await
        .unwrap();
    w.publish("fleet/secret", QoS::ExactlyOnce, false, "m")
        .await
        .unwrap();
    next_where(&mut wrx, "PUBCOMP", |p| matches!(p, Packet::PubComp(_))).await;
    w.publish("fleet/open", QoS::AtLeastOnce, false, "m")
        .await
        .unwrap();
    let Packet::Publish(p) =
        next_where(&mut frx, "PUBLISH", |p| matches!(p, Packet::Publish(_))).await
    else {
        unreachable!()
    };
    assert_eq!(p.topic, "fleet/open", "a denied topic was delivered first");

    // The rule goes away while connected: fleet/secret is delivered now, no reconnect.
    e.index.replace(index_with(&[
        rule("fleet", "fleet/#", "PUB_SUB", "ALLOW"),
        rule("watch", "#", "PUB_SUB", "ALLOW"),
    ]));
    w.publish("fleet/secret", QoS::AtLeastOnce, false, "now")
        .await
        .unwrap();
    let Packet::Publish(p) =
        next_where(&mut frx, "PUBLISH", |p| matches!(p, Packet::Publish(_))).await
    else {
        unreachable!()
    };
    assert_eq!(
        (p.topic.as_str(), &p.payload[..]),
        ("fleet/secret", &b"now"[..])
    );
    drop(wrx);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_will_the_session_may_not_publish_refuses_the_connect() {
    let e = start_p(EdgeOptions::default()).await;
    for (addr, v5, code) in [(e.v4, false, 5u8), (e.v5, true, 0x87)] {
        let c = RawConnect {
            v5,
            client_id: "w",
            login: Some(("fleet", "fleet-secret")),
            keep_alive: 30,
            clean: true,
            will: Some(("other/will", b"x", 0)),
        };
        let (got, closed) = exchange(addr, &c.bytes(), Duration::from_secs(3)).await;
        assert!(closed);
        assert_eq!(
            (got.first(), got.get(3)),
            (Some(&0x20), Some(&code)),
            "v5={v5}: {got:?}"
        );
        let ok = RawConnect {
            will: Some(("fleet/will", b"x", 0)),
            ..c
        };
        let (got, _) = exchange(addr, &ok.bytes(), Duration::from_millis(300)).await;
        assert_eq!(got.get(3), Some(&0), "v5={v5}: allowed will: {got:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deny_action_disconnect_closes_with_0x87_on_v5() {
    let e = start_p(EdgeOptions {
        deny_action: DenyAction::Disconnect,
        ..EdgeOptions::default()
    })
    .await;
    // CONNECT, then a QoS 0 PUBLISH to a topic fleet may not publish to (MQTT 5 layout:
    // topic, property length 0, payload).
    let c = RawConnect::login(true, "rude", "fleet", "fleet-secret");
    let mut bytes = c.bytes();
    let mut body = vec![0, 7];
    body.extend_from_slice(b"other/x");
    body.push(0);
    body.extend_from_slice(b"no");
    bytes.extend(packet(0x30, body));
    let (got, closed) = exchange(e.v5, &bytes, Duration::from_secs(3)).await;
    assert!(closed, "{got:?}");
    // CONNACK (its length byte says where it ends), then DISCONNECT 0x87.
    let rest = &got[2 + got[1] as usize..];
    assert_eq!(
        (rest.first(), rest.get(2)),
        (Some(&0xE0), Some(&0x87)),
        "{got:?}"
    );
}
