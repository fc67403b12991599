//! `backprop export` against the reference ONNX tools: `onnx.checker.check_model(full_check)`
//! and onnxruntime predict what `backprop predict` predicts on the same CSV, within 1e-5
//! (`tests/onnx/check.py`). Needs a Python with `onnx` and `onnxruntime`, named by
//! `BACKPROP_ONNX_PYTHON` (`cargo xtask onnx` creates one under `target/` and runs this test);
//! without it the test says why it skips.

mod common;

use std::path::Path;
use std::process::Command;

use common::{TempDir, backprop_line, sample};

/// The variable naming the Python to run `tests/onnx/check.py` with.
const PYTHON_VAR: &str = "BACKPROP_ONNX_PYTHON";

/// The Python of [`PYTHON_VAR`], or `None` (with the reason printed) when it is not set.
fn python() -> Option<String> {
    match std::env::var(PYTHON_VAR) {
        Ok(p) if !p.is_empty() => Some(p),
        _ => {
            eprintln!(
                "skipped: {PYTHON_VAR} is not set; `cargo xtask onnx` creates a venv with onnx and onnxruntime and runs this test"
            );
            None
        }
    }
}

/// Trains a model on `csv` with `train_args`, exports it, predicts the same CSV, and runs
/// the reference check on the three files.
fn check(python: &str, tag: &str, csv: &str, train_args: &str) {
    let dir = TempDir::new(tag);
    let (model, onnx, predictions) = (dir.arg("m.safetensors"), dir.arg("m.onnx"), dir.arg("p.csv"));
    let run = backprop_line(&format!("train --csv {csv} {train_args} --epochs 5 --save {model}"));
    assert_eq!(run.code, Some(0), "{tag}: train: {}", run.stderr);
    let run = backprop_line(&format!("export --model {model} --onnx {onnx}"));
    assert_eq!(run.code, Some(0), "{tag}: export: {}", run.stderr);
    assert_eq!(run.stdout.trim(), format!("wrote {onnx}"));
    let run = backprop_line(&format!("predict --model {model} --csv {csv} --out {predictions}"));
    assert_eq!(run.code, Some(0), "{tag}: predict: {}", run.stderr);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/onnx/check.py");
    let out = Command::new(python)
        .arg(&script)
        .args([&onnx, csv, &predictions])
        .output()
        .unwrap_or_else(|e| panic!("{PYTHON_VAR}={python} does not run: {e}"));
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{tag}: check.py failed:\n{stdout}\n{stderr}");
    assert!(stdout.starts_with("ok: "), "{tag}: {stdout}");
    eprintln!("{tag}: {}", stdout.trim());
}

#[test]
fn onnxruntime_predicts_what_backprop_predicts() {
    let Some(python) = python() else { return };
    let dir = TempDir::new("onnx-data");
    // A binary task: two of iris's species.
    let iris = std::fs::read_to_string(sample("iris.csv")).unwrap();
    let binary: Vec<&str> = iris.lines().filter(|l| !l.ends_with("virginica")).collect();
    let binary = dir.write("binary.csv", &(binary.join("\n") + "\n"));
    check(&python, "binary", &binary, "--target species --layers 6 --activation tanh");
    check(&python, "multi", &sample("iris.csv"), "--target species --layers 8,6 --activation relu");
    check(
        &python,
        "multi-unscaled",
        &sample("wine.csv"),
        "--target cultivar --layers 8 --scale none --activation sigmoid",
    );
}
