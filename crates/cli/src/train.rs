//! `backprop train`: resolve the settings, load the data, train with mini-batches, report,
//! save, draw.

use std::time::Instant;

use backprop_autograd::Graph;
use backprop_data::{Feature, Standardizer, Task};
use backprop_nn::{Activation, MlpSpec, ModelMeta, Module, Sequential, save_model};
use backprop_optim::{Optimizer, OptimizerConfig, SgdConfig};
use backprop_tensor::TensorRng;
use backprop_train::{CheckpointWriter, Control, Observer, TrainError, Trainer};

use crate::args::{LossName, Scale, TrainArgs};
use crate::data_source::{Origin, Prepared, csv_data, default_test_fraction, image_data, playground_data};
use crate::error::{CliError, Result, number};
use crate::init::InitModel;
use crate::model::{TaskKind, outputs, resolve_loss};
use crate::outputs::{check_outputs, idx_files};
use crate::plot::check_plot_path;
use crate::report::{EpochRecord, EpochTimer, Progress, Scores, emit, finish_run};
use crate::summary::RunSummary;
use crate::surface;
use crate::{F, set_threads};

/// Runs `backprop train`.
///
/// # Errors
/// Bad flags (usage errors), unreadable data, a model that does not fit, divergence, or a
/// file that cannot be written.
pub fn run(args: &TrainArgs) -> Result<()> {
    let mut session = crate::distributed::Session::start(&args.distributed)?;
    let args = &*session.args(args);
    let playground = args.data.dataset.is_some();
    let images = args.data.images.given();
    check_flags(args, playground, images)?;
    let threads = set_threads(args.threads)?;
    // An explicit --flush-denormal on a processor without the modes gets a word; the default
    // quietly keeps IEEE arithmetic there.
    if args.flushes_denormals() && !backprop_tensor::set_flush_denormal(true) && args.flush_denormal {
        eprintln!(
            "warning: --flush-denormal: this processor cannot flush subnormal numbers; training keeps them"
        );
    }
    let test_fraction = args.data.test_fraction.unwrap_or(default_test_fraction(playground));
    let seed = args.data.seed;
    let mut data: Prepared<F> = match (args.data.dataset, &args.data.csv) {
        _ if images => image_data(&args.data.images, args.data.test_fraction, seed)?,
        (Some(dataset), _) => {
            let features = args.features.as_ref().map_or(vec![Feature::X1, Feature::X2], |f| f.0.clone());
            playground_data(dataset, args.data.noise.unwrap_or(0.0), &features, seed, test_fraction)?
        }
        (None, Some(path)) => {
            let target = args.data.target.as_deref().expect("checked by check_flags");
            let mut data = csv_data(path, target, csv_task(args), test_fraction, seed)?;
            classes_by_loss(args, &mut data)?;
            data
        }
        (None, None) => unreachable!("clap requires --dataset, --csv, --idx or --images"),
    };
    // The decision-boundary picture shows the unscaled points; image pictures need no copy
    // (a second copy of 60 000 images would double the command's memory).
    let raw = (args.plot.is_some() && !images).then(|| (data.train.clone(), data.test.clone()));

    let init = args.init.as_deref().map(InitModel::read).transpose()?;

    let task = TaskKind::of(data.train.targets());
    let target_name = match &data.origin {
        Origin::Csv { target, .. } => target.clone(),
        Origin::Playground { .. } | Origin::Images { .. } => "label".to_string(),
    };
    let loss = match (args.loss, init.as_ref().and_then(|i| i.loss_for(&task))) {
        (None, Some(stored)) => stored,
        (choice, _) => resolve_loss(choice, &task, &target_name)?,
    };
    let n_outputs = outputs(loss, &task);
    let n_inputs = data.train.num_features();
    let specs = match init.as_ref().map(|i| i.layers(args)).transpose()?.flatten() {
        Some(layers) => layers,
        None => {
            let hidden = args.layers.as_ref().map_or_else(|| default_layers(playground), |h| h.0.clone());
            let mut sizes = vec![n_inputs];
            sizes.extend(hidden);
            sizes.push(n_outputs);
            MlpSpec::new(&sizes, args.activation.unwrap_or(default_activation(playground))).layer_specs()?
        }
    };
    if let Some(init) = &init {
        init.check_fits(&specs, &data.train, n_outputs, loss)?;
    }
    check_parameter_count(&specs, args.max_params)?;

    let scaling = match (args.scale, init.as_ref().and_then(InitModel::scaling)) {
        (None, Some(stored)) => Some(stored),
        (choice, _) => {
            match choice.unwrap_or(if playground || images { Scale::None } else { Scale::Standard }) {
                Scale::None => None,
                Scale::Standard => Some(Standardizer::fit(data.train.features())?),
            }
        }
    };
    if let Some(standardizer) = &scaling {
        standardizer.apply_to_dataset(&mut data.train)?;
        if let Some(test) = &mut data.test {
            standardizer.apply_to_dataset(test)?;
        }
    }

    // The default is capped at the training set's size (as scikit-learn's min(200, n)); a size
    // asked for must fit.
    let batch_size = args.batch_size.unwrap_or((if playground { 10 } else { 32 }).min(data.train.len()));
    if batch_size > data.train.len() {
        return Err(CliError::usage(format!(
            "--batch-size {batch_size} is larger than the {} training rows",
            data.train.len()
        )));
    }
    let lr = args.lr.unwrap_or(if playground { 0.03 } else { 0.01 });
    check_rates(&[("--lr", lr), ("--l1", args.l1), ("--l2", args.l2)])?;
    let optimizer = args.optimizer.unwrap_or(if playground {
        OptimizerConfig::Sgd(SgdConfig::default())
    } else {
        OptimizerConfig::from_name("adam").expect("adam is an optimizer")
    });
    let optimizer = optimizer.with_lr(lr);

    let mut g = Graph::<F>::new();
    let mut model = Sequential::from_specs(&mut g, &specs, &mut TensorRng::seed_from_u64(seed))?;
    if let Some(init) = &init {
        init.load_weights(&model, &mut g)?;
    }
    let meta = ModelMeta {
        task: loss.task(),
        loss,
        feature_names: data.train.feature_names().to_vec(),
        class_names: data.train.targets().class_names().map(<[String]>::to_vec).unwrap_or_default(),
        input_scaling: scaling.clone(),
    };
    if let Origin::Csv { task_reason, .. } = &data.origin
        && !args.json
        && args.task.is_none()
    {
        emit(task_reason);
    }
    let summary = RunSummary { data: &data, specs: &specs, meta: &meta, optimizer, lr, batch_size };
    let settings =
        summary.settings_json(args, (!images || data.test.is_none()).then_some(test_fraction), threads);
    if !args.json {
        emit(&summary.describe());
    }

    let config = backprop_train::TrainConfig {
        batch_size,
        epochs: args.epochs as u64,
        seed,
        l1: args.l1,
        l2: args.l2,
        ..backprop_train::TrainConfig::default()
    };
    let mut optimizer = optimizer.build::<F>(model.parameters())?;
    let trainer = session.prepare(Trainer::new(loss, config)?, (&mut g, &model), &summary)?;
    let start = Instant::now();
    let Trained { history, interrupted } =
        train_loop(args, trainer, (&mut g, &mut model, optimizer.as_mut()), &meta, &data)?;
    let seconds = start.elapsed().as_secs_f64();
    session.finish(&g, &model)?;
    let mut settings = settings;
    if let Some((allreduce, line)) = session.allreduce_report() {
        settings["allreduce"] = allreduce;
        if !args.json {
            emit(&line);
        }
    }
    let (set_name, scored) = match &data.test {
        Some(test) => ("test", test),
        None => ("training", &data.train),
    };
    let scores = Scores::of(&g, &model, &meta, scored)?;

    if let Some(path) = &args.save {
        save_model(path, &model, &g, &meta)?;
    }
    if let Some(path) = &args.plot {
        match &raw {
            Some((raw_train, raw_test)) => {
                let view = surface::View { g: &g, model: &model, meta: &meta };
                surface::draw_run(
                    path,
                    args.plot_size,
                    &view,
                    &data.origin,
                    raw_train,
                    raw_test.as_ref(),
                    &history,
                    &summary.title(&history),
                )?;
            }
            None => {
                let view = surface::View { g: &g, model: &model, meta: &meta };
                crate::image_plot::draw_image_run(
                    path,
                    args.plot_size,
                    &view,
                    (set_name, scored),
                    &scores,
                    &history,
                    &summary.title(&history),
                )?;
            }
        }
    }
    let written =
        [("saved the model to", args.save.as_deref()), ("wrote the picture to", args.plot.as_deref())];
    let classification = matches!(task, TaskKind::Classes(_));
    let shown = (set_name, scored.len(), &scores);
    finish_run(args.json, || settings, &history, classification, seconds, args.epochs, &written, Some(shown));
    match interrupted {
        // The outputs above are written whole; the message says which.
        Some(message) => {
            let saved: Vec<String> =
                written.iter().filter_map(|(what, p)| p.map(|p| format!("{what} {}", p.display()))).collect();
            let saved =
                if saved.is_empty() { "nothing else was saved".to_string() } else { saved.join(", ") };
            Err(CliError::Interrupted(format!("{message}; {saved}")))
        }
        None => Ok(()),
    }
}

/// Flags that do not go together, and output paths that cannot be written (checked before
/// any training).
fn check_flags(args: &TrainArgs, playground: bool, images: bool) -> Result<()> {
    if playground || images {
        let flag = if playground { "--dataset" } else { "IDX images" };
        if args.data.target.is_some() {
            return Err(CliError::usage(format!(
                "--target names a CSV column; it goes with --csv, not {flag}"
            )));
        }
        if images && args.features.is_some() {
            return Err(CliError::usage(
                "--features chooses Playground input features; an image's features are its pixels",
            ));
        }
        if images && args.data.noise.is_some() {
            return Err(CliError::usage(
                "--noise applies to Playground data sets (--dataset), not to IDX images",
            ));
        }
    } else {
        if args.data.target.is_none() {
            return Err(CliError::usage("--csv needs --target COL, the column to predict"));
        }
        if args.features.is_some() {
            return Err(CliError::usage(
                "--features chooses Playground input features; a CSV file's features are its columns",
            ));
        }
        if args.data.noise.is_some() {
            return Err(CliError::usage(
                "--noise applies to Playground data sets (--dataset), not to CSV files",
            ));
        }
    }
    if let Some(path) = &args.plot {
        check_plot_path(path)?;
    }
    let (data, images) = (&args.data, &args.data.images);
    let idx = idx_files(images.idx.as_deref());
    let mut inputs = vec![
        ("--csv", data.csv.as_deref()),
        ("--init", args.init.as_deref()),
        ("--images", images.images.as_deref()),
        ("--labels", images.labels.as_deref()),
        ("--test-images", images.test_images.as_deref()),
        ("--test-labels", images.test_labels.as_deref()),
    ];
    inputs.extend(idx.iter().map(|p| ("--idx", Some(p.as_path()))));
    let outputs = [
        ("--save", args.save.as_deref()),
        ("--checkpoint", args.checkpoint.as_deref()),
        ("--plot", args.plot.as_deref()),
    ];
    check_outputs(&inputs, &outputs)
}

/// What a CSV target holds: `--task`; else classes when `--loss` is a classification loss
/// (log, ce, hinge); else decided from its values (an `mse` that does not fit the decision is
/// then a usage error naming both).
fn csv_task(args: &TrainArgs) -> Task {
    match (args.task, args.loss) {
        (Some(task), _) => task,
        (None, Some(loss)) if loss != LossName::Mse => Task::Classification,
        (None, _) => Task::Auto,
    }
}

/// When `--loss` alone made a CSV target classes ([`csv_task`]): numbers that are not integers
/// (`2.5`) are no class labels, so such a target is refused, naming one; otherwise the reason
/// printed says that the loss decided.
///
/// # Errors
/// A usage error for a target of numbers that are not all integers.
fn classes_by_loss(args: &TrainArgs, data: &mut Prepared<F>) -> Result<()> {
    let (None, Some(loss)) = (args.task, args.loss) else { return Ok(()) };
    let Origin::Csv { target, task_reason, .. } = &mut data.origin else { return Ok(()) };
    let names = data.train.targets().class_names().unwrap_or_default();
    let numbers: Option<Vec<f64>> = names.iter().map(|n| n.parse::<f64>().ok()).collect();
    if let Some(values) = numbers
        && let Some(bad) = values.iter().find(|v| !v.is_finite() || v.fract() != 0.0)
    {
        return Err(CliError::usage(format!(
            "--loss {} needs class labels, but the target '{target}' holds numbers that are not integers (such as {bad}); use --loss mse to fit numbers, or --task classification to make every value a class",
            loss.name()
        )));
    }
    *task_reason = format!(
        "treating '{target}' as {} classes, as --loss {} asks; --task regression --loss mse to fit numbers",
        names.len(),
        loss.name()
    );
    Ok(())
}

/// What to change after a divergence. A penalty λ with learning rate η scales each step's
/// weight decay by η·λ: above 1 the step overshoots zero and grows the weights, whatever the
/// data, so the regularisation rate is to blame; otherwise the learning rate is.
fn remedy(args: &TrainArgs, lr: f64) -> String {
    let (flag, penalty) = if args.l2 >= args.l1 { ("--l2", args.l2) } else { ("--l1", args.l1) };
    if penalty * lr > 1.0 {
        format!(
            "the regularisation rate is too large for the learning rate ({flag} {} × --lr {} = {} > 1); try a lower regularisation rate, e.g. {flag} {}",
            number(penalty),
            number(lr),
            number(penalty * lr),
            number(a_tenth(penalty))
        )
    } else {
        format!("try a lower learning rate, e.g. --lr {}", number(a_tenth(lr)))
    }
}

/// A tenth of `v`, rounded to 6 significant digits (`1e29`, not `1.0000000000000001e29`).
fn a_tenth(v: f64) -> f64 {
    format!("{:.5e}", v / 10.0).parse().unwrap_or(v / 10.0)
}

/// Refuses a network with more weights and biases than `--max-params`, counted from the layer
/// sizes before anything is allocated (a `--layers 1000000,1000000` would otherwise abort).
///
/// # Errors
/// A usage error with the count and the cap.
fn check_parameter_count(specs: &[backprop_nn::LayerSpec], cap: u64) -> Result<()> {
    let count = specs.iter().fold(0_u128, |n, spec| match *spec {
        backprop_nn::LayerSpec::Dense { in_features, out_features, bias } => {
            n + in_features as u128 * out_features as u128 + if bias { out_features as u128 } else { 0 }
        }
        _ => n,
    });
    if count > u128::from(cap) {
        return Err(CliError::usage(format!(
            "the network would have {count} weights and biases, more than the {cap} allowed; pass --max-params {count} to train it anyway (with Adam it needs about {} GB)",
            number((count as f64 * 16.0 / 1e9 * 10.0).ceil() / 10.0)
        )));
    }
    Ok(())
}

/// Refuses rates the training type cannot hold, as `--lr 1e-400` is refused: a positive value
/// below its smallest normal number (0 or a value without precision once converted) or above
/// its largest (infinity).
///
/// # Errors
/// A usage error naming the flag, the value and the range.
fn check_rates(rates: &[(&str, f64)]) -> Result<()> {
    let (tiny, huge) = (f64::from(F::MIN_POSITIVE), f64::from(F::MAX));
    for &(flag, v) in rates {
        if v != 0.0 && !(tiny..=huge).contains(&v) {
            let fate =
                if v < tiny { "rounds to 0 (or loses its precision)" } else { "overflows to infinity" };
            return Err(CliError::usage(format!(
                "{flag} {} {fate} in {}, the training arithmetic; use a value from {} to {}",
                number(v),
                <F as backprop_tensor::Float>::NAME,
                number(F::MIN_POSITIVE),
                number(F::MAX)
            )));
        }
    }
    Ok(())
}

fn default_layers(playground: bool) -> Vec<usize> {
    if playground { vec![4, 2] } else { vec![16, 16] }
}

fn default_activation(playground: bool) -> Activation {
    if playground { Activation::Tanh } else { Activation::Relu }
}

/// What [`train_loop`] gives back: the epochs' records, and the message of an interruption.
struct Trained {
    history: Vec<EpochRecord>,
    interrupted: Option<String>,
}

/// Stops the run after the step during which SIGINT (Ctrl-C) arrived
/// ([`backprop_nn::atomic_file::interrupted`]), remembering that step.
#[derive(Default)]
struct Interrupt {
    at: Option<(u64, u64)>,
}

impl Observer<F, Sequential> for Interrupt {
    fn on_step(&mut self, step: &backprop_train::StepReport) -> Control {
        if self.at.is_none() && backprop_nn::atomic_file::interrupted() {
            self.at = Some((step.epoch, step.step));
        }
        if self.at.is_some() { Control::Stop } else { Control::Continue }
    }
}

/// Trains with the library's [`Trainer`], the progress display and the checkpoint writer as
/// its observers, and turns its errors into the command's messages.
fn train_loop(
    args: &TrainArgs,
    mut trainer: Trainer<F>,
    (g, model, optimizer): (&mut Graph<F>, &mut Sequential, &mut dyn Optimizer<F>),
    meta: &ModelMeta,
    data: &Prepared<F>,
) -> Result<Trained> {
    let mut progress = Progress::new(args.epochs, args.json);
    let mut checkpoints = args.checkpoint.as_deref().map(|path| CheckpointWriter::new(path, meta.clone()));
    let mut timer = EpochTimer::default();
    let mut interrupt = Interrupt::default();
    let mut rank_progress = crate::distributed::rank_progress();
    let result = {
        let mut observers: Vec<&mut dyn Observer<F, Sequential>> = vec![&mut interrupt, &mut progress];
        if let Some(writer) = &mut checkpoints {
            observers.push(writer);
        }
        if let Some(rank) = &mut rank_progress {
            observers.push(rank);
        }
        // Last, so that its clock starts after the other observers' work.
        observers.push(&mut timer);
        trainer.fit(g, model, optimizer, &data.train, data.test.as_ref(), &mut observers)
    };
    progress.finish();
    let last_checkpoint = || match &checkpoints {
        Some(writer) => match writer.last_epoch() {
            Some(e) => format!("the last checkpoint (epoch {e}) is in {}", writer.path().display()),
            None => format!("no checkpoint was written to {} yet", writer.path().display()),
        },
        None => "no --checkpoint was asked for".to_string(),
    };
    match result {
        Ok(fit) => Ok(Trained {
            history: fit
                .history
                .iter()
                .map(|r| EpochRecord { seconds: timer.seconds(r.epoch as usize), ..EpochRecord::from(r) })
                .collect(),
            interrupted: interrupt.at.map(|(epoch, step)| {
                format!(
                    "interrupted: training stopped after epoch {epoch}'s step {step}; {}",
                    last_checkpoint()
                )
            }),
        }),
        Err(TrainError::Diverged { epoch, step, what }) => {
            let mut kept = String::new();
            if let Some(writer) = &checkpoints
                && let Some(e) = writer.last_epoch()
            {
                kept.push_str(&format!(
                    "; the last good checkpoint (epoch {e}) is in {}",
                    writer.path().display()
                ));
            }
            if let Some(path) = &args.save {
                kept.push_str(&format!("; {} was not written", path.display()));
            }
            Err(CliError::Diverged {
                epoch: epoch as usize,
                step,
                what,
                remedy: remedy(args, optimizer.lr()),
                kept,
            })
        }
        Err(TrainError::NotFiniteAtStart { loss }) => Err(CliError::Runtime(format!(
            // Nothing was trained yet, so no learning rate is to blame: the data is.
            "the untrained model's training loss is already {loss} before any step: the data's values are too large for {} arithmetic; rescale the targets, or the inputs (--scale standard)",
            <F as backprop_tensor::Float>::NAME
        ))),
        Err(other) => Err(other.into()),
    }
}
