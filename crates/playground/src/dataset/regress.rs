//! The two regression data sets of `dataset.ts`; labels lie in [-1, 1].

use super::{Example, dist, rand_uniform};
use crate::d3::LinearScale;
use crate::seedrandom::Arc4Random;

/// The six Gaussian bumps of `regressGaussian`: centre x, centre y, sign.
const GAUSSIANS: [(f64, f64, f64); 6] = [
    (-4.0, 2.5, 1.0),
    (0.0, 2.5, -1.0),
    (4.0, 2.5, 1.0),
    (-4.0, -2.5, -1.0),
    (0.0, -2.5, 1.0),
    (4.0, -2.5, -1.0),
];

/// Draws the four numbers every regression point uses: x, y uniform in (-6, 6) and the
/// noise offsets U(-6, 6) * noise.
fn draw_point(noise: f64, rng: &mut Arc4Random) -> (f64, f64, f64, f64) {
    let radius = 6.0;
    let x = rand_uniform(-radius, radius, rng);
    let y = rand_uniform(-radius, radius, rng);
    let noise_x = rand_uniform(-radius, radius, rng) * noise;
    let noise_y = rand_uniform(-radius, radius, rng) * noise;
    (x, y, noise_x, noise_y)
}

/// `regressPlane`: label = ((x + noise_x) + (y + noise_y)) mapped by the d3 scale
/// [-10, 10] -> [-1, 1].
pub fn regress_plane(num_samples: usize, noise: f64, rng: &mut Arc4Random) -> Vec<Example> {
    let label_scale = LinearScale::new([-10.0, 10.0], [-1.0, 1.0]);
    (0..num_samples)
        .map(|_| {
            let (x, y, noise_x, noise_y) = draw_point(noise, rng);
            Example { x, y, label: label_scale.apply((x + noise_x) + (y + noise_y)) }
        })
        .collect()
}

/// `regressGaussian`: for the offset point, each of six bumps gives
/// sign * clamp-scale([0, 2] -> [1, 0])(distance to its centre); the label is the one of
/// largest magnitude (the first on ties), 0 away from all bumps.
pub fn regress_gaussian(num_samples: usize, noise: f64, rng: &mut Arc4Random) -> Vec<Example> {
    let label_scale = LinearScale::new([0.0, 2.0], [1.0, 0.0]).clamped();
    let label_of = |x: f64, y: f64| {
        let mut label: f64 = 0.0;
        for (cx, cy, sign) in GAUSSIANS {
            let candidate = sign * label_scale.apply(dist(x, y, cx, cy));
            if candidate.abs() > label.abs() {
                label = candidate;
            }
        }
        label
    };
    (0..num_samples)
        .map(|_| {
            let (x, y, noise_x, noise_y) = draw_point(noise, rng);
            Example { x, y, label: label_of(x + noise_x, y + noise_y) }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plane_labels_are_the_scaled_coordinate_sum() {
        let mut rng = Arc4Random::new("plane");
        for p in regress_plane(100, 0.0, &mut rng) {
            assert!((p.label - (p.x + p.y) / 10.0).abs() < 1e-15);
            assert!(p.x.abs() < 6.0 && p.y.abs() < 6.0);
        }
    }

    #[test]
    fn gaussian_labels_peak_at_the_centres() {
        let mut rng = Arc4Random::new("bumps");
        let points = regress_gaussian(500, 0.0, &mut rng);
        assert!(points.iter().all(|p| p.label.abs() <= 1.0));
        for p in &points {
            let nearest =
                GAUSSIANS.iter().map(|&(cx, cy, _)| dist(p.x, p.y, cx, cy)).fold(f64::INFINITY, f64::min);
            if nearest >= 2.0 {
                assert_eq!(p.label, 0.0);
            }
        }
        assert!(points.iter().any(|p| p.label > 0.5) && points.iter().any(|p| p.label < -0.5));
    }
}
