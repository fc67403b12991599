//! Gradient checks of graph functions, as property-test results.

use backprop_autograd::{GradcheckError, GradcheckReport, Graph, Result, Var, gradcheck};
use backprop_tensor::Tensor;
use proptest::test_runner::TestCaseError;

/// The finite-difference step: central differences have error `O(EPS²)` from truncation and
/// about `1e-16·|L| / EPS` from rounding, both far below [`TOL`] for moderate values.
pub const EPS: f64 = 1e-6;

/// The largest accepted `|analytic − numeric| / max(1, |analytic|, |numeric|)`.
pub const TOL: f64 = 1e-6;

/// Checks the gradient of `f` with respect to every element of every input against central
/// finite differences ([`gradcheck`] with [`EPS`] and [`TOL`]); non-scalar outputs are checked
/// through a fixed random vector-Jacobian product.
///
/// # Errors
/// A failed test case naming `what`, the worst element and the inputs.
pub fn check_gradients(
    what: &str,
    f: impl Fn(&mut Graph<f64>, &[Var]) -> Result<Var>,
    inputs: &[Tensor<f64>],
) -> std::result::Result<GradcheckReport, TestCaseError> {
    match gradcheck(f, inputs, EPS, TOL) {
        Ok(report) => Ok(report),
        Err(GradcheckError::Mismatch { worst, tol }) => Err(TestCaseError::fail(format!(
            "{what}: backprop and finite differences disagree at {worst} (tolerance {tol:e}); inputs {inputs:?}"
        ))),
        Err(GradcheckError::Graph(e)) => {
            Err(TestCaseError::fail(format!("{what}: the function failed: {e}; inputs {inputs:?}")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use backprop_autograd::{BackwardCtx, ForwardCtx, GradSink, Op};
    use backprop_tensor::Float;

    /// sin(x) with the derivative of −cos: a sign error.
    struct WrongSin;

    impl<F: Float> Op<F> for WrongSin {
        fn name(&self) -> &str {
            "wrong_sin"
        }
        fn forward(&mut self, _: &mut ForwardCtx<'_, F>, inputs: &[&Tensor<F>]) -> Result<Tensor<F>> {
            Ok(inputs[0].map(|x| x.sin()))
        }
        fn backward_into(&self, ctx: &BackwardCtx<'_, F>, grads: &mut [GradSink<'_, F>]) -> Result<()> {
            grads[0].accumulate(
                "wrong_sin",
                ctx.inputs[0].try_zip_map("wrong_sin", ctx.grad_output, |x, g| -x.cos() * g)?,
            )
        }
    }

    #[test]
    fn a_wrong_derivative_fails_the_case_with_the_inputs() {
        let x = [Tensor::from_vec(&[2], vec![0.5, -1.0])];
        let err = check_gradients("wrong_sin", |g, v| g.apply(WrongSin, &[v[0]]), &x).unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains("wrong_sin: backprop and finite differences disagree at input 0"),
            "{message}"
        );
        assert!(message.contains("inputs [Tensor<f64>[2] [0.5, -1]]"), "{message}");
        let ok = check_gradients("tanh", |g, v| g.tanh(v[0]), &x).unwrap();
        assert!(ok.error <= TOL && ok.checked == 2);
    }

    #[test]
    fn a_failing_function_fails_the_case() {
        let x = [Tensor::from_vec(&[3], vec![1.0, 2.0, 3.0])];
        let message = check_gradients("softmax", |g, v| g.softmax(v[0]), &x).unwrap_err().to_string();
        assert!(
            message.contains("softmax: the function failed: softmax_rows: expected a matrix"),
            "{message}"
        );
    }
}
