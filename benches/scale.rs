//! The index at scale with exact heap figures: the same run as `mqid bench scale`, in a bench
//! binary whose global allocator counts live bytes (the `mqid` binary keeps the system allocator
//! and reports the growth of its resident set instead).
//!
//! `cargo bench --bench scale` (options: `--quick`, `--large` for 5M identities, `--json`).

use mqid_bench::alloc::CountingAlloc;
use mqid_bench::scale::{run, ScaleOpts};
use mqid_bench::Preset;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let has = |f: &str| args.iter().any(|a| a == f);
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing and wants no run.
    if !has("--bench") && !has("--quick") && !has("--large") && !has("--json") {
        eprintln!("scale: not run (use `cargo bench --bench scale`)");
        return;
    }
    let mut opts = ScaleOpts::preset(has("--quick"));
    if has("--large") {
        opts.sizes.push(5_000_000);
    }
    let report = run(&opts, &mut |m| eprintln!("scale: {m}"));
    if has("--json") {
        println!(
            "{}",
            serde_json::to_string(&report).expect("report serialises")
        );
    } else {
        print!("{report}");
    }
}
