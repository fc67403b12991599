//! Matrix operations on tensors: products through [`crate::gemm`], column concatenation and
//! column slices.

use crate::error::{Result, TensorError, or_panic};
use crate::float::Float;
use crate::gemm::{Transpose, gemm};
use crate::tensor::Tensor;

impl<F: Float> Tensor<F> {
    /// `op(self) · op(other)` with each transpose passed to BLAS as a flag.
    ///
    /// # Errors
    /// When either operand is not a matrix or the inner dimensions differ, naming both shapes
    /// as stored: `matmul: [3, 4] x [5, 2]: inner dimensions 4 != 5`.
    pub fn try_matmul_t(
        &self,
        trans_self: Transpose,
        other: &Tensor<F>,
        trans_other: Transpose,
    ) -> Result<Self> {
        let (m, k) = self.matmul_dims(trans_self, other, trans_other)?.0;
        let n = match trans_other {
            Transpose::No => other.shape()[1],
            Transpose::Yes => other.shape()[0],
        };
        let _ = k;
        let mut out = Tensor::zeros(&[m, n]);
        gemm(F::one(), self.view2()?, trans_self, other.view2()?, trans_other, F::zero(), out.view2_mut()?)?;
        Ok(out)
    }

    /// `self · other` for matrices `[m, k]` and `[k, n]`.
    ///
    /// # Errors
    /// When either is not a matrix or `k` differs: `matmul: [3, 4] x [5, 2]: inner dimensions 4 != 5`.
    pub fn try_matmul(&self, other: &Tensor<F>) -> Result<Self> {
        self.try_matmul_t(Transpose::No, other, Transpose::No)
    }

    /// Panicking twin of [`Tensor::try_matmul`].
    #[track_caller]
    pub fn matmul(&self, other: &Tensor<F>) -> Self {
        or_panic(self.try_matmul(other))
    }

    /// `self = alpha · op(a) · op(b) + beta · self`; `beta = 1` accumulates (gradients).
    ///
    /// # Errors
    /// When the shapes do not fit, naming them.
    pub fn try_gemm_into(
        &mut self,
        alpha: F,
        a: &Tensor<F>,
        trans_a: Transpose,
        b: &Tensor<F>,
        trans_b: Transpose,
        beta: F,
    ) -> Result<()> {
        let ((m, _), n) = a.matmul_dims(trans_a, b, trans_b)?;
        if self.shape() != [m, n] {
            return Err(TensorError::shape(
                "gemm",
                self.shape(),
                &[m, n],
                format!("output must be [{m}, {n}], got {:?}", self.shape()),
            ));
        }
        gemm(alpha, a.view2()?, trans_a, b.view2()?, trans_b, beta, self.view2_mut()?)
    }

    /// Shapes of a product: ((m, k), n), with errors that name the stored shapes.
    fn matmul_dims(
        &self,
        ta: Transpose,
        other: &Tensor<F>,
        tb: Transpose,
    ) -> Result<((usize, usize), usize)> {
        const OP: &str = "matmul";
        if self.ndim() != 2 || other.ndim() != 2 {
            return Err(TensorError::shape(
                OP,
                self.shape(),
                other.shape(),
                "both operands must be matrices",
            ));
        }
        let (r0, c0) = (self.shape()[0], self.shape()[1]);
        let (r1, c1) = (other.shape()[0], other.shape()[1]);
        let (m, k) = if ta == Transpose::No { (r0, c0) } else { (c0, r0) };
        let (k2, n) = if tb == Transpose::No { (r1, c1) } else { (c1, r1) };
        if k != k2 {
            let flags = match (ta, tb) {
                (Transpose::No, Transpose::No) => String::new(),
                (Transpose::Yes, Transpose::No) => " (left transposed)".into(),
                (Transpose::No, Transpose::Yes) => " (right transposed)".into(),
                (Transpose::Yes, Transpose::Yes) => " (both transposed)".into(),
            };
            return Err(TensorError::shape(
                OP,
                self.shape(),
                other.shape(),
                format!("inner dimensions {k} != {k2}{flags}"),
            ));
        }
        Ok(((m, k), n))
    }

    /// The shape `[m, a + b + ...]` of the column concatenation of matrices `[m, a]`, `[m, b]`, ...
    ///
    /// # Errors
    /// When the list is empty, a part is not a matrix, or the row counts differ (naming the
    /// first part's shape and the offending one).
    pub fn try_concat_cols_shape(parts: &[&Tensor<F>]) -> Result<[usize; 2]> {
        const OP: &str = "concat_cols";
        let first = parts.first().ok_or_else(|| TensorError::invalid(OP, "nothing to concatenate"))?;
        let (rows, _) = first.try_dim2(OP)?;
        let mut total = 0;
        for part in parts {
            let (r, c) = part.try_dim2(OP)?;
            if r != rows {
                return Err(TensorError::shape(
                    OP,
                    first.shape(),
                    part.shape(),
                    format!("row counts {rows} != {r}"),
                ));
            }
            total += c;
        }
        Ok([rows, total])
    }

    /// Matrices with the same number of rows, side by side: `[m, a]`, `[m, b]` give `[m, a + b]`.
    ///
    /// # Errors
    /// When the list is empty, a part is not a matrix, or the row counts differ.
    pub fn try_concat_cols(parts: &[&Tensor<F>]) -> Result<Self> {
        let [rows, total] = Self::try_concat_cols_shape(parts)?;
        let mut out = Vec::with_capacity(rows * total);
        for i in 0..rows {
            for part in parts {
                let c = part.shape()[1];
                out.extend_from_slice(&part.as_slice()[i * c..(i + 1) * c]);
            }
        }
        Tensor::try_from_vec(&[rows, total], out)
    }

    /// Columns `start..end` of a matrix.
    ///
    /// # Errors
    /// When the tensor is not a matrix or the range is outside its columns.
    pub fn try_slice_cols(&self, start: usize, end: usize) -> Result<Self> {
        const OP: &str = "slice_cols";
        let (rows, cols) = self.try_dim2(OP)?;
        if start > end || end > cols {
            return Err(TensorError::invalid(
                OP,
                format!("columns {start}..{end} out of range for shape {:?}", self.shape()),
            ));
        }
        let width = end - start;
        let mut out = Vec::with_capacity(rows * width);
        for row in self.as_slice().chunks_exact(cols.max(1)).take(rows) {
            out.extend_from_slice(&row[start..end]);
        }
        Tensor::try_from_vec(&[rows, width], out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matmul_and_its_error_message() {
        let a = Tensor::from_vec(&[2, 3], vec![1.0_f64, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let b = Tensor::from_vec(&[3, 2], vec![7.0_f64, 8.0, 9.0, 10.0, 11.0, 12.0]);
        assert_eq!(a.matmul(&b).to_vec(), vec![58.0, 64.0, 139.0, 154.0]);
        assert_eq!(a.try_matmul_t(Transpose::Yes, &a, Transpose::No).unwrap().shape(), &[3, 3]);
        assert_eq!(
            a.try_matmul_t(Transpose::No, &a, Transpose::Yes).unwrap().to_vec(),
            vec![14.0, 32.0, 32.0, 77.0]
        );
        let err = Tensor::<f32>::zeros(&[3, 4]).try_matmul(&Tensor::zeros(&[5, 2])).unwrap_err();
        assert_eq!(err.to_string(), "matmul: [3, 4] x [5, 2]: inner dimensions 4 != 5");
        let err = Tensor::<f32>::zeros(&[3]).try_matmul(&Tensor::zeros(&[3, 2])).unwrap_err();
        assert_eq!(err.to_string(), "matmul: [3] x [3, 2]: both operands must be matrices");
    }

    #[test]
    #[should_panic(expected = "matmul: [3, 4] x [5, 2]: inner dimensions 4 != 5")]
    fn panicking_twin_has_the_same_message() {
        let _ = Tensor::<f32>::zeros(&[3, 4]).matmul(&Tensor::zeros(&[5, 2]));
    }

    #[test]
    fn gemm_into_accumulates() {
        let a = Tensor::from_vec(&[2, 2], vec![1.0_f64, 2.0, 3.0, 4.0]);
        let mut c = Tensor::ones(&[2, 2]);
        c.try_gemm_into(1.0, &a, Transpose::Yes, &a, Transpose::No, 1.0).unwrap();
        assert_eq!(c.to_vec(), vec![11.0, 15.0, 15.0, 21.0]);
        assert!(
            c.try_gemm_into(1.0, &a, Transpose::No, &Tensor::zeros(&[2, 3]), Transpose::No, 0.0).is_err()
        );
    }

    #[test]
    fn concat_and_slice_columns() {
        let a = Tensor::from_vec(&[2, 1], vec![1.0_f32, 2.0]);
        let b = Tensor::from_vec(&[2, 2], vec![3.0_f32, 4.0, 5.0, 6.0]);
        let c = Tensor::try_concat_cols(&[&a, &b]).unwrap();
        assert_eq!(c.to_vec(), vec![1.0, 3.0, 4.0, 2.0, 5.0, 6.0]);
        assert_eq!(c.try_slice_cols(1, 3).unwrap(), b);
        assert_eq!(c.try_slice_cols(0, 1).unwrap(), a);
        assert!(c.try_slice_cols(2, 4).is_err());
        let err = Tensor::try_concat_cols(&[&a, &Tensor::zeros(&[3, 1])]).unwrap_err();
        assert_eq!(err.to_string(), "concat_cols: [2, 1] x [3, 1]: row counts 2 != 3");
    }
}
