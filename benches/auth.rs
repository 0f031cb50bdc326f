//! Criterion bench of the CONNECT hot path: the same workload as `mqid bench auth` (the
//! `mqid-bench` crate), over 1M synthetic identities (`MQID_BENCH_IDENTITIES` to change it).
//!
//! `cargo bench --bench auth` (add `-- --quick` for a short run). Compare the `decide/*` lines
//! with the `baseline/*` lines of the same run; `mqid bench auth` prints the ratios and targets.

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use mqid_bench::auth::{Setup, Which};

fn identities() -> usize {
    // `cargo test --benches` runs each bench once, without `--bench`: keep that cheap.
    if !std::env::args().any(|a| a == "--bench") {
        return 4096;
    }
    std::env::var("MQID_BENCH_IDENTITIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
        .max(4)
}

fn bench(c: &mut Criterion) {
    let setup = Setup::new(identities(), 1 << 16);
    setup.check().expect("every probe decides as its case says");
    eprintln!(
        "index of {} identities built in {:.2} s",
        setup.identities,
        setup.build_time.as_secs_f64()
    );
    let mut group = c.benchmark_group("connect");
    group
        .sample_size(30)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for which in Which::all() {
        let label = match which {
            Which::Case(case) => format!("decide/{}", case.name()),
            Which::StaticMap => "baseline/a rumqttd static map".into(),
            Which::HmacPrekeyed => "baseline/b HMAC-SHA1 pre-keyed".into(),
            Which::HmacFromScratch => "baseline/c HMAC-SHA1 from scratch".into(),
            Which::StaticMapHmac => "baseline/a+b static map + HMAC pre-keyed".into(),
            Which::Mixed => "decide/mixed".into(),
        };
        let mut k = 0usize;
        group.bench_function(label, |b| {
            b.iter_custom(|iters| {
                let t = Instant::now();
                setup.run(which, k, iters);
                k = k.wrapping_add(iters as usize);
                t.elapsed()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
