//! Comparing tensors up to rounding.

use backprop_tensor::{Float, Tensor};

/// The largest `|a − b| / max(1, |a|, |b|)` over corresponding elements (the measure of
/// [`backprop_autograd::gradcheck_error`]: absolute below 1, relative above), computed in `f64`.
///
/// # Panics
/// When the shapes differ.
pub fn max_difference<F: Float, G: Float>(a: &Tensor<F>, b: &Tensor<G>) -> f64 {
    assert_eq!(a.shape(), b.shape(), "comparing tensors of different shapes");
    a.as_slice()
        .iter()
        .zip(b.as_slice())
        .map(|(&x, &y)| backprop_autograd::gradcheck_error(x.to_f64(), y.to_f64()))
        .fold(0.0, f64::max)
}

/// [`max_difference`] over two lists of tensors, with the position of the worst pair.
///
/// # Panics
/// When the lists differ in length or a pair in shape.
pub fn max_difference_all<F: Float, G: Float>(a: &[Tensor<F>], b: &[Tensor<G>]) -> (f64, usize) {
    assert_eq!(a.len(), b.len(), "comparing lists of different lengths");
    a.iter()
        .zip(b)
        .map(|(x, y)| max_difference(x, y))
        .enumerate()
        .fold((0.0, 0), |worst, (i, d)| if d > worst.0 { (d, i) } else { worst })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_measure_is_absolute_below_one_and_relative_above() {
        let a = Tensor::from_vec(&[3], vec![0.5, 100.0, -2.0]);
        let b = Tensor::from_vec(&[3], vec![0.25f32, 101.0, -2.0]);
        assert_eq!(max_difference(&a, &b), 0.25);
        let c = Tensor::from_vec(&[3], vec![0.5, 101.0, -2.0]);
        assert_eq!(max_difference_all(&[a.clone(), a.clone()], &[a.clone(), c]), (1.0 / 101.0, 1));
    }
}
