//! # backprop-tensor
//!
//! Dense `f32`/`f64` tensors for the backprop neural-network workspace: an n-dimensional
//! [`Tensor`] kept in row-major order over [`ndarray`], matrix products through OpenBLAS
//! ([`gemm()`], with transposes as flags), elementwise arithmetic with broadcasting, reductions,
//! numerically stable activation kernels, initialisation schemes and a portable seeded
//! [`TensorRng`].
//!
//! Every operation that can receive shapes that do not fit has a `try_*` form returning
//! [`TensorError`] and a panicking twin with the same message.
//!
//! ```
//! use backprop_tensor::{Init, Tensor, TensorRng};
//!
//! // A batch of 4 inputs with 3 features, a dense layer of 2 units.
//! let x = Tensor::<f32>::from_rows(&[[1.0, 0.0, 2.0], [0.5, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 1.0, 1.0]]);
//! let mut rng = TensorRng::seed_from_u64(0);
//! let w: Tensor<f32> = Init::TORCH_LINEAR.sample(&[3, 2], &mut rng).unwrap();
//! let b = Tensor::<f32>::from_vec(&[2], vec![0.1, -0.1]);
//! let z = x.matmul(&w).add(&b).tanh();
//! assert_eq!(z.shape(), &[4, 2]);
//! assert!(z.as_slice().iter().all(|v| v.abs() < 1.0));
//!
//! // Shape mistakes are errors that name the operation and both shapes.
//! let err = x.try_matmul(&Tensor::zeros(&[2, 2])).unwrap_err();
//! assert_eq!(err.to_string(), "matmul: [4, 3] x [2, 2]: inner dimensions 3 != 2");
//! ```

#![warn(missing_docs)]

// Links OpenBLAS (Debian's libopenblas-dev through pkg-config); the only crate that picks a BLAS.
use blas_src as _;
use openblas_src as _;

pub mod cpu;
mod denormal;
mod elementwise;
mod error;
mod float;
mod gemm;
#[cfg(target_arch = "x86_64")]
mod gemm_avx512;
mod init;
mod kernels;
mod matrix;
#[cfg(target_arch = "x86_64")]
mod panels;
mod parallel;
mod reduce;
mod rng;
#[cfg(target_arch = "x86_64")]
mod sgemm_avx512;
mod team;
mod tensor;

pub use denormal::{flush_denormal, set_flush_denormal};
pub use elementwise::broadcast_shape;
pub use error::{Result, TensorError};
pub use float::Float;
pub use gemm::{Transpose, gemm};
pub use init::{Init, fans};
pub use kernels::{leaky_relu, relu, sigmoid, softplus, tanh, tanh_in_place, tanh_into};
pub use parallel::{
    PARALLEL_THRESHOLD, blas_num_threads, fill_rows, for_each_chunk_mut, map_inplace, map_into,
    set_num_threads, zip_inplace, zip_into,
};
pub use reduce::first_non_finite;
pub use rng::{RngState, TensorRng};
pub use team::{parallel_for, team_size};
pub use tensor::Tensor;

/// The ndarray version this crate is built on, re-exported so users convert without a version clash.
pub use ndarray;
