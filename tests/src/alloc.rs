//! A global allocator that counts allocations, for steady-state tests ("a training step
//! allocates nothing once warmed up"). A test binary installs it with
//! `#[global_allocator] static GLOBAL: CountingAllocator = CountingAllocator;` and reads
//! [`allocations`] before and after the loop it measures. The counter sees every thread, so such
//! a file runs without libtest's harness (`harness = false` in tests/Cargo.toml, a `main` that
//! calls the test): the harness's thread allocates for its own bookkeeping while a test runs.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

/// The system allocator, counting calls to `alloc` and `realloc`.
pub struct CountingAllocator;

// SAFETY: forwards to the system allocator, only counting calls.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Allocations (and reallocations) counted so far by [`CountingAllocator`].
pub fn allocations() -> usize {
    ALLOCATIONS.load(Ordering::Relaxed)
}

/// Runs `step` once and twice more to warm up, then `counted` times while counting: returns
/// the first and the last result and the allocations of the counted steps.
pub fn steady_state<T: Copy>(counted: usize, mut step: impl FnMut() -> T) -> (T, T, usize) {
    let first = step();
    for _ in 0..2 {
        step();
    }
    let before = allocations();
    let mut last = first;
    for _ in 0..counted {
        last = step();
    }
    (first, last, allocations() - before)
}
