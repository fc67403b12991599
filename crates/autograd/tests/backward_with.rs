//! `Graph::backward_with`: every parameter is reported once, as soon as its gradient is final
//! (the last layer's before the first layer's backward has run), with the gradient a plain
//! `backward` computes, and an error from the hook stops the pass.

use backprop_autograd::{AutogradError, Graph, Var};
use backprop_tensor::Tensor;

/// A 3-4-2 network with a penalty that reads `w1` again after the forward pass, a parameter
/// the loss does not use and a frozen one: [w1, b1, w2, b2, unused, frozen].
fn network(g: &mut Graph<f64>) -> (Var, [Var; 6]) {
    let init = |shape: &[usize], scale: f64| {
        Tensor::from_shape_fn(shape, |i| ((i.iter().sum::<usize>() * 7 % 5) as f64 - 2.0) * scale)
    };
    let w1 = g.param("w1", init(&[3, 4], 0.3));
    let b1 = g.param("b1", init(&[4], 0.1));
    let w2 = g.param("w2", init(&[4, 2], 0.3));
    let b2 = g.param("b2", init(&[2], 0.1));
    let unused = g.param("unused", init(&[2], 1.0));
    let frozen = g.param("frozen", init(&[2], 1.0));
    g.set_requires_grad(frozen, false).unwrap();
    let x = g.input(Tensor::from_shape_fn(&[5, 3], |i| ((i[0] * 3 + i[1]) % 7) as f64 / 7.0 - 0.5));
    let z1 = g.affine(x, w1, b1).unwrap();
    let h = g.tanh(z1).unwrap();
    let z2 = g.affine(h, w2, b2).unwrap();
    let z2 = g.add(z2, frozen).unwrap();
    let s = g.square(z2).unwrap();
    let data = g.mean(s).unwrap();
    let w1_squared = g.square(w1).unwrap();
    let penalty = g.sum(w1_squared).unwrap();
    let loss = g.add(data, penalty).unwrap();
    (loss, [w1, b1, w2, b2, unused, frozen])
}

#[test]
fn parameters_are_reported_once_as_soon_as_their_gradients_are_final() {
    let mut plain = Graph::<f64>::new();
    let (loss, params) = network(&mut plain);
    // The gradients after one plain pass and after two (they add up).
    let mut expected: Vec<Vec<Option<Vec<f64>>>> = Vec::new();
    for _ in 0..2 {
        plain.backward(loss).unwrap();
        expected.push(params.iter().map(|&p| plain.grad_opt(p).unwrap().map(|t| t.to_vec())).collect());
    }

    let mut g = Graph::<f64>::new();
    let (loss, params) = network(&mut g);
    // Twice: the second pass reuses the scratch lists and reports the accumulated gradients.
    for pass in 1..=2_usize {
        let mut reported = Vec::new();
        g.backward_with(loss, |g, p| {
            let name = g.param_name(p)?.to_string();
            let index = params.iter().position(|&q| q == p).expect("a parameter of the graph");
            let grad = g.grad_opt(p)?.map(|t| t.to_vec());
            assert_eq!(grad, expected[pass - 1][index], "{name}'s gradient when reported (pass {pass})");
            if name == "w2" && pass == 1 {
                // (w1 has its penalty's part already; b1, only used by the first layer, nothing.)
                assert!(g.grad_opt(params[1])?.is_none(), "w2 comes before the first layer's backward");
            }
            reported.push(name);
            Ok::<_, AutogradError>(())
        })
        .unwrap();
        // `frozen` is final once the node that adds it has run; `unused` after everything.
        assert_eq!(reported, ["frozen", "w2", "b2", "w1", "b1", "unused"]);
    }
}

#[test]
fn an_error_from_the_hook_stops_the_pass() {
    let mut g = Graph::<f64>::new();
    let (loss, [_, b1, ..]) = network(&mut g);
    let err = g
        .backward_with(loss, |g, p| {
            if g.param_name(p)? == "w2" { Err(AutogradError::invalid("hook", "stop here")) } else { Ok(()) }
        })
        .unwrap_err();
    assert!(err.to_string().contains("stop here"), "{err}");
    assert!(g.grad_opt(b1).unwrap().is_none(), "the first layer's backward did not run");
}

#[test]
fn a_pass_from_a_parameter_reports_every_parameter() {
    let mut g = Graph::<f64>::new();
    let w = g.param("w", Tensor::scalar(2.0));
    let v = g.param("v", Tensor::scalar(3.0));
    let mut reported = Vec::new();
    g.backward_with(w, |_, p| {
        reported.push(p);
        Ok::<_, AutogradError>(())
    })
    .unwrap();
    assert_eq!(reported, [w, v]);
    assert_eq!(g.grad(w).unwrap().item(), 1.0);
}
