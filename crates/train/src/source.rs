//! Where a [`crate::Trainer`]'s mini-batches come from: a data set (shuffled by the trainer)
//! or any iterator of batches.

use std::ops::Range;

use backprop_data::{Batch, Batches, Dataset};
use backprop_tensor::Float;

use crate::error::{Result, TrainError};

/// What [`BatchSource::for_each_batch_rows`] calls with each mini-batch: its length, the
/// place of the first selected row in it, and the selected rows; `Ok(false)` ends the epoch.
pub type SelectedRows<'a, F> = dyn FnMut(usize, usize, &Batch<F>) -> Result<bool> + 'a;

/// A source of mini-batches, one pass per epoch.
pub trait BatchSource<F: Float> {
    /// Calls `f` with each mini-batch of epoch `epoch` (0 for the first), in order, until the
    /// epoch ends or `f` returns `Ok(false)`.
    ///
    /// # Errors
    /// A batch that cannot be formed, or the first error of `f`.
    fn for_each_batch(&mut self, epoch: u64, f: &mut dyn FnMut(&Batch<F>) -> Result<bool>) -> Result<()>;

    /// As [`BatchSource::for_each_batch`], for a caller that needs only the consecutive rows
    /// `select(len)` of each mini-batch of `len` rows (a replica's slice of the global batch in
    /// data-parallel training): `f` gets `len`, the first selected row's place in the batch, and
    /// those rows. The default forms each whole
    /// batch and copies the rows out of it; a source that can form just the rows (a data set:
    /// [`DatasetBatches`]) does so instead.
    ///
    /// # Errors
    /// As [`BatchSource::for_each_batch`], and the first error of `select`.
    fn for_each_batch_rows(
        &mut self,
        epoch: u64,
        select: &dyn Fn(usize) -> Result<Range<usize>>,
        f: &mut SelectedRows<'_, F>,
    ) -> Result<()> {
        let mut part = Batch::new();
        self.for_each_batch(epoch, &mut |batch| {
            let rows = select(batch.len())?;
            if rows == (0..batch.len()) {
                return f(batch.len(), 0, batch);
            }
            let first = rows.start;
            batch.rows_into(rows, &mut part)?;
            f(batch.len(), first, &part)
        })
    }
}

/// The mini-batches of a data set: `batch_size` rows each (the last one smaller), in a new
/// order every epoch drawn from the seed and the epoch, so that epoch `e` has the same batches
/// whether the run started at 0 or resumed at `e`. The batch buffers are reused: after the
/// first epoch nothing is allocated.
#[derive(Debug)]
pub struct DatasetBatches<'a, F: Float> {
    data: &'a Dataset<F>,
    batches: Batches,
    buffer: Batch<F>,
}

impl<'a, F: Float> DatasetBatches<'a, F> {
    /// The shuffle stream is another than the weights' initialisation from the same seed.
    const SHUFFLE_STREAM: u64 = 0x5eed_ba7c_4e5f_0001;

    /// Batches of `data`, shuffled from `seed` when `shuffle`.
    ///
    /// # Errors
    /// When `batch_size` is 0.
    pub fn new(data: &'a Dataset<F>, batch_size: usize, shuffle: bool, seed: u64) -> Result<Self> {
        let batches =
            Batches::new(data.len(), batch_size, seed ^ Self::SHUFFLE_STREAM)?.with_shuffle(shuffle);
        Ok(DatasetBatches { data, batches, buffer: Batch::new() })
    }
}

impl<F: Float> BatchSource<F> for DatasetBatches<'_, F> {
    fn for_each_batch(&mut self, epoch: u64, f: &mut dyn FnMut(&Batch<F>) -> Result<bool>) -> Result<()> {
        self.for_each_batch_rows(epoch, &|len| Ok(0..len), &mut |_, _, batch| f(batch))
    }

    fn for_each_batch_rows(
        &mut self,
        epoch: u64,
        select: &dyn Fn(usize) -> Result<Range<usize>>,
        f: &mut SelectedRows<'_, F>,
    ) -> Result<()> {
        self.batches.set_epoch(epoch);
        for rows in self.batches.next_epoch() {
            // Only the selected rows are gathered from the data set.
            let selected = select(rows.len())?;
            let Some(mine) = rows.get(selected.clone()) else {
                return Err(TrainError::invalid(
                    "for_each_batch_rows",
                    format!("rows {}..{} of a batch of {} rows", selected.start, selected.end, rows.len()),
                ));
            };
            self.data.batch_into(mine, &mut self.buffer)?;
            if !f(rows.len(), selected.start, &self.buffer)? {
                break;
            }
        }
        Ok(())
    }
}

/// Batches from a function that makes each epoch's iterator: any data pipeline (files
/// streamed from disk, augmentation, a sampler of one's own).
pub struct FromFn<G>(pub G);

impl<F, G, I> BatchSource<F> for FromFn<G>
where
    F: Float,
    G: FnMut(u64) -> I,
    I: IntoIterator<Item = Result<Batch<F>>>,
{
    fn for_each_batch(&mut self, epoch: u64, f: &mut dyn FnMut(&Batch<F>) -> Result<bool>) -> Result<()> {
        for batch in (self.0)(epoch) {
            if !f(&batch?)? {
                break;
            }
        }
        Ok(())
    }
}
