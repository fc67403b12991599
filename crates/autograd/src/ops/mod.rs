//! The built-in ops, one file each: forward, backward and the `Graph` method that records it.

mod matmul;

pub use matmul::MatMul;
