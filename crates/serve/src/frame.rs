//! What the event stream sends: the [`Frame`] of a training state (docs/SERVE_API.md).
//!
//! Frames are built only when one will be sent (the worker throttles to the frame
//! interval), since the heat maps cost far more than an epoch of the Playground's networks.

use serde::Serialize;

/// Cells per side of the output heat map (the Playground's `DENSITY`).
pub const HEATMAP_SIZE: usize = backprop_playground::heatmap::PAGE_RESOLUTION;
/// Cells per side of each neuron's small heat map.
pub const NEURON_MAP_SIZE: usize = 20;

/// Values over the grid of [-6, 6]², row-major, the top row (y = 6) first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Grid {
    /// Cells per side.
    pub size: usize,
    /// The domain on both axes.
    pub domain: [f64; 2],
    /// `size * size` values, sent with [`GRID_DIGITS`] significant digits.
    #[serde(serialize_with = "significant")]
    pub values: Vec<f64>,
}

/// Significant digits of the grids' values in a frame: they only colour pixels, and at full
/// precision they are two thirds of a frame's bytes (a 6×8 network's frame is 650 KB), which
/// the page must parse before it draws.
pub const GRID_DIGITS: i32 = 4;

/// `v` rounded to [`GRID_DIGITS`] significant digits (its sign kept, so a discretised map's
/// colours do not change).
pub fn round_significant(v: f64) -> f64 {
    if v == 0.0 || !v.is_finite() {
        return v;
    }
    let scale = 10f64.powi(GRID_DIGITS - 1 - v.abs().log10().floor() as i32);
    let rounded = (v * scale).round() / scale;
    if rounded.is_finite() { rounded } else { v }
}

fn significant<S: serde::Serializer>(values: &[f64], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(values.iter().map(|&v| round_significant(v)))
}

/// The data points, `[x, y, label]` each.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Points {
    /// The training points.
    pub train: Vec<[f64; 3]>,
    /// The test points.
    pub test: Vec<[f64; 3]>,
}

impl Points {
    /// The points as CSV, `x,y,label,split` (what `GET .../data.csv` sends).
    pub fn csv(&self) -> String {
        let mut csv = String::from("x,y,label,split\n");
        for (split, set) in [("train", &self.train), ("test", &self.test)] {
            for [x, y, label] in set {
                csv.push_str(&format!("{x},{y},{label},{split}\n"));
            }
        }
        csv
    }
}

/// One training state as the page draws it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Frame {
    /// Epochs trained (0 = before training).
    pub epoch: u64,
    /// The loss over the training points (the Playground's mean ½(o − y)² in playground mode).
    pub train_loss: f64,
    /// The loss over the test points.
    pub test_loss: f64,
    /// Epochs per second over the last play interval (0 while paused).
    pub epochs_per_second: f64,
    /// Unix time in milliseconds when the state shown finished computing.
    pub step_time_ms: f64,
    /// The output over the grid (absent when the inputs are not the plane's x and y).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub heatmap: Option<Grid>,
    /// Each node's output over a coarser grid, layer by layer, inputs first.
    pub neurons: Vec<Vec<Grid>>,
    /// `weights[l][i][j]`: from node i of layer l to node j of layer l + 1.
    pub weights: Vec<Vec<Vec<f64>>>,
    /// `biases[l][j]`: of node j of layer l + 1.
    pub biases: Vec<Vec<f64>>,
    /// The data, only in the first frame after the data changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub points: Option<Points>,
    /// Output classes (1 for regression and the Playground's ±1 classification).
    pub classes: usize,
}

/// Milliseconds since the Unix epoch, as JavaScript's `Date.now()` counts.
pub fn unix_ms() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

/// Fills per-node grids: calls `outputs_at(x, y, &mut node_values)` at every cell of a
/// `size`-per-side grid (the Playground's own coordinates) and scatters the node values
/// into one [`Grid`] per node, returned flat in node order.
pub fn node_grids(
    size: usize,
    nodes: usize,
    mut outputs_at: impl FnMut(f64, f64, &mut Vec<f64>),
) -> Vec<Grid> {
    let (xs, ys) = backprop_playground::heatmap::grid_coordinates(size);
    let mut grids: Vec<Vec<f64>> = (0..nodes).map(|_| Vec::with_capacity(size * size)).collect();
    let mut values = Vec::with_capacity(nodes);
    for &y in &ys {
        for &x in &xs {
            outputs_at(x, y, &mut values);
            for (grid, &v) in grids.iter_mut().zip(&values) {
                grid.push(v);
            }
        }
    }
    grids
        .into_iter()
        .map(|values| Grid { size, domain: backprop_playground::heatmap::DOMAIN, values })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_values_keep_four_significant_digits_and_their_sign() {
        for (v, expected) in [
            (0.123_456, 0.1235),
            (-0.000_123_456, -0.000_123_5),
            (35.999_99, 36.0),
            (-1.0, -1.0),
            (1e-300, 1e-300),
            (0.0, 0.0),
        ] {
            assert_eq!(round_significant(v), expected, "{v}");
        }
        assert!(round_significant(f64::NAN).is_nan());
        let grid = Grid { size: 1, domain: [-6.0, 6.0], values: vec![0.987_654_321, -2.5e-5] };
        assert_eq!(
            serde_json::to_string(&grid).unwrap(),
            r#"{"size":1,"domain":[-6.0,6.0],"values":[0.9877,-0.000025]}"#
        );
    }
}
