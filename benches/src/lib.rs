//! Criterion benches of backprop's reference workloads live in `benches/benches/`; run them with
//! `cargo xtask bench`.
//!
//! This library holds what several benches share: the thread count they run on, where the
//! benches that are not criterion's write their results (read by `cargo xtask bench`), and the
//! FMA peak kernel ([`peak`]).
//!
//! It also compiles the workspace README's code example as a doc test, so the example users
//! read first always works.

use std::path::PathBuf;

pub mod peak;

#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

/// The thread count the benches run on: `BACKPROP_THREADS`, default 2 (as `cargo xtask bench`
/// passes it).
pub fn threads() -> usize {
    std::env::var("BACKPROP_THREADS").ok().and_then(|v| v.parse().ok()).filter(|&n| n > 0).unwrap_or(2)
}

/// Whether a bench that is not criterion's was started by `cargo bench` (which passes
/// `--bench`) rather than by `cargo test --all-targets` (which runs benches once as tests, where
/// a seconds-long measurement would only slow the suite down). Says so when it was not.
pub fn started_by_cargo_bench(name: &str) -> bool {
    let bench = std::env::args().any(|a| a == "--bench");
    if !bench {
        println!(
            "{name}: not measured under `cargo test` (run `cargo bench -p backprop-benches --bench {name}`)"
        );
    }
    bench
}

/// Where the benches that are not criterion's write their JSON results: `$BACKPROP_BENCH_OUT`
/// (set by `cargo xtask bench`), else `bench/` in `$CARGO_TARGET_DIR` or the workspace's
/// `target/`.
pub fn out_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("BACKPROP_BENCH_OUT") {
        return PathBuf::from(dir);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join("target"));
    target.join("bench")
}

/// Writes `text` to `name` in [`out_dir`] (atomically), returning the path written, or why not.
pub fn write_result(name: &str, text: &str) -> Result<PathBuf, String> {
    let dir = out_dir();
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let path = dir.join(name);
    backprop_nn::safetensors_file::write_atomic(&path, text.as_bytes()).map_err(|e| e.to_string())?;
    Ok(path)
}
