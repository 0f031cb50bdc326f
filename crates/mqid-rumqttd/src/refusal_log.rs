//! Logging of refused CONNECTs that a flood cannot turn into a log flood.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::time::Instant;

use mqid_core::Refusal;

/// Logs at most [`RefusalLog::PER_SECOND`] lines about refused CONNECTs per second at `warn`
/// (refusals, cool-downs and username alerts share the quota), counts the rest, and reports the
/// count of the ones it left out once the second is over. Lock-free; costs two atomic operations
/// per refusal when it does not log.
pub struct RefusalLog {
    start: Instant,
    second: AtomicU64,
    logged: AtomicU32,
    suppressed: AtomicU64,
}

impl Default for RefusalLog {
    fn default() -> Self {
        RefusalLog {
            start: Instant::now(),
            second: AtomicU64::new(0),
            logged: AtomicU32::new(0),
            suppressed: AtomicU64::new(0),
        }
    }
}

/// Attacker-chosen strings go to the log quoted (`?`) and clipped to a sane length.
pub fn clip(s: &str) -> &str {
    const MAX: usize = 128;
    if s.len() <= MAX {
        return s;
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

impl RefusalLog {
    /// Refusal lines per second at most.
    pub const PER_SECOND: u32 = 20;

    /// Records one refusal; logs it unless this second's quota is spent.
    pub fn refused(
        &self,
        username: &str,
        client_id: &str,
        reason: &str,
        peer: Option<std::net::SocketAddr>,
    ) {
        if self.take() {
            match peer {
                Some(peer) => tracing::warn!(
                    username = ?clip(username),
                    client_id = ?clip(client_id),
                    reason,
                    %peer,
                    "CONNECT refused"
                ),
                None => tracing::warn!(
                    username = ?clip(username),
                    client_id = ?clip(client_id),
                    reason,
                    "CONNECT refused"
                ),
            }
        }
    }

    /// A (username, client id) pair starts a cool-down: logged within the same quota.
    pub fn cooldown_started(
        &self,
        username: &str,
        client_id: &str,
        failures: u32,
        window_secs: u64,
        cooldown_secs: u64,
    ) {
        if self.take() {
            tracing::warn!(
                username = ?clip(username),
                client_id = ?clip(client_id),
                reason = Refusal::RateLimited.as_str(),
                cooldown_secs,
                "{failures} bad passwords within {window_secs} s: this client id is refused under \
                 this username for {cooldown_secs} s, whatever its password ([auth.limits])"
            );
        }
    }

    /// A username collects many bad passwords from different client ids: logged within the same
    /// quota. Nothing is refused for it.
    pub fn username_alert(&self, username: &str, failures: u32, window_secs: u64) {
        if self.take() {
            tracing::warn!(
                username = ?clip(username),
                failures,
                window_secs,
                "{failures} bad passwords for this username within {window_secs} s, across client \
                 ids: someone may be guessing its secret (nothing is refused for the username \
                 itself; see [auth.limits] in the README)"
            );
        }
    }

    /// Takes one line of this second's quota; counts the line as left out when it is spent.
    fn take(&self) -> bool {
        let now = self.start.elapsed().as_secs();
        let second = self.second.load(Relaxed);
        if now != second
            && self
                .second
                .compare_exchange(second, now, Relaxed, Relaxed)
                .is_ok()
        {
            self.logged.store(0, Relaxed);
            let left_out = self.suppressed.swap(0, Relaxed);
            if left_out > 0 {
                tracing::warn!(
                    left_out,
                    "more CONNECTs were refused than are logged ({} a second); {left_out} not logged",
                    Self::PER_SECOND
                );
            }
        }
        if self.logged.fetch_add(1, Relaxed) < Self::PER_SECOND {
            true
        } else {
            self.suppressed.fetch_add(1, Relaxed);
            false
        }
    }

    /// Refusals counted but not logged in the current second.
    pub fn suppressed(&self) -> u64 {
        self.suppressed.load(Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_is_logged_at_most_per_second_quota() {
        let log = RefusalLog::default();
        for _ in 0..1000 {
            log.refused("u", "c", Refusal::BadPassword.as_str(), None);
        }
        // Unless the test straddled a second boundary, 980 were left out of the log.
        let left_out = log.suppressed();
        assert!(
            left_out >= 1000 - 2 * RefusalLog::PER_SECOND as u64,
            "{left_out}"
        );
    }

    #[test]
    fn clip_keeps_char_boundaries() {
        let long = "é".repeat(100);
        let c = clip(&long);
        assert!(c.len() <= 128 && c.chars().all(|ch| ch == 'é'));
        assert_eq!(clip("short"), "short");
    }
}
