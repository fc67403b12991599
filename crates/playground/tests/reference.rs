//! Runs of the Playground's own code (tests/data/*.json, see tests/data/README.md) replayed
//! by the replica: same points, same initial weights, the same losses at every recorded
//! epoch, the same accuracies, final parameters and grid outputs.

use backprop_playground::{Playground, PlaygroundConfig};
use serde_json::Value;

const TOLERANCE: f64 = 1e-9;

/// Reads a reference file with every number turned into a string first: serde_json's
/// default float parser may be off by an ulp, Rust's `str::parse` is exact.
fn load(name: &str) -> Value {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&quote_numbers(&text)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Wraps every JSON number token (outside string literals) in quotes.
fn quote_numbers(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 4);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '"' {
            out.push(c);
            while let Some(s) = chars.next() {
                out.push(s);
                match s {
                    '\\' => out.push(chars.next().expect("escape")),
                    '"' => break,
                    _ => {}
                }
            }
        } else if c == '-' || c.is_ascii_digit() {
            out.push('"');
            out.push(c);
            while let Some(&d) = chars.peek() {
                if d.is_ascii_digit() || matches!(d, '.' | 'e' | 'E' | '+' | '-') {
                    out.push(d);
                    chars.next();
                } else {
                    break;
                }
            }
            out.push('"');
        } else {
            out.push(c);
        }
    }
    out
}

/// A number of the reference file, parsed exactly.
fn num(v: &Value) -> f64 {
    v.as_str().and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("not a number: {v}"))
}

/// A count of the reference file.
fn int(v: &Value) -> usize {
    v.as_str().and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("not a count: {v}"))
}

/// `actual` within a relative `TOLERANCE` of `expected` (absolute near zero); with `exact`,
/// bit for bit.
fn check(what: &str, actual: f64, expected: f64, exact: bool) {
    if exact {
        assert_eq!(actual.to_bits(), expected.to_bits(), "{what}: {actual:e} != {expected:e}");
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
    for (i, (w, link_id)) in initial["first5_link_weights"]
        .as_array()
        .unwrap()
        .iter()
        .zip(initial["first5_link_ids"].as_array().unwrap())
        .enumerate()
    {
        let link = &run.network().links()[i];
        assert_eq!(link.id, link_id.as_str().unwrap(), "{id}: link {i} id");
        check(&format!("{id}: initial weight {i}"), link.weight, num(w), exact);
    }
    let hidden_and_output = &run.network().nodes()[sizes[0]..];
    for (i, (b, node_id)) in initial["first3_biases"]
        .as_array()
        .unwrap()
        .iter()
        .zip(initial["first3_bias_node_ids"].as_array().unwrap())
        .enumerate()
    {
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
    assert_eq!(
        run.network().num_dead_links() as u64,
        int(&params["num_dead_links"]) as u64,
        "{id}: dead links"
    );
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
