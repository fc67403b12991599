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
    // f64 runs on OpenBLAS, named with the kernels it chose, or in place of a fallback on the
    // gemm crate or (with AVX-512) the AVX-512 kernel; f32 on any of them.
    let on_openblas = |dtype: &str| {
        line(&format!("gemm {dtype}: ")).starts_with(&format!("gemm {dtype}: OpenBLAS {core} kernels"))
    };
    let on_gemm_crate = |dtype: &str| {
        line(&format!("gemm {dtype}: "))
            .starts_with(&format!("gemm {dtype}: the gemm crate, in place of OpenBLAS's {core} kernels"))
    };
    // f64 runs on the AVX-512 kernel only in place of a fallback, which the line says.
    let on_ours_for_fallback = line("gemm f64: ")
        .starts_with("gemm f64: backprop AVX-512 kernel (blocks mc=")
        && line("gemm f64: ").contains(&format!(", in place of OpenBLAS's {core} kernels"));
    assert!(on_openblas("f64") || on_gemm_crate("f64") || on_ours_for_fallback, "{text}");
    assert!(
        line("gemm f32: ").starts_with("gemm f32: backprop AVX-512 kernel (blocks mc=")
            || on_openblas("f32")
            || on_gemm_crate("f32"),
        "{text}"
    );
}

/// OpenBLAS honours `OPENBLAS_CORETYPE` (set here on the child only, as a user would): pinned to
/// its SSE3 kernels on a processor with AVX or more, `info` must call the path a fallback, and
/// say what replaces it: with AVX-512 backprop's AVX-512 kernel, with AVX2 and FMA the gemm
/// crate.
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
    } else if cpu_line.ends_with("AVX-512)") {
        assert!(
            f64_line.starts_with("gemm f64: backprop AVX-512 kernel (blocks mc=")
                && f64_line.ends_with(
                    ", in place of OpenBLAS's Prescott kernels (SSE), a fallback below this CPU's AVX-512"
                ),
            "{text}"
        );
    } else if cpu_line.ends_with("AVX)") {
        assert!(
            f64_line.starts_with("gemm f64: OpenBLAS Prescott kernels (SSE): a fallback below"),
            "{text}"
        );
    } else {
        assert!(
            f64_line.starts_with("gemm f64: the gemm crate, in place of OpenBLAS's Prescott kernels (SSE), a fallback below this CPU's"),
            "{text}"
        );
    }
}
