//! What `train` says about a run: its first line, the picture's title and the settings of
//! `--json`.

use backprop_data::{Dataset, Targets};
use backprop_nn::{LayerSpec, ModelMeta};
use backprop_optim::OptimizerConfig;
use serde_json::{Value, json};

use crate::F;
use crate::args::TrainArgs;
use crate::data_source::{Origin, Prepared};
use crate::model::{hidden_sizes, io_sizes};
use crate::report::EpochRecord;

/// `1,2,3`.
pub fn join(sizes: &[usize]) -> String {
    sizes.iter().map(ToString::to_string).collect::<Vec<_>>().join(",")
}

/// The layer widths `in → hidden… → out`.
fn widths(specs: &[LayerSpec]) -> Vec<usize> {
    let (inputs, _) = io_sizes(specs);
    let mut w = vec![inputs];
    w.extend(specs.iter().filter_map(|s| match *s {
        LayerSpec::Dense { out_features, .. } => Some(out_features),
        _ => None,
    }));
    w
}

/// The hidden activation of a layer list (the first one), `identity` without hidden layers.
fn activation_name(specs: &[LayerSpec]) -> String {
    specs
        .iter()
        .find_map(|s| if let LayerSpec::Activation(a) = s { Some(a.to_string()) } else { None })
        .unwrap_or_else(|| "identity".into())
}

fn source_name(data: &Prepared<F>) -> String {
    match &data.origin {
        Origin::Playground { dataset, .. } => dataset.name().to_string(),
        Origin::Csv { path, .. } => {
            path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned())
        }
        Origin::Images { source, .. } => source.clone(),
    }
}

/// A resolved training run, as the command describes it.
pub struct RunSummary<'a> {
    /// The data, after the split.
    pub data: &'a Prepared<F>,
    /// The layers.
    pub specs: &'a [LayerSpec],
    /// The model's metadata.
    pub meta: &'a ModelMeta,
    /// The optimizer, with its learning rate.
    pub optimizer: OptimizerConfig,
    /// The learning rate.
    pub lr: f64,
    /// Rows per mini-batch.
    pub batch_size: usize,
}

impl RunSummary<'_> {
    /// `2-16-16-3`.
    fn widths_text(&self) -> String {
        widths(self.specs).iter().map(ToString::to_string).collect::<Vec<_>>().join("-")
    }

    /// The first line of a text run: what is trained on what.
    pub fn describe(&self) -> String {
        let data = self.data;
        let test = data.test.as_ref().map_or("no test set".to_string(), |t| format!("{} test rows", t.len()));
        format!(
            "training {} ({}, {}) with {} lr {} batch {} on {}: {} training rows, {test}",
            self.widths_text(),
            activation_name(self.specs),
            self.meta.loss,
            self.optimizer.name(),
            self.lr,
            self.batch_size,
            source_name(data),
            data.train.len()
        )
    }

    /// The picture's title.
    pub fn title(&self, history: &[EpochRecord]) -> String {
        let last = history.last().expect("epoch 0 is always recorded");
        let mut t = format!(
            "{}: {} {} after {} epochs",
            source_name(self.data),
            self.widths_text(),
            activation_name(self.specs),
            last.epoch
        );
        match (last.test_accuracy, last.train_accuracy, last.test_loss) {
            (Some(a), _, _) => t.push_str(&format!(", test accuracy {a:.3}")),
            (None, Some(a), _) => t.push_str(&format!(", train accuracy {a:.3}")),
            (None, None, Some(l)) => t.push_str(&format!(", test loss {l:.4}")),
            (None, None, None) => t.push_str(&format!(", train loss {:.4}", last.train_loss)),
        }
        t
    }

    /// The resolved settings, for `--json`; `test_fraction` is `None` when test files are the
    /// test set.
    pub fn settings_json(&self, args: &TrainArgs, test_fraction: Option<f64>, threads: usize) -> Value {
        let (data, meta, specs) = (self.data, self.meta, self.specs);
        let path = |p: &Option<std::path::PathBuf>| p.as_ref().map(|p| p.display().to_string());
        let source = match &data.origin {
            Origin::Playground { dataset, .. } => {
                json!({"dataset": dataset.name(), "noise": args.data.noise.unwrap_or(0.0)})
            }
            Origin::Csv { path, target, task_reason } => {
                json!({"csv": path.display().to_string(), "target": target, "task_reason": task_reason})
            }
            Origin::Images { source, test_source } => json!({"images": source, "test": test_source}),
        };
        json!({
            "command": "train",
            "data": source,
            "features": meta.feature_names,
            "task": meta.task.to_string(),
            "classes": match data.train.targets() { Targets::Classes { names, .. } => json!(names), Targets::Values(_) => Value::Null },
            "train_rows": data.train.len(),
            "test_rows": data.test.as_ref().map(Dataset::len),
            "test_fraction": test_fraction,
            "scale": if meta.input_scaling.is_some() { "standard" } else { "none" },
            "layers": hidden_sizes(specs),
            "sizes": widths(specs),
            "activation": activation_name(specs),
            "loss": meta.loss.name(),
            "optimizer": self.optimizer,
            "lr": self.lr,
            "batch_size": self.batch_size,
            "epochs": args.epochs,
            "l1": args.l1,
            "l2": args.l2,
            "seed": args.data.seed,
            "threads": threads,
            // What the training thread does, not only what was asked: a processor without the
            // modes keeps subnormal numbers.
            "flush_denormal": backprop_tensor::flush_denormal(),
            "init": path(&args.init),
            "save": path(&args.save),
            "checkpoint": path(&args.checkpoint),
            "plot": path(&args.plot),
        })
    }
}
