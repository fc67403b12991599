//! Checkpoint, resume, and compare with an uninterrupted run: the weights, optimizer state and
//! random generators must be identical bit for bit.

use std::path::PathBuf;

use backprop_autograd::Graph;
use backprop_nn::{Activation, Loss, MlpSpec, ModelMeta, Module, Reduction, Sequential, save_model};
use backprop_optim::{
    AdamConfig, LrScheduler, Optimizer, OptimizerConfig, SgdConfig, StepLr, clip_grad_norm,
};
use backprop_tensor::{Float, Tensor, TensorRng};
use backprop_train::{TrainingState, load_checkpoint, save_checkpoint};

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("backprop-train-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Three interleaved arcs in the plane, 20 points each, labelled 0, 1, 2.
fn data<F: Float>() -> (Tensor<F>, Vec<f64>) {
    let mut x = Vec::new();
    let mut y = Vec::new();
    for class in 0..3 {
        for i in 0..20 {
            let r = 0.2 + 0.04 * i as f64;
            let a = class as f64 * 2.1 + 0.15 * i as f64;
            x.push(F::from_f64(r * a.cos()));
            x.push(F::from_f64(r * a.sin()));
            y.push(class as f64);
        }
    }
    (Tensor::from_vec(&[60, 2], x), y)
}

/// Everything a training run carries from one epoch to the next.
struct Run<F: Float> {
    g: Graph<F>,
    model: Sequential,
    optimizer: Box<dyn Optimizer<F>>,
    scheduler: StepLr,
    rng: TensorRng,
    epoch: u64,
    step: u64,
}

const BASE_LR: f64 = 0.02;

fn fresh<F: Float>() -> Run<F> {
    let mut g = Graph::<F>::new();
    let mut spec = MlpSpec::new(&[2, 16, 3], Activation::Relu);
    spec.dropout = 0.2;
    let model = spec.build(&mut g, &mut TensorRng::seed_from_u64(11)).unwrap();
    let config = OptimizerConfig::Adam(AdamConfig { lr: BASE_LR, amsgrad: true, ..AdamConfig::default() });
    let optimizer = config.build(model.parameters()).unwrap();
    Run {
        g,
        model,
        optimizer,
        scheduler: StepLr::new(BASE_LR, 2, 0.5).unwrap(),
        rng: TensorRng::seed_from_u64(5),
        epoch: 0,
        step: 0,
    }
}

/// Mini-batches of 8 in a shuffled order, gradient clipping, a step schedule per epoch.
fn train<F: Float>(run: &mut Run<F>, epochs: u64) {
    let (x, y) = data::<F>();
    let params = run.model.parameters();
    for _ in 0..epochs {
        let mut order: Vec<usize> = (0..60).collect();
        run.rng.shuffle(&mut order);
        for batch in order.chunks(8) {
            let xb: Vec<F> = batch.iter().flat_map(|&i| x.as_slice()[2 * i..2 * i + 2].to_vec()).collect();
            let yb: Vec<F> = batch.iter().map(|&i| F::from_f64(y[i])).collect();
            run.optimizer.zero_grad(&mut run.g);
            let xv = run.g.input(Tensor::from_vec(&[batch.len(), 2], xb));
            let yv = run.g.input(Tensor::from_vec(&[batch.len()], yb));
            let logits = run.model.forward(&mut run.g, xv).unwrap();
            let loss = Loss::CrossEntropy.compute(&mut run.g, logits, yv, Reduction::Mean).unwrap();
            run.g.backward(loss).unwrap();
            clip_grad_norm(&mut run.g, &params, 1.0).unwrap();
            run.optimizer.step(&mut run.g).unwrap();
            run.g.clear();
            run.step += 1;
        }
        run.epoch += 1;
        run.optimizer.set_lr(run.scheduler.step());
    }
}

fn meta() -> ModelMeta {
    let mut meta = ModelMeta::new(Loss::CrossEntropy);
    meta.class_names = vec!["a".into(), "b".into(), "c".into()];
    meta
}

fn save<F: Float>(run: &Run<F>, path: &std::path::Path) {
    let mut training =
        TrainingState { epoch: run.epoch, step: run.step, rng: Some(run.rng.state()), ..Default::default() };
    training.extra.insert("scheduler_step".into(), run.scheduler.last_step().into());
    save_checkpoint(path, &run.model, &run.g, &meta(), run.optimizer.as_ref(), &training).unwrap();
}

fn resume<F: Float>(path: &std::path::Path) -> Run<F> {
    let c = load_checkpoint::<F>(path).unwrap();
    assert_eq!(c.meta, meta());
    let mut scheduler = StepLr::new(BASE_LR, 2, 0.5).unwrap();
    scheduler.set_last_step(c.training.extra["scheduler_step"].as_u64().unwrap());
    Run {
        g: c.graph,
        model: c.model,
        optimizer: c.optimizer,
        scheduler,
        rng: TensorRng::from_state(c.training.rng.unwrap()),
        epoch: c.training.epoch,
        step: c.training.step,
    }
}

fn resume_is_bit_identical<F: Float>() {
    let dir = temp_dir(&format!("resume-{}", F::NAME));
    let path = dir.join("run.ckpt.safetensors");

    let mut uninterrupted = fresh::<F>();
    train(&mut uninterrupted, 5);

    let mut first = fresh::<F>();
    train(&mut first, 3);
    save(&first, &path);
    drop(first);
    let mut resumed = resume::<F>(&path);
    assert_eq!((resumed.epoch, resumed.step), (3, 24));
    train(&mut resumed, 2);

    let a = uninterrupted.model.state_dict(&uninterrupted.g).unwrap();
    let b = resumed.model.state_dict(&resumed.g).unwrap();
    for ((na, ta), (nb, tb)) in a.iter().zip(&b) {
        assert_eq!(na, nb);
        let bits = |t: &Tensor<F>| t.as_slice().iter().map(|&v| v.to_f64().to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(ta), bits(tb), "{na} differs after resuming");
    }
    assert_eq!(uninterrupted.optimizer.state(), resumed.optimizer.state());
    assert_eq!(uninterrupted.optimizer.lr(), resumed.optimizer.lr());
    assert_eq!(uninterrupted.rng, resumed.rng);
    assert_eq!(uninterrupted.model.rng_states(), resumed.model.rng_states());
    // And training did something: a different number of epochs gives other weights.
    let mut shorter = fresh::<F>();
    train(&mut shorter, 4);
    assert_ne!(shorter.model.state_dict(&shorter.g).unwrap(), a);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn resuming_from_a_checkpoint_is_bit_identical_f64() {
    resume_is_bit_identical::<f64>();
}

#[test]
fn resuming_from_a_checkpoint_is_bit_identical_f32() {
    resume_is_bit_identical::<f32>();
}

#[test]
fn damaged_or_mismatched_checkpoints_are_explained() {
    let dir = temp_dir("damaged");
    let path = dir.join("run.ckpt.safetensors");
    let mut run = fresh::<f32>();
    train(&mut run, 1);
    save(&run, &path);

    let err = load_checkpoint::<f64>(&path).unwrap_err().to_string();
    assert!(err.ends_with("tensor '0.weight' has dtype F32, expected F64"), "{err}");

    let err = backprop_nn::load_model::<f32>(&path).unwrap_err().to_string();
    assert!(err.contains("unexpected tensor 'optimizer.0.bias.exp_avg'"), "{err}");

    let model_path = dir.join("model.safetensors");
    save_model(&model_path, &run.model, &run.g, &meta()).unwrap();
    let err = load_checkpoint::<f32>(&model_path).unwrap_err().to_string();
    assert!(
        err.ends_with("not a backprop checkpoint file: the safetensors metadata has no 'backprop.checkpoint' entry (it holds tensors [\"0.bias\", \"0.weight\", \"3.bias\", \"3.weight\"])"),
        "{err}"
    );

    let bytes = std::fs::read(&path).unwrap();
    let cut = dir.join("cut.safetensors");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let err = load_checkpoint::<f32>(&cut).unwrap_err().to_string();
    assert!(err.contains("truncated"), "{err}");

    let mut altered = bytes.clone();
    let n = altered.len();
    altered[n - 2] ^= 1;
    std::fs::write(&cut, &altered).unwrap();
    let err = load_checkpoint::<f32>(&cut).unwrap_err().to_string();
    assert!(err.contains("checksum mismatch"), "{err}");

    // An optimizer over parameters that are not the model's cannot be checkpointed with it.
    let mut other = Graph::<f32>::new();
    let stray = other.param("0.weight", Tensor::zeros(&[2, 16]));
    let sgd =
        OptimizerConfig::Sgd(SgdConfig::default()).build::<f32>(vec![("0.weight".into(), stray)]).unwrap();
    let err = save_checkpoint(&path, &run.model, &run.g, &meta(), sgd.as_ref(), &TrainingState::default())
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "save_checkpoint: the optimizer's parameter '0.weight' is not the model's parameter of that name"
    );
    std::fs::remove_dir_all(dir).unwrap();
}
