//! End to end: the pictures are PNG files of the asked size, and `backprop playground`
//! reproduces the Playground's own runs (crates/playground/tests/data).

mod common;

use common::{TempDir, backprop, backprop_line, png_size, sample};
use std::path::Path;

use serde_json::Value;

#[test]
fn pictures_are_pngs_of_the_asked_size() {
    let dir = TempDir::new("png");
    let spiral = dir.path("spiral.png");
    let run = backprop_line(&format!(
        "train --dataset spiral --features x1,x2,sinx1 --epochs 2 --plot {} --plot-size 640x480",
        spiral.display()
    ));
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(run.stdout.ends_with(&format!("wrote the picture to {}\n", spiral.display())), "{}", run.stdout);
    assert_eq!(png_size(&spiral), (640, 480));

    // A CSV file with more than two features: the loss curves alone, at the default size.
    let iris = dir.path("iris.png");
    let line =
        format!("train --csv {} --target species --epochs 2 --plot {}", sample("iris.csv"), iris.display());
    assert_eq!(draw(&line, &iris), (800, 800));

    // Two features: a heat map over the data's window, here for regression.
    let data = dir.write(
        "plane.csv",
        &(0..40).fold(String::from("a,b,y\n"), |s, i| {
            let (a, b) = ((i % 7) as f64, (i / 7) as f64);
            s + &format!("{a},{b},{}\n", a - 2.0 * b)
        }),
    );
    let plane = dir.path("plane.png");
    let line =
        format!("train --csv {data} --target y --epochs 2 --plot {} --plot-size 300x900", plane.display());
    assert_eq!(draw(&line, &plane), (300, 900));

    let page = dir.path("page.png");
    let line =
        format!("playground --url dataset=xor&seed=2 --epochs 3 --plot {} --show-test", page.display());
    assert_eq!(draw(&line, &page), (800, 800));
    let names = dir.files();
    assert_eq!(names, ["iris.png", "page.png", "plane.csv", "plane.png", "spiral.png"], "no temporary files");
}

/// Runs the command `line`, which must succeed, and returns the size of the picture `png`.
fn draw(line: &str, png: &Path) -> (u32, u32) {
    let run = backprop_line(line);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    png_size(png)
}

fn reference(id: &str) -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../playground/tests/data/playground_reference.json");
    let all: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    all["cases"].as_array().unwrap().iter().find(|c| c["id"] == id).unwrap().clone()
}

/// Checks the history of `backprop playground --json` against a reference case's losses at
/// every recorded epoch up to `epochs`. Both sides pass through decimal text, so they may
/// differ by an ulp; the replica's own tests check the bits.
fn replay(id: &str, url: &str, epochs: usize) -> Value {
    let case = reference(id);
    let report = backprop(&["playground", "--url", url, "--epochs", &epochs.to_string(), "--json"]).json();
    let history = report["history"].as_array().unwrap();
    assert_eq!(history.len(), epochs + 1);
    let mut checked = 0;
    for expected in case["loss"].as_array().unwrap() {
        let epoch = expected["epoch"].as_u64().unwrap() as usize;
        if epoch > epochs {
            continue;
        }
        for (ours, theirs) in [("train_loss", "train"), ("test_loss", "test")] {
            let (a, e) = (history[epoch][ours].as_f64().unwrap(), expected[theirs].as_f64().unwrap());
            assert!((a - e).abs() <= 4.0 * f64::EPSILON * e.abs(), "{id} epoch {epoch} {ours}: {a} vs {e}");
        }
        checked += 1;
    }
    assert!(checked >= 5, "{id}: {checked} epochs compared");
    report
}

#[test]
fn playground_reproduces_the_pages_runs() {
    let circle = reference("a_circle_defaults");
    let hash = circle["url_hash"].as_str().unwrap();
    let report = replay("a_circle_defaults", &format!("https://playground.tensorflow.org/{hash}"), 500);
    assert_eq!(report["final"]["train_accuracy"], 1.0);
    assert_eq!(report["final"]["test_accuracy"], 1.0);
    assert_eq!(report["settings"]["seed"], "0.12345");
    assert_eq!(report["settings"]["layer_sizes"], serde_json::json!([2, 4, 2, 1]));
    // The hash alone, without '#', works too.
    replay("a_circle_defaults", hash.trim_start_matches('#'), 10);

    let plane = reference("i_reg_plane_defaults");
    let report = replay("i_reg_plane_defaults", plane["url_hash"].as_str().unwrap(), 30);
    let last = report["final"].as_object().unwrap();
    assert!(
        !last.contains_key("train_accuracy") && !last.contains_key("test_accuracy"),
        "regression: {last:?}"
    );

    // Missing fields take the page's defaults: the circle run with only its seed given.
    let minimal = backprop(&["playground", "--url", "#seed=0.12345", "--epochs", "2", "--json"]).json();
    let full = backprop(&["playground", "--url", hash, "--epochs", "2", "--json"]).json();
    assert_eq!(minimal["history"], full["history"]);
}
