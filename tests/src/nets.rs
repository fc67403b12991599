//! Random networks: an MLP architecture with any activation mix, an initialisation, a loss, a
//! penalty and a batch, built and evaluated the same way in `f32` and `f64`.

use backprop_autograd::{Graph, Var};
use backprop_nn::{
    Activation, DenseInit, Layer, Loss, MlpSpec, Module, NnError, Reduction, Sequential, l1_penalty,
    l2_penalty,
};
use backprop_tensor::{Float, RngState, Tensor, TensorRng};
use proptest::prelude::*;

use crate::model_check::Objective;
use crate::values::{class_index, pm1, tensor_of, zero_one};

/// The most hidden layers of a random network.
pub const MAX_DEPTH: usize = 4;
/// The widest layer (inputs and outputs included) of a random network.
pub const MAX_WIDTH: usize = 16;
/// The largest batch of a random network case.
pub const MAX_BATCH: usize = 6;

/// A weight penalty added to the loss.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Penalty {
    /// None.
    None,
    /// `(λ/2) Σ w²` over the weight matrices ([`Sequential::weights`]).
    L2OnWeights(f64),
    /// `λ Σ |θ|` over all parameters, biases included.
    L1OnParameters(f64),
}

/// A random network problem: architecture, initialisation, loss, penalty and one batch.
#[derive(Debug, Clone)]
pub struct NetCase {
    /// Sizes, hidden and output activations, dropout, biases.
    pub spec: MlpSpec,
    /// The dense layers' initialisation.
    pub init: DenseInit,
    /// The seed of the initial values (and of the dropout masks).
    pub seed: u64,
    /// The loss on the network's outputs.
    pub loss: Loss,
    /// Mean or sum over the batch.
    pub reduction: Reduction,
    /// A penalty added to the loss.
    pub penalty: Penalty,
    /// The batch `[n, in]`, values in `[-2, 2]`.
    pub x: Tensor<f64>,
    /// Targets: `[n, out]` values for the elementwise losses, `[n]` class indices otherwise.
    pub targets: Tensor<f64>,
}

/// What may vary besides the architecture and the data.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NetOptions {
    /// Dropout layers after hidden activations (masks fixed by the seed).
    pub dropout: bool,
    /// L1 or L2 penalties added to the loss.
    pub penalty: bool,
    /// The reduction; `None` draws mean or sum.
    pub reduction: Option<Reduction>,
    /// The smallest batch (1 or more; at most [`MAX_BATCH`]).
    pub min_batch: usize,
}

impl NetOptions {
    /// Everything varies.
    pub const ALL: NetOptions = NetOptions { dropout: true, penalty: true, reduction: None, min_batch: 1 };
    /// No dropout, no penalty: the network and the loss only.
    pub const PLAIN: NetOptions =
        NetOptions { dropout: false, penalty: false, reduction: None, min_batch: 1 };
}

/// Any activation, leaky ReLU with a random slope.
pub fn activation() -> impl Strategy<Value = Activation> + Clone {
    prop_oneof![
        Just(Activation::Identity),
        Just(Activation::Sigmoid),
        Just(Activation::Tanh),
        Just(Activation::Relu),
        (0.01..0.5f64).prop_map(|alpha| Activation::LeakyRelu { alpha }),
        Just(Activation::Softmax),
    ]
}

/// A layer width, 1 (a single column) in about a fifth of the draws.
fn width() -> impl Strategy<Value = usize> + Clone {
    prop_oneof![1 => Just(1), 4 => 1..=MAX_WIDTH]
}

fn init() -> impl Strategy<Value = DenseInit> + Clone {
    prop_oneof![Just(DenseInit::TORCH), Just(DenseInit::XAVIER), Just(DenseInit::HE)]
}

fn reduction(fixed: Option<Reduction>) -> BoxedStrategy<Reduction> {
    match fixed {
        Some(r) => Just(r).boxed(),
        None => prop_oneof![Just(Reduction::Mean), Just(Reduction::Sum)].boxed(),
    }
}

fn penalty(allowed: bool) -> BoxedStrategy<Penalty> {
    if !allowed {
        return Just(Penalty::None).boxed();
    }
    prop_oneof![
        2 => Just(Penalty::None),
        1 => (0.0..1.0f64).prop_map(Penalty::L2OnWeights),
        1 => (0.0..0.5f64).prop_map(Penalty::L1OnParameters),
    ]
    .boxed()
}

fn dropout(allowed: bool) -> BoxedStrategy<f64> {
    if allowed { prop_oneof![3 => Just(0.0), 1 => 0.1..0.6f64].boxed() } else { Just(0.0).boxed() }
}

/// The targets of `loss` for a batch of `n` rows and `outputs` network outputs.
pub fn targets(loss: Loss, n: usize, outputs: usize) -> BoxedStrategy<Tensor<f64>> {
    match loss {
        Loss::Mse => tensor_of(vec![n, outputs], -2.0..=2.0).boxed(),
        Loss::BceWithLogits => tensor_of(vec![n, outputs], zero_one()).boxed(),
        Loss::LogisticPm1 | Loss::Hinge => tensor_of(vec![n, outputs], pm1()).boxed(),
        Loss::CrossEntropy | Loss::MultiMargin => tensor_of(vec![n], class_index(outputs)).boxed(),
    }
}

/// A random network case for `loss`: 0 to [`MAX_DEPTH`] hidden layers, widths 1 to
/// [`MAX_WIDTH`], any activation after each hidden layer and (a quarter of the time) after the
/// output, with or without biases, 1 (or `options.min_batch`) to [`MAX_BATCH`] rows.
pub fn net_case(loss: Loss, options: NetOptions) -> impl Strategy<Value = NetCase> {
    let architecture = (0..=MAX_DEPTH).prop_flat_map(|depth| {
        (
            prop::collection::vec(width(), depth + 2),
            prop::collection::vec(activation(), depth),
            prop_oneof![3 => Just(Activation::Identity), 1 => activation()],
        )
    });
    let min = options.min_batch.clamp(1, MAX_BATCH);
    let batch = prop_oneof![1 => Just(min), 3 => min..=MAX_BATCH];
    (
        architecture,
        batch,
        dropout(options.dropout),
        any::<bool>(),
        init(),
        any::<u64>(),
        reduction(options.reduction),
        penalty(options.penalty),
    )
        .prop_flat_map(
            move |((sizes, hidden, output), n, dropout, no_bias, init, seed, reduction, penalty)| {
                let spec = MlpSpec { sizes: sizes.clone(), hidden, output, dropout, bias: !no_bias };
                // Xavier and He start biases at exactly 0, the kink of |b|: under an L1 penalty every
                // finite difference of a bias would straddle it.
                let init =
                    if matches!(penalty, Penalty::L1OnParameters(_)) { DenseInit::TORCH } else { init };
                let x = tensor_of(vec![n, sizes[0]], -2.0..=2.0);
                let t = targets(loss, n, *sizes.last().expect("at least two sizes"));
                (x, t).prop_map(move |(x, targets)| NetCase {
                    spec: spec.clone(),
                    init,
                    seed,
                    loss,
                    reduction,
                    penalty,
                    x,
                    targets,
                })
            },
        )
}

impl NetCase {
    /// Builds the network in a new graph of element type `F` (the same initial values, rounded,
    /// for `f32` and `f64`).
    ///
    /// # Panics
    /// When the architecture is invalid (a bug of the strategy).
    pub fn build<F: Float>(&self) -> (Graph<F>, Sequential) {
        let mut g = Graph::new();
        let model = self
            .spec
            .build_with_init(&mut g, self.init, &mut TensorRng::seed_from_u64(self.seed))
            .unwrap_or_else(|e| panic!("building {:?}: {e}", self.spec));
        (g, model)
    }

    /// Records the penalised loss of `model` on input `x` against `targets`.
    ///
    /// # Errors
    /// As the model, the loss and the penalty.
    pub fn record_loss<F: Float>(
        &self,
        g: &mut Graph<F>,
        model: &mut Sequential,
        x: Var,
        targets: &Tensor<F>,
    ) -> Result<Var, NnError> {
        let outputs = model.forward(g, x)?;
        self.record_loss_of_outputs(g, model, outputs, targets)
    }

    fn record_loss_of_outputs<F: Float>(
        &self,
        g: &mut Graph<F>,
        model: &Sequential,
        outputs: Var,
        targets: &Tensor<F>,
    ) -> Result<Var, NnError> {
        let t = g.input(targets.clone());
        let loss = self.loss.compute(g, outputs, t, self.reduction)?;
        let penalty = match self.penalty {
            Penalty::None => return Ok(loss),
            Penalty::L2OnWeights(lambda) => l2_penalty(g, &model.weights(), lambda)?,
            Penalty::L1OnParameters(lambda) => l1_penalty(g, &model.parameters(), lambda)?,
        };
        Ok(g.add(loss, penalty)?)
    }

    /// One forward and backward pass of the penalised loss on `x` against `targets`, from zero
    /// gradients; the graph is cleared afterwards.
    ///
    /// # Errors
    /// As [`NetCase::record_loss`] and the backward pass.
    pub fn evaluate<F: Float>(
        &self,
        g: &mut Graph<F>,
        model: &mut Sequential,
        x: &Tensor<F>,
        targets: &Tensor<F>,
    ) -> Result<Evaluation<F>, NnError> {
        g.clear();
        g.zero_grad();
        let xv = g.leaf(x.clone());
        let outputs = model.forward(g, xv)?;
        let outputs_value = g.value(outputs)?.clone();
        let loss = self.record_loss_of_outputs(g, model, outputs, targets)?;
        let loss_value = g.value(loss)?.item();
        g.backward(loss)?;
        let input_grad = g.grad_opt(xv)?.cloned().unwrap_or_else(|| Tensor::zeros(x.shape()));
        let evaluation = Evaluation {
            outputs: outputs_value,
            loss: loss_value,
            param_grads: parameter_gradients(g, model),
            input_grad,
        };
        g.clear();
        Ok(evaluation)
    }

    /// The finite-difference objective of this case on a network built by [`NetCase::build`].
    pub fn objective(&self, model: &Sequential) -> NetObjective<'_> {
        NetObjective { case: self, model: model.clone(), masks: model.rng_states() }
    }

    /// Whether some kink can be near: a ReLU-like activation, the hinge losses, an L1 penalty.
    fn has_kinks(&self) -> bool {
        let kinked = |a: &Activation| matches!(a, Activation::Relu | Activation::LeakyRelu { .. });
        self.spec.hidden.iter().any(kinked)
            || kinked(&self.spec.output)
            || matches!(self.loss, Loss::Hinge | Loss::MultiMargin)
            || matches!(self.penalty, Penalty::L1OnParameters(_))
    }
}

/// The results of [`NetCase::evaluate`].
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation<F: Float> {
    /// The network's outputs.
    pub outputs: Tensor<F>,
    /// The penalised loss.
    pub loss: F,
    /// `∂L/∂θ` for every parameter, in [`Module::parameters`] order (zeros where none).
    pub param_grads: Vec<Tensor<F>>,
    /// `∂L/∂x`.
    pub input_grad: Tensor<F>,
}

/// The rows `rows` of a batch or of its targets (`[n]` or `[n, k]`), in that order.
///
/// # Panics
/// When a row is out of range or `t` is a scalar.
pub fn select_rows<F: Float>(t: &Tensor<F>, rows: &[usize]) -> Tensor<F> {
    let n = t.shape()[0];
    let width = t.len() / n.max(1);
    let mut shape = t.shape().to_vec();
    shape[0] = rows.len();
    let data = rows.iter().flat_map(|&r| t.as_slice()[r * width..(r + 1) * width].iter().copied()).collect();
    Tensor::from_vec(&shape, data)
}

/// The loss of a [`NetCase`] with its dropout masks fixed (each evaluation restores the mask
/// generators first), and its kink indicators.
pub struct NetObjective<'a> {
    case: &'a NetCase,
    model: Sequential,
    masks: Vec<RngState>,
}

impl Objective for NetObjective<'_> {
    fn loss(&mut self, g: &mut Graph<f64>, x: Var) -> Result<Var, String> {
        self.model.set_rng_states(&self.masks).map_err(|e| e.to_string())?;
        self.case.record_loss(g, &mut self.model, x, &self.case.targets).map_err(|e| e.to_string())
    }

    fn kinks(&mut self, g: &mut Graph<f64>, x: &Tensor<f64>) -> Result<Vec<f64>, String> {
        if !self.case.has_kinks() {
            return Ok(Vec::new());
        }
        network_kinks(self.case, &self.model, &self.masks, g, x).map_err(|e| e.to_string())
    }
}

/// The kink indicators of a case: the inputs of every ReLU and leaky ReLU (a layer by layer
/// replay of the forward pass, dropout masks included), the hinge margins, the L1-penalised
/// values.
fn network_kinks(
    case: &NetCase,
    model: &Sequential,
    masks: &[RngState],
    g: &mut Graph<f64>,
    x: &Tensor<f64>,
) -> Result<Vec<f64>, NnError> {
    let mut replay = model.clone();
    replay.set_rng_states(masks)?;
    let mut kinks = Vec::new();
    let mut h = g.input(x.clone());
    for layer in replay.layers() {
        h = match layer.clone() {
            Layer::Dense(mut d) => d.forward(g, h)?,
            Layer::Dropout(mut d) => d.forward(g, h)?,
            Layer::Activation(a) => {
                if matches!(a, Activation::Relu | Activation::LeakyRelu { .. }) {
                    kinks.extend_from_slice(g.value(h)?.as_slice());
                }
                a.apply(g, h)?
            }
        };
    }
    let outputs = g.value(h)?;
    let d = outputs.as_slice();
    let t = case.targets.as_slice();
    match case.loss {
        Loss::Hinge => kinks.extend(d.iter().zip(t).map(|(d, y)| 1.0 - y * d)),
        Loss::MultiMargin => {
            let c = outputs.shape()[1];
            for (row, &y) in d.chunks_exact(c).zip(t) {
                let y = y as usize;
                kinks.extend((0..c).filter(|&k| k != y).map(|k| 1.0 - row[y] + row[k]));
            }
        }
        _ => {}
    }
    if let Penalty::L1OnParameters(_) = case.penalty {
        for (_, p) in model.parameters() {
            kinks.extend_from_slice(g.value(p)?.as_slice());
        }
    }
    Ok(kinks)
}

/// The parameter values of a network, in [`Module::parameters`] order.
///
/// # Panics
/// When a handle is not of `g`.
pub fn parameter_values<F: Float>(g: &Graph<F>, model: &Sequential) -> Vec<Tensor<F>> {
    model.parameters().iter().map(|(_, p)| g.value(*p).expect("a parameter of g").clone()).collect()
}

/// The gradients of a network's parameters after a backward pass (zeros where none).
///
/// # Panics
/// When a handle is not of `g`.
pub fn parameter_gradients<F: Float>(g: &Graph<F>, model: &Sequential) -> Vec<Tensor<F>> {
    model
        .parameters()
        .iter()
        .map(|(_, p)| {
            let shape = g.shape(*p).expect("a parameter of g").to_vec();
            g.grad_opt(*p).expect("a parameter of g").cloned().unwrap_or_else(|| Tensor::zeros(&shape))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    #[test]
    fn cases_build_and_their_loss_is_a_finite_scalar() {
        let mut runner = TestRunner::deterministic();
        let mut depths = [false; MAX_DEPTH + 1];
        for loss in Loss::ALL {
            for _ in 0..20 {
                let case = net_case(loss, NetOptions::ALL).new_tree(&mut runner).unwrap().current();
                depths[case.spec.sizes.len() - 2] = true;
                let (mut g, mut model) = case.build::<f64>();
                let x = g.input(case.x.clone());
                let l = case.record_loss(&mut g, &mut model, x, &case.targets).unwrap();
                let value = g.value(l).unwrap().item();
                assert!(value.is_finite() && value >= 0.0, "{case:?}: {value}");
            }
        }
        assert!(depths.iter().all(|&d| d), "every depth from 0 to {MAX_DEPTH} comes up");
    }

    #[test]
    fn rows_are_selected_in_order() {
        let t = Tensor::from_rows(&[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]);
        assert_eq!(select_rows(&t, &[2, 0]), Tensor::from_rows(&[[5.0, 6.0], [1.0, 2.0]]));
        let c = Tensor::from_vec(&[3], vec![7.0, 8.0, 9.0]);
        assert_eq!(select_rows(&c, &[1]), Tensor::from_vec(&[1], vec![8.0]));
    }

    #[test]
    fn kinks_replay_the_forward_pass() {
        let case = NetCase {
            spec: MlpSpec::new(&[2, 3, 1], Activation::Relu),
            init: DenseInit::TORCH,
            seed: 1,
            loss: Loss::Hinge,
            reduction: Reduction::Mean,
            penalty: Penalty::None,
            x: Tensor::from_rows(&[[0.5, -1.0]]),
            targets: Tensor::from_rows(&[[1.0]]),
        };
        let (mut g, model) = case.build::<f64>();
        let mut objective = case.objective(&model);
        let kinks = objective.kinks(&mut g, &case.x).unwrap();
        let hidden = model.dense_layers().next().unwrap().forward_tensor(&g, &case.x).unwrap();
        let output = model.predict(&g, &case.x).unwrap();
        let mut expected = hidden.to_vec();
        expected.push(1.0 - output.item());
        assert_eq!(kinks, expected);
    }
}
