//! End to end: train → save → predict → eval on the sample files, the JSON layout, `--init`,
//! checkpoints and divergence, reproducible model files.

mod common;

use common::{TempDir, backprop, backprop_line, csv_rows, sample};
use serde_json::Value;

/// Trains on a sample CSV file, saves the model, and checks the JSON report against `eval`
/// and `predict`.
fn train_predict_eval(file: &str, target: &str, classes: &[&str]) -> f64 {
    let dir = TempDir::new(file);
    let model = dir.arg("model.safetensors");
    let csv = sample(file);
    let trained =
        backprop(&["train", "--csv", &csv, "--target", target, "--seed", "0", "--save", &model, "--json"])
            .json();
    let last = &trained["final"];
    let test_accuracy = last["test_accuracy"].as_f64().unwrap();

    // eval with the same split gives the final numbers of training exactly.
    let eval =
        backprop(&["eval", "--model", &model, "--csv", &csv, "--target", target, "--seed", "0", "--json"])
            .json();
    assert_eq!(eval["history"].as_array().unwrap().len(), 1);
    for key in ["train_loss", "test_loss", "train_accuracy", "test_accuracy"] {
        assert_eq!(eval["final"][key], last[key], "{key}");
    }
    // Without a split: every row, reported as the training part.
    let all = backprop(&["eval", "--model", &model, "--csv", &csv, "--test-fraction", "0", "--json"]).json();
    assert_eq!(
        all["settings"]["train_rows"],
        trained["settings"]["train_rows"].as_u64().unwrap()
            + trained["settings"]["test_rows"].as_u64().unwrap()
    );
    assert!(all["final"]["test_loss"].is_null());

    // predict: the input's columns, `prediction` and one probability per class.
    let out = dir.path("predictions.csv");
    let run = backprop(&["predict", "--model", &model, "--csv", &csv, "--out", &out.display().to_string()]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let rows = csv_rows(&std::fs::read_to_string(&out).unwrap());
    let header = &rows[0];
    let mut expected: Vec<String> =
        std::fs::read_to_string(&csv).unwrap().lines().next().unwrap().split(',').map(String::from).collect();
    expected.push("prediction".into());
    expected.extend(classes.iter().map(|c| format!("p_{c}")));
    assert_eq!(header, &expected);
    let target_col = header.iter().position(|h| h == target).unwrap();
    let prediction_col = header.len() - classes.len() - 1;
    let mut right = 0;
    for row in &rows[1..] {
        assert!(classes.contains(&row[prediction_col].as_str()), "{row:?}");
        let p: Vec<f64> = row[prediction_col + 1..].iter().map(|v| v.parse().unwrap()).collect();
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-4, "probabilities sum to 1: {p:?}");
        let best = (0..p.len()).fold(0, |b, i| if p[i] > p[b] { i } else { b });
        assert_eq!(row[prediction_col], classes[best], "the prediction is the likeliest class");
        right += usize::from(row[prediction_col] == row[target_col]);
    }
    let predicted_accuracy = right as f64 / (rows.len() - 1) as f64;
    assert!((predicted_accuracy - all["final"]["train_accuracy"].as_f64().unwrap()).abs() < 1e-12);
    test_accuracy
}

#[test]
fn iris_trains_to_scikit_learn_accuracy() {
    let accuracy = train_predict_eval("iris.csv", "species", &["setosa", "versicolor", "virginica"]);
    assert!(accuracy >= 0.95, "iris test accuracy {accuracy}");
}

#[test]
fn wine_trains_to_scikit_learn_accuracy() {
    let accuracy = train_predict_eval("wine.csv", "cultivar", &["class_0", "class_1", "class_2"]);
    assert!(accuracy >= 0.95, "wine test accuracy {accuracy}");
}

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    k.sort();
    k
}

#[test]
fn json_report_layout() {
    let report = backprop(&["train", "--dataset", "circle", "--epochs", "3", "--json"]).json();
    assert_eq!(keys(&report), ["final", "history", "report", "seconds", "settings"]);
    assert_eq!(report["report"]["set"], "test");
    assert_eq!(report["report"]["macro_avg"]["support"], 250);
    let history = report["history"].as_array().unwrap();
    assert_eq!(history.len(), 4, "epochs + 1 entries");
    for (i, entry) in history.iter().enumerate() {
        assert_eq!(
            keys(entry),
            ["epoch", "seconds", "test_accuracy", "test_loss", "train_accuracy", "train_loss"]
        );
        assert_eq!(entry["epoch"], i);
        // Epoch 0 trains nothing; the others time their steps.
        assert_eq!(entry["seconds"].is_null(), i == 0, "{entry}");
        for key in ["train_loss", "test_loss", "train_accuracy", "test_accuracy"] {
            assert!(entry[key].as_f64().unwrap().is_finite(), "{key}");
        }
    }
    assert_eq!(report["final"], history[3]);
    assert!(report["seconds"].as_f64().unwrap() >= 0.0);
    let settings = &report["settings"];
    assert_eq!(settings["layers"], serde_json::json!([4, 2]));
    assert_eq!(settings["optimizer"]["kind"], "sgd");
    assert_eq!(settings["lr"], 0.03);
    assert_eq!(settings["batch_size"], 10);
    assert_eq!(settings["loss"], "bce_with_logits");
    assert_eq!((settings["train_rows"].as_u64(), settings["test_rows"].as_u64()), (Some(250), Some(250)));

    // Regression: no accuracy keys; no test set: null test loss.
    let report =
        backprop(&["train", "--dataset", "plane", "--epochs", "2", "--test-fraction", "0", "--json"]).json();
    let entry = &report["history"][2];
    assert_eq!(keys(entry), ["epoch", "seconds", "test_loss", "train_loss"]);
    assert_eq!(keys(&report["report"]), ["mae", "r2", "rmse", "rows", "set"]);
    assert_eq!(
        (report["report"]["set"].as_str(), report["report"]["rows"].as_u64()),
        (Some("training"), Some(1200))
    );
    assert!(entry["test_loss"].is_null());
    assert_eq!(report["settings"]["loss"], "mse");
    assert_eq!(report["settings"]["train_rows"], 1200);
}

#[test]
fn text_output_is_plain_lines_without_a_terminal() {
    let run = backprop(&["train", "--dataset", "xor", "--epochs", "40"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(
        lines[0].starts_with("training 2-4-2-1 (tanh, bce_with_logits) with sgd lr 0.03 batch 10 on xor"),
        "{}",
        lines[0]
    );
    assert!(lines[1].starts_with("epoch  0/40  train_loss "), "{}", lines[1]);
    assert_eq!(lines.iter().filter(|l| l.starts_with("epoch")).count(), 21, "every second epoch of 40");
    let last = lines.iter().position(|l| l.starts_with("final epoch 40/40  train_loss")).expect(&run.stdout);
    // Then scikit-learn's classification report of the test set.
    assert_eq!(lines[last + 1], "test set (250 rows):", "{}", run.stdout);
    assert!(lines[last + 2..].iter().any(|l| l.trim_start().starts_with("weighted avg")), "{}", run.stdout);
    assert!(run.stderr.is_empty(), "{}", run.stderr);
}

/// Trains the same small model three times (seeds 11, 11, 12) and returns the three files.
fn three_model_files(dir: &TempDir) -> [Vec<u8>; 3] {
    let run = |seed: &str, name: &str| {
        let path = dir.arg(name);
        let args = [
            "train",
            "--dataset",
            "spiral",
            "--epochs",
            "5",
            "--layers",
            "8",
            "--seed",
            seed,
            "--save",
            &path,
        ];
        assert_eq!(backprop(&args).code, Some(0));
        std::fs::read(path).unwrap()
    };
    [run("11", "a.safetensors"), run("11", "b.safetensors"), run("12", "c.safetensors")]
}

/// A safetensors file's header as JSON (key order aside) and its data bytes.
fn header_and_data(bytes: &[u8]) -> (Value, Vec<u8>) {
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    (serde_json::from_slice(&bytes[8..8 + n]).unwrap(), bytes[8 + n..].to_vec())
}

#[test]
fn same_seed_same_model() {
    let dir = TempDir::new("repro");
    let [a, b, c] = three_model_files(&dir);
    assert_eq!(header_and_data(&a), header_and_data(&b), "same command, seed and threads: the same model");
    assert_ne!(header_and_data(&a).1, header_and_data(&c).1, "another seed: other weights");
}

#[test]
fn same_seed_same_model_file_bytes() {
    let dir = TempDir::new("repro-bytes");
    let [a, b, _] = three_model_files(&dir);
    assert!(a == b, "same command, seed and threads: the same bytes");
}

/// Subnormal numbers are flushed by default and kept with `--no-flush-denormal`; the setting is
/// reported and changes nothing where no number is subnormal: a small tanh network trained for
/// a few epochs (its weights and gradients stay far above 1e-38) gives the same weights, bit for
/// bit, either way. The last of `--flush-denormal` and `--no-flush-denormal` wins.
#[test]
fn flush_denormal_is_the_default_and_changes_no_normal_arithmetic() {
    let dir = TempDir::new("flush");
    let run = |extra: &[&str], flushes: bool, name: &str| {
        let path = dir.arg(name);
        let mut args =
            vec!["train", "--dataset", "spiral", "--epochs", "5", "--layers", "8", "--save", &path];
        args.extend(["--json", "--threads", "2"]);
        args.extend(extra);
        let report = backprop(&args).json();
        assert_eq!(report["settings"]["flush_denormal"], flushes, "{extra:?}: {}", report["settings"]);
        header_and_data(&std::fs::read(path).unwrap())
    };
    let default = run(&[], true, "default.safetensors");
    assert_eq!(default, run(&["--no-flush-denormal"], false, "ieee.safetensors"));
    assert_eq!(default, run(&["--no-flush-denormal", "--flush-denormal"], true, "flush.safetensors"));
    run(&["--flush-denormal", "--no-flush-denormal"], false, "last.safetensors");
}

#[test]
fn divergence_names_the_epoch_and_keeps_the_last_checkpoint() {
    let dir = TempDir::new("diverge");
    let mut csv = String::from("x,y\n");
    for i in 0..60 {
        let x = i as f64 / 10.0 - 3.0;
        csv.push_str(&format!("{x},{}\n", 40.0 * x + 7.0));
    }
    let data = dir.write("line.csv", &csv);
    let (model, checkpoint) = (dir.arg("m.safetensors"), dir.arg("ck.safetensors"));
    let run = backprop_line(&format!(
        "train --csv {data} --target y --optimizer sgd --lr 5 --scale none --epochs 50 --checkpoint {checkpoint} --save {model}"
    ));
    let line = run.error_line(1);
    assert!(line.starts_with("error: training diverged at epoch "), "{line}");
    assert!(line.contains(", step ") && line.contains("try a lower learning rate, e.g. --lr 0.5"), "{line}");
    assert!(
        line.contains(&format!("is in {checkpoint}")) && line.contains(&format!("{model} was not written")),
        "{line}"
    );
    assert_eq!(dir.files(), ["ck.safetensors", "line.csv"], "no model and no temporary file");
    let ck = backprop_train::load_checkpoint::<f32>(&checkpoint).unwrap();
    assert!(ck.training.epoch < 50);
    // The last good checkpoint starts a new run.
    let resumed = backprop_line(&format!("train --csv {data} --target y --optimizer sgd --lr 0.001 --scale none --epochs 2 --init {checkpoint} --json"))
    .json();
    assert!(resumed["final"]["train_loss"].as_f64().unwrap().is_finite());
}

#[test]
fn init_continues_from_saved_weights() {
    let dir = TempDir::new("init");
    let model = dir.arg("m.safetensors");
    let iris = sample("iris.csv");
    let first = backprop(&[
        "train", "--csv", &iris, "--target", "species", "--epochs", "30", "--save", &model, "--json",
    ])
    .json();
    let again = backprop(&[
        "train", "--csv", &iris, "--target", "species", "--epochs", "1", "--init", &model, "--json",
    ])
    .json();
    assert_eq!(
        again["history"][0]["train_loss"], first["final"]["train_loss"],
        "epoch 0 starts where training ended"
    );
    assert_eq!(again["settings"]["layers"], serde_json::json!([16, 16]));

    // A safetensors file without metadata: the flags give the architecture.
    let mut g = backprop_autograd::Graph::<f64>::new();
    let net = backprop_nn::mlp(
        &mut g,
        &[4, 5, 3],
        backprop_nn::Activation::Tanh,
        &mut backprop_tensor::TensorRng::seed_from_u64(1),
    )
    .unwrap();
    let tensors = net.state_dict(&g).unwrap();
    let refs: Vec<(String, &backprop_tensor::Tensor<f64>)> =
        tensors.iter().map(|(n, t)| (n.clone(), t)).collect();
    let raw = dir.path("raw.safetensors");
    backprop_nn::safetensors_file::write_safetensors(&raw, &refs, &Default::default()).unwrap();
    let raw = raw.display().to_string();
    let ok = backprop_line(&format!(
        "train --csv {iris} --target species --layers 5 --activation tanh --epochs 1 --init {raw}"
    ));
    assert_eq!(ok.code, Some(0), "{}", ok.stderr);
    let line = backprop(&[
        "train", "--csv", &iris, "--target", "species", "--layers", "6", "--epochs", "1", "--init", &raw,
    ])
    .error_line(1);
    assert_eq!(line, format!("error: {raw}: tensor '0.weight' has shape [5, 4], expected [6, 4]"));
    let line = backprop(&["train", "--dataset", "circle", "--init", &model]).error_line(1);
    assert_eq!(
        line,
        format!("error: {model}: the model takes 4 inputs but the data has 2 features (x1, x2)")
    );
}

#[test]
fn playground_models_predict_from_x1_and_x2() {
    let dir = TempDir::new("pg-model");
    let model = dir.arg("m.safetensors");
    let train = backprop_line(&format!(
        "train --dataset gauss --features x1,x2,x1x2 --epochs 20 --seed 3 --save {model} --json"
    ))
    .json();
    let eval = backprop(&["eval", "--model", &model, "--dataset", "gauss", "--seed", "3", "--json"]).json();
    assert_eq!(eval["final"]["test_loss"], train["final"]["test_loss"]);
    let input = dir.write("points.csv", "x1,x2\n3,3\n-3,-3\n");
    let run = backprop(&["predict", "--model", &model, "--csv", &input]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let rows = csv_rows(&run.stdout);
    assert_eq!(rows[0], ["x1", "x2", "prediction", "p_-1", "p_1"]);
    assert_eq!((rows[1][2].as_str(), rows[2][2].as_str()), ("1", "-1"), "the two Gaussians: {}", run.stdout);
}

/// `backprop args` (one thread) reading CSV files in chunks of `rows` rows
/// (`BACKPROP_CSV_CHUNK_ROWS`), or of the default size.
fn in_chunks(rows: Option<usize>, args: &[&str]) -> common::Run {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_backprop"));
    command.args(args).args(["--threads", "1"]).env_remove("BACKPROP_CSV_CHUNK_ROWS");
    if let Some(rows) = rows {
        command.env("BACKPROP_CSV_CHUNK_ROWS", rows.to_string());
    }
    let out = command.output().expect("the backprop binary runs");
    common::Run {
        code: out.status.code(),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

#[test]
fn predict_and_eval_in_chunks_give_the_whole_file_results() {
    let dir = TempDir::new("chunks");
    // A classifier, and a regression model of iris's petal width from the other measurements.
    let iris = std::fs::read_to_string(sample("iris.csv")).unwrap();
    let numbers: Vec<&str> = iris.lines().map(|l| l.rsplit_once(',').unwrap().0).collect();
    let numbers = dir.write("numbers.csv", &(numbers.join("\n") + "\n"));
    for (file, target) in [("wine.csv", "cultivar"), ("numbers.csv", "petal_width")] {
        let model = dir.arg(&format!("{file}.safetensors"));
        let csv = if file == "wine.csv" { sample(file) } else { numbers.clone() };
        let trained =
            backprop_line(&format!("train --csv {csv} --target {target} --epochs 5 --save {model}"));
        assert_eq!(trained.code, Some(0), "{}", trained.stderr);
        let predict = ["predict", "--model", &model, "--csv", &csv];
        let eval = ["eval", "--model", &model, "--csv", &csv, "--target", target, "--json"];
        let whole = in_chunks(None, &predict);
        assert_eq!(whole.code, Some(0), "{}", whole.stderr);
        let whole_eval = in_chunks(None, &eval).json();
        for rows in [1, 7, 64] {
            assert_eq!(in_chunks(Some(rows), &predict).stdout, whole.stdout, "{file} in chunks of {rows}");
            let chunked = in_chunks(Some(rows), &eval).json();
            for key in ["settings", "final", "report"] {
                assert_eq!(chunked[key], whole_eval[key], "{file} in chunks of {rows}: {key}");
            }
        }
    }
    // A bad cell in a later chunk is reported at its line in the file; --out is left unwritten.
    let mut lines: Vec<String> =
        std::fs::read_to_string(sample("wine.csv")).unwrap().lines().map(String::from).collect();
    lines[149] = lines[149].replacen(|c: char| c.is_ascii_digit(), "x", 1);
    let bad = dir.write("bad.csv", &(lines.join("\n") + "\n"));
    let cell = lines[149].split(',').next().unwrap().to_string();
    let out = dir.arg("out.csv");
    let model = dir.arg("wine.csv.safetensors");
    let expected = format!("error: {bad}:150: column 'alcohol' (1): '{cell}' is not a number");
    let run = in_chunks(Some(7), &["predict", "--model", &model, "--csv", &bad, "--out", &out]);
    assert_eq!(run.error_line(1), expected);
    let run = in_chunks(Some(7), &["eval", "--model", &model, "--csv", &bad]);
    assert_eq!(run.error_line(1), expected);
    let files = ["bad.csv", "numbers.csv", "numbers.csv.safetensors", "wine.csv.safetensors"];
    assert_eq!(dir.files(), files, "no output left");
}
