//! Where threads start to pay for elementwise kernels: the measurement behind
//! `backprop_tensor::PARALLEL_THRESHOLD`.
//!
//! For sizes on both sides of the threshold, a plain loop on the calling thread against the
//! same loop split over rayon's pool, for a cheap kernel (`a·x + b`) and a costly one (tanh).
//! Below the crossover the serial loop wins; the threshold sits where they meet for the cheap
//! kernel (the costly one crosses earlier, so the threshold is conservative for it).

use std::hint::black_box;

use backprop_tensor::{PARALLEL_THRESHOLD, TensorRng};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rayon::prelude::*;

const CHUNK: usize = 1 << 13;

fn serial(x: &mut [f32], f: impl Fn(f32) -> f32) {
    for v in x.iter_mut() {
        *v = f(*v);
    }
}

fn parallel(x: &mut [f32], f: impl Fn(f32) -> f32 + Sync + Send) {
    x.par_chunks_mut(CHUNK).for_each(|c| {
        for v in c.iter_mut() {
            *v = f(*v);
        }
    });
}

fn bench_kernel(c: &mut Criterion, name: &str, kernel: impl Fn(f32) -> f32 + Copy + Sync + Send) {
    let mut rng = TensorRng::seed_from_u64(0);
    let mut group = c.benchmark_group(format!("kernels_{name}"));
    for shift in [10u32, 12, 14, 15, 16, 18, 20] {
        let n = 1usize << shift;
        let mut x: Vec<f32> = (0..n).map(|_| rng.uniform_range(-2.0, 2.0) as f32).collect();
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("serial", n), &n, |b, _| {
            b.iter(|| {
                serial(&mut x, kernel);
                black_box(&x);
            })
        });
        group.bench_with_input(BenchmarkId::new("rayon", n), &n, |b, _| {
            b.iter(|| {
                parallel(&mut x, kernel);
                black_box(&x);
            })
        });
        group.bench_with_input(BenchmarkId::new("map_inplace", n), &n, |b, _| {
            b.iter(|| {
                backprop_tensor::map_inplace(&mut x, kernel);
                black_box(&x);
            })
        });
    }
    group.finish();
}

fn kernels(c: &mut Criterion) {
    if let Ok(n) = std::env::var("BACKPROP_THREADS").map(|t| t.parse().unwrap_or(2)) {
        let _ = backprop_tensor::set_num_threads(n);
    }
    // Values stay bounded over repeated iterations: a contraction towards 1, and tanh.
    bench_kernel(c, "axpb", |v| 0.5 * v + 0.5);
    bench_kernel(c, "tanh", |v| v.tanh());
    eprintln!("PARALLEL_THRESHOLD = {PARALLEL_THRESHOLD}");
}

criterion_group!(benches, kernels);
criterion_main!(benches);
