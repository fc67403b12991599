//! `backprop playground`: a TensorFlow Playground URL replayed by the faithful replica
//! (`backprop-playground`), with the page's losses, accuracies and heat map.

use std::time::Instant;

use backprop_playground::heatmap::{DOMAIN, HEATMAP_ALPHA, blend};
use backprop_playground::{EpochRecord as PageRecord, Playground, PlaygroundConfig, Problem, heatmap_color};
use serde_json::json;

use crate::args::PlaygroundArgs;
use crate::error::{CliError, Result};
use crate::plot::{Figure, HeatMap, PlotPoint, check_plot_path, draw};
use crate::report::{EpochRecord, Progress, emit, finish_run};

/// Runs `backprop playground`.
///
/// # Errors
/// A URL field the page could not use (naming it), a run that diverges, or a picture that
/// cannot be written.
pub fn run(args: &PlaygroundArgs) -> Result<()> {
    if let Some(path) = &args.plot {
        check_plot_path(path)?;
    }
    let config = PlaygroundConfig::from_url(&args.url)?;
    let mut run = Playground::new(&config)?;
    if !config.ignored_fields.is_empty() {
        eprintln!(
            "warning: the Playground ignores these URL fields, and so does this run: {}",
            config.ignored_fields.join(", ")
        );
    }
    let classification = config.problem == Problem::Classification;
    if !args.json {
        emit(&format!(
            "playground {} ({}): layers {}, {} activation, learning rate {}, batch {}, seed {}: {} training points, {} test points",
            config.dataset_name(),
            config.problem.name(),
            sizes(&config.layer_sizes()),
            config.activation.name(),
            config.learning_rate,
            config.batch_size,
            run.seed(),
            run.train_points().len(),
            run.test_points().len()
        ));
    }
    let progress = Progress::new(args.epochs, args.json);
    let start = Instant::now();
    let mut history = vec![convert(run.record())];
    progress.update(&history[0]);
    for _ in 0..args.epochs {
        run.step_epoch();
        let record = convert(run.record());
        if !record.train_loss.is_finite() {
            progress.finish();
            return Err(CliError::Runtime(format!(
                "the Playground run diverged at epoch {}: the training loss is {}; try a lower learningRate in the URL (it is {})",
                record.epoch, record.train_loss, config.learning_rate
            )));
        }
        progress.update(&record);
        history.push(record);
    }
    progress.finish();
    let seconds = start.elapsed().as_secs_f64();

    if let Some(path) = &args.plot {
        draw_page(path, args, &run, &history)?;
    }
    let settings = || {
        json!({
            "command": "playground",
            "url_hash": config.to_hash(),
            "seed": run.seed(),
            "problem": config.problem.name(),
            "dataset": config.dataset_name(),
            "activation": config.activation.name(),
            "learning_rate": config.learning_rate,
            "batch_size": config.batch_size,
            "regularization": config.regularization.name(),
            "regularization_rate": config.regularization_rate,
            "noise": config.noise,
            "perc_train_data": config.perc_train_data,
            "features": run.features().iter().map(|f| f.name()).collect::<Vec<_>>(),
            "layer_sizes": config.layer_sizes(),
            "epochs": args.epochs,
            "train_points": run.train_points().len(),
            "test_points": run.test_points().len(),
            "ignored_fields": config.ignored_fields,
        })
    };
    let written = [("wrote the picture to", args.plot.as_deref())];
    finish_run(args.json, settings, &history, classification, seconds, args.epochs, &written, None);
    Ok(())
}

/// The page's record as this command's.
fn convert(r: PageRecord) -> EpochRecord {
    EpochRecord {
        epoch: r.epoch,
        train_loss: r.train_loss,
        test_loss: Some(r.test_loss),
        train_accuracy: r.train_accuracy,
        test_accuracy: r.test_accuracy,
        seconds: None,
    }
}

fn sizes(s: &[usize]) -> String {
    s.iter().map(ToString::to_string).collect::<Vec<_>>().join("-")
}

/// The page's picture: its heat map over [−6, 6]² in its colours (at its alpha over white),
/// the training points (and the test points with `--show-test`), and the loss curves.
fn draw_page(
    path: &std::path::Path,
    args: &PlaygroundArgs,
    run: &Playground,
    history: &[EpochRecord],
) -> Result<()> {
    let config = run.config();
    let colour = |xy: &[[f64; 2]]| -> Result<Vec<[u8; 3]>> {
        Ok(xy
            .iter()
            .map(|p| {
                blend(heatmap_color(run.output_at(p[0], p[1]), config.discretize), HEATMAP_ALPHA, [255; 3])
            })
            .collect())
    };
    let point = |test: bool| {
        move |e: &backprop_playground::Example| PlotPoint {
            xy: [e.x, e.y],
            fill: backprop_playground::color(e.label),
            test,
        }
    };
    let mut points: Vec<PlotPoint> = run.train_points().iter().map(point(false)).collect();
    if args.show_test {
        points.extend(run.test_points().iter().map(point(true)));
    }
    let last = history.last().expect("epoch 0 is always recorded");
    let mut title = format!(
        "Playground {}: {} {} after {} epochs, test loss {:.3}",
        config.dataset_name(),
        sizes(&config.layer_sizes()),
        config.activation.name(),
        last.epoch,
        last.test_loss.unwrap_or(f64::NAN)
    );
    if let Some(a) = last.test_accuracy {
        title.push_str(&format!(", test accuracy {a:.3}"));
    }
    let figure = Figure {
        title,
        heat_map: Some(HeatMap {
            x_range: DOMAIN,
            y_range: DOMAIN,
            x_label: "X1".into(),
            y_label: "X2".into(),
            colour: &colour,
            points,
        }),
        history,
        loss_name: "½(output − label)²".into(),
    };
    draw(path, args.plot_size, &figure)
}
