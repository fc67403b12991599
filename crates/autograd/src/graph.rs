//! The computation graph: an arena of values recorded while ops run (define-by-run).

use std::cell::RefCell;
use std::sync::atomic::{AtomicU32, Ordering};

use backprop_tensor::{Float, Tensor};

use crate::error::{AutogradError, Result};
use crate::op::{BackwardCtx, ForwardCtx, GradSink, GradSlot, Op};
use crate::op_arena::OpArena;
use crate::pool::BufferPool;

static NEXT_GRAPH_ID: AtomicU32 = AtomicU32::new(1);

/// A handle to a value in a [`Graph`]: two integers, cheap to copy.
///
/// A `Var` is either a *parameter* (kept by the graph across steps) or a *node* recorded in the
/// current step. Node handles expire when the graph is [cleared](Graph::clear); using one after
/// that, or using a handle with another graph, is an error, never a wrong answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Var {
    graph: u32,
    generation: u32,
    index: u32,
    param: bool,
}

impl std::fmt::Display for Var {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.param { write!(f, "param#{}", self.index) } else { write!(f, "%{}", self.index) }
    }
}

impl Var {
    /// Whether this is a parameter (persistent across [`Graph::clear`]).
    pub fn is_param(&self) -> bool {
        self.param
    }

    /// Position in the graph's parameter list or node list.
    pub fn index(&self) -> usize {
        self.index as usize
    }
}

/// Up to three input handles stored inline; more go to the heap (concatenation).
#[derive(Debug, Clone)]
pub(crate) enum Inputs {
    Inline([Option<Var>; 3]),
    Heap(Vec<Var>),
}

impl Inputs {
    fn new(vars: &[Var]) -> Self {
        if vars.len() <= 3 {
            let mut inline = [None; 3];
            for (slot, v) in inline.iter_mut().zip(vars) {
                *slot = Some(*v);
            }
            Inputs::Inline(inline)
        } else {
            Inputs::Heap(vars.to_vec())
        }
    }

    pub(crate) fn len(&self) -> usize {
        match self {
            Inputs::Inline(inline) => inline.iter().flatten().count(),
            Inputs::Heap(v) => v.len(),
        }
    }

    pub(crate) fn get(&self, i: usize) -> Var {
        match self {
            Inputs::Inline(inline) => inline[i].expect("index below len"),
            Inputs::Heap(v) => v[i],
        }
    }
}

/// How a node came to be.
pub(crate) struct NodeMeta<F: Float> {
    pub(crate) op: Option<Box<dyn Op<F>>>,
    pub(crate) inputs: Inputs,
    pub(crate) requires_grad: bool,
    pub(crate) label: Option<String>,
}

struct ParamMeta {
    name: String,
    requires_grad: bool,
}

/// A define-by-run computation graph with its parameters.
///
/// Ops run as they are called and record a node that keeps the output value, the op and its
/// inputs. [`Graph::backward`] then visits the nodes once, in reverse order of recording (a
/// reverse topological order, since every node is recorded after its inputs), passing each op
/// `dL/d(output)` and adding what it returns to its inputs' gradients. The cost is linear in the
/// number of edges.
///
/// Parameters ([`Graph::param`]) live across steps. Everything else is cleared by
/// [`Graph::clear`] at the end of a step, and its memory is recycled for the next one.
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
    generation: u32,
    grad_enabled: bool,
    param_values: Vec<Tensor<F>>,
    param_grads: Vec<GradSlot<F>>,
    param_meta: Vec<ParamMeta>,
    pub(crate) node_values: Vec<Tensor<F>>,
    node_grads: Vec<GradSlot<F>>,
    pub(crate) node_meta: Vec<NodeMeta<F>>,
    pool: RefCell<BufferPool<F>>,
    /// Memory of the ops of finished steps, reused by the next step's ops.
    ops: OpArena,
    /// Per-input scratch lists of `backward_node`, kept to reuse their memory.
    scratch_needs: Vec<bool>,
    scratch_slots: Vec<GradSlot<F>>,
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
            .field("params", &self.param_values.len())
            .field("nodes", &self.node_values.len())
            .field("grad_enabled", &self.grad_enabled)
            .finish()
    }
}

pub(crate) fn check_gradient_count(op: &str, got: usize, expected: usize) -> Result<()> {
    if got == expected {
        Ok(())
    } else {
        Err(AutogradError::BadGradient {
            op: op.to_string(),
            reason: format!("{got} gradients for {expected} inputs (return one Option per input)"),
        })
    }
}

impl<F: Float> Graph<F> {
    /// An empty graph with gradients enabled.
    pub fn new() -> Self {
        Graph {
            id: NEXT_GRAPH_ID.fetch_add(1, Ordering::Relaxed),
            generation: 0,
            grad_enabled: true,
            param_values: Vec::new(),
            param_grads: Vec::new(),
            param_meta: Vec::new(),
            node_values: Vec::new(),
            node_grads: Vec::new(),
            node_meta: Vec::new(),
            pool: RefCell::new(BufferPool::default()),
            ops: OpArena::new(),
            scratch_needs: Vec::new(),
            scratch_slots: Vec::new(),
        }
    }

    // ---------------------------------------------------------------- values in

    /// Adds a parameter: a value that requires a gradient and survives [`Graph::clear`].
    pub fn param(&mut self, name: impl Into<String>, value: Tensor<F>) -> Var {
        let index = self.param_values.len() as u32;
        self.param_values.push(value);
        self.param_grads.push(GradSlot::default());
        self.param_meta.push(ParamMeta { name: name.into(), requires_grad: true });
        Var { graph: self.id, generation: 0, index, param: true }
    }

    /// Records a constant input (no gradient), such as a batch of data.
    pub fn input(&mut self, value: Tensor<F>) -> Var {
        self.push_node(value, None, &[], false)
    }

    /// Records a constant input by copying `value` into a recycled buffer: unlike
    /// [`Graph::input`], which takes ownership of a tensor the caller allocated, this allocates
    /// nothing in a training loop's steady state (a data batch copied in at every step).
    pub fn input_copy(&mut self, value: &Tensor<F>) -> Var {
        let mut copy = self.pool.borrow_mut().take(value.shape());
        copy.as_mut_slice().copy_from_slice(value.as_slice());
        self.push_node(copy, None, &[], false)
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
        self.push_node(value, None, &[], false)
    }

    /// Records a leaf that requires a gradient but is cleared with the step (PyTorch's
    /// `tensor.requires_grad_()`), e.g. an input whose gradient you want.
    pub fn leaf(&mut self, value: Tensor<F>) -> Var {
        let requires = self.grad_enabled;
        self.push_node(value, None, &[], requires)
    }

    fn push_node(
        &mut self,
        value: Tensor<F>,
        op: Option<Box<dyn Op<F>>>,
        inputs: &[Var],
        requires_grad: bool,
    ) -> Var {
        let index = self.node_values.len() as u32;
        self.node_values.push(value);
        self.node_grads.push(GradSlot::default());
        self.node_meta.push(NodeMeta { op, inputs: Inputs::new(inputs), requires_grad, label: None });
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
        let requires_grad = self.grad_enabled && inputs.iter().any(|&v| self.requires_grad_unchecked(v));
        let output = {
            // Up to three input references live on the stack: recording allocates nothing.
            let n = inputs.len();
            let value = |k: usize| self.value_unchecked(inputs[k]);
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
        if requires_grad {
            let op = self.ops.boxed(op);
            Ok(self.push_node(output, Some(op), inputs, true))
        } else {
            Ok(self.push_node(output, None, &[], false))
        }
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
        let in_range =
            if v.param { v.index() < self.param_values.len() } else { v.index() < self.node_values.len() };
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

    pub(crate) fn value_unchecked(&self, v: Var) -> &Tensor<F> {
        if v.param { &self.param_values[v.index()] } else { &self.node_values[v.index()] }
    }

    pub(crate) fn requires_grad_unchecked(&self, v: Var) -> bool {
        if v.param {
            self.param_meta[v.index()].requires_grad
        } else {
            self.node_meta[v.index()].requires_grad
        }
    }

    /// The op that produced `v` and its inputs, if it was recorded with one (parameters, leaves,
    /// constants and values recorded in no-grad mode have none). `v` must be live.
    pub(crate) fn recorded_op(&self, v: Var) -> Option<(&dyn Op<F>, &Inputs)> {
        if v.param {
            return None;
        }
        let meta = &self.node_meta[v.index()];
        meta.op.as_deref().map(|op| (op, &meta.inputs))
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
        Ok(if v.param { self.param_grads[v.index()].get() } else { self.node_grads[v.index()].get() })
    }

    /// A readable name of `v` for messages: the parameter name or label, else its handle.
    pub fn describe(&self, v: Var) -> String {
        if v.graph == self.id {
            if v.param {
                if let Some(meta) = self.param_meta.get(v.index()) {
                    return format!("parameter '{}'", meta.name);
                }
            } else if v.generation == self.generation
                && let Some(NodeMeta { label: Some(label), .. }) = self.node_meta.get(v.index())
            {
                return format!("'{label}' ({v})");
            }
        }
        v.to_string()
    }

    /// Gives a node a label for error messages and graph pictures.
    ///
    /// # Errors
    /// When `v` is not a live node of this graph (parameters are named by [`Graph::param`]).
    pub fn set_label(&mut self, v: Var, label: impl Into<String>) -> Result<()> {
        self.check("set_label", v)?;
        if v.param {
            self.param_meta[v.index()].name = label.into();
        } else {
            self.node_meta[v.index()].label = Some(label.into());
        }
        Ok(())
    }

    /// The label of a node or the name of a parameter, if it has one.
    pub fn label(&self, v: Var) -> Option<&str> {
        self.check("label", v).ok()?;
        if v.param {
            Some(&self.param_meta[v.index()].name)
        } else {
            self.node_meta[v.index()].label.as_deref()
        }
    }

    // ---------------------------------------------------------------- parameters

    /// The parameters in the order they were added.
    pub fn params(&self) -> impl ExactSizeIterator<Item = Var> + '_ {
        (0..self.param_values.len() as u32).map(move |index| Var {
            graph: self.id,
            generation: 0,
            index,
            param: true,
        })
    }

    /// The name given to a parameter.
    ///
    /// # Errors
    /// When `v` is not a parameter of this graph.
    pub fn param_name(&self, v: Var) -> Result<&str> {
        self.check_param("param_name", v)?;
        Ok(&self.param_meta[v.index()].name)
    }

    fn check_param(&self, op: &str, v: Var) -> Result<()> {
        self.check(op, v)?;
        if v.param { Ok(()) } else { Err(AutogradError::invalid(op, format!("{v} is not a parameter"))) }
    }

    /// Mutable access to a parameter's value (to load weights).
    ///
    /// # Errors
    /// When `v` is not a parameter of this graph.
    pub fn param_value_mut(&mut self, v: Var) -> Result<&mut Tensor<F>> {
        self.check_param("param_value_mut", v)?;
        Ok(&mut self.param_values[v.index()])
    }

    /// A parameter's value, mutably, with its gradient (if any) alongside: what an optimizer
    /// step needs.
    ///
    /// # Errors
    /// When `v` is not a parameter of this graph.
    pub fn param_mut_with_grad(&mut self, v: Var) -> Result<(&mut Tensor<F>, Option<&Tensor<F>>)> {
        self.check_param("param_mut_with_grad", v)?;
        Ok((&mut self.param_values[v.index()], self.param_grads[v.index()].get()))
    }

    /// Mutable access to a parameter's gradient, if it has one (gradient clipping).
    ///
    /// # Errors
    /// When `v` is not a parameter of this graph.
    pub fn param_grad_mut(&mut self, v: Var) -> Result<Option<&mut Tensor<F>>> {
        self.check_param("param_grad_mut", v)?;
        let slot = &mut self.param_grads[v.index()];
        Ok(if slot.live { slot.buffer.as_mut() } else { None })
    }

    /// Freezes or unfreezes a parameter (a frozen one gets no gradient).
    ///
    /// # Errors
    /// When `v` is not a parameter of this graph.
    pub fn set_requires_grad(&mut self, v: Var, requires_grad: bool) -> Result<()> {
        self.check_param("set_requires_grad", v)?;
        self.param_meta[v.index()].requires_grad = requires_grad;
        Ok(())
    }

    /// Forgets the gradients of all parameters (their buffers are kept for reuse).
    pub fn zero_grad(&mut self) {
        for slot in &mut self.param_grads {
            slot.live = false;
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

    /// A new constant node with `v`'s value: gradients do not flow through it.
    ///
    /// # Errors
    /// When `v` is not a live value of this graph.
    pub fn detach(&mut self, v: Var) -> Result<Var> {
        self.check("detach", v)?;
        let mut copy = self.pool.borrow_mut().take(self.value_unchecked(v).shape());
        copy.try_assign(self.value_unchecked(v))?;
        Ok(self.push_node(copy, None, &[], false))
    }

    /// Number of nodes recorded since the last [`Graph::clear`] (parameters not counted).
    pub fn len(&self) -> usize {
        self.node_values.len()
    }

    /// Whether no node was recorded since the last [`Graph::clear`].
    pub fn is_empty(&self) -> bool {
        self.node_values.is_empty()
    }

    /// Number of parameters.
    pub fn num_params(&self) -> usize {
        self.param_values.len()
    }

    /// Drops every node of this step (values, ops, gradients) and keeps the parameters with
    /// their gradients. The memory is recycled for the next step's ops; handles to the dropped
    /// nodes become invalid (using one is an error).
    pub fn clear(&mut self) {
        let pool = self.pool.get_mut();
        for value in self.node_values.drain(..) {
            pool.give(value);
        }
        for slot in self.node_grads.drain(..) {
            if let Some(buffer) = slot.buffer {
                pool.give(buffer);
            }
        }
        for meta in self.node_meta.drain(..) {
            if let Some(op) = meta.op {
                self.ops.recycle(op);
            }
        }
        self.generation = self.generation.wrapping_add(1);
    }

    /// Drops the recycled buffers as well as the nodes (returns memory to the system).
    pub fn clear_and_release(&mut self) {
        self.clear();
        self.pool.get_mut().clear();
        self.ops.release();
    }

    // ---------------------------------------------------------------- backward

    /// Backpropagates from a single-element output `v` (seed gradient 1).
    ///
    /// # Errors
    /// When `v` has more than one element ([`AutogradError::NotScalar`]), is not a live value
    /// of this graph, or an op's backward fails.
    pub fn backward(&mut self, v: Var) -> Result<()> {
        self.check("backward", v)?;
        let output = self.value_unchecked(v);
        if output.len() != 1 {
            return Err(AutogradError::NotScalar { shape: output.shape().to_vec() });
        }
        let mut seed = self.pool.borrow_mut().take(output.shape());
        seed.fill(F::one());
        self.backward_with_seed(v, seed)
    }

    /// Backpropagates from `v` with `dL/dv = seed` (a vector-Jacobian product with `seed`).
    ///
    /// Non-leaf gradients are recomputed by each pass; gradients of parameters and leaves add
    /// up over passes until [`Graph::zero_grad`] (PyTorch's accumulation).
    ///
    /// # Errors
    /// When `seed` does not have `v`'s shape, `v` is not a live value, or an op fails.
    pub fn backward_with_seed(&mut self, v: Var, seed: Tensor<F>) -> Result<()> {
        self.check("backward", v)?;
        let out_shape = self.value_unchecked(v).shape();
        if seed.shape() != out_shape {
            return Err(AutogradError::SeedShape { seed: seed.shape().to_vec(), output: out_shape.to_vec() });
        }
        if !self.requires_grad_unchecked(v) {
            return Err(AutogradError::invalid(
                "backward",
                format!(
                    "{} does not depend on any parameter or leaf that requires a gradient (was it computed in no-grad mode?)",
                    self.describe(v)
                ),
            ));
        }
        // Gradients of interior nodes belong to one pass; leaves accumulate.
        for (slot, meta) in self.node_grads.iter_mut().zip(&self.node_meta) {
            if meta.op.is_some() {
                slot.live = false;
            }
        }
        let (slot, shape) = if v.param {
            (&mut self.param_grads[v.index()], self.param_values[v.index()].shape())
        } else {
            (&mut self.node_grads[v.index()], self.node_values[v.index()].shape())
        };
        GradSink { slot: Some(slot), shape, pool: &self.pool }.accumulate("backward", seed)?;
        if v.param {
            return Ok(());
        }
        for i in (0..=v.index()).rev() {
            self.backward_node(i)?;
        }
        Ok(())
    }

    /// Runs the backward of node `i` if it has an op and a gradient.
    ///
    /// Allocates nothing in the steady state: the per-input scratch lists are kept in the graph,
    /// and ops with up to three inputs get their sinks in an array.
    fn backward_node(&mut self, i: usize) -> Result<()> {
        let Some(op) = self.node_meta[i].op.as_deref() else { return Ok(()) };
        if !self.node_grads[i].live {
            return Ok(());
        }
        let inputs = &self.node_meta[i].inputs;
        let n = inputs.len();
        let mut needs = std::mem::take(&mut self.scratch_needs);
        needs.clear();
        needs.extend((0..n).map(|k| {
            let input = inputs.get(k);
            if input.param {
                self.param_meta[input.index()].requires_grad
            } else {
                self.node_meta[input.index()].requires_grad
            }
        }));
        if !needs.contains(&true) {
            self.scratch_needs = needs;
            return Ok(());
        }
        // Take the gradient slots of the inputs out of the graph (one per input position; a
        // value used twice gets an empty slot for its second use, merged back afterwards).
        let is_first_use = |k: usize| (0..k).all(|j| inputs.get(j) != inputs.get(k));
        let mut slots = std::mem::take(&mut self.scratch_slots);
        slots.clear();
        for (k, &need) in needs.iter().enumerate() {
            let input = inputs.get(k);
            slots.push(if need && is_first_use(k) {
                if input.param {
                    std::mem::take(&mut self.param_grads[input.index()])
                } else {
                    std::mem::take(&mut self.node_grads[input.index()])
                }
            } else {
                GradSlot::default()
            });
        }
        let result = {
            let value = |k: usize| {
                let input = inputs.get(k);
                if input.param { &self.param_values[input.index()] } else { &self.node_values[input.index()] }
            };
            let (inline, heap): ([&Tensor<F>; 3], Vec<&Tensor<F>>) = if n <= 3 {
                (std::array::from_fn(|k| value(k.min(n - 1))), Vec::new())
            } else {
                ([value(0); 3], (0..n).map(value).collect())
            };
            let values = if n <= 3 { &inline[..n] } else { &heap[..] };
            let ctx = BackwardCtx {
                inputs: values,
                output: &self.node_values[i],
                grad_output: self.node_grads[i].buffer.as_ref().expect("live gradient has a buffer"),
                needs_input_grad: &needs,
            };
            run_backward_into(op, &ctx, &mut slots, &self.pool)
        };
        // Put the slots back, merging second uses into the first.
        for (k, slot) in slots.drain(..).enumerate() {
            if !needs[k] {
                continue;
            }
            let input = inputs.get(k);
            let target = if input.param {
                &mut self.param_grads[input.index()]
            } else {
                &mut self.node_grads[input.index()]
            };
            if is_first_use(k) {
                *target = slot;
            } else if slot.live
                && let Some(gradient) = slot.buffer
            {
                let shape = gradient.shape().to_vec();
                GradSink { slot: Some(target), shape: &shape, pool: &self.pool }
                    .accumulate("backward", gradient)?;
            }
        }
        self.scratch_slots = slots;
        self.scratch_needs = needs;
        result
    }
}

/// Calls `op.backward_into` with one sink per slot (an array of sinks for up to three inputs).
fn run_backward_into<F: Float>(
    op: &dyn Op<F>,
    ctx: &BackwardCtx<'_, F>,
    slots: &mut [GradSlot<F>],
    pool: &RefCell<BufferPool<F>>,
) -> Result<()> {
    let n = slots.len();
    let mut parts = slots.iter_mut().zip(ctx.needs_input_grad).zip(ctx.inputs);
    let mut next_sink = || match parts.next() {
        Some(((slot, &need), value)) => GradSink { slot: need.then_some(slot), shape: value.shape(), pool },
        None => GradSink { slot: None, shape: &[], pool },
    };
    if n <= 3 {
        let mut sinks: [GradSink<'_, F>; 3] = std::array::from_fn(|_| next_sink());
        op.backward_into(ctx, &mut sinks[..n])
    } else {
        let mut sinks: Vec<GradSink<'_, F>> = (0..n).map(|_| next_sink()).collect();
        op.backward_into(ctx, &mut sinks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

        fn backward(&self, ctx: &BackwardCtx<'_, f64>) -> Result<Vec<Option<Tensor<f64>>>> {
            let g = ctx.grad_output;
            Ok(vec![
                ctx.needs_input_grad[0].then(|| g.mul(ctx.inputs[1])),
                ctx.needs_input_grad[1].then(|| g.mul(ctx.inputs[0])),
            ])
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
        assert!(g.node_meta[y.index()].op.is_none());
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
