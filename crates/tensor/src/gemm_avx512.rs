//! Matrix products with AVX-512 when the processor has it, `C = α·A·B + β·C`, for `f32` and
//! `f64` alike: one blocked product (Goto/BLIS), generic over the [`Element`] it runs on.
//!
//! OpenBLAS picks its kernels by processor type: the type can be pinned to narrower kernels by
//! the environment (`OPENBLAS_CORETYPE=Haswell`, 256 bits wide), and a release that does not
//! know a processor falls back to its SSE3 kernels (Debian's 0.3.21 on recent Xeons). Either
//! way the arithmetic per instruction drops by 2–8×, silently. This module does not depend on
//! that choice:
//!
//! - `B` is copied in blocks of `KC × NC` into panels of `NR` columns, `A` in blocks of
//!   `MC × KC` into panels of [`MR`] rows (each panel contiguous, in the order the kernel reads
//!   it; the copies absorb transposes and strides, and pad the edges with zeros);
//! - the kernel keeps a `MR × NR` tile of `C` in 24 registers (`NR` is two registers wide: 32
//!   `f32` or 16 `f64` columns) and adds one rank-1 update per step of `k` (two loads of `B`,
//!   twelve broadcasts of `A`, 24 fused multiply-adds);
//! - each tile is then written as `C = α·acc + β·C` (`β` only on the first block of `k`; later
//!   blocks add), like BLAS.
//!
//! Work is split over the team's threads by blocks of columns (or of rows when `C` is tall and
//! narrow): each element of `C` is summed by one thread in the same order whatever the thread
//! count, so results do not depend on it. The panels live in per-thread buffers that are kept,
//! so the steady state of a training loop allocates nothing.

use std::arch::x86_64::{
    __m512, __m512d, _mm_loadu_ps, _mm_movehl_ps, _mm_movelh_ps, _mm_storeu_ps, _mm_unpackhi_ps,
    _mm_unpacklo_ps, _mm256_loadu_pd, _mm256_permute2f128_pd, _mm256_storeu_pd, _mm256_unpackhi_pd,
    _mm256_unpacklo_pd, _mm512_add_pd, _mm512_add_ps, _mm512_fmadd_pd, _mm512_fmadd_ps, _mm512_i32gather_ps,
    _mm512_i64gather_pd, _mm512_loadu_pd, _mm512_loadu_ps, _mm512_mul_pd, _mm512_mul_ps, _mm512_set1_pd,
    _mm512_set1_ps, _mm512_setr_epi32, _mm512_setr_epi64, _mm512_setzero_pd, _mm512_setzero_ps,
    _mm512_storeu_pd, _mm512_storeu_ps,
};
use std::cell::RefCell;
use std::ops::{Add, Mul};
use std::thread::LocalKey;

use crate::panels::{Blocking, MR, PANELS_F32, PANELS_F64, Panels, blocking, nr};
use crate::team::parallel_for;

/// Whether this processor runs the AVX-512 kernels (checked once, then cached by std).
pub(crate) fn available() -> bool {
    std::arch::is_x86_feature_detected!("avx512f")
}

/// A read-only strided matrix: element `(i, j)` at `ptr + i·rows + j·cols`.
#[derive(Clone, Copy)]
pub(crate) struct Strided<E> {
    pub(crate) ptr: *const E,
    pub(crate) rows: isize,
    pub(crate) cols: isize,
}

/// A strided output matrix.
#[derive(Clone, Copy)]
pub(crate) struct StridedMut<E> {
    pub(crate) ptr: *mut E,
    pub(crate) rows: isize,
    pub(crate) cols: isize,
}

// SAFETY: the pointers are only dereferenced inside the products, whose callers guarantee that
// A and B are readable and that the threads write disjoint parts of C.
unsafe impl<E> Send for Strided<E> {}
// SAFETY: as above.
unsafe impl<E> Sync for Strided<E> {}
// SAFETY: as above; each thread writes only its own block of C.
unsafe impl<E> Send for StridedMut<E> {}
// SAFETY: as above.
unsafe impl<E> Sync for StridedMut<E> {}

impl<E: Copy> Strided<E> {
    /// # Safety
    /// `(i, j)` must be inside the matrix.
    #[inline(always)]
    pub(crate) unsafe fn at(&self, i: usize, j: usize) -> E {
        // SAFETY: the caller keeps (i, j) inside the matrix.
        unsafe { *self.ptr.offset(i as isize * self.rows + j as isize * self.cols) }
    }

    /// The same matrix read transposed.
    fn transposed(self) -> Self {
        Strided { ptr: self.ptr, rows: self.cols, cols: self.rows }
    }
}

/// An element type of the blocked product: its 512-bit vector and the handful of vector
/// operations the kernel uses, and its per-thread panel buffers.
///
/// The operations are `unsafe`: they need AVX-512F, which the caller of the product checked
/// ([`available`]); they are inlined into the `avx512f` kernel.
pub(crate) trait Element:
    Copy + Default + PartialEq + Add<Output = Self> + Mul<Output = Self> + Send + Sync + 'static
{
    /// A 512-bit vector of [`Element::LANES`] values.
    type Vector: Copy;
    /// Values in one vector.
    const LANES: usize;
    /// Columns of the register tile: two vectors.
    const NR: usize = nr::<Self>();
    /// Zero.
    const ZERO: Self;
    /// One.
    const ONE: Self;
    /// This thread's panel buffers of this type.
    fn panels() -> &'static LocalKey<RefCell<Panels<Self>>>;
    /// All lanes zero.
    unsafe fn vzero() -> Self::Vector;
    /// All lanes `x`.
    unsafe fn vsplat(x: Self) -> Self::Vector;
    /// [`Element::LANES`] values from `p` (any alignment).
    unsafe fn vload(p: *const Self) -> Self::Vector;
    /// [`Element::LANES`] values to `p` (any alignment).
    unsafe fn vstore(p: *mut Self, v: Self::Vector);
    /// `a·b + c`, rounded once.
    unsafe fn vfmadd(a: Self::Vector, b: Self::Vector, c: Self::Vector) -> Self::Vector;
    /// `a·b`.
    unsafe fn vmul(a: Self::Vector, b: Self::Vector) -> Self::Vector;
    /// `a + b`.
    unsafe fn vadd(a: Self::Vector, b: Self::Vector) -> Self::Vector;
    /// [`Element::LANES`] values `stride` elements apart from `p` (lane `t` from `p + t·stride`),
    /// in one gather; `stride·LANES` must fit in an `i32`.
    unsafe fn vgather(p: *const Self, stride: isize) -> Self::Vector;
    /// A 4×4 block turned over: `dst[c·stride + r] = rows[r][c]` for `r, c < 4` (four rows of
    /// `A` become four steps of a panel).
    unsafe fn transpose4(rows: [*const Self; 4], dst: *mut Self, stride: usize);
}

/// Implements [`Element`] for a type from its AVX-512 intrinsics.
macro_rules! element {
    ($t:ty, $vector:ty, $lanes:literal, $panels:ident,
     $setzero:ident, $set1:ident, $loadu:ident, $storeu:ident, $fmadd:ident, $mul:ident, $add:ident,
     $gather:expr, $transpose4:expr) => {
        impl Element for $t {
            type Vector = $vector;
            const LANES: usize = $lanes;
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            fn panels() -> &'static LocalKey<RefCell<Panels<Self>>> {
                &$panels
            }
            #[inline]
            #[target_feature(enable = "avx512f")]
            unsafe fn vzero() -> $vector {
                $setzero()
            }
            #[inline]
            #[target_feature(enable = "avx512f")]
            unsafe fn vsplat(x: Self) -> $vector {
                $set1(x)
            }
            #[inline]
            #[target_feature(enable = "avx512f")]
            unsafe fn vload(p: *const Self) -> $vector {
                // SAFETY: the caller hands a readable vector's worth of values.
                unsafe { $loadu(p) }
            }
            #[inline]
            #[target_feature(enable = "avx512f")]
            unsafe fn vstore(p: *mut Self, v: $vector) {
                // SAFETY: the caller hands a writable vector's worth of values.
                unsafe { $storeu(p, v) }
            }
            #[inline]
            #[target_feature(enable = "avx512f")]
            unsafe fn vfmadd(a: $vector, b: $vector, c: $vector) -> $vector {
                $fmadd(a, b, c)
            }
            #[inline]
            #[target_feature(enable = "avx512f")]
            unsafe fn vmul(a: $vector, b: $vector) -> $vector {
                $mul(a, b)
            }
            #[inline]
            #[target_feature(enable = "avx512f")]
            unsafe fn vadd(a: $vector, b: $vector) -> $vector {
                $add(a, b)
            }
            #[inline]
            #[target_feature(enable = "avx512f")]
            unsafe fn vgather(p: *const Self, stride: isize) -> $vector {
                // SAFETY: the caller hands LANES readable values `stride` apart.
                unsafe { $gather(p, stride) }
            }
            #[inline]
            #[target_feature(enable = "avx512f")]
            unsafe fn transpose4(rows: [*const Self; 4], dst: *mut Self, stride: usize) {
                // SAFETY: the caller hands four readable rows of four values and a writable
                // destination of four strided runs of four.
                unsafe { $transpose4(rows, dst, stride) }
            }
        }
    };
}

/// [`Element::transpose4`] for `f32`, in 128-bit registers: two rounds of unpacking.
///
/// # Safety
/// As [`Element::transpose4`].
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn transpose4_f32(rows: [*const f32; 4], dst: *mut f32, stride: usize) {
    // SAFETY: forwarded from the caller; SSE is part of AVX-512F.
    unsafe {
        let [r0, r1, r2, r3] = rows.map(|row| _mm_loadu_ps(row));
        let (lo01, lo23) = (_mm_unpacklo_ps(r0, r1), _mm_unpacklo_ps(r2, r3));
        let (hi01, hi23) = (_mm_unpackhi_ps(r0, r1), _mm_unpackhi_ps(r2, r3));
        _mm_storeu_ps(dst, _mm_movelh_ps(lo01, lo23));
        _mm_storeu_ps(dst.add(stride), _mm_movehl_ps(lo23, lo01));
        _mm_storeu_ps(dst.add(2 * stride), _mm_movelh_ps(hi01, hi23));
        _mm_storeu_ps(dst.add(3 * stride), _mm_movehl_ps(hi23, hi01));
    }
}

/// [`Element::transpose4`] for `f64`, in 256-bit registers: unpacking, then swapping halves.
///
/// # Safety
/// As [`Element::transpose4`].
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn transpose4_f64(rows: [*const f64; 4], dst: *mut f64, stride: usize) {
    // SAFETY: forwarded from the caller; AVX is part of AVX-512F.
    unsafe {
        let [r0, r1, r2, r3] = rows.map(|row| _mm256_loadu_pd(row));
        let (lo01, hi01) = (_mm256_unpacklo_pd(r0, r1), _mm256_unpackhi_pd(r0, r1));
        let (lo23, hi23) = (_mm256_unpacklo_pd(r2, r3), _mm256_unpackhi_pd(r2, r3));
        _mm256_storeu_pd(dst, _mm256_permute2f128_pd::<0x20>(lo01, lo23));
        _mm256_storeu_pd(dst.add(stride), _mm256_permute2f128_pd::<0x20>(hi01, hi23));
        _mm256_storeu_pd(dst.add(2 * stride), _mm256_permute2f128_pd::<0x31>(lo01, lo23));
        _mm256_storeu_pd(dst.add(3 * stride), _mm256_permute2f128_pd::<0x31>(hi01, hi23));
    }
}

/// Sixteen `f32` values `stride` apart (lane `t` at `p + t·stride`).
///
/// # Safety
/// AVX-512F; the values must be readable; `15·stride` must fit in an `i32`.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn gather_f32(p: *const f32, stride: isize) -> __m512 {
    let s = stride as i32;
    let offsets = _mm512_setr_epi32(
        0,
        s,
        2 * s,
        3 * s,
        4 * s,
        5 * s,
        6 * s,
        7 * s,
        8 * s,
        9 * s,
        10 * s,
        11 * s,
        12 * s,
        13 * s,
        14 * s,
        15 * s,
    );
    // SAFETY: forwarded from the caller.
    unsafe { _mm512_i32gather_ps::<4>(offsets, p) }
}

/// Eight `f64` values `stride` apart (lane `t` at `p + t·stride`).
///
/// # Safety
/// AVX-512F; the values must be readable.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn gather_f64(p: *const f64, stride: isize) -> __m512d {
    let s = stride as i64;
    let offsets = _mm512_setr_epi64(0, s, 2 * s, 3 * s, 4 * s, 5 * s, 6 * s, 7 * s);
    // SAFETY: forwarded from the caller.
    unsafe { _mm512_i64gather_pd::<8>(offsets, p) }
}

element!(
    f32,
    __m512,
    16,
    PANELS_F32,
    _mm512_setzero_ps,
    _mm512_set1_ps,
    _mm512_loadu_ps,
    _mm512_storeu_ps,
    _mm512_fmadd_ps,
    _mm512_mul_ps,
    _mm512_add_ps,
    gather_f32,
    transpose4_f32
);
element!(
    f64,
    __m512d,
    8,
    PANELS_F64,
    _mm512_setzero_pd,
    _mm512_set1_pd,
    _mm512_loadu_pd,
    _mm512_storeu_pd,
    _mm512_fmadd_pd,
    _mm512_mul_pd,
    _mm512_add_pd,
    gather_f64,
    transpose4_f64
);

/// `C = α·A·B + β·C` for `A: [m, k]`, `B: [k, n]`, `C: [m, n]`, on up to `threads` threads of
/// the team ([`parallel_for`]). With `β = 0`, `C`'s old contents (NaN included) are ignored.
///
/// # Safety
/// [`available`] must be true; the operands must describe valid memory of their shapes; `C`
/// must not overlap `A` or `B`, and distinct `(i, j)` must be distinct elements of `C`.
pub(crate) unsafe fn gemm<E: Element>(
    (m, n, k): (usize, usize, usize),
    alpha: E,
    a: Strided<E>,
    b: Strided<E>,
    beta: E,
    c: StridedMut<E>,
    threads: usize,
) {
    if m == 0 || n == 0 {
        return;
    }
    // A narrow C (n well below NR, e.g. 10 classes) would leave most of each register tile
    // empty: compute Cᵀ = Bᵀ·Aᵀ instead, where the narrow side meets the short side of the tile.
    let padded = |rows: usize, cols: usize| rows.div_ceil(MR) * MR * cols.div_ceil(E::NR) * E::NR;
    let blocking = blocking::<E>();
    if 5 * padded(n, m) < 4 * padded(m, n) {
        let c_t = StridedMut { ptr: c.ptr, rows: c.cols, cols: c.rows };
        // SAFETY: the same memory, read through swapped strides.
        unsafe { split((n, m, k), alpha, b.transposed(), a.transposed(), beta, c_t, threads, blocking) };
    } else {
        // SAFETY: forwarded from the caller.
        unsafe { split((m, n, k), alpha, a, b, beta, c, threads, blocking) };
    }
}

/// Splits the product over threads by blocks of rows or columns of C and runs the parts.
///
/// Each part copies the whole of the other operand into its panels, so the split goes along
/// the dimension that makes that copy the smaller one: columns (each part copies A, `m×k`)
/// when C is wider than tall, rows (each copies B, `k×n`) otherwise.
///
/// # Safety
/// As [`gemm()`].
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn split<E: Element>(
    (m, n, k): (usize, usize, usize),
    alpha: E,
    a: Strided<E>,
    b: Strided<E>,
    beta: E,
    c: StridedMut<E>,
    threads: usize,
    blocking: Blocking,
) {
    let column_tiles = n.div_ceil(E::NR);
    let row_tiles = m.div_ceil(MR);
    let by_columns = if m < n { column_tiles >= threads.min(2) } else { row_tiles < threads.min(2) };
    let tiles = if by_columns { column_tiles } else { row_tiles };
    let parts = threads.clamp(1, tiles);
    if parts == 1 {
        // SAFETY: forwarded from the caller.
        unsafe { serial((m, n, k), alpha, a, b, beta, c, &blocking) };
        return;
    }
    let job = Split { mnk: (m, n, k), alpha, a, b, beta, c, tiles, parts, by_columns, blocking };
    parallel_for(parts, |part| {
        // SAFETY: forwarded from the caller; the parts write disjoint blocks of C.
        unsafe { job.run(part) }
    });
}

/// One product split into `parts` blocks of rows or columns of C.
struct Split<E> {
    mnk: (usize, usize, usize),
    alpha: E,
    a: Strided<E>,
    b: Strided<E>,
    beta: E,
    c: StridedMut<E>,
    tiles: usize,
    parts: usize,
    by_columns: bool,
    blocking: Blocking,
}

impl<E: Element> Split<E> {
    /// Computes block `part` of C.
    ///
    /// # Safety
    /// As [`gemm()`]; distinct parts write disjoint blocks of C, so they may run at once.
    unsafe fn run(&self, part: usize) {
        let Split { mnk: (m, n, k), alpha, a, b, beta, c, tiles, parts, by_columns, blocking } = *self;
        let (start, end) = (tiles * part / parts, tiles * (part + 1) / parts);
        // SAFETY: the block lies inside C (and the matching rows or columns inside A or B).
        unsafe {
            if by_columns {
                let (j0, j1) = (start * E::NR, (end * E::NR).min(n));
                let b_part = Strided { ptr: b.ptr.offset(j0 as isize * b.cols), ..b };
                let c_part = StridedMut { ptr: c.ptr.offset(j0 as isize * c.cols), ..c };
                serial((m, j1 - j0, k), alpha, a, b_part, beta, c_part, &blocking);
            } else {
                let (i0, i1) = (start * MR, (end * MR).min(m));
                let a_part = Strided { ptr: a.ptr.offset(i0 as isize * a.rows), ..a };
                let c_part = StridedMut { ptr: c.ptr.offset(i0 as isize * c.rows), ..c };
                serial((i1 - i0, n, k), alpha, a_part, b, beta, c_part, &blocking);
            }
        }
    }
}

/// The blocked product on the calling thread, in blocks of `blocking`.
///
/// # Safety
/// As [`gemm()`].
unsafe fn serial<E: Element>(
    (m, n, k): (usize, usize, usize),
    alpha: E,
    a: Strided<E>,
    b: Strided<E>,
    beta: E,
    c: StridedMut<E>,
    blocking: &Blocking,
) {
    let Blocking { mc: block_m, kc: block_k, nc: block_n, rows_first_from } = *blocking;
    let nr = E::NR;
    E::panels().with(|panels| {
        let mut panels = panels.borrow_mut();
        panels.reserve(blocking);
        let (a_buf, b_buf) = panels.buffers();
        debug_assert!(a_buf.len() >= block_m * block_k && b_buf.len() >= block_n * block_k);
        for j0 in (0..n).step_by(block_n) {
            let nc = block_n.min(n - j0);
            for p0 in (0..k).step_by(block_k) {
                let kc = block_k.min(k - p0);
                // SAFETY: the block lies inside B; the buffer holds nc rounded up to NR columns.
                unsafe { pack_b(b, p0, kc, j0, nc, b_buf) };
                let beta_block = if p0 == 0 { beta } else { E::ONE };
                for i0 in (0..m).step_by(block_m) {
                    let mc = block_m.min(m - i0);
                    // SAFETY: the block lies inside A; the buffer holds mc rounded up to MR rows.
                    unsafe { pack_a(a, i0, mc, p0, kc, a_buf) };
                    let tile = |ir: usize, jr: usize| {
                        let b_panel = &b_buf[jr * kc..(jr + nr) * kc];
                        let a_panel = &a_buf[ir * kc..(ir + MR) * kc];
                        let (rows, cols) = (MR.min(mc - ir), nr.min(nc - jr));
                        let target =
                            Target { c, i0: i0 + ir, j0: j0 + jr, rows, cols, alpha, beta: beta_block };
                        // SAFETY: `available()` was checked by the caller of `gemm`, and the
                        // target block lies inside C.
                        unsafe { kernel(kc, a_panel, b_panel, &target) };
                    };
                    if mc >= rows_first_from {
                        for ir in (0..mc).step_by(MR) {
                            for jr in (0..nc).step_by(nr) {
                                tile(ir, jr);
                            }
                        }
                    } else {
                        for jr in (0..nc).step_by(nr) {
                            for ir in (0..mc).step_by(MR) {
                                tile(ir, jr);
                            }
                        }
                    }
                }
            }
        }
    });
}

/// Copies `A[i0..i0 + mc, p0..p0 + kc]` into panels of `MR` rows: panel `q` holds, for each
/// step `p`, the `MR` values `A[i0 + q·MR + r, p0 + p]` (zeros past the last row).
///
/// # Safety
/// The processor must support AVX-512F; the block must lie inside A, and `dst` must hold `mc`
/// rounded up to `MR`, times `kc`.
#[target_feature(enable = "avx512f")]
unsafe fn pack_a<E: Element>(a: Strided<E>, i0: usize, mc: usize, p0: usize, kc: usize, dst: &mut [E]) {
    for (q, panel) in dst[..mc.div_ceil(MR) * MR * kc].chunks_exact_mut(MR * kc).enumerate() {
        let rows = MR.min(mc - q * MR);
        let base = i0 + q * MR;
        if a.rows == 1 {
            // Columns of A are contiguous: each step copies up to MR neighbours.
            for (p, dst) in panel.chunks_exact_mut(MR).enumerate() {
                // SAFETY: rows `base..base + rows` and column `p0 + p` lie inside A.
                let src = unsafe {
                    std::slice::from_raw_parts(a.ptr.offset((p0 + p) as isize * a.cols + base as isize), rows)
                };
                if rows == MR {
                    // A fixed-size copy: inlined moves rather than a call to memcpy.
                    let src: &[E; MR] = src.try_into().expect("MR values");
                    let dst: &mut [E; MR] = dst.try_into().expect("MR values");
                    *dst = *src;
                } else {
                    dst[..rows].copy_from_slice(src);
                    dst[rows..].fill(E::ZERO);
                }
            }
        } else if rows == MR {
            // Rows of A are read side by side, so that each step's MR values are written at once.
            let starts: [*const E; MR] = std::array::from_fn(|r| {
                // SAFETY: row base + r and column p0 lie inside A.
                unsafe { a.ptr.offset((base + r) as isize * a.rows + p0 as isize * a.cols) }
            });
            // Rows of A contiguous (a batch of inputs): four steps at a time, as 4×4 blocks
            // turned over in registers (scalar copies ran the first layer's packing at about
            // a quarter of its product's time).
            let blocked = if a.cols == 1 { kc / 4 * 4 } else { 0 };
            for p in (0..blocked).step_by(4) {
                for group in 0..MR / 4 {
                    let rows: [*const E; 4] = std::array::from_fn(|r| {
                        // SAFETY: columns p0 + p .. p0 + p + 4 of the row lie inside A.
                        unsafe { starts[4 * group + r].add(p) }
                    });
                    // SAFETY: AVX-512F was checked by the caller of `gemm`; steps p .. p + 4
                    // of the panel hold 4·MR values.
                    unsafe { E::transpose4(rows, panel.as_mut_ptr().add(p * MR + 4 * group), MR) };
                }
            }
            for (p, dst) in panel.chunks_exact_mut(MR).enumerate().skip(blocked) {
                for (d, &start) in dst.iter_mut().zip(&starts) {
                    // SAFETY: column p0 + p of each row lies inside A.
                    *d = unsafe { *start.offset(p as isize * a.cols) };
                }
            }
        } else {
            // SAFETY: rows base .. base + rows and columns p0 .. p0 + kc lie inside A.
            unsafe { copy_one_by_one(a, (base, rows), (p0, kc), panel, MR) };
        }
    }
}

/// Copies `B[p0..p0 + kc, j0..j0 + nc]` into panels of `NR` columns: panel `q` holds, for each
/// step `p`, the `NR` values `B[p0 + p, j0 + q·NR + t]` (zeros past the last column).
///
/// # Safety
/// The processor must support AVX-512F; the block must lie inside B, and `dst` must hold `nc`
/// rounded up to `NR`, times `kc`.
#[target_feature(enable = "avx512f")]
unsafe fn pack_b<E: Element>(b: Strided<E>, p0: usize, kc: usize, j0: usize, nc: usize, dst: &mut [E]) {
    let nr = E::NR;
    for (q, panel) in dst[..nc.div_ceil(nr) * nr * kc].chunks_exact_mut(nr * kc).enumerate() {
        let cols = nr.min(nc - q * nr);
        let base = j0 + q * nr;
        if b.cols == 1 {
            // Rows of B are contiguous: each step copies up to NR neighbours.
            for (p, dst) in panel.chunks_exact_mut(nr).enumerate() {
                // SAFETY: row p0 + p and columns `base..base + cols` lie inside B.
                let src = unsafe { b.ptr.offset((p0 + p) as isize * b.rows + base as isize) };
                if cols == nr {
                    // Two vector moves: a call to memcpy per step cost more than the copy (about
                    // a fifth of a 128-row product's time).
                    // SAFETY: NR = 2·LANES values at src and at dst; AVX-512F was checked by
                    // the caller of `gemm`.
                    unsafe {
                        E::vstore(dst.as_mut_ptr(), E::vload(src));
                        E::vstore(dst.as_mut_ptr().add(E::LANES), E::vload(src.add(E::LANES)));
                    }
                } else {
                    // SAFETY: as above, `cols` values.
                    dst[..cols].copy_from_slice(unsafe { std::slice::from_raw_parts(src, cols) });
                    dst[cols..].fill(E::ZERO);
                }
            }
        } else if cols == nr && fits_gather::<E>(b.cols) {
            // Columns of B contiguous (a transposed weight matrix): each step's NR values are
            // two gathers from NR columns, written at once. Column by column instead, writing
            // with a stride of NR, ran the `A·Bᵀ` products at 0.8× of OpenBLAS.
            for (p, dst) in panel.chunks_exact_mut(nr).enumerate() {
                // SAFETY: rows p0 + p of columns base .. base + NR lie inside B; AVX-512F was
                // checked by the caller of `gemm`; dst holds NR values.
                unsafe {
                    let src = b.ptr.offset((p0 + p) as isize * b.rows + base as isize * b.cols);
                    E::vstore(dst.as_mut_ptr(), E::vgather(src, b.cols));
                    E::vstore(
                        dst.as_mut_ptr().add(E::LANES),
                        E::vgather(src.offset(E::LANES as isize * b.cols), b.cols),
                    );
                }
            }
        } else {
            // Bᵀ's rows are B's columns. SAFETY: columns base .. base + cols and rows
            // p0 .. p0 + kc lie inside B.
            unsafe { copy_one_by_one(b.transposed(), (base, cols), (p0, kc), panel, nr) };
        }
    }
}

/// The panel of `width` rows of `x` from row `base` (`rows` of them, zeros for the rest) over
/// columns `p0 .. p0 + kc`, element by element: `panel[p·width + r] = x[base + r, p0 + p]`. The
/// packing of strided operands that no faster branch of [`pack_a`] or [`pack_b`] takes (`B` is
/// packed as `Bᵀ`).
///
/// # Safety
/// Rows `base .. base + rows` and columns `p0 .. p0 + kc` must lie inside `x`; `panel` holds
/// `kc·width` values.
unsafe fn copy_one_by_one<E: Element>(
    x: Strided<E>,
    (base, rows): (usize, usize),
    (p0, kc): (usize, usize),
    panel: &mut [E],
    width: usize,
) {
    for r in 0..width {
        for p in 0..kc {
            panel[p * width + r] = if r < rows {
                // SAFETY: row base + r and column p0 + p lie inside x (the caller's promise).
                unsafe { x.at(base + r, p0 + p) }
            } else {
                E::ZERO
            };
        }
    }
}

/// Whether columns `stride` apart can be gathered: the offsets of a vector's lanes fit in
/// an `i32`.
fn fits_gather<E: Element>(stride: isize) -> bool {
    stride.checked_mul(E::LANES as isize).is_some_and(|s| s.unsigned_abs() <= i32::MAX as usize)
}

/// Where a tile goes: `C[i0 + r, j0 + t] = α·acc[r][t] + β·C[i0 + r, j0 + t]` for `r < rows`,
/// `t < cols` (with `β = 0`, `C` is not read).
struct Target<E> {
    c: StridedMut<E>,
    i0: usize,
    j0: usize,
    rows: usize,
    cols: usize,
    alpha: E,
    beta: E,
}

/// `acc = Σₚ a[p]·b[p]ᵀ` over `kc` steps, then written to `target`: `a` is an `A` panel (`MR`
/// values per step), `b` a `B` panel (`NR` values per step); each element is summed in order
/// of `p` with fused multiply-adds. A whole tile of a C with contiguous rows is updated from
/// the registers; an edge tile is written element by element.
///
/// # Safety
/// The processor must support AVX-512F; `a` must hold `kc·MR` values and `b` `kc·NR`; the
/// target block must lie inside C.
#[target_feature(enable = "avx512f")]
unsafe fn kernel<E: Element>(kc: usize, a: &[E], b: &[E], target: &Target<E>) {
    let lanes = E::LANES;
    debug_assert!(a.len() >= kc * MR && b.len() >= kc * E::NR);
    if kc == 0 {
        // Blocks of `k` are never empty. Saying so lets the compiler drop a 1.5 KB zeroing of
        // the accumulators' stack copy (read by the edge path) from every call.
        return;
    }
    // SAFETY (every intrinsic of this function): AVX-512F is available (the caller's promise).
    let mut acc: [[E::Vector; 2]; MR] = [[unsafe { E::vzero() }; 2]; MR];
    let (mut ap, mut bp) = (a.as_ptr(), b.as_ptr());
    for _ in 0..kc {
        // SAFETY: each step reads NR values of b and MR of a, within the lengths checked above.
        unsafe {
            let b0 = E::vload(bp);
            let b1 = E::vload(bp.add(lanes));
            for (r, row) in acc.iter_mut().enumerate() {
                let x = E::vsplat(*ap.add(r));
                row[0] = E::vfmadd(x, b0, row[0]);
                row[1] = E::vfmadd(x, b1, row[1]);
            }
            ap = ap.add(MR);
            bp = bp.add(E::NR);
        }
    }
    let Target { c, i0, j0, rows, cols, alpha, beta } = *target;
    if cols == E::NR && c.cols == 1 {
        let (va, vb) = unsafe { (E::vsplat(alpha), E::vsplat(beta)) };
        for (r, row) in acc.iter().enumerate().take(rows) {
            for (half, &sum) in row.iter().enumerate() {
                // SAFETY: row i0 + r, columns j0 + lanes·half .. + lanes lie inside C (cols == NR).
                unsafe {
                    let dst = c.ptr.offset((i0 + r) as isize * c.rows + (j0 + lanes * half) as isize);
                    let v = E::vmul(sum, va);
                    let v = if beta == E::ZERO {
                        v
                    } else if beta == E::ONE {
                        E::vadd(v, E::vload(dst))
                    } else {
                        E::vadd(v, E::vmul(E::vload(dst), vb))
                    };
                    E::vstore(dst, v);
                }
            }
        }
        return;
    }
    // An edge tile (or a C with strided rows): through a spill row, element by element.
    let mut spill = [E::ZERO; 64];
    for (r, row) in acc.iter().enumerate().take(rows) {
        // SAFETY: the spill row holds 64 ≥ NR values.
        unsafe {
            E::vstore(spill.as_mut_ptr(), row[0]);
            E::vstore(spill.as_mut_ptr().add(lanes), row[1]);
        }
        for (t, &v) in spill.iter().enumerate().take(cols) {
            // SAFETY: (i0 + r, j0 + t) lies inside C.
            unsafe {
                let dst = c.ptr.offset((i0 + r) as isize * c.rows + (j0 + t) as isize * c.cols);
                *dst = if beta == E::ZERO { alpha * v } else { alpha * v + beta * *dst };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `C = A·B` (row-major, `A: [m, k]`, `B: [k, n]`) in blocks of `blocking` on `threads`.
    fn product<E: Element>(
        (m, n, k): (usize, usize, usize),
        a: &[E],
        b: &[E],
        blocking: Blocking,
        threads: usize,
    ) -> Vec<E> {
        let mut c = vec![E::ONE; m * n];
        let a_op = Strided { ptr: a.as_ptr(), rows: k as isize, cols: 1 };
        let b_op = Strided { ptr: b.as_ptr(), rows: n as isize, cols: 1 };
        let c_op = StridedMut { ptr: c.as_mut_ptr(), rows: n as isize, cols: 1 };
        // SAFETY: AVX-512 is available (checked by the callers); the slices hold m·k, k·n and
        // m·n values in row-major order.
        unsafe { split((m, n, k), E::ONE, a_op, b_op, E::ZERO, c_op, threads, blocking) };
        c
    }

    fn values(len: usize, seed: u64) -> Vec<f64> {
        (0..len as u64).map(|i| (((i * 2654435761 + seed) % 1000) as f64 / 500.0) - 1.0).collect()
    }

    /// Every blocking, the machine's own and deliberately small or odd ones, gives the product
    /// of a naive reference within rounding; blockings that share `kc` sum each element in the
    /// same order, so they agree bit for bit, whatever the thread count.
    fn every_blocking_matches_the_reference<E: Element + std::fmt::Debug>(
        from: fn(f64) -> E,
        to: fn(E) -> f64,
        tolerance: f64,
    ) {
        let nr = E::NR;
        for (m, n, k) in [(50, 70, 300), (130, 40, 257), (25, 200, 33)] {
            let (a64, b64) = (values(m * k, 1), values(k * n, 2));
            let (a, b): (Vec<E>, Vec<E>) =
                (a64.iter().map(|&v| from(v)).collect(), b64.iter().map(|&v| from(v)).collect());
            // The reference sums the rounded inputs exactly enough (f64 for f32; for f64 the
            // error bound of k terms covers the order).
            let reference: Vec<f64> = (0..m * n)
                .map(|ij| (0..k).map(|p| to(a[ij / n * k + p]) * to(b[p * n + ij % n])).sum())
                .collect();
            let own = blocking::<E>();
            let blockings = [
                own,
                Blocking { mc: 24, kc: 16, nc: 2 * nr, rows_first_from: 0 },
                Blocking { mc: 12, kc: 200, nc: nr, rows_first_from: usize::MAX },
                Blocking { mc: 36, kc: 96, nc: 3 * nr, rows_first_from: 36 },
            ];
            let mut results = Vec::new();
            for blocking in blockings {
                let c = product((m, n, k), &a, &b, blocking, 1);
                for (ij, (&got, &want)) in c.iter().zip(&reference).enumerate() {
                    let bound = tolerance * (k as f64).sqrt() * (1.0 + want.abs());
                    assert!(
                        (to(got) - want).abs() <= bound,
                        "{m}x{n}x{k} {blocking:?}: C[{ij}] = {got:?}, want {want}"
                    );
                }
                results.push(c);
            }
            // Same kc, other mc and nc, two threads: the very same numbers.
            let same_kc = Blocking { mc: 12, kc: 16, nc: nr, rows_first_from: usize::MAX };
            assert_eq!(product((m, n, k), &a, &b, same_kc, 2), results[1], "{m}x{n}x{k}");
            // Either order of the tiles, the machine's own blocking: the very same numbers.
            for rows_first_from in [0, usize::MAX] {
                let order = Blocking { rows_first_from, ..own };
                assert_eq!(product((m, n, k), &a, &b, order, 1), results[0], "{m}x{n}x{k}");
            }
            let other = Blocking { mc: MR * 3, nc: nr * 2, ..own };
            assert_eq!(product((m, n, k), &a, &b, other, 1), results[0], "{m}x{n}x{k}");
        }
    }

    /// `C = A·Bᵀ` with `B` given as its transpose, `[n, k]` row-major (a weight matrix): the
    /// panels of `B` are gathered from its columns (and edge panels copied one by one), against
    /// the product of the same values laid out row-major.
    fn transposed_b_matches_row_major_b<E: Element + std::fmt::Debug>(from: fn(f64) -> E) {
        for (m, n, k) in [(30, 4 * E::NR, 50), (13, 2 * E::NR + 5, 200), (40, E::NR, 7)] {
            let a: Vec<E> = values(m * k, 3).into_iter().map(from).collect();
            let b: Vec<E> = values(k * n, 4).into_iter().map(from).collect();
            let b_t: Vec<E> = (0..n * k).map(|jp| b[jp % k * n + jp / k]).collect();
            let mut c = vec![E::ONE; m * n];
            let a_op = Strided { ptr: a.as_ptr(), rows: k as isize, cols: 1 };
            let b_op = Strided { ptr: b_t.as_ptr(), rows: 1, cols: k as isize };
            let c_op = StridedMut { ptr: c.as_mut_ptr(), rows: n as isize, cols: 1 };
            // SAFETY: AVX-512 (checked by the callers); b_t holds Bᵀ, n·k values row-major.
            unsafe { split((m, n, k), E::ONE, a_op, b_op, E::ZERO, c_op, 1, blocking::<E>()) };
            assert_eq!(c, product((m, n, k), &a, &b, blocking::<E>(), 1), "{m}x{n}x{k}");
        }
    }

    #[test]
    fn transposed_b_matches_row_major_b_f32_and_f64() {
        if !available() {
            eprintln!("skipped: this processor has no AVX-512F, so the blocked kernel cannot run here");
            return;
        }
        transposed_b_matches_row_major_b::<f32>(|v| v as f32);
        transposed_b_matches_row_major_b::<f64>(|v| v);
    }

    #[test]
    fn every_blocking_matches_the_reference_f32() {
        if !available() {
            eprintln!("skipped: this processor has no AVX-512F, so the blocked kernel cannot run here");
            return;
        }
        every_blocking_matches_the_reference::<f32>(|v| v as f32, f64::from, 1e-5);
    }

    #[test]
    fn every_blocking_matches_the_reference_f64() {
        if !available() {
            eprintln!("skipped: this processor has no AVX-512F, so the blocked kernel cannot run here");
            return;
        }
        every_blocking_matches_the_reference::<f64>(|v| v, |v| v, 1e-14);
    }
}
