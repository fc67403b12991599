//! Every op of `backprop-autograd` against central finite differences in `f64`, over random
//! shapes (a scalar, 1×1, a single row, a single column, up to rank 4), random values and random
//! broadcasting; then random programs that chain, share and broadcast the smooth ops, where a
//! wrong accumulation of gradients over several paths would show.
//!
//! Values stay in `[-3, 3]`, away from the kinks of relu, leaky_relu and abs and from the poles
//! and domain edges of ln, sqrt, div and negative powers.

use backprop_autograd::{FusedActivation, Graph, Result, Var};
use backprop_tensor::Tensor;
use backprop_tests::{
    any_shape, away_from, broadcast_shapes, check_gradients, config, matrix_shape, moderate, shape_with_axes,
    signed, tensor_in, tensor_of, within,
};
use proptest::prelude::*;

/// The ops this file checks, by their `Graph` method names.
const COVERED: &[&str] = &[
    "matmul",
    "affine",
    "affine_act",
    "add",
    "sub",
    "mul",
    "div",
    "neg",
    "add_scalar",
    "mul_scalar",
    "powi",
    "square",
    "sqrt",
    "exp",
    "ln",
    "abs",
    "sum",
    "mean",
    "sum_axis",
    "mean_axis",
    "sigmoid",
    "tanh",
    "relu",
    "leaky_relu",
    "softplus",
    "softmax",
    "log_softmax",
    "reshape",
    "transpose",
    "concat_cols",
    "slice_cols",
];

/// The crate documentation lists every built-in op; a new op fails this test until it is
/// checked here.
#[test]
fn every_documented_op_is_checked() {
    let docs = include_str!("../../crates/autograd/src/lib.rs");
    let start =
        docs.find("Built-in ops, as `Graph` methods:").expect("the list of built-in ops in the crate docs");
    let end = start + docs[start..].find(". Each op").expect("the end of the list");
    // Every other backticked span is a method name; formulas such as `X·W + b` are skipped.
    let documented: Vec<&str> = docs[start..end]
        .split('`')
        .skip(3)
        .step_by(2)
        .filter(|s| s.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
        .collect();
    assert!(documented.len() >= 30, "parsed {documented:?}");
    let missing: Vec<&&str> = documented.iter().filter(|op| !COVERED.contains(op)).collect();
    assert!(missing.is_empty(), "ops without a gradient check here: {missing:?}");
}

/// Any tensor with values from `values`.
fn any_tensor(values: impl Strategy<Value = f64> + Clone + 'static) -> impl Strategy<Value = Tensor<f64>> {
    tensor_in(any_shape(), values)
}

/// A matrix with values from `values`, 1×1, one row and one column included.
fn any_matrix(values: impl Strategy<Value = f64> + Clone + 'static) -> impl Strategy<Value = Tensor<f64>> {
    matrix_shape().prop_flat_map(move |(m, n)| tensor_of(vec![m, n], values.clone()))
}

/// Two operands that broadcast together; the second drawn from `right`.
fn broadcast_operands(
    right: impl Strategy<Value = f64> + Clone + 'static,
) -> impl Strategy<Value = (Tensor<f64>, Tensor<f64>)> {
    broadcast_shapes().prop_flat_map(move |(a, b)| (tensor_of(a, moderate()), tensor_of(b, right.clone())))
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn neg(x in any_tensor(moderate())) {
        check_gradients("neg", |g, v| g.neg(v[0]), &[x])?;
    }

    #[test]
    fn add_scalar(x in any_tensor(moderate()), c in moderate()) {
        check_gradients("add_scalar", |g, v| g.add_scalar(v[0], c), &[x])?;
    }

    #[test]
    fn mul_scalar(x in any_tensor(moderate()), c in moderate()) {
        check_gradients("mul_scalar", |g, v| g.mul_scalar(v[0], c), &[x])?;
    }

    #[test]
    fn square(x in any_tensor(moderate())) {
        check_gradients("square", |g, v| g.square(v[0]), &[x])?;
    }

    #[test]
    fn powi_of_any_sign(x in any_tensor(signed(0.25, 3.0)), n in -3i32..=4) {
        check_gradients("powi", |g, v| g.powi(v[0], n), &[x])?;
    }

    #[test]
    fn sqrt(x in any_tensor(within(0.1, 3.0))) {
        check_gradients("sqrt", |g, v| g.sqrt(v[0]), &[x])?;
    }

    #[test]
    fn exp(x in any_tensor(moderate())) {
        check_gradients("exp", |g, v| g.exp(v[0]), &[x])?;
    }

    #[test]
    fn ln(x in any_tensor(within(0.1, 3.0))) {
        check_gradients("ln", |g, v| g.ln(v[0]), &[x])?;
    }

    #[test]
    fn sigmoid(x in any_tensor(moderate())) {
        check_gradients("sigmoid", |g, v| g.sigmoid(v[0]), &[x])?;
    }

    #[test]
    fn tanh(x in any_tensor(moderate())) {
        check_gradients("tanh", |g, v| g.tanh(v[0]), &[x])?;
    }

    #[test]
    fn softplus(x in any_tensor(moderate())) {
        check_gradients("softplus", |g, v| g.softplus(v[0]), &[x])?;
    }

    #[test]
    fn relu_away_from_zero(x in any_tensor(away_from(0.0, 3.0))) {
        check_gradients("relu", |g, v| g.relu(v[0]), &[x])?;
    }

    #[test]
    fn leaky_relu_away_from_zero(x in any_tensor(away_from(0.0, 3.0)), alpha in 0.0..1.0f64) {
        check_gradients("leaky_relu", |g, v| g.leaky_relu(v[0], alpha), &[x])?;
    }

    #[test]
    fn abs_away_from_zero(x in any_tensor(away_from(0.0, 3.0))) {
        check_gradients("abs", |g, v| g.abs(v[0]), &[x])?;
    }

    #[test]
    fn add_broadcasting((a, b) in broadcast_operands(moderate())) {
        check_gradients("add", |g, v| g.add(v[0], v[1]), &[a, b])?;
    }

    #[test]
    fn sub_broadcasting((a, b) in broadcast_operands(moderate())) {
        check_gradients("sub", |g, v| g.sub(v[0], v[1]), &[a, b])?;
    }

    #[test]
    fn mul_broadcasting((a, b) in broadcast_operands(moderate())) {
        check_gradients("mul", |g, v| g.mul(v[0], v[1]), &[a, b])?;
    }

    #[test]
    fn div_broadcasting((a, b) in broadcast_operands(signed(0.25, 3.0))) {
        check_gradients("div", |g, v| g.div(v[0], v[1]), &[a, b])?;
    }

    #[test]
    fn binary_ops_of_a_value_with_itself(x in any_tensor(signed(0.25, 3.0))) {
        // Both operands are the same node: its gradient is the sum of both partials.
        let x = [x];
        check_gradients("add(x, x)", |g, v| g.add(v[0], v[0]), &x)?;
        check_gradients("sub(x, x)", |g, v| g.sub(v[0], v[0]), &x)?;
        check_gradients("mul(x, x)", |g, v| g.mul(v[0], v[0]), &x)?;
        check_gradients("div(x, x)", |g, v| g.div(v[0], v[0]), &x)?;
    }

    #[test]
    fn sum_and_mean(x in any_tensor(moderate())) {
        let x = [x];
        check_gradients("sum", |g, v| g.sum(v[0]), &x)?;
        check_gradients("mean", |g, v| g.mean(v[0]), &x)?;
    }

    #[test]
    fn sum_axis_and_mean_axis(x in tensor_in(shape_with_axes(), moderate()), axis in 0usize..4) {
        let axis = axis % x.ndim();
        let x = [x];
        check_gradients("sum_axis", |g, v| g.sum_axis(v[0], axis), &x)?;
        check_gradients("mean_axis", |g, v| g.mean_axis(v[0], axis), &x)?;
    }

    #[test]
    fn softmax_rows(x in any_matrix(moderate())) {
        check_gradients("softmax", |g, v| g.softmax(v[0]), &[x])?;
    }

    #[test]
    fn log_softmax_rows(x in any_matrix(moderate())) {
        check_gradients("log_softmax", |g, v| g.log_softmax(v[0]), &[x])?;
    }

    #[test]
    fn matmul(
        (x, w) in (matrix_shape(), 1usize..=5).prop_flat_map(|((m, k), n)| {
            (tensor_of(vec![m, k], moderate()), tensor_of(vec![k, n], moderate()))
        })
    ) {
        check_gradients("matmul", |g, v| g.matmul(v[0], v[1]), &[x, w])?;
    }

    #[test]
    fn matmul_of_a_matrix_with_its_transpose(x in any_matrix(moderate())) {
        // X·Xᵀ: one value on both sides of a product.
        check_gradients("matmul(x, xᵀ)", |g, v| { let t = g.transpose(v[0])?; g.matmul(v[0], t) }, &[x])?;
    }

    #[test]
    fn affine(
        (x, w, b) in (matrix_shape(), 1usize..=5).prop_flat_map(|((m, k), n)| {
            let (x, w, b) = (vec![m, k], vec![k, n], vec![n]);
            (tensor_of(x, moderate()), tensor_of(w, moderate()), tensor_of(b, moderate()))
        })
    ) {
        check_gradients("affine", |g, v| g.affine(v[0], v[1], v[2]), &[x, w, b])?;
    }

    #[test]
    fn affine_act(
        (x, w, b) in (matrix_shape(), 1usize..=5).prop_flat_map(|((m, k), n)| {
            let (x, w, b) = (vec![m, k], vec![k, n], vec![n]);
            (tensor_of(x, moderate()), tensor_of(w, moderate()), tensor_of(b, moderate()))
        }),
        pick in 0usize..4,
    ) {
        let activation = [
            FusedActivation::Tanh,
            FusedActivation::Sigmoid,
            FusedActivation::Relu,
            FusedActivation::LeakyRelu(0.1),
        ][pick];
        if matches!(activation, FusedActivation::Relu | FusedActivation::LeakyRelu(_)) {
            // Away from the kink at z = 0, where finite differences straddle two slopes.
            let z = x.matmul(&w).add(&b);
            prop_assume!(z.as_slice().iter().all(|v| v.abs() > 1e-2));
        }
        check_gradients("affine_act", |g, v| g.affine_act(v[0], v[1], v[2], activation), &[x, w, b])?;
    }

    #[test]
    fn transpose(x in any_matrix(moderate())) {
        check_gradients("transpose", |g, v| g.transpose(v[0]), &[x])?;
    }

    #[test]
    fn reshape(x in any_tensor(moderate()), pick in 0usize..5) {
        let shape = x.shape().to_vec();
        let len = x.len();
        let target = match pick {
            0 => vec![len],
            1 => vec![len, 1],
            2 => vec![1, len],
            3 => shape.iter().rev().copied().collect(),
            _ => [&shape[..], &[1]].concat(),
        };
        check_gradients("reshape", |g, v| g.reshape(v[0], &target), &[x])?;
    }

    #[test]
    fn concat_cols_with_repeated_parts(
        (parts, picks) in (1usize..=4).prop_flat_map(|rows| (
            prop::collection::vec(
                (1usize..=3).prop_flat_map(move |c| tensor_of(vec![rows, c], moderate())),
                1..=3,
            ),
            prop::collection::vec(0usize..3, 1..=5),
        ))
    ) {
        // A part picked twice gets the sum of both column blocks' gradients.
        let picks: Vec<usize> = picks.iter().map(|&p| p % parts.len()).collect();
        check_gradients(
            "concat_cols",
            |g, v| { let chosen: Vec<Var> = picks.iter().map(|&p| v[p]).collect(); g.concat_cols(&chosen) },
            &parts,
        )?;
    }

    #[test]
    fn slice_cols(x in any_matrix(moderate()), ends in (0usize..5, 0usize..5)) {
        let cols = x.shape()[1];
        let (a, b) = (ends.0 % cols, ends.1 % cols);
        let (start, end) = (a.min(b), a.max(b) + 1);
        check_gradients("slice_cols", |g, v| g.slice_cols(v[0], start, end), &[x])?;
    }

    #[test]
    fn random_programs((a, b) in broadcast_operands(moderate()), program in program()) {
        check_gradients(&format!("program {program:?}"), |g, v| run(g, v[0], v[1], &program), &[a, b])?;
    }
}

/// A step of a random program: an op applied to one or two earlier values (indices taken
/// modulo the number of values so far) with a constant.
#[derive(Debug, Clone, Copy)]
enum Step {
    Tanh(usize),
    Sigmoid(usize),
    Softplus(usize),
    Neg(usize),
    Scale(usize, f64),
    Shift(usize, f64),
    /// `exp(tanh a)`: exp of a bounded value.
    ExpOfTanh(usize),
    /// `sqrt(1 + a²)`.
    Hypot(usize),
    /// `ln(1 + a²)`.
    LnOnePlusSquare(usize),
    /// `(tanh a + 2)ⁿ`.
    PowiOfShifted(usize, i32),
    Add(usize, usize),
    Sub(usize, usize),
    /// `tanh(a) · b`: a product whose size stays linear in its operands.
    MulByTanh(usize, usize),
    /// `a / (1 + b²)`.
    DivByOnePlusSquare(usize, usize),
}

fn program() -> impl Strategy<Value = Vec<Step>> {
    let index = 0usize..16;
    let constant = -1.5..1.5f64;
    let step = prop_oneof![
        index.clone().prop_map(Step::Tanh),
        index.clone().prop_map(Step::Sigmoid),
        index.clone().prop_map(Step::Softplus),
        index.clone().prop_map(Step::Neg),
        (index.clone(), constant.clone()).prop_map(|(a, c)| Step::Scale(a, c)),
        (index.clone(), constant).prop_map(|(a, c)| Step::Shift(a, c)),
        index.clone().prop_map(Step::ExpOfTanh),
        index.clone().prop_map(Step::Hypot),
        index.clone().prop_map(Step::LnOnePlusSquare),
        (index.clone(), -3i32..=3).prop_map(|(a, n)| Step::PowiOfShifted(a, n)),
        (index.clone(), index.clone()).prop_map(|(a, b)| Step::Add(a, b)),
        (index.clone(), index.clone()).prop_map(|(a, b)| Step::Sub(a, b)),
        (index.clone(), index.clone()).prop_map(|(a, b)| Step::MulByTanh(a, b)),
        (index.clone(), index).prop_map(|(a, b)| Step::DivByOnePlusSquare(a, b)),
    ];
    prop::collection::vec(step, 1..=8)
}

/// Runs a program on the inputs `a` and `b`; every step appends a value, the last is the output.
fn run(g: &mut Graph<f64>, a: Var, b: Var, program: &[Step]) -> Result<Var> {
    let mut values = vec![a, b];
    for step in program {
        let pick = |i: usize| values[i % values.len()];
        let next = match *step {
            Step::Tanh(i) => g.tanh(pick(i))?,
            Step::Sigmoid(i) => g.sigmoid(pick(i))?,
            Step::Softplus(i) => g.softplus(pick(i))?,
            Step::Neg(i) => g.neg(pick(i))?,
            Step::Scale(i, c) => g.mul_scalar(pick(i), c)?,
            Step::Shift(i, c) => g.add_scalar(pick(i), c)?,
            Step::ExpOfTanh(i) => {
                let t = g.tanh(pick(i))?;
                g.exp(t)?
            }
            Step::Hypot(i) => {
                let s = g.square(pick(i))?;
                let s = g.add_scalar(s, 1.0)?;
                g.sqrt(s)?
            }
            Step::LnOnePlusSquare(i) => {
                let s = g.square(pick(i))?;
                let s = g.add_scalar(s, 1.0)?;
                g.ln(s)?
            }
            Step::PowiOfShifted(i, n) => {
                let t = g.tanh(pick(i))?;
                let t = g.add_scalar(t, 2.0)?;
                g.powi(t, n)?
            }
            Step::Add(i, j) => g.add(pick(i), pick(j))?,
            Step::Sub(i, j) => g.sub(pick(i), pick(j))?,
            Step::MulByTanh(i, j) => {
                let t = g.tanh(pick(i))?;
                g.mul(t, pick(j))?
            }
            Step::DivByOnePlusSquare(i, j) => {
                let s = g.square(pick(j))?;
                let s = g.add_scalar(s, 1.0)?;
                g.div(pick(i), s)?
            }
        };
        values.push(next);
    }
    Ok(*values.last().expect("the inputs at least"))
}
