//! Multi-class losses on logits `[n, C]` with class indices: softmax cross-entropy and the
//! multi-class hinge.

use backprop_autograd::{AutogradError, BackwardCtx, ForwardCtx, GradSink, Graph, Op, Var};
use backprop_tensor::{Float, Tensor};

use super::{Reduction, write_gradient};
use crate::error::Result;

/// Checks logits `[n, C]` against `n` class indices below `C`; returns `(n, C)`.
fn check_classes<F: Float>(
    op: &str,
    logits: &Tensor<F>,
    classes: &[usize],
) -> Result<(usize, usize), AutogradError> {
    let (n, c) = match *logits.shape() {
        [n, c] if n > 0 && c > 0 => (n, c),
        _ => {
            return Err(AutogradError::invalid(
                op,
                format!("logits must be a non-empty matrix [batch, classes], got shape {:?}", logits.shape()),
            ));
        }
    };
    if classes.len() != n {
        return Err(AutogradError::invalid(
            op,
            format!("{} class indices for a batch of {n} rows (logits {:?})", classes.len(), logits.shape()),
        ));
    }
    if let Some((i, &k)) = classes.iter().enumerate().find(|&(_, &k)| k >= c) {
        return Err(AutogradError::invalid(
            op,
            format!("class index {k} of row {i} is out of range for {c} classes"),
        ));
    }
    Ok((n, c))
}

/// Checks the logits against the class indices and records the indices as a constant input of
/// the graph (the values `0, 1, …`, exact below 2²⁴ in `f32`), so that the op keeps no copy of
/// them and a training step allocates nothing for them.
fn record_classes<F: Float>(
    g: &mut Graph<F>,
    op: &str,
    logits: Var,
    classes: &[usize],
) -> Result<Var, AutogradError> {
    g.check(op, logits)?;
    let (n, _) = check_classes(op, g.value(logits)?, classes)?;
    if let Some((i, &k)) =
        classes.iter().enumerate().find(|&(_, &k)| F::from_f64(k as f64).to_f64() != k as f64)
    {
        return Err(AutogradError::invalid(
            op,
            format!("class index {k} of row {i} cannot be held exactly in {}", F::NAME),
        ));
    }
    Ok(g.input_with(&[n], |dst| {
        for (d, &k) in dst.iter_mut().zip(classes) {
            *d = F::from_f64(k as f64);
        }
    }))
}

/// The class index held in a value written by [`record_classes`].
fn class_of<F: Float>(value: F) -> usize {
    value.to_f64() as usize
}

/// Checks that the recorded class indices fit the logits (they were checked when recorded);
/// returns `(n, C)`.
fn recorded_dims<F: Float>(
    op: &str,
    x: &Tensor<F>,
    classes: &Tensor<F>,
) -> Result<(usize, usize), AutogradError> {
    match *x.shape() {
        [n, c] if n > 0 && c > 0 && classes.len() == n => Ok((n, c)),
        _ => Err(AutogradError::invalid(
            op,
            format!("logits {:?} do not fit {} class indices", x.shape(), classes.len()),
        )),
    }
}

/// The row maximum m and ln Σⱼ e^(xⱼ − m): log-sum-exp is their sum.
///
/// Kept apart so that the loss `ln Σⱼ e^(xⱼ − m) − (x_y − m)` never adds m back before
/// subtracting the target logit, which would round a tiny loss (a confident, almost perfect
/// prediction) to exactly 0.
fn max_and_log_sum_exp<F: Float>(row: &[F]) -> (F, F) {
    let m = row.iter().copied().fold(F::neg_infinity(), F::max);
    if !m.is_finite() {
        return (m, F::zero());
    }
    (m, row.iter().fold(F::zero(), |acc, &x| acc + (x - m).exp()).ln())
}

/// Inputs: the logits `[n, C]` and the class indices as values `[n]` (see [`record_classes`]).
struct CrossEntropy {
    reduction: Reduction,
    scale: f64,
}

impl CrossEntropy {
    /// `dst (+)= s·(softmax(x) − onehot)`, row by row (the log-sum-exp is recomputed here rather
    /// than kept from forward, so the op holds no buffer).
    fn write_gradient<F: Float>(
        &self,
        x: &Tensor<F>,
        classes: &Tensor<F>,
        s: F,
        dst: &mut [F],
        accumulate: bool,
    ) {
        let c = x.shape()[1];
        let rows = dst.chunks_exact_mut(c).zip(x.as_slice().chunks_exact(c)).zip(classes.as_slice());
        for ((dst, row), &k) in rows {
            let (m, log_sum) = max_and_log_sum_exp(row);
            let lse = if m.is_finite() { m + log_sum } else { m };
            let k = class_of(k);
            for (j, (d, &v)) in dst.iter_mut().zip(row).enumerate() {
                let onehot = if j == k { F::one() } else { F::zero() };
                let gradient = s * ((v - lse).exp() - onehot);
                *d = if accumulate { *d + gradient } else { gradient };
            }
        }
    }
}

impl<F: Float> Op<F> for CrossEntropy {
    fn name(&self) -> &str {
        "softmax_cross_entropy"
    }

    fn forward(
        &mut self,
        ctx: &mut ForwardCtx<'_, F>,
        inputs: &[&Tensor<F>],
    ) -> Result<Tensor<F>, AutogradError> {
        let (x, classes) = (inputs[0], inputs[1]);
        let (n, c) = recorded_dims("softmax_cross_entropy", x, classes)?;
        self.scale = self.reduction.scale(n);
        let mut sum = 0.0;
        for (i, (row, &k)) in x.as_slice().chunks_exact(c).zip(classes.as_slice()).enumerate() {
            let (m, log_sum) = max_and_log_sum_exp(row);
            let term = (log_sum - (row[class_of(k)] - m)).to_f64();
            if !term.is_finite() {
                return Err(AutogradError::invalid(
                    "softmax_cross_entropy",
                    format!("the loss of row {i} is not finite: its logits hold NaN or an infinity"),
                ));
            }
            sum += term;
        }
        let mut out = ctx.uninit(&[]);
        out.fill(F::from_f64(sum * self.scale));
        Ok(out)
    }

    fn backward(&self, ctx: &BackwardCtx<'_, F>) -> Result<Vec<Option<Tensor<F>>>, AutogradError> {
        let (x, classes) = (ctx.inputs[0], ctx.inputs[1]);
        let s = F::from_f64(self.scale) * ctx.grad_output.as_slice()[0];
        let mut grad = Tensor::zeros(x.shape());
        self.write_gradient(x, classes, s, grad.as_mut_slice(), false);
        Ok(vec![Some(grad), None])
    }

    fn backward_into(
        &self,
        ctx: &BackwardCtx<'_, F>,
        grads: &mut [GradSink<'_, F>],
    ) -> Result<(), AutogradError> {
        let (x, classes) = (ctx.inputs[0], ctx.inputs[1]);
        let s = F::from_f64(self.scale) * ctx.grad_output.as_slice()[0];
        grads[0].with_buffer(|buffer, live| {
            self.write_gradient(x, classes, s, buffer.as_mut_slice(), live);
            Ok(())
        })
    }
}

/// Softmax cross-entropy on logits `[n, C]` with class indices, PyTorch's `cross_entropy`:
/// `ℓᵢ = −ln softmax(xᵢ)_{yᵢ} = logsumexp(xᵢ) − x_{i,yᵢ}`, with the log-sum-exp taken around
/// the row maximum so that logits of ±10⁴ stay finite.
///
/// `∂ℓᵢ/∂x_{ij} = softmax(xᵢ)ⱼ − [j = yᵢ]`; with [`Reduction::Mean`] both are divided by `n`
/// (the batch, not `n·C`).
///
/// # Errors
/// When the logits are not a non-empty matrix, `class_indices` has another length than the
/// batch, an index is not below `C`, or a row's loss is not finite (NaN or infinite logits).
pub fn softmax_cross_entropy<F: Float>(
    g: &mut Graph<F>,
    logits: Var,
    class_indices: &[usize],
    reduction: Reduction,
) -> Result<Var> {
    let classes = record_classes(g, "softmax_cross_entropy", logits, class_indices)?;
    Ok(g.apply(CrossEntropy { reduction, scale: 1.0 }, &[logits, classes])?)
}

/// Inputs: the logits `[n, C]` and the class indices as values `[n]` (see [`record_classes`]).
struct MultiMargin {
    reduction: Reduction,
    scale: f64,
}

impl MultiMargin {
    /// `∂ℓ/∂x` of element `i` (row-major), before the scale `s/C`.
    fn gradient<F: Float>(&self, x: &[F], classes: &[F], c: usize, i: usize) -> F {
        let row = i / c;
        let j = i % c;
        let y = class_of(classes[row]);
        let xs = &x[row * c..(row + 1) * c];
        let active = |k: usize| F::one() - xs[y] + xs[k] > F::zero();
        if j != y {
            if active(j) { F::one() } else { F::zero() }
        } else {
            -F::from_f64((0..c).filter(|&k| k != y && active(k)).count() as f64)
        }
    }
}

impl<F: Float> Op<F> for MultiMargin {
    fn name(&self) -> &str {
        "multi_margin"
    }

    fn forward(
        &mut self,
        ctx: &mut ForwardCtx<'_, F>,
        inputs: &[&Tensor<F>],
    ) -> Result<Tensor<F>, AutogradError> {
        let (x, classes) = (inputs[0], inputs[1]);
        let (n, c) = recorded_dims("multi_margin", x, classes)?;
        self.scale = self.reduction.scale(n) / c as f64;
        let mut sum = 0.0;
        for (xs, &k) in x.as_slice().chunks_exact(c).zip(classes.as_slice()) {
            let y = class_of(k);
            let xy = xs[y].to_f64();
            sum += xs
                .iter()
                .enumerate()
                .filter(|&(k, _)| k != y)
                .map(|(_, &xk)| (1.0 - xy + xk.to_f64()).max(0.0))
                .sum::<f64>();
        }
        let loss = sum * self.scale;
        if !loss.is_finite() {
            return Err(AutogradError::invalid(
                "multi_margin",
                "the loss is not finite: the logits hold NaN or an infinity",
            ));
        }
        let mut out = ctx.uninit(&[]);
        out.fill(F::from_f64(loss));
        Ok(out)
    }

    fn backward(&self, ctx: &BackwardCtx<'_, F>) -> Result<Vec<Option<Tensor<F>>>, AutogradError> {
        let (x, classes) = (ctx.inputs[0], ctx.inputs[1].as_slice());
        let c = x.shape()[1];
        let s = F::from_f64(self.scale) * ctx.grad_output.as_slice()[0];
        let mut grad = Tensor::zeros(x.shape());
        for (i, v) in grad.as_mut_slice().iter_mut().enumerate() {
            *v = s * self.gradient(x.as_slice(), classes, c, i);
        }
        Ok(vec![Some(grad), None])
    }

    fn backward_into(
        &self,
        ctx: &BackwardCtx<'_, F>,
        grads: &mut [GradSink<'_, F>],
    ) -> Result<(), AutogradError> {
        let (x, classes) = (ctx.inputs[0], ctx.inputs[1].as_slice());
        let c = x.shape()[1];
        let s = F::from_f64(self.scale) * ctx.grad_output.as_slice()[0];
        write_gradient(&mut grads[0], |i| s * self.gradient(x.as_slice(), classes, c, i))
    }
}

/// The multi-class hinge (Crammer–Singer style, PyTorch's `multi_margin_loss` with `p = 1`,
/// margin 1): `ℓᵢ = (1/C) Σ_{j ≠ yᵢ} max(0, 1 − x_{i,yᵢ} + x_{ij})`.
///
/// `∂ℓᵢ/∂x_{ij} = [1 − x_{i,yᵢ} + x_{ij} > 0]/C` for `j ≠ yᵢ`, and `∂ℓᵢ/∂x_{i,yᵢ}` is minus the
/// number of active margins over `C`. [`Reduction::Mean`] divides by `n`.
///
/// # Errors
/// As [`softmax_cross_entropy`].
pub fn multi_margin<F: Float>(
    g: &mut Graph<F>,
    logits: Var,
    class_indices: &[usize],
    reduction: Reduction,
) -> Result<Var> {
    let classes = record_classes(g, "multi_margin", logits, class_indices)?;
    Ok(g.apply(MultiMargin { reduction, scale: 1.0 }, &[logits, classes])?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use backprop_autograd::gradcheck;

    #[test]
    fn cross_entropy_by_hand() {
        let mut g = Graph::<f64>::new();
        let x = g.leaf(Tensor::from_rows(&[[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]]));
        let l = softmax_cross_entropy(&mut g, x, &[2, 0], Reduction::Mean).unwrap();
        let p: Vec<f64> =
            [1.0f64, 2.0, 3.0].iter().map(|v| v.exp() / (1f64.exp() + 2f64.exp() + 3f64.exp())).collect();
        let expected = (-p[2].ln() + 3f64.ln()) / 2.0;
        assert!((g.value(l).unwrap().item() - expected).abs() < 1e-15);
        g.backward(l).unwrap();
        let grad = g.grad(x).unwrap().to_vec();
        let third = 1.0 / 3.0;
        let want =
            [p[0] / 2.0, p[1] / 2.0, (p[2] - 1.0) / 2.0, (third - 1.0) / 2.0, third / 2.0, third / 2.0];
        for (a, b) in grad.iter().zip(want) {
            assert!((a - b).abs() < 1e-15, "{a} vs {b}");
        }
    }

    #[test]
    fn cross_entropy_at_extreme_logits_is_finite_and_right() {
        let mut g = Graph::<f32>::new();
        let x = g.leaf(Tensor::from_rows(&[[1e4_f32, -1e4, 0.0], [1e4, -1e4, 0.0]]));
        let l = softmax_cross_entropy(&mut g, x, &[0, 1], Reduction::Sum).unwrap();
        assert_eq!(g.value(l).unwrap().item(), 2e4);
        g.backward(l).unwrap();
        assert_eq!(g.grad(x).unwrap().to_vec(), vec![0.0, 0.0, 0.0, 1.0, -1.0, 0.0]);
    }

    #[test]
    fn multi_margin_at_extreme_logits_is_finite_and_right() {
        let mut g = Graph::<f32>::new();
        let x = g.leaf(Tensor::from_rows(&[[1e4_f32, -1e4, 0.0], [1e4, -1e4, 0.0]]));
        let l = multi_margin(&mut g, x, &[0, 1], Reduction::Sum).unwrap();
        // Row 0 is right by a wide margin (no loss); row 1 has margins 1 + 2e4 and 1 + 1e4.
        assert_eq!(g.value(l).unwrap().item(), (2e4 + 1.0 + 1e4 + 1.0) / 3.0);
        g.backward(l).unwrap();
        let third = 1.0 / 3.0;
        assert_eq!(g.grad(x).unwrap().to_vec(), vec![0.0, 0.0, 0.0, third, -2.0 * third, third]);
    }

    #[test]
    fn multi_margin_by_hand() {
        let mut g = Graph::<f64>::new();
        let x = g.leaf(Tensor::from_rows(&[[0.1, 0.2, 0.4, 0.8]]));
        let l = multi_margin(&mut g, x, &[3], Reduction::Mean).unwrap();
        // PyTorch's documented example: ((1 − 0.8 + 0.1) + (1 − 0.8 + 0.2) + (1 − 0.8 + 0.4)) / 4.
        assert!((g.value(l).unwrap().item() - 0.325).abs() < 1e-14);
        g.backward(l).unwrap();
        assert_eq!(g.grad(x).unwrap().to_vec(), vec![0.25, 0.25, 0.25, -0.75]);
    }

    #[test]
    fn gradients_match_finite_differences() {
        let x = Tensor::from_rows(&[[0.3, -1.2, 2.5], [-0.4, 0.1, 0.2], [1.0, 0.95, -2.0]]);
        for reduction in [Reduction::Mean, Reduction::Sum] {
            gradcheck(
                |g, v| Ok(softmax_cross_entropy(g, v[0], &[2, 0, 1], reduction)?),
                std::slice::from_ref(&x),
                1e-6,
                1e-7,
            )
            .unwrap();
            gradcheck(
                |g, v| Ok(multi_margin(g, v[0], &[2, 0, 1], reduction)?),
                std::slice::from_ref(&x),
                1e-6,
                1e-7,
            )
            .unwrap();
        }
    }

    #[test]
    fn bad_class_indices_are_named() {
        let mut g = Graph::<f64>::new();
        let x = g.leaf(Tensor::zeros(&[2, 3]));
        let err = softmax_cross_entropy(&mut g, x, &[0, 3], Reduction::Mean).unwrap_err().to_string();
        assert_eq!(err, "softmax_cross_entropy: class index 3 of row 1 is out of range for 3 classes");
        let err = softmax_cross_entropy(&mut g, x, &[0], Reduction::Mean).unwrap_err().to_string();
        assert_eq!(err, "softmax_cross_entropy: 1 class indices for a batch of 2 rows (logits [2, 3])");
    }
}
