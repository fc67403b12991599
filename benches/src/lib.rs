//! Criterion benches of backprop's reference workloads live in `benches/benches/`; run them with
//! `cargo xtask bench`.
//!
//! This library also compiles the workspace README's code example as a doc test, so the example
//! users read first always works.

#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
