//! How the OpenAPI source is doing: the time of the last good pass, the staleness policy, pass
//! counters.
//!
//! # Staleness
//!
//! The index is *stale* when no pass has succeeded for `max_staleness_secs`. The clock starts
//! at the last good pass; at start-up from a snapshot, at the pass that wrote the snapshot (its
//! `synced_at`, see [`snapshot`](crate::snapshot)), so a week-old snapshot is stale at once.
//! [`SyncHealth::watch`] is called about once a second from a background thread (and after
//! every pass): on each change it logs once, loudly (`error` on becoming stale, `info` on
//! recovering), and while stale it repeats the warning every [`REMINDER`]. With
//! `on_stale = "refuse"` it also closes the [`StaleGate`] that the CONNECT path reads, and opens
//! it again as soon as a pass succeeds. No CONNECT ever computes any of this: it reads one flag.
//!
//! # Metrics
//!
//! [`SyncHealth::figures`] gives the plain counters behind the `mqid_openapi_*` metrics; the
//! `mqid` command publishes them with every other metric of mqid, in one place.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use mqid_core::StaleGate;

use crate::openapi::{ApiCounters, PassError, PassStats};
use crate::{OnStale, OpenApiConfig};

/// While stale, the warning is repeated this often.
pub const REMINDER: Duration = Duration::from_secs(300);
/// Distinct error codes kept as metric labels; the rest are counted as `other`.
const MAX_CODES: usize = 32;

/// The last good pass: at the instant `at`, it was `age` old (zero for a pass that just
/// completed; a snapshot's age at start-up).
#[derive(Clone, Copy, Debug)]
struct LastGood {
    at: Instant,
    age: Duration,
}

impl LastGood {
    fn age_at(self, now: Instant) -> Duration {
        self.age + now.saturating_duration_since(self.at)
    }
}

/// Where the index stands against `max_staleness`. [`SyncHealth::watch`] makes the transitions
/// (and logs each); a good pass only moves `last_good`.
#[derive(Clone, Copy, Debug, Default)]
enum Staleness {
    /// No good pass and no snapshot yet: nothing to be stale.
    #[default]
    NeverSynced,
    Fresh {
        last_good: LastGood,
    },
    /// Stale since `since`; the last warning was logged at `warned_at`.
    Stale {
        last_good: LastGood,
        since: Instant,
        warned_at: Instant,
    },
}

impl Staleness {
    fn last_good(&self) -> Option<LastGood> {
        match *self {
            Staleness::NeverSynced => None,
            Staleness::Fresh { last_good } | Staleness::Stale { last_good, .. } => Some(last_good),
        }
    }

    /// A good pass (or a snapshot) at `last_good`; staleness itself is left to `watch`.
    fn synced(&mut self, new: LastGood) {
        match self {
            Staleness::NeverSynced => *self = Staleness::Fresh { last_good: new },
            Staleness::Fresh { last_good } | Staleness::Stale { last_good, .. } => *last_good = new,
        }
    }
}

#[derive(Debug, Default)]
struct State {
    staleness: Staleness,
    failed_by_code: BTreeMap<String, u64>,
    durations: Vec<f64>,
    last_duration: Option<Duration>,
}

/// The OpenAPI source's health, shared by the refresher (which reports passes), the watcher
/// thread (which checks staleness and publishes metrics) and, through the [`StaleGate`], the
/// CONNECT path.
#[derive(Debug)]
pub struct SyncHealth {
    max_staleness: Option<Duration>,
    on_stale: OnStale,
    gate: Arc<StaleGate>,
    api: Arc<ApiCounters>,
    passes_ok: AtomicU64,
    passes_failed: AtomicU64,
    state: Mutex<State>,
}

impl SyncHealth {
    /// The health of a source configured by `config`, whose client counts into `api`. Closing
    /// `gate` refuses CONNECTs; it is only ever closed with `on_stale = "refuse"`.
    pub fn new(config: &OpenApiConfig, api: Arc<ApiCounters>, gate: Arc<StaleGate>) -> Self {
        SyncHealth {
            max_staleness: config.max_staleness(),
            on_stale: config.on_stale,
            gate,
            api,
            passes_ok: AtomicU64::new(0),
            passes_failed: AtomicU64::new(0),
            state: Mutex::default(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The gate this health closes when stale and refusing.
    pub fn gate(&self) -> &Arc<StaleGate> {
        &self.gate
    }

    /// The index in force comes from a pass completed at `synced_at` (wall clock; a snapshot
    /// loaded at start-up). A time in the future counts as now (the snapshot reader refuses one
    /// more than [`FUTURE_TOLERANCE`](crate::snapshot::FUTURE_TOLERANCE) ahead).
    pub fn loaded_from(&self, synced_at: SystemTime) {
        let age = SystemTime::now()
            .duration_since(synced_at)
            .unwrap_or_default();
        self.state().staleness.synced(LastGood {
            at: Instant::now(),
            age,
        });
        self.watch(Instant::now());
    }

    /// A pass succeeded and its set is in force.
    pub fn pass_succeeded(&self, stats: &PassStats) {
        self.passes_ok.fetch_add(1, Relaxed);
        {
            let mut st = self.state();
            st.staleness.synced(LastGood {
                at: Instant::now(),
                age: Duration::ZERO,
            });
            st.last_duration = Some(stats.duration);
            if st.durations.len() < 1024 {
                st.durations.push(stats.duration.as_secs_f64());
            }
        }
        self.watch(Instant::now());
    }

    /// A pass failed after `duration`.
    pub fn pass_failed(&self, error: &PassError, duration: Duration) {
        self.passes_failed.fetch_add(1, Relaxed);
        let mut st = self.state();
        let code = error.code();
        let key = if st.failed_by_code.contains_key(&code) || st.failed_by_code.len() < MAX_CODES {
            code
        } else {
            "other".to_owned()
        };
        *st.failed_by_code.entry(key).or_default() += 1;
        st.last_duration = Some(duration);
        if st.durations.len() < 1024 {
            st.durations.push(duration.as_secs_f64());
        }
    }

    /// How long ago the last good pass completed, at `now`; `None` before any.
    pub fn age(&self, now: Instant) -> Option<Duration> {
        self.state().staleness.last_good().map(|g| g.age_at(now))
    }

    /// Whether the index is stale right now.
    pub fn is_stale(&self) -> bool {
        matches!(self.state().staleness, Staleness::Stale { .. })
    }

    /// Re-evaluates staleness at `now`: logs a change once (and a reminder every [`REMINDER`]
    /// while stale) and, with `on_stale = "refuse"`, closes or opens the gate. Returns whether
    /// the index is stale.
    pub fn watch(&self, now: Instant) -> bool {
        let Some(max) = self.max_staleness else {
            return false;
        };
        let mut st = self.state();
        let refuse = self.on_stale == OnStale::Refuse;
        let (stale, next) = match st.staleness {
            Staleness::NeverSynced => return false,
            Staleness::Fresh { last_good } => {
                let age = last_good.age_at(now);
                if age <= max {
                    return false;
                }
                if refuse {
                    self.gate.set_refusing(true);
                }
                tracing::error!(
                    age_secs = age.as_secs(),
                    max_staleness_secs = max.as_secs(),
                    on_stale = self.policy(),
                    "the index is STALE: no OpenAPI pass has succeeded for {} s (max_staleness_secs = {}); {}",
                    age.as_secs(),
                    max.as_secs(),
                    self.consequence()
                );
                let next = Staleness::Stale {
                    last_good,
                    since: now,
                    warned_at: now,
                };
                (true, next)
            }
            Staleness::Stale {
                last_good,
                since,
                warned_at,
            } => {
                let age = last_good.age_at(now);
                if age > max {
                    if now.saturating_duration_since(warned_at) < REMINDER {
                        return true;
                    }
                    tracing::error!(
                        age_secs = age.as_secs(),
                        max_staleness_secs = max.as_secs(),
                        on_stale = self.policy(),
                        "the index is still STALE: no OpenAPI pass has succeeded for {} s; {}",
                        age.as_secs(),
                        self.consequence()
                    );
                    let next = Staleness::Stale {
                        last_good,
                        since,
                        warned_at: now,
                    };
                    (true, next)
                } else {
                    let was = now.saturating_duration_since(since).as_secs();
                    if refuse {
                        self.gate.set_refusing(false);
                    }
                    tracing::info!(
                        stale_for_secs = was,
                        "the index is fresh again: an OpenAPI pass succeeded after {was} s of staleness{}",
                        if refuse {
                            "; CONNECTs are decided again"
                        } else {
                            ""
                        }
                    );
                    (false, Staleness::Fresh { last_good })
                }
            }
        };
        st.staleness = next;
        stale
    }

    fn policy(&self) -> &'static str {
        match self.on_stale {
            OnStale::Serve => "serve",
            OnStale::Refuse => "refuse",
        }
    }

    fn consequence(&self) -> &'static str {
        match self.on_stale {
            OnStale::Serve => {
                "still serving the last good index (on_stale = \"serve\"); check the refresh pass errors"
            }
            OnStale::Refuse => {
                "REFUSING EVERY CONNECT (reason stale) until a pass succeeds (on_stale = \"refuse\"); check the refresh pass errors"
            }
        }
    }

    /// The numbers behind the `mqid_openapi_*` metrics at `now`. Takes the pass durations
    /// recorded since the last call (for the histogram). Off the CONNECT path only.
    pub fn figures(&self, now: Instant) -> HealthFigures {
        let mut st = self.state();
        HealthFigures {
            passes_ok: self.passes_ok.load(Relaxed),
            passes_failed: self.passes_failed.load(Relaxed),
            requests: self.api.requests.load(Relaxed),
            retries: self.api.retries.load(Relaxed),
            pages: self.api.pages.load(Relaxed),
            failed_by_code: st
                .failed_by_code
                .iter()
                .map(|(c, n)| (c.clone(), *n))
                .collect(),
            new_durations: std::mem::take(&mut st.durations),
            last_duration: st.last_duration,
            last_good_age: st.staleness.last_good().map(|g| g.age_at(now)),
            stale: matches!(st.staleness, Staleness::Stale { .. }),
        }
    }
}

/// What [`SyncHealth::figures`] reports.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HealthFigures {
    pub passes_ok: u64,
    pub passes_failed: u64,
    /// OpenAPI requests sent, retries included.
    pub requests: u64,
    pub retries: u64,
    /// Pages received and accepted.
    pub pages: u64,
    /// Failed passes by error code (at most 32 codes, then `other`).
    pub failed_by_code: Vec<(String, u64)>,
    /// Pass durations in seconds recorded since the previous call, failed passes included.
    pub new_durations: Vec<f64>,
    pub last_duration: Option<Duration>,
    /// Since the last good pass (or the pass that wrote the snapshot); `None` before any.
    pub last_good_age: Option<Duration>,
    pub stale: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(max: u64, on_stale: OnStale) -> OpenApiConfig {
        OpenApiConfig {
            endpoint: None,
            region_id: "cn-test".into(),
            instance_id: "i".into(),
            page_size: 10,
            refresh_secs: 1,
            signature: Default::default(),
            max_requests_per_sec: 10.0,
            snapshot: None,
            request_timeout_secs: 1,
            max_retries_per_pass: 1,
            max_staleness_secs: Some(max),
            on_stale,
            permissions: true,
        }
    }

    fn health(max: u64, on_stale: OnStale) -> SyncHealth {
        SyncHealth::new(
            &config(max, on_stale),
            Arc::default(),
            Arc::new(StaleGate::new()),
        )
    }

    #[test]
    fn refuse_closes_the_gate_when_stale_and_a_good_pass_opens_it() {
        let h = health(100, OnStale::Refuse);
        let t0 = Instant::now();
        assert!(!h.watch(t0), "nothing known yet: not stale");
        h.pass_succeeded(&PassStats::default());
        assert!(!h.watch(t0 + Duration::from_secs(100)));
        assert!(!h.gate().is_refusing());
        assert!(h.watch(t0 + Duration::from_secs(102)));
        assert!(h.gate().is_refusing());
        assert!(h.is_stale());
        h.pass_succeeded(&PassStats::default());
        assert!(!h.gate().is_refusing(), "opened by the pass itself");
        assert!(!h.is_stale());
    }

    #[test]
    fn serve_never_closes_the_gate() {
        let h = health(100, OnStale::Serve);
        h.loaded_from(SystemTime::now() - Duration::from_secs(1000));
        assert!(h.is_stale(), "an old snapshot is stale at once");
        assert!(!h.gate().is_refusing());
        assert!(h.age(Instant::now()).unwrap() >= Duration::from_secs(1000));
    }

    #[test]
    fn an_old_snapshot_under_refuse_refuses_until_a_pass() {
        let h = health(100, OnStale::Refuse);
        h.loaded_from(SystemTime::now() - Duration::from_secs(1000));
        assert!(h.gate().is_refusing());
        h.pass_succeeded(&PassStats::default());
        assert!(!h.gate().is_refusing());
        let h = health(100, OnStale::Refuse);
        h.loaded_from(SystemTime::now() - Duration::from_secs(10));
        assert!(!h.gate().is_refusing(), "a recent snapshot is fresh");
    }

    #[test]
    fn zero_means_never_stale() {
        let h = health(0, OnStale::Refuse);
        h.loaded_from(SystemTime::UNIX_EPOCH);
        assert!(!h.watch(Instant::now() + Duration::from_secs(1 << 30)));
        assert!(!h.gate().is_refusing());
    }

    #[test]
    fn error_codes_are_bounded() {
        let h = health(0, OnStale::Serve);
        for i in 0..100 {
            let e = PassError::Rejected {
                action: "A",
                page: 1,
                status: 400,
                code: Some(format!("Code{i}")),
                message: None,
                request_id: None,
                hint: "",
            };
            h.pass_failed(&e, Duration::from_millis(5));
        }
        let st = h.state();
        assert_eq!(st.failed_by_code.len(), MAX_CODES + 1);
        assert_eq!(st.failed_by_code["other"], 100 - MAX_CODES as u64);
    }
}
