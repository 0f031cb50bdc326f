//! Heap accounting for the scale bench.
//!
//! [`CountingAlloc`] (mqid-test-support's, the one the no-allocation tests use) wraps the system
//! allocator and counts live bytes and allocations. It is not installed by this crate: a bench
//! binary opts in with
//!
//! ```ignore
//! #[global_allocator]
//! static ALLOC: mqid_bench::alloc::CountingAlloc = mqid_bench::alloc::CountingAlloc;
//! ```
//!
//! (the root package's `benches/scale.rs` does). The `mqid` binary keeps the plain system
//! allocator, so `mqid bench scale` falls back to the resident set size ([`rss_bytes`]), which
//! also counts the allocator's own overhead and whatever it keeps after frees.

pub use mqid_test_support::alloc::{allocations, live_bytes, CountingAlloc};

/// The resident set size of this process (Linux: `VmRSS` of `/proc/self/status`).
pub fn rss_bytes() -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: usize = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
