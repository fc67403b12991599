//! `backprop info` names the machine and the path of each element type's products.

use std::process::Command;

#[test]
fn info_reports_the_cpu_caches_and_each_gemm_path() {
    let out = Command::new(env!("CARGO_BIN_EXE_backprop")).arg("info").output().expect("backprop runs");
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let line = |prefix: &str| {
        text.lines().find(|l| l.starts_with(prefix)).unwrap_or_else(|| panic!("no `{prefix}` line in {text}"))
    };
    assert!(line("cpu: ").contains("logical cores"), "{text}");
    assert!(line("caches: L1d ").contains(" KiB"), "{text}");
    let core = line("openblas: ").trim_start_matches("openblas: ").trim_end_matches(" kernels").to_string();
    assert!(!core.is_empty() && core != "unknown", "{text}");
    // f64 always runs on OpenBLAS, named with the kernels it chose; f32 on it or on the
    // AVX-512 kernel.
    assert!(line("gemm f64: ").starts_with(&format!("gemm f64: OpenBLAS {core} kernels")), "{text}");
    let f32_line = line("gemm f32: ");
    assert!(
        f32_line.starts_with("gemm f32: backprop AVX-512 kernel (blocks mc=")
            || f32_line.starts_with(&format!("gemm f32: OpenBLAS {core} kernels")),
        "{text}"
    );
}

/// OpenBLAS honours `OPENBLAS_CORETYPE` (set here on the child only, as a user would): pinned to
/// its SSE3 kernels on a processor with AVX or more, `info` must call the path a fallback.
#[test]
fn a_fallback_openblas_core_is_reported() {
    let out = Command::new(env!("CARGO_BIN_EXE_backprop"))
        .arg("info")
        .env("OPENBLAS_CORETYPE", "Prescott")
        .output()
        .expect("backprop runs");
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("openblas: Prescott kernels"), "{text}");
    let f64_line = text.lines().find(|l| l.starts_with("gemm f64: ")).unwrap();
    let cpu_line = text.lines().find(|l| l.starts_with("cpu: ")).unwrap();
    if cpu_line.ends_with("SSE)") {
        assert!(!f64_line.contains("fallback"), "{text}");
    } else {
        assert!(f64_line.contains("a fallback below this CPU's"), "{text}");
    }
}
