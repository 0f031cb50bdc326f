//! The admitted sessions, for revocation: after the index is replaced, sessions whose identity is
//! gone, whose secret or sign mode changed, or whose client id is now blacklisted are told to
//! disconnect, at a paced rate.
//!
//! # Contract
//!
//! * [`Sessions::register`] (once per admitted CONNECT) takes one of 16 shard locks for one
//!   insert; the sweep takes each shard lock only to copy out its entries, never while it
//!   judges or waits.
//! * [`Sessions::sweep`] runs on its own task: it notices a new index generation within
//!   [`SWEEP_EVERY`], judges every session against it, and disconnects the revoked ones at most
//!   `revoke_per_sec` a second (so a re-keyed `USER` identity of a large fleet does not turn into
//!   a reconnect storm). Permission changes need no disconnect: sessions re-resolve their rules
//!   on their next packet.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mqid_core::{IdentityKey, IdentityType, SharedIndex};
use rumqttd::protocol::DisconnectReasonCode;
use tokio::sync::Notify;

use super::stats::EdgeCounts;
use super::Slot;
use crate::{Admission, Authenticator};
use mqid_core::text::log_field;

/// How often the sweep looks for a new index generation.
pub const SWEEP_EVERY: Duration = Duration::from_millis(250);

const SHARDS: usize = 16;

/// Why a session was revoked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Revocation {
    /// Its identity is no longer in the index.
    IdentityGone = 1,
    /// Its identity's secret or sign mode changed.
    Rekeyed = 2,
    /// Its client id is on the connect blacklist.
    Blacklisted = 3,
}

impl Revocation {
    pub fn as_str(self) -> &'static str {
        match self {
            Revocation::IdentityGone => "identity_gone",
            Revocation::Rekeyed => "rekeyed",
            Revocation::Blacklisted => "blacklisted",
        }
    }

    /// The MQTT 5 DISCONNECT reason code the client gets.
    pub fn reason_code(self) -> DisconnectReasonCode {
        match self {
            Revocation::IdentityGone | Revocation::Rekeyed => DisconnectReasonCode::NotAuthorized,
            Revocation::Blacklisted => DisconnectReasonCode::AdministrativeAction,
        }
    }

    fn from_u8(v: u8) -> Option<Revocation> {
        match v {
            1 => Some(Revocation::IdentityGone),
            2 => Some(Revocation::Rekeyed),
            3 => Some(Revocation::Blacklisted),
            _ => None,
        }
    }
}

struct Entry {
    client_id: String,
    username: String,
    admission: Admission,
    revoked: AtomicU8,
    notify: Notify,
}

/// Every admitted session.
pub(crate) struct Sessions {
    shards: [Mutex<HashMap<u64, Arc<Entry>>>; SHARDS],
    next_id: AtomicU64,
}

/// A session's registration; unregisters on drop.
pub(crate) struct SessionHandle {
    sessions: Arc<Sessions>,
    id: u64,
    entry: Arc<Entry>,
    _slot: Slot,
}

impl SessionHandle {
    /// Resolves when the session is revoked, with the DISCONNECT reason for it.
    pub(crate) async fn revoked(&self) -> DisconnectReasonCode {
        loop {
            if let Some(r) = Revocation::from_u8(self.entry.revoked.load(Relaxed)) {
                return r.reason_code();
            }
            self.entry.notify.notified().await;
        }
    }
}

impl Drop for SessionHandle {
    fn drop(&mut self) {
        self.sessions.shard(self.id).remove(&self.id);
    }
}

impl Sessions {
    pub(crate) fn new() -> Arc<Sessions> {
        Arc::new(Sessions {
            shards: std::array::from_fn(|_| Mutex::new(HashMap::new())),
            next_id: AtomicU64::new(0),
        })
    }

    fn shard(&self, id: u64) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Entry>>> {
        self.shards[id as usize % SHARDS]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn register(
        self: &Arc<Self>,
        client_id: &str,
        username: &str,
        admission: Admission,
        slot: Slot,
    ) -> SessionHandle {
        let id = self.next_id.fetch_add(1, Relaxed);
        let entry = Arc::new(Entry {
            client_id: client_id.to_owned(),
            username: username.to_owned(),
            admission,
            revoked: AtomicU8::new(0),
            notify: Notify::new(),
        });
        self.shard(id).insert(id, entry.clone());
        SessionHandle {
            sessions: self.clone(),
            id,
            entry,
            _slot: slot,
        }
    }

    /// Sessions registered now.
    pub(crate) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|e| e.into_inner()).len())
            .sum()
    }

    /// Runs forever: after each index replacement, revokes what no longer stands.
    pub(crate) async fn sweep(
        self: Arc<Self>,
        auth: Arc<Authenticator>,
        counts: Arc<EdgeCounts>,
        revoke_per_sec: u32,
    ) {
        let index: &Arc<SharedIndex> = auth.index();
        let mut seen = index.load().generation();
        let pace = Duration::from_secs_f64(1.0 / f64::from(revoke_per_sec.max(1)));
        loop {
            tokio::time::sleep(SWEEP_EVERY).await;
            let current = index.load_full();
            if current.generation() == seen {
                continue;
            }
            seen = current.generation();
            let blacklist: HashSet<&str> = current.blacklist().collect();
            let mut entries = Vec::new();
            for shard in &self.shards {
                entries.extend(
                    shard
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .values()
                        .cloned(),
                );
            }
            let mut revoked = 0u64;
            for e in entries {
                let Some(why) = judge(&auth, &current, &blacklist, &e) else {
                    continue;
                };
                if e.revoked.swap(why as u8, Relaxed) != 0 {
                    continue;
                }
                e.notify.notify_one();
                counts.revoked();
                revoked += 1;
                if revoked <= 20 {
                    tracing::warn!(
                        client_id = ?log_field(&e.client_id),
                        username = ?log_field(&e.username),
                        reason = why.as_str(),
                        "session revoked: disconnected after the index changed"
                    );
                }
                tokio::time::sleep(pace).await;
                if index.load().generation() != seen {
                    // A newer index: start over against it.
                    seen = 0;
                    break;
                }
            }
            if revoked > 20 {
                tracing::warn!(
                    revoked,
                    "sessions revoked after the index changed ({} not logged one by one)",
                    revoked - 20
                );
            }
        }
    }
}

/// Whether `e` still stands under `index`.
fn judge(
    auth: &Authenticator,
    index: &mqid_core::Index,
    blacklist: &HashSet<&str>,
    e: &Entry,
) -> Option<Revocation> {
    if blacklist.contains(e.client_id.as_str()) {
        return Some(Revocation::Blacklisted);
    }
    let key = match e.admission.identity_type {
        IdentityType::Client => IdentityKey::Client {
            username: e.username.clone(),
            client_id: e.client_id.clone(),
        },
        IdentityType::User => IdentityKey::User {
            username: e.username.clone(),
        },
    };
    match index.get(&key) {
        None => Some(Revocation::IdentityGone),
        Some(identity) if auth.fingerprint(identity) != e.admission => Some(Revocation::Rekeyed),
        Some(_) => None,
    }
}
