//! The chain rule as the lecture teaches it: on a graph of scalar values, the derivative of the
//! output with respect to an input is the sum, over every path from the input to the output, of
//! the product of the local derivatives along the path's edges.
//!
//! The test builds random small DAGs of scalar ops (values reused by several ops, inputs that
//! may not reach the output), computes that sum by enumerating every path explicitly with its own
//! formulas for the local derivatives, and compares it with backpropagation.

use backprop_autograd::{AutogradError, Graph, Var};
use backprop_tensor::Tensor;
use proptest::prelude::*;

fn config() -> ProptestConfig {
    let mut config = ProptestConfig::default();
    if std::env::var("PROPTEST_CASES").is_err() {
        config.cases = 64;
    }
    config
}

/// One recorded op: its kind, which earlier values it reads (taken modulo the number of values
/// so far), and a constant for `mul_scalar`.
#[derive(Debug, Clone)]
struct OpSpec {
    kind: Kind,
    a: usize,
    b: usize,
    c: f64,
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Add,
    Sub,
    Mul,
    Exp,
    Tanh,
    Square,
    MulScalar,
    Neg,
}

fn op_spec() -> impl Strategy<Value = OpSpec> {
    let kind = prop_oneof![
        Just(Kind::Add),
        Just(Kind::Sub),
        Just(Kind::Mul),
        Just(Kind::Exp),
        Just(Kind::Tanh),
        Just(Kind::Square),
        Just(Kind::MulScalar),
        Just(Kind::Neg),
    ];
    (kind, any::<usize>(), any::<usize>(), -1.5f64..1.5).prop_map(|(kind, a, b, c)| OpSpec { kind, a, b, c })
}

/// The reference: each value with the edges into it, `(parent, ∂value/∂parent)`, computed here
/// from the textbook derivatives, independently of the library's backward passes.
struct ScalarDag {
    values: Vec<f64>,
    edges: Vec<Vec<(usize, f64)>>,
}

impl ScalarDag {
    /// Adds up the product of edge derivatives along every path from `node` down to each
    /// leaf, one path at a time: `totals[leaf] += Π edges`, and `magnitudes[leaf] += |Π edges|`
    /// (the scale of rounding errors in that sum). Returns the number of paths.
    fn sum_over_paths(&self, node: usize, product: f64, totals: &mut [f64], magnitudes: &mut [f64]) -> usize {
        if node < totals.len() {
            totals[node] += product;
            magnitudes[node] += product.abs();
            return 1;
        }
        self.edges[node]
            .iter()
            .map(|&(parent, d)| self.sum_over_paths(parent, product * d, totals, magnitudes))
            .sum()
    }

    /// Whether any path leads from leaf `leaf` to `node`.
    fn reaches(&self, leaf: usize, node: usize) -> bool {
        node == leaf || self.edges[node].iter().any(|&(parent, _)| self.reaches(leaf, parent))
    }
}

/// Records the ops on `g` and, alongside, the reference DAG. Returns the graph's vars too.
fn build(g: &mut Graph<f64>, leaves: &[f64], ops: &[OpSpec]) -> (Vec<Var>, ScalarDag) {
    let mut vars: Vec<Var> = leaves.iter().map(|&x| g.leaf(Tensor::scalar(x))).collect();
    let mut dag = ScalarDag { values: leaves.to_vec(), edges: vec![Vec::new(); leaves.len()] };
    for spec in ops {
        let n = vars.len();
        let (a, b) = (spec.a % n, spec.b % n);
        let (x, y) = (dag.values[a], dag.values[b]);
        let (var, value, edges) = match spec.kind {
            Kind::Add => (g.add(vars[a], vars[b]), x + y, vec![(a, 1.0), (b, 1.0)]),
            Kind::Sub => (g.sub(vars[a], vars[b]), x - y, vec![(a, 1.0), (b, -1.0)]),
            Kind::Mul => (g.mul(vars[a], vars[b]), x * y, vec![(a, y), (b, x)]),
            Kind::Exp => (g.exp(vars[a]), x.exp(), vec![(a, x.exp())]),
            Kind::Tanh => (g.tanh(vars[a]), x.tanh(), vec![(a, 1.0 - x.tanh().powi(2))]),
            Kind::Square => (g.square(vars[a]), x * x, vec![(a, 2.0 * x)]),
            Kind::MulScalar => (g.mul_scalar(vars[a], spec.c), spec.c * x, vec![(a, spec.c)]),
            Kind::Neg => (g.neg(vars[a]), -x, vec![(a, -1.0)]),
        };
        vars.push(var.expect("scalar ops on scalars cannot fail"));
        dag.values.push(value);
        dag.edges.push(edges);
    }
    (vars, dag)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn backprop_equals_the_sum_over_paths_of_edge_products(
        leaves in prop::collection::vec(-1.0f64..1.0, 1..=3),
        ops in prop::collection::vec(op_spec(), 1..=9),
    ) {
        let mut g = Graph::<f64>::new();
        let (vars, dag) = build(&mut g, &leaves, &ops);
        let output = *vars.last().unwrap();
        prop_assume!(dag.values.iter().all(|v| v.is_finite() && v.abs() < 1e6));
        prop_assert_eq!(g.value(output).unwrap().item(), *dag.values.last().unwrap());

        let mut totals = vec![0.0; leaves.len()];
        let mut magnitudes = vec![0.0; leaves.len()];
        let paths = dag.sum_over_paths(vars.len() - 1, 1.0, &mut totals, &mut magnitudes);
        prop_assert!(paths >= 1);

        g.backward(output).unwrap();
        for (leaf, &var) in vars[..leaves.len()].iter().enumerate() {
            match g.grad_opt(var).unwrap() {
                Some(gradient) => {
                    let reached = dag.reaches(leaf, vars.len() - 1);
                    prop_assert!(reached, "leaf {} has a gradient but no path to the output", leaf);
                    let (backprop, reference) = (gradient.item(), totals[leaf]);
                    let error = (backprop - reference).abs() / 1f64.max(magnitudes[leaf]);
                    prop_assert!(error <= 1e-12, "leaf {}: backprop {} vs sum over {} paths {}", leaf, backprop, paths, reference);
                }
                None => {
                    let reached = dag.reaches(leaf, vars.len() - 1);
                    prop_assert!(!reached, "leaf {} reaches the output but got no gradient", leaf);
                    let is_no_grad = matches!(g.grad(var), Err(AutogradError::NoGrad { .. }));
                    prop_assert!(is_no_grad);
                }
            }
        }
    }
}

#[test]
fn a_value_used_twice_gets_the_sum_of_both_paths() {
    // y = x·x + x: paths x→mul (×x), x→mul (×x), x→add (×1): dy/dx = 2x + 1.
    let mut g = Graph::<f64>::new();
    let x = g.leaf(Tensor::scalar(3.0));
    let xx = g.mul(x, x).unwrap();
    let y = g.add(xx, x).unwrap();
    g.backward(y).unwrap();
    assert_eq!(g.grad(x).unwrap().item(), 7.0);
    assert_eq!(g.grad(xx).unwrap().item(), 1.0);
}

#[test]
fn an_input_that_does_not_reach_the_output_has_no_gradient() {
    let mut g = Graph::<f64>::new();
    let x = g.leaf(Tensor::scalar(1.0));
    let unused = g.leaf(Tensor::scalar(2.0));
    let side = g.exp(unused).unwrap();
    let y = g.tanh(x).unwrap();
    g.backward(y).unwrap();
    assert!(g.grad_opt(unused).unwrap().is_none());
    assert!(g.grad_opt(side).unwrap().is_none());
    let err = g.grad(unused).unwrap_err();
    assert!(matches!(err, AutogradError::NoGrad { .. }));
    assert_eq!(
        err.to_string(),
        "grad: no gradient for %1: no backward pass reached it since it was created or its gradient was zeroed"
    );
}

#[test]
fn the_dot_edges_are_the_local_derivatives_of_the_paths() {
    // y = tanh(a·b): the path a→mul→tanh has edge labels b and 1 − tanh², whose product is dy/da.
    let mut g = Graph::<f64>::new();
    let a = g.leaf(Tensor::scalar(0.5));
    let b = g.leaf(Tensor::scalar(-2.0));
    let ab = g.mul(a, b).unwrap();
    let y = g.tanh(ab).unwrap();
    let dot = g.to_dot(y).unwrap();
    let slope = 1.0 - (-1f64).tanh().powi(2);
    assert!(dot.contains("n0 -> n2 [label=\"-2\"]"), "{dot}");
    assert!(dot.contains("n1 -> n2 [label=\"0.5\"]"), "{dot}");
    assert!((slope - 0.42).abs() < 5e-5 && dot.contains("n2 -> n3 [label=\"0.42\"]"), "{dot}");
    g.backward(y).unwrap();
    assert!((g.grad(a).unwrap().item() - (-2.0 * slope)).abs() < 1e-15);
}
