//! Small networks learn what the lecture says they can: XOR with a 2-4-1 tanh MLP, and a
//! triangle-shaped class with one hidden layer of 3 sigmoid neurons.
//!
//! Training here is plain full-batch gradient descent, `w ← w − γ·∂L/∂w`, so that these tests
//! depend on nothing but this crate (the optimizers live in `backprop-optim`).

use backprop_autograd::Graph;
use backprop_nn::{Activation, Dense, Loss, Module, Reduction, Sequential, accuracy, bce_with_logits, mlp};
use backprop_tensor::{Tensor, TensorRng};

/// Runs `epochs` steps of gradient descent on the whole batch; returns the last loss.
fn train(
    g: &mut Graph<f64>,
    model: &mut Sequential,
    x: &Tensor<f64>,
    y: &Tensor<f64>,
    lr: f64,
    epochs: usize,
) -> f64 {
    let params = model.parameters();
    let mut last = f64::NAN;
    for _ in 0..epochs {
        let (xv, yv) = (g.input(x.clone()), g.input(y.clone()));
        let logits = model.forward(g, xv).unwrap();
        let loss = bce_with_logits(g, logits, yv, Reduction::Mean).unwrap();
        last = g.value(loss).unwrap().item();
        g.backward(loss).unwrap();
        for (_, p) in &params {
            let (w, grad) = g.param_mut_with_grad(*p).unwrap();
            w.try_axpy(-lr, grad.unwrap()).unwrap();
        }
        g.zero_grad();
        g.clear();
    }
    last
}

fn classes(model: &Sequential, g: &Graph<f64>, x: &Tensor<f64>) -> Vec<usize> {
    Loss::BceWithLogits.predict_classes(&model.predict(g, x).unwrap()).unwrap()
}

#[test]
fn a_2_4_1_tanh_mlp_solves_xor() {
    let x = Tensor::from_rows(&[[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]);
    let y = Tensor::from_vec(&[4, 1], vec![0.0, 1.0, 1.0, 0.0]);
    let mut g = Graph::<f64>::new();
    let mut model = mlp(&mut g, &[2, 4, 1], Activation::Tanh, &mut TensorRng::seed_from_u64(1)).unwrap();
    let before = classes(&model, &g, &x);
    let loss = train(&mut g, &mut model, &x, &y, 0.5, 2000);
    assert!(loss < 0.01, "loss {loss}");
    assert_eq!(classes(&model, &g, &x), vec![0, 1, 1, 0], "before training: {before:?}");
}

#[test]
fn a_linear_model_cannot_solve_xor() {
    // Logistic regression (no hidden layer): the best it can do is 3 of 4.
    let x = Tensor::from_rows(&[[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]);
    let y = Tensor::from_vec(&[4, 1], vec![0.0, 1.0, 1.0, 0.0]);
    let mut g = Graph::<f64>::new();
    let mut model = mlp(&mut g, &[2, 1], Activation::Tanh, &mut TensorRng::seed_from_u64(1)).unwrap();
    let loss = train(&mut g, &mut model, &x, &y, 0.5, 2000);
    assert!(loss > 0.6, "a linear boundary cannot fit XOR (loss {loss} ≥ ln 2 − ε)");
    let acc = accuracy(&classes(&model, &g, &x), &[0, 1, 1, 0]).unwrap();
    assert!(acc <= 0.75, "accuracy {acc}");
}

/// Points of a 21×21 grid on [0, 1]² (cell centres, so that none lies on an edge), labelled 1 inside the triangle (0.2, 0.2), (0.8, 0.2),
/// (0.5, 0.8), and the three half-planes whose intersection it is, as `a·x + b·y + c > 0`.
fn triangle() -> (Tensor<f64>, Tensor<f64>, [[f64; 3]; 3]) {
    // Bottom edge y > 0.2; left edge and right edge through the apex.
    let edges = [[0.0, 1.0, -0.2], [2.0, -1.0, -0.2], [-2.0, -1.0, 1.8]];
    let inside = |p: [f64; 2]| edges.iter().all(|e| e[0] * p[0] + e[1] * p[1] + e[2] > 0.0);
    let mut points = Vec::new();
    let mut labels = Vec::new();
    for i in 0..21 {
        for j in 0..21 {
            let p = [(i as f64 + 0.5) / 21.0, (j as f64 + 0.5) / 21.0];
            points.extend_from_slice(&p);
            labels.push(if inside(p) { 1.0 } else { 0.0 });
        }
    }
    let n = labels.len();
    (Tensor::from_vec(&[n, 2], points), Tensor::from_vec(&[n, 1], labels), edges)
}

#[test]
fn three_sigmoid_neurons_carve_out_a_triangle_by_hand() {
    // The lecture's construction: each hidden neuron is one half-plane (a steep sigmoid of an
    // edge's equation), and the output neuron is an AND of the three: it fires only when the
    // sum of the hidden activations is close to 3.
    let (x, y, edges) = triangle();
    let steep = 200.0;
    let w1 = Tensor::from_shape_fn(&[2, 3], |i| steep * edges[i[1]][i[0]]);
    let b1 = Tensor::from_vec(&[3], edges.iter().map(|e| steep * e[2]).collect());
    let w2 = Tensor::from_vec(&[3, 1], vec![10.0, 10.0, 10.0]);
    let b2 = Tensor::from_vec(&[1], vec![-25.0]);
    let mut g = Graph::<f64>::new();
    let model = Sequential::new()
        .with(Dense::from_tensors(&mut g, w1, Some(b1)).unwrap())
        .with(Activation::Sigmoid)
        .with(Dense::from_tensors(&mut g, w2, Some(b2)).unwrap());
    let truth: Vec<usize> = y.as_slice().iter().map(|&v| v as usize).collect();
    let inside = truth.iter().filter(|&&c| c == 1).count();
    assert!((60..200).contains(&inside), "{inside} of {} points inside", truth.len());
    let acc = accuracy(&classes(&model, &g, &x), &truth).unwrap();
    assert_eq!(acc, 1.0);
}

#[test]
fn a_sigmoid_mlp_with_3_hidden_neurons_learns_the_triangle() {
    let (x, y, _) = triangle();
    let truth: Vec<usize> = y.as_slice().iter().map(|&v| v as usize).collect();
    let mut g = Graph::<f64>::new();
    let mut model = mlp(&mut g, &[2, 3, 1], Activation::Sigmoid, &mut TensorRng::seed_from_u64(0)).unwrap();
    // Centre the inputs so that sigmoid units start in their steep region.
    let centred = x.add_scalar(-0.5).mul_scalar(4.0);
    let loss = train(&mut g, &mut model, &centred, &y, 2.0, 4000);
    let acc = accuracy(&classes(&model, &g, &centred), &truth).unwrap();
    assert!(acc >= 0.98, "accuracy {acc}, loss {loss}");
}
