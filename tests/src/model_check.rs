//! Gradient checks of a model: backpropagation against central finite differences for every
//! parameter (values held by the graph, perturbed in place) and every input element.
//!
//! [`backprop_autograd::gradcheck`] perturbs the leaves it creates; a model's parameters live in
//! the graph it was built in, so this checker perturbs them there with
//! [`Graph::param_value_mut`]. It uses the same step, tolerance and error measure.

use std::fmt;

use backprop_autograd::{Graph, Var, gradcheck_error};
use backprop_tensor::Tensor;
use proptest::test_runner::TestCaseError;

use crate::op_check::{EPS, TOL};

/// One element compared.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// The parameter's name, or `"input"`.
    pub of: String,
    /// The element (row-major position).
    pub element: usize,
    /// `∂L/∂θ` from backpropagation.
    pub analytic: f64,
    /// The central finite difference.
    pub numeric: f64,
    /// `|analytic − numeric| / max(1, |analytic|, |numeric|)`.
    pub error: f64,
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} element {}: analytic {:e}, numeric {:e}, error {:e}",
            self.of, self.element, self.analytic, self.numeric, self.error
        )
    }
}

/// A passing check: the element that agreed least, and how many were compared.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelReport {
    /// The worst element.
    pub worst: Comparison,
    /// Elements compared (all parameters and the input).
    pub checked: usize,
}

/// Why a model check did not pass.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelCheckError {
    /// An element's gradient is wrong.
    Mismatch(Comparison),
    /// Moving an element by ±eps moved a kink indicator across 0 (a ReLU input, a hinge
    /// margin): the finite difference straddles two slopes and says nothing. Not a failure; the
    /// case is discarded.
    StraddlesKink {
        /// The element whose perturbation crossed the kink.
        of: String,
        /// Its position.
        element: usize,
    },
    /// The loss could not be computed or backpropagated.
    Failed(String),
}

impl fmt::Display for ModelCheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModelCheckError::Mismatch(c) => {
                write!(f, "backprop and finite differences disagree at {c} (tolerance {TOL:e})")
            }
            ModelCheckError::StraddlesKink { of, element } => {
                write!(f, "moving {of} element {element} by ±{EPS:e} crosses a kink")
            }
            ModelCheckError::Failed(reason) => write!(f, "the loss failed: {reason}"),
        }
    }
}

impl ModelCheckError {
    /// The property-test outcome: a failure, or a rejected case for [`Self::StraddlesKink`].
    pub fn into_test_case_error(self, context: &str) -> TestCaseError {
        match self {
            ModelCheckError::StraddlesKink { .. } => TestCaseError::reject(self.to_string()),
            other => TestCaseError::fail(format!("{other}\n{context}")),
        }
    }
}

/// What the checker asks of a model at a point: the scalar loss recorded in the graph, and the
/// kink indicators (ReLU inputs, hinge margins, L1-penalised weights: values whose sign picks
/// the slope), whose signs must not change when an element moves by ±eps.
pub trait Objective {
    /// Records the loss of the model on input `x` (a value of `g`).
    ///
    /// # Errors
    /// When the model or the loss fails.
    fn loss(&mut self, g: &mut Graph<f64>, x: Var) -> Result<Var, String>;

    /// The kink indicators at the current parameter values and input `x`.
    ///
    /// # Errors
    /// When the model fails.
    fn kinks(&mut self, g: &mut Graph<f64>, x: &Tensor<f64>) -> Result<Vec<f64>, String>;
}

/// Compares `∂L/∂θ` from one backward pass with `(L(θ + eps) − L(θ − eps)) / (2·eps)` for every
/// element of every parameter in `params` and of the input `x`.
///
/// The graph is cleared before and after; parameter values are restored exactly.
///
/// # Errors
/// [`ModelCheckError::Mismatch`] with the worst element over [`TOL`],
/// [`ModelCheckError::StraddlesKink`] when a perturbation flips a kink indicator,
/// [`ModelCheckError::Failed`] when the loss fails or is not a scalar.
pub fn check_model_gradients(
    g: &mut Graph<f64>,
    params: &[(String, Var)],
    x: &Tensor<f64>,
    objective: &mut impl Objective,
) -> Result<ModelReport, ModelCheckError> {
    let failed = ModelCheckError::Failed;
    let (param_grads, input_grad) = analytic(g, params, x, objective).map_err(failed)?;
    let base_kinks = signs(&objective.kinks(g, x).map_err(failed)?);
    g.clear();

    let mut worst: Option<Comparison> = None;
    let mut checked = 0;
    let mut record = |c: Comparison| {
        checked += 1;
        if worst.as_ref().is_none_or(|w| c.error > w.error) {
            worst = Some(c);
        }
    };
    for ((name, p), grad) in params.iter().zip(&param_grads) {
        for element in 0..grad.len() {
            let original = g.value(*p).map_err(|e| failed(e.to_string()))?.as_slice()[element];
            let mut at = |g: &mut Graph<f64>, value: f64| -> Result<(f64, Vec<bool>), ModelCheckError> {
                g.param_value_mut(*p).map_err(|e| failed(e.to_string()))?.as_mut_slice()[element] = value;
                let result = loss_and_kinks(g, x, objective);
                g.param_value_mut(*p).map_err(|e| failed(e.to_string()))?.as_mut_slice()[element] = original;
                result.map_err(failed)
            };
            let (plus, plus_kinks) = at(g, original + EPS)?;
            let (minus, minus_kinks) = at(g, original - EPS)?;
            if plus_kinks != base_kinks || minus_kinks != base_kinks {
                return Err(ModelCheckError::StraddlesKink { of: name.clone(), element });
            }
            record(compare(name, element, grad.as_slice()[element], plus, minus));
        }
    }
    let mut moved = x.clone();
    for element in 0..x.len() {
        let original = x.as_slice()[element];
        moved.as_mut_slice()[element] = original + EPS;
        let (plus, plus_kinks) = loss_and_kinks(g, &moved, objective).map_err(failed)?;
        moved.as_mut_slice()[element] = original - EPS;
        let (minus, minus_kinks) = loss_and_kinks(g, &moved, objective).map_err(failed)?;
        moved.as_mut_slice()[element] = original;
        if plus_kinks != base_kinks || minus_kinks != base_kinks {
            return Err(ModelCheckError::StraddlesKink { of: "input".into(), element });
        }
        record(compare("input", element, input_grad.as_slice()[element], plus, minus));
    }
    let worst = worst.ok_or_else(|| failed("nothing to check: no parameter and an empty input".into()))?;
    if worst.error > TOL { Err(ModelCheckError::Mismatch(worst)) } else { Ok(ModelReport { worst, checked }) }
}

fn compare(of: &str, element: usize, analytic: f64, plus: f64, minus: f64) -> Comparison {
    let numeric = (plus - minus) / (2.0 * EPS);
    Comparison { of: of.to_string(), element, analytic, numeric, error: gradcheck_error(analytic, numeric) }
}

fn signs(kinks: &[f64]) -> Vec<bool> {
    kinks.iter().map(|&k| k > 0.0).collect()
}

/// One backward pass: the gradients of the parameters (zero where the loss does not depend on
/// one) and of the input.
fn analytic(
    g: &mut Graph<f64>,
    params: &[(String, Var)],
    x: &Tensor<f64>,
    objective: &mut impl Objective,
) -> Result<(Vec<Tensor<f64>>, Tensor<f64>), String> {
    g.clear();
    g.zero_grad();
    let xv = g.leaf(x.clone());
    let loss = objective.loss(g, xv)?;
    let shape = g.shape(loss).map_err(|e| e.to_string())?;
    if shape.iter().product::<usize>() != 1 {
        return Err(format!("the loss must be a single number, got shape {shape:?}"));
    }
    g.backward(loss).map_err(|e| e.to_string())?;
    let zeros_or = |g: &Graph<f64>, v: Var| -> Result<Tensor<f64>, String> {
        let value_shape = g.shape(v).map_err(|e| e.to_string())?.to_vec();
        Ok(g.grad_opt(v).map_err(|e| e.to_string())?.cloned().unwrap_or_else(|| Tensor::zeros(&value_shape)))
    };
    let param_grads = params.iter().map(|(_, p)| zeros_or(g, *p)).collect::<Result<Vec<_>, _>>()?;
    let input_grad = zeros_or(g, xv)?;
    g.clear();
    g.zero_grad();
    Ok((param_grads, input_grad))
}

/// The loss (without recording gradients) and the kink signs at input `x`.
fn loss_and_kinks(
    g: &mut Graph<f64>,
    x: &Tensor<f64>,
    objective: &mut impl Objective,
) -> Result<(f64, Vec<bool>), String> {
    let previous = g.set_grad_enabled(false);
    let result = (|| {
        let xv = g.input(x.clone());
        let loss = objective.loss(g, xv)?;
        let value = g.value(loss).map_err(|e| e.to_string())?.as_slice()[0];
        let kinks = signs(&objective.kinks(g, x)?);
        Ok((value, kinks))
    })();
    g.clear();
    g.set_grad_enabled(previous);
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use backprop_autograd::{BackwardCtx, ForwardCtx, GradSink, Op};
    use backprop_tensor::Float;

    /// `L = Σ relu(x·w)` with a switch for a wrong gradient of `w` (scaled by 1.5).
    struct ReluOfProduct {
        w: Var,
        wrong: bool,
    }

    struct ScaleGradient(f64);

    impl<F: Float> Op<F> for ScaleGradient {
        fn name(&self) -> &str {
            "scale_gradient"
        }
        fn forward(
            &mut self,
            _: &mut ForwardCtx<'_, F>,
            inputs: &[&Tensor<F>],
        ) -> backprop_autograd::Result<Tensor<F>> {
            Ok(inputs[0].clone())
        }
        fn backward_into(
            &self,
            ctx: &BackwardCtx<'_, F>,
            grads: &mut [GradSink<'_, F>],
        ) -> backprop_autograd::Result<()> {
            grads[0].accumulate("scale_gradient", ctx.grad_output.map(|g| g * F::from_f64(self.0)))
        }
    }

    impl Objective for ReluOfProduct {
        fn loss(&mut self, g: &mut Graph<f64>, x: Var) -> Result<Var, String> {
            let run = |g: &mut Graph<f64>| -> backprop_autograd::Result<Var> {
                let w = if self.wrong { g.apply(ScaleGradient(1.5), &[self.w])? } else { self.w };
                let z = g.matmul(x, w)?;
                let r = g.relu(z)?;
                g.sum(r)
            };
            run(g).map_err(|e| e.to_string())
        }
        fn kinks(&mut self, g: &mut Graph<f64>, x: &Tensor<f64>) -> Result<Vec<f64>, String> {
            Ok(x.matmul(g.value(self.w).map_err(|e| e.to_string())?).to_vec())
        }
    }

    fn setup(w: Vec<f64>) -> (Graph<f64>, Var) {
        let mut g = Graph::new();
        let w = g.param("w", Tensor::from_vec(&[2, 2], w));
        (g, w)
    }

    #[test]
    fn right_gradients_pass_and_the_values_are_restored() {
        let (mut g, w) = setup(vec![0.5, -1.0, 0.25, 2.0]);
        let x = Tensor::from_rows(&[[1.0, 2.0], [-0.5, 0.3]]);
        let report =
            check_model_gradients(&mut g, &[("w".into(), w)], &x, &mut ReluOfProduct { w, wrong: false })
                .unwrap();
        assert_eq!(report.checked, 8);
        assert!(report.worst.error < 1e-8, "{:?}", report.worst);
        assert_eq!(g.value(w).unwrap().to_vec(), vec![0.5, -1.0, 0.25, 2.0]);
    }

    #[test]
    fn a_wrong_parameter_gradient_is_found() {
        let (mut g, w) = setup(vec![0.5, -1.0, 0.25, 2.0]);
        let x = Tensor::from_rows(&[[1.0, 2.0], [-0.5, 0.3]]);
        let err =
            check_model_gradients(&mut g, &[("w".into(), w)], &x, &mut ReluOfProduct { w, wrong: true })
                .unwrap_err();
        let ModelCheckError::Mismatch(worst) = &err else { panic!("{err}") };
        assert_eq!(worst.of, "w");
        assert!((worst.analytic - 1.5 * worst.numeric).abs() < 1e-6, "{worst}");
        assert!(err.into_test_case_error("ctx").to_string().contains("ctx"));
    }

    #[test]
    fn a_perturbation_across_a_kink_discards_the_case() {
        // Row 0 of x·w, column 0: 1·0.5 + 2·(−0.25 + 2e-7) = 4e-7, within eps of the kink.
        let (mut g, w) = setup(vec![0.5, -1.0, -0.25 + 2e-7, 2.0]);
        let x = Tensor::from_rows(&[[1.0, 2.0], [-0.5, 0.3]]);
        let err =
            check_model_gradients(&mut g, &[("w".into(), w)], &x, &mut ReluOfProduct { w, wrong: false })
                .unwrap_err();
        assert_eq!(err, ModelCheckError::StraddlesKink { of: "w".into(), element: 0 });
        let rejected = err.into_test_case_error("ctx");
        assert!(matches!(rejected, TestCaseError::Reject(_)), "{rejected}");
    }
}
