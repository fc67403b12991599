//! A training step whose loss takes its targets as [`Targets`] (class indices for cross-entropy
//! and binary cross-entropy, values for squared error) allocates nothing once the first steps
//! have filled the graph's buffer pools.
//!
//! The file runs without libtest's harness (`harness = false`, see tests/Cargo.toml): the global
//! allocation counter sees every thread, and the harness's own thread allocates while the test
//! runs (its bookkeeping of running tests), which once counted 4 allocations in CI.

use backprop_autograd::Graph;
use backprop_nn::{Activation, Loss, Module, Reduction, Targets, mlp};
use backprop_tensor::{Tensor, TensorRng};
use backprop_tests::{CountingAllocator, steady_state};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

/// Runs 3 warm-up steps and 20 counted ones of plain gradient descent (`w ← w − 0.05·∂L/∂w`, in
/// place); returns the first and last losses and the allocations of the counted steps.
fn run(loss: Loss, sizes: &[usize]) -> (f32, f32, usize) {
    let mut rng = TensorRng::seed_from_u64(3);
    let mut g = Graph::<f32>::new();
    let mut model = mlp(&mut g, sizes, Activation::Tanh, &mut rng).unwrap();
    let params = model.parameters();
    let batch = 16;
    let (inputs, outputs) = (sizes[0], *sizes.last().unwrap());
    let x = Tensor::from_shape_fn(&[batch, inputs], |_| rng.normal() as f32);
    let classes: Vec<usize> = (0..batch).map(|_| rng.below(outputs.max(2))).collect();
    let values = Tensor::from_shape_fn(&[batch, outputs], |_| rng.normal() as f32);
    let targets = match loss {
        Loss::Mse => Targets::Values(&values),
        _ => Targets::Classes(&classes),
    };
    let step = || {
        g.zero_grad();
        let xv = g.input_copy(&x);
        let out = model.forward(&mut g, xv).unwrap();
        let l = loss.compute_targets(&mut g, out, targets, Reduction::Mean).unwrap();
        g.backward(l).unwrap();
        let value = g.value(l).unwrap().item();
        for (_, p) in &params {
            let (w, grad) = g.param_mut_with_grad(*p).unwrap();
            w.try_axpy(-0.05, grad.unwrap()).unwrap();
        }
        g.clear();
        value
    };
    steady_state(20, step)
}

fn steps_with_class_and_value_targets_allocate_nothing_after_the_first() {
    for (loss, sizes) in [
        (Loss::CrossEntropy, &[6, 10, 4][..]),
        (Loss::BceWithLogits, &[3, 8, 1][..]),
        (Loss::Hinge, &[3, 8, 1][..]),
        (Loss::Mse, &[5, 9, 2][..]),
    ] {
        let (first, last, allocations) = run(loss, sizes);
        assert_eq!(
            allocations, 0,
            "{loss} on {sizes:?}: 20 steady-state steps allocated {allocations} times"
        );
        assert!(last < first, "{loss}: the loss went down: {first} -> {last}");
    }
}

fn main() {
    steps_with_class_and_value_targets_allocate_nothing_after_the_first();
    println!(
        "targets_steady_state: steps_with_class_and_value_targets_allocate_nothing_after_the_first ... ok"
    );
}
