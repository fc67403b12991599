//! The Playground's data sets (`dataset.ts`): four classification and two regression
//! generators, its Fisher-Yates shuffle, and the random helpers they share.
//!
//! Every generator draws from the seeded [`Arc4Random`] in exactly the page's order (noise
//! terms are drawn even when the noise is 0), so the same seed gives the same points.

mod classify;
mod regress;

pub use classify::{classify_circle_data, classify_spiral_data, classify_two_gauss_data, classify_xor_data};
pub use regress::{regress_gaussian, regress_plane};

use crate::jsmath;
use crate::seedrandom::Arc4Random;

/// One two-dimensional example: coordinates `x`, `y` and its `label` (+1/-1 for
/// classification, a value in [-1, 1] for regression).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Example {
    /// First coordinate (the page's X_1).
    pub x: f64,
    /// Second coordinate (the page's X_2).
    pub y: f64,
    /// The target value.
    pub label: f64,
}

/// The signature every generator shares: `(num_samples, noise, rng)`, with `noise` the
/// fraction the page passes (its noise slider divided by 100).
pub type DataGenerator = fn(usize, f64, &mut Arc4Random) -> Vec<Example>;

/// The Playground's Fisher-Yates shuffle: for `counter` from n down to 1, draw
/// `index = floor(random() * counter)` and swap `array[counter - 1]` with `array[index]`
/// (exactly n draws).
pub fn shuffle<T>(array: &mut [T], rng: &mut Arc4Random) {
    let mut counter = array.len();
    while counter > 0 {
        let index = (rng.next_f64() * counter as f64).floor() as usize;
        counter -= 1;
        array.swap(counter, index);
    }
}

/// `randUniform(a, b)`: `random() * (b - a) + a`.
pub(crate) fn rand_uniform(a: f64, b: f64, rng: &mut Arc4Random) -> f64 {
    rng.next_f64() * (b - a) + a
}

/// `normalRandom(mean, variance)`: Marsaglia's polar method. Draw v1, v2 uniform in
/// (-1, 1) until s = v1² + v2² <= 1, then `mean + sqrt(variance) * sqrt(-2 ln(s) / s) * v1`.
pub(crate) fn normal_random(mean: f64, variance: f64, rng: &mut Arc4Random) -> f64 {
    let (mut v1, mut s);
    loop {
        v1 = 2.0 * rng.next_f64() - 1.0;
        let v2 = 2.0 * rng.next_f64() - 1.0;
        s = v1 * v1 + v2 * v2;
        if s <= 1.0 {
            break;
        }
    }
    let result = (-2.0 * jsmath::log(s) / s).sqrt() * v1;
    mean + variance.sqrt() * result
}

/// Euclidean distance of `(x, y)` from `(cx, cy)`, as `dist()` computes it.
pub(crate) fn dist(x: f64, y: f64, cx: f64, cy: f64) -> f64 {
    let dx = x - cx;
    let dy = y - cy;
    (dx * dx + dy * dy).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shuffle_is_a_permutation_drawing_n_numbers() {
        let mut rng = Arc4Random::new("shuffle");
        let mut values: Vec<usize> = (0..50).collect();
        shuffle(&mut values, &mut rng);
        let mut sorted = values.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..50).collect::<Vec<_>>());
        assert_ne!(values, sorted);
        // Exactly 50 draws were consumed.
        let mut reference = Arc4Random::new("shuffle");
        for _ in 0..50 {
            reference.next_f64();
        }
        assert_eq!(rng.next_f64(), reference.next_f64());
    }

    #[test]
    fn normal_random_has_the_requested_moments() {
        let mut rng = Arc4Random::new("normal");
        let n = 20_000;
        let samples: Vec<f64> = (0..n).map(|_| normal_random(2.0, 4.0, &mut rng)).collect();
        let mean = samples.iter().sum::<f64>() / n as f64;
        let var = samples.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64;
        assert!((mean - 2.0).abs() < 0.05, "mean {mean}");
        assert!((var - 4.0).abs() < 0.15, "variance {var}");
    }
}
