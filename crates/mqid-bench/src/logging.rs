//! What logging costs on the message path: `mqid serve` (a separate process, as deployed) with
//! its default logging against the same with `RUST_LOG=off`, in the same run.
//!
//! One publisher and one subscriber (rumqttc, MQTT 3.1.1, QoS 0, `payload` bytes, one topic),
//! both admitted by mqid over one v4 listener on loopback. The publisher sends as fast as its
//! event loop takes messages; the rate is what the subscriber receives over the measured window
//! (after a warm-up). Runs alternate between the configurations so that load from elsewhere on
//! the machine falls on all; the figure is the ratio of medians, default / off: 1.0 means
//! logging costs nothing on the message path. Beside the rate, the broker process's CPU time per
//! message delivered (user + system, from `/proc/<pid>/stat`) is compared the same way: on a
//! machine shared with other work the rate moves with the neighbours' load, the CPU spent per
//! message much less. A third configuration sets the default's level by
//! hand (`RUST_LOG=info,rumqttd=warn`), which mqid follows as written, rumqttd's router spans
//! included: what the default cost before they were turned off.

use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};

use crate::ratio;

#[derive(Clone, Debug)]
pub struct LoggingOpts {
    /// Measured seconds per run (after `warm_up`).
    pub measure: Duration,
    pub warm_up: Duration,
    /// Rounds; each round runs both configurations once.
    pub rounds: usize,
    /// Payload bytes per message.
    pub payload: usize,
}

impl LoggingOpts {
    pub fn standard() -> Self {
        LoggingOpts {
            measure: Duration::from_secs(5),
            warm_up: Duration::from_secs(1),
            rounds: 3,
            payload: 64,
        }
    }

    pub fn quick() -> Self {
        LoggingOpts {
            measure: Duration::from_secs(2),
            warm_up: Duration::from_millis(500),
            rounds: 1,
            payload: 64,
        }
    }
}

/// Which logging `mqid serve` runs with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Logging {
    /// `RUST_LOG` unset: mqid's default.
    Default,
    /// `RUST_LOG=off`.
    Off,
    /// `RUST_LOG` = the default's level, written by hand (rumqttd's router spans on).
    ByHand,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct LoggingReport {
    pub machine: String,
    pub payload: usize,
    pub measure_secs: f64,
    /// Messages received per second, each run, by configuration.
    pub default_runs: Vec<f64>,
    pub off_runs: Vec<f64>,
    pub by_hand_runs: Vec<f64>,
    pub default_median: f64,
    pub off_median: f64,
    pub by_hand_median: f64,
    /// default / off.
    pub ratio: f64,
    /// by hand / off.
    pub by_hand_ratio: f64,
    /// Broker CPU microseconds per message delivered, each run, by configuration (empty where
    /// `/proc` is not available).
    pub default_cpu_us: Vec<f64>,
    pub off_cpu_us: Vec<f64>,
    pub by_hand_cpu_us: Vec<f64>,
    /// Medians' ratios of CPU per message: default / off and by hand / off.
    pub cpu_ratio: f64,
    pub by_hand_cpu_ratio: f64,
}

impl std::fmt::Display for LoggingReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "mqid serve, 1 publisher -> 1 subscriber, QoS 0, {}-byte messages, {:.0} s per run ({})",
            self.payload, self.measure_secs, self.machine
        )?;
        let runs = |v: &[f64]| {
            v.iter()
                .map(|r| format!("{:.0}", r))
                .collect::<Vec<_>>()
                .join(", ")
        };
        writeln!(
            f,
            "  default logging   {:>10.0} msg/s (median; runs {})",
            self.default_median,
            runs(&self.default_runs)
        )?;
        writeln!(
            f,
            "  RUST_LOG=off      {:>10.0} msg/s (median; runs {})",
            self.off_median,
            runs(&self.off_runs)
        )?;
        writeln!(
            f,
            "  RUST_LOG=info,rumqttd=warn {:>10.0} msg/s (median; runs {}): the default's level \
             by hand, router spans on",
            self.by_hand_median,
            runs(&self.by_hand_runs)
        )?;
        writeln!(f, "  default / off     {:>10.2}x", self.ratio)?;
        writeln!(f, "  by hand / off     {:>10.2}x", self.by_hand_ratio)?;
        writeln!(
            f,
            "  broker CPU per message: default {:.2} us, off {:.2} us, by hand {:.2} us",
            median(&self.default_cpu_us),
            median(&self.off_cpu_us),
            median(&self.by_hand_cpu_us)
        )?;
        writeln!(f, "  CPU/msg default / off {:>6.2}x", self.cpu_ratio)?;
        writeln!(
            f,
            "  CPU/msg by hand / off {:>6.2}x",
            self.by_hand_cpu_ratio
        )
    }
}

const IDENTITIES: &str =
    r#"[{"Username":"bench","Secret":"bench-secret","IdentityType":"USER","SignMode":"ORIGIN"}]"#;

struct Served {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(mqid: &Path, logging: Logging) -> Result<Served, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let port = crate::connect::free_port().map_err(|e| e.to_string())?;
    std::fs::write(dir.path().join("identities.json"), IDENTITIES).map_err(|e| e.to_string())?;
    let config = format!(
        r#"[broker]
id = 0
[broker.router]
max_connections = 100
max_outgoing_packet_count = 200
max_segment_size = 10485760
max_segment_count = 10
[broker.v4.1]
name = "v4-1"
listen = "127.0.0.1:{port}"
next_connection_delay_ms = 0
[broker.v4.1.connections]
connection_timeout_ms = 5000
max_payload_size = 20480
max_inflight_count = 100
dynamic_filters = true
[auth]
source = "file"
file = "identities.json"
"#
    );
    let path = dir.path().join("mqid.toml");
    std::fs::write(&path, config).map_err(|e| e.to_string())?;
    let log = std::fs::File::create(dir.path().join("mqid.log")).map_err(|e| e.to_string())?;
    let mut cmd = Command::new(mqid);
    cmd.arg("serve")
        .arg("--config")
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(log);
    match logging {
        Logging::Default => cmd.env_remove("RUST_LOG"),
        Logging::Off => cmd.env("RUST_LOG", "off"),
        Logging::ByHand => cmd.env("RUST_LOG", "info,rumqttd=warn"),
    };
    let child = cmd
        .spawn()
        .map_err(|e| format!("{}: {e}", mqid.display()))?;
    let mut served = Served {
        child,
        port,
        _dir: dir,
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = served.child.try_wait() {
            return Err(format!("mqid serve exited with {status}"));
        }
        if Instant::now() > deadline {
            return Err("mqid serve did not listen within 30 s".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(served)
}

/// CPU time (user + system) the process `pid` has used, from `/proc`; `None` elsewhere.
fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // fields after the command name (which may hold spaces) in parentheses
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // USER_HZ is 100 on Linux
    Some(Duration::from_millis(ticks * 10))
}

/// Messages per second the subscriber receives over `measure`, and the broker's CPU
/// microseconds per message received (when `/proc` tells).
async fn one_run(port: u16, pid: u32, opts: &LoggingOpts) -> Result<(f64, Option<f64>), String> {
    const TOPIC: &str = "bench/logging";
    let received = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));

    let mut o = MqttOptions::new("bench-sub", "127.0.0.1", port);
    o.set_credentials("bench", "bench-secret");
    o.set_keep_alive(Duration::from_secs(60));
    o.set_max_packet_size(1 << 20, 1 << 20);
    let (sub, mut sub_ev) = AsyncClient::new(o, 100);
    sub.subscribe(TOPIC, QoS::AtMostOnce)
        .await
        .map_err(|e| e.to_string())?;
    let subscribed = Arc::new(tokio::sync::Notify::new());
    let sub_task = {
        let (received, stop, subscribed) = (received.clone(), stop.clone(), subscribed.clone());
        tokio::spawn(async move {
            while !stop.load(Relaxed) {
                match sub_ev.poll().await {
                    Ok(Event::Incoming(Packet::Publish(_))) => {
                        received.fetch_add(1, Relaxed);
                    }
                    Ok(Event::Incoming(Packet::SubAck(_))) => subscribed.notify_one(),
                    Ok(_) => {}
                    Err(e) => return Err(format!("subscriber: {e}")),
                }
            }
            Ok(())
        })
    };
    tokio::time::timeout(Duration::from_secs(10), subscribed.notified())
        .await
        .map_err(|_| "no SUBACK within 10 s".to_string())?;

    let mut o = MqttOptions::new("bench-pub", "127.0.0.1", port);
    o.set_credentials("bench", "bench-secret");
    o.set_keep_alive(Duration::from_secs(60));
    let (publisher, mut pub_ev) = AsyncClient::new(o, 1000);
    let pub_loop = {
        let stop = stop.clone();
        tokio::spawn(async move {
            while !stop.load(Relaxed) {
                if let Err(e) = pub_ev.poll().await {
                    return Err(format!("publisher: {e}"));
                }
            }
            Ok(())
        })
    };
    let payload = vec![b'x'; opts.payload];
    let sender = {
        let stop = stop.clone();
        tokio::spawn(async move {
            while !stop.load(Relaxed) {
                if publisher
                    .publish(TOPIC, QoS::AtMostOnce, false, payload.clone())
                    .await
                    .is_err()
                {
                    break;
                }
            }
        })
    };

    tokio::time::sleep(opts.warm_up).await;
    let start = (received.load(Relaxed), Instant::now(), cpu_time(pid));
    tokio::time::sleep(opts.measure).await;
    let end = (received.load(Relaxed), Instant::now(), cpu_time(pid));
    stop.store(true, Relaxed);
    // A client that lost its connection during the run makes the run meaningless: say so.
    for (task, who) in [(sub_task, "subscriber"), (pub_loop, "publisher")] {
        if task.is_finished() {
            if let Ok(Err(e)) = task.await {
                sender.abort();
                return Err(format!("{who} lost its connection during the run: {e}"));
            }
        } else {
            task.abort();
        }
    }
    sender.abort();
    let messages = end.0 - start.0;
    let rate = messages as f64 / (end.1 - start.1).as_secs_f64();
    if rate == 0.0 {
        return Err("the subscriber received nothing".into());
    }
    let cpu_per_msg = match (start.2, end.2) {
        (Some(a), Some(b)) => Some((b - a).as_secs_f64() * 1e6 / messages as f64),
        _ => None,
    };
    Ok((rate, cpu_per_msg))
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    match s.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => s[n / 2],
        n => (s[n / 2 - 1] + s[n / 2]) / 2.0,
    }
}

/// Runs the comparison with the `mqid` executable at `mqid`.
pub fn run(
    opts: &LoggingOpts,
    mqid: &Path,
    progress: &mut dyn FnMut(&str),
) -> Result<LoggingReport, String> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let (mut rates, mut cpus) = ([vec![], vec![], vec![]], [vec![], vec![], vec![]]);
    for round in 0..opts.rounds.max(1) {
        // rotate which goes first
        let mut order = [Logging::Default, Logging::Off, Logging::ByHand];
        order.rotate_left(round % 3);
        for logging in order {
            let served = serve(mqid, logging)?;
            let pid = served.child.id();
            let (rate, cpu) = rt.block_on(one_run(served.port, pid, opts))?;
            drop(served);
            progress(&format!(
                "round {}: {logging:?} logging: {rate:.0} msg/s{}",
                round + 1,
                cpu.map(|c| format!(", broker CPU {c:.2} us/msg"))
                    .unwrap_or_default()
            ));
            rates[logging as usize].push(rate);
            cpus[logging as usize].extend(cpu);
        }
    }
    let [default_runs, off_runs, by_hand_runs] = rates;
    let [default_cpu_us, off_cpu_us, by_hand_cpu_us] = cpus;
    let (d, o, h) = (
        median(&default_runs),
        median(&off_runs),
        median(&by_hand_runs),
    );
    let (dc, oc, hc) = (
        median(&default_cpu_us),
        median(&off_cpu_us),
        median(&by_hand_cpu_us),
    );
    Ok(LoggingReport {
        machine: crate::machine(),
        payload: opts.payload,
        measure_secs: opts.measure.as_secs_f64(),
        default_runs,
        off_runs,
        by_hand_runs,
        default_median: d,
        off_median: o,
        by_hand_median: h,
        ratio: ratio(d, o),
        by_hand_ratio: ratio(h, o),
        cpu_ratio: ratio(dc, oc),
        by_hand_cpu_ratio: ratio(hc, oc),
        default_cpu_us,
        off_cpu_us,
        by_hand_cpu_us,
    })
}
