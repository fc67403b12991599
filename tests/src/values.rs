//! Value strategies: ranges where finite differences mean something.
//!
//! Saturated activations (σ(40) = 1 to the last bit) make finite differences meaningless, and
//! near a kink (ReLU at 0, the hinge at its margin) a central difference straddles two slopes.
//! So values stay in a sane range and keep [`KINK_MARGIN`] away from every kink, a margin far
//! larger than the finite-difference step [`crate::EPS`].

use backprop_tensor::Tensor;
use proptest::prelude::*;

/// How far sampled values stay from a kink.
pub const KINK_MARGIN: f64 = 1e-2;

/// Values in `[-3, 3]`.
pub fn moderate() -> impl Strategy<Value = f64> + Clone {
    -3.0..=3.0
}

/// Values in `[lo, hi]` (positive for the domains of `ln`, `sqrt`).
pub fn within(lo: f64, hi: f64) -> impl Strategy<Value = f64> + Clone {
    lo..=hi
}

/// Values within `radius` of `kink` but at least [`KINK_MARGIN`] away from it, on either side.
pub fn away_from(kink: f64, radius: f64) -> impl Strategy<Value = f64> + Clone {
    (KINK_MARGIN..=radius, any::<bool>()).prop_map(move |(d, below)| if below { kink - d } else { kink + d })
}

/// Values with a magnitude in `[lo, hi]` and either sign (denominators, negative powers).
pub fn signed(lo: f64, hi: f64) -> impl Strategy<Value = f64> + Clone {
    (lo..=hi, any::<bool>()).prop_map(|(m, negative)| if negative { -m } else { m })
}

/// A tensor of `shape` with elements drawn from `values`.
pub fn tensor_of(
    shape: Vec<usize>,
    values: impl Strategy<Value = f64> + Clone,
) -> impl Strategy<Value = Tensor<f64>> + Clone {
    let len = shape.iter().product::<usize>();
    prop::collection::vec(values, len).prop_map(move |data| Tensor::from_vec(&shape, data))
}

/// A tensor whose shape is drawn from `shapes` and elements from `values`.
pub fn tensor_in(
    shapes: impl Strategy<Value = Vec<usize>> + Clone,
    values: impl Strategy<Value = f64> + Clone + 'static,
) -> impl Strategy<Value = Tensor<f64>> + Clone {
    shapes.prop_flat_map(move |shape| tensor_of(shape, values.clone()))
}

/// Labels −1 or +1.
pub fn pm1() -> impl Strategy<Value = f64> + Clone {
    prop_oneof![Just(-1.0), Just(1.0)]
}

/// Labels 0 or 1, or (a third of the time) a soft target in `[0, 1]`.
pub fn zero_one() -> impl Strategy<Value = f64> + Clone {
    prop_oneof![Just(0.0), Just(1.0), 0.0..=1.0]
}

/// Class indices `0..classes`, as whole numbers.
pub fn class_index(classes: usize) -> impl Strategy<Value = f64> + Clone {
    (0..classes).prop_map(|c| c as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    #[test]
    fn values_keep_away_from_the_kink() {
        let mut runner = TestRunner::deterministic();
        for _ in 0..500 {
            let v = away_from(1.0, 2.0).new_tree(&mut runner).unwrap().current();
            assert!((v - 1.0).abs() >= KINK_MARGIN && (v - 1.0).abs() <= 2.0, "{v}");
        }
        let t = tensor_of(vec![2, 3], moderate()).new_tree(&mut runner).unwrap().current();
        assert_eq!(t.shape(), &[2, 3]);
        assert!(t.as_slice().iter().all(|v| v.abs() <= 3.0));
    }
}
