//! Signals end runs cleanly: Ctrl-C (SIGINT) stops `train` after its step, writes what was asked
//! and names the last checkpoint; SIGTERM in the middle of checkpoint writes ends the process
//! without leaving a temporary file behind.

#![cfg(unix)]

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{TempDir, backprop};

/// Sends `signal` (`INT`, `TERM`) to the process `pid` with kill(1).
fn send(signal: &str, pid: u32) {
    let status =
        Command::new("kill").arg(format!("-{signal}")).arg(pid.to_string()).status().expect("kill runs");
    assert!(status.success(), "kill -{signal} {pid}");
}

/// Waits (at most 60 s) until `path` exists, so that the run is past its start-up.
fn wait_for(path: &std::path::Path) {
    let start = Instant::now();
    while !path.exists() {
        assert!(start.elapsed() < Duration::from_secs(60), "{} never appeared", path.display());
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn ctrl_c_stops_training_after_its_step_and_saves_what_was_asked() {
    let dir = TempDir::new("signals-int");
    let (checkpoint, model) = (dir.arg("ck.safetensors"), dir.arg("m.safetensors"));
    let child = Command::new(env!("CARGO_BIN_EXE_backprop"))
        .args(["train", "--dataset", "xor", "--epochs", "1000000000", "--threads", "1"])
        .args(["--checkpoint", &checkpoint, "--save", &model])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    wait_for(std::path::Path::new(&checkpoint));
    send("INT", child.id());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    let line = stderr.lines().last().unwrap_or_default();
    assert!(line.starts_with("error: interrupted: training stopped after epoch "), "{line}");
    assert!(
        line.contains("the last checkpoint (epoch ") && line.contains(&format!(" is in {checkpoint}")),
        "{line}"
    );
    assert!(line.ends_with(&format!("; saved the model to {model}")), "{line}");
    let eval = backprop(&["eval", "--model", &model, "--dataset", "xor", "--json"]);
    assert_eq!(eval.code, Some(0), "the saved model loads");
    assert_eq!(dir.files(), ["ck.safetensors", "m.safetensors"], "no temporary file is left");
}

#[test]
fn sigterm_during_checkpoint_writes_leaves_no_temporary_file() {
    let dir = TempDir::new("signals-term");
    let checkpoint = dir.arg("ck.safetensors");
    // One step per epoch on a wide model: writing the 1 MB checkpoint is most of each epoch,
    // so the signals land inside writes.
    let args = ["train", "--dataset", "xor", "--test-fraction", "0.9", "--batch-size", "49"];
    let more = ["--layers", "512,512", "--threads", "1", "--epochs", "100000", "--checkpoint", &checkpoint];
    for wait_ms in [0_u64, 7, 19, 31, 53] {
        // The last run's checkpoint would let the signal reach this one before it has
        // installed its handler.
        let _ = std::fs::remove_file(&checkpoint);
        let child = Command::new(env!("CARGO_BIN_EXE_backprop"))
            .args(args)
            .args(more)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary starts");
        wait_for(std::path::Path::new(&checkpoint));
        std::thread::sleep(Duration::from_millis(wait_ms));
        send("TERM", child.id());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(143), "{stderr}");
        assert_eq!(
            stderr.lines().last(),
            Some("error: terminated (SIGTERM); no output file was left half-written")
        );
        assert_eq!(dir.files(), ["ck.safetensors"], "after SIGTERM at {wait_ms} ms");
    }
}
