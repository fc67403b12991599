//! The per-thread panel buffers of the AVX-512 product (one pair per element type), its
//! register tile and the block sizes the buffers hold.
//!
//! A module of its own so that the team (which prepares them on each of its threads when it
//! starts) and the product (which runs on the team) do not depend on each other.
//!
//! The block sizes are chosen once, at run time, from this machine's caches
//! ([`crate::cpu::cache_sizes`]) by the rule of BLIS's analytical model (Low et al., 2016),
//! each operand's block taking half of the cache it lives in so that the other operand's
//! stream does not evict it:
//!
//! - `kc`: one packed `B` micro-panel (`kc × NR` values, two 64-byte vectors per step: 128
//!   bytes per step for `f32` and `f64` alike) fills half of L1, so it stays there
//!   while the `A` micro-panels stream past (rounded down to a multiple of 8, 64 ..= 512);
//! - `mc`: the packed `A` block (`mc × kc`) fills half of L2 (a multiple of `MR`, `MR ..= 1536`);
//! - `nc`: the packed `B` block (`kc × nc`) fills half of this core's share of L3 (a multiple
//!   of `NR`, at most 8 KiB of columns, 2048 `f32` or 1024 `f64`: the upper bound, the
//!   constant used before, keeps each thread's buffers small, 2.6 MB at `kc = 192` and
//!   `mc = 1356`, so that a training process stays small).
//!
//! - the order of the tiles: tile column after tile column (the `B` micro-panel in L1, the `A`
//!   micro-panels from L2), or, for blocks of `A` of 512 rows and more where the `B` block
//!   fits in L2, tile row after tile row (the `A` micro-panel in L1, the `B` micro-panels from
//!   L2), which walks `C` along its rows instead of down hundreds of them.
//!
//! With a 48 KiB L1 this gives `kc = 192`, the depth the kernel was first written for. Sizes
//! are in bytes, so `f64` blocks hold half as many rows (`mc`) and columns (`nc`) as `f32`
//! ones, at the same `kc`.

use std::cell::RefCell;
use std::sync::OnceLock;

use crate::cpu::{CacheSizes, cache_sizes};
use crate::tensor::line_aligned;

/// Rows of the register tile.
pub(crate) const MR: usize = 12;
/// Bytes of one row of the register tile: two 512-bit registers.
const TILE_ROW_BYTES: usize = 128;

/// Columns of the register tile for elements of `E` (32 `f32` or 16 `f64`).
pub(crate) const fn nr<E>() -> usize {
    TILE_ROW_BYTES / std::mem::size_of::<E>()
}

/// The block sizes of the blocked product.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Blocking {
    /// Rows of an `A` block (a multiple of `MR`), kept in L2.
    pub(crate) mc: usize,
    /// Depth of a block: a `B` micro-panel (`kc × NR`) stays in L1.
    pub(crate) kc: usize,
    /// Columns of a `B` block (a multiple of `NR`), kept in L3.
    pub(crate) nc: usize,
    /// Blocks of `A` of this many rows and more are walked tile row after tile row (each `A`
    /// micro-panel stays in L1 while the `B` micro-panels come from L2), smaller ones tile
    /// column after tile column (the `B` micro-panel stays in L1): see [`Blocking::for_caches`].
    pub(crate) rows_first_from: usize,
}

impl Blocking {
    /// The block sizes for elements of `element_bytes` bytes and caches of these sizes (the
    /// rule in the module's documentation).
    pub(crate) fn for_caches(caches: &CacheSizes, element_bytes: usize) -> Blocking {
        let nr = TILE_ROW_BYTES / element_bytes;
        let round_down = |x: usize, multiple: usize| x / multiple * multiple;
        let kc = round_down(caches.l1d / 2 / TILE_ROW_BYTES, 8).clamp(64, 512);
        let mc = round_down(caches.l2 / 2 / (kc * element_bytes), MR).clamp(MR, 1536);
        let nc = round_down(caches.l3_share() / 2 / (kc * element_bytes), nr).clamp(nr, 8192 / element_bytes);
        // Tile column after tile column, a tall block of A walks a column strip of C over
        // hundreds of rows (a page each once rows are 4 KiB); tile row after tile row walks C
        // along its rows, but reads the whole B block from L2 once per A micro-panel, so it
        // needs that block to fit there. One thread, 2 MiB L2: 2048×256·256×2048 +23–29%,
        // 2048³ +10–12%, 1024×784·784×512 +5–9%, 784 rows +2–8%, 512 rows even, 128 rows
        // −1 to −5% (docs/PERFORMANCE.md).
        let rows_first_from = if kc * nc * element_bytes <= caches.l2 { 512 } else { usize::MAX };
        Blocking { mc, kc, nc, rows_first_from }
    }
}

/// This machine's block sizes for elements of `E` (chosen once per type).
pub(crate) fn blocking<E>() -> Blocking {
    static FOUR: OnceLock<Blocking> = OnceLock::new();
    static EIGHT: OnceLock<Blocking> = OnceLock::new();
    let bytes = std::mem::size_of::<E>();
    let lock = if bytes == 4 { &FOUR } else { &EIGHT };
    *lock.get_or_init(|| Blocking::for_caches(&cache_sizes(), bytes))
}

/// Per-thread panel buffers: one block of `A` and one of `B`.
pub(crate) struct Panels<E> {
    a: Aligned<E>,
    b: Aligned<E>,
}

impl<E: Copy + Default> Panels<E> {
    /// Buffers for this machine's blocks of `E`.
    fn new() -> Self {
        let (a, b) = Self::sizes(&blocking::<E>());
        Panels { a: Aligned::new(a), b: Aligned::new(b) }
    }

    /// Grows the buffers to hold blocks of `blocking` (a no-op at this machine's own blocking,
    /// which they are allocated for).
    pub(crate) fn reserve(&mut self, blocking: &Blocking) {
        let (a, b) = Self::sizes(blocking);
        self.a.reserve(a);
        self.b.reserve(b);
    }

    /// The `A` and `B` buffers, each starting on a cache line.
    pub(crate) fn buffers(&mut self) -> (&mut [E], &mut [E]) {
        (self.a.as_mut_slice(), self.b.as_mut_slice())
    }

    /// The lengths of the `A` and `B` buffers for `blocking`.
    fn sizes(blocking: &Blocking) -> (usize, usize) {
        (blocking.mc * blocking.kc, blocking.nc * blocking.kc)
    }
}

/// A buffer whose values start on a cache line. A `B` panel step is two 64-byte vectors and an
/// `A` panel step 48 bytes, so with the buffer on a line every panel is too, and no vector
/// load of the kernel straddles two lines (from a plain `Vec`, 16 bytes past a line here,
/// every one did: the kernel alone ran 5–12% slower).
struct Aligned<E> {
    storage: Vec<E>,
    /// Values of `storage` skipped so that the slice starts on a line.
    offset: usize,
    len: usize,
}

impl<E: Copy + Default> Aligned<E> {
    fn new(len: usize) -> Self {
        let mut buffer = Aligned { storage: Vec::new(), offset: 0, len: 0 };
        buffer.reserve(len);
        buffer
    }

    /// Room for at least `len` values (reallocated, contents dropped, when it has less).
    fn reserve(&mut self, len: usize) {
        if self.len >= len {
            return;
        }
        (self.storage, self.offset) = line_aligned(len, E::default());
        self.len = len;
    }

    fn as_mut_slice(&mut self) -> &mut [E] {
        &mut self.storage[self.offset..self.offset + self.len]
    }
}

thread_local! {
    /// Allocated at the largest size a block needs on a thread's first product (`mc·kc + kc·nc`
    /// values, 2.6 MB with a 48 KiB L1 and a 2 MiB L2), so that no later product, whatever its
    /// size, allocates.
    pub(crate) static PANELS_F32: RefCell<Panels<f32>> = RefCell::new(Panels::new());
    /// The same for `f64` products (as many bytes), allocated on a thread's first `f64`
    /// product: a training run in `f32` never pays for them.
    pub(crate) static PANELS_F64: RefCell<Panels<f64>> = RefCell::new(Panels::new());
}

/// Allocates this thread's `f32` panel buffers now when the AVX-512 product can run here (the
/// team's threads do it when they start, so that the first product they take part in
/// allocates nothing).
pub(crate) fn prepare_thread() {
    if std::arch::is_x86_feature_detected!("avx512f") {
        PANELS_F32.with(|_| {});
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panel_buffers_start_on_a_cache_line_and_grow() {
        let mut panels = Panels::<f32>::new();
        let own = blocking::<f32>();
        let bigger = Blocking { mc: own.mc + MR, kc: own.kc + 8, nc: own.nc + nr::<f32>(), ..own };
        for blocking in [own, bigger] {
            panels.reserve(&blocking);
            let (a, b) = panels.buffers();
            assert_eq!((a.len(), b.len()), Panels::<f32>::sizes(&blocking));
            assert_eq!(a.as_ptr() as usize % crate::tensor::LINE, 0);
            assert_eq!(b.as_ptr() as usize % crate::tensor::LINE, 0);
        }
    }

    fn caches(l1d: usize, l2: usize, l3: usize, l3_sharing: usize) -> CacheSizes {
        CacheSizes { l1d, l2, l3, l3_sharing, source: "test" }
    }

    #[test]
    fn blocking_follows_the_cache_rule() {
        const F32: usize = 4;
        // Zen 5: 48 KiB L1d, 1 MiB L2, 32 MiB L3 for 2 CPUs.
        let zen5 = Blocking::for_caches(&caches(48 << 10, 1 << 20, 32 << 20, 2), F32);
        // Zen 5's 1 MiB L2 does not hold a 192×2048 block of B: column after column there.
        assert_eq!(zen5, Blocking { kc: 192, mc: 672, nc: 2048, rows_first_from: usize::MAX });
        // Intel with 48 KiB L1d and 2 MiB L2.
        let xeon = Blocking::for_caches(&caches(48 << 10, 2 << 20, 105 << 20, 2), F32);
        assert_eq!(xeon, Blocking { kc: 192, mc: 1356, nc: 2048, rows_first_from: 512 });
        // 32 KiB L1d and 512 KiB L2, a small L3 for 16 CPUs: every size shrinks.
        let small = Blocking::for_caches(&caches(32 << 10, 512 << 10, 4 << 20, 16), F32);
        assert_eq!(small, Blocking { kc: 128, mc: 504, nc: 256, rows_first_from: 512 });
        // Tiny or missing caches stay within the bounds.
        let tiny = Blocking::for_caches(&caches(1 << 10, 1 << 10, 0, 1), F32);
        assert_eq!(tiny, Blocking { kc: 64, mc: MR, nc: nr::<f32>(), rows_first_from: usize::MAX });
        for b in [zen5, xeon, small, tiny] {
            assert_eq!(b.mc % MR, 0);
            assert_eq!(b.nc % nr::<f32>(), 0);
            assert!(b.kc * nr::<f32>() * 4 <= (48 << 10) / 2 || b.kc == 64, "{b:?}");
        }
        // f64: the same bytes, so the same depth and half the rows and columns.
        let xeon64 = Blocking::for_caches(&caches(48 << 10, 2 << 20, 105 << 20, 2), 8);
        assert_eq!(xeon64, Blocking { kc: 192, mc: 672, nc: 1024, rows_first_from: 512 });
        assert_eq!(nr::<f64>(), 16);
    }

    #[test]
    fn this_machine_blocking_is_computed_once_per_type_and_fits_its_caches() {
        let b = blocking::<f32>();
        assert_eq!(b, blocking::<f32>());
        assert_eq!(b, Blocking::for_caches(&cache_sizes(), 4));
        assert!(b.kc * nr::<f32>() * 4 <= cache_sizes().l1d / 2 || b.kc == 64, "{b:?}");
        assert_eq!(blocking::<f64>(), Blocking::for_caches(&cache_sizes(), 8));
    }
}
