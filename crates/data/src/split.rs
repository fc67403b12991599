//! Seeded train/test splits.

use backprop_tensor::{Float, TensorRng};

use crate::dataset::Dataset;
use crate::error::{DataError, Result};

/// Splits a data set into `(train, test)` at random, reproducibly for a given `seed`.
///
/// As scikit-learn's `train_test_split`: the rows are permuted by a [`TensorRng`] seeded with
/// `seed` (Fisher–Yates), the first `⌈n·test_fraction⌉` rows of the permutation form the test
/// set and the rest the training set, each in permutation order. `test_fraction = 0` gives an
/// empty test set (and a shuffled training set).
///
/// # Errors
/// When `test_fraction` is not in `[0, 1)`, or it leaves no training rows.
///
/// ```
/// use backprop_data::{Dataset, Targets, train_test_split};
/// use backprop_tensor::Tensor;
///
/// let x = Tensor::<f32>::from_shape_fn(&[10, 1], |i| i[0] as f32);
/// let ds = Dataset::new(x, Targets::Classes { indices: vec![0, 1, 0, 1, 0, 1, 0, 1, 0, 1], names: vec!["a".into(), "b".into()] }, vec!["x".into()]).unwrap();
/// let (train, test) = train_test_split(&ds, 0.3, 42).unwrap();
/// assert_eq!((train.len(), test.len()), (7, 3));
/// ```
pub fn train_test_split<F: Float>(
    dataset: &Dataset<F>,
    test_fraction: f64,
    seed: u64,
) -> Result<(Dataset<F>, Dataset<F>)> {
    if !(0.0..1.0).contains(&test_fraction) {
        return Err(DataError::invalid(
            "train_test_split",
            format!("the test fraction must be in [0, 1), got {test_fraction}"),
        ));
    }
    let n = dataset.len();
    // 1e-9 absorbs the rounding of products like 0.7 · 10 = 7.000000000000001.
    let test_len = ((test_fraction * n as f64 - 1e-9).ceil().max(0.0) as usize).min(n);
    if test_len == n {
        return Err(DataError::invalid(
            "train_test_split",
            format!("a test fraction of {test_fraction} of {n} rows leaves no training rows"),
        ));
    }
    let mut order: Vec<usize> = (0..n).collect();
    TensorRng::seed_from_u64(seed).shuffle(&mut order);
    let (test_rows, train_rows) = order.split_at(test_len);
    Ok((dataset.select(train_rows)?, dataset.select(test_rows)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::Targets;
    use backprop_tensor::Tensor;
    use proptest::prelude::*;

    fn numbered(n: usize) -> Dataset<f64> {
        let x = Tensor::from_shape_fn(&[n, 2], |i| (i[0] * 2 + i[1]) as f64);
        let y = Targets::Values(Tensor::from_shape_fn(&[n, 1], |i| i[0] as f64));
        Dataset::new(x, y, vec!["a".into(), "b".into()]).unwrap()
    }

    fn row_ids(ds: &Dataset<f64>) -> Vec<usize> {
        ds.targets().values().unwrap().as_slice().iter().map(|&v| v as usize).collect()
    }

    #[test]
    fn sizes_follow_scikit_learn_rounding() {
        let ds = numbered(10);
        for (fraction, test) in [(0.0, 0), (0.05, 1), (0.1, 1), (0.25, 3), (0.3, 3), (0.7, 7), (0.95, 10)] {
            let result = train_test_split(&ds, fraction, 0);
            if test == 10 {
                assert_eq!(
                    result.unwrap_err().to_string(),
                    "train_test_split: a test fraction of 0.95 of 10 rows leaves no training rows"
                );
            } else {
                let (train, test_set) = result.unwrap();
                assert_eq!((train.len(), test_set.len()), (10 - test, test), "fraction {fraction}");
            }
        }
        for bad in [-0.1, 1.0, f64::NAN] {
            let err = train_test_split(&ds, bad, 0).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("train_test_split: the test fraction must be in [0, 1), got {bad}")
            );
        }
    }

    #[test]
    fn rows_keep_their_features_and_the_seed_decides() {
        let ds = numbered(20);
        let (train, test) = train_test_split(&ds, 0.25, 7).unwrap();
        for part in [&train, &test] {
            for (row, id) in row_ids(part).into_iter().enumerate() {
                let f = &part.features().as_slice()[row * 2..row * 2 + 2];
                assert_eq!(f, &[(id * 2) as f64, (id * 2 + 1) as f64]);
            }
        }
        let (train2, test2) = train_test_split(&ds, 0.25, 7).unwrap();
        assert_eq!((&train, &test), (&train2, &test2));
        let (_, test3) = train_test_split(&ds, 0.25, 8).unwrap();
        assert_ne!(row_ids(&test), row_ids(&test3));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        #[test]
        fn the_two_parts_partition_the_rows(n in 1usize..60, fraction in 0.0f64..0.99, seed in any::<u64>()) {
            let ds = numbered(n);
            if let Ok((train, test)) = train_test_split(&ds, fraction, seed) {
                let mut all = row_ids(&train);
                all.extend(row_ids(&test));
                all.sort();
                prop_assert_eq!(all, (0..n).collect::<Vec<_>>());
                prop_assert!(test.len() as f64 >= fraction * n as f64 - 1e-6);
                prop_assert!((test.len() as f64) < fraction * n as f64 + 1.0);
            } else {
                prop_assert!((fraction * n as f64).ceil() as usize >= n);
            }
        }
    }
}
