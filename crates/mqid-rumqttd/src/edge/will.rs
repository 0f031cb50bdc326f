//! Wills, published by the edge itself.
//!
//! # Why the edge and not the router
//!
//! rumqttd's router publishes a will only on its private `Event::PublishWill`, and deletes it on
//! a `DISCONNECT` arriving through a link, which is the only way a link can end a session. So
//! the edge never gives the router a will (`LinkBuilder::last_will` stays unset), keeps it with
//! the connection, and on an abnormal close publishes it through a link of its own after the
//! MQTT 5 will delay: with its topic, payload, QoS, retain flag and properties.
//!
//! # Contract
//!
//! * A clean `DISCONNECT` (reason 0x00) drops the will; `DISCONNECT` 0x04 ("with will")
//!   publishes it like an abnormal close.
//! * A takeover (a new connection with the same client id) drops the old connection's will,
//!   and cancels a will still waiting out its delay.
//! * The publishing link answers the router's `PUBREC` with `PUBREL`, so a QoS 2 will completes.
//! * [`Wills::connected`] is called on every admitted CONNECT: one atomic load when no will is
//!   waiting, a map lookup under a lock held for that lookup otherwise.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use rumqttd::protocol::{
    LastWill, LastWillProperties, Packet, PubRel, PubRelReason, Publish, PublishProperties, QoS,
};
use tokio::sync::mpsc;

use super::engine::{Engine, LinkRefused, LinkSpec};

/// The client id of the edge's own link, refused to devices.
pub const WILL_CLIENT_ID: &str = "mqid-edge-wills";

/// A will kept by a connection.
pub(crate) struct Will {
    topic: Bytes,
    payload: Bytes,
    qos: QoS,
    retain: bool,
    properties: Option<PublishProperties>,
    pub(crate) delay: Duration,
}

impl Will {
    /// From a CONNECT's will and its properties; `session_expiry` caps the delay (MQTT 5
    /// 3.1.3.2.2: the will is published when the delay passes or the session ends).
    pub(crate) fn from_connect(
        will: LastWill,
        properties: Option<LastWillProperties>,
        session_expiry: u32,
    ) -> Will {
        let delay = properties
            .as_ref()
            .and_then(|p| p.delay_interval)
            .unwrap_or(0)
            .min(session_expiry);
        Will {
            topic: will.topic,
            payload: will.message,
            qos: will.qos,
            retain: will.retain,
            properties: properties.map(|p| PublishProperties {
                payload_format_indicator: p.payload_format_indicator,
                message_expiry_interval: p.message_expiry_interval,
                topic_alias: None,
                response_topic: p.response_topic,
                correlation_data: p.correlation_data,
                user_properties: p.user_properties,
                subscription_identifiers: Vec::new(),
                content_type: p.content_type,
            }),
            delay: Duration::from_secs(delay.into()),
        }
    }

    /// The will's topic (for the permission check at CONNECT).
    pub(crate) fn topic(&self) -> &[u8] {
        &self.topic
    }

    /// The PUBLISH for the router, with packet id `pkid`. rumqttd keeps `Publish`'s QoS and
    /// packet id private; its serialised form is public, so the packet is built through it.
    fn publish(&self, pkid: u16) -> Publish {
        let mut b = BytesMut::with_capacity(5 + self.topic.len() + self.payload.len());
        b.put_u8(0x30 | ((self.qos as u8) << 1) | self.retain as u8);
        b.put_u16(if self.qos == QoS::AtMostOnce { 0 } else { pkid });
        b.put_u16(self.topic.len() as u16);
        b.extend_from_slice(&self.topic);
        b.extend_from_slice(&self.payload);
        Publish::deserialize(b.freeze())
    }
}

/// The edge's will link and the wills waiting out their delay.
pub(crate) struct Wills {
    tx: mpsc::UnboundedSender<Will>,
    /// Client id → token of the will waiting for it.
    waiting: Mutex<HashMap<String, u64>>,
    waiting_count: AtomicUsize,
    next_token: AtomicU64,
    published: AtomicU64,
}

impl Wills {
    /// Builds the will link (blocking: call from a blocking context) and spawns its task on the
    /// current runtime.
    pub(crate) fn start(engine: &Engine) -> Result<Arc<Wills>, LinkRefused> {
        let (link_tx, mut link_rx, _connack, mut notify) = engine.link(LinkSpec {
            client_id: WILL_CLIENT_ID,
            clean_session: true,
            dynamic_filters: false,
            topic_alias_max: 0,
        })?;
        let (tx, mut rx) = mpsc::unbounded_channel::<Will>();
        tokio::spawn(async move {
            let mut pkid: u16 = 0;
            loop {
                tokio::select! {
                    will = rx.recv() => {
                        let Some(will) = will else { break };
                        pkid = pkid.checked_add(1).unwrap_or(1);
                        let publish = will.publish(pkid);
                        link_tx.buffer().push_back(Packet::Publish(publish, will.properties));
                        if notify.notify().await.is_err() {
                            break;
                        }
                    }
                    n = link_rx.next() => match n {
                        Ok(Some(n)) => {
                            if let Some(Packet::PubRec(rec, _)) = Option::<Packet>::from(n) {
                                let rel = PubRel { pkid: rec.pkid, reason: PubRelReason::Success };
                                link_tx.buffer().push_back(Packet::PubRel(rel, None));
                                if notify.notify().await.is_err() {
                                    break;
                                }
                            }
                        }
                        Ok(None) => {
                            if link_rx.wake().await.is_err() {
                                break;
                            }
                        }
                        Err(_) => break,
                    }
                }
            }
            tracing::error!("the edge's will link to the router ended: wills are not published");
        });
        Ok(Arc::new(Wills {
            tx,
            waiting: Mutex::new(HashMap::new()),
            waiting_count: AtomicUsize::new(0),
            next_token: AtomicU64::new(1),
            published: AtomicU64::new(0),
        }))
    }

    /// A session for `client_id` was admitted: a will still waiting for that id is cancelled.
    pub(crate) fn connected(&self, client_id: &str) {
        if self.waiting_count.load(Relaxed) == 0 {
            return;
        }
        let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        if waiting.remove(client_id).is_some() {
            self.waiting_count.fetch_sub(1, Relaxed);
        }
    }

    /// The connection of `client_id` closed abnormally: publish `will` now or after its delay.
    pub(crate) fn closed(self: &Arc<Self>, client_id: String, will: Will) {
        if will.delay.is_zero() {
            self.publish(will);
            return;
        }
        let token = self.next_token.fetch_add(1, Relaxed);
        {
            let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
            if waiting.insert(client_id.clone(), token).is_none() {
                self.waiting_count.fetch_add(1, Relaxed);
            }
        }
        let wills = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(will.delay).await;
            let due = {
                let mut waiting = wills.waiting.lock().unwrap_or_else(|e| e.into_inner());
                if waiting.get(&client_id) == Some(&token) {
                    waiting.remove(&client_id);
                    wills.waiting_count.fetch_sub(1, Relaxed);
                    true
                } else {
                    false
                }
            };
            if due {
                wills.publish(will);
            }
        });
    }

    fn publish(&self, will: Will) {
        self.published.fetch_add(1, Relaxed);
        let _ = self.tx.send(will);
    }

    /// Wills handed to the router so far.
    pub(crate) fn published(&self) -> u64 {
        self.published.load(Relaxed)
    }
}
