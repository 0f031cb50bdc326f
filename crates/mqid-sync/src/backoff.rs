//! The one back-off rule of the sync side: exponential from `base`, capped at `cap`.

use std::time::Duration;

use rand::Rng;

/// Back-off between retries: `min(cap, base·2^(n-1))` before the n-th retry ([`ceiling`]), or
/// with full jitter, `uniform(0, ceiling)` but never less than the service's `TimeLeft` hint
/// (itself capped by `max_hint`) ([`delay`]).
///
/// [`ceiling`]: Backoff::ceiling
/// [`delay`]: Backoff::delay
#[derive(Clone, Copy, Debug)]
pub(crate) struct Backoff {
    pub base: Duration,
    pub cap: Duration,
    pub max_hint: Duration,
}

impl Backoff {
    /// The exponential bound before retry number `attempt` (1 for the first retry).
    pub fn ceiling(&self, attempt: u32) -> Duration {
        self.base
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(20))
            .min(self.cap)
    }

    /// A jittered delay before retry number `attempt`, at least the capped `hint`.
    pub fn delay(&self, attempt: u32, hint: Option<Duration>) -> Duration {
        let exp = self.ceiling(attempt);
        let jitter = Duration::from_secs_f64(rand::thread_rng().gen_range(0.0..=exp.as_secs_f64()));
        match hint {
            Some(h) => jitter.max(h.min(self.max_hint)),
            None => jitter,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_bounded_and_honours_hints() {
        let b = Backoff {
            base: Duration::from_millis(100),
            cap: Duration::from_secs(1),
            max_hint: Duration::from_secs(5),
        };
        for attempt in 1..40 {
            let d = b.delay(attempt, None);
            assert!(d <= Duration::from_secs(1), "{attempt}: {d:?}");
            assert!(d <= Duration::from_millis(100 << (attempt - 1).min(20)));
        }
        assert!(b.delay(1, Some(Duration::from_millis(700))) >= Duration::from_millis(700));
        assert_eq!(
            b.delay(1, Some(Duration::from_secs(3600))),
            Duration::from_secs(5)
        );
    }

    #[test]
    fn ceiling_doubles_up_to_the_cap() {
        let b = Backoff {
            base: Duration::from_secs(1),
            cap: Duration::from_secs(60),
            max_hint: Duration::ZERO,
        };
        let secs: Vec<u64> = (1..=8).map(|n| b.ceiling(n).as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(b.ceiling(u32::MAX), Duration::from_secs(60));
    }
}
