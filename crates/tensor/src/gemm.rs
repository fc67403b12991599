//! General matrix multiply on BLAS: `C = α·op(A)·op(B) + β·C`.
//!
//! Transposes are passed to `cblas_?gemm` as flags and strides, never materialised: a view
//! obtained with ndarray's `.t()` is recognised from its strides and handed over as a transpose
//! flag. `β = 1` accumulates into `C`, which is how gradients of a parameter used several times
//! add up without a temporary.
//!
//! Where the work goes, by the number of multiply-adds `m·n·k`:
//!
//! - on a processor with AVX-512, products of two rows and columns or more from 2^16
//!   multiply-adds on a blocked AVX-512 kernel (see `gemm_avx512`), on all threads above 2^21:
//!   `f32` always, `f64` in place of an OpenBLAS fallback (`cpu::avx512_kernel_runs`); `f32`
//!   products of small networks
//!   (below 2^16 multiply-adds, `C` at most 64 wide) in registers without packing, and one-row
//!   `f32` products on a row kernel (see `sgemm_avx512`);
//! - a single row or column (`m = 1` or `n = 1`, e.g. inference on one sample): `?gemv`, which
//!   reads the matrix once instead of packing it as `?gemm` does (5× faster for 1×784·784×512);
//! - below 2^21: `?gemm` on the calling thread only;
//! - above: `?gemm` on OpenBLAS's threads.

use cblas_sys::{CBLAS_LAYOUT, CBLAS_TRANSPOSE};
use ndarray::{Array2, ArrayView2, ArrayViewMut2};

use crate::error::{Result, TensorError};
use crate::float::Float;
#[cfg(target_arch = "x86_64")]
use crate::gemm_avx512::{self, Element, Strided, StridedMut};
use crate::parallel::with_one_blas_thread;
#[cfg(target_arch = "x86_64")]
use crate::sgemm_avx512;

/// Products with at least this many multiply-adds run on the blocked AVX-512 kernel when the
/// processor has it (smaller ones cost more in packing than they gain).
#[cfg(target_arch = "x86_64")]
const AVX512_MIN_MACS: usize = 1 << 16;

/// One-row `f32` products (inference on one sample) with at least this many multiply-adds are
/// split over the threads: each reads its share of the weights, which stays in its core's cache
/// from one call to the next.
#[cfg(target_arch = "x86_64")]
const ROW_THREADS_MACS: usize = 1 << 17;

/// Products with fewer multiply-adds (`m·n·k`) than this keep OpenBLAS on the calling thread:
/// below it, handing half the work to another thread costs more than it saves.
const MULTI_THREAD_GEMM_MACS: usize = 1 << 21;

/// Whether an operand of [`gemm()`] enters as it is or transposed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transpose {
    /// `op(X) = X`.
    No,
    /// `op(X) = Xᵀ`.
    Yes,
}

impl Transpose {
    fn flip(self) -> Self {
        match self {
            Transpose::No => Transpose::Yes,
            Transpose::Yes => Transpose::No,
        }
    }

    fn apply(self, (rows, cols): (usize, usize)) -> (usize, usize) {
        match self {
            Transpose::No => (rows, cols),
            Transpose::Yes => (cols, rows),
        }
    }

    fn cblas(self) -> CBLAS_TRANSPOSE {
        match self {
            Transpose::No => CBLAS_TRANSPOSE::CblasNoTrans,
            Transpose::Yes => CBLAS_TRANSPOSE::CblasTrans,
        }
    }
}

/// A read-only operand as BLAS sees it: row-major storage with a leading dimension.
struct BlasOperand<'a, F> {
    ptr: *const F,
    ld: usize,
    /// Whether the row-major matrix at `ptr` is the transpose of the view.
    transposed: bool,
    /// Keeps a copy alive when the view's strides could not be handed to BLAS.
    _copy: Option<Array2<F>>,
    _view: std::marker::PhantomData<&'a F>,
}

/// Describes how a view with these strides maps to row-major BLAS storage, if it does.
///
/// Returns `(leading dimension, transposed)`.
fn blas_layout(rows: usize, cols: usize, s0: isize, s1: isize) -> Option<(usize, bool)> {
    // A stride along an axis of length 1 is never used, so any value is fine there.
    let unit_cols = s1 == 1 || cols <= 1;
    let unit_rows = s0 == 1 || rows <= 1;
    if unit_cols && (rows <= 1 || s0 >= cols.max(1) as isize) {
        let ld = if rows <= 1 { cols.max(1) } else { s0 as usize };
        return Some((ld, false));
    }
    if unit_rows && (cols <= 1 || s1 >= rows.max(1) as isize) {
        let ld = if cols <= 1 { rows.max(1) } else { s1 as usize };
        return Some((ld, true));
    }
    None
}

fn operand<'a, F: Float>(view: &ArrayView2<'a, F>) -> BlasOperand<'a, F> {
    let (rows, cols) = view.dim();
    let strides = view.strides();
    match blas_layout(rows, cols, strides[0], strides[1]) {
        Some((ld, transposed)) => {
            BlasOperand { ptr: view.as_ptr(), ld, transposed, _copy: None, _view: std::marker::PhantomData }
        }
        None => {
            // Arbitrary strides (e.g. every other column): BLAS cannot read them in place.
            let copy = view.as_standard_layout().into_owned();
            BlasOperand {
                ptr: copy.as_ptr(),
                ld: cols.max(1),
                transposed: false,
                _copy: Some(copy),
                _view: std::marker::PhantomData,
            }
        }
    }
}

/// `op(view)` as the AVX-512 kernels read it: its element pointer and its row and column
/// strides, swapped for a transpose. `E` must be `F` (the callers check the type).
#[cfg(target_arch = "x86_64")]
fn strided_op<F: Float, E>(view: &ArrayView2<'_, F>, trans: Transpose) -> Strided<E> {
    let (s0, s1) = (view.strides()[0], view.strides()[1]);
    let (rows, cols) = if trans == Transpose::No { (s0, s1) } else { (s1, s0) };
    Strided { ptr: view.as_ptr().cast::<E>(), rows, cols }
}

/// `x` as the type `E`, which must be `F` itself (the callers check the type).
#[cfg(target_arch = "x86_64")]
fn same<F: Float, E: Element>(x: F) -> E {
    assert!(std::any::TypeId::of::<F>() == std::any::TypeId::of::<E>());
    // SAFETY: F and E are the same type (asserted above).
    unsafe { std::mem::transmute_copy::<F, E>(&x) }
}

/// The blocked AVX-512 product of `gemm`'s checked operands when `F` is `E`; false (nothing
/// done) for another type.
#[cfg(target_arch = "x86_64")]
#[allow(clippy::too_many_arguments)]
fn blocked_avx512<F: Float, E: Element>(
    alpha: F,
    (a, trans_a): (&ArrayView2<'_, F>, Transpose),
    (b, trans_b): (&ArrayView2<'_, F>, Transpose),
    beta: F,
    c: &mut ArrayViewMut2<'_, F>,
    (m, n, k): (usize, usize, usize),
    threads: usize,
) -> bool {
    if std::any::TypeId::of::<F>() != std::any::TypeId::of::<E>() {
        return false;
    }
    let (c_s0, c_s1) = (c.strides()[0], c.strides()[1]);
    let out = StridedMut { ptr: c.as_mut_ptr().cast::<E>(), rows: c_s0, cols: c_s1 };
    // SAFETY: the caller checked AVX-512F; E is F, so the pointer casts are exact; the strides
    // are the views' own and the shapes were checked by `gemm`; C is a unique mutable borrow
    // (distinct elements, not aliasing A or B).
    unsafe {
        gemm_avx512::gemm(
            (m, n, k),
            same::<F, E>(alpha),
            strided_op(a, trans_a),
            strided_op(b, trans_b),
            same::<F, E>(beta),
            out,
            threads,
        )
    };
    true
}

fn to_i32(op: &'static str, what: &str, value: usize) -> Result<i32> {
    i32::try_from(value).map_err(|_| {
        TensorError::invalid(op, format!("{what} = {value} exceeds the BLAS limit of {}", i32::MAX))
    })
}

/// `C = α·op(A)·op(B) + β·C` on the `gemm` crate, which reads any strides in place (a transpose
/// is a swap of strides); the path where OpenBLAS would run a fallback kernel (see
/// [`crate::cpu::gemm_crate_replaces_openblas`]). Shapes were checked by [`gemm()`] and are
/// non-empty. Threads: rayon's pool (sized by `set_num_threads`) from
/// [`MULTI_THREAD_GEMM_MACS`] multiply-adds on, as for OpenBLAS.
///
/// With `β ≠ 0` the product goes to a scratch matrix first and `β·C` is added last, as BLAS
/// does: the crate would start each sum from `C`, so `affine` (bias preloaded, `β = 1`) would
/// no longer equal the product plus the bias bit for bit. The scratch is kept per thread, so
/// steady-state training allocates nothing on this path either.
#[allow(clippy::too_many_arguments)]
fn gemm_crate<F: Float>(
    alpha: F,
    a: &ArrayView2<'_, F>,
    trans_a: Transpose,
    b: &ArrayView2<'_, F>,
    trans_b: Transpose,
    beta: F,
    c: &mut ArrayViewMut2<'_, F>,
    macs: usize,
) {
    // (row stride, column stride) of op(view).
    let strides = |view: &ArrayView2<'_, F>, trans: Transpose| {
        let (s0, s1) = (view.strides()[0], view.strides()[1]);
        if trans == Transpose::No { (s0, s1) } else { (s1, s0) }
    };
    let (m, k) = trans_a.apply(a.dim());
    let n = c.dim().1;
    let (a_rs, a_cs) = strides(a, trans_a);
    let (b_rs, b_cs) = strides(b, trans_b);
    let parallelism = if macs < MULTI_THREAD_GEMM_MACS {
        gemm::Parallelism::None
    } else {
        gemm::Parallelism::Rayon(rayon::current_num_threads())
    };
    // dst = α·op(A)·op(B), dst never read.
    let product = |dst: *mut F, dst_rs: isize, dst_cs: isize| {
        // SAFETY: each pointer and its (row, column) strides describe the view it came from,
        // with the shapes checked by `gemm`; dst is an m×n matrix with these strides that
        // aliases neither A nor B (C is a unique mutable borrow, the scratch is ours). The crate
        // computes dst = 0·dst + alpha·lhs·rhs without reading dst when read_dst is false, so
        // C's old contents (even NaN) are ignored. `F` is f32 or f64, both implemented.
        unsafe {
            gemm::gemm(
                m,
                n,
                k,
                dst,
                dst_cs,
                dst_rs,
                false,
                a.as_ptr(),
                a_cs,
                a_rs,
                b.as_ptr(),
                b_cs,
                b_rs,
                F::zero(),
                alpha,
                false,
                false,
                false,
                parallelism,
            );
        }
    };
    if beta == F::zero() {
        let (c_rs, c_cs) = (c.strides()[0], c.strides()[1]);
        product(c.as_mut_ptr(), c_rs, c_cs);
        return;
    }
    SCRATCH.with_borrow_mut(|scratch| {
        let words = (m * n * std::mem::size_of::<F>()).div_ceil(std::mem::size_of::<u64>());
        if scratch.len() < words {
            scratch.resize(words, 0);
        }
        // The scratch holds m·n values of F (f32 or f64: their alignment divides u64's).
        let ptr = scratch.as_mut_ptr().cast::<F>();
        product(ptr, n as isize, 1);
        // SAFETY: `ptr` points at m·n initialised values of F (written by `product`), owned
        // by this thread's scratch, which nothing else borrows while this view lives.
        let prod = unsafe { ArrayView2::from_shape_ptr((m, n), ptr.cast_const()) };
        if beta == F::one() {
            ndarray::Zip::from(c.view_mut()).and(prod).for_each(|c, &p| *c = p + *c);
        } else {
            ndarray::Zip::from(c.view_mut()).and(prod).for_each(|c, &p| *c = p + beta * *c);
        }
    });
}

thread_local! {
    /// [`gemm_crate`]'s scratch for products added to `β·C`, as 8-byte words.
    static SCRATCH: std::cell::RefCell<Vec<u64>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// `C = α·op(A)·op(B) + β·C`, computed by `cblas_sgemm` or `cblas_dgemm`.
///
/// `op(A)` must be `[m, k]`, `op(B)` `[k, n]` and `C` `[m, n]`. Operands may be any 2-D views:
/// row-major, column-major (such as `x.t()`) or with padded rows; each is handed to BLAS in
/// place with the right transpose flag. Only views whose strides BLAS cannot express at all
/// (neither axis contiguous) are copied first. `C` must have one contiguous axis.
///
/// With `β = 0`, `C` is overwritten and its old contents (even NaN) are ignored, as in BLAS.
///
/// # Errors
/// When the shapes do not fit, naming both operand shapes after `op`, or when `C` has no
/// contiguous axis.
///
/// ```
/// use backprop_tensor::{gemm, Transpose};
/// use ndarray::array;
///
/// let a = array![[1.0_f64, 2.0], [3.0, 4.0]];
/// let b = array![[5.0_f64, 6.0], [7.0, 8.0]];
/// let mut c = array![[1.0_f64, 1.0], [1.0, 1.0]];
/// // C = Aᵀ·B + C
/// gemm(1.0, a.view(), Transpose::Yes, b.view(), Transpose::No, 1.0, c.view_mut()).unwrap();
/// assert_eq!(c, array![[27.0, 31.0], [39.0, 45.0]]);
/// ```
#[allow(clippy::too_many_arguments)]
pub fn gemm<F: Float>(
    alpha: F,
    a: ArrayView2<'_, F>,
    trans_a: Transpose,
    b: ArrayView2<'_, F>,
    trans_b: Transpose,
    beta: F,
    mut c: ArrayViewMut2<'_, F>,
) -> Result<()> {
    const OP: &str = "gemm";
    let (m, k) = trans_a.apply(a.dim());
    let (k2, n) = trans_b.apply(b.dim());
    if k != k2 {
        return Err(TensorError::shape(
            OP,
            &[m, k],
            &[k2, n],
            format!("inner dimensions {k} != {k2} (shapes after op())"),
        ));
    }
    if c.dim() != (m, n) {
        return Err(TensorError::shape(
            OP,
            &[m, n],
            c.shape(),
            format!("output must be [{m}, {n}], got {:?}", c.shape()),
        ));
    }
    if m == 0 || n == 0 {
        return Ok(());
    }
    if k == 0 {
        // BLAS leaves C untouched for k = 0 on some builds; define it as C = β·C.
        if beta == F::zero() {
            c.fill(F::zero());
        } else {
            c.mapv_inplace(|x| x * beta);
        }
        return Ok(());
    }
    let (c_s0, c_s1) = (c.strides()[0], c.strides()[1]);
    let (c_ld, c_transposed) = blas_layout(m, n, c_s0, c_s1).ok_or_else(|| {
        TensorError::invalid(OP, format!("output with strides {:?} has no contiguous axis", c.strides()))
    })?;
    let macs = m.saturating_mul(n).saturating_mul(k);
    #[cfg(target_arch = "x86_64")]
    if std::any::TypeId::of::<F>() == std::any::TypeId::of::<f32>()
        && macs < AVX512_MIN_MACS
        && n <= sgemm_avx512::SMALL_MAX_N
        && k * n <= sgemm_avx512::SMALL_MAX_B
        && gemm_avx512::available()
    {
        let out = StridedMut { ptr: c.as_mut_ptr().cast::<f32>(), rows: c_s0, cols: c_s1 };
        // F is f32 (checked above), so the pointer casts and conversions are exact.
        let (alpha, beta) = (alpha.to_f64() as f32, beta.to_f64() as f32);
        // SAFETY: AVX-512F is available; n and k·n are within the kernel's limits; the strides
        // are the views' own and the shapes were checked above; C is a unique mutable borrow.
        unsafe {
            sgemm_avx512::sgemm_small(
                (m, n, k),
                alpha,
                strided_op(&a, trans_a),
                strided_op(&b, trans_b),
                beta,
                out,
            )
        };
        return Ok(());
    }
    #[cfg(target_arch = "x86_64")]
    if std::any::TypeId::of::<F>() == std::any::TypeId::of::<f32>()
        && m == 1
        && n > 1
        && macs >= AVX512_MIN_MACS
        && gemm_avx512::available()
    {
        // One row: op(B) must have contiguous rows (a weight matrix [k, n] as stored).
        let (b_s0, b_s1) = (b.strides()[0], b.strides()[1]);
        let (b_rows, b_cols) = if trans_b == Transpose::No { (b_s0, b_s1) } else { (b_s1, b_s0) };
        if b_cols == 1 {
            let (a_s0, a_s1) = (a.strides()[0], a.strides()[1]);
            let incx = if trans_a == Transpose::No { a_s1 } else { a_s0 };
            let threads = if macs >= ROW_THREADS_MACS { crate::team::team_size() } else { 1 };
            let (alpha, beta) = (alpha.to_f64() as f32, beta.to_f64() as f32);
            let b_op = Strided { ptr: b.as_ptr().cast::<f32>(), rows: b_rows, cols: 1 };
            // SAFETY: AVX-512F is available; F is f32; x is row 0 of op(A) (k values, stride
            // incx), op(B) is [k, n] with contiguous rows, y is row 0 of C (n values, stride
            // c_s1); C is a unique mutable borrow.
            unsafe {
                sgemm_avx512::sgemv_row(
                    (k, n),
                    alpha,
                    (a.as_ptr().cast::<f32>(), incx),
                    b_op,
                    beta,
                    (c.as_mut_ptr().cast::<f32>(), c_s1),
                    threads,
                )
            };
            return Ok(());
        }
    }
    #[cfg(target_arch = "x86_64")]
    if m > 1 && n > 1 && macs >= AVX512_MIN_MACS && crate::cpu::avx512_kernel_runs::<F>() {
        let threads = if macs >= MULTI_THREAD_GEMM_MACS { crate::team::team_size() } else { 1 };
        let operands = ((&a, trans_a), (&b, trans_b));
        if blocked_avx512::<F, f32>(alpha, operands.0, operands.1, beta, &mut c, (m, n, k), threads)
            || blocked_avx512::<F, f64>(alpha, operands.0, operands.1, beta, &mut c, (m, n, k), threads)
        {
            return Ok(());
        }
    }
    if crate::cpu::gemm_crate_replaces_openblas() {
        gemm_crate(alpha, &a, trans_a, &b, trans_b, beta, &mut c, macs);
        return Ok(());
    }
    if (m == 1 || n == 1) && beta == F::zero() {
        // gemv scales y by β first; make "β = 0 ignores C" hold whatever BLAS does with NaN.
        c.fill(F::zero());
    }
    let a_op = operand(&a);
    let b_op = operand(&b);
    let ta = if a_op.transposed { trans_a.flip() } else { trans_a };
    let tb = if b_op.transposed { trans_b.flip() } else { trans_b };
    let c_ptr = c.as_mut_ptr();
    let (mi, ni, ki) = (to_i32(OP, "m", m)?, to_i32(OP, "n", n)?, to_i32(OP, "k", k)?);
    let (lda, ldb, ldc) =
        (to_i32(OP, "lda", a_op.ld)?, to_i32(OP, "ldb", b_op.ld)?, to_i32(OP, "ldc", c_ld)?);
    let call = || {
        // SAFETY: each operand pointer, leading dimension and transpose flag describes the view
        // it came from (checked by `blas_layout`), the shapes were checked above, and C is a
        // unique mutable borrow, so it cannot alias A or B.
        unsafe {
            if m == 1 {
                // Cᵀ (a vector of n) = op(B)ᵀ·x with x the single row of op(A).
                let incx = if ta == Transpose::No { 1 } else { lda };
                let incy = if c_transposed { ldc } else { 1 };
                let (trans, rows, cols) = match tb {
                    Transpose::No => (CBLAS_TRANSPOSE::CblasTrans, ki, ni),
                    Transpose::Yes => (CBLAS_TRANSPOSE::CblasNoTrans, ni, ki),
                };
                F::cblas_gemv(trans, rows, cols, alpha, b_op.ptr, ldb, a_op.ptr, incx, beta, c_ptr, incy);
            } else if n == 1 {
                // C (a vector of m) = op(A)·x with x the single column of op(B).
                let incx = if tb == Transpose::No { ldb } else { 1 };
                let incy = if c_transposed { 1 } else { ldc };
                let (trans, rows, cols) = match ta {
                    Transpose::No => (CBLAS_TRANSPOSE::CblasNoTrans, mi, ki),
                    Transpose::Yes => (CBLAS_TRANSPOSE::CblasTrans, ki, mi),
                };
                F::cblas_gemv(trans, rows, cols, alpha, a_op.ptr, lda, b_op.ptr, incx, beta, c_ptr, incy);
            } else if c_transposed {
                // C is column-major: compute Cᵀ = op(B)ᵀ·op(A)ᵀ into row-major Cᵀ.
                F::cblas_gemm(
                    CBLAS_LAYOUT::CblasRowMajor,
                    tb.flip().cblas(),
                    ta.flip().cblas(),
                    ni,
                    mi,
                    ki,
                    alpha,
                    b_op.ptr,
                    ldb,
                    a_op.ptr,
                    lda,
                    beta,
                    c_ptr,
                    ldc,
                );
            } else {
                F::cblas_gemm(
                    CBLAS_LAYOUT::CblasRowMajor,
                    ta.cblas(),
                    tb.cblas(),
                    mi,
                    ni,
                    ki,
                    alpha,
                    a_op.ptr,
                    lda,
                    b_op.ptr,
                    ldb,
                    beta,
                    c_ptr,
                    ldc,
                );
            }
        }
    };
    if macs < MULTI_THREAD_GEMM_MACS {
        with_one_blas_thread(call)
    } else {
        call()
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, s};

    fn naive(a: &Array2<f64>, b: &Array2<f64>) -> Array2<f64> {
        let (m, k) = a.dim();
        let n = b.ncols();
        Array2::from_shape_fn((m, n), |(i, j)| (0..k).map(|p| a[[i, p]] * b[[p, j]]).sum())
    }

    fn sample(rows: usize, cols: usize, seed: u64) -> Array2<f64> {
        Array2::from_shape_fn((rows, cols), |(i, j)| {
            let x = (i * 31 + j * 17) as u64 * 2654435761 + seed;
            ((x % 1000) as f64 / 500.0) - 1.0
        })
    }

    fn assert_close(x: &Array2<f64>, y: &Array2<f64>) {
        assert_eq!(x.dim(), y.dim());
        for (a, b) in x.iter().zip(y) {
            assert!((a - b).abs() <= 1e-12 * (1.0 + b.abs()), "{a} vs {b}");
            assert!(!a.is_nan(), "NaN in the product");
        }
    }

    #[test]
    fn all_transpose_combinations_match_naive() {
        let (m, k, n) = (5, 7, 3);
        let a = sample(m, k, 1);
        let b = sample(k, n, 2);
        let expected = naive(&a, &b);
        let at = a.t().to_owned(); // stored [k, m]
        let bt = b.t().to_owned();
        for (aa, ta) in [(&a, Transpose::No), (&at, Transpose::Yes)] {
            for (bb, tb) in [(&b, Transpose::No), (&bt, Transpose::Yes)] {
                let mut c = Array2::zeros((m, n));
                gemm(1.0, aa.view(), ta, bb.view(), tb, 0.0, c.view_mut()).unwrap();
                assert_close(&c, &expected);
            }
        }
    }

    #[test]
    fn transposed_views_and_strided_operands() {
        let a = sample(4, 6, 3);
        let b = sample(4, 5, 4);
        // Aᵀ·B through a `.t()` view (column-major) with no flag.
        let mut c = Array2::zeros((6, 5));
        gemm(1.0, a.t(), Transpose::No, b.view(), Transpose::No, 0.0, c.view_mut()).unwrap();
        assert_close(&c, &naive(&a.t().to_owned(), &b));
        // A sub-block with padded rows, and one with every other column (copied).
        let big = sample(8, 9, 5);
        let block = big.slice(s![1..5, 2..8]); // [4, 6], row stride 9
        let skip = big.slice(s![0..6, ..;2]); // [6, 5], column stride 2
        let mut c = Array2::zeros((4, 5));
        gemm(1.0, block, Transpose::No, skip, Transpose::No, 0.0, c.view_mut()).unwrap();
        assert_close(&c, &naive(&block.to_owned(), &skip.to_owned()));
    }

    #[test]
    fn beta_accumulates_and_alpha_scales() {
        let a = sample(3, 4, 6);
        let b = sample(4, 2, 7);
        let c0 = sample(3, 2, 8);
        let mut c = c0.clone();
        gemm(2.0, a.view(), Transpose::No, b.view(), Transpose::No, 1.0, c.view_mut()).unwrap();
        assert_close(&c, &(&naive(&a, &b) * 2.0 + &c0));
        // Column-major output.
        let mut ct = Array2::<f64>::zeros((2, 3));
        let mut c_view = ct.view_mut().reversed_axes();
        c_view.assign(&c0);
        gemm(1.0, a.view(), Transpose::No, b.view(), Transpose::No, 0.5, c_view).unwrap();
        assert_close(&ct.t().to_owned(), &(&naive(&a, &b) + &(&c0 * 0.5)));
    }

    #[test]
    fn beta_zero_ignores_nan_and_k_zero_scales() {
        let a = sample(2, 3, 9);
        let b = sample(3, 2, 10);
        let mut c = Array2::from_elem((2, 2), f64::NAN);
        gemm(1.0, a.view(), Transpose::No, b.view(), Transpose::No, 0.0, c.view_mut()).unwrap();
        assert_close(&c, &naive(&a, &b));
        let empty_a = Array2::<f64>::zeros((2, 0));
        let empty_b = Array2::<f64>::zeros((0, 2));
        let mut c = Array2::from_elem((2, 2), 3.0);
        gemm(1.0, empty_a.view(), Transpose::No, empty_b.view(), Transpose::No, 2.0, c.view_mut()).unwrap();
        assert_eq!(c, Array2::from_elem((2, 2), 6.0));
    }

    #[test]
    fn f32_matches_f64() {
        let a = sample(6, 5, 11);
        let b = sample(5, 4, 12);
        let mut c = Array2::<f32>::zeros((6, 4));
        let (a32, b32) = (a.mapv(|x| x as f32), b.mapv(|x| x as f32));
        gemm(1.0f32, a32.view(), Transpose::No, b32.view(), Transpose::No, 0.0, c.view_mut()).unwrap();
        for (x, y) in c.iter().zip(naive(&a, &b).iter()) {
            assert!((*x as f64 - y).abs() < 1e-5);
        }
    }

    /// A product with `gemm`'s arguments, checked shapes assumed.
    type Product =
        fn(f64, ArrayView2<'_, f64>, Transpose, ArrayView2<'_, f64>, Transpose, f64, ArrayViewMut2<'_, f64>);

    fn by_gemm(
        alpha: f64,
        a: ArrayView2<'_, f64>,
        ta: Transpose,
        b: ArrayView2<'_, f64>,
        tb: Transpose,
        beta: f64,
        c: ArrayViewMut2<'_, f64>,
    ) {
        gemm(alpha, a, ta, b, tb, beta, c).unwrap();
    }

    fn by_gemm_crate(
        alpha: f64,
        a: ArrayView2<'_, f64>,
        ta: Transpose,
        b: ArrayView2<'_, f64>,
        tb: Transpose,
        beta: f64,
        mut c: ArrayViewMut2<'_, f64>,
    ) {
        let (m, n) = c.dim();
        let macs = m * n * ta.apply(a.dim()).1;
        gemm_crate(alpha, &a, ta, &b, tb, beta, &mut c, macs);
    }

    fn check_all_layouts(m: usize, k: usize, n: usize) {
        check_all_layouts_of(by_gemm, m, k, n);
    }

    /// Every transpose combination (as flags and as `.t()` views), row- and column-major
    /// output, `β = 0` over NaN and `β = 0.5`, against the naive product.
    fn check_all_layouts_of(product: Product, m: usize, k: usize, n: usize) {
        let a = sample(m, k, 21);
        let b = sample(k, n, 22);
        let c0 = sample(m, n, 23);
        let expected = naive(&a, &b);
        let (at, bt) = (a.t().to_owned(), b.t().to_owned());
        for (alpha, beta) in [(1.0, 0.0), (-2.0, 0.5)] {
            let want = &expected * alpha + &(&c0 * beta);
            let operands_a =
                [(a.view(), Transpose::No), (at.view(), Transpose::Yes), (at.t(), Transpose::No)];
            let operands_b =
                [(b.view(), Transpose::No), (bt.view(), Transpose::Yes), (bt.t(), Transpose::No)];
            for (av, ta) in operands_a {
                for (bv, tb) in operands_b {
                    let start = if beta == 0.0 { Array2::from_elem((m, n), f64::NAN) } else { c0.clone() };
                    let mut c = start.clone();
                    product(alpha, av, ta, bv, tb, beta, c.view_mut());
                    assert_close(&c, &want);
                    // Column-major output.
                    let mut ct = start.t().to_owned();
                    product(alpha, av, ta, bv, tb, beta, ct.view_mut().reversed_axes());
                    assert_close(&ct.t().to_owned(), &want);
                }
            }
        }
    }

    #[test]
    fn gemv_and_gemm_paths_agree_with_naive() {
        check_all_layouts(5, 7, 3);
        // One row or one column: gemv.
        check_all_layouts(1, 300, 40);
        check_all_layouts(40, 300, 1);
        check_all_layouts(1, 5000, 1);
        check_all_layouts(1, 1, 1);
        // gemm on one thread, and above the threading limit.
        check_all_layouts(20, 17, 19);
        check_all_layouts(140, 130, 120);
    }

    /// The blocked AVX-512 kernel on `f64` (taken where OpenBLAS would run a fallback kernel;
    /// called directly here, so it is checked on every machine with AVX-512): every layout,
    /// one thread and the team's, operands with padded rows and every other column.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_avx512_f64_path_matches_naive() {
        if !gemm_avx512::available() {
            eprintln!("skipped: this processor has no AVX-512F, so the blocked kernel cannot run here");
            return;
        }
        for threads in [1, 2] {
            let product: Product = if threads == 1 { by_avx512_f64::<1> } else { by_avx512_f64::<2> };
            for (m, k, n) in [(2, 7, 3), (20, 17, 19), (140, 130, 120), (13, 300, 41)] {
                check_all_layouts_of(product, m, k, n);
            }
            let big = sample(12, 13, 5);
            let block = big.slice(s![1..5, 2..8]); // [4, 6], row stride 13
            let skip = big.slice(s![0..6, ..;2]); // [6, 7], column stride 2
            let mut c = Array2::from_elem((4, 7), f64::NAN);
            product(1.0, block, Transpose::No, skip, Transpose::No, 0.0, c.view_mut());
            assert_close(&c, &naive(&block.to_owned(), &skip.to_owned()));
        }
    }

    #[cfg(target_arch = "x86_64")]
    fn by_avx512_f64<const THREADS: usize>(
        alpha: f64,
        a: ArrayView2<'_, f64>,
        ta: Transpose,
        b: ArrayView2<'_, f64>,
        tb: Transpose,
        beta: f64,
        mut c: ArrayViewMut2<'_, f64>,
    ) {
        let (m, n) = c.dim();
        let k = ta.apply(a.dim()).1;
        assert!(blocked_avx512::<f64, f64>(alpha, (&a, ta), (&b, tb), beta, &mut c, (m, n, k), THREADS));
    }

    /// The `gemm` crate's path (taken where OpenBLAS would run a fallback kernel; called
    /// directly here, so it is checked on every machine): every layout, one row or column, one
    /// thread and rayon's threads, operands with padded rows and every other column read in
    /// place, and `f32`.
    #[test]
    fn the_gemm_crate_path_matches_naive() {
        for (m, k, n) in [(5, 7, 3), (1, 300, 40), (40, 300, 1), (1, 1, 1), (20, 17, 19), (140, 130, 120)] {
            check_all_layouts_of(by_gemm_crate, m, k, n);
        }
        let big = sample(12, 13, 5);
        let block = big.slice(s![1..5, 2..8]); // [4, 6], row stride 13
        let skip = big.slice(s![0..6, ..;2]); // [6, 7], column stride 2
        let mut c = Array2::from_elem((4, 7), f64::NAN);
        by_gemm_crate(1.0, block, Transpose::No, skip, Transpose::No, 0.0, c.view_mut());
        assert_close(&c, &naive(&block.to_owned(), &skip.to_owned()));
        let (a, b) = (sample(30, 20, 1), sample(20, 10, 2));
        let (a32, b32) = (a.mapv(|x| x as f32), b.mapv(|x| x as f32));
        let mut c32 = Array2::<f32>::zeros((30, 10));
        gemm_crate(
            1.0f32,
            &a32.view(),
            Transpose::No,
            &b32.view(),
            Transpose::No,
            0.0,
            &mut c32.view_mut(),
            6000,
        );
        for (x, y) in c32.iter().zip(naive(&a, &b).iter()) {
            assert!((*x as f64 - y).abs() < 1e-5, "{x} vs {y}");
        }
        // BLAS's order: the product first, β·C added last, so a preloaded bias with β = 1
        // equals the product plus the bias exactly (0.3 + 2 − 1 would round differently).
        for (m, k, n) in [(3, 2, 3), (64, 64, 64)] {
            let (x, w) = (sample(m, k, 25), sample(k, n, 26));
            let x = if (m, k) == (3, 2) { ndarray::array![[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]] } else { x };
            let w = if (k, n) == (2, 3) { ndarray::array![[0.5, -1.0, 2.0], [1.5, 0.0, -0.5]] } else { w };
            let bias = Array2::from_shape_fn((1, n), |(_, j)| [0.1, 0.2, 0.3][j % 3]);
            let mut fused = Array2::from_shape_fn((m, n), |(_, j)| bias[[0, j]]);
            by_gemm_crate(1.0, x.view(), Transpose::No, w.view(), Transpose::No, 1.0, fused.view_mut());
            let mut product = Array2::<f64>::zeros((m, n));
            by_gemm_crate(1.0, x.view(), Transpose::No, w.view(), Transpose::No, 0.0, product.view_mut());
            assert_eq!(fused, &product + &bias);
        }
    }

    /// `f32` products on every path (with AVX-512: the unpacked kernel of small networks, then
    /// the blocked kernel; else OpenBLAS): edges that are not multiples of the register tile,
    /// several blocks of `k`, of rows and of columns, threads split by columns and by rows,
    /// every layout.
    #[test]
    fn f32_products_of_every_size_class_match_f64() {
        let sizes = [
            // The unpacked kernel of small networks (n ≤ 64, k·n ≤ 4096, below 2^16).
            (10, 2, 8),
            (10, 8, 1),
            (1, 8, 8),
            (7, 9, 40),
            (3, 5, 64),
            (5, 60, 17),
            // One row (inference on one sample), on one thread and split over threads.
            (1, 300, 300),
            (1, 700, 333),
            // The blocked kernel.
            (37, 45, 53),
            (13, 400, 70),
            (150, 20, 40),
            (5, 30, 2100),
            (300, 100, 90),
            (3000, 50, 20),
        ];
        for (m, k, n) in sizes {
            let a = sample(m, k, 31);
            let b = sample(k, n, 32);
            let c0 = sample(m, n, 33);
            let expected = naive(&a, &b);
            let (a32, b32) = (a.mapv(|v| v as f32), b.mapv(|v| v as f32));
            let (at32, bt32) = (a32.t().to_owned(), b32.t().to_owned());
            for (alpha, beta) in [(1.0f32, 0.0f32), (-2.0, 0.5)] {
                let want = &expected * alpha as f64 + &(&c0 * beta as f64);
                let layouts_a =
                    [(a32.view(), Transpose::No), (at32.view(), Transpose::Yes), (at32.t(), Transpose::No)];
                let layouts_b =
                    [(b32.view(), Transpose::No), (bt32.view(), Transpose::Yes), (bt32.t(), Transpose::No)];
                for (av, ta) in layouts_a {
                    for (bv, tb) in layouts_b {
                        let start = if beta == 0.0 {
                            Array2::from_elem((m, n), f32::NAN)
                        } else {
                            c0.mapv(|v| v as f32)
                        };
                        let mut c = start.clone();
                        gemm(alpha, av, ta, bv, tb, beta, c.view_mut()).unwrap();
                        let mut ct = start.t().to_owned();
                        gemm(alpha, av, ta, bv, tb, beta, ct.view_mut().reversed_axes()).unwrap();
                        for (got, out) in [(c, "row-major"), (ct.t().to_owned(), "column-major")] {
                            for ((i, j), &w) in want.indexed_iter() {
                                let g = got[[i, j]] as f64;
                                assert!(
                                    (g - w).abs() <= 1e-5 * (k as f64).sqrt() * (1.0 + w.abs()),
                                    "{m}x{k}x{n} {ta:?}/{tb:?} {out} α={alpha} β={beta}: C[{i},{j}] = {g}, want {w}"
                                );
                            }
                        }
                    }
                }
            }
        }
    }

    /// A promise of this crate's AVX-512 kernel (each row's sums in one fixed order, however the
    /// rows are split over threads), not of OpenBLAS, which picks other kernels for a short
    /// matrix than for a tall one: where f32 runs on OpenBLAS the test says so and skips.
    #[test]
    fn f32_products_do_not_depend_on_the_thread_count() {
        #[cfg(target_arch = "x86_64")]
        let ours = gemm_avx512::available();
        #[cfg(not(target_arch = "x86_64"))]
        let ours = false;
        if !ours {
            eprintln!(
                "skipped: f32 products run on OpenBLAS here (no AVX-512F), which promises no row independence"
            );
            return;
        }
        let a = sample(300, 100, 34).mapv(|v| v as f32);
        let b = sample(100, 90, 35).mapv(|v| v as f32);
        let product = |a: &Array2<f32>, b: &Array2<f32>| {
            let mut c = Array2::<f32>::zeros((a.nrows(), b.ncols()));
            gemm(1.0f32, a.view(), Transpose::No, b.view(), Transpose::No, 0.0, c.view_mut()).unwrap();
            c
        };
        let whole = product(&a, &b);
        // Rows 0..12 alone (one thread, far below the threading limit) give the same numbers.
        let top = product(&a.slice(s![..12, ..]).to_owned(), &b);
        assert_eq!(top, whole.slice(s![..12, ..]));
    }

    #[test]
    fn any_strides_are_accepted() {
        let big = sample(9, 12, 24);
        let a = big.slice(s![1..5, ..;3]); // [4, 4], column stride 3
        let b = big.slice(s![..;-2, 2..5]); // [5, 3], negative row stride
        let b = b.slice(s![..4, ..]);
        let mut c = Array2::zeros((4, 3));
        gemm(1.0, a, Transpose::No, b, Transpose::No, 0.0, c.view_mut()).unwrap();
        assert_close(&c, &naive(&a.to_owned(), &b.to_owned()));
    }

    #[test]
    fn affine_by_beta_equals_product_plus_bias_exactly() {
        // BLAS sums each element first and adds β·C last.
        for (m, k, n) in [(10, 8, 8), (64, 64, 64)] {
            let x = sample(m, k, 25).mapv(|v| v as f32);
            let w = sample(k, n, 26).mapv(|v| v as f32);
            let bias = sample(1, n, 27).mapv(|v| v as f32);
            let mut fused = Array2::from_shape_fn((m, n), |(_, j)| bias[[0, j]]);
            gemm(1.0f32, x.view(), Transpose::No, w.view(), Transpose::No, 1.0, fused.view_mut()).unwrap();
            let mut product = Array2::<f32>::zeros((m, n));
            gemm(1.0f32, x.view(), Transpose::No, w.view(), Transpose::No, 0.0, product.view_mut()).unwrap();
            assert_eq!(fused, &product + &bias);
        }
    }

    #[test]
    fn shape_errors_name_both_shapes() {
        let a = Array2::<f64>::zeros((3, 4));
        let b = Array2::<f64>::zeros((5, 2));
        let mut c = Array2::<f64>::zeros((3, 2));
        let err = gemm(1.0, a.view(), Transpose::No, b.view(), Transpose::No, 0.0, c.view_mut()).unwrap_err();
        assert_eq!(err.to_string(), "gemm: [3, 4] x [5, 2]: inner dimensions 4 != 5 (shapes after op())");
        let b = Array2::<f64>::zeros((4, 2));
        let mut c = Array2::<f64>::zeros((2, 2));
        let err = gemm(1.0, a.view(), Transpose::No, b.view(), Transpose::No, 0.0, c.view_mut()).unwrap_err();
        assert!(err.to_string().contains("output must be [3, 2], got [2, 2]"), "{err}");
    }
}
