//! The command line: subcommands, flags, their defaults and the checks of single values.
//!
//! Values that can be judged alone (a learning rate ≤ 0, a batch size of 0, a malformed layer
//! list, an unknown activation) are refused here by clap's value parsers, so their errors are
//! usage errors (exit code 2) naming the flag. Defaults that depend on the data (Playground set
//! or CSV) are `Option`s resolved in `train.rs`.

use std::path::PathBuf;

use backprop_data::{DataError, Feature, PlaygroundDataset, Task};
use backprop_nn::Activation;
use backprop_optim::OptimizerConfig;
use clap::{Args, Parser, Subcommand};

/// `backprop`: train, evaluate and use small neural networks on the CPU.
#[derive(Debug, Parser)]
#[command(
    name = "backprop",
    version,
    about = "Train, evaluate and use small neural networks (MLPs) on the CPU",
    long_about = "Train, evaluate and use small neural networks (multilayer perceptrons) on the CPU.\n\n\
                  Data comes from the TensorFlow Playground's data sets (--dataset circle, xor, gauss, \
                  spiral, plane, multi-gauss), from a CSV file with a header row (--csv FILE --target COL) \
                  or from IDX image files such as MNIST's (--idx DIR, or --images FILE --labels FILE). \
                  Models are saved as safetensors files that PyTorch loads as a torch.nn.Sequential.",
    after_help = "Examples:\n  \
                  backprop train --dataset spiral --features x1,x2,x1sq,x2sq,x1x2,sinx1,sinx2 --layers 16,16,8 \
                  --optimizer adam --lr 0.01 --epochs 300 --plot spiral.png\n  \
                  backprop train --csv iris.csv --target species --save iris.safetensors\n  \
                  backprop eval --model iris.safetensors --csv iris.csv --target species\n  \
                  backprop predict --model iris.safetensors --csv new.csv --out predictions.csv\n  \
                  backprop train --idx /usr/share/datasets/fashion-mnist --layers 512,256 --optimizer adam \
                  --lr 0.001 --batch-size 128 --epochs 10 --scale none --save fmnist.safetensors --plot fmnist.png\n  \
                  backprop export --model iris.safetensors --onnx iris.onnx\n  \
                  backprop playground --url 'https://playground.tensorflow.org/#dataset=spiral&seed=0.1' --epochs 500"
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Train an MLP on a Playground data set or a CSV file
    #[command(after_help = TRAIN_DEFAULTS)]
    Train(Box<TrainArgs>),
    /// Loss and accuracy of a saved model on a data set (split as `train` splits it)
    Eval(EvalArgs),
    /// Predictions of a saved model for every row of a CSV file
    Predict(PredictArgs),
    /// Export a saved model (with its input scaling) as an ONNX file
    Export(ExportArgs),
    /// Replay a TensorFlow Playground URL with the faithful replica of the page
    Playground(PlaygroundArgs),
    /// The machine (CPU, caches) and the kernels each element type's matrix products run on
    Info,
    /// The Playground in the browser on this engine: a local web app until Ctrl-C
    Serve(ServeArgs),
}

/// The defaults of `train`, shown under its `--help`.
const TRAIN_DEFAULTS: &str = "\
Defaults that depend on the data:
                   Playground set (--dataset)       CSV file (--csv)
  --layers         4,2 (the Playground's)           16,16
  --activation     tanh                             relu
  --optimizer      sgd                              adam
  --lr             0.03                             0.01
  --batch-size     10                               32 (or all rows when fewer)
  --test-fraction  0.5 (the page's 50% split)       0.25 (scikit-learn's)
  --scale          none                             standard (none for IDX images, whose
                                                    pixels are already divided by 255)
  --features       x1,x2                            (every column but the target)
  --loss           2 classes: log (binary cross-entropy on a logit); more classes: ce (softmax
                   cross-entropy); numeric target: mse. A CSV target is a class label when any
                   cell is not a number; --loss log, ce or hinge makes it one (integers only).
IDX images (--idx, --images) take the CSV column's defaults; their labels are classes 0..max.
Other defaults: --epochs 100, --seed 0, --l1 0, --l2 0, --threads = all cores.
Same command, same seed and same --threads give the same model (weights and metadata).";

/// Where the data comes from: a Playground set or a CSV file.
#[derive(Debug, Clone, Args)]
pub struct DataArgs {
    /// TensorFlow Playground data set: circle, xor, gauss, spiral (2 classes), plane,
    /// multi-gauss (regression); the page's reg-plane and reg-gauss are accepted too
    #[arg(
        long,
        value_name = "NAME",
        conflicts_with_all = ["csv", "idx", "images"],
        required_unless_present_any = ["csv", "idx", "images"],
        value_parser = parse_dataset
    )]
    pub dataset: Option<PlaygroundDataset>,
    /// CSV file with a header row; every column but the target is a numeric feature
    #[arg(long, value_name = "FILE", conflicts_with_all = ["idx", "images"])]
    pub csv: Option<PathBuf>,
    /// The images.
    #[command(flatten)]
    pub images: ImageArgs,
    /// The target column of the CSV file (class labels or numbers)
    #[arg(long, value_name = "COL")]
    pub target: Option<String>,
    /// Noise of a Playground set in percent, as the page's slider (0 to 50)
    /// [default: 0]
    #[arg(long, value_name = "PERCENT", value_parser = parse_noise, allow_hyphen_values = true)]
    pub noise: Option<f64>,
    /// Fraction of the rows held out as the test set, in [0, 1); 0 means no test set
    /// [default: 0.5 for Playground sets, 0.25 for CSV]
    #[arg(long, value_name = "F", value_parser = parse_test_fraction, allow_hyphen_values = true)]
    pub test_fraction: Option<f64>,
    /// Seed of the split, the initial weights, the batch order and the Playground points
    #[arg(long, value_name = "N", default_value_t = 0, allow_hyphen_values = true)]
    pub seed: u64,
}

/// Image data in IDX files (MNIST's format, `.gz` or not): a folder of the four MNIST files, or
/// image and label files named one by one.
#[derive(Debug, Clone, Default, Args)]
pub struct ImageArgs {
    /// Folder of MNIST-style IDX files: train-images-idx3-ubyte, train-labels-idx1-ubyte and,
    /// when present, the t10k test files (each may end in .gz); train trains on the train
    /// files and tests on the t10k files (--test-fraction splits the training files when there
    /// are none), eval and predict use the t10k files. u8 pixels are divided by 255
    #[arg(long, value_name = "DIR", conflicts_with = "images")]
    pub idx: Option<PathBuf>,
    /// IDX file of images [n, rows, cols] (u8 pixels are divided by 255), .gz or not
    #[arg(long, value_name = "FILE", requires = "labels")]
    pub images: Option<PathBuf>,
    /// IDX file of the images' class labels [n] (integers from 0)
    #[arg(long, value_name = "FILE", requires = "images")]
    pub labels: Option<PathBuf>,
    /// IDX file of test images (with --images); the test set instead of a --test-fraction split
    #[arg(long, value_name = "FILE", requires_all = ["images", "test_labels"])]
    pub test_images: Option<PathBuf>,
    /// IDX file of the test images' labels
    #[arg(long, value_name = "FILE", requires = "test_images")]
    pub test_labels: Option<PathBuf>,
}

impl ImageArgs {
    /// Whether the data comes from IDX files.
    pub fn given(&self) -> bool {
        self.idx.is_some() || self.images.is_some()
    }
}

/// `backprop train`.
#[derive(Debug, Clone, Args)]
pub struct TrainArgs {
    /// The data.
    #[command(flatten)]
    pub data: DataArgs,
    /// Playground input features, comma-separated, from x1,x2,x1sq,x2sq,x1x2,sinx1,sinx2
    /// [default: x1,x2]
    #[arg(long, value_name = "LIST", value_parser = parse_features)]
    pub features: Option<FeatureList>,
    /// Hidden layer sizes, comma-separated (e.g. 8,8); an empty list for no hidden layer
    /// [default: 4,2 for Playground sets, 16,16 for CSV]
    #[arg(long, value_name = "SIZES", value_parser = parse_layers, allow_hyphen_values = true)]
    pub layers: Option<HiddenSizes>,
    /// Hidden activation: relu, tanh, sigmoid, leaky_relu, leaky_relu:<slope>, identity
    /// [default: tanh for Playground sets, relu for CSV]
    #[arg(long, value_name = "NAME", value_parser = parse_activation)]
    pub activation: Option<Activation>,
    /// Loss: mse (regression), log (binary cross-entropy on logits), ce (softmax
    /// cross-entropy), hinge [default: log for 2 classes, ce for more, mse for numbers]
    #[arg(long, value_name = "NAME", value_parser = parse_loss)]
    pub loss: Option<LossName>,
    /// What a CSV target holds: classification (every distinct value a class, numbers too) or
    /// regression (numbers to fit). [default: a target with text is classes, and a numeric one
    /// is classes when all its values are integers with at most 20 distinct values and at most
    /// half as many as rows (scikit-learn's "multiclass"), numbers otherwise; the choice and its
    /// reason are printed]
    #[arg(long, value_name = "KIND", value_parser = parse_task)]
    pub task: Option<Task>,
    /// Optimizer: sgd, momentum (SGD with momentum 0.9), nesterov (the same, Nesterov's),
    /// adam, adamw, rmsprop, adagrad (PyTorch's defaults otherwise) [default: sgd for Playground sets, adam for CSV]
    #[arg(long, value_name = "NAME", value_parser = parse_optimizer)]
    pub optimizer: Option<OptimizerConfig>,
    /// Learning rate, > 0 [default: 0.03 for Playground sets, 0.01 for CSV]
    #[arg(long, value_name = "RATE", value_parser = parse_lr, allow_hyphen_values = true)]
    pub lr: Option<f64>,
    /// Mini-batch size, at least 1 and at most the number of training rows
    /// [default: 10 for Playground sets, 32 for CSV (at most the training rows)]
    #[arg(long, value_name = "N", value_parser = parse_batch_size, allow_hyphen_values = true)]
    pub batch_size: Option<usize>,
    /// Number of passes over the training set
    #[arg(long, value_name = "N", default_value_t = 100, value_parser = parse_epochs, allow_hyphen_values = true)]
    pub epochs: usize,
    /// L1 penalty λ·Σ|w| on the weights (not the biases)
    #[arg(long, value_name = "LAMBDA", default_value_t = 0.0, value_parser = parse_penalty, allow_hyphen_values = true)]
    pub l1: f64,
    /// L2 penalty (λ/2)·Σw² on the weights (not the biases): PyTorch's weight_decay = λ
    #[arg(long, value_name = "LAMBDA", default_value_t = 0.0, value_parser = parse_penalty, allow_hyphen_values = true)]
    pub l2: f64,
    /// Input scaling fitted on the training set: standard (z-scores) or none
    /// [default: none for Playground sets, standard for CSV]
    #[arg(long, value_name = "HOW", value_parser = parse_scale)]
    pub scale: Option<Scale>,
    /// Start from saved weights: a safetensors file with the model file's tensor names
    /// (0.weight, 0.bias, ...), e.g. a model or a --checkpoint file; with a model file's
    /// metadata its layers (and input scaling) are used, without it the flags give the
    /// architecture and the shapes must fit
    #[arg(long, value_name = "FILE")]
    pub init: Option<PathBuf>,
    /// Save the trained model (safetensors, with everything eval and predict need)
    #[arg(long, value_name = "FILE")]
    pub save: Option<PathBuf>,
    /// Write a checkpoint (model and optimizer state) after every epoch, atomically
    #[arg(long, value_name = "FILE")]
    pub checkpoint: Option<PathBuf>,
    /// Draw the decision boundary (or regression surface) and the loss curves into a PNG file
    #[arg(long, value_name = "FILE.png")]
    pub plot: Option<PathBuf>,
    /// Size of the picture in pixels
    #[arg(long, value_name = "WxH", default_value = "800x800", value_parser = parse_plot_size)]
    pub plot_size: PlotSize,
    /// Threads for BLAS and elementwise kernels [default: all cores]
    #[arg(long, value_name = "N", value_parser = parse_threads, allow_hyphen_values = true)]
    pub threads: Option<usize>,
    /// Flush subnormal numbers to zero while training, the default (as TensorFlow does on the
    /// CPU; PyTorch's torch.set_flush_denormal(True)): Adam's moments of a dead ReLU unit
    /// become subnormal and would slow every later step; results differ from IEEE arithmetic
    /// only below 1.2e-38
    #[arg(long, overrides_with = "no_flush_denormal")]
    pub flush_denormal: bool,
    /// Keep subnormal numbers (IEEE arithmetic all the way down, PyTorch's default), slower
    /// where gradients die out
    #[arg(long, overrides_with = "flush_denormal")]
    pub no_flush_denormal: bool,
    /// The most weights and biases the network may have, checked before anything is
    /// allocated (with gradients and Adam's two moments, 10^8 f32 parameters take 1.6 GB)
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_PARAMS, value_parser = parse_max_params)]
    pub max_params: u64,
    /// Print one JSON object (settings, history, final, seconds) on stdout instead of text
    #[arg(long)]
    pub json: bool,
    /// Data-parallel and deterministic training (crates/cli/src/distributed.rs).
    #[command(flatten)]
    pub distributed: crate::distributed::DistributedArgs,
}

impl TrainArgs {
    /// Whether training flushes subnormal numbers to zero: unless `--no-flush-denormal`.
    pub fn flushes_denormals(&self) -> bool {
        !self.no_flush_denormal
    }
}

/// The default of `--max-params`: 10^8 parameters, 1.6 GB of weights, gradients and Adam state
/// in f32, what a laptop holds; the Playground's own cap (10^6) is for its slower replica.
pub const DEFAULT_MAX_PARAMS: u64 = 100_000_000;

/// Parses `--max-params`: at least 1.
pub fn parse_max_params(text: &str) -> Result<u64, String> {
    match text.trim().parse::<u64>() {
        Ok(0) => Err("the parameter cap must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("'{}' is not a positive whole number", backprop_data::shorten(text))),
    }
}

/// `backprop eval`.
#[derive(Debug, Clone, Args)]
pub struct EvalArgs {
    /// The model file written by `train --save`
    #[arg(long, value_name = "FILE")]
    pub model: PathBuf,
    /// The data, split as `train` splits it (pass the same --seed and --test-fraction to get
    /// the final numbers of training; --test-fraction 0 evaluates every row). The features of
    /// a Playground set are the model's; the CSV target defaults to the one column that is not
    /// a feature of the model.
    #[command(flatten)]
    pub data: DataArgs,
    /// Threads for BLAS and elementwise kernels [default: all cores]
    #[arg(long, value_name = "N", value_parser = parse_threads, allow_hyphen_values = true)]
    pub threads: Option<usize>,
    /// Print one JSON object (settings, history with one entry, final, seconds)
    #[arg(long)]
    pub json: bool,
}

/// `backprop predict`.
#[derive(Debug, Clone, Args)]
pub struct PredictArgs {
    /// The model file written by `train --save`
    #[arg(long, value_name = "FILE")]
    pub model: PathBuf,
    /// Input rows: a CSV file with a header naming the model's feature columns (other columns,
    /// such as the target, are copied through)
    #[arg(long, value_name = "IN", required_unless_present_any = ["idx", "images"], conflicts_with_all = ["idx", "images"])]
    pub csv: Option<PathBuf>,
    /// Folder of MNIST-style IDX files: predicts its t10k test images (one row per image, in
    /// file order: index, prediction, one probability per class)
    #[arg(long, value_name = "DIR", conflicts_with = "images")]
    pub idx: Option<PathBuf>,
    /// IDX file of images to predict (u8 pixels divided by 255, as train reads them), .gz or not
    #[arg(long, value_name = "FILE")]
    pub images: Option<PathBuf>,
    /// Output CSV file (written atomically) [default: stdout]
    #[arg(long, value_name = "OUT")]
    pub out: Option<PathBuf>,
    /// Threads for BLAS and elementwise kernels [default: all cores]
    #[arg(long, value_name = "N", value_parser = parse_threads, allow_hyphen_values = true)]
    pub threads: Option<usize>,
}

/// `backprop export`.
#[derive(Debug, Clone, Args)]
pub struct ExportArgs {
    /// The model file written by `train --save` (or a checkpoint)
    #[arg(long, value_name = "FILE")]
    pub model: PathBuf,
    /// The ONNX file to write (atomically)
    #[arg(long, value_name = "OUT")]
    pub onnx: PathBuf,
}

/// `backprop playground`.
#[derive(Debug, Clone, Args)]
pub struct PlaygroundArgs {
    /// A Playground URL (https://playground.tensorflow.org/#activation=tanh&...) or its hash,
    /// with or without '#'; missing fields take the page's defaults
    #[arg(long, value_name = "URL", allow_hyphen_values = true)]
    pub url: String,
    /// Epochs to train (each one the page's oneStep())
    #[arg(long, value_name = "N", default_value_t = 100, value_parser = parse_epochs, allow_hyphen_values = true)]
    pub epochs: usize,
    /// Draw the page's heat map over [-6, 6]² with the training points, and the loss curves
    #[arg(long, value_name = "FILE.png")]
    pub plot: Option<PathBuf>,
    /// Also draw the test points (black outline)
    #[arg(long)]
    pub show_test: bool,
    /// Size of the picture in pixels
    #[arg(long, value_name = "WxH", default_value = "800x800", value_parser = parse_plot_size)]
    pub plot_size: PlotSize,
    /// Print one JSON object (settings, history, final, seconds) on stdout instead of text
    #[arg(long)]
    pub json: bool,
}

/// `backprop serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// The address to listen on (loopback: only this machine can connect)
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// The port (0 picks a free one; the URL line tells which)
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Open the page in a browser (xdg-open); only warns when that fails
    #[arg(long)]
    pub open: bool,
    /// Sessions (browser tabs) alive at once
    #[arg(long, value_name = "N", default_value_t = 16, value_parser = parse_at_least_one_session)]
    pub max_sessions: usize,
    /// Weights and biases per network
    #[arg(long, value_name = "N", default_value_t = 1_000_000, value_parser = parse_at_least_one_parameter)]
    pub max_params: usize,
    /// Bytes of an uploaded CSV file
    #[arg(long, value_name = "BYTES", default_value_t = 10 * 1024 * 1024, value_parser = parse_upload_bytes)]
    pub max_upload: usize,
    /// Seconds without requests or open streams after which a session ends
    #[arg(long, value_name = "SECS", default_value_t = 600.0, value_parser = parse_idle_timeout, allow_hyphen_values = true)]
    pub idle_timeout: f64,
    /// Milliseconds between two frames of a stream (16: about the display rate)
    #[arg(long, value_name = "MS", default_value_t = 16, value_parser = parse_frame_interval)]
    pub frame_interval: usize,
}

fn parse_frame_interval(text: &str) -> Result<usize, String> {
    parse_at_least_one(text, "frame interval")
}

fn parse_at_least_one_session(text: &str) -> Result<usize, String> {
    parse_at_least_one(text, "session cap")
}

fn parse_at_least_one_parameter(text: &str) -> Result<usize, String> {
    parse_at_least_one(text, "parameter cap")
}

fn parse_upload_bytes(text: &str) -> Result<usize, String> {
    parse_at_least_one(text, "upload size")
}

/// Parses `--idle-timeout`: a finite number of seconds > 0 (at most a year).
fn parse_idle_timeout(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v <= 3.2e7 => Ok(v),
        _ => Err(format!("the idle timeout must be a number of seconds in (0, 3.2e7], got {text}")),
    }
}

/// Playground input features (a newtype, so that clap reads one comma-separated value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeatureList(pub Vec<Feature>);

/// Hidden layer sizes (a newtype, so that clap reads one comma-separated value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HiddenSizes(pub Vec<usize>);

/// The losses offered by `--loss`; which [`backprop_nn::Loss`] each becomes depends on the task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LossName {
    /// Mean squared error (regression).
    Mse,
    /// Logistic loss: binary cross-entropy on one logit (2 classes), softmax cross-entropy
    /// for more classes.
    Log,
    /// Softmax cross-entropy on one logit per class.
    Ce,
    /// Hinge loss on one output with labels ±1 (2 classes), multi-class hinge for more.
    Hinge,
}

impl LossName {
    /// The name `--loss` takes.
    pub fn name(self) -> &'static str {
        match self {
            LossName::Mse => "mse",
            LossName::Log => "log",
            LossName::Ce => "ce",
            LossName::Hinge => "hinge",
        }
    }
}

/// `--scale`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    /// z-scores with the training set's mean and population standard deviation.
    Standard,
    /// Raw inputs.
    None,
}

/// `--plot-size`, in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlotSize {
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
}

/// The reason of a data error, without the operation's name in front.
fn reason(error: DataError) -> String {
    match error {
        DataError::Invalid { reason, .. } => reason,
        other => other.to_string(),
    }
}

/// Parses `--dataset`.
pub fn parse_dataset(text: &str) -> Result<PlaygroundDataset, String> {
    text.trim().to_ascii_lowercase().parse().map_err(reason)
}

/// Parses `--features`.
pub fn parse_features(text: &str) -> Result<FeatureList, String> {
    Feature::parse_list(&text.to_ascii_lowercase()).map(FeatureList).map_err(reason)
}

/// Parses `--layers`: comma-separated positive sizes, or an empty string for none.
pub fn parse_layers(text: &str) -> Result<HiddenSizes, String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Ok(HiddenSizes(Vec::new()));
    }
    let mut sizes = Vec::new();
    for (i, part) in trimmed.split(',').map(str::trim).enumerate() {
        if part.is_empty() {
            return Err(format!("layer {} is empty; write sizes separated by commas, e.g. 8,8", i + 1));
        }
        match part.parse::<usize>() {
            Ok(0) => {
                return Err(format!("layer {} has size 0; every hidden layer needs at least 1 unit", i + 1));
            }
            Ok(n) if n > 1_000_000 => {
                return Err(format!("layer {} has size {n}; at most 1000000 units per layer", i + 1));
            }
            Ok(n) => sizes.push(n),
            Err(_) => {
                return Err(format!(
                    "layer {} is '{part}', not a positive whole number; write sizes separated by commas, e.g. 8,8",
                    i + 1
                ));
            }
        }
    }
    Ok(HiddenSizes(sizes))
}

/// Parses `--activation` (softmax is refused: it is not a hidden activation).
pub fn parse_activation(text: &str) -> Result<Activation, String> {
    let expected = "expected one of relu, tanh, sigmoid, leaky_relu, leaky_relu:<slope>, identity";
    match text.parse::<Activation>() {
        Ok(Activation::Softmax) => Err(format!("softmax is not a hidden activation; {expected}")),
        Ok(a) => Ok(a),
        Err(_) => {
            let lower = text.trim().to_ascii_lowercase();
            match lower.strip_prefix("leaky_relu:").or_else(|| lower.strip_prefix("leakyrelu:")) {
                Some(slope) => Err(format!(
                    "the slope of leaky_relu:<slope> must be a finite number, got '{}'",
                    slope.trim()
                )),
                None => Err(format!("unknown activation '{text}'; {expected}")),
            }
        }
    }
}

/// Parses `--loss`.
pub fn parse_loss(text: &str) -> Result<LossName, String> {
    Ok(match text.trim().to_ascii_lowercase().replace('-', "_").as_str() {
        "mse" | "squared" | "l2" => LossName::Mse,
        "log" | "log_loss" | "logistic" | "bce" | "bce_with_logits" | "binary_cross_entropy" => LossName::Log,
        "ce" | "cross_entropy" | "softmax_cross_entropy" => LossName::Ce,
        "hinge" | "multi_margin" => LossName::Hinge,
        _ => return Err(format!("unknown loss '{text}'; expected one of mse, log, ce, hinge")),
    })
}

/// Parses `--optimizer` into PyTorch's defaults of that optimizer.
pub fn parse_optimizer(text: &str) -> Result<OptimizerConfig, String> {
    OptimizerConfig::from_name(text).map_err(|_| {
        format!("unknown optimizer '{text}'; expected one of {}", OptimizerConfig::CHOICES.join(", "))
    })
}

/// Parses `--lr`: a finite number > 0.
pub fn parse_lr(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        Ok(v) => {
            Err(format!("the learning rate must be a finite number > 0, got {}", crate::error::number(v)))
        }
        Err(_) => Err(format!("'{text}' is not a number")),
    }
}

/// Parses `--l1` and `--l2`: a finite number ≥ 0.
pub fn parse_penalty(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        Ok(v) => Err(format!("a penalty must be a finite number >= 0, got {}", crate::error::number(v))),
        Err(_) => Err(format!("'{text}' is not a number")),
    }
}

/// Parses `--noise`: a finite percentage ≥ 0.
pub fn parse_noise(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        Ok(v) => Err(format!(
            "the noise must be a percentage >= 0 (the page's slider goes 0 to 50), got {}",
            crate::error::number(v)
        )),
        Err(_) => Err(format!("'{text}' is not a number")),
    }
}

/// Parses `--test-fraction`: in [0, 1).
pub fn parse_test_fraction(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(v) if (0.0..1.0).contains(&v) => Ok(v),
        Ok(v) => Err(format!(
            "the test fraction must be in [0, 1) (0 means no test set), got {}",
            crate::error::number(v)
        )),
        Err(_) => Err(format!("'{text}' is not a number")),
    }
}

fn parse_at_least_one(text: &str, what: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(0) => Err(format!("the {what} must be at least 1")),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("'{text}' is not a positive whole number")),
    }
}

/// Parses `--batch-size`: at least 1 (the upper bound, the training set's size, is checked
/// once the data is loaded).
pub fn parse_batch_size(text: &str) -> Result<usize, String> {
    parse_at_least_one(text, "batch size")
}

/// Parses `--bucket-kb`: at least 1.
pub fn parse_bucket_kb(text: &str) -> Result<usize, String> {
    parse_at_least_one(text, "bucket size")
}

/// Parses `--epochs`: at least 1.
pub fn parse_epochs(text: &str) -> Result<usize, String> {
    parse_at_least_one(text, "number of epochs")
}

/// Parses `--threads`: at least 1.
pub fn parse_threads(text: &str) -> Result<usize, String> {
    parse_at_least_one(text, "thread count")
}

/// Parses `--scale`.
pub fn parse_scale(text: &str) -> Result<Scale, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "standard" | "z" | "zscore" => Ok(Scale::Standard),
        "none" => Ok(Scale::None),
        _ => Err(format!("unknown scaling '{text}'; expected standard or none")),
    }
}

/// Parses `--task`.
pub fn parse_task(text: &str) -> Result<Task, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "classification" | "classes" => Ok(Task::Classification),
        "regression" | "numbers" => Ok(Task::Regression),
        _ => Err(format!("unknown task '{text}'; expected classification or regression")),
    }
}

/// Parses `--plot-size WxH`, each side from 200 to 8000 pixels.
pub fn parse_plot_size(text: &str) -> Result<PlotSize, String> {
    let bad = || format!("'{text}' is not a size WxH, e.g. 800x800");
    let (w, h) = text.trim().split_once(['x', 'X']).ok_or_else(bad)?;
    let w: u32 = w.trim().parse().map_err(|_| bad())?;
    let h: u32 = h.trim().parse().map_err(|_| bad())?;
    for side in [w, h] {
        if !(200..=8000).contains(&side) {
            return Err(format!("each side of the picture must be 200 to 8000 pixels, got {w}x{h}"));
        }
    }
    Ok(PlotSize { width: w, height: h })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    /// Asserts that `parse` refuses each input with exactly its message.
    fn refuses<T: std::fmt::Debug>(parse: fn(&str) -> Result<T, String>, cases: &[(&str, &str)]) {
        for &(input, message) in cases {
            assert_eq!(parse(input).unwrap_err(), message, "{input:?}");
        }
    }

    #[test]
    fn layer_lists() {
        assert_eq!(parse_layers("8,8").unwrap(), HiddenSizes(vec![8, 8]));
        assert_eq!(parse_layers(" 16, 4 ").unwrap(), HiddenSizes(vec![16, 4]));
        assert_eq!(parse_layers("").unwrap(), HiddenSizes(vec![]));
        refuses(
            parse_layers,
            &[
                ("8,,8", "layer 2 is empty; write sizes separated by commas, e.g. 8,8"),
                ("8,0", "layer 2 has size 0; every hidden layer needs at least 1 unit"),
                (
                    "8,x",
                    "layer 2 is 'x', not a positive whole number; write sizes separated by commas, e.g. 8,8",
                ),
            ],
        );
        assert!(parse_layers("-3").is_err());
    }

    #[test]
    fn data_sets_and_features() {
        assert_eq!(parse_dataset("Spiral"), Ok(PlaygroundDataset::Spiral));
        assert_eq!(parse_dataset("reg-gauss"), Ok(PlaygroundDataset::MultiGauss));
        refuses(
            parse_dataset,
            &[(
                "moons",
                "unknown data set 'moons'; the data sets are: circle, xor, gauss, spiral, plane, multi-gauss",
            )],
        );
        assert_eq!(
            parse_features("x1,X2,sinx1").unwrap(),
            FeatureList(vec![Feature::X1, Feature::X2, Feature::SinX1])
        );
        refuses(
            parse_features,
            &[(
                "x1,cosx1",
                "unknown feature 'cosx1'; the features are: x1, x2, x1sq, x2sq, x1x2, sinx1, sinx2",
            )],
        );
    }

    #[test]
    fn numbers_and_names() {
        assert_eq!(parse_lr("0.01"), Ok(0.01));
        refuses(
            parse_lr,
            &[
                ("0", "the learning rate must be a finite number > 0, got 0"),
                ("-1", "the learning rate must be a finite number > 0, got -1"),
                ("NaN", "the learning rate must be a finite number > 0, got NaN"),
                ("fast", "'fast' is not a number"),
            ],
        );
        refuses(parse_batch_size, &[("0", "the batch size must be at least 1")]);
        refuses(
            parse_test_fraction,
            &[("1", "the test fraction must be in [0, 1) (0 means no test set), got 1")],
        );
        assert_eq!(parse_test_fraction("0"), Ok(0.0));
        assert_eq!(parse_activation("tanh"), Ok(Activation::Tanh));
        assert_eq!(parse_activation("leaky_relu:0.2"), Ok(Activation::LeakyRelu { alpha: 0.2 }));
        refuses(
            parse_activation,
            &[
                ("leaky_relu:abc", "the slope of leaky_relu:<slope> must be a finite number, got 'abc'"),
                ("LeakyReLU:nan", "the slope of leaky_relu:<slope> must be a finite number, got 'nan'"),
                (
                    "swish",
                    "unknown activation 'swish'; expected one of relu, tanh, sigmoid, leaky_relu, leaky_relu:<slope>, identity",
                ),
            ],
        );
        assert_eq!(parse_loss("CE"), Ok(LossName::Ce));
        refuses(parse_loss, &[("huber", "unknown loss 'huber'; expected one of mse, log, ce, hinge")]);
        assert_eq!(parse_optimizer("momentum").unwrap().name(), "sgd");
        refuses(
            parse_optimizer,
            &[(
                "lbfgs",
                "unknown optimizer 'lbfgs'; expected one of sgd, momentum, nesterov, adam, adamw, rmsprop, adagrad",
            )],
        );
        assert_eq!(parse_plot_size("640x480"), Ok(PlotSize { width: 640, height: 480 }));
        refuses(
            parse_plot_size,
            &[
                ("10x10", "each side of the picture must be 200 to 8000 pixels, got 10x10"),
                ("big", "'big' is not a size WxH, e.g. 800x800"),
            ],
        );
        assert_eq!(parse_scale("none"), Ok(Scale::None));
        refuses(parse_penalty, &[("-0.1", "a penalty must be a finite number >= 0, got -0.1")]);
    }
}
