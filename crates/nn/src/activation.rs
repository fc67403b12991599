//! Activation functions as layers: identity, sigmoid, tanh, ReLU, leaky ReLU and softmax.

use std::fmt;
use std::str::FromStr;

use backprop_autograd::{FusedActivation, Graph, Var};
use backprop_tensor::{Float, Tensor};
use serde::{Deserialize, Serialize};

use crate::error::{NnError, Result};
use crate::module::Module;

/// PyTorch's default slope of `nn.LeakyReLU`.
pub const DEFAULT_LEAKY_SLOPE: f64 = 0.01;

/// An elementwise (or, for softmax, row-wise) nonlinearity, usable as a layer.
///
/// Without one between them, stacked [`crate::Dense`] layers collapse into a single linear map
/// (`(X·W₁ + b₁)·W₂ + b₂ = X·(W₁W₂) + (b₁W₂ + b₂)`), which is why hidden layers need a
/// nonlinearity.
///
/// Names (for [`FromStr`], [`fmt::Display`] and the model file): `identity` (also `linear`),
/// `sigmoid`, `tanh`, `relu`, `leaky_relu` or `leaky_relu:0.2`, `softmax`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// f(x) = x; f'(x) = 1. PyTorch's `nn.Identity`.
    Identity,
    /// σ(x) = 1 / (1 + e⁻ˣ); σ'(x) = σ(x)(1 − σ(x)). PyTorch's `nn.Sigmoid`.
    Sigmoid,
    /// tanh(x); tanh'(x) = 1 − tanh²(x). PyTorch's `nn.Tanh`.
    Tanh,
    /// max(x, 0); derivative 1 for x > 0, else 0. PyTorch's `nn.ReLU`.
    Relu,
    /// x for x > 0, else α·x; derivative 1 or α. PyTorch's `nn.LeakyReLU(α)`.
    LeakyRelu {
        /// The slope α for negative inputs (PyTorch's `negative_slope`, default 0.01).
        alpha: f64,
    },
    /// softmax of each row: yᵢ = e^(xᵢ) / Σⱼ e^(xⱼ); ∂L/∂xᵢ = yᵢ(gᵢ − Σⱼ gⱼyⱼ). PyTorch's
    /// `nn.Softmax(dim=1)`. For training a classifier prefer logits with
    /// [`crate::softmax_cross_entropy`], which is stable and cheaper.
    Softmax,
}

impl Activation {
    /// Leaky ReLU with PyTorch's default slope 0.01.
    pub const LEAKY_RELU: Activation = Activation::LeakyRelu { alpha: DEFAULT_LEAKY_SLOPE };

    /// Records the activation of `x` in the graph.
    ///
    /// # Errors
    /// When `x` is not a live value of `g`, or (softmax) not a matrix.
    pub fn apply<F: Float>(&self, g: &mut Graph<F>, x: Var) -> Result<Var> {
        Ok(match *self {
            Activation::Identity => x,
            Activation::Sigmoid => g.sigmoid(x)?,
            Activation::Tanh => g.tanh(x)?,
            Activation::Relu => g.relu(x)?,
            Activation::LeakyRelu { alpha } => g.leaky_relu(x, F::from_f64(alpha))?,
            Activation::Softmax => g.softmax(x)?,
        })
    }

    /// The form of this activation that [`Graph::affine_act`] fuses into a dense layer, if it
    /// has one: ReLU, tanh, sigmoid, and leaky ReLU with a slope above 0 (its derivative must
    /// be readable from its output).
    pub fn fused(&self) -> Option<FusedActivation> {
        match *self {
            Activation::Relu => Some(FusedActivation::Relu),
            Activation::Tanh => Some(FusedActivation::Tanh),
            Activation::Sigmoid => Some(FusedActivation::Sigmoid),
            Activation::LeakyRelu { alpha } if alpha.is_finite() && alpha > 0.0 => {
                Some(FusedActivation::LeakyRelu(alpha))
            }
            Activation::LeakyRelu { .. } | Activation::Identity | Activation::Softmax => None,
        }
    }

    /// Applies the activation to a tensor in place (inference, no graph).
    ///
    /// # Errors
    /// Softmax of a tensor that is not a matrix with non-empty rows.
    pub fn apply_tensor_in_place<F: Float>(&self, x: &mut Tensor<F>) -> Result<()> {
        match *self {
            Activation::Identity => {}
            Activation::Sigmoid => x.map_inplace(backprop_tensor::sigmoid),
            Activation::Tanh => backprop_tensor::tanh_in_place(x.as_mut_slice()),
            Activation::Relu => x.map_inplace(backprop_tensor::relu),
            Activation::LeakyRelu { alpha } => {
                let alpha = F::from_f64(alpha);
                x.map_inplace(move |v| backprop_tensor::leaky_relu(v, alpha));
            }
            Activation::Softmax => *x = x.try_softmax_rows()?,
        }
        Ok(())
    }

    /// The PyTorch module that computes the same function, as Python source
    /// (`torch.nn.Tanh()`, `torch.nn.LeakyReLU(0.2)`, ...).
    pub fn torch_module(&self) -> String {
        match *self {
            Activation::Identity => "torch.nn.Identity()".into(),
            Activation::Sigmoid => "torch.nn.Sigmoid()".into(),
            Activation::Tanh => "torch.nn.Tanh()".into(),
            Activation::Relu => "torch.nn.ReLU()".into(),
            Activation::LeakyRelu { alpha } => format!("torch.nn.LeakyReLU({alpha:?})"),
            Activation::Softmax => "torch.nn.Softmax(dim=1)".into(),
        }
    }

    /// Checks the parameter of leaky ReLU (finite).
    ///
    /// # Errors
    /// A non-finite slope.
    pub fn validate(&self) -> Result<()> {
        match *self {
            Activation::LeakyRelu { alpha } if !alpha.is_finite() => {
                Err(NnError::invalid("leaky_relu", format!("the slope must be finite, got {alpha}")))
            }
            _ => Ok(()),
        }
    }
}

impl fmt::Display for Activation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Activation::Identity => f.write_str("identity"),
            Activation::Sigmoid => f.write_str("sigmoid"),
            Activation::Tanh => f.write_str("tanh"),
            Activation::Relu => f.write_str("relu"),
            Activation::LeakyRelu { alpha } if alpha == DEFAULT_LEAKY_SLOPE => f.write_str("leaky_relu"),
            Activation::LeakyRelu { alpha } => write!(f, "leaky_relu:{alpha}"),
            Activation::Softmax => f.write_str("softmax"),
        }
    }
}

impl FromStr for Activation {
    type Err = NnError;

    fn from_str(s: &str) -> Result<Self> {
        let lower = s.trim().to_ascii_lowercase();
        Ok(match lower.as_str() {
            "identity" | "linear" | "none" => Activation::Identity,
            "sigmoid" => Activation::Sigmoid,
            "tanh" => Activation::Tanh,
            "relu" => Activation::Relu,
            "leaky_relu" | "leakyrelu" => Activation::LEAKY_RELU,
            "softmax" => Activation::Softmax,
            other => {
                let slope = other.strip_prefix("leaky_relu:").or_else(|| other.strip_prefix("leakyrelu:"));
                match slope.map(str::parse::<f64>) {
                    Some(Ok(alpha)) if alpha.is_finite() => Activation::LeakyRelu { alpha },
                    _ => {
                        return Err(NnError::invalid(
                            "activation",
                            format!(
                                "unknown activation '{s}'; expected one of identity, linear, sigmoid, tanh, relu, leaky_relu, leaky_relu:<slope>, softmax"
                            ),
                        ));
                    }
                }
            }
        })
    }
}

impl Module for Activation {
    fn forward<F: Float>(&mut self, g: &mut Graph<F>, x: Var) -> Result<Var> {
        self.apply(g, x)
    }

    fn parameters(&self) -> Vec<(String, Var)> {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_are_explained() {
        for a in [
            Activation::Identity,
            Activation::Sigmoid,
            Activation::Tanh,
            Activation::Relu,
            Activation::LEAKY_RELU,
            Activation::LeakyRelu { alpha: 0.2 },
            Activation::Softmax,
        ] {
            assert_eq!(a.to_string().parse::<Activation>().unwrap(), a);
        }
        assert_eq!("Linear".parse::<Activation>().unwrap(), Activation::Identity);
        let err = "swish".parse::<Activation>().unwrap_err().to_string();
        assert!(err.starts_with("activation: unknown activation 'swish'"), "{err}");
        assert_eq!(Activation::LeakyRelu { alpha: 0.2 }.torch_module(), "torch.nn.LeakyReLU(0.2)");
    }

    #[test]
    fn graph_and_tensor_paths_agree() {
        let x = Tensor::from_rows(&[[-3.0_f64, -0.5, 0.0], [0.25, 2.0, 40.0]]);
        for a in [
            Activation::Identity,
            Activation::Sigmoid,
            Activation::Tanh,
            Activation::Relu,
            Activation::LeakyRelu { alpha: 0.1 },
            Activation::Softmax,
        ] {
            let mut g = Graph::<f64>::new();
            let v = g.input(x.clone());
            let y = a.apply(&mut g, v).unwrap();
            let mut t = x.clone();
            a.apply_tensor_in_place(&mut t).unwrap();
            let from_graph = g.value(y).unwrap();
            for (p, q) in from_graph.as_slice().iter().zip(t.as_slice()) {
                assert!((p - q).abs() <= 1e-15, "{a}: {p} vs {q}");
            }
        }
        let mut t = x.clone();
        Activation::LeakyRelu { alpha: 0.1 }.apply_tensor_in_place(&mut t).unwrap();
        assert_eq!(t.to_vec(), vec![-0.30000000000000004, -0.05, 0.0, 0.25, 2.0, 40.0]);
    }

    #[test]
    fn serde_names() {
        assert_eq!(serde_json::to_string(&Activation::Tanh).unwrap(), "\"tanh\"");
        assert_eq!(
            serde_json::to_string(&Activation::LeakyRelu { alpha: 0.2 }).unwrap(),
            "{\"leaky_relu\":{\"alpha\":0.2}}"
        );
        let back: Activation = serde_json::from_str("{\"leaky_relu\":{\"alpha\":0.2}}").unwrap();
        assert_eq!(back, Activation::LeakyRelu { alpha: 0.2 });
    }
}
