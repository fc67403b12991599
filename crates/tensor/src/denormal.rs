//! Flushing subnormal ("denormal") numbers to zero: PyTorch's `torch.set_flush_denormal`.
//!
//! Numbers below `F::MIN_POSITIVE` in magnitude are subnormal: IEEE 754 keeps them, with less
//! precision, and on x86 every instruction that reads or writes one takes a slow path in
//! microcode, tens to hundreds of cycles instead of one. Training makes them: Adam's first
//! moment of a weight whose gradient has become zero (a dead ReLU unit, a pixel that is always
//! black) decays by β₁ = 0.9 per step and is subnormal after about 700 steps, and from then on
//! every update of that weight is slow. On the Fashion-MNIST recipe (docs/PERFORMANCE.md) the
//! optimizer's share of an epoch grew from 6% to 28% by the fourth epoch, and the epoch from
//! 0.99 to 1.64 s.
//!
//! Flushing sets the processor's FTZ (a subnormal result becomes zero) and DAZ (a subnormal
//! operand reads as zero) modes. Results then differ from IEEE arithmetic only where a subnormal
//! number was involved, by less than `F::MIN_POSITIVE` (an Adam step that would have moved a
//! weight by ~1e-33 moves it by 0); they are still deterministic. It is off by default, as in
//! PyTorch (TensorFlow flushes by default).
//!
//! The modes belong to each thread: [`set_flush_denormal`] sets them on the calling thread, and
//! the kernels' team ([`crate::parallel_for`]) applies them on its threads before each job.
//! Threads of OpenBLAS and of rayon's pool keep IEEE arithmetic.

use std::sync::atomic::{AtomicBool, Ordering};

/// Whether flushing is asked for (the team's threads follow it).
static FLUSH: AtomicBool = AtomicBool::new(false);

/// MXCSR's flush-to-zero bit (results).
#[cfg(target_arch = "x86_64")]
const FTZ: u32 = 1 << 15;
/// MXCSR's denormals-are-zero bit (operands).
#[cfg(target_arch = "x86_64")]
const DAZ: u32 = 1 << 6;

/// Turns flushing of subnormal numbers to zero on or off, for the calling thread and the
/// kernels' team; returns whether this processor supports it (x86-64 does; elsewhere nothing
/// changes), as `torch.set_flush_denormal` does.
///
/// ```
/// use backprop_tensor::{flush_denormal, set_flush_denormal};
///
/// let tiny = std::hint::black_box(f32::MIN_POSITIVE);
/// if set_flush_denormal(true) {
///     assert_eq!(tiny / 4.0, 0.0); // subnormal result, flushed
/// }
/// set_flush_denormal(false);
/// assert_eq!(tiny / 4.0, f32::MIN_POSITIVE / 4.0); // IEEE again
/// assert!(!flush_denormal());
/// ```
pub fn set_flush_denormal(on: bool) -> bool {
    if !cfg!(target_arch = "x86_64") {
        return false;
    }
    FLUSH.store(on, Ordering::SeqCst);
    apply(on);
    true
}

/// Whether flushing of subnormal numbers is on ([`set_flush_denormal`]).
pub fn flush_denormal() -> bool {
    FLUSH.load(Ordering::Relaxed)
}

/// For a thread of the team, before a job: sets its modes to what was last asked for, if its
/// own setting (`mine`) differs (one relaxed load when nothing changed).
pub(crate) fn follow(mine: &mut bool) {
    let asked = FLUSH.load(Ordering::Relaxed);
    if asked != *mine {
        apply(asked);
        *mine = asked;
    }
}

/// Sets or clears FTZ and DAZ in this thread's MXCSR register.
fn apply(on: bool) {
    #[cfg(target_arch = "x86_64")]
    {
        let mut csr: u32 = 0;
        // SAFETY: stmxcsr stores the 32-bit control register to the given address, a local.
        unsafe { std::arch::asm!("stmxcsr [{}]", in(reg) &mut csr, options(nostack, preserves_flags)) };
        let csr = if on { csr | FTZ | DAZ } else { csr & !(FTZ | DAZ) };
        // SAFETY: ldmxcsr loads the register from a local; only the FTZ and DAZ bits changed,
        // which are valid in every state (no exception is unmasked).
        unsafe { std::arch::asm!("ldmxcsr [{}]", in(reg) &csr, options(nostack, preserves_flags)) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = on;
}
