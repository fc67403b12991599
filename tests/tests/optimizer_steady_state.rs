//! A whole training step (model built by `mlp`, a loss, backward, an optimizer step, `clear`)
//! allocates nothing once the first steps have filled the buffer pools and the optimizer state.
//!
//! The file runs without libtest's harness (`harness = false`, see tests/Cargo.toml): the global
//! allocation counter sees every thread, and the harness's own thread allocates while the test
//! runs (its bookkeeping of running tests), which once counted 4 allocations in CI.

use backprop_autograd::Graph;
use backprop_nn::{Activation, Module, Reduction, bce_with_logits, mlp, mse, softmax_cross_entropy};
use backprop_optim::{Adam, AdamConfig, Optimizer, Sgd, SgdConfig};
use backprop_tensor::{Tensor, TensorRng};
use backprop_tests::{CountingAllocator, steady_state};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

#[derive(Clone, Copy, Debug)]
enum LossKind {
    Logistic,
    CrossEntropy,
    Squared,
}

#[derive(Clone, Copy, Debug)]
enum OptKind {
    Sgd,
    Momentum,
    Adam,
}

/// Builds a model, its optimizer and a batch; returns a closure-free runner of steps and the
/// losses it reports.
fn run(loss: LossKind, opt: OptKind, sizes: &[usize], activation: Activation) -> (f32, f32, usize) {
    let mut rng = TensorRng::seed_from_u64(7);
    let mut g = Graph::<f32>::new();
    let mut model = mlp(&mut g, sizes, activation, &mut rng).unwrap();
    let params = model.parameters();
    let mut optimizer: Box<dyn Optimizer<f32>> = match opt {
        OptKind::Sgd => Box::new(Sgd::new(params, SgdConfig { lr: 0.05, ..SgdConfig::default() }).unwrap()),
        OptKind::Momentum => {
            Box::new(Sgd::new(params, SgdConfig { lr: 0.02, momentum: 0.9, ..SgdConfig::default() }).unwrap())
        }
        OptKind::Adam => {
            Box::new(Adam::new(params, AdamConfig { lr: 1e-2, ..AdamConfig::default() }).unwrap())
        }
    };
    // The wide cases take a batch large enough for products split over threads (2^21
    // multiply-adds and more).
    let batch = if sizes[0] >= 300 { 64 } else { 12 };
    let (inputs, outputs) = (sizes[0], *sizes.last().unwrap());
    let x = Tensor::from_shape_fn(&[batch, inputs], |_| rng.normal() as f32);
    let labels = Tensor::from_shape_fn(&[batch, 1], |_| if rng.uniform() > 0.5 { 1.0 } else { 0.0 });
    let values = Tensor::from_shape_fn(&[batch, outputs], |_| rng.normal() as f32);
    let classes: Vec<usize> = (0..batch).map(|_| rng.below(outputs)).collect();

    let step = || {
        optimizer.zero_grad(&mut g);
        let xv = g.input_copy(&x);
        let out = model.forward(&mut g, xv).unwrap();
        let l = match loss {
            LossKind::Logistic => {
                let y = g.input_copy(&labels);
                bce_with_logits(&mut g, out, y, Reduction::Mean).unwrap()
            }
            LossKind::CrossEntropy => softmax_cross_entropy(&mut g, out, &classes, Reduction::Mean).unwrap(),
            LossKind::Squared => {
                let y = g.input_copy(&values);
                mse(&mut g, out, y, Reduction::Mean).unwrap()
            }
        };
        g.backward(l).unwrap();
        let value = g.value(l).unwrap().item();
        optimizer.step(&mut g).unwrap();
        g.clear();
        value
    };
    steady_state(20, step)
}

fn training_steps_after_the_first_allocate_nothing() {
    let cases = [
        (LossKind::Logistic, OptKind::Sgd, &[2, 8, 8, 1][..], Activation::Tanh),
        (LossKind::CrossEntropy, OptKind::Momentum, &[20, 16, 12, 5][..], Activation::Relu),
        (LossKind::CrossEntropy, OptKind::Adam, &[20, 16, 12, 5][..], Activation::Relu),
        (LossKind::Squared, OptKind::Adam, &[6, 10, 4][..], Activation::LEAKY_RELU),
        (LossKind::Logistic, OptKind::Momentum, &[3, 7, 1][..], Activation::Sigmoid),
        // A weight of 76 800 values (its update runs in parallel chunks) and a 64×300·300×256
        // product (split over threads).
        (LossKind::CrossEntropy, OptKind::Adam, &[300, 256, 10][..], Activation::Relu),
        (LossKind::Squared, OptKind::Momentum, &[300, 256, 4][..], Activation::Tanh),
    ];
    for (loss, opt, sizes, activation) in cases {
        let (first, last, allocations) = run(loss, opt, sizes, activation);
        assert_eq!(
            allocations, 0,
            "{loss:?} + {opt:?} on {sizes:?} ({activation}): 20 steady-state steps allocated {allocations} times"
        );
        assert!(last < first, "{loss:?} + {opt:?}: the loss went down: {first} -> {last}");
    }
}

fn main() {
    training_steps_after_the_first_allocate_nothing();
    println!("optimizer_steady_state: training_steps_after_the_first_allocate_nothing ... ok");
}
