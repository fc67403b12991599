//! The per-thread panel buffers of the AVX-512 product, its register tile and the block sizes
//! the buffers hold.
//!
//! A module of its own so that the team (which prepares them on each of its threads when it
//! starts) and the product (which runs on the team) do not depend on each other.
//!
//! The block sizes are chosen once, at run time, from this machine's caches
//! ([`crate::cpu::cache_sizes`]) by the rule of BLIS's analytical model (Low et al., 2016),
//! each operand's block taking half of the cache it lives in so that the other operand's
//! stream does not evict it:
//!
//! - `kc`: one packed `B` micro-panel (`kc × NR` values) fills half of L1, so it stays there
//!   while the `A` micro-panels stream past (rounded down to a multiple of 8, 64 ..= 512);
//! - `mc`: the packed `A` block (`mc × kc`) fills half of L2 (a multiple of `MR`, `MR ..= 1536`);
//! - `nc`: the packed `B` block (`kc × nc`) fills half of this core's share of L3 (a multiple
//!   of `NR`, `NR ..= 2048`: the upper bound, the constant used before, keeps each thread's
//!   buffers small, 2.6 MB at `kc = 192` and `mc = 1356`, so that a training process stays
//!   small).
//!
//! With a 48 KiB L1 this gives `kc = 192`, the depth the kernel was first written for.

use std::cell::RefCell;
use std::sync::OnceLock;

use crate::cpu::{CacheSizes, cache_sizes};

/// Rows of the register tile.
pub(crate) const MR: usize = 12;
/// Columns of the register tile (two 16-lane registers).
pub(crate) const NR: usize = 32;

/// The block sizes of the blocked product.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Blocking {
    /// Rows of an `A` block (a multiple of `MR`), kept in L2.
    pub(crate) mc: usize,
    /// Depth of a block: a `B` micro-panel (`kc × NR`) stays in L1.
    pub(crate) kc: usize,
    /// Columns of a `B` block (a multiple of `NR`), kept in L3.
    pub(crate) nc: usize,
}

impl Blocking {
    /// The block sizes for caches of these sizes (the rule in the module's documentation).
    pub(crate) fn for_caches(caches: &CacheSizes) -> Blocking {
        const F32: usize = std::mem::size_of::<f32>();
        let round_down = |x: usize, multiple: usize| x / multiple * multiple;
        let kc = round_down(caches.l1d / 2 / (NR * F32), 8).clamp(64, 512);
        let mc = round_down(caches.l2 / 2 / (kc * F32), MR).clamp(MR, 1536);
        let nc = round_down(caches.l3_share() / 2 / (kc * F32), NR).clamp(NR, 2048);
        Blocking { mc, kc, nc }
    }
}

/// This machine's block sizes (chosen once).
pub(crate) fn blocking() -> Blocking {
    static BLOCKING: OnceLock<Blocking> = OnceLock::new();
    *BLOCKING.get_or_init(|| Blocking::for_caches(&cache_sizes()))
}

/// Per-thread panel buffers: one block of `A` and one of `B`.
pub(crate) struct Panels {
    pub(crate) a: Vec<f32>,
    pub(crate) b: Vec<f32>,
}

impl Panels {
    /// Grows the buffers to hold blocks of `blocking` (a no-op at this machine's own blocking,
    /// which they are allocated for).
    pub(crate) fn reserve(&mut self, blocking: &Blocking) {
        let (a, b) = Self::sizes(blocking);
        if self.a.len() < a {
            self.a.resize(a, 0.0);
        }
        if self.b.len() < b {
            self.b.resize(b, 0.0);
        }
    }

    /// The lengths of the `A` and `B` buffers for `blocking`.
    fn sizes(blocking: &Blocking) -> (usize, usize) {
        (blocking.mc * blocking.kc, blocking.nc * blocking.kc)
    }
}

thread_local! {
    /// Allocated at the largest size a block needs on a thread's first product (`mc·kc + kc·nc`
    /// values, 2.6 MB with a 48 KiB L1 and a 2 MiB L2), so that no later product, whatever its
    /// size, allocates.
    pub(crate) static PANELS: RefCell<Panels> = RefCell::new({
        let (a, b) = Panels::sizes(&blocking());
        Panels { a: vec![0.0; a], b: vec![0.0; b] }
    });
}

/// Allocates this thread's panel buffers now when the AVX-512 product can run here (the
/// team's threads do it when they start, so that the first product they take part in
/// allocates nothing).
pub(crate) fn prepare_thread() {
    if std::arch::is_x86_feature_detected!("avx512f") {
        PANELS.with(|_| {});
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caches(l1d: usize, l2: usize, l3: usize, l3_sharing: usize) -> CacheSizes {
        CacheSizes { l1d, l2, l3, l3_sharing, source: "test" }
    }

    #[test]
    fn blocking_follows_the_cache_rule() {
        // Zen 5 here: 48 KiB L1d, 1 MiB L2, 32 MiB L3 for 2 CPUs.
        let zen5 = Blocking::for_caches(&caches(48 << 10, 1 << 20, 32 << 20, 2));
        assert_eq!(zen5, Blocking { kc: 192, mc: 672, nc: 2048 });
        // Intel with 48 KiB L1d and 2 MiB L2.
        let xeon = Blocking::for_caches(&caches(48 << 10, 2 << 20, 105 << 20, 2));
        assert_eq!(xeon, Blocking { kc: 192, mc: 1356, nc: 2048 });
        // 32 KiB L1d and 512 KiB L2, a small L3 for 16 CPUs: every size shrinks.
        let small = Blocking::for_caches(&caches(32 << 10, 512 << 10, 4 << 20, 16));
        assert_eq!(small, Blocking { kc: 128, mc: 504, nc: 256 });
        // Tiny or missing caches stay within the bounds.
        let tiny = Blocking::for_caches(&caches(1 << 10, 1 << 10, 0, 1));
        assert_eq!(tiny, Blocking { kc: 64, mc: MR, nc: NR });
        for b in [zen5, xeon, small, tiny] {
            assert_eq!(b.mc % MR, 0);
            assert_eq!(b.nc % NR, 0);
            assert!(b.kc * NR * 4 <= (48 << 10) / 2 || b.kc == 64, "{b:?}");
        }
    }

    #[test]
    fn this_machine_blocking_is_computed_once_and_fits_its_caches() {
        let b = blocking();
        assert_eq!(b, blocking());
        assert_eq!(b, Blocking::for_caches(&cache_sizes()));
        assert!(b.kc * NR * 4 <= cache_sizes().l1d / 2 || b.kc == 64, "{b:?}");
    }
}
