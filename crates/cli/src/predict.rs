//! `backprop predict`: a saved model's prediction for every row of a CSV file.
//!
//! The output has the input's columns, then `prediction` (the class name for classifiers, the
//! value for regression) and, for classifiers, one `p_<class>` column per class with its
//! probability (for hinge-loss models, σ or softmax of the margins: a score, not a calibrated
//! probability).
//!
//! On IDX images (`--images FILE`, or `--idx DIR` for its t10k images) the output has one row
//! per image, in file order: `index` (from 0), `prediction` and the `p_<class>` columns.

use std::io::Write;

use backprop_autograd::Graph;
use backprop_nn::safetensors_file::write_atomic_with;
use backprop_nn::{ModelMeta, Sequential, Task, read_model_header};
use backprop_tensor::{Float, Tensor};

use crate::args::PredictArgs;
use crate::error::{CliError, Result};
use crate::eval::{class_names, model_feature_names};
use crate::model::load_model_or_checkpoint;
use crate::report::emit;
use crate::set_threads;
use backprop_data::{CsvChunks, CsvTable, MnistSet, csv_chunk_rows, load_idx_images};

/// Runs `backprop predict`.
///
/// A CSV file is read, predicted and written a chunk of rows at a time
/// ([`backprop_data::CSV_CHUNK_ROWS`], or `BACKPROP_CSV_CHUNK_ROWS`), so that memory does not
/// grow with the file. A bad cell in a later chunk leaves no `--out` file (it is written
/// atomically); on standard output, the rows of the chunks before it have been written.
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
    let predictor = Predictor { g: &g, model: &model, meta: &meta, names: &names, csv: args.csv.is_some() };
    match (&args.csv, &args.idx, &args.images) {
        (Some(csv), _, _) => {
            let mut chunks = CsvChunks::open(csv, csv_chunk_rows())?;
            let header = output_header(&meta, predictor.n_outputs(), chunks.header(), chunks.source())?;
            // The first chunk is predicted before anything is written, so that a file whose
            // first rows cannot be predicted (a missing column, a bad cell) writes nothing.
            let first = chunks.next_chunk()?.expect("the first chunk is rows or an error");
            let first = predictor.predict_csv(first)?;
            write_output(args, &header, |rows| {
                rows.write(&meta, &first)?;
                while let Some(table) = chunks.next_chunk()? {
                    rows.write(&meta, &predictor.predict_csv(table)?)?;
                }
                Ok(())
            })
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
            let table = index_table(&path, x.shape()[0]);
            let header = output_header(&meta, predictor.n_outputs(), &table.header, &table.source)?;
            let chunk = predictor.predict(table, x)?;
            write_output(args, &header, |rows| rows.write(&meta, &chunk))
        }
    }
}

/// A model and what its predictions need: its feature names (the columns it reads) and
/// whether rows come from a CSV file (named by line) or images (by index).
struct Predictor<'a, F: Float> {
    g: &'a Graph<F>,
    model: &'a Sequential,
    meta: &'a ModelMeta,
    names: &'a [String],
    csv: bool,
}

/// Rows and the model's outputs for them.
struct Predicted<F: Float> {
    table: CsvTable,
    outputs: Tensor<F>,
}

impl<F: Float> Predictor<'_, F> {
    /// The model's outputs: one, or one per class.
    fn n_outputs(&self) -> usize {
        self.model.out_features().unwrap_or(1)
    }

    /// The predictions of a chunk of CSV rows (their feature columns, Playground features
    /// derived from `x1`, `x2`).
    ///
    /// # Errors
    /// As [`Predictor::predict`], and a missing column or a bad cell.
    fn predict_csv(&self, table: CsvTable) -> Result<Predicted<F>> {
        let x = table.playground_feature_matrix::<F>(self.names)?;
        self.predict(table, x)
    }

    /// The model's outputs on the rows of `table`, whose inputs are `x` (before the model's
    /// input scaling).
    ///
    /// # Errors
    /// A prediction that is not finite, naming the row (its line in the file, or the image).
    fn predict(&self, table: CsvTable, mut x: Tensor<F>) -> Result<Predicted<F>> {
        if let Some(s) = &self.meta.input_scaling {
            s.apply_in_place(&mut x)?;
        }
        let outputs = self.model.predict(self.g, &x)?;
        if let Some((row, what)) = crate::model::non_finite_output(&x, &outputs, self.names) {
            let place = if self.csv {
                format!("{}:{}", table.source, table.lines[row])
            } else {
                format!("{}: image {}", table.source, table.lines[row] - 1)
            };
            return Err(CliError::Runtime(format!("{place}: {what}")));
        }
        Ok(Predicted { table, outputs })
    }
}

/// The output's header: the input's columns, then `prediction` (or `prediction_i` for
/// several regression outputs) and, for classifiers, `p_<class>` per class.
///
/// # Errors
/// When the input already has one of the added columns.
fn output_header(meta: &ModelMeta, n_outputs: usize, input: &[String], source: &str) -> Result<Vec<String>> {
    let added: Vec<String> = match meta.task {
        Task::Regression if n_outputs == 1 => vec!["prediction".into()],
        Task::Regression => (0..n_outputs).map(|i| format!("prediction_{i}")).collect(),
        Task::Binary | Task::MultiClass => {
            let classes = class_names(meta, n_outputs);
            std::iter::once("prediction".to_string())
                .chain(classes.iter().map(|c| format!("p_{c}")))
                .collect()
        }
    };
    if let Some(clash) = added.iter().find(|a| input.contains(a)) {
        return Err(CliError::file(
            std::path::Path::new(source),
            format!(
                "the input already has a column named '{clash}', which the predictions would repeat; rename it"
            ),
        ));
    }
    Ok(input.iter().cloned().chain(added).collect())
}

/// Writes the output: atomically to `--out` (nothing is left of it when `body` fails), or to
/// standard output (a reader that stops reading, as `head` does, ends the output quietly).
fn write_output(
    args: &PredictArgs,
    header: &[String],
    body: impl FnOnce(&mut Rows<'_>) -> Result<()>,
) -> Result<()> {
    match &args.out {
        Some(path) => {
            let mut count = 0;
            write_atomic_with(path, |out| {
                let mut rows = Rows::new(out, header)?;
                body(&mut rows)?;
                count = rows.finish()?;
                Ok::<(), CliError>(())
            })?;
            emit(&format!("wrote {count} predictions to {}", path.display()));
            Ok(())
        }
        None => {
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            let mut rows = Rows::new(&mut out, header)?;
            let result = body(&mut rows).and_then(|()| rows.finish().map(drop));
            match (result, rows.write_error.take()) {
                (Err(_), Some(e)) | (Ok(()), Some(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
                (_, Some(e)) => Err(CliError::Runtime(format!("cannot write to stdout: {e}"))),
                (result, None) => result,
            }
        }
    }
}

/// The output's rows, written as CSV; the first write error is kept, for the caller to report
/// as it reports its output's errors.
struct Rows<'w> {
    writer: csv::Writer<&'w mut dyn Write>,
    count: usize,
    write_error: Option<std::io::Error>,
}

impl<'w> Rows<'w> {
    /// Starts the output with its header row.
    fn new(out: &'w mut dyn Write, header: &[String]) -> Result<Self> {
        let mut rows = Rows { writer: csv::Writer::from_writer(out), count: 0, write_error: None };
        let written = rows.writer.write_record(header);
        rows.check(written)?;
        Ok(rows)
    }

    /// Keeps a write error and turns it into the command's error.
    fn check<T>(&mut self, result: csv::Result<T>) -> Result<T> {
        result.map_err(|e| {
            let message = format!("cannot write the predictions: {e}");
            if let csv::ErrorKind::Io(io) = e.into_kind() {
                self.write_error.get_or_insert(io);
            }
            CliError::Runtime(message)
        })
    }

    /// Writes a chunk's rows: their cells, then the prediction (the class name and the class
    /// probabilities for classifiers, the values for regression).
    fn write<F: Float>(&mut self, meta: &ModelMeta, chunk: &Predicted<F>) -> Result<()> {
        let outputs = &chunk.outputs;
        let width = outputs.shape().get(1).copied().unwrap_or(1).max(1);
        let classes = (meta.task != Task::Regression).then(|| class_names(meta, width));
        let (labels, probabilities) = match &classes {
            Some(_) => (Some(meta.loss.predict_classes(outputs)?), Some(meta.loss.probabilities(outputs)?)),
            None => (None, None),
        };
        for (i, cells) in chunk.table.rows.iter().enumerate() {
            let mut record = cells.clone();
            match (&classes, &labels, &probabilities) {
                (Some(classes), Some(labels), Some(p)) => {
                    record.push(classes[labels[i]].clone());
                    let c = p.shape()[1];
                    record.extend(p.as_slice()[i * c..(i + 1) * c].iter().map(|&v| crate::error::number(v)));
                }
                _ => record.extend(
                    outputs.as_slice()[i * width..(i + 1) * width].iter().map(|&v| crate::error::number(v)),
                ),
            }
            let written = self.writer.write_record(&record);
            self.check(written)?;
        }
        self.count += chunk.table.len();
        Ok(())
    }

    /// Flushes the rows; returns how many were written.
    fn finish(&mut self) -> Result<usize> {
        let flushed = self.writer.flush().map_err(csv::Error::from);
        self.check(flushed)?;
        Ok(self.count)
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use backprop_nn::Loss;

    /// The CSV text of `chunks` written under the header of `input`'s columns and the model's.
    fn written(meta: &ModelMeta, chunks: &[(&CsvTable, Tensor<f64>)]) -> Result<String> {
        let width = chunks[0].1.shape()[1];
        let header = output_header(meta, width, &chunks[0].0.header, &chunks[0].0.source)?;
        let mut out = Vec::new();
        let mut rows = Rows::new(&mut out, &header)?;
        for (table, outputs) in chunks {
            rows.write(meta, &Predicted { table: (*table).clone(), outputs: outputs.clone() })?;
        }
        assert_eq!(rows.finish()?, chunks.iter().map(|c| c.0.len()).sum::<usize>());
        drop(rows);
        Ok(String::from_utf8(out).unwrap())
    }

    #[test]
    fn classifier_rows_get_labels_and_probabilities() {
        let table = CsvTable::parse(b"a,note\n1,x\n2,\"y,z\"\n".to_vec(), "in.csv").unwrap();
        let mut meta = ModelMeta::new(Loss::BceWithLogits);
        meta.class_names = vec!["no".into(), "yes".into()];
        let out = Tensor::from_vec(&[2, 1], vec![-1000.0_f64, 1000.0]);
        let text = written(&meta, &[(&table, out.clone())]).unwrap();
        assert_eq!(text, "a,note,prediction,p_no,p_yes\n1,x,no,1,0\n2,\"y,z\",yes,0,1\n");
        // Two chunks write the rows of each, under one header.
        let text = written(&meta, &[(&table, out.clone()), (&table, out)]).unwrap();
        assert_eq!(
            text,
            "a,note,prediction,p_no,p_yes\n1,x,no,1,0\n2,\"y,z\",yes,0,1\n1,x,no,1,0\n2,\"y,z\",yes,0,1\n"
        );
        let reg = ModelMeta::new(Loss::Mse);
        let text = written(&reg, &[(&table, Tensor::from_vec(&[2, 1], vec![0.5, -2.25]))]).unwrap();
        assert_eq!(text, "a,note,prediction\n1,x,0.5\n2,\"y,z\",-2.25\n");
        let clash = CsvTable::parse(b"a,prediction\n1,2\n".to_vec(), "in.csv").unwrap();
        let err = written(&reg, &[(&clash, Tensor::from_vec(&[1, 1], vec![0.0]))]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "in.csv: the input already has a column named 'prediction', which the predictions would repeat; rename it"
        );
    }
}
