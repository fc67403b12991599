//! `backprop train`: resolve the settings, load the data, train with mini-batches, report,
//! save, draw.

use std::path::Path;
use std::time::Instant;

use backprop_autograd::Graph;
use backprop_data::{Batch, BatchTargets, Batches, Dataset, Feature, Standardizer, Targets};
use backprop_nn::model_file::{HEADER_KEY, ModelHeader, header_of};
use backprop_nn::{
    Activation, LayerSpec, Loss, MlpSpec, ModelMeta, Module, Reduction, Sequential, l1_penalty, l2_penalty,
    save_model,
};
use backprop_optim::{Optimizer, OptimizerConfig, SgdConfig, TrainingState, save_checkpoint};
use backprop_tensor::{TensorRng, set_num_threads};
use serde_json::{Value, json};

use crate::args::{Scale, TrainArgs};
use crate::data_source::{Origin, Prepared, csv_data, default_test_fraction, playground_data};
use crate::error::{CliError, Result};
use crate::model::{
    Metrics, TaskKind, class_targets, evaluate, hidden_sizes, io_sizes, load_init_weights, outputs,
    read_init_file, resolve_loss,
};
use crate::plot::{check_parent, check_plot_path};
use crate::report::{EpochRecord, Progress, emit, report_json};
use crate::surface;

/// The element type of training (PyTorch's default).
type F = f32;

/// Sets the thread count of BLAS and the kernels: `n`, or every core.
///
/// # Errors
/// When the thread pools cannot be sized.
pub fn set_threads(n: Option<usize>) -> Result<usize> {
    let n = n.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    set_num_threads(n).map_err(CliError::Runtime)?;
    Ok(n)
}

/// Runs `backprop train`.
///
/// # Errors
/// Bad flags (usage errors), unreadable data, a model that does not fit, divergence, or a
/// file that cannot be written.
pub fn run(args: &TrainArgs) -> Result<()> {
    let playground = args.data.dataset.is_some();
    check_flags(args, playground)?;
    let threads = set_threads(args.threads)?;
    let test_fraction = args.data.test_fraction.unwrap_or(default_test_fraction(playground));
    let seed = args.data.seed;
    let mut data: Prepared<F> = match (args.data.dataset, &args.data.csv) {
        (Some(dataset), _) => {
            let features = args.features.as_ref().map_or(vec![Feature::X1, Feature::X2], |f| f.0.clone());
            playground_data(dataset, args.data.noise.unwrap_or(0.0), &features, seed, test_fraction)?
        }
        (None, Some(path)) => {
            let target = args.data.target.as_deref().expect("checked by check_flags");
            csv_data(path, target, test_fraction, seed)?
        }
        (None, None) => unreachable!("clap requires --dataset or --csv"),
    };
    let raw_train = data.train.clone();
    let raw_test = data.test.clone();

    let init = args.init.as_deref().map(read_init_file).transpose()?;
    let init_header: Option<ModelHeader> = match &init {
        Some(file) if file.metadata().contains_key(HEADER_KEY) => {
            Some(header_of(file, "model").map_err(|e| CliError::from(backprop_nn::NnError::from(e)))?)
        }
        _ => None,
    };

    let task = TaskKind::of(data.train.targets());
    let target_name = match &data.origin {
        Origin::Csv { target, .. } => target.clone(),
        Origin::Playground { .. } => "label".to_string(),
    };
    let loss = match (&args.loss, &init_header) {
        (None, Some(h)) if loss_fits(h.meta.loss, &task) => h.meta.loss,
        _ => resolve_loss(args.loss, &task, &target_name)?,
    };
    let n_outputs = outputs(loss, &task);
    let n_inputs = data.train.num_features();
    let specs = match &init_header {
        Some(h) => file_layers(args, h, args.init.as_deref().expect("a header comes from --init"))?,
        None => {
            let hidden = args.layers.as_ref().map_or_else(|| default_layers(playground), |h| h.0.clone());
            let mut sizes = vec![n_inputs];
            sizes.extend(hidden);
            sizes.push(n_outputs);
            MlpSpec::new(&sizes, args.activation.unwrap_or(default_activation(playground))).layer_specs()?
        }
    };
    if let Some(path) = &args.init {
        check_init_fits(path, &specs, init_header.as_ref(), &data.train, n_outputs, loss)?;
    }

    let scaling = match (args.scale, init_header.as_ref().and_then(|h| h.meta.input_scaling.clone())) {
        (None, Some(stored)) => Some(stored),
        (choice, _) => match choice.unwrap_or(if playground { Scale::None } else { Scale::Standard }) {
            Scale::None => None,
            Scale::Standard => Some(Standardizer::fit(data.train.features())?),
        },
    };
    if let Some(s) = &scaling {
        let standardizer = s;
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
    let optimizer = args.optimizer.unwrap_or(if playground {
        OptimizerConfig::Sgd(SgdConfig::default())
    } else {
        OptimizerConfig::from_name("adam").expect("adam is an optimizer")
    });
    let optimizer = optimizer.with_lr(lr);

    let mut g = Graph::<F>::new();
    let mut model = Sequential::from_specs(&mut g, &specs, &mut TensorRng::seed_from_u64(seed))?;
    if let Some(file) = &init {
        load_init_weights(file, &model, &mut g)?;
    }
    let meta = ModelMeta {
        task: loss.task(),
        loss,
        feature_names: data.train.feature_names().to_vec(),
        class_names: data.train.targets().class_names().map(<[String]>::to_vec).unwrap_or_default(),
        input_scaling: scaling.clone(),
    };
    let settings =
        settings_json(args, &data, &specs, &meta, optimizer, lr, batch_size, test_fraction, threads);
    if !args.json {
        emit(&describe(&data, &specs, &meta, optimizer, lr, batch_size));
    }

    let config = TrainConfig {
        loss,
        lr,
        l1: args.l1,
        l2: args.l2,
        batch_size,
        epochs: args.epochs,
        seed,
        checkpoint: args.checkpoint.as_deref(),
        save: args.save.as_deref(),
        json: args.json,
    };
    let mut optimizer = optimizer.build::<F>(model.parameters())?;
    let start = Instant::now();
    let history = train_loop(&config, &mut g, &mut model, optimizer.as_mut(), &meta, &data)?;
    let seconds = start.elapsed().as_secs_f64();

    if let Some(path) = &args.save {
        save_model(path, &model, &g, &meta)?;
    }
    if let Some(path) = &args.plot {
        let view = surface::View { g: &g, model: &model, meta: &meta };
        surface::draw_run(
            path,
            args.plot_size,
            &view,
            &data.origin,
            &raw_train,
            raw_test.as_ref(),
            &history,
            &title(&data, &specs, &history),
        )?;
    }
    let classification = matches!(task, TaskKind::Classes(_));
    if args.json {
        emit(&report_json(settings, &history, classification, seconds).to_string());
    } else {
        let last = history.last().expect("epoch 0 is always recorded");
        emit(&format!("final {}  ({seconds:.2} s)", last.to_line(args.epochs)));
        if let Some(path) = &args.save {
            emit(&format!("saved the model to {}", path.display()));
        }
        if let Some(path) = &args.plot {
            emit(&format!("wrote the picture to {}", path.display()));
        }
    }
    Ok(())
}

/// Flags that do not go together, and output paths that cannot be written (checked before
/// any training).
fn check_flags(args: &TrainArgs, playground: bool) -> Result<()> {
    if playground {
        if args.data.target.is_some() {
            return Err(CliError::usage("--target names a CSV column; it goes with --csv, not --dataset"));
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
    for path in [&args.save, &args.checkpoint].into_iter().flatten() {
        check_parent(path)?;
    }
    Ok(())
}

fn default_layers(playground: bool) -> Vec<usize> {
    if playground { vec![4, 2] } else { vec![16, 16] }
}

fn default_activation(playground: bool) -> Activation {
    if playground { Activation::Tanh } else { Activation::Relu }
}

/// Whether a stored loss can train on this task.
fn loss_fits(loss: Loss, task: &TaskKind) -> bool {
    match (loss.task(), task) {
        (backprop_nn::Task::Binary, TaskKind::Classes(names)) => names.len() == 2,
        (backprop_nn::Task::MultiClass, TaskKind::Classes(_)) => true,
        (backprop_nn::Task::Regression, TaskKind::Values(_)) => true,
        _ => false,
    }
}

/// The layers of an `--init` model file; `--layers` and `--activation`, when given, must agree.
fn file_layers(args: &TrainArgs, header: &ModelHeader, path: &Path) -> Result<Vec<LayerSpec>> {
    let layers = header.layers.clone();
    let hidden = hidden_sizes(&layers);
    if let Some(asked) = &args.layers
        && asked.0 != hidden
    {
        return Err(CliError::usage(format!(
            "--layers {} differs from the hidden layers of {} ({}); leave --layers out to use the file's",
            join(&asked.0),
            path.display(),
            join(&hidden)
        )));
    }
    if let Some(asked) = args.activation {
        let stored: Vec<Activation> = layers
            .iter()
            .filter_map(|s| if let LayerSpec::Activation(a) = s { Some(*a) } else { None })
            .collect();
        if stored.iter().any(|a| *a != asked) {
            return Err(CliError::usage(format!(
                "--activation {asked} differs from the activations of {} ({}); leave --activation out to use the file's",
                path.display(),
                stored.iter().map(ToString::to_string).collect::<Vec<_>>().join(",")
            )));
        }
    }
    Ok(layers)
}

/// Checks that the `--init` model fits the data: inputs, outputs, and the stored names.
fn check_init_fits(
    path: &Path,
    specs: &[LayerSpec],
    header: Option<&ModelHeader>,
    train: &Dataset<F>,
    n_outputs: usize,
    loss: Loss,
) -> Result<()> {
    let (inputs, outs) = io_sizes(specs);
    if inputs != train.num_features() {
        return Err(CliError::file(
            path,
            format!(
                "the model takes {inputs} inputs but the data has {} features ({})",
                train.num_features(),
                train.feature_names().join(", ")
            ),
        ));
    }
    if outs != n_outputs {
        return Err(CliError::file(
            path,
            format!("the model has {outs} outputs but the loss {loss} on this data needs {n_outputs}"),
        ));
    }
    if let Some(h) = header {
        let names = &h.meta.feature_names;
        if !names.is_empty() && names.as_slice() != train.feature_names() {
            return Err(CliError::file(
                path,
                format!(
                    "the model was trained on features [{}] but the data has [{}]",
                    names.join(", "),
                    train.feature_names().join(", ")
                ),
            ));
        }
        let classes = &h.meta.class_names;
        if let Some(data_classes) = train.targets().class_names()
            && !classes.is_empty()
            && classes.as_slice() != data_classes
        {
            return Err(CliError::file(
                path,
                format!(
                    "the model's classes are [{}] but the data's are [{}]",
                    classes.join(", "),
                    data_classes.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

/// What the training loop needs besides the model and the data.
struct TrainConfig<'a> {
    loss: Loss,
    lr: f64,
    l1: f64,
    l2: f64,
    batch_size: usize,
    epochs: usize,
    seed: u64,
    checkpoint: Option<&'a Path>,
    save: Option<&'a Path>,
    json: bool,
}

/// The loop: epoch 0's record, then each epoch's shuffled mini-batches, its record and its
/// checkpoint. A non-finite loss or gradient stops it with [`CliError::Diverged`].
fn train_loop(
    config: &TrainConfig,
    g: &mut Graph<F>,
    model: &mut Sequential,
    optimizer: &mut dyn Optimizer<F>,
    meta: &ModelMeta,
    data: &Prepared<F>,
) -> Result<Vec<EpochRecord>> {
    let params = model.parameters();
    let weights = model.weights();
    // Another stream than the weights' initialisation, so the first shuffle is independent of it.
    let mut batches = Batches::new(data.train.len(), config.batch_size, config.seed ^ 0x5eed_ba7c_4e5f_0001)?;
    let mut batch = Batch::<F>::new();
    let mut history = Vec::with_capacity(config.epochs + 1);
    let mut step = 0_u64;
    let mut last_checkpoint: Option<usize> = None;
    let progress = Progress::new(config.epochs, config.json);
    let diverged = |epoch: usize, step: u64, what: String, last_checkpoint: Option<usize>| {
        let mut kept = String::new();
        if let (Some(path), Some(e)) = (config.checkpoint, last_checkpoint) {
            kept.push_str(&format!("; the last good checkpoint (epoch {e}) is in {}", path.display()));
        }
        if let Some(path) = config.save {
            kept.push_str(&format!("; {} was not written", path.display()));
        }
        CliError::Diverged { epoch, step, what, suggested: config.lr / 10.0, kept }
    };

    let record = |g: &Graph<F>, model: &Sequential, epoch: usize| -> Result<EpochRecord> {
        let train = evaluate(g, model, config.loss, &data.train)?;
        let test: Option<Metrics> =
            data.test.as_ref().map(|t| evaluate(g, model, config.loss, t)).transpose()?;
        Ok(EpochRecord {
            epoch,
            train_loss: train.loss,
            test_loss: test.map(|m| m.loss),
            train_accuracy: train.accuracy,
            test_accuracy: test.and_then(|m| m.accuracy),
        })
    };
    let first = record(g, model, 0)?;
    if !first.train_loss.is_finite() {
        // Nothing was trained yet, so no learning rate is to blame: the data is.
        return Err(CliError::Runtime(format!(
            "the untrained model's training loss is already {} before any step: the data's values are too large for {} arithmetic; rescale the targets, or the inputs (--scale standard)",
            first.train_loss,
            <F as backprop_tensor::Float>::NAME
        )));
    }
    progress.update(&first);
    history.push(first);
    let save_checkpoint_at = |g: &Graph<F>,
                              model: &Sequential,
                              optimizer: &dyn Optimizer<F>,
                              epoch: usize,
                              step: u64| {
        match config.checkpoint {
            Some(path) => {
                let state = TrainingState { epoch: epoch as u64, step, ..TrainingState::default() };
                save_checkpoint(path, model, g, meta, optimizer, &state).map(|()| Some(epoch))
            }
            None => Ok(None),
        }
    };
    last_checkpoint = save_checkpoint_at(g, model, optimizer, 0, 0)?.or(last_checkpoint);

    for epoch in 1..=config.epochs {
        for rows in batches.next_epoch() {
            step += 1;
            data.train.batch_into(rows, &mut batch)?;
            let targets = match &batch.targets {
                BatchTargets::Classes(classes) => class_targets(config.loss, classes),
                BatchTargets::Values(values) => values.clone(),
            };
            optimizer.zero_grad(g);
            let x = g.input_copy(&batch.features);
            let y = g.input(targets);
            let output = model.forward(g, x)?;
            if let Some(bad) = g.value(output)?.as_slice().iter().find(|v| !v.is_finite()) {
                progress.finish();
                return Err(diverged(
                    epoch,
                    step,
                    format!("the model's output holds {bad}"),
                    last_checkpoint,
                ));
            }
            let data_loss = config.loss.compute(g, output, y, Reduction::Mean)?;
            let value = g.value(data_loss)?.item();
            if !value.is_finite() {
                progress.finish();
                return Err(diverged(epoch, step, format!("the training loss is {value}"), last_checkpoint));
            }
            let mut total = data_loss;
            if config.l1 > 0.0 {
                let penalty = l1_penalty(g, &weights, config.l1)?;
                total = g.add(total, penalty)?;
            }
            if config.l2 > 0.0 {
                let penalty = l2_penalty(g, &weights, config.l2)?;
                total = g.add(total, penalty)?;
            }
            g.backward(total)?;
            for (name, p) in &params {
                if let Some(grad) = g.grad_opt(*p)?
                    && let Some(bad) = grad.as_slice().iter().find(|v| !v.is_finite())
                {
                    progress.finish();
                    return Err(diverged(
                        epoch,
                        step,
                        format!("the gradient of {name} holds {bad}"),
                        last_checkpoint,
                    ));
                }
            }
            optimizer.step(g)?;
            g.clear();
        }
        let rec = record(g, model, epoch)?;
        if !rec.train_loss.is_finite() || rec.test_loss.is_some_and(|v| !v.is_finite()) {
            progress.finish();
            return Err(diverged(
                epoch,
                step,
                format!("the training loss is {} after the epoch", rec.train_loss),
                last_checkpoint,
            ));
        }
        progress.update(&rec);
        history.push(rec);
        last_checkpoint = save_checkpoint_at(g, model, optimizer, epoch, step)?.or(last_checkpoint);
    }
    progress.finish();
    Ok(history)
}

fn join(sizes: &[usize]) -> String {
    sizes.iter().map(ToString::to_string).collect::<Vec<_>>().join(",")
}

/// The layer widths `in → hidden… → out`.
fn widths(specs: &[LayerSpec]) -> Vec<usize> {
    let (inputs, _) = io_sizes(specs);
    let mut w = vec![inputs];
    w.extend(specs.iter().filter_map(|s| match *s {
        LayerSpec::Dense { out_features, .. } => Some(out_features),
        _ => None,
    }));
    w
}

/// The hidden activation of a layer list (the first one), `identity` without hidden layers.
fn activation_name(specs: &[LayerSpec]) -> String {
    specs
        .iter()
        .find_map(|s| if let LayerSpec::Activation(a) = s { Some(a.to_string()) } else { None })
        .unwrap_or_else(|| "identity".into())
}

fn source_name(data: &Prepared<F>) -> String {
    match &data.origin {
        Origin::Playground { dataset, .. } => dataset.name().to_string(),
        Origin::Csv { path, .. } => {
            path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned())
        }
    }
}

/// The first line of a text run: what is trained on what.
fn describe(
    data: &Prepared<F>,
    specs: &[LayerSpec],
    meta: &ModelMeta,
    optimizer: OptimizerConfig,
    lr: f64,
    batch_size: usize,
) -> String {
    let widths = widths(specs).iter().map(ToString::to_string).collect::<Vec<_>>().join("-");
    let test = data.test.as_ref().map_or("no test set".to_string(), |t| format!("{} test rows", t.len()));
    format!(
        "training {widths} ({}, {}) with {} lr {lr} batch {batch_size} on {}: {} training rows, {test}",
        activation_name(specs),
        meta.loss,
        optimizer.name(),
        source_name(data),
        data.train.len()
    )
}

/// The picture's title.
fn title(data: &Prepared<F>, specs: &[LayerSpec], history: &[EpochRecord]) -> String {
    let last = history.last().expect("epoch 0 is always recorded");
    let widths = widths(specs).iter().map(ToString::to_string).collect::<Vec<_>>().join("-");
    let mut t =
        format!("{}: {widths} {} after {} epochs", source_name(data), activation_name(specs), last.epoch);
    match (last.test_accuracy, last.train_accuracy, last.test_loss) {
        (Some(a), _, _) => t.push_str(&format!(", test accuracy {a:.3}")),
        (None, Some(a), _) => t.push_str(&format!(", train accuracy {a:.3}")),
        (None, None, Some(l)) => t.push_str(&format!(", test loss {l:.4}")),
        (None, None, None) => t.push_str(&format!(", train loss {:.4}", last.train_loss)),
    }
    t
}

/// The resolved settings, for `--json`.
#[allow(clippy::too_many_arguments)]
fn settings_json(
    args: &TrainArgs,
    data: &Prepared<F>,
    specs: &[LayerSpec],
    meta: &ModelMeta,
    optimizer: OptimizerConfig,
    lr: f64,
    batch_size: usize,
    test_fraction: f64,
    threads: usize,
) -> Value {
    let path = |p: &Option<std::path::PathBuf>| p.as_ref().map(|p| p.display().to_string());
    let source = match &data.origin {
        Origin::Playground { dataset, .. } => {
            json!({"dataset": dataset.name(), "noise": args.data.noise.unwrap_or(0.0)})
        }
        Origin::Csv { path, target } => json!({"csv": path.display().to_string(), "target": target}),
    };
    json!({
        "command": "train",
        "data": source,
        "features": meta.feature_names,
        "task": meta.task.to_string(),
        "classes": match data.train.targets() { Targets::Classes { names, .. } => json!(names), Targets::Values(_) => Value::Null },
        "train_rows": data.train.len(),
        "test_rows": data.test.as_ref().map(Dataset::len),
        "test_fraction": test_fraction,
        "scale": if meta.input_scaling.is_some() { "standard" } else { "none" },
        "layers": hidden_sizes(specs),
        "sizes": widths(specs),
        "activation": activation_name(specs),
        "loss": meta.loss.name(),
        "optimizer": optimizer,
        "lr": lr,
        "batch_size": batch_size,
        "epochs": args.epochs,
        "l1": args.l1,
        "l2": args.l2,
        "seed": args.data.seed,
        "threads": threads,
        "init": path(&args.init),
        "save": path(&args.save),
        "checkpoint": path(&args.checkpoint),
        "plot": path(&args.plot),
    })
}
