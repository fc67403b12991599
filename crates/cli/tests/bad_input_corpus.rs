//! The bad-input corpus of `tests/bad_input/`: every case is a `backprop` command line with
//! broken input (CSV files, model files, flags); each must fail with its exact one-line message
//! and exit code, never a panic, and leave its files as they were. The format is described in
//! `tests/bad_input/README.md`; all failing cases are reported together.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The longest a case may run (coreutils' `timeout` ends it): a hang fails its case instead of
/// blocking the whole run.
const TIMEOUT_SECONDS: u64 = 120;

/// The corpus folder.
fn corpus() -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/bad_input"))
        .canonicalize()
        .expect("tests/bad_input exists")
}

/// The case folders, sorted by name.
fn cases() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(corpus())
        .expect("tests/bad_input is readable")
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

/// Every file of a folder (recursively) with its bytes, to show that a case changed nothing.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("a readable folder") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let bytes = std::fs::read(&path).expect("a readable file");
                files.insert(path.strip_prefix(dir).expect("inside").to_path_buf(), bytes);
            }
        }
    }
    files
}

fn read_text(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

/// Runs one case; `Err` says everything that went wrong with it.
fn run_case(case: &Path) -> Result<(), String> {
    let name = case.file_name().expect("a folder name").to_string_lossy().into_owned();
    let tmp = std::env::temp_dir().join(format!("backprop-bad-input-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).expect("a scratch folder");
    let fill = |text: &str| {
        text.replace("{dir}", &case.display().to_string()).replace("{tmp}", &tmp.display().to_string())
    };

    let args_text = read_text(&case.join("args"))?;
    let args: Vec<String> =
        args_text.strip_suffix('\n').unwrap_or(&args_text).split('\n').map(fill).collect();
    let expected_exit: i32 = read_text(&case.join("expected_exit"))?
        .trim()
        .parse()
        .map_err(|e| format!("expected_exit is not a number: {e}"))?;
    let before = snapshot(case);
    // An address-space limit (`ulimit -v`, KiB) shows that memory stays bounded: a case that
    // would allocate in proportion to a flag's value fails to start its work instead.
    let mut command = match std::fs::read_to_string(case.join("address_space_kib")) {
        Ok(kib) => {
            let kib: u64 =
                kib.trim().parse().map_err(|e| format!("address_space_kib is not a number: {e}"))?;
            let mut c = Command::new("sh");
            c.arg("-c")
                .arg(format!("ulimit -v {kib} && exec \"$0\" \"$@\""))
                .args(["timeout", "-k", "5", &TIMEOUT_SECONDS.to_string()])
                .arg(env!("CARGO_BIN_EXE_backprop"));
            c
        }
        Err(_) => {
            let mut c = Command::new("timeout");
            c.args(["-k", "5", &TIMEOUT_SECONDS.to_string()]).arg(env!("CARGO_BIN_EXE_backprop"));
            c
        }
    };
    // `env`: KEY=VALUE lines set for the command (an input size limit, say).
    if let Ok(text) = std::fs::read_to_string(case.join("env")) {
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let (key, value) =
                line.split_once('=').ok_or_else(|| format!("env line '{line}' is not KEY=VALUE"))?;
            command.env(key, fill(value));
        }
    }
    let output = command
        .args(&args)
        .env_remove("RUST_BACKTRACE")
        .env("COLUMNS", "80")
        .output()
        .expect("the backprop binary runs");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let shown =
        stderr.replace(&case.display().to_string(), "{dir}").replace(&tmp.display().to_string(), "{tmp}");

    let mut problems = Vec::new();
    if output.status.code() == Some(124) || output.status.code() == Some(137) {
        problems.push(format!("it did not end within {TIMEOUT_SECONDS} s (a hang?)"));
    }
    if output.status.code() != Some(expected_exit) {
        problems.push(format!("exit code {:?}, expected {expected_exit}", output.status.code()));
    }
    for marker in ["panicked", "RUST_BACKTRACE", "internal error"] {
        if stderr.contains(marker) {
            problems.push(format!("stderr mentions '{marker}'"));
        }
    }
    let lines: Vec<&str> = stderr.lines().collect();
    if lines.len() != 1 || !stderr.ends_with('\n') {
        problems.push(format!("stderr is {} lines, expected exactly one", lines.len()));
    }
    match read_text(&case.join("expected_stderr")) {
        Ok(text) => {
            let expected_lines: Vec<&str> = text.lines().collect();
            if expected_lines.len() != 1 {
                problems.push("expected_stderr must hold exactly one line".into());
            } else if stderr.trim_end_matches('\n') != fill(expected_lines[0]) {
                problems.push(format!("expected stderr: {}", expected_lines[0]));
            }
        }
        Err(e) => problems.push(e),
    }
    if snapshot(case) != before {
        problems.push("the command changed the files of the case folder".into());
    }
    let left = snapshot(&tmp);
    if !left.is_empty() {
        problems.push(format!("files left in {{tmp}}: {:?}", left.keys().collect::<Vec<_>>()));
    }
    let _ = std::fs::remove_dir_all(&tmp);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{name}: {}\n    backprop {}\n    actual stderr: {}",
            problems.join("; "),
            args_text.lines().collect::<Vec<_>>().join(" "),
            shown.trim_end()
        ))
    }
}

#[test]
fn every_case_fails_with_its_exact_message_and_changes_nothing() {
    let cases = cases();
    assert!(cases.len() >= 30, "the corpus has {} cases, expected at least 30", cases.len());
    let failures: Vec<String> = cases.iter().filter_map(|c| run_case(c).err()).collect();
    assert!(
        failures.is_empty(),
        "{} of {} bad-input cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn the_readme_lists_every_case() {
    let readme = std::fs::read_to_string(corpus().join("README.md")).expect("tests/bad_input/README.md");
    let missing: Vec<String> = cases()
        .iter()
        .map(|c| c.file_name().expect("a name").to_string_lossy().into_owned())
        .filter(|name| !readme.contains(&format!("`{name}`")))
        .collect();
    assert!(missing.is_empty(), "README.md does not list {missing:?}");
}
