//! Misusing the graph gives an error that says what went wrong, never a panic or a wrong number.

use backprop_autograd::{AutogradError, Graph};
use backprop_tensor::Tensor;

#[test]
fn backward_from_a_non_scalar_needs_a_seed_of_its_shape() {
    let mut g = Graph::<f64>::new();
    let x = g.leaf(Tensor::ones(&[2, 3]));
    let y = g.exp(x).unwrap();
    let err = g.backward(y).unwrap_err();
    assert!(matches!(err, AutogradError::NotScalar { ref shape } if shape == &[2, 3]));
    assert_eq!(
        err.to_string(),
        "backward: the output has shape [2, 3]; backward() needs a single-element output, or use backward_with_seed() with a gradient of that shape"
    );
    let err = g.backward_with_seed(y, Tensor::ones(&[3, 2])).unwrap_err();
    assert_eq!(err.to_string(), "backward: seed gradient has shape [3, 2] but the output has shape [2, 3]");
    let column = g.slice_cols(y, 0, 1).unwrap();
    assert!(g.backward(column).is_err(), "[2, 1] has two elements");
    // One element in any shape is a scalar for backward().
    let total = g.sum(y).unwrap();
    let as_matrix = g.reshape(total, &[1, 1]).unwrap();
    g.backward(as_matrix).unwrap();
    assert_eq!(g.grad(x).unwrap().to_vec(), vec![1f64.exp(); 6]);
}

#[test]
fn values_of_two_graphs_cannot_be_mixed() {
    let mut g = Graph::<f64>::new();
    let mut h = Graph::<f64>::new();
    let a = g.leaf(Tensor::ones(&[2]));
    let b = h.leaf(Tensor::ones(&[2]));
    let err = g.add(a, b).unwrap_err();
    let AutogradError::ForeignVar { op, var, .. } = &err else { panic!("{err}") };
    assert_eq!((op.as_str(), var.as_str()), ("add", "%0"));
    assert!(err.to_string().contains("values of two graphs cannot be mixed"), "{err}");
    assert!(matches!(g.value(b), Err(AutogradError::ForeignVar { .. })));
    assert!(matches!(g.grad(b), Err(AutogradError::ForeignVar { .. })));
    assert!(matches!(h.to_dot(a), Err(AutogradError::ForeignVar { .. })));
}

#[test]
fn values_from_before_clear_are_stale_but_parameters_live_on() {
    let mut g = Graph::<f64>::new();
    let w = g.param("w", Tensor::scalar(2.0));
    let x = g.input(Tensor::scalar(3.0));
    let y = g.mul(w, x).unwrap();
    g.backward(y).unwrap();
    g.clear();
    for err in [g.tanh(y).unwrap_err(), g.backward(y).unwrap_err(), g.value(x).unwrap_err()] {
        assert!(matches!(err, AutogradError::StaleVar { .. }), "{err}");
        assert!(err.to_string().contains("was recorded before the graph was cleared"), "{err}");
    }
    assert_eq!(g.tanh(y).unwrap_err().to_string().split(':').next(), Some("tanh"));
    // A new node may reuse the index of a stale one; the stale handle is still refused.
    let fresh = g.input(Tensor::scalar(1.0));
    assert_eq!(fresh.index(), x.index());
    assert!(g.value(x).is_err());
    assert_eq!(g.grad(w).unwrap().item(), 3.0);
    assert_eq!(g.value(w).unwrap().item(), 2.0);
}

#[test]
fn reading_a_gradient_that_was_never_computed() {
    let mut g = Graph::<f64>::new();
    let w = g.param("weights", Tensor::scalar(2.0));
    let x = g.input(Tensor::scalar(3.0));
    let err = g.grad(w).unwrap_err();
    assert_eq!(
        err.to_string(),
        "grad: no gradient for parameter 'weights': no backward pass reached it since it was created or its gradient was zeroed"
    );
    let y = g.mul(w, x).unwrap();
    g.set_label(y, "y").unwrap();
    g.backward(y).unwrap();
    let err = g.grad(x).unwrap_err();
    assert_eq!(
        err.to_string(),
        "grad: no gradient for %0: it does not require a gradient (an input or constant, or recorded in no-grad mode)"
    );
    assert!(g.grad_opt(x).unwrap().is_none());
    g.zero_grad();
    assert!(g.grad_opt(w).unwrap().is_none());
    // Interior gradients are available after the pass, labelled values are named.
    assert_eq!(g.grad(y).unwrap().item(), 1.0);
    let z = g.exp(y).unwrap();
    g.set_label(z, "z").unwrap();
    assert!(g.grad(z).unwrap_err().to_string().starts_with("grad: no gradient for 'z' (%2)"));
    let frozen = g.no_grad(|g| g.tanh(w).unwrap());
    let err = g.backward(frozen).unwrap_err();
    assert!(err.to_string().contains("does not depend on any parameter or leaf"), "{err}");
}

#[test]
fn shape_errors_name_the_op_and_both_shapes() {
    let mut g = Graph::<f64>::new();
    let a = g.leaf(Tensor::zeros(&[3, 4]));
    let b = g.leaf(Tensor::zeros(&[5, 2]));
    let v = g.leaf(Tensor::zeros(&[5]));
    let cases = [
        (g.matmul(a, b).unwrap_err(), "matmul: [3, 4] x [5, 2]: inner dimensions 4 != 5"),
        (
            g.add(a, b).unwrap_err(),
            "add: [3, 4] x [5, 2]: cannot broadcast: axis 0 of the result has lengths 3 and 5",
        ),
        (
            g.mul(a, v).unwrap_err(),
            "mul: [3, 4] x [5]: cannot broadcast: axis 1 of the result has lengths 4 and 5",
        ),
        (
            g.sub(v, a).unwrap_err(),
            "sub: [5] x [3, 4]: cannot broadcast: axis 1 of the result has lengths 5 and 4",
        ),
        (
            g.div(b, a).unwrap_err(),
            "div: [5, 2] x [3, 4]: cannot broadcast: axis 0 of the result has lengths 5 and 3",
        ),
        (g.affine(a, b, v).unwrap_err(), "affine: X [3, 4] · W [5, 2] + b [5]: inner dimensions 4 != 5"),
        (g.concat_cols(&[a, b]).unwrap_err(), "concat_cols: [3, 4] x [5, 2]: row counts 3 != 5"),
        (
            g.reshape(a, &[5, 2]).unwrap_err(),
            "reshape: [3, 4] x [5, 2]: 12 elements cannot take a shape of 10",
        ),
        (g.slice_cols(a, 3, 5).unwrap_err(), "slice_cols: columns 3..5 out of range for shape [3, 4]"),
        (g.transpose(v).unwrap_err(), "transpose: expected a matrix, got shape [5]"),
        (g.log_softmax(v).unwrap_err(), "log_softmax_rows: expected a matrix, got shape [5]"),
        (g.mean_axis(a, 2).unwrap_err(), "mean_axis: axis 2 out of range for shape [3, 4]"),
    ];
    for (err, expected) in cases {
        assert_eq!(err.to_string(), expected);
    }
    assert_eq!(g.len(), 3, "failed ops record nothing");
}
