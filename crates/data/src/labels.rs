//! Class indices turned into the label tensors losses take: the one family of encodings.

use std::fmt;

use backprop_tensor::{Float, Tensor};

use crate::error::{DataError, Result};
use crate::matrix::resize_matrix;

/// How class indices become a label tensor, one row per example.
///
/// Every encoding checks each index against the number of classes; the two-class encodings
/// also check that there are exactly two.
///
/// ```
/// use backprop_data::LabelEncoding;
///
/// let classes = [1, 0, 1];
/// let enc = |e: LabelEncoding| e.encode::<f32>(&classes, 2).unwrap().to_vec();
/// assert_eq!(enc(LabelEncoding::Index), vec![1.0, 0.0, 1.0]);
/// assert_eq!(enc(LabelEncoding::ZeroOne), vec![1.0, 0.0, 1.0]);
/// assert_eq!(enc(LabelEncoding::PlusMinusOne), vec![1.0, -1.0, 1.0]);
/// assert_eq!(enc(LabelEncoding::OneHot), vec![0.0, 1.0, 1.0, 0.0, 0.0, 1.0]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LabelEncoding {
    /// `[n, 1]`: the class index itself as a number (multi-class losses that read indices).
    Index,
    /// `[n, 1]`: class 0 is 0, class 1 is 1 (binary cross-entropy's target column); two classes.
    ZeroOne,
    /// `[n, 1]`: class 0 is −1, class 1 is +1 (sign labels: hinge, logistic, the TensorFlow
    /// Playground's labels); two classes.
    PlusMinusOne,
    /// `[n, classes]`: 1 in the column of the class, 0 elsewhere.
    OneHot,
}

impl LabelEncoding {
    /// The name errors give as their operation: `index`, `zero_one`, `signed` or `one_hot`.
    pub fn name(self) -> &'static str {
        match self {
            LabelEncoding::Index => "index",
            LabelEncoding::ZeroOne => "zero_one",
            LabelEncoding::PlusMinusOne => "signed",
            LabelEncoding::OneHot => "one_hot",
        }
    }

    /// The number of columns of the encoded labels.
    pub fn columns(self, classes: usize) -> usize {
        if self == LabelEncoding::OneHot { classes } else { 1 }
    }

    /// The labels of `indices`, `[n, columns]`.
    ///
    /// # Errors
    /// As [`LabelEncoding::encode_into`].
    pub fn encode<F: Float>(self, indices: &[usize], classes: usize) -> Result<Tensor<F>> {
        let mut out = Tensor::zeros(&[0, self.columns(classes)]);
        self.encode_into(indices, classes, &mut out)?;
        Ok(out)
    }

    /// [`LabelEncoding::encode`] into an existing tensor, reusing its buffer (a mini-batch's
    /// labels): once it has grown to the largest batch, no call allocates.
    ///
    /// # Errors
    /// When `classes` is 0, an index is `>= classes`, or a two-class encoding is asked of
    /// another number of classes; `out` is then left unchanged.
    pub fn encode_into<F: Float>(self, indices: &[usize], classes: usize, out: &mut Tensor<F>) -> Result<()> {
        self.check(indices, classes)?;
        let columns = self.columns(classes);
        resize_matrix(out, indices.len(), columns);
        let data = out.as_mut_slice();
        match self {
            LabelEncoding::OneHot => {
                data.fill(F::zero());
                for (row, &index) in indices.iter().enumerate() {
                    data[row * columns + index] = F::one();
                }
            }
            LabelEncoding::Index | LabelEncoding::ZeroOne => {
                for (label, &index) in data.iter_mut().zip(indices) {
                    *label = F::from_f64(index as f64);
                }
            }
            LabelEncoding::PlusMinusOne => {
                for (label, &index) in data.iter_mut().zip(indices) {
                    *label = if index == 1 { F::one() } else { -F::one() };
                }
            }
        }
        Ok(())
    }

    /// Checks the number of classes and every index before anything is written.
    fn check(self, indices: &[usize], classes: usize) -> Result<()> {
        let op = self.name();
        let two_classes = matches!(self, LabelEncoding::ZeroOne | LabelEncoding::PlusMinusOne);
        if two_classes && classes != 2 {
            let kind = if self == LabelEncoding::ZeroOne { "{0,1}" } else { "±1" };
            return Err(DataError::invalid(
                op,
                format!("{kind} labels need exactly 2 classes, there are {classes}"),
            ));
        }
        if classes == 0 {
            return Err(DataError::invalid(op, "the number of classes is 0"));
        }
        match indices.iter().enumerate().find(|&(_, &i)| i >= classes) {
            Some((row, &index)) => Err(DataError::invalid(
                op,
                format!("row {row} has class index {index}, but there are {classes} classes"),
            )),
            None => Ok(()),
        }
    }
}

impl fmt::Display for LabelEncoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_rows_and_rejects_bad_indices() {
        let y = LabelEncoding::OneHot.encode::<f64>(&[1, 0, 1], 2).unwrap();
        assert_eq!(y.shape(), &[3, 2]);
        assert_eq!(y.to_vec(), vec![0.0, 1.0, 1.0, 0.0, 0.0, 1.0]);
        assert_eq!(LabelEncoding::OneHot.encode::<f64>(&[], 4).unwrap().shape(), &[0, 4]);
        let err = LabelEncoding::OneHot.encode::<f32>(&[0, 3], 3).unwrap_err();
        assert_eq!(err.to_string(), "one_hot: row 1 has class index 3, but there are 3 classes");
        let err = LabelEncoding::OneHot.encode::<f32>(&[], 0).unwrap_err();
        assert_eq!(err.to_string(), "one_hot: the number of classes is 0");
    }

    #[test]
    fn into_overwrites_previous_contents() {
        let mut out = LabelEncoding::OneHot.encode::<f32>(&[0, 0, 0], 2).unwrap();
        LabelEncoding::OneHot.encode_into(&[1, 1], 2, &mut out).unwrap();
        assert_eq!(out.to_vec(), vec![0.0, 1.0, 0.0, 1.0]);
    }

    #[test]
    fn column_encodings_have_one_column_and_two_class_ones_check_the_count() {
        let mut out = Tensor::<f64>::zeros(&[0, 0]);
        for (encoding, expected) in [
            (LabelEncoding::Index, vec![2.0, 0.0]),
            (LabelEncoding::OneHot, vec![0.0, 0.0, 1.0, 1.0, 0.0, 0.0]),
        ] {
            encoding.encode_into(&[2, 0], 3, &mut out).unwrap();
            assert_eq!((out.shape()[1], out.to_vec()), (encoding.columns(3), expected), "{encoding}");
        }
        assert_eq!(out.shape(), &[2, 3]);
        let err = LabelEncoding::ZeroOne.encode_into(&[1, 0], 3, &mut out).unwrap_err();
        assert_eq!(err.to_string(), "zero_one: {0,1} labels need exactly 2 classes, there are 3");
        assert_eq!(out.shape(), &[2, 3], "a refused encoding leaves the buffer as it was");
        let err = LabelEncoding::PlusMinusOne.encode::<f32>(&[0, 2], 2).unwrap_err();
        assert_eq!(err.to_string(), "signed: row 1 has class index 2, but there are 2 classes");
        let err = LabelEncoding::Index.encode::<f32>(&[0, 5], 4).unwrap_err();
        assert_eq!(err.to_string(), "index: row 1 has class index 5, but there are 4 classes");
    }
}
