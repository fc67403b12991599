//! The page's picture: the decision-boundary grid and its colours (`heatmap.ts`,
//! `playground.ts`).
//!
//! The page paints a 100 × 100 canvas (stretched to 260 × 260 CSS pixels inside a 300-pixel
//! box with 20-pixel axis padding) with [`color`] of each grid output at alpha
//! [`HEATMAP_ALPHA`], and draws points as circles of radius [`POINT_RADIUS`] filled with
//! [`color`] of their label: training points with a white outline, test points with a
//! black one (see the `*_STROKE` constants).

use std::sync::OnceLock;

use crate::d3::{LinearScale, js_max, js_min, range};
use crate::jsmath;

/// The heat map's domain on both axes.
pub const DOMAIN: [f64; 2] = [-6.0, 6.0];
/// Grid cells per side on the page (`DENSITY`).
pub const PAGE_RESOLUTION: usize = 100;
/// Alpha of the heat map's canvas pixels.
pub const HEATMAP_ALPHA: u8 = 160;
/// Number of colour steps of the heat map's scale (`NUM_SHADES`); the scale has one more
/// colour than steps.
pub const NUM_SHADES: usize = 30;
/// Radius of a data point's circle, in the page's CSS pixels of a 260-pixel-wide plot.
pub const POINT_RADIUS: f64 = 3.0;
/// Fill opacity of data points.
pub const POINT_FILL_OPACITY: f64 = 0.9;
/// Outline of training points: colour, opacity, width in pixels.
pub const TRAIN_STROKE: ([u8; 3], f64, f64) = ([255, 255, 255], 0.8, 1.0);
/// Outline of test points: colour, opacity, width in pixels.
pub const TEST_STROKE: ([u8; 3], f64, f64) = ([0, 0, 0], 0.6, 1.0);

/// Orange, the colour of −1.
pub const ORANGE: [u8; 3] = [0xf5, 0x93, 0x22];
/// Light grey, the colour of 0.
pub const GREY: [u8; 3] = [0xe8, 0xea, 0xeb];
/// Blue, the colour of +1.
pub const BLUE: [u8; 3] = [0x08, 0x77, 0xbd];

/// The grid's coordinates as `updateDecisionBoundary` computes them: column i at
/// x1 = d3 scale [0, n−1] → [−6, 6] of i, row j at x2 = d3 scale [n−1, 0] → [−6, 6] of j,
/// so row 0 is the top (x2 = 6). Returns (column x1 values, row x2 values).
pub fn grid_coordinates(resolution: usize) -> (Vec<f64>, Vec<f64>) {
    let last = resolution.saturating_sub(1) as f64;
    let x_scale = LinearScale::new([0.0, last], DOMAIN);
    let y_scale = LinearScale::new([last, 0.0], DOMAIN);
    let xs = (0..resolution).map(|i| x_scale.apply(i as f64)).collect();
    let ys = (0..resolution).map(|j| y_scale.apply(j as f64)).collect();
    (xs, ys)
}

/// A clamped d3 polylinear colour scale from `domain` to orange, grey, blue: d3 picks the
/// segment with `bisect(domain, v, 1, 2) - 1`, clamps `s = (v - d_j) / (d_j+1 - d_j)` to
/// [0, 1], and `interpolateRgb` gives `Math.round(a + (b - a) * s)` per channel.
fn three_colour_scale(value: f64, domain: [f64; 3]) -> [u8; 3] {
    let j = if value < domain[1] { 0 } else { 1 };
    let s = js_max(0.0, js_min(1.0, (value - domain[j]) / (domain[j + 1] - domain[j])));
    let (from, to) = if j == 0 { (ORANGE, GREY) } else { (GREY, BLUE) };
    let channel = |k: usize| {
        let a = f64::from(from[k]);
        let b = f64::from(to[k]) - a;
        jsmath::round(a + b * s).clamp(0.0, 255.0) as u8
    };
    [channel(0), channel(1), channel(2)]
}

/// The 31 colours of the heat map's scale: `tmpScale(a)` (domain [0, 0.5, 1]) for `a` in
/// `d3.range(0, 1 + 1e-9, 1/30)`.
pub fn shades() -> &'static [[u8; 3]] {
    static SHADES: OnceLock<Vec<[u8; 3]>> = OnceLock::new();
    SHADES.get_or_init(|| {
        range(0.0, 1.0 + 1e-9, 1.0 / NUM_SHADES as f64)
            .into_iter()
            .map(|a| three_colour_scale(a, [0.0, 0.5, 1.0]))
            .collect()
    })
}

/// The heat map's colour of `value` (`heatmap.ts`'s quantize scale over [−1, 1]): shade
/// `clamp(floor(15.5 · (value + 1)), 0, 30)` of [`shades`]. Orange at −1, grey at 0, blue
/// at +1; the page uses it for the background and for the points' fill. NaN maps to grey.
pub fn color(value: f64) -> [u8; 3] {
    let shades = shades();
    let kx = shades.len() as f64 / (DOMAIN_COLOR[1] - DOMAIN_COLOR[0]);
    let index = (kx * (value - DOMAIN_COLOR[0])).floor();
    if index.is_nan() {
        return GREY;
    }
    shades[index.clamp(0.0, (shades.len() - 1) as f64) as usize]
}

/// The value domain of the colour scales.
const DOMAIN_COLOR: [f64; 2] = [-1.0, 1.0];

/// `playground.ts`'s continuous `colorScale` (domain [−1, 0, 1], clamped), which the page
/// uses for data-set thumbnails and link colours.
pub fn color_continuous(value: f64) -> [u8; 3] {
    three_colour_scale(value, [-1.0, 0.0, 1.0])
}

/// The heat map's colour for `value`, optionally thresholded at 0 as the page's
/// "discretize output" does (`value >= 0 ? 1 : -1`).
pub fn heatmap_color(value: f64, discretize: bool) -> [u8; 3] {
    if discretize { color(if value >= 0.0 { 1.0 } else { -1.0 }) } else { color(value) }
}

/// `rgb` painted at `alpha` over `background`: `(c · α + b · (255 − α)) / 255`, rounded.
/// The page's canvas pixels use [`HEATMAP_ALPHA`] over a white page.
pub fn blend(rgb: [u8; 3], alpha: u8, background: [u8; 3]) -> [u8; 3] {
    let a = u32::from(alpha);
    let mix = |c: u8, b: u8| ((u32::from(c) * a + u32::from(b) * (255 - a) + 127) / 255) as u8;
    [mix(rgb[0], background[0]), mix(rgb[1], background[1]), mix(rgb[2], background[2])]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(c: [u8; 3]) -> String {
        format!("#{:02x}{:02x}{:02x}", c[0], c[1], c[2])
    }

    #[test]
    fn shades_match_d3() {
        // The page's `colors` array, printed by d3 3.5.17 under Node.
        let expected = "#f59322 #f4992f #f39f3d #f2a44a #f2aa58 #f1b065 #f0b672 #efbc80 #eec18d #edc79b \
                        #eccda8 #ebd3b5 #ebd9c3 #eaded0 #e9e4de #e8eaeb #d9e2e8 #cadbe5 #bbd3e2 #accbdf \
                        #9dc4dc #8ebcd9 #7fb4d6 #71add2 #62a5cf #539dcc #4496c9 #358ec6 #2686c3 #177fc0 #0877bd";
        let got: Vec<String> = shades().iter().copied().map(hex).collect();
        assert_eq!(got.join(" "), expected.split_whitespace().collect::<Vec<_>>().join(" "));
    }

    #[test]
    fn color_quantizes_minus_one_to_one() {
        assert_eq!(color(-1.0), ORANGE);
        assert_eq!(color(0.0), GREY);
        assert_eq!(color(1.0), BLUE);
        assert_eq!(color(-5.0), ORANGE);
        assert_eq!(color(5.0), BLUE);
        assert_eq!(hex(color(0.5)), "#71add2"); // floor(15.5 * 1.5) = 23
        assert_eq!(color(f64::NAN), GREY);
        assert_eq!(heatmap_color(0.01, true), BLUE);
        assert_eq!(heatmap_color(-0.01, true), ORANGE);
    }

    #[test]
    fn continuous_scale_passes_through_the_anchors() {
        assert_eq!(color_continuous(-1.0), ORANGE);
        assert_eq!(color_continuous(0.0), GREY);
        assert_eq!(color_continuous(1.0), BLUE);
        assert_eq!(color_continuous(3.0), BLUE);
    }

    #[test]
    fn grid_runs_left_to_right_and_top_to_bottom() {
        let (xs, ys) = grid_coordinates(PAGE_RESOLUTION);
        assert_eq!((xs[0], xs[99]), (-6.0, 6.0));
        assert_eq!((ys[0], ys[99]), (6.0, -6.0));
        assert!(xs.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn blending_over_white() {
        assert_eq!(blend([0, 0, 0], 255, [255, 255, 255]), [0, 0, 0]);
        assert_eq!(blend([0, 0, 0], 0, [255, 255, 255]), [255, 255, 255]);
        assert_eq!(blend(ORANGE, HEATMAP_ALPHA, [255, 255, 255]), [249, 187, 116]);
    }
}
