//! `cargo xtask bench`: the criterion benches and the PyTorch comparison.

pub(crate) fn run(_args: &[String]) -> Result<(), String> {
    crate::run(&crate::cargo_path(), &["bench", "--package", "backprop-benches"])
}
