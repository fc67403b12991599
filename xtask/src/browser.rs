//! The browser tests of `backprop serve`: Debian's `chromium` driven by `playwright-core` (npm,
//! pinned by `e2e/package-lock.json`) from `e2e/playground.spec.mjs`, against a real server.
//!
//! - `cargo xtask deps --browser`: install chromium (apt-get, when root on Debian or Ubuntu;
//!   otherwise print the command) and run `npm ci` in `e2e/`.
//! - `cargo xtask browser`: the same installs when needed, then the browser test alone.
//! - `cargo xtask test`: with `CI` set (or `BACKPROP_BROWSER=1`), build the `backprop` binary,
//!   start `backprop serve --port 0`, run the script against it and stop the server; the run
//!   fails when a check fails, and the checks count into the suite's totals. Otherwise it says
//!   why it skips.

use std::env;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::{TestTotals, apt_install, cargo_path, is_debian_like, is_root, run, succeeds, workspace_root};

/// Where Debian's package puts the browser (the script reads [`CHROMIUM_VAR`], set from this).
const CHROMIUM: &str = "/usr/bin/chromium";
/// The variable telling the script which chromium to start.
const CHROMIUM_VAR: &str = "BACKPROP_CHROMIUM";
/// Set to 1 to get the browser test in `cargo xtask test` outside CI.
const ASK_VAR: &str = "BACKPROP_BROWSER";
/// What the server prints on stdout once it listens; the URL follows.
const LISTENING: &str = "backprop serve: listening on ";

fn e2e_dir() -> PathBuf {
    workspace_root().join("e2e")
}

fn target_dir() -> PathBuf {
    env::var_os("CARGO_TARGET_DIR").map_or_else(|| workspace_root().join("target"), PathBuf::from)
}

fn have_playwright() -> bool {
    e2e_dir().join("node_modules").join("playwright-core").join("package.json").is_file()
}

/// `cargo xtask deps --browser`: chromium and node (apt-get when possible), then `npm ci`.
///
/// # Errors
/// When an install step fails, or chromium or npm is missing and cannot be installed here.
pub(crate) fn deps() -> Result<(), String> {
    let have_npm = || succeeds("npm", &["--version"]);
    let missing: Vec<&str> = [
        (!Path::new(CHROMIUM).is_file()).then_some("chromium"),
        (!succeeds("node", &["--version"])).then_some("nodejs"),
        (!have_npm()).then_some("npm"),
    ]
    .into_iter()
    .flatten()
    .collect();
    if !missing.is_empty() {
        if !(is_root() && is_debian_like()) {
            return Err(format!(
                "the browser tests need {} (missing). On Debian or Ubuntu:\n    sudo sh -c 'apt-get update && \
                 apt-get install -y --no-install-recommends {}'",
                missing.join(", "),
                missing.join(" ")
            ));
        }
        eprintln!("xtask: installing {} for the browser tests", missing.join(", "));
        apt_install(&missing)?;
    }
    if !Path::new(CHROMIUM).is_file() {
        return Err(format!("installed chromium, but {CHROMIUM} is not there"));
    }
    let prefix = e2e_dir().to_string_lossy().into_owned();
    run("npm", &["ci", "--prefix", &prefix, "--no-audit", "--no-fund"])?;
    if have_playwright() {
        Ok(())
    } else {
        Err("`npm ci` ran, but e2e/node_modules has no playwright-core".into())
    }
}

/// Why the browser test cannot run here, or `None` when it can.
fn missing_part() -> Option<String> {
    if !Path::new(CHROMIUM).is_file() {
        return Some(format!("no chromium at {CHROMIUM}"));
    }
    if !succeeds("node", &["--version"]) {
        return Some("no node".into());
    }
    if !have_playwright() {
        return Some("no e2e/node_modules/playwright-core (npm ci in e2e/)".into());
    }
    None
}

/// The server, stopped (SIGINT, as Ctrl-C) when dropped.
struct Server {
    child: Child,
}

impl Drop for Server {
    fn drop(&mut self) {
        let pid = self.child.id().to_string();
        if !succeeds("kill", &["-INT", &pid]) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// Starts `backprop serve --port 0` and returns it with the URL it printed.
fn start_server(binary: &Path) -> Result<(Server, String), String> {
    let child = Command::new(binary)
        .args(["serve", "--port", "0"])
        .current_dir(workspace_root())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("could not start `{} serve`: {e}", binary.display()))?;
    let mut server = Server { child };
    let stdout = server.child.stdout.take().expect("stdout is piped");
    let mut lines = BufReader::new(stdout).lines();
    // The server prints the line right after binding; it ends the stream only by exiting.
    let url = loop {
        match lines.next() {
            Some(Ok(line)) => {
                if let Some(url) = line.trim().strip_prefix(LISTENING) {
                    break url.to_string();
                }
            }
            _ => {
                return Err(format!(
                    "`{} serve --port 0` exited without printing `{LISTENING}URL`",
                    binary.display()
                ));
            }
        }
    };
    // Keep draining its stdout so that the server never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    Ok((server, url))
}

/// Runs `node e2e/<script> url`, passing its output through; returns (passed, failed) from its
/// closing `e2e: N passed, M failed` line and whether it exited 0.
fn run_script(script: &str, url: &str) -> Result<(u64, u64, bool), String> {
    let out = target_dir().join("e2e");
    std::fs::create_dir_all(&out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    let line = format!("node e2e/{script} {url}");
    eprintln!("xtask: running `{line}`");
    let mut child = Command::new("node")
        .arg(e2e_dir().join(script))
        .arg(url)
        .env(CHROMIUM_VAR, CHROMIUM)
        .env("BACKPROP_E2E_OUT", &out)
        .env("BACKPROP_E2E_PROFILE", &out)
        .current_dir(workspace_root())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("could not start `{line}`: {e}"))?;
    let stdout = child.stdout.take().expect("stdout is piped");
    let (mut passed, mut failed) = (0, 0);
    for text in BufReader::new(stdout).lines() {
        let text = text.map_err(|e| format!("reading the output of `{line}`: {e}"))?;
        if let Some(counts) = parse_summary(&text) {
            (passed, failed) = counts;
        }
        println!("{text}");
    }
    let status = child.wait().map_err(|e| format!("waiting for `{line}`: {e}"))?;
    Ok((passed, failed, status.success()))
}

/// `(passed, failed)` of the script's closing line `e2e: N passed, M failed`.
fn parse_summary(line: &str) -> Option<(u64, u64)> {
    let rest = line.trim().strip_prefix("e2e: ")?;
    let (passed, failed) = rest.split_once(", ")?;
    Some((passed.strip_suffix(" passed")?.parse().ok()?, failed.strip_suffix(" failed")?.parse().ok()?))
}

/// Builds the `backprop` binary and returns its path: debug for the test (a quick build),
/// release for the bench (a debug server's speed means nothing). `features` are the test run's
/// (see mpi.rs): with the same ones the binary the tests built is reused, with others cargo
/// would rebuild the workspace.
fn build_binary(release: bool, features: &[&str]) -> Result<PathBuf, String> {
    let mut args = vec!["build", "--package", "backprop-cli", "--bin", "backprop"];
    args.extend_from_slice(features);
    if release {
        args.push("--release");
    }
    run(&cargo_path(), &args)?;
    let profile = if release { "release" } else { "debug" };
    Ok(target_dir().join(profile).join(format!("backprop{}", env::consts::EXE_SUFFIX)))
}

/// For `cargo xtask test`: the browser test when `CI` or [`ASK_VAR`] is set, its checks added to
/// `totals`; otherwise (or when chromium or the node packages are missing) a line saying why not.
///
/// # Errors
/// When the server cannot be started or a check fails.
pub(crate) fn run_tests(ci: bool, features: &[&str], totals: &mut TestTotals) -> Result<(), String> {
    if !(ci || env::var_os(ASK_VAR).is_some()) {
        eprintln!(
            "xtask: the browser test of `backprop serve` is skipped: set {ASK_VAR}=1 to run it (CI does)"
        );
        return Ok(());
    }
    if ci
        && missing_part().is_some()
        && let Err(message) = deps()
    {
        eprintln!("xtask: {message}");
    }
    if let Some(why) = missing_part() {
        eprintln!(
            "xtask: the browser test of `backprop serve` is skipped: {why} (cargo xtask deps --browser)"
        );
        return Ok(());
    }
    browser_test(features, totals)
}

/// The server, the script against it, the server stopped; the checks added to `totals`.
fn browser_test(features: &[&str], totals: &mut TestTotals) -> Result<(), String> {
    let binary = build_binary(false, features)?;
    let (server, url) = start_server(&binary)?;
    let outcome = run_script("playground.spec.mjs", &url);
    drop(server);
    let (passed, failed, success) = outcome?;
    totals.passed += passed;
    totals.failed += failed;
    if success {
        Ok(())
    } else {
        Err(format!("the browser test failed ({failed} of {} checks)", passed + failed))
    }
}

/// `cargo xtask browser`: chromium and the node packages (installed when missing), then the
/// browser test alone.
///
/// # Errors
/// When they cannot be installed, or the server or a check fails.
pub(crate) fn run_check() -> Result<(), String> {
    if missing_part().is_some() {
        deps()?;
    }
    browser_test(crate::mpi::feature_args(), &mut TestTotals::default())
}

/// `cargo xtask bench-browser`: against a release build, the page's frames per second, step-to-frame latency and
/// epochs per second (`e2e/bench.mjs`), written to `target/e2e/bench.json`.
///
/// # Errors
/// When chromium or the node packages are missing, or the server or the script fails.
pub(crate) fn bench() -> Result<(), String> {
    if let Some(why) = missing_part() {
        return Err(format!("{why}; run `cargo xtask deps --browser` first"));
    }
    let binary = build_binary(true, &[])?;
    let (server, url) = start_server(&binary)?;
    let outcome = run_script("bench.mjs", &url);
    drop(server);
    let (_, _, success) = outcome?;
    if success { Ok(()) } else { Err("e2e/bench.mjs failed".into()) }
}

#[cfg(test)]
mod tests {
    use super::parse_summary;

    #[test]
    fn summary_line_is_read() {
        assert_eq!(parse_summary("e2e: 12 passed, 1 failed"), Some((12, 1)));
        assert_eq!(parse_summary("  e2e: 0 passed, 0 failed\n"), Some((0, 0)));
        assert_eq!(parse_summary("ok - e2e: 3 passed"), None);
        assert_eq!(parse_summary("e2e: many passed, 0 failed"), None);
    }
}
