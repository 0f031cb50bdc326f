//! The checks of mqid-sync's fuzz targets, one function per target.
//!
//! Each function takes the fuzzer's bytes and panics when mqid-sync misbehaves on them. The fuzz
//! targets (`fuzz_targets/`) call them under libFuzzer; mqid-sync's `tests/fuzz_corpus.rs`
//! includes this file and calls them on every file of `corpus/<target>/`, so that a plain
//! `cargo test` replays the corpus on the stable toolchain.

use std::path::{Path, PathBuf};

use mqid_core::{Identity, IdentityType, Index, Permission, Permissions, Secret, MAX_ID_CHARS};
use mqid_sync::openapi::{
    parse_blacklist_page, parse_identity_page, parse_permission_page, Client, Credentials,
};
use mqid_sync::{snapshot, AuthConfig, SourceKind};
use mqid_test_support::assert_no_secret_quoted;

/// The AccessKey secret and STS token the page target's client holds: a page's problem, which
/// is logged, must never show them, whatever the server sent back.
const AK_SECRET: &str = "FuzzAccessKeySecret0123456789";
const TOKEN: &str = "FuzzSecurityToken0123456789abc";
/// The longest message a page's problem may have: what a server sends must not make a log line
/// huge.
const MAX_PROBLEM_CHARS: usize = 1000;
/// The longest message of one skipped record (also logged).
const MAX_SKIPPED_CHARS: usize = 300;

fn credentials() -> Credentials {
    Credentials::new(
        "LTAI5tFuzzKeyId",
        Secret::new(AK_SECRET),
        Some(Secret::new(TOKEN)),
    )
}

fn valid_identity(id: &Identity) {
    let ok = |s: &str| !s.is_empty() && s.chars().count() <= MAX_ID_CHARS;
    assert!(ok(&id.username), "accepted a bad Username");
    assert!(!id.secret.is_empty(), "accepted an empty Secret");
    match (id.identity_type, id.client_id.as_deref()) {
        (IdentityType::Client, None) => panic!("accepted a CLIENT identity without ClientId"),
        (_, Some(c)) => assert!(ok(c), "accepted a bad ClientId"),
        (IdentityType::User, None) => {}
    }
}

fn valid_permission(p: &Permission) {
    assert!(
        !p.identity.is_empty() && p.identity.chars().count() <= MAX_ID_CHARS,
        "accepted a bad Identity"
    );
    assert!(
        mqid_core::topic::check_filter(&p.topic).is_ok(),
        "accepted a Topic that is not a filter"
    );
}

/// Target `openapi_page`: a response body of `QueryCustomAuthIdentity`,
/// `QueryCustomAuthConnectBlack` or `QueryCustomAuthPermission`, through the pager's page parser.
///
/// Input: byte 0 gives `Size` (1..=100), the low two bits of byte 1 the operation (blacklist when
/// bit 0 is set, else permissions when bit 1 is set, else identities), the rest is the body. An
/// accepted page has at most `Size` records, valid identities or rules, skipped records with
/// bounded messages, and no empty `NextToken`; a refused page has a problem whose
/// message is bounded and never shows the AccessKey secret or the token.
pub fn openapi_page(data: &[u8]) {
    let [size, op, body @ ..] = data else {
        return;
    };
    let size = u32::from(*size) % 100 + 1;
    let creds = credentials();
    let outcome = if op & 1 == 1 {
        parse_blacklist_page(body, size, &creds).map(|(refused, token)| {
            assert!(refused.len() <= size as usize, "more records than Size");
            for id in refused.iter().flatten() {
                assert!(!id.is_empty(), "an empty client id refused");
            }
            token
        })
    } else if op & 2 == 2 {
        parse_permission_page(body, size, &creds).map(|(good, bad, token)| {
            assert!(
                good.len() + bad.len() <= size as usize,
                "more records than Size"
            );
            good.iter().for_each(valid_permission);
            for b in &bad {
                assert!(b.position < good.len() + bad.len());
                let msg = b.to_string();
                assert!(
                    msg.chars().count() <= MAX_SKIPPED_CHARS,
                    "a skipped rule's message of {} characters",
                    msg.chars().count()
                );
            }
            token
        })
    } else {
        parse_identity_page(body, size, &creds).map(|(good, bad, token)| {
            assert!(
                good.len() + bad.len() <= size as usize,
                "more records than Size"
            );
            good.iter().for_each(valid_identity);
            for b in &bad {
                assert!(b.position < good.len() + bad.len());
                let msg = b.to_string();
                assert!(
                    msg.chars().count() <= MAX_SKIPPED_CHARS,
                    "a skipped record's message of {} characters",
                    msg.chars().count()
                );
            }
            token
        })
    };
    match outcome {
        Ok(token) => assert!(token.is_none_or(|t| !t.is_empty()), "an empty NextToken"),
        Err(problem) => {
            let msg = problem.to_string();
            assert!(
                msg.chars().count() <= MAX_PROBLEM_CHARS,
                "a page problem of {} characters: {}…",
                msg.chars().count(),
                msg.chars().take(200).collect::<String>()
            );
            assert!(
                !msg.contains(AK_SECRET) && !msg.contains(TOKEN),
                "a page problem shows a credential: {msg}"
            );
        }
    }
}

/// The part of `mqid.toml` that mqid-sync reads; the rest (`[broker]`) is ignored here as
/// rumqttd's own.
#[derive(serde::Deserialize)]
struct ConfigFile {
    auth: AuthConfig,
}

/// Target `auth_config`: a config file, read as the loader reads its `[auth]` table (TOML,
/// unknown keys collected) and validated. What validates is usable: the values the code relies on
/// hold, the endpoint URL is formed, and an OpenAPI client is built or refused, without a panic.
pub fn auth_config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut unknown = Vec::new();
    let parsed: Result<ConfigFile, _> =
        serde_ignored::deserialize(toml::Deserializer::new(text), |key| {
            unknown.push(key.to_string())
        });
    let Ok(ConfigFile { mut auth }) = parsed else {
        return;
    };
    let base = Path::new("/etc/mqid");
    if let Err(e) = auth.validate(base) {
        assert!(e.to_string().starts_with("[auth] "), "{e}");
        return;
    }
    match auth.source {
        SourceKind::File => {
            let file = auth.file.as_ref().expect("validated: file is set");
            assert!(file.is_absolute(), "a relative path left unresolved");
            if let Some(rules) = &auth.permissions.file {
                assert!(rules.is_absolute(), "a relative rules path left unresolved");
            }
            assert!(auth.watch_interval_ms >= 1);
        }
        SourceKind::Follower => {
            let f = auth
                .follower
                .as_ref()
                .expect("validated: [auth.follower] is set");
            assert!(f.snapshot.is_absolute(), "a relative path left unresolved");
            assert!(f.interval_secs >= 1 && f.request_timeout_secs >= 1);
        }
        SourceKind::Openapi => {
            let api = auth
                .openapi
                .as_ref()
                .expect("validated: [auth.openapi] is set");
            assert!((1..=100).contains(&api.page_size));
            assert!(api.refresh_secs >= 1 && api.request_timeout_secs >= 1);
            assert!(api.max_requests_per_sec > 0.0 && api.max_requests_per_sec <= 100.0);
            assert!(!api.region_id.is_empty() && !api.instance_id.is_empty());
            assert!(
                auth.permissions.file.is_none(),
                "a rules file accepted with the OpenAPI source"
            );
            if let Some(s) = &api.snapshot {
                assert!(s.is_absolute(), "a relative snapshot path left unresolved");
            }
            let _ = api.endpoint_url();
            let _ = Client::new(api, credentials());
        }
    }
}

/// A file of its own for one call of a snapshot target, which reads through the file system as
/// `mqid serve` does. Unique per call, not only per process: the corpus tests of `snapshot` and
/// `snapshot_values` run on parallel threads of one process.
fn scratch_file() -> PathBuf {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    std::env::temp_dir().join(format!(
        "mqid-fuzz-snapshot-{}-{n}.json",
        std::process::id()
    ))
}

/// Target `snapshot`: a snapshot file, read at start-up. Either all of it is used (every identity
/// and rule valid, an index builds from it) or an error says it is corrupt, without showing a secret of it.
pub fn snapshot(data: &[u8]) {
    let path = scratch_file();
    std::fs::write(&path, data).expect("write the scratch snapshot");
    let outcome = snapshot::read(&path);
    let _ = std::fs::remove_file(&path);
    match outcome {
        Ok(Some(loaded)) => {
            if let Some(at) = loaded.synced_at {
                let latest = std::time::SystemTime::now() + snapshot::FUTURE_TOLERANCE;
                assert!(
                    at <= latest,
                    "a snapshot synced in the future was taken as fresh"
                );
            }
            loaded.identities.iter().for_each(valid_identity);
            let n = loaded.identities.len();
            let (index, report) = Index::build(loaded.identities, loaded.blacklist);
            assert_eq!(index.len() + report.duplicates.len(), n);
            if let Some(rules) = loaded.permissions {
                rules.iter().for_each(valid_permission);
                let n = rules.len();
                let index = index.with_permissions(Some(Permissions::build(rules)));
                let built = index.permissions().expect("rules given").len();
                assert!(built <= n, "{built} rules built from {n}");
            }
        }
        Ok(None) => panic!("an existing snapshot was read as missing"),
        Err(e) => assert_no_secret_quoted(data, &e.to_string()),
    }
}

/// Target `snapshot_values`: well-formed snapshots whose values come from the fuzzer's bytes, so
/// that the whole range of each value is tried (random bytes seldom spell a large number): 8
/// bytes of `synced_at` (little-endian `u64`; the first byte's low bits also pick near-now,
/// near-future and far values), 4 of `format`, the rest the blacklist's one client id. Checked as
/// [`snapshot`] checks, and a `synced_at` past [`snapshot::FUTURE_TOLERANCE`] must be refused.
pub fn snapshot_values(data: &[u8]) {
    let mut word = [0u8; 8];
    let n = data.len().min(8);
    word[..n].copy_from_slice(&data[..n]);
    let raw = u64::from_le_bytes(word);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    // Spread the values over the ranges that matter, not only the uniform u64 range.
    let synced_at = match raw & 3 {
        0 => raw,
        1 => now.wrapping_add(raw >> 2 & 0xffff).wrapping_sub(0x8000),
        2 => now.wrapping_add(raw >> 2),
        _ => raw >> 2 & 0xffff_ffff,
    };
    let mut f = [0u8; 4];
    let rest = data.get(8..).unwrap_or_default();
    let m = rest.len().min(4);
    f[..m].copy_from_slice(&rest[..m]);
    let format = if m < 4 { 1 } else { u32::from_le_bytes(f) };
    let client_id = String::from_utf8_lossy(rest.get(4..).unwrap_or_default());
    let json = serde_json::json!({
        "format": format,
        "synced_at": synced_at,
        "identities": [{"Username": "u", "Secret": "FuzzSnapshotSecret0123456789",
                        "IdentityType": "USER", "SignMode": "ORIGIN"}],
        "blacklist": [client_id],
    });
    let body = serde_json::to_vec(&json).unwrap();
    snapshot(&body);
    let path = scratch_file();
    std::fs::write(&path, &body).expect("write the scratch snapshot");
    let outcome = snapshot::read(&path);
    let _ = std::fs::remove_file(&path);
    let future = synced_at > now + snapshot::FUTURE_TOLERANCE.as_secs() + 1;
    match outcome {
        Ok(Some(loaded)) => {
            assert!(!future, "synced_at {synced_at} (now {now}) was accepted");
            assert_eq!(format, 1, "format {format} was accepted");
            let at = loaded.synced_at.expect("synced_at is set");
            let secs = at.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
            assert_eq!(secs, synced_at, "synced_at read back wrong");
        }
        Ok(None) => panic!("an existing snapshot was read as missing"),
        Err(e) => {
            let e = e.to_string();
            assert!(
                !e.contains("FuzzSnapshotSecret"),
                "the secret is in the error: {e}"
            );
            // a snapshot in range and in format is not refused
            let in_range = synced_at.saturating_add(snapshot::FUTURE_TOLERANCE.as_secs()) < now;
            assert!(!(in_range && format == 1), "refused: {e}");
        }
    }
}
