//! Bad input to the library: every shape-checked op of tensors and graphs, the losses and the
//! layers refuse operands that do not fit with a message naming the op and both shapes; the
//! misuses of a graph (backward from a non-scalar, backward over a cleared graph, values of two
//! graphs mixed, a gradient never computed) are errors that say what happened. Every message is
//! asserted exactly, and a failed op records nothing.

use std::fmt::Display;

use backprop_autograd::{AutogradError, Graph, Result as GraphResult, Var};
use backprop_nn::{
    Activation, Loss, Module, Reduction, bce_with_logits, hinge, logistic_pm1, mlp, mse, multi_margin,
    softmax_cross_entropy,
};
use backprop_tensor::{Tensor, TensorRng};

/// The error message of a result that must be an error.
fn message<T, E: Display>(result: Result<T, E>) -> String {
    match result {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

/// The message two graphs give when a value of graph `var_graph` reaches graph `graph` in `op`,
/// read from the error itself (graph numbers depend on how many graphs the process made).
fn foreign_message(error: &AutogradError, op: &str, var: &str) -> String {
    let AutogradError::ForeignVar { op: got_op, var: got_var, var_graph, graph } = error else {
        panic!("expected values of two graphs, got: {error}");
    };
    assert_eq!((got_op.as_str(), got_var.as_str()), (op, var));
    assert_ne!(var_graph, graph);
    format!(
        "{op}: value {var} belongs to graph #{var_graph}, not to this graph #{graph}; values of two graphs cannot be mixed"
    )
}

type Binary = fn(&mut Graph<f64>, Var, Var) -> GraphResult<Var>;

#[test]
fn graph_elementwise_ops_name_the_op_and_both_shapes() {
    let mut g = Graph::<f64>::new();
    let wide = g.leaf(Tensor::zeros(&[2, 3]));
    let tall = g.leaf(Tensor::zeros(&[3, 2]));
    let four = g.leaf(Tensor::zeros(&[4]));
    let ops: [(&str, Binary); 4] =
        [("add", Graph::add), ("sub", Graph::sub), ("mul", Graph::mul), ("div", Graph::div)];
    let recorded = g.len();
    for (name, op) in ops {
        assert_eq!(
            message(op(&mut g, wide, tall)),
            format!("{name}: [2, 3] x [3, 2]: cannot broadcast: axis 0 of the result has lengths 2 and 3")
        );
        assert_eq!(
            message(op(&mut g, wide, four)),
            format!("{name}: [2, 3] x [4]: cannot broadcast: axis 1 of the result has lengths 3 and 4")
        );
        assert_eq!(
            message(op(&mut g, four, wide)),
            format!("{name}: [4] x [2, 3]: cannot broadcast: axis 1 of the result has lengths 4 and 3")
        );
    }
    assert_eq!(g.len(), recorded, "a failed op records nothing");
}

#[test]
fn graph_matrix_and_shape_ops_name_the_op_and_the_shapes() {
    let mut g = Graph::<f64>::new();
    let wide = g.leaf(Tensor::zeros(&[2, 3]));
    let tall = g.leaf(Tensor::zeros(&[3, 2]));
    let three = g.leaf(Tensor::zeros(&[3]));
    let four = g.leaf(Tensor::zeros(&[4]));
    let scalar = g.leaf(Tensor::scalar(1.0));
    let recorded = g.len();
    let cases = [
        (message(g.matmul(wide, wide)), "matmul: [2, 3] x [2, 3]: inner dimensions 3 != 2"),
        (message(g.matmul(three, tall)), "matmul: [3] x [3, 2]: both operands must be matrices"),
        (message(g.matmul(wide, three)), "matmul: [2, 3] x [3]: both operands must be matrices"),
        (message(g.matmul(scalar, wide)), "matmul: [] x [2, 3]: both operands must be matrices"),
        (
            message(g.affine(wide, wide, three)),
            "affine: X [2, 3] · W [2, 3] + b [3]: inner dimensions 3 != 2",
        ),
        (
            message(g.affine(wide, tall, four)),
            "affine: X [2, 3] · W [3, 2] + b [4]: b must have shape [2], one value per column of W",
        ),
        (
            message(g.affine(wide, tall, wide)),
            "affine: X [2, 3] · W [3, 2] + b [2, 3]: b must have shape [2], one value per column of W",
        ),
        (message(g.affine(three, tall, three)), "affine: X [3] · W [3, 2] + b [3]: X and W must be matrices"),
        (message(g.concat_cols(&[wide, tall])), "concat_cols: [2, 3] x [3, 2]: row counts 2 != 3"),
        (message(g.concat_cols(&[wide, three])), "concat_cols: expected a matrix, got shape [3]"),
        (message(g.concat_cols(&[])), "concat_cols: nothing to concatenate"),
        (message(g.slice_cols(wide, 2, 4)), "slice_cols: columns 2..4 out of range for shape [2, 3]"),
        (message(g.slice_cols(wide, 2, 1)), "slice_cols: columns 2..1 out of range for shape [2, 3]"),
        (message(g.slice_cols(three, 0, 1)), "slice_cols: expected a matrix, got shape [3]"),
        (message(g.reshape(wide, &[4])), "reshape: [2, 3] x [4]: 6 elements cannot take a shape of 4"),
        (message(g.transpose(three)), "transpose: expected a matrix, got shape [3]"),
        (message(g.softmax(three)), "softmax_rows: expected a matrix, got shape [3]"),
        (message(g.log_softmax(scalar)), "log_softmax_rows: expected a matrix, got shape []"),
        (message(g.sum_axis(wide, 2)), "sum_axis: axis 2 out of range for shape [2, 3]"),
        (message(g.mean_axis(three, 1)), "mean_axis: axis 1 out of range for shape [3]"),
    ];
    for (got, expected) in cases {
        assert_eq!(got, expected);
    }
    assert_eq!(g.len(), recorded, "a failed op records nothing");
}

#[test]
fn tensor_ops_name_the_op_and_both_shapes() {
    let wide = Tensor::<f64>::zeros(&[2, 3]);
    let tall = Tensor::<f64>::zeros(&[3, 2]);
    let four = Tensor::<f64>::zeros(&[4]);
    let broadcast = |op: &str, a: &str, b: &str, axis: usize, x: usize, y: usize| {
        format!("{op}: {a} x {b}: cannot broadcast: axis {axis} of the result has lengths {x} and {y}")
    };
    let cases = [
        (message(wide.try_add(&tall)), broadcast("add", "[2, 3]", "[3, 2]", 0, 2, 3)),
        (message(wide.try_sub(&four)), broadcast("sub", "[2, 3]", "[4]", 1, 3, 4)),
        (message(wide.try_mul(&tall)), broadcast("mul", "[2, 3]", "[3, 2]", 0, 2, 3)),
        (message(wide.try_div(&four)), broadcast("div", "[2, 3]", "[4]", 1, 3, 4)),
        (message(wide.clone().try_add_assign(&tall)), broadcast("add_assign", "[2, 3]", "[3, 2]", 0, 2, 3)),
        (message(wide.try_sum_to_shape(&[4])), broadcast("sum_to_shape", "[2, 3]", "[4]", 1, 3, 4)),
        (message(wide.try_matmul(&wide)), "matmul: [2, 3] x [2, 3]: inner dimensions 3 != 2".into()),
        (message(four.try_matmul(&tall)), "matmul: [4] x [3, 2]: both operands must be matrices".into()),
        (
            message(Tensor::try_concat_cols(&[&wide, &tall])),
            "concat_cols: [2, 3] x [3, 2]: row counts 2 != 3".into(),
        ),
        (
            message(wide.try_reshape(&[4])),
            "reshape: [2, 3] x [4]: 6 elements cannot take a shape of 4".into(),
        ),
        (message(four.try_t()), "transpose: expected a matrix, got shape [4]".into()),
        (message(wide.try_slice_cols(1, 5)), "slice_cols: columns 1..5 out of range for shape [2, 3]".into()),
        (message(four.try_softmax_rows()), "softmax_rows: expected a matrix, got shape [4]".into()),
        (message(four.try_argmax_rows()), "argmax_rows: expected a matrix, got shape [4]".into()),
        (message(wide.try_sum_axis(2)), "sum_axis: axis 2 out of range for shape [2, 3]".into()),
        (message(wide.clone().try_assign(&tall)), "assign: [2, 3] x [3, 2]: shapes differ".into()),
        (message(wide.clone().try_axpy(1.0, &tall)), "axpy: [2, 3] x [3, 2]: shapes differ".into()),
        (
            message(Tensor::<f64>::try_from_vec(&[2, 3], vec![0.0; 5])),
            "from_vec: shape [2, 3] needs 6 elements, got 5".into(),
        ),
        (message(wide.try_item()), "item: needs exactly one element, shape is [2, 3]".into()),
    ];
    for (got, expected) in cases {
        assert_eq!(got, expected);
    }
}

#[test]
fn losses_and_layers_name_both_shapes() {
    let mut g = Graph::<f64>::new();
    let predictions = g.leaf(Tensor::zeros(&[2, 1]));
    let targets = g.input(Tensor::zeros(&[3, 1]));
    let logits = g.leaf(Tensor::zeros(&[2, 3]));
    let vector = g.leaf(Tensor::zeros(&[3]));
    let recorded = g.len();
    type Elementwise = fn(&mut Graph<f64>, Var, Var, Reduction) -> backprop_nn::Result<Var>;
    let losses: [(&str, Elementwise); 4] = [
        ("mse", mse),
        ("bce_with_logits", bce_with_logits),
        ("hinge", hinge),
        ("logistic_pm1", logistic_pm1),
    ];
    for (name, loss) in losses {
        assert_eq!(
            message(loss(&mut g, predictions, targets, Reduction::Mean)),
            format!(
                "{name}: predictions [2, 1] and targets [3, 1] must have the same shape ([n] and [n, 1] also match)"
            )
        );
    }
    let cases = [
        (
            message(softmax_cross_entropy(&mut g, logits, &[0, 1, 2], Reduction::Mean)),
            "softmax_cross_entropy: 3 class indices for a batch of 2 rows (logits [2, 3])",
        ),
        (
            message(multi_margin(&mut g, logits, &[0], Reduction::Sum)),
            "multi_margin: 1 class indices for a batch of 2 rows (logits [2, 3])",
        ),
        (
            message(softmax_cross_entropy(&mut g, logits, &[0, 3], Reduction::Mean)),
            "softmax_cross_entropy: class index 3 of row 1 is out of range for 3 classes",
        ),
        (
            message(softmax_cross_entropy(&mut g, vector, &[0], Reduction::Mean)),
            "softmax_cross_entropy: logits must be a non-empty matrix [batch, classes], got shape [3]",
        ),
        (
            message(Loss::CrossEntropy.compute(&mut g, logits, targets, Reduction::Mean)),
            "softmax_cross_entropy: 3 class indices for a batch of 2 rows (logits [2, 3])",
        ),
    ];
    for (got, expected) in cases {
        assert_eq!(got, expected);
    }
    let halves = g.input(Tensor::from_vec(&[2, 1], vec![0.5, 1.0]));
    assert_eq!(
        message(Loss::CrossEntropy.compute(&mut g, logits, halves, Reduction::Mean)),
        "cross_entropy: target 0 is 0.5, not a class index (0, 1, 2, ...)"
    );
    assert_eq!(g.len(), recorded + 1, "only the targets were recorded");

    let mut model = mlp(&mut g, &[2, 4, 1], Activation::Tanh, &mut TensorRng::seed_from_u64(0)).unwrap();
    let three_features = g.input(Tensor::zeros(&[5, 3]));
    assert_eq!(
        message(model.forward(&mut g, three_features)),
        "layer 0 (Dense): expected input of shape [batch, 2], got [5, 3]"
    );
    assert_eq!(
        message(model.predict(&g, &Tensor::zeros(&[5, 3]))),
        "Dense: expected input of shape [batch, 2], got [5, 3]"
    );
    assert_eq!(
        message(model.predict(&g, &Tensor::zeros(&[3]))),
        "Dense: expected input of shape [batch, 2], got [3]"
    );
}

#[test]
fn backward_from_a_non_scalar_asks_for_a_seed_of_its_shape() {
    let mut g = Graph::<f64>::new();
    let w = g.param("w", Tensor::ones(&[2, 3]));
    let y = g.exp(w).unwrap();
    assert_eq!(
        message(g.backward(y)),
        "backward: the output has shape [2, 3]; backward() needs a single-element output, or use backward_with_seed() with a gradient of that shape"
    );
    assert_eq!(
        message(g.backward_with_seed(y, Tensor::ones(&[3, 2]))),
        "backward: seed gradient has shape [3, 2] but the output has shape [2, 3]"
    );
    let column = g.slice_cols(y, 0, 1).unwrap();
    assert_eq!(
        message(g.backward(column)),
        "backward: the output has shape [2, 1]; backward() needs a single-element output, or use backward_with_seed() with a gradient of that shape"
    );
    assert!(g.grad_opt(w).unwrap().is_none(), "a refused backward computes no gradient");
    // With a seed of its shape it works: d(Σ seed·exp(w))/dw = seed·exp(w).
    g.backward_with_seed(y, Tensor::full(&[2, 3], 2.0)).unwrap();
    assert_eq!(g.grad(w).unwrap().to_vec(), vec![2.0 * 1f64.exp(); 6]);
}

#[test]
fn backward_over_a_cleared_graph_is_refused_and_the_graph_recovers() {
    let mut g = Graph::<f64>::new();
    let w = g.param("w", Tensor::scalar(2.0));
    let x = g.input(Tensor::scalar(3.0));
    let y = g.mul(w, x).unwrap();
    g.backward(y).unwrap();
    g.clear();
    assert_eq!(
        message(g.backward(y)),
        "backward: value %1 was recorded before the graph was cleared (step 0, now step 1); record it again"
    );
    assert_eq!(
        message(g.tanh(y)),
        "tanh: value %1 was recorded before the graph was cleared (step 0, now step 1); record it again"
    );
    g.clear_and_release();
    assert_eq!(
        message(g.backward(y)),
        "backward: value %1 was recorded before the graph was cleared (step 0, now step 2); record it again"
    );
    assert_eq!(
        message(g.value(x)),
        "value: value %0 was recorded before the graph was cleared (step 0, now step 2); record it again"
    );
    // The parameter and its gradient live on; recording again works, and gradients add up.
    assert_eq!(g.grad(w).unwrap().item(), 3.0);
    let x = g.input(Tensor::scalar(5.0));
    let y = g.mul(w, x).unwrap();
    g.backward(y).unwrap();
    assert_eq!(g.grad(w).unwrap().item(), 8.0);
}

#[test]
fn values_of_two_graphs_cannot_be_mixed() {
    let mut g = Graph::<f64>::new();
    let mut h = Graph::<f64>::new();
    let a = g.leaf(Tensor::ones(&[2, 2]));
    let b = h.leaf(Tensor::ones(&[2, 2]));
    let w = h.param("w", Tensor::ones(&[2, 2]));
    let recorded = g.len();
    let cases = [
        (g.add(a, b).unwrap_err(), "add", "%0"),
        (g.matmul(a, w).unwrap_err(), "matmul", "param#0"),
        (g.backward(b).unwrap_err(), "backward", "%0"),
        (g.value(w).unwrap_err(), "value", "param#0"),
        (g.grad(b).unwrap_err(), "grad", "%0"),
    ];
    for (error, op, var) in cases {
        assert_eq!(error.to_string(), foreign_message(&error, op, var));
    }
    // A model built in one graph, run in another.
    let mut model = mlp(&mut h, &[2, 1], Activation::Identity, &mut TensorRng::seed_from_u64(0)).unwrap();
    let error = match model.forward(&mut g, a).unwrap_err() {
        backprop_nn::NnError::Autograd(e) => e,
        other => panic!("expected a graph error, got: {other}"),
    };
    let AutogradError::ForeignVar { op, var, .. } = &error else { panic!("{error}") };
    let expected = foreign_message(&error, op, var);
    assert_eq!(error.to_string(), expected);
    assert!(var.starts_with("param#"), "the model's parameter is named: {error}");
    assert_eq!(g.len(), recorded, "nothing was recorded");
}

#[test]
fn reading_a_gradient_that_was_never_computed() {
    let mut g = Graph::<f64>::new();
    let w = g.param("weights", Tensor::scalar(2.0));
    let x = g.input(Tensor::scalar(3.0));
    let never = "grad: no gradient for parameter 'weights': no backward pass reached it since it was created or its gradient was zeroed";
    assert_eq!(message(g.grad(w)), never);
    let y = g.mul(w, x).unwrap();
    g.backward(y).unwrap();
    assert_eq!(
        message(g.grad(x)),
        "grad: no gradient for %0: it does not require a gradient (an input or constant, or recorded in no-grad mode)"
    );
    g.zero_grad();
    assert_eq!(message(g.grad(w)), never);
    assert!(g.grad_opt(w).unwrap().is_none());
}
