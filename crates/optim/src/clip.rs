//! Gradient clipping, as `torch.nn.utils.clip_grad_norm_` and `clip_grad_value_`.

use backprop_autograd::{Graph, Var};
use backprop_tensor::Float;

use crate::error::{OptimError, Result};

/// Scales the gradients of `params` so that their global L2 norm is at most `max_norm`, and
/// returns the norm before clipping.
///
/// The global norm is `‖g‖ = √(Σₚ ‖gₚ‖²)` over every parameter that has a gradient (computed in
/// `f64`). Each gradient is multiplied by `min(1, max_norm / (‖g‖ + 10⁻⁶))`, as PyTorch does
/// (the 10⁻⁶ guards against division by zero).
///
/// # Errors
/// A negative or non-finite `max_norm`, a handle that is not a parameter of `g`, or a
/// non-finite norm (a gradient holds NaN or an infinity: training diverged), naming the first
/// such parameter; the gradients are left as they are then.
pub fn clip_grad_norm<F: Float>(g: &mut Graph<F>, params: &[(String, Var)], max_norm: f64) -> Result<f64> {
    if !(max_norm.is_finite() && max_norm >= 0.0) {
        return Err(OptimError::invalid(
            "clip_grad_norm",
            format!("max_norm must be finite and >= 0, got {max_norm}"),
        ));
    }
    let mut sum_squares = 0.0_f64;
    for (name, v) in params {
        if let Some(grad) = g.param_grad_mut(*v)? {
            let s: f64 = grad.as_slice().iter().map(|&x| x.to_f64() * x.to_f64()).sum();
            if !s.is_finite() {
                return Err(OptimError::invalid(
                    "clip_grad_norm",
                    format!("the gradient of '{name}' is not finite (its squared norm is {s})"),
                ));
            }
            sum_squares += s;
        }
    }
    let total = sum_squares.sqrt();
    let coefficient = (max_norm / (total + 1e-6)).min(1.0);
    if coefficient < 1.0 {
        let c = F::from_f64(coefficient);
        for (_, v) in params {
            if let Some(grad) = g.param_grad_mut(*v)? {
                grad.map_inplace(move |x| x * c);
            }
        }
    }
    Ok(total)
}

/// Clamps every gradient element of `params` to `[−clip_value, clip_value]`.
///
/// # Errors
/// A negative or non-finite `clip_value`, or a handle that is not a parameter of `g`.
pub fn clip_grad_value<F: Float>(g: &mut Graph<F>, params: &[(String, Var)], clip_value: f64) -> Result<()> {
    if !(clip_value.is_finite() && clip_value >= 0.0) {
        return Err(OptimError::invalid(
            "clip_grad_value",
            format!("clip_value must be finite and >= 0, got {clip_value}"),
        ));
    }
    let hi = F::from_f64(clip_value);
    let lo = -hi;
    for (_, v) in params {
        if let Some(grad) = g.param_grad_mut(*v)? {
            grad.map_inplace(move |x| {
                if x > hi {
                    hi
                } else if x < lo {
                    lo
                } else {
                    x
                }
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use backprop_tensor::Tensor;

    fn setup() -> (Graph<f64>, Vec<(String, Var)>) {
        let mut g = Graph::<f64>::new();
        let a = g.param("a", Tensor::from_vec(&[2], vec![1.0, 1.0]));
        let b = g.param("b", Tensor::from_vec(&[1], vec![1.0]));
        let c = g.param("c", Tensor::from_vec(&[1], vec![1.0]));
        // L = 3a₀ + 4b, so ∇a = [3, 0], ∇b = [4], and c gets no gradient.
        let x = g.input(Tensor::from_vec(&[2, 1], vec![3.0, 0.0]));
        let a_row = g.reshape(a, &[1, 2]).unwrap();
        let ax = g.matmul(a_row, x).unwrap();
        let b4 = g.mul_scalar(b, 4.0).unwrap();
        let s1 = g.sum(ax).unwrap();
        let s2 = g.sum(b4).unwrap();
        let l = g.add(s1, s2).unwrap();
        g.backward(l).unwrap();
        (g, vec![("a".into(), a), ("b".into(), b), ("c".into(), c)])
    }

    #[test]
    fn norm_clipping_scales_all_gradients_together() {
        let (mut g, params) = setup();
        let total = clip_grad_norm(&mut g, &params, 1.0).unwrap();
        assert_eq!(total, 5.0);
        let k = 1.0 / (5.0 + 1e-6);
        assert_eq!(g.grad(params[0].1).unwrap().to_vec(), vec![3.0 * k, 0.0]);
        assert_eq!(g.grad(params[1].1).unwrap().to_vec(), vec![4.0 * k]);
        assert!(g.grad_opt(params[2].1).unwrap().is_none(), "no gradient stays no gradient");
        // Below the limit nothing changes.
        let (mut g, params) = setup();
        assert_eq!(clip_grad_norm(&mut g, &params, 10.0).unwrap(), 5.0);
        assert_eq!(g.grad(params[1].1).unwrap().to_vec(), vec![4.0]);
    }

    #[test]
    fn value_clipping_clamps_elements() {
        let (mut g, params) = setup();
        clip_grad_value(&mut g, &params, 3.5).unwrap();
        assert_eq!(g.grad(params[0].1).unwrap().to_vec(), vec![3.0, 0.0]);
        assert_eq!(g.grad(params[1].1).unwrap().to_vec(), vec![3.5]);
        assert!(clip_grad_value(&mut g, &params, -1.0).is_err());
    }

    #[test]
    fn non_finite_gradients_are_an_error() {
        let (mut g, params) = setup();
        g.param_grad_mut(params[1].1).unwrap().unwrap().fill(f64::NAN);
        let err = clip_grad_norm(&mut g, &params, 1.0).unwrap_err().to_string();
        assert_eq!(err, "clip_grad_norm: the gradient of 'b' is not finite (its squared norm is NaN)");
    }
}
