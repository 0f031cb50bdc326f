//! mqid's edge against rumqttd's stock listener, each broker in a process of its own
//! ([`crate::procs`]): `mqid serve` deciding with mqid (and, for PUBLISH, enforcing 100 topic
//! rules) against `mqid bench stock-broker`, the same router configuration behind rumqttd's
//! stock listener **without authentication**. Runs alternate between the two within one
//! invocation, and every figure is a ratio of the two measured in the same run.
//!
//! * [`publish`]: messages/s from one publisher to one subscriber (QoS 0 and QoS 1, rumqttc on
//!   both ends), the broker's CPU per message, and end-to-end latency p50/p99 of one message at a
//!   time (publisher → router → subscriber).
//! * [`idle`]: resident memory per idle connection (10,000 connections).
//! * [`reconnect`]: the time N connected devices take to be connected again after the broker
//!   is killed and restarted.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rumqttc::{AsyncClient, ConnectReturnCode, Event, MqttOptions, Packet, QoS};

use crate::procs::{self, Broker, BrokerSpec, Listener};
use crate::stats::Latency;
use crate::{ratio, Target};

// ---------------------------------------------------------------------------------------------
// PUBLISH throughput and latency

/// The topic the publisher publishes to and the subscriber subscribes to.
pub const TOPIC: &str = "bench/dev-1/telemetry";

/// 100 rules of the bench identity: 99 that do not match [`TOPIC`], of every shape a topic of
/// its depth fits (literal, `+` at each level, `#`), allow and deny, then the one that allows it.
pub fn rules_json(count: usize) -> String {
    let count = count.max(1);
    let mut rules = Vec::with_capacity(count);
    let rule = |topic: String, action: &str, effect: &str| {
        format!(
            r#"{{"Identity":"bench","IdentityType":"USER","Topic":"{topic}","PermitAction":"{action}","Effect":"{effect}"}}"#
        )
    };
    for i in 0..count - 1 {
        rules.push(match i % 6 {
            0 => rule(format!("bench/dev-{}/telemetry", i + 2), "PUB_SUB", "ALLOW"),
            1 => rule(format!("bench/+/telemetry-{i}"), "PUB_SUB", "ALLOW"),
            2 => rule(format!("+/dev-{i}/telemetry"), "PUB", "ALLOW"),
            3 => rule(format!("bench/dev-1/+/x{i}"), "SUB", "ALLOW"),
            4 => rule(format!("other-{i}/#"), "PUB_SUB", "ALLOW"),
            _ => rule(format!("bench/dev-1/admin-{i}"), "PUB_SUB", "DENY"),
        });
    }
    rules.push(rule("bench/+/telemetry".into(), "PUB_SUB", "ALLOW"));
    format!("[{}]", rules.join(",\n"))
}

#[derive(Clone, Debug)]
pub struct PublishOpts {
    pub rules: usize,
    pub payload: usize,
    pub warm_up: Duration,
    /// Measured seconds of each throughput run.
    pub measure: Duration,
    /// Messages of each latency run (one at a time).
    pub latency_messages: usize,
    pub rounds: usize,
}

impl crate::Preset for PublishOpts {
    fn standard() -> Self {
        PublishOpts {
            rules: 100,
            payload: 64,
            warm_up: Duration::from_millis(500),
            measure: Duration::from_secs(3),
            latency_messages: 2000,
            rounds: 3,
        }
    }

    fn quick() -> Self {
        PublishOpts {
            measure: Duration::from_secs(1),
            latency_messages: 300,
            rounds: 1,
            ..Self::standard()
        }
    }
}

/// One throughput run: messages/s the subscriber received over the window, and the broker's CPU
/// microseconds per message received (when `/proc` tells).
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct Throughput {
    pub msgs_per_s: f64,
    pub cpu_us_per_msg: Option<f64>,
}

fn options(id: &str, port: u16) -> MqttOptions {
    let mut o = MqttOptions::new(id, "127.0.0.1", port);
    o.set_credentials(procs::USERNAME, procs::PASSWORD);
    o.set_keep_alive(Duration::from_secs(60));
    o.set_max_packet_size(1 << 20, 1 << 20);
    o
}

/// A subscriber of `topic` at `qos` whose event loop runs in a task; `on_publish` sees every
/// message it receives. Returns once the SUBACK granted the subscription.
async fn subscriber(
    port: u16,
    id: &str,
    topic: &str,
    qos: QoS,
    stop: Arc<AtomicBool>,
    mut on_publish: impl FnMut(&[u8]) + Send + 'static,
) -> Result<tokio::task::JoinHandle<Result<(), String>>, String> {
    let (sub, mut ev) = AsyncClient::new(options(id, port), 100);
    sub.subscribe(topic, qos).await.map_err(|e| e.to_string())?;
    let (tx, rx) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(async move {
        let _keep = sub;
        let mut tx = Some(tx);
        while !stop.load(Relaxed) {
            match ev.poll().await {
                Ok(Event::Incoming(Packet::Publish(p))) => on_publish(&p.payload),
                Ok(Event::Incoming(Packet::SubAck(a))) => {
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(a.return_codes);
                    }
                }
                Ok(_) => {}
                Err(e) => return Err(format!("subscriber: {e}")),
            }
        }
        Ok(())
    });
    match tokio::time::timeout(Duration::from_secs(10), rx).await {
        Ok(Ok(codes)) => match codes.first() {
            Some(rumqttc::SubscribeReasonCode::Success(_)) => Ok(task),
            other => Err(format!("subscription to {topic} refused: {other:?}")),
        },
        _ => {
            task.abort();
            Err("no SUBACK within 10 s".into())
        }
    }
}

/// A publisher whose event loop runs in a task.
fn publisher(
    port: u16,
    id: &str,
    stop: Arc<AtomicBool>,
) -> (AsyncClient, tokio::task::JoinHandle<Result<(), String>>) {
    let (client, mut ev) = AsyncClient::new(options(id, port), 1000);
    let task = tokio::spawn(async move {
        while !stop.load(Relaxed) {
            if let Err(e) = ev.poll().await {
                return Err(format!("publisher: {e}"));
            }
        }
        Ok(())
    });
    (client, task)
}

/// Ends the client tasks; an error if one of them lost its connection during the run (which
/// makes the run meaningless).
async fn finish(tasks: Vec<tokio::task::JoinHandle<Result<(), String>>>) -> Result<(), String> {
    for task in tasks {
        if task.is_finished() {
            if let Ok(Err(e)) = task.await {
                return Err(format!("lost its connection during the run: {e}"));
            }
        } else {
            task.abort();
        }
    }
    Ok(())
}

/// One publisher publishing to `topic` as fast as its event loop takes messages, one subscriber;
/// the rate is what the subscriber receives over `measure` after `warm_up`. `pid`: the broker's
/// process, for its CPU time.
pub async fn throughput(
    port: u16,
    pid: u32,
    topic: &str,
    qos: QoS,
    payload: usize,
    warm_up: Duration,
    measure: Duration,
) -> Result<Throughput, String> {
    let received = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let counter = received.clone();
    let sub_task = subscriber(port, "bench-sub", topic, qos, stop.clone(), move |_| {
        counter.fetch_add(1, Relaxed);
    })
    .await?;
    let (client, pub_task) = publisher(port, "bench-pub", stop.clone());
    let payload = vec![b'x'; payload];
    let topic = topic.to_string();
    let sender = {
        let stop = stop.clone();
        tokio::spawn(async move {
            while !stop.load(Relaxed) {
                if client
                    .publish(topic.as_str(), qos, false, payload.clone())
                    .await
                    .is_err()
                {
                    break;
                }
            }
        })
    };
    tokio::time::sleep(warm_up).await;
    let start = (received.load(Relaxed), Instant::now(), procs::cpu_time(pid));
    tokio::time::sleep(measure).await;
    let end = (received.load(Relaxed), Instant::now(), procs::cpu_time(pid));
    stop.store(true, Relaxed);
    sender.abort();
    finish(vec![sub_task, pub_task]).await?;
    let messages = end.0 - start.0;
    let cpu_us_per_msg = match (start.2, end.2) {
        (Some(a), Some(b)) if messages > 0 => Some((b - a).as_secs_f64() * 1e6 / messages as f64),
        _ => None,
    };
    Ok(Throughput {
        msgs_per_s: messages as f64 / (end.1 - start.1).as_secs_f64(),
        cpu_us_per_msg,
    })
}

/// `messages` messages one at a time (the next is published when the subscriber has the last):
/// end-to-end latency of each, microseconds.
async fn latency(port: u16, qos: QoS, payload: usize, messages: usize) -> Result<Vec<f64>, String> {
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(u64, Instant)>();
    let sub_task = subscriber(port, "bench-lat-sub", TOPIC, qos, stop.clone(), move |p| {
        let mut seq = [0u8; 8];
        if p.len() >= 8 {
            seq.copy_from_slice(&p[..8]);
            let _ = tx.send((u64::from_be_bytes(seq), Instant::now()));
        }
    })
    .await?;
    let (client, pub_task) = publisher(port, "bench-lat-pub", stop.clone());
    let mut out = Vec::with_capacity(messages);
    let mut body = vec![b'x'; payload.max(8)];
    // a few unmeasured messages first
    let warm = 20;
    for seq in 0..(messages + warm) as u64 {
        body[..8].copy_from_slice(&seq.to_be_bytes());
        let sent = Instant::now();
        client
            .publish(TOPIC, qos, false, body.clone())
            .await
            .map_err(|e| e.to_string())?;
        loop {
            match tokio::time::timeout(Duration::from_secs(5), rx.recv()).await {
                Ok(Some((s, at))) if s == seq => {
                    if seq >= warm as u64 {
                        out.push((at - sent).as_secs_f64() * 1e6);
                    }
                    break;
                }
                Ok(Some(_)) => continue,
                _ => {
                    stop.store(true, Relaxed);
                    finish(vec![sub_task, pub_task]).await?;
                    return Err(format!("message {seq} not delivered within 5 s"));
                }
            }
        }
    }
    stop.store(true, Relaxed);
    finish(vec![sub_task, pub_task]).await?;
    Ok(out)
}

/// One listener's figures at one QoS, over all rounds.
#[derive(Clone, Debug, serde::Serialize)]
pub struct PublishRow {
    pub listener: Listener,
    pub qos: u8,
    /// Messages/s of each round, and their median.
    pub runs: Vec<f64>,
    pub msgs_per_s: f64,
    /// Broker CPU µs per message, each round, and the median.
    pub cpu_runs: Vec<f64>,
    pub cpu_us_per_msg: f64,
    /// One message at a time, all rounds, µs.
    pub latency_us: Latency,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct PublishRatio {
    pub qos: u8,
    /// edge / stock, medians.
    pub msgs_per_s: f64,
    /// edge / stock for each round (the spread).
    pub msgs_per_s_by_round: Vec<f64>,
    pub cpu_per_msg: f64,
    pub latency_p50: f64,
    pub latency_p99: f64,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct PublishReport {
    pub bench: &'static str,
    pub machine: String,
    pub rules: usize,
    pub payload: usize,
    pub measure_secs: f64,
    pub latency_messages: usize,
    pub rounds: usize,
    pub rows: Vec<PublishRow>,
    pub ratios: Vec<PublishRatio>,
    pub targets: Vec<Target>,
}

/// Runs the PUBLISH bench with the `mqid` executable at `mqid`.
pub fn publish(
    opts: &PublishOpts,
    mqid: &std::path::Path,
    progress: &mut dyn FnMut(&str),
) -> Result<PublishReport, String> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    progress(&format!(
        "starting rumqttd's stock listener (no auth) and mqid serve ({} rules on the identity)...",
        opts.rules
    ));
    let stock = Broker::start(mqid, Listener::Stock, BrokerSpec::quiet(1000))?;
    let edge = Broker::start(
        mqid,
        Listener::Edge,
        BrokerSpec {
            rules: Some(rules_json(opts.rules)),
            ..BrokerSpec::quiet(1000)
        },
    )?;
    // (listener, qos) -> (rates, cpu, latencies)
    type Acc = (Vec<f64>, Vec<f64>, Vec<f64>);
    let mut acc: Vec<((Listener, u8), Acc)> = Vec::new();
    let rounds = opts.rounds.max(1);
    for round in 0..rounds {
        for qos in [QoS::AtMostOnce, QoS::AtLeastOnce] {
            for l in Listener::order(round) {
                let b = if l == Listener::Stock { &stock } else { &edge };
                let t = rt.block_on(throughput(
                    b.port,
                    b.pid(),
                    TOPIC,
                    qos,
                    opts.payload,
                    opts.warm_up,
                    opts.measure,
                ))?;
                if t.msgs_per_s == 0.0 {
                    return Err(format!(
                        "the subscriber received nothing through the {} listener",
                        l.name()
                    ));
                }
                let lat = rt.block_on(latency(b.port, qos, opts.payload, opts.latency_messages))?;
                progress(&format!(
                    "round {}/{rounds}: {} QoS {}: {:.0} msg/s, broker CPU {} us/msg, latency p50 {:.0} us",
                    round + 1,
                    l.name(),
                    qos as u8,
                    t.msgs_per_s,
                    t.cpu_us_per_msg.map(|c| format!("{c:.2}")).unwrap_or("-".into()),
                    Latency::of_samples(&mut lat.clone()).p50
                ));
                let key = (l, qos as u8);
                let i = match acc.iter().position(|(k, _)| *k == key) {
                    Some(i) => i,
                    None => {
                        acc.push((key, Default::default()));
                        acc.len() - 1
                    }
                };
                let a = &mut acc[i].1;
                a.0.push(t.msgs_per_s);
                a.1.extend(t.cpu_us_per_msg);
                a.2.extend(lat);
            }
        }
    }
    drop((stock, edge));
    let rows: Vec<PublishRow> = acc
        .into_iter()
        .map(|((listener, qos), (runs, cpu_runs, mut lat))| PublishRow {
            listener,
            qos,
            msgs_per_s: procs::median(&runs),
            cpu_us_per_msg: procs::median(&cpu_runs),
            runs,
            cpu_runs,
            latency_us: Latency::of_samples(&mut lat),
        })
        .collect();
    let mut ratios = Vec::new();
    let mut targets = Vec::new();
    for qos in [0u8, 1] {
        let get = |l| {
            rows.iter()
                .find(|r| r.listener == l && r.qos == qos)
                .expect("measured")
        };
        let (s, e) = (get(Listener::Stock), get(Listener::Edge));
        let r = PublishRatio {
            qos,
            msgs_per_s: ratio(e.msgs_per_s, s.msgs_per_s),
            msgs_per_s_by_round: e
                .runs
                .iter()
                .zip(&s.runs)
                .map(|(a, b)| ratio(*a, *b))
                .collect(),
            cpu_per_msg: ratio(e.cpu_us_per_msg, s.cpu_us_per_msg),
            latency_p50: ratio(e.latency_us.p50, s.latency_us.p50),
            latency_p99: ratio(e.latency_us.p99, s.latency_us.p99),
        };
        targets.push(Target::at_least(
            format!(
                "QoS {qos}: messages/s, edge with {} rules / stock listener without auth",
                opts.rules
            ),
            r.msgs_per_s,
            0.9,
        ));
        ratios.push(r);
    }
    Ok(PublishReport {
        bench: "publish",
        machine: crate::machine(),
        rules: opts.rules,
        payload: opts.payload,
        measure_secs: opts.measure.as_secs_f64(),
        latency_messages: opts.latency_messages,
        rounds,
        rows,
        ratios,
        targets,
    })
}

impl std::fmt::Display for PublishReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "mqid bench publish: 1 publisher -> 1 subscriber on {TOPIC}, {}-byte messages, {:.1} s \
             per throughput run, {} messages one at a time per latency run, {} round(s); edge: \
             mqid serve, {} rules on the identity; stock: rumqttd's listener, no auth ({})",
            self.payload,
            self.measure_secs,
            self.latency_messages,
            self.rounds,
            self.rules,
            self.machine
        )?;
        writeln!(
            f,
            "{:<6} {:>3} {:>10} {:>18} {:>12} {:>10} {:>10}",
            "broker", "QoS", "msg/s", "runs", "CPU us/msg", "lat p50", "lat p99"
        )?;
        for r in &self.rows {
            writeln!(
                f,
                "{:<6} {:>3} {:>10.0} {:>18} {:>12.2} {:>7.0} us {:>7.0} us",
                r.listener.name(),
                r.qos,
                r.msgs_per_s,
                procs::spread(&r.runs, 0),
                r.cpu_us_per_msg,
                r.latency_us.p50,
                r.latency_us.p99
            )?;
        }
        for r in &self.ratios {
            writeln!(
                f,
                "QoS {}: edge / stock: msg/s {:.2}x (rounds {}), broker CPU per message {:.2}x, \
                 latency p50 {:.2}x, p99 {:.2}x",
                r.qos,
                r.msgs_per_s,
                procs::spread(&r.msgs_per_s_by_round, 2),
                r.cpu_per_msg,
                r.latency_p50,
                r.latency_p99
            )?;
        }
        crate::write_targets(f, &self.targets)
    }
}

// ---------------------------------------------------------------------------------------------
// Memory per idle connection

#[derive(Clone, Debug)]
pub struct IdleOpts {
    pub connections: usize,
    pub concurrency: usize,
    pub rounds: usize,
    /// How long the connections stay idle before the resident set is read.
    pub settle: Duration,
}

impl crate::Preset for IdleOpts {
    fn standard() -> Self {
        IdleOpts {
            connections: 10_000,
            concurrency: 64,
            rounds: 2,
            settle: Duration::from_secs(2),
        }
    }

    fn quick() -> Self {
        IdleOpts {
            connections: 2_000,
            rounds: 1,
            settle: Duration::from_millis(500),
            ..Self::standard()
        }
    }
}

/// Opens `n` connections to `port` (`concurrency` at a time), each admitted (CONNACK 0) and
/// then left idle; returns them (dropping them closes them) and how long it took.
async fn connect_many(
    port: u16,
    n: usize,
    concurrency: usize,
    prefix: &str,
) -> Result<(Vec<tokio::net::TcpStream>, Duration), String> {
    let next = Arc::new(AtomicUsize::new(0));
    let t = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency.max(1) {
        let (next, prefix) = (next.clone(), prefix.to_string());
        tasks.push(tokio::spawn(async move {
            let mut held = Vec::new();
            loop {
                let i = next.fetch_add(1, Relaxed);
                if i >= n {
                    return Ok(held);
                }
                let mut s = procs::dial(i, port)
                    .await
                    .map_err(|e| format!("connection {i}: {e}"))?;
                let id = format!("{prefix}-{i}");
                match tokio::time::timeout(
                    Duration::from_secs(30),
                    procs::mqtt_connect(&mut s, &id, 3600),
                )
                .await
                {
                    Ok(Ok(ConnectReturnCode::Success)) => held.push(s),
                    other => return Err(format!("connection {i} ({id}) not admitted: {other:?}")),
                }
            }
        }));
    }
    let mut all = Vec::with_capacity(n);
    for task in tasks {
        all.extend(task.await.map_err(|e| e.to_string())??);
    }
    Ok((all, t.elapsed()))
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct IdleRun {
    pub listener: Listener,
    pub rss_before: u64,
    pub rss_after: u64,
    pub bytes_per_connection: f64,
    pub connect_seconds: f64,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct IdleReport {
    pub bench: &'static str,
    pub machine: String,
    pub connections: usize,
    pub runs: Vec<IdleRun>,
    pub stock_bytes_per_connection: f64,
    pub edge_bytes_per_connection: f64,
    /// edge / stock, medians.
    pub ratio: f64,
    pub targets: Vec<Target>,
}

/// Runs the idle-memory bench: for each listener and round a fresh broker process, its resident
/// set before and after `connections` idle connections.
pub fn idle(
    opts: &IdleOpts,
    mqid: &std::path::Path,
    progress: &mut dyn FnMut(&str),
) -> Result<IdleReport, String> {
    // the bench holds one end of each connection, the broker process the other
    procs::raise_nofile(opts.connections as u64 + 1024)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let rounds = opts.rounds.max(1);
    let mut runs = Vec::new();
    for round in 0..rounds {
        for l in Listener::order(round) {
            let b = Broker::start(mqid, l, BrokerSpec::quiet(opts.connections + 1000))?;
            std::thread::sleep(opts.settle);
            let before = b
                .rss()
                .ok_or("no /proc/PID/status: the bench needs Linux")?;
            let (held, took) = rt.block_on(connect_many(
                b.port,
                opts.connections,
                opts.concurrency,
                "idle",
            ))?;
            std::thread::sleep(opts.settle);
            let after = b.rss().ok_or("the broker's /proc/PID/status went away")?;
            let per = (after as f64 - before as f64) / opts.connections as f64;
            progress(&format!(
                "round {}/{rounds}: {}: {} idle connections in {:.1} s, RSS {:.1} -> {:.1} MB, \
                 {per:.0} bytes per connection",
                round + 1,
                l.name(),
                held.len(),
                took.as_secs_f64(),
                before as f64 / 1e6,
                after as f64 / 1e6
            ));
            drop(held);
            drop(b);
            runs.push(IdleRun {
                listener: l,
                rss_before: before,
                rss_after: after,
                bytes_per_connection: per,
                connect_seconds: took.as_secs_f64(),
            });
        }
    }
    let of = |l| {
        procs::median(
            &runs
                .iter()
                .filter(|r| r.listener == l)
                .map(|r| r.bytes_per_connection)
                .collect::<Vec<_>>(),
        )
    };
    let (s, e) = (of(Listener::Stock), of(Listener::Edge));
    let r = ratio(e, s);
    Ok(IdleReport {
        bench: "idle",
        machine: crate::machine(),
        connections: opts.connections,
        runs,
        stock_bytes_per_connection: s,
        edge_bytes_per_connection: e,
        ratio: r,
        targets: vec![Target::at_most(
            format!(
                "memory per idle connection ({}), edge / stock listener",
                opts.connections
            ),
            r,
            1.2,
        )],
    })
}

impl std::fmt::Display for IdleReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "mqid bench idle: {} idle MQTT 3.1.1 connections per broker process (fresh process per \
             run), resident-set growth ({})",
            self.connections, self.machine
        )?;
        writeln!(
            f,
            "{:<6} {:>12} {:>12} {:>12} {:>10}",
            "broker", "RSS before", "RSS after", "B/conn", "connect s"
        )?;
        for r in &self.runs {
            writeln!(
                f,
                "{:<6} {:>9.1} MB {:>9.1} MB {:>12.0} {:>10.2}",
                r.listener.name(),
                r.rss_before as f64 / 1e6,
                r.rss_after as f64 / 1e6,
                r.bytes_per_connection,
                r.connect_seconds
            )?;
        }
        writeln!(
            f,
            "bytes per idle connection (median): stock {:.0}, edge {:.0}; edge / stock {:.2}x",
            self.stock_bytes_per_connection, self.edge_bytes_per_connection, self.ratio
        )?;
        crate::write_targets(f, &self.targets)
    }
}

// ---------------------------------------------------------------------------------------------
// Reconnect after a restart

#[derive(Clone, Debug)]
pub struct ReconnectOpts {
    pub devices: usize,
    /// Connecting the fleet before the restart: at most this many CONNECTs at once.
    pub concurrency: usize,
    /// After losing its connection a device waits a random time up to this before its first
    /// attempt (devices notice the loss and act at different moments).
    pub spread: Duration,
    /// Wait between a device's failed attempts (random, up to twice this).
    pub retry: Duration,
    pub rounds: usize,
    /// The longest a reconnect may take before the run is reported as incomplete.
    pub deadline: Duration,
}

impl crate::Preset for ReconnectOpts {
    fn standard() -> Self {
        ReconnectOpts {
            devices: 50_000,
            concurrency: 256,
            spread: Duration::from_secs(1),
            retry: Duration::from_millis(250),
            rounds: 1,
            deadline: Duration::from_secs(300),
        }
    }

    fn quick() -> Self {
        ReconnectOpts {
            devices: 2_000,
            deadline: Duration::from_secs(60),
            ..Self::standard()
        }
    }
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct ReconnectRun {
    pub listener: Listener,
    /// Devices connected again before the deadline.
    pub reconnected: usize,
    /// From the kill to the restarted broker's first CONNACK.
    pub first_seconds: f64,
    /// From the kill to the last device's CONNACK.
    pub all_seconds: f64,
    /// Failed attempts (refused while down, reset, timed out) over all devices.
    pub failed_attempts: u64,
    /// This process's (the devices') CPU over the reconnect, as a share of the wall time.
    pub client_cpu_share: f64,
    /// The restarted broker's CPU over the reconnect, as a share of the wall time.
    pub broker_cpu_share: f64,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct ReconnectReport {
    pub bench: &'static str,
    pub machine: String,
    pub devices: usize,
    pub runs: Vec<ReconnectRun>,
    /// Medians of `all_seconds`.
    pub stock_seconds: f64,
    pub edge_seconds: f64,
    /// stock / edge: how many times faster the edge's fleet is back.
    pub speedup: f64,
}

/// Device `i`: connects, holds its connection until the broker closes it, then reconnects with
/// the bench's spread and retry; reports (attempts failed, when it was admitted again).
async fn device(
    i: usize,
    port: u16,
    opts: ReconnectOpts,
    connected: Arc<AtomicUsize>,
    mut ready: tokio::sync::watch::Receiver<bool>,
    permit: tokio::sync::OwnedSemaphorePermit,
) -> Result<(u64, Option<Instant>), String> {
    let id = format!("dev-{i}");
    // the first connection, before the restart
    let mut s = loop {
        let mut s = procs::dial(i, port)
            .await
            .map_err(|e| format!("{id}: {e}"))?;
        match tokio::time::timeout(
            Duration::from_secs(30),
            procs::mqtt_connect(&mut s, &id, 3600),
        )
        .await
        {
            Ok(Ok(ConnectReturnCode::Success)) => break s,
            Ok(Ok(code)) => return Err(format!("{id} refused: {code:?}")),
            _ => tokio::time::sleep(opts.retry).await,
        }
    };
    drop(permit);
    connected.fetch_add(1, Relaxed);
    let _ = ready.wait_for(|r| *r).await;
    // wait for the broker to go away
    let mut buf = [0u8; 64];
    use tokio::io::AsyncReadExt;
    loop {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
    drop(s);
    let jitter = |max: Duration| {
        // a cheap per-device pseudo-random fraction (no shared RNG state)
        let x = (i as u64)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .rotate_left(17);
        max.mul_f64((x % 10_000) as f64 / 10_000.0)
    };
    tokio::time::sleep(jitter(opts.spread)).await;
    let mut failed = 0u64;
    let give_up = Instant::now() + opts.deadline;
    loop {
        let attempt = async {
            let mut s = procs::dial(i, port).await?;
            let code = procs::mqtt_connect(&mut s, &id, 3600).await?;
            Ok::<_, std::io::Error>((s, code))
        };
        match tokio::time::timeout(Duration::from_secs(10), attempt).await {
            Ok(Ok((s, ConnectReturnCode::Success))) => {
                let at = Instant::now();
                // hold it until the run ends (the task is detached)
                tokio::spawn(async move {
                    let mut s = s;
                    let mut buf = [0u8; 64];
                    while matches!(s.read(&mut buf).await, Ok(n) if n > 0) {}
                });
                return Ok((failed, Some(at)));
            }
            _ => failed += 1,
        }
        if Instant::now() > give_up {
            return Ok((failed, None));
        }
        tokio::time::sleep(opts.retry + jitter(opts.retry)).await;
    }
}

/// Runs the reconnect bench: per listener, `devices` devices connect, the broker is killed and
/// started again at once, and the devices reconnect.
pub fn reconnect(
    opts: &ReconnectOpts,
    mqid: &std::path::Path,
    progress: &mut dyn FnMut(&str),
) -> Result<ReconnectReport, String> {
    procs::raise_nofile(opts.devices as u64 + 1024).map_err(|e| format!("{e} (--devices)"))?;
    let rounds = opts.rounds.max(1);
    let mut runs = Vec::new();
    for round in 0..rounds {
        for l in Listener::order(round) {
            // a runtime per run, so that nothing of the last run's devices is left
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            let mut b = Broker::start(mqid, l, BrokerSpec::quiet(opts.devices + 1000))?;
            let connected = Arc::new(AtomicUsize::new(0));
            let (ready_tx, ready_rx) = tokio::sync::watch::channel(false);
            let sem = Arc::new(tokio::sync::Semaphore::new(opts.concurrency.max(1)));
            let mut tasks = Vec::with_capacity(opts.devices);
            let t = Instant::now();
            for i in 0..opts.devices {
                let (o, c, r, sem) = (
                    opts.clone(),
                    connected.clone(),
                    ready_rx.clone(),
                    sem.clone(),
                );
                let port = b.port;
                tasks.push(rt.spawn(async move {
                    // the first connections `concurrency` at a time; the reconnects all at once
                    let permit = sem.acquire_owned().await.map_err(|e| e.to_string())?;
                    device(i, port, o, c, r, permit).await
                }));
            }
            while connected.load(Relaxed) < opts.devices {
                if t.elapsed() > opts.deadline {
                    return Err(format!(
                        "{}: only {} of {} devices connected within {:?}",
                        l.name(),
                        connected.load(Relaxed),
                        opts.devices,
                        opts.deadline
                    ));
                }
                if tasks.iter().any(|t| t.is_finished()) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            if let Some(done) = tasks.iter().position(|t| t.is_finished()) {
                let task = tasks.swap_remove(done);
                let res = rt.block_on(task).map_err(|e| e.to_string())?;
                return Err(format!(
                    "{}: a device ended before the restart: {res:?}",
                    l.name()
                ));
            }
            let connect_s = t.elapsed().as_secs_f64();
            let _ = ready_tx.send(true);
            std::thread::sleep(Duration::from_millis(200));
            progress(&format!(
                "round {}/{rounds}: {}: {} devices connected in {connect_s:.1} s; killing and \
                 restarting the broker...",
                round + 1,
                l.name(),
                opts.devices
            ));
            let (cpu0, killed) = (procs::cpu_time(std::process::id()), Instant::now());
            b.kill();
            b.respawn()?;
            let mut results = Vec::with_capacity(tasks.len());
            for task in tasks {
                results.push(rt.block_on(task).map_err(|e| e.to_string())??);
            }
            let cpu1 = procs::cpu_time(std::process::id());
            let broker_cpu = b.cpu();
            let wall = killed.elapsed();
            let admitted: Vec<Instant> = results.iter().filter_map(|r| r.1).collect();
            let failed: u64 = results.iter().map(|r| r.0).sum();
            let first = admitted.iter().min().map(|t| (*t - killed).as_secs_f64());
            let last = admitted.iter().max().map(|t| (*t - killed).as_secs_f64());
            let share = |cpu: Option<Duration>| {
                cpu.map(|c| c.as_secs_f64() / wall.as_secs_f64())
                    .unwrap_or(f64::NAN)
            };
            let run = ReconnectRun {
                listener: l,
                reconnected: admitted.len(),
                first_seconds: first.unwrap_or(f64::NAN),
                all_seconds: if admitted.len() == opts.devices {
                    last.unwrap_or(f64::NAN)
                } else {
                    f64::INFINITY
                },
                failed_attempts: failed,
                client_cpu_share: share(cpu0.zip(cpu1).map(|(a, b)| b - a)),
                broker_cpu_share: share(broker_cpu),
            };
            progress(&format!(
                "round {}/{rounds}: {}: {} of {} reconnected, all in {:.2} s after the kill (first \
                 {:.2} s); {} failed attempts; CPU: devices {:.0} %, broker {:.0} % of a core",
                round + 1,
                l.name(),
                run.reconnected,
                opts.devices,
                run.all_seconds,
                run.first_seconds,
                run.failed_attempts,
                run.client_cpu_share * 100.0,
                run.broker_cpu_share * 100.0
            ));
            drop(b);
            rt.shutdown_timeout(Duration::from_secs(5));
            runs.push(run);
        }
    }
    let of = |l| {
        procs::median(
            &runs
                .iter()
                .filter(|r| r.listener == l)
                .map(|r| r.all_seconds)
                .collect::<Vec<_>>(),
        )
    };
    let (s, e) = (of(Listener::Stock), of(Listener::Edge));
    Ok(ReconnectReport {
        bench: "reconnect",
        machine: crate::machine(),
        devices: opts.devices,
        runs,
        stock_seconds: s,
        edge_seconds: e,
        speedup: ratio(s, e),
    })
}

impl std::fmt::Display for ReconnectReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "mqid bench reconnect: {} connected devices (MQTT 3.1.1), the broker killed and \
             started again; each device retries after a random wait ({})",
            self.devices, self.machine
        )?;
        writeln!(
            f,
            "{:<6} {:>11} {:>11} {:>11} {:>10} {:>11} {:>10}",
            "broker",
            "reconnected",
            "first CONN",
            "all back",
            "failed",
            "devices CPU",
            "broker CPU"
        )?;
        for r in &self.runs {
            writeln!(
                f,
                "{:<6} {:>11} {:>9.2} s {:>9.2} s {:>10} {:>10.0} % {:>8.0} %",
                r.listener.name(),
                r.reconnected,
                r.first_seconds,
                r.all_seconds,
                r.failed_attempts,
                r.client_cpu_share * 100.0,
                r.broker_cpu_share * 100.0
            )?;
        }
        writeln!(
            f,
            "all devices back (median): stock {:.2} s, edge {:.2} s; the edge's fleet is back {:.2}x sooner",
            self.stock_seconds, self.edge_seconds, self.speedup
        )
    }
}
