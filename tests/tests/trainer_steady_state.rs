//! A `Trainer` step allocates nothing in the steady state: from the second epoch on, nothing is
//! allocated between one step and the next of the same epoch (the batch buffers, the tape's
//! buffers and the optimizer state are all reused; only evaluation between epochs allocates),
//! with L1 and L2 penalties on.
//!
//! The file runs without libtest's harness (`harness = false`, see tests/Cargo.toml): the global
//! allocation counter sees every thread, and the harness's own thread allocates while the test
//! runs (its bookkeeping of running tests), which once counted 4 allocations in CI.

use backprop_autograd::Graph;
use backprop_data::{Dataset, Targets};
use backprop_nn::{Activation, Loss, Module, mlp};
use backprop_optim::{AdamConfig, OptimizerConfig, SgdConfig};
use backprop_tensor::{Tensor, TensorRng};
use backprop_tests::{CountingAllocator, allocations};
use backprop_train::{Clip, Control, Observer, StepReport, TrainConfig, Trainer};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

/// Counts the allocations between consecutive steps of an epoch, from epoch 2 on; its own
/// bookkeeping is a fixed-size array, so it allocates nothing itself.
struct AllocationsBetweenSteps {
    last: Option<(u64, usize)>,
    counted: usize,
    allocated: usize,
}

impl<F: backprop_tensor::Float, M> Observer<F, M> for AllocationsBetweenSteps {
    fn on_step(&mut self, step: &StepReport) -> Control {
        let now = allocations();
        if let Some((epoch, then)) = self.last
            && epoch == step.epoch
            && epoch >= 2
        {
            self.counted += 1;
            self.allocated += now - then;
        }
        self.last = Some((step.epoch, allocations()));
        Control::Continue
    }
}

fn run(
    loss: Loss,
    optimizer: OptimizerConfig,
    sizes: &[usize],
    activation: Activation,
    clip: Option<Clip>,
) -> usize {
    let mut rng = TensorRng::seed_from_u64(7);
    let (rows, inputs, outputs) = (96, sizes[0], *sizes.last().unwrap());
    let x = Tensor::<f32>::from_shape_fn(&[rows, inputs], |_| rng.normal() as f32);
    let targets = match loss {
        Loss::Mse => Targets::Values(Tensor::from_shape_fn(&[rows, outputs], |_| rng.normal() as f32)),
        _ => {
            let classes = if outputs == 1 { 2 } else { outputs };
            Targets::Classes {
                indices: (0..rows).map(|_| rng.below(classes)).collect(),
                names: (0..classes).map(|c| c.to_string()).collect(),
            }
        }
    };
    let data = Dataset::new(x, targets, (0..inputs).map(|i| format!("x{i}")).collect()).unwrap();
    let mut g = Graph::<f32>::new();
    let mut model = mlp(&mut g, sizes, activation, &mut rng).unwrap();
    let mut optimizer = optimizer.build(model.parameters()).unwrap();
    let config =
        TrainConfig { epochs: 4, batch_size: 16, clip, l1: 1e-4, l2: 1e-3, ..TrainConfig::default() };
    let mut counter = AllocationsBetweenSteps { last: None, counted: 0, allocated: 0 };
    Trainer::new(loss, config)
        .unwrap()
        .fit(&mut g, &mut model, optimizer.as_mut(), &data, None, &mut counter)
        .unwrap();
    assert_eq!(counter.counted, 3 * 5, "steps 2-6 of epochs 2-4 are counted");
    counter.allocated
}

fn trainer_steps_in_the_steady_state_allocate_nothing() {
    let sgd = OptimizerConfig::Sgd(SgdConfig { lr: 0.05, ..SgdConfig::default() });
    let momentum = OptimizerConfig::Sgd(SgdConfig { lr: 0.02, momentum: 0.9, ..SgdConfig::default() });
    let adam = OptimizerConfig::Adam(AdamConfig { lr: 1e-2, ..AdamConfig::default() });
    let cases = [
        (Loss::BceWithLogits, sgd, &[2, 8, 8, 1][..], Activation::Tanh, None),
        (Loss::Hinge, momentum, &[3, 7, 1][..], Activation::Sigmoid, None),
        (Loss::CrossEntropy, adam, &[20, 16, 12, 5][..], Activation::Relu, Some(Clip::Norm(1.0))),
        (Loss::MultiMargin, momentum, &[20, 16, 5][..], Activation::Relu, Some(Clip::Value(0.5))),
        (Loss::Mse, adam, &[6, 10, 4][..], Activation::LEAKY_RELU, None),
    ];
    for (loss, optimizer, sizes, activation, clip) in cases {
        let allocated = run(loss, optimizer, sizes, activation, clip);
        assert_eq!(
            allocated,
            0,
            "{loss} with {} on {sizes:?}: {allocated} allocations in 15 steady steps",
            optimizer.name()
        );
    }
}

fn main() {
    trainer_steps_in_the_steady_state_allocate_nothing();
    println!("trainer_steady_state: trainer_steps_in_the_steady_state_allocate_nothing ... ok");
}
