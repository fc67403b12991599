//! The multilayer perceptron builder: `mlp(&[2, 8, 8, 1], Activation::Tanh)`.

use backprop_autograd::Graph;
use backprop_tensor::{Float, TensorRng};
use serde::{Deserialize, Serialize};

use crate::activation::Activation;
use crate::dense::DenseInit;
use crate::error::{NnError, Result};
use crate::sequential::{LayerSpec, Sequential};

/// The architecture of a multilayer perceptron: layer sizes and the activation after each
/// hidden layer.
///
/// `sizes = [in, h₁, ..., out]` gives `len − 1` dense layers; hidden layer `k` is followed by
/// `hidden[k]` and, when `dropout > 0`, by a dropout layer. The output layer is followed by
/// `output` ([`Activation::Identity`] adds no layer: outputs are logits or values, which is what
/// the losses of this crate take). With `sizes = [in, out]` there is no hidden layer: linear
/// regression, or logistic regression with a logistic loss.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MlpSpec {
    /// Layer widths, inputs first.
    pub sizes: Vec<usize>,
    /// The activation after each hidden layer (`sizes.len() − 2` of them).
    pub hidden: Vec<Activation>,
    /// The activation after the output layer (usually `Identity`).
    pub output: Activation,
    /// Dropout probability after each hidden activation (0 for none).
    pub dropout: f64,
    /// Whether the dense layers have biases.
    pub bias: bool,
}

impl MlpSpec {
    /// `sizes` with the same `activation` after every hidden layer, no output activation, no
    /// dropout, biases.
    pub fn new(sizes: &[usize], activation: Activation) -> Self {
        MlpSpec {
            sizes: sizes.to_vec(),
            hidden: vec![activation; sizes.len().saturating_sub(2)],
            output: Activation::Identity,
            dropout: 0.0,
            bias: true,
        }
    }

    /// The layer list, in `torch.nn.Sequential` order.
    ///
    /// # Errors
    /// Fewer than 2 sizes, a zero size, a count of hidden activations that is not
    /// `sizes.len() − 2`, or a dropout outside `[0, 1)`.
    pub fn layer_specs(&self) -> Result<Vec<LayerSpec>> {
        if self.sizes.len() < 2 {
            return Err(NnError::invalid(
                "mlp",
                format!("needs at least an input and an output size, got {:?}", self.sizes),
            ));
        }
        if let Some(i) = self.sizes.iter().position(|&s| s == 0) {
            return Err(NnError::invalid("mlp", format!("size {i} of {:?} is 0", self.sizes)));
        }
        let hidden_layers = self.sizes.len() - 2;
        if self.hidden.len() != hidden_layers {
            return Err(NnError::invalid(
                "mlp",
                format!(
                    "{} hidden layers need {hidden_layers} activations, got {}",
                    hidden_layers,
                    self.hidden.len()
                ),
            ));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(NnError::invalid("mlp", format!("dropout must be in [0, 1), got {}", self.dropout)));
        }
        let mut specs = Vec::new();
        for (k, pair) in self.sizes.windows(2).enumerate() {
            specs.push(LayerSpec::Dense { in_features: pair[0], out_features: pair[1], bias: self.bias });
            if k < hidden_layers {
                specs.push(LayerSpec::Activation(self.hidden[k]));
                if self.dropout > 0.0 {
                    specs.push(LayerSpec::Dropout { p: self.dropout });
                }
            } else if self.output != Activation::Identity {
                specs.push(LayerSpec::Activation(self.output));
            }
        }
        Ok(specs)
    }

    /// Builds the model with PyTorch's default initialisation.
    ///
    /// # Errors
    /// As [`MlpSpec::layer_specs`].
    pub fn build<F: Float>(&self, g: &mut Graph<F>, rng: &mut TensorRng) -> Result<Sequential> {
        self.build_with_init(g, DenseInit::TORCH, rng)
    }

    /// Builds the model with another initialisation of its dense layers.
    ///
    /// # Errors
    /// As [`MlpSpec::layer_specs`].
    pub fn build_with_init<F: Float>(
        &self,
        g: &mut Graph<F>,
        init: DenseInit,
        rng: &mut TensorRng,
    ) -> Result<Sequential> {
        Sequential::from_specs_with_init(g, &self.layer_specs()?, init, rng)
    }
}

/// A multilayer perceptron with `activation` after each hidden layer and none after the output
/// (PyTorch: `Sequential(Linear(2, 8), Tanh(), Linear(8, 8), Tanh(), Linear(8, 1))`),
/// initialised as PyTorch's `nn.Linear`.
///
/// ```
/// use backprop_autograd::Graph;
/// use backprop_nn::{Activation, Module, mlp};
/// use backprop_tensor::TensorRng;
///
/// let mut g = Graph::<f32>::new();
/// let model = mlp(&mut g, &[2, 8, 8, 1], Activation::Tanh, &mut TensorRng::seed_from_u64(0)).unwrap();
/// let names: Vec<String> = model.parameters().into_iter().map(|(n, _)| n).collect();
/// assert_eq!(names, ["0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"]);
/// ```
///
/// # Errors
/// Fewer than 2 sizes or a zero size.
pub fn mlp<F: Float>(
    g: &mut Graph<F>,
    sizes: &[usize],
    activation: Activation,
    rng: &mut TensorRng,
) -> Result<Sequential> {
    MlpSpec::new(sizes, activation).build(g, rng)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::module::Module;
    use backprop_tensor::Tensor;

    #[test]
    fn layer_lists_match_torch_sequential() {
        let specs = MlpSpec::new(&[2, 8, 8, 1], Activation::Tanh).layer_specs().unwrap();
        let torch: Vec<String> = specs.iter().map(LayerSpec::torch_module).collect();
        assert_eq!(
            torch,
            [
                "torch.nn.Linear(2, 8)",
                "torch.nn.Tanh()",
                "torch.nn.Linear(8, 8)",
                "torch.nn.Tanh()",
                "torch.nn.Linear(8, 1)"
            ]
        );
        let mut spec = MlpSpec::new(&[4, 3], Activation::Relu);
        assert_eq!(spec.layer_specs().unwrap().len(), 1, "no hidden layer: logistic or linear regression");
        spec.output = Activation::Sigmoid;
        assert_eq!(spec.layer_specs().unwrap()[1], LayerSpec::Activation(Activation::Sigmoid));
        let mut with_dropout = MlpSpec::new(&[4, 5, 3], Activation::Relu);
        with_dropout.dropout = 0.2;
        assert_eq!(with_dropout.layer_specs().unwrap()[2], LayerSpec::Dropout { p: 0.2 });
        assert_eq!(
            MlpSpec::new(&[3], Activation::Relu).layer_specs().unwrap_err().to_string(),
            "mlp: needs at least an input and an output size, got [3]"
        );
        let mut bad = MlpSpec::new(&[2, 3, 1], Activation::Relu);
        bad.hidden.push(Activation::Tanh);
        assert_eq!(
            bad.layer_specs().unwrap_err().to_string(),
            "mlp: 1 hidden layers need 1 activations, got 2"
        );
    }

    #[test]
    fn without_activations_stacked_dense_layers_are_one_linear_map() {
        // The lecture's reason for nonlinearity: X·W₁ + b₁ then ·W₂ + b₂ is X·(W₁W₂) + (b₁W₂ + b₂).
        let mut g = Graph::<f64>::new();
        let mut rng = TensorRng::seed_from_u64(5);
        let model = mlp(&mut g, &[3, 6, 5, 2], Activation::Identity, &mut rng).unwrap();
        let p: Vec<Tensor<f64>> =
            model.parameters().iter().map(|(_, v)| g.value(*v).unwrap().clone()).collect();
        let (w1, b1, w2, b2, w3, b3) = (&p[0], &p[1], &p[2], &p[3], &p[4], &p[5]);
        let w = w1.matmul(w2).matmul(w3);
        let b = b1.reshape(&[1, 6]).matmul(w2).add(&b2.reshape(&[1, 5])).matmul(w3).add(&b3.reshape(&[1, 2]));
        let x = Tensor::from_shape_fn(&[7, 3], |i| ((i[0] * 3 + i[1]) as f64).sin());
        let stacked = model.predict(&g, &x).unwrap();
        let single = x.matmul(&w).add(&b);
        for (a, e) in stacked.as_slice().iter().zip(single.as_slice()) {
            assert!((a - e).abs() < 1e-12, "{a} vs {e}");
        }
        // With tanh between them, no single linear map fits: the residual of the best linear
        // fit through these points is far from zero.
        let nonlinear = mlp(&mut g, &[3, 6, 5, 2], Activation::Tanh, &mut rng).unwrap();
        let y = nonlinear.predict(&g, &x.mul_scalar(3.0)).unwrap();
        let y0 = nonlinear.predict(&g, &Tensor::zeros(&[1, 3])).unwrap();
        // A linear map would satisfy f(x) − f(0) = 3·(f(x/3) − f(0)) exactly.
        let y1 = nonlinear.predict(&g, &x).unwrap();
        let gap: f64 = (0..y.len())
            .map(|k| {
                let j = k % 2;
                let lhs = y.as_slice()[k] - y0.as_slice()[j];
                let rhs = 3.0 * (y1.as_slice()[k] - y0.as_slice()[j]);
                (lhs - rhs).abs()
            })
            .fold(0.0, f64::max);
        assert!(gap > 1e-2, "tanh makes the map nonlinear (gap {gap})");
    }
}
