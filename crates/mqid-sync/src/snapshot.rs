//! The last-good snapshot: the identities, blacklist and topic rules of the last complete pass,
//! on disk.
//!
//! A snapshot written before topic rules existed (no `permissions` field) still loads: its set
//! then carries no rules, which enforces no topic until the first complete pass brings them (see
//! [`crate::refresh::load_snapshot_for`]).
//!
//! Written atomically (temporary file in the same folder, fsync, rename, fsync of the folder)
//! with mode 0600, since it holds secrets in clear. Read strictly: a truncated or corrupt
//! snapshot is refused whole, never half-loaded.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mqid_core::{Identity, Index, Permission, RawIdentity, RawPermission};
use serde::{Deserialize, Serialize};

use crate::{Loaded, Origin};

const FORMAT: u32 = 1;

/// How far in the future a snapshot's `synced_at` may be and still be believed (a clock stepped
/// back a little since the snapshot was written). Beyond it the snapshot is suspect: taking it
/// as fresh would hide how old its set really is, so it is refused as corrupt.
pub const FUTURE_TOLERANCE: Duration = Duration::from_secs(60);

#[derive(Serialize)]
struct SnapshotOut<'a> {
    format: u32,
    /// Unix seconds at which the pass that produced this set completed (the snapshot is written
    /// right after it). Kept inside the file rather than read from its mtime, which a copy or a
    /// restore from backup would reset.
    synced_at: u64,
    identities: Vec<&'a Identity>,
    blacklist: Vec<&'a str>,
    /// Absent when the index carries no rules (not enforced).
    #[serde(skip_serializing_if = "Option::is_none")]
    permissions: Option<Vec<&'a Permission>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SnapshotIn {
    format: u32,
    /// Absent in a snapshot written before it existed: the file's mtime stands in.
    #[serde(default)]
    synced_at: Option<u64>,
    identities: Vec<RawIdentity>,
    blacklist: Vec<String>,
    /// Absent in a snapshot written before rules existed, or of a pass that did not read them.
    #[serde(default)]
    permissions: Option<Vec<RawPermission>>,
}

/// A snapshot that could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// The cause is in the message and not chained as a `source` (no double print).
    #[error("snapshot {path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("snapshot {path} is corrupt and was not loaded: {problem}")]
    Corrupt { path: PathBuf, problem: String },
}

/// The identities of `index` sorted by (username, client id, type), so that two writes of the
/// same set are byte-identical.
fn sorted_identities(index: &Index) -> Vec<&Identity> {
    let mut identities: Vec<&Identity> = index.identities().collect();
    identities.sort_by(|a, b| {
        (&a.username, &a.client_id, a.identity_type as u8).cmp(&(
            &b.username,
            &b.client_id,
            b.identity_type as u8,
        ))
    });
    identities
}

fn rule_key(p: &Permission) -> (&str, &str, &str, &str, &str) {
    (
        p.identity_type.as_str(),
        &p.identity,
        &p.topic,
        p.permit_action.as_str(),
        p.effect.as_str(),
    )
}

/// The rules of `index` in a stable order (identity type, identity, topic, action, effect), or
/// `None` when it carries none.
fn sorted_permissions(index: &Index) -> Option<Vec<&Permission>> {
    let mut rules: Vec<&Permission> = index.permissions()?.rules().collect();
    rules.sort_by(|a, b| rule_key(a).cmp(&rule_key(b)));
    Some(rules)
}

/// Writes the identities, blacklist and topic rules of `index` to `path` atomically, mode 0600, stamped with
/// the current time as the time of the pass it holds: call it right after a complete pass.
pub fn write(path: &Path, index: &Index) -> Result<(), SnapshotError> {
    let mut blacklist: Vec<&str> = index.blacklist().collect();
    blacklist.sort_unstable();
    let synced_at = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let body = serde_json::to_vec(&SnapshotOut {
        format: FORMAT,
        synced_at,
        identities: sorted_identities(index),
        blacklist,
        permissions: sorted_permissions(index),
    })
    .expect("identities serialise");
    write_private_atomically(path, &body).map_err(|error| SnapshotError::Io {
        path: path.to_owned(),
        error,
    })
}

/// Writes the identities of `index` in the file source's format (a JSON array of records, one
/// per line) to `path` atomically, mode 0600. The blacklist is not part of that format.
pub fn write_identities_file(path: &Path, index: &Index) -> Result<(), SnapshotError> {
    write_array_file(path, &sorted_identities(index))
}

/// Writes the topic rules of `index` in the file source's format (a JSON array of permission
/// records with the API's field names, one per line) to `path` atomically, mode 0600. Returns
/// how many were written; `None` (and nothing written) when the index carries no rules.
pub fn write_permissions_file(path: &Path, index: &Index) -> Result<Option<usize>, SnapshotError> {
    let Some(rules) = sorted_permissions(index) else {
        return Ok(None);
    };
    write_array_file(path, &rules)?;
    Ok(Some(rules.len()))
}

/// Writes `items` as a JSON array, one per line, to `path` atomically, mode 0600.
fn write_array_file<T: serde::Serialize>(path: &Path, items: &[T]) -> Result<(), SnapshotError> {
    let mut body = b"[\n".to_vec();
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            body.extend_from_slice(b",\n");
        }
        serde_json::to_writer(&mut body, item).expect("records serialise");
    }
    body.extend_from_slice(b"\n]\n");
    write_private_atomically(path, &body).map_err(|error| SnapshotError::Io {
        path: path.to_owned(),
        error,
    })
}

/// Held while a file is written by [`write_private_atomically`].
static WRITING: Mutex<()> = Mutex::new(());

/// Waits until no snapshot or identities file is being written, and keeps any new write from
/// starting while the returned guard lives: a process about to exit holds it, so that no write is
/// cut short (and no temporary file is left behind).
pub fn hold_writes() -> MutexGuard<'static, ()> {
    WRITING.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Writes `body` to `path` through a temporary file in the same folder: created 0600, fsynced,
/// renamed over `path`, and the folder fsynced. A crash leaves the old file or the new one; a
/// clean exit waits for the write to end (see [`hold_writes`]).
pub fn write_private_atomically(path: &Path, body: &[u8]) -> std::io::Result<()> {
    let _writing = hold_writes();
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&dir)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".mqid-snapshot-")
        .permissions(private())
        .tempfile_in(&dir)?;
    tmp.write_all(body)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    if let Ok(d) = fs::File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(unix)]
fn private() -> fs::Permissions {
    use std::os::unix::fs::PermissionsExt;
    fs::Permissions::from_mode(0o600)
}

#[cfg(not(unix))]
fn private() -> fs::Permissions {
    fs::metadata(".").map(|m| m.permissions()).unwrap()
}

/// Reads a snapshot. `Ok(None)` when there is none; an error when it exists but is unreadable,
/// truncated, corrupt or holds an invalid record (then nothing of it is used).
pub fn read(path: &Path) -> Result<Option<Loaded>, SnapshotError> {
    let mtime = fs::metadata(path).and_then(|m| m.modified()).ok();
    let body = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => {
            return Err(SnapshotError::Io {
                path: path.to_owned(),
                error,
            })
        }
    };
    parse(&body, Origin::Snapshot(path.to_owned()), mtime)
        .map(Some)
        .map_err(|problem| SnapshotError::Corrupt {
            path: path.to_owned(),
            problem,
        })
}

/// Serialises `index` in the snapshot format, stamped `synced_at` (what a leader serves).
pub fn to_bytes(index: &Index, synced_at: SystemTime) -> Vec<u8> {
    let mut blacklist: Vec<&str> = index.blacklist().collect();
    blacklist.sort_unstable();
    serde_json::to_vec(&SnapshotOut {
        format: FORMAT,
        synced_at: synced_at
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        identities: sorted_identities(index),
        blacklist,
        permissions: sorted_permissions(index),
    })
    .expect("identities serialise")
}

/// Reads a snapshot body strictly: the complete set, or what is wrong (nothing of it is used).
/// `mtime` stands in for a missing `synced_at`.
pub fn parse(body: &[u8], origin: Origin, mtime: Option<SystemTime>) -> Result<Loaded, String> {
    let corrupt = |problem: String| problem;
    let snap: SnapshotIn = serde_json::from_slice(body).map_err(|e| corrupt(e.to_string()))?;
    if snap.format != FORMAT {
        return Err(corrupt(format!("format {} is not {FORMAT}", snap.format)));
    }
    let (identities, bad) = mqid_core::parse_identities(snap.identities, 0);
    if let Some(first) = bad.first() {
        return Err(corrupt(first.to_string()));
    }
    let permissions = match snap.permissions {
        None => None,
        Some(raws) => {
            let (rules, bad) = mqid_core::parse_permissions(raws, 0);
            if let Some(first) = bad.first() {
                return Err(corrupt(first.to_string()));
            }
            Some(rules)
        }
    };
    let synced_at = match snap.synced_at {
        Some(secs) => Some(
            UNIX_EPOCH
                .checked_add(Duration::from_secs(secs))
                .ok_or_else(|| corrupt(format!("synced_at {secs} is not a time")))?,
        ),
        None => mtime,
    };
    if let Some(at) = synced_at {
        let now = SystemTime::now();
        if at
            .duration_since(now)
            .is_ok_and(|ahead| ahead > FUTURE_TOLERANCE)
        {
            let secs = at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
            return Err(corrupt(format!(
                "its time of sync ({}, {secs}) is in the future: a wrong clock, or a bad \
                 file; its age cannot be known",
                if snap.synced_at.is_some() {
                    "synced_at"
                } else {
                    "the file's modification time"
                }
            )));
        }
    }
    Ok(Loaded {
        identities,
        blacklist: snap.blacklist,
        permissions,
        skipped: Vec::new(),
        skipped_permissions: Vec::new(),
        origin,
        synced_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index() -> Index {
        let ids = mqid_core::parse_identity_list(
            br#"[{"Username":"u","Secret":"s3cr3t","IdentityType":"USER","SignMode":"ORIGIN"},
                 {"Username":"u","Secret":"k","IdentityType":"CLIENT","ClientId":"c","SignMode":"SIGNED"}]"#,
        )
        .unwrap();
        Index::build(ids, ["bad-client".to_string()]).0
    }

    #[test]
    fn round_trip_is_private_and_complete() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/snap.json");
        // synced_at is whole seconds: take the lower bound before writing
        let before = SystemTime::now() - Duration::from_secs(1);
        write(&path, &index()).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        let loaded = read(&path).unwrap().unwrap();
        assert_eq!(loaded.identities.len(), 2);
        let synced_at = loaded.synced_at.unwrap();
        assert!(synced_at >= before && synced_at <= SystemTime::now());
        assert_eq!(loaded.blacklist, vec!["bad-client".to_string()]);
        // no temporary files left behind
        let names: Vec<_> = fs::read_dir(path.parent().unwrap()).unwrap().collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn truncated_or_corrupt_snapshot_is_refused_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("snap.json");
        write(&path, &index()).unwrap();
        let body = fs::read(&path).unwrap();
        fs::write(&path, &body[..body.len() / 2]).unwrap();
        let err = read(&path).unwrap_err().to_string();
        assert!(err.contains("corrupt"), "{err}");
        assert!(!err.contains("s3cr3t"), "{err}");
        fs::write(
            &path,
            br#"{"format":1,"identities":[{"Username":"u","Secret":"x","IdentityType":"BOSS","SignMode":"ORIGIN"}],"blacklist":[]}"#,
        )
        .unwrap();
        let err = read(&path).unwrap_err().to_string();
        assert!(err.contains("BOSS"), "{err}");
        assert!(read(&dir.path().join("missing.json")).unwrap().is_none());
    }

    #[test]
    fn the_time_of_the_pass_is_read_from_the_snapshot_or_else_its_mtime() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("snap.json");
        // a restored copy: new mtime, old pass
        fs::write(
            &path,
            br#"{"format":1,"synced_at":1700000000,"identities":[],"blacklist":[]}"#,
        )
        .unwrap();
        let loaded = read(&path).unwrap().unwrap();
        assert_eq!(
            loaded.synced_at,
            Some(UNIX_EPOCH + Duration::from_secs(1_700_000_000))
        );
        fs::write(&path, br#"{"format":1,"identities":[],"blacklist":[]}"#).unwrap();
        let loaded = read(&path).unwrap().unwrap();
        assert_eq!(
            loaded.synced_at,
            Some(fs::metadata(&path).unwrap().modified().unwrap())
        );
    }

    fn index_with_rules() -> Index {
        let rules = mqid_core::parse_permission_list(
            br#"[{"Identity":"u","IdentityType":"USER","Topic":"t/+/x","PermitAction":"PUB_SUB","Effect":"ALLOW"},
                 {"Identity":"c","IdentityType":"CLIENT","Topic":"t/secret","PermitAction":"SUB","Effect":"DENY"}]"#,
        )
        .unwrap();
        index().with_permissions(Some(mqid_core::Permissions::build(rules)))
    }

    #[test]
    fn round_trip_keeps_the_rules() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("snap.json");
        write(&path, &index_with_rules()).unwrap();
        let loaded = read(&path).unwrap().unwrap();
        let mut rules: Vec<String> = loaded
            .permissions
            .expect("the rules are in the snapshot")
            .iter()
            .map(|p| p.to_string())
            .collect();
        rules.sort();
        assert_eq!(
            rules,
            [
                r#"ALLOW PUB_SUB on "t/+/x" for USER "u""#,
                r#"DENY SUB on "t/secret" for CLIENT "c""#
            ]
        );
        // Two writes of one set are byte-identical.
        let first = fs::read(&path).unwrap();
        write(&path, &index_with_rules()).unwrap();
        let second = fs::read(&path).unwrap();
        let strip = |b: &[u8]| {
            let v: serde_json::Value = serde_json::from_slice(b).unwrap();
            v["permissions"].to_string()
        };
        assert_eq!(strip(&first), strip(&second));

        // An index without rules writes none, and reads back as not enforced.
        write(&path, &index()).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        assert!(v.get("permissions").is_none(), "{v}");
        assert!(read(&path).unwrap().unwrap().permissions.is_none());
    }

    #[test]
    fn a_snapshot_of_the_previous_format_still_loads_without_rules() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("snap.json");
        // As the version before topic rules wrote it.
        fs::write(
            &path,
            br#"{"format":1,"synced_at":1700000000,"identities":[{"Username":"u","Secret":"s3cr3t","IdentityType":"USER","SignMode":"ORIGIN"}],"blacklist":["x"]}"#,
        )
        .unwrap();
        let loaded = read(&path).unwrap().unwrap();
        assert_eq!(loaded.identities.len(), 1);
        assert_eq!(loaded.blacklist, ["x"]);
        assert!(loaded.permissions.is_none());
    }

    #[test]
    fn an_invalid_rule_refuses_the_snapshot_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("snap.json");
        fs::write(
            &path,
            br#"{"format":1,"identities":[{"Username":"u","Secret":"s3cr3t","IdentityType":"USER","SignMode":"ORIGIN"}],"blacklist":[],
                "permissions":[{"Identity":"u","IdentityType":"GROUP","Topic":"a","PermitAction":"PUB","Effect":"ALLOW"}]}"#,
        )
        .unwrap();
        let err = read(&path).unwrap_err().to_string();
        assert!(err.contains("corrupt") && err.contains("GROUP"), "{err}");
        assert!(!err.contains("s3cr3t"), "{err}");
        fs::write(
            &path,
            br#"{"format":1,"identities":[],"blacklist":[],"permissions":{"Identity":"u"}}"#,
        )
        .unwrap();
        assert!(read(&path).unwrap_err().to_string().contains("corrupt"));
    }

    #[test]
    fn permissions_file_is_the_api_format_and_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rules.json");
        assert_eq!(write_permissions_file(&path, &index()).unwrap(), None);
        assert!(!path.exists());
        assert_eq!(
            write_permissions_file(&path, &index_with_rules()).unwrap(),
            Some(2)
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        let body = fs::read(&path).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            v[1],
            serde_json::json!({"Identity":"u","IdentityType":"USER","Topic":"t/+/x",
                "PermitAction":"PUB_SUB","Effect":"ALLOW"})
        );
        assert_eq!(mqid_core::parse_permission_list(&body).unwrap().len(), 2);
    }

    /// Issue 12, item 8: no `synced_at` makes reading panic; one beyond what a `SystemTime`
    /// holds, or in the future, is refused as corrupt.
    #[test]
    fn synced_at_out_of_range_or_in_the_future_is_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("snap.json");
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        for (synced_at, problem) in [
            (u64::MAX.to_string(), "synced_at"),
            ((i64::MAX as u64 + 1).to_string(), "synced_at"),
            ((now + 86_400).to_string(), "in the future"),
            ((now + 3600 * 24 * 365 * 100).to_string(), "in the future"),
        ] {
            fs::write(
                &path,
                format!(r#"{{"format":1,"synced_at":{synced_at},"identities":[],"blacklist":[]}}"#),
            )
            .unwrap();
            let err = read(&path).unwrap_err().to_string();
            assert!(
                err.contains("corrupt") && err.contains(problem),
                "{synced_at}: {err}"
            );
        }
        // a little ahead (a clock stepped back) is believed; not a number is corrupt
        for (synced_at, ok) in [
            ((now + 5).to_string(), true),
            ("0".to_string(), true),
            ("-1".to_string(), false),
            ("1e30".to_string(), false),
            ("18446744073709551616".to_string(), false),
        ] {
            fs::write(
                &path,
                format!(r#"{{"format":1,"synced_at":{synced_at},"identities":[],"blacklist":[]}}"#),
            )
            .unwrap();
            assert_eq!(read(&path).is_ok(), ok, "{synced_at}");
        }
    }
}
