//! Matrices in reused buffers: gathering rows and resizing without reallocating.

use backprop_tensor::{Float, Tensor, fill_rows};

/// A new matrix of the given rows of `matrix` (rows checked by the caller).
pub(crate) fn gather_rows<F: Float>(matrix: &Tensor<F>, rows: &[usize]) -> Tensor<F> {
    let mut out = Tensor::zeros(&[0, 0]);
    gather_rows_into(matrix, rows, &mut out);
    out
}

/// Copies the given rows of `matrix` into `out`, resizing `out` without reallocating when its
/// buffer is large enough (rows checked by the caller).
///
/// The rows of a shuffled batch lie all over a large data set, so the copy waits on memory
/// rather than computes: [`fill_rows`] splits a large one over the kernels' team, whose cores
/// wait for their rows at the same time.
pub(crate) fn gather_rows_into<F: Float>(matrix: &Tensor<F>, rows: &[usize], out: &mut Tensor<F>) {
    let cols = matrix.shape()[1];
    resize_matrix(out, rows.len(), cols);
    let src = matrix.as_slice();
    fill_rows(out.as_mut_slice(), cols, |r| &src[rows[r] * cols..(rows[r] + 1) * cols]);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_gather_split_over_threads_copies_every_row_in_order() {
        // 3000 rows of 37: past the parallel threshold, with a last part shorter than the others.
        let (n, cols) = (3000, 37);
        let matrix = Tensor::from_shape_fn(&[n, cols], |i| (i[0] * 1000 + i[1]) as f32);
        let rows: Vec<usize> = (0..n - 3).map(|i| (i * 7919) % n).collect();
        let mut out = Tensor::zeros(&[0, 0]);
        gather_rows_into(&matrix, &rows, &mut out);
        assert!(out.len() >= backprop_tensor::PARALLEL_THRESHOLD);
        assert_eq!(out.shape(), [rows.len(), cols]);
        for (i, &r) in rows.iter().enumerate() {
            for j in 0..cols {
                assert_eq!(
                    out.as_slice()[i * cols + j],
                    (r * 1000 + j) as f32,
                    "row {i} (source {r}), column {j}"
                );
            }
        }
        // A small gather into the same buffer: the serial path.
        gather_rows_into(&matrix, &[5, 2], &mut out);
        assert_eq!(out.as_slice()[..cols], matrix.as_slice()[5 * cols..6 * cols]);
        assert_eq!(out.as_slice()[cols..], matrix.as_slice()[2 * cols..3 * cols]);
    }
}
