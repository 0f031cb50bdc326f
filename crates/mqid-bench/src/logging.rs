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

use std::path::Path;
use std::time::Duration;

use rumqttc::QoS;

use crate::procs::{median, Broker, BrokerSpec, Listener};
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

impl crate::Preset for LoggingOpts {
    fn standard() -> Self {
        LoggingOpts {
            measure: Duration::from_secs(5),
            warm_up: Duration::from_secs(1),
            rounds: 3,
            payload: 64,
        }
    }

    fn quick() -> Self {
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
            let served = Broker::start(
                mqid,
                Listener::Edge,
                BrokerSpec {
                    max_connections: 100,
                    rules: None,
                    rust_log: match logging {
                        Logging::Default => None,
                        Logging::Off => Some("off"),
                        Logging::ByHand => Some("info,rumqttd=warn"),
                    },
                },
            )?;
            let t = rt.block_on(crate::edge::throughput(
                served.port,
                served.pid(),
                "bench/logging",
                QoS::AtMostOnce,
                opts.payload,
                opts.warm_up,
                opts.measure,
            ))?;
            let (rate, cpu) = (t.msgs_per_s, t.cpu_us_per_msg);
            drop(served);
            // By hand (rumqttd's router spans on) may move nothing at all within a short window:
            // that is the cost the default avoids, not a failed run.
            if rate == 0.0 && logging != Logging::ByHand {
                return Err(format!(
                    "the subscriber received nothing with {logging:?} logging"
                ));
            }
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
