//! `backprop info`: the machine and the code each element type's matrix products run on, so
//! that a slow path (such as OpenBLAS falling back to SSE3 kernels on a processor it does not
//! know) is never silent.

use backprop_tensor::cpu::{self, GemmPath};

use crate::error::Result;

/// The lines `backprop info` prints.
pub fn lines() -> Vec<String> {
    let caches = cpu::cache_sizes();
    let kib = |bytes: usize| format!("{} KiB", bytes / 1024);
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    let path = |path: GemmPath| path.to_string();
    vec![
        format!("backprop {}", env!("CARGO_PKG_VERSION")),
        format!("cpu: {} ({} logical cores, {})", cpu::cpu_model(), cores, cpu::cpu_isa().name()),
        format!(
            "caches: L1d {}, L2 {}, L3 {} shared by {} CPUs (from {})",
            kib(caches.l1d),
            kib(caches.l2),
            kib(caches.l3),
            caches.l3_sharing,
            caches.source
        ),
        format!("openblas: {} kernels", cpu::openblas_core()),
        format!("gemm f32: {}", path(cpu::gemm_path::<f32>())),
        format!("gemm f64: {}", path(cpu::gemm_path::<f64>())),
    ]
}

/// Prints [`lines`].
pub fn run() -> Result<()> {
    for line in lines() {
        crate::report::emit(&line);
    }
    Ok(())
}
