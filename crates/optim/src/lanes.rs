//! Running a fused update over one parameter's buffers: compiled for the widest vector unit the
//! processor has, and in parallel chunks for large parameters.
//!
//! The update rules are elementwise, so any split of the buffers into chunks, and any vector
//! width, gives the same numbers bit for bit (the compiler never fuses a multiply and an add on
//! its own, and square roots and divisions are exact to the last bit in every width).

use backprop_tensor::{Float, parallel_for};

/// Parameters with fewer elements than this are updated on the calling thread (a 784×512
/// weight is split; a bias is not).
pub(crate) const PARALLEL_MIN: usize = 1 << 16;

/// Elements per parallel task.
const CHUNK: usize = 1 << 14;

/// An elementwise update of a parameter `θ` from its gradient and up to three state buffers
/// (each the length of `θ`, or empty when the rule does not use it).
pub(crate) trait Update<F: Float>: Sync {
    /// Updates one chunk. Implementations are `#[inline(always)]` so that the loop is compiled
    /// inside the vector-unit wrappers below.
    fn run(&self, theta: &mut [F], grad: &[F], state: [&mut [F]; 3]);
}

/// Applies `update` to the whole parameter.
///
/// # Panics
/// When a state buffer is neither empty nor the length of `theta`, or `grad` is not.
pub(crate) fn apply<F: Float, U: Update<F>>(update: &U, theta: &mut [F], grad: &[F], state: [&mut [F]; 3]) {
    let len = theta.len();
    assert_eq!(grad.len(), len, "gradient and parameter lengths differ");
    assert!(state.iter().all(|s| s.is_empty() || s.len() == len), "state buffers must match the parameter");
    if len < PARALLEL_MIN {
        vectorised(update, theta, grad, state);
        return;
    }
    let theta_ptr = Shared(theta.as_mut_ptr());
    let state_ptrs = state.map(|s| (Shared(s.as_mut_ptr()), s.len()));
    let grad_ptr = Shared(grad.as_ptr().cast_mut());
    parallel_for(len.div_ceil(CHUNK), |c| {
        let start = c * CHUNK;
        let n = CHUNK.min(len - start);
        // SAFETY: the chunks are disjoint ranges of buffers that this call borrows mutably
        // (gradient: immutably) for its whole duration; empty state buffers stay empty.
        unsafe {
            let theta = std::slice::from_raw_parts_mut(theta_ptr.get().add(start), n);
            let grad = std::slice::from_raw_parts(grad_ptr.get().add(start).cast_const(), n);
            let state = state_ptrs.map(|(p, l)| {
                if l == 0 { &mut [][..] } else { std::slice::from_raw_parts_mut(p.get().add(start), n) }
            });
            vectorised(update, theta, grad, state);
        }
    });
}

/// A pointer shared by the parallel tasks, each of which touches its own range.
#[derive(Clone, Copy)]
struct Shared<F>(*mut F);

impl<F> Shared<F> {
    /// The pointer (a method, so that closures capture the whole `Shared`, which is `Sync`).
    fn get(self) -> *mut F {
        self.0
    }
}

// SAFETY: the tasks only dereference disjoint ranges (see `apply`).
unsafe impl<F> Send for Shared<F> {}
// SAFETY: as above.
unsafe impl<F> Sync for Shared<F> {}

/// Runs the update compiled for AVX-512 or AVX2 when the processor has them.
fn vectorised<F: Float, U: Update<F>>(update: &U, theta: &mut [F], grad: &[F], state: [&mut [F]; 3]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the processor supports AVX-512F.
            return unsafe { run_avx512(update, theta, grad, state) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the processor supports AVX2.
            return unsafe { run_avx2(update, theta, grad, state) };
        }
    }
    update.run(theta, grad, state);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn run_avx512<F: Float, U: Update<F>>(update: &U, theta: &mut [F], grad: &[F], state: [&mut [F]; 3]) {
    update.run(theta, grad, state);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn run_avx2<F: Float, U: Update<F>>(update: &U, theta: &mut [F], grad: &[F], state: [&mut [F]; 3]) {
    update.run(theta, grad, state);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// θ ← θ·0.5 + g, s₀ ← s₀ + g (s₁, s₂ unused).
    struct Halve;

    impl Update<f32> for Halve {
        #[inline(always)]
        fn run(&self, theta: &mut [f32], grad: &[f32], [s0, s1, s2]: [&mut [f32]; 3]) {
            assert!(s1.is_empty() && s2.is_empty());
            for ((t, &g), s) in theta.iter_mut().zip(grad).zip(s0.iter_mut()) {
                *t = *t * 0.5 + g;
                *s += g;
            }
        }
    }

    #[test]
    fn chunked_parallel_runs_cover_every_element_once() {
        for len in [10, PARALLEL_MIN + 3 * CHUNK + 7] {
            let mut theta: Vec<f32> = (0..len).map(|i| i as f32).collect();
            let grad: Vec<f32> = (0..len).map(|i| (i % 7) as f32).collect();
            let mut sum = vec![1.0f32; len];
            apply(&Halve, &mut theta, &grad, [&mut sum, &mut [], &mut []]);
            for i in 0..len {
                assert_eq!(theta[i], i as f32 * 0.5 + (i % 7) as f32, "element {i} of {len}");
                assert_eq!(sum[i], 1.0 + (i % 7) as f32);
            }
        }
    }
}
