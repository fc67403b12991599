//! One-hot encoding of class indices.

use backprop_tensor::{Float, Tensor};

use crate::dataset::resize_matrix;
use crate::error::{DataError, Result};

/// One-hot encodes class indices: row `i` of the `[n, classes]` result is 1 in column
/// `indices[i]` and 0 elsewhere.
///
/// # Errors
/// When `classes` is 0 or an index is `>= classes`.
///
/// ```
/// let y = backprop_data::one_hot::<f32>(&[2, 0], 3).unwrap();
/// assert_eq!(y.to_vec(), vec![0.0, 0.0, 1.0, 1.0, 0.0, 0.0]);
/// ```
pub fn one_hot<F: Float>(indices: &[usize], classes: usize) -> Result<Tensor<F>> {
    let mut out = Tensor::zeros(&[0, classes]);
    one_hot_into(indices, classes, &mut out)?;
    Ok(out)
}

/// [`one_hot`] into an existing tensor, reusing its buffer (a mini-batch's encoded targets).
///
/// # Errors
/// When `classes` is 0 or an index is `>= classes`; `out` is then left unchanged.
pub fn one_hot_into<F: Float>(indices: &[usize], classes: usize, out: &mut Tensor<F>) -> Result<()> {
    if classes == 0 {
        return Err(DataError::invalid("one_hot", "the number of classes is 0"));
    }
    if let Some((row, &index)) = indices.iter().enumerate().find(|&(_, &i)| i >= classes) {
        return Err(DataError::invalid(
            "one_hot",
            format!("row {row} has class index {index}, but there are {classes} classes"),
        ));
    }
    resize_matrix(out, indices.len(), classes);
    out.fill(F::zero());
    let data = out.as_mut_slice();
    for (row, &index) in indices.iter().enumerate() {
        data[row * classes + index] = F::one();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_rows_and_rejects_bad_indices() {
        let y = one_hot::<f64>(&[1, 0, 1], 2).unwrap();
        assert_eq!(y.shape(), &[3, 2]);
        assert_eq!(y.to_vec(), vec![0.0, 1.0, 1.0, 0.0, 0.0, 1.0]);
        assert_eq!(one_hot::<f64>(&[], 4).unwrap().shape(), &[0, 4]);
        let err = one_hot::<f32>(&[0, 3], 3).unwrap_err();
        assert_eq!(err.to_string(), "one_hot: row 1 has class index 3, but there are 3 classes");
        let err = one_hot::<f32>(&[], 0).unwrap_err();
        assert_eq!(err.to_string(), "one_hot: the number of classes is 0");
    }

    #[test]
    fn into_overwrites_previous_contents() {
        let mut out = one_hot::<f32>(&[0, 0, 0], 2).unwrap();
        one_hot_into(&[1, 1], 2, &mut out).unwrap();
        assert_eq!(out.to_vec(), vec![0.0, 1.0, 0.0, 1.0]);
    }
}
