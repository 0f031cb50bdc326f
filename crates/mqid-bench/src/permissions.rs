//! Topic permissions: the per-PUBLISH and per-delivery checks of a session with 1, 10, 100 and
//! 1,000 rules (literal, wildcard and mixed), beside the cost of rumqttd routing one QoS 0
//! PUBLISH measured in the same run; and building the rules of a large fleet.
//!
//! * **routing baseline**: an in-process rumqttd `Router` with two `local::LinkBuilder` links,
//!   a publisher and a subscriber of `bench/#`; N QoS 0 PUBLISHes are pushed 32 per router event
//!   (as the stock link does with one socket read) and the clock stops when the subscriber has
//!   received all of them. Time / N is the router's cost per routed PUBLISH with the links'
//!   hand-offs, the least a broker adds per message (no socket, no codec).
//! * **checks**: `SessionRules::may_publish` and `may_deliver` on a spread of topics (matched by a
//!   literal rule, by a wildcard rule, by a deny rule, by nothing), interleaved with each other
//!   (see [`crate::stats::interleaved`]). The session's rules are half `USER`, half `CLIENT`.
//! * **ratios**: CPU time against CPU time: the checking thread's (`CLOCK_THREAD_CPUTIME_ID`)
//!   per check, against the whole process's (router, publisher and subscriber threads) per routed
//!   PUBLISH. On a machine shared with other work, wall-clock figures mostly measure the wait for
//!   a CPU; CPU time does not. Wall-clock medians and minima are reported beside them.
//! * **build**: `Permissions::build` over `rules` rules spread over `identities` identities (half
//!   `USER` rules keyed by username, half `CLIENT` rules keyed by client id; literal and wildcard
//!   alternating), with the identity index built beside it for scale: time, and heap (or RSS)
//!   bytes per rule.

use std::fmt;
use std::future::Future;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mqid_core::{
    Effect, IdentityType, Index, NoMatch, Permission, Permissions, PermitAction, SessionRules,
};
use rumqttd::local::LinkBuilder;
use rumqttd::protocol::{Packet, Publish};
use rumqttd::{Notification, Router};
use serde::Serialize;

use crate::stats::{self, Job};
use crate::{alloc, ratio, synth, Target};

/// How long and how large.
#[derive(Clone, Debug)]
pub struct PermissionsOpts {
    /// Rule counts of the measured sessions.
    pub rule_counts: Vec<usize>,
    /// QoS 0 PUBLISHes routed for the baseline.
    pub publishes: usize,
    /// Time spent measuring each check.
    pub per_case: Duration,
    pub sample: Duration,
    /// The fleet of the build measurement.
    pub build_identities: usize,
    pub build_rules: usize,
}

impl crate::Preset for PermissionsOpts {
    fn standard() -> Self {
        PermissionsOpts {
            rule_counts: vec![1, 10, 100, 1000],
            publishes: 200_000,
            per_case: Duration::from_millis(1000),
            sample: Duration::from_millis(10),
            build_identities: 1_000_000,
            build_rules: 1_000_000,
        }
    }

    fn quick() -> Self {
        PermissionsOpts {
            publishes: 50_000,
            per_case: Duration::from_millis(250),
            sample: Duration::from_millis(5),
            build_identities: 100_000,
            build_rules: 100_000,
            ..Self::standard()
        }
    }
}

/// The kinds of rules a measured session has.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mix {
    /// Every rule a literal topic.
    Literal,
    /// Every rule with `+` or `#`.
    Wildcard,
    /// Half and half.
    Mixed,
}

impl Mix {
    pub const ALL: [Mix; 3] = [Mix::Literal, Mix::Wildcard, Mix::Mixed];

    pub fn name(self) -> &'static str {
        match self {
            Mix::Literal => "literal",
            Mix::Wildcard => "wildcard",
            Mix::Mixed => "mixed",
        }
    }
}

const USERNAME: &str = "fleet-user";
const CLIENT_ID: &str = "GID_dev@@@bench";

fn rule(t: IdentityType, topic: String, action: PermitAction, effect: Effect) -> Permission {
    Permission {
        identity: match t {
            IdentityType::User => USERNAME.into(),
            IdentityType::Client => CLIENT_ID.into(),
        },
        identity_type: t,
        topic,
        permit_action: action,
        effect,
    }
}

/// Rule `k` of a session: even `k` are `USER` rules, odd ones `CLIENT` rules; one in eight is a
/// `DENY`. Literal rules name one device's topic; wildcard rules are of four shapes.
fn session_rule(k: usize, mix: Mix) -> Permission {
    let t = if k.is_multiple_of(2) {
        IdentityType::User
    } else {
        IdentityType::Client
    };
    let literal = match mix {
        Mix::Literal => true,
        Mix::Wildcard => false,
        Mix::Mixed => !k.is_multiple_of(2) || k.is_multiple_of(4),
    };
    let deny = k % 8 == 7;
    let effect = if deny { Effect::Deny } else { Effect::Allow };
    let topic = match (literal, deny, k % 4) {
        (true, false, _) => format!("fleet/{k}/telemetry"),
        (true, true, _) => format!("fleet/{k}/secret"),
        (false, true, _) => format!("fleet/{k}/secret/#"),
        (false, false, 0) => format!("fleet/{k}/+/status"),
        (false, false, 1) => format!("fleet/{k}/#"),
        (false, false, 2) => format!("+/{k}/alerts"),
        (false, false, _) => format!("site/+/{k}/+/cmd"),
    };
    rule(t, topic, PermitAction::PubSub, effect)
}

/// Topics a session of `rules` rules publishes and receives: one in four matched by nothing.
fn session_topics(rules: usize, count: usize, seed: u64) -> Vec<String> {
    (0..count as u64)
        .map(|i| {
            let h = synth::mix(seed ^ synth::mix(i));
            let k = (h % rules as u64) as usize;
            match (h >> 32) % 8 {
                0 => format!("fleet/{k}/telemetry"),
                1 => format!("fleet/{k}/dev-{}/status", h % 1000),
                2 => format!("fleet/{k}/x/y"),
                3 => format!("north/{k}/alerts"),
                4 => format!("site/s{}/{k}/dev/cmd", h % 100),
                5 => format!("fleet/{k}/secret"),
                _ => format!("other/{k}/nothing/here"),
            }
        })
        .collect()
}

/// One measured session size and mix.
#[derive(Clone, Debug, Serialize)]
pub struct CheckRow {
    pub rules: usize,
    pub mix: Mix,
    /// Median over samples.
    pub publish_ns: f64,
    pub deliver_ns: f64,
    /// Fastest sample: the cost with the least interference from other load.
    pub publish_min_ns: f64,
    pub deliver_min_ns: f64,
    /// Median of this thread's CPU time per check, when `/proc` says.
    pub publish_cpu_ns: Option<f64>,
    pub deliver_cpu_ns: Option<f64>,
    /// Check / routing one QoS 0 PUBLISH: CPU time against the process's CPU time per routed
    /// PUBLISH when both are known (robust when other work shares the machine), otherwise the
    /// fastest wall-clock figures of each.
    pub publish_ratio: f64,
    pub deliver_ratio: f64,
    /// Share of the probes the check allowed (so the spread is visible).
    pub allowed_share: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Routing {
    pub publishes: usize,
    pub received: usize,
    /// Runs of `publishes` PUBLISHes (each through a fresh router).
    pub runs: usize,
    /// ns per routed PUBLISH of each run.
    pub ns_per_publish_runs: Vec<f64>,
    /// The fastest run's.
    pub ns_per_publish: f64,
    /// CPU time of the process per routed PUBLISH, each run (empty without `/proc`).
    pub cpu_ns_per_publish_runs: Vec<f64>,
    /// The median run's CPU time per routed PUBLISH.
    pub cpu_ns_per_publish: Option<f64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct BuildRow {
    pub identities: usize,
    pub rules: usize,
    /// Distinct rules after `Permissions::build`.
    pub rules_kept: usize,
    pub identities_build_seconds: f64,
    pub rules_build_seconds: f64,
    pub rules_per_second: f64,
    /// Heap bytes per rule (counting allocator), when available.
    pub heap_bytes_per_rule: Option<f64>,
    /// Resident-set growth per rule.
    pub rss_bytes_per_rule: Option<f64>,
    /// `SessionRules::resolve` for sessions of the fleet, ns (two hash lookups, two `Arc`s).
    pub resolve_ns: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct PermissionsReport {
    pub bench: &'static str,
    pub machine: String,
    pub routing: Routing,
    /// Reference floor: one `std::collections::HashSet<String>::contains(topic)` over 100 literal
    /// topics (SipHash of the topic and one probe), CPU ns, on the same probes as the checks.
    pub hashset_lookup_cpu_ns: Option<f64>,
    /// That lookup / routing one QoS 0 PUBLISH (CPU).
    pub hashset_lookup_ratio: Option<f64>,
    pub checks: Vec<CheckRow>,
    pub build: BuildRow,
    pub targets: Vec<Target>,
}

/// Nanoseconds this thread has run on a CPU (`CLOCK_THREAD_CPUTIME_ID`: up to date when read,
/// unlike `/proc/thread-self/schedstat`, which lags by up to a scheduler tick).
#[allow(unsafe_code)]
pub fn thread_cpu_ns() -> Option<u64> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    (rc == 0).then(|| ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64)
}

/// Nanoseconds all threads of this process have run on a CPU (sum over `/proc/self/task`).
pub fn process_cpu_ns() -> Option<u64> {
    let mut total = 0u64;
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let path = task.ok()?.path().join("schedstat");
        // A thread may end between the listing and the read.
        if let Ok(text) = std::fs::read_to_string(path) {
            total += text.split_whitespace().next()?.parse::<u64>().ok()?;
        }
    }
    Some(total)
}

/// One routing run.
pub struct RouteRun {
    pub received: usize,
    /// Wall time per routed PUBLISH.
    pub ns_per_publish: f64,
    /// CPU time of the whole process (router, publisher and subscriber threads) per routed
    /// PUBLISH, when `/proc` says.
    pub cpu_ns_per_publish: Option<f64>,
}

/// Runs everything.
pub fn run(
    opts: &PermissionsOpts,
    progress: &mut dyn FnMut(&str),
) -> Result<PermissionsReport, String> {
    progress(&format!(
        "routing {} QoS 0 PUBLISHes through rumqttd",
        opts.publishes
    ));
    let mut runs = Vec::new();
    for _ in 0..3 {
        runs.push(route(opts.publishes)?);
    }
    let mut routing = Routing {
        publishes: opts.publishes,
        received: runs.iter().map(|r| r.received).min().unwrap_or(0),
        runs: runs.len(),
        ns_per_publish_runs: runs.iter().map(|r| r.ns_per_publish).collect(),
        ns_per_publish: runs
            .iter()
            .map(|r| r.ns_per_publish)
            .fold(f64::INFINITY, f64::min),
        cpu_ns_per_publish_runs: runs.iter().filter_map(|r| r.cpu_ns_per_publish).collect(),
        cpu_ns_per_publish: None,
    };
    if routing.cpu_ns_per_publish_runs.len() == runs.len() {
        let mut sorted = routing.cpu_ns_per_publish_runs.clone();
        sorted.sort_by(f64::total_cmp);
        routing.cpu_ns_per_publish = Some(stats::median(&sorted));
    }
    progress(&format!(
        "rumqttd: {:.0} ns per routed PUBLISH",
        routing.ns_per_publish
    ));
    let mut checks = Vec::new();
    for &rules in &opts.rule_counts {
        for mix in Mix::ALL {
            progress(&format!("checks: {rules} {} rules", mix.name()));
            checks.push(check_row(rules, mix, opts, &routing));
        }
    }
    let reference = {
        let set: std::collections::HashSet<String> =
            (0..100).map(|k| format!("fleet/{k}/telemetry")).collect();
        let topics = session_topics(100, 1 << 12, 0x7091c5 ^ 100);
        let mask = topics.len() - 1;
        let mut k = 0usize;
        let mut jobs = vec![Job::new("hashset", |iters| {
            for _ in 0..iters {
                k = (k + 1) & mask;
                black_box(set.contains(black_box(topics[k].as_str())));
            }
        })];
        sample_wall_and_cpu(&mut jobs, opts.per_case, opts.sample)[0].2
    };
    progress(&format!(
        "build: {} identities, {} rules",
        opts.build_identities, opts.build_rules
    ));
    let build = build_row(opts.build_identities, opts.build_rules);
    let mut targets = Vec::new();
    let at_100: Vec<&CheckRow> = checks.iter().filter(|r| r.rules == 100).collect();
    if !at_100.is_empty() {
        let worst = |f: fn(&CheckRow) -> f64| at_100.iter().map(|r| f(r)).fold(0.0, f64::max);
        targets.push(Target::at_most(
            "per-PUBLISH check at 100 rules / rumqttd routing one QoS 0 PUBLISH (worst mix)",
            worst(|r| r.publish_ratio),
            0.05,
        ));
        targets.push(Target::at_most(
            "per-delivery check at 100 rules / rumqttd routing one QoS 0 PUBLISH (worst mix)",
            worst(|r| r.deliver_ratio),
            0.05,
        ));
    }
    let hashset_lookup_ratio = match (reference, routing.cpu_ns_per_publish) {
        (Some(c), Some(r)) => Some(ratio(c, r)),
        _ => None,
    };
    Ok(PermissionsReport {
        bench: "permissions",
        machine: crate::machine(),
        hashset_lookup_cpu_ns: reference,
        hashset_lookup_ratio,
        routing,
        checks,
        build,
        targets,
    })
}

/// rumqttd's router configuration: segments large enough that the subscriber never loses a
/// message of the run to a rotated segment.
fn router_config(publishes: usize) -> Result<rumqttd::RouterConfig, String> {
    let segment = (publishes * 128).clamp(1 << 20, 1 << 30);
    let text = format!(
        "max_connections = 10\nmax_outgoing_packet_count = 200\n\
         max_segment_size = {segment}\nmax_segment_count = 10\n"
    );
    toml::from_str(&text).map_err(|e| format!("rumqttd router config: {e}"))
}

/// Routes `n` QoS 0 PUBLISHes from one local link to another through a fresh router.
pub fn route(n: usize) -> Result<RouteRun, String> {
    let n = n.max(1);
    let router_tx = Router::new(0, router_config(n)?).spawn();
    let link = |id: &str| {
        LinkBuilder::new(id, router_tx.clone())
            .clean_session(true)
            .build()
            .map_err(|e| format!("rumqttd link {id}: {e}"))
    };
    let (mut sub_tx, mut sub_rx, _) = link("bench-subscriber")?;
    let (mut pub_tx, _pub_rx, _) = link("bench-publisher")?;
    sub_tx
        .subscribe("bench/#")
        .map_err(|e| format!("subscribe: {e}"))?;
    // Wait for the SUBACK.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match sub_rx.recv_deadline(deadline) {
            Ok(Some(Notification::DeviceAck(_))) => break,
            Ok(Some(Notification::Unschedule)) => sub_rx.ready().map_err(|e| e.to_string())?,
            Ok(_) => {}
            Err(e) => return Err(format!("no SUBACK from rumqttd: {e}")),
        }
    }

    const BATCH: usize = 32;
    let mut batches: Vec<Vec<Packet>> = Vec::with_capacity(n.div_ceil(BATCH));
    for i in 0..n {
        if i % BATCH == 0 {
            batches.push(Vec::with_capacity(BATCH));
        }
        let topic = format!("bench/dev-{}/telemetry", i % 1000).into_bytes();
        let payload = format!("{{\"seq\":{i},\"temp\":21.5}}").into_bytes();
        let last = batches.len() - 1;
        batches[last].push(Packet::Publish(Publish::new(topic, payload, false), None));
    }
    let received = Arc::new(AtomicU64::new(0));
    let counter = received.clone();
    let subscriber = std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(120);
        while (counter.load(Relaxed) as usize) < n {
            match sub_rx.recv_deadline(deadline) {
                Ok(Some(Notification::Forward(_))) => {
                    counter.fetch_add(1, Relaxed);
                }
                Ok(Some(Notification::Unschedule)) => {
                    if sub_rx.ready().is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(_) => return,
            }
        }
    });
    let cpu0 = process_cpu_ns();
    let start = Instant::now();
    for mut batch in batches {
        let last = batch.pop().expect("batches are not empty");
        pub_tx.buffer().extend(batch);
        send_now(&mut pub_tx, last)?;
    }
    subscriber
        .join()
        .map_err(|_| "the subscriber thread panicked".to_string())?;
    let seconds = start.elapsed().as_secs_f64();
    let cpu = match (cpu0, process_cpu_ns()) {
        (Some(a), Some(b)) => Some(b.saturating_sub(a) as f64 / n as f64),
        _ => None,
    };
    let got = received.load(Relaxed) as usize;
    if got < n {
        return Err(format!(
            "rumqttd delivered {got} of {n} QoS 0 PUBLISHes within the time allowed"
        ));
    }
    Ok(RouteRun {
        received: got,
        ns_per_publish: seconds * 1e9 / n as f64,
        cpu_ns_per_publish: cpu,
    })
}

/// Pushes `packet` after what the link's buffer holds and notifies the router once, so that the
/// whole batch is one router event. `LinkTx::send` is `async` only in signature (it pushes with a
/// blocking send), so one poll completes it.
fn send_now(tx: &mut rumqttd::local::LinkTx, packet: Packet) -> Result<(), String> {
    let mut send = std::pin::pin!(tx.send(packet));
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match send.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(r) => r.map(|_| ()).map_err(|e| format!("publish: {e}")),
        std::task::Poll::Pending => Err("LinkTx::send did not complete at once".into()),
    }
}

/// Samples `jobs` round-robin like [`stats::interleaved`], recording each sample's wall time
/// and this thread's CPU time. Returns per job (median wall, fastest wall, median CPU) ns/op.
fn sample_wall_and_cpu(
    jobs: &mut [Job<'_>],
    per_job: Duration,
    sample: Duration,
) -> Vec<(f64, f64, Option<f64>)> {
    let (batch, rounds) = stats::calibrate(jobs, per_job, sample);
    let mut wall: Vec<Vec<f64>> = vec![Vec::with_capacity(rounds); jobs.len()];
    let mut cpu: Vec<Vec<f64>> = vec![Vec::with_capacity(rounds); jobs.len()];
    for _ in 0..rounds {
        for (j, job) in jobs.iter_mut().enumerate() {
            let c0 = thread_cpu_ns();
            let t = Instant::now();
            (job.run)(batch[j]);
            let dt = t.elapsed();
            let c1 = thread_cpu_ns();
            wall[j].push(dt.as_nanos() as f64 / batch[j] as f64);
            if let (Some(a), Some(b)) = (c0, c1) {
                cpu[j].push(b.saturating_sub(a) as f64 / batch[j] as f64);
            }
        }
    }
    wall.into_iter()
        .zip(cpu)
        .map(|(mut w, mut c)| {
            w.sort_by(f64::total_cmp);
            c.sort_by(f64::total_cmp);
            let cpu = (c.len() == w.len()).then(|| stats::median(&c));
            (stats::median(&w), w[0], cpu)
        })
        .collect()
}

fn check_row(rules: usize, mix: Mix, opts: &PermissionsOpts, routing: &Routing) -> CheckRow {
    let list: Vec<Permission> = (0..rules).map(|k| session_rule(k, mix)).collect();
    let index = Index::empty().with_permissions(Some(Permissions::build(list)));
    let session = SessionRules::resolve(&index, USERNAME, CLIENT_ID, NoMatch::Deny);
    assert_eq!(session.rules().count(), rules);
    let topics = session_topics(rules, 1 << 12, 0x7091c5 ^ rules as u64);
    let allowed = topics
        .iter()
        .filter(|t| session.may_publish(t).allowed)
        .count();
    let mask = topics.len() - 1;
    let (mut kp, mut kd) = (0usize, 0usize);
    let mut jobs = vec![
        Job::new("publish", |iters| {
            for _ in 0..iters {
                kp = (kp + 1) & mask;
                black_box(session.may_publish(black_box(&topics[kp])).allowed);
            }
        }),
        Job::new("deliver", |iters| {
            for _ in 0..iters {
                kd = (kd + 1) & mask;
                black_box(session.may_deliver(black_box(&topics[kd])).allowed);
            }
        }),
    ];
    let sampled = sample_wall_and_cpu(&mut jobs, opts.per_case, opts.sample);
    let (p, d) = (sampled[0], sampled[1]);
    // CPU time against CPU time when /proc gives both (robust on a loaded machine); otherwise
    // the fastest wall-clock figures of each.
    let ratio_of =
        |(_, wall_min, cpu): (f64, f64, Option<f64>)| match (cpu, routing.cpu_ns_per_publish) {
            (Some(c), Some(r)) => ratio(c, r),
            _ => ratio(wall_min, routing.ns_per_publish),
        };
    CheckRow {
        rules,
        mix,
        publish_ns: p.0,
        deliver_ns: d.0,
        publish_min_ns: p.1,
        deliver_min_ns: d.1,
        publish_cpu_ns: p.2,
        deliver_cpu_ns: d.2,
        publish_ratio: ratio_of(p),
        deliver_ratio: ratio_of(d),
        allowed_share: allowed as f64 / topics.len() as f64,
    }
}

/// Rule `i` of a fleet of `identities`: even `i` a `USER` rule of synthetic identity `i/2`'s
/// username, odd `i` a `CLIENT` rule of its client id; literal and wildcard alternating; all
/// distinct.
fn fleet_rule(i: usize, identities: usize) -> Permission {
    let n = (i / 2) % identities.max(1);
    let (identity_type, identity) = if i.is_multiple_of(2) {
        (IdentityType::User, synth::username(n))
    } else {
        (IdentityType::Client, synth::client_id(n))
    };
    // Past one rule of each kind per identity, the rules of further rounds name other topics.
    let round = i / (2 * identities.max(1));
    let topic = match i % 4 {
        0 | 1 => format!("fleet/{n:08}/r{round}/telemetry"),
        2 => format!("fleet/{n:08}/r{round}/+/cmd"),
        _ => format!("fleet/{n:08}/r{round}/#"),
    };
    Permission {
        identity,
        identity_type,
        topic,
        permit_action: PermitAction::PubSub,
        effect: Effect::Allow,
    }
}

fn build_row(identities: usize, rules: usize) -> BuildRow {
    let t = Instant::now();
    let (index, _) = Index::build(synth::identities(identities), Vec::new());
    let identities_build = t.elapsed();
    let list: Vec<Permission> = (0..rules).map(|i| fleet_rule(i, identities)).collect();
    let (live0, rss0) = (alloc::live_bytes(), alloc::rss_bytes());
    let t = Instant::now();
    let permissions = Permissions::build(list);
    let rules_build = t.elapsed();
    let (live1, rss1) = (alloc::live_bytes(), alloc::rss_bytes());
    let kept = permissions.len();
    let per = |a: Option<usize>, b: Option<usize>| match (a, b) {
        // The input list (moved into the build) is counted before and its strings live on in
        // the rules: the growth is what the compiled form adds beyond the validated records.
        (Some(a), Some(b)) => Some(b.saturating_sub(a) as f64 / kept.max(1) as f64),
        _ => None,
    };
    let index = index.with_permissions(Some(permissions));
    // Resolving sessions of the fleet.
    let probes: Vec<(String, String)> = (0..4096u64)
        .map(|k| {
            let n = (synth::mix(k) % identities.max(1) as u64) as usize;
            (synth::username(n), synth::client_id(n))
        })
        .collect();
    let mut k = 0usize;
    let mut jobs = vec![Job::new("resolve", |iters| {
        for _ in 0..iters {
            k = (k + 1) & 4095;
            let (u, c) = &probes[k];
            black_box(SessionRules::resolve(&index, u, c, NoMatch::Deny));
        }
    })];
    let resolve = stats::interleaved(
        &mut jobs,
        Duration::from_millis(200),
        Duration::from_millis(5),
    );
    BuildRow {
        identities,
        rules,
        rules_kept: kept,
        identities_build_seconds: identities_build.as_secs_f64(),
        rules_build_seconds: rules_build.as_secs_f64(),
        rules_per_second: rules as f64 / rules_build.as_secs_f64(),
        heap_bytes_per_rule: per(live0, live1),
        rss_bytes_per_rule: per(rss0, rss1),
        resolve_ns: resolve[0].ns_per_op,
    }
}

impl fmt::Display for PermissionsReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "mqid bench permissions; {}", self.machine)?;
        let r = &self.routing;
        let fmt_runs = |v: &[f64]| {
            v.iter()
                .map(|n| format!("{n:.0}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        writeln!(
            f,
            "baseline: rumqttd routes one QoS 0 PUBLISH (local links, {} messages, {} runs): wall {:.0} ns fastest (runs {}); CPU {} ns median (runs {})",
            r.publishes,
            r.runs,
            r.ns_per_publish,
            fmt_runs(&r.ns_per_publish_runs),
            r.cpu_ns_per_publish.map_or("-".into(), |c| format!("{c:.0}")),
            fmt_runs(&r.cpu_ns_per_publish_runs),
        )?;
        writeln!(
            f,
            "ratios: check CPU / routing CPU (wall-clock minimum / fastest run without /proc)"
        )?;
        writeln!(
            f,
            "{:>6} {:>9} {:>24} {:>24} {:>10} {:>11} {:>8}",
            "rules",
            "mix",
            "publish ns cpu/min/med",
            "deliver ns cpu/min/med",
            "pub/route",
            "deliv/route",
            "allowed"
        )?;
        let cpu = |c: Option<f64>| c.map_or("-".into(), |c| format!("{c:.1}"));
        for c in &self.checks {
            writeln!(
                f,
                "{:>6} {:>9} {:>24} {:>24} {:>10.4} {:>11.4} {:>7.0}%",
                c.rules,
                c.mix.name(),
                format!(
                    "{}/{:.1}/{:.1}",
                    cpu(c.publish_cpu_ns),
                    c.publish_min_ns,
                    c.publish_ns
                ),
                format!(
                    "{}/{:.1}/{:.1}",
                    cpu(c.deliver_cpu_ns),
                    c.deliver_min_ns,
                    c.deliver_ns
                ),
                c.publish_ratio,
                c.deliver_ratio,
                c.allowed_share * 100.0
            )?;
        }
        if let (Some(c), Some(r)) = (self.hashset_lookup_cpu_ns, self.hashset_lookup_ratio) {
            writeln!(
                f,
                "reference: one HashSet<String>::contains(topic) (SipHash + probe): {c:.1} ns CPU = {r:.4} of routing"
            )?;
        }
        let b = &self.build;
        let opt = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.0}"));
        writeln!(
            f,
            "build: {} rules ({} kept) over {} identities: rules {:.3} s ({:.0} rules/s; identity index {:.3} s); heap {} B/rule, RSS {} B/rule; resolve {:.0} ns",
            b.rules,
            b.rules_kept,
            b.identities,
            b.rules_build_seconds,
            b.rules_per_second,
            b.identities_build_seconds,
            opt(b.heap_bytes_per_rule),
            opt(b.rss_bytes_per_rule),
            b.resolve_ns
        )?;
        for t in &self.targets {
            writeln!(f, "{t}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_rules_have_the_stated_mix() {
        for mix in Mix::ALL {
            let rules: Vec<Permission> = (0..100).map(|k| session_rule(k, mix)).collect();
            let wild = rules
                .iter()
                .filter(|r| r.topic.contains(['+', '#']))
                .count();
            let deny = rules.iter().filter(|r| r.effect == Effect::Deny).count();
            match mix {
                Mix::Literal => assert_eq!(wild, 0),
                Mix::Wildcard => assert_eq!(wild, 100),
                Mix::Mixed => assert!((25..=75).contains(&wild), "{wild}"),
            }
            assert_eq!(deny, 12);
            for r in &rules {
                assert!(
                    mqid_core::topic::check_filter(&r.topic).is_ok(),
                    "{}",
                    r.topic
                );
            }
        }
    }
}
