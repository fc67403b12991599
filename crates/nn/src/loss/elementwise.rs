//! Losses that are a sum of one term per output element: squared error, the two logistic
//! losses and the hinge loss.

use backprop_autograd::{AutogradError, BackwardCtx, ForwardCtx, GradSink, Graph, Op, Var};
use backprop_tensor::{Float, Tensor, sigmoid, softplus};

use super::{Reduction, write_gradient};
use crate::error::Result;

/// One term `ℓ(d, t)` of an elementwise loss, with both partial derivatives.
trait Term: Send + 'static {
    /// The loss name in messages.
    const NAME: &'static str;
    /// `ℓ(d, t)` for prediction `d` and target `t`.
    fn value(d: f64, t: f64) -> f64;
    /// `∂ℓ/∂d`.
    fn grad_pred<F: Float>(d: F, t: F) -> F;
    /// `∂ℓ/∂t`.
    fn grad_target<F: Float>(d: F, t: F) -> F;
    /// Why `t` is not a valid target, if it is not.
    fn invalid_target(t: f64) -> Option<&'static str>;
}

struct SquaredError;
struct LogisticZeroOne;
struct LogisticPlusMinusOne;
struct Hinge;

impl Term for SquaredError {
    const NAME: &'static str = "mse";
    fn value(d: f64, t: f64) -> f64 {
        (d - t) * (d - t)
    }
    fn grad_pred<F: Float>(d: F, t: F) -> F {
        (d - t) * F::from_f64(2.0)
    }
    fn grad_target<F: Float>(d: F, t: F) -> F {
        (t - d) * F::from_f64(2.0)
    }
    fn invalid_target(t: f64) -> Option<&'static str> {
        (!t.is_finite()).then_some("targets must be finite")
    }
}

impl Term for LogisticZeroOne {
    const NAME: &'static str = "bce_with_logits";
    fn value(d: f64, t: f64) -> f64 {
        // max(d, 0) − d·t + ln(1 + e^(−|d|)): no exponential of a large positive number.
        d.max(0.0) - d * t + (-d.abs()).exp().ln_1p()
    }
    fn grad_pred<F: Float>(d: F, t: F) -> F {
        sigmoid(d) - t
    }
    fn grad_target<F: Float>(d: F, _t: F) -> F {
        -d
    }
    fn invalid_target(t: f64) -> Option<&'static str> {
        (!(0.0..=1.0).contains(&t)).then_some("targets of bce_with_logits must be in [0, 1] (labels 0 and 1)")
    }
}

impl Term for LogisticPlusMinusOne {
    const NAME: &'static str = "logistic_pm1";
    fn value(d: f64, y: f64) -> f64 {
        softplus(-y * d)
    }
    fn grad_pred<F: Float>(d: F, y: F) -> F {
        -y * sigmoid(-y * d)
    }
    fn grad_target<F: Float>(d: F, y: F) -> F {
        -d * sigmoid(-y * d)
    }
    fn invalid_target(y: f64) -> Option<&'static str> {
        (y != 1.0 && y != -1.0).then_some("targets of logistic_pm1 must be -1 or +1")
    }
}

impl Term for Hinge {
    const NAME: &'static str = "hinge";
    fn value(d: f64, y: f64) -> f64 {
        (1.0 - y * d).max(0.0)
    }
    fn grad_pred<F: Float>(d: F, y: F) -> F {
        if F::one() - y * d > F::zero() { -y } else { F::zero() }
    }
    fn grad_target<F: Float>(d: F, y: F) -> F {
        if F::one() - y * d > F::zero() { -d } else { F::zero() }
    }
    fn invalid_target(y: f64) -> Option<&'static str> {
        (y != 1.0 && y != -1.0).then_some("targets of hinge must be -1 or +1")
    }
}

/// The fused op `L = scale · Σᵢ ℓ(dᵢ, tᵢ)`.
struct ElementwiseLoss<K> {
    reduction: Reduction,
    scale: f64,
    _term: std::marker::PhantomData<K>,
}

/// Whether two shapes hold the same column of values: equal, or `[n]` against `[n, 1]`.
fn same_column(a: &[usize], b: &[usize]) -> bool {
    let column = |s: &[usize]| matches!(s, [_] | [_, 1]);
    a == b || (column(a) && column(b) && a[0] == b[0])
}

impl<F: Float, K: Term> Op<F> for ElementwiseLoss<K> {
    fn name(&self) -> &str {
        K::NAME
    }

    fn forward(
        &mut self,
        ctx: &mut ForwardCtx<'_, F>,
        inputs: &[&Tensor<F>],
    ) -> Result<Tensor<F>, AutogradError> {
        let (pred, target) = (inputs[0], inputs[1]);
        if !same_column(pred.shape(), target.shape()) {
            return Err(AutogradError::invalid(
                K::NAME,
                format!(
                    "predictions {:?} and targets {:?} must have the same shape ([n] and [n, 1] also match)",
                    pred.shape(),
                    target.shape()
                ),
            ));
        }
        if pred.is_empty() {
            return Err(AutogradError::invalid(K::NAME, "the batch is empty"));
        }
        if let Some((i, reason, t)) = target
            .as_slice()
            .iter()
            .enumerate()
            .find_map(|(i, &t)| K::invalid_target(t.to_f64()).map(|r| (i, r, t)))
        {
            return Err(AutogradError::invalid(K::NAME, format!("{reason}; element {i} is {t}")));
        }
        self.scale = self.reduction.scale(pred.len());
        let sum: f64 = pred
            .as_slice()
            .iter()
            .zip(target.as_slice())
            .map(|(&d, &t)| K::value(d.to_f64(), t.to_f64()))
            .sum();
        let loss = sum * self.scale;
        if !loss.is_finite() {
            let culprit = pred.as_slice().iter().position(|d| !d.is_finite());
            return Err(AutogradError::invalid(
                K::NAME,
                match culprit {
                    Some(i) => format!("the loss is not finite: prediction {i} is {}", pred.as_slice()[i]),
                    None => format!("the loss overflows ({loss}): predictions are too large"),
                },
            ));
        }
        let mut out = ctx.uninit(&[]);
        out.fill(F::from_f64(loss));
        Ok(out)
    }

    fn backward(&self, ctx: &BackwardCtx<'_, F>) -> Result<Vec<Option<Tensor<F>>>, AutogradError> {
        let (pred, target) = (ctx.inputs[0], ctx.inputs[1]);
        let s = F::from_f64(self.scale) * ctx.grad_output.as_slice()[0];
        let (d, t) = (pred.as_slice(), target.as_slice());
        let fill = |shape: &[usize], f: &dyn Fn(usize) -> F| {
            let mut out = Tensor::zeros(shape);
            out.as_mut_slice().iter_mut().enumerate().for_each(|(i, v)| *v = f(i));
            out
        };
        let dp = ctx.needs_input_grad[0].then(|| fill(pred.shape(), &|i| s * K::grad_pred(d[i], t[i])));
        let dt = ctx.needs_input_grad[1].then(|| fill(target.shape(), &|i| s * K::grad_target(d[i], t[i])));
        Ok(vec![dp, dt])
    }

    fn backward_into(
        &self,
        ctx: &BackwardCtx<'_, F>,
        grads: &mut [GradSink<'_, F>],
    ) -> Result<(), AutogradError> {
        let s = F::from_f64(self.scale) * ctx.grad_output.as_slice()[0];
        let (d, t) = (ctx.inputs[0].as_slice(), ctx.inputs[1].as_slice());
        let (gp, gt) = grads.split_at_mut(1);
        write_gradient(&mut gp[0], |i| s * K::grad_pred(d[i], t[i]))?;
        write_gradient(&mut gt[0], |i| s * K::grad_target(d[i], t[i]))
    }
}

fn apply<F: Float, K: Term>(g: &mut Graph<F>, pred: Var, target: Var, reduction: Reduction) -> Result<Var> {
    let op = ElementwiseLoss::<K> { reduction, scale: 1.0, _term: std::marker::PhantomData };
    Ok(g.apply(op, &[pred, target])?)
}

/// Mean (or summed) squared error, PyTorch's `mse_loss`: `L = (1/N) Σᵢ (dᵢ − tᵢ)²` over all
/// `N` elements.
///
/// `∂L/∂dᵢ = 2(dᵢ − tᵢ)/N`, `∂L/∂tᵢ = −2(dᵢ − tᵢ)/N` (without `1/N` for [`Reduction::Sum`]).
///
/// # Errors
/// When the shapes differ (`[n]` and `[n, 1]` match), the batch is empty, a target is not
/// finite, or the loss is not finite.
pub fn mse<F: Float>(g: &mut Graph<F>, pred: Var, target: Var, reduction: Reduction) -> Result<Var> {
    apply::<F, SquaredError>(g, pred, target, reduction)
}

/// Binary cross-entropy on logits for labels `t ∈ {0, 1}` (or probabilities in `[0, 1]`),
/// PyTorch's `binary_cross_entropy_with_logits`:
/// `ℓ(d, t) = −t·ln σ(d) − (1 − t)·ln(1 − σ(d))`, computed as
/// `max(d, 0) − d·t + ln(1 + e^(−|d|))`, finite and exact for any `|d|` (at `d = ±10⁴` too).
///
/// `∂ℓ/∂d = σ(d) − t` (σ evaluated without overflow), `∂ℓ/∂t = −d`.
///
/// # Errors
/// When the shapes differ, the batch is empty, or a target is outside `[0, 1]`.
pub fn bce_with_logits<F: Float>(
    g: &mut Graph<F>,
    logits: Var,
    targets01: Var,
    reduction: Reduction,
) -> Result<Var> {
    apply::<F, LogisticZeroOne>(g, logits, targets01, reduction)
}

/// The logistic loss for labels `y ∈ {−1, +1}`: `ℓ(d, y) = ln(1 + e^(−y·d))`, computed as
/// softplus(−y·d) = `max(−y·d, 0) + ln(1 + e^(−|y·d|))`, finite for any `|d|`. It equals
/// [`bce_with_logits`] with `t = (y + 1)/2`; PyTorch's `soft_margin_loss`.
///
/// `∂ℓ/∂d = −y·σ(−y·d)`, `∂ℓ/∂y = −d·σ(−y·d)`.
///
/// # Errors
/// When the shapes differ, the batch is empty, or a label is not −1 or +1.
pub fn logistic_pm1<F: Float>(
    g: &mut Graph<F>,
    logits: Var,
    targets_pm1: Var,
    reduction: Reduction,
) -> Result<Var> {
    apply::<F, LogisticPlusMinusOne>(g, logits, targets_pm1, reduction)
}

/// The hinge (max-margin, linear SVM) loss for labels `y ∈ {−1, +1}`:
/// `ℓ(d, y) = max(0, 1 − y·d)`.
///
/// `∂ℓ/∂d = −y` where `y·d < 1`, else 0 (0 at the kink, as PyTorch's `relu`);
/// `∂ℓ/∂y = −d` where `y·d < 1`, else 0.
///
/// # Errors
/// When the shapes differ, the batch is empty, or a label is not −1 or +1.
pub fn hinge<F: Float>(g: &mut Graph<F>, logits: Var, targets_pm1: Var, reduction: Reduction) -> Result<Var> {
    apply::<F, Hinge>(g, logits, targets_pm1, reduction)
}

#[cfg(test)]
mod tests {
    use super::*;
    use backprop_autograd::gradcheck;

    type LossFn = fn(&mut Graph<f64>, Var, Var, Reduction) -> Result<Var>;

    fn eval(f: LossFn, d: &[f64], t: &[f64], reduction: Reduction) -> (f64, Vec<f64>) {
        let mut g = Graph::<f64>::new();
        let dv = g.leaf(Tensor::from_vec(&[d.len(), 1], d.to_vec()));
        let tv = g.input(Tensor::from_vec(&[t.len()], t.to_vec()));
        let l = f(&mut g, dv, tv, reduction).unwrap();
        g.backward(l).unwrap();
        (g.value(l).unwrap().item(), g.grad(dv).unwrap().to_vec())
    }

    #[test]
    fn values_and_gradients_by_hand() {
        let (l, gr) = eval(mse, &[1.0, 3.0], &[0.0, 1.0], Reduction::Mean);
        assert_eq!(l, 2.5);
        assert_eq!(gr, vec![1.0, 2.0]);
        let (l, gr) = eval(mse, &[1.0, 3.0], &[0.0, 1.0], Reduction::Sum);
        assert_eq!((l, gr), (5.0, vec![2.0, 4.0]));
        let (l, gr) = eval(bce_with_logits, &[0.0, 2.0], &[1.0, 0.0], Reduction::Mean);
        let expected = (std::f64::consts::LN_2 + (1.0 + 2.0f64.exp()).ln()) / 2.0;
        assert!((l - expected).abs() < 1e-15);
        assert!((gr[0] + 0.25).abs() < 1e-16 && (gr[1] - sigmoid(2.0) / 2.0).abs() < 1e-16);
        let (l, gr) = eval(logistic_pm1, &[0.5, -1.0], &[1.0, 1.0], Reduction::Sum);
        assert!((l - ((1.0 + (-0.5f64).exp()).ln() + (1.0 + 1.0f64.exp()).ln())).abs() < 1e-15);
        assert!((gr[0] + sigmoid(-0.5)).abs() < 1e-16 && (gr[1] + sigmoid(1.0)).abs() < 1e-16);
        let (l, gr) = eval(hinge, &[0.5, 2.0, -0.2], &[1.0, 1.0, -1.0], Reduction::Sum);
        assert!((l - 1.3).abs() < 1e-15);
        assert_eq!(gr, vec![-1.0, 0.0, 1.0]);
    }

    #[test]
    fn logistic_losses_agree_with_each_other() {
        let d = [-3.0, -0.1, 0.0, 0.7, 5.0];
        let y = [1.0, -1.0, 1.0, -1.0, -1.0];
        let t: Vec<f64> = y.iter().map(|y| (y + 1.0) / 2.0).collect();
        let (a, ga) = eval(logistic_pm1, &d, &y, Reduction::Mean);
        let (b, gb) = eval(bce_with_logits, &d, &t, Reduction::Mean);
        assert!((a - b).abs() < 1e-15);
        for (p, q) in ga.iter().zip(&gb) {
            assert!((p - q).abs() < 1e-16);
        }
    }

    #[test]
    fn extreme_logits_stay_finite_and_right() {
        // At |d| = 1e4 a naive ln(1 + e^d) overflows and σ(d) − t loses nothing.
        let (l, gr) = eval(bce_with_logits, &[1e4, -1e4, 1e4, -1e4], &[1.0, 0.0, 0.0, 1.0], Reduction::Sum);
        assert_eq!(l, 2e4);
        assert_eq!(gr, vec![0.0, 0.0, 1.0, -1.0]);
        let (l, gr) = eval(logistic_pm1, &[1e4, -1e4, 1e4, -1e4], &[1.0, -1.0, -1.0, 1.0], Reduction::Sum);
        assert_eq!(l, 2e4);
        assert_eq!(gr, vec![0.0, 0.0, 1.0, -1.0]);
        let (l, gr) = eval(mse, &[1e4, -1e4], &[0.0, 1.0], Reduction::Mean);
        assert_eq!(l, (1e8 + (1e4 + 1.0) * (1e4 + 1.0)) / 2.0);
        assert_eq!(gr, vec![1e4, -1e4 - 1.0]);
        let (l, gr) = eval(hinge, &[1e4, -1e4], &[-1.0, -1.0], Reduction::Mean);
        assert_eq!(l, (1.0 + 1e4) / 2.0);
        assert_eq!(gr, vec![0.5, 0.0]);
        // f32 as well.
        let mut g = Graph::<f32>::new();
        let d = g.leaf(Tensor::from_vec(&[2], vec![1e4_f32, -1e4]));
        let t = g.input(Tensor::from_vec(&[2], vec![0.0_f32, 0.0]));
        let l = bce_with_logits(&mut g, d, t, Reduction::Mean).unwrap();
        g.backward(l).unwrap();
        assert_eq!(g.value(l).unwrap().item(), 5e3);
        assert_eq!(g.grad(d).unwrap().to_vec(), vec![0.5, 0.0]);
    }

    #[test]
    fn gradients_match_finite_differences() {
        let d = Tensor::from_vec(&[4, 1], vec![0.3, -1.2, 2.5, -0.4]);
        let t01 = Tensor::from_vec(&[4, 1], vec![1.0, 0.0, 0.25, 1.0]);
        let pm = Tensor::from_vec(&[4, 1], vec![1.0, -1.0, -1.0, 1.0]);
        // With respect to the predictions, targets fixed (labels cannot be perturbed).
        for (f, t) in [(mse as LossFn, &t01), (bce_with_logits, &t01), (logistic_pm1, &pm), (hinge, &pm)] {
            for reduction in [Reduction::Mean, Reduction::Sum] {
                gradcheck(
                    |g, v| {
                        let tv = g.input(t.clone());
                        Ok(f(g, v[0], tv, reduction)?)
                    },
                    std::slice::from_ref(&d),
                    1e-6,
                    1e-7,
                )
                .unwrap();
            }
        }
        // With respect to both, where targets may vary continuously.
        let soft = Tensor::from_vec(&[4, 1], vec![0.9, 0.1, 0.25, 0.6]);
        for f in [mse as LossFn, bce_with_logits] {
            gradcheck(|g, v| Ok(f(g, v[0], v[1], Reduction::Mean)?), &[d.clone(), soft.clone()], 1e-6, 1e-7)
                .unwrap();
        }
    }

    #[test]
    fn bad_targets_and_shapes_are_named() {
        let mut g = Graph::<f64>::new();
        let d = g.leaf(Tensor::zeros(&[3, 1]));
        let t = g.input(Tensor::from_vec(&[3], vec![1.0, 0.0, -1.0]));
        let err = logistic_pm1(&mut g, d, t, Reduction::Mean).unwrap_err().to_string();
        assert_eq!(err, "logistic_pm1: targets of logistic_pm1 must be -1 or +1; element 1 is 0");
        let err = bce_with_logits(&mut g, d, t, Reduction::Mean).unwrap_err().to_string();
        assert_eq!(
            err,
            "bce_with_logits: targets of bce_with_logits must be in [0, 1] (labels 0 and 1); element 2 is -1"
        );
        let t2 = g.input(Tensor::zeros(&[3, 2]));
        let err = mse(&mut g, d, t2, Reduction::Mean).unwrap_err().to_string();
        assert_eq!(
            err,
            "mse: predictions [3, 1] and targets [3, 2] must have the same shape ([n] and [n, 1] also match)"
        );
        let nan = g.leaf(Tensor::from_vec(&[3], vec![0.0, f64::NAN, 1.0]));
        let t3 = g.input(Tensor::zeros(&[3]));
        let err = mse(&mut g, nan, t3, Reduction::Mean).unwrap_err().to_string();
        assert_eq!(err, "mse: the loss is not finite: prediction 1 is NaN");
    }
}
