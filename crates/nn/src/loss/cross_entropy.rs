//! Multi-class losses on logits `[n, C]` with class indices: softmax cross-entropy and the
//! multi-class hinge.

use backprop_autograd::{AutogradError, BackwardCtx, ForwardCtx, GradSink, Graph, Op, Var};
use backprop_tensor::{Float, Tensor};

use super::Reduction;
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

/// One row's term `ℓ(x, y)` of a multi-class loss on logits `x` (a row of `C`) and class `y`.
trait ClassTerm: Send + 'static {
    /// The loss name in messages.
    const NAME: &'static str;
    /// The factor on the sum of the `n` row terms of a batch of `C` classes.
    fn scale(reduction: Reduction, n: usize, c: usize) -> f64;
    /// `ℓ(x, y)`.
    fn row_loss<F: Float>(x: &[F], y: usize) -> f64;
    /// Why the loss is not finite: at `row`, or (`None`) for the whole batch.
    fn not_finite(row: Option<usize>) -> String;
    /// `dst (+)= s·∂ℓ/∂x`: overwrites when `accumulate` is false.
    fn write_row_gradient<F: Float>(x: &[F], y: usize, s: F, dst: &mut [F], accumulate: bool);
}

/// Softmax cross-entropy: `ℓ = ln Σⱼ e^(xⱼ) − x_y`.
struct CrossEntropyTerm;

impl ClassTerm for CrossEntropyTerm {
    const NAME: &'static str = "softmax_cross_entropy";
    fn scale(reduction: Reduction, n: usize, _c: usize) -> f64 {
        reduction.scale(n)
    }
    fn row_loss<F: Float>(x: &[F], y: usize) -> f64 {
        let (m, log_sum) = max_and_log_sum_exp(x);
        (log_sum - (x[y] - m)).to_f64()
    }
    fn not_finite(row: Option<usize>) -> String {
        match row {
            Some(i) => format!("the loss of row {i} is not finite: its logits hold NaN or an infinity"),
            None => "the loss is not finite: the logits are too large".to_string(),
        }
    }
    /// `s·(softmax(x) − onehot)` (the log-sum-exp is recomputed here rather than kept from
    /// forward, so the op holds no buffer).
    fn write_row_gradient<F: Float>(x: &[F], y: usize, s: F, dst: &mut [F], accumulate: bool) {
        let (m, log_sum) = max_and_log_sum_exp(x);
        let lse = if m.is_finite() { m + log_sum } else { m };
        for (j, (d, &v)) in dst.iter_mut().zip(x).enumerate() {
            let onehot = if j == y { F::one() } else { F::zero() };
            let gradient = s * ((v - lse).exp() - onehot);
            *d = if accumulate { *d + gradient } else { gradient };
        }
    }
}

/// The multi-class hinge: `ℓ = (1/C) Σ_{j ≠ y} max(0, 1 − x_y + x_j)`.
struct MultiMarginTerm;

impl ClassTerm for MultiMarginTerm {
    const NAME: &'static str = "multi_margin";
    fn scale(reduction: Reduction, n: usize, c: usize) -> f64 {
        reduction.scale(n) / c as f64
    }
    fn row_loss<F: Float>(x: &[F], y: usize) -> f64 {
        let xy = x[y].to_f64();
        x.iter().enumerate().filter(|&(k, _)| k != y).map(|(_, &xk)| (1.0 - xy + xk.to_f64()).max(0.0)).sum()
    }
    fn not_finite(_row: Option<usize>) -> String {
        "the loss is not finite: the logits hold NaN or an infinity".to_string()
    }
    /// `s` for each active margin `j ≠ y`, minus `s` times their number at `y` (before `1/C`,
    /// which is in the scale).
    fn write_row_gradient<F: Float>(x: &[F], y: usize, s: F, dst: &mut [F], accumulate: bool) {
        let active = |k: usize| F::one() - x[y] + x[k] > F::zero();
        let at_y = -F::from_f64((0..x.len()).filter(|&k| k != y && active(k)).count() as f64);
        for (j, d) in dst.iter_mut().enumerate() {
            let derivative = if j == y {
                at_y
            } else if active(j) {
                F::one()
            } else {
                F::zero()
            };
            let gradient = s * derivative;
            *d = if accumulate { *d + gradient } else { gradient };
        }
    }
}

/// The op `L = scale · Σᵢ ℓ(xᵢ, yᵢ)`; inputs: the logits `[n, C]` and the class indices as
/// values `[n]` (see [`record_classes`]).
struct ClassLoss<K> {
    reduction: Reduction,
    scale: f64,
    _term: std::marker::PhantomData<K>,
}

impl<K: ClassTerm> ClassLoss<K> {
    /// `dst (+)= s·∂L/∂x`, row by row.
    fn write_gradient<F: Float>(x: &Tensor<F>, classes: &Tensor<F>, s: F, dst: &mut [F], accumulate: bool) {
        let c = x.shape()[1];
        let rows = dst.chunks_exact_mut(c).zip(x.as_slice().chunks_exact(c)).zip(classes.as_slice());
        for ((dst, row), &k) in rows {
            K::write_row_gradient(row, class_of(k), s, dst, accumulate);
        }
    }
}

impl<F: Float, K: ClassTerm> Op<F> for ClassLoss<K> {
    fn name(&self) -> &str {
        K::NAME
    }

    fn forward(
        &mut self,
        ctx: &mut ForwardCtx<'_, F>,
        inputs: &[&Tensor<F>],
    ) -> Result<Tensor<F>, AutogradError> {
        let (x, classes) = (inputs[0], inputs[1]);
        let (n, c) = recorded_dims(K::NAME, x, classes)?;
        self.scale = K::scale(self.reduction, n, c);
        let mut sum = 0.0;
        for (i, (row, &k)) in x.as_slice().chunks_exact(c).zip(classes.as_slice()).enumerate() {
            let term = K::row_loss(row, class_of(k));
            if !term.is_finite() {
                return Err(AutogradError::invalid(K::NAME, K::not_finite(Some(i))));
            }
            sum += term;
        }
        let loss = sum * self.scale;
        if !loss.is_finite() {
            return Err(AutogradError::invalid(K::NAME, K::not_finite(None)));
        }
        let mut out = ctx.uninit(&[]);
        out.fill(F::from_f64(loss));
        Ok(out)
    }

    fn backward(&self, ctx: &BackwardCtx<'_, F>) -> Result<Vec<Option<Tensor<F>>>, AutogradError> {
        let (x, classes) = (ctx.inputs[0], ctx.inputs[1]);
        let s = F::from_f64(self.scale) * ctx.grad_output.as_slice()[0];
        let mut grad = Tensor::zeros(x.shape());
        Self::write_gradient(x, classes, s, grad.as_mut_slice(), false);
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
            Self::write_gradient(x, classes, s, buffer.as_mut_slice(), live);
            Ok(())
        })
    }
}

/// Records the loss `K` of `logits` against class indices.
fn apply<F: Float, K: ClassTerm>(
    g: &mut Graph<F>,
    logits: Var,
    class_indices: &[usize],
    reduction: Reduction,
) -> Result<Var> {
    let classes = record_classes(g, K::NAME, logits, class_indices)?;
    let op = ClassLoss::<K> { reduction, scale: 1.0, _term: std::marker::PhantomData };
    Ok(g.apply(op, &[logits, classes])?)
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
    apply::<F, CrossEntropyTerm>(g, logits, class_indices, reduction)
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
    apply::<F, MultiMarginTerm>(g, logits, class_indices, reduction)
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
