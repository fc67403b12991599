//! Gradient checking: backpropagation against central finite differences, in `f64`.

use backprop_tensor::{Tensor, TensorRng};

use crate::error::{AutogradError, Result};
use crate::graph::{Graph, Var};

/// The seed of the pseudo-random output gradient used for non-scalar outputs.
const SEED_GRADIENT_SEED: u64 = 0x5EED_6AD0;

/// The outcome of a passing [`gradcheck`]: the element that agreed least.
#[derive(Debug, Clone, PartialEq)]
pub struct GradcheckReport {
    /// Which input the worst element belongs to (position in `inputs`).
    pub input: usize,
    /// Its multi-index within that input (`[]` for a scalar).
    pub index: Vec<usize>,
    /// The gradient backpropagation computed.
    pub analytic: f64,
    /// The central finite difference.
    pub numeric: f64,
    /// `|analytic − numeric| / max(1, |analytic|, |numeric|)`, infinite if either is not finite.
    pub error: f64,
    /// How many input elements were compared.
    pub checked: usize,
}

impl std::fmt::Display for GradcheckReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "input {} element {:?}: analytic {:e}, numeric {:e}, error {:e} (worst of {} elements)",
            self.input, self.index, self.analytic, self.numeric, self.error, self.checked
        )
    }
}

/// Why a [`gradcheck`] failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GradcheckError {
    /// An element's gradient differs from its finite difference by more than the tolerance.
    #[error(
        "gradcheck: gradients disagree at {worst}; tolerance {tol:e} (error = |analytic - numeric| / max(1, |analytic|, |numeric|))"
    )]
    Mismatch {
        /// The element that agreed least.
        worst: GradcheckReport,
        /// The tolerance it exceeded.
        tol: f64,
    },
    /// The function, its backward pass, or the arguments of `gradcheck` failed.
    #[error(transparent)]
    Graph(#[from] AutogradError),
}

/// Error measure of [`gradcheck`]: `|a − n| / max(1, |a|, |n|)`.
///
/// It is an absolute error for gradients below 1 in magnitude, where a relative error would
/// magnify rounding noise around 0, and a relative error above. Non-finite values give infinity.
pub fn gradcheck_error(analytic: f64, numeric: f64) -> f64 {
    if !(analytic.is_finite() && numeric.is_finite()) {
        return f64::INFINITY;
    }
    (analytic - numeric).abs() / 1f64.max(analytic.abs()).max(numeric.abs())
}

/// Checks the gradients of `f` at `inputs` against central finite differences.
///
/// `f` records a computation on the graph it receives, from the inputs it receives as values
/// of that graph, and returns its output. `gradcheck` then:
///
/// 1. records the inputs as leaves, runs `f`, and backpropagates: the analytic gradients. A
///    one-element output is seeded with 1; a larger output with a fixed pseudo-random gradient
///    `s` (uniform in [-1, 1), the same on every run), which checks the vector-Jacobian product
///    `sᵀ·J`, i.e. the gradient of `L = Σ s ⊙ f(x)`. An input the output does not depend on has
///    gradient 0.
/// 2. for every element `x_e` of every input, evaluates `L` at `x_e ± eps` (in no-grad mode) and
///    forms the central difference `(L(x_e + eps) − L(x_e − eps)) / (2·eps)`, whose error is
///    `O(eps²)`.
/// 3. compares each pair with [`gradcheck_error`] `|a − n| / max(1, |a|, |n|)`.
///
/// With `eps = 1e-6`, smooth functions of moderate values agree to about `1e-9`; pick points
/// away from kinks (`relu`, `abs` at 0), where finite differences straddle two slopes.
///
/// # Errors
/// [`GradcheckError::Mismatch`] naming the worst element (input, multi-index, analytic,
/// numeric, error) when its error exceeds `tol`; [`GradcheckError::Graph`] when `f` or its
/// backward pass fails, `eps` is not positive, or there is no input element.
///
/// ```
/// use backprop_autograd::gradcheck;
/// use backprop_tensor::Tensor;
///
/// // f(x, y) = Σ tanh(x ⊙ y)
/// let inputs = [Tensor::from_vec(&[3], vec![0.5, -1.0, 2.0]), Tensor::from_vec(&[3], vec![1.5, 0.3, -0.2])];
/// let report = gradcheck(|g, v| { let p = g.mul(v[0], v[1])?; let t = g.tanh(p)?; g.sum(t) }, &inputs, 1e-6, 1e-6).unwrap();
/// assert!(report.error < 1e-8, "{report}");
/// assert_eq!(report.checked, 6);
/// ```
pub fn gradcheck<Fun>(
    f: Fun,
    inputs: &[Tensor<f64>],
    eps: f64,
    tol: f64,
) -> Result<GradcheckReport, GradcheckError>
where
    Fun: Fn(&mut Graph<f64>, &[Var]) -> Result<Var>,
{
    if !(eps > 0.0 && eps.is_finite()) {
        return Err(AutogradError::invalid(
            "gradcheck",
            format!("eps must be positive and finite, got {eps}"),
        )
        .into());
    }
    if inputs.iter().all(|t| t.is_empty()) {
        return Err(AutogradError::invalid("gradcheck", "the inputs have no elements to check").into());
    }
    let mut graph = Graph::<f64>::new();
    let (analytic, seed) = analytic_gradients(&mut graph, &f, inputs)?;

    let mut perturbed = inputs.to_vec();
    let mut worst: Option<GradcheckReport> = None;
    let mut checked = 0;
    for (input, gradient) in analytic.iter().enumerate() {
        for element in 0..inputs[input].len() {
            let original = inputs[input].as_slice()[element];
            perturbed[input].as_mut_slice()[element] = original + eps;
            let plus = seeded_loss(&mut graph, &f, &perturbed, &seed)?;
            perturbed[input].as_mut_slice()[element] = original - eps;
            let minus = seeded_loss(&mut graph, &f, &perturbed, &seed)?;
            perturbed[input].as_mut_slice()[element] = original;

            let numeric = (plus - minus) / (2.0 * eps);
            let analytic = gradient.as_slice()[element];
            let error = gradcheck_error(analytic, numeric);
            checked += 1;
            if worst.as_ref().is_none_or(|w| error > w.error) {
                let index = unravel(element, inputs[input].shape());
                worst = Some(GradcheckReport { input, index, analytic, numeric, error, checked: 0 });
            }
        }
    }
    let mut worst = worst.expect("at least one element was checked");
    worst.checked = checked;
    if worst.error > tol { Err(GradcheckError::Mismatch { worst, tol }) } else { Ok(worst) }
}

/// Backpropagates once: the gradient of every input (0 where the output does not depend on it)
/// and the seed used.
fn analytic_gradients<Fun>(
    graph: &mut Graph<f64>,
    f: &Fun,
    inputs: &[Tensor<f64>],
) -> Result<(Vec<Tensor<f64>>, Tensor<f64>)>
where
    Fun: Fn(&mut Graph<f64>, &[Var]) -> Result<Var>,
{
    let vars: Vec<Var> = inputs.iter().map(|t| graph.leaf(t.clone())).collect();
    let out = f(graph, &vars)?;
    let seed = seed_gradient(graph.shape(out)?);
    if graph.requires_grad(out)? {
        graph.backward_with_seed(out, seed.clone())?;
    }
    let gradients = vars
        .iter()
        .zip(inputs)
        .map(|(&v, t)| Ok(graph.grad_opt(v)?.cloned().unwrap_or_else(|| Tensor::zeros(t.shape()))))
        .collect::<Result<Vec<_>>>()?;
    graph.clear();
    Ok((gradients, seed))
}

/// `Σ seed ⊙ f(inputs)`, evaluated without recording gradients.
fn seeded_loss<Fun>(
    graph: &mut Graph<f64>,
    f: &Fun,
    inputs: &[Tensor<f64>],
    seed: &Tensor<f64>,
) -> Result<f64>
where
    Fun: Fn(&mut Graph<f64>, &[Var]) -> Result<Var>,
{
    let previous = graph.set_grad_enabled(false);
    let result = (|| {
        let vars: Vec<Var> = inputs.iter().map(|t| graph.input(t.clone())).collect();
        let out = f(graph, &vars)?;
        let value = graph.value(out)?;
        if value.shape() != seed.shape() {
            return Err(AutogradError::invalid(
                "gradcheck",
                format!(
                    "the output changed shape from {:?} to {:?} when an input moved by eps",
                    seed.shape(),
                    value.shape()
                ),
            ));
        }
        Ok(value.as_slice().iter().zip(seed.as_slice()).map(|(y, s)| y * s).sum())
    })();
    graph.clear();
    graph.set_grad_enabled(previous);
    result
}

/// 1 for a one-element output; a fixed pseudo-random tensor otherwise.
fn seed_gradient(shape: &[usize]) -> Tensor<f64> {
    if shape.iter().product::<usize>() == 1 {
        return Tensor::ones(shape);
    }
    let mut rng = TensorRng::seed_from_u64(SEED_GRADIENT_SEED);
    Tensor::from_shape_fn(shape, |_| rng.uniform_range(-1.0, 1.0))
}

/// The multi-index of row-major position `flat` in `shape`.
fn unravel(mut flat: usize, shape: &[usize]) -> Vec<usize> {
    let mut index = vec![0; shape.len()];
    for (slot, &len) in index.iter_mut().zip(shape).rev() {
        *slot = flat % len;
        flat /= len;
    }
    index
}

#[cfg(test)]
mod tests {
    use backprop_tensor::{Float, Tensor};

    use super::*;
    use crate::op::{BackwardCtx, ForwardCtx, GradSink, Op};

    /// x³ with a deliberately wrong derivative 2x² (should be 3x²).
    struct WrongCube;

    impl<F: Float> Op<F> for WrongCube {
        fn name(&self) -> &str {
            "wrong_cube"
        }
        fn forward(&mut self, _: &mut ForwardCtx<'_, F>, inputs: &[&Tensor<F>]) -> Result<Tensor<F>> {
            Ok(inputs[0].powi(3))
        }
        fn backward_into(&self, ctx: &BackwardCtx<'_, F>, grads: &mut [GradSink<'_, F>]) -> Result<()> {
            grads[0].accumulate(
                "wrong_cube",
                ctx.inputs[0].square().mul_scalar(F::from_f64(2.0)).mul(ctx.grad_output),
            )
        }
    }

    #[test]
    fn a_wrong_derivative_is_caught_and_located() {
        let x = [Tensor::from_vec(&[2, 2], vec![0.1, -0.2, 3.0, 0.5])];
        let f = |g: &mut Graph<f64>, v: &[Var]| {
            let y = g.apply(WrongCube, &[v[0]])?;
            g.sum(y)
        };
        let err = gradcheck(f, &x, 1e-6, 1e-6).unwrap_err();
        let GradcheckError::Mismatch { worst, tol } = &err else { panic!("{err}") };
        // At x = 3: analytic 2·9 = 18, numeric 3·9 = 27, error 9/27.
        assert_eq!((worst.input, worst.index.as_slice(), *tol), (0, &[1, 0][..], 1e-6));
        assert!((worst.analytic - 18.0).abs() < 1e-12, "{worst}");
        assert!((worst.numeric - 27.0).abs() < 1e-6, "{worst}");
        assert!((worst.error - 1.0 / 3.0).abs() < 1e-6, "{worst}");
        let message = err.to_string();
        assert!(
            message.starts_with(
                "gradcheck: gradients disagree at input 0 element [1, 0]: analytic 1.8e1, numeric 2.7"
            ),
            "{message}"
        );
        assert!(message.contains("worst of 4 elements") && message.contains("tolerance 1e-6"), "{message}");
    }

    #[test]
    fn a_non_scalar_output_is_checked_through_a_fixed_seed() {
        let x = [Tensor::from_vec(&[2, 2], vec![0.1, -0.2, 3.0, 0.5])];
        let err = gradcheck(|g, v| g.apply(WrongCube, &[v[0]]), &x, 1e-6, 1e-6).unwrap_err();
        let GradcheckError::Mismatch { worst, .. } = &err else { panic!("{err}") };
        let seed = seed_gradient(&[2, 2]);
        let flat = worst.index[0] * 2 + worst.index[1];
        let x = x[0].as_slice()[flat];
        assert!((worst.analytic - 2.0 * x * x * seed.as_slice()[flat]).abs() < 1e-12, "{worst}");
        assert!((worst.numeric - 3.0 * x * x * seed.as_slice()[flat]).abs() < 1e-6, "{worst}");
        assert_eq!(seed, seed_gradient(&[2, 2]), "the seed is fixed");
        assert!(seed.as_slice().iter().all(|s| (-1.0..1.0).contains(s)));
    }

    #[test]
    fn unused_inputs_have_zero_gradient_and_pass() {
        let x = [Tensor::scalar(0.7), Tensor::from_vec(&[2], vec![1.0, 2.0])];
        let report = gradcheck(|g, v| g.exp(v[0]), &x, 1e-6, 1e-8).unwrap();
        assert_eq!(report.checked, 3);
        let constant = gradcheck(|g, _| Ok(g.input(Tensor::scalar(1.0))), &x, 1e-6, 1e-8).unwrap();
        assert_eq!(constant.error, 0.0);
    }

    #[test]
    fn errors_of_f_and_bad_arguments_are_reported() {
        let x = [Tensor::from_vec(&[3], vec![1.0, 2.0, 3.0])];
        let err = gradcheck(|g, v| g.softmax(v[0]), &x, 1e-6, 1e-8).unwrap_err();
        assert_eq!(err.to_string(), "softmax_rows: expected a matrix, got shape [3]");
        assert!(
            gradcheck(|g, v| g.exp(v[0]), &x, 0.0, 1e-8)
                .unwrap_err()
                .to_string()
                .contains("eps must be positive")
        );
        assert!(gradcheck(|g, v| g.exp(v[0]), &[Tensor::zeros(&[0])], 1e-6, 1e-8).is_err());
    }

    #[test]
    fn error_measure_is_absolute_below_one_and_relative_above() {
        assert_eq!(gradcheck_error(0.5, 0.25), 0.25);
        assert_eq!(gradcheck_error(100.0, 101.0), 1.0 / 101.0);
        assert_eq!(gradcheck_error(f64::NAN, 1.0), f64::INFINITY);
        assert_eq!(unravel(5, &[2, 3]), vec![1, 2]);
        assert_eq!(unravel(0, &[]), Vec::<usize>::new());
    }
}
