//! A training loop cannot silently keep every step's nodes: `Graph::step` clears the tape after
//! each step, and a loop that forgets `clear` fails after its second step with an error that
//! says what to do.

use backprop_autograd::{AutogradError, Graph, Result, Var};
use backprop_tensor::Tensor;

/// A 2-8-1 tanh network with a mean squared error.
struct Net {
    params: [Var; 4],
    x: Tensor<f64>,
    y: Tensor<f64>,
}

impl Net {
    fn new(g: &mut Graph<f64>) -> Self {
        // Small weights of alternating sign, different in every element.
        let shapes: [(&str, &[usize]); 4] = [("w1", &[2, 8]), ("b1", &[8]), ("w2", &[8, 1]), ("b2", &[1])];
        let params = shapes.map(|(name, shape)| {
            let count: usize = shape.iter().product();
            let values =
                (0..count).map(|i| if i % 2 == 0 { 0.1 } else { -0.1 } * (1.0 + i as f64 / 4.0)).collect();
            g.param(name, Tensor::from_vec(shape, values))
        });
        let x = Tensor::from_rows(&[[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]);
        let y = Tensor::from_vec(&[4, 1], vec![0.0, 1.0, 1.0, 0.0]);
        Net { params, x, y }
    }

    /// Records the forward pass, backpropagates, takes a gradient-descent step; the loss.
    fn train_step(&self, g: &mut Graph<f64>) -> Result<f64> {
        let [w1, b1, w2, b2] = self.params;
        let x = g.input_copy(&self.x);
        let y = g.input_copy(&self.y);
        let z1 = g.affine(x, w1, b1)?;
        let h = g.tanh(z1)?;
        let p = g.affine(h, w2, b2)?;
        let e = g.sub(p, y)?;
        let s = g.square(e)?;
        let loss = g.mean(s)?;
        g.backward(loss)?;
        for w in self.params {
            let (value, grad) = g.param_mut_with_grad(w)?;
            value.try_axpy(-0.1, grad.expect("every parameter reaches the loss"))?;
        }
        g.zero_grad();
        Ok(g.value(loss)?.item())
    }
}

#[test]
fn a_loop_that_forgets_clear_fails_after_its_second_step() {
    let mut g = Graph::<f64>::new();
    let net = Net::new(&mut g);
    net.train_step(&mut g).unwrap();
    net.train_step(&mut g).unwrap();
    assert_eq!(g.len(), 16, "two steps of 8 nodes each");
    let err = net.train_step(&mut g).unwrap_err();
    assert_eq!(err, AutogradError::TapeNotCleared { earlier: 16 });
    assert_eq!(
        err.to_string(),
        "backward: the tape still holds the 16 nodes of earlier steps; call g.clear() after each step, or run each step in g.step(|g| ...), which clears it (g.set_retain_tape(true) keeps them on purpose)"
    );
    // Clearing makes the loop work again.
    g.clear();
    for _ in 0..3 {
        net.train_step(&mut g).unwrap();
        g.clear();
    }
}

#[test]
fn step_clears_the_tape_after_every_step() {
    let mut g = Graph::<f64>::new();
    let net = Net::new(&mut g);
    let first = g.step(|g| net.train_step(g)).unwrap();
    let mut last = first;
    for _ in 0..200 {
        last = g.step(|g| net.train_step(g)).unwrap();
        assert!(g.is_empty(), "the tape is cleared after each step");
    }
    assert!(last < first, "the network learns: {first} -> {last}");
}

#[test]
fn step_clears_the_tape_when_the_step_fails() {
    let mut g = Graph::<f64>::new();
    let w = g.param("w", Tensor::zeros(&[2, 3]));
    let err = g
        .step(|g| {
            let x = g.input(Tensor::zeros(&[4, 5]));
            g.matmul(x, w)
        })
        .unwrap_err();
    assert!(err.to_string().starts_with("matmul"), "{err}");
    assert!(g.is_empty());
    // A step's own error type passes through unchanged.
    let custom: std::result::Result<(), &str> = g.step(|g| {
        g.input(Tensor::zeros(&[1]));
        Err("stop")
    });
    assert_eq!(custom, Err("stop"));
    assert!(g.is_empty());
}

#[test]
fn separate_losses_on_one_tape_build_on_each_other_or_need_a_retained_tape() {
    let mut g = Graph::<f64>::new();
    let w = g.param("w", Tensor::scalar(3.0));
    let square = g.mul(w, w).unwrap();
    g.backward(square).unwrap();
    // Built on the first loss's nodes: allowed however often.
    let cube = g.mul(square, w).unwrap();
    g.backward(cube).unwrap();
    let fourth = g.mul(cube, w).unwrap();
    g.backward(fourth).unwrap();
    // d(w²)/dw + d(w³)/dw + d(w⁴)/dw = 6 + 27 + 108.
    assert_eq!(g.grad(w).unwrap().item(), 141.0);
    // Only parameters and new nodes: one such loss is allowed (a second loss of the step)...
    let double = g.mul_scalar(w, 2.0).unwrap();
    g.backward(double).unwrap();
    assert_eq!(g.grad(w).unwrap().item(), 143.0);
    // ... a second one looks like a third step on an uncleared tape, unless retained.
    let triple = g.mul_scalar(w, 3.0).unwrap();
    assert!(matches!(g.backward(triple), Err(AutogradError::TapeNotCleared { earlier: 4 })));
    assert!(!g.set_retain_tape(true));
    g.backward(triple).unwrap();
    assert_eq!(g.grad(w).unwrap().item(), 146.0);
    // Backward again from a value recorded before the last pass is always allowed.
    assert!(g.set_retain_tape(false));
    g.backward(square).unwrap();
    assert_eq!(g.grad(w).unwrap().item(), 152.0);
}
