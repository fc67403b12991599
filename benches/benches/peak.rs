//! The machine this bench runs on and its measured FMA peak, written to `machine.json` in the
//! benches' output folder ([`backprop_benches::out_dir`]) for `cargo xtask bench`, which prints
//! them beside the workloads and divides each workload's GFLOP/s by the peak.
//!
//! `cargo bench -p backprop-benches --bench peak` (about two seconds). The peak is the fastest
//! of five windows of an FMA loop on registers ([`backprop_benches::peak`]), for `f32` and `f64`,
//! on one thread and on `BACKPROP_THREADS` threads at once.

use backprop_benches::peak::{PeakIsa, Precision, measure};
use backprop_benches::{threads, write_result};
use backprop_tensor::cpu::{self, GemmPath};

/// Rounds of the FMA loop per window and thread: about 0.05–0.1 s on a current core.
const ROUNDS: u64 = 20_000_000;
/// Windows per figure; the fastest counts (a window can only be slowed down by other work).
const WINDOWS: usize = 5;

fn json_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn main() {
    if !backprop_benches::started_by_cargo_bench("peak") {
        return;
    }
    let n = threads();
    let caches = cpu::cache_sizes();
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    let isa = PeakIsa::detect();
    let peak = |precision, t| isa.map(|isa| measure(isa, precision, t, ROUNDS, WINDOWS));
    let figures = [
        ("f32", 1, peak(Precision::F32, 1)),
        ("f32", n, peak(Precision::F32, n)),
        ("f64", 1, peak(Precision::F64, 1)),
        ("f64", n, peak(Precision::F64, n)),
    ];
    let number = |x: Option<f64>| x.map_or("null".to_string(), |v| format!("{v:.1}"));
    let path_of = |p: GemmPath| json_string(&p.to_string());
    let mut json = String::from("{\n");
    json += &format!("  \"cpu\": {},\n  \"cores\": {cores},\n", json_string(cpu::cpu_model()));
    json += &format!(
        "  \"l1d_bytes\": {}, \"l2_bytes\": {}, \"l3_bytes\": {}, \"l3_sharing\": {}, \"cache_source\": \"{}\",\n",
        caches.l1d, caches.l2, caches.l3, caches.l3_sharing, caches.source
    );
    json += &format!("  \"isa\": \"{}\",\n", isa.map_or("none", PeakIsa::name));
    json += &format!("  \"openblas_core\": {},\n", json_string(cpu::openblas_core()));
    json += &format!(
        "  \"gemm_f32\": {},\n  \"gemm_f64\": {},\n",
        path_of(cpu::gemm_path::<f32>()),
        path_of(cpu::gemm_path::<f64>())
    );
    json += &format!("  \"threads\": {n},\n");
    for (i, (ty, _, gflops)) in figures.iter().enumerate() {
        // Even entries are on one thread, odd ones on all of them.
        let which = if i % 2 == 0 { "1" } else { "n" };
        let comma = if i + 1 < figures.len() { "," } else { "" };
        json += &format!("  \"peak_{ty}_{which}\": {}{comma}\n", number(*gflops));
    }
    json += "}\n";
    for (ty, t, gflops) in figures {
        println!(
            "peak {ty} on {t} thread(s): {} GFLOP/s ({})",
            number(gflops),
            isa.map_or("no FMA", PeakIsa::name)
        );
    }
    match write_result("machine.json", &json) {
        Ok(path) => println!("machine and peak written to {}", path.display()),
        Err(why) => {
            eprintln!("peak: {why}");
            std::process::exit(2);
        }
    }
}
