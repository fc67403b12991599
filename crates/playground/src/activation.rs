//! `nn.ts`'s activation, regularisation and error functions.

use crate::jsmath;

/// A node's activation function (`nn.Activations`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Activation {
    /// max(0, x); derivative 0 for x <= 0, else 1.
    Relu,
    /// tanh(x) (V8's fdlibm tanh); derivative 1 - tanh(x)².
    #[default]
    Tanh,
    /// 1 / (1 + e^-x); derivative σ(x)(1 - σ(x)).
    Sigmoid,
    /// x; derivative 1.
    Linear,
}

impl Activation {
    /// The name used in the URL hash.
    pub fn name(self) -> &'static str {
        match self {
            Activation::Relu => "relu",
            Activation::Tanh => "tanh",
            Activation::Sigmoid => "sigmoid",
            Activation::Linear => "linear",
        }
    }

    /// All four, in the page's order.
    pub const ALL: [Activation; 4] =
        [Activation::Relu, Activation::Tanh, Activation::Sigmoid, Activation::Linear];

    /// The activation whose hash name is `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.name() == name)
    }

    /// The activation's value at `x`, as JavaScript computes it (`Math.max(0, x)` keeps
    /// NaN and turns -0 into +0).
    pub fn output(self, x: f64) -> f64 {
        match self {
            Activation::Relu => {
                if x > 0.0 || x.is_nan() {
                    x
                } else {
                    0.0
                }
            }
            Activation::Tanh => jsmath::tanh(x),
            Activation::Sigmoid => 1.0 / (1.0 + jsmath::exp(-x)),
            Activation::Linear => x,
        }
    }

    /// The derivative at `x`, recomputing the output as `nn.ts` does.
    pub fn der(self, x: f64) -> f64 {
        self.der_given_output(x, self.output(x))
    }

    /// The derivative at `x` when `output == self.output(x)` is already known; the same
    /// bits as [`der`](Self::der), without evaluating the function twice.
    pub fn der_given_output(self, x: f64, output: f64) -> f64 {
        match self {
            Activation::Relu => {
                if x <= 0.0 {
                    0.0
                } else {
                    1.0
                }
            }
            Activation::Tanh => 1.0 - output * output,
            Activation::Sigmoid => output * (1.0 - output),
            Activation::Linear => 1.0,
        }
    }
}

/// A weight penalty (`nn.RegularizationFunction`); biases are never regularised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Regularization {
    /// No penalty (the page's `null`).
    #[default]
    None,
    /// |w|; derivative sign(w) (0 at 0). Links whose weight an L1 step pushes across
    /// zero are set to 0 and die.
    L1,
    /// w²/2; derivative w.
    L2,
}

impl Regularization {
    /// The name used in the URL hash (`none`, `L1`, `L2`).
    pub fn name(self) -> &'static str {
        match self {
            Regularization::None => "none",
            Regularization::L1 => "L1",
            Regularization::L2 => "L2",
        }
    }

    /// All three, in the page's order.
    pub const ALL: [Regularization; 3] = [Regularization::None, Regularization::L1, Regularization::L2];

    /// The regularisation whose hash name is `name` (case-sensitive, as on the page).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.name() == name)
    }

    /// The penalty of weight `w` (0 without regularisation).
    pub fn output(self, w: f64) -> f64 {
        match self {
            Regularization::None => 0.0,
            Regularization::L1 => w.abs(),
            Regularization::L2 => 0.5 * w * w,
        }
    }

    /// The penalty's derivative at `w` (0 without regularisation).
    pub fn der(self, w: f64) -> f64 {
        match self {
            Regularization::None => 0.0,
            Regularization::L1 => {
                if w < 0.0 {
                    -1.0
                } else if w > 0.0 {
                    1.0
                } else {
                    0.0
                }
            }
            Regularization::L2 => w,
        }
    }
}

/// `nn.Errors.SQUARE`: ½(output − target)², the loss the Playground trains and reports.
pub fn square_error(output: f64, target: f64) -> f64 {
    let d = output - target;
    // Math.pow(d, 2) is exactly d * d in V8's fdlibm pow.
    0.5 * (d * d)
}

/// Derivative of [`square_error`] with respect to the output: output − target.
pub fn square_error_der(output: f64, target: f64) -> f64 {
    output - target
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activations_and_derivatives() {
        assert_eq!(Activation::Relu.output(-2.0), 0.0);
        assert!(Activation::Relu.output(-0.0).is_sign_positive());
        assert!(Activation::Relu.output(f64::NAN).is_nan());
        assert_eq!(Activation::Relu.der(0.0), 0.0);
        assert_eq!(Activation::Relu.der(0.1), 1.0);
        assert_eq!(Activation::Sigmoid.output(0.0), 0.5);
        assert_eq!(Activation::Sigmoid.der(0.0), 0.25);
        assert_eq!(Activation::Tanh.der(0.0), 1.0);
        assert_eq!(Activation::Linear.der(7.0), 1.0);
        for a in [Activation::Relu, Activation::Tanh, Activation::Sigmoid, Activation::Linear] {
            assert_eq!(Activation::from_name(a.name()), Some(a));
            // The derivative matches a central difference away from ReLU's kink.
            let x = 0.3;
            let fd = (a.output(x + 1e-6) - a.output(x - 1e-6)) / 2e-6;
            assert!((a.der(x) - fd).abs() < 1e-8, "{a:?}");
        }
    }

    #[test]
    fn regularization_derivatives() {
        assert_eq!(Regularization::L1.der(-0.2), -1.0);
        assert_eq!(Regularization::L1.der(0.0), 0.0);
        assert_eq!(Regularization::L2.der(-0.2), -0.2);
        assert_eq!(Regularization::L2.output(2.0), 2.0);
        assert_eq!(Regularization::None.der(5.0), 0.0);
        assert_eq!(Regularization::from_name("l1"), None);
        assert_eq!(Regularization::from_name("L1"), Some(Regularization::L1));
    }

    #[test]
    fn square_error_is_half_the_squared_difference() {
        assert_eq!(square_error(0.5, -1.0), 1.125);
        assert_eq!(square_error_der(0.5, -1.0), 1.5);
    }
}
