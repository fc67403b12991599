//! gemm throughput: backprop's wrapper against a direct `cblas_?gemm` call, side by side.
//!
//! Reports GFLOP/s (criterion's element throughput is set to the 2n³ floating-point operations
//! of one product) for n = 64 … 2048, f32 and f64. The wrapper must stay within 3% of the direct
//! call for n ≥ 256.
//!
//! Group `gemm_shapes_<type>`: the products of the workloads' layers, `m×k·k×n` for the
//! forward pass (`X·W`, id `MxKxN`) and the two of the backward pass, the weight gradient
//! (`Xᵀ·dY`, id `MxKxN_At_B`, a `k×n` result) and the input gradient (`dY·Wᵀ`, id `MxKxN_A_Bt`,
//! an `m×k` result), each through the wrapper with its transpose as a flag.

use std::hint::black_box;

use backprop_tensor::{Float, Tensor, TensorRng, Transpose, gemm};
use cblas_sys::{CBLAS_LAYOUT, CBLAS_TRANSPOSE};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

fn random<F: Float>(n: usize, rng: &mut TensorRng) -> Tensor<F> {
    Tensor::from_shape_fn(&[n, n], |_| F::from_f64(rng.uniform_range(-1.0, 1.0)))
}

fn bench_type<F: Float>(c: &mut Criterion) {
    let mut group = c.benchmark_group(format!("gemm_{}", F::NAME));
    let mut rng = TensorRng::seed_from_u64(0);
    for n in [64usize, 128, 256, 512, 1024, 2048] {
        let a = random::<F>(n, &mut rng);
        let b = random::<F>(n, &mut rng);
        let mut out = Tensor::<F>::zeros(&[n, n]);
        group.throughput(Throughput::Elements((2 * n * n * n) as u64));
        if n >= 1024 {
            group.sample_size(10);
        }
        group.bench_with_input(BenchmarkId::new("wrapper", n), &n, |bench, _| {
            bench.iter(|| {
                gemm(
                    F::one(),
                    a.view2().unwrap(),
                    Transpose::No,
                    b.view2().unwrap(),
                    Transpose::No,
                    F::zero(),
                    out.view2_mut().unwrap(),
                )
                .unwrap();
                black_box(&out);
            })
        });
        group.bench_with_input(BenchmarkId::new("direct_cblas", n), &n, |bench, _| {
            let ni = n as i32;
            bench.iter(|| {
                // SAFETY: square row-major matrices of size n with leading dimension n.
                unsafe {
                    F::cblas_gemm(
                        CBLAS_LAYOUT::CblasRowMajor,
                        CBLAS_TRANSPOSE::CblasNoTrans,
                        CBLAS_TRANSPOSE::CblasNoTrans,
                        ni,
                        ni,
                        ni,
                        F::one(),
                        a.as_slice().as_ptr(),
                        ni,
                        b.as_slice().as_ptr(),
                        ni,
                        F::zero(),
                        out.as_mut_slice().as_mut_ptr(),
                        ni,
                    )
                };
                black_box(&out);
            })
        });
        // A transposed operand, handed to BLAS as a flag: same speed expected.
        if n == 512 {
            group.bench_with_input(BenchmarkId::new("wrapper_At_B", n), &n, |bench, _| {
                bench.iter(|| {
                    gemm(
                        F::one(),
                        a.view2().unwrap(),
                        Transpose::Yes,
                        b.view2().unwrap(),
                        Transpose::No,
                        F::zero(),
                        out.view2_mut().unwrap(),
                    )
                    .unwrap();
                    black_box(&out);
                })
            });
        }
        group.sample_size(100);
    }
    group.finish();
}

/// `(batch, inputs, outputs)` of the workloads' layers: mnist's first layer at batch 128
/// (training) and 1024 (inference), wide-adam's 1024→2048 at batch 256, and one sample.
const WORKLOAD_SHAPES: [(usize, usize, usize); 4] =
    [(128, 784, 512), (1024, 784, 512), (256, 1024, 2048), (1, 784, 512)];

/// `out = op(a)·op(b)` through the wrapper.
fn product<F: Float>(a: &Tensor<F>, ta: Transpose, b: &Tensor<F>, tb: Transpose, out: &mut Tensor<F>) {
    gemm(F::one(), a.view2().unwrap(), ta, b.view2().unwrap(), tb, F::zero(), out.view2_mut().unwrap())
        .unwrap();
    black_box(out);
}

fn bench_shapes<F: Float>(c: &mut Criterion) {
    let mut group = c.benchmark_group(format!("gemm_shapes_{}", F::NAME));
    let mut rng = TensorRng::seed_from_u64(1);
    let mut random =
        |shape: &[usize]| Tensor::<F>::from_shape_fn(shape, |_| F::from_f64(rng.uniform_range(-1.0, 1.0)));
    for (m, k, n) in WORKLOAD_SHAPES {
        let (x, w, dy) = (random(&[m, k]), random(&[k, n]), random(&[m, n]));
        group.throughput(Throughput::Elements((2 * m * n * k) as u64));
        let mut y = Tensor::<F>::zeros(&[m, n]);
        group.bench_function(format!("{m}x{k}x{n}"), |bench| {
            bench.iter(|| product(&x, Transpose::No, &w, Transpose::No, &mut y))
        });
        if m > 1 {
            let mut dw = Tensor::<F>::zeros(&[k, n]);
            group.bench_function(format!("{m}x{k}x{n}_At_B"), |bench| {
                bench.iter(|| product(&x, Transpose::Yes, &dy, Transpose::No, &mut dw))
            });
        }
        let mut dx = Tensor::<F>::zeros(&[m, k]);
        group.bench_function(format!("{m}x{k}x{n}_A_Bt"), |bench| {
            bench.iter(|| product(&dy, Transpose::No, &w, Transpose::Yes, &mut dx))
        });
    }
    group.finish();
}

fn gemm_benches(c: &mut Criterion) {
    bench_type::<f32>(c);
    bench_type::<f64>(c);
    bench_shapes::<f32>(c);
    bench_shapes::<f64>(c);
}

criterion_group!(benches, gemm_benches);
criterion_main!(benches);
