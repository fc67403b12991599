//! The in-memory data set: a feature matrix and its targets.

use backprop_tensor::{Float, Tensor};

use crate::error::{DataError, Result};
use crate::labels::LabelEncoding;
use crate::matrix::{gather_rows, gather_rows_into, resize_matrix};

/// What a data set asks a model to predict, one entry per row.
#[derive(Debug, Clone, PartialEq)]
pub enum Targets<F: Float> {
    /// Classification: a class index per row, and the class names in index order.
    ///
    /// The names are the mapping from index to label that a model must keep to report its
    /// predictions (CSV loading sorts them like scikit-learn's `LabelEncoder`).
    Classes {
        /// The class index of each row, each `< names.len()`.
        indices: Vec<usize>,
        /// The name of each class; index `i` is class `names[i]`.
        names: Vec<String>,
    },
    /// Regression: a matrix `[n, t]` of real-valued targets (`t = 1` for a single target).
    Values(Tensor<F>),
}

impl<F: Float> Targets<F> {
    /// Number of rows.
    pub fn len(&self) -> usize {
        match self {
            Targets::Classes { indices, .. } => indices.len(),
            Targets::Values(values) => values.shape().first().copied().unwrap_or(0),
        }
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The class indices, for classification.
    pub fn class_indices(&self) -> Option<&[usize]> {
        match self {
            Targets::Classes { indices, .. } => Some(indices),
            Targets::Values(_) => None,
        }
    }

    /// The class names in index order, for classification.
    pub fn class_names(&self) -> Option<&[String]> {
        match self {
            Targets::Classes { names, .. } => Some(names),
            Targets::Values(_) => None,
        }
    }

    /// The number of classes, for classification.
    pub fn num_classes(&self) -> Option<usize> {
        self.class_names().map(<[String]>::len)
    }

    /// The regression targets `[n, t]`.
    pub fn values(&self) -> Option<&Tensor<F>> {
        match self {
            Targets::Values(values) => Some(values),
            Targets::Classes { .. } => None,
        }
    }

    /// The class indices as label tensors of the given encoding (see [`LabelEncoding`]):
    /// `[n, classes]` one-hot, or a column `[n, 1]` of indices, {0,1} or ±1 labels.
    ///
    /// ```
    /// use backprop_data::{LabelEncoding, Targets};
    ///
    /// let t = Targets::<f32>::Classes { indices: vec![0, 1], names: vec!["-1".into(), "1".into()] };
    /// assert_eq!(t.labels(LabelEncoding::PlusMinusOne).unwrap().to_vec(), vec![-1.0, 1.0]);
    /// assert_eq!(t.labels(LabelEncoding::ZeroOne).unwrap().to_vec(), vec![0.0, 1.0]);
    /// ```
    ///
    /// # Errors
    /// For regression targets, and as [`LabelEncoding::encode_into`].
    pub fn labels(&self, encoding: LabelEncoding) -> Result<Tensor<F>> {
        let mut out = Tensor::zeros(&[0, 0]);
        self.labels_into(encoding, &mut out)?;
        Ok(out)
    }

    /// [`Targets::labels`] into an existing tensor, reusing its buffer.
    ///
    /// # Errors
    /// As [`Targets::labels`]; `out` is then left unchanged.
    pub fn labels_into(&self, encoding: LabelEncoding, out: &mut Tensor<F>) -> Result<()> {
        match self {
            Targets::Classes { indices, names } => encoding.encode_into(indices, names.len(), out),
            Targets::Values(_) => {
                Err(DataError::invalid(encoding.name(), "regression targets have no classes"))
            }
        }
    }

    /// The targets of the given rows, in that order.
    ///
    /// # Errors
    /// When a row is out of range.
    pub fn select(&self, rows: &[usize]) -> Result<Self> {
        check_rows("select", rows, self.len())?;
        Ok(match self {
            Targets::Classes { indices, names } => {
                Targets::Classes { indices: rows.iter().map(|&r| indices[r]).collect(), names: names.clone() }
            }
            Targets::Values(values) => Targets::Values(gather_rows(values, rows)),
        })
    }
}

/// A data set held in memory: features `[n, k]`, their names, and one target per row.
///
/// Its parts are checked to agree when it is built ([`Dataset::new`]), so every row has a
/// target and every class index a name.
///
/// ```
/// use backprop_data::{Dataset, Targets};
/// use backprop_tensor::Tensor;
///
/// let features = Tensor::<f64>::from_rows(&[[0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]);
/// let targets = Targets::Classes { indices: vec![0, 1, 1], names: vec!["no".into(), "yes".into()] };
/// let ds = Dataset::new(features, targets, vec!["a".into(), "b".into()]).unwrap();
/// assert_eq!((ds.len(), ds.num_features()), (3, 2));
/// let last_two = ds.select(&[2, 1]).unwrap();
/// assert_eq!(last_two.features().to_vec(), vec![1.0, 1.0, 1.0, 0.0]);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset<F: Float> {
    features: Tensor<F>,
    targets: Targets<F>,
    feature_names: Vec<String>,
}

impl<F: Float> Dataset<F> {
    /// A data set from its parts.
    ///
    /// # Errors
    /// When `features` is not a matrix `[n, k]`, `feature_names` does not have `k` names,
    /// the targets do not have `n` rows, regression targets are not a matrix, or a class index
    /// has no name.
    pub fn new(features: Tensor<F>, targets: Targets<F>, feature_names: Vec<String>) -> Result<Self> {
        let (rows, cols) = features.try_dim2("Dataset::new")?;
        if feature_names.len() != cols {
            return Err(DataError::invalid(
                "Dataset::new",
                format!("{} feature names for {cols} feature columns", feature_names.len()),
            ));
        }
        match &targets {
            Targets::Classes { indices, names } => {
                if let Some((row, &index)) = indices.iter().enumerate().find(|&(_, &i)| i >= names.len()) {
                    return Err(DataError::invalid(
                        "Dataset::new",
                        format!(
                            "row {row} has class index {index}, but there are {} class names",
                            names.len()
                        ),
                    ));
                }
            }
            Targets::Values(values) => {
                values.try_dim2("Dataset::new")?;
            }
        }
        if targets.len() != rows {
            return Err(DataError::invalid(
                "Dataset::new",
                format!("{rows} feature rows but {} targets", targets.len()),
            ));
        }
        Ok(Dataset { features, targets, feature_names })
    }

    /// The feature matrix `[n, k]`.
    pub fn features(&self) -> &Tensor<F> {
        &self.features
    }

    /// The targets, one per row.
    pub fn targets(&self) -> &Targets<F> {
        &self.targets
    }

    /// The name of each feature column.
    pub fn feature_names(&self) -> &[String] {
        &self.feature_names
    }

    /// Number of rows (examples).
    pub fn len(&self) -> usize {
        self.features.shape()[0]
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of feature columns.
    pub fn num_features(&self) -> usize {
        self.features.shape()[1]
    }

    /// The parts: features, targets and feature names.
    pub fn into_parts(self) -> (Tensor<F>, Targets<F>, Vec<String>) {
        (self.features, self.targets, self.feature_names)
    }

    /// The feature matrix, mutably, for in-place transforms that keep its shape.
    pub(crate) fn features_mut(&mut self) -> &mut Tensor<F> {
        &mut self.features
    }

    /// A new data set of the given rows, in that order (rows may repeat).
    ///
    /// # Errors
    /// When a row is out of range.
    pub fn select(&self, rows: &[usize]) -> Result<Self> {
        check_rows("select", rows, self.len())?;
        Ok(Dataset {
            features: gather_rows(&self.features, rows),
            targets: self.targets.select(rows)?,
            feature_names: self.feature_names.clone(),
        })
    }

    /// Copies the given rows into `batch`, reusing its buffers: once they have grown to the
    /// largest batch, no call allocates.
    ///
    /// # Errors
    /// When a row is out of range.
    pub fn batch_into(&self, rows: &[usize], batch: &mut Batch<F>) -> Result<()> {
        check_rows("batch_into", rows, self.len())?;
        gather_rows_into(&self.features, rows, &mut batch.features);
        match &self.targets {
            Targets::Classes { indices, .. } => {
                if !matches!(batch.targets, BatchTargets::Classes(_)) {
                    batch.targets = BatchTargets::Classes(Vec::with_capacity(rows.len()));
                }
                if let BatchTargets::Classes(classes) = &mut batch.targets {
                    classes.clear();
                    classes.extend(rows.iter().map(|&r| indices[r]));
                }
            }
            Targets::Values(values) => {
                if !matches!(batch.targets, BatchTargets::Values(_)) {
                    batch.targets = BatchTargets::Values(Tensor::zeros(&[0, values.shape()[1]]));
                }
                if let BatchTargets::Values(out) = &mut batch.targets {
                    gather_rows_into(values, rows, out);
                }
            }
        }
        Ok(())
    }
}

/// The targets of a mini-batch.
#[derive(Debug, Clone, PartialEq)]
pub enum BatchTargets<F: Float> {
    /// The class index of each row of the batch.
    Classes(Vec<usize>),
    /// The regression targets of the batch, `[batch, t]`.
    Values(Tensor<F>),
}

/// Reusable buffers holding one mini-batch, filled by [`Dataset::batch_into`].
#[derive(Debug, Clone, PartialEq)]
pub struct Batch<F: Float> {
    /// The batch's features, `[batch, k]`.
    pub features: Tensor<F>,
    /// The batch's targets.
    pub targets: BatchTargets<F>,
}

impl<F: Float> Batch<F> {
    /// Empty buffers; the first [`Dataset::batch_into`] sizes them.
    pub fn new() -> Self {
        Batch { features: Tensor::zeros(&[0, 0]), targets: BatchTargets::Classes(Vec::new()) }
    }

    /// Number of rows in the batch.
    pub fn len(&self) -> usize {
        self.features.shape()[0]
    }

    /// Whether the batch has no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Copies the consecutive rows `rows` of this batch into `out`, reusing its buffers: one
    /// replica's slice of a global batch, or one micro-batch of it.
    ///
    /// # Errors
    /// When `rows` reaches past the batch.
    pub fn rows_into(&self, rows: std::ops::Range<usize>, out: &mut Batch<F>) -> Result<()> {
        if rows.start > rows.end || rows.end > self.len() {
            let reason = format!("rows {}..{} of a batch of {} rows", rows.start, rows.end, self.len());
            return Err(DataError::invalid("rows_into", reason));
        }
        let copy = |from: &Tensor<F>, to: &mut Tensor<F>| {
            let cols = from.shape()[1];
            resize_matrix(to, rows.len(), cols);
            to.as_mut_slice().copy_from_slice(&from.as_slice()[rows.start * cols..rows.end * cols]);
        };
        copy(&self.features, &mut out.features);
        match (&self.targets, &mut out.targets) {
            (BatchTargets::Classes(from), BatchTargets::Classes(to)) => {
                to.clear();
                to.extend_from_slice(&from[rows.clone()]);
            }
            (BatchTargets::Values(from), BatchTargets::Values(to)) => copy(from, to),
            (BatchTargets::Classes(from), to) => *to = BatchTargets::Classes(from[rows.clone()].to_vec()),
            (BatchTargets::Values(from), to) => {
                let mut values = Tensor::zeros(&[0, from.shape()[1]]);
                copy(from, &mut values);
                *to = BatchTargets::Values(values);
            }
        }
        Ok(())
    }
}

impl<F: Float> Default for Batch<F> {
    fn default() -> Self {
        Self::new()
    }
}

/// Checks that every row index is below `len`.
fn check_rows(op: &'static str, rows: &[usize], len: usize) -> Result<()> {
    match rows.iter().find(|&&r| r >= len) {
        Some(&row) => Err(DataError::invalid(op, format!("row {row} is out of range for {len} rows"))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy() -> Dataset<f64> {
        let features = Tensor::from_rows(&[[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]]);
        let targets = Targets::Classes { indices: vec![0, 1, 0], names: vec!["a".into(), "b".into()] };
        Dataset::new(features, targets, vec!["x".into(), "y".into()]).unwrap()
    }

    #[test]
    fn new_checks_that_the_parts_agree() {
        let f = Tensor::<f64>::zeros(&[3, 2]);
        let names = || vec!["x".to_string(), "y".to_string()];
        let err = Dataset::new(f.clone(), Targets::Values(Tensor::zeros(&[2, 1])), names()).unwrap_err();
        assert_eq!(err.to_string(), "Dataset::new: 3 feature rows but 2 targets");
        let err = Dataset::new(f.clone(), Targets::Values(Tensor::zeros(&[3, 1])), vec![]).unwrap_err();
        assert_eq!(err.to_string(), "Dataset::new: 0 feature names for 2 feature columns");
        let bad = Targets::Classes { indices: vec![0, 2, 1], names: vec!["a".into(), "b".into()] };
        let err = Dataset::new(f.clone(), bad, names()).unwrap_err();
        assert_eq!(err.to_string(), "Dataset::new: row 1 has class index 2, but there are 2 class names");
        let err = Dataset::new(Tensor::<f64>::zeros(&[3]), Targets::Values(Tensor::zeros(&[3, 1])), names());
        assert_eq!(err.unwrap_err().to_string(), "Dataset::new: expected a matrix, got shape [3]");
    }

    #[test]
    fn select_gathers_rows_and_targets() {
        let ds = toy();
        let s = ds.select(&[2, 0, 2]).unwrap();
        assert_eq!(s.features().to_vec(), vec![4.0, 5.0, 0.0, 1.0, 4.0, 5.0]);
        assert_eq!(s.targets().class_indices().unwrap(), &[0, 0, 0]);
        assert_eq!(s.targets().class_names().unwrap(), ds.targets().class_names().unwrap());
        let err = ds.select(&[3]).unwrap_err();
        assert_eq!(err.to_string(), "select: row 3 is out of range for 3 rows");
        assert_eq!(ds.select(&[]).unwrap().features().shape(), &[0, 2]);
    }

    #[test]
    fn signed_and_one_hot_targets() {
        let t = toy().targets().clone();
        assert_eq!(t.labels(LabelEncoding::PlusMinusOne).unwrap().to_vec(), vec![-1.0, 1.0, -1.0]);
        assert_eq!(t.labels(LabelEncoding::OneHot).unwrap().to_vec(), vec![1.0, 0.0, 0.0, 1.0, 1.0, 0.0]);
        let v = Targets::Values(Tensor::<f64>::zeros(&[3, 1]));
        assert!(v.num_classes().is_none());
        assert_eq!(
            v.labels(LabelEncoding::PlusMinusOne).unwrap_err().to_string(),
            "signed: regression targets have no classes"
        );
        assert_eq!(
            v.labels(LabelEncoding::OneHot).unwrap_err().to_string(),
            "one_hot: regression targets have no classes"
        );
        let three =
            Targets::<f64>::Classes { indices: vec![0], names: vec!["a".into(), "b".into(), "c".into()] };
        assert_eq!(
            three.labels(LabelEncoding::PlusMinusOne).unwrap_err().to_string(),
            "signed: ±1 labels need exactly 2 classes, there are 3"
        );
    }

    #[test]
    fn batch_into_reuses_its_buffers() {
        let ds = toy();
        let mut batch = Batch::new();
        ds.batch_into(&[1, 2], &mut batch).unwrap();
        assert_eq!(batch.features.to_vec(), vec![2.0, 3.0, 4.0, 5.0]);
        assert_eq!(batch.targets, BatchTargets::Classes(vec![1, 0]));
        let ptr = batch.features.as_slice().as_ptr();
        ds.batch_into(&[0], &mut batch).unwrap();
        assert_eq!(batch.features.shape(), &[1, 2]);
        assert_eq!(batch.features.to_vec(), vec![0.0, 1.0]);
        ds.batch_into(&[2, 0], &mut batch).unwrap();
        assert_eq!(batch.features.as_slice().as_ptr(), ptr, "a smaller then equal batch keeps the buffer");
        assert_eq!(batch.features.to_vec(), vec![4.0, 5.0, 0.0, 1.0]);

        let reg = Dataset::new(
            Tensor::<f64>::from_rows(&[[1.0], [2.0]]),
            Targets::Values(Tensor::from_rows(&[[10.0, 11.0], [20.0, 21.0]])),
            vec!["x".into()],
        )
        .unwrap();
        reg.batch_into(&[1], &mut batch).unwrap();
        assert_eq!(batch.features.to_vec(), vec![2.0]);
        assert_eq!(batch.targets, BatchTargets::Values(Tensor::from_rows(&[[20.0, 21.0]])));
        assert_eq!(
            reg.batch_into(&[5], &mut batch).unwrap_err().to_string(),
            "batch_into: row 5 is out of range for 2 rows"
        );
    }
}
