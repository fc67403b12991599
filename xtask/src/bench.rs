//! `cargo xtask bench [--quick] [--threads N]`: the criterion benches, a summary of the reference
//! workloads in `target/bench/summary.json`, and, when PyTorch is importable, the same
//! workloads in PyTorch in the same invocation with the ratio of the two.
//!
//! The workloads are those of `shared/bench/torch_reference.py`; the Rust side is the `workloads`
//! criterion bench. The Python interpreter is `$PYTHON` (default `python3`); the PyTorch script is
//! `$TORCH_REFERENCE` (default `../shared/bench/torch_reference.py`).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::workspace_root;

/// The workloads, in the order of the reference script, with the FLOPs of one step where the
/// reference reports GFLOP/s (6·batch·Σ in·out for a training step).
const WORKLOADS: [(&str, Option<u64>); 6] = [
    ("playground", Some(6 * 10 * (2 * 8 + 8 * 8 + 8))),
    ("mnist-sgd", Some(6 * 128 * (784 * 512 + 512 * 256 + 256 * 10))),
    ("mnist-adam", Some(6 * 128 * (784 * 512 + 512 * 256 + 256 * 10))),
    ("wide-adam", Some(6 * 256 * (1024 * 2048 + 2048 * 2048 + 2048 * 1024))),
    ("infer-b1", None),
    ("infer-b1024", None),
];

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let mut quick = false;
    let mut threads = 2usize;
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "--quick" => quick = true,
            "--threads" => {
                threads = iter
                    .next()
                    .and_then(|v| v.parse().ok())
                    .filter(|&n: &usize| n > 0)
                    .ok_or("--threads needs a positive integer")?;
            }
            other => {
                return Err(format!("bench: unknown argument `{other}` (expected --quick, --threads N)"));
            }
        }
    }
    let root = workspace_root();
    let threads_s = threads.to_string();
    let envs = [("BACKPROP_THREADS", threads_s.as_str()), ("OPENBLAS_NUM_THREADS", threads_s.as_str())];
    let mut bench_args = vec!["bench", "--package", "backprop-benches"];
    if quick {
        bench_args.extend(["--bench", "workloads", "--bench", "gemm", "--", "--quick", "--noplot"]);
        // Only the sizes that matter for the 3% claim in quick mode.
        bench_args.push("workloads|gemm_f32/(wrapper|direct_cblas)/(256|1024)$");
    } else {
        bench_args.extend(["--", "--noplot"]);
    }
    crate::run_with_env(&crate::cargo_path(), &bench_args, &envs)?;

    let criterion_dir = root.join("target").join("criterion").join("workloads");
    let mut rows = Vec::new();
    for (name, flops) in WORKLOADS {
        let seconds = read_median_seconds(&criterion_dir.join(name).join("new").join("estimates.json"));
        rows.push((name, flops, seconds));
    }
    let torch = run_torch(threads);
    let summary = summary_json(&rows, threads, torch.as_ref().ok());
    let out_dir = root.join("target").join("bench");
    std::fs::create_dir_all(&out_dir).map_err(|e| format!("cannot create {}: {e}", out_dir.display()))?;
    let summary_path = out_dir.join("summary.json");
    std::fs::write(&summary_path, summary)
        .map_err(|e| format!("cannot write {}: {e}", summary_path.display()))?;
    if let Ok(torch_json) = &torch {
        let torch_path = out_dir.join("torch.json");
        std::fs::write(&torch_path, torch_json)
            .map_err(|e| format!("cannot write {}: {e}", torch_path.display()))?;
    }
    println!("{}", table(&rows, threads, torch.as_ref().ok()));
    if let Err(why) = &torch {
        println!("PyTorch comparison skipped: {why}");
    }
    println!("summary written to {}", summary_path.display());
    Ok(())
}

/// The median of a criterion `estimates.json`, in seconds.
fn read_median_seconds(path: &Path) -> Option<f64> {
    let text = std::fs::read_to_string(path).ok()?;
    let median = &text[text.find("\"median\"")?..];
    let value = &median[median.find("\"point_estimate\":")? + "\"point_estimate\":".len()..];
    let end = value.find([',', '}'])?;
    value[..end].trim().parse::<f64>().ok().map(|ns| ns * 1e-9)
}

fn torch_script() -> PathBuf {
    std::env::var_os("TORCH_REFERENCE").map(PathBuf::from).unwrap_or_else(|| {
        workspace_root().join("..").join("shared").join("bench").join("torch_reference.py")
    })
}

/// Runs the PyTorch reference script; its JSON output, or why it could not run.
fn run_torch(threads: usize) -> Result<String, String> {
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let importable = Command::new(&python).args(["-c", "import torch"]).output().map(|o| o.status.success());
    if !matches!(importable, Ok(true)) {
        return Err(format!("`{python} -c 'import torch'` failed (set PYTHON to an interpreter with torch)"));
    }
    let script = torch_script();
    if !script.exists() {
        return Err(format!("{} not found (set TORCH_REFERENCE)", script.display()));
    }
    eprintln!("xtask: running {} {} with {threads} threads", python, script.display());
    let out = Command::new(&python)
        .arg(&script)
        .arg(threads.to_string())
        .env("OMP_NUM_THREADS", threads.to_string())
        .output()
        .map_err(|e| format!("could not start {python}: {e}"))?;
    if !out.status.success() {
        return Err(format!("the PyTorch script failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Seconds per step of `name` in the PyTorch script's JSON output.
fn torch_seconds(torch_json: &str, name: &str) -> Option<f64> {
    let key = format!("\"workload\": \"{name}\"");
    let at = torch_json.find(&key)?;
    let rest = &torch_json[at..];
    let value = &rest[rest.find("\"seconds_per_step\":")? + "\"seconds_per_step\":".len()..];
    let end = value.find([',', '}'])?;
    value[..end].trim().parse().ok()
}

fn json_number(x: Option<f64>) -> String {
    match x {
        Some(v) if v.is_finite() => format!("{v:e}"),
        _ => "null".into(),
    }
}

fn summary_json(rows: &[(&str, Option<u64>, Option<f64>)], threads: usize, torch: Option<&String>) -> String {
    let mut s = String::from("{\n  \"engine\": \"backprop\",\n");
    let _ = writeln!(s, "  \"threads\": {threads},\n  \"results\": [");
    for (i, (name, flops, seconds)) in rows.iter().enumerate() {
        let gflops = match (flops, seconds) {
            (Some(f), Some(t)) => Some(*f as f64 / t / 1e9),
            _ => None,
        };
        let torch_s = torch.and_then(|t| torch_seconds(t, name));
        let ratio = match (seconds, torch_s) {
            (Some(a), Some(b)) => Some(a / b),
            _ => None,
        };
        let _ = write!(
            s,
            "    {{\"workload\": \"{name}\", \"seconds_per_step\": {}, \"gflops\": {}, \"threads\": {threads}, \"torch_seconds_per_step\": {}, \"ratio_to_torch\": {}}}",
            json_number(*seconds),
            json_number(gflops),
            json_number(torch_s),
            json_number(ratio)
        );
        s.push_str(if i + 1 < rows.len() { ",\n" } else { "\n" });
    }
    s.push_str("  ]\n}\n");
    s
}

fn table(rows: &[(&str, Option<u64>, Option<f64>)], threads: usize, torch: Option<&String>) -> String {
    let mut s = format!(
        "{:<12} {:>14} {:>10} {:>14} {:>8}   ({threads} threads)\n",
        "workload", "backprop", "GFLOP/s", "pytorch", "ratio"
    );
    for (name, flops, seconds) in rows {
        let fmt_t = |t: Option<f64>| t.map_or("-".to_string(), |t| format!("{:.4} ms", t * 1e3));
        let gflops = match (flops, seconds) {
            (Some(f), Some(t)) => format!("{:.1}", *f as f64 / t / 1e9),
            _ => "-".into(),
        };
        let torch_s = torch.and_then(|t| torch_seconds(t, name));
        let ratio = match (seconds, torch_s) {
            (Some(a), Some(b)) => format!("{:.3}", a / b),
            _ => "-".into(),
        };
        let _ =
            writeln!(s, "{name:<12} {:>14} {gflops:>10} {:>14} {ratio:>8}", fmt_t(*seconds), fmt_t(torch_s));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_criterion_estimates_and_torch_output() {
        let dir = std::env::temp_dir().join(format!("xtask-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("estimates.json");
        std::fs::write(&path, r#"{"mean":{"point_estimate":5.0},"median":{"confidence_interval":{"lower_bound":1.0},"point_estimate":2500.0,"standard_error":3.0}}"#).unwrap();
        assert_eq!(read_median_seconds(&path), Some(2.5e-6));
        let torch = r#"{"results": [{"workload": "playground", "seconds_per_step": 0.00028, "gflops": 1.0}, {"workload": "infer-b1", "seconds_per_step": 7e-05}]}"#;
        assert_eq!(torch_seconds(torch, "playground"), Some(0.00028));
        assert_eq!(torch_seconds(torch, "infer-b1"), Some(7e-05));
        assert_eq!(torch_seconds(torch, "wide-adam"), None);
        let json = summary_json(&[("playground", Some(100), Some(1e-6))], 2, Some(&torch.to_string()));
        assert!(json.contains("\"ratio_to_torch\": "), "{json}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
