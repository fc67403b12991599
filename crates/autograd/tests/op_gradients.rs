//! Every op's gradient against central finite differences, over random shapes (including 1x1,
//! one row and one column), random values and random broadcasting, in f64.
//!
//! Values are sampled away from the places where finite differences are meaningless: the kinks of
//! relu, leaky_relu and abs at 0, and the poles and domain edges of ln, sqrt, div and negative
//! powers. The error measure is `|a − n| / max(1, |a|, |n|)` and must stay below 1e-6.

use backprop_autograd::{Graph, Result, Var, gradcheck};
use backprop_tensor::Tensor;
use proptest::prelude::*;

const EPS: f64 = 1e-6;
const TOL: f64 = 1e-6;

/// 32 cases per property unless PROPTEST_CASES asks for more.
fn config() -> ProptestConfig {
    let mut config = ProptestConfig::default();
    if std::env::var("PROPTEST_CASES").is_err() {
        config.cases = 32;
    }
    config
}

/// A shape of rank 0 to 3 with axes of 1 to 4.
fn any_shape() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(1usize..=4, 0..=3)
}

/// A matrix shape; small sizes, so 1x1, one row and one column come up often.
fn matrix_shape() -> impl Strategy<Value = (usize, usize)> {
    (1usize..=4, 1usize..=4)
}

/// A tensor of `shape` with values drawn from `values`.
fn tensor_of(
    shape: Vec<usize>,
    values: impl Strategy<Value = f64> + Clone,
) -> impl Strategy<Value = Tensor<f64>> {
    let len = shape.iter().product::<usize>();
    prop::collection::vec(values, len).prop_map(move |data| Tensor::from_vec(&shape, data))
}

/// Values in `[lo, hi]` with a random sign: kept at least `lo` away from 0.
fn away_from_zero(lo: f64, hi: f64) -> impl Strategy<Value = f64> + Clone {
    (lo..=hi, any::<bool>()).prop_map(|(x, negative)| if negative { -x } else { x })
}

fn moderate() -> impl Strategy<Value = f64> + Clone {
    -2.0..2.0
}

fn positive() -> impl Strategy<Value = f64> + Clone {
    0.2..3.0
}

fn any_tensor(values: impl Strategy<Value = f64> + Clone + 'static) -> impl Strategy<Value = Tensor<f64>> {
    any_shape().prop_flat_map(move |shape| tensor_of(shape, values.clone()))
}

fn any_matrix(values: impl Strategy<Value = f64> + Clone + 'static) -> impl Strategy<Value = Tensor<f64>> {
    matrix_shape().prop_flat_map(move |(m, n)| tensor_of(vec![m, n], values.clone()))
}

/// Two shapes that broadcast to `shape`: each drops some leading axes and stretches some others.
fn broadcast_pair() -> impl Strategy<Value = (Vec<usize>, Vec<usize>)> {
    any_shape().prop_flat_map(|shape| {
        let rank = shape.len();
        let operand = (0..=rank, prop::collection::vec(any::<bool>(), rank)).prop_map({
            let shape = shape.clone();
            move |(dropped, stretch)| {
                shape[dropped..]
                    .iter()
                    .zip(&stretch[dropped..])
                    .map(|(&n, &stretched)| if stretched { 1 } else { n })
                    .collect::<Vec<usize>>()
            }
        });
        (operand.clone(), operand)
    })
}

fn check(
    f: impl Fn(&mut Graph<f64>, &[Var]) -> Result<Var>,
    inputs: &[Tensor<f64>],
) -> std::result::Result<(), TestCaseError> {
    match gradcheck(f, inputs, EPS, TOL) {
        Ok(report) => {
            prop_assert!(report.error <= TOL);
            Ok(())
        }
        Err(err) => Err(TestCaseError::fail(format!("{err} (inputs {inputs:?})"))),
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn smooth_unary_ops(x in any_tensor(moderate()), c in -2.0f64..2.0) {
        let x = [x];
        check(|g, v| g.neg(v[0]), &x)?;
        check(|g, v| g.add_scalar(v[0], c), &x)?;
        check(|g, v| g.mul_scalar(v[0], c), &x)?;
        check(|g, v| g.square(v[0]), &x)?;
        check(|g, v| g.exp(v[0]), &x)?;
        check(|g, v| g.sigmoid(v[0]), &x)?;
        check(|g, v| g.tanh(v[0]), &x)?;
        check(|g, v| g.softplus(v[0]), &x)?;
    }

    #[test]
    fn ops_with_a_restricted_domain(x in any_tensor(positive()), y in any_tensor(away_from_zero(0.3, 2.0)), n in -3i32..=4) {
        let x = [x];
        check(|g, v| g.ln(v[0]), &x)?;
        check(|g, v| g.sqrt(v[0]), &x)?;
        check(|g, v| g.powi(v[0], n), &[y])?;
    }

    #[test]
    fn kinked_ops_away_from_the_kink(x in any_tensor(away_from_zero(0.05, 2.0)), alpha in 0.0f64..0.5) {
        let x = [x];
        check(|g, v| g.relu(v[0]), &x)?;
        check(|g, v| g.abs(v[0]), &x)?;
        check(|g, v| g.leaky_relu(v[0], alpha), &x)?;
    }

    #[test]
    fn binary_ops_with_random_broadcasting(
        (a, b) in broadcast_pair().prop_flat_map(|(sa, sb)| (tensor_of(sa, moderate()), tensor_of(sb, moderate()))),
        denominator in broadcast_pair().prop_flat_map(|(sa, sb)| (tensor_of(sa, moderate()), tensor_of(sb, away_from_zero(0.5, 2.0)))),
    ) {
        let inputs = [a, b];
        check(|g, v| g.add(v[0], v[1]), &inputs)?;
        check(|g, v| g.sub(v[0], v[1]), &inputs)?;
        check(|g, v| g.mul(v[0], v[1]), &inputs)?;
        let (n, d) = denominator;
        check(|g, v| g.div(v[0], v[1]), &[n, d])?;
    }

    #[test]
    fn an_operand_combined_with_itself(x in any_tensor(away_from_zero(0.5, 2.0))) {
        let x = [x];
        check(|g, v| g.mul(v[0], v[0]), &x)?;
        check(|g, v| g.div(v[0], v[0]), &x)?;
        check(|g, v| { let e = g.exp(v[0])?; g.sub(e, v[0]) }, &x)?;
    }

    #[test]
    fn reductions(x in prop::collection::vec(1usize..=4, 1..=3).prop_flat_map(|s| tensor_of(s, moderate())), axis in 0usize..3) {
        let axis = axis % x.ndim();
        let x = [x];
        check(|g, v| g.sum(v[0]), &x)?;
        check(|g, v| g.mean(v[0]), &x)?;
        check(|g, v| g.sum_axis(v[0], axis), &x)?;
        check(|g, v| g.mean_axis(v[0], axis), &x)?;
    }

    #[test]
    fn softmax_rows(x in any_matrix(-3.0..3.0)) {
        let x = [x];
        check(|g, v| g.softmax(v[0]), &x)?;
        check(|g, v| g.log_softmax(v[0]), &x)?;
    }

    #[test]
    fn matrix_products((m, k, n) in (1usize..=4, 1usize..=4, 1usize..=4), seed in any::<u64>()) {
        let mut rng = backprop_tensor::TensorRng::seed_from_u64(seed);
        let mut random = |shape: &[usize]| Tensor::from_shape_fn(shape, |_| rng.uniform_range(-2.0, 2.0));
        let (x, w, b) = (random(&[m, k]), random(&[k, n]), random(&[n]));
        check(|g, v| g.matmul(v[0], v[1]), &[x.clone(), w.clone()])?;
        check(|g, v| g.affine(v[0], v[1], v[2]), &[x, w, b])?;
    }

    #[test]
    fn reshape_and_transpose(x in any_matrix(moderate()), flat_first in any::<bool>()) {
        let (m, n) = (x.shape()[0], x.shape()[1]);
        let target = if flat_first { vec![m * n] } else { vec![n, 1, m] };
        let x = [x];
        check(|g, v| g.reshape(v[0], &target), &x)?;
        check(|g, v| g.transpose(v[0]), &x)?;
    }

    #[test]
    fn columns(
        (parts, picks) in (1usize..=4).prop_flat_map(|rows| {
            (prop::collection::vec((1usize..=3).prop_flat_map(move |c| tensor_of(vec![rows, c], moderate())), 1..=3),
             prop::collection::vec(0usize..3, 1..=5))
        }),
        range in (0usize..=9, 0usize..=9),
    ) {
        // Concatenates parts picked with repetition (a part used twice gets both gradients),
        // up to five at once.
        let picks: Vec<usize> = picks.iter().map(|&p| p % parts.len()).collect();
        check(|g, v| { let chosen: Vec<Var> = picks.iter().map(|&p| v[p]).collect(); g.concat_cols(&chosen) }, &parts)?;
        let cols = parts[0].shape()[1];
        let (start, end) = (range.0 % (cols + 1), range.1 % (cols + 1));
        let (start, end) = (start.min(end), start.max(end));
        check(|g, v| g.slice_cols(v[0], start, end), &parts[..1])?;
    }
}
