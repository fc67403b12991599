//! Weight initialisation schemes, as `torch.nn.init` defines them.
//!
//! Weights of a dense layer are stored `[in, out]` (so that `Z = X·W`), hence for a matrix
//! `fan_in = shape[0]` and `fan_out = shape[1]`. Every value is drawn in `f64` from a
//! [`TensorRng`] in row-major order and then rounded to `F`, so the same seed gives the same
//! tensor bit for bit, and the `f32` tensor is the rounded `f64` one.

use ndarray::Array2;
use ndarray_linalg::QR;

use crate::error::{Result, TensorError};
use crate::float::Float;
use crate::rng::TensorRng;
use crate::tensor::Tensor;

/// An initialisation scheme.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Init {
    /// All zeros.
    Zeros,
    /// Every element equal to the value.
    Constant(f64),
    /// U(lo, hi).
    Uniform {
        /// Lower bound.
        lo: f64,
        /// Upper bound.
        hi: f64,
    },
    /// N(mean, std²).
    Normal {
        /// Mean.
        mean: f64,
        /// Standard deviation.
        std: f64,
    },
    /// Glorot: U(−b, b) with b = gain·√(6 / (fan_in + fan_out)).
    XavierUniform {
        /// Scale factor (1 for linear or sigmoid layers, 5/3 for tanh).
        gain: f64,
    },
    /// Glorot: N(0, σ²) with σ = gain·√(2 / (fan_in + fan_out)).
    XavierNormal {
        /// Scale factor.
        gain: f64,
    },
    /// He: U(−b, b) with b = gain·√(3 / fan_in), gain = √(2 / (1 + a²)) (leaky ReLU slope `a`;
    /// 0 for ReLU). PyTorch's `Linear` uses `a = √5`, which gives b = 1/√fan_in.
    KaimingUniform {
        /// Negative slope of the following leaky ReLU.
        a: f64,
    },
    /// He: N(0, σ²) with σ = gain / √fan_in, gain = √(2 / (1 + a²)).
    KaimingNormal {
        /// Negative slope of the following leaky ReLU.
        a: f64,
    },
    /// A (semi-)orthogonal matrix from the QR decomposition of a Gaussian matrix, times `gain`
    /// (Saxe et al.; `torch.nn.init.orthogonal_`).
    Orthogonal {
        /// Scale factor.
        gain: f64,
    },
}

impl Init {
    /// PyTorch's default for `nn.Linear` weights: Kaiming-uniform with `a = √5`, i.e. U(±1/√fan_in).
    pub const TORCH_LINEAR: Init = Init::KaimingUniform { a: 2.23606797749979 };

    /// A tensor of `shape` drawn from this scheme.
    ///
    /// # Errors
    /// When the scheme needs fans and the shape is empty or has zero-sized axes, or orthogonal
    /// is asked for fewer than 2 axes.
    pub fn sample<F: Float>(&self, shape: &[usize], rng: &mut TensorRng) -> Result<Tensor<F>> {
        let count: usize = shape.iter().product();
        let (fan_in, fan_out) = fans(shape);
        let needs_fans = matches!(
            self,
            Init::XavierUniform { .. }
                | Init::XavierNormal { .. }
                | Init::KaimingUniform { .. }
                | Init::KaimingNormal { .. }
        );
        if needs_fans && (fan_in == 0 || fan_out == 0) {
            return Err(TensorError::invalid(
                "init",
                format!("{self:?} needs non-zero fans, shape is {shape:?}"),
            ));
        }
        let values: Vec<f64> = match *self {
            Init::Zeros => vec![0.0; count],
            Init::Constant(c) => vec![c; count],
            Init::Uniform { lo, hi } => (0..count).map(|_| rng.uniform_range(lo, hi)).collect(),
            Init::Normal { mean, std } => (0..count).map(|_| mean + std * rng.normal()).collect(),
            Init::XavierUniform { gain } => {
                let b = gain * (6.0 / (fan_in + fan_out) as f64).sqrt();
                (0..count).map(|_| rng.uniform_range(-b, b)).collect()
            }
            Init::XavierNormal { gain } => {
                let s = gain * (2.0 / (fan_in + fan_out) as f64).sqrt();
                (0..count).map(|_| s * rng.normal()).collect()
            }
            Init::KaimingUniform { a } => {
                let b = leaky_gain(a) * (3.0 / fan_in as f64).sqrt();
                (0..count).map(|_| rng.uniform_range(-b, b)).collect()
            }
            Init::KaimingNormal { a } => {
                let s = leaky_gain(a) / (fan_in as f64).sqrt();
                (0..count).map(|_| s * rng.normal()).collect()
            }
            Init::Orthogonal { gain } => orthogonal(shape, gain, rng)?,
        };
        Tensor::try_from_vec(shape, values.into_iter().map(F::from_f64).collect())
    }
}

/// √(2 / (1 + a²)), the gain that keeps activations' variance through a leaky ReLU of slope `a`.
fn leaky_gain(a: f64) -> f64 {
    (2.0 / (1.0 + a * a)).sqrt()
}

/// (fan_in, fan_out) of a weight stored `[in, out, ...]`; a vector counts as both.
pub fn fans(shape: &[usize]) -> (usize, usize) {
    match shape {
        [] => (1, 1),
        [n] => (*n, *n),
        [fan_in, fan_out, rest @ ..] => {
            let field: usize = rest.iter().product();
            (fan_in * field, fan_out * field)
        }
    }
}

fn orthogonal(shape: &[usize], gain: f64, rng: &mut TensorRng) -> Result<Vec<f64>> {
    if shape.len() < 2 {
        return Err(TensorError::invalid(
            "init",
            format!("orthogonal needs at least 2 axes, shape is {shape:?}"),
        ));
    }
    let rows = shape[0];
    let cols: usize = shape[1..].iter().product();
    if rows == 0 || cols == 0 {
        return Ok(Vec::new());
    }
    // QR of the taller orientation gives orthonormal columns.
    let (tall_rows, tall_cols) = (rows.max(cols), rows.min(cols));
    let gaussian = Array2::from_shape_fn((tall_rows, tall_cols), |_| rng.normal());
    let (mut q, r) = gaussian
        .qr()
        .map_err(|e| TensorError::invalid("init", format!("orthogonal: QR decomposition failed: {e}")))?;
    // Fix the signs so the result is uniformly distributed (Mezzadri 2007).
    for j in 0..tall_cols {
        if r[[j, j]] < 0.0 {
            q.column_mut(j).mapv_inplace(|x| -x);
        }
    }
    let q = if rows < cols { q.reversed_axes() } else { q };
    Ok(q.iter().map(|x| gain * x).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_tensor_bit_for_bit() {
        for init in [
            Init::Uniform { lo: -1.0, hi: 2.0 },
            Init::Normal { mean: 0.5, std: 2.0 },
            Init::XavierUniform { gain: 1.0 },
            Init::XavierNormal { gain: 1.0 },
            Init::TORCH_LINEAR,
            Init::KaimingNormal { a: 0.0 },
            Init::Orthogonal { gain: 1.0 },
        ] {
            let a: Tensor<f32> = init.sample(&[5, 3], &mut TensorRng::seed_from_u64(9)).unwrap();
            let b: Tensor<f32> = init.sample(&[5, 3], &mut TensorRng::seed_from_u64(9)).unwrap();
            assert_eq!(a.to_vec(), b.to_vec(), "{init:?}");
            let c: Tensor<f64> = init.sample(&[5, 3], &mut TensorRng::seed_from_u64(9)).unwrap();
            assert_eq!(a, c.cast::<f32>(), "the f32 tensor is the rounded f64 one");
        }
    }

    #[test]
    fn bounds_follow_torch() {
        let mut rng = TensorRng::seed_from_u64(1);
        let w: Tensor<f64> = Init::TORCH_LINEAR.sample(&[16, 4], &mut rng).unwrap();
        let bound = 1.0 / 16f64.sqrt();
        assert!(w.as_slice().iter().all(|x| x.abs() <= bound));
        assert!(w.max() > 0.8 * bound, "uses the whole range");
        let w: Tensor<f64> = Init::XavierUniform { gain: 1.0 }.sample(&[30, 10], &mut rng).unwrap();
        let b = (6.0 / 40.0f64).sqrt();
        assert!(w.as_slice().iter().all(|x| x.abs() <= b) && w.max() > 0.9 * b);
        let w: Tensor<f64> = Init::KaimingNormal { a: 0.0 }.sample(&[200, 200], &mut rng).unwrap();
        let std = (w.sum_squares() / w.len() as f64).sqrt();
        assert!((std - (2.0 / 200.0f64).sqrt()).abs() < 0.005, "std {std}");
        assert!(Init::XavierUniform { gain: 1.0 }.sample::<f32>(&[0, 3], &mut rng).is_err());
    }

    #[test]
    fn orthogonal_has_orthonormal_rows_or_columns() {
        let mut rng = TensorRng::seed_from_u64(3);
        for shape in [[6, 4], [4, 6], [5, 5]] {
            let w: Tensor<f64> = Init::Orthogonal { gain: 2.0 }.sample(&shape, &mut rng).unwrap();
            let w = w.mul_scalar(0.5);
            let gram = if shape[0] >= shape[1] {
                w.try_matmul_t(crate::Transpose::Yes, &w, crate::Transpose::No).unwrap()
            } else {
                w.try_matmul_t(crate::Transpose::No, &w, crate::Transpose::Yes).unwrap()
            };
            let k = shape[0].min(shape[1]);
            for i in 0..k {
                for j in 0..k {
                    let expected = if i == j { 1.0 } else { 0.0 };
                    assert!((gram.as_slice()[i * k + j] - expected).abs() < 1e-12, "{shape:?}");
                }
            }
        }
    }
}
