//! ONNX export, checked by running the exported files with a reference interpreter of the ONNX
//! operators they use (written here from the operator specifications, reading nothing but the
//! file) against `Sequential::predict` and `Loss::probabilities` on random inputs. onnxruntime
//! runs the same comparison through the command line in `crates/cli/tests/onnx_python.rs`
//! where a Python with it is available. (tract-onnx was the plan: its build alone took over 29
//! minutes here, beyond the test suite's budget.)

use std::collections::HashMap;
use std::path::PathBuf;

use backprop_autograd::Graph;
use backprop_data::Standardizer;
use backprop_nn::onnx::proto::{DimensionValue, ModelProto, NodeProto};
use backprop_nn::onnx::{IR_VERSION, OPSET_VERSION};
use backprop_nn::{Activation, Loss, MlpSpec, ModelMeta, Sequential, Task, export_onnx};
use backprop_tensor::{Float, Tensor, TensorRng};
use prost::Message;

/// Relative tolerance between the graph's outputs and `predict`'s.
const TOLERANCE: f64 = 1e-5;

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("backprop-onnx-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A model of `spec` with random weights and metadata for `loss`, with input scaling when
/// `scaled`.
fn random_model<F: Float>(
    spec: &MlpSpec,
    loss: Loss,
    scaled: bool,
    seed: u64,
) -> (Graph<F>, Sequential, ModelMeta) {
    let mut g = Graph::<F>::new();
    let mut rng = TensorRng::seed_from_u64(seed);
    let model = spec.build(&mut g, &mut rng).unwrap();
    let inputs = spec.sizes[0];
    let mut meta = ModelMeta::new(loss);
    meta.feature_names = (0..inputs).map(|i| format!("f{i}")).collect();
    let classes = match loss.task() {
        Task::Regression => 0,
        Task::Binary => 2,
        Task::MultiClass => *spec.sizes.last().unwrap(),
    };
    meta.class_names = (0..classes).map(|c| format!("class {c}")).collect();
    if scaled {
        let mean = (0..inputs).map(|_| rng.uniform_range(-5.0, 5.0)).collect();
        let std = (0..inputs).map(|_| rng.uniform_range(0.2, 4.0)).collect();
        meta.input_scaling = Some(Standardizer::from_parts(mean, std).unwrap());
    }
    (g, model, meta)
}

/// What `backprop predict` computes for raw inputs `x`: the outputs, then the probabilities
/// of a classifier.
fn expected<F: Float>(g: &Graph<F>, model: &Sequential, meta: &ModelMeta, x: &Tensor<F>) -> Vec<Vec<f64>> {
    let mut scaled = x.clone();
    if let Some(s) = &meta.input_scaling {
        s.apply_in_place(&mut scaled).unwrap();
    }
    let outputs = model.predict(g, &scaled).unwrap();
    let f64s = |t: &Tensor<F>| t.as_slice().iter().map(|&v| Float::to_f64(v)).collect::<Vec<f64>>();
    match meta.task {
        Task::Regression => vec![f64s(&outputs)],
        _ => vec![f64s(&outputs), f64s(&meta.loss.probabilities(&outputs).unwrap())],
    }
}

/// A value of the graph: `rows × cols`, row-major (every value here is a matrix or a vector).
#[derive(Clone)]
struct Value {
    rows: usize,
    cols: usize,
    data: Vec<f64>,
}

impl Value {
    fn map(&self, f: impl Fn(f64) -> f64) -> Value {
        Value { rows: self.rows, cols: self.cols, data: self.data.iter().map(|&v| f(v)).collect() }
    }

    /// `self ∘ other` with `other` a row vector broadcast over the rows (ONNX's rule for `[n, k]`
    /// against `[k]`).
    fn broadcast(&self, other: &Value, f: impl Fn(f64, f64) -> f64) -> Value {
        assert_eq!(
            other.data.len(),
            self.cols,
            "broadcast of [{}] over [{}, {}]",
            other.data.len(),
            self.rows,
            self.cols
        );
        let data = self.data.iter().enumerate().map(|(i, &v)| f(v, other.data[i % self.cols])).collect();
        Value { rows: self.rows, cols: self.cols, data }
    }
}

fn float_attribute(node: &NodeProto, name: &str) -> Option<f32> {
    node.attribute.iter().find(|a| a.name == name).map(|a| a.f)
}

fn int_attribute(node: &NodeProto, name: &str) -> Option<i64> {
    node.attribute.iter().find(|a| a.name == name).map(|a| a.i)
}

/// Runs the ONNX file at `path` on `x` with a reference interpreter of the operators the
/// exporter writes, in `f64`, following the ONNX operator specifications (opset 17): every
/// graph output, flattened. It reads only the file, not the model it came from, and fails on
/// an operator, attribute or initializer layout it does not know.
fn run_onnx<F: Float>(path: &std::path::Path, x: &Tensor<F>) -> Vec<Vec<f64>> {
    let file = ModelProto::decode(std::fs::read(path).unwrap().as_slice()).unwrap();
    let graph = file.graph.unwrap();
    let mut values: HashMap<String, Value> = HashMap::new();
    for init in &graph.initializer {
        let width = match init.data_type {
            1 => 4,
            11 => 8,
            other => panic!("initializer {}: element type {other}", init.name),
        };
        let data: Vec<f64> = init
            .raw_data
            .chunks_exact(width)
            .map(|b| {
                if width == 4 {
                    f32::from_le_bytes(b.try_into().unwrap()) as f64
                } else {
                    f64::from_le_bytes(b.try_into().unwrap())
                }
            })
            .collect();
        let (rows, cols) = match init.dims[..] {
            [n] => (1, n as usize),
            [r, c] => (r as usize, c as usize),
            ref dims => panic!("initializer {}: dims {dims:?}", init.name),
        };
        assert_eq!(rows * cols, data.len(), "initializer {}: dims against raw_data", init.name);
        values.insert(init.name.clone(), Value { rows, cols, data });
    }
    let (n, k) = (x.shape()[0], x.shape()[1]);
    values.insert(
        graph.input[0].name.clone(),
        Value { rows: n, cols: k, data: x.as_slice().iter().map(|&v| Float::to_f64(v)).collect() },
    );
    for node in &graph.node {
        let input = |i: usize| {
            values
                .get(&node.input[i])
                .unwrap_or_else(|| panic!("{}: no value {}", node.name, node.input[i]))
                .clone()
        };
        let out = match node.op_type.as_str() {
            "Sub" => input(0).broadcast(&input(1), |a, b| a - b),
            "Div" => input(0).broadcast(&input(1), |a, b| a / b),
            "Gemm" => {
                // Y = alpha·A·op(B) + beta·C, with op(B) = Bᵀ when transB = 1.
                let (a, b) = (input(0), input(1));
                assert_eq!(int_attribute(node, "transA").unwrap_or(0), 0);
                let trans_b = int_attribute(node, "transB").unwrap_or(0) == 1;
                let alpha = float_attribute(node, "alpha").unwrap_or(1.0) as f64;
                let beta = float_attribute(node, "beta").unwrap_or(1.0) as f64;
                let (inner, cols) = if trans_b { (b.cols, b.rows) } else { (b.rows, b.cols) };
                assert_eq!(a.cols, inner, "{}: inner dimensions", node.name);
                let at = |i: usize, j: usize| {
                    if trans_b { b.data[j * b.cols + i] } else { b.data[i * b.cols + j] }
                };
                let mut data = vec![0.0; a.rows * cols];
                for r in 0..a.rows {
                    for c in 0..cols {
                        let dot: f64 = (0..inner).map(|i| a.data[r * a.cols + i] * at(i, c)).sum();
                        data[r * cols + c] = alpha * dot;
                    }
                }
                let y = Value { rows: a.rows, cols, data };
                if node.input.len() > 2 { y.broadcast(&input(2), |v, c| v + beta * c) } else { y }
            }
            "Relu" => input(0).map(|v| v.max(0.0)),
            "LeakyRelu" => {
                let alpha = float_attribute(node, "alpha").unwrap_or(0.01) as f64;
                input(0).map(|v| if v < 0.0 { alpha * v } else { v })
            }
            "Tanh" => input(0).map(f64::tanh),
            "Sigmoid" => input(0).map(|v| 1.0 / (1.0 + (-v).exp())),
            "Neg" => input(0).map(|v| -v),
            "Identity" => input(0),
            "Softmax" => {
                assert_eq!(
                    int_attribute(node, "axis").unwrap_or(-1).rem_euclid(2),
                    1,
                    "{}: softmax over the columns",
                    node.name
                );
                let mut v = input(0);
                for row in v.data.chunks_mut(v.cols) {
                    let max = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                    row.iter_mut().for_each(|x| *x = (*x - max).exp());
                    let sum: f64 = row.iter().sum();
                    row.iter_mut().for_each(|x| *x /= sum);
                }
                v
            }
            "Concat" => {
                assert_eq!(int_attribute(node, "axis"), Some(1), "{}: concatenation of columns", node.name);
                let parts: Vec<Value> = (0..node.input.len()).map(input).collect();
                let cols = parts.iter().map(|p| p.cols).sum();
                let mut data = Vec::with_capacity(parts[0].rows * cols);
                for r in 0..parts[0].rows {
                    for p in &parts {
                        data.extend_from_slice(&p.data[r * p.cols..(r + 1) * p.cols]);
                    }
                }
                Value { rows: parts[0].rows, cols, data }
            }
            other => panic!("{}: operator {other} is not one the exporter should write", node.name),
        };
        values.insert(node.output[0].clone(), out);
    }
    graph
        .output
        .iter()
        .map(|o| values.remove(&o.name).unwrap_or_else(|| panic!("no output {}", o.name)).data)
        .collect()
}

/// Exports a model of `spec`, runs it with the reference interpreter on random raw inputs of two batch sizes, and
/// checks every output against `predict` within [`TOLERANCE`].
fn check<F: Float>(tag: &str, spec: &MlpSpec, loss: Loss, scaled: bool) {
    let (g, model, meta) = random_model::<F>(spec, loss, scaled, 11);
    let dir = temp_dir(tag);
    let path = dir.join("m.onnx");
    export_onnx(&path, &model, &g, &meta).unwrap();
    let mut rng = TensorRng::seed_from_u64(5);
    for n in [7, 1] {
        let x = Tensor::<F>::from_shape_fn(&[n, spec.sizes[0]], |_| F::from_f64(rng.normal() * 3.0 + 0.5));
        let want = expected(&g, &model, &meta, &x);
        let got = run_onnx(&path, &x);
        assert_eq!(got.len(), want.len(), "{tag}: number of outputs");
        for (o, (got, want)) in got.iter().zip(&want).enumerate() {
            assert_eq!(got.len(), want.len(), "{tag}: output {o} length");
            for (i, (a, b)) in got.iter().zip(want).enumerate() {
                assert!(
                    (a - b).abs() <= TOLERANCE * b.abs().max(1.0),
                    "{tag}: output {o}, element {i}: the ONNX graph gives {a}, predict {b}"
                );
            }
        }
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn every_activation_matches_predict() {
    let activations = [
        Activation::Identity,
        Activation::Sigmoid,
        Activation::Tanh,
        Activation::Relu,
        Activation::LEAKY_RELU,
        Activation::LeakyRelu { alpha: 0.3 },
        Activation::Softmax,
    ];
    for a in activations {
        for scaled in [false, true] {
            let spec = MlpSpec::new(&[3, 6, 5, 4], a);
            check::<f32>(&format!("act-{a}-{scaled}"), &spec, Loss::CrossEntropy, scaled);
        }
    }
}

#[test]
fn binary_multiclass_and_regression_match_predict() {
    for scaled in [false, true] {
        check::<f32>("binary", &MlpSpec::new(&[2, 8, 1], Activation::Tanh), Loss::BceWithLogits, scaled);
        check::<f32>("hinge", &MlpSpec::new(&[2, 8, 1], Activation::Relu), Loss::Hinge, scaled);
        check::<f32>("multi", &MlpSpec::new(&[4, 8, 3], Activation::Relu), Loss::CrossEntropy, scaled);
        check::<f32>("regression", &MlpSpec::new(&[5, 8, 1], Activation::Sigmoid), Loss::Mse, scaled);
        check::<f32>("regression-2", &MlpSpec::new(&[5, 8, 2], Activation::LEAKY_RELU), Loss::Mse, scaled);
    }
}

#[test]
fn dropout_no_bias_output_activation_and_f64_match_predict() {
    let mut spec = MlpSpec::new(&[3, 6, 6, 3], Activation::Tanh);
    spec.dropout = 0.5;
    spec.bias = false;
    spec.output = Activation::Sigmoid;
    check::<f32>("dropout", &spec, Loss::CrossEntropy, true);
    check::<f64>("f64", &MlpSpec::new(&[3, 6, 3], Activation::Relu), Loss::CrossEntropy, true);
    check::<f64>("f64-binary", &MlpSpec::new(&[3, 6, 1], Activation::Tanh), Loss::BceWithLogits, false);
}

#[test]
fn the_file_names_its_outputs_dims_and_metadata() {
    let (g, model, meta) =
        random_model::<f32>(&MlpSpec::new(&[4, 5, 3], Activation::Relu), Loss::CrossEntropy, true, 3);
    let dir = temp_dir("meta");
    let path = dir.join("m.onnx");
    export_onnx(&path, &model, &g, &meta).unwrap();
    let file = ModelProto::decode(std::fs::read(&path).unwrap().as_slice()).unwrap();
    assert_eq!((file.ir_version, file.opset_import[0].version), (IR_VERSION, OPSET_VERSION));
    assert_eq!((IR_VERSION, OPSET_VERSION), (8, 17));
    let graph = file.graph.unwrap();
    let names =
        |v: &[backprop_nn::onnx::proto::ValueInfoProto]| v.iter().map(|i| i.name.clone()).collect::<Vec<_>>();
    assert_eq!(names(&graph.input), ["input"]);
    assert_eq!(names(&graph.output), ["logits", "probabilities"]);
    let ops: Vec<&str> = graph.node.iter().map(|n| n.op_type.as_str()).collect();
    assert_eq!(ops, ["Sub", "Div", "Gemm", "Relu", "Gemm", "Softmax"]);
    for info in graph.input.iter().chain(&graph.output) {
        let dims = &info.r#type.as_ref().unwrap().tensor_type.as_ref().unwrap().shape.as_ref().unwrap().dim;
        assert_eq!(dims[0].value, Some(DimensionValue::DimParam("batch".into())), "{}", info.name);
    }
    let props: std::collections::BTreeMap<_, _> =
        file.metadata_props.iter().map(|p| (p.key.as_str(), p.value.as_str())).collect();
    assert_eq!(props["class_names"], r#"["class 0","class 1","class 2"]"#);
    assert_eq!(props["feature_names"], r#"["f0","f1","f2","f3"]"#);
    assert_eq!((props["task"], props["loss"]), ("multi_class", "cross_entropy"));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn export_refuses_what_onnx_cannot_hold_and_writes_nothing() {
    let dir = temp_dir("refuse");
    let path = dir.join("m.onnx");
    let spec = MlpSpec::new(&[2, 3, 1], Activation::LeakyRelu { alpha: 1e39 });
    let (g, model, meta) = random_model::<f64>(&spec, Loss::Mse, false, 1);
    let err = export_onnx(&path, &model, &g, &meta).unwrap_err().to_string();
    assert_eq!(
        err,
        "export_onnx: layer 1 (leaky_relu): ONNX's LeakyRelu keeps its slope as a 32-bit float, which cannot hold 1e39"
    );
    // Metadata that contradicts the model is refused as for model files.
    let (g, model, mut meta) =
        random_model::<f32>(&MlpSpec::new(&[2, 3, 1], Activation::Relu), Loss::Mse, false, 1);
    meta.feature_names = vec!["only one".into()];
    let err = export_onnx(&path, &model, &g, &meta).unwrap_err().to_string();
    assert!(err.ends_with("1 feature names for 2 inputs"), "{err}");
    assert!(!path.exists());
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0, "no temporary file is left");
    // A directory that does not exist: the error names the file.
    let missing = dir.join("no such dir").join("m.onnx");
    let (g, model, meta) =
        random_model::<f32>(&MlpSpec::new(&[2, 3, 1], Activation::Relu), Loss::Mse, false, 1);
    let err = export_onnx(&missing, &model, &g, &meta).unwrap_err().to_string();
    assert!(err.starts_with(&missing.display().to_string()), "{err}");
    std::fs::remove_dir_all(dir).unwrap();
}
