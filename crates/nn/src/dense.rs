//! The fully connected layer `Z = X·W + b`.

use std::borrow::Cow;

use backprop_autograd::{Graph, Var};
use backprop_tensor::{Float, Init, Tensor, TensorRng};

use crate::activation::Activation;
use crate::error::{NnError, Result};
use crate::module::Module;
use crate::pass::{Evaluate, Pass};

/// How a bias is initialised.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum BiasInit {
    /// PyTorch's `nn.Linear` default: U(−1/√in, 1/√in).
    FanInUniform,
    /// Any other scheme (zeros, a constant, ...).
    Scheme(Init),
}

/// How a [`Dense`] layer's weight and bias are initialised.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DenseInit {
    /// Scheme of the weight matrix `[in, out]` (fans are `in` and `out`).
    pub weight: Init,
    /// Scheme of the bias vector `[out]`.
    pub bias: BiasInit,
}

impl DenseInit {
    /// PyTorch's `nn.Linear` default: Kaiming-uniform weights with `a = √5`, i.e. U(±1/√in),
    /// and a U(±1/√in) bias.
    pub const TORCH: DenseInit = DenseInit { weight: Init::TORCH_LINEAR, bias: BiasInit::FanInUniform };

    /// Glorot/Xavier-uniform weights and zero biases (often used with tanh and sigmoid).
    pub const XAVIER: DenseInit =
        DenseInit { weight: Init::XavierUniform { gain: 1.0 }, bias: BiasInit::Scheme(Init::Zeros) };

    /// He/Kaiming-normal weights for ReLU (`a = 0`) and zero biases.
    pub const HE: DenseInit =
        DenseInit { weight: Init::KaimingNormal { a: 0.0 }, bias: BiasInit::Scheme(Init::Zeros) };
}

impl Default for DenseInit {
    fn default() -> Self {
        DenseInit::TORCH
    }
}

/// A fully connected layer on a whole mini-batch: `Z = X·W + b` with `X: [batch, in]`,
/// `W: [in, out]`, `b: [out]` broadcast over the rows.
///
/// Forward is one gemm plus the bias ([`Graph::affine`]). Backward, with `dZ = ∂L/∂Z`:
///
/// - `∂L/∂W = Xᵀ·dZ` (one gemm, transpose as a flag),
/// - `∂L/∂X = dZ·Wᵀ` (one gemm),
/// - `∂L/∂b = Σ_rows dZ` (one column-sum reduction).
///
/// The weight is stored `[in, out]` so that the batch product needs no transpose; the model
/// file transposes it to PyTorch's `[out, in]`. The layer holds only the handles of its
/// parameters; their values live in the graph. `Dense` is not generic: the same handles work
/// with the graph's element type.
///
/// Its parameters are named `weight` and `bias`, or `fc1.weight` and `fc1.bias` after
/// [`Dense::named`]`("fc1")`, so that two layers used outside a [`crate::Sequential`] (which
/// names them by index) can go to one optimizer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dense {
    weight: Var,
    bias: Option<Var>,
    in_features: usize,
    out_features: usize,
    /// The prefix of the parameter names, if any.
    name: Option<String>,
}

impl Dense {
    /// A layer with PyTorch's `nn.Linear` initialisation ([`DenseInit::TORCH`]), drawing the
    /// weight (row-major `[in, out]`) and then the bias from `rng`.
    ///
    /// # Errors
    /// When `in_features` or `out_features` is 0.
    pub fn new<F: Float>(
        g: &mut Graph<F>,
        in_features: usize,
        out_features: usize,
        rng: &mut TensorRng,
    ) -> Result<Self> {
        Self::with_init(g, in_features, out_features, DenseInit::TORCH, true, rng)
    }

    /// A layer without bias (`Z = X·W`), weights as PyTorch's `nn.Linear(bias=False)`.
    ///
    /// # Errors
    /// When `in_features` or `out_features` is 0.
    pub fn without_bias<F: Float>(
        g: &mut Graph<F>,
        in_features: usize,
        out_features: usize,
        rng: &mut TensorRng,
    ) -> Result<Self> {
        Self::with_init(g, in_features, out_features, DenseInit::TORCH, false, rng)
    }

    /// A layer with the given initialisation; `bias: false` leaves the bias out.
    ///
    /// # Errors
    /// When `in_features` or `out_features` is 0, or the scheme cannot fill the shape.
    pub fn with_init<F: Float>(
        g: &mut Graph<F>,
        in_features: usize,
        out_features: usize,
        init: DenseInit,
        bias: bool,
        rng: &mut TensorRng,
    ) -> Result<Self> {
        if in_features == 0 || out_features == 0 {
            return Err(NnError::invalid(
                "Dense",
                format!(
                    "a layer needs at least one input and one output, got {in_features} -> {out_features}"
                ),
            ));
        }
        let weight: Tensor<F> = init.weight.sample(&[in_features, out_features], rng)?;
        let bias = if bias {
            let scheme = match init.bias {
                BiasInit::FanInUniform => {
                    let bound = 1.0 / (in_features as f64).sqrt();
                    Init::Uniform { lo: -bound, hi: bound }
                }
                BiasInit::Scheme(scheme) => scheme,
            };
            Some(scheme.sample::<F>(&[out_features], rng)?)
        } else {
            None
        };
        Self::from_tensors(g, weight, bias)
    }

    /// A layer with given values: `weight` of shape `[in, out]`, `bias` of shape `[out]`.
    ///
    /// # Errors
    /// When the shapes do not fit or a value is not finite.
    pub fn from_tensors<F: Float>(
        g: &mut Graph<F>,
        weight: Tensor<F>,
        bias: Option<Tensor<F>>,
    ) -> Result<Self> {
        let (in_features, out_features) = match *weight.shape() {
            [i, o] if i > 0 && o > 0 => (i, o),
            _ => {
                return Err(NnError::invalid(
                    "Dense",
                    format!(
                        "the weight must be a non-empty matrix [in, out], got shape {:?}",
                        weight.shape()
                    ),
                ));
            }
        };
        if let Some(b) = &bias
            && b.shape() != [out_features]
        {
            return Err(NnError::invalid(
                "Dense",
                format!(
                    "the bias must have shape [{out_features}] for a weight {:?}, got {:?}",
                    weight.shape(),
                    b.shape()
                ),
            ));
        }
        if !weight.is_finite() || !bias.as_ref().is_none_or(Tensor::is_finite) {
            return Err(NnError::invalid("Dense", "the initial values hold NaN or an infinity"));
        }
        let weight = g.param("weight", weight);
        let bias = bias.map(|b| g.param("bias", b));
        Ok(Dense { weight, bias, in_features, out_features, name: None })
    }

    /// The layer with a name: its parameters become `{name}.weight` and `{name}.bias`, as in
    /// the `state_dict` of a PyTorch module holding it as `self.{name}`. (The graph's labels of
    /// the parameters, used in error messages, are set by [`Dense::name_parameters`].)
    ///
    /// ```
    /// use backprop_autograd::Graph;
    /// use backprop_nn::{Dense, Module};
    /// use backprop_tensor::TensorRng;
    ///
    /// let mut g = Graph::<f32>::new();
    /// let rng = &mut TensorRng::seed_from_u64(0);
    /// let fc1 = Dense::new(&mut g, 2, 3, rng).unwrap().named("fc1");
    /// let names: Vec<String> = fc1.parameters().into_iter().map(|(n, _)| n).collect();
    /// assert_eq!(names, ["fc1.weight", "fc1.bias"]);
    /// ```
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The name given by [`Dense::named`], if any.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The weight handle (`[in, out]`).
    pub fn weight(&self) -> Var {
        self.weight
    }

    /// The bias handle (`[out]`), if the layer has one.
    pub fn bias(&self) -> Option<Var> {
        self.bias
    }

    /// Number of input features.
    pub fn in_features(&self) -> usize {
        self.in_features
    }

    /// Number of output features.
    pub fn out_features(&self) -> usize {
        self.out_features
    }

    /// Gives the parameters in the graph the names `{prefix}weight` and `{prefix}bias` (for
    /// error messages; `state_dict` names come from [`Module::parameters`]).
    ///
    /// # Errors
    /// When the handles are not parameters of `g`.
    pub fn name_parameters<F: Float>(&self, g: &mut Graph<F>, prefix: &str) -> Result<()> {
        g.set_label(self.weight, format!("{prefix}weight"))?;
        if let Some(b) = self.bias {
            g.set_label(b, format!("{prefix}bias"))?;
        }
        Ok(())
    }

    /// Forward pass without a graph: `x·W + b` from the parameter values in `g`, written into
    /// a new tensor with one gemm (`β = 1` over the bias rows); the same code as
    /// [`Module::forward`], computed instead of recorded.
    ///
    /// # Errors
    /// When `x` is not `[batch, in]` or the handles are not parameters of `g`.
    pub fn forward_tensor<F: Float>(&self, g: &Graph<F>, x: &Tensor<F>) -> Result<Tensor<F>> {
        let pass = &mut Evaluate { graph: g };
        Ok(self.forward_on(pass, Cow::Borrowed(x), Activation::Identity)?.into_owned())
    }

    /// The forward pass followed by `activation`: one fused op ([`Graph::affine_act`]) when the
    /// layer has a bias and the activation a fused form ([`Activation::fused`]), else
    /// [`Module::forward`] then [`Activation::apply`]. Values and gradients are the same either
    /// way, bit for bit; the fused op saves a node and a pass over the output.
    ///
    /// # Errors
    /// As [`Module::forward`] and [`Activation::apply`].
    pub fn forward_activated<F: Float>(
        &self,
        g: &mut Graph<F>,
        x: Var,
        activation: Activation,
    ) -> Result<Var> {
        self.forward_on(g, x, activation)
    }

    /// The parameters named `{prefix}.weight` and `{prefix}.bias` (`weight` and `bias` without
    /// a prefix).
    pub(crate) fn parameters_under(&self, prefix: Option<&str>) -> Vec<(String, Var)> {
        let name = |what: &str| match prefix {
            Some(prefix) => format!("{prefix}.{what}"),
            None => what.to_string(),
        };
        let mut params = vec![(name("weight"), self.weight)];
        if let Some(b) = self.bias {
            params.push((name("bias"), b));
        }
        params
    }

    /// The one forward pass of the layer, `activation(x·W + b)`, on a graph or on tensors:
    /// checks that `x` is `[batch, in_features]`, then runs the product.
    pub(crate) fn forward_on<F: Float, P: Pass<F>>(
        &self,
        pass: &mut P,
        x: P::Value,
        activation: Activation,
    ) -> Result<P::Value> {
        let shape = pass.shape(&x)?;
        if shape.len() != 2 || shape[1] != self.in_features {
            return Err(NnError::invalid(
                "Dense",
                format!("expected input of shape [batch, {}], got {shape:?}", self.in_features),
            ));
        }
        pass.dense(x, self.weight(), self.bias(), activation)
    }
}

impl Module for Dense {
    fn forward<F: Float>(&mut self, g: &mut Graph<F>, x: Var) -> Result<Var> {
        self.forward_on(g, x, Activation::Identity)
    }

    fn parameters(&self) -> Vec<(String, Var)> {
        self.parameters_under(self.name.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use backprop_autograd::gradcheck;
    use backprop_tensor::Transpose;

    fn layer(g: &mut Graph<f64>) -> Dense {
        let w = Tensor::from_rows(&[[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]]);
        let b = Tensor::from_vec(&[3], vec![0.1, -0.2, 0.3]);
        Dense::from_tensors(g, w, Some(b)).unwrap()
    }

    #[test]
    fn forward_is_x_w_plus_b() {
        let mut g = Graph::<f64>::new();
        let mut d = layer(&mut g);
        let x = Tensor::from_rows(&[[1.0, 2.0], [-1.0, 0.5]]);
        let xv = g.input(x.clone());
        let z = d.forward(&mut g, xv).unwrap();
        let expected = [3.6, -0.7, 0.8, 0.35, 0.925, -2.075];
        for (a, e) in g.value(z).unwrap().as_slice().iter().zip(expected) {
            assert!((a - e).abs() < 1e-12, "{a} vs {e}");
        }
        assert_eq!(d.forward_tensor(&g, &x).unwrap(), *g.value(z).unwrap());
        let wrong = g.input(Tensor::zeros(&[2, 3]));
        let err = d.forward(&mut g, wrong).unwrap_err().to_string();
        assert_eq!(err, "Dense: expected input of shape [batch, 2], got [2, 3]");
    }

    #[test]
    fn backward_equals_the_gemm_formulas() {
        let mut g = Graph::<f64>::new();
        let mut d = layer(&mut g);
        let x = Tensor::from_rows(&[[1.0, 2.0], [-1.0, 0.5], [0.3, -0.2], [2.0, 1.0]]);
        let xv = g.leaf(x.clone());
        let z = d.forward(&mut g, xv).unwrap();
        // L = Σ C ⊙ Z for a fixed C, so dZ = C.
        let c = Tensor::from_shape_fn(&[4, 3], |i| (i[0] as f64 - 1.5) * 0.7 + i[1] as f64 * 0.3);
        g.backward_with_seed(z, c.clone()).unwrap();
        let w = g.value(d.weight()).unwrap().clone();
        let dw = x.try_matmul_t(Transpose::Yes, &c, Transpose::No).unwrap();
        let dx = c.try_matmul_t(Transpose::No, &w, Transpose::Yes).unwrap();
        let db = c.sum_axis(0);
        let close = |a: &Tensor<f64>, b: &Tensor<f64>| {
            a.shape() == b.shape()
                && a.as_slice().iter().zip(b.as_slice()).all(|(p, q)| (p - q).abs() < 1e-12)
        };
        assert!(close(g.grad(d.weight()).unwrap(), &dw));
        assert!(close(g.grad(xv).unwrap(), &dx));
        assert!(close(g.grad(d.bias().unwrap()).unwrap(), &db));
    }

    #[test]
    fn backward_matches_finite_differences() {
        let x = Tensor::from_rows(&[[0.3, -1.2], [0.7, 0.1], [-0.4, 0.9]]);
        let w = Tensor::from_rows(&[[0.2, -0.5, 0.1], [0.8, 0.3, -0.6]]);
        let b = Tensor::from_vec(&[3], vec![0.05, -0.1, 0.2]);
        gradcheck(
            |g, v| {
                let mut d =
                    Dense { weight: v[1], bias: Some(v[2]), in_features: 2, out_features: 3, name: None };
                let z = d.forward(g, v[0])?;
                let t = g.tanh(z)?;
                g.sum(t)
            },
            &[x.clone(), w.clone(), b],
            1e-6,
            1e-7,
        )
        .unwrap();
        gradcheck(
            |g, v| {
                let mut d = Dense { weight: v[1], bias: None, in_features: 2, out_features: 3, name: None };
                let z = d.forward(g, v[0])?;
                let t = g.square(z)?;
                g.sum(t)
            },
            &[x, w],
            1e-6,
            1e-7,
        )
        .unwrap();
    }

    #[test]
    fn torch_default_init_bounds_and_reproducibility() {
        let mut g = Graph::<f32>::new();
        let d = Dense::new(&mut g, 16, 4, &mut TensorRng::seed_from_u64(3)).unwrap();
        let bound = 0.25_f32;
        let w = g.value(d.weight()).unwrap();
        let b = g.value(d.bias().unwrap()).unwrap();
        assert_eq!(w.shape(), &[16, 4]);
        assert!(w.as_slice().iter().chain(b.as_slice()).all(|v| v.abs() <= bound));
        let mut g2 = Graph::<f32>::new();
        let d2 = Dense::new(&mut g2, 16, 4, &mut TensorRng::seed_from_u64(3)).unwrap();
        assert_eq!(g2.value(d2.weight()).unwrap(), w);
        assert_eq!(g2.value(d2.bias().unwrap()).unwrap(), b);
        let nb = Dense::without_bias(&mut g, 3, 2, &mut TensorRng::seed_from_u64(0)).unwrap();
        assert!(nb.bias().is_none());
        assert_eq!(nb.parameters().len(), 1);
        let z = Dense::with_init(&mut g, 3, 2, DenseInit::XAVIER, true, &mut TensorRng::seed_from_u64(0))
            .unwrap();
        assert_eq!(g.value(z.bias().unwrap()).unwrap().to_vec(), vec![0.0, 0.0]);
        let err = Dense::new(&mut g, 0, 2, &mut TensorRng::seed_from_u64(0)).unwrap_err().to_string();
        assert_eq!(err, "Dense: a layer needs at least one input and one output, got 0 -> 2");
    }

    #[test]
    fn named_layers_give_distinct_parameter_names() {
        let mut g = Graph::<f32>::new();
        let rng = &mut TensorRng::seed_from_u64(0);
        let distinct = |layers: &[&Dense]| {
            let names: Vec<String> = layers.iter().flat_map(|l| l.parameters()).map(|(n, _)| n).collect();
            let mut unique = names.clone();
            unique.sort();
            unique.dedup();
            (names, unique.len())
        };
        let (a, b) = (Dense::new(&mut g, 2, 3, rng).unwrap(), Dense::new(&mut g, 3, 1, rng).unwrap());
        let (names, unique) = distinct(&[&a, &b]);
        assert_eq!(unique, 2, "unnamed layers collide: {names:?}");
        let (fc1, fc2) = (a.named("fc1"), b.named("fc2"));
        let (names, unique) = distinct(&[&fc1, &fc2]);
        assert_eq!(names, ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]);
        assert_eq!(unique, 4);
        assert_eq!(fc1.name(), Some("fc1"));
        // Inside a Sequential the index names the layer, as in PyTorch.
        let model = crate::Sequential::new().with(fc1).with(Activation::Tanh).with(fc2);
        let names: Vec<String> = model.parameters().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["0.weight", "0.bias", "2.weight", "2.bias"]);
    }
}
