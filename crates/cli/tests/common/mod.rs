//! Helpers of the end-to-end tests: run the `backprop` binary, temporary directories, PNG
//! headers, the sample data.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The result of one run of the binary.
pub struct Run {
    /// Exit code (`None` when killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    /// Stdout parsed as one JSON value; panics with both streams when it is not.
    pub fn json(&self) -> serde_json::Value {
        assert_eq!(self.code, Some(0), "stderr: {}", self.stderr);
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!("stdout is not one JSON value ({e}):\n{}\nstderr: {}", self.stdout, self.stderr)
        })
    }

    /// Asserts a failure with `code` and exactly one stderr line, which it returns.
    pub fn error_line(&self, code: i32) -> String {
        assert_eq!(self.code, Some(code), "stdout: {}\nstderr: {}", self.stdout, self.stderr);
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "one line on stderr, got: {:?}", self.stderr);
        assert!(lines[0].starts_with("error: "), "{:?}", lines[0]);
        assert!(!self.stderr.contains("panicked") && !self.stderr.contains("backtrace"), "{}", self.stderr);
        lines[0].to_string()
    }
}

/// Runs `backprop args...`, the commands that compute (`train`, `eval`, `predict`) with one
/// thread (so results do not depend on the machine).
pub fn backprop(args: &[&str]) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_backprop"));
    command.args(args);
    let computes = matches!(args.first(), Some(&"train" | &"eval" | &"predict"));
    if computes && !args.contains(&"--threads") && !args.contains(&"--help") {
        command.args(["--threads", "1"]);
    }
    let Output { status, stdout, stderr } = command.output().expect("the backprop binary runs");
    Run {
        code: status.code(),
        stdout: String::from_utf8(stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(stderr).expect("stderr is UTF-8"),
    }
}

/// Runs `backprop` with the words of `line` as its arguments (see [`words`]).
pub fn backprop_line(line: &str) -> Run {
    backprop(&words(line))
}

/// The words of `line`, split at whitespace: an argument list written as one line, e.g.
/// `format!("train --csv {data} --target y")`. No argument may hold a space; the tests' paths
/// hold none ([`TempDir::new`] and [`sample`] check theirs).
pub fn words(line: &str) -> Vec<&str> {
    line.split_whitespace().collect()
}

/// Panics when `path` holds whitespace, which [`words`] would split.
fn assert_one_word(path: &Path) {
    let text = path.display().to_string();
    assert!(!text.contains(char::is_whitespace), "the tests need paths without spaces: {text:?}");
}

/// A fresh empty directory for one test, removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    /// A new directory named after `tag`.
    pub fn new(tag: &str) -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("backprop-cli-e2e-{tag}-{}-{n}", std::process::id()));
        assert_one_word(&dir);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        TempDir(dir)
    }

    /// A path inside the directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// The path as a string argument.
    pub fn arg(&self, name: &str) -> String {
        self.path(name).display().to_string()
    }

    /// Names of the files in the directory, sorted.
    pub fn files(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.0)
            .expect("the directory exists")
            .map(|e| e.expect("an entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// Writes a file and returns its path as an argument.
    pub fn write(&self, name: &str, contents: &str) -> String {
        std::fs::write(self.path(name), contents).expect("the file is written");
        self.arg(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The path of a sample data file of the workspace (`tests/data/iris.csv`, ...).
pub fn sample(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data").join(name);
    assert_one_word(&path);
    path.display().to_string()
}

/// The width and height of a PNG file, after checking its signature and that its first chunk
/// is the header.
pub fn png_size(path: &Path) -> (u32, u32) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(bytes.len() > 33, "{} is too short for a PNG", path.display());
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "PNG signature of {}", path.display());
    assert_eq!(&bytes[8..12], &[0, 0, 0, 13], "IHDR length");
    assert_eq!(&bytes[12..16], b"IHDR");
    let be = |i: usize| u32::from_be_bytes(bytes[i..i + 4].try_into().expect("4 bytes"));
    (be(16), be(20))
}

/// The rows of a CSV text as cells (no quoting in the tests' files).
pub fn csv_rows(text: &str) -> Vec<Vec<String>> {
    text.lines().map(|l| l.split(',').map(str::to_string).collect()).collect()
}
