//! Model files: a [`Sequential`] model in safetensors that PyTorch loads as the `state_dict` of
//! the equivalent `torch.nn.Sequential`, with the architecture and the task in the metadata so
//! that the file alone rebuilds the model.
//!
//! Layout:
//!
//! - tensors `i.weight` (`[out, in]`, PyTorch's layout; this crate computes with `[in, out]`
//!   and transposes on save and load) and `i.bias` (`[out]`), `i` the layer's index in the
//!   `Sequential` (activations and dropout take indices too), dtype `F32` or `F64` as the model;
//! - metadata `"format": "pt"`, `"backprop"`: the JSON of [`ModelHeader`] (format version,
//!   dtype, layers, [`ModelMeta`]), `"torch_module"`: the Python expression of the model, and the
//!   checksum of [`crate::safetensors_file`].
//!
//! Loading in PyTorch:
//!
//! ```python
//! import torch
//! from safetensors.torch import load_file
//! from safetensors import safe_open
//!
//! with safe_open("model.safetensors", "pt") as f:
//!     model = eval(f.metadata()["torch_module"])      # e.g. torch.nn.Sequential(torch.nn.Linear(2, 4), ...)
//! model.load_state_dict(load_file("model.safetensors"))  # names and shapes match exactly
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use backprop_autograd::Graph;
use backprop_data::Standardizer;
use backprop_tensor::{Float, Tensor, TensorRng};
use serde::{Deserialize, Serialize};

use crate::dense::Dense;
use crate::dropout::Dropout;
use crate::error::{ModelFileError, ModelFileErrorKind as Kind, NnError, Result};
use crate::loss::{Loss, Task};
use crate::safetensors_file::{SafetensorsFile, write_safetensors};
use crate::sequential::{LayerSpec, Sequential, check_chain, state_dict_shapes};

/// The metadata key holding the JSON of [`ModelHeader`].
pub const HEADER_KEY: &str = "backprop";
/// The metadata key holding the PyTorch expression of the model.
pub const TORCH_MODULE_KEY: &str = "torch_module";
/// The version of [`ModelHeader`] this crate writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// What a model file says about the model besides its layers: the task, the loss it was
/// trained with, and how to feed it and read it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelMeta {
    /// What the model predicts (must agree with `loss`).
    pub task: Task,
    /// The loss it was trained with (says how to read its outputs).
    pub loss: Loss,
    /// Names of the input features, in column order (empty: unnamed).
    #[serde(default)]
    pub feature_names: Vec<String>,
    /// Names of the classes, by class index (empty: unnamed).
    #[serde(default)]
    pub class_names: Vec<String>,
    /// Standardisation to apply to raw inputs before the model (stored as `{mean, std}`).
    #[serde(default)]
    pub input_scaling: Option<Standardizer>,
}

impl ModelMeta {
    /// Metadata for a model trained with `loss` (the task follows from it), without names or
    /// scaling.
    pub fn new(loss: Loss) -> Self {
        ModelMeta {
            task: loss.task(),
            loss,
            feature_names: Vec::new(),
            class_names: Vec::new(),
            input_scaling: None,
        }
    }

    /// Checks this metadata against an architecture; returns the contradiction if any.
    pub fn contradiction(&self, specs: &[LayerSpec]) -> Option<String> {
        if let Err(e) = check_chain(specs) {
            return Some(e.to_string());
        }
        let dense = |s: &LayerSpec| match *s {
            LayerSpec::Dense { in_features, out_features, .. } => Some((in_features, out_features)),
            _ => None,
        };
        let inputs = specs.iter().find_map(dense).map_or(0, |d| d.0);
        let outputs = specs.iter().rev().find_map(dense).map_or(0, |d| d.1);
        if self.task != self.loss.task() {
            return Some(format!(
                "task {} but loss {} is for task {}",
                self.task,
                self.loss,
                self.loss.task()
            ));
        }
        match self.task {
            Task::Binary if outputs != 1 => {
                return Some(format!("a binary model needs 1 output, the layers give {outputs}"));
            }
            Task::MultiClass if outputs < 2 => {
                return Some(format!(
                    "a multi-class model needs at least 2 outputs, the layers give {outputs}"
                ));
            }
            _ => {}
        }
        let classes = match self.task {
            Task::Regression => 0,
            Task::Binary => 2,
            Task::MultiClass => outputs,
        };
        if !self.class_names.is_empty() && self.class_names.len() != classes {
            return Some(format!(
                "{} class names for a {} model with {classes} classes",
                self.class_names.len(),
                self.task
            ));
        }
        if !self.feature_names.is_empty() && self.feature_names.len() != inputs {
            return Some(format!("{} feature names for {inputs} inputs", self.feature_names.len()));
        }
        for (what, names) in [("feature", &self.feature_names), ("class", &self.class_names)] {
            if let Some((first, second)) = first_repeat(names) {
                return Some(format!(
                    "{what} name '{}' is given twice (at {first} and {second})",
                    backprop_data::shorten(&names[first])
                ));
            }
        }
        if let Some(s) = &self.input_scaling {
            let (mean, std) = (s.mean(), s.std());
            if mean.len() != inputs || std.len() != inputs {
                return Some(format!(
                    "input scaling has {} means and {} deviations for {inputs} inputs",
                    mean.len(),
                    std.len()
                ));
            }
            if let Some(i) = std.iter().position(|&v| !(v > 0.0 && v.is_finite())) {
                return Some(format!("input scaling: deviation {i} is {}, not a positive number", std[i]));
            }
            if let Some(i) = mean.iter().position(|v| !v.is_finite()) {
                return Some(format!("input scaling: mean {i} is {}", mean[i]));
            }
        }
        None
    }
}

/// The positions of the first name that repeats an earlier one: (earlier, later). A model
/// with two classes of one name would predict a label that cannot be told apart.
fn first_repeat(names: &[String]) -> Option<(usize, usize)> {
    let mut seen = std::collections::HashMap::with_capacity(names.len());
    names.iter().enumerate().find_map(|(i, n)| seen.insert(n.as_str(), i).map(|first| (first, i)))
}

/// The JSON stored under [`HEADER_KEY`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelHeader {
    /// [`FORMAT_VERSION`] when written.
    pub format_version: u32,
    /// `"f32"` or `"f64"`: the dtype of every tensor.
    pub dtype: String,
    /// The layers, in `torch.nn.Sequential` order.
    pub layers: Vec<LayerSpec>,
    /// Task, loss, names, scaling.
    pub meta: ModelMeta,
}

impl ModelHeader {
    /// The Python expression of the equivalent PyTorch model.
    pub fn torch_module(&self) -> String {
        let layers: Vec<String> = self.layers.iter().map(LayerSpec::torch_module).collect();
        format!("torch.nn.Sequential({})", layers.join(", "))
    }
}

/// Tensors with their names, in order.
pub type NamedTensors<F> = Vec<(String, Tensor<F>)>;

/// The metadata and tensors of a model, ready to write: what [`save_model`] writes and what a
/// checkpoint embeds.
///
/// # Errors
/// When the metadata contradicts the model, or a weight is NaN or infinite.
pub fn model_tensors<F: Float>(
    model: &Sequential,
    g: &Graph<F>,
    meta: &ModelMeta,
) -> Result<(ModelHeader, NamedTensors<F>)> {
    let layers = model.specs();
    if let Some(reason) = meta.contradiction(&layers) {
        return Err(NnError::invalid("save_model", format!("the metadata contradicts the model: {reason}")));
    }
    let tensors = model.state_dict(g)?;
    for (name, t) in &tensors {
        if let Some(i) = t.as_slice().iter().position(|v| !v.is_finite()) {
            return Err(NnError::invalid(
                "save_model",
                format!(
                    "tensor '{name}' holds {} at element {i}; refusing to save a diverged model",
                    t.as_slice()[i]
                ),
            ));
        }
    }
    let header = ModelHeader {
        format_version: FORMAT_VERSION,
        dtype: F::NAME.to_string(),
        layers,
        meta: meta.clone(),
    };
    Ok((header, tensors))
}

/// The string metadata of a model file for `header`.
pub fn header_metadata(header: &ModelHeader) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("format".to_string(), "pt".to_string()),
        (HEADER_KEY.to_string(), serde_json::to_string(header).expect("the header serialises")),
        (TORCH_MODULE_KEY.to_string(), header.torch_module()),
    ])
}

/// Saves `model` (parameters in `g`) with `meta` to `path`, atomically.
///
/// # Errors
/// When the metadata contradicts the model (a binary task with 3 outputs, 3 feature names for
/// 2 inputs, ...), a weight is not finite, or the file cannot be written.
pub fn save_model<F: Float>(
    path: impl AsRef<Path>,
    model: &Sequential,
    g: &Graph<F>,
    meta: &ModelMeta,
) -> Result<()> {
    let (header, tensors) = model_tensors(model, g, meta)?;
    let refs: Vec<(String, &Tensor<F>)> = tensors.iter().map(|(n, t)| (n.clone(), t)).collect();
    write_safetensors(path.as_ref(), &refs, &header_metadata(&header))?;
    Ok(())
}

/// Reads the header of a model file (to choose `f32` or `f64` before loading, or to show the
/// architecture), checking that it agrees with itself.
///
/// # Errors
/// As [`load_model`], except for tensor values.
pub fn read_model_header(path: impl AsRef<Path>) -> Result<ModelHeader> {
    let file = SafetensorsFile::read(path.as_ref())?;
    Ok(header_of(&file, "model")?)
}

/// Parses and checks the model header of `file`: present, readable, a known format version
/// and dtype, and metadata that agrees with the layers. The tensors themselves are checked by
/// [`check_model_tensors`].
///
/// # Errors
/// Missing or unreadable metadata, an unknown version or dtype, or metadata that contradicts
/// the layers.
pub fn header_of(file: &SafetensorsFile, what: &'static str) -> Result<ModelHeader, ModelFileError> {
    let err = |kind| ModelFileError::new(file.path(), kind);
    let json = file
        .metadata()
        .get(HEADER_KEY)
        .ok_or_else(|| err(Kind::MissingMetadata { what, key: HEADER_KEY, tensors: file.names() }))?;
    let header: ModelHeader = serde_json::from_str(json).map_err(|e| {
        err(Kind::BadMetadata { reason: format!("'{HEADER_KEY}' is not a valid model header: {e}") })
    })?;
    if header.format_version != FORMAT_VERSION {
        return Err(err(Kind::BadMetadata {
            reason: format!(
                "format version {} (this program reads version {FORMAT_VERSION})",
                header.format_version
            ),
        }));
    }
    if header.dtype != "f32" && header.dtype != "f64" {
        return Err(err(Kind::BadMetadata {
            reason: format!("dtype '{}' (expected f32 or f64)", header.dtype),
        }));
    }
    if let Some(reason) = header.meta.contradiction(&header.layers) {
        return Err(err(Kind::Inconsistent { reason: format!("the metadata contradicts itself: {reason}") }));
    }
    Ok(header)
}

/// Checks that the model tensors of `file` are exactly those of `header.layers` (names,
/// shapes, the header's dtype), allowing other tensors only under the given prefixes.
///
/// # Errors
/// The first mismatch, named.
pub fn check_model_tensors(
    file: &SafetensorsFile,
    header: &ModelHeader,
    other_prefixes: &[&str],
) -> Result<(), ModelFileError> {
    let err = |kind| ModelFileError::new(file.path(), kind);
    let expected = state_dict_shapes(&header.layers);
    let expected_names: std::collections::HashSet<&str> = expected.iter().map(|(n, _)| n.as_str()).collect();
    for (name, shape) in &expected {
        match file.shape(name) {
            None => return Err(err(Kind::MissingTensor { name: name.clone(), expected: shape.clone() })),
            Some(found) if &found != shape => {
                return Err(err(Kind::Inconsistent {
                    reason: format!(
                        "the metadata says tensor '{name}' has shape {shape:?} but the file holds {found:?}"
                    ),
                }));
            }
            Some(_) => {}
        }
        // `header_of` takes the dtype from the metadata alone; the tensors must agree with it,
        // or a file saying f32 would load as f64.
        if let Some(found) = file.dtype(name)
            && format!("{found:?}").to_lowercase() != header.dtype
        {
            return Err(err(Kind::Inconsistent {
                reason: format!(
                    "the metadata says dtype {} but tensor '{name}' has dtype {found:?}",
                    header.dtype
                ),
            }));
        }
    }
    for name in file.names() {
        if !expected_names.contains(name.as_str()) && !other_prefixes.iter().any(|p| name.starts_with(p)) {
            let shape = file.shape(&name).unwrap_or_default();
            return Err(err(Kind::UnexpectedTensor { name, shape }));
        }
    }
    Ok(())
}

/// Builds the model of `header` in a new graph with the values of `file`.
///
/// # Errors
/// Another dtype than `F`, or a tensor that does not fit (each named), or non-finite values.
pub fn build_from_file<F: Float>(
    file: &SafetensorsFile,
    header: &ModelHeader,
) -> Result<(Graph<F>, Sequential)> {
    let mut g = Graph::new();
    let mut model = Sequential::new();
    for (i, spec) in header.layers.iter().enumerate() {
        match *spec {
            LayerSpec::Dense { in_features, out_features, bias } => {
                let w = read_finite::<F>(file, &format!("{i}.weight"), &[out_features, in_features])?;
                let b = if bias {
                    Some(read_finite::<F>(file, &format!("{i}.bias"), &[out_features])?)
                } else {
                    None
                };
                model.push(Dense::from_tensors(&mut g, w.try_t()?, b)?);
            }
            LayerSpec::Activation(a) => {
                model.push(a);
            }
            LayerSpec::Dropout { p } => {
                model.push(Dropout::new(p, TensorRng::seed_from_u64(0))?);
            }
        }
    }
    model.name_parameters(&mut g)?;
    Ok((g, model))
}

fn read_finite<F: Float>(
    file: &SafetensorsFile,
    name: &str,
    shape: &[usize],
) -> Result<Tensor<F>, ModelFileError> {
    let t = file.tensor::<F>(name, Some(shape))?;
    if let Some(index) = t.as_slice().iter().position(|v| !v.is_finite()) {
        return Err(ModelFileError::new(
            file.path(),
            Kind::NonFinite { name: name.to_string(), index, value: t.as_slice()[index].to_f64() },
        ));
    }
    Ok(t)
}

/// Loads a model file: a new graph holding the parameters, the model, and its metadata.
/// Dropout layers come back with a mask generator seeded with 0.
///
/// # Errors
/// The file cannot be read, is not a safetensors file, is truncated or altered, is not a model
/// file, its metadata contradicts itself or its tensors, a tensor is missing, unexpected, of
/// another shape, of another dtype than `F` (`tensor '0.weight' has dtype F64, expected F32`;
/// [`read_model_header`] tells the dtype beforehand), or not finite.
pub fn load_model<F: Float>(path: impl AsRef<Path>) -> Result<(Graph<F>, Sequential, ModelMeta)> {
    model_from_file(&SafetensorsFile::read(path.as_ref())?)
}

/// The model of a file already read: what [`load_model`] does after reading.
///
/// # Errors
/// As [`load_model`], but reading.
pub fn model_from_file<F: Float>(file: &SafetensorsFile) -> Result<(Graph<F>, Sequential, ModelMeta)> {
    let header = header_of(file, "model")?;
    check_model_tensors(file, &header, &[])?;
    let (g, model) = build_from_file::<F>(file, &header)?;
    Ok((g, model, header.meta))
}

/// Loads the weights of a model file into an existing `model` of the same architecture.
///
/// # Errors
/// As [`load_model`], and when the file's layers differ from the model's (both are named).
pub fn load_weights<F: Float>(
    path: impl AsRef<Path>,
    model: &Sequential,
    g: &mut Graph<F>,
) -> Result<ModelMeta> {
    let path = path.as_ref();
    let file = SafetensorsFile::read(path)?;
    let header = header_of(&file, "model")?;
    check_model_tensors(&file, &header, &[])?;
    let mine = model.specs();
    if header.layers != mine {
        return Err(ModelFileError::new(
            path,
            Kind::Inconsistent {
                reason: format!(
                    "the file's architecture {} differs from the model's {}",
                    ModelHeader { layers: header.layers.clone(), ..header.clone() }.torch_module(),
                    ModelHeader { layers: mine, ..header.clone() }.torch_module()
                ),
            },
        )
        .into());
    }
    let mut tensors = Vec::new();
    for (name, shape) in model.state_dict_shapes() {
        let t = read_finite::<F>(&file, &name, &shape)?;
        tensors.push((name, t));
    }
    model.load_state_dict(g, &tensors)?;
    Ok(header.meta)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::activation::Activation;
    use crate::mlp::{MlpSpec, mlp};
    use crate::module::Module;
    use crate::safetensors_file::CHECKSUM_KEY;
    use std::path::PathBuf;

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("backprop-nn-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn iris_meta() -> ModelMeta {
        ModelMeta {
            task: Task::MultiClass,
            loss: Loss::CrossEntropy,
            feature_names: vec!["a".into(), "b".into(), "c".into(), "d".into()],
            class_names: vec!["setosa".into(), "versicolor".into(), "virginica".into()],
            input_scaling: Some(
                Standardizer::from_parts(vec![5.8, 3.0, 3.7, 1.2], vec![0.8, 0.4, 1.7, 0.7]).unwrap(),
            ),
        }
    }

    #[test]
    fn save_then_load_gives_identical_outputs() {
        let dir = temp_dir("model-roundtrip");
        let path = dir.join("m.safetensors");
        let mut g = Graph::<f32>::new();
        let mut spec = MlpSpec::new(&[4, 8, 3], Activation::Relu);
        spec.dropout = 0.25;
        let model = spec.build(&mut g, &mut TensorRng::seed_from_u64(7)).unwrap();
        save_model(&path, &model, &g, &iris_meta()).unwrap();
        let (g2, mut loaded, meta) = load_model::<f32>(&path).unwrap();
        assert_eq!(meta, iris_meta());
        assert_eq!(loaded.specs(), model.specs());
        let x = Tensor::from_shape_fn(&[6, 4], |i| (i[0] as f32 - 2.5) * 0.4 + i[1] as f32 * 0.1);
        assert_eq!(loaded.predict(&g2, &x).unwrap(), model.predict(&g, &x).unwrap());
        let mut g3 = g2;
        let xv = g3.input(x.clone());
        loaded.set_training(false);
        let y = loaded.forward(&mut g3, xv).unwrap();
        assert_eq!(g3.value(y).unwrap(), &model.predict(&g, &x).unwrap());
        // Into an existing model of the same architecture.
        let mut g4 = Graph::<f32>::new();
        let other = spec.build(&mut g4, &mut TensorRng::seed_from_u64(99)).unwrap();
        assert_ne!(other.predict(&g4, &x).unwrap(), model.predict(&g, &x).unwrap());
        load_weights(&path, &other, &mut g4).unwrap();
        assert_eq!(other.predict(&g4, &x).unwrap(), model.predict(&g, &x).unwrap());
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// An MLP built from `seed` and saved with `loss` as `m.safetensors` in a fresh directory
    /// named by `tag`: (directory, file, graph, model).
    fn saved_mlp<F: Float>(
        tag: &str,
        sizes: &[usize],
        activation: Activation,
        seed: u64,
        loss: Loss,
    ) -> (PathBuf, PathBuf, Graph<F>, Sequential) {
        let dir = temp_dir(tag);
        let path = dir.join("m.safetensors");
        let mut g = Graph::<F>::new();
        let model = mlp(&mut g, sizes, activation, &mut TensorRng::seed_from_u64(seed)).unwrap();
        save_model(&path, &model, &g, &ModelMeta::new(loss)).unwrap();
        (dir, path, g, model)
    }

    #[test]
    fn the_file_has_torch_names_layouts_and_module() {
        let (dir, path, g, model) =
            saved_mlp::<f64>("model-torch", &[2, 4, 1], Activation::Tanh, 1, Loss::BceWithLogits);
        let file = SafetensorsFile::read(&path).unwrap();
        assert_eq!(file.names(), ["0.bias", "0.weight", "2.bias", "2.weight"]);
        let w0 = file.tensor::<f64>("0.weight", Some(&[4, 2])).unwrap();
        let params = model.parameters();
        assert_eq!(w0, g.value(params[0].1).unwrap().t(), "[out, in]: row j holds unit j's input weights");
        assert_eq!(file.shape("2.weight").unwrap(), vec![1, 4]);
        assert_eq!(file.metadata()["format"], "pt");
        assert_eq!(
            file.metadata()[TORCH_MODULE_KEY],
            "torch.nn.Sequential(torch.nn.Linear(2, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))"
        );
        assert!(file.metadata()[CHECKSUM_KEY].starts_with(crate::safetensors_file::CHECKSUM_SCHEME));
        let header = read_model_header(&path).unwrap();
        assert_eq!(header.dtype, "f64");
        assert_eq!(header.meta.task, Task::Binary);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn mismatched_files_give_clear_errors() {
        let (dir, path, _, _) =
            saved_mlp::<f32>("model-mismatch", &[2, 3, 1], Activation::Sigmoid, 2, Loss::Mse);
        let shown = path.display().to_string();

        let err = load_model::<f64>(&path).unwrap_err().to_string();
        assert_eq!(err, format!("{shown}: tensor '0.weight' has dtype F32, expected F64"));

        let mut g2 = Graph::<f32>::new();
        let other = mlp(&mut g2, &[2, 4, 1], Activation::Sigmoid, &mut TensorRng::seed_from_u64(2)).unwrap();
        let err = load_weights(&path, &other, &mut g2).unwrap_err().to_string();
        assert!(err.contains("the file's architecture torch.nn.Sequential(torch.nn.Linear(2, 3)"), "{err}");

        // A file whose tensors do not match its header: rewrite the tensors with a wrong shape.
        let file = SafetensorsFile::read(&path).unwrap();
        let mut meta: BTreeMap<String, String> = file
            .metadata()
            .iter()
            .filter(|(k, _)| *k != CHECKSUM_KEY)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let w = Tensor::<f32>::zeros(&[3, 3]);
        let b0 = file.tensor::<f32>("0.bias", None).unwrap();
        let w2 = file.tensor::<f32>("2.weight", None).unwrap();
        let b2 = file.tensor::<f32>("2.bias", None).unwrap();
        let bad = dir.join("bad.safetensors");
        // Writes `tensors` with `meta` to `bad` and returns the error of loading it.
        let load_error = |tensors: &[(&str, &Tensor<f32>)], meta: &BTreeMap<String, String>| {
            let named: Vec<(String, &Tensor<f32>)> =
                tensors.iter().map(|&(n, t)| (n.to_string(), t)).collect();
            write_safetensors(&bad, &named, meta).unwrap();
            load_model::<f32>(&bad).unwrap_err().to_string()
        };
        let err = load_error(&[("0.weight", &w), ("0.bias", &b0), ("2.weight", &w2), ("2.bias", &b2)], &meta);
        assert_eq!(
            err,
            format!(
                "{}: inconsistent: the metadata says tensor '0.weight' has shape [3, 2] but the file holds [3, 3]",
                bad.display()
            )
        );
        let err = load_error(&[("0.bias", &b0), ("2.weight", &w2), ("2.bias", &b2)], &meta);
        assert!(err.ends_with("missing tensor '0.weight' (expected shape [3, 2])"), "{err}");

        // Metadata that contradicts itself.
        let mut header: ModelHeader = serde_json::from_str(&meta[HEADER_KEY]).unwrap();
        header.meta.feature_names = vec!["only one".into()];
        meta.insert(HEADER_KEY.into(), serde_json::to_string(&header).unwrap());
        let w0 = file.tensor::<f32>("0.weight", None).unwrap();
        let err =
            load_error(&[("0.weight", &w0), ("0.bias", &b0), ("2.weight", &w2), ("2.bias", &b2)], &meta);
        assert!(
            err.ends_with("inconsistent: the metadata contradicts itself: 1 feature names for 2 inputs"),
            "{err}"
        );

        // A safetensors file that is not a model file.
        let err = load_error(&[("x", &w0)], &BTreeMap::new());
        assert!(err.ends_with("not a backprop model file: the safetensors metadata has no 'backprop' entry (it holds tensors [\"x\"])"), "{err}");

        // Truncated on disk.
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&bad, &bytes[..bytes.len() - 10]).unwrap();
        let err = load_model::<f32>(&bad).unwrap_err().to_string();
        assert!(err.contains("truncated: the tensor data should end at byte"), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn saving_refuses_contradictory_metadata() {
        let mut g = Graph::<f32>::new();
        let model = mlp(&mut g, &[2, 3, 3], Activation::Relu, &mut TensorRng::seed_from_u64(2)).unwrap();
        let err = save_model("unused.safetensors", &model, &g, &ModelMeta::new(Loss::BceWithLogits))
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "save_model: the metadata contradicts the model: a binary model needs 1 output, the layers give 3"
        );
        let mut meta = ModelMeta::new(Loss::CrossEntropy);
        meta.class_names = vec!["a".into(), "b".into()];
        let err = save_model("unused.safetensors", &model, &g, &meta).unwrap_err().to_string();
        assert!(err.ends_with("2 class names for a multi_class model with 3 classes"), "{err}");
        assert!(!Path::new("unused.safetensors").exists());
    }

    /// The model's outputs for `x` after the model's own input scaling, as bit patterns.
    fn prediction_bits(g: &Graph<f32>, model: &Sequential, meta: &ModelMeta, x: &Tensor<f32>) -> Vec<u32> {
        let mut x = x.clone();
        if let Some(s) = &meta.input_scaling {
            s.apply_in_place(&mut x).unwrap();
        }
        model.predict(g, &x).unwrap().as_slice().iter().map(|v| v.to_bits()).collect()
    }

    /// Every single-bit flip of the header (length field and JSON) either fails to load or
    /// loads the same model: same metadata, bit-identical predictions. None changes an answer
    /// silently.
    #[test]
    fn no_header_bit_flip_changes_predictions_silently() {
        let dir = temp_dir("model-flips");
        let path = dir.join("m.safetensors");
        let mut g = Graph::<f32>::new();
        let model = mlp(&mut g, &[2, 3, 2], Activation::Tanh, &mut TensorRng::seed_from_u64(5)).unwrap();
        let meta = ModelMeta {
            task: Task::MultiClass,
            loss: Loss::CrossEntropy,
            feature_names: vec!["x1".into(), "x2".into()],
            class_names: vec!["a".into(), "b".into()],
            input_scaling: Some(Standardizer::from_parts(vec![0.5, -1.0], vec![2.0, 0.25]).unwrap()),
        };
        save_model(&path, &model, &g, &meta).unwrap();
        let good = std::fs::read(&path).unwrap();
        let x = Tensor::from_shape_fn(&[5, 2], |i| i[0] as f32 * 0.7 - i[1] as f32 * 1.3);
        let expected = prediction_bits(&g, &model, &meta, &x);
        let header_end = 8 + u64::from_le_bytes(good[..8].try_into().unwrap()) as usize;
        let (mut refused, mut same) = (0, 0);
        for bit in 0..header_end * 8 {
            let mut bytes = good.clone();
            bytes[bit / 8] ^= 1 << (bit % 8);
            let file = match SafetensorsFile::from_bytes(&path, bytes) {
                Ok(file) => file,
                Err(e) => {
                    assert!(!e.to_string().is_empty());
                    refused += 1;
                    continue;
                }
            };
            match model_from_file::<f32>(&file) {
                Err(e) => {
                    assert!(e.to_string().starts_with(&path.display().to_string()), "{e}");
                    refused += 1;
                }
                Ok((g2, loaded, meta2)) => {
                    assert_eq!(meta2, meta, "flip of bit {bit} loaded other metadata");
                    assert_eq!(prediction_bits(&g2, &loaded, &meta2, &x), expected, "flip of bit {bit}");
                    same += 1;
                }
            }
        }
        assert_eq!(refused + same, header_end * 8);
        assert!(refused > same, "most flips are refused ({refused} refused, {same} harmless)");
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// Loading parses the header once however many layers the model has (it used to parse it
    /// again for every tensor: 2,000 layers took 92 s).
    #[test]
    fn a_model_of_2000_layers_loads_with_one_header_parse() {
        use crate::safetensors_file::HEADER_PARSES;
        let sizes = vec![1; 1002];
        let (dir, path, g, model) =
            saved_mlp::<f32>("model-deep", &sizes, Activation::Identity, 3, Loss::Mse);
        assert_eq!(model.specs().len(), 2001);
        let before = HEADER_PARSES.with(|c| c.get());
        let (g2, loaded, _) = load_model::<f32>(&path).unwrap();
        assert_eq!(HEADER_PARSES.with(|c| c.get()) - before, 1, "the header is parsed once");
        let x = Tensor::from_vec(&[3, 1], vec![0.5_f32, -1.0, 2.0]);
        assert_eq!(loaded.predict(&g2, &x).unwrap(), model.predict(&g, &x).unwrap());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn duplicate_feature_or_class_names_are_refused() {
        let mut meta = iris_meta();
        meta.class_names[2] = "setosa".into();
        let specs = MlpSpec::new(&[4, 8, 3], Activation::Relu);
        let mut g = Graph::<f32>::new();
        let model = specs.build(&mut g, &mut TensorRng::seed_from_u64(1)).unwrap();
        assert_eq!(
            meta.contradiction(&model.specs()).unwrap(),
            "class name 'setosa' is given twice (at 0 and 2)"
        );
        let mut meta = iris_meta();
        meta.feature_names[3] = "b".into();
        assert_eq!(
            meta.contradiction(&model.specs()).unwrap(),
            "feature name 'b' is given twice (at 1 and 3)"
        );
        let err = save_model("unused.safetensors", &model, &g, &meta).unwrap_err().to_string();
        assert!(err.ends_with("feature name 'b' is given twice (at 1 and 3)"), "{err}");
        assert_eq!(iris_meta().contradiction(&model.specs()), None);
    }

    #[test]
    fn input_scaling_standardises_columns() {
        let x = Tensor::from_rows(&[[1.0_f64, 5.0], [3.0, 5.0]]);
        let s = Standardizer::fit(&x).unwrap();
        assert_eq!(s, Standardizer::from_parts(vec![2.0, 5.0], vec![1.0, 1.0]).unwrap());
        let mut y = x.clone();
        s.apply_in_place(&mut y).unwrap();
        assert_eq!(y.to_vec(), vec![-1.0, 0.0, 1.0, 0.0]);
    }
}
