//! `Sequential`: layers applied one after the other, as PyTorch's `nn.Sequential`.

use std::borrow::Cow;

use backprop_autograd::{Graph, Var};
use backprop_tensor::{Float, RngState, Tensor, TensorRng};
use serde::{Deserialize, Serialize};

use crate::activation::Activation;
use crate::dense::Dense;
use crate::dropout::Dropout;
use crate::error::{NnError, Result};
use crate::module::Module;
use crate::pass::{Evaluate, Pass};

/// One layer of a [`Sequential`] model.
#[derive(Debug, Clone)]
pub enum Layer {
    /// A fully connected layer (PyTorch `nn.Linear`).
    Dense(Dense),
    /// An activation function.
    Activation(Activation),
    /// Dropout (PyTorch `nn.Dropout`).
    Dropout(Dropout),
}

impl From<Dense> for Layer {
    fn from(d: Dense) -> Self {
        Layer::Dense(d)
    }
}

impl From<Activation> for Layer {
    fn from(a: Activation) -> Self {
        Layer::Activation(a)
    }
}

impl From<Dropout> for Layer {
    fn from(d: Dropout) -> Self {
        Layer::Dropout(d)
    }
}

/// The architecture of one layer, as the model file stores it (no values).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LayerSpec {
    /// A fully connected layer.
    Dense {
        /// Input features.
        in_features: usize,
        /// Output features.
        out_features: usize,
        /// Whether it has a bias.
        bias: bool,
    },
    /// An activation.
    Activation(Activation),
    /// Dropout with this probability.
    Dropout {
        /// Probability of zeroing an element.
        p: f64,
    },
}

impl LayerSpec {
    /// The PyTorch module, as Python source (`torch.nn.Linear(2, 8)`, `torch.nn.Tanh()`, ...).
    pub fn torch_module(&self) -> String {
        match self {
            LayerSpec::Dense { in_features, out_features, bias: true } => {
                format!("torch.nn.Linear({in_features}, {out_features})")
            }
            LayerSpec::Dense { in_features, out_features, bias: false } => {
                format!("torch.nn.Linear({in_features}, {out_features}, bias=False)")
            }
            LayerSpec::Activation(a) => a.torch_module(),
            LayerSpec::Dropout { p } => format!("torch.nn.Dropout({p:?})"),
        }
    }
}

/// Layers applied in order. Parameters are named as in the `state_dict` of the equivalent
/// `torch.nn.Sequential`: the layer at index `i` owns `i.weight` and `i.bias`, and every layer
/// (activations and dropout included) takes an index.
#[derive(Debug, Clone, Default)]
pub struct Sequential {
    layers: Vec<Layer>,
    training: bool,
}

impl Sequential {
    /// An empty model (in training mode).
    pub fn new() -> Self {
        Sequential { layers: Vec::new(), training: true }
    }

    /// Appends a layer.
    pub fn push(&mut self, layer: impl Into<Layer>) -> &mut Self {
        let mut layer = layer.into();
        if let Layer::Dropout(d) = &mut layer {
            d.set_training(self.training);
        }
        self.layers.push(layer);
        self
    }

    /// Appends a layer, builder style.
    pub fn with(mut self, layer: impl Into<Layer>) -> Self {
        self.push(layer);
        self
    }

    /// The layers.
    pub fn layers(&self) -> &[Layer] {
        &self.layers
    }

    /// The fully connected layers, in order.
    pub fn dense_layers(&self) -> impl Iterator<Item = &Dense> {
        self.layers.iter().filter_map(|l| if let Layer::Dense(d) = l { Some(d) } else { None })
    }

    /// The architecture, layer by layer.
    pub fn specs(&self) -> Vec<LayerSpec> {
        self.layers
            .iter()
            .map(|l| match l {
                Layer::Dense(d) => LayerSpec::Dense {
                    in_features: d.in_features(),
                    out_features: d.out_features(),
                    bias: d.bias().is_some(),
                },
                Layer::Activation(a) => LayerSpec::Activation(*a),
                Layer::Dropout(d) => LayerSpec::Dropout { p: d.p() },
            })
            .collect()
    }

    /// Input features of the first fully connected layer.
    pub fn in_features(&self) -> Option<usize> {
        self.dense_layers().next().map(Dense::in_features)
    }

    /// Output features of the last fully connected layer.
    pub fn out_features(&self) -> Option<usize> {
        self.dense_layers().last().map(Dense::out_features)
    }

    /// Builds a model of the given architecture, initialised as PyTorch does, drawing from
    /// `rng` layer by layer (each dense layer its weight then its bias; each dropout layer one
    /// `u64` that seeds its mask generator).
    ///
    /// # Errors
    /// When the sizes of consecutive dense layers do not chain, or a layer is invalid.
    pub fn from_specs<F: Float>(g: &mut Graph<F>, specs: &[LayerSpec], rng: &mut TensorRng) -> Result<Self> {
        Self::from_specs_with_init(g, specs, crate::DenseInit::TORCH, rng)
    }

    /// As [`Sequential::from_specs`], with another initialisation of the dense layers.
    ///
    /// # Errors
    /// When the sizes of consecutive dense layers do not chain, or a layer is invalid.
    pub fn from_specs_with_init<F: Float>(
        g: &mut Graph<F>,
        specs: &[LayerSpec],
        init: crate::DenseInit,
        rng: &mut TensorRng,
    ) -> Result<Self> {
        check_chain(specs)?;
        let mut model = Sequential::new();
        for spec in specs {
            match *spec {
                LayerSpec::Dense { in_features, out_features, bias } => {
                    model.push(Dense::with_init(g, in_features, out_features, init, bias, rng)?);
                }
                LayerSpec::Activation(a) => {
                    a.validate()?;
                    model.push(a);
                }
                LayerSpec::Dropout { p } => {
                    model.push(Dropout::new(p, TensorRng::seed_from_u64(rng.next_u64()))?);
                }
            }
        }
        model.name_parameters(g)?;
        Ok(model)
    }

    /// Gives every parameter in the graph its `state_dict` name (`0.weight`, ...), so that
    /// graph error messages name it.
    ///
    /// # Errors
    /// When a parameter handle is not of `g`.
    pub fn name_parameters<F: Float>(&self, g: &mut Graph<F>) -> Result<()> {
        for (i, layer) in self.layers.iter().enumerate() {
            if let Layer::Dense(d) = layer {
                d.name_parameters(g, &format!("{i}."))?;
            }
        }
        Ok(())
    }

    /// The weight matrices only (no biases): what L1/L2 penalties usually cover.
    pub fn weights(&self) -> Vec<(String, Var)> {
        let mut out = Vec::new();
        for (i, layer) in self.layers.iter().enumerate() {
            if let Layer::Dense(d) = layer {
                out.push((format!("{i}.weight"), d.weight()));
            }
        }
        out
    }

    /// The states of the dropout layers' mask generators, in layer order (checkpoints).
    pub fn rng_states(&self) -> Vec<RngState> {
        self.layers
            .iter()
            .filter_map(|l| if let Layer::Dropout(d) = l { Some(d.rng_state()) } else { None })
            .collect()
    }

    /// Restores the dropout layers' mask generators from [`Sequential::rng_states`].
    ///
    /// # Errors
    /// When the number of states is not the number of dropout layers.
    pub fn set_rng_states(&mut self, states: &[RngState]) -> Result<()> {
        let count = self.layers.iter().filter(|l| matches!(l, Layer::Dropout(_))).count();
        if count != states.len() {
            return Err(NnError::invalid(
                "set_rng_states",
                format!("the model has {count} dropout layers, got {} generator states", states.len()),
            ));
        }
        let dropouts =
            self.layers.iter_mut().filter_map(|l| if let Layer::Dropout(d) = l { Some(d) } else { None });
        for (d, s) in dropouts.zip(states) {
            d.set_rng_state(*s);
        }
        Ok(())
    }

    /// Inference without a graph or tape: the forward pass of [`Module::forward`] in
    /// evaluation mode, computed on tensors instead of recorded (each dense layer is one gemm
    /// into a fresh buffer, each activation runs in place, dropout is the identity), so the
    /// result equals the recorded one bit for bit.
    ///
    /// # Errors
    /// When `x` is not `[batch, in_features]` or the parameters are not of `g`.
    pub fn predict<F: Float>(&self, g: &Graph<F>, x: &Tensor<F>) -> Result<Tensor<F>> {
        let pass = &mut Evaluate { graph: g };
        let y = run_layers(&self.layers, 0, pass, Cow::Borrowed(x)).map_err(|(_, e)| e)?;
        Ok(y.into_owned())
    }

    /// The forward pass of [`Sequential::predict`] stage by stage: the output after each
    /// dense layer together with the activation that follows it (what a network drawing
    /// calls a layer of neurons), in order; the last is `predict`'s result.
    ///
    /// # Errors
    /// As [`Sequential::predict`].
    pub fn predict_stages<F: Float>(&self, g: &Graph<F>, x: &Tensor<F>) -> Result<Vec<Tensor<F>>> {
        let mut stages: Vec<Tensor<F>> = Vec::new();
        let mut start = 0;
        while start < self.layers.len() {
            let mut end = start + 1;
            while matches!(self.layers.get(end), Some(Layer::Activation(_) | Layer::Dropout(_))) {
                end += 1;
            }
            let input = Cow::Borrowed(stages.last().unwrap_or(x));
            let pass = &mut Evaluate { graph: g };
            let out =
                run_layers(&self.layers[start..end], start, pass, input).map_err(|(_, e)| e)?.into_owned();
            stages.push(out);
            start = end;
        }
        Ok(stages)
    }

    /// The parameters as PyTorch's `state_dict()` holds them: `i.weight` transposed to
    /// `[out, in]`, `i.bias` as `[out]`, in layer order.
    ///
    /// # Errors
    /// When the parameters are not of `g`.
    pub fn state_dict<F: Float>(&self, g: &Graph<F>) -> Result<Vec<(String, Tensor<F>)>> {
        let mut out = Vec::new();
        for (i, layer) in self.layers.iter().enumerate() {
            if let Layer::Dense(d) = layer {
                out.push((format!("{i}.weight"), g.value(d.weight())?.try_t()?));
                if let Some(b) = d.bias() {
                    out.push((format!("{i}.bias"), g.value(b)?.clone()));
                }
            }
        }
        Ok(out)
    }

    /// The shapes [`Sequential::state_dict`] has, by name, in order.
    pub fn state_dict_shapes(&self) -> Vec<(String, Vec<usize>)> {
        state_dict_shapes(&self.specs())
    }

    /// Copies PyTorch-layout values (`[out, in]` weights) into the parameters; every name of
    /// [`Sequential::state_dict`] must be given exactly once, with its shape.
    ///
    /// # Errors
    /// A missing, unknown or duplicated name, or a shape that does not fit, each named.
    pub fn load_state_dict<F: Float>(&self, g: &mut Graph<F>, tensors: &[(String, Tensor<F>)]) -> Result<()> {
        let expected = self.state_dict_shapes();
        for (name, t) in tensors {
            match expected.iter().find(|(n, _)| n == name) {
                None => {
                    return Err(NnError::invalid(
                        "load_state_dict",
                        format!(
                            "unexpected tensor '{name}' of shape {:?}: the model has no such parameter",
                            t.shape()
                        ),
                    ));
                }
                Some((_, shape)) if shape.as_slice() != t.shape() => {
                    return Err(NnError::invalid(
                        "load_state_dict",
                        format!("tensor '{name}' has shape {:?}, expected {shape:?}", t.shape()),
                    ));
                }
                Some(_) => {}
            }
            if tensors.iter().filter(|(n, _)| n == name).count() > 1 {
                return Err(NnError::invalid("load_state_dict", format!("tensor '{name}' is given twice")));
            }
        }
        if let Some((name, shape)) = expected.iter().find(|(n, _)| !tensors.iter().any(|(m, _)| m == n)) {
            return Err(NnError::invalid(
                "load_state_dict",
                format!("missing tensor '{name}' (expected shape {shape:?})"),
            ));
        }
        for (i, layer) in self.layers.iter().enumerate() {
            if let Layer::Dense(d) = layer {
                let find = |suffix: &str| {
                    let name = format!("{i}.{suffix}");
                    &tensors.iter().find(|(n, _)| *n == name).expect("every name checked above").1
                };
                let w = find("weight");
                g.param_value_mut(d.weight())?.try_assign(&w.try_t()?)?;
                if let Some(b) = d.bias() {
                    g.param_value_mut(b)?.try_assign(find("bias"))?;
                }
            }
        }
        Ok(())
    }
}

/// Names and PyTorch shapes of the parameters of an architecture.
pub fn state_dict_shapes(specs: &[LayerSpec]) -> Vec<(String, Vec<usize>)> {
    let mut out = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        if let LayerSpec::Dense { in_features, out_features, bias } = *spec {
            out.push((format!("{i}.weight"), vec![out_features, in_features]));
            if bias {
                out.push((format!("{i}.bias"), vec![out_features]));
            }
        }
    }
    out
}

/// Checks that consecutive dense layers chain (`out` of one is `in` of the next) and that
/// there is at least one.
///
/// # Errors
/// Naming the two layers that do not fit.
pub fn check_chain(specs: &[LayerSpec]) -> Result<()> {
    let mut previous: Option<(usize, usize)> = None;
    for (i, spec) in specs.iter().enumerate() {
        if let LayerSpec::Dense { in_features, out_features, .. } = *spec {
            if in_features == 0 || out_features == 0 {
                return Err(NnError::invalid(
                    "architecture",
                    format!(
                        "layer {i} has {in_features} inputs and {out_features} outputs; both must be at least 1"
                    ),
                ));
            }
            if let Some((j, out)) = previous
                && out != in_features
            {
                return Err(NnError::invalid(
                    "architecture",
                    format!("layer {j} has {out} outputs but layer {i} takes {in_features} inputs"),
                ));
            }
            previous = Some((i, out_features));
        }
        if let LayerSpec::Dropout { p } = *spec
            && !(0.0..=1.0).contains(&p)
        {
            return Err(NnError::invalid(
                "architecture",
                format!("layer {i}: dropout probability {p} is not in [0, 1]"),
            ));
        }
    }
    if previous.is_none() {
        return Err(NnError::invalid("architecture", "the model has no dense layer"));
    }
    Ok(())
}

/// Runs `layers` (those of a model from index `first`) on `pass`, fusing each biased dense layer
/// with a following fusable activation; dropout layers are the identity here (evaluation
/// mode; [`Module::forward`] runs them between stretches). An error comes with the index of
/// the layer that failed.
fn run_layers<F: Float, P: Pass<F>>(
    layers: &[Layer],
    first: usize,
    pass: &mut P,
    x: P::Value,
) -> std::result::Result<P::Value, (usize, NnError)> {
    let mut h = x;
    let mut i = 0;
    while i < layers.len() {
        let next = match layers.get(i + 1) {
            Some(&Layer::Activation(a)) => Some(a),
            _ => None,
        };
        let (result, consumed) = match (&layers[i], next) {
            (Layer::Dense(d), Some(a)) if d.bias().is_some() && a.fused().is_some() => {
                (d.forward_on(pass, h, a), 2)
            }
            (Layer::Dense(d), _) => (d.forward_on(pass, h, Activation::Identity), 1),
            (Layer::Activation(a), _) => (pass.activation(h, *a), 1),
            (Layer::Dropout(_), _) => (Ok(h), 1),
        };
        h = result.map_err(|e| (first + i, e))?;
        i += consumed;
    }
    Ok(h)
}

impl Module for Sequential {
    /// Runs the layers in order. A dense layer with a bias followed by an activation that has a
    /// fused form runs as one op ([`Dense::forward_activated`]): the same values and gradients
    /// in one node. Errors name the layer.
    fn forward<F: Float>(&mut self, g: &mut Graph<F>, x: Var) -> Result<Var> {
        let in_layer = |(i, e): (usize, NnError)| match e {
            NnError::Invalid { op, reason } => NnError::Invalid { op: format!("layer {i} ({op})"), reason },
            other => other,
        };
        // The layers between dropout layers run as one stretch; a dropout layer draws its mask.
        let mut h = x;
        let mut start = 0;
        while start < self.layers.len() {
            let end = self.layers[start..]
                .iter()
                .position(|l| matches!(l, Layer::Dropout(_)))
                .map_or(self.layers.len(), |k| start + k);
            h = run_layers(&self.layers[start..end], start, g, h).map_err(in_layer)?;
            if let Some(Layer::Dropout(d)) = self.layers.get_mut(end) {
                h = d.forward(g, h).map_err(|e| in_layer((end, e)))?;
            }
            start = end + 1;
        }
        Ok(h)
    }

    fn parameters(&self) -> Vec<(String, Var)> {
        let mut out = Vec::new();
        for (i, layer) in self.layers.iter().enumerate() {
            if let Layer::Dense(d) = layer {
                out.extend(d.parameters_under(Some(&i.to_string())));
            }
        }
        out
    }

    fn set_training(&mut self, training: bool) {
        self.training = training;
        for layer in &mut self.layers {
            if let Layer::Dropout(d) = layer {
                d.set_training(training);
            }
        }
    }

    fn is_training(&self) -> bool {
        self.training
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn specs() -> Vec<LayerSpec> {
        vec![
            LayerSpec::Dense { in_features: 3, out_features: 4, bias: true },
            LayerSpec::Activation(Activation::Tanh),
            LayerSpec::Dropout { p: 0.5 },
            LayerSpec::Dense { in_features: 4, out_features: 2, bias: false },
        ]
    }

    #[test]
    fn names_follow_torch_sequential_indices() {
        let mut g = Graph::<f64>::new();
        let model = Sequential::from_specs(&mut g, &specs(), &mut TensorRng::seed_from_u64(0)).unwrap();
        let names: Vec<String> = model.parameters().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["0.weight", "0.bias", "3.weight"]);
        let w = model.parameters()[0].1;
        assert_eq!(g.param_name(w).unwrap(), "0.weight");
        let shapes = model.state_dict_shapes();
        assert_eq!(shapes[0], ("0.weight".to_string(), vec![4, 3]));
        assert_eq!(shapes[2], ("3.weight".to_string(), vec![2, 4]));
        assert_eq!(model.specs(), specs());
        let torch: Vec<String> = specs().iter().map(LayerSpec::torch_module).collect();
        assert_eq!(
            torch,
            [
                "torch.nn.Linear(3, 4)",
                "torch.nn.Tanh()",
                "torch.nn.Dropout(0.5)",
                "torch.nn.Linear(4, 2, bias=False)"
            ]
        );
        let sd = model.state_dict(&g).unwrap();
        assert_eq!(sd[0].1, g.value(w).unwrap().t(), "weights are stored [out, in]");
    }

    #[test]
    fn predict_equals_forward_in_eval_mode_and_dropout_is_only_active_in_training() {
        let mut g = Graph::<f64>::new();
        let mut model = Sequential::from_specs(&mut g, &specs(), &mut TensorRng::seed_from_u64(4)).unwrap();
        let x = Tensor::from_shape_fn(&[5, 3], |i| (i[0] as f64) * 0.3 - (i[1] as f64) * 0.7);
        let xv = g.input(x.clone());
        model.set_training(false);
        let y = model.forward(&mut g, xv).unwrap();
        let direct = model.predict(&g, &x).unwrap();
        assert_eq!(g.value(y).unwrap(), &direct);
        model.set_training(true);
        let y_train = model.forward(&mut g, xv).unwrap();
        assert_ne!(g.value(y_train).unwrap(), &direct);
    }

    #[test]
    fn predict_stages_are_the_outputs_of_each_layer_of_neurons() {
        let mut g = Graph::<f64>::new();
        let model = Sequential::from_specs(&mut g, &specs(), &mut TensorRng::seed_from_u64(4)).unwrap();
        let x = Tensor::from_shape_fn(&[5, 3], |i| (i[0] as f64) * 0.3 - (i[1] as f64) * 0.7);
        let stages = model.predict_stages(&g, &x).unwrap();
        assert_eq!(stages.len(), model.dense_layers().count());
        assert_eq!(stages.last().unwrap(), &model.predict(&g, &x).unwrap());
        // Each stage is the prefix model's prediction: the layers up to the next dense one.
        let mut prefix = Sequential::new();
        let mut stage = 0;
        for (i, layer) in model.layers().iter().enumerate() {
            prefix.push(layer.clone());
            let next_is_dense = matches!(model.layers().get(i + 1), Some(Layer::Dense(_)) | None);
            if next_is_dense {
                assert_eq!(stages[stage], prefix.predict(&g, &x).unwrap(), "stage {stage}");
                stage += 1;
            }
        }
        assert_eq!(stage, stages.len());
    }

    #[test]
    fn state_dict_round_trips_and_mismatches_are_named() {
        let mut g = Graph::<f32>::new();
        let model = Sequential::from_specs(&mut g, &specs(), &mut TensorRng::seed_from_u64(1)).unwrap();
        let sd = model.state_dict(&g).unwrap();
        let mut g2 = Graph::<f32>::new();
        let other = Sequential::from_specs(&mut g2, &specs(), &mut TensorRng::seed_from_u64(2)).unwrap();
        other.load_state_dict(&mut g2, &sd).unwrap();
        assert_eq!(other.state_dict(&g2).unwrap(), sd);
        let mut missing = sd.clone();
        missing.remove(1);
        let err = other.load_state_dict(&mut g2, &missing).unwrap_err().to_string();
        assert_eq!(err, "load_state_dict: missing tensor '0.bias' (expected shape [4])");
        let mut wrong = sd.clone();
        wrong[0].1 = Tensor::zeros(&[3, 4]);
        let err = other.load_state_dict(&mut g2, &wrong).unwrap_err().to_string();
        assert_eq!(err, "load_state_dict: tensor '0.weight' has shape [3, 4], expected [4, 3]");
    }

    #[test]
    fn dense_then_activation_runs_fused_with_the_same_values_and_gradients() {
        for act in [Activation::Relu, Activation::Tanh, Activation::Sigmoid, Activation::LEAKY_RELU] {
            let specs = [
                LayerSpec::Dense { in_features: 5, out_features: 7, bias: true },
                LayerSpec::Activation(act),
                LayerSpec::Dense { in_features: 7, out_features: 3, bias: true },
            ];
            let mut g = Graph::<f32>::new();
            let mut model = Sequential::from_specs(&mut g, &specs, &mut TensorRng::seed_from_u64(5)).unwrap();
            let x = Tensor::from_shape_fn(&[6, 5], |i| (i[0] as f32) * 0.3 - (i[1] as f32) * 0.4);
            let seed = Tensor::from_shape_fn(&[6, 3], |i| (i[0] + i[1]) as f32 * 0.1 - 0.3);
            let xv = g.leaf(x.clone());
            let y = model.forward(&mut g, xv).unwrap();
            assert_eq!(g.len(), 3, "{act}: input, fused dense + activation, dense");
            g.backward_with_seed(y, seed.clone()).unwrap();
            let params = model.parameters();
            let fused: Vec<Tensor<f32>> = params.iter().map(|(_, p)| g.grad(*p).unwrap().clone()).collect();
            let (fused_y, fused_dx) = (g.value(y).unwrap().clone(), g.grad(xv).unwrap().clone());
            // The same layers, one op each.
            g.zero_grad();
            g.clear();
            let xv = g.leaf(x);
            let Layer::Dense(first) = model.layers()[0].clone() else { unreachable!() };
            let Layer::Dense(second) = model.layers()[2].clone() else { unreachable!() };
            let z = first.clone().forward(&mut g, xv).unwrap();
            let h = act.apply(&mut g, z).unwrap();
            let y = second.clone().forward(&mut g, h).unwrap();
            g.backward_with_seed(y, seed).unwrap();
            assert_eq!(g.value(y).unwrap(), &fused_y, "{act}");
            assert_eq!(g.grad(xv).unwrap(), &fused_dx, "{act}");
            for ((name, p), want) in params.iter().zip(&fused) {
                assert_eq!(g.grad(*p).unwrap(), want, "{act}: {name}");
            }
        }
    }

    #[test]
    fn architecture_errors_name_the_layers() {
        let bad = [
            LayerSpec::Dense { in_features: 2, out_features: 8, bias: true },
            LayerSpec::Activation(Activation::Relu),
            LayerSpec::Dense { in_features: 7, out_features: 1, bias: true },
        ];
        let err = check_chain(&bad).unwrap_err().to_string();
        assert_eq!(err, "architecture: layer 0 has 8 outputs but layer 2 takes 7 inputs");
        assert!(check_chain(&[LayerSpec::Activation(Activation::Relu)]).is_err());
    }
}
