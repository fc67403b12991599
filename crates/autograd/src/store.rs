//! What a graph keeps of one value, the same for a parameter and for a node of the step.

use backprop_tensor::{Float, Tensor};

use crate::op::{GradSlot, Op};
use crate::var::Var;

/// Up to three input handles stored inline; more go to the heap (concatenation).
#[derive(Debug, Clone)]
pub(crate) enum Inputs {
    Inline([Option<Var>; 3]),
    Heap(Vec<Var>),
}

impl Inputs {
    /// No inputs (a parameter, a leaf, a constant).
    pub(crate) const NONE: Inputs = Inputs::Inline([None; 3]);

    pub(crate) fn new(vars: &[Var]) -> Self {
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

/// One value of a graph with what backward needs of it. A graph keeps two lists of them: its
/// parameters (which live across steps) and the nodes of the current step.
pub(crate) struct Entry<F: Float> {
    pub(crate) value: Tensor<F>,
    pub(crate) grad: GradSlot<F>,
    /// The op that computed the value; `None` for parameters, leaves, constants and values
    /// recorded in no-grad mode.
    pub(crate) op: Option<Box<dyn Op<F>>>,
    pub(crate) inputs: Inputs,
    pub(crate) requires_grad: bool,
    /// A parameter's name or a node's label.
    pub(crate) label: Option<String>,
}

impl<F: Float> Entry<F> {
    /// A value without an op or inputs.
    pub(crate) fn leaf(value: Tensor<F>, requires_grad: bool, label: Option<String>) -> Self {
        Entry { value, grad: GradSlot::default(), op: None, inputs: Inputs::NONE, requires_grad, label }
    }

    /// The op that produced the value and its inputs, if it was recorded with one.
    pub(crate) fn recorded_op(&self) -> Option<(&dyn Op<F>, &Inputs)> {
        self.op.as_deref().map(|op| (op, &self.inputs))
    }
}
