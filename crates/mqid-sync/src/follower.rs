//! The follower source: one mqid (the leader) pages the OpenAPI; the others take its last-good
//! set from the leader's `/snapshot` (the snapshot format, with an `ETag`), so N nodes cost the
//! API what one costs.
//!
//! Same rules as the other sources: a set is taken whole or not at all (a truncated, corrupt or
//! invalid body changes nothing), a failure never empties the index, the [`Guard`] refuses an
//! empty set or one that removes too many identities at once, and the follower keeps its
//! own last-good copy (written atomically, mode 0600) to start from when the leader is away. A
//! poll sends `If-None-Match`; an unchanged set costs a 304 and no parsing.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use mqid_core::{Index, SharedIndex};

use crate::guard::{Guard, Refused};
use crate::snapshot::{self, write_private_atomically};
use crate::{apply, FollowerConfig, Loaded, Origin};

/// Why a poll of the leader changed nothing.
#[derive(Debug, thiserror::Error)]
pub enum FollowerError {
    #[error("leader {url}: {problem}")]
    Request { url: String, problem: String },
    #[error("leader {url} answered HTTP {status}{hint}")]
    Status {
        url: String,
        status: u16,
        hint: &'static str,
    },
    #[error("leader {url} sent a set that was not used: {problem}")]
    Corrupt { url: String, problem: String },
    #[error("leader {url} sent a set that was not used: {refused}")]
    Guarded { url: String, refused: Refused },
    #[error("cannot write the follower's snapshot {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Polls a leader.
pub struct Follower {
    client: reqwest::Client,
    url: String,
    token: Option<String>,
    snapshot: PathBuf,
    etag: Option<String>,
    guard: Guard,
    pub every: Duration,
}

impl std::fmt::Debug for Follower {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Follower")
            .field("url", &self.url)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl Follower {
    /// A follower of `config.leader`, sending `token` as a bearer token when set.
    pub fn new(config: &FollowerConfig, token: Option<String>) -> Result<Follower, FollowerError> {
        let url = format!("{}/snapshot", config.leader.trim_end_matches('/'));
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(config.request_timeout_secs))
            .build()
            .map_err(|e| FollowerError::Request {
                url: url.clone(),
                problem: e.to_string(),
            })?;
        Ok(Follower {
            client,
            url,
            token,
            snapshot: config.snapshot.clone(),
            etag: None,
            guard: Guard::default(),
            every: Duration::from_secs(config.interval_secs),
        })
    }

    /// Refuses sets as `guard` says (`[auth] allow_empty`, `max_removal_percent`).
    pub fn with_guard(mut self, guard: Guard) -> Self {
        self.guard = guard;
        self
    }

    /// The leader's snapshot URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// This follower's own last-good copy, if there is a usable one.
    pub fn load_own(&self) -> Option<Loaded> {
        crate::refresh::load_snapshot(&self.snapshot)
    }

    /// One poll: `Ok(None)` when the set is unchanged (304), `Ok(Some(set))` when the leader
    /// sent a new complete set that the guard lets replace `in_force` (already written to the
    /// follower's own copy).
    pub async fn fetch(&mut self, in_force: &Index) -> Result<Option<Loaded>, FollowerError> {
        let mut req = self.client.get(&self.url);
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        if let Some(e) = &self.etag {
            req = req.header("if-none-match", e);
        }
        let request_error = |e: reqwest::Error| FollowerError::Request {
            url: self.url.clone(),
            problem: e.without_url().to_string(),
        };
        let resp = req.send().await.map_err(request_error)?;
        let status = resp.status().as_u16();
        if status == 304 {
            return Ok(None);
        }
        if status != 200 {
            return Err(FollowerError::Status {
                url: self.url.clone(),
                status,
                hint: match status {
                    401 => ": the bearer token is missing or wrong (MQID_HTTP_TOKEN)",
                    503 => ": the leader has no index in force, or it is stale",
                    404 => ": is the leader an mqid with [http]?",
                    _ => "",
                },
            });
        }
        let etag = resp
            .headers()
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = resp.bytes().await.map_err(request_error)?;
        let loaded = snapshot::parse(
            &body,
            Origin::Leader {
                url: self.url.clone(),
            },
            None,
        )
        .map_err(|problem| FollowerError::Corrupt {
            url: self.url.clone(),
            problem,
        })?;
        self.guard
            .check_set(in_force, &loaded)
            .map_err(|refused| FollowerError::Guarded {
                url: self.url.clone(),
                refused,
            })?;
        write_private_atomically(&self.snapshot, &body).map_err(|source| FollowerError::Write {
            path: self.snapshot.clone(),
            source,
        })?;
        self.etag = etag;
        Ok(Some(loaded))
    }

    /// Polls every [`every`](Self::every), the first after `first_after`; applies each new set.
    /// Never returns.
    pub async fn run(mut self, shared: Arc<SharedIndex>, first_after: Duration) {
        tokio::time::sleep(first_after).await;
        let mut failing = false;
        loop {
            let in_force = shared.load_full();
            let polled = self.fetch(&in_force).await;
            drop(in_force);
            match polled {
                Ok(Some(loaded)) => {
                    let shared = shared.clone();
                    let _ = tokio::task::spawn_blocking(move || apply(&shared, loaded)).await;
                    failing = false;
                }
                Ok(None) => failing = false,
                Err(e) => {
                    // Once per run of failures, then again when it recovers.
                    if !failing {
                        tracing::error!("{e}; keeping the set in force");
                    }
                    failing = true;
                }
            }
            tokio::time::sleep(self.every).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    /// A one-shot HTTP server on loopback that answers `status` with `body` and `etag`.
    fn leader(status: &'static str, body: &'static [u8]) -> String {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let head = format!(
                "HTTP/1.1 {status}\r\ncontent-length: {}\r\netag: \"e1\"\r\nconnection: close\r\n\r\n",
                body.len()
            );
            s.write_all(head.as_bytes()).unwrap();
            s.write_all(body).unwrap();
        });
        format!("http://{addr}")
    }

    fn follower(url: String, dir: &std::path::Path) -> Follower {
        let config = FollowerConfig {
            leader: url,
            interval_secs: 1,
            snapshot: dir.join("own.json"),
            request_timeout_secs: 5,
            token_file: None,
        };
        Follower::new(&config, Some("t".repeat(20))).unwrap()
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn a_truncated_or_invalid_set_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        for body in [
            &br#"{"format":1,"synced_at":1,"identities":[{"Username":"u""#[..],
            br#"{"format":1,"identities":[{"Username":"u","Secret":"s","IdentityType":"NOPE","SignMode":"ORIGIN"}],"blacklist":[]}"#,
        ] {
            let mut f = follower(leader("200 OK", body), dir.path());
            let e = rt().block_on(f.fetch(&Index::empty())).unwrap_err();
            assert!(matches!(e, FollowerError::Corrupt { .. }), "{e}");
            assert!(!dir.path().join("own.json").exists(), "nothing written");
            assert!(f.etag.is_none());
        }
        let empty = br#"{"format":1,"identities":[],"blacklist":[]}"#;
        let mut f = follower(leader("200 OK", empty), dir.path());
        let e = rt()
            .block_on(f.fetch(&Index::empty()))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("no identity") && e.contains("allow_empty"),
            "{e}"
        );
        assert!(!dir.path().join("own.json").exists(), "nothing written");
        let mut f = follower(leader("503 Service Unavailable", b""), dir.path());
        let e = rt()
            .block_on(f.fetch(&Index::empty()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("503") && e.contains("stale"), "{e}");
    }

    #[test]
    fn a_complete_set_is_taken_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let body = br#"{"format":1,"synced_at":1700000000,"identities":[{"Username":"u","Secret":"s","IdentityType":"USER","SignMode":"ORIGIN"}],"blacklist":["b"]}"#;
        let mut f = follower(leader("200 OK", body), dir.path());
        let loaded = rt().block_on(f.fetch(&Index::empty())).unwrap().unwrap();
        assert_eq!((loaded.identities.len(), loaded.blacklist.len()), (1, 1));
        assert!(loaded.permissions.is_none());
        assert_eq!(f.etag.as_deref(), Some("\"e1\""));
        assert_eq!(std::fs::read(dir.path().join("own.json")).unwrap(), body);
        assert_eq!(f.load_own().unwrap().identities.len(), 1);
    }
}
