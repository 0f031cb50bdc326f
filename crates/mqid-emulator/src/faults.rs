//! Fault injection: throttling, server errors, dropped connections and latency, adjustable while
//! the emulator runs.

use std::sync::atomic::{AtomicU16, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hyper::StatusCode;

/// Faults to inject. Request numbers count every HTTP request the emulator receives, from 1, over
/// the life of one emulator; "every Nth" faults hit the requests whose number is a multiple of N
/// (0 turns a fault off). When several faults hit the same request, the first of this order wins:
/// dropped connection, `ServiceUnavailable`, `Throttling.User`. Latency is added to every request,
/// before anything else.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Faults {
    /// Every Nth request is refused with `Throttling.User` (CLI `--throttle-every`).
    pub throttle_every: u32,
    /// HTTP status of the throttling answer: 400 as Alibaba's error tables list it (default), or
    /// 429 (CLI `--throttle-status`). Other values are accepted as given.
    pub throttle_status: u16,
    /// The retry hint sent with a throttling answer, as `x-ratelimit-user-api: TimeLeft:<ms>` and
    /// `x-acs-retry-after: <ms>` (CLI `--throttle-time-left-ms`, default 1000).
    pub throttle_time_left_ms: u64,
    /// Every Nth request fails with HTTP 503 `ServiceUnavailable` (CLI `--unavailable-every`).
    pub unavailable_every: u32,
    /// Every Nth request has its connection closed without an answer (CLI `--drop-every`).
    pub drop_every: u32,
    /// Added before every answer (CLI `--latency-ms`).
    pub latency: Duration,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            throttle_every: 0,
            throttle_status: 400,
            throttle_time_left_ms: 1000,
            unavailable_every: 0,
            drop_every: 0,
            latency: Duration::ZERO,
        }
    }
}

impl Faults {
    /// No faults at all.
    pub fn none() -> Self {
        Self::default()
    }
}

/// What the fault stage decided for one request.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    Pass,
    Drop,
    Unavailable,
    Throttle {
        status: StatusCode,
        time_left_ms: u64,
    },
}

/// The faults in force, shared with a running emulator: changes apply from the next request.
/// Cloning gives another handle on the same settings.
#[derive(Clone, Debug)]
pub struct FaultControl(Arc<Atomics>);

#[derive(Debug)]
struct Atomics {
    throttle_every: AtomicU32,
    throttle_status: AtomicU16,
    throttle_time_left_ms: AtomicU64,
    unavailable_every: AtomicU32,
    drop_every: AtomicU32,
    latency_us: AtomicU64,
    requests: AtomicU64,
}

impl FaultControl {
    pub fn new(faults: &Faults) -> Self {
        let c = FaultControl(Arc::new(Atomics {
            throttle_every: AtomicU32::new(0),
            throttle_status: AtomicU16::new(0),
            throttle_time_left_ms: AtomicU64::new(0),
            unavailable_every: AtomicU32::new(0),
            drop_every: AtomicU32::new(0),
            latency_us: AtomicU64::new(0),
            requests: AtomicU64::new(0),
        }));
        c.set(faults);
        c
    }

    /// Replaces every setting (the request count goes on).
    pub fn set(&self, f: &Faults) {
        let a = &self.0;
        a.throttle_every.store(f.throttle_every, Ordering::Relaxed);
        a.throttle_status
            .store(f.throttle_status, Ordering::Relaxed);
        a.throttle_time_left_ms
            .store(f.throttle_time_left_ms, Ordering::Relaxed);
        a.unavailable_every
            .store(f.unavailable_every, Ordering::Relaxed);
        a.drop_every.store(f.drop_every, Ordering::Relaxed);
        let us = u64::try_from(f.latency.as_micros()).unwrap_or(u64::MAX);
        a.latency_us.store(us, Ordering::Relaxed);
    }

    /// Turns every fault off.
    pub fn clear(&self) {
        self.set(&Faults::none());
    }

    /// The settings in force.
    pub fn get(&self) -> Faults {
        let a = &self.0;
        Faults {
            throttle_every: a.throttle_every.load(Ordering::Relaxed),
            throttle_status: a.throttle_status.load(Ordering::Relaxed),
            throttle_time_left_ms: a.throttle_time_left_ms.load(Ordering::Relaxed),
            unavailable_every: a.unavailable_every.load(Ordering::Relaxed),
            drop_every: a.drop_every.load(Ordering::Relaxed),
            latency: Duration::from_micros(a.latency_us.load(Ordering::Relaxed)),
        }
    }

    /// How many HTTP requests have arrived so far (faulted ones included).
    pub fn requests(&self) -> u64 {
        self.0.requests.load(Ordering::Relaxed)
    }

    /// Counts a request and decides its fault. Returns the latency to add and the verdict.
    pub(crate) fn on_request(&self) -> (Duration, Verdict) {
        let n = self.0.requests.fetch_add(1, Ordering::Relaxed) + 1;
        let f = self.get();
        let hits = |every: u32| every != 0 && n % u64::from(every) == 0;
        let verdict = if hits(f.drop_every) {
            Verdict::Drop
        } else if hits(f.unavailable_every) {
            Verdict::Unavailable
        } else if hits(f.throttle_every) {
            Verdict::Throttle {
                status: StatusCode::from_u16(f.throttle_status).unwrap_or(StatusCode::BAD_REQUEST),
                time_left_ms: f.throttle_time_left_ms,
            }
        } else {
            Verdict::Pass
        };
        (f.latency, verdict)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_nth_and_precedence() {
        let c = FaultControl::new(&Faults {
            throttle_every: 2,
            unavailable_every: 3,
            ..Faults::none()
        });
        let verdicts: Vec<Verdict> = (0..6).map(|_| c.on_request().1).collect();
        let t = Verdict::Throttle {
            status: StatusCode::BAD_REQUEST,
            time_left_ms: 1000,
        };
        assert_eq!(
            verdicts,
            vec![
                Verdict::Pass,
                t,
                Verdict::Unavailable,
                Verdict::Throttle {
                    status: StatusCode::BAD_REQUEST,
                    time_left_ms: 1000
                },
                Verdict::Pass,
                Verdict::Unavailable, // 6: both hit, ServiceUnavailable wins
            ]
        );
        assert_eq!(c.requests(), 6);
        c.clear();
        assert_eq!(c.on_request().1, Verdict::Pass);
        assert_eq!(c.get(), Faults::none());
    }

    #[test]
    fn latency_round_trips() {
        let f = Faults {
            latency: Duration::from_millis(250),
            throttle_status: 429,
            ..Faults::none()
        };
        assert_eq!(FaultControl::new(&f).get(), f);
    }
}
