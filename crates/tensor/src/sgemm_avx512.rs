//! `f32` matrix products with AVX-512 when the processor has it: `C = α·A·B + β·C`.
//!
//! OpenBLAS picks its kernels by processor type, and the type can be pinned (the environment
//! of this project sets `OPENBLAS_CORETYPE=Haswell`, whose kernels are 256 bits wide). On a
//! processor with AVX-512 that halves the arithmetic per instruction. This module is the
//! classic blocked product (Goto/BLIS) with a 512-bit register kernel:
//!
//! - `B` is copied in blocks of `KC × NC` into panels of [`NR`] columns, `A` in blocks of
//!   `MC × KC` into panels of [`MR`] rows (each panel contiguous, in the order the kernel reads
//!   it; the copies absorb transposes and strides, and pad the edges with zeros);
//! - the kernel keeps a `MR × NR` tile of `C` in 24 registers and adds one rank-1 update per
//!   step of `k` (two loads of `B`, twelve broadcasts of `A`, 24 fused multiply-adds);
//! - each tile is then written as `C = α·acc + β·C` (`β` only on the first block of `k`; later
//!   blocks add), like BLAS.
//!
//! Work is split over the team's threads by blocks of columns (or of rows when `C` is tall and narrow):
//! each element of `C` is summed by one thread in the same order whatever the thread count, so
//! results do not depend on it. The panels live in per-thread buffers that are kept, so the
//! steady state of a training loop allocates nothing.

use std::arch::x86_64::{
    __m512, __mmask16, _MM_HINT_T0, _mm_prefetch, _mm512_add_ps, _mm512_fmadd_ps, _mm512_loadu_ps,
    _mm512_mask_storeu_ps, _mm512_maskz_loadu_ps, _mm512_mul_ps, _mm512_set1_ps, _mm512_setzero_ps,
    _mm512_storeu_ps,
};

use crate::panels::{Blocking, MR, NR, PANELS, Panels, blocking};
use crate::team::parallel_for;

/// Whether this processor runs the AVX-512 kernel (checked once, then cached by std).
pub(crate) fn available() -> bool {
    std::arch::is_x86_feature_detected!("avx512f")
}

/// A read-only strided matrix: element `(i, j)` at `ptr + i·rows + j·cols`.
#[derive(Clone, Copy)]
pub(crate) struct Strided {
    pub(crate) ptr: *const f32,
    pub(crate) rows: isize,
    pub(crate) cols: isize,
}

/// A strided output matrix.
#[derive(Clone, Copy)]
pub(crate) struct StridedMut {
    pub(crate) ptr: *mut f32,
    pub(crate) rows: isize,
    pub(crate) cols: isize,
}

// SAFETY: the pointers are only dereferenced inside `sgemm`, whose caller guarantees that A and
// B are readable and that the threads write disjoint parts of C.
unsafe impl Send for Strided {}
// SAFETY: as above.
unsafe impl Sync for Strided {}
// SAFETY: as above; each thread writes only its own block of C.
unsafe impl Send for StridedMut {}
// SAFETY: as above.
unsafe impl Sync for StridedMut {}

impl Strided {
    /// # Safety
    /// `(i, j)` must be inside the matrix.
    #[inline(always)]
    unsafe fn at(&self, i: usize, j: usize) -> f32 {
        // SAFETY: the caller keeps (i, j) inside the matrix.
        unsafe { *self.ptr.offset(i as isize * self.rows + j as isize * self.cols) }
    }
}

/// `C = α·A·B + β·C` for `A: [m, k]`, `B: [k, n]`, `C: [m, n]`, on up to `threads` threads of
/// the team ([`parallel_for`]). With `β = 0`, `C`'s old contents (NaN included) are ignored.
///
/// # Safety
/// [`available`] must be true; the operands must describe valid memory of their shapes; `C`
/// must not overlap `A` or `B`, and distinct `(i, j)` must be distinct elements of `C`.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn sgemm(
    (m, n, k): (usize, usize, usize),
    alpha: f32,
    a: Strided,
    b: Strided,
    beta: f32,
    c: StridedMut,
    threads: usize,
) {
    if m == 0 || n == 0 {
        return;
    }
    // A narrow C (n well below NR, e.g. 10 classes) would leave most of each register tile
    // empty: compute Cᵀ = Bᵀ·Aᵀ instead, where the narrow side meets the short side of the tile.
    let padded = |rows: usize, cols: usize| rows.div_ceil(MR) * MR * cols.div_ceil(NR) * NR;
    if 5 * padded(n, m) < 4 * padded(m, n) {
        let transpose = |x: Strided| Strided { ptr: x.ptr, rows: x.cols, cols: x.rows };
        let c_t = StridedMut { ptr: c.ptr, rows: c.cols, cols: c.rows };
        // SAFETY: the same memory, read through swapped strides.
        unsafe { split((n, m, k), alpha, transpose(b), transpose(a), beta, c_t, threads, blocking()) };
    } else {
        // SAFETY: forwarded from the caller.
        unsafe { split((m, n, k), alpha, a, b, beta, c, threads, blocking()) };
    }
}

/// Splits the product over threads by blocks of rows or columns of C and runs the parts.
///
/// Each part copies the whole of the other operand into its panels, so the split goes along
/// the dimension that makes that copy the smaller one: columns (each part copies A, `m×k`)
/// when C is wider than tall, rows (each copies B, `k×n`) otherwise.
///
/// # Safety
/// As [`sgemm`].
#[allow(clippy::too_many_arguments)]
unsafe fn split(
    (m, n, k): (usize, usize, usize),
    alpha: f32,
    a: Strided,
    b: Strided,
    beta: f32,
    c: StridedMut,
    threads: usize,
    blocking: Blocking,
) {
    let column_tiles = n.div_ceil(NR);
    let row_tiles = m.div_ceil(MR);
    let by_columns = if m < n { column_tiles >= threads.min(2) } else { row_tiles < threads.min(2) };
    let tiles = if by_columns { column_tiles } else { row_tiles };
    let parts = threads.clamp(1, tiles);
    if parts == 1 {
        // SAFETY: forwarded from the caller.
        unsafe { sgemm_serial((m, n, k), alpha, a, b, beta, c, &blocking) };
        return;
    }
    let job = Split { mnk: (m, n, k), alpha, a, b, beta, c, tiles, parts, by_columns, blocking };
    parallel_for(parts, |part| {
        // SAFETY: forwarded from the caller; the parts write disjoint blocks of C.
        unsafe { job.run(part) }
    });
}

/// One product split into `parts` blocks of rows or columns of C.
struct Split {
    mnk: (usize, usize, usize),
    alpha: f32,
    a: Strided,
    b: Strided,
    beta: f32,
    c: StridedMut,
    tiles: usize,
    parts: usize,
    by_columns: bool,
    blocking: Blocking,
}

impl Split {
    /// Computes block `part` of C.
    ///
    /// # Safety
    /// As [`sgemm`]; distinct parts write disjoint blocks of C, so they may run at once.
    unsafe fn run(&self, part: usize) {
        let Split { mnk: (m, n, k), alpha, a, b, beta, c, tiles, parts, by_columns, blocking } = *self;
        let (start, end) = (tiles * part / parts, tiles * (part + 1) / parts);
        // SAFETY: the block lies inside C (and the matching rows or columns inside A or B).
        unsafe {
            if by_columns {
                let (j0, j1) = (start * NR, (end * NR).min(n));
                let b_part = Strided { ptr: b.ptr.offset(j0 as isize * b.cols), ..b };
                let c_part = StridedMut { ptr: c.ptr.offset(j0 as isize * c.cols), ..c };
                sgemm_serial((m, j1 - j0, k), alpha, a, b_part, beta, c_part, &blocking);
            } else {
                let (i0, i1) = (start * MR, (end * MR).min(m));
                let a_part = Strided { ptr: a.ptr.offset(i0 as isize * a.rows), ..a };
                let c_part = StridedMut { ptr: c.ptr.offset(i0 as isize * c.rows), ..c };
                sgemm_serial((i1 - i0, n, k), alpha, a_part, b, beta, c_part, &blocking);
            }
        }
    }
}

/// The blocked product on the calling thread, in blocks of `blocking`.
///
/// # Safety
/// As [`sgemm`].
unsafe fn sgemm_serial(
    (m, n, k): (usize, usize, usize),
    alpha: f32,
    a: Strided,
    b: Strided,
    beta: f32,
    c: StridedMut,
    blocking: &Blocking,
) {
    let Blocking { mc: block_m, kc: block_k, nc: block_n } = *blocking;
    PANELS.with(|panels| {
        let mut panels = panels.borrow_mut();
        panels.reserve(blocking);
        let Panels { a: a_buf, b: b_buf } = &mut *panels;
        debug_assert!(a_buf.len() >= block_m * block_k && b_buf.len() >= block_n * block_k);
        // Spill space for tiles at the edges of C (or of a C with strided rows).
        let mut tile = [[0.0f32; NR]; MR];
        for j0 in (0..n).step_by(block_n) {
            let nc = block_n.min(n - j0);
            for p0 in (0..k).step_by(block_k) {
                let kc = block_k.min(k - p0);
                // SAFETY: the block lies inside B; the buffer holds nc rounded up to NR columns.
                unsafe { pack_b(b, p0, kc, j0, nc, b_buf) };
                let beta_block = if p0 == 0 { beta } else { 1.0 };
                for i0 in (0..m).step_by(block_m) {
                    let mc = block_m.min(m - i0);
                    // SAFETY: the block lies inside A; the buffer holds mc rounded up to MR rows.
                    unsafe { pack_a(a, i0, mc, p0, kc, a_buf) };
                    for jr in (0..nc).step_by(NR) {
                        let b_panel = &b_buf[jr * kc..(jr + NR) * kc];
                        for ir in (0..mc).step_by(MR) {
                            let a_panel = &a_buf[ir * kc..(ir + MR) * kc];
                            let (rows, cols) = (MR.min(mc - ir), NR.min(nc - jr));
                            let target =
                                Target { c, i0: i0 + ir, j0: j0 + jr, rows, cols, alpha, beta: beta_block };
                            // SAFETY: `available()` was checked by the caller of `sgemm`, and the
                            // target block lies inside C.
                            unsafe { kernel(kc, a_panel, b_panel, &target, &mut tile) };
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
/// The block must lie inside A, and `dst` must hold `mc` rounded up to `MR`, times `kc`.
unsafe fn pack_a(a: Strided, i0: usize, mc: usize, p0: usize, kc: usize, dst: &mut [f32]) {
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
                    let src: &[f32; MR] = src.try_into().expect("MR values");
                    let dst: &mut [f32; MR] = dst.try_into().expect("MR values");
                    *dst = *src;
                } else {
                    dst[..rows].copy_from_slice(src);
                    dst[rows..].fill(0.0);
                }
            }
        } else if rows == MR {
            // Rows of A are read side by side, so that each step's MR values are written at once.
            let starts: [*const f32; MR] = std::array::from_fn(|r| {
                // SAFETY: row base + r and column p0 lie inside A.
                unsafe { a.ptr.offset((base + r) as isize * a.rows + p0 as isize * a.cols) }
            });
            for (p, dst) in panel.chunks_exact_mut(MR).enumerate() {
                for (d, &start) in dst.iter_mut().zip(&starts) {
                    // SAFETY: column p0 + p of each row lies inside A.
                    *d = unsafe { *start.offset(p as isize * a.cols) };
                }
            }
        } else {
            for r in 0..MR {
                if r < rows {
                    for p in 0..kc {
                        // SAFETY: row base + r < i0 + mc and column p0 + p < p0 + kc lie inside A.
                        panel[p * MR + r] = unsafe { a.at(base + r, p0 + p) };
                    }
                } else {
                    for p in 0..kc {
                        panel[p * MR + r] = 0.0;
                    }
                }
            }
        }
    }
}

/// Copies `B[p0..p0 + kc, j0..j0 + nc]` into panels of `NR` columns: panel `q` holds, for each
/// step `p`, the `NR` values `B[p0 + p, j0 + q·NR + t]` (zeros past the last column).
///
/// # Safety
/// The block must lie inside B, and `dst` must hold `nc` rounded up to `NR`, times `kc`.
unsafe fn pack_b(b: Strided, p0: usize, kc: usize, j0: usize, nc: usize, dst: &mut [f32]) {
    for (q, panel) in dst[..nc.div_ceil(NR) * NR * kc].chunks_exact_mut(NR * kc).enumerate() {
        let cols = NR.min(nc - q * NR);
        let base = j0 + q * NR;
        if b.cols == 1 {
            // Rows of B are contiguous: each step copies up to NR neighbours.
            for (p, dst) in panel.chunks_exact_mut(NR).enumerate() {
                // SAFETY: row p0 + p and columns `base..base + cols` lie inside B.
                let src = unsafe {
                    std::slice::from_raw_parts(b.ptr.offset((p0 + p) as isize * b.rows + base as isize), cols)
                };
                if cols == NR {
                    // A fixed-size copy: inlined moves rather than a call to memcpy.
                    let src: &[f32; NR] = src.try_into().expect("NR values");
                    let dst: &mut [f32; NR] = dst.try_into().expect("NR values");
                    *dst = *src;
                } else {
                    dst[..cols].copy_from_slice(src);
                    dst[cols..].fill(0.0);
                }
            }
        } else {
            for t in 0..NR {
                if t < cols {
                    for p in 0..kc {
                        // SAFETY: row p0 + p and column base + t lie inside B.
                        panel[p * NR + t] = unsafe { b.at(p0 + p, base + t) };
                    }
                } else {
                    for p in 0..kc {
                        panel[p * NR + t] = 0.0;
                    }
                }
            }
        }
    }
}

/// Where a tile goes: `C[i0 + r, j0 + t] = α·acc[r][t] + β·C[i0 + r, j0 + t]` for `r < rows`,
/// `t < cols` (with `β = 0`, `C` is not read).
struct Target {
    c: StridedMut,
    i0: usize,
    j0: usize,
    rows: usize,
    cols: usize,
    alpha: f32,
    beta: f32,
}

/// `acc = Σₚ a[p]·b[p]ᵀ` over `kc` steps, then written to `target`: `a` is an `A` panel (`MR`
/// values per step), `b` a `B` panel (`NR` values per step); each element is summed in order
/// of `p` with fused multiply-adds. A whole tile of a C with contiguous rows is updated from
/// the registers; an edge tile goes through `spill`.
///
/// # Safety
/// The processor must support AVX-512F; `a` must hold `kc·MR` values and `b` `kc·NR`; the
/// target block must lie inside C.
#[target_feature(enable = "avx512f")]
unsafe fn kernel(kc: usize, a: &[f32], b: &[f32], target: &Target, spill: &mut [[f32; NR]; MR]) {
    debug_assert!(a.len() >= kc * MR && b.len() >= kc * NR);
    let mut acc: [[__m512; 2]; MR] = [[_mm512_setzero_ps(); 2]; MR];
    let (mut ap, mut bp) = (a.as_ptr(), b.as_ptr());
    for _ in 0..kc {
        // SAFETY: each step reads NR values of b and MR of a, within the lengths checked above.
        unsafe {
            let b0 = _mm512_loadu_ps(bp);
            let b1 = _mm512_loadu_ps(bp.add(16));
            for (r, row) in acc.iter_mut().enumerate() {
                let x = _mm512_set1_ps(*ap.add(r));
                row[0] = _mm512_fmadd_ps(x, b0, row[0]);
                row[1] = _mm512_fmadd_ps(x, b1, row[1]);
            }
            ap = ap.add(MR);
            bp = bp.add(NR);
        }
    }
    let Target { c, i0, j0, rows, cols, alpha, beta } = *target;
    if cols == NR && c.cols == 1 {
        let (va, vb) = (_mm512_set1_ps(alpha), _mm512_set1_ps(beta));
        for (r, row) in acc.iter().enumerate().take(rows) {
            for (half, &sum) in row.iter().enumerate() {
                // SAFETY: row i0 + r, columns j0 + 16·half .. + 16 lie inside C (cols == NR).
                unsafe {
                    let dst = c.ptr.offset((i0 + r) as isize * c.rows + (j0 + 16 * half) as isize);
                    let v = _mm512_mul_ps(sum, va);
                    let v = if beta == 0.0 {
                        v
                    } else if beta == 1.0 {
                        _mm512_add_ps(v, _mm512_loadu_ps(dst))
                    } else {
                        _mm512_add_ps(v, _mm512_mul_ps(_mm512_loadu_ps(dst), vb))
                    };
                    _mm512_storeu_ps(dst, v);
                }
            }
        }
        return;
    }
    for (row, out) in acc.iter().zip(spill.iter_mut()) {
        // SAFETY: each row of the spill tile holds NR = 32 values.
        unsafe {
            _mm512_storeu_ps(out.as_mut_ptr(), row[0]);
            _mm512_storeu_ps(out.as_mut_ptr().add(16), row[1]);
        }
    }
    for (r, row) in spill.iter().enumerate().take(rows) {
        for (t, &v) in row.iter().enumerate().take(cols) {
            // SAFETY: (i0 + r, j0 + t) lies inside C.
            unsafe {
                let dst = c.ptr.offset((i0 + r) as isize * c.rows + (j0 + t) as isize * c.cols);
                *dst = if beta == 0.0 { alpha * v } else { alpha * v + beta * *dst };
            }
        }
    }
}

/// Widest `C` (in columns) that [`sgemm_small`] takes: four 16-lane registers per row.
pub(crate) const SMALL_MAX_N: usize = 64;
/// Most elements of `op(B)` that [`sgemm_small`] copies to the stack when its rows are not
/// contiguous.
pub(crate) const SMALL_MAX_B: usize = 4096;

/// `C = α·A·B + β·C` for the products of small networks (`n ≤ 64`, `k·n ≤ 4096`), without
/// packing: each row of `C` is summed in registers (`Σₚ A[i,p]·B[p,·]`, in order of `p`, with
/// fused multiply-adds), then written with masked stores. A BLAS call costs about 2000
/// instructions before any arithmetic; a 10×8·8×8 product here costs about 300.
///
/// # Safety
/// [`available`] must be true; `n ≤ SMALL_MAX_N`, `k·n ≤ SMALL_MAX_B`; the operands must
/// describe valid memory of their shapes; `C` must not overlap `A` or `B`, and distinct
/// `(i, j)` must be distinct elements of `C`.
pub(crate) unsafe fn sgemm_small(
    (m, n, k): (usize, usize, usize),
    alpha: f32,
    a: Strided,
    b: Strided,
    beta: f32,
    c: StridedMut,
) {
    debug_assert!(n <= SMALL_MAX_N && k * n <= SMALL_MAX_B);
    // SAFETY: forwarded from the caller; the chunk count covers n.
    unsafe {
        match n.div_ceil(16) {
            0 => {}
            1 => small_rows::<1>((m, n, k), alpha, a, b, beta, c),
            2 => small_rows::<2>((m, n, k), alpha, a, b, beta, c),
            3 => small_rows::<3>((m, n, k), alpha, a, b, beta, c),
            _ => small_rows::<4>((m, n, k), alpha, a, b, beta, c),
        }
    }
}

/// [`sgemm_small`] with `CHUNKS` registers per row of `C` (`16·(CHUNKS − 1) < n ≤ 16·CHUNKS`).
///
/// # Safety
/// As [`sgemm_small`].
#[target_feature(enable = "avx512f")]
unsafe fn small_rows<const CHUNKS: usize>(
    (m, n, k): (usize, usize, usize),
    alpha: f32,
    a: Strided,
    b: Strided,
    beta: f32,
    c: StridedMut,
) {
    // Rows of op(B) must be contiguous for the vector loads; copy them when they are not (into
    // memory left uninitialised otherwise: zeroing 16 KiB would cost more than the product).
    let mut copy = std::mem::MaybeUninit::<[f32; SMALL_MAX_B]>::uninit();
    let (b_ptr, b_row) = if b.cols == 1 {
        (b.ptr, b.rows)
    } else {
        let dst = copy.as_mut_ptr().cast::<f32>();
        for p in 0..k {
            for j in 0..n {
                // SAFETY: (p, j) lies inside B, and p·n + j < k·n ≤ SMALL_MAX_B.
                unsafe { dst.add(p * n + j).write(b.at(p, j)) };
            }
        }
        // Only the k·n values written above are read (the masked loads skip the rest).
        (dst.cast_const(), n as isize)
    };
    let masks: [__mmask16; CHUNKS] = std::array::from_fn(|ch| {
        let lanes = n.saturating_sub(16 * ch).min(16);
        ((1u32 << lanes) - 1) as __mmask16
    });
    let (va, vb) = (_mm512_set1_ps(alpha), _mm512_set1_ps(beta));
    let mut spill = [0.0f32; SMALL_MAX_N];
    // Four rows at a time: four independent chains of multiply-adds hide the latency of each.
    // A last block of fewer rows recomputes its last row in the spare slots and keeps only the
    // real ones.
    const ROWS: usize = 4;
    for i0 in (0..m).step_by(ROWS) {
        let rows = ROWS.min(m - i0);
        let row_of = |r: usize| i0 + r.min(rows - 1);
        let mut acc = [[_mm512_setzero_ps(); CHUNKS]; ROWS];
        for p in 0..k {
            // SAFETY: every row_of(r) < m and p < k lie inside A; row p of op(B) holds n values
            // from b_ptr + p·b_row, and the masked loads touch no lane past n.
            unsafe {
                let row = b_ptr.offset(p as isize * b_row);
                let y: [__m512; CHUNKS] =
                    std::array::from_fn(|ch| _mm512_maskz_loadu_ps(masks[ch], row.add(16 * ch)));
                for (r, sums) in acc.iter_mut().enumerate() {
                    let x = _mm512_set1_ps(a.at(row_of(r), p));
                    for (sum, &y) in sums.iter_mut().zip(&y) {
                        *sum = _mm512_fmadd_ps(x, y, *sum);
                    }
                }
            }
        }
        for (r, sums) in acc.iter().enumerate().take(rows) {
            let i = i0 + r;
            if c.cols == 1 {
                for (ch, &sum) in sums.iter().enumerate() {
                    // SAFETY: row i of C holds n contiguous values; the masked accesses stay
                    // below n.
                    unsafe {
                        let dst = c.ptr.offset(i as isize * c.rows).add(16 * ch);
                        let v = _mm512_mul_ps(sum, va);
                        let v = if beta == 0.0 {
                            v
                        } else if beta == 1.0 {
                            _mm512_add_ps(v, _mm512_maskz_loadu_ps(masks[ch], dst))
                        } else {
                            _mm512_add_ps(v, _mm512_mul_ps(_mm512_maskz_loadu_ps(masks[ch], dst), vb))
                        };
                        _mm512_mask_storeu_ps(dst, masks[ch], v);
                    }
                }
            } else {
                for (ch, &sum) in sums.iter().enumerate() {
                    // SAFETY: the spill buffer holds 16 values per chunk.
                    unsafe { _mm512_storeu_ps(spill.as_mut_ptr().add(16 * ch), sum) };
                }
                for (j, &v) in spill.iter().enumerate().take(n) {
                    // SAFETY: (i, j) lies inside C.
                    unsafe {
                        let dst = c.ptr.offset(i as isize * c.rows + j as isize * c.cols);
                        *dst = if beta == 0.0 { alpha * v } else { alpha * v + beta * *dst };
                    }
                }
            }
        }
    }
}

/// A row vector times a matrix with contiguous rows, `yᵀ = α·xᵀ·B + β·yᵀ` (`x` of `k`
/// values with stride `incx`, `B: [k, n]`, `y` of `n` values with stride `incy`): the product
/// of inference on one sample.
///
/// Each output column is summed in registers over the rows of `B` in order (fused
/// multiply-adds), sixteen registers of sixteen columns at a time, so `B` is read once, as it
/// lies in memory. Above a few hundred thousand multiply-adds the columns are split over
/// `threads` threads: each reads its own columns of every row, so on repeated calls (a model's
/// weights) each core keeps its share in its own cache.
///
/// # Safety
/// [`available`] must be true; `b.cols` must be 1; the operands must describe valid memory of
/// their sizes, and `y` must not overlap `x` or `B`.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn sgemv_row(
    (k, n): (usize, usize),
    alpha: f32,
    x: (*const f32, isize),
    b: Strided,
    beta: f32,
    y: (*mut f32, isize),
    threads: usize,
) {
    debug_assert!(b.cols == 1);
    let job = RowJob {
        k,
        alpha,
        x: Strided { ptr: x.0, rows: x.1, cols: 0 },
        b,
        beta,
        y: StridedMut { ptr: y.0, rows: y.1, cols: 0 },
    };
    let lanes = n.div_ceil(16);
    let parts = threads.clamp(1, lanes);
    if parts == 1 {
        // SAFETY: forwarded from the caller.
        unsafe { job.columns(0, n) };
        return;
    }
    parallel_for(parts, |part| {
        let (j0, j1) = (16 * (lanes * part / parts), (16 * (lanes * (part + 1) / parts)).min(n));
        // SAFETY: the parts cover disjoint columns of y.
        unsafe { job.columns(j0, j1) };
    });
}

/// How many rows ahead [`RowJob::block`] prefetches (1×784·784×512 on two threads: 7.1 µs with
/// 4, 7.3 without, 9.0 with 16).
const PREFETCH_ROWS: usize = 4;

/// The operands of [`sgemv_row`] (x and y as strided vectors in `rows`).
struct RowJob {
    k: usize,
    alpha: f32,
    x: Strided,
    b: Strided,
    beta: f32,
    y: StridedMut,
}

impl RowJob {
    /// Columns `j0..j1` of the product.
    ///
    /// # Safety
    /// As [`sgemv_row`]; `j0..j1` within `0..n`.
    unsafe fn columns(&self, j0: usize, j1: usize) {
        let mut j = j0;
        // SAFETY (all four calls): the blocks lie inside j0..j1, forwarded from the caller.
        while j1 - j >= 256 {
            unsafe { self.block::<16>(j, 256) };
            j += 256;
        }
        while j1 - j >= 128 {
            unsafe { self.block::<8>(j, 128) };
            j += 128;
        }
        while j1 - j >= 64 {
            unsafe { self.block::<4>(j, 64) };
            j += 64;
        }
        while j < j1 {
            let width = 16.min(j1 - j);
            unsafe { self.block::<1>(j, width) };
            j += width;
        }
    }

    /// `width ≤ 16·CHUNKS` columns from `j`, summed in `CHUNKS` registers.
    ///
    /// # Safety
    /// As [`RowJob::columns`], with `j + width` within the columns.
    #[target_feature(enable = "avx512f")]
    unsafe fn block<const CHUNKS: usize>(&self, j: usize, width: usize) {
        let masks: [__mmask16; CHUNKS] = std::array::from_fn(|ch| {
            let lanes = width.saturating_sub(16 * ch).min(16);
            ((1u32 << lanes) - 1) as __mmask16
        });
        let mut acc = [_mm512_setzero_ps(); CHUNKS];
        for p in 0..self.k {
            // SAFETY: x[p] and row p of B, columns j..j + width (masked), lie inside them.
            unsafe {
                let xp = _mm512_set1_ps(*self.x.ptr.offset(p as isize * self.x.rows));
                let row = self.b.ptr.offset(p as isize * self.b.rows + j as isize);
                if p + PREFETCH_ROWS < self.k {
                    // Each thread reads its own stretch of every row, a stride the hardware
                    // prefetchers follow poorly: ask for the lines a few rows ahead.
                    let ahead = row.offset(PREFETCH_ROWS as isize * self.b.rows).cast::<i8>();
                    for ch in 0..CHUNKS {
                        _mm_prefetch::<_MM_HINT_T0>(ahead.add(64 * ch));
                    }
                }
                for (ch, sum) in acc.iter_mut().enumerate() {
                    let w = _mm512_maskz_loadu_ps(masks[ch], row.add(16 * ch));
                    *sum = _mm512_fmadd_ps(xp, w, *sum);
                }
            }
        }
        let mut spill = [0.0f32; 16];
        for (ch, &sum) in acc.iter().enumerate() {
            // SAFETY: the spill buffer holds 16 values.
            unsafe { _mm512_storeu_ps(spill.as_mut_ptr(), sum) };
            let lanes = width.saturating_sub(16 * ch).min(16);
            for (t, &v) in spill.iter().enumerate().take(lanes) {
                // SAFETY: column j + 16·ch + t < j + width lies inside y.
                unsafe {
                    let dst = self.y.ptr.offset((j + 16 * ch + t) as isize * self.y.rows);
                    *dst = if self.beta == 0.0 { self.alpha * v } else { self.alpha * v + self.beta * *dst };
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `C = A·B` (row-major, `A: [m, k]`, `B: [k, n]`) in blocks of `blocking` on `threads`.
    fn product(
        m: usize,
        n: usize,
        k: usize,
        a: &[f32],
        b: &[f32],
        blocking: Blocking,
        threads: usize,
    ) -> Vec<f32> {
        let mut c = vec![f32::NAN; m * n];
        let a_op = Strided { ptr: a.as_ptr(), rows: k as isize, cols: 1 };
        let b_op = Strided { ptr: b.as_ptr(), rows: n as isize, cols: 1 };
        let c_op = StridedMut { ptr: c.as_mut_ptr(), rows: n as isize, cols: 1 };
        // SAFETY: AVX-512 is available (checked by the callers); the slices hold m·k, k·n and
        // m·n values in row-major order.
        unsafe { split((m, n, k), 1.0, a_op, b_op, 0.0, c_op, threads, blocking) };
        c
    }

    fn values(len: usize, seed: u64) -> Vec<f32> {
        (0..len as u64).map(|i| (((i * 2654435761 + seed) % 1000) as f32 / 500.0) - 1.0).collect()
    }

    /// Every blocking, the machine's own and deliberately small or odd ones, gives the product
    /// of a naive `f64`-accumulated reference within rounding; blockings that share `kc` sum each
    /// element in the same order, so they agree bit for bit, whatever the thread count.
    #[test]
    fn every_blocking_matches_the_f64_reference() {
        if !available() {
            eprintln!("skipped: this processor has no AVX-512F, so the blocked kernel cannot run here");
            return;
        }
        for (m, n, k) in [(50, 70, 300), (130, 40, 257), (25, 200, 33)] {
            let (a, b) = (values(m * k, 1), values(k * n, 2));
            let reference: Vec<f64> = (0..m * n)
                .map(|ij| (0..k).map(|p| a[ij / n * k + p] as f64 * b[p * n + ij % n] as f64).sum())
                .collect();
            let blockings = [
                blocking(),
                Blocking { mc: 24, kc: 16, nc: 64 },
                Blocking { mc: 12, kc: 200, nc: 32 },
                Blocking { mc: 36, kc: 96, nc: 96 },
            ];
            let mut results = Vec::new();
            for blocking in blockings {
                let c = product(m, n, k, &a, &b, blocking, 1);
                for (ij, (&got, &want)) in c.iter().zip(&reference).enumerate() {
                    let tolerance = 1e-5 * (k as f64).sqrt() * (1.0 + want.abs());
                    assert!(
                        (got as f64 - want).abs() <= tolerance,
                        "{m}x{n}x{k} {blocking:?}: C[{ij}] = {got}, want {want}"
                    );
                }
                results.push(c);
            }
            // Same kc, other mc and nc, two threads: the very same numbers.
            let same_kc = Blocking { mc: 12, kc: 16, nc: 32 };
            assert_eq!(product(m, n, k, &a, &b, same_kc, 2), results[1], "{m}x{n}x{k}");
            let own = blocking();
            let other = Blocking { mc: MR * 3, nc: NR * 2, ..own };
            assert_eq!(product(m, n, k, &a, &b, other, 1), results[0], "{m}x{n}x{k}");
        }
    }
}
