//! Shuffled mini-batch index iteration.

use backprop_tensor::TensorRng;

use crate::error::{DataError, Result};

/// Mini-batches of row indices, reshuffled every epoch.
///
/// It keeps one permutation of `0..len` and reorders it in place at the start of each epoch, so
/// an epoch costs one shuffle of `len` indices and never copies the data set; fetch each batch's
/// rows with [`crate::Dataset::batch_into`] into reusable buffers.
///
/// Epoch `e` (counting from 0) is shuffled by the [`TensorRng`] seeded with `seed` on stream
/// `e`, starting from the identity order: its batches depend only on `(seed, e)`, so training
/// resumed at epoch `e` ([`Batches::set_epoch`]) sees the same batches as an uninterrupted run.
///
/// ```
/// use backprop_data::Batches;
///
/// let mut batches = Batches::new(10, 4, 7).unwrap();
/// let sizes: Vec<usize> = batches.next_epoch().map(|rows| rows.len()).collect();
/// assert_eq!(sizes, vec![4, 4, 2]);
/// let mut seen: Vec<usize> = batches.next_epoch().flatten().copied().collect();
/// seen.sort();
/// assert_eq!(seen, (0..10).collect::<Vec<_>>());
/// ```
#[derive(Debug, Clone)]
pub struct Batches {
    order: Vec<usize>,
    batch_size: usize,
    seed: u64,
    epoch: u64,
    shuffle: bool,
    drop_last: bool,
}

impl Batches {
    /// Batches of `batch_size` rows out of `len`, shuffled with `seed`; the last batch of an
    /// epoch holds the remainder.
    ///
    /// # Errors
    /// When `batch_size` is 0.
    pub fn new(len: usize, batch_size: usize, seed: u64) -> Result<Self> {
        if batch_size == 0 {
            return Err(DataError::invalid("batches", "the batch size must be at least 1"));
        }
        Ok(Batches { order: (0..len).collect(), batch_size, seed, epoch: 0, shuffle: true, drop_last: false })
    }

    /// Whether to shuffle each epoch (default `true`); unshuffled batches are in row order.
    pub fn with_shuffle(mut self, shuffle: bool) -> Self {
        self.shuffle = shuffle;
        self
    }

    /// Whether to leave out a last batch smaller than the batch size (default `false`).
    pub fn with_drop_last(mut self, drop_last: bool) -> Self {
        self.drop_last = drop_last;
        self
    }

    /// The batch size.
    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    /// The number of rows batched.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Whether there are no rows (every epoch is empty).
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// The number of batches in an epoch.
    pub fn batches_per_epoch(&self) -> usize {
        if self.drop_last { self.len() / self.batch_size } else { self.len().div_ceil(self.batch_size) }
    }

    /// The epoch that [`Batches::next_epoch`] starts next (0 before the first).
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Makes the next [`Batches::next_epoch`] start epoch `epoch` (to resume training).
    pub fn set_epoch(&mut self, epoch: u64) {
        self.epoch = epoch;
    }

    /// Starts the next epoch: reshuffles and returns its batches of row indices.
    pub fn next_epoch(&mut self) -> std::slice::Chunks<'_, usize> {
        if self.shuffle {
            for (i, slot) in self.order.iter_mut().enumerate() {
                *slot = i;
            }
            let mut state = TensorRng::seed_from_u64(self.seed).state();
            state.stream = self.epoch;
            TensorRng::from_state(state).shuffle(&mut self.order);
        }
        self.epoch += 1;
        let used = if self.drop_last { self.len() - self.len() % self.batch_size } else { self.len() };
        self.order[..used].chunks(self.batch_size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn epoch(b: &mut Batches) -> Vec<Vec<usize>> {
        b.next_epoch().map(<[usize]>::to_vec).collect()
    }

    #[test]
    fn epochs_differ_and_resume_exactly() {
        let mut a = Batches::new(50, 8, 3).unwrap();
        let e0 = epoch(&mut a);
        let e1 = epoch(&mut a);
        assert_ne!(e0, e1);
        assert_ne!(e0.concat(), (0..50).collect::<Vec<_>>());
        let mut b = Batches::new(50, 8, 3).unwrap();
        b.set_epoch(1);
        assert_eq!(epoch(&mut b), e1);
        assert_eq!(b.epoch(), 2);
        let mut c = Batches::new(50, 8, 4).unwrap();
        assert_ne!(epoch(&mut c), e0);
    }

    #[test]
    fn options_and_errors() {
        let mut plain = Batches::new(5, 2, 0).unwrap().with_shuffle(false);
        assert_eq!(epoch(&mut plain), vec![vec![0, 1], vec![2, 3], vec![4]]);
        assert_eq!(plain.batches_per_epoch(), 3);
        let mut dropped = Batches::new(5, 2, 0).unwrap().with_shuffle(false).with_drop_last(true);
        assert_eq!(epoch(&mut dropped), vec![vec![0, 1], vec![2, 3]]);
        assert_eq!(dropped.batches_per_epoch(), 2);
        assert_eq!(
            Batches::new(5, 0, 0).unwrap_err().to_string(),
            "batches: the batch size must be at least 1"
        );
        let mut empty = Batches::new(0, 3, 0).unwrap();
        assert_eq!(empty.next_epoch().count(), 0);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        #[test]
        fn each_epoch_is_a_permutation(len in 0usize..200, size in 1usize..40, seed in any::<u64>(), drop in any::<bool>()) {
            let mut b = Batches::new(len, size, seed).unwrap().with_drop_last(drop);
            for _ in 0..2 {
                let batches = epoch(&mut b);
                prop_assert_eq!(batches.len(), b.batches_per_epoch());
                prop_assert!(batches.iter().all(|rows| rows.len() == size || (!drop && rows.len() < size)));
                let mut all = batches.concat();
                all.sort();
                all.dedup();
                let expected = if drop { len - len % size } else { len };
                prop_assert_eq!(all.len(), expected);
                prop_assert!(all.iter().all(|&r| r < len));
            }
        }
    }
}
