//! The OpenAPI refresher: pass → apply → snapshot → wait (jittered) → pass …
//!
//! Passes run one after another on one task, so two never overlap. A pass that fails applies
//! nothing: the index in force (from the last good pass, or from the snapshot) stays, and the
//! next pass starts again from the first page.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mqid_core::SharedIndex;
use rand::Rng;

use crate::backoff::Backoff;

use crate::guard::Guard;
use crate::health::SyncHealth;
use crate::openapi::{Client, PassError, PassStats};
use crate::{apply, snapshot, Loaded};

/// Keeps `shared` in step with the API.
pub struct Refresher {
    pub client: Client,
    pub shared: Arc<SharedIndex>,
    /// Where the last-good snapshot is written after every complete pass.
    pub snapshot: Option<PathBuf>,
    /// Time between the starts of two passes; each wait is jittered by ±10%.
    pub every: Duration,
    /// Told of every pass (the time of the last good one, errors by code, durations).
    pub health: Arc<SyncHealth>,
    /// Checks a pass's set before it replaces the index (empty, too much removed).
    pub guard: Guard,
}

/// Loads the snapshot at `path` if there is a usable one. A corrupt snapshot is reported and
/// ignored, never half-loaded.
pub fn load_snapshot(path: &std::path::Path) -> Option<Loaded> {
    match snapshot::read(path) {
        Ok(found) => found,
        Err(e) => {
            tracing::error!("{e}; starting without it");
            None
        }
    }
}

/// [`load_snapshot`] as the `[auth.openapi]` settings want it: with `permissions = false` the
/// snapshot's rules are dropped (nothing is enforced); with `permissions = true` and a snapshot
/// written before rules existed, the set carries no rules, so no topic is enforced until the first
/// complete pass brings them, and a warning says so. (Refusing every topic instead would turn an
/// upgrade into an outage whenever the API is out of reach, and the version that wrote that
/// snapshot enforced no topic either.)
pub fn load_snapshot_for(api: &crate::OpenApiConfig) -> Option<Loaded> {
    let mut loaded = load_snapshot(api.snapshot.as_deref()?)?;
    if !api.permissions {
        loaded.permissions = None;
    } else if loaded.permissions.is_none() {
        tracing::warn!(
            origin = %loaded.origin,
            "the snapshot holds no topic rules (written before mqid read them): topic \
             permissions are not enforced until the first complete pass"
        );
    }
    Some(loaded)
}

impl Refresher {
    /// Runs one pass; on success applies it (off the async workers) and writes the snapshot.
    /// Either way, tells [`SyncHealth`].
    pub async fn pass_once(&self) -> Result<PassStats, PassError> {
        let started = Instant::now();
        let (loaded, stats) = match self.client.pass().await {
            Ok(done) => done,
            Err(e) => {
                self.health.pass_failed(&e, started.elapsed());
                return Err(e);
            }
        };
        let checked = self.guard.check_set(&self.shared.load_full(), &loaded);
        if let Err(refused) = checked {
            let e = PassError::Refused(refused);
            self.health.pass_failed(&e, started.elapsed());
            return Err(e);
        }
        let shared = self.shared.clone();
        let snapshot = self.snapshot.clone();
        tokio::task::spawn_blocking(move || {
            apply(&shared, loaded);
            if let Some(path) = snapshot {
                let index = shared.load_full();
                if let Err(e) = snapshot::write(&path, &index) {
                    tracing::error!("the index was updated but the snapshot was not written: {e}");
                }
            }
        })
        .await
        .expect("applying a pass panicked");
        self.health.pass_succeeded(&stats);
        Ok(stats)
    }

    /// The first pass at start-up, when there is no snapshot to serve from: retried with
    /// backoff (up to a minute between tries) until it succeeds; an error that needs the
    /// operator (credentials, instance, parameters, clock) is returned at once.
    pub async fn first_pass(&self) -> Result<PassStats, PassError> {
        let backoff = Backoff {
            base: Duration::from_secs(1),
            cap: Duration::from_secs(60),
            max_hint: Duration::ZERO,
        };
        let mut retry = 0u32;
        loop {
            match self.pass_once().await {
                Ok(stats) => return Ok(stats),
                Err(e) if e.needs_operator() => return Err(e),
                Err(e) => {
                    retry = retry.saturating_add(1);
                    let wait = backoff.ceiling(retry);
                    tracing::warn!("first pass failed, retrying in {wait:?}: {e}");
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    /// Refreshes forever: the first pass after `first_after`, then one every `every` (jittered).
    pub async fn run(self, first_after: Duration) {
        let mut wait = first_after;
        loop {
            tokio::time::sleep(wait).await;
            let started = Instant::now();
            match self.pass_once().await {
                Ok(stats) => tracing::info!(%stats, "refresh pass complete"),
                Err(e) if e.needs_operator() => tracing::error!(
                    "refresh pass failed and will keep failing until this is fixed; the index in force is unchanged: {e}"
                ),
                Err(e) => tracing::warn!(
                    "refresh pass failed; the index in force is unchanged, the next pass starts from the first page: {e}"
                ),
            }
            wait = jittered(self.every).saturating_sub(started.elapsed());
        }
    }
}

/// `every` ± 10%, so that many brokers started together do not page the API in step.
fn jittered(every: Duration) -> Duration {
    every.mul_f64(rand::thread_rng().gen_range(0.9..=1.1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(snapshot: &std::path::Path, permissions: bool) -> crate::OpenApiConfig {
        let mut c: crate::OpenApiConfig = serde_json::from_value(serde_json::json!({
            "region_id": "r", "instance_id": "i", "permissions": permissions,
        }))
        .unwrap();
        c.snapshot = Some(snapshot.to_owned());
        c
    }

    #[test]
    fn snapshot_rules_follow_the_permissions_setting() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("snap.json");
        std::fs::write(
            &path,
            br#"{"format":1,"identities":[],"blacklist":[],
                "permissions":[{"Identity":"u","IdentityType":"USER","Topic":"a","PermitAction":"PUB","Effect":"ALLOW"}]}"#,
        )
        .unwrap();
        assert_eq!(
            load_snapshot_for(&api(&path, true))
                .unwrap()
                .permissions
                .map(|p| p.len()),
            Some(1)
        );
        assert!(load_snapshot_for(&api(&path, false))
            .unwrap()
            .permissions
            .is_none());
        // The previous format: no rules, not enforced until the first pass.
        std::fs::write(&path, br#"{"format":1,"identities":[],"blacklist":[]}"#).unwrap();
        assert!(load_snapshot_for(&api(&path, true))
            .unwrap()
            .permissions
            .is_none());
        assert!(load_snapshot_for(&api(&dir.path().join("none.json"), true)).is_none());
    }
}
