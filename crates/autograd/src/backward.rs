//! The backward pass: reverse-mode differentiation over the recorded nodes.

use std::cell::RefCell;

use backprop_tensor::{Float, Tensor};

use crate::error::{AutogradError, Result};
use crate::graph::{Graph, Var};
use crate::op::{BackwardCtx, GradSink, GradSlot, Op};
use crate::pool::BufferPool;
use crate::store::Inputs;

/// What [`Graph::backward_with`] calls for each parameter whose gradient is finished.
type ReadyHook<'a, F, E> = dyn FnMut(&Graph<F>, Var) -> std::result::Result<(), E> + 'a;

impl<F: Float> Graph<F> {
    /// Backpropagates from a single-element output `v` (seed gradient 1).
    ///
    /// # Errors
    /// When `v` has more than one element ([`AutogradError::NotScalar`]), is not a live value
    /// of this graph, starts a third step on a tape that was not cleared since the first
    /// ([`AutogradError::TapeNotCleared`], see [`Graph::set_retain_tape`]), or an op's backward
    /// fails.
    pub fn backward(&mut self, v: Var) -> Result<()> {
        let seed = self.unit_seed(v)?;
        self.backward_with_seed(v, seed)
    }

    /// The seed gradient 1 of a single-element output `v`.
    fn unit_seed(&self, v: Var) -> Result<Tensor<F>> {
        self.check("backward", v)?;
        let output = self.value_unchecked(v);
        if output.len() != 1 {
            return Err(AutogradError::NotScalar { shape: output.shape().to_vec() });
        }
        let mut seed = self.pool.borrow_mut().take(output.shape());
        seed.fill(F::one());
        Ok(seed)
    }

    /// As [`Graph::backward`], telling `ready` about every parameter as soon as this pass has
    /// finished its gradient, while the rest of the pass still runs: what data-parallel
    /// training needs to start sending gradients before backward ends (PyTorch DDP's hooks).
    ///
    /// `ready(graph, p)` is called once for every parameter `p` of the graph, in the order their
    /// gradients are finished: the pass visits nodes from the last recorded to the first, so a
    /// parameter's gradient is final once the earliest-recorded node that uses it has run its
    /// backward; parameters that no node of the pass uses come last. The
    /// graph it is given holds `p`'s gradient as the pass leaves it ([`Graph::grad_opt`]:
    /// summed with earlier passes since [`Graph::zero_grad`], `None` if it has none). Steady
    /// state allocates nothing, as for `backward`.
    ///
    /// ```
    /// use backprop_autograd::Graph;
    /// use backprop_tensor::Tensor;
    ///
    /// let mut g = Graph::<f64>::new();
    /// let w1 = g.param("w1", Tensor::from_rows(&[[0.5]]));
    /// let w2 = g.param("w2", Tensor::from_rows(&[[-2.0]]));
    /// let x = g.input(Tensor::from_rows(&[[3.0]]));
    /// let h = g.matmul(x, w1).unwrap();
    /// let y = g.matmul(h, w2).unwrap();
    /// let loss = g.sum(y).unwrap();
    /// let mut order = Vec::new();
    /// g.backward_with(loss, |g, p| {
    ///     order.push(g.param_name(p)?.to_string());
    ///     Ok::<_, backprop_autograd::AutogradError>(())
    /// })
    /// .unwrap();
    /// assert_eq!(order, ["w2", "w1"]); // the last layer's gradient is ready first
    /// ```
    ///
    /// # Errors
    /// As [`Graph::backward`], and the first error `ready` returns (the pass stops there).
    pub fn backward_with<E: From<AutogradError>>(
        &mut self,
        v: Var,
        mut ready: impl FnMut(&Graph<F>, Var) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E> {
        let seed = self.unit_seed(v)?;
        self.run_backward(v, seed, Some(&mut ready))
    }

    /// Backpropagates from `v` with `dL/dv = seed` (a vector-Jacobian product with `seed`).
    ///
    /// Non-leaf gradients are recomputed by each pass; gradients of parameters and leaves add
    /// up over passes until [`Graph::zero_grad`] (PyTorch's accumulation).
    ///
    /// # Errors
    /// When `seed` does not have `v`'s shape, `v` is not a live value, `v` starts a third step
    /// on a tape that was not cleared since the first ([`AutogradError::TapeNotCleared`]), or an
    /// op fails.
    pub fn backward_with_seed(&mut self, v: Var, seed: Tensor<F>) -> Result<()> {
        self.run_backward::<AutogradError>(v, seed, None)
    }

    /// The backward pass from `v` with `dL/dv = seed`, telling `ready` (if given) about each
    /// parameter whose gradient it has finished.
    fn run_backward<E: From<AutogradError>>(
        &mut self,
        v: Var,
        seed: Tensor<F>,
        ready: Option<&mut ReadyHook<'_, F, E>>,
    ) -> std::result::Result<(), E> {
        self.check("backward", v)?;
        let out_shape = self.value_unchecked(v).shape();
        if seed.shape() != out_shape {
            return Err(
                AutogradError::SeedShape { seed: seed.shape().to_vec(), output: out_shape.to_vec() }.into()
            );
        }
        if !self.requires_grad_unchecked(v) {
            return Err(AutogradError::invalid(
                "backward",
                format!(
                    "{} does not depend on any parameter or leaf that requires a gradient (was it computed in no-grad mode?)",
                    self.describe(v)
                ),
            )
            .into());
        }
        self.check_tape_was_cleared(v)?;
        self.nodes_at_backward = self.nodes.len();
        // Gradients of interior nodes belong to one pass; leaves accumulate.
        for node in &mut self.nodes {
            if node.op.is_some() {
                node.grad.live = false;
            }
        }
        self.accumulate(v, seed)?;
        // The nodes the pass visits, from the last: none when it starts at a parameter.
        let nodes = if v.param { 0 } else { v.index() + 1 };
        let Some(ready) = ready else {
            for i in (0..nodes).rev() {
                self.backward_node(i)?;
            }
            return Ok(());
        };
        let (first_use, order) = self.ready_order(nodes);
        let result = self.backward_telling(nodes, &first_use, &order, ready);
        self.scratch_first_use = first_use;
        self.scratch_ready_order = order;
        result
    }

    /// For [`Graph::backward_with`] over the first `nodes` nodes: per parameter, 1 + the index
    /// of the earliest of them that uses it (0: none does), and the parameters' indices in the
    /// order their gradients are finished (the latest first use first; unused ones last, in
    /// their order). The lists are the graph's scratch lists, to be given back.
    fn ready_order(&mut self, nodes: usize) -> (Vec<u32>, Vec<u32>) {
        let mut first_use = std::mem::take(&mut self.scratch_first_use);
        first_use.clear();
        first_use.resize(self.params.len(), 0);
        for (i, node) in self.nodes[..nodes].iter().enumerate() {
            for k in 0..node.inputs.len() {
                let input = node.inputs.get(k);
                if input.param && first_use[input.index()] == 0 {
                    first_use[input.index()] = i as u32 + 1;
                }
            }
        }
        let mut order = std::mem::take(&mut self.scratch_ready_order);
        order.clear();
        order.extend(0..self.params.len() as u32);
        order.sort_unstable_by_key(|&p| (std::cmp::Reverse(first_use[p as usize]), p));
        (first_use, order)
    }

    /// Runs the backward of the first `nodes` nodes, from the last, calling `ready` for each
    /// parameter (in `order`) right after the node that finishes its gradient has run.
    fn backward_telling<E: From<AutogradError>>(
        &mut self,
        nodes: usize,
        first_use: &[u32],
        order: &[u32],
        ready: &mut ReadyHook<'_, F, E>,
    ) -> std::result::Result<(), E> {
        let mut next = order.iter().peekable();
        for i in (0..nodes).rev() {
            self.backward_node(i)?;
            while let Some(&&p) = next.peek()
                && first_use[p as usize] == i as u32 + 1
            {
                let param = self.param_var(p as usize);
                ready(self, param)?;
                next.next();
            }
        }
        for &p in next {
            let param = self.param_var(p as usize);
            ready(self, param)?;
        }
        Ok(())
    }

    /// Counts the backward passes that start a new step on a tape that was not cleared: from a
    /// node recorded after the previous pass, when none of the nodes recorded since uses an
    /// earlier node (they build on parameters and new inputs only). One such pass is allowed
    /// (two separate losses of one step, backpropagated one after the other); the second means
    /// the tape holds the nodes of two earlier steps, a loop that forgets `clear`, and is an
    /// error unless the tape is retained on purpose. Looks at the nodes only in that case: a loop
    /// that clears never pays for it.
    fn check_tape_was_cleared(&mut self, v: Var) -> Result<()> {
        let earlier = self.nodes_at_backward;
        if self.retain_tape || v.param || earlier == 0 || v.index() < earlier {
            return Ok(());
        }
        let builds_on_earlier = self.nodes[earlier..=v.index()].iter().any(|node| {
            (0..node.inputs.len())
                .map(|k| node.inputs.get(k))
                .any(|input| !input.param && input.index() < earlier)
        });
        if builds_on_earlier {
            return Ok(());
        }
        self.unrelated_passes += 1;
        if self.unrelated_passes < 2 { Ok(()) } else { Err(AutogradError::TapeNotCleared { earlier }) }
    }

    /// Adds `gradient` to `v`'s gradient (the chain rule's sum over paths).
    fn accumulate(&mut self, v: Var, gradient: Tensor<F>) -> Result<()> {
        // The slot is moved out so that the sink can borrow the value's shape and the pool.
        let mut slot = std::mem::take(&mut self.entry_mut(v).grad);
        let mut sink =
            GradSink { slot: Some(&mut slot), shape: self.entry(v).value.shape(), pool: &self.pool };
        let result = sink.accumulate("backward", gradient);
        self.entry_mut(v).grad = slot;
        result
    }

    /// Runs the backward of node `i` if it has an op and a gradient.
    ///
    /// Allocates nothing in the steady state: the per-input scratch lists are kept in the graph,
    /// and ops with up to three inputs get their sinks in an array. The node's op and inputs are
    /// moved out for the call (the gradient slots of its inputs are taken out of the graph too)
    /// and put back afterwards.
    fn backward_node(&mut self, i: usize) -> Result<()> {
        let node = &mut self.nodes[i];
        if node.op.is_none() || !node.grad.live {
            return Ok(());
        }
        let op = node.op.take().expect("checked above");
        let inputs = std::mem::replace(&mut node.inputs, Inputs::NONE);
        let result = self.backward_op(i, &*op, &inputs);
        let node = &mut self.nodes[i];
        node.op = Some(op);
        node.inputs = inputs;
        result
    }

    /// Calls `op`'s backward for node `i`, whose op and inputs were moved out of it.
    fn backward_op(&mut self, i: usize, op: &dyn Op<F>, inputs: &Inputs) -> Result<()> {
        let n = inputs.len();
        let mut needs = std::mem::take(&mut self.scratch_needs);
        needs.clear();
        needs.extend((0..n).map(|k| self.entry(inputs.get(k)).requires_grad));
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
            slots.push(if need && is_first_use(k) {
                std::mem::take(&mut self.entry_mut(inputs.get(k)).grad)
            } else {
                GradSlot::default()
            });
        }
        let result = {
            let value = |k: usize| &self.entry(inputs.get(k)).value;
            let (inline, heap): ([&Tensor<F>; 3], Vec<&Tensor<F>>) = if n <= 3 {
                (std::array::from_fn(|k| value(k.min(n - 1))), Vec::new())
            } else {
                ([value(0); 3], (0..n).map(value).collect())
            };
            let values = if n <= 3 { &inline[..n] } else { &heap[..] };
            let output = &self.nodes[i];
            let ctx = BackwardCtx {
                inputs: values,
                output: &output.value,
                grad_output: output.grad.buffer.as_ref().expect("live gradient has a buffer"),
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
            if is_first_use(k) {
                self.entry_mut(input).grad = slot;
            } else if slot.live
                && let Some(gradient) = slot.buffer
            {
                self.accumulate(input, gradient)?;
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
