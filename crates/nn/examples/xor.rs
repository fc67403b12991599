//! Trains a 2-4-1 tanh MLP on XOR with plain gradient descent and prints the loss and the
//! predictions.
//!
//! Run with `cargo run -p backprop-nn --example xor`.

use backprop_autograd::Graph;
use backprop_nn::{Activation, Loss, Module, Reduction, bce_with_logits, mlp};
use backprop_tensor::{Tensor, TensorRng};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let x = Tensor::from_rows(&[[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]);
    let y = Tensor::from_vec(&[4, 1], vec![0.0, 1.0, 1.0, 0.0]);
    let mut g = Graph::<f64>::new();
    let mut model = mlp(&mut g, &[2, 4, 1], Activation::Tanh, &mut TensorRng::seed_from_u64(1))?;
    let params = model.parameters();
    let learning_rate = 0.5;

    for epoch in 0..=2000 {
        let (xv, yv) = (g.input(x.clone()), g.input(y.clone()));
        let logits = model.forward(&mut g, xv)?;
        let loss = bce_with_logits(&mut g, logits, yv, Reduction::Mean)?;
        if epoch % 250 == 0 {
            println!("epoch {epoch:4}  loss {:.6}", g.value(loss)?.item());
        }
        g.backward(loss)?;
        for (_, p) in &params {
            // w ← w − γ·∂L/∂w
            let (w, grad) = g.param_mut_with_grad(*p)?;
            if let Some(grad) = grad {
                w.try_axpy(-learning_rate, grad)?;
            }
        }
        g.zero_grad();
        g.clear();
    }

    let logits = model.predict(&g, &x)?;
    let probabilities = Loss::BceWithLogits.probabilities(&logits)?;
    let classes = Loss::BceWithLogits.predict_classes(&logits)?;
    println!("\n x1 x2 | target | P(1)     | predicted");
    for (i, (row, class)) in x.as_slice().chunks_exact(2).zip(&classes).enumerate() {
        let p1 = probabilities.as_slice()[2 * i + 1];
        println!(" {:.0}  {:.0}  |   {:.0}    | {p1:.6} | {class}", row[0], row[1], y.as_slice()[i]);
    }
    Ok(())
}
