//! Matrix products into existing tensors: `C = α·op(A)·op(B) + β·C` in one BLAS call.

use backprop_tensor::{Float, Tensor, Transpose, gemm};

use crate::error::{AutogradError, Result};

/// `c = alpha·op(a)·op(b) + beta·c` through [`backprop_tensor::gemm`], allocating nothing
/// (the mutable matrix view is taken directly, so that the hot path of forward and backward
/// passes stays free of allocations).
///
/// # Errors
/// When an operand is not a matrix or the shapes do not fit, naming them.
pub(crate) fn gemm_into<F: Float>(
    c: &mut Tensor<F>,
    alpha: F,
    a: &Tensor<F>,
    trans_a: Transpose,
    b: &Tensor<F>,
    trans_b: Transpose,
    beta: F,
) -> Result<()> {
    if c.ndim() != 2 {
        return Err(AutogradError::invalid(
            "gemm",
            format!("output must be a matrix, got shape {:?}", c.shape()),
        ));
    }
    let (a, b) = (a.view2()?, b.view2()?);
    let c = c.view2_mut()?;
    gemm(alpha, a, trans_a, b, trans_b, beta, c)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accumulates_and_reports_bad_shapes() {
        let a = Tensor::from_rows(&[[1.0_f64, 2.0], [3.0, 4.0]]);
        let mut c = Tensor::ones(&[2, 2]);
        gemm_into(&mut c, 1.0, &a, Transpose::Yes, &a, Transpose::No, 1.0).unwrap();
        assert_eq!(c.to_vec(), vec![11.0, 15.0, 15.0, 21.0]);
        let mut v = Tensor::zeros(&[4]);
        let err = gemm_into(&mut v, 1.0, &a, Transpose::No, &a, Transpose::No, 0.0).unwrap_err();
        assert_eq!(err.to_string(), "gemm: output must be a matrix, got shape [4]");
        let err = gemm_into(&mut c, 1.0, &a, Transpose::No, &Tensor::zeros(&[3, 2]), Transpose::No, 0.0)
            .unwrap_err();
        assert!(err.to_string().starts_with("gemm: [2, 2] x [3, 2]: inner dimensions 2 != 3"), "{err}");
    }
}
