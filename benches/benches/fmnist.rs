//! `fmnist-epoch`: one epoch of the Fashion-MNIST recipe of `shared/bench/torch_fmnist.py`
//! through backprop-train's `Trainer`, timed as that script times it (the epoch's steps only),
//! written to `fmnist.json` in the benches' output folder for `cargo xtask bench`.
//!
//! Recipe: 784-512-256-10 ReLU MLP (PyTorch's default initialisation), pixels / 255, softmax
//! cross-entropy, Adam lr 1e-3, batch 128, shuffled each epoch, `f32`, the 60 000 training
//! images, subnormal numbers flushed to zero as `backprop train` does. The data is Debian's `dataset-fashion-mnist` (`/usr/share/datasets/fashion-mnist`,
//! or `$FASHION_MNIST`); without it the bench says so and writes nothing.
//!
//! `cargo bench -p backprop-benches --bench fmnist` runs `BACKPROP_FMNIST_EPOCHS` epochs
//! (default 1, as `cargo xtask bench` runs the PyTorch script: both then include their first
//! steps' warm-up); with more, the first is reported but not counted, and the median of the
//! others is the result.

use std::path::PathBuf;
use std::time::Instant;

use backprop_autograd::Graph;
use backprop_benches::{threads, write_result};
use backprop_data::{MnistSet, mnist_set};
use backprop_nn::{Activation, Loss, Module, mlp};
use backprop_optim::{AdamConfig, OptimizerConfig};
use backprop_tensor::{TensorRng, set_num_threads};
use backprop_train::{Control, DatasetBatches, EpochRecord, Evaluation, OnEpochEnd, TrainConfig, Trainer};

/// Where Debian's package puts the data set.
const DEFAULT_FOLDER: &str = "/usr/share/datasets/fashion-mnist";

fn main() {
    if !backprop_benches::started_by_cargo_bench("fmnist") {
        return;
    }
    let folder =
        std::env::var_os("FASHION_MNIST").map_or_else(|| PathBuf::from(DEFAULT_FOLDER), PathBuf::from);
    if !folder.join("train-images-idx3-ubyte.gz").is_file()
        && !folder.join("train-images-idx3-ubyte").is_file()
    {
        println!(
            "fmnist-epoch: skipped: no Fashion-MNIST in {} (install Debian's dataset-fashion-mnist, \
             `cargo xtask deps --data`, or set FASHION_MNIST)",
            folder.display()
        );
        return;
    }
    if let Err(why) = run(&folder) {
        eprintln!("fmnist-epoch: {why}");
        std::process::exit(2);
    }
}

fn run(folder: &std::path::Path) -> Result<(), Box<dyn std::error::Error>> {
    let n = threads();
    set_num_threads(n)?;
    // As `backprop train` does by default: subnormal numbers flushed to zero (the PyTorch
    // script keeps its own default, IEEE arithmetic).
    let flushes = backprop_tensor::set_flush_denormal(true);
    let epochs: u64 = match std::env::var("BACKPROP_FMNIST_EPOCHS") {
        Ok(v) => v
            .parse()
            .ok()
            .filter(|&e| e >= 1)
            .ok_or(format!("BACKPROP_FMNIST_EPOCHS = `{v}` is not a positive integer"))?,
        Err(_) => 1,
    };
    let train = mnist_set::<f32>(folder, MnistSet::Train)?;
    let mut g = Graph::<f32>::new();
    let mut model = mlp(&mut g, &[784, 512, 256, 10], Activation::Relu, &mut TensorRng::seed_from_u64(0))?;
    let adam = OptimizerConfig::Adam(AdamConfig { lr: 1e-3, ..AdamConfig::default() });
    let mut optimizer = adam.build(model.parameters())?;
    let config = TrainConfig { epochs, batch_size: 128, ..TrainConfig::default() };
    let mut batches = DatasetBatches::new(&train, config.batch_size, config.shuffle, config.seed)?;
    let mut trainer = Trainer::new(Loss::CrossEntropy, config)?;
    // No evaluation: the epoch's steps only, as the PyTorch script times them.
    let evaluation = Evaluation { train: None, validation: None };
    let mut seconds = Vec::new();
    let mut losses = Vec::new();
    let mut epoch_start = Instant::now();
    let mut timer = OnEpochEnd(|r: &EpochRecord| {
        seconds.push(epoch_start.elapsed().as_secs_f64());
        losses.push(r.batch_loss.unwrap_or(f64::NAN));
        epoch_start = Instant::now();
        Control::Continue
    });
    trainer.fit_batches(&mut g, &mut model, optimizer.as_mut(), &mut batches, evaluation, &mut timer)?;
    for (i, (s, l)) in seconds.iter().zip(&losses).enumerate() {
        let note = if i == 0 && seconds.len() > 1 { " (warm-up, not counted)" } else { "" };
        println!("fmnist-epoch: epoch {} {s:.3} s, batch loss {l:.4}{note}", i + 1);
    }
    let counted = if seconds.len() > 1 { &seconds[1..] } else { &seconds[..] };
    let mut sorted = counted.to_vec();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];
    let json = format!(
        "{{\"workload\": \"fmnist-epoch\", \"threads\": {n}, \"epochs\": {epochs}, \"flush_denormal\": {flushes}, \"seconds_per_epoch\": {median:e}, \"epoch_seconds\": [{}]}}\n",
        seconds.iter().map(|s| format!("{s:e}")).collect::<Vec<_>>().join(", ")
    );
    let path = write_result("fmnist.json", &json)?;
    println!("fmnist-epoch: median {median:.3} s per epoch on {n} threads, written to {}", path.display());
    Ok(())
}
