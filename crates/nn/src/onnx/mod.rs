//! ONNX export: a [`Sequential`] model and its [`ModelMeta`] as one ONNX graph (opset 17, IR
//! version 8) that computes the whole prediction from raw features, so that onnxruntime,
//! onnxruntime-web, tract or any other ONNX runtime runs it without this crate.
//!
//! The graph:
//!
//! - input `input`: `[batch, features]` raw feature values, in the order of the
//!   `feature_names` metadata entry, as `float` (or `double` for an `f64` model); `batch` is a
//!   symbolic dimension;
//! - the model's input scaling, when it has one, as `Sub` (initializer `input_mean`) then
//!   `Div` (`input_std`): kept apart from the first `Gemm` so the file reads like the model and
//!   the weights stay those of the model file;
//! - each dense layer as `Gemm` with `transB = 1` on initializers `i.weight` (`[out, in]`, the
//!   model file's PyTorch layout) and `i.bias`; activations as `Relu`, `LeakyRelu` (with its
//!   `alpha`), `Tanh`, `Sigmoid`, `Softmax` (`axis = 1`); identity and dropout (inactive at
//!   inference) add no node;
//! - outputs as `backprop predict` reads the model: for classifiers `logits` (the model's
//!   outputs) and `probabilities` (`[batch, 2]` = σ(−d), σ(d) of the single logit for binary
//!   models, the softmax of the logits for multi-class ones), for regression `prediction`.
//!
//! `metadata_props` hold `feature_names` and `class_names` (JSON arrays of strings), `task`
//! and `loss`.
//!
//! ```python
//! import onnxruntime, numpy as np
//! session = onnxruntime.InferenceSession("model.onnx")
//! logits, probabilities = session.run(None, {"input": np.array([[0.5, -1.0]], np.float32)})
//! ```

pub mod proto;

use std::path::Path;

use backprop_autograd::Graph;
use backprop_tensor::{Float, Tensor};
use prost::Message;

use crate::activation::Activation;
use crate::error::{NnError, Result};
use crate::loss::Task;
use crate::model_file::{ModelMeta, model_tensors};
use crate::safetensors_file::write_atomic;
use crate::sequential::{LayerSpec, Sequential};
use proto::{
    AttributeProto, Dimension, DimensionValue, GraphProto, ModelProto, NodeProto, OperatorSetIdProto,
    StringStringEntryProto, TensorProto, TensorShapeProto, TensorTypeProto, TypeProto, ValueInfoProto,
};

/// The opset of the default `ai.onnx` domain the graph is written for.
pub const OPSET_VERSION: i64 = 17;
/// The IR version of the file (the one that goes with opset 17).
pub const IR_VERSION: i64 = 8;
/// The name of the graph's input.
pub const INPUT_NAME: &str = "input";
/// The name of the symbolic batch dimension of the inputs and outputs.
pub const BATCH_DIM: &str = "batch";
/// The output of classifiers holding the model's raw outputs.
pub const LOGITS_NAME: &str = "logits";
/// The output of classifiers holding the class probabilities.
pub const PROBABILITIES_NAME: &str = "probabilities";
/// The output of regression models.
pub const PREDICTION_NAME: &str = "prediction";

/// Writes `model` (parameters in `g`) with `meta` to `path` as an ONNX file, atomically.
///
/// # Errors
/// As [`onnx_model`], and when the file cannot be written.
pub fn export_onnx<F: Float>(
    path: impl AsRef<Path>,
    model: &Sequential,
    g: &Graph<F>,
    meta: &ModelMeta,
) -> Result<()> {
    let bytes = onnx_model(model, g, meta)?.encode_to_vec();
    write_atomic(path.as_ref(), &bytes)?;
    Ok(())
}

/// The ONNX model of `model` with `meta` (see the module documentation for the graph).
///
/// # Errors
/// When the metadata contradicts the model, a weight is not finite (as for
/// [`crate::save_model`]), or a layer has no ONNX counterpart (the layer is named).
pub fn onnx_model<F: Float>(model: &Sequential, g: &Graph<F>, meta: &ModelMeta) -> Result<ModelProto> {
    let (header, tensors) = model_tensors(model, g, meta)?;
    let mut b = GraphBuilder::<F>::new();
    let (Some(inputs), Some(outputs)) = (model.in_features(), model.out_features()) else {
        return Err(NnError::invalid("export_onnx", "the model has no dense layer"));
    };
    let mut current = INPUT_NAME.to_string();
    if let Some(s) = &meta.input_scaling {
        let mean = b.constant("input_mean", &[inputs], s.mean());
        let std = b.constant("input_std", &[inputs], s.std());
        current = b.node("Sub", "input_centered", &[&current, &mean], vec![]);
        current = b.node("Div", "input_scaled", &[&current, &std], vec![]);
    }
    let tensor = |name: &str| {
        tensors
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| t)
            .ok_or_else(|| NnError::invalid("export_onnx", format!("the model has no tensor '{name}'")))
    };
    for (i, spec) in header.layers.iter().enumerate() {
        current = match *spec {
            LayerSpec::Dense { bias, .. } => {
                let weight = b.tensor(&format!("{i}.weight"), tensor(&format!("{i}.weight"))?);
                let mut args = vec![current.as_str(), weight.as_str()];
                let bias_name = if bias {
                    Some(b.tensor(&format!("{i}.bias"), tensor(&format!("{i}.bias"))?))
                } else {
                    None
                };
                args.extend(bias_name.as_deref());
                b.node("Gemm", &format!("{i}.gemm"), &args, vec![int_attribute("transB", 1)])
            }
            LayerSpec::Activation(a) => match onnx_activation(a, i)? {
                Some((op, attributes)) => {
                    b.node(op, &format!("{i}.{}", op.to_lowercase()), &[&current], attributes)
                }
                None => current,
            },
            // Dropout is the identity at inference, which is what `predict` computes.
            LayerSpec::Dropout { .. } => current,
        };
    }
    let dims =
        |width: usize| [Dimension { value: Some(DimensionValue::DimParam(BATCH_DIM.into())) }, fixed(width)];
    let graph_outputs = match meta.task {
        Task::Regression => {
            b.rename_last(&current, PREDICTION_NAME);
            vec![b.value_info(PREDICTION_NAME, dims(outputs))]
        }
        Task::Binary => {
            let logits = b.rename_last(&current, LOGITS_NAME);
            // σ(−d) and σ(d) separately, as `Loss::probabilities`: 1 − σ(d) rounds to 0.
            let negated = b.node("Neg", "negated_logit", &[&logits], vec![]);
            let p_negative = b.node("Sigmoid", "p_negative", &[&negated], vec![]);
            let p_positive = b.node("Sigmoid", "p_positive", &[&logits], vec![]);
            b.node("Concat", PROBABILITIES_NAME, &[&p_negative, &p_positive], vec![int_attribute("axis", 1)]);
            vec![b.value_info(LOGITS_NAME, dims(1)), b.value_info(PROBABILITIES_NAME, dims(2))]
        }
        Task::MultiClass => {
            let logits = b.rename_last(&current, LOGITS_NAME);
            b.node("Softmax", PROBABILITIES_NAME, &[&logits], vec![int_attribute("axis", 1)]);
            vec![b.value_info(LOGITS_NAME, dims(outputs)), b.value_info(PROBABILITIES_NAME, dims(outputs))]
        }
    };
    let input = b.value_info(INPUT_NAME, dims(inputs));
    let json = |v: &[String]| serde_json::to_string(v).expect("a list of strings serialises");
    let metadata = [
        ("feature_names", json(&meta.feature_names)),
        ("class_names", json(&meta.class_names)),
        ("task", meta.task.to_string()),
        ("loss", meta.loss.to_string()),
    ];
    Ok(ModelProto {
        ir_version: IR_VERSION,
        opset_import: vec![OperatorSetIdProto { domain: String::new(), version: OPSET_VERSION }],
        producer_name: "backprop".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        doc_string: header.torch_module(),
        graph: Some(GraphProto {
            node: b.nodes,
            name: "backprop".into(),
            initializer: b.initializers,
            doc_string: String::new(),
            input: vec![input],
            output: graph_outputs,
        }),
        metadata_props: metadata
            .into_iter()
            .map(|(key, value)| StringStringEntryProto { key: key.into(), value })
            .collect(),
    })
}

/// The ONNX operator and attributes of activation `a` (layer `index`), `None` for the
/// identity (no node needed).
///
/// # Errors
/// A leaky ReLU slope that ONNX's float attribute cannot hold.
fn onnx_activation(a: Activation, index: usize) -> Result<Option<(&'static str, Vec<AttributeProto>)>> {
    Ok(Some(match a {
        Activation::Identity => return Ok(None),
        Activation::Sigmoid => ("Sigmoid", vec![]),
        Activation::Tanh => ("Tanh", vec![]),
        Activation::Relu => ("Relu", vec![]),
        Activation::LeakyRelu { alpha } => {
            // ONNX stores `alpha` as a 32-bit float; a slope beyond its range would change
            // the model.
            if !(alpha.is_finite() && alpha.abs() <= f64::from(f32::MAX)) {
                return Err(NnError::invalid(
                    "export_onnx",
                    format!(
                        "layer {index} (leaky_relu): ONNX's LeakyRelu keeps its slope as a 32-bit float, which cannot hold {alpha:e}"
                    ),
                ));
            }
            (
                "LeakyRelu",
                vec![AttributeProto {
                    name: "alpha".into(),
                    f: alpha as f32,
                    i: 0,
                    r#type: proto::ATTRIBUTE_FLOAT,
                }],
            )
        }
        Activation::Softmax => ("Softmax", vec![int_attribute("axis", 1)]),
    }))
}

fn int_attribute(name: &str, value: i64) -> AttributeProto {
    AttributeProto { name: name.into(), f: 0.0, i: value, r#type: proto::ATTRIBUTE_INT }
}

fn fixed(size: usize) -> Dimension {
    Dimension { value: Some(DimensionValue::DimValue(size as i64)) }
}

/// Nodes and initializers in the order they are added, all of element type `F`.
struct GraphBuilder<F> {
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
    _element: std::marker::PhantomData<F>,
}

impl<F: Float> GraphBuilder<F> {
    fn new() -> Self {
        GraphBuilder { nodes: Vec::new(), initializers: Vec::new(), _element: std::marker::PhantomData }
    }

    /// The ONNX element type of `F`.
    fn element_type() -> i32 {
        if F::NAME == "f64" { proto::DOUBLE } else { proto::FLOAT }
    }

    /// Adds an initializer from `f64` values (converted to `F` as the model would).
    fn constant(&mut self, name: &str, shape: &[usize], values: &[f64]) -> String {
        let values: Vec<F> = values.iter().map(|&v| F::from_f64(v)).collect();
        self.add_initializer(name, shape, &values)
    }

    /// Adds tensor `t` as an initializer named `name`.
    fn tensor(&mut self, name: &str, t: &Tensor<F>) -> String {
        self.add_initializer(name, t.shape(), t.as_slice())
    }

    fn add_initializer(&mut self, name: &str, shape: &[usize], values: &[F]) -> String {
        let mut raw_data = Vec::with_capacity(std::mem::size_of_val(values));
        for v in values {
            // `to_f64` is exact for both element types, and narrowing back to f32 is too.
            if F::NAME == "f64" {
                raw_data.extend_from_slice(&Float::to_f64(*v).to_le_bytes());
            } else {
                raw_data.extend_from_slice(&(Float::to_f64(*v) as f32).to_le_bytes());
            }
        }
        self.initializers.push(TensorProto {
            dims: shape.iter().map(|&d| d as i64).collect(),
            data_type: Self::element_type(),
            name: name.into(),
            raw_data,
        });
        name.into()
    }

    /// Adds a node named `name` whose single output is also called `name`; returns it.
    fn node(&mut self, op: &str, name: &str, inputs: &[&str], attribute: Vec<AttributeProto>) -> String {
        self.nodes.push(NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![name.into()],
            name: name.into(),
            op_type: op.into(),
            attribute,
            domain: String::new(),
        });
        name.into()
    }

    /// Gives value `current` the name `name`: renames the output of the node that made it when
    /// that is the last node, else adds an `Identity` (the input itself, say).
    fn rename_last(&mut self, current: &str, name: &str) -> String {
        match self.nodes.last_mut() {
            Some(last) if last.output == [current] => {
                last.output = vec![name.into()];
                name.into()
            }
            _ => self.node("Identity", name, &[current], vec![]),
        }
    }

    fn value_info(&self, name: &str, dims: [Dimension; 2]) -> ValueInfoProto {
        ValueInfoProto {
            name: name.into(),
            r#type: Some(TypeProto {
                tensor_type: Some(TensorTypeProto {
                    elem_type: Self::element_type(),
                    shape: Some(TensorShapeProto { dim: dims.to_vec() }),
                }),
            }),
            doc_string: String::new(),
        }
    }
}
