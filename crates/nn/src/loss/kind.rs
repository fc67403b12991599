//! The loss and task of a model by name, for command lines and model files.

use std::fmt;
use std::str::FromStr;

use backprop_autograd::{Graph, Var};
use backprop_tensor::{Float, Tensor};
use serde::{Deserialize, Serialize};

use super::Reduction;
use crate::error::{NnError, Result};

/// What a model predicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    /// Real values (one or more outputs).
    #[default]
    Regression,
    /// Two classes, from one logit per sample.
    Binary,
    /// `C ≥ 2` classes, from `C` logits per sample.
    MultiClass,
}

impl fmt::Display for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Task::Regression => "regression",
            Task::Binary => "binary",
            Task::MultiClass => "multi_class",
        })
    }
}

/// A training loss by name, applied to model outputs and a target tensor.
///
/// | name              | task        | targets                       | function                        |
/// |-------------------|-------------|-------------------------------|---------------------------------|
/// | `mse`             | regression  | values, the outputs' shape    | [`super::mse`]                  |
/// | `bce_with_logits` | binary      | 0 or 1, `[n]` or `[n, 1]`     | [`super::bce_with_logits`]      |
/// | `logistic_pm1`    | binary      | −1 or +1                      | [`super::logistic_pm1`]         |
/// | `hinge`           | binary      | −1 or +1                      | [`super::hinge`]                |
/// | `cross_entropy`   | multi-class | class indices `0..C`          | [`super::softmax_cross_entropy`] |
/// | `multi_margin`    | multi-class | class indices `0..C`          | [`super::multi_margin`]         |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Loss {
    /// Squared error.
    Mse,
    /// Binary cross-entropy on logits, labels {0, 1}.
    BceWithLogits,
    /// Logistic loss ln(1 + e^(−y·d)), labels {−1, +1}.
    LogisticPm1,
    /// Hinge loss max(0, 1 − y·d), labels {−1, +1}.
    Hinge,
    /// Softmax cross-entropy, class indices.
    CrossEntropy,
    /// Multi-class hinge, class indices.
    MultiMargin,
}

impl Loss {
    /// Every loss, in the order of the table above.
    pub const ALL: [Loss; 6] = [
        Loss::Mse,
        Loss::BceWithLogits,
        Loss::LogisticPm1,
        Loss::Hinge,
        Loss::CrossEntropy,
        Loss::MultiMargin,
    ];

    /// The name (as in the table above).
    pub fn name(&self) -> &'static str {
        match self {
            Loss::Mse => "mse",
            Loss::BceWithLogits => "bce_with_logits",
            Loss::LogisticPm1 => "logistic_pm1",
            Loss::Hinge => "hinge",
            Loss::CrossEntropy => "cross_entropy",
            Loss::MultiMargin => "multi_margin",
        }
    }

    /// The task the loss trains for.
    pub fn task(&self) -> Task {
        match self {
            Loss::Mse => Task::Regression,
            Loss::BceWithLogits | Loss::LogisticPm1 | Loss::Hinge => Task::Binary,
            Loss::CrossEntropy | Loss::MultiMargin => Task::MultiClass,
        }
    }

    /// Whether binary labels are −1 and +1 (rather than 0 and 1).
    pub fn uses_pm1_labels(&self) -> bool {
        matches!(self, Loss::LogisticPm1 | Loss::Hinge)
    }

    /// Records the loss of `outputs` against `targets` (class indices stored as whole numbers
    /// for the multi-class losses).
    ///
    /// # Errors
    /// As the loss function; for multi-class losses also targets that are not class indices.
    pub fn compute<F: Float>(
        &self,
        g: &mut Graph<F>,
        outputs: Var,
        targets: Var,
        reduction: Reduction,
    ) -> Result<Var> {
        match self {
            Loss::Mse => super::mse(g, outputs, targets, reduction),
            Loss::BceWithLogits => super::bce_with_logits(g, outputs, targets, reduction),
            Loss::LogisticPm1 => super::logistic_pm1(g, outputs, targets, reduction),
            Loss::Hinge => super::hinge(g, outputs, targets, reduction),
            Loss::CrossEntropy | Loss::MultiMargin => {
                let classes = class_indices(self.name(), g.value(targets)?)?;
                if *self == Loss::CrossEntropy {
                    super::softmax_cross_entropy(g, outputs, &classes, reduction)
                } else {
                    super::multi_margin(g, outputs, &classes, reduction)
                }
            }
        }
    }
}

/// What a loss compares the outputs with, borrowed from the batch.
///
/// Class indices stay indices from the data set to the loss: [`Loss::compute_targets`] writes
/// each loss's label convention (0/1, −1/+1, the index) into a recycled graph buffer, so no
/// float copy of the labels is made per step.
#[derive(Debug, Clone, Copy)]
pub enum Targets<'a, F: Float> {
    /// Class indices `0..C`, one per row (binary losses: 0 or 1).
    Classes(&'a [usize]),
    /// Real values, the outputs' shape (`[n]` and `[n, 1]` also match): regression targets,
    /// or labels already in the loss's convention.
    Values(&'a Tensor<F>),
}

/// A data set's targets as a loss takes them (class indices stay indices).
impl<'a, F: Float> From<&'a backprop_data::Targets<F>> for Targets<'a, F> {
    fn from(targets: &'a backprop_data::Targets<F>) -> Self {
        match targets {
            backprop_data::Targets::Classes { indices, .. } => Targets::Classes(indices),
            backprop_data::Targets::Values(values) => Targets::Values(values),
        }
    }
}

/// A mini-batch's targets as a loss takes them.
impl<'a, F: Float> From<&'a backprop_data::BatchTargets<F>> for Targets<'a, F> {
    fn from(targets: &'a backprop_data::BatchTargets<F>) -> Self {
        match targets {
            backprop_data::BatchTargets::Classes(indices) => Targets::Classes(indices),
            backprop_data::BatchTargets::Values(values) => Targets::Values(values),
        }
    }
}

impl Loss {
    /// The loss of `outputs` against `targets` (class indices are turned into each loss's label
    /// convention -- 0/1, -1/+1, index -- inside the op, without allocating in the steady state).
    ///
    /// The same values and gradients, bit for bit, as [`Loss::compute`] on the labels as a
    /// float tensor `[n, 1]`.
    ///
    /// ```
    /// use backprop_autograd::Graph;
    /// use backprop_nn::{Loss, Reduction, Targets};
    /// use backprop_tensor::Tensor;
    ///
    /// let mut g = Graph::<f64>::new();
    /// let logits = g.leaf(Tensor::from_vec(&[2, 1], vec![2.0, -1.0]));
    /// let loss = Loss::Hinge.compute_targets(&mut g, logits, Targets::Classes(&[1, 0]), Reduction::Mean).unwrap();
    /// assert_eq!(g.value(loss).unwrap().item(), 0.0); // both beyond the margin
    /// let err = Loss::Hinge.compute_targets(&mut g, logits, Targets::Classes(&[2, 0]), Reduction::Mean);
    /// assert_eq!(err.unwrap_err().to_string(), "hinge: class 2 of row 0 is not a binary label (0 or 1)");
    /// ```
    ///
    /// # Errors
    /// As the loss function; also values for a multi-class loss, class indices for a regression
    /// loss, and a class other than 0 or 1 for a binary loss (each naming the loss and the
    /// value).
    pub fn compute_targets<F: Float>(
        &self,
        g: &mut Graph<F>,
        outputs: Var,
        targets: Targets<'_, F>,
        reduction: Reduction,
    ) -> Result<Var> {
        match (self.task(), targets) {
            (Task::MultiClass, Targets::Classes(classes)) => {
                if *self == Loss::CrossEntropy {
                    super::softmax_cross_entropy(g, outputs, classes, reduction)
                } else {
                    super::multi_margin(g, outputs, classes, reduction)
                }
            }
            (Task::MultiClass, Targets::Values(v)) => Err(NnError::invalid(
                self.name(),
                format!("takes class indices, got a tensor of values of shape {:?}", v.shape()),
            )),
            (Task::Regression, Targets::Classes(_)) => {
                Err(NnError::invalid(self.name(), "compares outputs with values, got class indices"))
            }
            (_, Targets::Values(v)) => {
                let t = g.input_copy(v);
                self.compute(g, outputs, t, reduction)
            }
            (Task::Binary, Targets::Classes(classes)) => {
                if let Some((i, &k)) = classes.iter().enumerate().find(|&(_, &k)| k > 1) {
                    return Err(NnError::invalid(
                        self.name(),
                        format!("class {k} of row {i} is not a binary label (0 or 1)"),
                    ));
                }
                let negative = if self.uses_pm1_labels() { -F::one() } else { F::zero() };
                let t = g.input_with(&[classes.len(), 1], |dst| {
                    for (d, &k) in dst.iter_mut().zip(classes) {
                        *d = if k == 1 { F::one() } else { negative };
                    }
                });
                self.compute(g, outputs, t, reduction)
            }
        }
    }
}

/// Class indices from a tensor of whole numbers, `[n]` or `[n, 1]`.
///
/// # Errors
/// Another shape, or an element that is negative or not a whole number (naming it).
pub fn class_indices<F: Float>(op: &str, targets: &Tensor<F>) -> Result<Vec<usize>> {
    if !matches!(targets.shape(), [_] | [_, 1]) {
        return Err(NnError::invalid(
            op,
            format!("class indices must have shape [n] or [n, 1], got {:?}", targets.shape()),
        ));
    }
    targets
        .as_slice()
        .iter()
        .enumerate()
        .map(|(i, &t)| {
            let v = t.to_f64();
            if v >= 0.0 && v.fract() == 0.0 && v < u32::MAX as f64 {
                Ok(v as usize)
            } else {
                Err(NnError::invalid(op, format!("target {i} is {v}, not a class index (0, 1, 2, ...)")))
            }
        })
        .collect()
}

impl fmt::Display for Loss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Loss {
    type Err = NnError;

    fn from_str(s: &str) -> Result<Self> {
        let lower = s.trim().to_ascii_lowercase().replace('-', "_");
        let alias = match lower.as_str() {
            "bce" | "log" | "log_loss" | "binary_cross_entropy" => "bce_with_logits",
            "ce" | "softmax_cross_entropy" => "cross_entropy",
            "logistic" => "logistic_pm1",
            "squared" | "l2" => "mse",
            other => other,
        };
        Loss::ALL.into_iter().find(|l| l.name() == alias).ok_or_else(|| {
            let names: Vec<&str> = Loss::ALL.iter().map(Loss::name).collect();
            NnError::invalid("loss", format!("unknown loss '{s}'; expected one of {}", names.join(", ")))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for l in Loss::ALL {
            assert_eq!(l.name().parse::<Loss>().unwrap(), l);
            assert_eq!(serde_json::to_string(&l).unwrap(), format!("\"{}\"", l.name()));
        }
        assert_eq!("CE".parse::<Loss>().unwrap(), Loss::CrossEntropy);
        let err = "huber".parse::<Loss>().unwrap_err().to_string();
        assert_eq!(
            err,
            "loss: unknown loss 'huber'; expected one of mse, bce_with_logits, logistic_pm1, hinge, cross_entropy, multi_margin"
        );
    }

    #[test]
    fn compute_dispatches_and_reads_class_indices() {
        let mut g = Graph::<f64>::new();
        let x = g.leaf(Tensor::from_rows(&[[2.0, 0.0], [0.0, 2.0]]));
        let t = g.input(Tensor::from_vec(&[2, 1], vec![0.0, 1.0]));
        let a = Loss::CrossEntropy.compute(&mut g, x, t, Reduction::Mean).unwrap();
        let b = super::super::softmax_cross_entropy(&mut g, x, &[0, 1], Reduction::Mean).unwrap();
        assert_eq!(g.value(a).unwrap(), g.value(b).unwrap());
        let bad = g.input(Tensor::from_vec(&[2], vec![0.0, 1.5]));
        let err = Loss::CrossEntropy.compute(&mut g, x, bad, Reduction::Mean).unwrap_err().to_string();
        assert_eq!(err, "cross_entropy: target 1 is 1.5, not a class index (0, 1, 2, ...)");
        assert_eq!(Loss::Hinge.task(), Task::Binary);
        assert!(Loss::Hinge.uses_pm1_labels() && !Loss::BceWithLogits.uses_pm1_labels());
    }

    /// The float labels `[n, 1]` the CLI built before [`Targets`]: 0/1, ±1 or the index.
    fn class_labels(loss: Loss, classes: &[usize]) -> Tensor<f32> {
        let label = |k: usize| match (loss.uses_pm1_labels(), k) {
            (true, 0) => -1.0,
            (_, k) => k as f32,
        };
        Tensor::from_vec(&[classes.len(), 1], classes.iter().map(|&k| label(k)).collect())
    }

    #[test]
    fn targets_give_the_losses_and_gradients_of_float_labels_bit_for_bit() {
        let binary = Tensor::from_shape_fn(&[5, 1], |i| i[0] as f32 * 0.7 - 1.6);
        let multi = Tensor::from_shape_fn(&[5, 3], |i| (i[0] * 3 + i[1]) as f32 * 0.31 - 2.0);
        let values = Tensor::from_shape_fn(&[5, 3], |i| (i[0] + 2 * i[1]) as f32 * 0.2 - 0.5);
        let (labels01, labels3) = ([1, 0, 0, 1, 1], [2, 0, 1, 1, 2]);
        for loss in Loss::ALL {
            for reduction in [Reduction::Mean, Reduction::Sum] {
                let (logits, classes): (&Tensor<f32>, &[usize]) = match loss.task() {
                    Task::Binary => (&binary, &labels01),
                    Task::MultiClass => (&multi, &labels3),
                    Task::Regression => (&multi, &[]),
                };
                let run = |through_targets: bool| {
                    let mut g = Graph::<f32>::new();
                    let x = g.leaf(logits.clone());
                    let l = match (loss.task(), through_targets) {
                        (Task::Regression, true) => {
                            loss.compute_targets(&mut g, x, Targets::Values(&values), reduction)
                        }
                        (Task::Regression, false) => {
                            let t = g.input(values.clone());
                            loss.compute(&mut g, x, t, reduction)
                        }
                        (_, true) => loss.compute_targets(&mut g, x, Targets::Classes(classes), reduction),
                        (_, false) => {
                            let t = g.input(class_labels(loss, classes));
                            loss.compute(&mut g, x, t, reduction)
                        }
                    }
                    .unwrap();
                    g.backward(l).unwrap();
                    (g.value(l).unwrap().item().to_bits(), g.grad(x).unwrap().clone())
                };
                let ((value, grad), (want_value, want_grad)) = (run(true), run(false));
                assert_eq!(value, want_value, "{loss} {reduction:?}");
                assert_eq!(
                    grad.as_slice().iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                    want_grad.as_slice().iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                    "{loss} {reduction:?}"
                );
            }
        }
    }

    #[test]
    fn wrong_targets_name_the_loss_and_the_value() {
        let mut g = Graph::<f64>::new();
        let binary = g.leaf(Tensor::zeros(&[2, 1]));
        let multi = g.leaf(Tensor::zeros(&[2, 3]));
        let values = Tensor::zeros(&[2, 3]);
        let cases = [
            (
                Loss::CrossEntropy,
                multi,
                Targets::Values(&values),
                "cross_entropy: takes class indices, got a tensor of values of shape [2, 3]",
            ),
            (
                Loss::CrossEntropy,
                multi,
                Targets::Classes(&[0, 3]),
                "softmax_cross_entropy: class index 3 of row 1 is out of range for 3 classes",
            ),
            (
                Loss::BceWithLogits,
                binary,
                Targets::Classes(&[0, 2]),
                "bce_with_logits: class 2 of row 1 is not a binary label (0 or 1)",
            ),
            (
                Loss::Mse,
                multi,
                Targets::Classes(&[0, 1]),
                "mse: compares outputs with values, got class indices",
            ),
        ];
        for (loss, outputs, targets, want) in cases {
            let got =
                loss.compute_targets(&mut g, outputs, targets, Reduction::Mean).unwrap_err().to_string();
            assert_eq!(got, want);
        }
    }
}
