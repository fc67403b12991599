//! The per-thread panel buffers of the AVX-512 product and the block sizes they hold.
//!
//! A module of its own so that the team (which prepares them on each of its threads when it
//! starts) and the product (which runs on the team) do not depend on each other.

use std::cell::RefCell;

/// Depth of a block: an `A` panel (`MR × KC`) and a `B` panel (`KC × NR`) fit in L1 together.
pub(crate) const KC: usize = 192;
/// Rows of an `A` block (a multiple of `MR`), kept in L2.
pub(crate) const MC: usize = 144;
/// Columns of a `B` block (a multiple of `NR`).
pub(crate) const NC: usize = 2048;

/// Per-thread panel buffers: one block of `A` and one of `B`.
pub(crate) struct Panels {
    pub(crate) a: Vec<f32>,
    pub(crate) b: Vec<f32>,
}

thread_local! {
    /// Allocated at the largest size a block needs (1.6 MB) on a thread's first product, so that
    /// no later product, whatever its size, allocates.
    pub(crate) static PANELS: RefCell<Panels> =
        RefCell::new(Panels { a: vec![0.0; MC * KC], b: vec![0.0; NC * KC] });
}

/// Allocates this thread's panel buffers now when the AVX-512 product can run here (the
/// team's threads do it when they start, so that the first product they take part in
/// allocates nothing).
pub(crate) fn prepare_thread() {
    if std::arch::is_x86_feature_detected!("avx512f") {
        PANELS.with(|_| {});
    }
}
