//! `cargo xtask`: the project's own automation.
//!
//! Plain Rust with no dependencies, so it builds on a machine that has no OpenBLAS yet and can
//! install it.
//!
//! - `cargo xtask deps [--data]`: make sure OpenBLAS and pkg-config are installed; with `--data`
//!   also the optional data sets the tests use when present (Debian's `dataset-fashion-mnist`).
//! - `cargo xtask test`: deps, then the whole test suite (plus the data, fmt and clippy when `CI`
//!   is set), then the distributed tests on MPI when it is installed (`mpi.rs`).
//! - `cargo xtask demo`: deps, then train a network on the spiral and draw its decision boundary.
//! - `cargo xtask onnx`: deps, then a venv with onnx and onnxruntime and the test that checks
//!   `backprop export` against them (see `onnx.rs`).
//! - `cargo xtask bench [--quick]`: deps, then the criterion benches and the PyTorch comparison.
//! - `cargo xtask deps --browser`, `cargo xtask browser`, `cargo xtask bench-browser`: the browser side of
//!   `backprop serve` (see `browser.rs`).

use std::env;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

mod bench;
mod browser;
mod mpi;
mod onnx;

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("deps") => match &args[1..] {
            [] => deps(),
            [flag] if flag == "--data" => deps().and_then(|()| data_deps()),
            [flag] if flag == "--mpi" => deps().and_then(|()| mpi::deps()),
            [flag] if flag == "--browser" => deps().and_then(|()| browser::deps()),
            _ => Err(format!(
                "deps takes only --data, --mpi or --browser, got `{}`\n\n{USAGE}",
                args[1..].join(" ")
            )),
        },
        Some("test") => deps().and_then(|()| test()),
        Some("demo") => deps().and_then(|()| demo()),
        Some("onnx") => deps().and_then(|()| onnx::run_check()),
        Some("bench") => deps().and_then(|()| bench::run(&args[1..])),
        Some("browser") => deps().and_then(|()| browser::run_check()),
        Some("bench-browser") => deps().and_then(|()| browser::bench()),
        Some("help") | Some("--help") | Some("-h") | None => {
            println!("{USAGE}");
            Ok(())
        }
        Some(other) => Err(format!("unknown task `{other}`\n\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

const USAGE: &str = "usage: cargo xtask <task>

tasks:
  deps [--data]   check for OpenBLAS and pkg-config; install them with apt-get when root on Debian/Ubuntu;
                  with --data also Fashion-MNIST (Debian's dataset-fashion-mnist) for the tests that read it;
                  with --mpi Open MPI and libclang for the distributed tests (libopenmpi-dev openmpi-bin libclang-dev)
  deps --browser  also chromium (apt-get) and e2e/'s node packages (npm ci) for the browser test of serve
  test            deps, then cargo test --workspace (all targets and doc tests); with CI set, first the data
                  (deps --data), MPI (deps --mpi), and fmt and clippy; with MPI installed, everything is built with
                  the cli's mpi feature, which runs the distributed tests on 2 and 4 ranks (BACKPROP_MPI=1 installs
                  MPI outside CI); with CI or BACKPROP_BROWSER=1 the browser test of serve
  demo            deps, then train an MLP on the Playground spiral and write its decision boundary picture
  onnx            deps, then a venv under target/ with onnx and onnxruntime, and the ONNX export comparison test
                  (cargo xtask test runs it too when CI or BACKPROP_ONNX=1 is set)
  browser         deps --browser when needed, then the browser test of serve alone (e2e/playground.spec.mjs)
  bench [--quick] deps, then the criterion benches, target/bench/summary.json and the PyTorch comparison
  bench-browser   the page's frames/s, step-to-frame latency and epochs/s in chromium (target/e2e/bench.json)";

/// Directory of the workspace root (the parent of `xtask/`).
pub(crate) fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

/// Runs `program args...` in the workspace root, failing with the command line when it fails.
pub(crate) fn run(program: &str, args: &[&str]) -> Result<(), String> {
    run_with_env(program, args, &[])
}

/// Like [`run`], with extra environment variables for the child.
pub(crate) fn run_with_env(program: &str, args: &[&str], envs: &[(&str, &str)]) -> Result<(), String> {
    let line = format!("{program} {}", args.join(" "));
    eprintln!("xtask: running `{line}`");
    let status = Command::new(program)
        .args(args)
        .envs(envs.iter().copied())
        .current_dir(workspace_root())
        .status()
        .map_err(|e| format!("could not start `{line}`: {e}"))?;
    if status.success() { Ok(()) } else { Err(format!("`{line}` failed ({status})")) }
}

pub(crate) fn cargo_path() -> String {
    cargo()
}

fn cargo() -> String {
    env::var("CARGO").unwrap_or_else(|_| "cargo".to_string())
}

pub(crate) fn succeeds(program: &str, args: &[&str]) -> bool {
    Command::new(program).args(args).output().map(|out| out.status.success()).unwrap_or(false)
}

fn have_pkg_config() -> bool {
    succeeds("pkg-config", &["--version"])
}

fn have_openblas() -> bool {
    succeeds("pkg-config", &["--exists", "openblas"])
}

pub(crate) fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
        .unwrap_or(false)
}

pub(crate) fn is_debian_like() -> bool {
    Path::new("/etc/debian_version").exists() && succeeds("apt-get", &["--version"])
}

const PACKAGES: [&str; 2] = ["libopenblas-dev", "pkg-config"];

/// Checks for OpenBLAS and pkg-config and installs them when that is possible without asking.
fn deps() -> Result<(), String> {
    if have_pkg_config() && have_openblas() {
        return Ok(());
    }
    let install = format!("apt-get update && apt-get install -y {}", PACKAGES.join(" "));
    if !(is_root() && is_debian_like()) {
        return Err(format!(
            "OpenBLAS or pkg-config is missing (`pkg-config --exists openblas` failed).\n\
             Install them, then run this again. On Debian or Ubuntu:\n    sudo sh -c '{install}'\n\
             On Fedora: sudo dnf install openblas-devel pkgconf-pkg-config\n\
             On macOS: brew install openblas pkg-config (and set PKG_CONFIG_PATH)"
        ));
    }
    eprintln!("xtask: OpenBLAS or pkg-config missing; installing {}", PACKAGES.join(", "));
    apt_install(&PACKAGES)?;
    if have_pkg_config() && have_openblas() {
        Ok(())
    } else {
        Err("installed libopenblas-dev and pkg-config, but `pkg-config --exists openblas` still fails".into())
    }
}

/// `apt-get update`, then `apt-get install` of `packages`, without recommends or prompts.
pub(crate) fn apt_install(packages: &[&str]) -> Result<(), String> {
    // A non-interactive frontend so that apt never waits for a prompt.
    let apt = |args: &[&str]| -> Result<(), String> {
        let line = format!("apt-get {}", args.join(" "));
        let status = Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .map_err(|e| format!("could not start `{line}`: {e}"))?;
        if status.success() { Ok(()) } else { Err(format!("`{line}` failed ({status})")) }
    };
    apt(&["update"])?;
    let mut args = vec!["install", "-y", "--no-install-recommends"];
    args.extend(packages);
    apt(&args)
}

/// Where Debian's `dataset-fashion-mnist` puts the four gzip-compressed IDX files, which
/// `crates/data/tests/fashion_mnist.rs` reads.
pub(crate) const FASHION_MNIST_DIR: &str = "/usr/share/datasets/fashion-mnist";
const FASHION_MNIST_PACKAGE: &str = "dataset-fashion-mnist";

fn have_fashion_mnist() -> bool {
    Path::new(FASHION_MNIST_DIR).join("train-images-idx3-ubyte.gz").is_file()
}

/// Installs the optional data sets when root on Debian or Ubuntu; otherwise prints the command
/// (the tests that need the data then say they are skipped, and why).
fn data_deps() -> Result<(), String> {
    if have_fashion_mnist() {
        eprintln!("xtask: Fashion-MNIST is installed in {FASHION_MNIST_DIR}");
        return Ok(());
    }
    if !(is_root() && is_debian_like()) {
        eprintln!(
            "xtask: Fashion-MNIST is not installed; the tests that read it will be skipped. To install it \
             (Debian or Ubuntu):\n    sudo sh -c 'apt-get update && apt-get install -y {FASHION_MNIST_PACKAGE}'"
        );
        return Ok(());
    }
    eprintln!("xtask: installing {FASHION_MNIST_PACKAGE} (Fashion-MNIST, into {FASHION_MNIST_DIR})");
    apt_install(&[FASHION_MNIST_PACKAGE])?;
    if have_fashion_mnist() {
        Ok(())
    } else {
        Err(format!(
            "installed {FASHION_MNIST_PACKAGE}, but {FASHION_MNIST_DIR} has no train-images-idx3-ubyte.gz"
        ))
    }
}

fn test() -> Result<(), String> {
    let cargo = cargo();
    let ci = env::var_os("CI").is_some();
    // With MPI, every command builds the workspace with the cli's `mpi` feature, once (see mpi.rs).
    let features = mpi::prepare_tests(ci);
    let with = |args: &[&'static str]| [args, features].concat();
    if ci {
        // CI runs the tests that read Fashion-MNIST; a failed install leaves them skipped, said so.
        if let Err(message) = data_deps() {
            eprintln!("xtask: {message}; the Fashion-MNIST tests will be skipped");
        }
        run(&cargo, &["fmt", "--all", "--check"])?;
        run(
            &cargo,
            &[&with(&["clippy", "--workspace", "--all-targets"])[..], &["--", "-D", "warnings"]].concat(),
        )?;
    }
    onnx::prepare_tests(ci);
    let mut totals = TestTotals::default();
    let outcome = run_counting_tests(&cargo, &with(&["test", "--workspace", "--all-targets"]), &mut totals)
        .and_then(|()| run_counting_tests(&cargo, &with(&["test", "--workspace", "--doc"]), &mut totals))
        .and_then(|()| browser::run_tests(ci, features, &mut totals));
    // One closing line for the whole suite (cargo prints one per test binary).
    println!("xtask: {} passed, {} failed, {} skipped", totals.passed, totals.failed, totals.ignored);
    outcome
}

/// Tests counted over every `test result:` line cargo printed.
#[derive(Debug, Default, PartialEq, Eq)]
struct TestTotals {
    passed: u64,
    failed: u64,
    ignored: u64,
}

impl TestTotals {
    /// Adds the counts of one libtest summary line
    /// (`test result: ok. 3 passed; 0 failed; 1 ignored; ...`); other lines change nothing.
    fn add_line(&mut self, line: &str) {
        let Some(rest) = line.trim().strip_prefix("test result: ") else { return };
        for part in rest.split(';') {
            let mut words = part.split_whitespace().rev();
            let (Some(what), Some(count)) = (words.next(), words.next()) else { continue };
            let Ok(count) = count.parse::<u64>() else { continue };
            match what {
                "passed" => self.passed += count,
                "failed" => self.failed += count,
                "ignored" => self.ignored += count,
                _ => {}
            }
        }
    }
}

/// Runs a `cargo test` command, passing its output through and adding up its test counts.
fn run_counting_tests(program: &str, args: &[&str], totals: &mut TestTotals) -> Result<(), String> {
    use std::io::{BufRead, BufReader, Write};
    let line = format!("{program} {}", args.join(" "));
    eprintln!("xtask: running `{line}`");
    let mut child = Command::new(program)
        .args(args)
        .current_dir(workspace_root())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("could not start `{line}`: {e}"))?;
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut out = std::io::stdout().lock();
    for text in BufReader::new(stdout).lines() {
        let text = text.map_err(|e| format!("reading the output of `{line}`: {e}"))?;
        totals.add_line(&text);
        let _ = writeln!(out, "{text}");
    }
    drop(out);
    let status = child.wait().map_err(|e| format!("waiting for `{line}`: {e}"))?;
    if status.success() { Ok(()) } else { Err(format!("`{line}` failed ({status})")) }
}

fn demo() -> Result<(), String> {
    let cargo = cargo();
    let out_dir = workspace_root().join("target").join("demo");
    std::fs::create_dir_all(&out_dir).map_err(|e| format!("cannot create {}: {e}", out_dir.display()))?;
    let plot = out_dir.join("spiral.png");
    let model = out_dir.join("spiral.safetensors");
    let plot = plot.to_string_lossy().into_owned();
    let model = model.to_string_lossy().into_owned();
    run(
        &cargo,
        &[
            "run",
            "--release",
            "--quiet",
            "--package",
            "backprop-cli",
            "--",
            "train",
            "--dataset",
            "spiral",
            "--features",
            "x1,x2,x1sq,x2sq,x1x2,sinx1,sinx2",
            "--layers",
            "16,16,8",
            "--activation",
            "tanh",
            "--optimizer",
            "adam",
            "--lr",
            "0.01",
            "--batch-size",
            "16",
            "--epochs",
            "300",
            "--seed",
            "7",
            "--plot",
            &plot,
            "--save",
            &model,
        ],
    )?;
    println!("demo: decision boundary picture written to {plot}");
    println!("demo: model written to {model}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::TestTotals;

    #[test]
    fn totals_add_up_libtest_summaries() {
        let mut totals = TestTotals::default();
        totals.add_line(
            "test result: ok. 51 passed; 0 failed; 2 ignored; 0 measured; 0 filtered out; finished in 0.02s",
        );
        totals.add_line(
            "test result: FAILED. 3 passed; 1 failed; 0 ignored; 0 measured; 4 filtered out; finished in 1s",
        );
        totals.add_line("running 3 tests");
        totals.add_line("test foo ... ok");
        assert_eq!(totals, TestTotals { passed: 54, failed: 1, ignored: 2 });
    }
}
