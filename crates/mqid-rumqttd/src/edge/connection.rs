//! One client connection: CONNECT, the decision, CONNACK, then packets both ways between the
//! socket and the router until the connection ends.
//!
//! # Contract
//!
//! * A CONNECT must arrive within `connection_timeout_ms`; anything else first, a malformed
//!   packet, a second CONNECT or a packet only a server sends closes the connection with at
//!   most one short, throttled log line that never holds packet content (so never a password).
//! * Every refusal is answered with a CONNACK carrying the version's code
//!   ([`codes`](super::codes)), then the socket closes. Nothing of a refused connection reaches
//!   the router.
//! * Admitted: the link is built off the async workers (`spawn_blocking`: rumqttd's
//!   `LinkBuilder::build` blocks), the router's CONNACK is forwarded, and then each read from
//!   the socket goes to the router as one event (`LinkTx::buffer`, then
//!   [`RouterNotify::notify`], which waits for room in the router's queue without blocking
//!   the worker; rumqttd's own `LinkTx::send` would block it), and each batch of
//!   notifications goes to the socket as one write.
//! * After CONNECT, a protocol error closes the connection; MQTT 5 first gets DISCONNECT
//!   `0x82` (second CONNECT, a packet only servers send), `0x81` (malformed) or `0x95` (over
//!   `max_payload_size`). Packets for a 3.1.1 client lose any MQTT 5 properties.
//! * Keepalive 0 is accepted (no timeout); otherwise the connection ends after 1.5 × keepalive
//!   without a packet from the client.
//! * Topic permissions are asked per PUBLISH, SUBSCRIBE filter and delivered message
//!   ([`Topics`]); refused deliveries of QoS 1/2 are acknowledged to the router by the edge, so
//!   the router's inflight state stays consistent.
//! * On an abnormal end the router gets a DISCONNECT through the link (it keeps a persistent
//!   session) and the will is handed to [`Wills`] (published after its delay unless a
//!   takeover cancels it).
//!
//! Per packet: no allocation by the edge beyond rumqttd's own decoding (and flume's waiter when
//! the router's queue is full, a remembered topic name growing to a longer one, an ack held
//! because it came before an earlier one), no lock a refresh can hold, no log line. An allowed
//! PUBLISH or delivery is moved once from the decoder into the router's batch (or the encoder).
//!
//! Packets go to the router in batches (`feed_router`): the batch is swapped with the link's
//! buffer when that is empty, and the router is told once per batch, or not at all while an
//! event it has not handled yet covers the buffer.

use std::collections::{HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rumqttd::local::{LinkRx, LinkTx};
use rumqttd::protocol::{
    ConnAck, Disconnect, DisconnectReasonCode, Packet, Protocol, PubAck, PubAckReason, PubComp,
    PubCompReason, PubRec, PubRecReason, Publish, QoS, SubscribeReasonCode,
};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::{sleep_until, timeout, Instant};

use super::acks::InOrder;
use super::codec::{Codec, ReadError};
use super::codes::{connack_code, ConnectRefusal, Version};
use super::engine::{LinkSpec, RouterNotify};
use super::listener::ListenerContext;
use super::sessions::SessionHandle;
use super::stats::{Close, Denied};
use super::topics::{DenyAction, Topics};
use super::will::{Will, WILL_CLIENT_ID};
use mqid_core::text::log_field;

/// Most notifications written in one batch.
const MAX_WRITE_BATCH: usize = 256;

/// Serves one accepted connection to its end.
pub(crate) async fn serve<S, P>(stream: S, peer: SocketAddr, l: Arc<ListenerContext>, protocol: P)
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
    P: Protocol + Send,
{
    let mut codec = Codec::new(stream, l.max_payload_size, protocol);
    let first = match timeout(l.connection_timeout, codec.read()).await {
        Err(_) => return l.closed_early(Close::ConnectTimeout, peer, None),
        Ok(Err(e)) => return l.closed_early(close_of(&e), peer, Some(&e)),
        Ok(Ok(p)) => p,
    };
    let Packet::Connect(connect, props, will, will_props, login) = first else {
        return l.closed_early(Close::NotConnect, peer, None);
    };
    let (username, password) = login.map(|l| (l.username, l.password)).unwrap_or_default();
    let keep_alive = connect.keep_alive;
    let admitted = match admit(
        &l, &username, password, connect, props, will, will_props, peer,
    )
    .await
    {
        Ok(a) => a,
        Err(Refused(refusal, client_id)) => {
            return refuse(&mut codec, &l, refusal, &username, &client_id, peer).await
        }
    };
    let Admitted {
        admission,
        client_id,
        assigned,
        mut topics,
        will,
        slot,
        link: (link_tx, link_rx, connack, notify),
    } = admitted;
    let shared_index = l.edge.auth.index().clone();

    let mut connack: Option<Packet> = connack.into();
    if let (Some(Packet::ConnAck(_, props)), Version::V5) = (&mut connack, l.version) {
        let mut p = props.take().unwrap_or_default();
        p.assigned_client_identifier = assigned;
        *props = Some(p);
    }
    let Some(connack) = connack else { return };
    let sent = codec.send(connack).await;
    // Rules changed while the link was built are picked up before the first packet.
    topics.refresh(&shared_index, &username, &client_id);
    let mut session = Session::new(
        (link_tx, link_rx, notify),
        l.clone(),
        client_id,
        username,
        topics,
        slot,
        admission,
    );
    if sent.is_err() {
        session.end(&mut codec, Close::Io, will).await;
        return;
    }
    let keepalive = match keep_alive {
        0 => None,
        k => Some(Duration::from_millis(u64::from(k) * 1500)),
    };
    let close = session.run(&mut codec, keepalive).await;
    session.end(&mut codec, close, will).await;
}

/// A CONNECT that passed every check, with its link to the router.
struct Admitted {
    admission: crate::Admission,
    client_id: String,
    /// The client id the edge assigned (an empty one with clean session), for the CONNACK.
    assigned: Option<String>,
    topics: Topics,
    will: Option<Will>,
    slot: super::Slot,
    link: super::engine::Link,
}

/// A refused CONNECT: why, and the client id for the log line.
struct Refused(ConnectRefusal, String);

/// The decision (stale gate, limiter, index: counted and logged by the authenticator), then the
/// edge's own checks (client id, will topic, `max_connections`), then the link, built off the
/// async workers (`LinkBuilder::build` blocks).
#[allow(clippy::too_many_arguments)]
async fn admit(
    l: &ListenerContext,
    username: &str,
    password: String,
    connect: rumqttd::protocol::Connect,
    props: Option<rumqttd::protocol::ConnectProperties>,
    will: Option<rumqttd::protocol::LastWill>,
    will_props: Option<rumqttd::protocol::LastWillProperties>,
    peer: SocketAddr,
) -> Result<Admitted, Refused> {
    let edge = &l.edge;
    let admission = match edge
        .auth
        .decide(&connect.client_id, username, &password, Some(peer))
    {
        Ok(a) => a,
        Err(r) => return Err(Refused(ConnectRefusal::Auth(r), connect.client_id)),
    };
    drop(password);

    let mut client_id = connect.client_id;
    let mut assigned = None;
    if client_id.is_empty() && connect.clean_session {
        client_id = edge.assign_client_id();
        assigned = Some(client_id.clone());
    }
    if client_id.is_empty()
        || client_id == WILL_CLIENT_ID
        || "+$#/".chars().any(|c| client_id.contains(c))
    {
        return Err(Refused(ConnectRefusal::BadClientId, client_id));
    }

    let mut topics = Topics::resolve(
        &edge.auth.index().load(),
        username,
        &client_id,
        edge.options.no_match,
    );
    let session_expiry = props
        .as_ref()
        .and_then(|p| p.session_expiry_interval)
        .unwrap_or(0);
    let will = will.map(|w| Will::from_connect(w, will_props, session_expiry));
    if let Some(w) = &will {
        if topics.may_publish(w.topic()).is_err() {
            edge.counts.denied(Denied::Will);
            return Err(Refused(ConnectRefusal::WillDenied, client_id));
        }
    }

    // A place among max_connections, held until the connection ends.
    let Some(slot) = edge.take_slot() else {
        return Err(Refused(ConnectRefusal::ServerFull, client_id));
    };
    edge.wills.connected(&client_id);

    let engine = edge.engine.clone();
    let spec = (
        client_id,
        connect.clean_session,
        l.dynamic_filters,
        props.as_ref().and_then(|p| p.topic_alias_max).unwrap_or(0),
    );
    let built = tokio::task::spawn_blocking(move || {
        let (client_id, clean_session, dynamic_filters, topic_alias_max) = spec;
        let link = engine.link(LinkSpec {
            client_id: &client_id,
            clean_session,
            dynamic_filters,
            topic_alias_max,
        });
        (client_id, link)
    })
    .await;
    let Ok((client_id, link)) = built else {
        return Err(Refused(ConnectRefusal::ServerFull, String::new()));
    };
    let Ok(link) = link else {
        // Refused by the router: its own max_connections, or a client id it rejects.
        return Err(Refused(ConnectRefusal::ServerFull, client_id));
    };
    Ok(Admitted {
        admission,
        client_id,
        assigned,
        topics,
        will,
        slot,
        link,
    })
}

/// Why a read ended the connection.
fn close_of(e: &ReadError) -> Close {
    match e {
        ReadError::Closed => Close::Dropped,
        ReadError::Io(_) => Close::Io,
        ReadError::Malformed(_) => Close::Malformed,
    }
}

/// CONNACK with `refusal`'s code, then close.
async fn refuse<S, P>(
    codec: &mut Codec<S, P>,
    l: &ListenerContext,
    refusal: ConnectRefusal,
    username: &str,
    client_id: &str,
    peer: SocketAddr,
) where
    S: AsyncRead + AsyncWrite + Unpin,
    P: Protocol,
{
    l.edge.counts.refused(refusal);
    if !matches!(refusal, ConnectRefusal::Auth(_)) {
        // The authenticator logs its own refusals; these are the edge's.
        l.edge
            .auth
            .refusal_log()
            .refused(username, client_id, refusal.as_str(), Some(peer));
    }
    let ack = ConnAck {
        session_present: false,
        code: connack_code(l.version, refusal),
    };
    let _ = codec.queue(Packet::ConnAck(ack, None));
    // A client that never reads cannot hold the task: the write gets the connect timeout.
    let _ = timeout(l.connection_timeout, codec.close()).await;
}

/// An admitted connection.
struct Session {
    /// Packets for the router go into its buffer; `notify` tells the router (never blocking).
    link_tx: LinkTx,
    link_rx: LinkRx,
    notify: RouterNotify,
    l: Arc<ListenerContext>,
    client_id: String,
    username: String,
    topics: Topics,
    handle: SessionHandle,
    /// The batch for the router, reused (swapped with the link's buffer when that is empty).
    forward: VecDeque<Packet>,
    /// Packet ids of QoS 2 deliveries the edge refused and answered PUBREC for: the router's
    /// PUBREL for them is answered with PUBCOMP by the edge, not forwarded.
    dropped_qos2: HashSet<u16>,
    /// Packet ids of the client's QoS 2 PUBLISHes the edge refused and answered PUBREC for
    /// (3.1.1): their PUBREL is answered PUBCOMP here (the router, which never saw the
    /// PUBLISH, would drop the connection on an unknown PUBREL).
    refused_qos2: HashSet<u16>,
    /// Acks of delivered PUBLISHes (PUBACK, PUBREC) and of PUBRELs (PUBCOMP), released to the
    /// router in the order it expects (the edge acks refused deliveries itself).
    deliveries: InOrder,
    releases: InOrder,
    /// SUBSCRIBEs forwarded without their refused filters: the SUBACK codes the edge decided,
    /// to merge with the router's when its SUBACK passes.
    pending_subacks: Vec<(u16, Vec<SubscribeReasonCode>)>,
}

impl Session {
    #[allow(clippy::too_many_arguments)]
    fn new(
        (link_tx, link_rx, notify): (LinkTx, LinkRx, RouterNotify),
        l: Arc<ListenerContext>,
        client_id: String,
        username: String,
        topics: Topics,
        slot: super::Slot,
        admission: crate::Admission,
    ) -> Session {
        let handle = l
            .edge
            .sessions
            .register(&client_id, &username, admission, slot);
        Session {
            link_tx,
            link_rx,
            notify,
            l,
            client_id,
            username,
            topics,
            handle,
            forward: VecDeque::new(),
            dropped_qos2: HashSet::new(),
            refused_qos2: HashSet::new(),
            deliveries: InOrder::default(),
            releases: InOrder::default(),
            pending_subacks: Vec::new(),
        }
    }

    /// Forwards both ways until the connection ends; returns why.
    async fn run<S, P>(&mut self, codec: &mut Codec<S, P>, keepalive: Option<Duration>) -> Close
    where
        S: AsyncRead + AsyncWrite + Unpin,
        P: Protocol,
    {
        let far = Duration::from_secs(100 * 365 * 24 * 3600);
        let mut deadline = Instant::now() + keepalive.unwrap_or(far);
        loop {
            tokio::select! {
                r = codec.read() => {
                    let packet = match r {
                        Ok(p) => p,
                        Err(e) => return self.read_error(codec, e),
                    };
                    if let Some(k) = keepalive {
                        deadline = Instant::now() + k;
                    }
                    if let Some(close) = self.handle_incoming(codec, packet).await {
                        return close;
                    }
                    if codec.flush().await.is_err() {
                        return Close::Io;
                    }
                }
                n = self.link_rx.next() => {
                    match n {
                        Ok(n) => {
                            if let Some(close) = self.handle_outgoing(codec, n).await {
                                return close;
                            }
                        }
                        Err(_) => {
                            // The router dropped the link: a takeover by a new connection.
                            if self.l.version == Version::V5 {
                                codec.queue_disconnect(DisconnectReasonCode::SessionTakenOver);
                                let _ = codec.flush().await;
                            }
                            return Close::TakenOver;
                        }
                    }
                }
                _ = sleep_until(deadline) => {
                    if self.l.version == Version::V5 {
                        codec.queue_disconnect(DisconnectReasonCode::KeepAliveTimeout);
                        let _ = timeout(Duration::from_secs(1), codec.flush()).await;
                    }
                    return Close::KeepAlive;
                }
                reason = self.handle.revoked() => {
                    if self.l.version == Version::V5 {
                        codec.queue_disconnect(reason);
                        let _ = timeout(Duration::from_secs(1), codec.flush()).await;
                    }
                    return Close::Revoked;
                }
            }
        }
    }

    /// A read that ends the connection. A malformed packet (MQTT 5: DISCONNECT `0x81`, or
    /// `0x95` for one over `max_payload_size`, flushed when the connection closes) is logged.
    fn read_error<S, P>(&self, codec: &mut Codec<S, P>, e: ReadError) -> Close
    where
        S: AsyncRead + AsyncWrite + Unpin,
        P: Protocol,
    {
        let close = close_of(&e);
        if let ReadError::Malformed(error) = &e {
            let reason = match error {
                rumqttd::protocol::Error::PayloadSizeLimitExceeded(_) => {
                    DisconnectReasonCode::PacketTooLarge
                }
                _ => DisconnectReasonCode::MalformedPacket,
            };
            self.protocol_error(codec, reason);
            self.l
                .log_close(close, None, Some(&self.client_id), Some(&e));
        }
        close
    }

    /// MQTT 5: queues a DISCONNECT with `reason` before the connection closes (3.1.1 has no
    /// DISCONNECT from the server: the connection just closes).
    fn protocol_error<S, P>(&self, codec: &mut Codec<S, P>, reason: DisconnectReasonCode)
    where
        S: AsyncRead + AsyncWrite + Unpin,
        P: Protocol,
    {
        if self.l.version == Version::V5 {
            codec.queue_disconnect(reason);
        }
    }

    /// Checks and forwards `first` and the packets already read behind it (at most
    /// `max_inflight_count` in all) as one batch for the router. `Some` ends the connection.
    async fn handle_incoming<S, P>(
        &mut self,
        codec: &mut Codec<S, P>,
        first: Packet,
    ) -> Option<Close>
    where
        S: AsyncRead + AsyncWrite + Unpin,
        P: Protocol,
    {
        self.topics
            .refresh(self.l.edge.auth.index(), &self.username, &self.client_id);
        let max = self.l.max_inflight_count.max(1);
        let mut end = self.incoming(codec, first);
        let mut n = 1;
        while end.is_none() && n < max {
            // Each packet is checked as it is decoded and goes straight into the batch.
            match codec.read_buffered() {
                Ok(Some(packet)) => end = self.incoming(codec, packet),
                Ok(None) => break,
                // The packets before it are complete: they go to the router first.
                Err(e) => end = Some(self.read_error(codec, e)),
            }
            n += 1;
        }
        if !self.feed_router().await {
            return Some(Close::TakenOver);
        }
        if let Some(close) = end {
            if matches!(close, Close::SecondConnect | Close::UnexpectedPacket) {
                self.l.log_close(close, None, Some(&self.client_id), None);
            }
            return Some(close);
        }
        None
    }

    /// Checks one packet from the client: into the router's batch (`forward`), answered by
    /// the edge, or the end of the connection (`Some`).
    fn incoming<S, P>(&mut self, codec: &mut Codec<S, P>, packet: Packet) -> Option<Close>
    where
        S: AsyncRead + AsyncWrite + Unpin,
        P: Protocol,
    {
        // The common case first, moving the packet once.
        if let Packet::Publish(publish, _) = &packet {
            if self.topics.may_publish(&publish.topic).is_ok() {
                self.forward.push_back(packet);
                return None;
            }
        }
        match packet {
            Packet::Connect(..) => {
                self.protocol_error(codec, DisconnectReasonCode::ProtocolError);
                return Some(Close::SecondConnect);
            }
            Packet::ConnAck(..)
            | Packet::SubAck(..)
            | Packet::UnsubAck(..)
            | Packet::PingResp(..) => {
                self.protocol_error(codec, DisconnectReasonCode::ProtocolError);
                return Some(Close::UnexpectedPacket);
            }
            Packet::Disconnect(d, p) => {
                let with_will = d.reason_code == DisconnectReasonCode::DisconnectWithWillMessage;
                // "With will" ends like an abnormal close: `end` tells the router once.
                if !with_will {
                    self.forward.push_back(Packet::Disconnect(d, p));
                }
                return Some(if with_will {
                    Close::Dropped
                } else {
                    Close::Clean
                });
            }
            Packet::Publish(publish, _) => {
                // Refused (allowed ones went to the router above).
                self.l.edge.counts.denied(Denied::Publish);
                if self.l.edge.options.deny_action == DenyAction::Disconnect {
                    if self.l.version == Version::V5 {
                        codec.queue_disconnect(DisconnectReasonCode::NotAuthorized);
                    }
                    return Some(Close::PermissionDenied);
                }
                let (qos, pkid) = qos_and_pkid(&publish);
                let reason_v5 = self.l.version == Version::V5;
                match qos {
                    QoS::AtMostOnce => {}
                    QoS::AtLeastOnce => {
                        let reason = if reason_v5 {
                            PubAckReason::NotAuthorized
                        } else {
                            PubAckReason::Success
                        };
                        let _ = codec.queue(Packet::PubAck(PubAck { pkid, reason }, None));
                    }
                    QoS::ExactlyOnce => {
                        let reason = if reason_v5 {
                            PubRecReason::NotAuthorized
                        } else {
                            self.refused_qos2.insert(pkid);
                            PubRecReason::Success
                        };
                        let _ = codec.queue(Packet::PubRec(PubRec { pkid, reason }, None));
                    }
                }
            }
            Packet::PubAck(ref ack, _) => {
                let pkid = ack.pkid;
                self.deliveries.resolve(pkid, packet, &mut self.forward);
            }
            Packet::PubRec(ref rec, _) => {
                let pkid = rec.pkid;
                self.deliveries.resolve(pkid, packet, &mut self.forward);
            }
            Packet::PubComp(ref comp, _) => {
                let pkid = comp.pkid;
                self.releases.resolve(pkid, packet, &mut self.forward);
            }
            Packet::PubRel(rel, props) => {
                // A PUBREL for a QoS 2 PUBLISH the edge refused (3.1.1 answers PUBREC
                // success) is completed here: the router never saw that PUBLISH.
                if self.refused_qos2.remove(&rel.pkid) {
                    let _ = codec.queue(Packet::PubComp(
                        PubComp {
                            pkid: rel.pkid,
                            reason: PubCompReason::Success,
                        },
                        None,
                    ));
                } else {
                    self.forward.push_back(Packet::PubRel(rel, props));
                }
            }
            Packet::Subscribe(mut subscribe, props) => {
                let mut refused = None;
                for (i, f) in subscribe.filters.iter().enumerate() {
                    if self.topics.may_subscribe(&f.path).is_err() {
                        refused.get_or_insert_with(Vec::new).push(i);
                    }
                }
                match refused {
                    None => self.forward.push_back(Packet::Subscribe(subscribe, props)),
                    Some(refused) => {
                        // Refused filters never reach the router; the SUBACK for the rest
                        // comes from it with their codes, so the refused ones are merged in
                        // when it passes (see `handle_outgoing`). Simplest consistent form: when
                        // any filter is refused, the edge answers the whole SUBSCRIBE for the
                        // refused ones and forwards the allowed ones under the same packet id.
                        for _ in &refused {
                            self.l.edge.counts.denied(Denied::Subscribe);
                        }
                        let n = subscribe.filters.len();
                        let codes: Vec<SubscribeReasonCode> = (0..n)
                            .map(|i| {
                                if refused.contains(&i) {
                                    if self.l.version == Version::V5 {
                                        SubscribeReasonCode::NotAuthorized
                                    } else {
                                        SubscribeReasonCode::Failure
                                    }
                                } else {
                                    SubscribeReasonCode::Success(subscribe.filters[i].qos)
                                }
                            })
                            .collect();
                        let pkid = subscribe.pkid;
                        let mut i = 0;
                        subscribe.filters.retain(|_| {
                            let keep = !refused.contains(&i);
                            i += 1;
                            keep
                        });
                        if subscribe.filters.is_empty() {
                            let _ = codec.queue(Packet::SubAck(
                                rumqttd::protocol::SubAck {
                                    pkid,
                                    return_codes: codes,
                                },
                                None,
                            ));
                        } else {
                            self.pending_subacks.push((pkid, codes));
                            self.forward.push_back(Packet::Subscribe(subscribe, props));
                        }
                    }
                }
            }
            other => self.forward.push_back(other),
        }
        None
    }

    /// Writes one batch of notifications (the one given and whatever else is ready).
    async fn handle_outgoing<S, P>(
        &mut self,
        codec: &mut Codec<S, P>,
        first: Option<rumqttd::Notification>,
    ) -> Option<Close>
    where
        S: AsyncRead + AsyncWrite + Unpin,
        P: Protocol,
    {
        self.topics
            .refresh(self.l.edge.auth.index(), &self.username, &self.client_id);
        let mut unscheduled = false;
        let mut end = None;
        let mut next = first;
        let mut n = 0;
        loop {
            match next.map(Option::<Packet>::from) {
                Some(Some(packet)) => {
                    if let Some(close) = self.outgoing(codec, packet) {
                        end = Some(close);
                        break;
                    }
                }
                Some(None) => unscheduled = true,
                None => {}
            }
            n += 1;
            if n >= MAX_WRITE_BATCH {
                break;
            }
            // What is already there, without waiting: `timeout(Duration::ZERO, ..)` waited for
            // the timer's next 1 ms tick whenever nothing was, holding every batch (and its
            // flush) back by about a millisecond.
            next = match now_or_never(self.link_rx.next()) {
                Some(Ok(Some(n))) => Some(n),
                Some(Ok(None)) => None,
                Some(Err(_)) => {
                    end = Some(Close::TakenOver);
                    break;
                }
                None => break,
            };
        }
        // Acks for refused deliveries.
        if !self.feed_router().await {
            end = Some(Close::TakenOver);
        }
        if codec.flush().await.is_err() {
            return Some(end.unwrap_or(Close::Io));
        }
        if end.is_some() {
            return end;
        }
        if unscheduled && self.link_rx.wake().await.is_err() {
            return Some(Close::TakenOver);
        }
        None
    }

    /// Queues one packet from the router for the client (or answers it, for a refused
    /// delivery). `Some` ends the connection after the flush.
    fn outgoing<S, P>(&mut self, codec: &mut Codec<S, P>, mut packet: Packet) -> Option<Close>
    where
        S: AsyncRead + AsyncWrite + Unpin,
        P: Protocol,
    {
        // The common case first, moving the packet once.
        if let Packet::Publish(publish, props) = &mut packet {
            if self.topics.may_deliver(&publish.topic).is_ok() {
                if self.l.version == Version::V4 {
                    *props = None;
                }
                if let Ok((qos, pkid)) = codec.queue_publish(packet) {
                    if qos > 0 {
                        self.deliveries.expect(pkid);
                    }
                }
                return None;
            }
        }
        let packet = match self.l.version {
            Version::V4 => without_properties(packet),
            Version::V5 => packet,
        };
        match packet {
            Packet::Publish(publish, _) => {
                // Refused (allowed ones were written above).
                self.l.edge.counts.denied(Denied::Delivery);
                let (qos, pkid) = qos_and_pkid(&publish);
                let ack = match qos {
                    QoS::AtMostOnce => return None,
                    QoS::AtLeastOnce => Packet::PubAck(
                        PubAck {
                            pkid,
                            reason: PubAckReason::Success,
                        },
                        None,
                    ),
                    QoS::ExactlyOnce => {
                        self.dropped_qos2.insert(pkid);
                        Packet::PubRec(
                            PubRec {
                                pkid,
                                reason: PubRecReason::Success,
                            },
                            None,
                        )
                    }
                };
                self.deliveries.expect(pkid);
                self.deliveries.resolve(pkid, ack, &mut self.forward);
                None
            }
            Packet::PubRel(rel, props) => {
                self.releases.expect(rel.pkid);
                if self.dropped_qos2.remove(&rel.pkid) {
                    let comp = Packet::PubComp(
                        PubComp {
                            pkid: rel.pkid,
                            reason: PubCompReason::Success,
                        },
                        None,
                    );
                    self.releases.resolve(rel.pkid, comp, &mut self.forward);
                } else {
                    let _ = codec.queue(Packet::PubRel(rel, props));
                }
                None
            }
            Packet::SubAck(mut ack, props) => {
                let pending = self
                    .pending_subacks
                    .iter()
                    .position(|(p, _)| *p == ack.pkid);
                if let Some((_, codes)) = pending.map(|i| self.pending_subacks.swap_remove(i)) {
                    // Merge the router's codes for the forwarded filters into the edge's.
                    let mut from_router = ack.return_codes.into_iter();
                    ack.return_codes = codes
                        .into_iter()
                        .map(|c| match c {
                            SubscribeReasonCode::Success(_) => from_router.next().unwrap_or(c),
                            refused => refused,
                        })
                        .collect();
                }
                let _ = codec.queue(Packet::SubAck(ack, props));
                None
            }
            Packet::Disconnect(d, props) => {
                if self.l.version == Version::V5 {
                    match props {
                        None => codec.queue_disconnect(d.reason_code),
                        props => {
                            let _ = codec.queue(Packet::Disconnect(d, props));
                        }
                    }
                }
                Some(Close::TakenOver)
            }
            other => {
                let _ = codec.queue(other);
                None
            }
        }
    }

    /// Hands the packets in `forward` to the router (nothing when it is empty). `false`: the
    /// router dropped the link.
    ///
    /// The router takes the link's whole buffer per `DeviceData` event (it swaps it for an
    /// empty one). So a buffer found empty is swapped with `forward` (no packet is copied) and
    /// the router is told; a buffer still holding packets has an event on its way that the
    /// router has not handled yet, which takes these packets too, so no second event is sent.
    async fn feed_router(&mut self) -> bool {
        if self.forward.is_empty() {
            return true;
        }
        let told = {
            let mut buffer = self.link_tx.buffer();
            if buffer.is_empty() {
                std::mem::swap(&mut *buffer, &mut self.forward);
                false
            } else {
                buffer.extend(self.forward.drain(..));
                true
            }
        };
        if told && self.notify.is_idle() {
            return true;
        }
        self.notify.notify().await.is_ok()
    }

    /// Ends the session: tells the router (unless it ended it), hands the will over.
    async fn end<S, P>(mut self, codec: &mut Codec<S, P>, close: Close, will: Option<Will>)
    where
        S: AsyncRead + AsyncWrite + Unpin,
        P: Protocol,
    {
        self.l.edge.counts.closed(close);
        let abnormal = !matches!(close, Close::Clean | Close::TakenOver);
        if abnormal {
            // The router saves a persistent session and forgets the link. (The router holds no
            // will for it: the edge keeps wills.)
            self.forward
                .push_back(disconnect(DisconnectReasonCode::NormalDisconnection));
            let _ = self.feed_router().await;
        }
        let _ = timeout(Duration::from_secs(1), codec.close()).await;
        let publish_will = matches!(
            close,
            Close::Dropped
                | Close::Io
                | Close::KeepAlive
                | Close::Malformed
                | Close::SecondConnect
                | Close::UnexpectedPacket
                | Close::PermissionDenied
        );
        if let (true, Some(will)) = (publish_will, will) {
            self.l
                .edge
                .wills
                .closed(std::mem::take(&mut self.client_id), will);
        }
        tracing::debug!(client_id = ?log_field(&self.client_id), reason = close.as_str(), "connection closed");
    }
}

/// `packet` without MQTT 5 properties, for a 3.1.1 client: a message an MQTT 5 client published
/// with properties (or a will with will properties) reaches 3.1.1 subscribers without them.
/// (rumqttd 0.20's 3.1.1 encoder panics on a packet that carries properties.)
fn without_properties(packet: Packet) -> Packet {
    match packet {
        Packet::Publish(p, Some(_)) => Packet::Publish(p, None),
        Packet::PubAck(p, Some(_)) => Packet::PubAck(p, None),
        Packet::PubRec(p, Some(_)) => Packet::PubRec(p, None),
        Packet::PubRel(p, Some(_)) => Packet::PubRel(p, None),
        Packet::PubComp(p, Some(_)) => Packet::PubComp(p, None),
        Packet::SubAck(p, Some(_)) => Packet::SubAck(p, None),
        Packet::UnsubAck(p, Some(_)) => Packet::UnsubAck(p, None),
        Packet::ConnAck(p, Some(_)) => Packet::ConnAck(p, None),
        Packet::Disconnect(p, Some(_)) => Packet::Disconnect(p, None),
        other => other,
    }
}

fn disconnect(reason_code: DisconnectReasonCode) -> Packet {
    Packet::Disconnect(Disconnect { reason_code }, None)
}

/// rumqttd keeps `Publish::qos` and `pkid` private; its serialised form starts with the
/// fixed-header byte and the packet id. Only called for refused packets (it copies the publish).
fn qos_and_pkid(publish: &Publish) -> (QoS, u16) {
    let b: Bytes = publish.serialize();
    let qos = match (b[0] >> 1) & 0b11 {
        1 => QoS::AtLeastOnce,
        2 => QoS::ExactlyOnce,
        _ => QoS::AtMostOnce,
    };
    (qos, u16::from_be_bytes([b[1], b[2]]))
}

impl ListenerContext {
    /// Counts (and maybe logs) a connection that ended before it was admitted.
    pub(crate) fn closed_early(&self, close: Close, peer: SocketAddr, e: Option<&ReadError>) {
        self.edge.counts.closed(close);
        if close != Close::Dropped && close != Close::Io {
            self.log_close(close, Some(peer), None, e);
        }
    }

    /// One short, throttled line; never packet content.
    pub(crate) fn log_close(
        &self,
        close: Close,
        peer: Option<SocketAddr>,
        client_id: Option<&str>,
        e: Option<&ReadError>,
    ) {
        if !self.edge.throttle.take() {
            return;
        }
        let error = e.map(|e| e.to_string());
        tracing::info!(
            listener = %self.name,
            peer = peer.map(tracing::field::display),
            client_id = client_id.map(|c| tracing::field::debug(log_field(c))),
            reason = close.as_str(),
            error,
            "connection closed"
        );
    }
}

/// Polls `f` once: its output if it is ready now, else `None` (and `f` is dropped).
fn now_or_never<F: std::future::Future>(f: F) -> Option<F::Output> {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match f.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(v) => Some(v),
        std::task::Poll::Pending => None,
    }
}
