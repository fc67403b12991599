//! What a run prints: per-epoch records, the JSON report, the progress bar or plain lines.

use std::io::{IsTerminal, Write};
use std::time::Instant;

use backprop_autograd::Graph;
use backprop_data::{Dataset, Targets};
use backprop_nn::{ModelMeta, Sequential};
use backprop_tensor::Float;
use backprop_train::{
    ClassificationReport, Control, Observer, RegressionReport, Result as TrainResult, Snapshot, StepReport,
    classification_report, regression_report_of,
};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Map, Value, json};

/// The numbers of one epoch (epoch 0 is before training).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EpochRecord {
    /// Epochs trained so far.
    pub epoch: usize,
    /// Mean loss over the training set.
    pub train_loss: f64,
    /// Mean loss over the test set; `None` without one.
    pub test_loss: Option<f64>,
    /// Fraction of training rows classified right (classification only).
    pub train_accuracy: Option<f64>,
    /// Fraction of test rows classified right (classification with a test set only).
    pub test_accuracy: Option<f64>,
    /// Seconds of the epoch's optimizer steps (batches, forward, backward, update; not the
    /// evaluation), as `torch_fmnist.py` times an epoch; `None` for epoch 0 and for `eval`.
    pub seconds: Option<f64>,
}

impl From<&backprop_train::EpochRecord> for EpochRecord {
    /// The report's view of a trainer record (evaluated epochs: the command evaluates every one).
    fn from(r: &backprop_train::EpochRecord) -> Self {
        EpochRecord {
            epoch: r.epoch as usize,
            train_loss: r.train.map_or(f64::NAN, |m| m.loss),
            test_loss: r.validation.map(|m| m.loss),
            train_accuracy: r.train.and_then(|m| m.accuracy),
            test_accuracy: r.validation.and_then(|m| m.accuracy),
            seconds: None,
        }
    }
}

impl EpochRecord {
    /// The record as JSON: `epoch`, `seconds` (of the epoch's steps; null for epoch 0),
    /// `train_loss`, `test_loss` (null without a test set) and, for classification,
    /// `train_accuracy` and `test_accuracy`.
    pub fn to_json(self, classification: bool) -> Value {
        let mut m = Map::new();
        m.insert("epoch".into(), json!(self.epoch));
        m.insert("seconds".into(), json!(self.seconds));
        m.insert("train_loss".into(), json!(self.train_loss));
        m.insert("test_loss".into(), json!(self.test_loss));
        if classification {
            m.insert("train_accuracy".into(), json!(self.train_accuracy));
            m.insert("test_accuracy".into(), json!(self.test_accuracy));
        }
        Value::Object(m)
    }

    /// The record on one line: `epoch 10/300  train_loss 0.123456  test_loss ...`.
    pub fn to_line(self, epochs: usize) -> String {
        let width = epochs.to_string().len();
        let mut line = format!("epoch {:>width$}/{epochs}  train_loss {:.6}", self.epoch, self.train_loss);
        if let Some(v) = self.test_loss {
            line.push_str(&format!("  test_loss {v:.6}"));
        }
        if let Some(v) = self.train_accuracy {
            line.push_str(&format!("  train_accuracy {v:.4}"));
        }
        if let Some(v) = self.test_accuracy {
            line.push_str(&format!("  test_accuracy {v:.4}"));
        }
        line
    }
}

/// The JSON report of a run: `settings`, `history` (one record per epoch from 0), `final`
/// (the last record) and `seconds` of training.
pub fn report_json(settings: Value, history: &[EpochRecord], classification: bool, seconds: f64) -> Value {
    let records: Vec<Value> = history.iter().map(|r| r.to_json(classification)).collect();
    json!({
        "settings": settings,
        "final": records.last().cloned().unwrap_or(Value::Null),
        "history": records,
        "seconds": seconds,
    })
}

/// The scores of a run on one set, as the report shows them: `(set name, rows, scores)`.
pub type SetScores<'a> = (&'a str, usize, &'a Scores);

/// [`report_json`] with the run's `report` ([`Scores::to_json`], null without scores).
pub fn report_json_with(
    settings: Value,
    history: &[EpochRecord],
    classification: bool,
    seconds: f64,
    scores: Option<SetScores>,
) -> Value {
    let mut report = report_json(settings, history, classification, seconds);
    report["report"] = scores.map_or(Value::Null, |(set, _, s)| s.to_json(set));
    report
}

/// The end of a run's output: the JSON report with `--json` (`settings` built only then), else
/// the final record's line and one line per file written (`("saved the model to", path)`).
#[allow(clippy::too_many_arguments)]
pub fn finish_run(
    json: bool,
    settings: impl FnOnce() -> Value,
    history: &[EpochRecord],
    classification: bool,
    seconds: f64,
    epochs: usize,
    written: &[(&str, Option<&std::path::Path>)],
    scores: Option<SetScores>,
) {
    if json {
        emit(&report_json_with(settings(), history, classification, seconds, scores).to_string());
        return;
    }
    let last = history.last().expect("epoch 0 is always recorded");
    emit(&format!("final {}  ({seconds:.2} s)", last.to_line(epochs)));
    if let Some((set, rows, s)) = scores {
        emit(&s.to_text(set, rows));
    }
    for (what, path) in written {
        if let Some(path) = path {
            emit(&format!("{what} {}", path.display()));
        }
    }
}

/// The metrics people read of a model on one data set: scikit-learn's classification report
/// and confusion matrix for classes, R², RMSE and MAE for numbers (backprop-train's functions).
#[derive(Debug, Clone, PartialEq)]
pub enum Scores {
    /// A classifier's report.
    Classes(ClassificationReport),
    /// A regression model's report.
    Numbers(RegressionReport),
}

impl Scores {
    /// The scores of the model's predictions on `data`, whose targets are in the model's terms
    /// (class indices of the model's classes, or values). The model runs on chunks of
    /// [`backprop_train::EVAL_CHUNK_ROWS`] rows, as the evaluation does, so that its
    /// activations take bounded memory however many rows there are.
    ///
    /// # Errors
    /// When the data does not fit the model.
    pub fn of<F: Float>(
        g: &Graph<F>,
        model: &Sequential,
        meta: &ModelMeta,
        data: &Dataset<F>,
    ) -> crate::error::Result<Self> {
        let k = data.num_features();
        let mut predicted: Vec<usize> = Vec::new();
        let mut outputs: Vec<F> = Vec::new();
        let width = model.out_features().unwrap_or(1);
        for rows in data.features().as_slice().chunks(backprop_train::EVAL_CHUNK_ROWS * k.max(1)) {
            let x = backprop_tensor::Tensor::from_vec(&[rows.len() / k.max(1), k], rows.to_vec());
            let out = model.predict(g, &x)?;
            match data.targets() {
                Targets::Classes { .. } => predicted.extend(meta.loss.predict_classes(&out)?),
                Targets::Values(_) => outputs.extend_from_slice(out.as_slice()),
            }
        }
        Ok(match data.targets() {
            Targets::Classes { indices, names } => {
                Scores::Classes(classification_report(indices, &predicted, names)?)
            }
            Targets::Values(values) => {
                let rows = outputs.len() / width.max(1);
                let outputs = backprop_tensor::Tensor::from_vec(&[rows, width], outputs);
                Scores::Numbers(regression_report_of(values, &outputs)?)
            }
        })
    }

    /// The scores as JSON, with the name of the set they are about: `{"set": "test", ...}` and
    /// the report's fields (`classes`, `class_names`, `accuracy`, `macro_avg`, `weighted_avg`,
    /// `confusion`; or `r2`, `rmse`, `mae`, `rows`).
    pub fn to_json(&self, set: &str) -> Value {
        let fields = match self {
            Scores::Classes(r) => serde_json::to_value(r),
            Scores::Numbers(r) => serde_json::to_value(r),
        };
        let mut m = match fields {
            Ok(Value::Object(m)) => m,
            // Both reports are plain structs of numbers and strings.
            _ => unreachable!("a report serializes to an object"),
        };
        m.insert("set".into(), json!(set));
        Value::Object(m)
    }

    /// The scores as text under a line naming the set.
    pub fn to_text(&self, set: &str, rows: usize) -> String {
        let body = match self {
            Scores::Classes(r) => r.to_string(),
            Scores::Numbers(r) => r.to_string(),
        };
        format!("{set} set ({rows} rows):\n{}", body.trim_end())
    }
}

/// Times the optimizer steps of each epoch (from the end of the previous epoch's record to the
/// epoch's last step), so that the evaluation after an epoch and the other observers' work are
/// not counted. It must be the last observer, so that its clock starts after theirs.
#[derive(Debug, Default)]
pub struct EpochTimer {
    started: Option<Instant>,
    last_step: Option<Instant>,
    seconds: Vec<(usize, f64)>,
}

impl EpochTimer {
    /// The seconds of `epoch`'s steps, if it was timed.
    pub fn seconds(&self, epoch: usize) -> Option<f64> {
        self.seconds.iter().find(|(e, _)| *e == epoch).map(|&(_, s)| s)
    }
}

impl<F: Float, M> Observer<F, M> for EpochTimer {
    fn on_step(&mut self, _step: &StepReport) -> Control {
        self.last_step = Some(Instant::now());
        Control::Continue
    }

    fn on_epoch_end(
        &mut self,
        _run: &Snapshot<'_, F, M>,
        record: &backprop_train::EpochRecord,
    ) -> TrainResult<Control> {
        if let (Some(start), Some(end)) = (self.started, self.last_step.take()) {
            self.seconds.push((record.epoch as usize, end.duration_since(start).as_secs_f64()));
        }
        self.started = Some(Instant::now());
        Ok(Control::Continue)
    }
}

/// The first error writing stdout, reported when the command ends ([`stdout_result`]).
static STDOUT_ERROR: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

/// Writes `bytes` to stdout and flushes. A closed pipe (`backprop ... | head`) is not an error:
/// the reader wanted no more.
///
/// # Errors
/// Any other write error (a full disk: `> /dev/full`), naming stdout.
pub fn write_stdout(bytes: &[u8]) -> crate::error::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(crate::error::CliError::Runtime(format!("cannot write to stdout: {e}")))
        }
        _ => Ok(()),
    }
}

/// Writes `text` and a line break to stdout. A write error does not stop the run (losing the
/// report must not lose a model being trained): the first one is kept and makes the command
/// fail at its end ([`stdout_result`]).
pub fn emit(text: &str) {
    if crate::distributed::quiet() {
        return;
    }
    if let Err(e) = write_stdout(format!("{text}\n").as_bytes()) {
        let mut first = STDOUT_ERROR.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        first.get_or_insert(e.to_string());
    }
}

/// The first error [`emit`] met, as the command's error.
///
/// # Errors
/// When a write to stdout failed.
pub fn stdout_result() -> crate::error::Result<()> {
    let first = STDOUT_ERROR.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    first.clone().map_or(Ok(()), |e| Err(crate::error::CliError::Runtime(e)))
}

/// Progress of a training run: a progress bar on a terminal (stderr), plain lines on stdout
/// otherwise (about 20 of them), nothing with `--json` unless stderr is a terminal.
pub struct Progress {
    bar: Option<ProgressBar>,
    plain_every: Option<usize>,
    epochs: usize,
}

impl Progress {
    /// Progress for a run of `epochs` epochs.
    pub fn new(epochs: usize, json: bool) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(epochs as u64);
            let style =
                ProgressStyle::with_template("epoch {pos}/{len} {msg} {wide_bar:.cyan/blue} {elapsed}<{eta}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar
        });
        let plain_every = (bar.is_none() && !json).then(|| (epochs / 20).max(1));
        Progress { bar, plain_every, epochs }
    }

    /// Shows the record of an epoch.
    pub fn update(&self, record: &EpochRecord) {
        if let Some(bar) = &self.bar {
            bar.set_position(record.epoch as u64);
            let mut msg = format!("loss {:.4}", record.train_loss);
            if let Some(v) = record.test_loss {
                msg.push_str(&format!(" test {v:.4}"));
            }
            if let Some(v) = record.test_accuracy.or(record.train_accuracy) {
                msg.push_str(&format!(" acc {v:.3}"));
            }
            bar.set_message(msg);
        } else if let Some(every) = self.plain_every
            && (record.epoch.is_multiple_of(every) || record.epoch == self.epochs)
        {
            emit(&record.to_line(self.epochs));
        }
    }

    /// Removes the progress bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl<F: backprop_tensor::Float, M> Observer<F, M> for Progress {
    fn on_epoch_end(
        &mut self,
        _run: &Snapshot<'_, F, M>,
        record: &backprop_train::EpochRecord,
    ) -> TrainResult<Control> {
        self.update(&EpochRecord::from(record));
        Ok(Control::Continue)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_and_report_layout() {
        let r0 = EpochRecord {
            epoch: 0,
            train_loss: 0.5,
            test_loss: None,
            train_accuracy: Some(0.5),
            test_accuracy: None,
            seconds: None,
        };
        let r1 = EpochRecord { epoch: 1, train_loss: 0.25, seconds: Some(0.75), ..r0 };
        let report = report_json(json!({"lr": 0.1}), &[r0, r1], true, 1.5);
        assert_eq!(
            report,
            json!({
                "settings": {"lr": 0.1},
                "history": [
                    {"epoch": 0, "seconds": null, "train_loss": 0.5, "test_loss": null, "train_accuracy": 0.5, "test_accuracy": null},
                    {"epoch": 1, "seconds": 0.75, "train_loss": 0.25, "test_loss": null, "train_accuracy": 0.5, "test_accuracy": null},
                ],
                "final": {"epoch": 1, "seconds": 0.75, "train_loss": 0.25, "test_loss": null, "train_accuracy": 0.5, "test_accuracy": null},
                "seconds": 1.5,
            })
        );
        let regression = r1.to_json(false);
        assert!(regression.get("train_accuracy").is_none() && regression["test_loss"].is_null());
        let line = EpochRecord { test_loss: Some(0.125), test_accuracy: Some(1.0), ..r1 }.to_line(300);
        assert_eq!(
            line,
            "epoch   1/300  train_loss 0.250000  test_loss 0.125000  train_accuracy 0.5000  test_accuracy 1.0000"
        );
    }
}
