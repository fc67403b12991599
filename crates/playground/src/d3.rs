//! The few d3 3.5.17 scale functions whose arithmetic reaches the Playground's numbers.
//!
//! d3's linear scale maps `x` from a domain `[d0, d1]` to a range `[r0, r1]` as
//! `t = (x - d0) / (d1 - d0)` (clamped to [0, 1] when asked), then `r0 * (1 - t) + r1 * t`.
//! The regression labels, the Gaussian data's variance and the heat map's grid go through
//! these exact operations, so they are reproduced here rather than simplified.

/// A d3 v3 `d3.scale.linear()` with a two-element domain and range.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinearScale {
    domain: [f64; 2],
    range: [f64; 2],
    clamp: bool,
}

impl LinearScale {
    /// `d3.scale.linear().domain(domain).range(range)`.
    pub fn new(domain: [f64; 2], range: [f64; 2]) -> Self {
        LinearScale { domain, range, clamp: false }
    }

    /// The same scale with `.clamp(true)`: `t` is clamped to [0, 1].
    pub fn clamped(self) -> Self {
        LinearScale { clamp: true, ..self }
    }

    /// `scale(x)`: `t = (x - d0) / (d1 - d0)` (d3 divides by `1 / 0` when `d1 == d0`),
    /// then `r0 * (1 - t) + r1 * t`.
    pub fn apply(&self, x: f64) -> f64 {
        let a = self.domain[0];
        let width = self.domain[1] - a;
        let b = if width != 0.0 { width } else { 1.0 / width };
        let mut t = (x - a) / b;
        if self.clamp {
            t = js_max(0.0, js_min(1.0, t));
        }
        self.range[0] * (1.0 - t) + self.range[1] * t
    }
}

/// JavaScript's two-argument `Math.min`: NaN wins, and -0 is below +0.
pub fn js_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else if a < b || (a == b && a.is_sign_negative()) {
        a
    } else {
        b
    }
}

/// JavaScript's two-argument `Math.max`: NaN wins, and +0 is above -0.
pub fn js_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else if a > b || (a == b && a.is_sign_positive()) {
        a
    } else {
        b
    }
}

/// `d3.range(start, stop, step)` for a positive step: d3 scales all three by the power of
/// ten `k` that makes `step * k` an integer (when one exists below overflow), then yields
/// `(start*k + step*k*i) / k` while below `stop*k`.
pub fn range(start: f64, stop: f64, step: f64) -> Vec<f64> {
    // d3_range_integerScale: `while (x * k % 1) k *= 10;` stops on 0 and on NaN.
    let mut k = 1.0;
    loop {
        let fraction = (step.abs() * k) % 1.0;
        if fraction == 0.0 || fraction.is_nan() {
            break;
        }
        k *= 10.0;
    }
    let (start, stop, step) = (start * k, stop * k, step * k);
    let mut values = Vec::new();
    let mut i = 0.0;
    loop {
        let j = start + step * i;
        // `while (j < stop)`: NaN also ends the range.
        if j.partial_cmp(&stop) != Some(std::cmp::Ordering::Less) {
            break;
        }
        values.push(j / k);
        i += 1.0;
    }
    values
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_scale_interpolates_like_d3() {
        let s = LinearScale::new([-10.0, 10.0], [-1.0, 1.0]);
        assert_eq!(s.apply(-10.0), -1.0);
        assert_eq!(s.apply(10.0), 1.0);
        assert_eq!(s.apply(0.0), 0.0);
        // Unclamped scales extrapolate.
        assert_eq!(s.apply(20.0), 2.0);
        let c = LinearScale::new([0.0, 2.0], [1.0, 0.0]).clamped();
        assert_eq!(c.apply(5.0), 0.0);
        assert_eq!(c.apply(-1.0), 1.0);
        assert_eq!(c.apply(1.0), 0.5);
        // Reversed domain, as the heat map's y axis.
        let y = LinearScale::new([99.0, 0.0], [-6.0, 6.0]);
        assert_eq!(y.apply(0.0), 6.0);
        assert_eq!(y.apply(99.0), -6.0);
    }

    #[test]
    fn degenerate_domain_maps_to_the_range_start() {
        let s = LinearScale::new([0.0, 0.0], [-6.0, 6.0]);
        assert_eq!(s.apply(0.0), -6.0);
    }

    #[test]
    fn range_of_thirtieths_ends_exactly_at_one() {
        let r = range(0.0, 1.0 + 1e-9, 1.0 / 30.0);
        assert_eq!(r.len(), 31);
        assert_eq!(r[0], 0.0);
        assert_eq!(r[15], 0.5);
        assert_eq!(r[30], 1.0);
    }

    #[test]
    fn js_min_max_propagate_nan_and_order_zeros() {
        assert!(js_max(0.0, f64::NAN).is_nan());
        assert!(js_min(f64::NAN, 1.0).is_nan());
        assert!(js_max(-0.0, 0.0).is_sign_positive());
        assert!(js_min(0.0, -0.0).is_sign_negative());
        assert_eq!(js_max(0.0, 3.0), 3.0);
    }
}
