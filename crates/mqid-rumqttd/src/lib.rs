//! mqid's MQTT edge on rumqttd's router, and the CONNECT decision it runs.
//!
//! [`edge`] is what `mqid serve` runs: mqid's own listeners on rumqttd's router (CONNACK codes on
//! refusal, topic permissions, revocation, wills). [`Authenticator`] is the decision it asks per
//! CONNECT. [`install`] puts the same decision on rumqttd's stock listeners through their bool
//! hook; only `mqid bench` uses it now, as the baseline the edge is compared with.
//!
//! The decision is made inline: a decision is a lock-free index load, one or two hash lookups and
//! at most one HMAC-SHA1 over the client id, well under the cost of the CONNECT's own syscalls,
//! so it never needs a thread hop and never blocks the listener's single-threaded runtime.
//!
//! # Per CONNECT, in order
//!
//! 1. the [`StaleGate`] (if set): one atomic load; closed → refused `stale`;
//! 2. the [`Limiter`] (if set): a SipHash of (username, client id), one clock read and the
//!    loads of one cache line; cooling down → refused `rate_limited`, before any HMAC;
//! 3. [`mqid_core::decide`](fn@mqid_core::decide); a `bad_password` is recorded in the limiter
//!    (a few compare-exchanges on one cache line);
//! 4. one relaxed atomic add to the decision's counter ([`ConnectCounts`]); a refusal goes to
//!    the rate-limited [`RefusalLog`].
//!
//! None of it takes a lock, allocates (the log lines aside, at most
//! [`RefusalLog::PER_SECOND`] a second) or does I/O. The counters reach the `metrics` recorder
//! through the `mqid` command, which reads [`Authenticator::counts`] and
//! [`Authenticator::limiter`] off the listener threads.
//!
//! What rumqttd's hook cannot do (see the README): it sends no CONNACK on refusal (the socket is
//! closed), and it gives no peer address or protocol version.
#![forbid(unsafe_code)]

mod counts;
pub mod edge;
mod refusal_log;

use std::hash::BuildHasher;
use std::sync::Arc;
use std::time::Instant;

use mqid_core::text::log_field;
use mqid_core::{Connect, Decision, Limiter, Limits, Refusal, SharedIndex, StaleGate};
use rumqttd::{Config, ServerSettings};

pub use counts::ConnectCounts;
pub use refusal_log::RefusalLog;

/// The CONNECT check that rumqttd's listeners call.
pub struct Authenticator {
    index: Arc<SharedIndex>,
    refusals: RefusalLog,
    limiter: Option<Limiter>,
    stale: Option<Arc<StaleGate>>,
    counts: ConnectCounts,
    /// Keyed per process: a secret's fingerprint is comparable only within it.
    secret_hasher: std::hash::RandomState,
}

/// What admitted a session: the identity's type, sign mode and a keyed hash of its secret.
/// Comparing it with the same identity's fingerprint in a later index says whether the
/// session's credentials still stand (revocation). Holds nothing secret.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Admission {
    pub identity_type: mqid_core::IdentityType,
    pub sign_mode: mqid_core::SignMode,
    secret: u64,
}

impl Authenticator {
    /// Decides against whatever index `index` holds at each CONNECT; no limiter, no stale gate
    /// (add them with [`with_limiter`](Self::with_limiter) and
    /// [`with_stale_gate`](Self::with_stale_gate)).
    pub fn new(index: Arc<SharedIndex>) -> Self {
        Authenticator {
            index,
            refusals: RefusalLog::default(),
            limiter: None,
            stale: None,
            counts: ConnectCounts::default(),
            secret_hasher: std::hash::RandomState::new(),
        }
    }

    /// Adds failed-auth limiting with `limits` (its table is allocated now).
    pub fn with_limiter(mut self, limits: Limits) -> Self {
        self.limiter = Some(Limiter::new(limits, Instant::now()));
        self
    }

    /// Refuses every CONNECT (`stale`) while `gate` says so.
    pub fn with_stale_gate(mut self, gate: Arc<StaleGate>) -> Self {
        self.stale = Some(gate);
        self
    }

    /// The index this authenticator reads.
    pub fn index(&self) -> &Arc<SharedIndex> {
        &self.index
    }

    /// The limiter, if any.
    pub fn limiter(&self) -> Option<&Limiter> {
        self.limiter.as_ref()
    }

    /// CONNECTs decided so far, by result and reason.
    pub fn counts(&self) -> &ConnectCounts {
        &self.counts
    }

    /// Decides one CONNECT, counts it and logs a refusal (rate-limited). Never logs the
    /// password.
    pub fn authenticate(&self, client_id: &str, username: &str, password: &str) -> bool {
        self.decide(client_id, username, password, None).is_ok()
    }

    /// [`authenticate`](Self::authenticate) for a front end that knows the peer (logged with a
    /// refusal) and wants to know what admitted the session (for revocation) or why not.
    pub fn decide(
        &self,
        client_id: &str,
        username: &str,
        password: &str,
        peer: Option<std::net::SocketAddr>,
    ) -> Result<Admission, Refusal> {
        match self.check(client_id, username, password) {
            Ok(admission) => {
                self.counts.count_admitted();
                Ok(admission)
            }
            Err(reason) => {
                self.counts.count_refused(reason);
                self.refusals
                    .refused(username, client_id, reason.as_str(), peer);
                Err(reason)
            }
        }
    }

    /// What [`decide`](Self::decide) would say of `identity` now, as a fingerprint to compare
    /// with the one taken at CONNECT.
    pub fn fingerprint(&self, identity: &mqid_core::Identity) -> Admission {
        Admission {
            identity_type: identity.identity_type,
            sign_mode: identity.sign_mode,
            secret: self.secret_hasher.hash_one(identity.secret.expose()),
        }
    }

    /// The refusal log (shared with the edge's own CONNACK refusals).
    pub fn refusal_log(&self) -> &RefusalLog {
        &self.refusals
    }

    fn check(&self, client_id: &str, username: &str, password: &str) -> Result<Admission, Refusal> {
        if self.stale.as_ref().is_some_and(|g| g.is_refusing()) {
            return Err(Refusal::Stale);
        }
        let limited = self
            .limiter
            .as_ref()
            .map(|l| (l, l.key(username, client_id), Instant::now()));
        if let Some((limiter, key, now)) = limited {
            if limiter.is_cooling_down(key, now) {
                return Err(Refusal::RateLimited);
            }
        }
        let index = self.index.load();
        let connect = Connect {
            client_id,
            username,
            password: password.as_bytes(),
        };
        match mqid_core::decide(&index, &connect) {
            Decision::Admit(identity) => {
                tracing::debug!(
                    username = ?log_field(username),
                    client_id = ?log_field(client_id),
                    identity_type = identity.identity_type.as_str(),
                    sign_mode = identity.sign_mode.as_str(),
                    "CONNECT admitted"
                );
                Ok(self.fingerprint(identity))
            }
            Decision::Refuse(reason) => {
                if let (Refusal::BadPassword, Some((limiter, key, now))) = (reason, limited) {
                    self.record_failure(limiter, key, username, client_id, now);
                }
                Err(reason)
            }
        }
    }

    fn record_failure(
        &self,
        limiter: &Limiter,
        key: mqid_core::LimitKey,
        username: &str,
        client_id: &str,
        now: Instant,
    ) {
        let recorded = limiter.record_failure(key, username, now);
        let limits = limiter.limits();
        if recorded.cooldown_started {
            self.refusals.cooldown_started(
                username,
                client_id,
                limits.max_failures,
                limits.window.as_secs(),
                limits.cooldown.as_secs(),
            );
        }
        if let Some(failures) = recorded.username_alert {
            self.refusals
                .username_alert(username, failures, limits.window.as_secs());
        }
    }
}

/// Why the decision could not be installed.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error("the broker configuration has no [v4.*], [v5.*] or [ws.*] listener")]
    NoListeners,
    #[error(
        "listener [{section}.{key}] sets connections.auth, rumqttd's static password map; mqid \
         replaces it on every listener, so remove it to avoid a false sense of what is checked"
    )]
    StaticAuth { section: &'static str, key: String },
}

/// Sets `auth` as the CONNECT check of every `v4`, `v5` and `ws` listener of `config`. Returns
/// the number of listeners it was set on.
pub fn install(config: &mut Config, auth: Arc<Authenticator>) -> Result<usize, InstallError> {
    let mut count = 0;
    for (section, listeners) in [
        ("v4", config.v4.as_mut()),
        ("v5", config.v5.as_mut()),
        ("ws", config.ws.as_mut()),
    ] {
        let Some(listeners) = listeners else { continue };
        for (key, server) in listeners.iter_mut() {
            if server.connections.auth.is_some() {
                return Err(InstallError::StaticAuth {
                    section,
                    key: key.clone(),
                });
            }
            set_handler(server, auth.clone());
            count += 1;
        }
    }
    if count == 0 {
        return Err(InstallError::NoListeners);
    }
    Ok(count)
}

fn set_handler(server: &mut ServerSettings, auth: Arc<Authenticator>) {
    server.set_auth_handler(
        move |client_id: String, username: String, password: String| {
            let admitted = auth.authenticate(&client_id, &username, &password);
            std::future::ready(admitted)
        },
    );
}

/// The listeners of `config`, as `(section.key, name, address)`, for the start-up log line.
pub fn listeners(config: &Config) -> Vec<(String, String, std::net::SocketAddr)> {
    let mut out = Vec::new();
    for (section, listeners) in [
        ("v4", config.v4.as_ref()),
        ("v5", config.v5.as_ref()),
        ("ws", config.ws.as_ref()),
    ] {
        for (key, s) in listeners.into_iter().flatten() {
            out.push((format!("{section}.{key}"), s.name.clone(), s.listen));
        }
    }
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use mqid_core::Index;

    fn config(with_static_auth: bool) -> Config {
        let listener = |port: u16| {
            format!(
                r#"{{"name":"l{port}","listen":"127.0.0.1:{port}","next_connection_delay_ms":0,
                   "connections":{{"connection_timeout_ms":1000,"max_payload_size":1024,
                   "max_inflight_count":10{}}}}}"#,
                if with_static_auth && port == 3 {
                    r#","auth":{"u":"p"}"#
                } else {
                    ""
                }
            )
        };
        let json = format!(
            r#"{{"id":0,"router":{{"max_connections":10,"max_outgoing_packet_count":10,
               "max_segment_size":1024,"max_segment_count":1}},
               "v4":{{"1":{},"2":{}}},"v5":{{"1":{}}},"ws":{{"1":{}}}}}"#,
            listener(1),
            listener(2),
            listener(3),
            listener(4)
        );
        serde_json::from_str(&json).unwrap()
    }

    #[test]
    fn installs_on_every_v4_v5_and_ws_listener() {
        let mut c = config(false);
        let auth = Arc::new(Authenticator::new(Arc::new(SharedIndex::new(
            Index::empty(),
        ))));
        assert_eq!(install(&mut c, auth).unwrap(), 4);
        for l in [c.v4.as_ref(), c.v5.as_ref(), c.ws.as_ref()]
            .into_iter()
            .flatten()
            .flat_map(|m| m.values())
        {
            assert!(l.connections.external_auth.is_some(), "{}", l.name);
        }
        assert_eq!(listeners(&c).len(), 4);
    }

    #[test]
    fn refuses_rumqttds_static_auth_and_an_empty_config() {
        let auth = Arc::new(Authenticator::new(Arc::new(SharedIndex::new(
            Index::empty(),
        ))));
        let err = install(&mut config(true), auth.clone())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("[v5.1]") && err.contains("connections.auth"),
            "{err}"
        );
        let err = install(&mut Config::default(), auth).unwrap_err();
        assert!(matches!(err, InstallError::NoListeners));
    }
}
