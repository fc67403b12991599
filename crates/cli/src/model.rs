//! The model side of a run: which loss a task takes, the loss's targets, the metrics of a data
//! set, and weights read from an `--init` file.

use std::path::Path;

use backprop_autograd::Graph;
use backprop_data::{Dataset, Targets};
use backprop_nn::model_file::{build_from_file, check_model_tensors, header_of};
use backprop_nn::safetensors_file::SafetensorsFile;
use backprop_nn::{
    LayerSpec, Loss, ModelFileError, ModelFileErrorKind, ModelMeta, Reduction, Sequential, accuracy,
};
use backprop_tensor::{Float, Tensor};

use crate::args::LossName;
use crate::error::{CliError, Result};

/// What the data asks for: classes (with their names) or `outputs` real values.
#[derive(Debug, Clone, PartialEq)]
pub enum TaskKind {
    /// Classification into these classes.
    Classes(Vec<String>),
    /// Regression on this many target columns.
    Values(usize),
}

impl TaskKind {
    /// The task of a data set's targets.
    pub fn of<F: Float>(targets: &Targets<F>) -> Self {
        match targets {
            Targets::Classes { names, .. } => TaskKind::Classes(names.clone()),
            Targets::Values(v) => TaskKind::Values(v.shape()[1]),
        }
    }

    /// A short description for messages: `3 classes` or `numbers`.
    fn describe(&self) -> String {
        match self {
            TaskKind::Classes(names) => format!("{} classes", names.len()),
            TaskKind::Values(_) => "numbers".to_string(),
        }
    }
}

/// The loss for `--loss` (or its default) on a task: 2 classes take `log` (binary
/// cross-entropy on one logit) by default, more classes `ce`, numbers `mse`.
///
/// # Errors
/// A loss that does not fit the task (usage error).
pub fn resolve_loss(choice: Option<LossName>, task: &TaskKind, target: &str) -> Result<Loss> {
    let misfit = |name: &str, fits: &str| {
        CliError::usage(format!(
            "--loss {name} does not fit the target '{target}', which holds {}; use {fits}",
            task.describe()
        ))
    };
    Ok(match (task, choice) {
        (TaskKind::Classes(names), choice) => {
            let binary = names.len() == 2;
            match choice {
                None | Some(LossName::Log) if binary => Loss::BceWithLogits,
                None | Some(LossName::Log) | Some(LossName::Ce) => Loss::CrossEntropy,
                Some(LossName::Hinge) if binary => Loss::Hinge,
                Some(LossName::Hinge) => Loss::MultiMargin,
                Some(LossName::Mse) => return Err(misfit("mse", "log, ce or hinge")),
            }
        }
        (TaskKind::Values(_), None | Some(LossName::Mse)) => Loss::Mse,
        (TaskKind::Values(_), Some(other)) => {
            let name = match other {
                LossName::Log => "log",
                LossName::Ce => "ce",
                _ => "hinge",
            };
            return Err(misfit(name, "mse"));
        }
    })
}

/// The number of model outputs the loss needs on the task.
pub fn outputs(loss: Loss, task: &TaskKind) -> usize {
    match (loss, task) {
        (Loss::CrossEntropy | Loss::MultiMargin, TaskKind::Classes(names)) => names.len(),
        (_, TaskKind::Values(t)) => *t,
        _ => 1,
    }
}

/// The loss's target tensor `[n, 1]` for class indices: 0/1 for binary cross-entropy, ±1 for
/// hinge and logistic losses, the index itself for the multi-class losses.
pub fn class_targets<F: Float>(loss: Loss, classes: &[usize]) -> Tensor<F> {
    let value = |c: usize| match loss {
        Loss::Hinge | Loss::LogisticPm1 => {
            if c == 1 {
                F::one()
            } else {
                -F::one()
            }
        }
        _ => F::from_f64(c as f64),
    };
    Tensor::from_vec(&[classes.len(), 1], classes.iter().map(|&c| value(c)).collect())
}

/// The loss's targets for every row of `data`.
pub fn targets_of<F: Float>(loss: Loss, data: &Dataset<F>) -> Tensor<F> {
    match data.targets() {
        Targets::Classes { indices, .. } => class_targets(loss, indices),
        Targets::Values(v) => v.clone(),
    }
}

/// Loss and (for classification) accuracy of a model on a data set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Metrics {
    /// The mean loss (without penalties).
    pub loss: f64,
    /// The fraction of rows classified right; `None` for regression.
    pub accuracy: Option<f64>,
}

/// The metrics of `model` on `data` (inference mode, no tape). Outputs that are not finite
/// give that value as the loss (and no accuracy), for the caller to report divergence.
///
/// # Errors
/// When the model does not fit the data's shape.
pub fn evaluate<F: Float>(
    g: &Graph<F>,
    model: &Sequential,
    loss: Loss,
    data: &Dataset<F>,
) -> Result<Metrics> {
    let outputs = model.predict(g, data.features())?;
    if let Some(&bad) = outputs.as_slice().iter().find(|v| !v.is_finite()) {
        // A diverged model: the loss functions refuse such outputs; the caller reports it.
        return Ok(Metrics { loss: bad.to_f64(), accuracy: None });
    }
    let mut lg = Graph::<F>::new();
    let (o, t) = (lg.input(outputs.clone()), lg.input(targets_of(loss, data)));
    let loss_var = loss.compute(&mut lg, o, t, Reduction::Mean)?;
    let value = lg.value(loss_var)?.item().to_f64();
    let accuracy = match data.targets() {
        Targets::Classes { indices, .. } => Some(accuracy(&loss.predict_classes(&outputs)?, indices)?),
        Targets::Values(_) => None,
    };
    Ok(Metrics { loss: value, accuracy })
}

/// The numbers of inputs and outputs of a layer list (first and last dense layers).
pub fn io_sizes(specs: &[LayerSpec]) -> (usize, usize) {
    let dense = |s: &LayerSpec| match *s {
        LayerSpec::Dense { in_features, out_features, .. } => Some((in_features, out_features)),
        _ => None,
    };
    let inputs = specs.iter().find_map(dense).map_or(0, |d| d.0);
    let outputs = specs.iter().rev().find_map(dense).map_or(0, |d| d.1);
    (inputs, outputs)
}

/// The hidden sizes of a layer list (every dense layer's output but the last).
pub fn hidden_sizes(specs: &[LayerSpec]) -> Vec<usize> {
    let mut outs: Vec<usize> = specs
        .iter()
        .filter_map(|s| match *s {
            LayerSpec::Dense { out_features, .. } => Some(out_features),
            _ => None,
        })
        .collect();
    outs.pop();
    outs
}

/// Copies the tensors of a safetensors file into `model` by their `Sequential` names
/// (`0.weight` as `[out, in]`, `0.bias`), converting `f64` to `f32` or back. A checkpoint's
/// optimizer tensors (`optimizer.*`) are skipped, so a checkpoint can start a new run.
///
/// # Errors
/// A missing tensor, one the model does not have, a shape that does not fit, or a value that
/// is not finite, each naming the file and the tensor.
pub fn load_init_weights<F: Float>(
    file: &SafetensorsFile,
    model: &Sequential,
    g: &mut Graph<F>,
) -> Result<()> {
    let expected = model.state_dict_shapes();
    let err = |kind| CliError::from(backprop_nn::NnError::from(ModelFileError::new(file.path(), kind)));
    for name in file.names() {
        // A checkpoint's optimizer state is not weights: training restarts its optimizer.
        if !expected.iter().any(|(n, _)| *n == name) && !name.starts_with(backprop_optim::OPTIMIZER_PREFIX) {
            let shape = file.shape(&name).unwrap_or_default();
            return Err(err(ModelFileErrorKind::UnexpectedTensor { name, shape }));
        }
    }
    let mut tensors = Vec::with_capacity(expected.len());
    for (name, shape) in &expected {
        let t = read_any_float::<F>(file, name, shape)
            .map_err(|e| CliError::from(backprop_nn::NnError::from(e)))?;
        if let Some(index) = t.as_slice().iter().position(|v| !v.is_finite()) {
            let value = t.as_slice()[index].to_f64();
            return Err(err(ModelFileErrorKind::NonFinite { name: name.clone(), index, value }));
        }
        tensors.push((name.clone(), t));
    }
    model.load_state_dict(g, &tensors)?;
    Ok(())
}

/// Reads tensor `name` of shape `shape` as `F`, whether stored as `f32` or `f64`.
fn read_any_float<F: Float>(
    file: &SafetensorsFile,
    name: &str,
    shape: &[usize],
) -> Result<Tensor<F>, ModelFileError> {
    match file.tensor::<F>(name, Some(shape)) {
        Err(ModelFileError { kind: ModelFileErrorKind::DtypeMismatch { .. }, .. }) => {
            let values: Vec<F> = if F::NAME == "f32" {
                file.tensor::<f64>(name, Some(shape))?.as_slice().iter().map(|&v| F::from_f64(v)).collect()
            } else {
                file.tensor::<f32>(name, Some(shape))?
                    .as_slice()
                    .iter()
                    .map(|&v| F::from_f64(f64::from(v)))
                    .collect()
            };
            Ok(Tensor::from_vec(shape, values))
        }
        other => other,
    }
}

/// Loads a model file, or the model of a `--checkpoint` file (its optimizer state is skipped),
/// for `eval` and `predict`: the last good checkpoint of a diverged run is a usable model.
///
/// # Errors
/// As [`backprop_nn::load_model`]: a file that cannot be read, is not a model file, or whose
/// tensors do not fit its metadata.
pub fn load_model_or_checkpoint<F: Float>(path: &Path) -> Result<(Graph<F>, Sequential, ModelMeta)> {
    let file = read_init_file(path)?;
    let nn = |e: ModelFileError| CliError::from(backprop_nn::NnError::from(e));
    let header = header_of(&file, "model").map_err(nn)?;
    check_model_tensors(&file, &header, &[backprop_optim::OPTIMIZER_PREFIX]).map_err(nn)?;
    let (g, model) = build_from_file::<F>(&file, &header)?;
    Ok((g, model, header.meta))
}

/// Reads a safetensors file for `--init`.
///
/// # Errors
/// When it cannot be read or is not a safetensors file.
pub fn read_init_file(path: &Path) -> Result<SafetensorsFile> {
    SafetensorsFile::read(path).map_err(|e| CliError::from(backprop_nn::NnError::from(e)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use backprop_nn::{Activation, MlpSpec};
    use backprop_tensor::TensorRng;

    fn classes(n: usize) -> TaskKind {
        TaskKind::Classes((0..n).map(|i| i.to_string()).collect())
    }

    #[test]
    fn losses_follow_the_task() {
        assert_eq!(resolve_loss(None, &classes(2), "y").unwrap(), Loss::BceWithLogits);
        assert_eq!(resolve_loss(None, &classes(3), "y").unwrap(), Loss::CrossEntropy);
        assert_eq!(resolve_loss(Some(LossName::Log), &classes(3), "y").unwrap(), Loss::CrossEntropy);
        assert_eq!(resolve_loss(Some(LossName::Ce), &classes(2), "y").unwrap(), Loss::CrossEntropy);
        assert_eq!(resolve_loss(Some(LossName::Hinge), &classes(2), "y").unwrap(), Loss::Hinge);
        assert_eq!(resolve_loss(Some(LossName::Hinge), &classes(4), "y").unwrap(), Loss::MultiMargin);
        assert_eq!(resolve_loss(None, &TaskKind::Values(1), "y").unwrap(), Loss::Mse);
        let err = resolve_loss(Some(LossName::Mse), &classes(3), "species").unwrap_err();
        assert_eq!(
            (err.exit_code(), err.to_string()),
            (
                2,
                "--loss mse does not fit the target 'species', which holds 3 classes; use log, ce or hinge"
                    .into()
            )
        );
        let err = resolve_loss(Some(LossName::Ce), &TaskKind::Values(1), "price").unwrap_err();
        assert_eq!(
            err.to_string(),
            "--loss ce does not fit the target 'price', which holds numbers; use mse"
        );
        assert_eq!(outputs(Loss::CrossEntropy, &classes(2)), 2);
        assert_eq!(outputs(Loss::BceWithLogits, &classes(2)), 1);
        assert_eq!(outputs(Loss::Mse, &TaskKind::Values(3)), 3);
    }

    #[test]
    fn targets_take_each_loss_convention() {
        let c = [0, 1, 1];
        assert_eq!(class_targets::<f32>(Loss::BceWithLogits, &c).to_vec(), vec![0.0, 1.0, 1.0]);
        assert_eq!(class_targets::<f32>(Loss::Hinge, &c).to_vec(), vec![-1.0, 1.0, 1.0]);
        assert_eq!(class_targets::<f64>(Loss::CrossEntropy, &[2, 0]).to_vec(), vec![2.0, 0.0]);
    }

    #[test]
    fn metrics_of_a_known_model() {
        // One dense layer with weight 1 and bias 0 on x: logits equal the inputs.
        let mut g = Graph::<f64>::new();
        let model = MlpSpec::new(&[1, 1], Activation::Identity)
            .build(&mut g, &mut TensorRng::seed_from_u64(0))
            .unwrap();
        model
            .load_state_dict(
                &mut g,
                &[
                    ("0.weight".into(), Tensor::from_vec(&[1, 1], vec![1.0])),
                    ("0.bias".into(), Tensor::from_vec(&[1], vec![0.0])),
                ],
            )
            .unwrap();
        let x = Tensor::from_vec(&[4, 1], vec![-2.0, -1.0, 1.0, 3.0]);
        let y = Targets::Classes { indices: vec![0, 1, 1, 1], names: vec!["a".into(), "b".into()] };
        let data = Dataset::new(x, y, vec!["x".into()]).unwrap();
        let m = evaluate(&g, &model, Loss::BceWithLogits, &data).unwrap();
        assert_eq!(m.accuracy, Some(0.75));
        let softplus = |z: f64| (1.0 + z.exp()).ln();
        let expected = (softplus(-2.0) + softplus(1.0) + softplus(-1.0) + softplus(-3.0)) / 4.0;
        assert!((m.loss - expected).abs() < 1e-12, "{} vs {expected}", m.loss);
    }
}
