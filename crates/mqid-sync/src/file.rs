//! The file source: a JSON array of identity records and, optionally, a JSON array of topic
//! permission records ([`Files`]), reloaded when either changes on disk.
//!
//! The files are read strictly: one invalid record refuses the whole file, and the index in force
//! stays. (A file is under the operator's hand; half-applying it would hide the mistake.) The two
//! files are one set: a change to either reloads both, and the index and its rules are replaced
//! together or not at all.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use mqid_core::{Index, SharedIndex};

use crate::guard::{Guard, Refused};
use crate::{apply, FileSource, Loaded, Origin};

/// The files of the file source: the identities and, when configured, the topic rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Files {
    pub identities: PathBuf,
    /// `[auth] permissions`; `None`: no topic rules, nothing enforced.
    pub permissions: Option<PathBuf>,
}

impl Files {
    /// The files of `[auth]` with `source = "file"`. Without a rules file, says once (INFO)
    /// that topic permissions are not enforced: call it once, at start-up.
    pub fn from_config(source: &FileSource) -> Files {
        if source.files.permissions.is_none() {
            tracing::info!(
                "no [auth] permissions file: topic permissions are not enforced (any admitted \
                 client may publish and subscribe to any topic)"
            );
        }
        source.files.clone()
    }

    /// Only an identities file: no topic rules.
    pub fn identities_only(path: impl Into<PathBuf>) -> Files {
        Files {
            identities: path.into(),
            permissions: None,
        }
    }

    /// Reads and validates both files: the complete set, or an error naming the file and the
    /// record.
    pub fn load(&self) -> Result<Loaded, FileError> {
        let mut loaded = load(&self.identities)?;
        if let Some(path) = &self.permissions {
            let body = std::fs::read(path).map_err(|error| FileError::PermissionsIo {
                path: path.to_owned(),
                error,
            })?;
            let rules = mqid_core::parse_permission_list(&body).map_err(|error| {
                FileError::PermissionsInvalid {
                    path: path.to_owned(),
                    error,
                }
            })?;
            loaded.permissions = Some(rules);
        }
        Ok(loaded)
    }

    /// [`load`](Self::load), then checks the identities and the rules with `guard` against the
    /// index in force `in_force` (at start-up, the empty index).
    pub fn load_guarded(&self, guard: &Guard, in_force: &Index) -> Result<Loaded, FileError> {
        let loaded = self.load()?;
        guard
            .check(in_force, &loaded.identities)
            .map_err(|error| FileError::Refused {
                path: self.identities.clone(),
                error,
            })?;
        if let Some(path) = &self.permissions {
            guard
                .check_rules(in_force, loaded.permissions.as_deref())
                .map_err(|error| FileError::PermissionsRefused {
                    path: path.clone(),
                    error,
                })?;
        }
        Ok(loaded)
    }
}

/// An identities or permissions file that could not be used. The message already holds the
/// cause, so the cause is not also chained as a `source` (which would print it twice under
/// `{:#}`).
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("identities file {path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("identities file {path}: {error}")]
    Invalid {
        path: PathBuf,
        error: mqid_core::ListError,
    },
    #[error("permissions file {path}: {error}")]
    PermissionsIo {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("permissions file {path}: {error}")]
    PermissionsInvalid {
        path: PathBuf,
        error: mqid_core::PermissionListError,
    },
    /// Valid, but refused by the [`Guard`] (empty, or removes too much).
    #[error("identities file {path}: {error}")]
    Refused { path: PathBuf, error: Refused },
    /// Valid, but refused by the [`Guard`]: no rule where rules are in force.
    #[error("permissions file {path}: {error}")]
    PermissionsRefused { path: PathBuf, error: Refused },
}

/// Reads and validates the identities file at `path` alone (no topic rules: see [`Files`]).
pub fn load(path: &Path) -> Result<Loaded, FileError> {
    let body = std::fs::read(path).map_err(|error| FileError::Io {
        path: path.to_owned(),
        error,
    })?;
    let identities = mqid_core::parse_identity_list(&body).map_err(|error| FileError::Invalid {
        path: path.to_owned(),
        error,
    })?;
    Ok(Loaded {
        identities,
        blacklist: Vec::new(),
        permissions: None,
        skipped: Vec::new(),
        skipped_permissions: Vec::new(),
        origin: Origin::File(path.to_owned()),
        synced_at: None,
    })
}

/// What identifies one version of a file without reading it: size, inode and modification
/// time. The one change detector of mqid: the file source's [`Watcher`] and the emulator's
/// store both poll with it.
///
/// File systems keep modification times coarsely, so a quick same-size rewrite may not move the
/// stamp: while a file is younger than [`FileStamp::SETTLE`] (or its modification time is
/// unknown or in the future), its stamp proves nothing and the content must be compared
/// ([`content_hash`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileStamp {
    modified: Option<SystemTime>,
    len: u64,
    #[cfg(unix)]
    inode: u64,
}

impl FileStamp {
    /// How old a modification time must be to be trusted.
    pub const SETTLE: Duration = Duration::from_secs(3);

    /// The stamp of the file at `path` now.
    pub fn of(path: &Path) -> std::io::Result<FileStamp> {
        let m = std::fs::metadata(path)?;
        Ok(FileStamp {
            modified: m.modified().ok(),
            len: m.len(),
            #[cfg(unix)]
            inode: std::os::unix::fs::MetadataExt::ino(&m),
        })
    }

    /// Whether a file stamped `now` (`None`: missing or unreadable) is certainly the version
    /// last seen stamped `seen`, without reading it.
    pub fn same_version(seen: Option<&FileStamp>, now: Option<&FileStamp>) -> bool {
        seen == now && now.is_none_or(FileStamp::settled)
    }

    fn settled(&self) -> bool {
        match self.modified.map(|m| SystemTime::now().duration_since(m)) {
            Some(Ok(age)) => age >= Self::SETTLE,
            // modified in the future (clock skew) or unknown: keep comparing content
            Some(Err(_)) | None => false,
        }
    }
}

/// A hash of a file's content, to tell versions apart when the stamp cannot (not a security
/// property: the files are the operator's).
pub fn content_hash(body: &[u8]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    body.hash(&mut h);
    h.finish()
}

/// Watches the files and applies every valid new version of the set to `shared`. An invalid
/// version is logged once and changes nothing; the files are tried again when one changes next.
/// A file that cannot be read (permissions, a missing file, an I/O error) is logged once and read
/// again at every poll until it can be, since making it readable (`chmod`, a new owner) changes
/// none of what a poll compares. Runs until the task is dropped.
///
/// Polls every `interval` rather than relying on inotify, so that editors' rename-over saves,
/// network file systems and bind mounts all work the same. A poll compares each file's size,
/// inode and modification time; while the modification time is within the last few seconds
/// (file systems keep it with coarse granularity, so a quick same-size rewrite may not move it)
/// it also compares a hash of the content. A change to either file reloads both.
///
/// Create the watcher *before* the initial load: it remembers the files as they are now, so a
/// change that lands between the two is seen by the first poll rather than lost.
pub struct Watcher {
    files: Files,
    watched: Vec<Watched>,
    guard: Guard,
}

/// One watched file: what it looked like when last seen.
struct Watched {
    path: PathBuf,
    seen: Option<FileStamp>,
    seen_hash: Option<u64>,
}

impl Watched {
    fn new(path: PathBuf) -> Self {
        Watched {
            seen: FileStamp::of(&path).ok(),
            seen_hash: read_hash(&path),
            path,
        }
    }

    /// Whether the content changed since the last call (or since [`Watched::new`]).
    fn changed(&mut self) -> bool {
        let now = FileStamp::of(&self.path).ok();
        if FileStamp::same_version(self.seen.as_ref(), now.as_ref()) {
            return false;
        }
        let hash = read_hash(&self.path);
        self.seen = now;
        if hash == self.seen_hash {
            return false;
        }
        self.seen_hash = hash;
        true
    }
}

impl Watcher {
    /// Remembers the identities file at `path` as it is now (no topic rules).
    pub fn new(path: PathBuf) -> Self {
        Self::for_files(Files::identities_only(path))
    }

    /// Remembers the identities file and the rules file, if any, as they are now.
    pub fn for_files(files: Files) -> Self {
        let watched = std::iter::once(&files.identities)
            .chain(files.permissions.as_ref())
            .map(|p| Watched::new(p.clone()))
            .collect();
        Watcher {
            files,
            watched,
            guard: Guard::default(),
        }
    }

    /// Checks every new version with `guard` before it replaces the index.
    pub fn with_guard(mut self, guard: Guard) -> Self {
        self.guard = guard;
        self
    }

    /// Polls until the task is dropped.
    pub async fn run(self, shared: Arc<SharedIndex>, interval: Duration) {
        watch(self, shared, interval).await
    }
}

async fn watch(w: Watcher, shared: Arc<SharedIndex>, interval: Duration) {
    let Watcher {
        files,
        mut watched,
        guard,
    } = w;
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The read error logged last, while the file cannot be read.
    let mut unreadable: Option<String> = None;
    loop {
        ticker.tick().await;
        // Every file is polled, so that each remembers its current version.
        let changed = watched.iter_mut().fold(false, |any, w| w.changed() | any);
        if !changed && unreadable.is_none() {
            continue;
        }
        let files = files.clone();
        let shared = shared.clone();
        // Reading, parsing and building an index is CPU work: keep it off the runtime's workers.
        let outcome = tokio::task::spawn_blocking(move || {
            // the index in force is released before `apply`, which waits for its last reader
            let loaded = files.load_guarded(&guard, &shared.load_full())?;
            Ok::<_, FileError>(apply(&shared, loaded))
        })
        .await
        .expect("file reload task panicked");
        match outcome {
            Ok(_) => unreadable = None,
            Err(e @ (FileError::Io { .. } | FileError::PermissionsIo { .. })) => {
                let e = e.to_string();
                if unreadable.as_ref() != Some(&e) {
                    tracing::error!(
                        "reload refused, the index in force is unchanged (read again at every \
                         poll until it can be read): {e}"
                    );
                }
                unreadable = Some(e);
            }
            Err(e) => {
                unreadable = None;
                tracing::error!("reload refused, the index in force is unchanged: {e}");
            }
        }
    }
}

fn read_hash(path: &Path) -> Option<u64> {
    std::fs::read(path).ok().map(|body| content_hash(&body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use mqid_core::{Connect, Index};

    const ONE: &str =
        r#"[{"Username":"a","Secret":"pw-a","IdentityType":"USER","SignMode":"ORIGIN"}]"#;
    const TWO: &str =
        r#"[{"Username":"b","Secret":"pw-b","IdentityType":"USER","SignMode":"ORIGIN"}]"#;

    fn admits(shared: &SharedIndex, user: &str, pw: &str) -> bool {
        mqid_core::decide(
            &shared.load(),
            &Connect {
                client_id: "c",
                username: user,
                password: pw.as_bytes(),
            },
        )
        .is_admit()
    }

    #[test]
    fn load_names_the_file_and_the_record() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ids.json");
        std::fs::write(
            &path,
            r#"[{"Username":"a","Secret":"pw","IdentityType":"USER","SignMode":"MD5"}]"#,
        )
        .unwrap();
        let err = load(&path).unwrap_err().to_string();
        assert!(
            err.contains("ids.json") && err.contains("record #0") && err.contains("MD5"),
            "{err}"
        );
        let err = load(&dir.path().join("nope.json")).unwrap_err().to_string();
        assert!(err.contains("nope.json"), "{err}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn watch_applies_valid_versions_and_keeps_the_index_on_invalid_ones() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ids.json");
        std::fs::write(&path, ONE).unwrap();
        let shared = Arc::new(SharedIndex::new(Index::empty()));
        // each version replaces all of the last one: no share rule here (see the guard's tests)
        let watcher = Watcher::new(path.clone()).with_guard(Guard {
            allow_empty: false,
            max_removal_percent: 100,
        });
        apply(&shared, load(&path).unwrap());
        assert!(admits(&shared, "a", "pw-a"));
        let task = tokio::spawn(watcher.run(shared.clone(), Duration::from_millis(20)));

        std::fs::write(&path, TWO).unwrap();
        wait_until(|| admits(&shared, "b", "pw-b")).await;
        assert!(!admits(&shared, "a", "pw-a"));

        std::fs::write(&path, "[{\"Username\": ").unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(
            admits(&shared, "b", "pw-b"),
            "a broken file must not change the index"
        );

        std::fs::write(&path, ONE).unwrap();
        wait_until(|| admits(&shared, "a", "pw-a")).await;
        task.abort();
    }

    const RULES_A: &str = r#"[{"Identity":"a","IdentityType":"USER","Topic":"a/#","PermitAction":"PUB","Effect":"ALLOW"}]"#;
    const RULES_AB: &str = r#"[
        {"Identity":"a","IdentityType":"USER","Topic":"a/#","PermitAction":"PUB","Effect":"ALLOW"},
        {"Identity":"b","IdentityType":"USER","Topic":"b/+","PermitAction":"PUB_SUB","Effect":"ALLOW"}
    ]"#;

    /// Whether the index in force lets `user` (any client id) publish to `topic`.
    fn may_publish(shared: &SharedIndex, user: &str, topic: &str) -> bool {
        let index = shared.load();
        mqid_core::SessionRules::resolve(&index, user, "c", mqid_core::NoMatch::Deny)
            .may_publish(topic)
            .allowed
    }

    fn rules(shared: &SharedIndex) -> Option<usize> {
        shared.load().permissions().map(|p| p.len())
    }

    #[test]
    fn a_bad_permissions_file_refuses_the_set_and_names_file_and_record() {
        let dir = tempfile::tempdir().unwrap();
        let files = Files {
            identities: dir.path().join("ids.json"),
            permissions: Some(dir.path().join("perms.json")),
        };
        std::fs::write(&files.identities, ONE).unwrap();
        let err = files.load().unwrap_err().to_string();
        assert!(
            err.contains("permissions file") && err.contains("perms.json"),
            "{err}"
        );
        std::fs::write(
            files.permissions.as_ref().unwrap(),
            r#"[{"Identity":"a","IdentityType":"GROUP","Topic":"a/#","PermitAction":"PUB","Effect":"ALLOW"}]"#,
        )
        .unwrap();
        let err = files.load().unwrap_err().to_string();
        assert!(
            err.contains("perms.json") && err.contains("record #0") && err.contains("GROUP"),
            "{err}"
        );
        std::fs::write(files.permissions.as_ref().unwrap(), r#"{"Identity":"a"}"#).unwrap();
        let err = files.load().unwrap_err().to_string();
        assert!(
            err.contains("perms.json") && err.contains("JSON array"),
            "{err}"
        );
        // Without a rules file: identities only, nothing enforced.
        let loaded = Files::identities_only(&files.identities).load().unwrap();
        assert!(loaded.permissions.is_none());
        assert_eq!(loaded.identities.len(), 1);
    }

    #[test]
    fn the_rules_file_is_loaded_with_the_identities() {
        let dir = tempfile::tempdir().unwrap();
        let files = Files {
            identities: dir.path().join("ids.json"),
            permissions: Some(dir.path().join("perms.json")),
        };
        std::fs::write(&files.identities, ONE).unwrap();
        std::fs::write(files.permissions.as_ref().unwrap(), RULES_AB).unwrap();
        let loaded = files.load().unwrap();
        let list = loaded.permissions.as_ref().unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(list[1].topic, "b/+");
        assert_eq!(list[1].permit_action, mqid_core::PermitAction::PubSub);
        let shared = SharedIndex::new(Index::empty());
        apply(&shared, loaded);
        assert_eq!(rules(&shared), Some(2));
        assert!(may_publish(&shared, "a", "a/x/y"));
        assert!(!may_publish(&shared, "a", "b/x"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn watch_reloads_both_files_as_one_set_and_keeps_the_index_on_a_bad_rules_file() {
        let dir = tempfile::tempdir().unwrap();
        let files = Files {
            identities: dir.path().join("ids.json"),
            permissions: Some(dir.path().join("perms.json")),
        };
        let perms = files.permissions.clone().unwrap();
        std::fs::write(&files.identities, ONE).unwrap();
        std::fs::write(&perms, RULES_A).unwrap();
        let shared = Arc::new(SharedIndex::new(Index::empty()));
        // each version replaces all of the last one: no share rule here (see the guard's tests)
        let watcher = Watcher::for_files(files.clone()).with_guard(Guard {
            allow_empty: false,
            max_removal_percent: 100,
        });
        apply(&shared, files.load().unwrap());
        assert_eq!(rules(&shared), Some(1));
        assert!(!may_publish(&shared, "b", "b/1"));
        let task = tokio::spawn(watcher.run(shared.clone(), Duration::from_millis(20)));

        // A change to the rules file alone reloads the set.
        std::fs::write(&perms, RULES_AB).unwrap();
        wait_until(|| rules(&shared) == Some(2)).await;
        assert!(may_publish(&shared, "b", "b/1"));
        assert!(admits(&shared, "a", "pw-a"));

        // A broken rules file refuses the whole set: the identities changed alongside it are not
        // applied either, and the rules in force stay.
        std::fs::write(&perms, r#"[{"Identity":"a","IdentityType":"USER"}]"#).unwrap();
        std::fs::write(&files.identities, TWO).unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(
            admits(&shared, "a", "pw-a"),
            "a bad rules file changed the identities"
        );
        assert!(!admits(&shared, "b", "pw-b"));
        assert_eq!(rules(&shared), Some(2));
        assert!(may_publish(&shared, "b", "b/1"));

        // Fixed: both files apply together.
        std::fs::write(&perms, RULES_A).unwrap();
        wait_until(|| admits(&shared, "b", "pw-b")).await;
        assert_eq!(rules(&shared), Some(1));
        assert!(!admits(&shared, "a", "pw-a"));
        assert!(!may_publish(&shared, "b", "b/1"));

        // The rules file emptied (`[]`): refused by the guard, the rule in force stays.
        std::fs::write(&perms, "[]").unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(rules(&shared), Some(1));
        let err = files
            .load_guarded(&Guard::default(), &shared.load())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("perms.json")
                && err.contains("no topic rule")
                && err.contains("allow_empty"),
            "{err}"
        );

        // The rules file removed: unreadable, refused, nothing changes.
        std::fs::remove_file(&perms).unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(rules(&shared), Some(1));
        task.abort();
    }

    async fn wait_until(f: impl Fn() -> bool) {
        for _ in 0..250 {
            if f() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("condition not reached in 5 s");
    }
}
