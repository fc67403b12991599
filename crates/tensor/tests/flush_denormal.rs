//! `set_flush_denormal` on the calling thread and on the kernels' team (a process of its own:
//! the setting is global, and the crate's other tests run IEEE arithmetic concurrently).

use std::hint::black_box;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use backprop_tensor::{flush_denormal, parallel_for, set_flush_denormal, set_num_threads};

/// A subnormal result (`MIN_POSITIVE / 4`) and a subnormal operand times one, on this thread,
/// as bits (compared as numbers under DAZ, a subnormal would equal zero).
fn subnormal_arithmetic() -> (u32, u64, u32) {
    let (tiny32, tiny64) = (black_box(f32::MIN_POSITIVE), black_box(f64::MIN_POSITIVE));
    (
        (tiny32 / 4.0).to_bits(),
        (tiny64 / 4.0).to_bits(),
        (black_box(f32::from_bits(1)) * black_box(1.0f32)).to_bits(),
    )
}

/// The same arithmetic on a thread of the team (not the caller), by running parts until one
/// runs there (each part lasts a millisecond, time for a helper to join).
fn on_a_team_thread() -> (u32, u64, u32) {
    let seen = Mutex::new(None);
    for _ in 0..1000 {
        parallel_for(4, |_| {
            let on_team = std::thread::current().name().is_some_and(|n| n.starts_with("backprop-team-"));
            if on_team {
                *seen.lock().unwrap() = Some(subnormal_arithmetic());
            }
            let start = Instant::now();
            while start.elapsed() < Duration::from_millis(1) {
                std::hint::spin_loop();
            }
        });
        if let Some(result) = *seen.lock().unwrap() {
            return result;
        }
    }
    panic!("no part ran on a thread of the team in 1000 jobs");
}

#[test]
fn flushing_zeroes_subnormal_results_and_operands_on_the_caller_and_the_team() {
    set_num_threads(2).unwrap();
    let ieee = ((f32::MIN_POSITIVE / 4.0).to_bits(), (f64::MIN_POSITIVE / 4.0).to_bits(), 1);
    assert!(ieee.0 > 0 && ieee.1 > 0);
    assert_eq!(subnormal_arithmetic(), ieee);
    assert_eq!(on_a_team_thread(), ieee);

    if !set_flush_denormal(true) {
        eprintln!("skipped: this processor cannot flush subnormal numbers");
        return;
    }
    assert!(flush_denormal());
    assert_eq!(subnormal_arithmetic(), (0, 0, 0));
    assert_eq!(on_a_team_thread(), (0, 0, 0));
    // Normal numbers are untouched.
    assert_eq!((black_box(1.5f32) * black_box(2.0f32)).to_bits(), 3.0f32.to_bits());

    assert!(set_flush_denormal(false));
    assert!(!flush_denormal());
    assert_eq!(subnormal_arithmetic(), ieee);
    assert_eq!(on_a_team_thread(), ieee);
}
