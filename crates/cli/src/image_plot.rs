//! The picture of a run on images (`--plot` with `--idx` or `--images`): what a person wants to
//! see instead of a decision boundary. Four panels: the loss curves, the accuracy curves, the
//! confusion matrix as a heat map, and a grid of misclassified images with their true and
//! predicted classes.

use std::path::Path;

use backprop_data::Dataset;
use backprop_tensor::Float;
use plotters::prelude::*;

use crate::args::PlotSize;
use crate::error::Result;
use crate::plot::{Area, FAMILY, draw_curves, draw_picture};
use crate::report::{EpochRecord, Scores};
use crate::surface::View;

/// Misclassified images shown at most (a grid of up to 6 × 4).
const MAX_SHOWN: usize = 24;

/// Draws the picture of a run on images into `path`: `set` is the set scored by `scores` (the
/// test set, or the training set without one), `(name, rows)`.
///
/// # Errors
/// When the model cannot predict the set or the picture cannot be written.
pub fn draw_image_run<F: Float>(
    path: &Path,
    size: PlotSize,
    view: &View<F>,
    (set_name, set): (&str, &Dataset<F>),
    scores: &Scores,
    history: &[EpochRecord],
    title: &str,
) -> Result<()> {
    let truth = set.targets().class_indices().unwrap_or_default();
    let predicted = view.meta.loss.predict_classes(&view.model.predict(view.g, set.features())?)?;
    let names = set.targets().class_names().unwrap_or_default();
    let wrong: Vec<usize> = (0..truth.len()).filter(|&i| truth[i] != predicted[i]).take(MAX_SHOWN).collect();
    draw_picture(path, size, title, |body, plot_err| {
        let panels = body.split_evenly((2, 2));
        let loss_name = format!("loss ({})", view.meta.loss.name());
        let losses = history.iter().flat_map(|r| std::iter::once(r.train_loss).chain(r.test_loss));
        let top = losses.filter(|v| v.is_finite()).fold(0.0_f64, f64::max);
        let top = if top > 0.0 { top * 1.05 } else { 1.0 };
        let of_loss = [|r: &EpochRecord| Some(r.train_loss), |r: &EpochRecord| r.test_loss];
        draw_curves(&panels[0], history, &loss_name, top, of_loss).map_err(|e| plot_err(&e))?;
        let of_accuracy = [|r: &EpochRecord| r.train_accuracy, |r: &EpochRecord| r.test_accuracy];
        draw_curves(&panels[1], history, "accuracy", 1.0, of_accuracy).map_err(|e| plot_err(&e))?;
        if let Scores::Classes(report) = scores {
            draw_confusion(&panels[2], &report.confusion, names, set_name).map_err(|e| plot_err(&e))?;
        }
        let images = Shown { set, indices: &wrong, truth, predicted: &predicted, names };
        draw_misclassified(&panels[3], &images, set_name).map_err(|e| plot_err(&e))
    })
}

/// A font size for a panel of width `w` and height `h`.
fn font_size(w: u32, h: u32) -> f64 {
    (f64::from(w.min(h)) / 28.0).clamp(10.0, 22.0)
}

/// The confusion matrix as a heat map: white for 0 to dark blue for a row's whole support
/// (each row scaled by its own count, so that rare classes show their errors as clearly as
/// common ones), with the counts written in the cells.
fn draw_confusion(
    area: &Area<'_>,
    confusion: &[Vec<usize>],
    names: &[String],
    set_name: &str,
) -> std::result::Result<(), String> {
    let err = |e: &dyn std::fmt::Display| e.to_string();
    let (w, h) = area.dim_in_pixel();
    let font = font_size(w, h);
    let k = confusion.len().max(1);
    let label = (font * 2.6) as i32;
    let caption = (font * 1.8) as i32;
    let cell = ((w as i32 - label - 10).min(h as i32 - label - caption - 10) / k as i32).max(1);
    let (x0, y0) = (label + (w as i32 - label - cell * k as i32) / 2, caption + 4);
    let text = |size: f64, colour: RGBColor| (FAMILY, size).into_font().color(&colour);
    let centred = |size: f64, colour: RGBColor| {
        text(size, colour).pos(plotters::style::text_anchor::Pos::new(
            plotters::style::text_anchor::HPos::Center,
            plotters::style::text_anchor::VPos::Center,
        ))
    };
    area.draw_text(
        &format!("confusion matrix, {set_name} set (rows true, columns predicted)"),
        &text(font, BLACK),
        (6, 2),
    )
    .map_err(|e| err(&e))?;
    let cell_font = (f64::from(cell as u32) / 3.2).clamp(7.0, font);
    for (t, row) in confusion.iter().enumerate() {
        let support = row.iter().sum::<usize>().max(1) as f64;
        for (p, &count) in row.iter().enumerate() {
            let share = count as f64 / support;
            let shade = |full: f64| (255.0 - share * (255.0 - full)) as u8;
            let colour = RGBColor(shade(8.0), shade(48.0), shade(107.0));
            let (x, y) = (x0 + p as i32 * cell, y0 + t as i32 * cell);
            area.draw(&Rectangle::new([(x, y), (x + cell, y + cell)], colour.filled()))
                .map_err(|e| err(&e))?;
            let ink = if share > 0.5 { WHITE } else { BLACK };
            area.draw_text(&count.to_string(), &centred(cell_font, ink), (x + cell / 2, y + cell / 2))
                .map_err(|e| err(&e))?;
        }
        let name = names.get(t).map_or("?", String::as_str);
        area.draw_text(name, &centred(font, BLACK), (x0 - label / 2, y0 + t as i32 * cell + cell / 2))
            .map_err(|e| err(&e))?;
        area.draw_text(
            name,
            &centred(font, BLACK),
            (x0 + t as i32 * cell + cell / 2, y0 + k as i32 * cell + label / 3),
        )
        .map_err(|e| err(&e))?;
    }
    Ok(())
}

/// The misclassified images to show.
struct Shown<'a, F: Float> {
    set: &'a Dataset<F>,
    indices: &'a [usize],
    truth: &'a [usize],
    predicted: &'a [usize],
    names: &'a [String],
}

/// The misclassified images in a grid, each in grey (its own range, dark on white, so that
/// scaled inputs show as well as raw pixels) with `true → predicted` under it. Images are
/// square (`side²` pixels); others are drawn as one row of pixels per image.
fn draw_misclassified<F: Float>(
    area: &Area<'_>,
    shown: &Shown<'_, F>,
    set_name: &str,
) -> std::result::Result<(), String> {
    let err = |e: &dyn std::fmt::Display| e.to_string();
    let (w, h) = area.dim_in_pixel();
    let font = font_size(w, h);
    let caption = (font * 1.8) as i32;
    let title = format!("misclassified {set_name} images (true → predicted)");
    let title = if shown.indices.is_empty() { format!("no misclassified {set_name} images") } else { title };
    area.draw_text(&title, &(FAMILY, font).into_font().color(&BLACK), (6, 2)).map_err(|e| err(&e))?;
    let pixels = shown.set.num_features();
    let side = (pixels as f64).sqrt().round() as usize;
    let (cols_px, rows_px) = if side * side == pixels { (side, side) } else { (pixels, 1) };
    let (columns, rows) = (6_i32, 4_i32);
    let slot_w = (w as i32 - 8) / columns;
    let slot_h = (h as i32 - caption - 4) / rows;
    let label_h = (font * 1.4) as i32;
    let scale = ((slot_w - 6) / cols_px as i32).min((slot_h - label_h - 4) / rows_px as i32).max(1);
    let features = shown.set.features().as_slice();
    for (n, &i) in shown.indices.iter().enumerate() {
        let (c, r) = (n as i32 % columns, n as i32 / columns);
        let (x, y) = (4 + c * slot_w + (slot_w - scale * cols_px as i32) / 2, caption + 4 + r * slot_h);
        let image = &features[i * pixels..(i + 1) * pixels];
        let (lo, hi) = image.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            let v = Float::to_f64(*v);
            (lo.min(v), hi.max(v))
        });
        let range = if hi > lo { hi - lo } else { 1.0 };
        for (p, v) in image.iter().enumerate() {
            let grey = (255.0 - (Float::to_f64(*v) - lo) / range * 255.0) as u8;
            let (px, py) = (x + (p % cols_px) as i32 * scale, y + (p / cols_px) as i32 * scale);
            let colour = RGBColor(grey, grey, grey);
            area.draw(&Rectangle::new([(px, py), (px + scale, py + scale)], colour.filled()))
                .map_err(|e| err(&e))?;
        }
        let name = |c: usize| shown.names.get(c).map_or_else(|| c.to_string(), Clone::clone);
        let label = format!("{} → {}", name(shown.truth[i]), name(shown.predicted[i]));
        let style = (FAMILY, font).into_font().color(&RGBColor(200, 30, 30));
        area.draw_text(&label, &style, (x, y + scale * rows_px as i32 + 2)).map_err(|e| err(&e))?;
    }
    Ok(())
}
