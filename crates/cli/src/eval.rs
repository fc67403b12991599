//! `backprop eval`: a saved model's loss and accuracy on a data set, split as `train` split it.

use std::path::Path;
use std::time::Instant;

use backprop_data::{Dataset, Feature};
use backprop_nn::{ModelMeta, Task, read_model_header};
use backprop_tensor::Float;
use backprop_train::evaluate;
use serde_json::json;

use crate::args::EvalArgs;
use crate::data_source::{
    Prepared, csv_for_model, default_test_fraction, images_for_model, playground_data, split,
};
use crate::error::{CliError, Result};
use crate::model::load_model_or_checkpoint;
use crate::report::{EpochRecord, Scores, emit, report_json_with};
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
    let (train, test, source) = match (args.data.dataset, &args.data.csv) {
        _ if args.data.images.given() => {
            for (given, flag) in
                [(args.data.target.is_some(), "--target"), (args.data.noise.is_some(), "--noise")]
            {
                if given {
                    return Err(CliError::usage(format!("{flag} does not apply to IDX images")));
                }
            }
            if let Some(f) = args.data.test_fraction {
                return Err(CliError::usage(format!(
                    "--test-fraction {f} does not apply to IDX images: eval scores the files as they are (--idx: its t10k files)"
                )));
            }
            let classes = classes.as_deref().ok_or_else(|| {
                CliError::file(&args.model, "the model is a regression model; IDX images have class labels")
            })?;
            let inputs = model_feature_names(&args.model, &meta)?.len();
            let sets = images_for_model::<F>(&args.data.images, classes, inputs)?;
            (sets.all, sets.test, json!({"images": sets.source}))
        }
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
            crate::model::check_classes(&args.model, &meta.class_names, p.train.targets().class_names())?;
            (
                Some(p.train),
                p.test,
                json!({"dataset": dataset.name(), "noise": args.data.noise.unwrap_or(0.0)}),
            )
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
            (Some(train), test, json!({"csv": path.display().to_string(), "target": target}))
        }
        (None, None) => unreachable!("clap requires --dataset, --csv, --idx or --images"),
    };
    // The parts scored: the training part (all rows without a test set) and the test part.
    let mut parts: Vec<(&str, Dataset<F>)> = Vec::new();
    parts.extend(train.map(|t| (if test.is_some() { "train" } else { "all" }, t)));
    parts.extend(test.map(|t| ("test", t)));
    if let Some(standardizer) = &meta.input_scaling {
        for (_, set) in &mut parts {
            standardizer.apply_to_dataset(set)?;
        }
    }
    let start = Instant::now();
    let mut metrics = Vec::with_capacity(parts.len());
    for (_, set) in &parts {
        metrics.push(evaluate(&mut g, &mut model, meta.loss, set)?);
    }
    let seconds = start.elapsed().as_secs_f64();
    for ((name, set), m) in parts.iter().zip(&metrics) {
        // A scaled input that overflowed may still give a finite loss (a saturated unit).
        if !m.loss.is_finite() || set.features().as_slice().iter().any(|v| !v.is_finite()) {
            return Err(non_finite_loss(&g, &model, &meta, (name, set), m.loss, &source));
        }
    }
    let (first, last) = (metrics[0], metrics[metrics.len() - 1]);
    let tested = parts.last().is_some_and(|(name, _)| *name == "test");
    let record = EpochRecord {
        epoch: 0,
        train_loss: first.loss,
        test_loss: tested.then_some(last.loss),
        train_accuracy: first.accuracy,
        test_accuracy: if tested { last.accuracy } else { None },
        seconds: None,
    };
    // The report of the last part: the test set when there is one, as train reports.
    let (scored_name, scored) = parts.last().map(|(n, d)| (*n, d)).expect("at least one part");
    let scores = Scores::of(&g, &model, &meta, scored)?;
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
            "train_rows": parts.iter().find(|(n, _)| *n != "test").map(|(_, d)| d.len()),
            "test_rows": parts.iter().find(|(n, _)| *n == "test").map(|(_, d)| d.len()),
        });
        let shown = Some((scored_name, scored.len(), &scores));
        emit(&report_json_with(settings, &[record], classification, seconds, shown).to_string());
    } else {
        emit(&format!(
            "model {} ({}, {}): {}",
            args.model.display(),
            meta.task,
            meta.loss,
            model_summary(&meta)
        ));
        for ((name, set), m) in parts.iter().zip(&metrics) {
            emit(&line(name, m.loss, m.accuracy, set.len()));
        }
        emit(&scores.to_text(scored_name, scored.len()));
    }
    Ok(())
}

/// The error of a part whose loss is not finite: the first row whose output is not finite
/// (rows numbered from 1 in the part's order; with --test-fraction 0, the file's), or else the
/// targets' size.
fn non_finite_loss<F: Float>(
    g: &backprop_autograd::Graph<F>,
    model: &backprop_nn::Sequential,
    meta: &ModelMeta,
    (part, set): (&str, &Dataset<F>),
    loss: f64,
    source: &serde_json::Value,
) -> CliError {
    let data = source
        .as_object()
        .and_then(|o| o.values().next())
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    let rows = match part {
        "all" => "data",
        "train" => "training",
        other => other,
    };
    let outputs = match model.predict(g, set.features()) {
        Ok(outputs) => outputs,
        Err(e) => return e.into(),
    };
    match crate::model::non_finite_output(set.features(), &outputs, &meta.feature_names) {
        Some((row, what)) => {
            CliError::Runtime(format!("{data}: {rows} row {} of {}: {what}", row + 1, set.len()))
        }
        None => CliError::Runtime(format!(
            "{data}: the loss over the {rows} rows is {loss}, not a finite number: the targets are too large for {} arithmetic",
            F::NAME
        )),
    }
}

fn line(part: &str, loss: f64, accuracy: Option<f64>, rows: usize) -> String {
    match accuracy {
        Some(a) => format!("{part:<5}  loss {}  accuracy {a:.4}  ({rows} rows)", fixed(loss)),
        None => format!("{part:<5}  loss {}  ({rows} rows)", fixed(loss)),
    }
}

/// A loss with 6 decimals, in scientific notation when that would take dozens of digits.
fn fixed(loss: f64) -> String {
    if loss.abs() >= 1e9 { crate::error::number(loss) } else { format!("{loss:.6}") }
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
