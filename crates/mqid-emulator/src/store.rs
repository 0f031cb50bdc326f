//! The records the emulator serves: the current content of a JSON file, re-read when it changes.
//!
//! Records are served **as they are in the file**, not validated as identities: the emulator plays
//! the API, and a test may want it to return a record that mqid must skip. The file must be a JSON
//! array; each element of the identities file must be an object, each element of the blacklist
//! file an object (`{"ClientId","PermitAction","Effect"}`) or a plain string (a client id, served
//! as `{"ClientId":<id>,"PermitAction":"CONNECT","Effect":"DENY"}`), each element of the
//! permissions file an object (`{"Identity","IdentityType","Topic","PermitAction","Effect"}`).
//! Anything else makes the whole file unusable, which the API answers with `InternalError` until
//! the file is fixed.
//!
//! Records are kept sorted by their key: `(Username, IdentityType, ClientId)` for identities,
//! `ClientId` for the blacklist, `(Identity, IdentityType, Topic)` for permissions, then by
//! position in the file (so duplicates keep their order).
//! Paging walks this order, and a page token names the last key served (see `token.rs`).

use std::cmp::Ordering;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use mqid_sync::file::{content_hash, FileStamp};
use serde_json::{Map, Value};

/// Which list a file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Identities,
    Blacklist,
    Permissions,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Identities => "identities",
            Kind::Blacklist => "blacklist",
            Kind::Permissions => "permissions",
        }
    }
}

/// Where a record stands in the serving order.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Key {
    pub fields: [String; 3],
    pub position: u32,
}

#[derive(Debug)]
pub(crate) struct Record {
    pub key: Key,
    pub value: Map<String, Value>,
}

impl Record {
    /// The record's string field `name`, if it has one.
    pub fn str_field(&self, name: &str) -> Option<&str> {
        self.value.get(name).and_then(Value::as_str)
    }
}

/// One parsed version of a file, sorted by key.
#[derive(Debug, Default)]
pub(crate) struct Records {
    pub items: Vec<Record>,
}

impl Records {
    /// Index of the first record after `key`.
    pub fn after(&self, key: &Key) -> usize {
        self.items
            .partition_point(|r| r.key.cmp(key) != Ordering::Greater)
    }
}

/// Why a file cannot be served.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LoadError {
    #[error("{kind} file {path}: {source}")]
    Io {
        kind: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{kind} file {path}: {problem}")]
    Invalid {
        kind: &'static str,
        path: PathBuf,
        problem: String,
    },
}

/// Parses the content of a file of `kind`.
pub(crate) fn parse(kind: Kind, body: &[u8]) -> Result<Records, String> {
    let list: Vec<Value> =
        serde_json::from_slice(body).map_err(|e| format!("not a JSON array: {e}"))?;
    let mut items = Vec::with_capacity(list.len());
    for (i, v) in list.into_iter().enumerate() {
        let position = u32::try_from(i).map_err(|_| "more than 4294967295 records".to_owned())?;
        let value = match (kind, v) {
            (_, Value::Object(m)) => m,
            (Kind::Blacklist, Value::String(client_id)) => {
                let mut m = Map::new();
                m.insert("ClientId".into(), Value::String(client_id));
                m.insert("PermitAction".into(), Value::String("CONNECT".into()));
                m.insert("Effect".into(), Value::String("DENY".into()));
                m
            }
            (Kind::Identities | Kind::Permissions, _) => {
                return Err(format!("record #{i} is not a JSON object"))
            }
            (Kind::Blacklist, _) => {
                return Err(format!("record #{i} is neither a JSON object nor a string"))
            }
        };
        let s = |name: &str| {
            value
                .get(name)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned()
        };
        let fields = match kind {
            Kind::Identities => [s("Username"), s("IdentityType"), s("ClientId")],
            Kind::Blacklist => [s("ClientId"), String::new(), String::new()],
            Kind::Permissions => [s("Identity"), s("IdentityType"), s("Topic")],
        };
        items.push(Record {
            key: Key { fields, position },
            value,
        });
    }
    items.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(Records { items })
}

struct Cached {
    stamp: FileStamp,
    hash: u64,
    records: Arc<Records>,
}

/// A file whose current content is served. Checked on every request: a `stat`, plus a read while
/// the file is young or after it changed; parsed again only when its content changed.
pub(crate) struct ServedFile {
    path: PathBuf,
    kind: Kind,
    cached: Mutex<Option<Cached>>,
    /// Hash of the last content that failed to parse, so that it is logged once, not per request.
    failed: Mutex<Option<u64>>,
}

impl ServedFile {
    pub fn new(path: PathBuf, kind: Kind) -> Self {
        ServedFile {
            path,
            kind,
            cached: Mutex::new(None),
            failed: Mutex::new(None),
        }
    }

    /// The records of the file as it is now. Blocking (file I/O): call off the async workers.
    pub fn current(&self) -> Result<Arc<Records>, LoadError> {
        let kind = self.kind.name();
        let io = |source| LoadError::Io {
            kind,
            path: self.path.clone(),
            source,
        };
        let now = FileStamp::of(&self.path).map_err(io)?;
        {
            let cached = self.cached.lock().expect("store lock poisoned");
            if let Some(c) = cached.as_ref() {
                if FileStamp::same_version(Some(&c.stamp), Some(&now)) {
                    return Ok(c.records.clone());
                }
            }
        }
        let body = std::fs::read(&self.path).map_err(io)?;
        let hash = content_hash(&body);
        {
            let mut cached = self.cached.lock().expect("store lock poisoned");
            if let Some(c) = cached.as_mut() {
                if c.hash == hash {
                    c.stamp = now;
                    return Ok(c.records.clone());
                }
            }
        }
        match parse(self.kind, &body) {
            Ok(records) => {
                let records = Arc::new(records);
                tracing::info!(
                    "serving {} {} record(s) from {}",
                    records.items.len(),
                    kind,
                    self.path.display()
                );
                *self.cached.lock().expect("store lock poisoned") = Some(Cached {
                    stamp: now,
                    hash,
                    records: records.clone(),
                });
                *self.failed.lock().expect("store lock poisoned") = None;
                Ok(records)
            }
            Err(problem) => {
                let err = LoadError::Invalid {
                    kind,
                    path: self.path.clone(),
                    problem,
                };
                let mut failed = self.failed.lock().expect("store lock poisoned");
                if *failed != Some(hash) {
                    tracing::error!("{err}; answering InternalError until it is fixed");
                    *failed = Some(hash);
                }
                Err(err)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_are_sorted_by_key_then_position() {
        let r = parse(
            Kind::Identities,
            br#"[
                {"Username":"b","IdentityType":"USER"},
                {"Username":"a","IdentityType":"CLIENT","ClientId":"c2"},
                {"Username":"a","IdentityType":"CLIENT","ClientId":"c1"},
                {"Username":"a","IdentityType":"USER"},
                {"Username":"b","IdentityType":"USER","Note":"duplicate"}
            ]"#,
        )
        .unwrap();
        let order: Vec<(String, u32)> = r
            .items
            .iter()
            .map(|i| (i.key.fields.join("/"), i.key.position))
            .collect();
        assert_eq!(
            order,
            vec![
                ("a/CLIENT/c1".into(), 2),
                ("a/CLIENT/c2".into(), 1),
                ("a/USER/".into(), 3),
                ("b/USER/".into(), 0),
                ("b/USER/".into(), 4),
            ]
        );
        assert_eq!(r.after(&r.items[2].key), 3);
        assert_eq!(r.after(&r.items[4].key), 5);
    }

    #[test]
    fn permissions_are_sorted_by_identity_type_and_topic() {
        let r = parse(
            Kind::Permissions,
            br#"[
                {"Identity":"b","IdentityType":"USER","Topic":"x"},
                {"Identity":"a","IdentityType":"USER","Topic":"z/#"},
                {"Identity":"a","IdentityType":"CLIENT","Topic":"y"},
                {"Identity":"a","IdentityType":"USER","Topic":"m/+"}
            ]"#,
        )
        .unwrap();
        let order: Vec<String> = r.items.iter().map(|i| i.key.fields.join(" ")).collect();
        assert_eq!(
            order,
            ["a CLIENT y", "a USER m/+", "a USER z/#", "b USER x"]
        );
    }

    #[test]
    fn blacklist_takes_strings_and_objects() {
        let r = parse(
            Kind::Blacklist,
            br#"["z", {"ClientId":"a","PermitAction":"CONNECT","Effect":"DENY"}]"#,
        )
        .unwrap();
        assert_eq!(r.items[0].str_field("ClientId"), Some("a"));
        assert_eq!(
            Value::Object(r.items[1].value.clone()),
            serde_json::json!({"ClientId":"z","PermitAction":"CONNECT","Effect":"DENY"})
        );
    }

    #[test]
    fn bad_files_are_refused_whole() {
        assert!(parse(Kind::Identities, b"{}").is_err());
        assert!(parse(Kind::Identities, br#"[{"Username":"a"}, "b"]"#)
            .unwrap_err()
            .contains("record #1"));
        assert!(parse(Kind::Blacklist, b"[1]").is_err());
        assert!(parse(Kind::Permissions, br#"[{"Identity":"a"}, "b"]"#)
            .unwrap_err()
            .contains("record #1"));
    }

    #[test]
    fn source_follows_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ids.json");
        std::fs::write(&path, r#"[{"Username":"a"}]"#).unwrap();
        let src = ServedFile::new(path.clone(), Kind::Identities);
        assert_eq!(src.current().unwrap().items.len(), 1);
        // Same size, same second: the content check catches it.
        std::fs::write(&path, r#"[{"Username":"b"}]"#).unwrap();
        assert_eq!(
            src.current().unwrap().items[0].str_field("Username"),
            Some("b")
        );
        std::fs::write(&path, "[").unwrap();
        assert!(matches!(src.current(), Err(LoadError::Invalid { .. })));
        std::fs::remove_file(&path).unwrap();
        assert!(matches!(src.current(), Err(LoadError::Io { .. })));
        std::fs::write(&path, r#"[{"Username":"a"},{"Username":"c"}]"#).unwrap();
        assert_eq!(src.current().unwrap().items.len(), 2);
    }
}
