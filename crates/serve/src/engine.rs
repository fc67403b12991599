//! Engine mode: a backprop-nn MLP trained by the `Trainer` of backprop-train on the
//! Playground's data (the replica's points, through backprop-data's adapter), with any
//! layer sizes up to the parameter cap, the optimizers of backprop-optim and the losses of
//! backprop-nn. The Trainer owns the loop; an observer ([`FrameObserver`]) hands each
//! epoch's snapshot to the worker, which draws frames from it and asks to stop when a
//! command waits.

use backprop_autograd::{Graph, Var};
use backprop_data::{Dataset, Feature, LabelEncoding, PlaygroundSpec};
use backprop_nn::{Activation, Layer, Loss, ModelMeta, Module, Reduction, Sequential, mlp, save_model};
use backprop_optim::{OptimizerConfig, ScheduleConfig, ScheduleKind};
use backprop_playground::{InputFeature, Problem, construct_input};
use backprop_tensor::{Tensor, TensorRng};
use backprop_train::{Control, EpochRecord, Observer, Snapshot, TrainConfig, Trainer, TrainingState};

use crate::derivatives::{Backward, FORMULAS, LayerGradients, Local, batch_rows};
use crate::error::{ApiError, ApiResult};
use crate::experiment::Resolved;
use crate::frame::{Frame, Grid, HEATMAP_SIZE, NEURON_MAP_SIZE, Points, node_grids, unix_ms};
use crate::run::{Run, View};

/// The element type of engine mode (PyTorch's default).
pub type F = f32;

/// Engine mode's run: graph, model, optimizer, the Trainer's state and the data.
pub struct EngineRun {
    graph: Graph<F>,
    model: Sequential,
    optimizer: Box<dyn backprop_optim::Optimizer<F>>,
    loss: Loss,
    config: TrainConfig,
    state: TrainingState,
    train: Dataset<F>,
    test: Dataset<F>,
    data: Data,
    losses: (f64, f64),
}

/// What frames need besides the model: the input features of the plane's (x, y) and the raw
/// points, both absent for uploaded data of more than two columns (no heat map then).
struct Data {
    features: Option<Vec<InputFeature>>,
    points: Option<Points>,
    loss: Loss,
    classes: usize,
    parameters: usize,
}

fn bad(e: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request(e.to_string())
}

/// A seed string as the Trainer's and the initialiser's `u64` (FNV-1a, stable across runs).
fn seed_u64(seed: &str) -> u64 {
    seed.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// The loss of the experiment's name, checked against the problem.
fn loss_of(resolved: &Resolved) -> ApiResult<Loss> {
    let loss: Loss = resolved.loss.parse().map_err(bad)?;
    let regression = resolved.config.problem == Problem::Regression;
    if regression != (loss == Loss::Mse) {
        return Err(ApiError::bad_request(format!(
            "`loss` `{}` does not fit a {} problem (regression takes mse; classification log, ce or hinge)",
            resolved.loss,
            resolved.config.problem.name()
        )));
    }
    Ok(loss)
}

/// backprop-nn's activation of a Playground activation.
pub fn nn_activation(a: backprop_playground::Activation) -> Activation {
    match a {
        backprop_playground::Activation::Tanh => Activation::Tanh,
        backprop_playground::Activation::Relu => Activation::Relu,
        backprop_playground::Activation::Sigmoid => Activation::Sigmoid,
        backprop_playground::Activation::Linear => Activation::Identity,
    }
}

/// The model as a backprop-nn model file (the bytes `backprop predict` and PyTorch load),
/// written by backprop-nn's own writer into a temporary file and read back.
///
/// # Errors
/// 409 when the model cannot be saved (a diverged weight), 500 when the temporary file fails.
pub fn model_file_bytes(graph: &Graph<F>, model: &Sequential, meta: &ModelMeta) -> ApiResult<Vec<u8>> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let path = std::env::temp_dir().join(format!(
        "backprop-serve-{}-{}.safetensors",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    ));
    let written = save_model(&path, model, graph, meta).map_err(|e| ApiError::conflict(e.to_string()));
    let bytes = written.and_then(|()| {
        std::fs::read(&path).map_err(|e| {
            ApiError::new(
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot read the model file back: {e}"),
            )
        })
    });
    let _ = std::fs::remove_file(&path);
    bytes
}

/// The learning-rate schedule of the experiment's name, over epochs.
fn schedule_of(name: &str) -> Option<ScheduleConfig> {
    let kind = match name {
        "step" => ScheduleKind::Step { step_size: 100, gamma: 0.5 },
        "exponential" => ScheduleKind::Exponential { gamma: 0.995 },
        "cosine" => ScheduleKind::Cosine { t_max: 1000, eta_min: 0.0 },
        _ => return None,
    };
    Some(ScheduleConfig { kind, warmup_steps: 0 })
}

impl EngineRun {
    /// Builds the model and the data of `resolved` (engine mode).
    ///
    /// # Errors
    /// 400 for settings the engine refuses (a loss that does not fit the problem, say).
    pub fn new(resolved: &Resolved, upload: Option<&Dataset<F>>) -> ApiResult<Self> {
        let c = &resolved.config;
        let loss = loss_of(resolved)?;
        let seed = seed_u64(c.seed.as_deref().unwrap_or(""));
        let (train, test, features, points, classes) = match upload {
            Some(data) => uploaded(data, c.perc_train_data, seed)?,
            None => {
                let spec = PlaygroundSpec::from_config(c).map_err(bad)?;
                let (train, test) = spec.generate_split::<F>().map_err(bad)?;
                let (raw_train, raw_test) =
                    spec.with_features(vec![Feature::X1, Feature::X2]).generate_split::<F>().map_err(bad)?;
                let points = Points { train: raw_points(&raw_train)?, test: raw_points(&raw_test)? };
                let classes = if c.problem == Problem::Classification { 2 } else { 1 };
                (train, test, Some(c.input_features()), Some(points), classes)
            }
        };
        let outputs = if loss == Loss::CrossEntropy { classes } else { 1 };
        let mut sizes = vec![train.num_features()];
        sizes.extend(&c.network_shape);
        sizes.push(outputs);
        let activation = nn_activation(c.activation);
        let mut graph = Graph::new();
        let model = mlp(&mut graph, &sizes, activation, &mut TensorRng::seed_from_u64(seed)).map_err(bad)?;
        let optimizer = OptimizerConfig::from_name(&resolved.optimizer)
            .map_err(bad)?
            .with_lr(c.learning_rate)
            .build(model.parameters())
            .map_err(bad)?;
        let (l1, l2) = match c.regularization {
            backprop_playground::Regularization::L1 => (c.regularization_rate, 0.0),
            backprop_playground::Regularization::L2 => (0.0, c.regularization_rate),
            backprop_playground::Regularization::None => (0.0, 0.0),
        };
        let config = TrainConfig {
            batch_size: c.batch_size.min(train.len()),
            seed,
            l1,
            l2,
            schedule: schedule_of(&resolved.schedule),
            ..TrainConfig::default()
        };
        config.validate().map_err(bad)?;
        let parameters = backprop_playground::Network::parameter_count(&sizes);
        let data = Data { features, points, loss, classes, parameters };
        let mut run = EngineRun {
            graph,
            model,
            optimizer,
            loss,
            config,
            state: TrainingState::default(),
            train,
            test,
            data,
            losses: (f64::NAN, f64::NAN),
        };
        // Epoch 0's losses: a fit of zero epochs evaluates the untrained model.
        run.train(0, &mut |_| true).map_err(ApiError::bad_request)?;
        Ok(run)
    }
}

/// Train and test sets of an uploaded data set, split by `percent` with `seed`; two feature
/// columns are the plane's x and y (a heat map), more are not.
#[allow(clippy::type_complexity)]
fn uploaded(
    data: &Dataset<F>,
    percent: f64,
    seed: u64,
) -> ApiResult<(Dataset<F>, Dataset<F>, Option<Vec<InputFeature>>, Option<Points>, usize)> {
    let (train, test) = backprop_data::train_test_split(data, 1.0 - percent / 100.0, seed).map_err(bad)?;
    if test.is_empty() {
        return Err(ApiError::bad_request(format!(
            "the uploaded data's {} rows leave no test rows at percTrainData {percent}",
            data.len()
        )));
    }
    let classes = data.targets().num_classes().unwrap_or(1);
    if data.num_features() != 2 {
        return Ok((train, test, None, None, classes));
    }
    let points = Points { train: raw_points(&train)?, test: raw_points(&test)? };
    Ok((train, test, Some(vec![InputFeature::X, InputFeature::Y]), Some(points), classes))
}

/// `[x, y, label]` of a data set whose features are x1, x2 (labels ±1 or values).
fn raw_points(data: &Dataset<F>) -> ApiResult<Vec<[f64; 3]>> {
    let labels = match (data.targets().values(), data.targets().num_classes()) {
        (Some(values), _) => values.clone(),
        (None, Some(2)) => data.targets().labels(LabelEncoding::PlusMinusOne).map_err(bad)?,
        (None, _) => data.targets().labels(LabelEncoding::Index).map_err(bad)?,
    };
    let xy = data.features().as_slice();
    Ok(labels
        .as_slice()
        .iter()
        .enumerate()
        .map(|(i, &l)| [f64::from(xy[2 * i]), f64::from(xy[2 * i + 1]), f64::from(l)])
        .collect())
}

/// The value the page colours for one row of outputs: the output in [−1, 1] terms
/// (2σ(z) − 1 for a logit, p₁ − p₀ for two softmax classes, the value for regression).
fn display_value(loss: Loss, row: &[F]) -> f64 {
    match (loss, row) {
        (Loss::BceWithLogits, [z]) => (f64::from(*z) / 2.0).tanh(),
        (Loss::CrossEntropy, [a, b]) => (f64::from(*b - *a) / 2.0).tanh(),
        (_, [z, ..]) => f64::from(*z).clamp(-1e6, 1e6),
        (_, []) => 0.0,
    }
}

/// A view of the model between steps, for frames.
struct EngineView<'a> {
    graph: &'a Graph<F>,
    model: &'a Sequential,
    data: &'a Data,
    epoch: u64,
    losses: (f64, f64),
}

impl View for EngineView<'_> {
    fn epoch(&self) -> u64 {
        self.epoch
    }

    fn losses(&self) -> (f64, f64) {
        self.losses
    }

    fn frame(&self, points: bool, epochs_per_second: f64) -> Frame {
        let heatmap = self.data.features.as_ref().map(|features| self.heatmap(features));
        let neurons =
            self.data.features.as_ref().map_or_else(Vec::new, |features| self.neuron_maps(features));
        let (weights, biases) = dense_parameters(self.graph, self.model);
        Frame {
            epoch: self.epoch,
            train_loss: self.losses.0,
            test_loss: self.losses.1,
            epochs_per_second,
            step_time_ms: unix_ms(),
            heatmap,
            neurons,
            weights,
            biases,
            points: if points { self.data.points.clone() } else { None },
            classes: self.data.classes,
        }
    }
}

/// One batch of every cell's `features` over a `size`-per-side grid of the plane, in the
/// grids' order, predicted at once.
fn grid_batch(size: usize, features: &[InputFeature]) -> Tensor<F> {
    let mut input = Vec::with_capacity(features.len());
    let mut rows: Vec<F> = Vec::with_capacity(size * size * features.len());
    node_grids(size, 0, |x, y, _| {
        construct_input(features, x, y, &mut input);
        rows.extend(input.iter().map(|&v| v as F));
    });
    Tensor::from_vec(&[size * size, features.len()], rows)
}

impl EngineView<'_> {
    /// Each node's output over the coarse grid, layer by layer, inputs first: the input
    /// features themselves, then every layer of neurons after its activation (the model's
    /// output as it comes, logits for the classification losses).
    fn neuron_maps(&self, features: &[InputFeature]) -> Vec<Vec<Grid>> {
        let grid = grid_batch(NEURON_MAP_SIZE, features);
        let Ok(stages) = self.model.predict_stages(self.graph, &grid) else { return Vec::new() };
        let grids_of = |t: &Tensor<F>| -> Vec<Grid> {
            let width = t.shape().get(1).copied().unwrap_or(1).max(1);
            let values = t.as_slice();
            (0..width)
                .map(|j| Grid {
                    size: NEURON_MAP_SIZE,
                    domain: backprop_playground::heatmap::DOMAIN,
                    values: values.iter().skip(j).step_by(width).map(|&v| f64::from(v)).collect(),
                })
                .collect()
        };
        std::iter::once(&grid).chain(&stages).map(grids_of).collect()
    }

    /// The model's output over the page's grid, `features` computed from each cell's (x, y).
    fn heatmap(&self, features: &[InputFeature]) -> Grid {
        let cells = HEATMAP_SIZE * HEATMAP_SIZE;
        let grid = grid_batch(HEATMAP_SIZE, features);
        let values = match self.model.predict(self.graph, &grid) {
            Ok(out) => {
                let width = out.shape().get(1).copied().unwrap_or(1).max(1);
                out.as_slice().chunks(width).map(|row| display_value(self.data.loss, row)).collect()
            }
            Err(_) => vec![0.0; cells],
        };
        Grid { size: HEATMAP_SIZE, domain: backprop_playground::heatmap::DOMAIN, values }
    }
}

/// The Dense layers' parameters as `weights[l][i][j]` (input i to output j) and `biases[l][j]`,
/// from the model's PyTorch-layout state dict (`weight` is `[out, in]`).
fn dense_parameters(graph: &Graph<F>, model: &Sequential) -> (Vec<Vec<Vec<f64>>>, Vec<Vec<f64>>) {
    let (mut weights, mut biases) = (Vec::new(), Vec::new());
    for (name, tensor) in model.state_dict(graph).unwrap_or_default() {
        let values: Vec<f64> = tensor.as_slice().iter().map(|&v| f64::from(v)).collect();
        if name.ends_with("weight") {
            let (outs, ins) = (tensor.shape()[0], tensor.shape().get(1).copied().unwrap_or(1));
            weights.push((0..ins).map(|i| (0..outs).map(|j| values[j * ins + i]).collect()).collect());
        } else {
            biases.push(values);
        }
    }
    (weights, biases)
}

/// The Trainer's observer: hands every epoch's snapshot to the worker's callback and stops
/// the fit when the callback says so.
struct FrameObserver<'a> {
    data: &'a Data,
    start: u64,
    last: &'a mut (f64, f64),
    after_epoch: &'a mut dyn FnMut(&dyn View) -> bool,
}

impl Observer<F, Sequential> for FrameObserver<'_> {
    fn on_epoch_end(
        &mut self,
        run: &Snapshot<'_, F, Sequential>,
        record: &EpochRecord,
    ) -> backprop_train::Result<Control> {
        let loss = |m: Option<backprop_train::Metrics>| m.map_or(f64::NAN, |m| m.loss);
        *self.last = (loss(record.train), loss(record.validation));
        if record.epoch == self.start {
            return Ok(Control::Continue); // the fit's starting point, already shown
        }
        let view = EngineView {
            graph: run.graph,
            model: run.model,
            data: self.data,
            epoch: record.epoch,
            losses: *self.last,
        };
        Ok(if (self.after_epoch)(&view) { Control::Continue } else { Control::Stop })
    }
}

impl View for EngineRun {
    fn epoch(&self) -> u64 {
        self.state.epoch
    }

    fn losses(&self) -> (f64, f64) {
        self.losses
    }

    fn frame(&self, points: bool, epochs_per_second: f64) -> Frame {
        EngineView {
            graph: &self.graph,
            model: &self.model,
            data: &self.data,
            epoch: self.state.epoch,
            losses: self.losses,
        }
        .frame(points, epochs_per_second)
    }
}

impl Run for EngineRun {
    fn parameters(&self) -> usize {
        self.data.parameters
    }

    fn classes(&self) -> usize {
        self.data.classes
    }

    fn train(&mut self, epochs: u64, after_epoch: &mut dyn FnMut(&dyn View) -> bool) -> Result<(), String> {
        let start = self.state.epoch;
        let config = TrainConfig { epochs: start.saturating_add(epochs), ..self.config.clone() };
        let mut trainer = Trainer::new(self.loss, config).map_err(|e| e.to_string())?;
        trainer.resume(&self.state).map_err(|e| e.to_string())?;
        let mut observer = FrameObserver { data: &self.data, start, last: &mut self.losses, after_epoch };
        let result = trainer.fit(
            &mut self.graph,
            &mut self.model,
            &mut *self.optimizer,
            &self.train,
            Some(&self.test),
            &mut observer,
        );
        self.state = trainer.state().clone();
        result.map(drop).map_err(|e| e.to_string())
    }

    fn model_file(&self) -> ApiResult<Vec<u8>> {
        let mut meta = ModelMeta::new(self.loss);
        meta.feature_names = self.train.feature_names().to_vec();
        if let Some(names) = self.train.targets().class_names() {
            meta.class_names = names.to_vec();
        }
        model_file_bytes(&self.graph, &self.model, &meta)
    }

    /// backprop-autograd's backward pass on the batch, the model's layers run one by one so
    /// that each Dense layer's Z is a node whose gradient can be read; then one forward pass
    /// of the example with σ'(z) of each layer read as the gradient of Z under a seed of ones
    /// at its activation. The graph's tape and gradients are cleared afterwards (the Trainer
    /// starts every step from zero gradients anyway).
    fn derivatives(&mut self, example: usize) -> ApiResult<(Backward, Local)> {
        let batch = batch_rows(example, self.config.batch_size, self.train.len())?;
        let retained = self.graph.set_retain_tape(true);
        let result = layer_derivatives(&mut self.graph, &self.model, self.loss, &self.train, &batch, example);
        self.graph.set_retain_tape(retained);
        self.graph.zero_grad();
        self.graph.clear();
        let (layers, slopes) = result.map_err(|e| ApiError::conflict(e.to_string()))?;
        let weights = layers.iter().map(|l| l.w.clone()).collect();
        Ok((
            Backward { batch, layers, formulas: FORMULAS, updated: false },
            Local { example, weights, slopes },
        ))
    }

    fn data_csv(&self) -> String {
        self.data.points.as_ref().map_or_else(|| "x,y,label,split\n".to_string(), Points::csv)
    }
}

/// A Dense layer's output Z and the activation's output after it (Z itself when none follows).
fn run_layers(graph: &mut Graph<F>, model: &Sequential, x: Var) -> backprop_nn::Result<Vec<(Var, Var)>> {
    let mut h = x;
    let mut outputs: Vec<(Var, Var)> = Vec::new();
    for layer in model.layers() {
        match layer {
            Layer::Dense(dense) => {
                h = dense.clone().forward(graph, h)?;
                outputs.push((h, h));
            }
            Layer::Activation(activation) => {
                h = activation.apply(graph, h)?;
                if let Some(last) = outputs.last_mut() {
                    last.1 = h;
                }
            }
            Layer::Dropout(dropout) => h = dropout.clone().forward(graph, h)?,
        }
    }
    Ok(outputs)
}

/// Any of the errors of the libraries a backward pass goes through (data, nn, autograd).
type AnyError = Box<dyn std::error::Error>;

/// The Dense layers' gradients on `batch` and σ'(z) per layer at `example`.
fn layer_derivatives(
    graph: &mut Graph<F>,
    model: &Sequential,
    loss: Loss,
    train: &Dataset<F>,
    batch: &[usize],
    example: usize,
) -> Result<(Vec<LayerGradients>, Vec<Vec<f64>>), AnyError> {
    let to_f64 = |t: &Tensor<F>| -> Vec<f64> { t.as_slice().iter().map(|&v| f64::from(v)).collect() };
    // A node no gradient reached (below a dead ReLU, say) has a zero one.
    let grad = |graph: &Graph<F>, v: Var| -> Result<Vec<f64>, AnyError> {
        let len = graph.value(v)?.len();
        Ok(graph.grad_opt(v)?.map_or_else(|| vec![0.0; len], to_f64))
    };
    let as_matrix = |values: Vec<f64>, columns: usize| -> Vec<Vec<f64>> {
        values.chunks(columns.max(1)).map(<[f64]>::to_vec).collect()
    };
    graph.clear();
    graph.zero_grad();
    let mut rows = backprop_data::Batch::new();
    train.batch_into(batch, &mut rows)?;
    let x = graph.input_copy(&rows.features);
    let outputs = run_layers(graph, model, x)?;
    // The model's output, as the Trainer's loss takes it.
    let Some(&(_, out)) = outputs.last() else { return Ok((Vec::new(), Vec::new())) };
    let mean = loss.compute_targets(graph, out, (&rows.targets).into(), Reduction::Mean)?;
    graph.backward(mean)?;
    let mut layers = Vec::with_capacity(outputs.len());
    for (dense, &(z, _)) in model.dense_layers().zip(&outputs) {
        let width = graph.shape(z)?[1];
        let dz_rows = grad(graph, z)?;
        let dz: Vec<f64> = (0..width).map(|j| dz_rows.iter().skip(j).step_by(width).sum()).collect();
        let w = as_matrix(to_f64(graph.value(dense.weight())?), width);
        let dw = as_matrix(grad(graph, dense.weight())?, width);
        let (b, db) = match dense.bias() {
            Some(bias) => (to_f64(graph.value(bias)?), grad(graph, bias)?),
            None => (vec![0.0; width], dz.clone()),
        };
        layers.push(LayerGradients { dz, dw, db, w, b });
    }
    // σ'(z) at the example: the gradient of Z when the activation's output is seeded with ones.
    graph.clear();
    graph.zero_grad();
    train.batch_into(&[example], &mut rows)?;
    let x = graph.input_copy(&rows.features);
    let outputs = run_layers(graph, model, x)?;
    let mut slopes = Vec::with_capacity(outputs.len());
    for &(z, a) in &outputs {
        if z == a {
            slopes.push(vec![1.0; graph.shape(z)?[1]]);
            continue;
        }
        let ones = Tensor::full(graph.shape(a)?, 1.0);
        graph.backward_with_seed(a, ones)?;
        slopes.push(grad(graph, z)?);
    }
    Ok((layers, slopes))
}
