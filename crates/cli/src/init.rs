//! `train --init`: a model file (or a checkpoint) to start from, and the checks that it fits
//! the data and the flags.

use std::path::{Path, PathBuf};

use backprop_autograd::Graph;
use backprop_data::{Dataset, Standardizer};
use backprop_nn::model_file::{HEADER_KEY, ModelHeader, header_of};
use backprop_nn::safetensors_file::SafetensorsFile;
use backprop_nn::{Activation, LayerSpec, Loss, ModelFileError, ModelFileErrorKind, Sequential};
use backprop_tensor::{Float, Tensor};

use crate::args::TrainArgs;
use crate::error::{CliError, Result};
use crate::model::{TaskKind, hidden_sizes, io_sizes, read_init_file};
use crate::summary::join;

/// The file of `--init`, with its header when it is a model file this program wrote (a bare
/// safetensors file of PyTorch weights has none).
pub struct InitModel {
    path: PathBuf,
    file: SafetensorsFile,
    header: Option<ModelHeader>,
}

impl InitModel {
    /// Reads the file.
    ///
    /// # Errors
    /// When it cannot be read, is not a safetensors file, or has an unreadable header.
    pub fn read(path: &Path) -> Result<Self> {
        let file = read_init_file(path)?;
        let header = if file.metadata().contains_key(HEADER_KEY) {
            Some(header_of(&file, "model").map_err(|e| CliError::from(backprop_nn::NnError::from(e)))?)
        } else {
            None
        };
        Ok(InitModel { path: path.to_path_buf(), file, header })
    }

    /// The stored loss, when it can train on this task (else the flags decide).
    pub fn loss_for(&self, task: &TaskKind) -> Option<Loss> {
        self.header.as_ref().map(|h| h.meta.loss).filter(|&l| loss_fits(l, task))
    }

    /// The stored input scaling.
    pub fn scaling(&self) -> Option<Standardizer> {
        self.header.as_ref().and_then(|h| h.meta.input_scaling.clone())
    }

    /// The stored layers; `--layers` and `--activation`, when given, must agree.
    ///
    /// # Errors
    /// A usage error naming the flag that disagrees with the file.
    pub fn layers(&self, args: &TrainArgs) -> Result<Option<Vec<LayerSpec>>> {
        self.header.as_ref().map(|h| file_layers(args, h, &self.path)).transpose()
    }

    /// Checks that the model fits the data: inputs, outputs, and the stored names.
    ///
    /// # Errors
    /// Naming the file and what differs.
    pub fn check_fits<F: Float>(
        &self,
        specs: &[LayerSpec],
        train: &Dataset<F>,
        n_outputs: usize,
        loss: Loss,
    ) -> Result<()> {
        let (path, header) = (self.path.as_path(), self.header.as_ref());
        let (inputs, outs) = io_sizes(specs);
        if inputs != train.num_features() {
            return Err(CliError::file(
                path,
                format!(
                    "the model takes {inputs} inputs but the data has {} features ({})",
                    train.num_features(),
                    train.feature_names().join(", ")
                ),
            ));
        }
        if outs != n_outputs {
            return Err(CliError::file(
                path,
                format!("the model has {outs} outputs but the loss {loss} on this data needs {n_outputs}"),
            ));
        }
        if let Some(h) = header {
            let names = &h.meta.feature_names;
            if !names.is_empty() && names.as_slice() != train.feature_names() {
                return Err(CliError::file(
                    path,
                    format!(
                        "the model was trained on features [{}] but the data has [{}]",
                        names.join(", "),
                        train.feature_names().join(", ")
                    ),
                ));
            }
            crate::model::check_classes(path, &h.meta.class_names, train.targets().class_names())?;
        }
        Ok(())
    }

    /// Copies the tensors of a safetensors file into `model` by their `Sequential` names
    /// (`0.weight` as `[out, in]`, `0.bias`), converting `f64` to `f32` or back. A checkpoint's
    /// optimizer tensors (`optimizer.*`) are skipped, so a checkpoint can start a new run.
    ///
    /// # Errors
    /// A missing tensor, one the model does not have, a shape that does not fit, or a value that
    /// is not finite, each naming the file and the tensor.
    pub fn load_weights<F: Float>(&self, model: &Sequential, g: &mut Graph<F>) -> Result<()> {
        let file = &self.file;
        let expected = model.state_dict_shapes();
        let err = |kind| CliError::from(backprop_nn::NnError::from(ModelFileError::new(file.path(), kind)));
        for name in file.names() {
            // A checkpoint's optimizer state is not weights: training restarts its optimizer.
            if !expected.iter().any(|(n, _)| *n == name)
                && !name.starts_with(backprop_train::OPTIMIZER_PREFIX)
            {
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
}

/// Whether a stored loss can train on this task.
fn loss_fits(loss: Loss, task: &TaskKind) -> bool {
    match (loss.task(), task) {
        (backprop_nn::Task::Binary, TaskKind::Classes(names)) => names.len() == 2,
        (backprop_nn::Task::MultiClass, TaskKind::Classes(_)) => true,
        (backprop_nn::Task::Regression, TaskKind::Values(_)) => true,
        _ => false,
    }
}

/// The layers of an `--init` model file; `--layers` and `--activation`, when given, must agree.
fn file_layers(args: &TrainArgs, header: &ModelHeader, path: &Path) -> Result<Vec<LayerSpec>> {
    let layers = header.layers.clone();
    let hidden = hidden_sizes(&layers);
    if let Some(asked) = &args.layers
        && asked.0 != hidden
    {
        return Err(CliError::usage(format!(
            "--layers {} differs from the hidden layers of {} ({}); leave --layers out to use the file's",
            join(&asked.0),
            path.display(),
            join(&hidden)
        )));
    }
    if let Some(asked) = args.activation {
        let stored: Vec<Activation> = layers
            .iter()
            .filter_map(|s| if let LayerSpec::Activation(a) = s { Some(*a) } else { None })
            .collect();
        if stored.iter().any(|a| *a != asked) {
            return Err(CliError::usage(format!(
                "--activation {asked} differs from the activations of {} ({}); leave --activation out to use the file's",
                path.display(),
                stored.iter().map(ToString::to_string).collect::<Vec<_>>().join(",")
            )));
        }
    }
    Ok(layers)
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
