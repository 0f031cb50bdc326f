//! Benchmark workloads of mqid, shared by `mqid bench` and the criterion benches of the root
//! package (`benches/`).
//!
//! Every figure is reported beside a baseline measured in the same run, and targets are checked
//! here (reported as pass/miss), never in timed tests.
//!
//! * [`auth`]: the CONNECT decision over a synthetic index of 1M identities, beside rumqttd's own
//!   static-map check and HMAC-SHA1 alone.
//! * [`scale`]: build time and heap per identity at 100k/1M/5M identities, and decision latency
//!   while full index replacements run beside it.
//! * [`refresh`]: one OpenAPI pass over N identities from the emulator on loopback, beside the
//!   file source's cost for the same set and the API's request-rate ceiling.
//! * [`permissions`]: the per-PUBLISH and per-delivery topic checks at 1 to 1,000 rules, beside
//!   rumqttd routing one QoS 0 PUBLISH; building the rules of a large fleet.
//! * [`connect`]: real MQTT clients (rumqttc) against in-process rumqttd brokers, without auth and
//!   with mqid installed.
//! * [`edge`]: mqid's edge (`mqid serve`) against rumqttd's stock listener, each in a process of
//!   its own ([`procs`]): PUBLISH throughput and latency with 100 topic rules, memory per idle
//!   connection, the time a fleet takes to reconnect after a restart.
//!
//! The only `unsafe` code is the counting allocator in [`alloc`], which a bench binary may install
//! as its `#[global_allocator]` (the `mqid` binary does not), one `clock_gettime` call in
//! [`permissions`] and the open-file limit in [`procs`].
#![deny(unsafe_code)]

pub mod alloc;
pub mod auth;
pub mod connect;
pub mod edge;
pub mod http;
pub mod logging;
pub mod permissions;
pub mod procs;
pub mod refresh;
pub mod scale;
pub mod stats;
pub mod synth;

/// A bench's options at its two sizes: the standard run and a quick one.
pub trait Preset: Sized {
    fn standard() -> Self;
    fn quick() -> Self;

    /// [`Preset::quick`] if `quick`, else [`Preset::standard`].
    fn preset(quick: bool) -> Self {
        if quick {
            Self::quick()
        } else {
            Self::standard()
        }
    }
}

/// Writes a report's targets, one a line under "targets:".
pub fn write_targets(f: &mut std::fmt::Formatter<'_>, targets: &[Target]) -> std::fmt::Result {
    writeln!(f, "targets:")?;
    for t in targets {
        writeln!(f, "  {t}")?;
    }
    Ok(())
}

/// A machine description for reports: logical CPUs and the CPU model.
pub fn machine() -> String {
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    format!("{cpus} logical CPUs, {model}")
}

/// A ratio `a / b`, or `NaN` when `b` is zero.
pub fn ratio(a: f64, b: f64) -> f64 {
    if b == 0.0 {
        f64::NAN
    } else {
        a / b
    }
}

/// A target checked against a figure of the same run. Reported, never asserted.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Target {
    pub name: String,
    /// The measured value (a ratio, or seconds: see `name`).
    pub value: f64,
    /// The limit the value is compared with.
    pub limit: f64,
    /// `"<="` or `">="`.
    pub op: &'static str,
    pub pass: bool,
}

impl Target {
    pub fn at_most(name: impl Into<String>, value: f64, limit: f64) -> Self {
        Target {
            name: name.into(),
            value,
            limit,
            op: "<=",
            pass: value <= limit,
        }
    }

    pub fn at_least(name: impl Into<String>, value: f64, limit: f64) -> Self {
        Target {
            name: name.into(),
            value,
            limit,
            op: ">=",
            pass: value >= limit,
        }
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:<4} {}: {:.3} {} {}",
            if self.pass { "pass" } else { "MISS" },
            self.name,
            self.value,
            self.op,
            self.limit
        )
    }
}
