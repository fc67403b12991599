//! The reference workloads of `shared/bench/torch_reference.py`, one criterion bench each, plus
//! the measurements that explain them.
//!
//! Group `workloads` (read by `cargo xtask bench`, which compares it with PyTorch):
//!
//! - `playground`: MLP 2-8-8-1, tanh, batch 10, logistic loss on logits, SGD lr 0.03.
//! - `mnist-sgd`: 784-512-256-10, ReLU, batch 128, softmax cross-entropy, SGD momentum 0.9, lr 0.01.
//! - `mnist-adam`: the same with Adam lr 1e-3.
//! - `wide-adam`: 1024-2048-2048-1024, ReLU, batch 256, MSE, Adam lr 1e-3.
//! - `infer-b1`, `infer-b1024`: the mnist MLP, forward only, no graph ([`Sequential::predict`]).
//!
//! Each training bench times one whole step as the PyTorch script does: zero_grad, forward, loss,
//! backward, optimizer step (and `g.clear()`, which ends a step here), in `f32`, on random data
//! drawn from a fixed seed, with the model built by [`mlp`] (PyTorch's default initialisation).
//!
//! Other groups:
//!
//! - `dense`: one 784→512 layer at batch 128, forward (recorded) and forward + backward (of the
//!   sum of its outputs: dW, dX, db).
//! - `step_parts/<workload>`: the forward pass with its loss (recorded), and forward + backward,
//!   so that backward/forward = (fwd+bwd − fwd) / fwd.
//! - `recording`: the playground net's forward on a graph (input copy, two fused dense + tanh
//!   ops, one dense op) against [`Sequential::predict`] (no graph, fresh output tensors): the
//!   difference is what recording costs (per op and op kind on 1×1 values: the `autograd`
//!   bench's `op_overhead`).
//!
//! Threads: `BACKPROP_THREADS` (default 2) is passed once to
//! [`backprop_tensor::set_num_threads`], which sizes OpenBLAS, the kernels' thread team and
//! rayon.
//!
//! `cargo bench -p backprop-benches --bench workloads -- --quick`

use std::hint::black_box;

use backprop_autograd::{Graph, Var};
use backprop_benches::threads;
use backprop_nn::{
    Activation, Module, Reduction, Sequential, bce_with_logits, mlp, mse, softmax_cross_entropy,
};
use backprop_optim::{Adam, AdamConfig, Optimizer, Sgd, SgdConfig};
use backprop_tensor::{Tensor, TensorRng, set_num_threads};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

/// The loss of a workload, with its targets.
enum Targets {
    /// Labels 0/1 for `bce_with_logits`, shape `[batch, 1]`.
    Binary(Tensor<f32>),
    /// Class indices for softmax cross-entropy.
    Classes(Vec<usize>),
    /// Regression targets for MSE, shape `[batch, out]`.
    Values(Tensor<f32>),
}

/// Which optimizer a workload uses.
#[derive(Clone, Copy)]
enum Opt {
    Sgd { lr: f64, momentum: f64 },
    Adam { lr: f64 },
}

/// A training workload, as the PyTorch script defines it.
struct Workload {
    name: &'static str,
    sizes: &'static [usize],
    activation: Activation,
    batch: usize,
    opt: Opt,
}

const PLAYGROUND: Workload = Workload {
    name: "playground",
    sizes: &[2, 8, 8, 1],
    activation: Activation::Tanh,
    batch: 10,
    opt: Opt::Sgd { lr: 0.03, momentum: 0.0 },
};
const MNIST_SGD: Workload = Workload {
    name: "mnist-sgd",
    sizes: &[784, 512, 256, 10],
    activation: Activation::Relu,
    batch: 128,
    opt: Opt::Sgd { lr: 0.01, momentum: 0.9 },
};
const MNIST_ADAM: Workload = Workload {
    name: "mnist-adam",
    sizes: &[784, 512, 256, 10],
    activation: Activation::Relu,
    batch: 128,
    opt: Opt::Adam { lr: 1e-3 },
};
const WIDE_ADAM: Workload = Workload {
    name: "wide-adam",
    sizes: &[1024, 2048, 2048, 1024],
    activation: Activation::Relu,
    batch: 256,
    opt: Opt::Adam { lr: 1e-3 },
};

/// A model, its optimizer and a fixed batch, ready to take steps.
struct Trainer {
    g: Graph<f32>,
    model: Sequential,
    opt: Box<dyn Optimizer<f32>>,
    x: Tensor<f32>,
    targets: Targets,
}

fn randn(shape: &[usize], rng: &mut TensorRng) -> Tensor<f32> {
    Tensor::from_shape_fn(shape, |_| rng.normal() as f32)
}

impl Trainer {
    fn new(w: &Workload) -> Trainer {
        let mut rng = TensorRng::seed_from_u64(0);
        let mut g = Graph::<f32>::new();
        let model = mlp(&mut g, w.sizes, w.activation, &mut rng).expect("valid sizes");
        let (inputs, outputs) = (w.sizes[0], *w.sizes.last().expect("sizes"));
        let x = randn(&[w.batch, inputs], &mut rng);
        let targets = match w.name {
            "playground" => Targets::Binary(Tensor::from_shape_fn(&[w.batch, 1], |_| {
                if rng.uniform() > 0.5 { 1.0 } else { 0.0 }
            })),
            "wide-adam" => Targets::Values(randn(&[w.batch, outputs], &mut rng)),
            _ => Targets::Classes((0..w.batch).map(|_| rng.below(outputs)).collect()),
        };
        let params = model.parameters();
        let opt: Box<dyn Optimizer<f32>> = match w.opt {
            Opt::Sgd { lr, momentum } => Box::new(
                Sgd::new(params, SgdConfig { lr, momentum, ..SgdConfig::default() }).expect("config"),
            ),
            Opt::Adam { lr } => {
                Box::new(Adam::new(params, AdamConfig { lr, ..AdamConfig::default() }).expect("config"))
            }
        };
        Trainer { g, model, opt, x, targets }
    }

    /// A trainer after three steps: the buffer pool and the optimizer state are filled, so the
    /// timed steps are the steady state.
    fn warmed(w: &Workload) -> Trainer {
        let mut t = Trainer::new(w);
        for _ in 0..3 {
            t.step();
        }
        t
    }

    /// Records the forward pass and the loss; returns the loss.
    fn forward_loss(&mut self) -> Var {
        let g = &mut self.g;
        let x = g.input_copy(&self.x);
        let out = self.model.forward(g, x).expect("forward");
        match &self.targets {
            Targets::Binary(y) => {
                let y = g.input_copy(y);
                bce_with_logits(g, out, y, Reduction::Mean).expect("loss")
            }
            Targets::Classes(classes) => {
                softmax_cross_entropy(g, out, classes, Reduction::Mean).expect("loss")
            }
            Targets::Values(y) => {
                let y = g.input_copy(y);
                mse(g, out, y, Reduction::Mean).expect("loss")
            }
        }
    }

    /// One training step: zero_grad, forward, loss, backward, optimizer step, clear.
    fn step(&mut self) {
        self.opt.zero_grad(&mut self.g);
        let loss = self.forward_loss();
        self.g.backward(loss).expect("backward");
        self.opt.step(&mut self.g).expect("step");
        self.g.clear();
    }
}

/// FLOPs of one training step as the reference counts them: 6·batch·Σ in·out.
fn step_flops(w: &Workload) -> u64 {
    6 * w.batch as u64 * w.sizes.windows(2).map(|p| (p[0] * p[1]) as u64).sum::<u64>()
}

fn workloads(c: &mut Criterion) {
    let mut group = c.benchmark_group("workloads");
    for w in [PLAYGROUND, MNIST_SGD, MNIST_ADAM, WIDE_ADAM] {
        group.throughput(Throughput::Elements(step_flops(&w)));
        if w.name == "wide-adam" {
            group.sample_size(10);
        }
        // Built on first use, so that a filtered run (`-- workloads/mnist-adam`, the memory
        // measurement) holds only its own model.
        let mut trainer = None;
        group.bench_function(w.name, |b| {
            let t = trainer.get_or_insert_with(|| Trainer::warmed(&w));
            b.iter(|| t.step())
        });
        group.sample_size(100);
    }
    let mut rng = TensorRng::seed_from_u64(0);
    let mut g = Graph::<f32>::new();
    let model = mlp(&mut g, MNIST_SGD.sizes, Activation::Relu, &mut rng).expect("valid sizes");
    group.throughput(Throughput::Elements(1));
    for (name, batch) in [("infer-b1", 1), ("infer-b1024", 1024)] {
        let x = randn(&[batch, 784], &mut rng);
        group.bench_function(name, |b| b.iter(|| black_box(model.predict(&g, &x).expect("predict"))));
    }
    group.finish();
}

fn dense(c: &mut Criterion) {
    let mut group = c.benchmark_group("dense");
    let (batch, inputs, outputs) = (128, 784, 512);
    let mut rng = TensorRng::seed_from_u64(1);
    let mut g = Graph::<f32>::new();
    let mut layer = backprop_nn::Dense::new(&mut g, inputs, outputs, &mut rng).expect("layer");
    let x = randn(&[batch, inputs], &mut rng);
    // The input as a parameter: it needs a gradient (dX, as for any layer but the first) and is
    // not copied at each iteration.
    let xp = g.param("x", x.clone());
    // A forward pass is 2·batch·in·out FLOPs; forward + backward (dW and dX) three times that.
    let flops = 2 * (batch * inputs * outputs) as u64;
    group.throughput(Throughput::Elements(flops));
    group.bench_function("forward_784x512_b128", |b| {
        b.iter(|| {
            let xv = g.input_copy(&x);
            black_box(layer.forward(&mut g, xv).expect("forward"));
            g.clear();
        })
    });
    group.throughput(Throughput::Elements(3 * flops));
    group.bench_function("forward_backward_784x512_b128", |b| {
        b.iter(|| {
            g.zero_grad();
            let z = layer.forward(&mut g, xp).expect("forward");
            let total = g.sum(z).expect("sum");
            g.backward(total).expect("backward");
            g.clear();
        })
    });
    group.finish();
}

fn step_parts(c: &mut Criterion) {
    let mut group = c.benchmark_group("step_parts");
    for w in [PLAYGROUND, MNIST_SGD, WIDE_ADAM] {
        if w.name == "wide-adam" {
            group.sample_size(10);
        }
        let mut trainer = None;
        group.bench_function(format!("{}/forward", w.name), |b| {
            let t = trainer.get_or_insert_with(|| Trainer::warmed(&w));
            b.iter(|| {
                black_box(t.forward_loss());
                t.g.clear();
            })
        });
        group.bench_function(format!("{}/forward_backward", w.name), |b| {
            let t = trainer.get_or_insert_with(|| Trainer::warmed(&w));
            b.iter(|| {
                t.g.zero_grad();
                let loss = t.forward_loss();
                t.g.backward(loss).expect("backward");
                t.g.clear();
            })
        });
        group.sample_size(100);
    }
    group.finish();
}

fn recording(c: &mut Criterion) {
    let mut group = c.benchmark_group("recording");
    let mut rng = TensorRng::seed_from_u64(2);
    let mut g = Graph::<f32>::new();
    let mut model = mlp(&mut g, PLAYGROUND.sizes, Activation::Tanh, &mut rng).expect("valid sizes");
    let x = randn(&[PLAYGROUND.batch, 2], &mut rng);
    group.bench_function("playground_forward_graph", |b| {
        b.iter(|| {
            let xv = g.input_copy(&x);
            black_box(model.forward(&mut g, xv).expect("forward"));
            g.clear();
        })
    });
    group.bench_function("playground_forward_predict", |b| {
        b.iter(|| black_box(model.predict(&g, &x).expect("predict")))
    });
    group.finish();
}

fn configure() -> Criterion {
    let n = threads();
    if let Err(e) = set_num_threads(n) {
        eprintln!("workloads: {e}");
    }
    eprintln!(
        "workloads: {n} threads (BACKPROP_THREADS), BLAS reports {}",
        backprop_tensor::blas_num_threads()
    );
    Criterion::default()
}

criterion_group! {
    name = benches;
    config = configure();
    targets = workloads, dense, step_parts, recording
}
criterion_main!(benches);
