//! Runs of the Playground's own code (tests/data/*.json, see tests/data/README.md) replayed
//! by the replica: same points, same initial weights, the same losses at every recorded
//! epoch, the same accuracies, final parameters and grid outputs.

use backprop_playground::{Playground, PlaygroundConfig};
use serde_json::Value;

mod common;
use common::{int, load, num};

const TOLERANCE: f64 = 1e-9;

/// `actual` within a relative `TOLERANCE` of `expected` (absolute near zero); with `exact`,
/// bit for bit.
fn check(what: &str, actual: f64, expected: f64, exact: bool) {
    if exact {
        // JSON writes -0 as 0, so zeros match either sign.
        let same = actual.to_bits() == expected.to_bits() || (actual == 0.0 && expected == 0.0);
        assert!(same, "{what}: {actual:e} != {expected:e}");
    } else {
        let scale = expected.abs().max(1e-300);
        assert!((actual - expected).abs() <= TOLERANCE * scale, "{what}: {actual:e} vs {expected:e}");
    }
}

/// Replays one case of a reference file.
fn replay(case: &Value, exact: bool) {
    let id = case["id"].as_str().unwrap();
    let config = PlaygroundConfig::from_url(case["url_hash"].as_str().unwrap()).unwrap();
    assert_eq!(config.seed.as_deref(), case["seed"].as_str(), "{id}: seed");
    let mut run = Playground::new(&config).unwrap();
    let settings = &case["settings"];
    let sizes: Vec<usize> = settings["full_layer_sizes"].as_array().unwrap().iter().map(int).collect();
    assert_eq!(run.network().layer_sizes(), sizes, "{id}: layer sizes");
    assert_eq!(run.train_points().len() as u64, int(&case["num_train"]) as u64, "{id}: train size");
    assert_eq!(run.test_points().len() as u64, int(&case["num_test"]) as u64, "{id}: test size");

    for (key, points) in
        [("first3_train_points_after_shuffle", run.train_points()), ("first3_test_points", run.test_points())]
    {
        for (i, expected) in case[key].as_array().unwrap().iter().enumerate() {
            let p = points[i];
            check(&format!("{id}: {key}[{i}].x"), p.x, num(&expected["x"]), exact);
            check(&format!("{id}: {key}[{i}].y"), p.y, num(&expected["y"]), exact);
            check(&format!("{id}: {key}[{i}].label"), p.label, num(&expected["label"]), exact);
        }
    }

    let initial = &case["initial_params"];
    assert_eq!(run.network().links().len() as u64, int(&initial["num_links"]) as u64, "{id}: links");
    for (i, (w, link_id)) in side_by_side(initial, "first5_link_weights", "first5_link_ids") {
        let link = &run.network().links()[i];
        assert_eq!(link.id, link_id.as_str().unwrap(), "{id}: link {i} id");
        check(&format!("{id}: initial weight {i}"), link.weight, num(w), exact);
    }
    let hidden_and_output = &run.network().nodes()[sizes[0]..];
    for (i, (b, node_id)) in side_by_side(initial, "first3_biases", "first3_bias_node_ids") {
        assert_eq!(hidden_and_output[i].id, node_id.as_str().unwrap(), "{id}: node {i} id");
        check(&format!("{id}: initial bias {i}"), hidden_and_output[i].bias, num(b), exact);
    }

    let losses = case["loss"].as_array().unwrap();
    let last_epoch = losses.iter().map(|l| int(&l["epoch"])).max().unwrap();
    let history = run.run(last_epoch);
    for expected in losses {
        let epoch = int(&expected["epoch"]);
        let record = history[epoch];
        assert_eq!(record.epoch, epoch);
        check(
            &format!("{id}: train loss at epoch {epoch}"),
            record.train_loss,
            num(&expected["train"]),
            exact,
        );
        check(&format!("{id}: test loss at epoch {epoch}"), record.test_loss, num(&expected["test"]), exact);
    }

    let classification = settings["problem"] == "classification";
    let last = history[last_epoch];
    if classification {
        let tag = format!("_at_epoch_{last_epoch}");
        let train_correct = int(&case[format!("train_correct{tag}")]) as f64;
        let test_correct = int(&case[format!("test_correct{tag}")]) as f64;
        assert_eq!(last.train_accuracy, Some(train_correct / run.train_points().len() as f64), "{id}");
        assert_eq!(last.test_accuracy, Some(test_correct / run.test_points().len() as f64), "{id}");
        check(
            &format!("{id}: train accuracy"),
            last.train_accuracy.unwrap(),
            num(&case[format!("train_accuracy{tag}")]),
            exact,
        );
        check(
            &format!("{id}: test accuracy"),
            last.test_accuracy.unwrap(),
            num(&case[format!("test_accuracy{tag}")]),
            exact,
        );
    } else {
        assert_eq!((last.train_accuracy, last.test_accuracy), (None, None), "{id}");
    }

    for (i, g) in case[format!("grid_outputs_at_epoch_{last_epoch}")].as_array().unwrap().iter().enumerate() {
        let point = g["point"].as_array().unwrap();
        let output = run.output_at(num(&point[0]), num(&point[1]));
        check(&format!("{id}: grid output {i}"), output, num(&g["output"]), exact);
    }

    let params = &case[format!("params_at_epoch_{last_epoch}")];
    for (i, w) in params["first5_link_weights"].as_array().unwrap().iter().enumerate() {
        check(&format!("{id}: final weight {i}"), run.network().links()[i].weight, num(w), exact);
    }
    for (i, b) in params["first3_biases"].as_array().unwrap().iter().enumerate() {
        check(&format!("{id}: final bias {i}"), run.network().nodes()[sizes[0] + i].bias, num(b), exact);
    }
    assert_eq!(run.network().num_dead_links(), int(&params["num_dead_links"]), "{id}: dead links");

    // The fuller records of this crate's own reference runs.
    if let Some(points) = case["train_points"].as_array() {
        assert_eq!(points.len(), run.train_points().len(), "{id}: train points");
        for (i, (p, expected)) in run.train_points().iter().zip(points).enumerate() {
            check(&format!("{id}: train point {i}.x"), p.x, num(&expected["x"]), exact);
            check(&format!("{id}: train point {i}.y"), p.y, num(&expected["y"]), exact);
            check(&format!("{id}: train point {i}.label"), p.label, num(&expected["label"]), exact);
        }
    }
    if let Some(weights) = params["all_link_weights"].as_array() {
        assert_eq!(weights.len(), run.network().links().len(), "{id}: links");
        for (link, w) in run.network().links().iter().zip(weights) {
            check(&format!("{id}: final weight of link {}", link.id), link.weight, num(w), exact);
        }
        let biases = params["all_biases"].as_array().unwrap();
        for (i, b) in biases.iter().enumerate() {
            check(&format!("{id}: final bias {i}"), run.network().nodes()[sizes[0] + i].bias, num(b), exact);
        }
        let dead: Vec<&str> =
            params["dead_link_ids"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        let ours: Vec<&str> =
            run.network().links().iter().filter(|l| l.is_dead).map(|l| l.id.as_str()).collect();
        assert_eq!(ours, dead, "{id}: dead links");
    }
}

fn replay_file(name: &str, exact: bool) {
    let data = load(name);
    let cases = data["cases"].as_array().unwrap();
    assert!(!cases.is_empty());
    for case in cases {
        replay(case, exact);
    }
}

#[test]
fn shared_reference_runs_agree_to_1e_9() {
    replay_file("playground_reference.json", false);
}

#[test]
fn shared_reference_runs_are_bit_exact() {
    replay_file("playground_reference.json", true);
}

/// The runs of tests/data/README.md: L1 with dead links, partial last batches (also in
/// regression), L2 with batch 1, no hidden layer, initZero and a hidden input feature.
#[test]
fn own_reference_runs_agree_to_1e_9() {
    replay_file("playground_runs.json", false);
}

#[test]
fn own_reference_runs_are_bit_exact() {
    replay_file("playground_runs.json", true);
}

#[test]
fn own_reference_runs_cover_l1_deaths_and_partial_batches() {
    let data = load("playground_runs.json");
    let cases = data["cases"].as_array().unwrap();
    let hash = |c: &Value| c["url_hash"].as_str().unwrap().to_string();
    assert!(cases.iter().any(
        |c| hash(c).contains("regularization=L1") && int(&c["params_at_epoch_500"]["num_dead_links"]) > 0
    ));
    assert!(cases.iter().any(|c| !int(&c["num_train"]).is_multiple_of(int(&c["settings"]["batchSize"]))));
    assert!(cases.iter().any(|c| hash(c).contains("regularization=L2")));
    assert!(cases.iter().any(|c| c["settings"]["problem"] == "regression"));
}

/// The arrays `object[a]` and `object[b]` entry by entry, with the entries' index.
fn side_by_side<'a>(
    object: &'a Value,
    a: &str,
    b: &str,
) -> impl Iterator<Item = (usize, (&'a Value, &'a Value))> {
    let array = |key: &str| object[key].as_array().unwrap();
    array(a).iter().zip(array(b)).enumerate()
}
