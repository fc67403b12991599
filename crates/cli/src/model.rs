//! The model side of a run: which loss a task takes, the loss's targets, the metrics of a data
//! set, and weights read from an `--init` file.

use std::path::Path;

use backprop_autograd::Graph;
use backprop_data::Targets;
use backprop_nn::model_file::{build_from_file, check_model_tensors, header_of};
use backprop_nn::safetensors_file::SafetensorsFile;
use backprop_nn::{LayerSpec, Loss, ModelFileError, ModelMeta, Sequential};
use backprop_tensor::Float;

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
    check_model_tensors(&file, &header, &[backprop_train::OPTIMIZER_PREFIX]).map_err(nn)?;
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

/// Checks that a model's classes are the data's (a model of CSV classes `a`, `b` on a
/// Playground set's `-1`, `1`, say): a model without class names, or data without classes,
/// passes.
///
/// # Errors
/// Naming the model file and both lists.
pub fn check_classes(path: &Path, model_classes: &[String], data_classes: Option<&[String]>) -> Result<()> {
    match data_classes {
        Some(data) if !model_classes.is_empty() && model_classes != data => Err(CliError::file(
            path,
            format!(
                "the model's classes are [{}] but the data's are [{}]",
                model_classes.join(", "),
                data.join(", ")
            ),
        )),
        _ => Ok(()),
    }
}

/// The first row whose prediction cannot be trusted, with a sentence saying why: an input that
/// is not finite after the model's input scaling (`x`, e.g. `3e38` divided by a small standard
/// deviation overflows f32), or an output that is not finite (then the row's largest scaled
/// input is named, the usual cause). The caller names the row (a file line, a row number).
pub fn non_finite_output<F: Float>(
    x: &backprop_tensor::Tensor<F>,
    outputs: &backprop_tensor::Tensor<F>,
    feature_names: &[String],
) -> Option<(usize, String)> {
    let width = outputs.shape().get(1).copied().unwrap_or(1).max(1);
    let k = x.shape().get(1).copied().unwrap_or(0).max(1);
    let name = |j: usize| feature_names.get(j).map_or("?", String::as_str).to_string();
    let rows = x.as_slice().chunks(k).zip(outputs.as_slice().chunks(width));
    for (row, (inputs, outs)) in rows.enumerate() {
        if let Some(j) = inputs.iter().position(|v| !v.is_finite()) {
            return Some((
                row,
                format!(
                    "the input '{}' is {} after the model's input scaling, beyond {} arithmetic, so no prediction can be made for this row",
                    name(j),
                    inputs[j],
                    F::NAME
                ),
            ));
        }
        if let Some(v) = outs.iter().find(|v| !v.is_finite()) {
            let (j, big) = inputs
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.abs().to_f64().total_cmp(&b.1.abs().to_f64()))
                .map_or((0, F::zero()), |(j, &v)| (j, v));
            return Some((
                row,
                format!(
                    "the model's output is {v}, not a finite number: its input '{}' is {} after the model's input scaling, too large for {} arithmetic",
                    name(j),
                    crate::error::number(big),
                    F::NAME
                ),
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
