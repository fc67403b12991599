//! Every layer, loss and penalty of `backprop-nn` against central finite differences in `f64`:
//! [`Dense`] with respect to its weight, its bias and its input, each [`Activation`] and
//! [`Dropout`] as layers, each [`Loss`] with both reductions (through [`Loss::compute`] and
//! through the loss functions themselves) and the L1 and L2 penalties, over random shapes
//! (1×1, a single row, a single column) and values.
//!
//! Kinks are avoided by construction: ReLU inputs, hinge margins `1 − y·d`, multi-class margins
//! `1 − x_y + x_k` and L1-penalised weights all stay at least `KINK_MARGIN` away from 0.

use backprop_autograd::{Graph, Var};
use backprop_nn::{
    Activation, Dense, Dropout, Loss, Module, Reduction, bce_with_logits, hinge, l1_penalty, l2_penalty,
    logistic_pm1, mse, multi_margin, softmax_cross_entropy,
};
use backprop_tensor::{Tensor, TensorRng};
use backprop_tests::{
    Objective, activation, any_shape, away_from, check_gradients, check_model_gradients, config,
    matrix_shape, moderate, pm1, tensor_of, zero_one,
};
use proptest::prelude::*;

/// `L = Σ S ⊙ Dense(x)` for a fixed random `S`: every output element weighs in.
struct WeightedOutputs {
    layer: Dense,
    weights: Tensor<f64>,
}

impl Objective for WeightedOutputs {
    fn loss(&mut self, g: &mut Graph<f64>, x: Var) -> Result<Var, String> {
        let mut run = |g: &mut Graph<f64>| -> Result<Var, backprop_nn::NnError> {
            let z = self.layer.forward(g, x)?;
            let s = g.input(self.weights.clone());
            let weighted = g.mul(z, s)?;
            Ok(g.sum(weighted)?)
        };
        run(g).map_err(|e| e.to_string())
    }

    fn kinks(&mut self, _: &mut Graph<f64>, _: &Tensor<f64>) -> Result<Vec<f64>, String> {
        Ok(Vec::new())
    }
}

/// A dense layer's weight `[in, out]`, optional bias `[out]`, a batch `[n, in]` and output
/// weights `[n, out]`; `n × in` is 1×1, a row or a column as often as a general matrix.
#[allow(clippy::type_complexity)]
fn dense_case() -> impl Strategy<Value = (Tensor<f64>, Option<Tensor<f64>>, Tensor<f64>, Tensor<f64>)> {
    (matrix_shape(), 1usize..=5, any::<bool>()).prop_flat_map(|((n, inputs), outputs, bias)| {
        (
            tensor_of(vec![inputs, outputs], -1.5..=1.5),
            if bias {
                tensor_of(vec![outputs], moderate()).prop_map(Some).boxed()
            } else {
                Just(None).boxed()
            },
            tensor_of(vec![n, inputs], moderate()),
            tensor_of(vec![n, outputs], -1.0..=1.0),
        )
    })
}

/// An activation with inputs it is smooth at: ReLU-like ones away from 0.
fn activation_and_input() -> impl Strategy<Value = (Activation, Tensor<f64>)> {
    (activation(), matrix_shape()).prop_flat_map(|(a, (m, n))| {
        let input = match a {
            Activation::Relu | Activation::LeakyRelu { .. } => {
                tensor_of(vec![m, n], away_from(0.0, 3.0)).boxed()
            }
            _ => tensor_of(vec![m, n], moderate()).boxed(),
        };
        (Just(a), input)
    })
}

/// The shape of an elementwise loss's predictions and of its targets: `[n]`, `[n, 1]` or
/// `[n, k]`; targets have the same shape or, for a column, the other column form.
fn elementwise_shapes() -> impl Strategy<Value = (Vec<usize>, Vec<usize>)> {
    (1usize..=5, 1usize..=4, 0usize..4).prop_map(|(n, k, form)| match form {
        0 => (vec![n], vec![n]),
        1 => (vec![n, 1], vec![n]),
        2 => (vec![n], vec![n, 1]),
        _ => (vec![n, k], vec![n, k]),
    })
}

/// Predictions and targets of an elementwise loss: hinge predictions keep `y·d` away from the
/// margin 1.
fn elementwise_case(loss: Loss) -> impl Strategy<Value = (Tensor<f64>, Tensor<f64>)> {
    elementwise_shapes().prop_flat_map(move |(ps, ts)| {
        let len = ps.iter().product::<usize>();
        let (ps2, ts2) = (ps.clone(), ts.clone());
        match loss {
            Loss::Mse => (tensor_of(ps, moderate()), tensor_of(ts, moderate())).boxed(),
            Loss::BceWithLogits => (tensor_of(ps, moderate()), tensor_of(ts, zero_one())).boxed(),
            Loss::LogisticPm1 => (tensor_of(ps, moderate()), tensor_of(ts, pm1())).boxed(),
            _ => (prop::collection::vec(pm1(), len), prop::collection::vec(away_from(1.0, 3.0), len))
                .prop_map(move |(y, margins)| {
                    let d = y.iter().zip(&margins).map(|(y, m)| y * m).collect();
                    (Tensor::from_vec(&ps2, d), Tensor::from_vec(&ts2, y))
                })
                .boxed(),
        }
    })
}

/// Logits `[n, C]` and class indices; with `margins`, every `1 − x_y + x_k` (k ≠ y) is at least
/// `KINK_MARGIN` away from 0 (the multi-class hinge's kinks).
fn multi_class_case(margins: bool) -> impl Strategy<Value = (Tensor<f64>, Vec<usize>)> {
    matrix_shape().prop_flat_map(move |(n, c)| {
        let classes = prop::collection::vec(0..c, n);
        let logits = prop::collection::vec(moderate(), n * c);
        let offsets = prop::collection::vec(away_from(0.0, 2.5), n * c);
        (classes, logits, offsets).prop_map(move |(classes, mut logits, offsets)| {
            if margins {
                for (row, &y) in classes.iter().enumerate() {
                    let xy = logits[row * c + y];
                    for k in (0..c).filter(|&k| k != y) {
                        logits[row * c + k] = xy - 1.0 + offsets[row * c + k];
                    }
                }
            }
            (Tensor::from_vec(&[n, c], logits), classes)
        })
    })
}

fn reduction() -> impl Strategy<Value = Reduction> {
    prop_oneof![Just(Reduction::Mean), Just(Reduction::Sum)]
}

/// One to three tensors of any shape (a scalar included), values from `values`.
fn parameter_list(
    values: impl Strategy<Value = f64> + Clone + 'static,
) -> impl Strategy<Value = Vec<Tensor<f64>>> {
    prop::collection::vec(any_shape().prop_flat_map(move |s| tensor_of(s, values.clone())), 1..=3)
}

/// A layer's forward pass on a fresh copy (the same dropout mask at every call).
fn forward(layer: &(impl Module + Clone), g: &mut Graph<f64>, x: Var) -> backprop_autograd::Result<Var> {
    Ok(layer.clone().forward(g, x)?)
}

/// A loss through [`Loss::compute`], targets recorded as a graph input.
fn by_name(
    loss: Loss,
    g: &mut Graph<f64>,
    outputs: Var,
    targets: &Tensor<f64>,
    reduction: Reduction,
) -> backprop_autograd::Result<Var> {
    let t = g.input(targets.clone());
    Ok(loss.compute(g, outputs, t, reduction)?)
}

fn named(vars: &[Var]) -> Vec<(String, Var)> {
    vars.iter().enumerate().map(|(i, &v)| (format!("p{i}"), v)).collect()
}

/// Checks an elementwise loss through [`Loss::compute`] and through its own function, with
/// respect to the predictions.
fn check_elementwise(
    loss: Loss,
    d: Tensor<f64>,
    t: Tensor<f64>,
    reduction: Reduction,
) -> Result<(), TestCaseError> {
    type LossFn = fn(&mut Graph<f64>, Var, Var, Reduction) -> backprop_nn::Result<Var>;
    let direct: LossFn = match loss {
        Loss::Mse => mse,
        Loss::BceWithLogits => bce_with_logits,
        Loss::LogisticPm1 => logistic_pm1,
        Loss::Hinge => hinge,
        other => unreachable!("{other} is not elementwise"),
    };
    let name = format!("{loss} ({reduction:?}), predictions {:?}", d.shape());
    check_gradients(&name, |g, v| by_name(loss, g, v[0], &t, reduction), std::slice::from_ref(&d))?;
    check_gradients(
        &name,
        |g, v| {
            let tv = g.input(t.clone());
            Ok(direct(g, v[0], tv, reduction)?)
        },
        &[d],
    )?;
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn dense_weight_bias_and_input((w, b, x, s) in dense_case()) {
        let mut g = Graph::<f64>::new();
        let layer = Dense::from_tensors(&mut g, w, b).unwrap();
        let params = layer.parameters();
        let context = format!("{layer:?}, x = {x:?}");
        let report = check_model_gradients(&mut g, &params, &x, &mut WeightedOutputs { layer, weights: s })
            .map_err(|e| e.into_test_case_error(&context))?;
        let expected = params.iter().map(|(_, p)| g.value(*p).unwrap().len()).sum::<usize>() + x.len();
        prop_assert_eq!(report.checked, expected);
    }

    #[test]
    fn activation_layers((a, x) in activation_and_input()) {
        check_gradients(&format!("{a} layer"), |g, v| forward(&a, g, v[0]), &[x])?;
    }

    #[test]
    fn dropout_with_a_fixed_mask(
        x in matrix_shape().prop_flat_map(|(m, n)| tensor_of(vec![m, n], moderate())),
        p in 0.0..1.0f64,
        seed in any::<u64>(),
    ) {
        // A clone carries the mask generator's state: every evaluation draws the same mask.
        let layer = Dropout::new(p, TensorRng::seed_from_u64(seed)).unwrap();
        let name = format!("dropout p = {p}");
        check_gradients(&name, |g, v| forward(&layer, g, v[0]), std::slice::from_ref(&x))?;
        let mut eval = layer.clone();
        eval.set_training(false);
        check_gradients("dropout in eval mode", |g, v| forward(&eval, g, v[0]), &[x])?;
    }

    #[test]
    fn mse_loss((d, t) in elementwise_case(Loss::Mse), reduction in reduction()) {
        check_elementwise(Loss::Mse, d, t, reduction)?;
    }

    #[test]
    fn bce_with_logits_loss((d, t) in elementwise_case(Loss::BceWithLogits), reduction in reduction()) {
        check_elementwise(Loss::BceWithLogits, d, t, reduction)?;
    }

    #[test]
    fn logistic_pm1_loss((d, t) in elementwise_case(Loss::LogisticPm1), reduction in reduction()) {
        check_elementwise(Loss::LogisticPm1, d, t, reduction)?;
    }

    #[test]
    fn hinge_loss_away_from_the_margin((d, t) in elementwise_case(Loss::Hinge), reduction in reduction()) {
        check_elementwise(Loss::Hinge, d, t, reduction)?;
    }

    #[test]
    fn regression_and_soft_targets_with_respect_to_the_targets(
        (d, t) in elementwise_shapes()
            .prop_flat_map(|(ps, ts)| (tensor_of(ps, moderate()), tensor_of(ts, 0.0..=1.0))),
        reduction in reduction(),
    ) {
        // Targets that may vary continuously get a gradient too.
        let inputs = [d, t];
        check_gradients("mse wrt both", |g, v| Ok(mse(g, v[0], v[1], reduction)?), &inputs)?;
        let bce = |g: &mut Graph<f64>, v: &[Var]| Ok(bce_with_logits(g, v[0], v[1], reduction)?);
        check_gradients("bce_with_logits wrt both", bce, &inputs)?;
    }

    #[test]
    fn softmax_cross_entropy_loss((x, classes) in multi_class_case(false), reduction in reduction()) {
        let targets = Tensor::from_vec(&[classes.len()], classes.iter().map(|&c| c as f64).collect());
        let name = format!("cross_entropy ({reduction:?}), classes {classes:?}");
        let direct = |g: &mut Graph<f64>, v: &[Var]| Ok(softmax_cross_entropy(g, v[0], &classes, reduction)?);
        check_gradients(&name, direct, std::slice::from_ref(&x))?;
        check_gradients(&name, |g, v| by_name(Loss::CrossEntropy, g, v[0], &targets, reduction), &[x])?;
    }

    #[test]
    fn multi_margin_loss_away_from_the_margins(
        (x, classes) in multi_class_case(true),
        reduction in reduction(),
    ) {
        let targets = Tensor::from_vec(&[classes.len(), 1], classes.iter().map(|&c| c as f64).collect());
        let name = format!("multi_margin ({reduction:?}), classes {classes:?}");
        let direct = |g: &mut Graph<f64>, v: &[Var]| Ok(multi_margin(g, v[0], &classes, reduction)?);
        check_gradients(&name, direct, std::slice::from_ref(&x))?;
        check_gradients(&name, |g, v| by_name(Loss::MultiMargin, g, v[0], &targets, reduction), &[x])?;
    }

    #[test]
    fn l2_penalty_over_several_tensors(params in parameter_list(moderate()), lambda in 0.0..2.0f64) {
        check_gradients("l2_penalty", |g, v| Ok(l2_penalty(g, &named(v), lambda)?), &params)?;
    }

    #[test]
    fn l1_penalty_away_from_zero(params in parameter_list(away_from(0.0, 3.0)), lambda in 0.0..2.0f64) {
        check_gradients("l1_penalty", |g, v| Ok(l1_penalty(g, &named(v), lambda)?), &params)?;
    }

    #[test]
    fn class_index_targets_are_read_in_both_column_forms(
        n in 1usize..=5,
        c in 1usize..=4,
        seed in any::<u64>(),
        column in any::<bool>(),
    ) {
        // Loss::compute reads [n] and [n, 1] class targets alike.
        let mut rng = TensorRng::seed_from_u64(seed);
        let x = Tensor::from_shape_fn(&[n, c], |_| rng.uniform_range(-3.0, 3.0));
        let classes: Vec<f64> = (0..n).map(|_| rng.below(c) as f64).collect();
        let shape = if column { vec![n, 1] } else { vec![n] };
        let mut g = Graph::<f64>::new();
        let (xv, t) = (g.input(x), g.input(Tensor::from_vec(&shape, classes.clone())));
        let indices: Vec<usize> = classes.iter().map(|&c| c as usize).collect();
        for loss in [Loss::CrossEntropy, Loss::MultiMargin] {
            let via_compute = loss.compute(&mut g, xv, t, Reduction::Mean).unwrap();
            let direct = if loss == Loss::CrossEntropy {
                softmax_cross_entropy(&mut g, xv, &indices, Reduction::Mean).unwrap()
            } else {
                multi_margin(&mut g, xv, &indices, Reduction::Mean).unwrap()
            };
            prop_assert_eq!(g.value(via_compute).unwrap(), g.value(direct).unwrap());
        }
    }
}
