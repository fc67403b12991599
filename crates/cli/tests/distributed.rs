//! Data-parallel training, end to end. With the `mpi` feature (`cargo xtask test` builds it and
//! runs this file when Open MPI is installed) the runs go through `mpirun` with 2 ranks (and 4,
//! oversubscribed, for the deterministic mode); without it, the flags' single-process side.
//! docs/DISTRIBUTED.md describes what is checked.

mod common;

use common::{TempDir, backprop, words};

/// A small run: the Playground spiral (250 training rows), two hidden layers, one thread.
const RUN: &str = "train --dataset spiral --layers 8,8 --epochs 2 --seed 3 --threads 1";

/// The tensors of a model file, by name.
fn tensors(path: &std::path::Path) -> Vec<(String, Vec<f32>)> {
    use backprop_nn::Module;
    let (g, model, _) = backprop_nn::load_model::<f32>(path).expect("a model file");
    model.parameters().iter().map(|(n, p)| (n.clone(), g.value(*p).unwrap().as_slice().to_vec())).collect()
}

/// The largest relative difference (‖a − b‖ / ‖b‖, per tensor) between two models' tensors.
fn relative_difference(a: &std::path::Path, b: &std::path::Path) -> f64 {
    let (a, b) = (tensors(a), tensors(b));
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(&b)
        .map(|((na, ta), (nb, tb))| {
            assert_eq!(na, nb);
            let diff: f64 = ta.iter().zip(tb).map(|(x, y)| f64::from(x - y).powi(2)).sum::<f64>().sqrt();
            let norm: f64 = tb.iter().map(|y| f64::from(*y).powi(2)).sum::<f64>().sqrt();
            diff / norm
        })
        .fold(0.0, f64::max)
}

#[test]
fn micro_batches_in_one_process_train_the_same_model_as_whole_batches() {
    let dir = TempDir::new("micro");
    let (whole, micro) = (dir.arg("whole.safetensors"), dir.arg("micro.safetensors"));
    let run = backprop(&[&words(RUN)[..], &["--batch-size", "25", "--save", &whole]].concat());
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let args = [&words(RUN)[..], &["--batch-size", "25", "--micro-batch", "5", "--save", &micro]].concat();
    let run = backprop(&args);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    // The mean of five micro-batch means is the batch mean, up to rounding.
    let d =
        relative_difference(dir.path("micro.safetensors").as_path(), dir.path("whole.safetensors").as_path());
    assert!(d < 1e-5, "relative difference {d}");
}

#[test]
fn a_micro_batch_of_no_rows_is_refused() {
    let run = backprop(&[&words(RUN)[..], &["--micro-batch", "0"]].concat());
    let line = run.error_line(2);
    assert!(line.contains("--micro-batch"), "{line}");
}

#[cfg(not(feature = "mpi"))]
#[test]
fn distributed_without_the_mpi_feature_says_how_to_get_it() {
    let run = backprop(&[&words(RUN)[..], &["--distributed"]].concat());
    let line = run.error_line(2);
    assert!(line.contains("--features mpi"), "{line}");
}

#[cfg(feature = "mpi")]
mod mpi {
    use std::process::{Child, Command, Output, Stdio};
    use std::time::{Duration, Instant};

    use super::*;

    /// `mpirun` with what Open MPI needs here: more ranks than cores, no binding, as root
    /// when root, shared memory without the single-copy mechanism containers forbid.
    fn mpirun() -> Command {
        let mut command = Command::new("mpirun");
        command.args(["--oversubscribe", "--bind-to", "none"]);
        command.env("OMPI_MCA_btl_vader_single_copy_mechanism", "none");
        let root = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"));
        if root {
            command.env("OMPI_ALLOW_RUN_AS_ROOT", "1").env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1");
        }
        command
    }

    fn bin() -> &'static str {
        env!("CARGO_BIN_EXE_backprop")
    }

    /// `mpirun -np ranks backprop args... --distributed`, waited for.
    fn run_ranks(ranks: usize, args: &[&str]) -> Output {
        run_ranks_with(ranks, args, &[])
    }

    /// [`run_ranks`] with the environment variables `env` set.
    fn run_ranks_with(ranks: usize, args: &[&str], env: &[(&str, &str)]) -> Output {
        let output = mpirun()
            .envs(env.iter().copied())
            .args(["-np", &ranks.to_string(), bin()])
            .args(args)
            .arg("--distributed")
            .output()
            .expect("mpirun runs");
        assert!(
            output.status.success(),
            "mpirun -np {ranks} failed ({}):\n{}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }

    #[test]
    fn two_ranks_keep_identical_replicas_and_train_the_single_process_model() {
        let dir = TempDir::new("ddp");
        let (one, two) = (dir.arg("one.safetensors"), dir.arg("two.safetensors"));
        let run = backprop(&[&words(RUN)[..], &["--batch-size", "10", "--save", &one]].concat());
        assert_eq!(run.code, Some(0), "{}", run.stderr);
        // --check-replicas compares every rank's parameters before every step and at the end.
        let out = run_ranks(
            2,
            &[&words(RUN)[..], &["--batch-size", "10", "--check-replicas", "--save", &two]].concat(),
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(stdout.matches("saved the model to").count(), 1, "only rank 0 reports:\n{stdout}");
        let d =
            relative_difference(dir.path("two.safetensors").as_path(), dir.path("one.safetensors").as_path());
        assert!(d < 1e-5, "relative difference {d}");
        assert_eq!(dir.files(), ["one.safetensors", "two.safetensors"], "rank 1 writes nothing");
    }

    #[test]
    fn small_buckets_give_the_bytes_of_one_bucket_and_their_costs_are_reported() {
        let dir = TempDir::new("buckets");
        // 2-64-64-1: 192 + 4160 + 65 = 4417 values, 17 668 bytes per step in f32.
        let run = "train --dataset spiral --layers 64,64 --epochs 2 --seed 3 --threads 1 --batch-size 10";
        let files = [dir.arg("one-bucket.safetensors"), dir.arg("small-buckets.safetensors")];
        let replicated = [&words(run)[..], &["--json", "--replicated-step"]].concat();
        let default = run_ranks(2, &[&replicated[..], &["--save", &files[0]]].concat());
        let small = run_ranks(2, &[&replicated[..], &["--bucket-kb", "1", "--save", &files[1]]].concat());
        let bytes: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(f).expect("written")).collect();
        assert!(bytes[0] == bytes[1], "the bucket size changed the model");
        for (out, buckets) in [(default, 1.0), (small, 2.0)] {
            let stdout = String::from_utf8_lossy(&out.stdout);
            let report: serde_json::Value = serde_json::from_str(stdout.trim())
                .unwrap_or_else(|e| panic!("one JSON report, from rank 0 ({e}):\n{stdout}"));
            let allreduce = &report["settings"]["allreduce"];
            assert_eq!(allreduce["ranks"], 2, "{allreduce}");
            assert_eq!(allreduce["steps"], 50, "250 rows, batches of 10, 2 epochs: {allreduce}");
            assert_eq!(allreduce["bytes_per_step"], 17668.0, "{allreduce}");
            // 1 KiB buckets, in the order backward finishes the gradients: the last layer's 65
            // values and the second layer's weight (4161 values), then its bias and the first
            // layer (256 values, 1 KiB).
            assert_eq!(allreduce["buckets_per_step"], buckets, "{allreduce}");
            assert!(allreduce["exposed_ms_per_step"].as_f64().is_some_and(|t| t >= 0.0), "{allreduce}");
        }
    }

    /// A Python with torch: `BACKPROP_TORCH_PYTHON`, else `python3`, if it imports
    /// `torch.distributed`.
    fn torch_python() -> Option<String> {
        let asked = std::env::var("BACKPROP_TORCH_PYTHON").ok();
        asked.into_iter().chain(["python3".to_string()]).find(|python| {
            Command::new(python)
                .args(["-c", "import torch.distributed"])
                .output()
                .is_ok_and(|o| o.status.success())
        })
    }

    /// Runs `python script args...`, which must succeed.
    fn python(python: &str, args: &[&str]) {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/ddp_gloo.py");
        let out = Command::new(python).arg(script).args(args).output().expect("python runs");
        assert!(
            out.status.success(),
            "ddp_gloo.py {args:?} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    #[test]
    fn two_ranks_train_the_model_of_pytorch_ddp_over_gloo() {
        let Some(torch) = torch_python() else {
            println!(
                "skipped: no Python with torch for the comparison with PyTorch DDP \
                 (set BACKPROP_TORCH_PYTHON to one)"
            );
            return;
        };
        let dir = TempDir::new("gloo");
        // 96 points on three arcs, classes 0, 1, 2.
        let mut csv = String::from("x1,x2,label\n");
        for i in 0..96 {
            let (class, t) = (i % 3, (i / 3) as f64 / 32.0);
            let (r, a) = (0.2 + 0.8 * t, class as f64 * 2.1 + 3.0 * t);
            csv += &format!("{:.6},{:.6},{class}\n", r * a.cos(), r * a.sin());
        }
        std::fs::write(dir.path("arcs.csv"), csv).expect("written");
        let (data, init, theirs, ours) = (
            dir.arg("arcs.csv"),
            dir.arg("init.safetensors"),
            dir.arg("ddp.json"),
            dir.arg("ours.safetensors"),
        );
        // PyTorch's initial weights for both; 20 epochs of one whole batch, each rank half of it.
        python(&torch, &["init", &init, "2", "8", "3", "7"]);
        python(&torch, &["train", &data, "label", &init, &theirs, "20", "0.1"]);
        let flags = "--target label --layers 8 --activation tanh --optimizer sgd --lr 0.1 --batch-size 96 \
                     --epochs 20 --test-fraction 0 --scale none --threads 1";
        run_ranks(
            2,
            &[&["train", "--csv", &data, "--init", &init, "--save", &ours][..], &words(flags)].concat(),
        );
        type Named = std::collections::HashMap<String, Vec<f32>>;
        let reference: std::collections::HashMap<String, Named> =
            serde_json::from_str(&std::fs::read_to_string(&theirs).expect("written")).expect("JSON");
        let distance = |a: &[f32], b: &[f32]| {
            let diff: f64 = a.iter().zip(b).map(|(x, y)| f64::from(x - y).powi(2)).sum::<f64>().sqrt();
            diff / b.iter().map(|y| f64::from(*y).powi(2)).sum::<f64>().sqrt()
        };
        let mine = tensors(dir.path("ours.safetensors").as_path());
        assert_eq!(mine.len(), 4, "two layers' weights and biases");
        for (name, values) in &mine {
            let (ddp, start) = (&reference["trained"][name], &reference["initial"][name]);
            assert!(distance(values, ddp) < 1e-5, "{name}: relative difference {}", distance(values, ddp));
            assert!(
                distance(start, ddp) > 1e-2,
                "{name}: training moved it by only {}",
                distance(start, ddp)
            );
        }
    }

    #[test]
    fn the_sharded_step_writes_the_replicated_steps_model_and_checkpoint_byte_for_byte() {
        let dir = TempDir::new("sharded");
        let run = [&words(RUN)[..], &["--batch-size", "10", "--check-replicas", "--json"]].concat();
        let mut outputs = Vec::new();
        // On this machine the sharded step goes through shared memory; with no room for
        // Open MPI's shared windows (a folder that is not there) it sends messages instead.
        let no_room = [("OMPI_MCA_osc_sm_backing_directory", "/nonexistent")];
        for (name, step, extra, env, exchange) in [
            ("sharded", "sharded", &[][..], &[][..], "shared memory"),
            ("messages", "sharded", &[][..], &no_room[..], "messages"),
            ("replicated", "replicated", &["--replicated-step"][..], &[][..], "messages"),
        ] {
            let (model, checkpoint) =
                (dir.arg(&format!("{name}.safetensors")), dir.arg(&format!("{name}.ckpt")));
            let args = [&run[..], extra, &["--save", &model, "--checkpoint", &checkpoint]].concat();
            let out = run_ranks_with(2, &args, env);
            let stdout = String::from_utf8_lossy(&out.stdout).to_string();
            let report: serde_json::Value = serde_json::from_str(stdout.trim())
                .unwrap_or_else(|e| panic!("one JSON report, from rank 0 ({e}):\n{stdout}"));
            assert_eq!(report["settings"]["allreduce"]["optimizer_step"], step, "{stdout}");
            assert_eq!(report["settings"]["allreduce"]["exchange"], exchange, "{stdout}");
            outputs.push((
                std::fs::read(&model).expect("a model"),
                std::fs::read(&checkpoint).expect("a checkpoint"),
            ));
        }
        for (way, sharded) in [("through shared memory", &outputs[0]), ("by messages", &outputs[1])] {
            assert!(sharded.0 == outputs[2].0, "the sharded step {way} changed the model");
            // The checkpoint holds the optimizer's whole state, gathered from the ranks' shards.
            assert!(sharded.1 == outputs[2].1, "the sharded step {way} changed the checkpoint");
        }
        // 3 ranks: blocks of unequal parts of the tensors, point to point between every pair;
        // the replicas stay identical (checked before every step) and the model is the
        // replicated step's, up to the order of the sums of 3 values.
        let three = dir.arg("three.safetensors");
        run_ranks(3, &[&run[..], &["--save", &three]].concat());
        let d = relative_difference(
            dir.path("three.safetensors").as_path(),
            dir.path("replicated.safetensors").as_path(),
        );
        assert!(d < 1e-5, "relative difference {d}");
        // --bucket-kb belongs to the replicated step.
        let refused = backprop(&[&words(RUN)[..], &["--bucket-kb", "1"]].concat());
        assert_eq!(refused.code, Some(2), "{}", refused.stderr);
    }

    #[test]
    fn the_deterministic_mode_writes_the_same_bytes_on_1_2_and_4_ranks() {
        let dir = TempDir::new("deterministic");
        // 25-row batches of 5 micro-batches of 5 rows: 2 ranks get 2 and 3, 4 ranks 1, 1, 1, 2.
        fn args(name: &str) -> Vec<&str> {
            [&words(RUN)[..], &["--batch-size", "25", "--micro-batch", "5", "--save"], &[name]].concat()
        }
        let files: Vec<String> = (0..3).map(|i| dir.arg(&format!("m{i}.safetensors"))).collect();
        let run = backprop(&args(&files[0]));
        assert_eq!(run.code, Some(0), "{}", run.stderr);
        run_ranks(2, &args(&files[1]));
        run_ranks(4, &args(&files[2]));
        let bytes: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(f).expect("written")).collect();
        assert!(bytes[0] == bytes[1], "1 and 2 ranks differ");
        assert!(bytes[0] == bytes[2], "1 and 4 ranks differ");
    }

    #[test]
    fn a_rank_with_other_settings_is_refused_at_start_with_one_message() {
        let dir = TempDir::new("mismatch");
        let save = dir.arg("never.safetensors");
        let output = mpirun()
            .args(["-np", "1", bin()])
            .args(words(RUN))
            .args(["--lr", "0.03", "--distributed", "--save", &save, ":", "-np", "1", bin()])
            .args(words(RUN))
            .args(["--lr", "0.1", "--distributed", "--save", &save])
            .output()
            .expect("mpirun runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{stderr}");
        assert_eq!(stderr.matches("error: ").count(), 1, "one message:\n{stderr}");
        assert!(stderr.contains("error: rank 1 runs with other settings"), "{stderr}");
        assert!(!dir.path("never.safetensors").exists());
    }

    #[test]
    fn batches_with_fewer_micro_batches_than_ranks_are_refused_before_training() {
        let args =
            [&words(RUN)[..], &["--batch-size", "10", "--micro-batch", "10", "--distributed"]].concat();
        let output = mpirun().args(["-np", "2", bin()]).args(&args).output().expect("mpirun runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{stderr}");
        assert!(stderr.contains("than the 2 ranks"), "{stderr}");
    }

    /// The pid of the rank `rank` of the job whose processes have `marker` in their environment.
    fn pid_of_rank(marker: &str, rank: usize) -> Option<u32> {
        let wanted = format!("OMPI_COMM_WORLD_RANK={rank}");
        std::fs::read_dir("/proc").ok()?.flatten().find_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let environ = std::fs::read(entry.path().join("environ")).ok()?;
            let vars: Vec<&[u8]> = environ.split(|&b| b == 0).collect();
            let has = |s: &str| vars.contains(&s.as_bytes());
            (has(marker) && has(&wanted)).then_some(pid)
        })
    }

    fn wait_at_most(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Some(status) = child.try_wait().expect("waiting for mpirun") {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// The step and epoch of rank 0's line `error: rank 0 terminated (SIGTERM) during step N
    /// of epoch E; ...`.
    fn where_rank_0_stopped(stderr: &str) -> Option<(u64, u64)> {
        let rest = stderr.split("error: rank 0 terminated (SIGTERM) during step ").nth(1)?;
        let (step, rest) = rest.split_once(" of epoch ")?;
        let (epoch, _) = rest.split_once(';')?;
        Some((step.parse().ok()?, epoch.parse().ok()?))
    }

    #[test]
    fn a_killed_rank_ends_the_job_quickly_and_leaves_the_checkpoint_loadable() {
        let dir = TempDir::new("killed");
        let (save, checkpoint) = (dir.arg("model.safetensors"), dir.arg("ckpt.safetensors"));
        let marker = format!("BACKPROP_TEST_JOB={}", std::process::id());
        let long = "train --dataset spiral --layers 8,8 --seed 3 --threads 1 --batch-size 10";
        let mut child = mpirun()
            .env("BACKPROP_TEST_JOB", std::process::id().to_string())
            .args(["-np", "2", bin()])
            .args(words(long))
            .args(["--epochs", "100000", "--distributed", "--save", &save, "--checkpoint", &checkpoint])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("mpirun starts");
        // Training is under way once rank 0 has written its first checkpoint.
        let start = Instant::now();
        while !dir.path("ckpt.safetensors").exists() {
            assert!(start.elapsed() < Duration::from_secs(60), "no checkpoint after 60 s");
            assert!(child.try_wait().unwrap().is_none(), "the job ended before it was killed");
            std::thread::sleep(Duration::from_millis(50));
        }
        let pid = pid_of_rank(&marker, 1).expect("rank 1 is running");
        let killed = Instant::now();
        assert!(Command::new("kill").args(["-9", &pid.to_string()]).status().unwrap().success());
        let status = wait_at_most(&mut child, Duration::from_secs(30));
        let Some(status) = status else {
            let _ = child.kill();
            panic!("the job still runs 30 s after rank 1 was killed");
        };
        let waited = killed.elapsed();
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
        assert!(!status.success(), "the job must fail: {status}\n{stderr}");
        assert!(waited < Duration::from_secs(30), "{waited:?}");
        assert!(stderr.contains("rank 1"), "the message names the rank:\n{stderr}");
        // Rank 0, ended by the launcher, says where training was: 250 rows in batches of 10
        // are 25 steps per epoch.
        let (step, epoch) = where_rank_0_stopped(&stderr)
            .unwrap_or_else(|| panic!("rank 0 names the step and the epoch:\n{stderr}"));
        assert!((epoch - 1) * 25 < step && step <= epoch * 25, "step {step} is not in epoch {epoch}");
        assert!(!dir.path("model.safetensors").exists(), "no model file from a failed job");
        // The checkpoint (written atomically) resumes, here on one process.
        let resume = [&words(long)[..], &["--epochs", "1", "--init", &checkpoint]].concat();
        let run = backprop(&resume);
        assert_eq!(run.code, Some(0), "{}", run.stderr);
    }
}
