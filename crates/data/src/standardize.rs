//! Feature standardisation (z-scores) fitted on training data.

use backprop_tensor::{Float, Tensor};
use serde::{Deserialize, Serialize};

use crate::dataset::Dataset;
use crate::error::{DataError, Result};

/// Per-column standardisation `z = (x − mean) / std`, as scikit-learn's `StandardScaler`.
///
/// Fit it on the training features only ([`Standardizer::fit`]) and apply the same statistics
/// to training, test and prediction inputs; store it with the model (it is `serde`
/// serialisable as `{"mean": [...], "std": [...]}`, the `input_scaling` of a model file).
/// Deserialising does not check the values, so that a reader can report a bad stored one in
/// its own terms; [`Standardizer::check`] (which [`Standardizer::from_parts`] runs) does.
///
/// `mean` is the column mean and `std` the population standard deviation
/// `√(Σ(x − mean)² / n)` (ddof 0), computed in `f64`. A constant column (std 0) gets std 1, so
/// it maps to 0 rather than to NaN.
///
/// ```
/// use backprop_data::Standardizer;
/// use backprop_tensor::Tensor;
///
/// let train = Tensor::<f64>::from_rows(&[[1.0, 5.0], [3.0, 5.0]]);
/// let scaler = Standardizer::fit(&train).unwrap();
/// assert_eq!((scaler.mean(), scaler.std()), (&[2.0, 5.0][..], &[1.0, 1.0][..]));
/// let test = Tensor::<f64>::from_rows(&[[4.0, 6.0]]);
/// assert_eq!(scaler.apply(&test).unwrap().to_vec(), vec![2.0, 1.0]);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Standardizer {
    mean: Vec<f64>,
    std: Vec<f64>,
}

impl Standardizer {
    /// Fits the column means and standard deviations of `features` `[n, k]`.
    ///
    /// # Errors
    /// When `features` is not a matrix, has no rows, or holds a NaN or an infinity.
    pub fn fit<F: Float>(features: &Tensor<F>) -> Result<Self> {
        let (rows, cols) = features.try_dim2("standardize")?;
        if rows == 0 {
            return Err(DataError::invalid("standardize", "cannot fit on 0 rows"));
        }
        let data = features.as_slice();
        if let Some(i) = data.iter().position(|x| !x.is_finite()) {
            return Err(DataError::invalid(
                "standardize",
                format!("row {}, column {} is {}", i / cols, i % cols, data[i]),
            ));
        }
        let mut mean = vec![0.0; cols];
        for row in data.chunks_exact(cols.max(1)) {
            for (m, x) in mean.iter_mut().zip(row) {
                *m += Float::to_f64(*x);
            }
        }
        mean.iter_mut().for_each(|m| *m /= rows as f64);
        // Two passes (mean first) keep the variance accurate when the mean is large.
        let mut var = vec![0.0; cols];
        for row in data.chunks_exact(cols.max(1)) {
            for ((v, m), x) in var.iter_mut().zip(&mean).zip(row) {
                let d = Float::to_f64(*x) - m;
                *v += d * d;
            }
        }
        let std =
            var.iter().map(|v| (v / rows as f64).sqrt()).map(|s| if s > 0.0 { s } else { 1.0 }).collect();
        Ok(Standardizer { mean, std })
    }

    /// A standardizer from stored statistics.
    ///
    /// # Errors
    /// When the lengths differ, a mean is not finite, or a std is not finite and positive.
    pub fn from_parts(mean: Vec<f64>, std: Vec<f64>) -> Result<Self> {
        let s = Standardizer { mean, std };
        s.check()?;
        Ok(s)
    }

    /// Checks the statistics (a deserialised standardizer is not checked).
    ///
    /// # Errors
    /// When the lengths differ, a mean is not finite, or a std is not finite and positive.
    pub fn check(&self) -> Result<()> {
        let (mean, std) = (&self.mean, &self.std);
        if mean.len() != std.len() {
            return Err(DataError::invalid(
                "standardize",
                format!("{} means but {} standard deviations", mean.len(), std.len()),
            ));
        }
        if let Some(j) = mean.iter().position(|m| !m.is_finite()) {
            return Err(DataError::invalid("standardize", format!("the mean of column {j} is {}", mean[j])));
        }
        if let Some(j) = std.iter().position(|s| !(s.is_finite() && *s > 0.0)) {
            return Err(DataError::invalid(
                "standardize",
                format!("the std of column {j} is {}; it must be finite and positive", std[j]),
            ));
        }
        Ok(())
    }

    /// The column means.
    pub fn mean(&self) -> &[f64] {
        &self.mean
    }

    /// The column standard deviations (1 for constant columns).
    pub fn std(&self) -> &[f64] {
        &self.std
    }

    /// Number of columns it was fitted on.
    pub fn num_features(&self) -> usize {
        self.mean.len()
    }

    /// The standardised copy of `features` `[n, k]`.
    ///
    /// # Errors
    /// When `features` is not a matrix with as many columns as the fit.
    pub fn apply<F: Float>(&self, features: &Tensor<F>) -> Result<Tensor<F>> {
        let mut out = features.clone();
        self.apply_in_place(&mut out)?;
        Ok(out)
    }

    /// Standardises `features` `[n, k]` in place.
    ///
    /// # Errors
    /// When `features` is not a matrix with as many columns as the fit.
    pub fn apply_in_place<F: Float>(&self, features: &mut Tensor<F>) -> Result<()> {
        let cols = self.check_columns(features)?;
        for row in features.as_mut_slice().chunks_exact_mut(cols.max(1)) {
            for ((x, m), s) in row.iter_mut().zip(&self.mean).zip(&self.std) {
                *x = F::from_f64((Float::to_f64(*x) - m) / s);
            }
        }
        Ok(())
    }

    /// Standardises the features of a data set in place.
    ///
    /// # Errors
    /// When the data set has a different number of features than the fit.
    pub fn apply_to_dataset<F: Float>(&self, dataset: &mut Dataset<F>) -> Result<()> {
        self.apply_in_place(dataset.features_mut())
    }

    /// Maps standardised values back: `x = z·std + mean`, in place.
    ///
    /// # Errors
    /// When `features` is not a matrix with as many columns as the fit.
    pub fn invert_in_place<F: Float>(&self, features: &mut Tensor<F>) -> Result<()> {
        let cols = self.check_columns(features)?;
        for row in features.as_mut_slice().chunks_exact_mut(cols.max(1)) {
            for ((x, m), s) in row.iter_mut().zip(&self.mean).zip(&self.std) {
                *x = F::from_f64(Float::to_f64(*x) * s + m);
            }
        }
        Ok(())
    }

    fn check_columns<F: Float>(&self, features: &Tensor<F>) -> Result<usize> {
        let (_, cols) = features.try_dim2("standardize")?;
        if cols != self.mean.len() {
            return Err(DataError::invalid(
                "standardize",
                format!("fitted on {} features, got {cols}", self.mean.len()),
            ));
        }
        Ok(cols)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fitted_statistics_and_round_trip() {
        let train = Tensor::<f64>::from_rows(&[[1.0, 10.0, 7.0], [2.0, 20.0, 7.0], [3.0, 60.0, 7.0]]);
        let s = Standardizer::fit(&train).unwrap();
        assert_eq!(s.mean(), &[2.0, 30.0, 7.0]);
        let std1 = (2.0_f64 / 3.0).sqrt();
        let std2 = ((400.0 + 100.0 + 900.0) / 3.0_f64).sqrt();
        assert_eq!(s.std(), &[std1, std2, 1.0], "population std; constant columns get 1");
        let z = s.apply(&train).unwrap();
        let zm = z.view2().unwrap();
        for j in 0..2 {
            let col = zm.column(j);
            assert!(col.sum().abs() < 1e-12);
            assert!((col.mapv(|v| v * v).sum() / 3.0 - 1.0).abs() < 1e-12);
        }
        assert_eq!(zm.column(2).to_vec(), vec![0.0; 3]);
        let mut back = z.clone();
        s.invert_in_place(&mut back).unwrap();
        for (a, b) in back.as_slice().iter().zip(train.as_slice()) {
            assert!((a - b).abs() < 1e-12);
        }
    }

    #[test]
    fn errors_name_the_problem() {
        let err = Standardizer::fit(&Tensor::<f32>::zeros(&[0, 3])).unwrap_err();
        assert_eq!(err.to_string(), "standardize: cannot fit on 0 rows");
        let bad = Tensor::<f64>::from_rows(&[[1.0, 2.0], [f64::NAN, 0.0]]);
        assert_eq!(Standardizer::fit(&bad).unwrap_err().to_string(), "standardize: row 1, column 0 is NaN");
        let s = Standardizer::fit(&Tensor::<f64>::zeros(&[2, 2])).unwrap();
        let err = s.apply(&Tensor::<f64>::zeros(&[2, 3])).unwrap_err();
        assert_eq!(err.to_string(), "standardize: fitted on 2 features, got 3");
        let err = Standardizer::from_parts(vec![0.0], vec![0.0]).unwrap_err();
        assert_eq!(err.to_string(), "standardize: the std of column 0 is 0; it must be finite and positive");
        // A stored (deserialised) standardizer goes through the same checks.
        let parts = Standardizer { mean: vec![0.0, 1.0], std: vec![1.0] };
        let err = parts.check().unwrap_err();
        assert_eq!(err.to_string(), "standardize: 2 means but 1 standard deviations");
        let stored = Standardizer { mean: s.mean().to_vec(), std: s.std().to_vec() };
        assert_eq!(Standardizer::from_parts(stored.mean, stored.std).unwrap(), s);
    }

    #[test]
    fn large_offsets_stay_accurate_in_f32() {
        let train = Tensor::<f32>::from_rows(&[[1e6 + 1.0], [1e6 - 1.0]]);
        let s = Standardizer::fit(&train).unwrap();
        assert_eq!((s.mean()[0], s.std()[0]), (1e6, 1.0));
        assert_eq!(s.apply(&train).unwrap().to_vec(), vec![1.0, -1.0]);
    }
}
