//! Soak, bounded and on loopback only: a few thousand CONNECTs from 150 concurrent rumqttc
//! clients, valid, wrong and unknown credentials mixed, while a writer replaces the identities
//! file (two versions that both hold the identities under test) every few milliseconds and the
//! broker swaps its index many times a second. Every decision must be the expected one, the
//! broker must log no panic, and its memory must stay flat.

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;

/// Concurrent clients; each runs its CONNECTs one after another.
const WORKERS: usize = 150;
/// CONNECTs per client in the measured run (3,000 in all; `MQID_SOAK_PER_WORKER` sets another
/// number for a longer run by hand), and in the warm-up before it.
const PER_WORKER: usize = 20;
const WARM_UP_PER_WORKER: usize = 3;
/// Identities in each version of the file besides those under test, so that each swap builds
/// and frees an index of some size.
const FILLER: usize = 500;
/// Resident memory the broker may gain over the measured run.
const MAX_GROWTH_KIB: u64 = 50 * 1024;

fn user(name: &str, secret: &str, mode: &str) -> String {
    format!(
        r#"{{"Username":"{name}","Secret":"{secret}","IdentityType":"USER","SignMode":"{mode}"}}"#
    )
}

fn client(name: &str, client_id: &str, secret: &str, mode: &str) -> String {
    format!(
        r#"{{"Username":"{name}","Secret":"{secret}","IdentityType":"CLIENT","ClientId":"{client_id}","SignMode":"{mode}"}}"#
    )
}

/// Version `v` (0 or 1) of the identities file: the identities under test, then fillers that
/// differ between versions.
fn identities_file(v: usize) -> String {
    let mut records = vec![
        user("soak-user", "soak-secret", "ORIGIN"),
        user("soak-signed", "signed-secret", "SIGNED"),
        user("soak-dev", "dev-user-secret", "ORIGIN"),
    ];
    for k in 0..WORKERS {
        for j in 0..2 {
            records.push(client(
                "soak-dev",
                &format!("dev-{k}-{j}"),
                &format!("dev-secret-{k}-{j}"),
                "ORIGIN",
            ));
        }
        records.push(client(
            "soak-dev2",
            &format!("sdev-{k}"),
            &format!("sdev-secret-{k}"),
            "SIGNED",
        ));
    }
    for i in 0..FILLER {
        let mode = if i % 2 == 0 { "ORIGIN" } else { "SIGNED" };
        records.push(user(
            &format!("filler-{v}-{i}"),
            &format!("fs-{v}-{i}"),
            mode,
        ));
    }
    format!("[\n{}\n]\n", records.join(",\n"))
}

/// Replaces `path` with each version in turn, by rename (as an editor or a deploy tool saves),
/// every 5 ms until `stop`. Returns how many replacements it made.
fn writer(path: &Path, stop: &AtomicBool) -> usize {
    let versions = [identities_file(0), identities_file(1)];
    let tmp = path.with_extension("tmp");
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        std::fs::write(&tmp, &versions[n % 2]).unwrap();
        std::fs::rename(&tmp, path).unwrap();
        n += 1;
        std::thread::sleep(Duration::from_millis(5));
    }
    n
}

/// One CONNECT of the mix: client `k`'s `i`-th. Client ids never repeat across concurrent
/// clients, and bad passwords are spread over many (username, client id) pairs so that the
/// failed-auth limiter never cools one down.
fn case(k: usize, i: usize) -> (String, String, String, bool, &'static str) {
    let s = |x: &str| x.to_owned();
    match (k + i) % 9 {
        0 => (
            format!("u-{k}-{i}"),
            s("soak-user"),
            s("soak-secret"),
            true,
            "USER ORIGIN",
        ),
        1 => (
            format!("u-{k}-{i}"),
            s("soak-user"),
            format!("wrong-{i}"),
            false,
            "USER ORIGIN, wrong password",
        ),
        2 => (
            format!("n-{k}-{i}"),
            format!("nobody-{k}-{i}"),
            s("soak-secret"),
            false,
            "unknown username",
        ),
        3 => {
            let id = format!("GID_s@@@{k}-{i}");
            let pw = mqid_core::signed_password("signed-secret", &id);
            (id, s("soak-signed"), pw, true, "USER SIGNED")
        }
        4 => {
            let id = format!("GID_s@@@{k}-{i}");
            let pw = mqid_core::signed_password("signed-secret", "another-client");
            (
                id,
                s("soak-signed"),
                pw,
                false,
                "USER SIGNED, another client's password",
            )
        }
        5 => (
            format!("dev-{k}-0"),
            s("soak-dev"),
            format!("dev-secret-{k}-0"),
            true,
            "CLIENT ORIGIN",
        ),
        6 => (
            format!("dev-{k}-1"),
            s("soak-dev"),
            s("dev-user-secret"),
            false,
            "CLIENT exists, USER secret",
        ),
        7 => (
            format!("o-{k}-{i}"),
            s("soak-dev"),
            s("dev-user-secret"),
            true,
            "USER beside CLIENTs",
        ),
        _ => {
            let id = format!("sdev-{k}");
            let pw = mqid_core::signed_password(&format!("sdev-secret-{k}"), &id);
            (id, s("soak-dev2"), pw, true, "CLIENT SIGNED")
        }
    }
}

/// Runs `per_worker` CONNECTs on each of the [`WORKERS`] clients, starting at iteration
/// `first`. Returns the number sent and the decisions that were not the expected ones.
fn run_mix(b: &Broker, first: usize, per_worker: usize) -> (usize, Vec<String>) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (v4, v5) = (b.v4, b.v5);
    let sent = Arc::new(AtomicUsize::new(0));
    let wrong = rt.block_on(async {
        let mut tasks = tokio::task::JoinSet::new();
        for k in 0..WORKERS {
            let sent = sent.clone();
            tasks.spawn(async move {
                let mut wrong = Vec::new();
                for i in first..first + per_worker {
                    let (client_id, user, password, admit, what) = case(k, i);
                    let (port, proto) = if i % 2 == 0 { (v4, Proto::V4) } else { (v5, Proto::V5) };
                    let got =
                        connect_async(port, proto, &client_id, Some((&user, &password))).await;
                    sent.fetch_add(1, Ordering::Relaxed);
                    if got.admitted() != admit {
                        wrong.push(format!(
                            "{what} ({proto:?}, client {client_id:?}, user {user:?}): expected {}, got {got:?}",
                            if admit { "admitted" } else { "refused" }
                        ));
                    }
                }
                wrong
            });
        }
        let mut all = Vec::new();
        while let Some(r) = tasks.join_next().await {
            all.extend(r.expect("a client task panicked"));
        }
        all
    });
    (sent.load(Ordering::Relaxed), wrong)
}

/// The process's resident memory, from `/proc/<pid>/status`.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn thousands_of_connects_while_the_index_is_replaced_many_times_a_second() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("identities.json"), identities_file(0)).unwrap();
    let b = Broker::start_with(
        dir,
        // each version replaces the 500 fillers of the last, over half of the index: let it
        "[auth]\nsource = \"file\"\nfile = \"identities.json\"\nwatch_interval_ms = 5\n\
         max_removal_percent = 100\n",
        &[],
    );
    let pid = b.child.id();
    let path = b.identities_path();
    let stop = Arc::new(AtomicBool::new(false));
    let swaps = {
        let (path, stop) = (path.clone(), stop.clone());
        std::thread::spawn(move || writer(&path, &stop))
    };

    // Warm-up: connections, buffers and allocator arenas reach their working size.
    let (_, wrong) = run_mix(&b, 0, WARM_UP_PER_WORKER);
    assert!(
        wrong.is_empty(),
        "during warm-up:\n{}\nLOG:{}",
        wrong.join("\n"),
        b.log()
            .lines()
            .filter(|l| !l.contains("index in force"))
            .take(60)
            .collect::<Vec<_>>()
            .join("\n")
    );
    std::thread::sleep(Duration::from_millis(500));
    let rss_before = rss_kib(pid);
    let applied_before = b.log().matches("index in force").count();

    let per_worker = std::env::var("MQID_SOAK_PER_WORKER")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(PER_WORKER);
    let started = Instant::now();
    let (sent, wrong) = run_mix(&b, WARM_UP_PER_WORKER, per_worker);
    let elapsed = started.elapsed();
    let applied = b.log().matches("index in force").count() - applied_before;

    stop.store(true, Ordering::Relaxed);
    let swaps = swaps.join().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let rss_after = rss_kib(pid);
    let log = b.log();
    eprintln!(
        "soak: {sent} CONNECTs in {elapsed:.1?} ({:.0}/s) at concurrency {WORKERS}; {applied} index \
         swaps ({:.0}/s) from {swaps} file replacements; broker RSS {rss_before} KiB -> {rss_after} KiB",
        sent as f64 / elapsed.as_secs_f64(),
        applied as f64 / elapsed.as_secs_f64(),
    );

    assert_eq!(sent, WORKERS * per_worker);
    assert!(
        wrong.is_empty(),
        "{} of {sent} decisions were not the expected ones, first ones:\n{}",
        wrong.len(),
        wrong[..wrong.len().min(20)].join("\n")
    );
    assert!(
        applied as f64 >= 5.0 * elapsed.as_secs_f64(),
        "only {applied} index swaps in {elapsed:.1?}"
    );
    assert!(!log.contains("panicked"), "the broker panicked:\n{log}");
    assert!(!log.contains("reload refused"), "{log}");
    assert!(
        rss_after < rss_before + MAX_GROWTH_KIB,
        "the broker grew from {rss_before} KiB to {rss_after} KiB"
    );
}
