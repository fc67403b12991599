//! The Trainer's contract: resuming from its checkpoints is bit-identical, early stopping
//! restores the best weights, observers and the stop flag end a run, schedules advance per
//! epoch or per step, divergence names epoch and step, and the reduction hook sees every step.

use std::path::PathBuf;
use std::sync::atomic::Ordering;

use backprop_autograd::{Graph, Var};
use backprop_data::{Batch, Dataset, Targets};
use backprop_nn::{Activation, Loss, MlpSpec, ModelMeta, Module, Sequential};
use backprop_optim::{AdamConfig, Optimizer, OptimizerConfig, ScheduleConfig, ScheduleKind, SgdConfig};
use backprop_tensor::{Float, Tensor, TensorRng};
use backprop_train::{
    CheckpointWriter, Clip, Control, EarlyStopping, EpochRecord, Evaluation, FromFn, GradientReduction,
    Monitor, Observer, Result, ScheduleStep, Snapshot, StepReport, StopReason, TrainConfig, TrainError,
    Trainer, load_checkpoint,
};

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("backprop-train-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Three interleaved arcs in the plane, `per_class` points each, labelled 0, 1, 2.
fn arcs<F: Float>(per_class: usize, flip: bool) -> Dataset<F> {
    let mut x = Vec::new();
    let mut y = Vec::new();
    for class in 0..3 {
        for i in 0..per_class {
            let r = 0.2 + 0.8 * i as f64 / per_class as f64;
            let a = class as f64 * 2.1 + 3.0 * i as f64 / per_class as f64;
            x.push(F::from_f64(r * a.cos()));
            x.push(F::from_f64(r * a.sin()));
            y.push(if flip { (class + 1) % 3 } else { class });
        }
    }
    let names = vec!["a".into(), "b".into(), "c".into()];
    Dataset::new(
        Tensor::from_vec(&[3 * per_class, 2], x),
        Targets::Classes { indices: y, names },
        vec!["x1".into(), "x2".into()],
    )
    .unwrap()
}

fn model<F: Float>(g: &mut Graph<F>, dropout: f64) -> Sequential {
    let mut spec = MlpSpec::new(&[2, 16, 3], Activation::Relu);
    spec.dropout = dropout;
    spec.build(g, &mut TensorRng::seed_from_u64(11)).unwrap()
}

fn adam<F: Float>(model: &Sequential) -> Box<dyn Optimizer<F>> {
    let config = OptimizerConfig::Adam(AdamConfig { lr: 0.02, amsgrad: true, ..AdamConfig::default() });
    config.build(model.parameters()).unwrap()
}

fn bits<F: Float>(g: &Graph<F>, model: &Sequential) -> Vec<(String, Vec<u64>)> {
    model
        .state_dict(g)
        .unwrap()
        .into_iter()
        .map(|(n, t)| (n, t.as_slice().iter().map(|&v| Float::to_f64(v).to_bits()).collect()))
        .collect()
}

/// Everything the trainer can do at once: dropout, schedule, clipping, L1 and L2.
fn config(epochs: u64) -> TrainConfig {
    TrainConfig {
        epochs,
        batch_size: 8,
        seed: 3,
        l1: 1e-4,
        l2: 1e-3,
        clip: Some(Clip::Norm(1.0)),
        schedule: Some(ScheduleConfig {
            kind: ScheduleKind::Step { step_size: 2, gamma: 0.5 },
            warmup_steps: 1,
        }),
        ..TrainConfig::default()
    }
}

fn resume_is_bit_identical<F: Float>() {
    let dir = temp_dir(&format!("resume-{}", F::NAME));
    let path = dir.join("run.ckpt.safetensors");
    let (train, validation) = (arcs::<F>(20, false), arcs::<F>(5, false));
    let meta = ModelMeta::new(Loss::CrossEntropy);

    let mut g = Graph::<F>::new();
    let mut whole = model(&mut g, 0.2);
    let mut opt = adam::<F>(&whole);
    let mut trainer = Trainer::new(Loss::CrossEntropy, config(5)).unwrap();
    let fit = trainer.fit(&mut g, &mut whole, opt.as_mut(), &train, Some(&validation), &mut ()).unwrap();
    assert_eq!(
        (fit.stop, fit.history.len(), trainer.state().epoch, trainer.state().step),
        (StopReason::Completed, 6, 5, 40)
    );

    let mut g1 = Graph::<F>::new();
    let mut first = model(&mut g1, 0.2);
    let mut opt1 = adam::<F>(&first);
    let mut writer = CheckpointWriter::new(&path, meta.clone());
    let mut t1 = Trainer::new(Loss::CrossEntropy, config(3)).unwrap();
    t1.fit(&mut g1, &mut first, opt1.as_mut(), &train, Some(&validation), &mut writer).unwrap();
    assert_eq!(writer.last_epoch(), Some(3));
    drop((g1, first, opt1));

    let mut c = load_checkpoint::<F>(&path).unwrap();
    assert_eq!((c.training.epoch, c.training.step), (3, 24));
    let mut resumed = Trainer::new(Loss::CrossEntropy, config(5)).unwrap();
    resumed.resume(&c.training).unwrap();
    let fit = resumed
        .fit(&mut c.graph, &mut c.model, c.optimizer.as_mut(), &train, Some(&validation), &mut ())
        .unwrap();
    assert_eq!(fit.history.iter().map(|r| r.epoch).collect::<Vec<_>>(), [3, 4, 5]);

    assert_eq!(bits(&g, &whole), bits(&c.graph, &c.model), "the weights differ after resuming");
    assert_eq!(opt.state(), c.optimizer.state());
    assert_eq!(opt.lr(), c.optimizer.lr());
    assert_eq!(whole.rng_states(), c.model.rng_states());
    assert_eq!(trainer.state(), resumed.state());
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn resuming_a_trainer_from_its_checkpoint_is_bit_identical_f32() {
    resume_is_bit_identical::<f32>();
}

#[test]
fn resuming_a_trainer_from_its_checkpoint_is_bit_identical_f64() {
    resume_is_bit_identical::<f64>();
}

/// Keeps each epoch's record and the weights after it.
#[derive(Default)]
struct Recorder {
    records: Vec<EpochRecord>,
    weights: Vec<Vec<(String, Vec<u64>)>>,
    steps: Vec<StepReport>,
    stop_at_step: Option<u64>,
    stopped: Option<StopReason>,
}

impl<F: Float> Observer<F, Sequential> for Recorder {
    fn on_step(&mut self, step: &StepReport) -> Control {
        self.steps.push(*step);
        if self.stop_at_step == Some(step.step) { Control::Stop } else { Control::Continue }
    }

    fn on_epoch_end(&mut self, run: &Snapshot<'_, F, Sequential>, record: &EpochRecord) -> Result<Control> {
        self.records.push(*record);
        self.weights.push(bits(run.graph, run.model));
        Ok(Control::Continue)
    }

    fn on_stop(&mut self, _run: &Snapshot<'_, F, Sequential>, reason: StopReason) -> Result<()> {
        self.stopped = Some(reason);
        Ok(())
    }
}

#[test]
fn early_stopping_waits_for_patience_and_restores_the_best_weights() {
    // Validation labels are the training labels shifted by one class: the better the model fits
    // the training data, the worse its validation loss gets after a few epochs.
    let (train, validation) = (arcs::<f64>(20, false), arcs::<f64>(20, true));
    let mut g = Graph::<f64>::new();
    let mut net = model(&mut g, 0.0);
    let mut opt = adam::<f64>(&net);
    let early = EarlyStopping { monitor: Monitor::ValidationLoss, patience: 3, ..EarlyStopping::default() };
    let config =
        TrainConfig { epochs: 200, batch_size: 8, early_stopping: Some(early), ..TrainConfig::default() };
    let mut trainer = Trainer::new(Loss::CrossEntropy, config).unwrap();
    let mut recorder = Recorder::default();
    let fit = trainer.fit(&mut g, &mut net, opt.as_mut(), &train, Some(&validation), &mut recorder).unwrap();

    let StopReason::EarlyStopped { best_epoch, best } = fit.stop else {
        panic!("not stopped early: {:?}", fit.stop)
    };
    let losses: Vec<f64> = recorder.records.iter().map(|r| r.validation.unwrap().loss).collect();
    let last = recorder.records.last().unwrap().epoch;
    assert!(last < 200, "ran all epochs");
    assert_eq!(last, best_epoch + 3, "stops after 3 evaluations without improvement");
    let min = losses[1..].iter().copied().fold(f64::INFINITY, f64::min);
    assert_eq!(best, min);
    assert_eq!(losses[best_epoch as usize], best);
    assert_eq!(bits(&g, &net), recorder.weights[best_epoch as usize], "the best epoch's weights are back");
    assert_ne!(recorder.weights[best_epoch as usize], recorder.weights[last as usize]);
    assert_eq!(recorder.stopped, Some(fit.stop));
}

#[test]
fn an_observer_or_the_stop_flag_ends_the_run_after_the_current_step() {
    let train = arcs::<f32>(20, false);
    let mut g = Graph::<f32>::new();
    let mut net = model(&mut g, 0.0);
    let mut opt = adam::<f32>(&net);
    let mut trainer =
        Trainer::new(Loss::CrossEntropy, TrainConfig { epochs: 10, batch_size: 8, ..TrainConfig::default() })
            .unwrap();
    let mut recorder = Recorder { stop_at_step: Some(12), ..Recorder::default() };
    let fit = trainer.fit(&mut g, &mut net, opt.as_mut(), &train, None, &mut recorder).unwrap();
    assert_eq!(fit.stop, StopReason::Requested);
    // 8 steps an epoch: epoch 1 complete, epoch 2 stopped after its 4th step.
    assert_eq!((trainer.state().epoch, trainer.state().step, recorder.steps.len()), (1, 12, 12));
    assert_eq!(recorder.records.iter().map(|r| r.epoch).collect::<Vec<_>>(), [0, 1]);
    assert_eq!(opt.steps(), 12);

    // The flag, set from elsewhere, stops the next fit at its first step; fit continues where
    // the last one stopped (epoch 2, step 13).
    trainer.stop_flag().store(true, Ordering::Relaxed);
    let mut recorder = Recorder::default();
    let fit = trainer.fit(&mut g, &mut net, opt.as_mut(), &train, None, &mut recorder).unwrap();
    assert_eq!(fit.stop, StopReason::Requested);
    assert_eq!(recorder.steps.iter().map(|s| (s.epoch, s.step)).collect::<Vec<_>>(), []);
    assert_eq!(trainer.state().step, 12);
}

#[test]
fn schedules_step_per_epoch_or_per_step() {
    let train = arcs::<f64>(4, false); // 12 rows: 3 batches of 4
    let schedule = ScheduleConfig { kind: ScheduleKind::Exponential { gamma: 0.5 }, warmup_steps: 0 };
    let lrs = |every: ScheduleStep| {
        let mut g = Graph::<f64>::new();
        let mut net = model(&mut g, 0.0);
        let sgd = OptimizerConfig::Sgd(SgdConfig { lr: 0.8, ..SgdConfig::default() });
        let mut opt = sgd.build(net.parameters()).unwrap();
        let config = TrainConfig {
            epochs: 2,
            batch_size: 4,
            schedule: Some(schedule),
            schedule_step: every,
            ..TrainConfig::default()
        };
        let mut recorder = Recorder::default();
        Trainer::new(Loss::CrossEntropy, config)
            .unwrap()
            .fit(&mut g, &mut net, opt.as_mut(), &train, None, &mut recorder)
            .unwrap();
        recorder.steps.iter().map(|s| s.lr).collect::<Vec<_>>()
    };
    assert_eq!(lrs(ScheduleStep::Epoch), [0.8, 0.8, 0.8, 0.4, 0.4, 0.4]);
    assert_eq!(lrs(ScheduleStep::Step), [0.8, 0.4, 0.2, 0.1, 0.05, 0.025]);
}

/// Multiplies every gradient by a factor and counts its calls.
struct Scale {
    factor: f64,
    calls: usize,
    rows: usize,
}

impl<F: Float> GradientReduction<F> for Scale {
    fn reduce(&mut self, g: &mut Graph<F>, params: &[(String, Var)], rows: usize) -> Result<()> {
        self.calls += 1;
        self.rows += rows;
        for (_, p) in params {
            if let Some(grad) = g.param_grad_mut(*p)? {
                grad.as_mut_slice().iter_mut().for_each(|v| *v *= F::from_f64(self.factor));
            }
        }
        Ok(())
    }
}

#[test]
fn the_reduction_hook_sees_every_step_before_the_optimizer() {
    let train = arcs::<f64>(10, false); // 30 rows: batches of 8, 8, 8, 6
    let mut g = Graph::<f64>::new();
    let mut net = model(&mut g, 0.0);
    let before = bits(&g, &net);
    let sgd = OptimizerConfig::Sgd(SgdConfig { lr: 0.5, ..SgdConfig::default() });
    let mut opt = sgd.build(net.parameters()).unwrap();
    let config = TrainConfig { epochs: 3, batch_size: 8, ..TrainConfig::default() };
    let mut trainer = Trainer::new(Loss::CrossEntropy, config).unwrap().with_reduction(Scale {
        factor: 0.0,
        calls: 0,
        rows: 0,
    });
    trainer.fit(&mut g, &mut net, opt.as_mut(), &train, None, &mut ()).unwrap();
    assert_eq!(bits(&g, &net), before, "zeroed gradients leave the weights where they were");
    assert_eq!(trainer.state().step, 12);
}

/// The batches of `data` in row order, `size` rows each (the last one smaller): a source of
/// one's own, as `FromFn` takes them.
fn in_order(data: &Dataset<f32>, size: usize) -> Vec<Result<Batch<f32>>> {
    let rows: Vec<usize> = (0..data.len()).collect();
    rows.chunks(size)
        .map(|chunk| {
            let mut b = Batch::new();
            data.batch_into(chunk, &mut b)?;
            Ok(b)
        })
        .collect()
}

/// Computes only the middle rows of each batch (its first and last left out, as a replica
/// computes its slice of a global batch), in two parts, and leaves the gradients as they are.
struct Middle;

impl<F: Float> GradientReduction<F> for Middle {
    fn reduce(&mut self, _g: &mut Graph<F>, _params: &[(String, Var)], _rows: usize) -> Result<()> {
        Ok(())
    }

    fn part(&self, rows: usize, index: usize) -> Result<Option<std::ops::Range<usize>>> {
        let half = rows / 2;
        Ok(match index {
            0 => Some(1..half),
            1 => Some(half..rows - 1),
            _ => None,
        })
    }
}

#[test]
fn a_reductions_rows_alone_train_the_same_bits_from_the_data_set_and_from_whole_batches() {
    // The data set forms only the rows the reduction computes; a source of whole batches has
    // them copied out. Both must train the same model.
    let train = arcs::<f32>(10, false); // 30 rows: batches of 8, 8, 8, 6
    let config = TrainConfig { epochs: 2, batch_size: 8, shuffle: false, ..TrainConfig::default() };
    let run = |source: Option<&mut dyn backprop_train::BatchSource<f32>>| {
        let mut g = Graph::<f32>::new();
        let mut net = model(&mut g, 0.0);
        let mut opt = adam::<f32>(&net);
        let mut trainer = Trainer::new(Loss::CrossEntropy, config.clone()).unwrap().with_reduction(Middle);
        let fit = match source {
            Some(s) => {
                let eval = Evaluation { train: Some(&train), validation: None };
                trainer.fit_batches(&mut g, &mut net, opt.as_mut(), s, eval, &mut ()).unwrap()
            }
            None => trainer.fit(&mut g, &mut net, opt.as_mut(), &train, None, &mut ()).unwrap(),
        };
        assert!(fit.history.iter().skip(1).all(|r| r.batch_loss.is_some_and(f64::is_finite)));
        (bits(&g, &net), trainer.state().step)
    };
    let mut source = FromFn(|_| in_order(&train, 8));
    let (from_batches, steps) = run(Some(&mut source));
    assert_eq!(steps, 8);
    assert_eq!(run(None), (from_batches.clone(), 8));
    // And the middle rows are not the whole batches: training on all rows differs.
    let mut g = Graph::<f32>::new();
    let mut net = model(&mut g, 0.0);
    let mut opt = adam::<f32>(&net);
    Trainer::new(Loss::CrossEntropy, config.clone())
        .unwrap()
        .fit(&mut g, &mut net, opt.as_mut(), &train, None, &mut ())
        .unwrap();
    assert_ne!(bits(&g, &net), from_batches);
}

#[test]
fn a_source_of_ones_own_gives_the_same_weights_as_the_data_set() {
    let train = arcs::<f32>(10, false);
    let config = TrainConfig { epochs: 3, batch_size: 7, shuffle: false, ..TrainConfig::default() };
    let run = |source: Option<&mut dyn backprop_train::BatchSource<f32>>| {
        let mut g = Graph::<f32>::new();
        let mut net = model(&mut g, 0.0);
        let mut opt = adam::<f32>(&net);
        let mut trainer = Trainer::new(Loss::CrossEntropy, config.clone()).unwrap();
        match source {
            Some(s) => {
                let eval = Evaluation { train: Some(&train), validation: None };
                trainer.fit_batches(&mut g, &mut net, opt.as_mut(), s, eval, &mut ()).unwrap()
            }
            None => trainer.fit(&mut g, &mut net, opt.as_mut(), &train, None, &mut ()).unwrap(),
        };
        bits(&g, &net)
    };
    let mut calls = Vec::new();
    let mut source = FromFn(|epoch: u64| {
        calls.push(epoch);
        in_order(&train, 7)
    });
    assert_eq!(run(Some(&mut source)), run(None));
    let FromFn(_) = source;
    assert_eq!(calls, [0, 1, 2]);
}

#[test]
fn divergence_names_the_epoch_the_step_and_what_was_not_finite() {
    // Regression on targets of 1e30: the first step's loss overflows f32.
    let x = Tensor::<f32>::from_vec(&[4, 1], vec![1.0, 2.0, 3.0, 4.0]);
    let y = Tensor::<f32>::from_vec(&[4, 1], vec![0.0, 1.0, 2.0, 3.0]);
    let data = Dataset::new(x, Targets::Values(y), vec!["x".into()]).unwrap();
    let mut g = Graph::<f32>::new();
    let mut net = MlpSpec::new(&[1, 4, 1], Activation::Identity)
        .build(&mut g, &mut TensorRng::seed_from_u64(0))
        .unwrap();
    let sgd = OptimizerConfig::Sgd(SgdConfig { lr: 1e18, ..SgdConfig::default() });
    let mut opt = sgd.build(net.parameters()).unwrap();
    let config = TrainConfig { epochs: 5, batch_size: 2, shuffle: false, ..TrainConfig::default() };
    let err = Trainer::new(Loss::Mse, config)
        .unwrap()
        .fit(&mut g, &mut net, opt.as_mut(), &data, None, &mut ())
        .unwrap_err();
    let TrainError::Diverged { epoch, step, what } = &err else { panic!("{err}") };
    assert_eq!((*epoch, *step), (1, 2));
    assert!(
        what.starts_with("the model's output holds") || what.starts_with("the training loss is"),
        "{what}"
    );
    assert!(err.to_string().starts_with("training diverged at epoch 1, step 2: "), "{err}");

    // Targets too large for f32 before any step: nothing is to blame but the data.
    let big = Tensor::<f32>::from_vec(&[4, 1], vec![3e38; 4]);
    let data = Dataset::new(Tensor::from_vec(&[4, 1], vec![1.0; 4]), Targets::Values(big), vec!["x".into()])
        .unwrap();
    let err = Trainer::new(Loss::Mse, TrainConfig::default()).unwrap().fit(
        &mut g,
        &mut net,
        opt.as_mut(),
        &data,
        None,
        &mut (),
    );
    assert!(matches!(err, Err(TrainError::NotFiniteAtStart { loss }) if loss == f64::INFINITY), "{err:?}");
}

#[test]
fn regression_targets_train_without_conversion() {
    // y = 2x + 1 with one linear unit; mean squared error goes to 0.
    let x: Vec<f64> = (0..16).map(|i| i as f64 / 8.0 - 1.0).collect();
    let y: Vec<f64> = x.iter().map(|v| 2.0 * v + 1.0).collect();
    let data = Dataset::new(
        Tensor::from_vec(&[16, 1], x),
        Targets::Values(Tensor::from_vec(&[16, 1], y)),
        vec!["x".into()],
    )
    .unwrap();
    let mut g = Graph::<f64>::new();
    let mut net =
        MlpSpec::new(&[1, 1], Activation::Identity).build(&mut g, &mut TensorRng::seed_from_u64(0)).unwrap();
    let sgd = OptimizerConfig::Sgd(SgdConfig { lr: 0.3, momentum: 0.5, ..SgdConfig::default() });
    let mut opt = sgd.build(net.parameters()).unwrap();
    let config = TrainConfig { epochs: 100, batch_size: 4, ..TrainConfig::default() };
    let fit = Trainer::new(Loss::Mse, config)
        .unwrap()
        .fit(&mut g, &mut net, opt.as_mut(), &data, None, &mut ())
        .unwrap();
    assert!(fit.last().train.unwrap().loss < 1e-12, "{:?}", fit.last());
    assert_eq!(fit.last().train.unwrap().accuracy, None);
    assert!(fit.last().batch_loss.unwrap() < 1e-12);
}
