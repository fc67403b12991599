//! The four classification data sets of `dataset.ts`; labels are +1 and -1.

use std::f64::consts::PI;

use super::{Example, dist, normal_random, rand_uniform};
use crate::d3::LinearScale;
use crate::jsmath;
use crate::seedrandom::Arc4Random;

/// `classifyCircleData`: `num_samples / 2` points with radius U(0, 2.5) then as many with
/// radius U(3.5, 5), at angle U(0, 2π), x = r sin(angle), y = r cos(angle). Each point
/// draws noise offsets U(-5, 5) * noise for x and y; the label is +1 when the offset
/// point lies within radius 2.5 of the origin, else -1. Stored coordinates are noise-free.
pub fn classify_circle_data(num_samples: usize, noise: f64, rng: &mut Arc4Random) -> Vec<Example> {
    let mut points = Vec::with_capacity(num_samples);
    let radius = 5.0;
    let label_of = |x: f64, y: f64| if dist(x, y, 0.0, 0.0) < radius * 0.5 { 1.0 } else { -1.0 };
    let half = num_samples as f64 / 2.0;
    for (r_min, r_max) in [(0.0, radius * 0.5), (radius * 0.7, radius)] {
        let mut i = 0.0;
        while i < half {
            let r = rand_uniform(r_min, r_max, rng);
            let angle = rand_uniform(0.0, 2.0 * PI, rng);
            let x = r * jsmath::sin(angle);
            let y = r * jsmath::cos(angle);
            let noise_x = rand_uniform(-radius, radius, rng) * noise;
            let noise_y = rand_uniform(-radius, radius, rng) * noise;
            points.push(Example { x, y, label: label_of(x + noise_x, y + noise_y) });
            i += 1.0;
        }
    }
    points
}

/// `classifyXORData`: x, y uniform in (-5, 5), each pushed 0.3 away from zero; noise
/// offsets U(-5, 5) * noise; label +1 when (x + noise_x)(y + noise_y) >= 0, else -1.
pub fn classify_xor_data(num_samples: usize, noise: f64, rng: &mut Arc4Random) -> Vec<Example> {
    let padding = 0.3;
    (0..num_samples)
        .map(|_| {
            let mut x = rand_uniform(-5.0, 5.0, rng);
            x += if x > 0.0 { padding } else { -padding };
            let mut y = rand_uniform(-5.0, 5.0, rng);
            y += if y > 0.0 { padding } else { -padding };
            let noise_x = rand_uniform(-5.0, 5.0, rng) * noise;
            let noise_y = rand_uniform(-5.0, 5.0, rng) * noise;
            let label = if (x + noise_x) * (y + noise_y) >= 0.0 { 1.0 } else { -1.0 };
            Example { x, y, label }
        })
        .collect()
}

/// `classifyTwoGaussData`: `num_samples / 2` points around (2, 2) labelled +1, then as
/// many around (-2, -2) labelled -1; each coordinate is normal with variance
/// 0.5 + 7 * noise (d3 scale [0, 0.5] -> [0.5, 4]).
pub fn classify_two_gauss_data(num_samples: usize, noise: f64, rng: &mut Arc4Random) -> Vec<Example> {
    let variance = LinearScale::new([0.0, 0.5], [0.5, 4.0]).apply(noise);
    let mut points = Vec::with_capacity(num_samples);
    let half = num_samples as f64 / 2.0;
    for (c, label) in [(2.0, 1.0), (-2.0, -1.0)] {
        let mut i = 0.0;
        while i < half {
            let x = normal_random(c, variance, rng);
            let y = normal_random(c, variance, rng);
            points.push(Example { x, y, label });
            i += 1.0;
        }
    }
    points
}

/// `classifySpiralData`: two interleaved spirals of n = `num_samples / 2` points; point i
/// has r = i/n * 5 and t = 1.75 * i/n * 2π (+π for the second, label -1, spiral), with
/// x = r sin(t) + U(-1, 1) * noise and y = r cos(t) + U(-1, 1) * noise.
pub fn classify_spiral_data(num_samples: usize, noise: f64, rng: &mut Arc4Random) -> Vec<Example> {
    let n = num_samples as f64 / 2.0;
    let mut points = Vec::with_capacity(num_samples);
    for (delta_t, label) in [(0.0, 1.0), (PI, -1.0)] {
        let mut i = 0.0;
        while i < n {
            let r = i / n * 5.0;
            let t = 1.75 * i / n * 2.0 * PI + delta_t;
            let x = r * jsmath::sin(t) + rand_uniform(-1.0, 1.0, rng) * noise;
            let y = r * jsmath::cos(t) + rand_uniform(-1.0, 1.0, rng) * noise;
            points.push(Example { x, y, label });
            i += 1.0;
        }
    }
    points
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn circle_labels_follow_the_radius_without_noise() {
        let mut rng = Arc4Random::new("circle");
        let points = classify_circle_data(200, 0.0, &mut rng);
        assert_eq!(points.len(), 200);
        for (i, p) in points.iter().enumerate() {
            let r = (p.x * p.x + p.y * p.y).sqrt();
            if i < 100 {
                assert!(r <= 2.5 && p.label == 1.0);
            } else {
                assert!((3.5..=5.0).contains(&r) && p.label == -1.0);
            }
        }
    }

    #[test]
    fn xor_points_keep_their_padding_and_quadrant_labels() {
        let mut rng = Arc4Random::new("xor");
        for p in classify_xor_data(300, 0.0, &mut rng) {
            assert!(p.x.abs() >= 0.3 && p.y.abs() >= 0.3);
            assert_eq!(p.label, if p.x * p.y >= 0.0 { 1.0 } else { -1.0 });
        }
    }

    #[test]
    fn gauss_halves_sit_around_their_centres() {
        let mut rng = Arc4Random::new("gauss");
        let points = classify_two_gauss_data(400, 0.0, &mut rng);
        let mean_x = |s: &[Example]| s.iter().map(|p| p.x).sum::<f64>() / s.len() as f64;
        assert!((mean_x(&points[..200]) - 2.0).abs() < 0.2);
        assert!((mean_x(&points[200..]) + 2.0).abs() < 0.2);
        assert!(points[..200].iter().all(|p| p.label == 1.0));
    }

    #[test]
    fn spiral_without_noise_is_deterministic_and_draws_two_numbers_per_point() {
        let mut rng = Arc4Random::new("spiral");
        let points = classify_spiral_data(10, 0.0, &mut rng);
        assert_eq!(points[0], Example { x: 0.0, y: 0.0, label: 1.0 });
        assert_eq!(points[5].label, -1.0);
        let mut reference = Arc4Random::new("spiral");
        for _ in 0..20 {
            reference.next_f64();
        }
        assert_eq!(rng.next_f64(), reference.next_f64());
    }
}
