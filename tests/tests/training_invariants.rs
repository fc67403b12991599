//! Invariants of training on random networks:
//!
//! - one SGD step (`backprop-optim`'s `Sgd`, and by hand through the graph's parameter API) is
//!   `W − γ·∂L/∂W` exactly, bit for bit, in `f64` and `f32`; so is the first step with momentum;
//! - with a learning rate of 0 no optimizer changes any parameter, over several steps;
//! - with a summed loss, gradients accumulated over two half-batches equal the full batch's;
//! - every loss is non-negative, zero at a perfect fit and positive away from one;
//! - permuting the rows of a batch leaves the loss and the parameter gradients unchanged and
//!   permutes the input gradient the same way.
//!
//! "Up to rounding" is `|a − b| / max(1, |a|, |b|) ≤ 1e-12` in `f64`: sums taken in another order.

use backprop_autograd::Graph;
use backprop_nn::{Loss, Module, Reduction};
use backprop_optim::{Optimizer, OptimizerConfig, Sgd, SgdConfig};
use backprop_tensor::{Float, Tensor};
use backprop_tests::{
    MAX_BATCH, NetCase, NetOptions, config, max_difference, max_difference_all, net_case, parameter_values,
    select_rows, targets, tensor_of,
};
use proptest::prelude::*;

/// Sums of the same terms in another order agree to this (the gradcheck measure).
const ROUNDING: f64 = 1e-12;

/// Networks without dropout (whose masks depend on the batch), any loss.
fn any_net(options: NetOptions) -> impl Strategy<Value = NetCase> {
    prop::sample::select(Loss::ALL.to_vec()).prop_flat_map(move |loss| net_case(loss, options))
}

/// `W − γ·G`, element by element, in the element type of `W`.
fn descended<F: Float>(w: &Tensor<F>, grad: &Tensor<F>, lr: f64) -> Tensor<F> {
    let lr = F::from_f64(lr);
    Tensor::from_vec(w.shape(), w.as_slice().iter().zip(grad.as_slice()).map(|(&w, &d)| w - lr * d).collect())
}

/// One step of `Sgd` (with `momentum`, whose first step is plain SGD) and one step by hand,
/// both against `W − γ·G` computed from the gradients of the same pass.
fn one_sgd_step<F: Float>(case: &NetCase, lr: f64, momentum: f64) -> Result<(), TestCaseError> {
    let (x, t) = (case.x.cast::<F>(), case.targets.cast::<F>());

    let (mut g, mut model) = case.build::<F>();
    let evaluation = case.evaluate(&mut g, &mut model, &x, &t).unwrap();
    let before = parameter_values(&g, &model);
    let expected: Vec<Tensor<F>> =
        before.iter().zip(&evaluation.param_grads).map(|(w, d)| descended(w, d, lr)).collect();
    let sgd_config = SgdConfig { lr, momentum, dampening: 0.5 * momentum, ..SgdConfig::default() };
    let mut sgd = Sgd::<F>::new(model.parameters(), sgd_config).unwrap();
    sgd.step(&mut g).unwrap();
    prop_assert_eq!(&parameter_values(&g, &model), &expected, "Sgd::step with {:?}", sgd_config);

    let (mut g, mut model) = case.build::<F>();
    case.evaluate(&mut g, &mut model, &x, &t).unwrap();
    for (_, p) in model.parameters() {
        let (w, grad) = g.param_mut_with_grad(p).unwrap();
        if let Some(grad) = grad {
            *w = descended(w, grad, lr);
        }
    }
    prop_assert_eq!(&parameter_values(&g, &model), &expected, "by hand");
    Ok(())
}

/// Three steps of every optimizer with learning rate 0: every parameter keeps its bits.
fn learning_rate_zero<F: Float>(case: &NetCase) -> Result<(), TestCaseError> {
    let (x, t) = (case.x.cast::<F>(), case.targets.cast::<F>());
    let kinds = OptimizerConfig::NAMES.iter().chain(&["momentum"]);
    for name in kinds {
        let optimizer_config = OptimizerConfig::from_name(name).unwrap().with_lr(0.0);
        let (mut g, mut model) = case.build::<F>();
        let initial = parameter_values(&g, &model);
        let mut optimizer = optimizer_config.build::<F>(model.parameters()).unwrap();
        for step in 0..3 {
            case.evaluate(&mut g, &mut model, &x, &t).unwrap();
            optimizer.step(&mut g).unwrap();
            prop_assert_eq!(&parameter_values(&g, &model), &initial, "{} step {}", optimizer_config, step);
        }
    }
    Ok(())
}

/// A loss of `d` against `t` as one number.
fn loss_value(loss: Loss, d: &Tensor<f64>, t: &Tensor<f64>, reduction: Reduction) -> f64 {
    let mut g = Graph::<f64>::new();
    let (dv, tv) = (g.input(d.clone()), g.input(t.clone()));
    let l = loss.compute(&mut g, dv, tv, reduction).unwrap();
    g.value(l).unwrap().item()
}

/// Outputs `[n, k]` of a loss's kind (`k ≥ 2` for the multi-class losses) with targets.
fn outputs_and_targets(
    loss: Loss,
    logits: impl Strategy<Value = f64> + Clone + 'static,
) -> impl Strategy<Value = (Tensor<f64>, Tensor<f64>)> {
    let min_classes = if loss.task() == backprop_nn::Task::MultiClass { 2 } else { 1 };
    (1usize..=MAX_BATCH, min_classes..=4usize)
        .prop_flat_map(move |(n, k)| (tensor_of(vec![n, k], logits.clone()), targets(loss, n, k)))
}

/// Outputs that fit their targets perfectly: equal values for mse, `y·d ≥ 1` for the hinge,
/// every `x_y ≥ x_k + 1` for the multi-class hinge, and for the logistic losses logits at least
/// 40 on the right side (where the loss is below `e^(−40)`, its infimum 0 being reached only in
/// the limit).
fn perfect_fit(loss: Loss, t: &Tensor<f64>, k: usize, extra: &[f64]) -> Tensor<f64> {
    let n = t.shape()[0];
    let per_element = |f: fn(f64, f64) -> f64| {
        let values = t.as_slice().iter().zip(extra.iter().cycle()).map(|(&y, &e)| f(y, e)).collect();
        Tensor::from_vec(t.shape(), values)
    };
    match loss {
        Loss::Mse => t.clone(),
        Loss::Hinge => per_element(|y, e| y * (1.0 + e)),
        Loss::LogisticPm1 => per_element(|y, e| y * (40.0 + e)),
        Loss::BceWithLogits => per_element(|y, e| if y > 0.5 { 40.0 + e } else { -40.0 - e }),
        Loss::CrossEntropy | Loss::MultiMargin => {
            let margin = if loss == Loss::CrossEntropy { 40.0 } else { 1.0 };
            let mut extra = extra.iter().cycle().copied();
            let mut logits = Vec::with_capacity(n * k);
            for &y in t.as_slice() {
                let base = extra.next().unwrap();
                logits.extend(
                    (0..k)
                        .map(|j| if j == y as usize { base + margin } else { base - extra.next().unwrap() }),
                );
            }
            Tensor::from_vec(&[n, k], logits)
        }
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn one_sgd_step_is_w_minus_lr_times_the_gradient(
        case in any_net(NetOptions::ALL),
        lr in 1e-4..1.0f64,
        momentum in prop_oneof![Just(0.0), 0.0..1.0f64],
    ) {
        one_sgd_step::<f64>(&case, lr, momentum)?;
        one_sgd_step::<f32>(&case, lr, momentum)?;
    }

    #[test]
    fn a_zero_learning_rate_changes_nothing(case in any_net(NetOptions::ALL)) {
        learning_rate_zero::<f64>(&case)?;
        learning_rate_zero::<f32>(&case)?;
    }

    #[test]
    fn two_half_batches_accumulate_to_the_full_batch(
        case in any_net(NetOptions { reduction: Some(Reduction::Sum), min_batch: 2, ..NetOptions::PLAIN }),
        split in any::<prop::sample::Index>(),
    ) {
        let n = case.x.shape()[0];
        let k = 1 + split.index(n - 1);
        let (mut g, mut model) = case.build::<f64>();
        let full = case.evaluate(&mut g, &mut model, &case.x, &case.targets).unwrap();

        g.zero_grad();
        let mut loss = 0.0;
        let mut input_grads = Vec::new();
        for rows in [(0..k).collect::<Vec<_>>(), (k..n).collect()] {
            let (x, t) = (select_rows(&case.x, &rows), select_rows(&case.targets, &rows));
            let xv = g.leaf(x);
            let l = case.record_loss(&mut g, &mut model, xv, &t).unwrap();
            loss += g.value(l).unwrap().item();
            g.backward(l).unwrap();
            input_grads.extend_from_slice(g.grad(xv).unwrap().as_slice());
            g.clear();
        }
        let accumulated = backprop_tests::parameter_gradients(&g, &model);
        let (difference, worst) = max_difference_all(&full.param_grads, &accumulated);
        prop_assert!(difference <= ROUNDING, "parameter {}: difference {:e}", worst, difference);
        let input_grads = Tensor::from_vec(case.x.shape(), input_grads);
        prop_assert!(max_difference(&full.input_grad, &input_grads) <= ROUNDING);
        let loss_difference = backprop_autograd::gradcheck_error(full.loss, loss);
        prop_assert!(loss_difference <= ROUNDING, "{} vs {}", full.loss, loss);
    }

    #[test]
    fn permuting_the_rows_changes_nothing_but_the_order(
        (case, order) in any_net(NetOptions { dropout: false, ..NetOptions::ALL }).prop_flat_map(|case| {
            let n = case.x.shape()[0];
            (Just(case), Just((0..n).collect::<Vec<usize>>()).prop_shuffle())
        }),
    ) {
        let (mut g, mut model) = case.build::<f64>();
        let original = case.evaluate(&mut g, &mut model, &case.x, &case.targets).unwrap();
        let (x, t) = (select_rows(&case.x, &order), select_rows(&case.targets, &order));
        let permuted = case.evaluate(&mut g, &mut model, &x, &t).unwrap();
        prop_assert!(backprop_autograd::gradcheck_error(original.loss, permuted.loss) <= ROUNDING);
        let (difference, worst) = max_difference_all(&original.param_grads, &permuted.param_grads);
        prop_assert!(difference <= ROUNDING, "parameter {}: difference {:e}", worst, difference);
        let input_grad = select_rows(&original.input_grad, &order);
        prop_assert!(max_difference(&input_grad, &permuted.input_grad) <= ROUNDING);
        prop_assert!(max_difference(&select_rows(&original.outputs, &order), &permuted.outputs) <= ROUNDING);
    }

    #[test]
    fn losses_are_non_negative_even_at_extreme_logits(
        (loss, (d, t)) in prop::sample::select(Loss::ALL.to_vec())
            .prop_flat_map(|loss| (Just(loss), outputs_and_targets(loss, -60.0..=60.0))),
        reduction in prop_oneof![Just(Reduction::Mean), Just(Reduction::Sum)],
    ) {
        let value = loss_value(loss, &d, &t, reduction);
        prop_assert!(value.is_finite() && value >= 0.0, "{}: {}", loss, value);
    }

    #[test]
    fn losses_vanish_at_a_perfect_fit(
        (loss, (d, t)) in prop::sample::select(Loss::ALL.to_vec())
            .prop_flat_map(|loss| (Just(loss), outputs_and_targets(loss, -3.0..=3.0))),
        extra in prop::collection::vec(0.0..2.0f64, 1..8),
    ) {
        let t = if loss == Loss::BceWithLogits { t.map(f64::round) } else { t };
        let fit = perfect_fit(loss, &t, d.shape()[1], &extra);
        let value = loss_value(loss, &fit, &t, Reduction::Sum);
        match loss {
            Loss::Mse | Loss::Hinge | Loss::MultiMargin => prop_assert_eq!(value, 0.0, "{}", loss),
            // Each of the n·k (or n) terms is ln(1 + e^(−m)) < e^(−m) for a margin m ≥ 40.
            _ => {
                let bound = d.len() as f64 * (-40f64).exp();
                prop_assert!(value >= 0.0 && value < bound, "{}: {:e}", loss, value);
            }
        }
    }

    #[test]
    fn losses_are_positive_away_from_a_perfect_fit(
        (loss, (d, t)) in prop::sample::select(Loss::ALL.to_vec())
            .prop_flat_map(|loss| (Just(loss), outputs_and_targets(loss, -40.0..=40.0))),
        row in any::<prop::sample::Index>(),
        miss in 1e-3..3.0f64,
    ) {
        // The losses that can fit exactly get one row spoilt. The logistic losses fit perfectly
        // only where the probability of every true label rounds to 1 in f64 (a margin of about
        // 37); below that their loss, at least e^(−margin), must not round to 0 either.
        let n = t.shape()[0];
        let k = d.shape()[1];
        let r = row.index(n);
        let mut d = if loss == Loss::Mse { t.clone() } else { d };
        let slice = d.as_mut_slice();
        match loss {
            Loss::Mse => slice[r * k] += miss,
            Loss::Hinge => slice[r * k] = t.as_slice()[r * k] * (1.0 - miss),
            Loss::MultiMargin => {
                let y = t.as_slice()[r] as usize;
                let other = (y + 1) % k;
                slice[r * k + other] = slice[r * k + y] - 1.0 + miss;
            }
            _ => {}
        }
        if let Some(probabilities) = probabilities_of_the_truth(loss, &d, &t) {
            prop_assume!(probabilities.iter().any(|&p| p < 1.0), "a perfect fit in f64");
        }
        for reduction in [Reduction::Mean, Reduction::Sum] {
            let value = loss_value(loss, &d, &t, reduction);
            prop_assert!(value > 0.0, "{} ({:?}): {:e}", loss, reduction, value);
        }
    }
}

/// For the logistic losses, the probability each term gives its true label, in `f64`: `σ(y·d)`,
/// `σ(d)` or `σ(−d)` for labels 1 and 0 (a soft target, never fit perfectly, counts as 0), the
/// softmax of the true class `1 / Σⱼ e^(xⱼ − x_y)`. `None` for the other losses.
fn probabilities_of_the_truth(loss: Loss, d: &Tensor<f64>, t: &Tensor<f64>) -> Option<Vec<f64>> {
    let sigmoid = |z: f64| 1.0 / (1.0 + (-z).exp());
    let pairs = d.as_slice().iter().zip(t.as_slice());
    match loss {
        Loss::LogisticPm1 => Some(pairs.map(|(&d, &y)| sigmoid(y * d)).collect()),
        Loss::BceWithLogits => Some(
            pairs
                .map(|(&d, &t)| match t {
                    1.0 => sigmoid(d),
                    0.0 => sigmoid(-d),
                    _ => 0.0,
                })
                .collect(),
        ),
        Loss::CrossEntropy => {
            let k = d.shape()[1];
            let rows = d.as_slice().chunks_exact(k).zip(t.as_slice());
            Some(
                rows.map(|(x, &y)| 1.0 / x.iter().map(|&xj| (xj - x[y as usize]).exp()).sum::<f64>())
                    .collect(),
            )
        }
        Loss::Mse | Loss::Hinge | Loss::MultiMargin => None,
    }
}
