//! Recycled tensor buffers, so that a training loop's steady state allocates nothing.

use std::collections::HashMap;

use backprop_tensor::{Float, Tensor};

/// Buffers that outlived their step, by element count, waiting to be reused.
///
/// `Graph::clear` hands every value and gradient of the finished step here; ops of the next step
/// take buffers of the same sizes back. The pool holds at most [`BufferPool::MAX_PER_SIZE`]
/// buffers of one size, so it never grows past what one step used.
#[derive(Debug)]
pub(crate) struct BufferPool<F: Float> {
    free: HashMap<usize, Vec<Vec<F>>>,
}

impl<F: Float> Default for BufferPool<F> {
    fn default() -> Self {
        BufferPool { free: HashMap::new() }
    }
}

impl<F: Float> BufferPool<F> {
    /// Most buffers of one element count that are kept.
    pub(crate) const MAX_PER_SIZE: usize = 256;

    /// A tensor of `shape` with unspecified contents.
    pub(crate) fn take(&mut self, shape: &[usize]) -> Tensor<F> {
        let len: usize = shape.iter().product();
        match self.free.get_mut(&len).and_then(Vec::pop) {
            Some(buffer) => Tensor::try_from_vec(shape, buffer).expect("pooled buffer has the asked length"),
            None => Tensor::zeros(shape),
        }
    }

    /// Returns a tensor's memory to the pool.
    pub(crate) fn give(&mut self, tensor: Tensor<F>) {
        let len = tensor.len();
        if len == 0 {
            return;
        }
        let list = self.free.entry(len).or_default();
        if list.len() < Self::MAX_PER_SIZE {
            let (buffer, offset) = tensor.into_array().into_raw_vec_and_offset();
            if offset.unwrap_or(0) == 0 && buffer.len() == len {
                list.push(buffer);
            }
        }
    }

    /// Drops every pooled buffer.
    pub(crate) fn clear(&mut self) {
        self.free.clear();
    }
}
