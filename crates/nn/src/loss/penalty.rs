//! L1 and L2 penalties on weights, added to a loss to regularise a model.

use backprop_autograd::{AutogradError, BackwardCtx, ForwardCtx, GradSink, Graph, Op, Var};
use backprop_tensor::{Float, Tensor};

use super::write_gradient;
use crate::error::{NnError, Result};

#[derive(Clone, Copy)]
enum Norm {
    L1,
    L2,
}

struct Penalty {
    norm: Norm,
    lambda: f64,
}

impl Penalty {
    fn derivative<F: Float>(&self, w: F) -> F {
        let lambda = F::from_f64(self.lambda);
        match self.norm {
            Norm::L1 => {
                if w > F::zero() {
                    lambda
                } else if w < F::zero() {
                    -lambda
                } else {
                    F::zero()
                }
            }
            Norm::L2 => lambda * w,
        }
    }
}

impl<F: Float> Op<F> for Penalty {
    fn name(&self) -> &str {
        match self.norm {
            Norm::L1 => "l1_penalty",
            Norm::L2 => "l2_penalty",
        }
    }

    fn forward(
        &mut self,
        ctx: &mut ForwardCtx<'_, F>,
        inputs: &[&Tensor<F>],
    ) -> Result<Tensor<F>, AutogradError> {
        let total: f64 = inputs
            .iter()
            .flat_map(|t| t.as_slice())
            .map(|&w| match self.norm {
                Norm::L1 => w.to_f64().abs(),
                Norm::L2 => 0.5 * w.to_f64() * w.to_f64(),
            })
            .sum();
        let mut out = ctx.uninit(&[]);
        out.fill(F::from_f64(self.lambda * total));
        Ok(out)
    }

    fn backward(&self, ctx: &BackwardCtx<'_, F>) -> Result<Vec<Option<Tensor<F>>>, AutogradError> {
        let s = ctx.grad_output.as_slice()[0];
        Ok(ctx
            .inputs
            .iter()
            .zip(ctx.needs_input_grad)
            .map(|(w, &need)| need.then(|| w.map(|x| s * self.derivative(x))))
            .collect())
    }

    fn backward_into(
        &self,
        ctx: &BackwardCtx<'_, F>,
        grads: &mut [GradSink<'_, F>],
    ) -> Result<(), AutogradError> {
        let s = ctx.grad_output.as_slice()[0];
        for (w, sink) in ctx.inputs.iter().zip(grads.iter_mut()) {
            let w = w.as_slice();
            write_gradient(sink, |i| s * self.derivative(w[i]))?;
        }
        Ok(())
    }
}

fn apply<F: Float>(g: &mut Graph<F>, params: &[(String, Var)], lambda: f64, norm: Norm) -> Result<Var> {
    let op = Penalty { norm, lambda };
    let name = || Op::<F>::name(&op).to_string();
    if !lambda.is_finite() || lambda < 0.0 {
        return Err(NnError::invalid(
            name(),
            format!("the strength must be finite and non-negative, got {lambda}"),
        ));
    }
    if params.is_empty() {
        return Err(NnError::invalid(name(), "no parameters given"));
    }
    // Up to three handles on the stack (as many as `Graph::apply` records without allocating):
    // a training step with penalties on a small network allocates nothing.
    let n = params.len();
    if n <= 3 {
        let inline: [Var; 3] = std::array::from_fn(|k| params[k.min(n - 1)].1);
        return Ok(g.apply(op, &inline[..n])?);
    }
    let vars: Vec<Var> = params.iter().map(|(_, v)| *v).collect();
    Ok(g.apply(op, &vars)?)
}

/// The L2 penalty (ridge, weight decay) `P = (λ/2) Σ w²` over all elements of `params`.
///
/// `∂P/∂w = λ·w`: the same gradient as PyTorch's `weight_decay = λ` in `SGD` or `Adam`, which
/// is why the factor ½ is there. Pass [`crate::Sequential::weights`] to leave biases out (the
/// usual choice), or [`crate::Module::parameters`] to include them.
///
/// # Errors
/// When `lambda` is negative or not finite, or `params` is empty.
pub fn l2_penalty<F: Float>(g: &mut Graph<F>, params: &[(String, Var)], lambda: f64) -> Result<Var> {
    apply(g, params, lambda, Norm::L2)
}

/// The L1 penalty (lasso) `P = λ Σ |w|` over all elements of `params`.
///
/// `∂P/∂w = λ·sign(w)`, 0 at `w = 0` (the subgradient PyTorch's `abs` uses).
///
/// # Errors
/// When `lambda` is negative or not finite, or `params` is empty.
pub fn l1_penalty<F: Float>(g: &mut Graph<F>, params: &[(String, Var)], lambda: f64) -> Result<Var> {
    apply(g, params, lambda, Norm::L1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use backprop_autograd::gradcheck;

    #[test]
    fn values_and_gradients() {
        let mut g = Graph::<f64>::new();
        let w = g.param("w", Tensor::from_vec(&[3], vec![1.0, -2.0, 0.0]));
        let v = g.param("v", Tensor::from_vec(&[1, 2], vec![0.5, 3.0]));
        let params = vec![("w".to_string(), w), ("v".to_string(), v)];
        let p = l2_penalty(&mut g, &params, 0.1).unwrap();
        assert!((g.value(p).unwrap().item() - 0.05 * (1.0 + 4.0 + 0.25 + 9.0)).abs() < 1e-15);
        g.backward(p).unwrap();
        assert_eq!(g.grad(w).unwrap().to_vec(), vec![0.1, -0.2, 0.0]);
        g.zero_grad();
        let q = l1_penalty(&mut g, &params, 0.5).unwrap();
        assert_eq!(g.value(q).unwrap().item(), 3.25);
        g.backward(q).unwrap();
        assert_eq!(g.grad(w).unwrap().to_vec(), vec![0.5, -0.5, 0.0]);
        assert_eq!(g.grad(v).unwrap().to_vec(), vec![0.5, 0.5]);
        let err = l2_penalty(&mut g, &params, -1.0).unwrap_err().to_string();
        assert_eq!(err, "l2_penalty: the strength must be finite and non-negative, got -1");
    }

    #[test]
    fn gradients_match_finite_differences() {
        let a = Tensor::from_rows(&[[0.3, -1.2], [2.5, -0.4]]);
        let b = Tensor::from_vec(&[3], vec![0.7, -0.1, 1.5]);
        let named = |v: &[Var]| v.iter().enumerate().map(|(i, &v)| (i.to_string(), v)).collect::<Vec<_>>();
        gradcheck(|g, v| Ok(l2_penalty(g, &named(v), 0.3)?), &[a.clone(), b.clone()], 1e-6, 1e-7).unwrap();
        gradcheck(|g, v| Ok(l1_penalty(g, &named(v), 0.3)?), &[a, b], 1e-6, 1e-7).unwrap();
    }
}
