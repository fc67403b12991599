//! Checkpoints: model, optimizer state, progress counters and random-generator states in one
//! safetensors file, written atomically; resuming from one continues bit for bit as the run
//! that wrote it would have.
//!
//! The file holds the model exactly as a model file does (tensors `i.weight` in PyTorch's
//! `[out, in]` layout and `i.bias`, header under `"backprop"`), plus the optimizer buffers as
//! tensors `optimizer.{parameter}.{buffer}` (in this crate's layout, the parameter's own shape)
//! and the rest as JSON under [`CHECKPOINT_KEY`]: optimizer kind, hyperparameters and step
//! counts, the [`TrainingState`], and the dropout layers' generator states.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use backprop_autograd::Graph;
use backprop_nn::model_file::{
    build_from_file, check_model_tensors, header_metadata, header_of, model_tensors,
};
use backprop_nn::safetensors_file::{SafetensorsFile, write_safetensors};
use backprop_nn::{ModelFileError, ModelFileErrorKind, ModelMeta, Module, Sequential};
use backprop_tensor::{Float, RngState, Tensor};
use serde::{Deserialize, Serialize};

use backprop_optim::{Optimizer, OptimizerConfig, OptimizerState, ParamState};

use crate::error::{Result, TrainError};
use crate::metrics::EpochRecord;
use crate::observer::{Control, Observer, Snapshot};
pub use crate::state::TrainingState;

/// The metadata key of the checkpoint's JSON.
pub const CHECKPOINT_KEY: &str = "backprop.checkpoint";
/// The prefix of optimizer tensors.
pub const OPTIMIZER_PREFIX: &str = "optimizer.";
/// The checkpoint format version this crate writes and reads.
pub const CHECKPOINT_VERSION: u32 = 1;

/// A loaded checkpoint, ready to continue training.
pub struct Checkpoint<F: Float> {
    /// The graph holding the model's parameters.
    pub graph: Graph<F>,
    /// The model, in training mode, its dropout generators restored.
    pub model: Sequential,
    /// The model's metadata.
    pub meta: ModelMeta,
    /// The optimizer over the model's parameters, its state restored.
    pub optimizer: Box<dyn Optimizer<F>>,
    /// Counters and the trainer's generator state.
    pub training: TrainingState,
}

impl<F: Float> std::fmt::Debug for Checkpoint<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checkpoint")
            .field("model", &self.model.specs())
            .field("optimizer", &self.optimizer.config())
            .field("training", &self.training)
            .finish()
    }
}

#[derive(Serialize, Deserialize)]
struct RngJson {
    seed: String,
    stream: u64,
    word_pos: String,
}

impl RngJson {
    fn from_state(s: &RngState) -> Self {
        RngJson {
            seed: s.seed.iter().map(|b| format!("{b:02x}")).collect(),
            stream: s.stream,
            word_pos: s.word_pos.to_string(),
        }
    }

    fn to_state(&self) -> std::result::Result<RngState, String> {
        let bytes: Vec<u8> = (0..self.seed.len())
            .step_by(2)
            .map(|i| self.seed.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
            .collect::<Option<_>>()
            .ok_or_else(|| format!("random generator seed '{}' is not hexadecimal", self.seed))?;
        let seed: [u8; 32] =
            bytes.try_into().map_err(|_| format!("random generator seed '{}' is not 32 bytes", self.seed))?;
        let word_pos = self
            .word_pos
            .parse()
            .map_err(|_| format!("word position '{}' is not a number", self.word_pos))?;
        Ok(RngState { seed, stream: self.stream, word_pos })
    }
}

#[derive(Serialize, Deserialize)]
struct ParamJson {
    name: String,
    step: u64,
    buffers: Vec<String>,
}

#[derive(Serialize, Deserialize)]
struct OptimizerJson {
    config: OptimizerConfig,
    steps: u64,
    params: Vec<ParamJson>,
}

#[derive(Serialize, Deserialize)]
struct TrainingJson {
    epoch: u64,
    step: u64,
    rng: Option<RngJson>,
    #[serde(default)]
    extra: BTreeMap<String, serde_json::Value>,
}

#[derive(Serialize, Deserialize)]
struct CheckpointJson {
    format_version: u32,
    optimizer: OptimizerJson,
    training: TrainingJson,
    dropout_rngs: Vec<RngJson>,
}

/// Saves a checkpoint to `path`, atomically.
///
/// # Errors
/// When the metadata contradicts the model, a weight is not finite, the optimizer has a
/// parameter the model does not (or under another handle), or the file cannot be written.
pub fn save_checkpoint<F: Float>(
    path: impl AsRef<Path>,
    model: &Sequential,
    g: &Graph<F>,
    meta: &ModelMeta,
    optimizer: &dyn Optimizer<F>,
    training: &TrainingState,
) -> Result<()> {
    let (header, model_tensors) = model_tensors(model, g, meta)?;
    let model_params = model.parameters();
    for (name, var) in optimizer.params() {
        if !model_params.iter().any(|(n, v)| *n == name && *v == var) {
            return Err(TrainError::invalid(
                "save_checkpoint",
                format!("the optimizer's parameter '{name}' is not the model's parameter of that name"),
            ));
        }
    }
    let state = optimizer.state();
    let mut tensors: Vec<(String, &Tensor<F>)> = model_tensors.iter().map(|(n, t)| (n.clone(), t)).collect();
    for p in &state.params {
        for (buffer, t) in &p.buffers {
            tensors.push((format!("{OPTIMIZER_PREFIX}{}.{buffer}", p.name), t));
        }
    }
    let json = CheckpointJson {
        format_version: CHECKPOINT_VERSION,
        optimizer: OptimizerJson {
            config: state.config,
            steps: state.steps,
            params: state
                .params
                .iter()
                .map(|p| ParamJson {
                    name: p.name.clone(),
                    step: p.step,
                    buffers: p.buffers.iter().map(|(b, _)| b.clone()).collect(),
                })
                .collect(),
        },
        training: TrainingJson {
            epoch: training.epoch,
            step: training.step,
            rng: training.rng.as_ref().map(RngJson::from_state),
            extra: training.extra.clone(),
        },
        dropout_rngs: model.rng_states().iter().map(RngJson::from_state).collect(),
    };
    let mut metadata = header_metadata(&header);
    metadata.insert(
        CHECKPOINT_KEY.to_string(),
        serde_json::to_string(&json).expect("checkpoint JSON serialises"),
    );
    write_safetensors(path.as_ref(), &tensors, &metadata)?;
    Ok(())
}

/// Loads a checkpoint: model, optimizer (rebuilt from its saved kind and hyperparameters, over
/// the model's parameters, with its buffers and step counts), counters and generator states.
///
/// # Errors
/// Everything [`backprop_nn::load_model`] reports, plus a missing or unreadable checkpoint
/// entry, optimizer buffers that are missing or do not fit their parameters, or other dtypes
/// than `F`.
pub fn load_checkpoint<F: Float>(path: impl AsRef<Path>) -> Result<Checkpoint<F>> {
    let path = path.as_ref();
    let file = SafetensorsFile::read(path)?;
    let bad = |reason: String| -> TrainError {
        ModelFileError::new(path, ModelFileErrorKind::BadMetadata { reason }).into()
    };
    let header = header_of(&file, "checkpoint")?;
    let raw = file.metadata().get(CHECKPOINT_KEY).ok_or_else(|| {
        TrainError::from(ModelFileError::new(
            path,
            ModelFileErrorKind::MissingMetadata {
                what: "checkpoint",
                key: CHECKPOINT_KEY,
                tensors: file.names(),
            },
        ))
    })?;
    let json: CheckpointJson = serde_json::from_str(raw)
        .map_err(|e| bad(format!("'{CHECKPOINT_KEY}' is not a valid checkpoint entry: {e}")))?;
    if json.format_version != CHECKPOINT_VERSION {
        return Err(bad(format!(
            "checkpoint format version {} (this program reads version {CHECKPOINT_VERSION})",
            json.format_version
        )));
    }
    check_model_tensors(&file, &header, &[OPTIMIZER_PREFIX])?;
    let (graph, mut model) = build_from_file::<F>(&file, &header)?;
    let dropout_rngs: Vec<RngState> =
        json.dropout_rngs.iter().map(RngJson::to_state).collect::<Result<_, _>>().map_err(bad)?;
    model.set_rng_states(&dropout_rngs)?;

    let model_params = model.parameters();
    let mut params = Vec::new();
    let mut states = Vec::new();
    for p in &json.optimizer.params {
        let Some((_, var)) = model_params.iter().find(|(n, _)| *n == p.name) else {
            return Err(bad(format!(
                "the optimizer state names parameter '{}', which the model does not have",
                p.name
            )));
        };
        let shape = graph.value(*var)?.shape().to_vec();
        let mut buffers = Vec::new();
        for b in &p.buffers {
            let name = format!("{OPTIMIZER_PREFIX}{}.{b}", p.name);
            buffers.push((b.clone(), file.tensor::<F>(&name, Some(&shape))?));
        }
        params.push((p.name.clone(), *var));
        states.push(ParamState { name: p.name.clone(), step: p.step, buffers });
    }
    let listed: Vec<String> = json
        .optimizer
        .params
        .iter()
        .flat_map(|p| p.buffers.iter().map(move |b| format!("{OPTIMIZER_PREFIX}{}.{b}", p.name)))
        .collect();
    if let Some(extra) =
        file.names().into_iter().find(|n| n.starts_with(OPTIMIZER_PREFIX) && !listed.contains(n))
    {
        let shape = file.shape(&extra).unwrap_or_default();
        return Err(
            ModelFileError::new(path, ModelFileErrorKind::UnexpectedTensor { name: extra, shape }).into()
        );
    }
    let mut optimizer = json.optimizer.config.build::<F>(params)?;
    optimizer.load_state(
        &graph,
        &OptimizerState { config: json.optimizer.config, steps: json.optimizer.steps, params: states },
    )?;
    let training = TrainingState {
        epoch: json.training.epoch,
        step: json.training.step,
        rng: json.training.rng.as_ref().map(RngJson::to_state).transpose().map_err(bad)?,
        extra: json.training.extra,
    };
    Ok(Checkpoint { graph, model, meta: header.meta, optimizer, training })
}

/// The observer that writes a checkpoint after every epoch (and of the starting point), each
/// atomically over the last, so that the file always holds the last good epoch.
#[derive(Debug, Clone)]
pub struct CheckpointWriter {
    path: PathBuf,
    meta: ModelMeta,
    last_epoch: Option<u64>,
}

impl CheckpointWriter {
    /// Checkpoints of a model with metadata `meta` to `path`.
    pub fn new(path: impl Into<PathBuf>, meta: ModelMeta) -> Self {
        CheckpointWriter { path: path.into(), meta, last_epoch: None }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The epoch of the last checkpoint written, if any.
    pub fn last_epoch(&self) -> Option<u64> {
        self.last_epoch
    }
}

impl<F: Float> Observer<F, Sequential> for CheckpointWriter {
    fn on_epoch_end(&mut self, run: &Snapshot<'_, F, Sequential>, record: &EpochRecord) -> Result<Control> {
        save_checkpoint(&self.path, run.model, run.graph, &self.meta, run.optimizer, run.state)?;
        self.last_epoch = Some(record.epoch);
        Ok(Control::Continue)
    }
}
