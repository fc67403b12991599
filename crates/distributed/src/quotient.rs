//! Division by a batch's rows in the loops that average gradients.

use backprop_tensor::Float;

/// `1/d` when multiplying by it gives the bits of dividing by `d` for every value: `d` a power
/// of two, whose reciprocal is exact, so that both operations round the same exact quotient.
/// The loops that average gradients over a batch's rows (128, 256, ...) then multiply, several
/// times cheaper than dividing; other divisors give `None`, and the loops divide.
pub(crate) fn exact_reciprocal<F: Float>(d: F) -> Option<F> {
    let d = d.to_f64();
    let mantissa = d.to_bits() & ((1_u64 << 52) - 1);
    // Far from the ends of the exponent range, so that 1/d is a normal number in f32 too.
    (mantissa == 0 && (2.0_f64.powi(-60)..=2.0_f64.powi(60)).contains(&d)).then(|| F::from_f64(1.0 / d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn powers_of_two_multiply_to_the_bits_of_dividing_and_others_divide() {
        assert_eq!(exact_reciprocal(128.0_f32), Some(1.0 / 128.0));
        assert_eq!(exact_reciprocal(1.0_f64), Some(1.0));
        for d in [96.0_f32, 3.0, 0.0, -2.0, f32::INFINITY, f32::NAN] {
            assert_eq!(exact_reciprocal(d), None, "{d}");
        }
        // Every kind of value, subnormal quotients included.
        let values =
            [1.0_f32, 3.0, 0.1, 1e-38, 1.2e-44, f32::MAX, -7.5e-40, 0.0, f32::INFINITY, 16_777_215.0];
        for d in [1.0_f32, 2.0, 64.0, 128.0, 4096.0] {
            let r = exact_reciprocal(d).unwrap();
            for v in values {
                assert_eq!((v * r).to_bits(), (v / d).to_bits(), "{v} / {d}");
            }
        }
    }
}
