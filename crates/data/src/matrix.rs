//! Matrices in reused buffers: gathering rows and resizing without reallocating.

use backprop_tensor::{Float, PARALLEL_THRESHOLD, Tensor, parallel_for};

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
/// rather than computes: above [`PARALLEL_THRESHOLD`] values it is split over the kernels' team,
/// whose cores wait for their rows at the same time.
pub(crate) fn gather_rows_into<F: Float>(matrix: &Tensor<F>, rows: &[usize], out: &mut Tensor<F>) {
    let cols = matrix.shape()[1];
    resize_matrix(out, rows.len(), cols);
    let src = matrix.as_slice();
    let copy = |dst: &mut [F], rows: &[usize]| {
        for (dst, &r) in dst.chunks_exact_mut(cols.max(1)).zip(rows) {
            dst.copy_from_slice(&src[r * cols..(r + 1) * cols]);
        }
    };
    let dst = out.as_mut_slice();
    if dst.len() < PARALLEL_THRESHOLD || cols == 0 {
        copy(dst, rows);
        return;
    }
    let out_ptr = SharedOut(dst.as_mut_ptr());
    parallel_for(rows.len().div_ceil(GATHER_PART_ROWS), |part| {
        let first = part * GATHER_PART_ROWS;
        let rows = &rows[first..(first + GATHER_PART_ROWS).min(rows.len())];
        // SAFETY: part `part` writes only its own rows of `out`, which this call borrows
        // mutably until every part is done.
        let dst = unsafe { std::slice::from_raw_parts_mut(out_ptr.at(first * cols), rows.len() * cols) };
        copy(dst, rows);
    });
}

/// The output of a parallel gather, shared by its parts (each writes its own rows).
#[derive(Clone, Copy)]
struct SharedOut<F>(*mut F);

impl<F> SharedOut<F> {
    /// The pointer `offset` values in (a method, so that closures capture the `Sync` wrapper).
    fn at(self, offset: usize) -> *mut F {
        self.0.wrapping_add(offset)
    }
}

// SAFETY: the parts of `gather_rows_into` write disjoint ranges.
unsafe impl<F> Send for SharedOut<F> {}
// SAFETY: as above.
unsafe impl<F> Sync for SharedOut<F> {}

/// Rows per part of a parallel gather.
const GATHER_PART_ROWS: usize = 16;

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
        assert!(out.len() >= PARALLEL_THRESHOLD);
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
