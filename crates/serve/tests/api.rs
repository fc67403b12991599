//! The HTTP API against the real server on an ephemeral port, through a raw HTTP/1.1
//! client (std's TcpStream): sessions, steps, the event stream, the replica's losses, the
//! caps, malformed requests and the idle timeout; after every refusal the server still
//! answers.

mod common;

use std::io::BufReader;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use backprop_playground::Playground;
use backprop_serve::Limits;
use common::{Reply, Server, alive, create, get, post, read_chunk, read_head, request, send, start};
use serde_json::Value;

/// An open event stream.
struct Events {
    reader: BufReader<TcpStream>,
    buffer: String,
    /// Keep-alive comments would reset the read timeout forever: a test's stream that has not
    /// delivered what it waits for by then fails instead of hanging.
    deadline: std::time::Instant,
}

impl Events {
    fn open(server: &Server, id: &str) -> Events {
        let mut stream = TcpStream::connect(server.addr).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        send(&mut stream, "GET", &format!("/api/sessions/{id}/events"), None, b"");
        let mut reader = BufReader::new(stream);
        let (status, headers) = read_head(&mut reader);
        assert_eq!(status, 200);
        assert!(
            headers.iter().any(|(k, v)| k == "content-type" && v.starts_with("text/event-stream")),
            "{headers:?}"
        );
        Events {
            reader,
            buffer: String::new(),
            deadline: std::time::Instant::now() + Duration::from_secs(120),
        }
    }

    /// The next event as (name, data); `None` when the stream ended.
    fn next(&mut self) -> Option<(String, String)> {
        loop {
            assert!(
                std::time::Instant::now() < self.deadline,
                "the stream did not deliver what the test waits for within 120 s"
            );
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut name = String::from("message");
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        name = v.trim().to_string();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.strip_prefix(' ').unwrap_or(v));
                    }
                }
                if data.is_empty() && name == "message" {
                    continue; // a keep-alive comment
                }
                return Some((name, data));
            }
            let chunk = read_chunk(&mut self.reader)?;
            self.buffer.push_str(&String::from_utf8(chunk).unwrap());
        }
    }

    /// The next frame for which `wanted` holds (older states may still be in flight).
    fn frame_where(&mut self, wanted: impl Fn(&Value) -> bool) -> Value {
        loop {
            let (frame, _) = self.next_frame();
            if wanted(&frame) {
                return frame;
            }
        }
    }

    fn next_frame(&mut self) -> (Value, String) {
        let (name, data) = self.next().expect("the stream ended");
        assert_eq!(name, "frame", "{data}");
        (serde_json::from_str(&data).unwrap(), data)
    }
}

/// A number of a frame's JSON text, read exactly (serde_json's default float parser may
/// miss the last bit; Rust's `parse` does not).
fn exact(json: &str, field: &str) -> f64 {
    let key = format!("\"{field}\":");
    let start = json.find(&key).unwrap_or_else(|| panic!("no {field}")) + key.len();
    let end = json[start..].find([',', '}']).unwrap() + start;
    json[start..end].parse().unwrap()
}

const HASH: &str = "activation=tanh&batchSize=10&dataset=circle&learningRate=0.03&networkShape=4,2&seed=0.12345&percTrainData=50&x=true&y=true";

fn limits() -> Limits {
    Limits { frame_interval: Duration::from_millis(5), ..Limits::default() }
}

#[test]
fn a_session_is_created_stepped_and_streamed() {
    let server = start(limits());
    let (id, body) = create(&server, &format!("{{\"hash\": \"#{HASH}\"}}"));
    assert_eq!(body["parameters"], 2 * 4 + 4 + 4 * 2 + 2 + 2 + 1);
    assert_eq!(body["experiment"]["seed"], "0.12345");
    assert_eq!(body["experiment"]["hidden"], serde_json::json!([4, 2]));
    assert!(body["experiment"]["hash"].as_str().unwrap().contains("networkShape=4,2"));

    let mut events = Events::open(&server, &id);
    let (first, _) = events.next_frame();
    assert_eq!(first["epoch"], 0);
    assert_eq!(first["points"]["train"].as_array().unwrap().len(), 250);
    assert_eq!(first["points"]["test"].as_array().unwrap().len(), 250);
    assert_eq!(first["heatmap"]["size"], 100);
    assert_eq!(first["heatmap"]["values"].as_array().unwrap().len(), 100 * 100);
    let neurons = first["neurons"].as_array().unwrap();
    assert_eq!(neurons.iter().map(|l| l.as_array().unwrap().len()).collect::<Vec<_>>(), [2, 4, 2, 1]);
    assert_eq!(first["weights"][0].as_array().unwrap().len(), 2);
    assert_eq!(first["weights"][0][0].as_array().unwrap().len(), 4);

    let step = post(&server, &format!("/api/sessions/{id}/step"), "{\"epochs\": 5}");
    assert_eq!(step.status, 200, "{}", step.text());
    let frame = step.json();
    assert_eq!(frame["epoch"], 5);
    assert!(frame.get("points").is_none(), "points come only after the data changed");
    let streamed = events.frame_where(|f| f["epoch"] == 5);
    assert_eq!(streamed["trainLoss"], frame["trainLoss"]);

    // A step without a body is one epoch.
    let step = request(&server, "POST", &format!("/api/sessions/{id}/step"), None, b"");
    assert_eq!(step.json()["epoch"], 6);
    let shown = get(&server, &format!("/api/sessions/{id}")).json();
    assert_eq!((shown["epoch"].as_u64(), shown["playing"].as_bool()), (Some(6), Some(false)));

    let csv = get(&server, &format!("/api/sessions/{id}/data.csv"));
    assert_eq!(csv.status, 200);
    let text = csv.text();
    assert!(text.starts_with("x,y,label,split\n"));
    assert_eq!(text.lines().count(), 501);

    // Reset goes back to epoch 0 with the same data (same seed); the stream resends points.
    let reset = post(&server, &format!("/api/sessions/{id}/reset"), "");
    assert_eq!(reset.json(), serde_json::json!({"epoch": 0, "playing": false}));
    let after = events.frame_where(|f| f["epoch"] == 0);
    assert_eq!(after["points"], first["points"]);
    assert_eq!(after["trainLoss"], first["trainLoss"]);

    // Regenerate draws new data.
    let regenerated = post(&server, &format!("/api/sessions/{id}/regenerate"), "");
    assert_eq!(regenerated.status, 200);
    let fresh = events.frame_where(|f| f.get("points").is_some());
    assert_ne!(fresh["points"], first["points"]);
    assert_ne!(get(&server, &format!("/api/sessions/{id}")).json()["experiment"]["seed"], "0.12345");

    // Deleting the session ends its stream.
    assert_eq!(request(&server, "DELETE", &format!("/api/sessions/{id}"), None, b"").status, 204);
    let deadline = Instant::now() + Duration::from_secs(10);
    while events.next().is_some() {
        assert!(Instant::now() < deadline, "the stream did not end");
    }
    assert!(get(&server, &format!("/api/sessions/{id}")).error(404).contains(&id));
}

#[test]
fn playground_mode_losses_equal_the_replica_at_every_epoch() {
    let server = start(limits());
    for hash in [
        HASH.to_string(),
        "dataset=spiral&networkShape=8,8,8,8,8,8&x=true&y=true&xSquared=true&ySquared=true&xTimesY=true&sinX=true&sinY=true&seed=spiral6x8&learningRate=0.01".to_string(),
        "problem=regression&regDataset=reg-gauss&noise=10&seed=reg&regularization=L1&regularizationRate=0.001".to_string(),
    ] {
        let (id, _) = create(&server, &format!("{{\"mode\": \"playground\", \"hash\": \"{hash}\"}}"));
        let mut replica = Playground::from_url(&hash).unwrap();
        for epoch in 1..=15u64 {
            let frame = post(&server, &format!("/api/sessions/{id}/step"), "{\"epochs\": 1}");
            let text = frame.text();
            replica.step_epoch();
            assert_eq!(exact(&text, "epoch") as u64, epoch);
            assert_eq!(exact(&text, "trainLoss"), replica.train_loss(), "{hash} epoch {epoch}");
            assert_eq!(exact(&text, "testLoss"), replica.test_loss(), "{hash} epoch {epoch}");
        }
        // Many epochs in one step land on the same numbers too.
        let frame = post(&server, &format!("/api/sessions/{id}/step"), "{\"epochs\": 35}").text();
        replica.run(35);
        assert_eq!(exact(&frame, "trainLoss"), replica.train_loss(), "{hash} epoch 50");
        assert_eq!(exact(&frame, "testLoss"), replica.test_loss(), "{hash} epoch 50");
    }
}

#[test]
fn play_streams_rising_epochs_and_pause_stops_them() {
    let server = start(limits());
    play_and_pause(&server, "{\"dataset\": \"xor\", \"seed\": \"p\"}", 200);
    // The 6×8 spiral on all seven features: its frames take longer to draw than an epoch to
    // train, so they are drawn off the training thread and must still arrive while playing.
    let spiral = "dataset=spiral&networkShape=8,8,8,8,8,8&x=true&y=true&xTimesY=true&xSquared=true&ySquared=true&sinX=true&sinY=true";
    play_and_pause(&server, &format!("{{\"hash\": \"{spiral}\"}}"), 20);
}

/// Plays `experiment` with a stream open until a frame shows `epochs`, then pauses.
fn play_and_pause(server: &Server, experiment: &str, epochs: u64) {
    let (id, _) = create(server, experiment);
    let mut events = Events::open(server, &id);
    assert_eq!(events.next_frame().0["epoch"], 0);
    let played = post(server, &format!("/api/sessions/{id}/play"), "");
    assert_eq!(played.json()["playing"], true);
    let mut last = 0;
    let mut frames = 0;
    while last < epochs {
        let (frame, _) = events.next_frame();
        let epoch = frame["epoch"].as_u64().unwrap();
        assert!(epoch >= last, "epochs go forward: {epoch} after {last}");
        if epoch > 0 {
            assert!(frame["epochsPerSecond"].as_f64().unwrap() > 0.0);
            let age = backprop_serve::frame::unix_ms() - frame["stepTimeMs"].as_f64().unwrap();
            assert!((0.0..5000.0).contains(&age), "frame age {age} ms");
        }
        last = epoch;
        frames += 1;
    }
    assert!(frames >= 2);
    let paused = post(server, &format!("/api/sessions/{id}/pause"), "").json();
    assert_eq!(paused["playing"], false);
    let at = paused["epoch"].as_u64().unwrap();
    assert!(at >= last);
    // The paused state reaches the stream: frames drawn off the training thread from older
    // states never overwrite it.
    let shown = events.frame_where(|f| f["epoch"].as_u64().is_some_and(|e| e >= at));
    assert_eq!(shown["epoch"].as_u64(), Some(at), "the stream went past the paused epoch");
    std::thread::sleep(Duration::from_millis(100));
    let shown = get(server, &format!("/api/sessions/{id}")).json();
    assert_eq!((shown["epoch"].as_u64(), shown["playing"].as_bool()), (Some(at), Some(false)));
}

#[test]
fn every_cap_is_a_4xx_with_a_message() {
    let server = start(Limits { max_sessions: 2, max_params: 100, max_body: 4096, ..limits() });
    let (a, _) = create(&server, "{}");
    create(&server, "{}");
    let refused = post(&server, "/api/sessions", "{}").error(429);
    assert!(refused.contains("2 sessions"), "{refused}");
    alive(&server);
    assert_eq!(request(&server, "DELETE", &format!("/api/sessions/{a}"), None, b"").status, 204);
    let (b, _) = create(&server, "{}");

    let big = post(&server, "/api/sessions", "{\"hidden\": [8, 8]}").error(400);
    assert!(big.contains("`hidden`") && big.contains("more than the 100 allowed"), "{big}");
    let replaced = request(
        &server,
        "PUT",
        &format!("/api/sessions/{b}/experiment"),
        Some("application/json"),
        b"{\"hidden\": [8, 8]}",
    );
    assert!(replaced.error(400).contains("100 allowed"));
    alive(&server);

    let padding = " ".repeat(8192);
    let huge = post(&server, "/api/sessions", &format!("{{{padding}}}")).error(413);
    assert!(!huge.is_empty());
    let huge = post(&server, &format!("/api/sessions/{b}/step"), &padding).error(413);
    assert!(huge.contains("larger than the 4096 bytes allowed"), "{huge}");
    alive(&server);
}

#[test]
fn malformed_requests_are_4xx_with_a_message_and_the_server_goes_on() {
    let server = start(limits());
    let (id, _) = create(&server, "{}");
    let cases: Vec<(Reply, u16, &str)> = vec![
        (post(&server, "/api/sessions", "{\"noise\": 5,"), 400, "EOF"),
        (post(&server, "/api/sessions", "{\"nosie\": 5}"), 400, "nosie"),
        (post(&server, "/api/sessions", "{\"noise\": \"loud\"}"), 400, "noise"),
        (post(&server, "/api/sessions", "{\"noise\": 80}"), 400, "`noise` 80: expected a number in 0..=50"),
        (post(&server, "/api/sessions", "{\"percTrainData\": 5}"), 400, "percTrainData"),
        (post(&server, "/api/sessions", "{\"batchSize\": 0}"), 400, "batchSize"),
        (post(&server, "/api/sessions", "{\"learningRate\": -1}"), 400, "learningRate"),
        (post(&server, "/api/sessions", "{\"activation\": \"swish\"}"), 400, "activation"),
        (post(&server, "/api/sessions", "{\"dataset\": \"moons\"}"), 400, "dataset"),
        (post(&server, "/api/sessions", "{\"features\": [\"z\"]}"), 400, "features"),
        (post(&server, "/api/sessions", "{\"hidden\": [9]}"), 400, "playground mode"),
        (post(&server, "/api/sessions", "{\"hidden\": [3, 0]}"), 400, "hidden"),
        (post(&server, "/api/sessions", "{\"hash\": \"batchSize=ten\"}"), 400, "batchSize"),
        (post(&server, "/api/sessions", "{\"optimizer\": \"lbfgs\"}"), 400, "optimizer"),
        (post(&server, "/api/sessions", "{\"hash\": \"seed=1\", \"noise\": 5}"), 400, "`noise` and `hash`"),
        (
            post(&server, "/api/sessions", "{\"dataset\": \"reg-plane\", \"problem\": \"classification\"}"),
            400,
            "`reg-plane` is a regression data set",
        ),
        (post(&server, "/api/sessions", "[1, 2]"), 400, "JSON"),
        (request(&server, "POST", "/api/sessions", Some("text/plain"), b"{}"), 415, "application/json"),
        (request(&server, "POST", "/api/sessions", None, b"{}"), 415, "application/json"),
        (post(&server, &format!("/api/sessions/{id}/step"), "{\"epochs\": 0}"), 400, "epochs"),
        (post(&server, &format!("/api/sessions/{id}/step"), "{\"epochs\": 2000000}"), 400, "epochs"),
        (post(&server, &format!("/api/sessions/{id}/step"), "{\"epoch\": 2}"), 400, "epoch"),
        (request(&server, "POST", &format!("/api/sessions/{id}/step"), Some("text/csv"), b"1"), 415, "json"),
        (post(&server, "/api/sessions/feedbeef/step", "{}"), 404, "feedbeef"),
        (post(&server, "/api/sessions/feedbeef/play", ""), 404, "feedbeef"),
        (post(&server, "/api/sessions/%ff/play", ""), 404, "UTF-8"),
        (get(&server, "/api/sessions/feedbeef/events"), 404, "feedbeef"),
        (request(&server, "DELETE", "/api/sessions/feedbeef", None, b""), 404, "feedbeef"),
        (get(&server, "/api/sessions"), 405, "GET"),
        (request(&server, "PUT", &format!("/api/sessions/{id}/play"), None, b""), 405, "PUT"),
        (get(&server, "/api/nothing"), 404, "/api/nothing"),
        (get(&server, "/assets/missing.js"), 404, "missing.js"),
    ];
    for (reply, status, needle) in cases {
        let message = reply.error(status);
        assert!(message.contains(needle), "{status}: {message:?} should name {needle:?}");
        assert!(!message.contains('\n'));
        alive(&server);
    }
    // The session survived all of it.
    assert_eq!(post(&server, &format!("/api/sessions/{id}/step"), "{}").json()["epoch"], 1);
}

#[test]
fn idle_sessions_expire_but_watched_ones_do_not() {
    let server = start(Limits { idle_timeout: Duration::from_millis(300), ..limits() });
    let (idle, _) = create(&server, "{}");
    let (watched, _) = create(&server, "{}");
    let mut events = Events::open(&server, &watched);
    events.next_frame();
    std::thread::sleep(Duration::from_millis(1000));
    assert!(get(&server, &format!("/api/sessions/{idle}")).error(404).contains(&idle));
    assert_eq!(get(&server, &format!("/api/sessions/{watched}")).status, 200);
    drop(events);
    std::thread::sleep(Duration::from_millis(1000));
    get(&server, &format!("/api/sessions/{watched}")).error(404);
    // Expired sessions free their slots: new ones can be created.
    create(&server, "{}");
}

#[test]
fn the_spec_and_the_page_are_served() {
    let server = start(limits());
    let spec = get(&server, "/openapi.yaml");
    assert_eq!(spec.header("content-type"), Some("application/yaml"));
    assert!(spec.text().contains("/api/sessions/{id}/events"));
    let page = get(&server, "/");
    if std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/index.html")).exists() {
        assert_eq!(page.status, 200);
        assert!(page.header("content-type").unwrap().starts_with("text/html"));
    } else {
        eprintln!(
            "skip: crates/serve/assets/index.html is not in this checkout (the page comes with branch h-w)"
        );
        assert!(page.error(404).contains("index.html"));
    }
}

#[test]
fn engine_mode_trains_any_shape_with_the_library_optimizers() {
    let server = start(limits());
    let (id, body) = create(
        &server,
        "{\"mode\": \"engine\", \"dataset\": \"spiral\", \"features\": [\"x\", \"y\", \"sinX\", \"sinY\"], \
         \"hidden\": [16, 16, 16], \"optimizer\": \"adam\", \"learningRate\": 0.01, \"loss\": \"ce\", \"seed\": \"e\"}",
    );
    assert_eq!(body["parameters"], 4 * 16 + 16 + 2 * (16 * 16 + 16) + 16 * 2 + 2);
    assert_eq!(body["experiment"]["optimizer"], "adam");
    let mut events = Events::open(&server, &id);
    let first = events.frame_where(|f| f.get("points").is_some());
    assert_eq!(first["epoch"], 0);
    assert_eq!(first["classes"], 2);
    assert_eq!(first["heatmap"]["values"].as_array().unwrap().len(), 100 * 100);
    assert_eq!(first["weights"].as_array().unwrap().len(), 4);
    assert_eq!(first["weights"][0].as_array().unwrap().len(), 4);
    assert_eq!(first["weights"][0][0].as_array().unwrap().len(), 16);
    // A small map per node: the 4 inputs, 3 hidden layers of 16 and the 2 outputs.
    let neurons = first["neurons"].as_array().unwrap();
    let widths: Vec<usize> = neurons.iter().map(|l| l.as_array().unwrap().len()).collect();
    assert_eq!(widths, [4, 16, 16, 16, 2]);
    assert_eq!(neurons[4][1]["values"].as_array().unwrap().len(), 20 * 20);
    // The input x over the grid runs from −6 to 6, left to right.
    let x_map = nested(&neurons[0][0]["values"]);
    assert!(x_map[0] < -5.0 && x_map[19] > 5.0, "{:?}", &x_map[..20]);
    let frame = post(&server, &format!("/api/sessions/{id}/step"), "{\"epochs\": 40}").json();
    assert_eq!(frame["epoch"], 40);
    let (before, after) = (first["testLoss"].as_f64().unwrap(), frame["testLoss"].as_f64().unwrap());
    assert!(after < before * 0.9, "test loss {before} -> {after}");
    assert_ne!(frame["heatmap"], first["heatmap"]);
    // Play and pause go through the Trainer's observer.
    post(&server, &format!("/api/sessions/{id}/play"), "");
    events.frame_where(|f| f["epoch"].as_u64().unwrap() > 42);
    let paused = post(&server, &format!("/api/sessions/{id}/pause"), "").json();
    assert!(paused["epoch"].as_u64().unwrap() > 42);

    let refused = post(
        &server,
        "/api/sessions",
        "{\"mode\": \"engine\", \"problem\": \"regression\", \"loss\": \"ce\"}",
    );
    assert!(refused.error(400).contains("`loss` `ce`"));
    let refused = post(&server, "/api/sessions", "{\"mode\": \"engine\", \"optimizer\": \"lbfgs\"}");
    assert!(refused.error(400).contains("optimizer"));
    alive(&server);
}

#[test]
fn csv_uploads_train_in_engine_mode_and_bad_files_name_row_and_column() {
    let server = start(Limits { max_upload: 64 * 1024, ..limits() });
    let (id, _) = create(&server, "{}");
    let upload = |body: &str| {
        request(&server, "POST", &format!("/api/sessions/{id}/data"), Some("text/csv"), body.as_bytes())
    };

    let mut good = String::from("a,b,label\n");
    for i in 0..200 {
        let (x, y) = ((i % 20) as f64 / 2.0 - 5.0, (i / 20) as f64 - 5.0);
        let label = if x * y >= 0.0 { "yes" } else { "no" };
        good.push_str(&format!("{x},{y},{label}\n"));
    }
    let reply = upload(&good);
    assert_eq!(reply.status, 200, "{}", reply.text());
    let body = reply.json();
    assert_eq!(body["rows"], 200);
    assert_eq!(body["columns"], 3);
    assert_eq!(body["heatmap"], true);
    assert_eq!(body["classes"], serde_json::json!(["no", "yes"]));
    let shown = get(&server, &format!("/api/sessions/{id}")).json();
    assert_eq!(shown["experiment"]["mode"], "engine");
    assert_eq!(shown["experiment"]["dataset"], "upload");
    let frame = post(&server, &format!("/api/sessions/{id}/step"), "{\"epochs\": 3}").json();
    assert_eq!(frame["epoch"], 3);
    assert_eq!(frame["heatmap"]["values"].as_array().unwrap().len(), 100 * 100);
    let csv = get(&server, &format!("/api/sessions/{id}/data.csv")).text();
    assert_eq!(csv.lines().count(), 201, "{csv}");
    assert_eq!(csv.lines().filter(|l| l.ends_with(",test")).count(), 100);
    // Reset keeps the uploaded data.
    assert_eq!(post(&server, &format!("/api/sessions/{id}/reset"), "").status, 200);
    assert_eq!(get(&server, &format!("/api/sessions/{id}")).json()["experiment"]["dataset"], "upload");
    assert_eq!(get(&server, &format!("/api/sessions/{id}/data.csv")).text(), csv);

    // Three classes and four columns: softmax, no heat map.
    let mut wide = String::from("p,q,r,label\n");
    for i in 0..90 {
        wide.push_str(&format!("{},{},{},{}\n", i % 7, i % 5, i % 3, ["u", "v", "w"][i % 3]));
    }
    let body = upload(&wide).json();
    assert_eq!((body["heatmap"].as_bool(), body["classes"].as_array().unwrap().len()), (Some(false), 3));
    assert_eq!(get(&server, &format!("/api/sessions/{id}")).json()["experiment"]["loss"], "ce");
    let frame = post(&server, &format!("/api/sessions/{id}/step"), "{}").json();
    assert!(frame.get("heatmap").is_none());
    assert_eq!(frame["classes"], 3);

    let message = upload("x,y,label\n1,2,a\n3,abc,b\n").error(400);
    assert!(
        message.contains("data.csv:3") && message.contains("'y' (2)") && message.contains("abc"),
        "{message}"
    );
    let message = upload("x,y,label\n1,2,a\n3,4\n").error(400);
    assert!(message.contains("data.csv:3"), "{message}");
    assert!(upload("").error(400).contains("data.csv"));
    let wrong =
        request(&server, "POST", &format!("/api/sessions/{id}/data"), Some("application/json"), b"{}");
    assert!(wrong.error(415).contains("text/csv"));
    let huge = format!("x,y,label\n{}", "1,2,a\n".repeat(20_000));
    assert!(upload(&huge).error(413).contains("65536 bytes"));
    alive(&server);
    // The session still trains on the last good upload.
    assert_eq!(post(&server, &format!("/api/sessions/{id}/step"), "{}").json()["classes"], 3);
    // Playground mode cannot train on uploads.
    let refused = request(
        &server,
        "PUT",
        &format!("/api/sessions/{id}/experiment"),
        Some("application/json"),
        b"{\"mode\": \"playground\", \"dataset\": \"upload\"}",
    );
    assert!(refused.error(400).contains("engine"));
}

/// Saves a downloaded model file and loads it with backprop-nn's reader.
fn load_downloaded(
    bytes: &[u8],
    name: &str,
) -> (backprop_autograd::Graph<f32>, backprop_nn::Sequential, backprop_nn::ModelMeta) {
    let path =
        std::env::temp_dir().join(format!("backprop-serve-test-{}-{name}.safetensors", std::process::id()));
    std::fs::write(&path, bytes).unwrap();
    let loaded = backprop_nn::load_model::<f32>(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    loaded
}

#[test]
fn models_download_as_backprop_nn_model_files() {
    let server = start(limits());
    let (id, _) = create(&server, &format!("{{\"hash\": \"{HASH}\"}}"));
    post(&server, &format!("/api/sessions/{id}/step"), "{\"epochs\": 20}");
    let reply = get(&server, &format!("/api/sessions/{id}/model.safetensors"));
    assert_eq!(reply.status, 200);
    let (graph, model, meta) = load_downloaded(&reply.body, "playground");
    assert_eq!(meta.loss, backprop_nn::Loss::Hinge);
    let mut replica = Playground::from_url(HASH).unwrap();
    replica.run(20);
    for (x, y) in [(0.5, -1.0), (3.0, 2.0), (-4.0, 0.25)] {
        let z = model
            .predict(&graph, &backprop_tensor::Tensor::from_vec(&[1, 2], vec![x as f32, y as f32]))
            .unwrap();
        let page = replica.output_at(x, y);
        assert!(
            (f64::from(z.as_slice()[0]).tanh() - page).abs() < 1e-5,
            "({x}, {y}): {} vs {page}",
            z.as_slice()[0]
        );
    }

    let (id, _) =
        create(&server, "{\"mode\": \"engine\", \"hidden\": [5, 3], \"loss\": \"ce\", \"seed\": \"m\"}");
    let reply = get(&server, &format!("/api/sessions/{id}/model.safetensors"));
    assert_eq!(reply.status, 200, "{}", reply.text());
    let (_, model, meta) = load_downloaded(&reply.body, "engine");
    assert_eq!(meta.loss, backprop_nn::Loss::CrossEntropy);
    assert_eq!(model.out_features(), Some(2));
    assert_eq!(model.in_features(), Some(2));
    get(&server, "/api/sessions/feedbeef/model.safetensors").error(404);
}

/// The numbers of a nested JSON array, flattened in order.
fn nested(v: &Value) -> Vec<f64> {
    match v {
        Value::Array(items) => items.iter().flat_map(nested).collect(),
        other => vec![other.as_f64().unwrap()],
    }
}

/// One full-batch epoch of plain gradient descent moves every weight and bias by exactly
/// −η · the gradient the backward endpoint reported: the endpoint's numbers are the ones the
/// run trains with, in both modes. The weight endpoint agrees with the backward endpoint.
#[test]
fn backward_gradients_are_the_ones_a_full_batch_step_applies() {
    let server = start(limits());
    for (mode, extra, tolerance) in
        [("playground", "", 1e-12), ("engine", ", \"optimizer\": \"sgd\", \"loss\": \"log\"", 1e-4)]
    {
        // 250 training points in one batch: one epoch is one update.
        let (id, _) = create(
            &server,
            &format!(
                "{{\"mode\": \"{mode}\", \"dataset\": \"circle\", \"percTrainData\": 50, \"batchSize\": 250, \
                 \"hidden\": [3, 2], \"learningRate\": 0.3, \"regularization\": \"none\", \"seed\": \"grad\"{extra}}}"
            ),
        );
        let backward = post(&server, &format!("/api/sessions/{id}/backward"), "{}");
        assert_eq!(backward.status, 200, "{mode}: {}", backward.text());
        let backward = backward.json();
        assert_eq!(backward["batch"].as_array().unwrap().len(), 250, "{mode}");
        assert_eq!(backward["updated"], false);
        assert_eq!(backward["formulas"]["dW"], "dW = Xᵀ·dZ");
        let layers = backward["layers"].as_array().unwrap();
        assert_eq!(layers.len(), 3, "{mode}");
        // Layer shapes: [in][out] with in = 2 features (x, y), then 3, 2, 1 outputs.
        for (layer, (inputs, outputs)) in layers.iter().zip([(2, 3), (3, 2), (2, 1)]) {
            assert_eq!(layer["W"].as_array().unwrap().len(), inputs, "{mode}");
            assert_eq!(layer["dW"][0].as_array().unwrap().len(), outputs, "{mode}");
            // dZ summed over the rows is db (in f64 here, in f32 by the engine's backward).
            let (dz, db) = (nested(&layer["dZ"]), nested(&layer["db"]));
            let scale = db.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            assert!(
                dz.iter().zip(&db).all(|(a, b)| (a - b).abs() <= tolerance * scale),
                "{mode}: {dz:?} vs {db:?}"
            );
        }
        let weight = get(&server, &format!("/api/sessions/{id}/weight?layer=2&from=1&to=0&input=1&output=0"));
        assert_eq!(weight.status, 200, "{mode}: {}", weight.text());
        let weight = weight.json();
        assert_eq!(weight["value"], layers[2]["W"][1][0], "{mode}");
        assert_eq!(weight["grad"], layers[2]["dW"][1][0], "{mode}");
        // Input 1 → any of the 3 nodes of layer 1 → node 1 of layer 2 → the output: 3 paths.
        assert_eq!(weight["pathCount"], 3, "{mode}");
        let listed: f64 =
            weight["paths"].as_array().unwrap().iter().map(|p| p["product"].as_f64().unwrap()).sum();
        assert!(
            (listed - weight["pathSum"].as_f64().unwrap()).abs() <= 1e-12 * listed.abs().max(1.0),
            "{mode}"
        );

        let frame = post(&server, &format!("/api/sessions/{id}/step"), "{\"epochs\": 1}").json();
        for (l, layer) in layers.iter().enumerate() {
            for (before, grad, after) in [
                (nested(&layer["W"]), nested(&layer["dW"]), nested(&frame["weights"][l])),
                (nested(&layer["b"]), nested(&layer["db"]), nested(&frame["biases"][l])),
            ] {
                let scale = grad.iter().fold(0.0f64, |m, g| m.max((0.3 * g).abs()));
                assert!(scale > 0.0, "{mode}: layer {l} has no gradient");
                for ((w, g), w2) in before.iter().zip(&grad).zip(&after) {
                    let expected = w - 0.3 * g;
                    assert!(
                        (w2 - expected).abs() <= tolerance * scale.max(w.abs()),
                        "{mode}: layer {l}: {w} - 0.3 * {g} = {expected}, the step gave {w2}"
                    );
                }
            }
        }

        // Out-of-range queries and bodies are 400s naming the field.
        let bad = get(&server, &format!("/api/sessions/{id}/weight?layer=3&from=0&to=0"));
        assert!(bad.error(400).contains("`layer` 3"), "{}", bad.text());
        let bad = get(&server, &format!("/api/sessions/{id}/weight?layer=0&from=0&to=7"));
        assert!(bad.error(400).contains("`to` 7"), "{}", bad.text());
        let bad = get(&server, &format!("/api/sessions/{id}/weight?layer=0&from=0"));
        assert!(bad.error(400).contains("to"), "{}", bad.text());
        let bad = get(&server, &format!("/api/sessions/{id}/weight?layer=0&from=0&to=0&colour=red"));
        assert!(bad.error(400).contains("colour"), "{}", bad.text());
        let bad = post(&server, &format!("/api/sessions/{id}/backward"), "{\"example\": 250}");
        assert!(bad.error(400).contains("`example` 250"), "{}", bad.text());
        let bad = post(&server, &format!("/api/sessions/{id}/backward"), "{\"rows\": 2}");
        assert!(bad.error(400).contains("rows"), "{}", bad.text());
    }
    assert_eq!(get(&server, "/api/sessions/nope/weight?layer=0&from=0&to=0").status, 404);
    alive(&server);
}

/// The parameters (every layer's W, then b) and their gradients on the batch, as the
/// backward endpoint reports them, flattened in the order [`frame_parameters`] uses.
fn parameters_and_gradients(server: &Server, id: &str) -> (Vec<f64>, Vec<f64>) {
    let backward = post(server, &format!("/api/sessions/{id}/backward"), "{}");
    assert_eq!(backward.status, 200, "{}", backward.text());
    let (mut parameters, mut gradients) = (Vec::new(), Vec::new());
    for layer in backward.json()["layers"].as_array().unwrap() {
        parameters.extend(nested(&layer["W"]).into_iter().chain(nested(&layer["b"])));
        gradients.extend(nested(&layer["dW"]).into_iter().chain(nested(&layer["db"])));
    }
    (parameters, gradients)
}

/// A frame's parameters: every layer's weights, then its biases.
fn frame_parameters(frame: &Value) -> Vec<f64> {
    let layers = frame["weights"].as_array().unwrap().len();
    (0..layers)
        .flat_map(|l| nested(&frame["weights"][l]).into_iter().chain(nested(&frame["biases"][l])))
        .collect()
}

/// Engine mode's `nesterov` (the page's optimizer list offers it) is torch.optim.SGD with
/// momentum μ = 0.9 and `nesterov=True`: with one full batch per epoch and g₀, g₁ the
/// gradients the backward endpoint reports before each epoch, the first two updates are
/// θ₁ = θ₀ − η(1 + μ)g₀ and θ₂ = θ₁ − η(g₁ + μ(μg₀ + g₁)); plain momentum would take
/// η·g₀ and η(g₁ + μg₀).
#[test]
fn nesterov_in_engine_mode_takes_torch_nesterov_steps() {
    const LR: f64 = 0.1;
    const MU: f64 = 0.9;
    let server = start(limits());
    let (id, body) = create(
        &server,
        "{\"mode\": \"engine\", \"optimizer\": \"nesterov\", \"dataset\": \"circle\", \"percTrainData\": 50, \
         \"batchSize\": 250, \"hidden\": [3, 2], \"learningRate\": 0.1, \"regularization\": \"none\", \
         \"loss\": \"log\", \"seed\": \"nag\"}",
    );
    assert_eq!(body["experiment"]["optimizer"], "nesterov");
    // f32 arithmetic: a tolerance relative to the parameter or the step, whichever is larger.
    let close = |actual: &[f64], expected: &[f64], steps: &[f64], what: &str| {
        assert_eq!(actual.len(), expected.len());
        for (i, ((a, e), s)) in actual.iter().zip(expected).zip(steps).enumerate() {
            let tolerance = 1e-4 * e.abs().max(s.abs()).max(1e-3);
            assert!((a - e).abs() <= tolerance, "{what}: parameter {i} is {a}, expected {e}");
        }
    };

    let (p0, g0) = parameters_and_gradients(&server, &id);
    let steps: Vec<f64> = g0.iter().map(|g| LR * (1.0 + MU) * g).collect();
    let expected: Vec<f64> = p0.iter().zip(&steps).map(|(p, s)| p - s).collect();
    let frame = post(&server, &format!("/api/sessions/{id}/step"), "{\"epochs\": 1}").json();
    let p1 = frame_parameters(&frame);
    close(&p1, &expected, &steps, "epoch 1");
    // The test tells the two apart: plain momentum's first step is η·g₀.
    let momentum_gap = p1.iter().zip(&p0).zip(&g0).map(|((p, p0), g)| (p - (p0 - LR * g)).abs());
    assert!(momentum_gap.fold(0.0, f64::max) > 1e-3, "the first step is plain SGD's");

    let (p1_reported, g1) = parameters_and_gradients(&server, &id);
    close(&p1_reported, &p1, &steps, "the backward endpoint's parameters after epoch 1");
    let steps: Vec<f64> = g0.iter().zip(&g1).map(|(g0, g1)| LR * (g1 + MU * (MU * g0 + g1))).collect();
    let expected: Vec<f64> = p1.iter().zip(&steps).map(|(p, s)| p - s).collect();
    let frame = post(&server, &format!("/api/sessions/{id}/step"), "{\"epochs\": 1}").json();
    close(&frame_parameters(&frame), &expected, &steps, "epoch 2");
    // And it trains: 30 more epochs lower the training loss.
    let later = post(&server, &format!("/api/sessions/{id}/step"), "{\"epochs\": 30}").json();
    assert!(later["trainLoss"].as_f64().unwrap() < frame["trainLoss"].as_f64().unwrap());
}
