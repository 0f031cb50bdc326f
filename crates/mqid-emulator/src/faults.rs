//! Fault injection: throttling, server errors, dropped connections and latency, plus faults in the
//! answer itself (broken bodies, pages that break the API's rules, reset or stalled connections,
//! clock and credential errors), adjustable while the emulator runs.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hyper::StatusCode;

/// Faults to inject. Request numbers count every HTTP request the emulator receives, from 1, over
/// the life of one emulator; "every Nth" faults hit the requests whose number is a multiple of N
/// (0 turns a fault off). When several faults hit the same request, the first of this order wins:
/// dropped connection, `ServiceUnavailable`, `Throttling.User`. Latency is added to every request,
/// before anything else. A request that none of them hits meets the [`AnswerFault`], if one is
/// set.
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
    /// A fault in the answer itself, for every request while set (CLI `--answer-fault NAME`).
    pub answer: AnswerFault,
    /// `answer` spares the first page of each listing: it hits only requests whose query
    /// carries a `NextToken` (CLI `--answer-fault-later-pages`). With it, a pass gets its first
    /// page and fails on a later one.
    pub answer_later_pages_only: bool,
}

/// The size of the body of [`AnswerFault::Huge`]: 50 MiB, three times what mqid reads of a page.
pub const HUGE_BODY_BYTES: u64 = 50 * 1024 * 1024;
/// How long [`AnswerFault::Stall`] holds a connection before giving up on it.
pub const STALL: Duration = Duration::from_secs(60);

/// A fault in the answer to a request: a broken body, a page that breaks the API's rules, a
/// broken connection, or an error the API gives when the client's clock or credentials are
/// wrong. Body and page faults change successful answers only; an error answer goes out as is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum AnswerFault {
    /// No fault.
    #[default]
    None,
    /// HTTP 200 with an HTML page for a body, as a proxy in the way would send (`not-json`).
    NotJson,
    /// HTTP 200 with the first half of the JSON page, `Content-Length` matching (`cut-json`).
    CutJson,
    /// The page's full `Content-Length` is announced, half the body is sent, then (50 ms later)
    /// the connection is closed (`truncated`).
    Truncated,
    /// The records' fields have the wrong JSON types: `Username` (identities) or `ClientId`
    /// (blacklist) is a number (`wrong-types`).
    WrongTypes,
    /// One record more than `Size` asked for, padded with made-up records when the list is
    /// short (`oversized-page`).
    OversizedPage,
    /// A request that carries a `NextToken` is answered with that same `NextToken`, so that
    /// paging would loop; the first page is answered normally (`looping-token`).
    LoopingToken,
    /// HTTP 200 with a body of [`HUGE_BODY_BYTES`] (a page padded with whitespace), streamed in
    /// chunks without `Content-Length` (`huge`).
    Huge,
    /// Headers and half the body, then nothing for [`STALL`], then the connection is closed
    /// (`stall`).
    Stall,
    /// The connection is reset (TCP RST) without an answer (`reset`).
    Reset,
    /// `InvalidTimeStamp.Expired`, as if the client's clock were more than 15 minutes off
    /// (`clock-skew`).
    ClockSkew,
    /// `InvalidAccessKeyId.NotFound`, as if the AccessKey had been deleted
    /// (`access-key-not-found`).
    AccessKeyNotFound,
    /// `InvalidSecurityToken.Expired`, as if the STS token had expired (`token-expired`).
    TokenExpired,
}

impl AnswerFault {
    /// Every fault, [`AnswerFault::None`] first.
    pub const ALL: [AnswerFault; 13] = [
        AnswerFault::None,
        AnswerFault::NotJson,
        AnswerFault::CutJson,
        AnswerFault::Truncated,
        AnswerFault::WrongTypes,
        AnswerFault::OversizedPage,
        AnswerFault::LoopingToken,
        AnswerFault::Huge,
        AnswerFault::Stall,
        AnswerFault::Reset,
        AnswerFault::ClockSkew,
        AnswerFault::AccessKeyNotFound,
        AnswerFault::TokenExpired,
    ];

    /// The CLI name.
    pub fn name(self) -> &'static str {
        match self {
            AnswerFault::None => "none",
            AnswerFault::NotJson => "not-json",
            AnswerFault::CutJson => "cut-json",
            AnswerFault::Truncated => "truncated",
            AnswerFault::WrongTypes => "wrong-types",
            AnswerFault::OversizedPage => "oversized-page",
            AnswerFault::LoopingToken => "looping-token",
            AnswerFault::Huge => "huge",
            AnswerFault::Stall => "stall",
            AnswerFault::Reset => "reset",
            AnswerFault::ClockSkew => "clock-skew",
            AnswerFault::AccessKeyNotFound => "access-key-not-found",
            AnswerFault::TokenExpired => "token-expired",
        }
    }

    fn code(self) -> u8 {
        Self::ALL.iter().position(|f| *f == self).unwrap_or(0) as u8
    }

    fn from_code(code: u8) -> Self {
        Self::ALL
            .get(usize::from(code))
            .copied()
            .unwrap_or_default()
    }
}

impl fmt::Display for AnswerFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for AnswerFault {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|f| f.name()).collect();
                format!("unknown answer fault {s:?}; one of: {}", names.join(", "))
            })
    }
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
            answer: AnswerFault::None,
            answer_later_pages_only: false,
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
pub(crate) enum RequestFault {
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
    answer: AtomicU8,
    answer_later_pages_only: AtomicBool,
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
            answer: AtomicU8::new(0),
            answer_later_pages_only: AtomicBool::new(false),
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
        a.answer.store(f.answer.code(), Ordering::Relaxed);
        a.answer_later_pages_only
            .store(f.answer_later_pages_only, Ordering::Relaxed);
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
            answer: AnswerFault::from_code(a.answer.load(Ordering::Relaxed)),
            answer_later_pages_only: a.answer_later_pages_only.load(Ordering::Relaxed),
        }
    }

    /// The answer fault for a request, given whether it carries a `NextToken`.
    pub(crate) fn answer_fault(&self, has_next_token: bool) -> AnswerFault {
        let a = &self.0;
        if a.answer_later_pages_only.load(Ordering::Relaxed) && !has_next_token {
            return AnswerFault::None;
        }
        AnswerFault::from_code(a.answer.load(Ordering::Relaxed))
    }

    /// How many HTTP requests have arrived so far (faulted ones included).
    pub fn requests(&self) -> u64 {
        self.0.requests.load(Ordering::Relaxed)
    }

    /// Counts a request and decides its fault. Returns the latency to add and the verdict.
    pub(crate) fn on_request(&self) -> (Duration, RequestFault) {
        let n = self.0.requests.fetch_add(1, Ordering::Relaxed) + 1;
        let f = self.get();
        let hits = |every: u32| every != 0 && n.is_multiple_of(u64::from(every));
        let verdict = if hits(f.drop_every) {
            RequestFault::Drop
        } else if hits(f.unavailable_every) {
            RequestFault::Unavailable
        } else if hits(f.throttle_every) {
            RequestFault::Throttle {
                status: StatusCode::from_u16(f.throttle_status).unwrap_or(StatusCode::BAD_REQUEST),
                time_left_ms: f.throttle_time_left_ms,
            }
        } else {
            RequestFault::Pass
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
        let verdicts: Vec<RequestFault> = (0..6).map(|_| c.on_request().1).collect();
        let t = RequestFault::Throttle {
            status: StatusCode::BAD_REQUEST,
            time_left_ms: 1000,
        };
        assert_eq!(
            verdicts,
            vec![
                RequestFault::Pass,
                t,
                RequestFault::Unavailable,
                RequestFault::Throttle {
                    status: StatusCode::BAD_REQUEST,
                    time_left_ms: 1000
                },
                RequestFault::Pass,
                RequestFault::Unavailable, // 6: both hit, ServiceUnavailable wins
            ]
        );
        assert_eq!(c.requests(), 6);
        c.clear();
        assert_eq!(c.on_request().1, RequestFault::Pass);
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

    #[test]
    fn answer_faults_round_trip_and_parse() {
        for fault in AnswerFault::ALL {
            assert_eq!(fault.name().parse::<AnswerFault>(), Ok(fault));
            let f = Faults {
                answer: fault,
                answer_later_pages_only: true,
                ..Faults::none()
            };
            let c = FaultControl::new(&f);
            assert_eq!(c.get(), f);
            assert_eq!(c.answer_fault(true), fault);
            assert_eq!(c.answer_fault(false), AnswerFault::None);
        }
        assert!("nope".parse::<AnswerFault>().unwrap_err().contains("stall"));
    }
}
