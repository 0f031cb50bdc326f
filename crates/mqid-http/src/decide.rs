//! The decisions every contract asks, in mqid's terms: one CONNECT (with the stale gate and the
//! failed-auth limiter, as on mqid's own edge), and the topic questions.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use mqid_core::text::log_field;
use mqid_core::{
    topic, Connect, Decision, Effect, Limiter, Limits, NoMatch, Refusal, SessionRules, SharedIndex,
    StaleGate, TopicReason,
};

/// Why a CONNECT was not admitted, as a contract sees it: mqid's refusal, or that no index is in
/// force yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectOutcome {
    Admit,
    Refuse(Refusal),
    /// No index is in force yet (`/healthz` answers 503): refused, never admitted.
    NotReady,
}

impl ConnectOutcome {
    /// A short stable name for the `X-Mqid-Reason` header.
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectOutcome::Admit => "admitted",
            ConnectOutcome::Refuse(r) => r.as_str(),
            ConnectOutcome::NotReady => "not_ready",
        }
    }
}

/// The outcome of a topic question.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TopicOutcome {
    pub allowed: bool,
    pub reason: &'static str,
}

impl TopicOutcome {
    fn from(allowed: bool, reason: TopicReason) -> Self {
        TopicOutcome {
            allowed,
            reason: reason.as_str(),
        }
    }

    const NOT_READY: TopicOutcome = TopicOutcome {
        allowed: false,
        reason: "not_ready",
    };
}

/// mqid's decisions for the HTTP contracts. Shares the index (and the stale gate) with the
/// source that keeps it current.
pub struct Decider {
    index: Arc<SharedIndex>,
    stale: Option<Arc<StaleGate>>,
    limiter: Option<Limiter>,
    no_match: NoMatch,
    ready: AtomicBool,
}

impl Decider {
    /// Decides against whatever `index` holds; not ready until [`set_ready`](Self::set_ready).
    pub fn new(index: Arc<SharedIndex>, no_match: NoMatch) -> Self {
        Decider {
            index,
            stale: None,
            limiter: None,
            no_match,
            ready: AtomicBool::new(false),
        }
    }

    /// Failed-auth limiting per (username, client id), as on the edge.
    pub fn with_limiter(mut self, limits: Limits) -> Self {
        self.limiter = Some(Limiter::new(limits, Instant::now()));
        self
    }

    /// Refuses every CONNECT (`stale`) while `gate` says so.
    pub fn with_stale_gate(mut self, gate: Arc<StaleGate>) -> Self {
        self.stale = Some(gate);
        self
    }

    /// Marks that an index is in force: `/healthz` answers 200 from now on.
    pub fn set_ready(&self) {
        self.ready.store(true, Ordering::Release);
    }

    /// Whether an index is in force.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// Whether the stale gate refuses (the index in force is too old).
    pub fn is_stale(&self) -> bool {
        self.stale.as_ref().is_some_and(|g| g.is_refusing())
    }

    /// The index in force.
    pub fn index(&self) -> &Arc<SharedIndex> {
        &self.index
    }

    /// One CONNECT, in the edge's order: stale gate, limiter cooldown, the index's decision; a
    /// bad password is recorded in the limiter.
    pub fn connect(&self, client_id: &str, username: &str, password: &[u8]) -> ConnectOutcome {
        if !self.is_ready() {
            return ConnectOutcome::NotReady;
        }
        if self.stale.as_ref().is_some_and(|g| g.is_refusing()) {
            return ConnectOutcome::Refuse(Refusal::Stale);
        }
        let limited = self
            .limiter
            .as_ref()
            .map(|l| (l, l.key(username, client_id), Instant::now()));
        if let Some((limiter, key, now)) = limited {
            if limiter.is_cooling_down(key, now) {
                return ConnectOutcome::Refuse(Refusal::RateLimited);
            }
        }
        let index = self.index.load();
        let connect = Connect {
            client_id,
            username,
            password,
        };
        match mqid_core::decide(&index, &connect) {
            Decision::Admit(_) => ConnectOutcome::Admit,
            Decision::Refuse(reason) => {
                if let (Refusal::BadPassword, Some((limiter, key, now))) = (reason, limited) {
                    let recorded = limiter.record_failure(key, username, now);
                    if recorded.cooldown_started {
                        let l = limiter.limits();
                        // Once per cooldown and pair, not per request; never the password.
                        tracing::warn!(
                            username = ?log_field(username),
                            client_id = ?log_field(client_id),
                            "{} bad passwords within {} s: refused for {} s",
                            l.max_failures,
                            l.window.as_secs(),
                            l.cooldown.as_secs()
                        );
                    }
                }
                ConnectOutcome::Refuse(reason)
            }
        }
    }

    /// May (username, client id) publish to `topic`?
    pub fn publish(&self, username: &str, client_id: &str, topic: &str) -> TopicOutcome {
        self.on_rules(username, client_id, |r| {
            let d = r.may_publish(topic);
            TopicOutcome::from(d.allowed, d.reason)
        })
    }

    /// May a message on `topic` be delivered to (username, client id)?
    pub fn deliver(&self, username: &str, client_id: &str, topic: &str) -> TopicOutcome {
        self.on_rules(username, client_id, |r| {
            let d = r.may_deliver(topic);
            TopicOutcome::from(d.allowed, d.reason)
        })
    }

    /// May (username, client id) subscribe to `filter`? With `strict`, for brokers that never ask
    /// about deliveries, a filter is also refused when an applicable `DENY` rule on subscribing
    /// overlaps it (some topic matches both): mqid's edge would filter those messages out at
    /// delivery, such a broker cannot, so the safe answer is to refuse the subscription.
    pub fn subscribe(
        &self,
        username: &str,
        client_id: &str,
        filter: &str,
        strict: bool,
    ) -> TopicOutcome {
        self.on_rules(username, client_id, |r| {
            let d = r.may_subscribe(filter);
            if !d.allowed || !strict || !r.enforced() {
                return TopicOutcome::from(d.allowed, d.reason);
            }
            let Ok(inner) = topic::strip_share(filter) else {
                return TopicOutcome::from(false, TopicReason::InvalidTopic);
            };
            let overlapping = r.rules().any(|rule| {
                rule.effect == Effect::Deny
                    && rule.permit_action.covers_sub()
                    && overlaps(&rule.topic, inner)
            });
            if overlapping {
                TopicOutcome {
                    allowed: false,
                    reason: "deny_rule_overlaps",
                }
            } else {
                TopicOutcome::from(d.allowed, d.reason)
            }
        })
    }

    fn on_rules(
        &self,
        username: &str,
        client_id: &str,
        f: impl FnOnce(&SessionRules) -> TopicOutcome,
    ) -> TopicOutcome {
        if !self.is_ready() {
            return TopicOutcome::NOT_READY;
        }
        let index = self.index.load();
        f(&SessionRules::resolve(
            &index,
            username,
            client_id,
            self.no_match,
        ))
    }
}

/// Whether some topic name matches both filters. Conservative: `+` and `#` are taken to match
/// `$` topics too, so it may say "overlap" where MQTT would not (a refusal, the safe side).
pub fn overlaps(a: &str, b: &str) -> bool {
    let (mut x, mut y) = (a.split('/'), b.split('/'));
    loop {
        match (x.next(), y.next()) {
            (Some("#"), _) | (_, Some("#")) | (None, None) => return true,
            (Some(p), Some(q)) => {
                if p != q && p != "+" && q != "+" {
                    return false;
                }
            }
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlap_by_hand() {
        // (a, b, whether some topic matches both), worked out by hand.
        for (a, b, want) in [
            ("a/secret", "a/#", true),
            ("a/secret", "a/+", true),
            ("a/secret", "a/public", false),
            ("a/secret", "#", true),
            ("a/+/c", "a/b/+", true),
            ("a/+/c", "a/b/d", false),
            ("a/#", "a", true),
            ("a/b", "a", false),
            ("a", "a/b", false),
            ("+/+", "x", false),
            ("+", "x", true),
        ] {
            assert_eq!(overlaps(a, b), want, "{a} vs {b}");
            assert_eq!(overlaps(b, a), want, "{b} vs {a}");
        }
    }
}
