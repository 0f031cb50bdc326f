//! The edge's counters (atomics on the hot path, published off it) and its throttled log.
//!
//! # Contract
//!
//! Counting is one relaxed atomic add. [`EdgeCounts::publish`] sets the exported `metrics`
//! counters to the totals; call it from a background thread (it takes the recorder's locks).
//! [`Throttle`] lets at most [`Throttle::PER_SECOND`] lines a second through and reports how
//! many it held back.

use crate::refusal_log::Quota;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Instant;

use metrics::{counter, describe_counter};

use super::codes::ConnectRefusal;

/// Why a connection ended, as counted and logged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Close {
    /// A clean DISCONNECT.
    Clean,
    /// Closed by the client without DISCONNECT (or DISCONNECT 0x04 "with will").
    Dropped,
    /// No CONNECT within `connection_timeout_ms`.
    ConnectTimeout,
    /// The first packet was not a CONNECT.
    NotConnect,
    /// A second CONNECT on the connection.
    SecondConnect,
    /// A packet a client never sends (CONNACK, SUBACK, …).
    UnexpectedPacket,
    /// Bytes that are not a packet of the listener's version, or a packet over the size limit.
    Malformed,
    /// Nothing received for 1.5 × keepalive.
    KeepAlive,
    /// A new connection took the client id over (or the router dropped the link).
    TakenOver,
    /// A PUBLISH refused under `deny_action = "disconnect"`.
    PermissionDenied,
    /// The identity was removed, re-keyed or blacklisted.
    Revoked,
    /// A socket error.
    Io,
    /// The TLS or websocket handshake failed or took longer than the CONNECT timeout.
    Handshake,
}

impl Close {
    pub const ALL: [Close; 13] = [
        Close::Clean,
        Close::Dropped,
        Close::ConnectTimeout,
        Close::NotConnect,
        Close::SecondConnect,
        Close::UnexpectedPacket,
        Close::Malformed,
        Close::KeepAlive,
        Close::TakenOver,
        Close::PermissionDenied,
        Close::Revoked,
        Close::Io,
        Close::Handshake,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Close::Clean => "clean",
            Close::Dropped => "dropped",
            Close::ConnectTimeout => "connect_timeout",
            Close::NotConnect => "not_connect",
            Close::SecondConnect => "second_connect",
            Close::UnexpectedPacket => "unexpected_packet",
            Close::Malformed => "malformed",
            Close::KeepAlive => "keepalive",
            Close::TakenOver => "taken_over",
            Close::PermissionDenied => "permission_denied",
            Close::Revoked => "revoked",
            Close::Io => "io",
            Close::Handshake => "handshake",
        }
    }

    fn slot(self) -> usize {
        Close::ALL.iter().position(|c| *c == self).unwrap_or(0)
    }
}

/// What a permission refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Denied {
    Publish,
    Subscribe,
    Delivery,
    Will,
}

impl Denied {
    const ALL: [Denied; 4] = [
        Denied::Publish,
        Denied::Subscribe,
        Denied::Delivery,
        Denied::Will,
    ];

    fn as_str(self) -> &'static str {
        match self {
            Denied::Publish => "publish",
            Denied::Subscribe => "subscribe",
            Denied::Delivery => "delivery",
            Denied::Will => "will",
        }
    }
}

/// The edge's totals since start.
#[derive(Default)]
pub struct EdgeCounts {
    refused: [AtomicU64; ConnectRefusal::ALL.len()],
    closed: [AtomicU64; Close::ALL.len()],
    denied: [AtomicU64; 4],
    revoked: AtomicU64,
    pub(crate) accept_errors: AtomicU64,
    /// TLS handshakes completed: [full, resumed].
    tls_handshakes: [AtomicU64; 2],
}

impl EdgeCounts {
    pub(crate) fn refused(&self, r: ConnectRefusal) {
        self.refused[r.slot()].fetch_add(1, Relaxed);
    }

    pub(crate) fn closed(&self, c: Close) {
        self.closed[c.slot()].fetch_add(1, Relaxed);
    }

    pub(crate) fn denied(&self, d: Denied) {
        self.denied[d as usize].fetch_add(1, Relaxed);
    }

    pub(crate) fn revoked(&self) {
        self.revoked.fetch_add(1, Relaxed);
    }

    pub(crate) fn tls_handshake(&self, resumed: bool) {
        self.tls_handshakes[usize::from(resumed)].fetch_add(1, Relaxed);
    }

    /// TLS handshakes completed so far: (full, resumed).
    pub fn tls_handshakes(&self) -> (u64, u64) {
        (
            self.tls_handshakes[0].load(Relaxed),
            self.tls_handshakes[1].load(Relaxed),
        )
    }

    /// CONNACK refusals for `r` so far.
    pub fn connack_refused(&self, r: ConnectRefusal) -> u64 {
        self.refused[r.slot()].load(Relaxed)
    }

    /// Connections ended for `c` so far.
    pub fn closes(&self, c: Close) -> u64 {
        self.closed[c.slot()].load(Relaxed)
    }

    /// Sessions disconnected by revocation so far.
    pub fn revocations(&self) -> u64 {
        self.revoked.load(Relaxed)
    }

    /// Sets the exported counters to the totals. Never call it on a connection task.
    pub fn publish(&self) {
        describe_counter!(
            "mqid_connack_refused_total",
            "CONNECTs answered with a refusing CONNACK by mqid's edge, by reason"
        );
        for r in ConnectRefusal::ALL {
            counter!("mqid_connack_refused_total", "reason" => r.as_str())
                .absolute(self.connack_refused(r));
        }
        describe_counter!(
            "mqid_edge_closed_total",
            "connections ended by mqid's edge, by reason"
        );
        for c in Close::ALL {
            counter!("mqid_edge_closed_total", "reason" => c.as_str()).absolute(self.closes(c));
        }
        describe_counter!(
            "mqid_permission_denied_total",
            "PUBLISHes, SUBSCRIBE filters, deliveries and wills refused by topic permissions"
        );
        for d in Denied::ALL {
            counter!("mqid_permission_denied_total", "what" => d.as_str())
                .absolute(self.denied[d as usize].load(Relaxed));
        }
        describe_counter!(
            "mqid_revocations_total",
            "sessions disconnected because their identity was removed, re-keyed or blacklisted"
        );
        counter!("mqid_revocations_total").absolute(self.revocations());
        counter!("mqid_edge_accept_errors_total").absolute(self.accept_errors.load(Relaxed));
        describe_counter!(
            "mqid_edge_tls_handshakes_total",
            "TLS handshakes completed by mqid's edge: full, or resuming a session"
        );
        let (full, resumed) = self.tls_handshakes();
        counter!("mqid_edge_tls_handshakes_total", "kind" => "full").absolute(full);
        counter!("mqid_edge_tls_handshakes_total", "kind" => "resumed").absolute(resumed);
    }
}

/// A per-second quota of log lines about connections (a [`Quota`] with its clock).
pub(crate) struct Throttle {
    start: Instant,
    quota: Quota,
}

impl Default for Throttle {
    fn default() -> Self {
        Throttle {
            start: Instant::now(),
            quota: Quota::default(),
        }
    }
}

impl Throttle {
    pub(crate) const PER_SECOND: u32 = 10;

    /// Whether a line may be logged now.
    pub(crate) fn take(&self) -> bool {
        let now = self.start.elapsed().as_secs();
        self.quota.take(now, Self::PER_SECOND, "connection errors")
    }
}
