//! The element types a tensor can hold.

use cblas_sys::{CBLAS_LAYOUT, CBLAS_TRANSPOSE};
use ndarray::NdFloat;

/// A floating-point element type: `f32` or `f64`.
///
/// Besides the arithmetic that ndarray needs, it picks the BLAS routine (`sgemm` or `dgemm`) and
/// converts to and from `f64`, the precision of gradient checks.
pub trait Float: NdFloat + num_traits::Float + Default + Send + Sync + 'static {
    /// `"f32"` or `"f64"`, as PyTorch and safetensors name it.
    const NAME: &'static str;

    /// Converts from `f64`, rounding to nearest.
    fn from_f64(x: f64) -> Self;

    /// Converts to `f64` exactly.
    fn to_f64(self) -> f64;

    /// Calls `cblas_?gemm`: `C = alpha·op(A)·op(B) + beta·C`.
    ///
    /// # Safety
    /// The pointers and leading dimensions must describe valid, non-overlapping (A and B may
    /// alias each other, not C) matrices of the sizes implied by `m`, `n`, `k` and the flags.
    #[allow(clippy::too_many_arguments)]
    unsafe fn cblas_gemm(
        layout: CBLAS_LAYOUT,
        trans_a: CBLAS_TRANSPOSE,
        trans_b: CBLAS_TRANSPOSE,
        m: i32,
        n: i32,
        k: i32,
        alpha: Self,
        a: *const Self,
        lda: i32,
        b: *const Self,
        ldb: i32,
        beta: Self,
        c: *mut Self,
        ldc: i32,
    );

    /// Calls `cblas_?gemv`: `y = alpha·op(A)·x + beta·y` for a row-major `A` of `rows × cols`
    /// (`op(A)` is `A` or `Aᵀ`), `x` and `y` with strides `incx`, `incy` (at least 1).
    ///
    /// The default runs it as a one-column `cblas_gemm`; `f32` and `f64` call `sgemv`/`dgemv`.
    ///
    /// # Safety
    /// As [`Float::cblas_gemm`]: the pointers, leading dimension and strides must describe valid
    /// memory of the implied sizes, and `y` must not overlap `A` or `x`.
    #[allow(clippy::too_many_arguments)]
    unsafe fn cblas_gemv(
        trans: CBLAS_TRANSPOSE,
        rows: i32,
        cols: i32,
        alpha: Self,
        a: *const Self,
        lda: i32,
        x: *const Self,
        incx: i32,
        beta: Self,
        y: *mut Self,
        incy: i32,
    ) {
        let (m, k) = if matches!(trans, CBLAS_TRANSPOSE::CblasNoTrans) { (rows, cols) } else { (cols, rows) };
        // SAFETY: x is a k×1 row-major matrix with leading dimension incx, y an m×1 one with
        // leading dimension incy; forwarded from the caller's contract.
        unsafe {
            Self::cblas_gemm(
                CBLAS_LAYOUT::CblasRowMajor,
                trans,
                CBLAS_TRANSPOSE::CblasNoTrans,
                m,
                1,
                k,
                alpha,
                a,
                lda,
                x,
                incx,
                beta,
                y,
                incy,
            )
        }
    }
}

/// The `Float` impl of a primitive float type, forwarding the BLAS routines to that type's
/// `cblas_?gemm` and `cblas_?gemv`.
macro_rules! impl_float {
    ($ty:ident, $gemm:ident, $gemv:ident) => {
        impl Float for $ty {
            const NAME: &'static str = stringify!($ty);

            #[allow(clippy::unnecessary_cast)] // the identity for f64
            fn from_f64(x: f64) -> Self {
                x as $ty
            }

            #[allow(clippy::unnecessary_cast)] // the identity for f64
            fn to_f64(self) -> f64 {
                self as f64
            }

            unsafe fn cblas_gemm(
                layout: CBLAS_LAYOUT,
                trans_a: CBLAS_TRANSPOSE,
                trans_b: CBLAS_TRANSPOSE,
                m: i32,
                n: i32,
                k: i32,
                alpha: Self,
                a: *const Self,
                lda: i32,
                b: *const Self,
                ldb: i32,
                beta: Self,
                c: *mut Self,
                ldc: i32,
            ) {
                // SAFETY: forwarded from the caller's contract.
                unsafe {
                    cblas_sys::$gemm(layout, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
                }
            }

            unsafe fn cblas_gemv(
                trans: CBLAS_TRANSPOSE,
                rows: i32,
                cols: i32,
                alpha: Self,
                a: *const Self,
                lda: i32,
                x: *const Self,
                incx: i32,
                beta: Self,
                y: *mut Self,
                incy: i32,
            ) {
                // SAFETY: forwarded from the caller's contract.
                unsafe {
                    cblas_sys::$gemv(
                        CBLAS_LAYOUT::CblasRowMajor,
                        trans,
                        rows,
                        cols,
                        alpha,
                        a,
                        lda,
                        x,
                        incx,
                        beta,
                        y,
                        incy,
                    )
                }
            }
        }
    };
}

impl_float!(f32, cblas_sgemm, cblas_sgemv);
impl_float!(f64, cblas_dgemm, cblas_dgemv);
