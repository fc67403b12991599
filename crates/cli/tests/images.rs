//! End to end on IDX image data: train, eval and predict through `--idx DIR` and through
//! `--images/--labels` on a tiny generated set (gzip and plain files), the metrics of the
//! report checked against values computed here from the predictions, numeric class labels,
//! and one epoch of real Fashion-MNIST when it is installed.

mod common;

use std::io::Write;
use std::path::Path;

use backprop_data::{IdxArray, IdxData, idx_bytes};
use common::{TempDir, backprop, png_size};
use serde_json::Value;

/// Pixels per side of the generated images.
const SIDE: usize = 4;

/// `count` noisy 4×4 images of 3 classes (a bright column band at the left, middle or right,
/// over noise strong enough that a small model makes some mistakes) and their labels.
fn images(count: usize, seed: u64) -> (Vec<u8>, Vec<u8>) {
    let mut state = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
    let mut next = move || {
        state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) as u32
    };
    let (mut pixels, mut labels) = (Vec::new(), Vec::new());
    for _ in 0..count {
        let label = (next() % 3) as usize;
        for _row in 0..SIDE {
            for col in 0..SIDE {
                let band = match label {
                    0 => col == 0,
                    1 => col == 1 || col == 2,
                    _ => col == 3,
                };
                let base = if band { 150 } else { 40 };
                pixels.push((base + next() % 110) as u8);
            }
        }
        labels.push(label as u8);
    }
    (pixels, labels)
}

/// Writes an IDX file of u8 `data` with `dims`, gzip-compressed when the name ends in `.gz`.
fn write_idx_file(path: &Path, dims: Vec<usize>, data: Vec<u8>) {
    let bytes = idx_bytes(&IdxArray::new(dims, IdxData::U8(data)).unwrap());
    let bytes = if path.extension().is_some_and(|e| e == "gz") {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&bytes).unwrap();
        gz.finish().unwrap()
    } else {
        bytes
    };
    std::fs::write(path, bytes).unwrap();
}

/// An MNIST-style folder: 90 training and 30 test images, two files compressed, two plain.
/// Returns the test labels.
fn write_folder(dir: &TempDir) -> Vec<u8> {
    let (train_x, train_y) = images(90, 1);
    let (test_x, test_y) = images(30, 2);
    write_idx_file(&dir.path("train-images-idx3-ubyte.gz"), vec![90, SIDE, SIDE], train_x);
    write_idx_file(&dir.path("train-labels-idx1-ubyte"), vec![90], train_y);
    write_idx_file(&dir.path("t10k-images-idx3-ubyte"), vec![30, SIDE, SIDE], test_x);
    write_idx_file(&dir.path("t10k-labels-idx1-ubyte.gz"), vec![30], test_y.clone());
    test_y
}

/// The rows of a predictions CSV: (index, predicted class).
fn predictions(csv: &str) -> Vec<(usize, usize)> {
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("index,prediction,p_0,p_1,p_2"));
    lines
        .map(|line| {
            let cells: Vec<&str> = line.split(',').collect();
            assert_eq!(cells.len(), 5, "{line}");
            let p: f64 = cells[2..].iter().map(|c| c.parse::<f64>().unwrap()).sum();
            assert!((p - 1.0).abs() < 1e-5, "probabilities sum to 1: {line}");
            (cells[0].parse().unwrap(), cells[1].parse().unwrap())
        })
        .collect()
}

/// Asserts that `report` (the JSON `report` of train or eval) holds scikit-learn's numbers for
/// these predictions, computed here from their definitions.
fn check_report(report: &Value, truth: &[usize], predicted: &[usize]) {
    let k = 3;
    let mut confusion = vec![vec![0_u64; k]; k];
    for (&t, &p) in truth.iter().zip(predicted) {
        confusion[t][p] += 1;
    }
    let confusion_json: Vec<Vec<u64>> = report["confusion"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_array().unwrap().iter().map(|c| c.as_u64().unwrap()).collect())
        .collect();
    assert_eq!(confusion_json, confusion);
    let n = truth.len() as f64;
    let correct = (0..k).map(|c| confusion[c][c]).sum::<u64>() as f64;
    assert!((report["accuracy"].as_f64().unwrap() - correct / n).abs() < 1e-12);
    let (mut macro_f1, mut weighted_f1) = (0.0, 0.0);
    for c in 0..k {
        let tp = confusion[c][c] as f64;
        let support = confusion[c].iter().sum::<u64>() as f64;
        let predicted_as = (0..k).map(|t| confusion[t][c]).sum::<u64>() as f64;
        let precision = if predicted_as > 0.0 { tp / predicted_as } else { 0.0 };
        let recall = if support > 0.0 { tp / support } else { 0.0 };
        let f1 = if support + predicted_as > 0.0 { 2.0 * tp / (support + predicted_as) } else { 0.0 };
        let class = &report["classes"][c];
        assert!((class["precision"].as_f64().unwrap() - precision).abs() < 1e-12, "class {c}");
        assert!((class["recall"].as_f64().unwrap() - recall).abs() < 1e-12, "class {c}");
        assert!((class["f1"].as_f64().unwrap() - f1).abs() < 1e-12, "class {c}");
        assert_eq!(class["support"].as_f64().unwrap(), support);
        macro_f1 += f1 / k as f64;
        weighted_f1 += f1 * support / n;
    }
    assert!((report["macro_avg"]["f1"].as_f64().unwrap() - macro_f1).abs() < 1e-12);
    assert!((report["weighted_avg"]["f1"].as_f64().unwrap() - weighted_f1).abs() < 1e-12);
    assert_eq!(report["macro_avg"]["support"].as_u64().unwrap(), truth.len() as u64);
    assert_eq!(report["class_names"], serde_json::json!(["0", "1", "2"]));
}

#[test]
fn idx_folder_and_image_files_train_eval_and_predict_alike() {
    let dir = TempDir::new("idx");
    let test_labels: Vec<usize> = write_folder(&dir).into_iter().map(usize::from).collect();
    let folder = dir.arg("");
    let model = dir.arg("model.safetensors");
    let plot = dir.arg("run.png");
    let common = ["--epochs", "15", "--layers", "8", "--lr", "0.05", "--batch-size", "16", "--seed", "3"];
    let mut args = vec!["train", "--idx", &folder, "--save", &model, "--plot", &plot, "--json"];
    args.extend(common);
    let trained = backprop(&args).json();
    let settings = &trained["settings"];
    assert_eq!((settings["train_rows"].as_u64(), settings["test_rows"].as_u64()), (Some(90), Some(30)));
    assert_eq!(settings["scale"], "none");
    assert!(settings["test_fraction"].is_null(), "the t10k files are the test set");
    assert_eq!(settings["classes"], serde_json::json!(["0", "1", "2"]));
    let history = trained["history"].as_array().unwrap();
    assert_eq!(history.len(), 16);
    assert!(history[0]["seconds"].is_null());
    for epoch in &history[1..] {
        assert!(epoch["seconds"].as_f64().unwrap() > 0.0, "{epoch}");
    }
    let final_accuracy = trained["final"]["test_accuracy"].as_f64().unwrap();
    assert!(final_accuracy > 0.7, "the bands are learnable: {final_accuracy}");
    let report = &trained["report"];
    assert_eq!(report["set"], "test");
    assert_eq!(report["accuracy"].as_f64().unwrap(), final_accuracy);
    assert_eq!(png_size(&dir.path("run.png")), (800, 800));

    // predict on the t10k images: one row per image in file order; the report is theirs.
    let out = dir.arg("predictions.csv");
    let run = backprop(&["predict", "--model", &model, "--idx", &folder, "--out", &out]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let rows = predictions(&std::fs::read_to_string(dir.path("predictions.csv")).unwrap());
    assert_eq!(rows.iter().map(|r| r.0).collect::<Vec<_>>(), (0..30).collect::<Vec<_>>());
    let predicted: Vec<usize> = rows.iter().map(|r| r.1).collect();
    check_report(report, &test_labels, &predicted);

    // eval on the folder scores the t10k files: the same numbers as training's report.
    let eval = backprop(&["eval", "--model", &model, "--idx", &folder, "--json"]).json();
    assert_eq!(eval["report"], *report);
    assert_eq!(eval["final"]["test_accuracy"], trained["final"]["test_accuracy"]);
    let text = backprop(&["eval", "--model", &model, "--idx", &folder]);
    assert_eq!(text.code, Some(0), "{}", text.stderr);
    assert!(
        text.stdout.contains("test set (30 rows):") && text.stdout.contains("macro avg"),
        "{}",
        text.stdout
    );

    // The same files named one by one train the same model.
    let (images, labels) = (dir.arg("train-images-idx3-ubyte.gz"), dir.arg("train-labels-idx1-ubyte"));
    let (test_images, test_labels_file) =
        (dir.arg("t10k-images-idx3-ubyte"), dir.arg("t10k-labels-idx1-ubyte.gz"));
    let mut args = vec![
        "train",
        "--images",
        &images,
        "--labels",
        &labels,
        "--test-images",
        &test_images,
        "--test-labels",
        &test_labels_file,
        "--json",
    ];
    args.extend(common);
    let by_files = backprop(&args).json();
    assert_eq!(by_files["report"], *report);
    assert_eq!(by_files["final"]["test_loss"], trained["final"]["test_loss"]);

    // predict on an image file alone (no labels needed), and eval on image files.
    let run = backprop(&["predict", "--model", &model, "--images", &test_images]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(predictions(&run.stdout).iter().map(|r| r.1).collect::<Vec<_>>(), predicted);
    let eval = backprop(&[
        "eval",
        "--model",
        &model,
        "--images",
        &test_images,
        "--labels",
        &test_labels_file,
        "--json",
    ])
    .json();
    assert_eq!(eval["report"]["set"], "all");
    assert_eq!(eval["report"]["confusion"], report["confusion"]);

    // Images of another size are refused, naming the file.
    write_idx_file(&dir.path("small.idx"), vec![2, 2, 2], vec![0; 8]);
    write_idx_file(&dir.path("small-labels.idx"), vec![2], vec![0, 1]);
    let small = dir.arg("small.idx");
    let line =
        backprop(&["eval", "--model", &model, "--images", &small, "--labels", &dir.arg("small-labels.idx")])
            .error_line(1);
    assert_eq!(line, format!("error: {small}: the images have 4 pixels each, but the model takes 16 inputs"));
}

#[test]
fn without_test_files_the_training_images_are_split() {
    let dir = TempDir::new("idx-split");
    let (x, y) = images(40, 5);
    write_idx_file(&dir.path("x.idx"), vec![40, SIDE, SIDE], x);
    write_idx_file(&dir.path("y.idx.gz"), vec![40], y);
    let (images, labels) = (dir.arg("x.idx"), dir.arg("y.idx.gz"));
    let run = backprop(&[
        "train",
        "--images",
        &images,
        "--labels",
        &labels,
        "--test-fraction",
        "0.25",
        "--epochs",
        "2",
        "--json",
    ]);
    let report = run.json();
    assert_eq!(
        (report["settings"]["train_rows"].as_u64(), report["settings"]["test_rows"].as_u64()),
        (Some(30), Some(10))
    );
    assert_eq!(report["report"]["macro_avg"]["support"], 10);
    // Test files and a split at once are refused.
    let folder = TempDir::new("idx-both");
    write_folder(&folder);
    let line = backprop(&["train", "--idx", &folder.arg(""), "--test-fraction", "0.2", "--epochs", "1"])
        .error_line(2);
    assert!(
        line.contains("--test-fraction 0.2 splits the training images, but the test set is the t10k files"),
        "{line}"
    );
}

#[test]
fn regression_report_matches_its_definitions() {
    let dir = TempDir::new("regression-report");
    let mut csv = String::from("a,b,y\n");
    for i in 0..40 {
        let (a, b) = (f64::from(i) / 10.0, f64::from(i % 7));
        csv.push_str(&format!("{a},{b},{}\n", 2.0 * a - b + 0.5 * f64::from(i % 3)));
    }
    let data = dir.write("data.csv", &csv);
    let model = dir.arg("m.safetensors");
    backprop(&["train", "--csv", &data, "--target", "y", "--epochs", "20", "--save", &model, "--json"])
        .json();
    let eval =
        backprop(&["eval", "--model", &model, "--csv", &data, "--test-fraction", "0", "--json"]).json();
    let run = backprop(&["predict", "--model", &model, "--csv", &data]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let pairs: Vec<(f64, f64)> = run
        .stdout
        .lines()
        .skip(1)
        .map(|l| {
            let c: Vec<f64> = l.split(',').map(|c| c.parse().unwrap()).collect();
            (c[2], c[3])
        })
        .collect();
    let n = pairs.len() as f64;
    let mean = pairs.iter().map(|p| p.0).sum::<f64>() / n;
    let ss_res: f64 = pairs.iter().map(|(t, p)| (t - p) * (t - p)).sum();
    let ss_tot: f64 = pairs.iter().map(|(t, _)| (t - mean) * (t - mean)).sum();
    let report = &eval["report"];
    assert_eq!(report["set"], "all");
    assert_eq!(report["rows"], 40);
    // The printed predictions are f32 values written in full, so the sums agree to rounding.
    assert!((report["r2"].as_f64().unwrap() - (1.0 - ss_res / ss_tot)).abs() < 1e-5, "{report}");
    assert!((report["rmse"].as_f64().unwrap() - (ss_res / n).sqrt()).abs() < 1e-5, "{report}");
    let mae = pairs.iter().map(|(t, p)| (t - p).abs()).sum::<f64>() / n;
    assert!((report["mae"].as_f64().unwrap() - mae).abs() < 1e-5, "{report}");
}

#[test]
fn a_class_loss_makes_integers_classes_and_unseen_labels_are_refused() {
    let dir = TempDir::new("numeric-classes");
    // 30 distinct integers in 60 rows: the automatic rule reads numbers, --loss ce reads classes.
    let mut csv = String::from("a,label\n");
    for i in 0..60 {
        csv.push_str(&format!("{},{}\n", i % 30, i % 30));
    }
    let data = dir.write("data.csv", &csv);
    let model = dir.arg("m.safetensors");
    let trained = backprop(&[
        "train", "--csv", &data, "--target", "label", "--loss", "ce", "--epochs", "1", "--save", &model,
        "--json",
    ])
    .json();
    assert_eq!(trained["settings"]["classes"].as_array().unwrap().len(), 30);
    assert!(
        trained["settings"]["data"]["task_reason"].as_str().unwrap().contains("as --loss ce asks"),
        "{}",
        trained["settings"]
    );
    let unseen = dir.write("unseen.csv", "a,label\n1,1\n2,31\n");
    let line = backprop(&["eval", "--model", &model, "--csv", &unseen, "--test-fraction", "0"]).error_line(1);
    assert!(
        line.starts_with(&format!(
            "error: {unseen}:3: column 'label' (2): class '31' is not one of the model's classes ["
        )),
        "{line}"
    );
}

#[test]
fn one_epoch_of_fashion_mnist_is_above_80_percent() {
    let folder = Path::new("/usr/share/datasets/fashion-mnist");
    if !folder.join("train-images-idx3-ubyte.gz").is_file() {
        println!(
            "skipped: Fashion-MNIST is not installed in {} (cargo xtask deps --data installs it)",
            folder.display()
        );
        return;
    }
    let run = backprop(&[
        "train",
        "--idx",
        &folder.display().to_string(),
        "--layers",
        "128",
        "--optimizer",
        "adam",
        "--lr",
        "0.001",
        "--batch-size",
        "128",
        "--epochs",
        "1",
        "--scale",
        "none",
        "--threads",
        "2",
        "--json",
    ]);
    let report = run.json();
    assert_eq!(
        (report["settings"]["train_rows"].as_u64(), report["settings"]["test_rows"].as_u64()),
        (Some(60000), Some(10000))
    );
    let accuracy = report["final"]["test_accuracy"].as_f64().unwrap();
    assert!(accuracy > 0.8, "test accuracy after one epoch: {accuracy}");
    assert_eq!(report["report"]["confusion"].as_array().unwrap().len(), 10);
}
