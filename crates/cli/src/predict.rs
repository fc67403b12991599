//! `backprop predict`: a saved model's prediction for every row of a CSV file.
//!
//! The output has the input's columns, then `prediction` (the class name for classifiers, the
//! value for regression) and, for classifiers, one `p_<class>` column per class with its
//! probability (for hinge-loss models, σ or softmax of the margins: a score, not a calibrated
//! probability).
//!
//! On IDX images (`--images FILE`, or `--idx DIR` for its t10k images) the output has one row
//! per image, in file order: `index` (from 0), `prediction` and the `p_<class>` columns.

use backprop_nn::safetensors_file::write_atomic;
use backprop_nn::{ModelMeta, NnError, Task, read_model_header};
use backprop_tensor::{Float, Tensor};

use crate::args::PredictArgs;
use crate::error::{CliError, Result};
use crate::eval::{class_names, model_feature_names};
use crate::model::load_model_or_checkpoint;
use crate::report::emit;
use crate::set_threads;
use backprop_data::{CsvTable, MnistSet, load_idx_images};

/// Runs `backprop predict`.
///
/// # Errors
/// An unreadable model or CSV file, a missing feature column, a bad cell, or an output file
/// that cannot be written.
pub fn run(args: &PredictArgs) -> Result<()> {
    set_threads(args.threads)?;
    let idx = crate::outputs::idx_files(args.idx.as_deref());
    let mut inputs = vec![
        ("--model", Some(args.model.as_path())),
        ("--csv", args.csv.as_deref()),
        ("--images", args.images.as_deref()),
    ];
    inputs.extend(idx.iter().map(|p| ("--idx", Some(p.as_path()))));
    crate::outputs::check_outputs(&inputs, &[("--out", args.out.as_deref())])?;
    let header = read_model_header(&args.model)?;
    if header.dtype == "f64" { run_typed::<f64>(args) } else { run_typed::<f32>(args) }
}

fn run_typed<F: Float>(args: &PredictArgs) -> Result<()> {
    let (g, model, meta) = load_model_or_checkpoint::<F>(&args.model)?;
    let names = model_feature_names(&args.model, &meta)?;
    let (table, mut x) = match (&args.csv, &args.idx, &args.images) {
        (Some(csv), _, _) => {
            let table = CsvTable::read(csv)?;
            let x = table.playground_feature_matrix::<F>(&names)?;
            (table, x)
        }
        (None, idx, images) => {
            let path = match (idx, images) {
                (Some(dir), _) => MnistSet::Test.paths(dir)?.0,
                (None, Some(file)) => file.clone(),
                (None, None) => unreachable!("clap requires --csv, --idx or --images"),
            };
            let x = load_idx_images::<F>(&path)?;
            if x.shape()[1] != names.len() {
                return Err(CliError::file(
                    &path,
                    format!(
                        "the images have {} pixels each, but the model takes {} inputs",
                        x.shape()[1],
                        names.len()
                    ),
                ));
            }
            (index_table(&path, x.shape()[0]), x)
        }
    };
    if let Some(s) = &meta.input_scaling {
        s.apply_in_place(&mut x)?;
    }
    let outputs = model.predict(&g, &x)?;
    if let Some((row, what)) = crate::model::non_finite_output(&x, &outputs, &names) {
        let line = table.lines.get(row).copied().unwrap_or(row as u64 + 1);
        let place = if args.csv.is_some() {
            format!("{}:{line}", table.source)
        } else {
            format!("{}: image {row}", table.source)
        };
        return Err(CliError::Runtime(format!("{place}: {what}")));
    }
    let bytes = write_predictions(&table, &meta, &outputs, model.out_features().unwrap_or(1))?;
    match &args.out {
        Some(path) => {
            write_atomic(path, &bytes).map_err(|e| CliError::Nn(NnError::from(e)))?;
            emit(&format!("wrote {} predictions to {}", table.len(), path.display()));
        }
        None => crate::report::write_stdout(&bytes)?,
    }
    Ok(())
}

/// The rows of `count` images as a table of one column, `index` (0, 1, ...), which the
/// predictions follow.
fn index_table(path: &std::path::Path, count: usize) -> CsvTable {
    CsvTable {
        source: path.display().to_string(),
        header: vec!["index".to_string()],
        rows: (0..count).map(|i| vec![i.to_string()]).collect(),
        lines: (0..count as u64).map(|i| i + 1).collect(),
    }
}

/// The output CSV: the input's columns, `prediction`, and `p_<class>` columns for classifiers.
fn write_predictions<F: Float>(
    table: &CsvTable,
    meta: &ModelMeta,
    outputs: &Tensor<F>,
    n_outputs: usize,
) -> Result<Vec<u8>> {
    let mut header = table.header.clone();
    let (labels, probabilities, added) = match meta.task {
        Task::Regression => {
            let added: Vec<String> = if n_outputs == 1 {
                vec!["prediction".into()]
            } else {
                (0..n_outputs).map(|i| format!("prediction_{i}")).collect()
            };
            (None, None, added)
        }
        Task::Binary | Task::MultiClass => {
            let classes = class_names(meta, n_outputs);
            let mut added = vec!["prediction".to_string()];
            added.extend(classes.iter().map(|c| format!("p_{c}")));
            let labels: Vec<String> =
                meta.loss.predict_classes(outputs)?.into_iter().map(|c| classes[c].clone()).collect();
            (Some(labels), Some(meta.loss.probabilities(outputs)?), added)
        }
    };
    if let Some(clash) = added.iter().find(|a| table.header.contains(a)) {
        return Err(CliError::file(
            std::path::Path::new(&table.source),
            format!(
                "the input already has a column named '{clash}', which the predictions would repeat; rename it"
            ),
        ));
    }
    header.extend(added);
    let mut writer = csv::Writer::from_writer(Vec::new());
    let csv_err = |e: csv::Error| CliError::Runtime(format!("cannot write the predictions: {e}"));
    writer.write_record(&header).map_err(csv_err)?;
    let width = outputs.shape().get(1).copied().unwrap_or(1).max(1);
    for (i, cells) in table.rows.iter().enumerate() {
        let mut record = cells.clone();
        match (&labels, &probabilities) {
            (Some(labels), Some(p)) => {
                record.push(labels[i].clone());
                let c = p.shape()[1];
                record.extend(p.as_slice()[i * c..(i + 1) * c].iter().map(|&v| crate::error::number(v)));
            }
            _ => record.extend(
                outputs.as_slice()[i * width..(i + 1) * width].iter().map(|&v| crate::error::number(v)),
            ),
        }
        writer.write_record(&record).map_err(csv_err)?;
    }
    writer.into_inner().map_err(|e| CliError::Runtime(format!("cannot write the predictions: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use backprop_nn::Loss;

    #[test]
    fn classifier_rows_get_labels_and_probabilities() {
        let table = CsvTable::parse(b"a,note\n1,x\n2,\"y,z\"\n".to_vec(), "in.csv").unwrap();
        let mut meta = ModelMeta::new(Loss::BceWithLogits);
        meta.class_names = vec!["no".into(), "yes".into()];
        let out = Tensor::from_vec(&[2, 1], vec![-1000.0_f64, 1000.0]);
        let text = String::from_utf8(write_predictions(&table, &meta, &out, 1).unwrap()).unwrap();
        assert_eq!(text, "a,note,prediction,p_no,p_yes\n1,x,no,1,0\n2,\"y,z\",yes,0,1\n");
        let reg = ModelMeta::new(Loss::Mse);
        let out = Tensor::from_vec(&[2, 1], vec![0.5_f32, -2.25]);
        let text = String::from_utf8(write_predictions(&table, &reg, &out, 1).unwrap()).unwrap();
        assert_eq!(text, "a,note,prediction\n1,x,0.5\n2,\"y,z\",-2.25\n");
        let clash = CsvTable::parse(b"a,prediction\n1,2\n".to_vec(), "in.csv").unwrap();
        let err = write_predictions(&clash, &reg, &Tensor::from_vec(&[1, 1], vec![0.0_f32]), 1).unwrap_err();
        assert_eq!(
            err.to_string(),
            "in.csv: the input already has a column named 'prediction', which the predictions would repeat; rename it"
        );
    }
}
