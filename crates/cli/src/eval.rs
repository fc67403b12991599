//! `backprop eval`: a saved model's loss and accuracy on a data set, split as `train` split it.

use std::path::Path;
use std::time::Instant;

use backprop_data::{Dataset, Feature};
use backprop_nn::{ModelMeta, Task, read_model_header};
use backprop_tensor::Float;
use backprop_train::evaluate;
use serde_json::json;

use crate::args::EvalArgs;
use crate::data_source::{Prepared, csv_for_model, default_test_fraction, playground_data, split};
use crate::error::{CliError, Result};
use crate::model::load_model_or_checkpoint;
use crate::report::{EpochRecord, emit, report_json};
use crate::set_threads;

/// Runs `backprop eval`.
///
/// # Errors
/// An unreadable model or data file, or data that does not fit the model.
pub fn run(args: &EvalArgs) -> Result<()> {
    set_threads(args.threads)?;
    let header = read_model_header(&args.model)?;
    if header.dtype == "f64" { run_typed::<f64>(args) } else { run_typed::<f32>(args) }
}

fn run_typed<F: Float>(args: &EvalArgs) -> Result<()> {
    let (mut g, mut model, meta) = load_model_or_checkpoint::<F>(&args.model)?;
    let playground = args.data.dataset.is_some();
    let test_fraction = args.data.test_fraction.unwrap_or(default_test_fraction(playground));
    let seed = args.data.seed;
    let n_outputs = model.out_features().unwrap_or(0);
    let classes = (meta.task != Task::Regression).then(|| class_names(&meta, n_outputs));
    let (mut train, mut test, source) = match (args.data.dataset, &args.data.csv) {
        (Some(dataset), _) => {
            if args.data.target.is_some() {
                return Err(CliError::usage(
                    "--target names a CSV column; it goes with --csv, not --dataset",
                ));
            }
            let features = playground_features(&args.model, &meta)?;
            if dataset.is_classification() != classes.is_some() {
                return Err(CliError::file(
                    &args.model,
                    format!(
                        "the model is a {} model but {} is a {} data set",
                        meta.task,
                        dataset.name(),
                        if dataset.is_classification() { "classification" } else { "regression" }
                    ),
                ));
            }
            let p: Prepared<F> =
                playground_data(dataset, args.data.noise.unwrap_or(0.0), &features, seed, test_fraction)?;
            (p.train, p.test, json!({"dataset": dataset.name(), "noise": args.data.noise.unwrap_or(0.0)}))
        }
        (None, Some(path)) => {
            if args.data.noise.is_some() {
                return Err(CliError::usage(
                    "--noise applies to Playground data sets (--dataset), not to CSV files",
                ));
            }
            let names = model_feature_names(&args.model, &meta)?;
            let (all, target) =
                csv_for_model::<F>(path, args.data.target.as_deref(), &names, classes.as_deref())?;
            let (train, test) = split(&all, test_fraction, seed)?;
            (train, test, json!({"csv": path.display().to_string(), "target": target}))
        }
        (None, None) => unreachable!("clap requires --dataset or --csv"),
    };
    if let Some(s) = &meta.input_scaling {
        for set in std::iter::once(&mut train).chain(test.as_mut()) {
            let standardizer = s;
            standardizer.apply_to_dataset(set)?;
        }
    }
    let start = Instant::now();
    let train_metrics = evaluate(&mut g, &mut model, meta.loss, &train)?;
    let test_metrics = test.as_ref().map(|t| evaluate(&mut g, &mut model, meta.loss, t)).transpose()?;
    let seconds = start.elapsed().as_secs_f64();
    let record = EpochRecord {
        epoch: 0,
        train_loss: train_metrics.loss,
        test_loss: test_metrics.map(|m| m.loss),
        train_accuracy: train_metrics.accuracy,
        test_accuracy: test_metrics.and_then(|m| m.accuracy),
    };
    let classification = meta.task != Task::Regression;
    if args.json {
        let settings = json!({
            "command": "eval",
            "model": args.model.display().to_string(),
            "data": source,
            "task": meta.task.to_string(),
            "loss": meta.loss.name(),
            "features": meta.feature_names,
            "classes": classes,
            "test_fraction": test_fraction,
            "seed": seed,
            "train_rows": train.len(),
            "test_rows": test.as_ref().map(Dataset::len),
        });
        emit(&report_json(settings, &[record], classification, seconds).to_string());
    } else {
        emit(&format!(
            "model {} ({}, {}): {}",
            args.model.display(),
            meta.task,
            meta.loss,
            model_summary(&meta)
        ));
        let part = if test.is_some() { "train" } else { "all  " };
        emit(&line(part, train_metrics.loss, train_metrics.accuracy, train.len()));
        if let (Some(m), Some(t)) = (test_metrics, &test) {
            emit(&line("test ", m.loss, m.accuracy, t.len()));
        }
    }
    Ok(())
}

fn line(part: &str, loss: f64, accuracy: Option<f64>, rows: usize) -> String {
    match accuracy {
        Some(a) => format!("{part}  loss {loss:.6}  accuracy {a:.4}  ({rows} rows)"),
        None => format!("{part}  loss {loss:.6}  ({rows} rows)"),
    }
}

fn model_summary(meta: &ModelMeta) -> String {
    format!("features {}", meta.feature_names.join(","))
}

/// The model's class names, or `0`, `1`, ... when it has none.
pub fn class_names(meta: &ModelMeta, n_outputs: usize) -> Vec<String> {
    if !meta.class_names.is_empty() {
        return meta.class_names.clone();
    }
    let n = if meta.task == Task::Binary { 2 } else { n_outputs };
    (0..n).map(|i| i.to_string()).collect()
}

/// The model's feature names; a model without them cannot be matched to columns.
pub fn model_feature_names(path: &Path, meta: &ModelMeta) -> Result<Vec<String>> {
    if meta.feature_names.is_empty() {
        return Err(CliError::file(
            path,
            "the model file names no input features, so its columns cannot be found; save it with backprop train",
        ));
    }
    Ok(meta.feature_names.clone())
}

/// The model's features as Playground features.
fn playground_features(path: &Path, meta: &ModelMeta) -> Result<Vec<Feature>> {
    let names = model_feature_names(path, meta)?;
    names.iter().map(|n| n.parse::<Feature>()).collect::<std::result::Result<Vec<_>, _>>().map_err(|_| {
        CliError::file(
            path,
            format!(
                "the model's features [{}] are not Playground features (x1, x2, x1sq, x2sq, x1x2, sinx1, sinx2); evaluate it with --csv",
                names.join(", ")
            ),
        )
    })
}
