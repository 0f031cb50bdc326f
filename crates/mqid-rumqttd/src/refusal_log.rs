//! Logging of refused CONNECTs that a flood cannot turn into a log flood.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::time::Instant;

use mqid_core::text::log_field;
use mqid_core::Refusal;

/// Logs at most [`RefusalLog::PER_SECOND`] lines about refused CONNECTs per second at `warn`,
/// counts the rest, and reports the count of the ones it left out once the second is over.
/// Alerts (a pair starting a cool-down, a username collecting bad passwords) have a budget of
/// their own, [`RefusalLog::ALERTS_PER_SECOND`], so that a flood of refusals cannot crowd out the
/// one line that says what the flood is. Lock-free; costs two atomic operations per line when it
/// does not log.
pub struct RefusalLog {
    start: Instant,
    refusals: Quota,
    alerts: Quota,
}

/// One budget of lines per second (also the edge's connection-error throttle).
#[derive(Default)]
pub(crate) struct Quota {
    second: AtomicU64,
    logged: AtomicU32,
    suppressed: AtomicU64,
}

impl Quota {
    /// Takes one line of this second's budget of `per_second`; counts the line as left out when
    /// it is spent. When a new second starts, reports what the last one left out (`what`).
    pub(crate) fn take(&self, now: u64, per_second: u32, what: &str) -> bool {
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
                    "more {what} than are logged ({per_second} a second); {left_out} not logged"
                );
            }
        }
        if self.logged.fetch_add(1, Relaxed) < per_second {
            true
        } else {
            self.suppressed.fetch_add(1, Relaxed);
            false
        }
    }
}

impl Default for RefusalLog {
    fn default() -> Self {
        RefusalLog {
            start: Instant::now(),
            refusals: Quota::default(),
            alerts: Quota::default(),
        }
    }
}

impl RefusalLog {
    /// Refusal lines per second at most.
    pub const PER_SECOND: u32 = 20;
    /// Alert lines (cool-downs, username alerts) per second at most, apart from refusal lines.
    pub const ALERTS_PER_SECOND: u32 = 20;

    /// Records one refusal; logs it unless this second's quota is spent.
    pub fn refused(
        &self,
        username: &str,
        client_id: &str,
        reason: &str,
        peer: Option<std::net::SocketAddr>,
    ) {
        if self.take_refusal() {
            match peer {
                Some(peer) => tracing::warn!(
                    username = ?log_field(username),
                    client_id = ?log_field(client_id),
                    reason,
                    %peer,
                    "CONNECT refused"
                ),
                None => tracing::warn!(
                    username = ?log_field(username),
                    client_id = ?log_field(client_id),
                    reason,
                    "CONNECT refused"
                ),
            }
        }
    }

    /// A (username, client id) pair starts a cool-down: logged within the alerts' budget.
    pub fn cooldown_started(
        &self,
        username: &str,
        client_id: &str,
        failures: u32,
        window_secs: u64,
        cooldown_secs: u64,
    ) {
        if self.take_alert() {
            tracing::warn!(
                username = ?log_field(username),
                client_id = ?log_field(client_id),
                reason = Refusal::RateLimited.as_str(),
                cooldown_secs,
                "{failures} bad passwords within {window_secs} s: this client id is refused under \
                 this username for {cooldown_secs} s, whatever its password ([auth.limits])"
            );
        }
    }

    /// A username collects many bad passwords from different client ids: logged within the
    /// alerts' budget. Nothing is refused for it.
    pub fn username_alert(&self, username: &str, failures: u32, window_secs: u64) {
        if self.take_alert() {
            tracing::warn!(
                username = ?log_field(username),
                failures,
                window_secs,
                "{failures} bad passwords for this username within {window_secs} s, across client \
                 ids: someone may be guessing its secret (nothing is refused for the username \
                 itself; see [auth.limits] in the README)"
            );
        }
    }

    fn take_refusal(&self) -> bool {
        let now = self.start.elapsed().as_secs();
        self.refusals
            .take(now, Self::PER_SECOND, "CONNECTs were refused")
    }

    fn take_alert(&self) -> bool {
        let now = self.start.elapsed().as_secs();
        self.alerts
            .take(now, Self::ALERTS_PER_SECOND, "limiter alerts were raised")
    }

    /// Refusals counted but not logged in the current second.
    pub fn suppressed(&self) -> u64 {
        self.refusals.suppressed.load(Relaxed)
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

    /// Issue 12, item 10: a flood of refusals does not crowd the username alert out of the log.
    #[test]
    fn alerts_have_a_budget_of_their_own() {
        use std::io::Write;
        use std::sync::{Arc, Mutex};

        #[derive(Clone, Default)]
        struct Lines(Arc<Mutex<Vec<u8>>>);
        impl Write for Lines {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let lines = Lines::default();
        let sink = lines.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || sink.clone())
            .with_ansi(false)
            .finish();
        let log = RefusalLog::default();
        tracing::subscriber::with_default(subscriber, || {
            for i in 0..1000 {
                log.refused(
                    "fleet",
                    &format!("c{i}"),
                    Refusal::BadPassword.as_str(),
                    None,
                );
            }
            log.username_alert("fleet", 100, 60);
            log.cooldown_started("fleet", "c7", 10, 60, 300);
        });
        let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
        assert!(text.contains("bad passwords for this username"), "{text}");
        assert!(text.contains("this client id is refused"), "{text}");
        assert!(log.suppressed() > 0);
        assert!(text.matches("CONNECT refused").count() <= 2 * RefusalLog::PER_SECOND as usize);
    }
}
