//! The hook between backward and the optimizer step, where data-parallel training sums the
//! gradients of its replicas.

use std::ops::Range;

use backprop_autograd::{Graph, Var};
use backprop_optim::Optimizer;
use backprop_tensor::Float;

use crate::error::Result;

/// Combines the parameters' gradients after `backward` and before clipping and the optimizer
/// step, as PyTorch's DistributedDataParallel all-reduces them. A single process needs nothing:
/// [`LocalGradients`], the default, leaves them as they are.
///
/// Besides [`GradientReduction::reduce`], a reduction says which rows of each mini-batch this
/// process computes and in how many backward passes ([`GradientReduction::part`]: a replica's
/// slice of the global batch, or micro-batches whose gradients are kept apart), which rows of an
/// evaluation data set it evaluates, and how evaluation totals are summed over the processes.
/// The defaults are those of a single process, so only `reduce` must be written.
pub trait GradientReduction<F: Float> {
    /// Reduces the gradients of `params` in `g` in place (a parameter without a gradient has
    /// none to reduce). `rows` is the number of rows of the whole (global) mini-batch, of which
    /// this process computed the parts [`GradientReduction::part`] gave it.
    ///
    /// # Errors
    /// When the reduction fails (a lost peer, say); training stops with the error.
    fn reduce(&mut self, g: &mut Graph<F>, params: &[(String, Var)], rows: usize) -> Result<()>;

    /// The rows (of a mini-batch of `rows` rows) of this process's backward pass number `index`
    /// (0, 1, ...), `None` after its last. Each part's loss is the mean over its rows, and the
    /// parts' gradients accumulate unless [`GradientReduction::part_done`] takes them away.
    /// The default is the whole batch in one pass.
    ///
    /// # Errors
    /// When the batch cannot be divided as the reduction needs (too few rows for the processes).
    fn part(&self, rows: usize, index: usize) -> Result<Option<Range<usize>>> {
        Ok((index == 0).then_some(0..rows))
    }

    /// Called after the backward pass of part `index` (rows `rows` of the batch; `last` when no
    /// part follows on this process). A reduction that keeps the parts' gradients apart copies
    /// them out here (and zeroes them before the next part); the default leaves them to
    /// accumulate.
    ///
    /// # Errors
    /// When the gradients cannot be taken.
    fn part_done(
        &mut self,
        _g: &mut Graph<F>,
        _params: &[(String, Var)],
        _index: usize,
        _rows: Range<usize>,
        _last: bool,
    ) -> Result<()> {
        Ok(())
    }

    /// Whether the reduction wants every parameter's gradient during the backward pass, as soon
    /// as it is final ([`GradientReduction::gradient_ready`]), to start summing it while the
    /// rest of backward runs. The default, `false`, keeps the plain backward pass.
    fn overlaps_backward(&self) -> bool {
        false
    }

    /// When [`GradientReduction::overlaps_backward`]: called during each part's backward pass
    /// for every parameter of `g`, as soon as the pass has finished its gradient (in the order
    /// of [`Graph::backward_with`]: the last layer's first). `rows` are the rows of the batch
    /// that the pass computes.
    ///
    /// # Errors
    /// When the gradient cannot be taken; training stops with the error.
    fn gradient_ready(&mut self, g: &Graph<F>, param: Var, rows: &Range<usize>) -> Result<()> {
        let _ = (g, param, rows);
        Ok(())
    }

    /// Whether the last [`GradientReduction::reduce`] found every reduced gradient value
    /// finite on every process, so that the caller's own check (which names the first
    /// gradient that is not) would find nothing: a sharded reduction checks its shard while
    /// writing it, and only it holds the sums of its shard. The default, `false`, leaves the
    /// check to the caller.
    fn gradients_checked(&self) -> bool {
        false
    }

    /// Called once at the start of training with the parameters, the optimizer and whether
    /// the optimizer step needs the whole reduced gradient on every process (clipping by the
    /// global norm does). A reduction that shards the optimizer step decides here whether it
    /// can. The default does nothing.
    ///
    /// # Errors
    /// When the processes cannot agree.
    fn prepare(
        &mut self,
        params: &[(String, Var)],
        optimizer: &dyn Optimizer<F>,
        whole_gradients: bool,
    ) -> Result<()> {
        let _ = (params, optimizer, whole_gradients);
        Ok(())
    }

    /// Takes the optimizer step itself, after [`GradientReduction::reduce`], the divergence
    /// checks and clipping: a reduction that left each process only its shard of the reduced
    /// gradient (ZeRO stage 1) updates that shard and gathers the updated parameters from the
    /// others. `Ok(false)`, the default, leaves the step to the caller (`optimizer.step`).
    ///
    /// # Errors
    /// When the optimizer fails or the processes cannot be reached.
    fn step(
        &mut self,
        g: &mut Graph<F>,
        params: &[(String, Var)],
        optimizer: &mut dyn Optimizer<F>,
    ) -> Result<bool> {
        let _ = (g, params, optimizer);
        Ok(false)
    }

    /// Makes the optimizer's state whole on every process before it is read (epoch ends,
    /// checkpoints, the end of training): after sharded steps each process holds the current
    /// state of its shard only. The default has nothing to do.
    ///
    /// # Errors
    /// When the processes cannot be reached.
    fn sync_optimizer(&mut self, optimizer: &mut dyn Optimizer<F>) -> Result<()> {
        let _ = optimizer;
        Ok(())
    }

    /// The rows of an evaluation data set of `rows` rows that this process evaluates; their
    /// totals are then added up by [`GradientReduction::sum`]. The default is all of them.
    fn eval_rows(&self, rows: usize) -> Range<usize> {
        0..rows
    }

    /// Adds up `values` element by element over the processes, in place (every process gets
    /// the totals). The default, one process, leaves them as they are.
    ///
    /// # Errors
    /// When the processes cannot be reached.
    fn sum(&mut self, _values: &mut [f64]) -> Result<()> {
        Ok(())
    }
}

/// The identity reduction of a single process.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LocalGradients;

impl<F: Float> GradientReduction<F> for LocalGradients {
    fn reduce(&mut self, _g: &mut Graph<F>, _params: &[(String, Var)], _rows: usize) -> Result<()> {
        Ok(())
    }
}
