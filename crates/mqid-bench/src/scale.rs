//! The index at scale: build time and heap per identity, and decision latency while full index
//! replacements run beside the deciding thread.
//!
//! Heap bytes come from [`crate::alloc::CountingAlloc`] when it is the program's global allocator
//! (the root package's `benches/scale.rs` installs it: bytes as requested, exact), and otherwise
//! from the growth of the resident set size (`mqid bench scale`: includes malloc's overhead,
//! approximate: memory freed earlier in the run and kept by malloc is reused without growing it).

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mqid_core::{Index, SharedIndex};

use crate::alloc;
use crate::stats::{Histogram, Latency};
use crate::synth;
use crate::{ratio, Target};

#[derive(Clone, Debug)]
pub struct ScaleOpts {
    /// Index sizes whose build time and heap are measured.
    pub sizes: Vec<usize>,
    /// Index size of the latency-under-replacement measurement.
    pub latency_identities: usize,
    /// Alternations of (idle phase, replacing phase).
    pub cycles: usize,
    pub idle_phase: Duration,
    pub replacing_phase: Duration,
    /// A replacement starts at most this often (back to back when a build takes longer).
    pub replace_every: Duration,
}

impl crate::Preset for ScaleOpts {
    fn standard() -> Self {
        ScaleOpts {
            sizes: vec![100_000, 1_000_000],
            latency_identities: 1_000_000,
            cycles: 3,
            idle_phase: Duration::from_millis(1500),
            replacing_phase: Duration::from_millis(2500),
            replace_every: Duration::from_millis(100),
        }
    }

    fn quick() -> Self {
        ScaleOpts {
            cycles: 1,
            idle_phase: Duration::from_millis(1000),
            replacing_phase: Duration::from_millis(1500),
            ..Self::standard()
        }
    }
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct SizeRow {
    pub identities: usize,
    /// Making the synthetic `Identity` values (not part of the build).
    pub generate_seconds: f64,
    /// `Index::build`.
    pub build_seconds: f64,
    pub build_identities_per_s: f64,
    /// Dropping the index.
    pub drop_seconds: f64,
    /// Live heap bytes of the index per identity (counting allocator), when available.
    pub heap_bytes_per_identity: Option<f64>,
    /// Growth of the resident set per identity.
    pub rss_bytes_per_identity: Option<f64>,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct ReplaceLatency {
    pub identities: usize,
    /// Decisions (`SharedIndex::load` + `decide`, mixed cases) while no replacement runs, in ns.
    pub idle_ns: Latency,
    /// While a replacement runs: building the new index, swapping it in, retiring the old one.
    pub replacing_ns: Latency,
    /// The part of `replacing_ns` taken during `replace` + `mqid_sync::retire` alone.
    pub swap_and_retire_ns: Latency,
    pub replacements: usize,
    /// Generating the identities and building the new index.
    pub mean_build_seconds: f64,
    /// `SharedIndex::replace` alone.
    pub mean_replace_seconds: f64,
    /// `mqid_sync::retire`: waiting for readers of the old index, then freeing it.
    pub mean_retire_seconds: f64,
    pub p50_ratio: f64,
    pub p99_ratio: f64,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct ScaleReport {
    pub bench: &'static str,
    pub machine: String,
    /// `"counting allocator"` or `"RSS growth"`.
    pub heap_method: &'static str,
    pub sizes: Vec<SizeRow>,
    pub latency: ReplaceLatency,
    pub targets: Vec<Target>,
}

fn build_row(n: usize) -> SizeRow {
    let live0 = alloc::live_bytes();
    let rss0 = alloc::rss_bytes();
    let t = Instant::now();
    let ids = synth::identities(n);
    let generate = t.elapsed();
    let t = Instant::now();
    let (index, _) = Index::build(ids, Vec::new());
    let build = t.elapsed();
    let live1 = alloc::live_bytes();
    let rss1 = alloc::rss_bytes();
    assert_eq!(index.len(), n);
    let t = Instant::now();
    drop(black_box(index));
    let dropped = t.elapsed();
    let per = |a: Option<usize>, b: Option<usize>| match (a, b) {
        (Some(a), Some(b)) => Some(b.saturating_sub(a) as f64 / n as f64),
        _ => None,
    };
    SizeRow {
        identities: n,
        generate_seconds: generate.as_secs_f64(),
        build_seconds: build.as_secs_f64(),
        build_identities_per_s: n as f64 / build.as_secs_f64(),
        drop_seconds: dropped.as_secs_f64(),
        heap_bytes_per_identity: per(live0, live1),
        rss_bytes_per_identity: per(rss0, rss1),
    }
}

const IDLE: u8 = 0;
const BUILDING: u8 = 1;
const SWAPPING: u8 = 2;

fn replace_latency(opts: &ScaleOpts) -> ReplaceLatency {
    let n = opts.latency_identities;
    let shared = Arc::new(SharedIndex::new(
        Index::build(synth::identities(n), Vec::new()).0,
    ));
    let probes = synth::mixed_probes(n, 1 << 16, 0x3000);
    let state = AtomicU8::new(IDLE);
    let want = AtomicBool::new(false);
    let stop = AtomicBool::new(false);

    std::thread::scope(|s| {
        let replacer = s.spawn(|| {
            let (mut builds, mut swaps, mut retires) = (Vec::new(), Vec::new(), Vec::new());
            while !stop.load(Relaxed) {
                if !want.load(Relaxed) {
                    std::thread::sleep(Duration::from_millis(2));
                    continue;
                }
                let start = Instant::now();
                state.store(BUILDING, Relaxed);
                let (index, _) = Index::build(synth::identities(n), Vec::new());
                builds.push(start.elapsed().as_secs_f64());
                let t = Instant::now();
                state.store(SWAPPING, Relaxed);
                let old = shared.replace(index);
                swaps.push(t.elapsed().as_secs_f64());
                let t = Instant::now();
                mqid_sync::retire(old);
                retires.push(t.elapsed().as_secs_f64());
                state.store(IDLE, Relaxed);
                if let Some(rest) = opts.replace_every.checked_sub(start.elapsed()) {
                    std::thread::sleep(rest);
                }
            }
            (builds, swaps, retires)
        });
        let decider = s.spawn(|| {
            let mut hist = [Histogram::new(), Histogram::new(), Histogram::new()];
            let mut k = 0usize;
            while !stop.load(Relaxed) {
                for _ in 0..1024 {
                    let c = probes.get(k);
                    k = k.wrapping_add(1);
                    let st = state.load(Relaxed);
                    let t = Instant::now();
                    let index = shared.load();
                    black_box(mqid_core::decide(&index, black_box(&c)));
                    drop(index);
                    let ns = t.elapsed().as_nanos() as u64;
                    hist[st as usize].record(ns);
                }
            }
            hist
        });
        let wait_idle = || {
            while state.load(Relaxed) != IDLE {
                std::thread::sleep(Duration::from_millis(2));
            }
        };
        for _ in 0..opts.cycles.max(1) {
            std::thread::sleep(opts.idle_phase);
            want.store(true, Relaxed);
            std::thread::sleep(opts.replacing_phase);
            want.store(false, Relaxed);
            wait_idle();
        }
        stop.store(true, Relaxed);
        let (builds, swaps, retires) = replacer.join().expect("replacer thread");
        let [idle, building, swapping] = decider.join().expect("decider thread");
        let mut replacing = building.clone();
        replacing.merge(&swapping);
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
        let (idle, replacing, swapping) = (
            Latency::of_histogram(&idle),
            Latency::of_histogram(&replacing),
            Latency::of_histogram(&swapping),
        );
        ReplaceLatency {
            identities: n,
            idle_ns: idle,
            replacing_ns: replacing,
            swap_and_retire_ns: swapping,
            replacements: builds.len(),
            mean_build_seconds: mean(&builds),
            mean_replace_seconds: mean(&swaps),
            mean_retire_seconds: mean(&retires),
            p50_ratio: ratio(replacing.p50, idle.p50),
            p99_ratio: ratio(replacing.p99, idle.p99),
        }
    })
}

/// Runs the scale bench.
pub fn run(opts: &ScaleOpts, progress: &mut dyn FnMut(&str)) -> ScaleReport {
    let mut sizes = Vec::new();
    for &n in &opts.sizes {
        progress(&format!("building an index of {n} identities..."));
        sizes.push(build_row(n));
    }
    progress(&format!(
        "decision latency at {} identities, idle vs while replacements run ({} cycles)...",
        opts.latency_identities, opts.cycles
    ));
    let latency = replace_latency(opts);
    let mut targets = Vec::new();
    if let Some(r) = sizes.iter().find(|r| r.identities == 1_000_000) {
        targets.push(Target::at_most(
            "1M identities: build seconds",
            r.build_seconds,
            2.0,
        ));
    }
    targets.push(Target::at_most(
        "decision p99 while replacing / idle p99",
        latency.p99_ratio,
        1.5,
    ));
    ScaleReport {
        bench: "scale",
        machine: crate::machine(),
        heap_method: if alloc::live_bytes().is_some() {
            "counting allocator"
        } else {
            "RSS growth"
        },
        sizes,
        latency,
        targets,
    }
}

impl std::fmt::Display for ScaleReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "mqid bench scale; {}", self.machine)?;
        writeln!(
            f,
            "{:>11} {:>10} {:>10} {:>12} {:>9} {:>11} {:>10}",
            "identities", "gen s", "build s", "ids/s", "drop s", "heap B/id", "RSS B/id"
        )?;
        let opt = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.0}"));
        for r in &self.sizes {
            writeln!(
                f,
                "{:>11} {:>10.3} {:>10.3} {:>12.0} {:>9.3} {:>11} {:>10}",
                r.identities,
                r.generate_seconds,
                r.build_seconds,
                r.build_identities_per_s,
                r.drop_seconds,
                opt(r.heap_bytes_per_identity),
                opt(r.rss_bytes_per_identity)
            )?;
        }
        let l = &self.latency;
        writeln!(
            f,
            "decision latency at {} identities ({} replacements; on average build {:.2} s, replace {:.1} us, retire {:.2} s):",
            l.identities,
            l.replacements,
            l.mean_build_seconds,
            l.mean_replace_seconds * 1e6,
            l.mean_retire_seconds
        )?;
        for (name, x) in [
            ("idle", &l.idle_ns),
            ("replacing", &l.replacing_ns),
            ("  of which replace+retire", &l.swap_and_retire_ns),
        ] {
            writeln!(
                f,
                "  {:<26} p50 {:>6.0} ns  p99 {:>6.0} ns  max {:>9.0} ns  ({} decisions)",
                name, x.p50, x.p99, x.max, x.count
            )?;
        }
        writeln!(
            f,
            "  replacing / idle: p50 {:.2}x, p99 {:.2}x",
            l.p50_ratio, l.p99_ratio
        )?;
        crate::write_targets(f, &self.targets)
    }
}
