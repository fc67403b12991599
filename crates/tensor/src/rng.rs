//! A seedable random number generator whose streams are the same on every platform.

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng as _, SeedableRng};

/// A seedable, portable random number generator (ChaCha8).
///
/// The same seed gives the same sequence on every machine and every version of this crate, so
/// weight initialisation, shuffling and dropout are reproducible bit for bit. Its position can be
/// saved with [`TensorRng::state`] and restored with [`TensorRng::from_state`] (checkpoints).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorRng {
    inner: ChaCha8Rng,
}

/// The complete state of a [`TensorRng`]: seed, stream and position in the stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RngState {
    /// The 256-bit key.
    pub seed: [u8; 32],
    /// The stream number.
    pub stream: u64,
    /// How many 32-bit words of the stream were used.
    pub word_pos: u128,
}

impl TensorRng {
    /// A generator from a 64-bit seed.
    pub fn seed_from_u64(seed: u64) -> Self {
        TensorRng { inner: ChaCha8Rng::seed_from_u64(seed) }
    }

    /// A snapshot of the state, to resume the same sequence later.
    pub fn state(&self) -> RngState {
        RngState {
            seed: self.inner.get_seed(),
            stream: self.inner.get_stream(),
            word_pos: self.inner.get_word_pos(),
        }
    }

    /// A generator that continues exactly where the one that gave `state` was.
    pub fn from_state(state: RngState) -> Self {
        let mut inner = ChaCha8Rng::from_seed(state.seed);
        inner.set_stream(state.stream);
        inner.set_word_pos(state.word_pos);
        TensorRng { inner }
    }

    /// A uniformly random `u64`.
    pub fn next_u64(&mut self) -> u64 {
        self.inner.next_u64()
    }

    /// Uniform in `[0, 1)` with 53 random bits.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in `[lo, hi)`.
    pub fn uniform_range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.uniform()
    }

    /// Standard normal N(0, 1) by the Box–Muller transform (one draw per call; two uniforms).
    pub fn normal(&mut self) -> f64 {
        // 1 - u lies in (0, 1], so the logarithm is finite.
        let u1 = 1.0 - self.uniform();
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// Uniform integer in `0..n` without modulo bias.
    ///
    /// # Panics
    /// When `n` is 0.
    pub fn below(&mut self, n: usize) -> usize {
        assert!(n > 0, "below: the range 0..0 is empty");
        let n = n as u64;
        // Lemire's method: reject the few values that would bias the product.
        let threshold = n.wrapping_neg() % n;
        loop {
            let x = self.next_u64();
            let product = (x as u128) * (n as u128);
            if (product as u64) >= threshold {
                return (product >> 64) as usize;
            }
        }
    }

    /// Shuffles `items` in place (Fisher–Yates).
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream_and_state_round_trips() {
        let mut a = TensorRng::seed_from_u64(42);
        let mut b = TensorRng::seed_from_u64(42);
        let xs: Vec<u64> = (0..5).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..5).map(|_| b.next_u64()).collect();
        assert_eq!(xs, ys);
        let saved = a.state();
        let next: Vec<f64> = (0..3).map(|_| a.normal()).collect();
        let mut c = TensorRng::from_state(saved);
        let again: Vec<f64> = (0..3).map(|_| c.normal()).collect();
        assert_eq!(next, again);
        assert_ne!(TensorRng::seed_from_u64(1).next_u64(), TensorRng::seed_from_u64(2).next_u64());
    }

    #[test]
    fn distributions_have_the_right_moments() {
        let mut r = TensorRng::seed_from_u64(7);
        let n = 100_000;
        let u: Vec<f64> = (0..n).map(|_| r.uniform()).collect();
        let mean = u.iter().sum::<f64>() / n as f64;
        assert!((mean - 0.5).abs() < 0.01 && u.iter().all(|&x| (0.0..1.0).contains(&x)));
        let z: Vec<f64> = (0..n).map(|_| r.normal()).collect();
        let m = z.iter().sum::<f64>() / n as f64;
        let v = z.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / n as f64;
        assert!(m.abs() < 0.02 && (v - 1.0).abs() < 0.02, "mean {m} var {v}");
        let mut counts = [0usize; 3];
        for _ in 0..30_000 {
            counts[r.below(3)] += 1;
        }
        assert!(counts.iter().all(|&c| (9_000..11_000).contains(&c)), "{counts:?}");
        let mut items: Vec<usize> = (0..50).collect();
        r.shuffle(&mut items);
        let mut sorted = items.clone();
        sorted.sort();
        assert_eq!(sorted, (0..50).collect::<Vec<_>>());
        assert_ne!(items, sorted);
    }
}
