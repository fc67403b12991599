//! A trained model seen as the Playground shows it: its output over the input plane, in the
//! page's colours, with the data points.
//!
//! Two-class models are coloured by `2·P(class 1) − 1` (for the hinge loss, the raw margin) on
//! the page's scale from orange (−1, class 0) through light grey to blue (+1, class 1);
//! regression models by their output (scaled from the targets' range to [−1, 1] for CSV data);
//! models with more classes by the colour of the likeliest class, paler where it is less sure.

use std::path::Path;

use backprop_autograd::Graph;
use backprop_data::{Dataset, Feature, Targets};
use backprop_nn::{Loss, ModelMeta, Sequential, Task};
use backprop_playground::heatmap::{BLUE, HEATMAP_ALPHA, ORANGE, blend};
use backprop_tensor::{Float, Tensor};

use crate::args::PlotSize;
use crate::data_source::Origin;
use crate::error::{CliError, Result};
use crate::plot::{Figure, HeatMap, PlotPoint, draw};
use crate::report::EpochRecord;

/// Colours of classes beyond two (the first two are the page's orange and blue).
const PALETTE: [[u8; 3]; 10] = [
    ORANGE,
    BLUE,
    [0x2c, 0xa0, 0x2c],
    [0xd6, 0x27, 0x28],
    [0x94, 0x67, 0xbd],
    [0x8c, 0x56, 0x4b],
    [0xe3, 0x77, 0xc2],
    [0x7f, 0x7f, 0x7f],
    [0xbc, 0xbd, 0x22],
    [0x17, 0xbe, 0xcf],
];

const WHITE: [u8; 3] = [255, 255, 255];

/// A model with its parameters and metadata.
pub struct View<'a, F: Float> {
    /// The graph holding the parameters.
    pub g: &'a Graph<F>,
    /// The model.
    pub model: &'a Sequential,
    /// Its metadata (loss, scaling).
    pub meta: &'a ModelMeta,
}

/// How a point (x1, x2) of the plane becomes the model's raw inputs.
#[derive(Debug, Clone, PartialEq)]
pub enum PlaneInputs {
    /// The Playground's features of the point.
    Playground(Vec<Feature>),
    /// The two coordinates are the two inputs.
    Raw,
}

impl PlaneInputs {
    fn width(&self) -> usize {
        match self {
            PlaneInputs::Playground(f) => f.len(),
            PlaneInputs::Raw => 2,
        }
    }

    fn write(&self, p: [f64; 2], out: &mut Vec<f64>) {
        match self {
            PlaneInputs::Playground(features) => out.extend(features.iter().map(|f| f.value(p[0], p[1]))),
            PlaneInputs::Raw => out.extend(p),
        }
    }
}

/// The model's outputs at `points`, through `inputs` and the stored input scaling.
///
/// # Errors
/// When the model does not take these inputs.
pub fn outputs_at<F: Float>(view: &View<F>, inputs: &PlaneInputs, points: &[[f64; 2]]) -> Result<Tensor<F>> {
    let k = inputs.width();
    let mut raw = Vec::with_capacity(points.len() * k);
    for &p in points {
        inputs.write(p, &mut raw);
    }
    let mut x = Tensor::from_vec(&[points.len(), k], raw.into_iter().map(F::from_f64).collect());
    if let Some(s) = &view.meta.input_scaling {
        s.apply_in_place(&mut x)?;
    }
    Ok(view.model.predict(view.g, &x)?)
}

/// The heat map colour of each output row.
pub fn output_colours<F: Float>(
    meta: &ModelMeta,
    outputs: &Tensor<F>,
    value_range: [f64; 2],
) -> Result<Vec<[u8; 3]>> {
    let shade = |v: f64| blend(backprop_playground::color(v), HEATMAP_ALPHA, WHITE);
    Ok(match meta.task {
        Task::Regression => {
            let k = outputs.shape()[1].max(1);
            outputs.as_slice().chunks(k).map(|row| shade(to_unit(row[0].to_f64(), value_range))).collect()
        }
        Task::Binary if matches!(meta.loss, Loss::Hinge) => {
            outputs.as_slice().iter().map(|&d| shade(d.to_f64())).collect()
        }
        Task::Binary | Task::MultiClass => {
            let p = meta.loss.probabilities(outputs)?;
            let c = p.shape()[1];
            p.as_slice()
                .chunks(c)
                .map(|row| {
                    if c == 2 {
                        shade(row[1].to_f64() - row[0].to_f64())
                    } else {
                        let (best, top) =
                            row.iter().enumerate().fold((0, F::neg_infinity()), |acc, (i, &v)| {
                                if v > acc.1 { (i, v) } else { acc }
                            });
                        let floor = 1.0 / c as f64;
                        let sure = ((top.to_f64() - floor) / (1.0 - floor)).clamp(0.0, 1.0);
                        blend(PALETTE[best % PALETTE.len()], (60.0 + 120.0 * sure) as u8, WHITE)
                    }
                })
                .collect()
        }
    })
}

/// `v` mapped from `range` to [−1, 1].
fn to_unit(v: f64, range: [f64; 2]) -> f64 {
    let [lo, hi] = range;
    if hi > lo { 2.0 * (v - lo) / (hi - lo) - 1.0 } else { 0.0 }
}

/// The fill of a data point: its class's colour, or its value's on the page's scale.
fn point_fill(classes: Option<usize>, value: f64, n_classes: usize, value_range: [f64; 2]) -> [u8; 3] {
    match classes {
        Some(c) if n_classes == 2 => backprop_playground::color(if c == 1 { 1.0 } else { -1.0 }),
        Some(c) => PALETTE[c % PALETTE.len()],
        None => backprop_playground::color(to_unit(value, value_range)),
    }
}

/// Points of a data set at the given plane coordinates.
fn points_of<F: Float>(
    data: &Dataset<F>,
    xy: &[[f64; 2]],
    test: bool,
    value_range: [f64; 2],
) -> Vec<PlotPoint> {
    let n_classes = data.targets().num_classes().unwrap_or(0);
    (0..data.len().min(xy.len()))
        .map(|i| {
            let (class, value) = match data.targets() {
                Targets::Classes { indices, .. } => (Some(indices[i]), 0.0),
                Targets::Values(v) => (None, v.as_slice()[i * v.shape()[1]].to_f64()),
            };
            PlotPoint { xy: xy[i], fill: point_fill(class, value, n_classes, value_range), test }
        })
        .collect()
}

/// The range of the first target column, for colouring regression values.
fn target_range<F: Float>(sets: &[&Dataset<F>]) -> [f64; 2] {
    let mut range = [f64::INFINITY, f64::NEG_INFINITY];
    for d in sets {
        if let Targets::Values(v) = d.targets() {
            for row in v.as_slice().chunks(v.shape()[1].max(1)) {
                range = [range[0].min(row[0].to_f64()), range[1].max(row[0].to_f64())];
            }
        }
    }
    if range[0].is_finite() { range } else { [-1.0, 1.0] }
}

/// The first two raw columns of a data set as plane points.
fn raw_xy<F: Float>(data: &Dataset<F>) -> Vec<[f64; 2]> {
    data.features().as_slice().chunks(2).map(|r| [r[0].to_f64(), r[1].to_f64()]).collect()
}

/// A padded window around points.
fn window(points: &[[f64; 2]], axis: usize) -> [f64; 2] {
    let lo = points.iter().map(|p| p[axis]).fold(f64::INFINITY, f64::min);
    let hi = points.iter().map(|p| p[axis]).fold(f64::NEG_INFINITY, f64::max);
    if !(lo.is_finite() && hi.is_finite()) {
        return [-1.0, 1.0];
    }
    let pad = if hi > lo { (hi - lo) * 0.05 } else { 1.0 };
    [lo - pad, hi + pad]
}

/// Draws a trained model's picture: the heat map over the Playground's [−6, 6]² (or, for a CSV
/// file with exactly two features, over the data's window) with the training and test points,
/// and the loss curves; only the loss curves for other CSV files.
///
/// # Errors
/// When the picture cannot be drawn or written.
#[allow(clippy::too_many_arguments)]
pub fn draw_run<F: Float>(
    path: &Path,
    size: PlotSize,
    view: &View<F>,
    origin: &Origin,
    raw_train: &Dataset<F>,
    raw_test: Option<&Dataset<F>>,
    history: &[EpochRecord],
    title: &str,
) -> Result<()> {
    let mut sets = vec![raw_train];
    sets.extend(raw_test);
    let (inputs, x_range, y_range, labels, value_range, train_xy, test_xy) = match origin {
        Origin::Playground { train_xy, test_xy, .. } => {
            let features = view
                .meta
                .feature_names
                .iter()
                .map(|n| n.parse::<Feature>())
                .collect::<std::result::Result<Vec<_>, _>>()?;
            let domain = backprop_playground::heatmap::DOMAIN;
            (
                PlaneInputs::Playground(features),
                domain,
                domain,
                ["x1".to_string(), "x2".to_string()],
                [-1.0, 1.0],
                train_xy.clone(),
                test_xy.clone(),
            )
        }
        Origin::Csv { .. } if raw_train.num_features() == 2 => {
            let train_xy = raw_xy(raw_train);
            let test_xy = raw_test.map(raw_xy).unwrap_or_default();
            let all: Vec<[f64; 2]> = train_xy.iter().chain(&test_xy).copied().collect();
            let names = raw_train.feature_names();
            (
                PlaneInputs::Raw,
                window(&all, 0),
                window(&all, 1),
                [names[0].clone(), names[1].clone()],
                target_range(&sets),
                train_xy,
                test_xy,
            )
        }
        Origin::Csv { .. } | Origin::Images { .. } => {
            let figure = Figure {
                title: title.to_string(),
                heat_map: None,
                history,
                loss_name: view.meta.loss.name().into(),
            };
            return draw(path, size, &figure);
        }
    };
    let mut points = points_of(raw_train, &train_xy, false, value_range);
    if let Some(test) = raw_test {
        points.extend(points_of(test, &test_xy, true, value_range));
    }
    let colour = |xy: &[[f64; 2]]| -> Result<Vec<[u8; 3]>> {
        let mut colours = Vec::with_capacity(xy.len());
        // Bounded batches keep the activations small for large pictures.
        for chunk in xy.chunks(1 << 15) {
            let out = outputs_at(view, &inputs, chunk)?;
            colours.extend(output_colours(view.meta, &out, value_range)?);
        }
        Ok(colours)
    };
    let [x_label, y_label] = labels;
    let figure = Figure {
        title: title.to_string(),
        heat_map: Some(HeatMap { x_range, y_range, x_label, y_label, colour: &colour, points }),
        history,
        loss_name: view.meta.loss.name().into(),
    };
    draw(path, size, &figure).map_err(|e| match e {
        CliError::File { .. } => e,
        other => CliError::file(path, other.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_outputs_use_the_page_scale() {
        let meta = ModelMeta::new(Loss::BceWithLogits);
        let out = Tensor::from_vec(&[3, 1], vec![-50.0_f64, 0.0, 50.0]);
        let c = output_colours(&meta, &out, [-1.0, 1.0]).unwrap();
        assert_eq!(c[0], blend(ORANGE, HEATMAP_ALPHA, WHITE));
        assert_eq!(c[2], blend(BLUE, HEATMAP_ALPHA, WHITE));
        assert_eq!(c[1], blend(backprop_playground::color(0.0), HEATMAP_ALPHA, WHITE));
        let mut multi = ModelMeta::new(Loss::CrossEntropy);
        multi.class_names = vec!["a".into(), "b".into(), "c".into()];
        let out = Tensor::from_rows(&[[0.0_f64, 9.0, 0.0], [0.0, 0.0, 0.0]]);
        let c = output_colours(&multi, &out, [-1.0, 1.0]).unwrap();
        assert_eq!(c[0], blend(BLUE, 179, WHITE), "a sure class 1 is strong blue");
        assert_eq!(c[1], blend(ORANGE, 60, WHITE), "an undecided point is pale");
        let reg = ModelMeta::new(Loss::Mse);
        let out = Tensor::from_vec(&[2, 1], vec![10.0_f64, 20.0]);
        let c = output_colours(&reg, &out, [10.0, 20.0]).unwrap();
        assert_eq!(c, vec![blend(ORANGE, HEATMAP_ALPHA, WHITE), blend(BLUE, HEATMAP_ALPHA, WHITE)]);
    }

    #[test]
    fn windows_pad_the_data() {
        assert_eq!(window(&[[0.0, 5.0], [10.0, 5.0]], 0), [-0.5, 10.5]);
        assert_eq!(window(&[[0.0, 5.0], [10.0, 5.0]], 1), [4.0, 6.0]);
        assert_eq!(to_unit(15.0, [10.0, 20.0]), 0.0);
    }
}
