//! CONNECT counters: plain atomics on the hot path, published to the `metrics` recorder by a
//! background caller (the `mqid` command's `metrics` module, with every other metric of mqid).
//!
//! Why not `metrics::counter!` per CONNECT: with rumqttd's Prometheus recorder, each such call
//! looks the metric up in a registry behind `RwLock`s, which a thread registering a new metric
//! (the refresher, the exporter) holds for writing; and a handle taken before rumqttd installs
//! its recorder (on its own thread, some time after the listeners start) is a no-op forever. So
//! a CONNECT adds one to an `AtomicU64` (no lock, no allocation), and the publisher (called about
//! once a second, off the listener threads) sets the exported counters to those totals. A
//! counter therefore lags by at most one publishing period, and none is lost before the
//! recorder exists.

use mqid_core::Refusal;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// CONNECTs decided, by result and reason, since start.
#[derive(Debug, Default)]
pub struct ConnectCounts {
    admitted: AtomicU64,
    /// Indexed like [`Refusal::ALL`].
    refused: [AtomicU64; Refusal::ALL.len()],
}

fn slot(r: Refusal) -> usize {
    match r {
        Refusal::Blacklisted => 0,
        Refusal::UnknownIdentity => 1,
        Refusal::BadPassword => 2,
        Refusal::RateLimited => 3,
        Refusal::Stale => 4,
        Refusal::ClientIdTooLong => 5,
    }
}

impl ConnectCounts {
    pub(crate) fn count_admitted(&self) {
        self.admitted.fetch_add(1, Relaxed);
    }

    pub(crate) fn count_refused(&self, r: Refusal) {
        self.refused[slot(r)].fetch_add(1, Relaxed);
    }

    /// CONNECTs admitted.
    pub fn admitted(&self) -> u64 {
        self.admitted.load(Relaxed)
    }

    /// CONNECTs refused for `reason`.
    pub fn refused(&self, reason: Refusal) -> u64 {
        self.refused[slot(reason)].load(Relaxed)
    }
}
