//! The `Op` trait: one differentiable operation, as PyTorch's `autograd.Function`.

use backprop_tensor::{Float, Tensor, Transpose};

use std::cell::RefCell;

use crate::error::Result;
use crate::pool::BufferPool;

/// One differentiable operation: a forward pass and its vector-Jacobian product.
///
/// This is the lecture's interface `forward_pass(inputs)` / `backward_pass(inputs, grad_output)`
/// and PyTorch's `torch.autograd.Function`:
///
/// - [`Op::forward`] computes the output from the input values. Anything backward needs
///   beyond the inputs and the output (a mask, an index, a normaliser) it keeps in `self`, which
///   is PyTorch's `ctx.save_for_backward`. The graph keeps the inputs and the output alive until it
///   is cleared, so they need not be copied.
/// - [`Op::backward_into`] receives `dL/d(output)` and adds `dL/d(input)` for each input into
///   that input's [`GradSink`]: the vector-Jacobian product, never the Jacobian itself. It may
///   skip an input whose sink is not [needed](GradSink::is_needed) (and should, to save the work).
///
/// `backward_into` is the one backward method an op implements; [`Op::backward`], which returns
/// the gradients as new tensors, is derived from it.
///
/// Record an op with `Graph::apply`. A custom op is checked with `gradcheck`; see the crate
/// documentation for a complete example.
pub trait Op<F: Float>: Send {
    /// Short name for error messages and graph pictures, e.g. `"matmul"`.
    fn name(&self) -> &str;

    /// Computes the output from the inputs.
    ///
    /// # Errors
    /// When the inputs do not fit the op (their shapes, their number).
    fn forward(&mut self, ctx: &mut ForwardCtx<'_, F>, inputs: &[&Tensor<F>]) -> Result<Tensor<F>>;

    /// Adds `dL/d(input_i)` (of input `i`'s shape) into `grads[i]`, given `dL/d(output)`.
    ///
    /// A simple op forms each gradient as a tensor and hands it to [`GradSink::accumulate`]; ops
    /// on the hot path write straight into the buffers ([`GradSink::add_matmul`],
    /// [`GradSink::with_buffer`]) so that no temporary gradient is allocated.
    ///
    /// # Errors
    /// When the gradient cannot be formed (this should not happen for shapes forward accepted).
    fn backward_into(&self, ctx: &BackwardCtx<'_, F>, grads: &mut [GradSink<'_, F>]) -> Result<()>;

    /// Returns `dL/d(input_i)` for each input `i` as a new tensor (`None` where no gradient is
    /// needed or none was written), by running [`Op::backward_into`] on empty sinks.
    ///
    /// # Errors
    /// As [`Op::backward_into`].
    fn backward(&self, ctx: &BackwardCtx<'_, F>) -> Result<Vec<Option<Tensor<F>>>> {
        let pool = RefCell::new(BufferPool::default());
        let mut slots: Vec<GradSlot<F>> = ctx.inputs.iter().map(|_| GradSlot::default()).collect();
        let mut sinks: Vec<GradSink<'_, F>> = slots
            .iter_mut()
            .zip(ctx.needs_input_grad)
            .zip(ctx.inputs)
            .map(|((slot, &need), input)| GradSink {
                slot: need.then_some(slot),
                shape: input.shape(),
                pool: &pool,
            })
            .collect();
        self.backward_into(ctx, &mut sinks)?;
        drop(sinks);
        Ok(slots.into_iter().map(|slot| if slot.live { slot.buffer } else { None }).collect())
    }
}

/// What [`Op::forward`] may use besides its inputs: buffers recycled from earlier steps.
pub struct ForwardCtx<'a, F: Float> {
    pub(crate) pool: &'a RefCell<BufferPool<F>>,
}

impl<F: Float> ForwardCtx<'_, F> {
    /// A tensor of `shape` whose contents are unspecified (a recycled buffer): the op must write
    /// every element. Avoids an allocation in the steady state of a training loop.
    pub fn uninit(&mut self, shape: &[usize]) -> Tensor<F> {
        self.pool.borrow_mut().take(shape)
    }

    /// A tensor of zeros of `shape`, recycled when possible.
    pub fn zeros(&mut self, shape: &[usize]) -> Tensor<F> {
        let mut t = self.pool.borrow_mut().take(shape);
        t.fill(F::zero());
        t
    }
}

/// What [`Op::backward`] receives: the input values, the output value, `dL/d(output)`, and which
/// inputs need a gradient (PyTorch's `ctx.needs_input_grad`).
pub struct BackwardCtx<'a, F: Float> {
    /// The input values, as forward received them.
    pub inputs: &'a [&'a Tensor<F>],
    /// The output value forward returned.
    pub output: &'a Tensor<F>,
    /// `dL/d(output)`, of the output's shape.
    pub grad_output: &'a Tensor<F>,
    /// For each input, whether its gradient is needed.
    pub needs_input_grad: &'a [bool],
}

/// Where one input's gradient goes during [`Op::backward_into`]: adds to what other paths
/// contributed (the chain rule's sum over paths).
pub struct GradSink<'a, F: Float> {
    pub(crate) slot: Option<&'a mut GradSlot<F>>,
    pub(crate) shape: &'a [usize],
    pub(crate) pool: &'a RefCell<BufferPool<F>>,
}

/// A gradient buffer that survives `zero_grad` (which only marks it empty), so the next step
/// reuses its memory.
#[derive(Debug, Clone, Default)]
pub(crate) struct GradSlot<F: Float> {
    pub(crate) buffer: Option<Tensor<F>>,
    /// Whether `buffer` holds a gradient of the current pass; if not, its contents are stale.
    pub(crate) live: bool,
}

impl<F: Float> GradSlot<F> {
    pub(crate) fn get(&self) -> Option<&Tensor<F>> {
        if self.live { self.buffer.as_ref() } else { None }
    }
}

impl<F: Float> GradSink<'_, F> {
    /// Whether this input needs a gradient at all.
    pub fn is_needed(&self) -> bool {
        self.slot.is_some()
    }

    /// The shape the gradient must have (the input's shape).
    pub fn shape(&self) -> &[usize] {
        self.shape
    }

    /// Adds `gradient` to this input's gradient (moving it in if it is the first contribution).
    ///
    /// # Errors
    /// When `gradient` does not have the input's shape; `op` names the culprit.
    pub fn accumulate(&mut self, op: &str, gradient: Tensor<F>) -> Result<()> {
        let Some(slot) = self.slot.as_deref_mut() else { return Ok(()) };
        if gradient.shape() != self.shape {
            return Err(crate::error::AutogradError::BadGradient {
                op: op.to_string(),
                reason: format!(
                    "a gradient of shape {:?} for an input of shape {:?}",
                    gradient.shape(),
                    self.shape
                ),
            });
        }
        match (&mut slot.buffer, slot.live) {
            (Some(buffer), true) => {
                buffer.try_axpy(F::one(), &gradient)?;
                self.pool.borrow_mut().give(gradient);
            }
            (buffer, _) => {
                if let Some(old) = buffer.replace(gradient) {
                    self.pool.borrow_mut().give(old);
                }
                slot.live = true;
            }
        }
        Ok(())
    }

    /// Adds `alpha · op(a) · op(b)` to this gradient with a single gemm: `β = 0` into the buffer
    /// when this is the first contribution, `β = 1` after that. No temporary is allocated.
    ///
    /// # Errors
    /// When the product does not have the input's shape.
    pub fn add_matmul(
        &mut self,
        alpha: F,
        a: &Tensor<F>,
        ta: Transpose,
        b: &Tensor<F>,
        tb: Transpose,
    ) -> Result<()> {
        let Some(slot) = self.slot_with_buffer() else { return Ok(()) };
        let beta = if slot.live { F::one() } else { F::zero() };
        let buffer = slot.buffer.as_mut().expect("slot_with_buffer sets it");
        buffer.try_gemm_into(alpha, a, ta, b, tb, beta)?;
        slot.live = true;
        Ok(())
    }

    /// A scratch tensor of `shape` with unspecified contents, from the graph's recycled
    /// buffers: room for an intermediate result of a backward pass (a fused op's gradient
    /// before its own activation). Hand it back with [`GradSink::recycle`] so that the next
    /// step reuses it instead of allocating.
    pub fn scratch(&self, shape: &[usize]) -> Tensor<F> {
        self.pool.borrow_mut().take(shape)
    }

    /// Returns a tensor (a [`GradSink::scratch`] one) to the graph's recycled buffers.
    pub fn recycle(&self, tensor: Tensor<F>) {
        self.pool.borrow_mut().give(tensor);
    }

    /// Runs `f` on this input's gradient buffer. `f` receives the buffer and whether it already
    /// holds a gradient (`true`: add to it) or only stale memory (`false`: overwrite every element).
    ///
    /// # Errors
    /// Whatever `f` returns.
    pub fn with_buffer(&mut self, f: impl FnOnce(&mut Tensor<F>, bool) -> Result<()>) -> Result<()> {
        let Some(slot) = self.slot_with_buffer() else { return Ok(()) };
        let live = slot.live;
        f(slot.buffer.as_mut().expect("slot_with_buffer sets it"), live)?;
        slot.live = true;
        Ok(())
    }

    /// This input's gradient slot, holding a buffer of the input's shape (a recycled one, marked
    /// empty, when it had none of that shape); `None` when no gradient is needed.
    fn slot_with_buffer(&mut self) -> Option<&mut GradSlot<F>> {
        let slot = self.slot.as_deref_mut()?;
        let reusable = matches!(&slot.buffer, Some(buffer) if buffer.shape() == self.shape);
        if !reusable {
            let fresh = self.pool.borrow_mut().take(self.shape);
            if let Some(old) = slot.buffer.replace(fresh) {
                self.pool.borrow_mut().give(old);
            }
            slot.live = false;
        }
        Some(slot)
    }
}
