//! Trains an MLP on a CSV file, prints its metrics and saves the model.
//!
//! ```sh
//! cargo run --release -p backprop-train --example fit_csv -- DATA.csv TARGET [MODEL.safetensors]
//! cargo run --release -p backprop-train --example fit_csv -- ../shared/data/iris.csv species iris.safetensors
//! ```
//!
//! The target column decides the task: text labels are classes (cross-entropy, or binary
//! cross-entropy for two), numbers are regression (mean squared error). Inputs are
//! standardised on the training rows, a quarter of the rows is held out for validation, and
//! training stops early when the validation loss has not improved for 20 epochs, keeping the
//! best weights.

use std::error::Error;
use std::time::Instant;

use backprop_autograd::Graph;
use backprop_data::{CsvOptions, Standardizer, Targets, load_csv, train_test_split};
use backprop_nn::{Activation, Loss, ModelMeta, Module, mlp, save_model};
use backprop_optim::{AdamConfig, OptimizerConfig};
use backprop_tensor::TensorRng;
use backprop_train::{Control, EarlyStopping, EpochRecord, OnEpochEnd, StopReason, TrainConfig, Trainer};

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(path), Some(target)) = (args.first(), args.get(1)) else {
        eprintln!("usage: fit_csv DATA.csv TARGET [MODEL.safetensors]");
        std::process::exit(2);
    };
    let all = load_csv::<f32>(path, &CsvOptions::new(target.as_str()))?;
    let (mut train, mut validation) = train_test_split(&all, 0.25, 0)?;
    let scaler = Standardizer::fit(train.features())?;
    scaler.apply_to_dataset(&mut train)?;
    scaler.apply_to_dataset(&mut validation)?;

    let (loss, outputs) = match train.targets() {
        Targets::Classes { names, .. } if names.len() == 2 => (Loss::BceWithLogits, 1),
        Targets::Classes { names, .. } => (Loss::CrossEntropy, names.len()),
        Targets::Values(v) => (Loss::Mse, v.shape()[1]),
    };
    let mut g = Graph::<f32>::new();
    let mut model = mlp(
        &mut g,
        &[train.num_features(), 16, 16, outputs],
        Activation::Relu,
        &mut TensorRng::seed_from_u64(0),
    )?;
    let adam = OptimizerConfig::Adam(AdamConfig { lr: 0.01, ..AdamConfig::default() });
    let mut optimizer = adam.build(model.parameters())?;

    let config = TrainConfig {
        epochs: 500,
        batch_size: 32.min(train.len()),
        early_stopping: Some(EarlyStopping { patience: 20, ..EarlyStopping::default() }),
        ..TrainConfig::default()
    };
    let start = Instant::now();
    // Every tenth epoch's metrics.
    let mut print = OnEpochEnd(|r: &EpochRecord| {
        if r.epoch.is_multiple_of(10)
            && let (Some(train), Some(val)) = (r.train, r.validation)
        {
            let accuracy = val.accuracy.map_or(String::new(), |a| format!("  val_accuracy {a:.4}"));
            println!("epoch {:>4}  loss {:.5}  val_loss {:.5}{accuracy}", r.epoch, train.loss, val.loss);
        }
        Control::Continue
    });
    let mut trainer = Trainer::new(loss, config)?;
    let fit = trainer.fit(&mut g, &mut model, optimizer.as_mut(), &train, Some(&validation), &mut print)?;
    let seconds = start.elapsed().as_secs_f64();
    let kept = match fit.stop {
        StopReason::EarlyStopped { best_epoch, .. } => best_epoch,
        _ => fit.last().epoch,
    };
    let best = fit.history.iter().find(|r| r.epoch == kept).and_then(|r| r.validation).expect("evaluated");
    println!(
        "{} epochs in {seconds:.2} s; the model holds the weights of epoch {kept}: {best:?}",
        fit.last().epoch
    );

    if let Some(out) = args.get(2) {
        let mut meta = ModelMeta::new(loss);
        meta.feature_names = train.feature_names().to_vec();
        meta.class_names = train.targets().class_names().map(<[String]>::to_vec).unwrap_or_default();
        meta.input_scaling = Some(scaler);
        save_model(out, &model, &g, &meta)?;
        println!("saved {out} (backprop predict --model {out} --csv NEW.csv)");
    }
    Ok(())
}
