//! The Python side of the ONNX export tests: a venv under `target/` with `onnx`, `onnxruntime`
//! and `numpy` from PyPI, which `crates/cli/tests/onnx_python.rs` finds through
//! [`PYTHON_VAR`] to run `tests/onnx/check.py` (the reference checker and runtime against
//! `backprop predict`).
//!
//! - `cargo xtask onnx`: create the venv (once), then run that test alone, its output shown.
//! - `cargo xtask test`: with `CI` set (or `BACKPROP_ONNX=1`), create the venv first so that the
//!   whole suite runs the comparison; a venv that cannot be made leaves it skipped, said so.

use std::env;
use std::path::PathBuf;

use crate::{apt_install, cargo_path, is_debian_like, is_root, run, run_with_env, succeeds, workspace_root};

/// The variable naming the Python that has the packages (read by the test).
pub(crate) const PYTHON_VAR: &str = "BACKPROP_ONNX_PYTHON";
/// Set to 1 to get the comparison in `cargo xtask test` outside CI.
const ASK_VAR: &str = "BACKPROP_ONNX";
/// What the check imports.
const PACKAGES: [&str; 3] = ["onnx", "onnxruntime", "numpy"];

/// `<target>/onnx-venv`, `<target>` being `CARGO_TARGET_DIR` or the workspace's `target/`.
fn venv_dir() -> PathBuf {
    env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| workspace_root().join("target"), PathBuf::from)
        .join("onnx-venv")
}

fn has_packages(python: &str) -> bool {
    succeeds(python, &["-c", &format!("import {}", PACKAGES.join(", "))])
}

/// The venv's Python, after creating the venv and installing [`PACKAGES`] when needed
/// (installing Debian's `python3-venv` first when root on Debian or Ubuntu and it is missing).
///
/// # Errors
/// When there is no Python 3 with `venv`, or pip cannot install the packages.
fn python() -> Result<String, String> {
    let dir = venv_dir();
    let python = dir.join("bin").join("python").to_string_lossy().into_owned();
    if has_packages(&python) {
        return Ok(python);
    }
    // `ensurepip` is what Debian splits off into python3-venv; without it `venv` fails.
    let can_make_venv = || succeeds("python3", &["-c", "import venv, ensurepip"]);
    if !can_make_venv() && is_root() && is_debian_like() {
        eprintln!("xtask: Python 3 with venv missing; installing python3, python3-venv");
        apt_install(&["python3", "python3-venv"])?;
    }
    if !can_make_venv() {
        return Err(
            "no python3 with the venv and ensurepip modules (Debian: apt-get install python3-venv)".into()
        );
    }
    run("python3", &["-m", "venv", &dir.to_string_lossy()])?;
    let mut args = vec!["-m", "pip", "install", "--quiet", "--disable-pip-version-check"];
    args.extend(PACKAGES);
    run(&python, &args)?;
    if has_packages(&python) {
        Ok(python)
    } else {
        Err(format!("installed {} into {}, but `import` still fails", PACKAGES.join(", "), dir.display()))
    }
}

/// For `cargo xtask test`: with `CI` or [`ASK_VAR`] set, points [`PYTHON_VAR`] at the venv
/// (made if needed) for the test processes; otherwise, or when that fails, the comparison test
/// prints why it skips.
pub(crate) fn prepare_tests(ci: bool) {
    if !(ci || env::var_os(ASK_VAR).is_some()) || env::var_os(PYTHON_VAR).is_some() {
        return;
    }
    match python() {
        // SAFETY: xtask is single-threaded here, before it starts any child process.
        Ok(python) => unsafe { env::set_var(PYTHON_VAR, python) },
        Err(message) => {
            eprintln!("xtask: {message}; the onnxruntime comparison of ONNX export will be skipped")
        }
    }
}

/// `cargo xtask onnx`: the venv, then the comparison test alone with its output.
///
/// # Errors
/// When the venv cannot be made or the test fails.
pub(crate) fn run_check() -> Result<(), String> {
    let python = python()?;
    run_with_env(
        &cargo_path(),
        &["test", "-p", "backprop-cli", "--test", "onnx_python", "--", "--nocapture"],
        &[(PYTHON_VAR, &python)],
    )
}
