//! Matrices in reused buffers: gathering rows and resizing without reallocating.

use backprop_tensor::{Float, Tensor};

/// A new matrix of the given rows of `matrix` (rows checked by the caller).
pub(crate) fn gather_rows<F: Float>(matrix: &Tensor<F>, rows: &[usize]) -> Tensor<F> {
    let mut out = Tensor::zeros(&[0, 0]);
    gather_rows_into(matrix, rows, &mut out);
    out
}

/// Copies the given rows of `matrix` into `out`, resizing `out` without reallocating when its
/// buffer is large enough (rows checked by the caller).
pub(crate) fn gather_rows_into<F: Float>(matrix: &Tensor<F>, rows: &[usize], out: &mut Tensor<F>) {
    let cols = matrix.shape()[1];
    resize_matrix(out, rows.len(), cols);
    let src = matrix.as_slice();
    for (dst, &r) in out.as_mut_slice().chunks_exact_mut(cols.max(1)).zip(rows) {
        dst.copy_from_slice(&src[r * cols..(r + 1) * cols]);
    }
}

/// Gives `t` the shape `[rows, cols]`, keeping its allocation (the contents are unspecified).
pub(crate) fn resize_matrix<F: Float>(t: &mut Tensor<F>, rows: usize, cols: usize) {
    if t.shape() == [rows, cols] {
        return;
    }
    let old = std::mem::replace(t, Tensor::zeros(&[0]));
    let (mut buffer, offset) = old.into_array().into_raw_vec_and_offset();
    if offset.unwrap_or(0) != 0 {
        buffer = Vec::new();
    }
    buffer.resize(rows * cols, F::zero());
    *t = Tensor::from_vec(&[rows, cols], buffer);
}
