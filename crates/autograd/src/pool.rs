//! Recycled tensor buffers, so that a training loop's steady state allocates nothing.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use backprop_tensor::{Float, Tensor};

/// Buffers that outlived their step, by element count, waiting to be reused.
///
/// `Graph::clear` hands every value and gradient of the finished step here; ops of the next step
/// take buffers of the same sizes back. The pool holds at most [`BufferPool::MAX_PER_SIZE`]
/// buffers of one size, so it never grows past what one step used.
///
/// Buffers are kept as tensors: a step asks for the shapes the step before gave back, so a
/// buffer of the right shape is usually found and handed out as it is, without rebuilding the
/// tensor around its memory.
#[derive(Debug)]
pub(crate) struct BufferPool<F: Float> {
    free: HashMap<usize, Vec<Tensor<F>>, BuildHasherDefault<LenHasher>>,
}

/// Hashes an element count with one multiplication (the keys are few small integers chosen by
/// the program, not by an adversary, so SipHash's protection buys nothing here).
#[derive(Debug, Default)]
pub(crate) struct LenHasher(u64);

impl Hasher for LenHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_usize(&mut self, n: usize) {
        self.0 = (n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

impl<F: Float> Default for BufferPool<F> {
    fn default() -> Self {
        BufferPool { free: HashMap::default() }
    }
}

/// How many pooled buffers of the right size `take` looks through for one of the right shape.
const SHAPE_SEARCH: usize = 8;

impl<F: Float> BufferPool<F> {
    /// Most buffers of one element count that are kept.
    pub(crate) const MAX_PER_SIZE: usize = 256;

    /// A tensor of `shape` with unspecified contents.
    pub(crate) fn take(&mut self, shape: &[usize]) -> Tensor<F> {
        let len: usize = shape.iter().product();
        let Some(list) = self.free.get_mut(&len).filter(|l| !l.is_empty()) else {
            // On a cache line: split products write these side by side (`zeros_aligned`).
            return Tensor::zeros_aligned(shape);
        };
        // Compared element by element: shapes have a few axes, and a slice comparison would
        // call memcmp for every candidate.
        let same_shape = |t: &Tensor<F>| {
            let s = t.shape();
            s.len() == shape.len() && s.iter().zip(shape).all(|(a, b)| a == b)
        };
        let found = list.iter().rev().take(SHAPE_SEARCH).position(same_shape);
        match found {
            Some(from_end) => {
                let at = list.len() - 1 - from_end;
                list.swap_remove(at)
            }
            None => {
                let mut tensor = list.pop().expect("list checked to be non-empty");
                tensor.try_reshape_in_place(shape).expect("pooled buffer has the asked length");
                tensor
            }
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
            list.push(tensor);
        }
    }

    /// Drops every pooled buffer.
    pub(crate) fn clear(&mut self) {
        self.free.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_buffers_start_on_a_cache_line_and_keep_it_when_reshaped() {
        let mut pool = BufferPool::<f32>::default();
        let a = pool.take(&[128, 512]);
        assert_eq!(a.as_slice().as_ptr() as usize % 64, 0);
        let at = a.as_slice().as_ptr();
        pool.give(a);
        let b = pool.take(&[512, 128]);
        assert_eq!((b.as_slice().as_ptr(), b.shape()), (at, &[512, 128][..]), "the same memory, reshaped");
    }

    #[test]
    fn buffers_come_back_in_the_asked_shape_with_their_memory() {
        let mut pool = BufferPool::<f64>::default();
        let a = Tensor::from_vec(&[2, 3], vec![1.0; 6]);
        let ptr = a.as_slice().as_ptr();
        pool.give(a);
        pool.give(Tensor::zeros(&[6]));
        // The [2, 3] buffer is found under the [6] one and handed out as it is.
        let b = pool.take(&[2, 3]);
        assert_eq!(b.shape(), &[2, 3]);
        assert_eq!(b.as_slice().as_ptr(), ptr);
        // Same length, another shape: reshaped in place.
        let c = pool.take(&[3, 2]);
        assert_eq!(c.shape(), &[3, 2]);
        // Nothing left of that length: a fresh buffer.
        assert_eq!(pool.take(&[1, 6]).shape(), &[1, 6]);
        pool.give(Tensor::zeros(&[0]));
        assert!(!pool.free.contains_key(&0), "empty tensors are not kept");
    }
}
