//! Trains a 784-256-10 ReLU MLP on MNIST (or Fashion-MNIST) IDX files in a folder.
//!
//! ```sh
//! cargo run --release -p backprop-train --example mnist -- FOLDER [EPOCHS]
//! ```
//!
//! FOLDER holds `train-images-idx3-ubyte`, `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte`
//! and `t10k-labels-idx1-ubyte`. Adam at 1e-3, batches of 128, pixels in [0, 1]; after every
//! epoch the test set is evaluated (the training set is not, to keep epochs fast).

use std::error::Error;
use std::time::Instant;

use backprop_autograd::Graph;
use backprop_data::mnist;
use backprop_nn::{Activation, Loss, Module, mlp};
use backprop_optim::{AdamConfig, OptimizerConfig};
use backprop_tensor::TensorRng;
use backprop_train::{Control, DatasetBatches, EpochRecord, Evaluation, OnEpochEnd, TrainConfig, Trainer};

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(folder) = args.first() else {
        eprintln!("usage: mnist FOLDER [EPOCHS]");
        std::process::exit(2);
    };
    let epochs: u64 = args.get(1).map_or(Ok(2), |e| e.parse())?;
    let start = Instant::now();
    let (train, test) = mnist::<f32>(folder)?;
    println!(
        "loaded {} training and {} test images in {:.2} s",
        train.len(),
        test.len(),
        start.elapsed().as_secs_f64()
    );

    let mut g = Graph::<f32>::new();
    let mut model = mlp(&mut g, &[784, 256, 10], Activation::Relu, &mut TensorRng::seed_from_u64(0))?;
    let adam = OptimizerConfig::Adam(AdamConfig { lr: 1e-3, ..AdamConfig::default() });
    let mut optimizer = adam.build(model.parameters())?;
    let config = TrainConfig { epochs, batch_size: 128, ..TrainConfig::default() };
    let mut batches = DatasetBatches::new(&train, config.batch_size, config.shuffle, config.seed)?;
    let mut trainer = Trainer::new(Loss::CrossEntropy, config)?;
    let evaluation = Evaluation { train: None, validation: Some(&test) };
    let mut epoch_start = Instant::now();
    let mut print = OnEpochEnd(|r: &EpochRecord| {
        let seconds = epoch_start.elapsed().as_secs_f64();
        epoch_start = Instant::now();
        let batch_loss = r.batch_loss.map_or("-".to_string(), |l| format!("{l:.4}"));
        if let Some(test) = r.validation {
            let accuracy = test.accuracy.unwrap_or(f64::NAN);
            println!(
                "epoch {:>2}  {seconds:>6.2} s  batch_loss {batch_loss}  test_loss {:.4}  test_accuracy {accuracy:.4}",
                r.epoch, test.loss
            );
        }
        Control::Continue
    });
    trainer.fit_batches(&mut g, &mut model, optimizer.as_mut(), &mut batches, evaluation, &mut print)?;
    Ok(())
}
