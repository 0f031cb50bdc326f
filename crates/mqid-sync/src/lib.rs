//! Keeps mqid's identity index current from a source: a local JSON file or the ApsaraMQ OpenAPI.
//!
//! Every source produces a [`Loaded`] set (identities + connect blacklist + topic rules).
//! [`apply`] builds a complete [`Index`] from it, the rules with it, on the caller's thread and
//! publishes it with one atomic swap, so a CONNECT (and the PUBLISHes after it) sees the old set
//! or the new one, never a mixture. A source that fails produces no
//! `Loaded` at all: the index in force stays as it was.
#![forbid(unsafe_code)]

mod backoff;
pub mod config;
pub mod file;
pub mod follower;
pub mod guard;
pub mod health;
pub mod openapi;
pub mod refresh;
pub mod snapshot;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use mqid_core::{
    BuildReport, Identity, Index, IndexStats, InvalidPermission, InvalidRecord, Permission,
    Permissions, SharedIndex,
};

pub use config::{
    AuthConfig, AuthTable, DenyAction, FileSource, FollowerConfig, OnStale, OpenApiConfig,
    PermissionsConfig, SignatureVersion, SourceConfig,
};

/// Where a [`Loaded`] set came from, for the log line that says what is in force.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    File(PathBuf),
    Snapshot(PathBuf),
    Api {
        endpoint: String,
    },
    /// A leader mqid's `/snapshot`.
    Leader {
        url: String,
    },
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File(p) => write!(f, "file {}", p.display()),
            Origin::Snapshot(p) => write!(f, "snapshot {}", p.display()),
            Origin::Api { endpoint } => write!(f, "OpenAPI {endpoint}"),
            Origin::Leader { url } => write!(f, "leader {url}"),
        }
    }
}

/// A complete set of identities, blacklisted client ids and topic rules, read from one source.
#[derive(Debug)]
pub struct Loaded {
    pub identities: Vec<Identity>,
    pub blacklist: Vec<String>,
    /// The topic rules; `None` when the source carries none, and then no topic is enforced
    /// (the file source without a rules file, `[auth.openapi] permissions = false`, a snapshot
    /// written before rules existed). `Some(empty)` enforces: with no rule, `no_match` decides.
    pub permissions: Option<Vec<Permission>>,
    /// Records that failed validation and were left out (the API source skips them; the file
    /// source refuses the whole file instead, so this is empty there).
    pub skipped: Vec<InvalidRecord>,
    /// Permission records left out as invalid, likewise (API source only).
    pub skipped_permissions: Vec<InvalidPermission>,
    pub origin: Origin,
    /// When this set was last known to match the OpenAPI: the end of the pass that read it (for
    /// a snapshot, the pass that wrote it). `None` for the file source.
    pub synced_at: Option<SystemTime>,
}

/// Builds the index of `loaded`, with its topic rules, without publishing it; logs what the
/// build noticed (duplicates, skipped records).
pub fn build(loaded: Loaded) -> (Index, BuildReport) {
    let Loaded {
        identities,
        blacklist,
        permissions,
        skipped,
        skipped_permissions,
        origin,
        synced_at: _,
    } = loaded;
    let (index, report) = Index::build(identities, blacklist);
    for d in &report.duplicates {
        tracing::warn!(%origin, "{d}");
    }
    for s in &skipped {
        tracing::warn!(%origin, "skipped invalid {s}");
    }
    for s in &skipped_permissions {
        tracing::warn!(%origin, "skipped invalid {s}");
    }
    (
        index.with_permissions(permissions.map(Permissions::build)),
        report,
    )
}

/// `"N topic rules"`, or that topics are not enforced, for log lines.
pub fn describe_rules(index: &Index) -> String {
    match index.permissions() {
        Some(p) => format!("{} topic rule(s)", p.len()),
        None => "topic permissions not enforced".to_owned(),
    }
}

/// Builds an index from `loaded` (identities and topic rules together), logs what the build
/// noticed, publishes the index and frees the old one on this thread. Returns the new index's
/// counts.
pub fn apply(shared: &SharedIndex, loaded: Loaded) -> (IndexStats, BuildReport) {
    let origin = loaded.origin.clone();
    let (index, report) = build(loaded);
    let stats = index.stats();
    let rules = describe_rules(&index);
    let old = shared.replace(index);
    retire(old);
    tracing::info!(%origin, "index in force: {stats}; {rules}");
    (stats, report)
}

/// Frees a replaced index off the CONNECT path: waits (briefly, bounded) until no reader holds
/// it, so that the last reference, and the work of freeing millions of entries, is dropped here
/// and not on a listener thread.
pub fn retire(mut old: Arc<Index>) {
    for _ in 0..1000 {
        match Arc::try_unwrap(old) {
            Ok(index) => {
                drop(index);
                return;
            }
            Err(still_shared) => {
                old = still_shared;
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
    // A reader kept it for over a second (e.g. `load_full` by a slow caller): let that reader
    // free it.
    drop(old);
}
