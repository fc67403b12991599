//! Robustness end to end: a diverging run stops with the epoch and step and keeps the last good
//! checkpoint; saving is atomic (a write killed or refused midway leaves the previous file
//! intact and loadable); the same command with the same seed and thread count writes
//! byte-identical files, with one thread or two, from a Playground set or a CSV file.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{TempDir, backprop, backprop_line, sample, words};
use serde_json::Value;

/// A divergence message taken apart.
#[derive(Debug)]
struct Divergence {
    epoch: u64,
    step: u64,
    what: String,
    /// Everything after `; try a lower learning rate, e.g. --lr `.
    rest: String,
}

/// Parses `error: training diverged at epoch E, step S: WHAT; try a lower learning rate, e.g.
/// --lr REST`, checking that WHAT names a non-finite loss, output or gradient.
fn parse_divergence(line: &str) -> Divergence {
    let fail = || -> ! { panic!("not a divergence message: {line}") };
    let body = line.strip_prefix("error: training diverged at epoch ").unwrap_or_else(|| fail());
    let (epoch, body) = body.split_once(", step ").unwrap_or_else(|| fail());
    let (step, body) = body.split_once(": ").unwrap_or_else(|| fail());
    let (what, rest) = body.split_once("; try a lower learning rate, e.g. --lr ").unwrap_or_else(|| fail());
    let named = what.starts_with("the training loss is ")
        || what.starts_with("the model's output holds ")
        || (what.starts_with("the gradient of ") && what.contains(" holds "));
    let non_finite = ["inf", "-inf", "NaN"]
        .iter()
        .any(|v| what.ends_with(&format!(" {v}")) || what.ends_with(&format!(" {v} after the epoch")));
    assert!(named && non_finite, "'{what}' does not name a non-finite loss, output or gradient");
    Divergence {
        epoch: epoch.parse().unwrap_or_else(|_| fail()),
        step: step.parse().unwrap_or_else(|_| fail()),
        what: what.to_string(),
        rest: rest.to_string(),
    }
}

/// `y = 40x + 7` on 60 points of [-3, 3): far from the scale the initial weights expect.
fn line_csv(dir: &TempDir) -> String {
    let mut csv = String::from("x,y\n");
    for i in 0..60 {
        let x = f64::from(i) / 10.0 - 3.0;
        csv.push_str(&format!("{x},{}\n", 40.0 * x + 7.0));
    }
    dir.write("line.csv", &csv)
}

#[test]
fn divergence_names_the_epoch_and_step_and_keeps_the_last_good_checkpoint() {
    let dir = TempDir::new("robust-diverge");
    let (model, checkpoint) = (dir.arg("m.safetensors"), dir.arg("ck.safetensors"));
    // A good model first: a later failed run must not touch it.
    let good = backprop(&["train", "--dataset", "plane", "--epochs", "2", "--save", &model, "--json"]).json();
    let before = std::fs::read(&model).unwrap();
    let train_rows = good["settings"]["train_rows"].as_u64().unwrap();
    let steps_per_epoch = train_rows.div_ceil(10);

    // SGD with momentum 0.9 and lr 1 on the regression plane: finite for a few epochs, then
    // the loss overflows.
    let run = backprop_line(&format!(
        "train --dataset plane --optimizer momentum --lr 1 --batch-size 10 --epochs 100 --checkpoint {checkpoint} --save {model}"
    ));
    let d = parse_divergence(&run.error_line(1));
    assert!(d.epoch >= 1, "{d:?}");
    let first_step = (d.epoch - 1) * steps_per_epoch + 1;
    assert!(
        (first_step..=d.epoch * steps_per_epoch).contains(&d.step),
        "step {} is not in epoch {} ({} steps per epoch)",
        d.step,
        d.epoch,
        steps_per_epoch
    );
    if d.what.ends_with("after the epoch") {
        assert_eq!(d.step, d.epoch * steps_per_epoch, "{d:?}");
    }
    assert_eq!(
        d.rest,
        format!(
            "0.1; the last good checkpoint (epoch {}) is in {checkpoint}; {model} was not written",
            d.epoch - 1
        )
    );
    assert!(std::fs::read(&model).unwrap() == before, "the earlier model file is untouched");
    assert_eq!(dir.files(), ["ck.safetensors", "m.safetensors"], "no temporary file is left");

    let ck = backprop_train::load_checkpoint::<f32>(&checkpoint).unwrap();
    assert_eq!((ck.training.epoch, ck.training.step), (d.epoch - 1, (d.epoch - 1) * steps_per_epoch));

    // The checkpoint (weights and momentum buffers) loads in eval and predict, and starts a
    // new run from the same weights.
    let points = dir.write("points.csv", "x1,x2\n1,2\n-3,0.5\n");
    let predicted = backprop(&["predict", "--model", &checkpoint, "--csv", &points]);
    assert_eq!(predicted.code, Some(0), "{}", predicted.stderr);
    assert!(predicted.stdout.starts_with("x1,x2,prediction\n1,2,"), "{}", predicted.stdout);
    std::fs::remove_file(&points).unwrap();
    let eval = backprop(&["eval", "--model", &checkpoint, "--dataset", "plane", "--json"]).json();
    let eval_loss = eval["final"]["train_loss"].as_f64().unwrap();
    assert!(eval_loss.is_finite(), "{eval}");
    let resumed = backprop_line(&format!(
        "train --dataset plane --optimizer momentum --lr 0.01 --epochs 2 --init {checkpoint} --json"
    ))
    .json();
    assert_eq!(resumed["history"][0]["train_loss"].as_f64(), Some(eval_loss), "epoch 0 is the checkpoint");
    assert!(resumed["final"]["train_loss"].as_f64().unwrap().is_finite());
}

#[test]
fn every_way_of_diverging_stops_at_its_step_and_writes_nothing() {
    let dir = TempDir::new("robust-diverge-ways");
    let data = line_csv(&dir);
    let model = dir.arg("m.safetensors");
    // Unscaled, momentum 0.3: different seeds overflow in the output, the loss or a gradient.
    let mut seen = Vec::new();
    for seed in ["0", "1", "2", "3", "4"] {
        let run = backprop_line(&format!(
            "train --csv {data} --target y --scale none --optimizer momentum --lr 0.3 --epochs 60 --seed {seed} --save {model}"
        ));
        let d = parse_divergence(&run.error_line(1));
        // 45 training rows in batches of 32: 2 steps per epoch.
        assert!((2 * d.epoch - 1..=2 * d.epoch).contains(&d.step), "seed {seed}: {d:?}");
        assert_eq!(d.rest, format!("0.03; {model} was not written"), "seed {seed}");
        assert_eq!(dir.files(), ["line.csv"], "seed {seed}: nothing is written");
        seen.push(d.what);
    }
    eprintln!("divergence reasons: {seen:?}");
}

/// Runs `backprop args` under `sh` with a file-size limit of `blocks` × 512 bytes (and no core
/// file), ignoring `SIGXFSZ` when `ignore_signal`: a write past the limit then fails with
/// `EFBIG` instead of killing the process.
#[cfg(unix)]
fn with_file_size_limit(blocks: u32, ignore_signal: bool, args: &[&str]) -> std::process::Output {
    let trap = if ignore_signal { "trap '' XFSZ; " } else { "" };
    Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -c 0; ulimit -f {blocks}; {trap}exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_backprop"))
        .args(args)
        .output()
        .expect("sh runs")
}

/// The temporary files a save into `dir` left behind (`.NAME.tmp-PID-N`).
fn temp_files(dir: &TempDir) -> Vec<String> {
    dir.files().into_iter().filter(|n| n.starts_with('.') && n.contains(".tmp-")).collect()
}

/// `eval` loads `model` and gives a finite training loss.
fn loads(model: &str, dataset: &str) -> bool {
    let run = backprop(&["eval", "--model", model, "--dataset", dataset, "--json"]);
    run.code == Some(0) && run.json()["final"]["train_loss"].as_f64().is_some_and(f64::is_finite)
}

#[cfg(unix)]
#[test]
fn a_save_that_dies_or_fails_midway_leaves_the_previous_model_intact() {
    use std::os::unix::process::ExitStatusExt;

    let dir = TempDir::new("robust-atomic");
    let model = dir.arg("m.safetensors");
    let train = |seed: &'static str| {
        [
            "train",
            "--dataset",
            "circle",
            "--layers",
            "256,256",
            "--epochs",
            "1",
            "--threads",
            "1",
            "--seed",
            seed,
            "--save",
        ]
    };
    let mut args = train("1").to_vec();
    args.push(&model);
    assert_eq!(backprop(&args).code, Some(0));
    let before = std::fs::read(&model).unwrap();
    assert!(before.len() > 100_000, "the model is larger than the 32 KiB the next runs may write");

    // The kernel kills the process with SIGXFSZ in the middle of writing the new model.
    let mut args = train("2").to_vec();
    args.push(&model);
    let killed = with_file_size_limit(64, false, &args);
    assert_eq!(killed.status.signal(), Some(25), "SIGXFSZ ended the run: {killed:?}");
    let partial = temp_files(&dir);
    assert_eq!(partial.len(), 1, "the write was cut short in its temporary file: {:?}", dir.files());
    assert_eq!(std::fs::metadata(dir.path(&partial[0])).unwrap().len(), 64 * 512);
    assert!(std::fs::read(&model).unwrap() == before, "the previous model is byte for byte intact");
    assert!(loads(&model, "circle"));
    std::fs::remove_file(dir.path(&partial[0])).unwrap();

    // The same write refused (EFBIG): a clear error, the temporary file removed.
    let refused = with_file_size_limit(64, true, &args);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr, format!("error: {model}: cannot write: File too large (os error 27)\n"));
    assert!(std::fs::read(&model).unwrap() == before, "the previous model is byte for byte intact");
    assert!(loads(&model, "circle"));
    assert_eq!(dir.files(), ["m.safetensors"], "no temporary file is left");
}

/// A small xorshift generator for kill moments (the seed is printed to replay a failure).
struct Moments(u64);

impl Moments {
    fn next_ms(&mut self, low: u64, high: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        low + self.0 % (high - low)
    }
}

#[cfg(unix)]
#[test]
fn killing_a_run_while_it_writes_checkpoints_never_breaks_the_file() {
    let dir = TempDir::new("robust-kill");
    let file = dir.arg("m.safetensors");
    // Many epochs of one step each on a wide model: writing the 1 MB checkpoint after every
    // epoch is a large part of the run, so random kills often land inside a write.
    let args = [
        "train",
        "--dataset",
        "xor",
        "--test-fraction",
        "0.9",
        "--batch-size",
        "49",
        "--layers",
        "512,512",
        "--threads",
        "1",
        "--epochs",
        "100000",
        "--checkpoint",
        &file,
    ];
    // The file to protect: a model of the same network, trained for one epoch.
    let mut first = args.to_vec();
    first.truncate(args.len() - 4);
    first.extend(["--epochs", "1", "--save", &file]);
    assert_eq!(backprop(&first).code, Some(0));
    assert!(loads(&file, "xor"));

    let seed =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1;
    let mut moments = Moments(seed);
    let (mut kills, mut inside_a_write) = (0, 0);
    let start = Instant::now();
    while kills < 6 || (inside_a_write < 2 && kills < 30 && start.elapsed() < Duration::from_secs(30)) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_backprop"))
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the binary starts");
        let wait = moments.next_ms(20, 400);
        std::thread::sleep(Duration::from_millis(wait));
        child.kill().expect("SIGKILL");
        child.wait().unwrap();
        kills += 1;
        let left = temp_files(&dir);
        inside_a_write += usize::from(!left.is_empty());
        assert!(
            loads(&file, "xor"),
            "after a kill at {wait} ms (seed {seed}), {file} does not load; files: {:?}",
            dir.files()
        );
        for name in left {
            std::fs::remove_file(dir.path(&name)).unwrap();
        }
        assert_eq!(dir.files(), ["m.safetensors"]);
    }
    eprintln!("{kills} kills (seed {seed}), {inside_a_write} inside a checkpoint write");
    assert!(Path::new(&file).exists());
}

/// Trains `args` twice into fresh files and returns the bytes of the model and checkpoint of
/// each run, with the JSON history.
fn twice(dir: &TempDir, args: &[&str]) -> [(Vec<u8>, Vec<u8>, Value); 2] {
    ["a", "b"].map(|run| {
        let (model, checkpoint) = (dir.arg(&format!("{run}.safetensors")), dir.arg(&format!("{run}.ck")));
        let mut full = args.to_vec();
        full.extend(["--save", &model, "--checkpoint", &checkpoint, "--json"]);
        let mut report = backprop(&full).json();
        // The epochs' seconds are measured time, the one part of a run that may differ.
        for epoch in report["history"].as_array_mut().unwrap() {
            assert!(epoch.as_object_mut().unwrap().remove("seconds").is_some(), "{epoch}");
        }
        (std::fs::read(&model).unwrap(), std::fs::read(&checkpoint).unwrap(), report["history"].clone())
    })
}

#[test]
fn the_same_command_seed_and_threads_write_the_same_bytes() {
    let dir = TempDir::new("robust-repro");
    let iris = sample("iris.csv");
    let lines = [
        // Products of 64 x 256 x 256 multiply-adds, split between the two threads.
        "train --dataset spiral --layers 256,256 --batch-size 64 --epochs 3 --seed 5 --threads 2".to_string(),
        format!("train --csv {iris} --target species --layers 64,64 --epochs 10 --seed 7 --threads 2"),
        format!(
            "train --csv {iris} --target species --optimizer rmsprop --l2 0.001 --epochs 10 --seed 7 --threads 1"
        ),
    ];
    let runs = lines.each_ref().map(|line| words(line));
    for args in &runs {
        let [(model_a, ck_a, history_a), (model_b, ck_b, history_b)] = twice(&dir, args);
        let command = args.join(" ");
        assert!(model_a == model_b, "{command}: the model files differ");
        assert!(ck_a == ck_b, "{command}: the checkpoint files differ");
        assert_eq!(history_a, history_b, "{command}");
    }
    // Another seed gives another model, so the comparison above can fail.
    let mut other = runs[1].clone();
    let seed_at = other.iter().position(|a| *a == "7").unwrap();
    other[seed_at] = "8";
    let [(model_a, ..), _] = twice(&dir, &runs[1]);
    let [(model_c, ..), _] = twice(&dir, &other);
    assert!(model_a != model_c, "another seed, another model");
}
