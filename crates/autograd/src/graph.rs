//! The computation graph: an arena of values recorded while ops run (define-by-run).

use std::cell::RefCell;
use std::sync::atomic::{AtomicU32, Ordering};

use backprop_tensor::{Float, Tensor};

use crate::error::{AutogradError, Result};
use crate::op::{ForwardCtx, GradSlot, Op};
use crate::op_arena::OpArena;
use crate::pool::BufferPool;
use crate::store::{Entry, Inputs};
pub use crate::var::Var;

static NEXT_GRAPH_ID: AtomicU32 = AtomicU32::new(1);

/// A define-by-run computation graph with its parameters.
///
/// Ops run as they are called and record a node that keeps the output value, the op and its
/// inputs. [`Graph::backward`] then visits the nodes once, in reverse order of recording (a
/// reverse topological order, since every node is recorded after its inputs), passing each op
/// `dL/d(output)` and adding what it returns to its inputs' gradients. The cost is linear in the
/// number of edges.
///
/// Parameters ([`Graph::param`]) live across steps. Everything else is cleared by
/// [`Graph::clear`] at the end of a step, and its memory is recycled for the next one;
/// [`Graph::step`] runs one step's recording and clears afterwards. A backward pass that starts a
/// new step on a tape still holding two earlier steps' nodes is an error
/// ([`AutogradError::TapeNotCleared`]) unless [`Graph::set_retain_tape`] allows it: a loop that
/// forgets to clear fails after its second step instead of slowing down step after step.
///
/// ```
/// use backprop_autograd::Graph;
/// use backprop_tensor::Tensor;
///
/// let mut g = Graph::<f64>::new();
/// let w = g.param("w", Tensor::from_vec(&[2, 1], vec![0.5, -1.0]));
/// let x = g.input(Tensor::from_rows(&[[1.0, 2.0], [3.0, 4.0]]));
/// let y = g.matmul(x, w).unwrap(); // [[-1.5], [-2.5]]
/// let loss = g.sum(y).unwrap();
/// g.backward(loss).unwrap();
/// // dL/dw = xᵀ·1 = column sums of x
/// assert_eq!(g.grad(w).unwrap().to_vec(), vec![4.0, 6.0]);
/// g.clear(); // ready for the next step; w and its gradient stay
/// ```
pub struct Graph<F: Float> {
    id: u32,
    pub(crate) generation: u32,
    grad_enabled: bool,
    pub(crate) params: Vec<Entry<F>>,
    pub(crate) nodes: Vec<Entry<F>>,
    pub(crate) pool: RefCell<BufferPool<F>>,
    /// Memory of the ops of finished steps, reused by the next step's ops.
    ops: OpArena,
    /// How many nodes the tape held at the last backward pass of this step (0: none yet).
    pub(crate) nodes_at_backward: usize,
    /// How many backward passes of this step started on nodes unrelated to the earlier ones.
    pub(crate) unrelated_passes: u32,
    /// Whether a backward pass may start from a value recorded after an earlier pass.
    pub(crate) retain_tape: bool,
    /// Per-input scratch lists of the backward pass, kept to reuse their memory.
    pub(crate) scratch_needs: Vec<bool>,
    pub(crate) scratch_slots: Vec<GradSlot<F>>,
    /// [`Graph::backward_with`]'s per-parameter scratch lists, kept to reuse their memory.
    pub(crate) scratch_first_use: Vec<u32>,
    pub(crate) scratch_ready_order: Vec<u32>,
}

impl<F: Float> Default for Graph<F> {
    fn default() -> Self {
        Self::new()
    }
}

impl<F: Float> std::fmt::Debug for Graph<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Graph")
            .field("id", &self.id)
            .field("generation", &self.generation)
            .field("params", &self.params.len())
            .field("nodes", &self.nodes.len())
            .field("grad_enabled", &self.grad_enabled)
            .finish()
    }
}

/// Clears the graph when dropped: [`Graph::step`] clears after its closure returns or unwinds.
struct ClearOnDrop<'a, F: Float>(&'a mut Graph<F>);

impl<F: Float> Drop for ClearOnDrop<'_, F> {
    fn drop(&mut self) {
        self.0.clear();
    }
}

impl<F: Float> Graph<F> {
    /// An empty graph with gradients enabled.
    pub fn new() -> Self {
        Graph {
            id: NEXT_GRAPH_ID.fetch_add(1, Ordering::Relaxed),
            generation: 0,
            grad_enabled: true,
            params: Vec::new(),
            nodes: Vec::new(),
            pool: RefCell::new(BufferPool::default()),
            ops: OpArena::new(),
            nodes_at_backward: 0,
            unrelated_passes: 0,
            retain_tape: false,
            scratch_needs: Vec::new(),
            scratch_slots: Vec::new(),
            scratch_first_use: Vec::new(),
            scratch_ready_order: Vec::new(),
        }
    }

    // ---------------------------------------------------------------- values in

    /// Adds a parameter: a value that requires a gradient and survives [`Graph::clear`]. A
    /// large one is moved to huge pages ([`Tensor::prefer_huge_pages`]): every step's products
    /// read it row by row.
    pub fn param(&mut self, name: impl Into<String>, value: Tensor<F>) -> Var {
        let index = self.params.len() as u32;
        value.prefer_huge_pages();
        self.params.push(Entry::leaf(value, true, Some(name.into())));
        Var { graph: self.id, generation: 0, index, param: true }
    }

    /// Records a constant input (no gradient), such as a batch of data.
    pub fn input(&mut self, value: Tensor<F>) -> Var {
        self.push_node(Entry::leaf(value, false, None))
    }

    /// Records a constant input by copying `value` into a recycled buffer: unlike
    /// [`Graph::input`], which takes ownership of a tensor the caller allocated, this allocates
    /// nothing in a training loop's steady state (a data batch copied in at every step).
    pub fn input_copy(&mut self, value: &Tensor<F>) -> Var {
        self.input_with(value.shape(), |dst| dst.copy_from_slice(value.as_slice()))
    }

    /// Records a constant input of `shape` whose elements `fill` writes into a recycled buffer
    /// (`fill` must write every element): data that is not a tensor yet, such as class indices
    /// turned into values, enters the graph without a temporary and, in a training loop's
    /// steady state, without an allocation.
    ///
    /// ```
    /// use backprop_autograd::Graph;
    ///
    /// let mut g = Graph::<f32>::new();
    /// let classes = [2usize, 0, 1];
    /// let v = g.input_with(&[3], |dst| {
    ///     for (d, &k) in dst.iter_mut().zip(&classes) {
    ///         *d = k as f32;
    ///     }
    /// });
    /// assert_eq!(g.value(v).unwrap().to_vec(), vec![2.0, 0.0, 1.0]);
    /// ```
    pub fn input_with(&mut self, shape: &[usize], fill: impl FnOnce(&mut [F])) -> Var {
        let mut value = self.pool.borrow_mut().take(shape);
        fill(value.as_mut_slice());
        self.input(value)
    }

    /// Records a leaf that requires a gradient but is cleared with the step (PyTorch's
    /// `tensor.requires_grad_()`), e.g. an input whose gradient you want.
    pub fn leaf(&mut self, value: Tensor<F>) -> Var {
        let requires = self.grad_enabled;
        self.push_node(Entry::leaf(value, requires, None))
    }

    fn push_node(&mut self, entry: Entry<F>) -> Var {
        let index = self.nodes.len() as u32;
        self.nodes.push(entry);
        Var { graph: self.id, generation: self.generation, index, param: false }
    }

    /// Runs `op` on `inputs` and records it; the heart of every built-in op.
    ///
    /// In no-grad mode, or when no input requires a gradient, only the output value is kept
    /// (the op is dropped at once).
    ///
    /// # Errors
    /// When an input is not a live value of this graph, or the op's forward fails.
    pub fn apply(&mut self, mut op: impl Op<F> + 'static, inputs: &[Var]) -> Result<Var> {
        for &v in inputs {
            self.check(op.name(), v)?;
        }
        let requires_grad = self.grad_enabled && inputs.iter().any(|&v| self.entry(v).requires_grad);
        let output = {
            // Up to three input references live on the stack: recording allocates nothing.
            let n = inputs.len();
            let value = |k: usize| &self.entry(inputs[k]).value;
            let mut ctx = ForwardCtx { pool: &self.pool };
            match n {
                0 => op.forward(&mut ctx, &[])?,
                1..=3 => {
                    let inline: [&Tensor<F>; 3] = std::array::from_fn(|k| value(k.min(n - 1)));
                    op.forward(&mut ctx, &inline[..n])?
                }
                _ => op.forward(&mut ctx, &(0..n).map(value).collect::<Vec<_>>())?,
            }
        };
        let mut entry = Entry::leaf(output, requires_grad, None);
        if requires_grad {
            entry.op = Some(self.ops.boxed(op));
            entry.inputs = Inputs::new(inputs);
        }
        Ok(self.push_node(entry))
    }

    // ---------------------------------------------------------------- checks

    /// Checks that `v` is a live value of this graph.
    ///
    /// # Errors
    /// [`AutogradError::ForeignVar`] or [`AutogradError::StaleVar`], naming `op`.
    pub fn check(&self, op: &str, v: Var) -> Result<()> {
        if v.graph != self.id {
            return Err(AutogradError::ForeignVar {
                op: op.to_string(),
                var: v.to_string(),
                var_graph: v.graph,
                graph: self.id,
            });
        }
        let in_range = v.index() < self.store(v.param).len();
        if !v.param && v.generation != self.generation || !in_range {
            return Err(AutogradError::StaleVar {
                op: op.to_string(),
                var: v.to_string(),
                var_step: v.generation,
                step: self.generation,
            });
        }
        Ok(())
    }

    /// The parameters or the nodes: the one place that tells them apart.
    fn store(&self, param: bool) -> &Vec<Entry<F>> {
        if param { &self.params } else { &self.nodes }
    }

    /// What the graph keeps of `v`, which must be live.
    pub(crate) fn entry(&self, v: Var) -> &Entry<F> {
        &self.store(v.param)[v.index()]
    }

    /// What the graph keeps of `v`, mutably; `v` must be live.
    pub(crate) fn entry_mut(&mut self, v: Var) -> &mut Entry<F> {
        let store = if v.param { &mut self.params } else { &mut self.nodes };
        &mut store[v.index()]
    }

    pub(crate) fn value_unchecked(&self, v: Var) -> &Tensor<F> {
        &self.entry(v).value
    }

    pub(crate) fn requires_grad_unchecked(&self, v: Var) -> bool {
        self.entry(v).requires_grad
    }

    /// The op that produced `v` and its inputs, if it was recorded with one (parameters, leaves,
    /// constants and values recorded in no-grad mode have none). `v` must be live.
    pub(crate) fn recorded_op(&self, v: Var) -> Option<(&dyn Op<F>, &Inputs)> {
        self.entry(v).recorded_op()
    }

    // ---------------------------------------------------------------- values out

    /// The value of `v`.
    ///
    /// # Errors
    /// When `v` is not a live value of this graph.
    pub fn value(&self, v: Var) -> Result<&Tensor<F>> {
        self.check("value", v)?;
        Ok(self.value_unchecked(v))
    }

    /// The shape of `v`'s value.
    ///
    /// # Errors
    /// When `v` is not a live value of this graph.
    pub fn shape(&self, v: Var) -> Result<&[usize]> {
        Ok(self.value(v)?.shape())
    }

    /// Whether gradients flow to `v` (a parameter, a leaf, or a result of one).
    ///
    /// # Errors
    /// When `v` is not a live value of this graph.
    pub fn requires_grad(&self, v: Var) -> Result<bool> {
        self.check("requires_grad", v)?;
        Ok(self.requires_grad_unchecked(v))
    }

    /// `dL/dv` from the last backward pass (for parameters and leaves: summed over the passes
    /// since [`Graph::zero_grad`]).
    ///
    /// # Errors
    /// [`AutogradError::NoGrad`] when no backward pass reached `v`: it needs no gradient, the
    /// output does not depend on it, or gradients were zeroed since.
    pub fn grad(&self, v: Var) -> Result<&Tensor<F>> {
        self.grad_opt(v)?.ok_or_else(|| AutogradError::NoGrad {
            var: self.describe(v),
            reason: if !self.requires_grad_unchecked(v) {
                "it does not require a gradient (an input or constant, or recorded in no-grad mode)"
            } else {
                "no backward pass reached it since it was created or its gradient was zeroed"
            },
        })
    }

    /// `dL/dv` if a backward pass computed one, `None` otherwise (the output does not depend on
    /// `v`, which means a gradient of zero).
    ///
    /// # Errors
    /// When `v` is not a live value of this graph.
    pub fn grad_opt(&self, v: Var) -> Result<Option<&Tensor<F>>> {
        self.check("grad", v)?;
        Ok(self.entry(v).grad.get())
    }

    /// A readable name of `v` for messages: the parameter name or label, else its handle.
    pub fn describe(&self, v: Var) -> String {
        let label = self.label(v);
        match label {
            Some(name) if v.param => format!("parameter '{name}'"),
            Some(label) => format!("'{label}' ({v})"),
            None => v.to_string(),
        }
    }

    /// Gives a node a label for error messages and graph pictures (renames a parameter).
    ///
    /// # Errors
    /// When `v` is not a live value of this graph.
    pub fn set_label(&mut self, v: Var, label: impl Into<String>) -> Result<()> {
        self.check("set_label", v)?;
        self.entry_mut(v).label = Some(label.into());
        Ok(())
    }

    /// The label of a node or the name of a parameter, if it has one.
    pub fn label(&self, v: Var) -> Option<&str> {
        self.check("label", v).ok()?;
        self.entry(v).label.as_deref()
    }

    // ---------------------------------------------------------------- parameters

    /// The parameters in the order they were added.
    pub fn params(&self) -> impl ExactSizeIterator<Item = Var> + '_ {
        (0..self.params.len()).map(move |index| self.param_var(index))
    }

    /// The handle of the parameter at `index` in [`Graph::params`]' order.
    pub(crate) fn param_var(&self, index: usize) -> Var {
        Var { graph: self.id, generation: 0, index: index as u32, param: true }
    }

    /// The name given to a parameter.
    ///
    /// # Errors
    /// When `v` is not a parameter of this graph.
    pub fn param_name(&self, v: Var) -> Result<&str> {
        Ok(self.param_entry("param_name", v)?.label.as_deref().unwrap_or_default())
    }

    /// The entry of parameter `v`, or an error naming `op` when `v` is not a parameter.
    fn param_entry(&self, op: &str, v: Var) -> Result<&Entry<F>> {
        self.check(op, v)?;
        if v.param {
            Ok(self.entry(v))
        } else {
            Err(AutogradError::invalid(op, format!("{v} is not a parameter")))
        }
    }

    /// As [`Graph::param_entry`], mutably.
    fn param_entry_mut(&mut self, op: &str, v: Var) -> Result<&mut Entry<F>> {
        self.param_entry(op, v)?;
        Ok(self.entry_mut(v))
    }

    /// Mutable access to a parameter's value (to load weights).
    ///
    /// # Errors
    /// When `v` is not a parameter of this graph.
    pub fn param_value_mut(&mut self, v: Var) -> Result<&mut Tensor<F>> {
        Ok(&mut self.param_entry_mut("param_value_mut", v)?.value)
    }

    /// A parameter's value, mutably, with its gradient (if any) alongside: what an optimizer
    /// step needs.
    ///
    /// # Errors
    /// When `v` is not a parameter of this graph.
    pub fn param_mut_with_grad(&mut self, v: Var) -> Result<(&mut Tensor<F>, Option<&Tensor<F>>)> {
        let entry = self.param_entry_mut("param_mut_with_grad", v)?;
        Ok((&mut entry.value, entry.grad.get()))
    }

    /// Mutable access to a parameter's gradient, if it has one (gradient clipping).
    ///
    /// # Errors
    /// When `v` is not a parameter of this graph.
    pub fn param_grad_mut(&mut self, v: Var) -> Result<Option<&mut Tensor<F>>> {
        let slot = &mut self.param_entry_mut("param_grad_mut", v)?.grad;
        Ok(if slot.live { slot.buffer.as_mut() } else { None })
    }

    /// Freezes or unfreezes a parameter (a frozen one gets no gradient).
    ///
    /// # Errors
    /// When `v` is not a parameter of this graph.
    pub fn set_requires_grad(&mut self, v: Var, requires_grad: bool) -> Result<()> {
        self.param_entry_mut("set_requires_grad", v)?.requires_grad = requires_grad;
        Ok(())
    }

    /// Forgets the gradients of all parameters (their buffers are kept for reuse).
    pub fn zero_grad(&mut self) {
        for param in &mut self.params {
            param.grad.live = false;
        }
    }

    // ---------------------------------------------------------------- modes and lifetime

    /// Turns gradient recording on or off and returns the previous setting. With it off, ops
    /// record only their output values (no op, no inputs): inference mode.
    pub fn set_grad_enabled(&mut self, enabled: bool) -> bool {
        std::mem::replace(&mut self.grad_enabled, enabled)
    }

    /// Whether ops record what backward needs.
    pub fn is_grad_enabled(&self) -> bool {
        self.grad_enabled
    }

    /// Runs `f` with gradient recording off (PyTorch's `torch.no_grad()`), restoring the
    /// previous mode afterwards.
    pub fn no_grad<R>(&mut self, f: impl FnOnce(&mut Self) -> R) -> R {
        let previous = self.set_grad_enabled(false);
        let result = f(self);
        self.set_grad_enabled(previous);
        result
    }

    /// Runs one training step's recording in `f` and clears the tape afterwards, also when `f`
    /// fails (or panics): the nodes `f` recorded are dropped and their memory recycled, the
    /// parameters and their gradients stay. Handles to nodes recorded inside `f` are invalid
    /// after it; return plain values (a loss as a number) instead.
    ///
    /// ```
    /// use backprop_autograd::{AutogradError, Graph};
    /// use backprop_tensor::Tensor;
    ///
    /// let mut g = Graph::<f64>::new();
    /// let w = g.param("w", Tensor::scalar(3.0));
    /// for _ in 0..3 {
    ///     let loss = g.step(|g| {
    ///         let loss = g.mul(w, w)?;
    ///         g.backward(loss)?;
    ///         Ok::<_, AutogradError>(g.value(loss)?.item())
    ///     })?;
    ///     assert_eq!(loss, 9.0);
    ///     assert!(g.is_empty());
    /// }
    /// assert_eq!(g.grad(w)?.item(), 18.0); // 3 × 6: parameters' gradients add up until zero_grad
    /// # Ok::<(), AutogradError>(())
    /// ```
    ///
    /// # Errors
    /// Whatever `f` returns.
    pub fn step<R, E>(
        &mut self,
        f: impl FnOnce(&mut Self) -> std::result::Result<R, E>,
    ) -> std::result::Result<R, E> {
        let guard = ClearOnDrop(self);
        f(&mut *guard.0)
    }

    /// Allows (`true`) or forbids (`false`, the default) backward passes that look like new
    /// steps on a tape that was not cleared, and returns the previous setting.
    ///
    /// A backward pass from a value recorded after the previous backward pass, when none of the
    /// nodes recorded since uses a node recorded before that pass (they build on parameters and
    /// new inputs only), looks like a new step. The first such pass on a tape is allowed (two
    /// separate losses of one step); the second is by default an
    /// [`AutogradError::TapeNotCleared`] error: it is what a training loop that forgets
    /// [`Graph::clear`] does at its third step, and its tape would keep every earlier step's
    /// nodes and make each step slower. A loss that builds on earlier nodes is always allowed.
    /// Allow the rest to keep unrelated nodes on purpose, e.g. to backpropagate the losses of
    /// several separate batches one after the other without clearing (the parameters'
    /// gradients add up either way).
    pub fn set_retain_tape(&mut self, retain: bool) -> bool {
        std::mem::replace(&mut self.retain_tape, retain)
    }

    /// A new constant node with `v`'s value: gradients do not flow through it.
    ///
    /// # Errors
    /// When `v` is not a live value of this graph.
    pub fn detach(&mut self, v: Var) -> Result<Var> {
        self.check("detach", v)?;
        let mut copy = self.pool.borrow_mut().take(self.value_unchecked(v).shape());
        copy.try_assign(self.value_unchecked(v))?;
        Ok(self.input(copy))
    }

    /// Number of nodes recorded since the last [`Graph::clear`] (parameters not counted).
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether no node was recorded since the last [`Graph::clear`].
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Number of parameters.
    pub fn num_params(&self) -> usize {
        self.params.len()
    }

    /// Drops every node of this step (values, ops, gradients) and keeps the parameters with
    /// their gradients. The memory is recycled for the next step's ops; handles to the dropped
    /// nodes become invalid (using one is an error).
    pub fn clear(&mut self) {
        let pool = self.pool.get_mut();
        for node in self.nodes.drain(..) {
            pool.give(node.value);
            if let Some(buffer) = node.grad.buffer {
                pool.give(buffer);
            }
            if let Some(op) = node.op {
                self.ops.recycle(op);
            }
        }
        self.nodes_at_backward = 0;
        self.unrelated_passes = 0;
        self.generation = self.generation.wrapping_add(1);
    }

    /// Drops the recycled buffers as well as the nodes (returns memory to the system).
    pub fn clear_and_release(&mut self) {
        self.clear();
        self.pool.get_mut().clear();
        self.ops.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::op::{BackwardCtx, GradSink};

    /// y = a·b elementwise, written as a user would write a custom op.
    struct Mul;

    impl Op<f64> for Mul {
        fn name(&self) -> &str {
            "test_mul"
        }

        fn forward(
            &mut self,
            _ctx: &mut ForwardCtx<'_, f64>,
            inputs: &[&Tensor<f64>],
        ) -> Result<Tensor<f64>> {
            Ok(inputs[0].try_mul(inputs[1])?)
        }

        fn backward_into(&self, ctx: &BackwardCtx<'_, f64>, grads: &mut [GradSink<'_, f64>]) -> Result<()> {
            let g = ctx.grad_output;
            grads[0].accumulate("test_mul", g.mul(ctx.inputs[1]))?;
            grads[1].accumulate("test_mul", g.mul(ctx.inputs[0]))
        }
    }

    #[test]
    fn a_value_used_twice_gets_the_sum_of_both_paths() {
        let mut g = Graph::<f64>::new();
        let x = g.leaf(Tensor::scalar(3.0));
        let y = g.apply(Mul, &[x, x]).unwrap(); // x²
        let z = g.apply(Mul, &[y, x]).unwrap(); // x³
        g.backward(z).unwrap();
        assert_eq!(g.grad(x).unwrap().item(), 27.0); // 3x²
        assert_eq!(g.grad(y).unwrap().item(), 3.0);
    }

    #[test]
    fn leaves_and_params_accumulate_interior_nodes_do_not() {
        let mut g = Graph::<f64>::new();
        let w = g.param("w", Tensor::scalar(2.0));
        let x = g.input(Tensor::scalar(5.0));
        let y = g.apply(Mul, &[w, x]).unwrap();
        g.backward(y).unwrap();
        g.backward(y).unwrap();
        assert_eq!(g.grad(w).unwrap().item(), 10.0);
        assert!(g.grad(x).is_err(), "inputs need no gradient");
        g.zero_grad();
        let err = g.grad(w).unwrap_err();
        assert!(err.to_string().contains("parameter 'w'"), "{err}");
        g.backward(y).unwrap();
        assert_eq!(g.grad(w).unwrap().item(), 5.0);
    }

    #[test]
    fn misuse_gives_clear_errors() {
        let mut g = Graph::<f64>::new();
        let mut other = Graph::<f64>::new();
        let a = g.leaf(Tensor::zeros(&[2]));
        let b = other.leaf(Tensor::zeros(&[2]));
        let err = g.apply(Mul, &[a, b]).unwrap_err();
        assert!(matches!(err, AutogradError::ForeignVar { .. }), "{err}");
        assert!(err.to_string().starts_with("test_mul: value %0 belongs to graph"), "{err}");
        let y = g.apply(Mul, &[a, a]).unwrap();
        let err = g.backward(y).unwrap_err();
        assert_eq!(
            err.to_string(),
            "backward: the output has shape [2]; backward() needs a single-element output, or use backward_with_seed() with a gradient of that shape"
        );
        g.backward_with_seed(y, Tensor::ones(&[2])).unwrap();
        g.clear();
        let err = g.backward(y).unwrap_err();
        assert!(matches!(err, AutogradError::StaleVar { .. }), "{err}");
        let c = g.input(Tensor::scalar(1.0));
        let err = g.grad(c).unwrap_err();
        assert!(err.to_string().contains("does not require a gradient"), "{err}");
    }

    #[test]
    fn no_grad_records_no_ops() {
        let mut g = Graph::<f64>::new();
        let w = g.param("w", Tensor::scalar(2.0));
        let y = g.no_grad(|g| g.apply(Mul, &[w, w]).unwrap());
        assert_eq!(g.value(y).unwrap().item(), 4.0);
        assert!(!g.requires_grad(y).unwrap());
        assert!(g.nodes[y.index()].op.is_none());
        assert!(g.backward(y).is_err());
        let z = g.apply(Mul, &[w, w]).unwrap();
        let d = g.detach(z).unwrap();
        assert!(!g.requires_grad(d).unwrap());
    }

    #[test]
    fn clear_recycles_memory_and_keeps_params() {
        let mut g = Graph::<f64>::new();
        let w = g.param("w", Tensor::from_vec(&[3], vec![1.0, 2.0, 3.0]));
        for _ in 0..3 {
            let y = g.apply(Mul, &[w, w]).unwrap();
            g.backward_with_seed(y, Tensor::ones(&[3])).unwrap();
            g.clear();
        }
        assert_eq!(g.len(), 0);
        assert_eq!(g.grad(w).unwrap().to_vec(), vec![6.0, 12.0, 18.0]);
    }
}
