//! End to end: `mqid serve` on the OpenAPI source while the in-process emulator answers badly.
//!
//! Each scenario, against a running broker whose index holds the previous scenario's marker
//! identity: the fault is set; the cloud's data changes (a new marker, which sorts first and so
//! comes on the first page); passes fail with a log line that names the problem; real CONNECTs
//! are decided as before (the old marker admitted, the new one refused: nothing of the failed
//! passes, not even their good first pages, was applied); the fault is cleared and the next good
//! pass converges on the new data. Also: a snapshot that is truncated or corrupt at start-up is
//! reported and ignored (never half-loaded), and the broker starts from the API.

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::cloud::Cloud;
use common::*;
use mqid_emulator::{AnswerFault, Faults};

const AK_ID: &str = "LTAI5tFaultsKeyId";
const AK_SECRET: &str = "faults-access-key-secret";

const ALPHA: &str =
    r#"{"Username":"alpha","Secret":"alpha-secret","IdentityType":"USER","SignMode":"ORIGIN"}"#;
const BRAVO: &str = r#"{"Username":"bravo","Secret":"bravo-secret","IdentityType":"CLIENT","ClientId":"bravo-1","SignMode":"ORIGIN"}"#;
const CHARLIE: &str =
    r#"{"Username":"charlie","Secret":"charlie-secret","IdentityType":"USER","SignMode":"SIGNED"}"#;
const DELTA: &str =
    r#"{"Username":"delta","Secret":"delta-secret","IdentityType":"USER","SignMode":"ORIGIN"}"#;

/// The identity that tells one scenario's data from the next. `a0-…` sorts before every other
/// username: it is on the first page.
fn marker(step: usize) -> String {
    format!(
        r#"{{"Username":"a0-mark-{step}","Secret":"mark-secret-{step}","IdentityType":"USER","SignMode":"ORIGIN"}}"#
    )
}

/// The cloud's identities at `step`: four fixed ones and the step's marker, three pages of 2.
fn write_cloud(dir: &Path, step: usize) {
    let records = [marker(step).as_str(), ALPHA, BRAVO, CHARLIE, DELTA].join(",\n");
    std::fs::write(dir.join("cloud-identities.json"), format!("[{records}]")).unwrap();
}

fn start_broker(dir: tempfile::TempDir, endpoint: &str) -> Broker {
    let auth = openapi_auth_toml(
        endpoint,
        r#"page_size = 2
refresh_secs = 1
max_requests_per_sec = 50
request_timeout_secs = 1
max_retries_per_pass = 1
snapshot = "state/snapshot.json""#,
    );
    Broker::start_with(
        dir,
        &auth,
        &[
            ("ALIBABA_CLOUD_ACCESS_KEY_ID", AK_ID),
            ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", AK_SECRET),
            ("RUST_LOG", "info"),
        ],
    )
}

fn admitted(b: &Broker, client_id: &str, user: &str, pass: &str) -> bool {
    connect(b.v4, Proto::V4, client_id, Some((user, pass))).admitted()
}

fn marker_admitted(b: &Broker, step: usize) -> bool {
    admitted(
        b,
        &format!("m-{step}"),
        &format!("a0-mark-{step}"),
        &format!("mark-secret-{step}"),
    )
}

/// A client id never used before in this process. Bad passwords go out under fresh client ids:
/// the failed-auth limiter would cool down a (username, client id) pair that keeps failing.
fn fresh(prefix: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!("{prefix}{}", N.fetch_add(1, Ordering::Relaxed))
}

/// The decisions that no scenario changes: as in the cloud's data at every step.
fn assert_fixed_decisions(b: &Broker) {
    assert!(admitted(b, &fresh("a-"), "alpha", "alpha-secret"));
    assert!(!admitted(b, &fresh("a-"), "alpha", "wrong"));
    assert!(admitted(b, "bravo-1", "bravo", "bravo-secret"));
    assert!(!admitted(b, &fresh("bravo-x"), "bravo", "bravo-secret"));
    let id = fresh("GID_c@@@");
    let signed = mqid_core::signed_password("charlie-secret", &id);
    assert!(admitted(b, &id, "charlie", &signed));
    assert!(!admitted(b, &fresh("GID_c@@@"), "charlie", &signed));
    assert!(!admitted(b, "banned-1", "alpha", "alpha-secret"));
    assert!(!admitted(b, &fresh("x-"), "nobody", "alpha-secret"));
}

/// The lines of the log written since byte `from` that report a failed pass.
fn failures_since(b: &Broker, from: usize) -> Vec<String> {
    let log = b.log();
    log.get(from..)
        .unwrap_or("")
        .lines()
        .filter(|l| l.contains("refresh pass failed"))
        .map(str::to_owned)
        .collect()
}

/// One scenario at `step` (the index holds marker `step - 1`): see the module documentation.
/// `expect` are the words the failure's log line must have.
fn scenario(b: &Broker, cloud: &Cloud, step: usize, fault: Faults, expect: &[&str]) {
    let what = format!(
        "{} (later pages only: {})",
        fault.answer, fault.answer_later_pages_only
    );
    let from = b.log().len();
    cloud.faults(fault);
    eventually(30, &format!("{what}: a pass fails"), || {
        !failures_since(b, from).is_empty()
    });
    // The cloud changes; wait for two more failures, so that at least one pass ran on the new
    // data from its start.
    write_cloud(b.dir.path(), step);
    let seen = failures_since(b, from).len();
    eventually(30, &format!("{what}: passes on the new data fail"), || {
        failures_since(b, from).len() >= seen + 2
    });
    let failures = failures_since(b, from);
    let last = failures.last().unwrap();
    eprintln!("{what}: {last}");
    for word in expect {
        assert!(
            last.contains(word),
            "{what}: the failure does not say {word:?}:\n{last}"
        );
    }
    assert!(
        last.contains("the index in force is unchanged"),
        "{what}: {last}"
    );

    // the last good content keeps serving; nothing of the failed passes was applied
    assert!(
        marker_admitted(b, step - 1),
        "{what}: the last good index was lost"
    );
    assert!(
        !marker_admitted(b, step),
        "{what}: a failed pass changed the index"
    );
    assert_fixed_decisions(b);

    cloud.faults(Faults::none());
    eventually(30, &format!("{what}: converges once cleared"), || {
        marker_admitted(b, step)
    });
    assert!(!marker_admitted(b, step - 1));
    assert_fixed_decisions(b);
}

fn answer(fault: AnswerFault, later_pages_only: bool) -> Faults {
    Faults {
        answer: fault,
        answer_later_pages_only: later_pages_only,
        ..Faults::none()
    }
}

/// The emulator on `dir`'s identities, with one blacklisted client id.
fn start_cloud(dir: &Path) -> Cloud {
    std::fs::write(dir.join("cloud-blacklist.json"), r#"["banned-1"]"#).unwrap();
    Cloud::start(dir, AK_ID, AK_SECRET)
}

/// A broker synced to step 0.
fn setup() -> (Cloud, Broker) {
    let dir = tempfile::tempdir().unwrap();
    write_cloud(dir.path(), 0);
    let cloud = start_cloud(dir.path());
    let broker = start_broker(dir, &cloud.endpoint());
    assert!(marker_admitted(&broker, 0));
    assert_fixed_decisions(&broker);
    (cloud, broker)
}

/// [`scenario`] for each (fault, what the log says), as steps 1, 2, ...
fn scenarios<'a>(
    b: &Broker,
    cloud: &Cloud,
    cases: impl IntoIterator<Item = (Faults, &'a [&'a str])>,
) {
    for (step, (fault, expect)) in cases.into_iter().enumerate() {
        scenario(b, cloud, step + 1, fault, expect);
    }
}

fn assert_no_panic(b: &Broker) {
    let log = b.log();
    assert!(!log.contains("panicked"), "{log}");
}

#[test]
fn pages_that_cannot_be_trusted_fail_the_pass_whole() {
    let (cloud, b) = setup();
    let cases: [(Faults, &[&str]); 5] = [
        (
            answer(AnswerFault::NotJson, false),
            &["QueryCustomAuthIdentity page 1", "not the expected JSON"],
        ),
        (
            answer(AnswerFault::CutJson, true),
            &["page 2", "not the expected JSON", "EOF while parsing"],
        ),
        (
            answer(AnswerFault::WrongTypes, true),
            &["page 2", "Data.Results[0].Username", "invalid type"],
        ),
        (
            answer(AnswerFault::OversizedPage, true),
            &["page 2", "3 results, more than the 2 asked for (Size)"],
        ),
        (
            answer(AnswerFault::LoopingToken, true),
            &["page 2", "NextToken repeats the one page 1 returned"],
        ),
    ];
    scenarios(&b, &cloud, cases);
    assert_no_panic(&b);
}

#[test]
fn broken_transfers_are_retried_then_the_pass_is_abandoned() {
    let (cloud, b) = setup();
    let retried = "gave up after 1 retries in this pass";
    let cases: [(Faults, &[&str]); 4] = [
        (
            answer(AnswerFault::Truncated, true),
            &["page 2", retried, "the response body broke off"],
        ),
        (
            answer(AnswerFault::Stall, false),
            &["page 1", retried, "timed out"],
        ),
        (
            answer(AnswerFault::Reset, false),
            &["page 1", retried, "reset"],
        ),
        // 50 MiB streamed: read up to the 16 MiB bound, never buffered whole
        (
            answer(AnswerFault::Huge, false),
            &["page 1", "larger than 16777216 bytes"],
        ),
    ];
    scenarios(&b, &cloud, cases);
    let rss = rss_kib(b.child.id()).expect("broker RSS");
    assert!(
        rss < 200 * 1024,
        "the broker holds {rss} KiB after the 50 MiB bodies"
    );
    assert_no_panic(&b);
}

#[test]
fn clock_and_credential_errors_say_what_to_fix() {
    let (cloud, b) = setup();
    let fatal = "will keep failing until this is fixed";
    let cases: [(Faults, &[&str]); 3] = [
        (
            answer(AnswerFault::ClockSkew, false),
            &[fatal, "InvalidTimeStamp.Expired", "clock skew", "NTP"],
        ),
        (
            answer(AnswerFault::AccessKeyNotFound, false),
            &[
                fatal,
                "InvalidAccessKeyId.NotFound",
                "check ALIBABA_CLOUD_ACCESS_KEY_ID",
            ],
        ),
        (
            answer(AnswerFault::TokenExpired, false),
            &[
                fatal,
                "InvalidSecurityToken.Expired",
                "check ALIBABA_CLOUD_SECURITY_TOKEN",
            ],
        ),
    ];
    scenarios(&b, &cloud, cases);
    let log = b.log();
    assert!(!log.contains(AK_SECRET), "{log}");
    assert_no_panic(&b);
}

/// The broker's resident memory, from `/proc/<pid>/status`.
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn a_corrupt_snapshot_at_start_up_is_ignored_and_the_api_serves() {
    let dir = tempfile::tempdir().unwrap();
    write_cloud(dir.path(), 0);
    let cloud = start_cloud(dir.path());
    let endpoint = cloud.endpoint();
    // A snapshot that would admit "ghost" if any of it were used.
    let ghost =
        r#"{"Username":"ghost","Secret":"ghost-secret","IdentityType":"USER","SignMode":"ORIGIN"}"#;
    let whole = format!(r#"{{"format":1,"identities":[{ghost},{ALPHA},{DELTA}],"blacklist":[]}}"#);
    let bad_record = format!(
        r#"{{"format":1,"identities":[{ghost},{{"Username":"x","Secret":"y","IdentityType":"BOSS","SignMode":"ORIGIN"}}],"blacklist":[]}}"#
    );
    let corrupt: [(&str, Vec<u8>, &str); 3] = [
        (
            "truncated",
            whole.as_bytes()[..whole.len() * 2 / 3].to_vec(),
            "EOF while parsing",
        ),
        ("an invalid record", bad_record.into_bytes(), "BOSS"),
        ("garbage", b"\x00\x01garbage\xff".to_vec(), "expected value"),
    ];
    let mut dir = dir;
    for (what, content, problem) in corrupt {
        let snapshot = dir.path().join("state/snapshot.json");
        std::fs::create_dir_all(snapshot.parent().unwrap()).unwrap();
        std::fs::write(&snapshot, &content).unwrap();
        let b = start_broker(dir, &endpoint);
        let log = b.log();
        let line = log
            .lines()
            .find(|l| l.contains("is corrupt and was not loaded"))
            .unwrap_or_else(|| panic!("{what}: not reported:\n{log}"));
        assert!(line.contains("snapshot.json"), "{what}: {line}");
        assert!(line.contains(problem), "{what}: {line}");
        assert!(line.contains("starting without it"), "{what}: {line}");
        assert!(
            !log.lines()
                .any(|l| l.contains("index in force") && l.contains("origin=snapshot")),
            "{what}: part of the snapshot was applied:\n{log}"
        );
        // started from the API: its identities, nothing of the snapshot
        assert!(log.contains("no snapshot to start from"), "{what}:\n{log}");
        assert!(marker_admitted(&b, 0), "{what}");
        assert_fixed_decisions(&b);
        assert!(
            !admitted(&b, &fresh("g-"), "ghost", "ghost-secret"),
            "{what}"
        );
        // and the snapshot is good again
        let rewritten = mqid_sync::snapshot::read(&snapshot)
            .unwrap_or_else(|e| panic!("{what}: {e}"))
            .expect("a snapshot");
        assert_eq!(rewritten.identities.len(), 5, "{what}");
        assert_no_panic(&b);
        dir = b.stop();
    }
}
