//! CONNECT counters: plain atomics on the hot path, published to the `metrics` recorder by a
//! background caller.
//!
//! Why not `metrics::counter!` per CONNECT: with rumqttd's Prometheus recorder, each such call
//! looks the metric up in a registry behind `RwLock`s, which a thread registering a new metric
//! (the refresher, the exporter) holds for writing; and a handle taken before rumqttd installs
//! its recorder (on its own thread, some time after the listeners start) is a no-op forever. So
//! a CONNECT adds one to an `AtomicU64` (no lock, no allocation), and [`publish`] (called about
//! once a second, off the listener threads) sets the exported counters to those totals. A
//! counter therefore lags by at most one publishing period, and none is lost before the
//! recorder exists.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Instant;

use metrics::{counter, describe_counter, describe_gauge, gauge};
use mqid_core::{Limiter, Refusal};

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

/// Sets the exported metrics to the current totals. Cheap, but it takes the recorder's locks
/// and may allocate: never call it on a listener thread.
pub(crate) fn publish(counts: &ConnectCounts, limiter: Option<&Limiter>) {
    describe_counter!(
        "mqid_connect_total",
        "CONNECTs decided by mqid, by result (admitted, refused) and reason (ok, blacklisted, \
         unknown_identity, bad_password, rate_limited, stale)"
    );
    counter!("mqid_connect_total", "result" => "admitted", "reason" => "ok")
        .absolute(counts.admitted());
    for r in Refusal::ALL {
        counter!("mqid_connect_total", "result" => "refused", "reason" => r.as_str())
            .absolute(counts.refused(r));
    }
    let Some(limiter) = limiter else { return };
    describe_counter!(
        "mqid_limiter_cooldowns_total",
        "(username, client id) pairs that reached [auth.limits] max_failures and started a cool-down"
    );
    describe_counter!(
        "mqid_limiter_evictions_total",
        "live limiter entries dropped to make room for new keys (the table of max_tracked_keys was full)"
    );
    describe_counter!(
        "mqid_limiter_username_alerts_total",
        "usernames that reached [auth.limits] username_alert_failures bad passwords in a window"
    );
    describe_gauge!(
        "mqid_limiter_tracked_keys",
        "limiter entries (pairs and usernames) with a live count or cool-down"
    );
    counter!("mqid_limiter_cooldowns_total").absolute(limiter.cooldowns());
    counter!("mqid_limiter_evictions_total").absolute(limiter.evictions());
    counter!("mqid_limiter_username_alerts_total").absolute(limiter.username_alerts());
    gauge!("mqid_limiter_tracked_keys").set(limiter.tracked_keys(Instant::now()) as f64);
}
