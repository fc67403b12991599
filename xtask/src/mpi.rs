//! MPI for the data-parallel tests (`crates/cli/tests/distributed.rs`): Debian's Open MPI and
//! libclang (rsmpi's bindgen reads `mpi.h` through it).
//!
//! - `cargo xtask deps --mpi`: install them with apt-get when missing (as `deps` does OpenBLAS).
//! - `cargo xtask test`: with `CI` set (or `BACKPROP_MPI=1`) first that, then, when MPI is
//!   there, the whole suite is built and run with the cli's `mpi` feature ([`prepare_tests`]
//!   says why in one build), so the distributed tests start 2 and 4 ranks with
//!   `mpirun --oversubscribe`; without MPI they are skipped, said so.

use std::env;
use std::path::Path;

use crate::{apt_install, is_debian_like, is_root, succeeds};

/// What the feature needs from apt.
const PACKAGES: [&str; 3] = ["libopenmpi-dev", "openmpi-bin", "libclang-dev"];
/// Set to 1 to get the distributed tests in `cargo xtask test` outside CI.
const ASK_VAR: &str = "BACKPROP_MPI";

/// Whether `mpirun`, the MPI headers (through `mpicc`) and libclang are there.
fn have_mpi() -> bool {
    succeeds("mpirun", &["--version"]) && succeeds("mpicc", &["--showme:compile"]) && have_libclang()
}

/// Debian's libclang-dev puts `libclang.so` under `/usr/lib/llvm-*/lib`.
fn have_libclang() -> bool {
    let Ok(dirs) = std::fs::read_dir("/usr/lib") else { return false };
    dirs.flatten().any(|d| {
        d.file_name().to_string_lossy().starts_with("llvm-")
            && d.path().join("lib").join("libclang.so").exists()
    }) || Path::new("/usr/lib/x86_64-linux-gnu/libclang.so").exists()
}

/// Checks for Open MPI and libclang and installs them when root on Debian or Ubuntu.
///
/// # Errors
/// When they are missing and cannot be installed (the message says how to).
pub(crate) fn deps() -> Result<(), String> {
    if have_mpi() {
        return Ok(());
    }
    if !(is_root() && is_debian_like()) {
        return Err(format!(
            "MPI or libclang is missing (mpirun, mpicc, libclang.so). On Debian or Ubuntu:\n    \
             sudo sh -c 'apt-get update && apt-get install -y {}'",
            PACKAGES.join(" ")
        ));
    }
    eprintln!("xtask: MPI or libclang missing; installing {}", PACKAGES.join(", "));
    apt_install(&PACKAGES)?;
    if have_mpi() {
        Ok(())
    } else {
        Err(format!("installed {}, but mpirun, mpicc or libclang.so is still missing", PACKAGES.join(", ")))
    }
}

/// The cargo flags that turn the feature on: `cargo xtask test` adds them to its `clippy` and
/// `test` commands when MPI is there.
const FEATURE_ARGS: [&str; 2] = ["--features", "backprop-cli/mpi"];

/// The feature arguments the workspace is built with here: the cli's `mpi` feature when MPI is
/// installed (as [`prepare_tests`] decides), none otherwise; nothing is installed.
pub(crate) fn feature_args() -> &'static [&'static str] {
    if have_mpi() { &FEATURE_ARGS } else { &[] }
}

/// For `cargo xtask test`: with `CI` or [`ASK_VAR`] set, installs MPI if needed; then the
/// flags that build the workspace with the cli's `mpi` feature when MPI is there (so that
/// `crates/cli/tests/distributed.rs` runs its `mpirun` tests), none when not (said so).
///
/// The feature goes into the one workspace build rather than into a second `cargo test -p
/// backprop-cli --features mpi`: rsmpi's bindgen turns on a feature of `syn` (`visit-mut`),
/// which would rebuild every proc-macro (serde's, clap's, thiserror's, prost's) and with them
/// every crate of the workspace a second time. Built once, the feature costs only rsmpi,
/// bindgen and clang-sys.
pub(crate) fn prepare_tests(ci: bool) -> &'static [&'static str] {
    if (ci || env::var_os(ASK_VAR).is_some())
        && let Err(message) = deps()
    {
        eprintln!("xtask: {message}; the distributed (MPI) tests will be skipped");
    }
    if have_mpi() {
        if !have_torch() {
            eprintln!(
                "xtask: the comparison of 2 ranks with PyTorch DDP over gloo will be skipped: no Python \
                 with torch (set {TORCH_VAR} to one; CI has none)"
            );
        }
        &FEATURE_ARGS
    } else {
        eprintln!(
            "xtask: the distributed (MPI) tests will be skipped: no Open MPI or libclang (cargo xtask deps --mpi installs them)"
        );
        &[]
    }
}

/// The Python the distributed tests compare with PyTorch DDP through, when not `python3`.
const TORCH_VAR: &str = "BACKPROP_TORCH_PYTHON";

/// Whether the distributed tests find a Python with torch (as they look for it: [`TORCH_VAR`],
/// else `python3`).
fn have_torch() -> bool {
    let asked = env::var(TORCH_VAR).ok();
    asked
        .into_iter()
        .chain(["python3".to_string()])
        .any(|python| succeeds(&python, &["-c", "import torch.distributed"]))
}
