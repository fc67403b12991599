//! From model outputs (logits) to class labels and probabilities.
//!
//! Class labels are returned as class indices `0..C`; for a binary model index 1 is the
//! positive class (label 1, or +1 for the ±1 losses) and index 0 the negative one (0 or −1).

use backprop_tensor::{Float, Tensor, sigmoid};

use crate::error::{NnError, Result};
use crate::loss::{Loss, Task, class_indices};

/// Checks that `logits` hold one value per sample: `[n]` or `[n, 1]`.
fn single_column<F: Float>(op: &str, logits: &Tensor<F>) -> Result<()> {
    if matches!(logits.shape(), [_] | [_, 1]) {
        Ok(())
    } else {
        Err(NnError::invalid(
            op,
            format!("expected one logit per sample ([n] or [n, 1]), got shape {:?}", logits.shape()),
        ))
    }
}

/// Labels −1 or +1 by the sign of each logit (`d ≥ 0` gives +1), for the ±1 losses.
///
/// # Errors
/// When `logits` are not `[n]` or `[n, 1]`.
pub fn sign_labels<F: Float>(logits: &Tensor<F>) -> Result<Vec<f64>> {
    single_column("sign_labels", logits)?;
    Ok(logits.as_slice().iter().map(|&d| if d >= F::zero() { 1.0 } else { -1.0 }).collect())
}

/// Labels 0 or 1: 1 where the probability σ(d) is at least `threshold` (0.5: `d ≥ 0`).
///
/// # Errors
/// When `logits` are not `[n]` or `[n, 1]`, or `threshold` is outside `[0, 1]`.
pub fn threshold_labels<F: Float>(logits: &Tensor<F>, threshold: f64) -> Result<Vec<usize>> {
    single_column("threshold_labels", logits)?;
    if !(0.0..=1.0).contains(&threshold) {
        return Err(NnError::invalid(
            "threshold_labels",
            format!("the threshold must be in [0, 1], got {threshold}"),
        ));
    }
    Ok(logits.as_slice().iter().map(|&d| usize::from(sigmoid(d.to_f64()) >= threshold)).collect())
}

/// The class with the largest logit in each row of `[n, C]` (the first of ties).
///
/// # Errors
/// When `logits` are not a matrix.
pub fn argmax_labels<F: Float>(logits: &Tensor<F>) -> Result<Vec<usize>> {
    Ok(logits.try_argmax_rows()?)
}

/// P(positive class) = σ(d) for each logit, stable for any `d`; same shape as `logits`.
pub fn sigmoid_probabilities<F: Float>(logits: &Tensor<F>) -> Tensor<F> {
    logits.sigmoid()
}

/// Class probabilities, the softmax of each row of `[n, C]`.
///
/// # Errors
/// When `logits` are not a matrix with non-empty rows.
pub fn softmax_probabilities<F: Float>(logits: &Tensor<F>) -> Result<Tensor<F>> {
    Ok(logits.try_softmax_rows()?)
}

/// The fraction of equal entries.
///
/// # Errors
/// When the lengths differ or are 0.
pub fn accuracy(predicted: &[usize], truth: &[usize]) -> Result<f64> {
    if predicted.len() != truth.len() || truth.is_empty() {
        return Err(NnError::invalid(
            "accuracy",
            format!(
                "{} predictions for {} labels (need the same non-zero number)",
                predicted.len(),
                truth.len()
            ),
        ));
    }
    let right = predicted.iter().zip(truth).filter(|(p, t)| p == t).count();
    Ok(right as f64 / truth.len() as f64)
}

impl Loss {
    /// Predicted class indices from outputs: threshold at 0.5 (or the sign, for ±1 losses)
    /// for binary losses, argmax for multi-class ones.
    ///
    /// # Errors
    /// For a regression loss, or outputs of the wrong shape.
    pub fn predict_classes<F: Float>(&self, outputs: &Tensor<F>) -> Result<Vec<usize>> {
        match self.task() {
            Task::Regression => Err(NnError::invalid("predict_classes", "a regression model has no classes")),
            Task::Binary if self.uses_pm1_labels() => {
                Ok(sign_labels(outputs)?.into_iter().map(|y| usize::from(y > 0.0)).collect())
            }
            Task::Binary => threshold_labels(outputs, 0.5),
            Task::MultiClass => argmax_labels(outputs),
        }
    }

    /// Class probabilities from outputs: `[n, 2]` (P(negative), P(positive)) for binary
    /// losses, the softmax `[n, C]` for multi-class ones. The hinge losses have no
    /// probabilistic reading; their σ or softmax is only a score in `[0, 1]`.
    ///
    /// # Errors
    /// For a regression loss, or outputs of the wrong shape.
    pub fn probabilities<F: Float>(&self, outputs: &Tensor<F>) -> Result<Tensor<F>> {
        match self.task() {
            Task::Regression => Err(NnError::invalid("probabilities", "a regression model has no classes")),
            Task::Binary => {
                single_column("probabilities", outputs)?;
                let n = outputs.len();
                let mut out = Tensor::zeros(&[n, 2]);
                for (row, &d) in out.as_mut_slice().chunks_exact_mut(2).zip(outputs.as_slice()) {
                    // σ(−d) and σ(d) separately: 1 − σ(d) would round to 0 for large d.
                    row[0] = sigmoid(-d);
                    row[1] = sigmoid(d);
                }
                Ok(out)
            }
            Task::MultiClass => softmax_probabilities(outputs),
        }
    }

    /// True class indices from a target tensor as this loss takes it (0/1, ±1 or indices).
    ///
    /// # Errors
    /// For a regression loss, or a target that is not a label of this loss.
    pub fn target_classes<F: Float>(&self, targets: &Tensor<F>) -> Result<Vec<usize>> {
        match self.task() {
            Task::Regression => Err(NnError::invalid("target_classes", "a regression model has no classes")),
            Task::Binary => {
                let (neg, pos) = if self.uses_pm1_labels() { (-1.0, 1.0) } else { (0.0, 1.0) };
                targets
                    .as_slice()
                    .iter()
                    .enumerate()
                    .map(|(i, &t)| match t.to_f64() {
                        v if v == pos => Ok(1),
                        v if v == neg => Ok(0),
                        v => Err(NnError::invalid(
                            "target_classes",
                            format!("target {i} is {v}; labels of {self} are {neg} and {pos}"),
                        )),
                    })
                    .collect()
            }
            Task::MultiClass => class_indices("target_classes", targets),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_probabilities() {
        let d = Tensor::from_vec(&[4, 1], vec![-2.0_f64, 0.0, 0.3, 1e4]);
        assert_eq!(sign_labels(&d).unwrap(), vec![-1.0, 1.0, 1.0, 1.0]);
        assert_eq!(threshold_labels(&d, 0.5).unwrap(), vec![0, 1, 1, 1]);
        assert_eq!(threshold_labels(&d, 0.6).unwrap(), vec![0, 0, 0, 1]);
        let p = Loss::BceWithLogits.probabilities(&d).unwrap();
        assert_eq!(p.shape(), &[4, 2]);
        assert_eq!(&p.as_slice()[6..], &[0.0, 1.0]);
        assert_eq!(&p.as_slice()[2..4], &[0.5, 0.5]);
        assert!((p.as_slice()[0] - sigmoid(2.0)).abs() < 1e-16);
        assert_eq!(Loss::Hinge.predict_classes(&d).unwrap(), vec![0, 1, 1, 1]);
        let multi = Tensor::from_rows(&[[0.1_f64, 2.0, -1.0], [3.0, 3.0, 0.0]]);
        assert_eq!(Loss::CrossEntropy.predict_classes(&multi).unwrap(), vec![1, 0]);
        let sm = Loss::CrossEntropy.probabilities(&multi).unwrap();
        assert!((sm.as_slice()[..3].iter().sum::<f64>() - 1.0).abs() < 1e-15);
        assert_eq!(accuracy(&[1, 0, 1], &[1, 1, 1]).unwrap(), 2.0 / 3.0);
        assert!(accuracy(&[1], &[1, 0]).is_err());
        let err = Loss::Mse.predict_classes(&d).unwrap_err().to_string();
        assert_eq!(err, "predict_classes: a regression model has no classes");
        let err = sign_labels(&multi).unwrap_err().to_string();
        assert_eq!(err, "sign_labels: expected one logit per sample ([n] or [n, 1]), got shape [2, 3]");
    }

    #[test]
    fn target_classes_follow_the_label_convention() {
        let pm = Tensor::from_vec(&[3], vec![-1.0_f32, 1.0, -1.0]);
        assert_eq!(Loss::LogisticPm1.target_classes(&pm).unwrap(), vec![0, 1, 0]);
        let err = Loss::BceWithLogits.target_classes(&pm).unwrap_err().to_string();
        assert_eq!(err, "target_classes: target 0 is -1; labels of bce_with_logits are 0 and 1");
    }
}
