//! A counting global allocator: the system allocator, with two kinds of accounts.
//!
//! - Per thread, on demand ([`allocator_calls`]): every allocator call (allocations, reallocations
//!   *and* frees: code that frees what was allocated elsewhere is as suspect on a hot path as code
//!   that allocates) made by the calling thread while a closure runs. The no-allocation tests use
//!   it.
//! - Process-wide, always ([`live_bytes`], [`allocations`]): live heap bytes (as requested,
//!   without the allocator's overhead) and allocations so far. The scale bench uses it.
//!
//! Nothing is counted unless a program installs it:
//!
//! ```ignore
//! #[global_allocator]
//! static ALLOC: mqid_test_support::alloc::CountingAlloc = mqid_test_support::alloc::CountingAlloc;
//! ```

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicIsize, AtomicUsize, Ordering::Relaxed};

static LIVE: AtomicIsize = AtomicIsize::new(0);
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);
static INSTALLED: AtomicBool = AtomicBool::new(false);

thread_local! {
    static ARMED: Cell<bool> = const { Cell::new(false) };
    static CALLS: Cell<usize> = const { Cell::new(0) };
}

/// The system allocator, counting (see the module's documentation).
pub struct CountingAlloc;

/// Counts one allocator call if this thread is armed. Const thread-locals without destructors:
/// touching them never allocates (and `try_with` never panics, even while a thread exits).
#[inline]
fn note_call() {
    let _ = ARMED.try_with(|armed| {
        if armed.get() {
            let _ = CALLS.try_with(|c| c.set(c.get() + 1));
        }
    });
}

/// Accounts a successful (re)allocation that grew the live heap by `grown` bytes.
#[inline]
fn note_allocation(grown: isize) {
    if !INSTALLED.load(Relaxed) {
        INSTALLED.store(true, Relaxed);
    }
    LIVE.fetch_add(grown, Relaxed);
    ALLOCATIONS.fetch_add(1, Relaxed);
}

// SAFETY: every call is forwarded unchanged to `System`; the accounts do not allocate.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_call();
        let p = System.alloc(layout);
        if !p.is_null() {
            note_allocation(layout.size() as isize);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_call();
        let p = System.alloc_zeroed(layout);
        if !p.is_null() {
            note_allocation(layout.size() as isize);
        }
        p
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_call();
        let p = System.realloc(ptr, layout, new_size);
        if !p.is_null() {
            note_allocation(new_size as isize - layout.size() as isize);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        note_call();
        System.dealloc(ptr, layout);
        LIVE.fetch_sub(layout.size() as isize, Relaxed);
    }
}

/// Runs `f` with this thread's counter armed; returns its result and the allocator calls
/// (allocations, reallocations and frees) this thread made meanwhile. Other threads are not
/// counted. Always 0 unless [`CountingAlloc`] is the global allocator.
pub fn allocator_calls<R>(f: impl FnOnce() -> R) -> (R, usize) {
    CALLS.with(|c| c.set(0));
    ARMED.with(|a| a.set(true));
    let r = f();
    ARMED.with(|a| a.set(false));
    (r, CALLS.with(|c| c.get()))
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
