//! gemm throughput: backprop's wrapper against a direct `cblas_?gemm` call, side by side.
//!
//! Reports GFLOP/s (criterion's element throughput is set to the 2n³ floating-point operations
//! of one product) for n = 64 … 2048, f32 and f64. The wrapper must stay within 3% of the direct
//! call for n ≥ 256.

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

fn gemm_benches(c: &mut Criterion) {
    bench_type::<f32>(c);
    bench_type::<f64>(c);
}

criterion_group!(benches, gemm_benches);
criterion_main!(benches);
