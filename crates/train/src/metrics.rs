//! What an evaluation measures, and the record of an epoch.

use std::ops::Range;

use backprop_autograd::Graph;
use backprop_data::{Batch, Dataset};
use backprop_nn::{Loss, Module, Reduction};
use backprop_tensor::{Float, Tensor};
use serde::{Deserialize, Serialize};

use crate::error::Result;
use backprop_nn::Targets;

/// Rows evaluated in one forward pass, so that evaluating a large data set needs bounded memory.
pub const EVAL_CHUNK_ROWS: usize = 8192;

/// The metrics of a model on a data set.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// The mean loss over the rows (the training loss, without penalties).
    pub loss: f64,
    /// The fraction of rows classified right (classification only).
    pub accuracy: Option<f64>,
}

/// The record of one epoch; epoch 0 is the untrained model.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// Epochs trained so far.
    pub epoch: u64,
    /// Optimizer steps taken so far.
    pub step: u64,
    /// The learning rate of the epoch's last step (the optimizer's rate for epoch 0).
    pub lr: f64,
    /// The mean of the epoch's mini-batch losses (`None` for epoch 0), as Keras's running `loss`.
    pub batch_loss: Option<f64>,
    /// The metrics on the whole training data, on evaluated epochs.
    pub train: Option<Metrics>,
    /// The metrics on the validation data, on evaluated epochs with validation data.
    pub validation: Option<Metrics>,
}

/// Evaluates `model` on `data`: its mean `loss` and, for classification, its accuracy, in
/// evaluation mode (dropout off) and without recording gradients. A model whose outputs are not
/// finite gets that non-finite value as its loss (the losses refuse such outputs), so that the
/// caller can report divergence.
///
/// # Errors
/// When the data does not fit the model or the loss.
pub fn evaluate<F: Float, M: Module>(
    g: &mut Graph<F>,
    model: &mut M,
    loss: Loss,
    data: &Dataset<F>,
) -> Result<Metrics> {
    evaluate_range(g, model, loss, data, 0..data.len())
}

/// [`evaluate`] on the rows `range` of `data`.
fn evaluate_range<F: Float, M: Module>(
    g: &mut Graph<F>,
    model: &mut M,
    loss: Loss,
    data: &Dataset<F>,
    range: Range<usize>,
) -> Result<Metrics> {
    let was_training = model.is_training();
    model.set_training(false);
    let result = in_chunks(data, range, |features, targets| evaluate_rows(g, model, loss, features, targets));
    model.set_training(was_training);
    result
}

/// Evaluates `model` on the rows `rows` of `data` and adds the totals up over the processes
/// of a data-parallel run with `sum` (each evaluating its own rows): the metrics of the whole
/// data set. With all rows and a `sum` that changes nothing (one process) it is [`evaluate`],
/// bit for bit.
///
/// # Errors
/// As [`evaluate`], or when `sum` fails.
pub(crate) fn evaluate_shared<F: Float, M: Module>(
    g: &mut Graph<F>,
    model: &mut M,
    loss: Loss,
    data: &Dataset<F>,
    rows: Range<usize>,
    sum: &mut dyn FnMut(&mut [f64]) -> Result<()>,
) -> Result<Metrics> {
    let classes = matches!(data.targets(), backprop_data::Targets::Classes { .. });
    let part = if rows.is_empty() {
        Metrics { loss: 0.0, accuracy: classes.then_some(0.0) }
    } else {
        evaluate_range(g, model, loss, data, rows.clone())?
    };
    let n = rows.len() as f64;
    // Totals: the loss summed over the rows, the rows right (NaN: no accuracy), the rows.
    let mut totals = [part.loss * n, part.accuracy.map_or(f64::NAN, |a| (a * n).round()), n];
    sum(&mut totals)?;
    if totals[2] == n {
        // No other process evaluated rows: this part is the whole.
        return Ok(part);
    }
    let right = (totals[1].is_finite()).then_some(totals[1] as usize);
    Ok(metrics(totals[0] / totals[2], right, totals[2] as usize))
}

/// The metrics of rows `range` of `data` from `rows` run on chunks of at most
/// [`EVAL_CHUNK_ROWS`] rows (the whole data set when it fits): the mean loss is the
/// row-weighted mean of the chunks' means.
fn in_chunks<F: Float>(
    data: &Dataset<F>,
    range: Range<usize>,
    mut rows: impl FnMut(&Tensor<F>, Targets<'_, F>) -> Result<(f64, Option<usize>)>,
) -> Result<Metrics> {
    let n = range.len();
    if range == (0..data.len()) && n <= EVAL_CHUNK_ROWS {
        let (value, right) = rows(data.features(), data.targets().into())?;
        return Ok(metrics(value, right, n));
    }
    let (mut total, mut right) = (0.0, Some(0));
    let mut chunk = Vec::with_capacity(EVAL_CHUNK_ROWS.min(n));
    let mut batch = Batch::new();
    for start in range.clone().step_by(EVAL_CHUNK_ROWS) {
        chunk.clear();
        chunk.extend(start..(start + EVAL_CHUNK_ROWS).min(range.end));
        data.batch_into(&chunk, &mut batch)?;
        let (value, chunk_right) = rows(&batch.features, (&batch.targets).into())?;
        if !value.is_finite() {
            return Ok(metrics(value, None, n));
        }
        total += value * chunk.len() as f64 / n as f64;
        right = right.zip(chunk_right).map(|(a, b)| a + b);
    }
    Ok(metrics(total, right, n))
}

fn metrics(loss: f64, right: Option<usize>, n: usize) -> Metrics {
    Metrics { loss, accuracy: right.filter(|_| loss.is_finite() && n > 0).map(|r| r as f64 / n as f64) }
}

/// The mean loss of one forward pass over `features` and the number of rows classified right
/// (classification only); a non-finite output is returned as the loss.
fn evaluate_rows<F: Float, M: Module>(
    g: &mut Graph<F>,
    model: &mut M,
    loss: Loss,
    features: &Tensor<F>,
    targets: Targets<'_, F>,
) -> Result<(f64, Option<usize>)> {
    g.step(|g| {
        g.no_grad(|g| {
            let x = g.input_copy(features);
            let outputs = model.forward(g, x)?;
            let values = g.value(outputs)?;
            if let Some(i) = backprop_tensor::first_non_finite(values.as_slice()) {
                return Ok((values.as_slice()[i].to_f64(), None));
            }
            let right = match targets {
                Targets::Classes(truth) => {
                    let predicted = loss.predict_classes(values)?;
                    Some(predicted.iter().zip(truth).filter(|(p, t)| p == t).count())
                }
                Targets::Values(_) => None,
            };
            let mean = loss.compute_targets(g, outputs, targets, Reduction::Mean)?;
            Ok((g.value(mean)?.item().to_f64(), right))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use backprop_data::Targets as DataTargets;
    use backprop_nn::{Activation, MlpSpec};
    use backprop_tensor::TensorRng;

    /// One dense layer with weight 1 and bias 0 on x: the logits equal the inputs.
    fn identity_model(g: &mut Graph<f64>) -> backprop_nn::Sequential {
        let model =
            MlpSpec::new(&[1, 1], Activation::Identity).build(g, &mut TensorRng::seed_from_u64(0)).unwrap();
        let tensors = [
            ("0.weight".to_string(), Tensor::from_vec(&[1, 1], vec![1.0])),
            ("0.bias".to_string(), Tensor::from_vec(&[1], vec![0.0])),
        ];
        model.load_state_dict(g, &tensors).unwrap();
        model
    }

    #[test]
    fn metrics_of_a_known_model() {
        let mut g = Graph::<f64>::new();
        let mut model = identity_model(&mut g);
        let x = Tensor::from_vec(&[4, 1], vec![-2.0, -1.0, 1.0, 3.0]);
        let y = DataTargets::Classes { indices: vec![0, 1, 1, 1], names: vec!["a".into(), "b".into()] };
        let data = Dataset::new(x, y, vec!["x".into()]).unwrap();
        let m = evaluate(&mut g, &mut model, Loss::BceWithLogits, &data).unwrap();
        assert_eq!(m.accuracy, Some(0.75));
        let softplus = |z: f64| (1.0 + z.exp()).ln();
        let expected = (softplus(-2.0) + softplus(1.0) + softplus(-1.0) + softplus(-3.0)) / 4.0;
        assert!((m.loss - expected).abs() < 1e-12, "{} vs {expected}", m.loss);
        // The hinge loss reads the same classes as -1/+1: max(0, 1 - y·x).
        let m = evaluate(&mut g, &mut model, Loss::Hinge, &data).unwrap();
        assert_eq!(m.loss, (0.0 + 2.0 + 0.0 + 0.0) / 4.0);
        assert_eq!(m.accuracy, Some(0.75));
        assert_eq!(g.len(), 0, "evaluation leaves no nodes on the tape");
    }

    #[test]
    fn large_data_is_evaluated_in_chunks_with_the_same_mean() {
        let mut g = Graph::<f64>::new();
        let mut model = identity_model(&mut g);
        let n = 2 * EVAL_CHUNK_ROWS + 5;
        let x: Vec<f64> = (0..n).map(|i| (i % 7) as f64 - 3.0).collect();
        let y: Vec<f64> = (0..n).map(|i| (i % 5) as f64).collect();
        let mean = x.iter().zip(&y).map(|(a, b)| (a - b) * (a - b)).sum::<f64>() / n as f64;
        let data = Dataset::new(
            Tensor::from_vec(&[n, 1], x),
            DataTargets::Values(Tensor::from_vec(&[n, 1], y)),
            vec!["x".into()],
        )
        .unwrap();
        let m = evaluate(&mut g, &mut model, Loss::Mse, &data).unwrap();
        assert!((m.loss - mean).abs() < 1e-12 * mean, "{} vs {mean}", m.loss);
        assert_eq!(m.accuracy, None);
    }
}
