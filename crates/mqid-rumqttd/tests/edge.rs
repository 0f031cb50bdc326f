//! mqid's edge on rumqttd's router, with real clients on loopback sockets: CONNACK codes from
//! the MQTT standards' tables, keepalive 0, hardened CONNECT handling, wills, takeover and
//! revocation.

mod common;

use std::time::Duration;

use common::*;
use rumqttc::v5::mqttbytes::v5::{ConnectReturnCode as Code5, Packet as P5};
use rumqttc::v5::{AsyncClient as Client5, Event as E5, MqttOptions as Opts5};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};

/// CONNACK fixed header for 3.1.1: type 2, remaining length 2.
const CONNACK_V4: [u8; 2] = [0x20, 0x02];

async fn v5_connect(
    addr: std::net::SocketAddr,
    id: &str,
    user: &str,
    pass: &str,
) -> Result<(), String> {
    let mut o = Opts5::new(id, addr.ip().to_string(), addr.port());
    o.set_credentials(user, pass);
    let (client, mut ev) = Client5::new(o, 10);
    let r = tokio::time::timeout(WAIT, ev.poll())
        .await
        .expect("no answer");
    match r {
        Ok(E5::Incoming(P5::ConnAck(a))) if a.code == Code5::Success => {
            let _ = client.disconnect().await;
            let _ = tokio::time::timeout(Duration::from_secs(2), async {
                while ev.poll().await.is_ok() {}
            })
            .await;
            Ok(())
        }
        other => Err(format!("{other:?}")),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_v5_and_v4_connects_are_admitted() {
    let e = start(IDS, &[]).await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..64 {
        let (v4, v5) = (e.v4, e.v5);
        tasks.spawn(async move {
            if i % 2 == 0 {
                v5_connect(v5, &format!("c5-{i}"), "fleet", "fleet-secret").await
            } else {
                let mut o = MqttOptions::new(format!("c4-{i}"), v4.ip().to_string(), v4.port());
                o.set_credentials("fleet", "fleet-secret");
                let (client, mut ev) = AsyncClient::new(o, 10);
                match tokio::time::timeout(WAIT, ev.poll())
                    .await
                    .expect("no answer")
                {
                    Ok(Event::Incoming(Packet::ConnAck(a)))
                        if a.code == rumqttc::ConnectReturnCode::Success =>
                    {
                        let _ = client.disconnect().await;
                        Ok(())
                    }
                    other => Err(format!("{other:?}")),
                }
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap().unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_refusal_gets_a_connack_with_the_standard_code() {
    let e = start(IDS, &["banned-1"]).await;
    // (client id, login, 3.1.1 code, 5.0 code): MQTT 3.1.1 table 3.1, MQTT 5.0 §3.2.2.2.
    type Case<'a> = (&'a str, Option<(&'a str, &'a str)>, u8, u8);
    let cases: [Case; 5] = [
        ("dev-1", Some(("fleet", "wrong")), 4, 0x86),
        ("dev-1", Some(("nobody", "x")), 4, 0x86),
        ("dev-1", None, 4, 0x86),
        ("banned-1", Some(("fleet", "fleet-secret")), 5, 0x8A),
        ("a/b", Some(("fleet", "fleet-secret")), 2, 0x85),
    ];
    for (id, login, v4, v5) in cases {
        for (addr, is_v5, code) in [(e.v4, false, v4), (e.v5, true, v5)] {
            let c = RawConnect {
                v5: is_v5,
                client_id: id,
                login,
                keep_alive: 30,
                clean: true,
                will: None,
            };
            let (got, closed) = exchange(addr, &c.bytes(), Duration::from_secs(3)).await;
            assert!(closed, "{id} {login:?} v5={is_v5}: the socket must close");
            assert!(
                got.len() >= 4,
                "{id} {login:?} v5={is_v5}: no CONNACK: {got:?}"
            );
            assert_eq!(got[0], 0x20, "{id} v5={is_v5}: not a CONNACK: {got:?}");
            assert_eq!(got[3], code, "{id} {login:?} v5={is_v5}: {got:?}");
            if !is_v5 {
                assert_eq!(got, [CONNACK_V4[0], CONNACK_V4[1], 0, code]);
            }
        }
    }
    // An empty client id without clean session: identifier rejected.
    for (addr, is_v5, code) in [(e.v4, false, 2), (e.v5, true, 0x85)] {
        let c = RawConnect {
            clean: false,
            ..RawConnect::login(is_v5, "", "fleet", "fleet-secret")
        };
        let (got, _) = exchange(addr, &c.bytes(), Duration::from_secs(3)).await;
        assert_eq!(got.get(3), Some(&code), "v5={is_v5}: {got:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_connections_is_refused_with_a_connack() {
    // The edge's own will link takes one of the router's places.
    let e = start_with(IDS, &[], config(2), Default::default()).await;
    let c = RawConnect::login(false, "first", "fleet", "fleet-secret");
    let mut held = tokio::net::TcpStream::connect(e.v4).await.unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut held, &c.bytes())
        .await
        .unwrap();
    let mut ack = [0u8; 4];
    tokio::io::AsyncReadExt::read_exact(&mut held, &mut ack)
        .await
        .unwrap();
    assert_eq!(ack, [0x20, 0x02, 0x00, 0x00]);
    for (addr, v5, code) in [(e.v4, false, 3), (e.v5, true, 0x97)] {
        let c = RawConnect::login(v5, "second", "fleet", "fleet-secret");
        let (got, closed) = exchange(addr, &c.bytes(), Duration::from_secs(3)).await;
        assert!(closed);
        assert_eq!(got.get(3), Some(&code), "v5={v5}: {got:?}");
    }
    drop(held);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keepalive_zero_is_accepted() {
    let e = start(IDS, &[]).await;
    for (addr, v5) in [(e.v4, false), (e.v5, true)] {
        let c = RawConnect {
            keep_alive: 0,
            ..RawConnect::login(v5, "idle", "fleet", "fleet-secret")
        };
        let (got, closed) = exchange(addr, &c.bytes(), Duration::from_millis(1500)).await;
        assert_eq!(
            got.get(..4).map(|b| (b[0], b[3])),
            Some((0x20, 0)),
            "v5={v5}: {got:?}"
        );
        assert!(
            !closed,
            "v5={v5}: keepalive 0 must keep the connection open"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_a_packet_before_connect_and_a_second_connect_close_the_connection() {
    let e = start(IDS, &[]).await;
    // garbage
    let (got, closed) = exchange(e.v4, &[0xff; 64], Duration::from_secs(3)).await;
    assert!(closed && got.is_empty(), "{got:?}");
    // PINGREQ before CONNECT
    let (got, closed) = exchange(e.v4, &[0xC0, 0x00], Duration::from_secs(3)).await;
    assert!(closed && got.is_empty(), "{got:?}");
    // a second CONNECT: CONNACK for the first, then the close
    let c = RawConnect::login(false, "twice", "fleet", "fleet-secret");
    let mut twice = c.bytes();
    twice.extend(c.bytes());
    let (got, closed) = exchange(e.v4, &twice, Duration::from_secs(3)).await;
    assert!(closed);
    assert_eq!(got, [0x20, 0x02, 0x00, 0x00]);
    assert!(
        e.edge
            .counts()
            .closes(mqid_rumqttd::edge::Close::SecondConnect)
            >= 1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_connect_within_the_timeout_closes() {
    let e = start(IDS, &[]).await;
    // connection_timeout_ms = 2000 in the test config
    let (got, closed) = exchange(e.v4, &[], Duration::from_secs(5)).await;
    assert!(closed && got.is_empty());
}

/// A v4 subscriber on `filter`; sends every received (topic, payload) to the channel.
async fn subscriber(
    addr: std::net::SocketAddr,
    id: &str,
    filter: &str,
) -> tokio::sync::mpsc::UnboundedReceiver<(String, Vec<u8>)> {
    let mut o = MqttOptions::new(id, addr.ip().to_string(), addr.port());
    o.set_credentials("fleet", "fleet-secret");
    let (client, mut ev) = AsyncClient::new(o, 10);
    client.subscribe(filter, QoS::AtLeastOnce).await.unwrap();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let (subscribed_tx, subscribed_rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let _client = client;
        let mut subscribed = Some(subscribed_tx);
        while let Ok(e) = ev.poll().await {
            match e {
                Event::Incoming(Packet::SubAck(_)) => {
                    if let Some(s) = subscribed.take() {
                        let _ = s.send(());
                    }
                }
                Event::Incoming(Packet::Publish(p)) => {
                    let _ = tx.send((p.topic, p.payload.to_vec()));
                }
                _ => {}
            }
        }
    });
    tokio::time::timeout(WAIT, subscribed_rx)
        .await
        .expect("no SUBACK")
        .unwrap();
    rx
}

/// Connects raw and returns the open stream after the CONNACK (asserting success).
async fn raw_session(addr: std::net::SocketAddr, c: RawConnect<'_>) -> tokio::net::TcpStream {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(&c.bytes()).await.unwrap();
    let mut head = [0u8; 4];
    s.read_exact(&mut head).await.unwrap();
    assert_eq!((head[0], head[3]), (0x20, 0), "CONNACK success: {head:?}");
    if c.v5 {
        // the rest of the v5 CONNACK (properties)
        let mut rest = vec![0u8; head[1] as usize - 2];
        s.read_exact(&mut rest).await.unwrap();
    }
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_will_is_published_on_an_abnormal_close_and_not_on_a_clean_disconnect() {
    use tokio::io::AsyncWriteExt;
    let e = start(IDS, &[]).await;
    let mut wills = subscriber(e.v4, "will-watcher", "will/#").await;
    for v5 in [false, true] {
        let addr = if v5 { e.v5 } else { e.v4 };
        // abnormal: the socket just goes away
        let s = raw_session(
            addr,
            RawConnect {
                will: Some(("will/dies", b"gone", 1)),
                ..RawConnect::login(v5, "dies", "fleet", "fleet-secret")
            },
        )
        .await;
        drop(s);
        let got = tokio::time::timeout(WAIT, wills.recv())
            .await
            .expect("no will")
            .unwrap();
        assert_eq!(got, ("will/dies".to_string(), b"gone".to_vec()), "v5={v5}");

        // clean: DISCONNECT first, no will
        let mut s = raw_session(
            addr,
            RawConnect {
                will: Some(("will/leaves", b"left", 1)),
                ..RawConnect::login(v5, "leaves", "fleet", "fleet-secret")
            },
        )
        .await;
        s.write_all(&[0xE0, 0x00]).await.unwrap();
        drop(s);
        let none = tokio::time::timeout(Duration::from_millis(1500), wills.recv()).await;
        assert!(
            none.is_err(),
            "v5={v5}: a will after a clean DISCONNECT: {none:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_takeover_closes_the_old_connection_without_its_will() {
    use tokio::io::AsyncReadExt;
    let e = start(IDS, &[]).await;
    let mut wills = subscriber(e.v4, "will-watcher", "will/#").await;
    let c = || RawConnect {
        will: Some(("will/twin", b"old", 0)),
        ..RawConnect::login(false, "twin", "fleet", "fleet-secret")
    };
    let mut old = raw_session(e.v4, c()).await;
    let _new = raw_session(e.v4, c()).await;
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(WAIT, old.read(&mut buf))
        .await
        .expect("old connection left open");
    assert!(matches!(n, Ok(0) | Err(_)), "{n:?}");
    let none = tokio::time::timeout(Duration::from_millis(1500), wills.recv()).await;
    assert!(none.is_err(), "a will on takeover: {none:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_of_a_removed_or_blacklisted_identity_are_disconnected() {
    use tokio::io::AsyncReadExt;
    let e = start(IDS, &[]).await;
    let mut gw = raw_session(
        e.v5,
        RawConnect {
            keep_alive: 0,
            ..RawConnect::login(true, "gw-1", "gw", "gw-secret")
        },
    )
    .await;
    let mut dev = raw_session(
        e.v5,
        RawConnect {
            keep_alive: 0,
            ..RawConnect::login(true, "dev-9", "fleet", "fleet-secret")
        },
    )
    .await;
    let mut stays = raw_session(
        e.v5,
        RawConnect {
            keep_alive: 0,
            ..RawConnect::login(true, "dev-10", "fleet", "fleet-secret")
        },
    )
    .await;
    // gw's CLIENT identity goes away; dev-9 is blacklisted; the fleet stays.
    let fleet_only = r#"[{"Username":"fleet","Secret":"fleet-secret","IdentityType":"USER","SignMode":"ORIGIN"}]"#;
    e.index.replace(index(fleet_only, &["dev-9"]));
    for (s, reason) in [(&mut gw, 0x87u8), (&mut dev, 0x98)] {
        let mut got = Vec::new();
        let mut buf = [0u8; 64];
        loop {
            match tokio::time::timeout(WAIT, s.read(&mut buf))
                .await
                .expect("not disconnected")
            {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
        // MQTT 5 DISCONNECT: type 14, then the reason code
        assert_eq!(got.first(), Some(&0xE0), "{got:?}");
        assert_eq!(got.get(2), Some(&reason), "{got:?}");
    }
    let mut buf = [0u8; 8];
    let r = tokio::time::timeout(Duration::from_millis(800), stays.read(&mut buf)).await;
    assert!(r.is_err(), "an unaffected session was closed: {r:?}");
    assert_eq!(e.edge.counts().revocations(), 2);
}
