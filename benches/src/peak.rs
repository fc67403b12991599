//! The machine's measured fused multiply-add peak: what a gemm could reach at best here.
//!
//! A loop of independent FMAs on registers (no memory traffic), with as many accumulators as it
//! takes to hide the FMA latency on both FMA ports of current cores (12 vectors; 4 cycles of
//! latency × 2 ports needs 8), on the widest vectors the processor has (AVX-512, else AVX2,
//! chosen at run time), timed over a few windows, of which the fastest counts. `cargo xtask
//! bench` divides each workload's GFLOP/s by it.

use std::time::Instant;

/// Vector FMAs per accumulator and loop round, unrolled (the accumulators are independent).
const ACCUMULATORS: usize = 12;

/// The vector instructions a peak was measured with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeakIsa {
    /// 512-bit AVX-512F.
    Avx512,
    /// 256-bit AVX2 with FMA3.
    Avx2,
}

impl PeakIsa {
    /// The widest this processor runs, if it has FMA at all.
    pub fn detect() -> Option<PeakIsa> {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                return Some(PeakIsa::Avx512);
            }
            if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
                return Some(PeakIsa::Avx2);
            }
        }
        None
    }

    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            PeakIsa::Avx512 => "AVX-512",
            PeakIsa::Avx2 => "AVX2",
        }
    }

    /// Bytes in one vector register.
    fn vector_bytes(self) -> usize {
        match self {
            PeakIsa::Avx512 => 64,
            PeakIsa::Avx2 => 32,
        }
    }
}

/// One FMA loop per vector type: `rounds` rounds of [`ACCUMULATORS`] independent FMAs; returns
/// a sum of the accumulators so that the loop cannot be removed.
macro_rules! fma_loop {
    ($name:ident, $feature:literal, $vec:ty, $set1:ident, $fma:ident, $store:ident, $scalar:ty, $lanes:literal) => {
        /// # Safety
        /// The processor must support the target feature.
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = $feature)]
        unsafe fn $name(rounds: u64, seed: $scalar) -> $scalar {
            use std::arch::x86_64::*;
            let x = $set1(1.0 + seed * 1e-9);
            let y = $set1(1.0 - seed * 1e-9);
            let mut acc: [$vec; ACCUMULATORS] = [$set1(seed); ACCUMULATORS];
            for _ in 0..rounds {
                for a in acc.iter_mut() {
                    *a = $fma(*a, x, y);
                }
            }
            let mut out = [0.0 as $scalar; $lanes];
            let mut total = 0.0;
            for a in acc {
                // SAFETY: `out` holds one vector.
                unsafe { $store(out.as_mut_ptr(), a) };
                total += out.iter().sum::<$scalar>();
            }
            total
        }
    };
}

fma_loop!(fma_f32_avx512, "avx512f", __m512, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_storeu_ps, f32, 16);
fma_loop!(fma_f64_avx512, "avx512f", __m512d, _mm512_set1_pd, _mm512_fmadd_pd, _mm512_storeu_pd, f64, 8);
fma_loop!(fma_f32_avx2, "avx2,fma", __m256, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_storeu_ps, f32, 8);
fma_loop!(fma_f64_avx2, "avx2,fma", __m256d, _mm256_set1_pd, _mm256_fmadd_pd, _mm256_storeu_pd, f64, 4);

/// Element type of a peak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    /// `f32`.
    F32,
    /// `f64`.
    F64,
}

/// Runs `rounds` rounds on one thread; the FLOPs done (2 per lane and FMA).
fn run_rounds(isa: PeakIsa, precision: Precision, rounds: u64, seed: u32) -> u64 {
    let sink = {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `isa` was detected on this processor (`PeakIsa::detect`).
        unsafe {
            match (isa, precision) {
                (PeakIsa::Avx512, Precision::F32) => fma_f32_avx512(rounds, seed as f32) as f64,
                (PeakIsa::Avx512, Precision::F64) => fma_f64_avx512(rounds, seed as f64),
                (PeakIsa::Avx2, Precision::F32) => fma_f32_avx2(rounds, seed as f32) as f64,
                (PeakIsa::Avx2, Precision::F64) => fma_f64_avx2(rounds, seed as f64),
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        0.0
    };
    std::hint::black_box(sink);
    let lanes = isa.vector_bytes() / if precision == Precision::F32 { 4 } else { 8 };
    rounds * (ACCUMULATORS * lanes * 2) as u64
}

/// The FMA peak in GFLOP/s on `threads` threads at once: the fastest of `windows` windows of
/// `rounds` rounds per thread.
pub fn measure(isa: PeakIsa, precision: Precision, threads: usize, rounds: u64, windows: usize) -> f64 {
    let mut best = 0.0f64;
    for window in 0..windows.max(1) {
        let start = Instant::now();
        let flops: u64 = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads.max(1))
                .map(|t| scope.spawn(move || run_rounds(isa, precision, rounds, (window * 64 + t) as u32)))
                .collect();
            workers.into_iter().map(|w| w.join().expect("an FMA thread panicked")).sum()
        });
        best = best.max(flops as f64 / start.elapsed().as_secs_f64() / 1e9);
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fma_loop_counts_its_flops_and_measures_a_positive_peak() {
        let Some(isa) = PeakIsa::detect() else {
            eprintln!("skipped: this processor has neither AVX-512F nor AVX2 with FMA");
            return;
        };
        let lanes = isa.vector_bytes() / 4;
        assert_eq!(run_rounds(isa, Precision::F32, 10, 0), 10 * 12 * lanes as u64 * 2);
        assert_eq!(run_rounds(isa, Precision::F64, 10, 0), 10 * 12 * lanes as u64);
        let peak = measure(isa, Precision::F64, 1, 10_000, 2);
        assert!(peak.is_finite() && peak > 0.0, "{peak}");
    }
}
