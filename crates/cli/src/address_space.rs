//! OpenBLAS under an address-space limit (`ulimit -v`).
//!
//! OpenBLAS starts one thread per core when the library loads, and each maps a buffer of
//! [`OPENBLAS_BUFFER_BYTES`] (the calling thread maps its own at its first product). When the
//! mapping fails, `blas_memory_alloc` retries forever: the thread spins, a product that hands it
//! work waits for it, and the process hangs at its exit, where OpenBLAS joins its threads. The
//! project never changes the user's `OPENBLAS_*` variables, so instead a command checks first
//! ([`check`]) that the limit leaves room for a buffer, which it does not once a thread is stuck
//! (the address space only fills as the process starts), and refuses with a message; and a
//! process under a limit ends without running OpenBLAS's exit handler ([`exit`]).

use std::process::ExitCode;

use crate::error::{CliError, Result};

/// The buffer OpenBLAS maps for each thread (`BUFFER_SIZE`, `32 << 22` on x86-64: 128 MiB, the
/// size of the `mmap` a stuck thread retries, seen in a debugger with OpenBLAS 0.3.21).
pub const OPENBLAS_BUFFER_BYTES: u64 = 128 << 20;

/// The process's address-space limit in bytes (`RLIMIT_AS`), if it has one.
pub fn limit() -> Option<u64> {
    let mut rlimit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes the struct it is given.
    let ok = unsafe { libc::getrlimit(libc::RLIMIT_AS, &mut rlimit) } == 0;
    (ok && rlimit.rlim_cur != libc::RLIM_INFINITY).then_some(rlimit.rlim_cur)
}

/// The address space the process uses now (`VmSize` of `/proc/self/status`), in bytes.
fn used() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmSize:"))?;
    let kib: u64 = line.trim_start_matches("VmSize:").trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kib * 1024)
}

/// The address space the limit leaves (`None` without a limit).
pub fn left() -> Option<u64> {
    Some(limit()?.saturating_sub(used()?))
}

/// Address space each thread of the default count may take under a limit: its stacks in the
/// kernels' team and rayon's pool (2 MiB each), its packed panels (1.6 MiB) and a share of the
/// work's memory.
pub const BYTES_PER_DEFAULT_THREAD: u64 = 32 << 20;

/// The default thread count: every core, but under an address-space limit at most one thread
/// per [`BYTES_PER_DEFAULT_THREAD`] of what the limit leaves beyond an OpenBLAS buffer (the
/// calling thread maps one at its first product), and at least 1. On a 64-core machine with
/// 1 GiB of the limit left that is 28 threads, not 64.
pub fn default_threads(cores: usize) -> usize {
    threads_for(cores, left())
}

/// [`default_threads`] with `left` bytes of address space left (`None`: no limit).
fn threads_for(cores: usize, left: Option<u64>) -> usize {
    match left {
        Some(left) => {
            let room = left.saturating_sub(OPENBLAS_BUFFER_BYTES) / BYTES_PER_DEFAULT_THREAD;
            cores.min(usize::try_from(room).unwrap_or(usize::MAX)).max(1)
        }
        None => cores,
    }
}

/// Refuses to run when an address-space limit leaves less than one OpenBLAS buffer: then a
/// thread of OpenBLAS cannot have its buffer, and the command would hang.
///
/// # Errors
/// A runtime error naming the limit, the buffer and what to do.
pub fn check() -> Result<()> {
    let (Some(limit), Some(left)) = (limit(), left()) else { return Ok(()) };
    if left >= OPENBLAS_BUFFER_BYTES {
        return Ok(());
    }
    Err(CliError::Runtime(format!(
        "the address-space limit (ulimit -v {} KiB) leaves less than the {} MiB buffer OpenBLAS maps for each of its threads (one per core), so it would hang; raise the limit by {} MiB per core, or remove it",
        limit / 1024,
        OPENBLAS_BUFFER_BYTES >> 20,
        OPENBLAS_BUFFER_BYTES >> 20
    )))
}

/// Ends the process with exit status `code`. Under an address-space limit it ends at once after flushing
/// stdout (`_exit`), without OpenBLAS's exit handler, which would wait forever for a thread that
/// could not map its buffer; otherwise it returns the status for `main` to return.
pub fn exit(code: u8) -> ExitCode {
    if limit().is_some() {
        use std::io::Write;
        let _ = std::io::stdout().flush();
        let _ = std::io::stderr().flush();
        // SAFETY: _exit ends the process; every file this process wrote is closed and synced.
        unsafe { libc::_exit(i32::from(code)) }
    }
    ExitCode::from(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_thread_count_fits_the_limit() {
        assert_eq!(threads_for(64, None), 64);
        assert_eq!(threads_for(64, Some(1 << 30)), 28);
        assert_eq!(threads_for(2, Some(1 << 30)), 2);
        assert_eq!(threads_for(8, Some(100 << 20)), 1, "at least one");
    }
}
