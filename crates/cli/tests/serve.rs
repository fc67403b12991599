//! `backprop serve`: the URL line on stdout, the page and the spec over HTTP, a clean exit 0
//! on SIGINT (Ctrl-C), and usage errors for bad flags.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// `GET path` over a fresh connection: (status, body).
fn get(host_port: &str, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(host_port).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {host_port}\r\nConnection: close\r\n\r\n").unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    let status = text.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b).to_string();
    (status, body)
}

#[test]
fn serve_prints_its_url_answers_and_stops_cleanly_on_sigint() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_backprop"))
        .args(["serve", "--port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("backprop runs");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let url = line
        .trim()
        .strip_prefix("backprop serve: listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .trim_end_matches('/')
        .to_string();
    assert!(url.starts_with("127.0.0.1:") && !url.ends_with(":0"), "{url}");

    let (status, spec) = get(&url, "/openapi.yaml");
    assert_eq!(status, 200);
    assert!(spec.starts_with("openapi: 3"), "{spec}");
    let (status, page) = get(&url, "/");
    if std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../serve/assets/index.html")).exists() {
        assert_eq!(status, 200);
        assert!(page.contains("<html") || page.contains("<!DOCTYPE") || page.contains("<!doctype"), "{page}");
    } else {
        eprintln!(
            "skip: crates/serve/assets/index.html is not in this checkout (the page comes with branch h-w)"
        );
        assert_eq!(status, 404);
        assert!(page.contains("index.html"), "{page}");
    }

    let killed = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "backprop serve did not stop on SIGINT");
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    assert_eq!(status.code(), Some(0), "stderr: {stderr}");
    assert!(stderr.is_empty(), "{stderr}");
}

#[test]
fn serve_refuses_bad_flags_with_a_usage_error() {
    for (args, needle) in [
        (&["serve", "--port", "70000"][..], "--port"),
        (&["serve", "--max-sessions", "0"][..], "session cap"),
        (&["serve", "--idle-timeout", "-1"][..], "idle timeout"),
        (&["serve", "--max-upload", "lots"][..], "--max-upload"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_backprop")).args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.starts_with("error:") && stderr.contains(needle), "{args:?}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    }
}

#[test]
fn serve_reports_an_address_in_use() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_backprop")).args(["serve", "--port", &port]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&format!("cannot listen on 127.0.0.1:{port}")), "{stderr}");
}
