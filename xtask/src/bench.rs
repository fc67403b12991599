//! `cargo xtask bench [--quick] [--threads N]`: the criterion benches, a summary of the reference
//! workloads in `target/bench/summary.json`, and, when PyTorch is importable, the same
//! workloads in PyTorch in the same invocation with the ratio of the two.
//!
//! The workloads are those of `shared/bench/torch_reference.py`; the Rust side is the `workloads`
//! criterion bench, plus `fmnist-epoch` (the `fmnist` bench, one epoch of Fashion-MNIST, against
//! `shared/bench/torch_fmnist.py` run for one epoch). The `peak` bench measures the machine's FMA
//! peak and describes the machine (`machine.json`); the table and summary.json carry both, and
//! each workload's GFLOP/s as a percentage of the `f32` peak on the same number of threads.
//!
//! Criterion's results are read from `$CARGO_TARGET_DIR/criterion` when `CARGO_TARGET_DIR` is
//! set (where cargo puts them), else from the workspace's `target/criterion`. `--quick` runs a
//! shorter criterion (1 s warm-up, 10 samples over 3 s, median of the samples) rather than
//! criterion's own `--quick`, which stops after about 100 ms without a warm-up.
//!
//! The Python interpreter is `$PYTHON` (default `python3`); the PyTorch scripts are
//! `$TORCH_REFERENCE` and `$TORCH_FMNIST` (defaults `../shared/bench/torch_reference.py` and
//! `../shared/bench/torch_fmnist.py`).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::workspace_root;

/// FLOPs of one step (or epoch) of an MLP with these layer sizes at this batch, as the
/// reference counts a training step: 6·batch·Σ in·out.
const fn train_flops(batch: u64, sizes: &[u64]) -> u64 {
    let mut sum = 0;
    let mut i = 0;
    while i + 1 < sizes.len() {
        sum += sizes[i] * sizes[i + 1];
        i += 1;
    }
    6 * batch * sum
}

/// The MLP of the mnist workloads and of fmnist-epoch.
const MNIST_MLP: [u64; 4] = [784, 512, 256, 10];

/// The workloads, in the order of the reference script, with the FLOPs of one step where the
/// reference reports GFLOP/s, then fmnist-epoch (one epoch of 60 000 images in batches of 128:
/// 468 full batches and one of 96, the same FLOPs as 60 000 rows).
const WORKLOADS: [(&str, Option<u64>); 7] = [
    ("playground", Some(train_flops(10, &[2, 8, 8, 1]))),
    ("mnist-sgd", Some(train_flops(128, &MNIST_MLP))),
    ("mnist-adam", Some(train_flops(128, &MNIST_MLP))),
    ("wide-adam", Some(train_flops(256, &[1024, 2048, 2048, 1024]))),
    ("infer-b1", None),
    ("infer-b1024", None),
    (FMNIST, Some(train_flops(60_000, &MNIST_MLP))),
];

/// The workload measured by the `fmnist` bench rather than criterion.
const FMNIST: &str = "fmnist-epoch";

/// criterion's arguments for `--quick`: a warm-up, then the median of 10 samples (windows).
const QUICK_CRITERION: [&str; 6] = ["--warm-up-time", "1", "--measurement-time", "3", "--sample-size", "10"];

/// One row of the table: a workload, its FLOPs, backprop's seconds and PyTorch's.
struct Row {
    name: &'static str,
    flops: Option<u64>,
    seconds: Option<f64>,
    torch: Option<f64>,
}

impl Row {
    fn gflops(&self) -> Option<f64> {
        Some(self.flops? as f64 / self.seconds? / 1e9)
    }

    fn ratio(&self) -> Option<f64> {
        Some(self.seconds? / self.torch?)
    }

    /// GFLOP/s as a percentage of `peak` GFLOP/s.
    fn percent_of(&self, peak: Option<f64>) -> Option<f64> {
        Some(100.0 * self.gflops()? / peak?)
    }
}

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
    let target = target_dir(&root, std::env::var_os("CARGO_TARGET_DIR").as_deref());
    let out_dir = target.join("bench");
    std::fs::create_dir_all(&out_dir).map_err(|e| format!("cannot create {}: {e}", out_dir.display()))?;
    // Results of an earlier run must not be read as this one's.
    for name in ["machine.json", "fmnist.json"] {
        let _ = std::fs::remove_file(out_dir.join(name));
    }
    let threads_s = threads.to_string();
    let out_s = out_dir.to_string_lossy().into_owned();
    let envs = [
        ("BACKPROP_THREADS", threads_s.as_str()),
        ("OPENBLAS_NUM_THREADS", threads_s.as_str()),
        ("BACKPROP_BENCH_OUT", out_s.as_str()),
    ];
    crate::run_with_env(&crate::cargo_path(), &bench_args(quick), &envs)?;

    let criterion_dir = target.join("criterion").join("workloads");
    let machine = std::fs::read_to_string(out_dir.join("machine.json")).ok();
    let fmnist = std::fs::read_to_string(out_dir.join("fmnist.json")).ok();
    let torch = run_torch(threads);
    let torch_fmnist = run_torch_fmnist(threads);
    let rows: Vec<Row> = WORKLOADS
        .iter()
        .map(|&(name, flops)| {
            let (seconds, torch) = if name == FMNIST {
                (
                    fmnist.as_deref().and_then(|t| number_after(t, "seconds_per_epoch")),
                    torch_fmnist.as_deref().ok().and_then(|t| number_after(t, "train_seconds")),
                )
            } else {
                (
                    read_median_seconds(&criterion_dir.join(name).join("new").join("estimates.json")),
                    torch.as_deref().ok().and_then(|t| torch_seconds(t, name)),
                )
            };
            Row { name, flops, seconds, torch }
        })
        .collect();
    let summary = summary_json(&rows, threads, machine.as_deref());
    let summary_path = out_dir.join("summary.json");
    std::fs::write(&summary_path, summary)
        .map_err(|e| format!("cannot write {}: {e}", summary_path.display()))?;
    for (name, json) in [("torch.json", &torch), ("torch_fmnist.json", &torch_fmnist)] {
        if let Ok(json) = json {
            let path = out_dir.join(name);
            std::fs::write(&path, json).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        }
    }
    println!("{}", machine_lines(machine.as_deref()));
    println!("{}", table(&rows, threads, machine.as_deref()));
    if let Err(why) = &torch {
        println!("PyTorch comparison skipped: {why}");
    }
    if let Err(why) = &torch_fmnist {
        println!("PyTorch fmnist-epoch skipped: {why}");
    }
    if fmnist.is_none() {
        println!("fmnist-epoch: no result (the fmnist bench printed why above)");
    }
    println!("summary written to {}", summary_path.display());
    Ok(())
}

/// cargo's arguments: every bench, or with `quick` the workloads, the gemm sizes that matter,
/// the peak and fmnist-epoch, on a short criterion with a warm-up.
fn bench_args(quick: bool) -> Vec<&'static str> {
    let mut args = vec!["bench", "--package", "backprop-benches"];
    if quick {
        for bench in ["peak", "workloads", "gemm", "fmnist"] {
            args.extend(["--bench", bench]);
        }
        args.push("--");
        args.extend(QUICK_CRITERION);
        args.push("--noplot");
        // The filter reaches criterion's benches only; `peak` and `fmnist` ignore arguments.
        args.push("workloads|gemm_f32/(wrapper|direct_cblas)/(256|1024)$");
    } else {
        args.extend(["--", "--noplot"]);
    }
    args
}

/// Cargo's target folder: `CARGO_TARGET_DIR` (relative to the workspace root, where the benches
/// are built, when it is relative), else the workspace's `target/`.
fn target_dir(root: &Path, cargo_target_dir: Option<&std::ffi::OsStr>) -> PathBuf {
    match cargo_target_dir {
        Some(dir) if !dir.is_empty() => root.join(dir),
        _ => root.join("target"),
    }
}

/// The number after `"key":` in a JSON text (the first occurrence), as the benches and scripts
/// here write them (flat, no escaped keys).
fn number_after(text: &str, key: &str) -> Option<f64> {
    let quoted = format!("\"{key}\"");
    let rest = &text[text.find(&quoted)? + quoted.len()..];
    let value = rest.trim_start().strip_prefix(':')?.trim_start();
    let end = value.find([',', '}', '\n', ']']).unwrap_or(value.len());
    value[..end].trim().parse().ok()
}

/// The string after `"key":` in a JSON text (escapes other than `\"` and `\\` are kept as they
/// are; the benches write none).
fn string_after(text: &str, key: &str) -> Option<String> {
    let quoted = format!("\"{key}\"");
    let rest = &text[text.find(&quoted)? + quoted.len()..];
    let value = rest.trim_start().strip_prefix(':')?.trim_start().strip_prefix('"')?;
    let mut out = String::new();
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(out),
            '\\' => out.push(chars.next()?),
            c => out.push(c),
        }
    }
    None
}

/// The median of a criterion `estimates.json`, in seconds.
fn read_median_seconds(path: &Path) -> Option<f64> {
    let text = std::fs::read_to_string(path).ok()?;
    let median = &text[text.find("\"median\"")?..];
    number_after(median, "point_estimate").map(|ns| ns * 1e-9)
}

fn script(var: &str, name: &str) -> PathBuf {
    std::env::var_os(var)
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("..").join("shared").join("bench").join(name))
}

/// The Python interpreter with torch, or why there is none.
fn torch_python() -> Result<String, String> {
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let importable = Command::new(&python).args(["-c", "import torch"]).output().map(|o| o.status.success());
    if !matches!(importable, Ok(true)) {
        return Err(format!("`{python} -c 'import torch'` failed (set PYTHON to an interpreter with torch)"));
    }
    Ok(python)
}

/// Runs a PyTorch script with `args` on `threads` threads; its JSON output, or why it could not run.
fn run_script(script: &Path, var: &str, threads: usize, args: &[&str]) -> Result<String, String> {
    let python = torch_python()?;
    if !script.exists() {
        return Err(format!("{} not found (set {var})", script.display()));
    }
    eprintln!("xtask: running {} {} with {threads} threads", python, script.display());
    let out = Command::new(&python)
        .arg(script)
        .arg(threads.to_string())
        .args(args)
        .env("OMP_NUM_THREADS", threads.to_string())
        .output()
        .map_err(|e| format!("could not start {python}: {e}"))?;
    if !out.status.success() {
        return Err(format!("the PyTorch script failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs the PyTorch reference script of the criterion workloads.
fn run_torch(threads: usize) -> Result<String, String> {
    run_script(&script("TORCH_REFERENCE", "torch_reference.py"), "TORCH_REFERENCE", threads, &[])
}

/// Runs the PyTorch Fashion-MNIST script for one epoch, when the data is there.
fn run_torch_fmnist(threads: usize) -> Result<String, String> {
    let folder = std::env::var("FASHION_MNIST").unwrap_or_else(|_| crate::FASHION_MNIST_DIR.into());
    if !Path::new(&folder).join("train-images-idx3-ubyte.gz").is_file()
        && !Path::new(&folder).join("train-images-idx3-ubyte").is_file()
    {
        return Err(format!("no Fashion-MNIST in {folder} (cargo xtask deps --data, or set FASHION_MNIST)"));
    }
    run_script(&script("TORCH_FMNIST", "torch_fmnist.py"), "TORCH_FMNIST", threads, &["1", &folder])
}

/// Seconds per step of `name` in the PyTorch script's JSON output.
fn torch_seconds(torch_json: &str, name: &str) -> Option<f64> {
    let key = format!("\"workload\": \"{name}\"");
    let at = torch_json.find(&key)?;
    number_after(&torch_json[at..], "seconds_per_step")
}

fn json_number(x: Option<f64>) -> String {
    match x {
        Some(v) if v.is_finite() => format!("{v:e}"),
        _ => "null".into(),
    }
}

/// The `f32` FMA peak on the benches' thread count, from `machine.json`.
fn peak_f32(machine: Option<&str>) -> Option<f64> {
    number_after(machine?, "peak_f32_n")
}

fn summary_json(rows: &[Row], threads: usize, machine: Option<&str>) -> String {
    let mut s = String::from("{\n  \"engine\": \"backprop\",\n");
    let _ = writeln!(s, "  \"threads\": {threads},");
    // machine.json is one JSON object, embedded as it is.
    let _ = writeln!(s, "  \"machine\": {},", machine.map_or("null", str::trim));
    s.push_str("  \"results\": [\n");
    let peak = peak_f32(machine);
    for (i, row) in rows.iter().enumerate() {
        let _ = write!(
            s,
            "    {{\"workload\": \"{}\", \"seconds_per_step\": {}, \"gflops\": {}, \"percent_of_f32_peak\": {}, \"threads\": {threads}, \"torch_seconds_per_step\": {}, \"ratio_to_torch\": {}}}",
            row.name,
            json_number(row.seconds),
            json_number(row.gflops()),
            json_number(row.percent_of(peak)),
            json_number(row.torch),
            json_number(row.ratio())
        );
        s.push_str(if i + 1 < rows.len() { ",\n" } else { "\n" });
    }
    s.push_str("  ]\n}\n");
    s
}

/// The machine as the `peak` bench described it, in a few lines.
fn machine_lines(machine: Option<&str>) -> String {
    let Some(m) = machine else {
        return "machine: unknown (the peak bench wrote no machine.json)".into();
    };
    let text = |key| string_after(m, key).unwrap_or_else(|| "?".into());
    let num = |key| number_after(m, key).map_or("?".to_string(), |v| format!("{v}"));
    let kib = |key| number_after(m, key).map_or("?".to_string(), |v| format!("{} KiB", v / 1024.0));
    format!(
        "machine: {}, {} cores, L1d {}, L2 {}, L3 {} (shared by {}), {}\n\
         FMA peak GFLOP/s: f32 {} (1 thread) / {} ({} threads), f64 {} / {}\n\
         gemm f32: {}\ngemm f64: {}",
        text("cpu"),
        num("cores"),
        kib("l1d_bytes"),
        kib("l2_bytes"),
        kib("l3_bytes"),
        num("l3_sharing"),
        text("isa"),
        num("peak_f32_1"),
        num("peak_f32_n"),
        num("threads"),
        num("peak_f64_1"),
        num("peak_f64_n"),
        text("gemm_f32"),
        text("gemm_f64"),
    )
}

fn table(rows: &[Row], threads: usize, machine: Option<&str>) -> String {
    let mut s = format!(
        "{:<12} {:>14} {:>10} {:>8} {:>14} {:>8}   ({threads} threads)\n",
        "workload", "backprop", "GFLOP/s", "% peak", "pytorch", "ratio"
    );
    let peak = peak_f32(machine);
    let fmt = |x: Option<f64>, digits: usize| x.map_or("-".to_string(), |v| format!("{v:.digits$}"));
    for row in rows {
        let fmt_t = |t: Option<f64>| t.map_or("-".to_string(), |t| format!("{:.4} ms", t * 1e3));
        let _ = writeln!(
            s,
            "{:<12} {:>14} {:>10} {:>8} {:>14} {:>8}",
            row.name,
            fmt_t(row.seconds),
            fmt(row.gflops(), 1),
            fmt(row.percent_of(peak), 1),
            fmt_t(row.torch),
            fmt(row.ratio(), 3)
        );
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
        let rows = [Row {
            name: "playground",
            flops: Some(100),
            seconds: Some(1e-6),
            torch: torch_seconds(torch, "playground"),
        }];
        let json = summary_json(&rows, 2, None);
        assert!(json.contains("\"ratio_to_torch\": 3.5714"), "{json}");
        assert!(json.contains("\"machine\": null"), "{json}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn numbers_and_strings_are_found_after_their_keys() {
        let text = "{\"a\": 1.5e-3, \"b\" :2,\n \"c\": [3], \"s\": \"x \\\"y\\\" z\", \"t\": null}";
        assert_eq!(number_after(text, "a"), Some(1.5e-3));
        assert_eq!(number_after(text, "b"), Some(2.0));
        assert_eq!(number_after(text, "t"), None);
        assert_eq!(number_after(text, "missing"), None);
        assert_eq!(string_after(text, "s").as_deref(), Some("x \"y\" z"));
        assert_eq!(string_after(text, "a"), None);
        // The PyTorch fmnist script's total.
        let fmnist = "{\n \"engine\": \"pytorch 2.5\",\n \"threads\": 2,\n \"epochs\": 1,\n \"train_seconds\": 4.25,\n \"history\": []}";
        assert_eq!(number_after(fmnist, "train_seconds"), Some(4.25));
    }

    #[test]
    fn the_machine_and_percent_of_peak_reach_the_summary_and_table() {
        let machine = "{\n  \"cpu\": \"AMD EPYC\",\n  \"cores\": 2,\n  \"l1d_bytes\": 32768, \"l2_bytes\": 524288, \"l3_bytes\": 33554432, \"l3_sharing\": 2, \"cache_source\": \"sysfs\",\n  \"isa\": \"AVX2\",\n  \"gemm_f32\": \"OpenBLAS Zen kernels (AVX2)\",\n  \"threads\": 2,\n  \"peak_f32_1\": 60.0,\n  \"peak_f32_n\": 120.0,\n  \"peak_f64_1\": 30.0,\n  \"peak_f64_n\": 60.0\n}\n";
        let rows = [
            Row { name: "mnist-sgd", flops: Some(60_000_000_000), seconds: Some(1.0), torch: Some(2.0) },
            Row { name: "infer-b1", flops: None, seconds: Some(1e-5), torch: None },
        ];
        let json = summary_json(&rows, 2, Some(machine));
        assert!(json.contains("\"machine\": {\n  \"cpu\": \"AMD EPYC\""), "{json}");
        assert!(json.contains("\"gflops\": 6e1, \"percent_of_f32_peak\": 5e1"), "{json}");
        assert!(json.contains("\"workload\": \"infer-b1\", \"seconds_per_step\": 1e-5, \"gflops\": null, \"percent_of_f32_peak\": null"), "{json}");
        let printed = table(&rows, 2, Some(machine));
        let line = printed.lines().find(|l| l.starts_with("mnist-sgd")).unwrap();
        assert_eq!(
            line.split_whitespace().collect::<Vec<_>>(),
            ["mnist-sgd", "1000.0000", "ms", "60.0", "50.0", "2000.0000", "ms", "0.500"]
        );
        let lines = machine_lines(Some(machine));
        assert!(
            lines.contains("AMD EPYC, 2 cores, L1d 32 KiB, L2 512 KiB, L3 32768 KiB (shared by 2), AVX2"),
            "{lines}"
        );
        assert!(lines.contains("f32 60 (1 thread) / 120 (2 threads), f64 30 / 60"), "{lines}");
        assert!(lines.contains("gemm f32: OpenBLAS Zen kernels (AVX2)\ngemm f64: ?"), "{lines}");
    }

    #[test]
    fn criterion_results_come_from_cargo_target_dir() {
        let root = Path::new("/ws");
        assert_eq!(target_dir(root, None), PathBuf::from("/ws/target"));
        assert_eq!(target_dir(root, Some("".as_ref())), PathBuf::from("/ws/target"));
        assert_eq!(target_dir(root, Some("/elsewhere/t".as_ref())), PathBuf::from("/elsewhere/t"));
        assert_eq!(target_dir(root, Some("build".as_ref())), PathBuf::from("/ws/build"));
    }

    #[test]
    fn quick_keeps_a_warm_up_and_several_samples() {
        let quick = bench_args(true);
        let after = &quick[quick.iter().position(|&a| a == "--").unwrap() + 1..];
        assert!(!after.contains(&"--quick"), "{quick:?}");
        let value = |flag| after[after.iter().position(|&a| a == flag).unwrap() + 1].parse::<f64>().unwrap();
        assert!(value("--warm-up-time") >= 1.0);
        assert!(value("--sample-size") >= 10.0);
        for bench in ["peak", "fmnist", "workloads", "gemm"] {
            assert!(quick.windows(2).any(|w| w == ["--bench", bench]), "{quick:?}");
        }
        assert_eq!(bench_args(false), ["bench", "--package", "backprop-benches", "--", "--noplot"]);
    }

    #[test]
    fn flops_count_six_per_weight_and_row() {
        assert_eq!(train_flops(10, &[2, 8, 8, 1]), 6 * 10 * (2 * 8 + 8 * 8 + 8));
        assert_eq!(WORKLOADS[6], (FMNIST, Some(6 * 60_000 * (784 * 512 + 512 * 256 + 256 * 10))));
    }
}
