//! Reductions: sums, means, maxima and arg-maxima, over everything or along an axis.
//!
//! Every reduction visits elements in a fixed order, so the same input gives the same bits on
//! any thread count.

use std::sync::atomic::{AtomicUsize, Ordering};

use ndarray::Axis;

use crate::error::{Result, TensorError, or_panic};
use crate::float::Float;
use crate::tensor::Tensor;

impl<F: Float> Tensor<F> {
    /// Sum of all elements (0 for an empty tensor).
    pub fn sum(&self) -> F {
        self.as_slice().iter().fold(F::zero(), |acc, &x| acc + x)
    }

    /// Mean of all elements (NaN for an empty tensor, as in NumPy).
    pub fn mean(&self) -> F {
        self.sum() / F::from_f64(self.len() as f64)
    }

    fn check_axis(&self, op: &'static str, axis: usize) -> Result<()> {
        if axis < self.ndim() {
            Ok(())
        } else {
            Err(TensorError::invalid(op, format!("axis {axis} out of range for shape {:?}", self.shape())))
        }
    }

    /// Sums along `axis`, removing it (`[m, n]` summed along 0 gives `[n]`).
    ///
    /// # Errors
    /// When `axis` is out of range.
    pub fn try_sum_axis(&self, axis: usize) -> Result<Self> {
        self.check_axis("sum_axis", axis)?;
        Ok(Tensor::from_array(self.view().sum_axis(Axis(axis))))
    }

    /// Panicking twin of [`Tensor::try_sum_axis`].
    #[track_caller]
    pub fn sum_axis(&self, axis: usize) -> Self {
        or_panic(self.try_sum_axis(axis))
    }

    /// Means along `axis`, removing it.
    ///
    /// # Errors
    /// When `axis` is out of range.
    pub fn try_mean_axis(&self, axis: usize) -> Result<Self> {
        self.check_axis("mean_axis", axis)?;
        let n = F::from_f64(self.shape()[axis] as f64);
        Ok(self.try_sum_axis(axis)?.map(|x| x / n))
    }

    /// Panicking twin of [`Tensor::try_mean_axis`].
    #[track_caller]
    pub fn mean_axis(&self, axis: usize) -> Self {
        or_panic(self.try_mean_axis(axis))
    }

    /// Largest element; NaN if any element is NaN.
    ///
    /// # Errors
    /// When the tensor is empty.
    pub fn try_max(&self) -> Result<F> {
        let mut iter = self.as_slice().iter();
        let first = *iter.next().ok_or_else(|| TensorError::invalid("max", "empty tensor has no maximum"))?;
        Ok(iter.fold(first, |m, &x| if x > m || x.is_nan() { x } else { m }))
    }

    /// Panicking twin of [`Tensor::try_max`].
    #[track_caller]
    pub fn max(&self) -> F {
        or_panic(self.try_max())
    }

    /// Largest element of each row of a matrix: `[m, n]` gives `[m]`.
    ///
    /// # Errors
    /// When the tensor is not a matrix or has no columns.
    pub fn try_max_rows(&self) -> Result<Self> {
        let (rows, cols) = self.try_dim2("max_rows")?;
        if cols == 0 {
            return Err(TensorError::invalid(
                "max_rows",
                format!("rows of shape {:?} are empty", self.shape()),
            ));
        }
        let out = self.as_slice().chunks_exact(cols).map(row_max).collect();
        Tensor::try_from_vec(&[rows], out)
    }

    /// Column index of the largest element of each row (the first one on ties), the predicted
    /// class of each row of logits.
    ///
    /// # Errors
    /// When the tensor is not a matrix or has no columns.
    pub fn try_argmax_rows(&self) -> Result<Vec<usize>> {
        let (_, cols) = self.try_dim2("argmax_rows")?;
        if cols == 0 {
            return Err(TensorError::invalid(
                "argmax_rows",
                format!("rows of shape {:?} are empty", self.shape()),
            ));
        }
        Ok(self
            .as_slice()
            .chunks_exact(cols)
            .map(|row| {
                let mut best = 0;
                for (j, &x) in row.iter().enumerate() {
                    if x > row[best] {
                        best = j;
                    }
                }
                best
            })
            .collect())
    }

    /// Panicking twin of [`Tensor::try_argmax_rows`].
    #[track_caller]
    pub fn argmax_rows(&self) -> Vec<usize> {
        or_panic(self.try_argmax_rows())
    }

    /// Sum of squares of all elements (the squared Euclidean norm).
    pub fn sum_squares(&self) -> F {
        self.as_slice().iter().fold(F::zero(), |acc, &x| acc + x * x)
    }
}

/// The index of the first value that is NaN or infinite, if any: the check a training step
/// makes of every gradient, whose time is that of reading the values. So it reads them in
/// blocks whose test the compiler turns into vector compares (no branch per value), on the
/// widest vector unit available, split over the team's threads above
/// [`crate::PARALLEL_THRESHOLD`] values (each core then reads from its own cache), and looks
/// for the culprit only in a block that holds one.
///
/// ```
/// use backprop_tensor::first_non_finite;
///
/// assert_eq!(first_non_finite(&[1.0_f32, 2.0, 3.0]), None);
/// assert_eq!(first_non_finite(&[1.0_f64, f64::INFINITY, f64::NAN]), Some(1));
/// ```
pub fn first_non_finite<F: Float>(values: &[F]) -> Option<usize> {
    let first = AtomicUsize::new(usize::MAX);
    crate::parallel::chunked(values.len(), |start, len| {
        if let Some(i) = first_non_finite_here(&values[start..start + len]) {
            first.fetch_min(start + i, Ordering::Relaxed);
        }
    });
    Some(first.into_inner()).filter(|&i| i != usize::MAX)
}

/// [`first_non_finite`] on the calling thread.
fn first_non_finite_here<F: Float>(values: &[F]) -> Option<usize> {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the processor supports AVX-512F.
            return unsafe { first_non_finite_avx512(values) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the processor supports AVX2.
            return unsafe { first_non_finite_avx2(values) };
        }
    }
    first_non_finite_blocks(values)
}

/// [`first_non_finite`]'s loop, inlined into the vector-unit wrappers.
#[inline(always)]
fn first_non_finite_blocks<F: Float>(values: &[F]) -> Option<usize> {
    const BLOCK: usize = 1024;
    values.chunks(BLOCK).enumerate().find_map(|(b, block)| {
        if block.iter().fold(true, |finite, v| finite & v.is_finite()) {
            None
        } else {
            block.iter().position(|v| !v.is_finite()).map(|i| b * BLOCK + i)
        }
    })
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn first_non_finite_avx512<F: Float>(values: &[F]) -> Option<usize> {
    first_non_finite_blocks(values)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn first_non_finite_avx2<F: Float>(values: &[F]) -> Option<usize> {
    first_non_finite_blocks(values)
}

pub(crate) fn row_max<F: Float>(row: &[F]) -> F {
    row.iter().copied().fold(F::neg_infinity(), |m, x| if x > m || x.is_nan() { x } else { m })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_means_and_maxima() {
        let x = Tensor::from_vec(&[2, 3], vec![1.0_f64, 5.0, 3.0, -4.0, 2.0, 8.0]);
        assert_eq!(x.sum(), 15.0);
        assert_eq!(x.mean(), 2.5);
        assert_eq!(x.sum_axis(0).to_vec(), vec![-3.0, 7.0, 11.0]);
        assert_eq!(x.sum_axis(1).to_vec(), vec![9.0, 6.0]);
        assert_eq!(x.mean_axis(1).to_vec(), vec![3.0, 2.0]);
        assert_eq!(x.max(), 8.0);
        assert_eq!(x.try_max_rows().unwrap().to_vec(), vec![5.0, 8.0]);
        assert_eq!(x.argmax_rows(), vec![1, 2]);
        assert_eq!(x.sum_squares(), 119.0);
        assert_eq!(
            x.try_sum_axis(2).unwrap_err().to_string(),
            "sum_axis: axis 2 out of range for shape [2, 3]"
        );
        assert!(Tensor::<f32>::zeros(&[0]).try_max().is_err());
        assert!(Tensor::from_vec(&[2], vec![1.0, f64::NAN]).max().is_nan());
    }

    #[test]
    fn first_non_finite_finds_the_first_culprit_in_any_block() {
        // Past the threshold the blocks are split over the team: the first culprit still wins.
        let long = 3 * crate::PARALLEL_THRESHOLD + 5;
        for len in [0, 1, 7, 1023, 1024, 1025, 5000, long] {
            let clean: Vec<f32> = (0..len).map(|i| i as f32 - 2.5).collect();
            assert_eq!(first_non_finite(&clean), None, "{len}");
            assert!(Tensor::from_vec(&[len], clean.clone()).is_finite());
            for at in [0, len / 2, len.saturating_sub(1)].into_iter().filter(|&i| i < len) {
                for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
                    let mut values = clean.clone();
                    values[at] = bad;
                    if at + 1 < len {
                        values[len - 1] = f32::NAN;
                    }
                    assert_eq!(first_non_finite(&values), Some(at), "{len} {at} {bad}");
                    assert!(!Tensor::from_vec(&[len], values).is_finite());
                }
            }
        }
        // Subnormal numbers and the largest finite ones are finite.
        assert_eq!(first_non_finite(&[f64::MIN_POSITIVE / 4.0, f64::MAX, -f64::MAX]), None);
    }

    #[test]
    fn argmax_takes_the_first_of_ties() {
        let x = Tensor::from_vec(&[1, 4], vec![2.0_f32, 7.0, 7.0, 1.0]);
        assert_eq!(x.argmax_rows(), vec![1]);
    }
}
