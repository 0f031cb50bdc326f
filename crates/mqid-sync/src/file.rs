//! The file source: a JSON array of identity records, reloaded when it changes on disk.
//!
//! The file is read strictly: one invalid record refuses the whole file, and the index in force
//! stays. (A file is under the operator's hand; half-applying it would hide the mistake.)

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use mqid_core::{Index, SharedIndex};

use crate::guard::{Guard, Refused};
use crate::{apply, Loaded, Origin};

/// An identities file that could not be used. The message already holds the cause, so the
/// cause is not also chained as a `source` (which would print it twice under `{:#}`).
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
    /// Valid, but refused by the [`Guard`] (empty, or removes too much).
    #[error("identities file {path}: {error}")]
    Refused { path: PathBuf, error: Refused },
}

/// Reads and validates the identities file at `path`.
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
        skipped: Vec::new(),
        origin: Origin::File(path.to_owned()),
        synced_at: None,
    })
}

/// Reads and validates the identities file at `path`, and checks it with `guard` against the
/// index in force `in_force` (at start-up, the empty index).
pub fn load_guarded(path: &Path, guard: &Guard, in_force: &Index) -> Result<Loaded, FileError> {
    let loaded = load(path)?;
    guard
        .check(in_force, &loaded.identities)
        .map_err(|error| FileError::Refused {
            path: path.to_owned(),
            error,
        })?;
    Ok(loaded)
}

/// What identifies one version of the file without reading it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
    #[cfg(unix)]
    inode: u64,
}

fn stamp(path: &Path) -> Option<Stamp> {
    let m = std::fs::metadata(path).ok()?;
    Some(Stamp {
        modified: m.modified().ok(),
        len: m.len(),
        #[cfg(unix)]
        inode: std::os::unix::fs::MetadataExt::ino(&m),
    })
}

/// Watches the file and applies every valid new version to `shared`. An invalid version is
/// logged once and changes nothing; the file is tried again when it changes next. A file that
/// cannot be read (permissions, a missing file, an I/O error) is logged once and read again at
/// every poll until it can be, since making it readable (`chmod`, a new owner) changes none of
/// what a poll compares. Runs until the task is dropped.
///
/// Polls every `interval` rather than relying on inotify, so that editors' rename-over saves,
/// network file systems and bind mounts all work the same. A poll compares the file's size,
/// inode and modification time; while the modification time is within the last few seconds
/// (file systems keep it with coarse granularity, so a quick same-size rewrite may not move it)
/// it also compares a hash of the content.
///
/// Create the watcher *before* the initial [`load`]: it remembers the file as it is now, so a
/// change that lands between the two is seen by the first poll rather than lost.
pub struct Watcher {
    path: PathBuf,
    seen: Option<Stamp>,
    seen_hash: Option<u64>,
    guard: Guard,
}

impl Watcher {
    /// Remembers the file at `path` as it is now. New versions are checked by the default
    /// [`Guard`] (see [`with_guard`](Self::with_guard)).
    pub fn new(path: PathBuf) -> Self {
        Watcher {
            seen: stamp(&path),
            seen_hash: content_hash(&path),
            path,
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
        path,
        mut seen,
        mut seen_hash,
        guard,
    } = w;
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The read error logged last, while the file cannot be read.
    let mut unreadable: Option<String> = None;
    loop {
        ticker.tick().await;
        let now = stamp(&path);
        if now == seen && !recent(&now) && unreadable.is_none() {
            continue;
        }
        seen = now;
        let hash = match read_hash(&path) {
            Ok(h) => h,
            Err(error) => {
                let e = FileError::Io {
                    path: path.clone(),
                    error,
                }
                .to_string();
                if unreadable.as_ref() != Some(&e) {
                    tracing::error!(
                        "reload refused, the index in force is unchanged (read again at every \
                         poll until it can be read): {e}"
                    );
                }
                unreadable = Some(e);
                seen_hash = None;
                continue;
            }
        };
        if unreadable.take().is_none() && Some(hash) == seen_hash {
            continue;
        }
        seen_hash = Some(hash);
        let p = path.clone();
        let shared = shared.clone();
        // Reading, parsing and building an index is CPU work: keep it off the runtime's workers.
        let outcome = tokio::task::spawn_blocking(move || {
            // the index in force is released before `apply`, which waits for its last reader
            let loaded = load_guarded(&p, &guard, &shared.load_full())?;
            Ok(apply(&shared, loaded))
        })
        .await
        .expect("file reload task panicked");
        match outcome {
            Ok(_) => {}
            Err(e @ FileError::Io { .. }) => {
                // unreadable between the hash and the load: read again at the next poll
                tracing::error!("reload refused, the index in force is unchanged: {e}");
                unreadable = Some(e.to_string());
                seen_hash = None;
            }
            Err(e) => tracing::error!("reload refused, the index in force is unchanged: {e}"),
        }
    }
}

fn recent(stamp: &Option<Stamp>) -> bool {
    let Some(modified) = stamp.as_ref().and_then(|s| s.modified) else {
        return false;
    };
    match SystemTime::now().duration_since(modified) {
        Ok(age) => age < Duration::from_secs(3),
        Err(_) => true, // modified in the future: clock skew, keep checking
    }
}

fn content_hash(path: &Path) -> Option<u64> {
    read_hash(path).ok()
}

fn read_hash(path: &Path) -> std::io::Result<u64> {
    use std::hash::{Hash, Hasher};
    let body = std::fs::read(path)?;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    body.hash(&mut h);
    Ok(h.finish())
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
        shared
            .load()
            .decide(&Connect {
                client_id: "c",
                username: user,
                password: pw.as_bytes(),
            })
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
