//! Heap accounting for the scale bench.
//!
//! [`CountingAlloc`] wraps the system allocator and counts live bytes and allocations in global
//! atomics. It is not installed by this crate: a bench binary opts in with
//!
//! ```ignore
//! #[global_allocator]
//! static ALLOC: mqid_bench::alloc::CountingAlloc = mqid_bench::alloc::CountingAlloc;
//! ```
//!
//! (the root package's `benches/scale.rs` does). The `mqid` binary keeps the plain system
//! allocator, so `mqid bench scale` falls back to the resident set size ([`rss_bytes`]), which
//! also counts the allocator's own overhead and whatever it keeps after frees.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicIsize, AtomicUsize, Ordering::Relaxed};

static LIVE: AtomicIsize = AtomicIsize::new(0);
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);
static INSTALLED: AtomicBool = AtomicBool::new(false);

/// The system allocator, counting live bytes (as requested, without the allocator's overhead)
/// and allocations.
pub struct CountingAlloc;

#[inline]
fn note_installed() {
    if !INSTALLED.load(Relaxed) {
        INSTALLED.store(true, Relaxed);
    }
}

// SAFETY: every call is forwarded unchanged to `System`; the counters do not allocate.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        if !p.is_null() {
            note_installed();
            LIVE.fetch_add(layout.size() as isize, Relaxed);
            ALLOCATIONS.fetch_add(1, Relaxed);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc_zeroed(layout);
        if !p.is_null() {
            note_installed();
            LIVE.fetch_add(layout.size() as isize, Relaxed);
            ALLOCATIONS.fetch_add(1, Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
        LIVE.fetch_sub(layout.size() as isize, Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = System.realloc(ptr, layout, new_size);
        if !p.is_null() {
            note_installed();
            LIVE.fetch_add(new_size as isize - layout.size() as isize, Relaxed);
            ALLOCATIONS.fetch_add(1, Relaxed);
        }
        p
    }
}

/// Live heap bytes, when [`CountingAlloc`] is the global allocator of this program.
pub fn live_bytes() -> Option<usize> {
    INSTALLED
        .load(Relaxed)
        .then(|| LIVE.load(Relaxed).max(0) as usize)
}

/// Allocations made so far, when [`CountingAlloc`] is the global allocator of this program.
pub fn allocations() -> Option<usize> {
    INSTALLED.load(Relaxed).then(|| ALLOCATIONS.load(Relaxed))
}

/// The resident set size of this process (Linux: `VmRSS` of `/proc/self/status`).
pub fn rss_bytes() -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: usize = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
