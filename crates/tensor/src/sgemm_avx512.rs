//! `f32` products of shapes the blocked product ([`crate::gemm_avx512`]) serves badly, with
//! AVX-512: the products of small networks, summed in registers without packing
//! ([`sgemm_small`]), and one row times a matrix, the product of inference on one sample
//! ([`sgemv_row`]).

use std::arch::x86_64::{
    __m512, __mmask16, _MM_HINT_T0, _mm_prefetch, _mm512_add_ps, _mm512_fmadd_ps, _mm512_mask_storeu_ps,
    _mm512_maskz_loadu_ps, _mm512_mul_ps, _mm512_set1_ps, _mm512_setzero_ps, _mm512_storeu_ps,
};

use crate::gemm_avx512::{Strided, StridedMut};
use crate::team::parallel_for;

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
/// [`crate::gemm_avx512::available`] must be true; `n ≤ SMALL_MAX_N`, `k·n ≤ SMALL_MAX_B`; the operands must
/// describe valid memory of their shapes; `C` must not overlap `A` or `B`, and distinct
/// `(i, j)` must be distinct elements of `C`.
pub(crate) unsafe fn sgemm_small(
    (m, n, k): (usize, usize, usize),
    alpha: f32,
    a: Strided<f32>,
    b: Strided<f32>,
    beta: f32,
    c: StridedMut<f32>,
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
    a: Strided<f32>,
    b: Strided<f32>,
    beta: f32,
    c: StridedMut<f32>,
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
/// [`crate::gemm_avx512::available`] must be true; `b.cols` must be 1; the operands must describe valid memory of
/// their sizes, and `y` must not overlap `x` or `B`.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn sgemv_row(
    (k, n): (usize, usize),
    alpha: f32,
    x: (*const f32, isize),
    b: Strided<f32>,
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
    x: Strided<f32>,
    b: Strided<f32>,
    beta: f32,
    y: StridedMut<f32>,
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
