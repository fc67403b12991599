//! What the HTTP tests share: the real server on an ephemeral port and a raw HTTP/1.1
//! client (std's TcpStream), so that every byte a test sends is the one it wrote.

#![allow(dead_code)] // Each test binary uses its own part of it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use backprop_serve::{Limits, router};
use serde_json::Value;

/// A server on 127.0.0.1:0, on its own runtime, alive as long as this value.
pub struct Server {
    pub addr: SocketAddr,
    _runtime: tokio::runtime::Runtime,
}

pub fn start(limits: Limits) -> Server {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = listener.local_addr().unwrap();
    let app = {
        let _inside = runtime.enter();
        router(limits)
    };
    runtime.spawn(async move { axum::serve(listener, app).await.unwrap() });
    Server { addr, _runtime: runtime }
}

/// A response: status, lower-cased headers, body.
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// The error message of a refusal, checking the status and the JSON shape.
    pub fn error(&self, status: u16) -> String {
        assert_eq!(self.status, status, "{}", self.text());
        assert_eq!(self.header("content-type"), Some("application/json"), "{}", self.text());
        self.json()["error"]
            .as_str()
            .unwrap_or_else(|| panic!("no error message: {}", self.text()))
            .to_string()
    }
}

pub fn send(stream: &mut TcpStream, method: &str, path: &str, content_type: Option<&str>, body: &[u8]) {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n");
    if let Some(ct) = content_type {
        head.push_str(&format!("Content-Type: {ct}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    stream.write_all(head.as_bytes()).unwrap();
    // A server may refuse a large body before reading it all; that is its right.
    let _ = stream.write_all(body);
}

pub fn read_head(reader: &mut impl BufRead) -> (u16, Vec<(String, String)>) {
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("status line {line:?}"));
    let mut headers = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line).unwrap();
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        let (k, v) = l.split_once(':').unwrap();
        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
    }
    (status, headers)
}

/// Reads one chunk of a chunked body; `None` at the last one.
pub fn read_chunk(reader: &mut impl BufRead) -> Option<Vec<u8>> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let size = usize::from_str_radix(line.trim(), 16).ok()?;
    let mut chunk = vec![0; size + 2];
    reader.read_exact(&mut chunk).ok()?;
    chunk.truncate(size);
    (size > 0).then_some(chunk)
}

pub fn request(server: &Server, method: &str, path: &str, content_type: Option<&str>, body: &[u8]) -> Reply {
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    send(&mut stream, method, path, content_type, body);
    let mut reader = BufReader::new(stream);
    let (status, headers) = read_head(&mut reader);
    let mut body = Vec::new();
    if headers.iter().any(|(k, v)| k == "content-type" && v.starts_with("text/event-stream")) {
        // An event stream lasts as long as its session: its head is the answer.
        return Reply { status, headers, body };
    }
    if headers.iter().any(|(k, v)| k == "transfer-encoding" && v.contains("chunked")) {
        while let Some(chunk) = read_chunk(&mut reader) {
            body.extend(chunk);
        }
    } else {
        let _ = reader.read_to_end(&mut body);
    }
    Reply { status, headers, body }
}

pub fn get(server: &Server, path: &str) -> Reply {
    request(server, "GET", path, None, b"")
}

pub fn post(server: &Server, path: &str, json: &str) -> Reply {
    request(server, "POST", path, Some("application/json"), json.as_bytes())
}

/// Creates a session of `experiment` and returns its id and the response.
pub fn create(server: &Server, experiment: &str) -> (String, Value) {
    let reply = post(server, "/api/sessions", experiment);
    assert_eq!(reply.status, 201, "{}", reply.text());
    let body = reply.json();
    (body["id"].as_str().unwrap().to_string(), body)
}

/// The server still answers (after a refusal).
pub fn alive(server: &Server) {
    let reply = get(server, "/openapi.yaml");
    assert_eq!(reply.status, 200);
    assert!(reply.text().starts_with("openapi: 3"));
}
