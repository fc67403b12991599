//! `Var`, the handle to a value of a graph.

/// A handle to a value in a `Graph`: a few integers, cheap to copy.
///
/// A `Var` is either a *parameter* (kept by the graph across steps) or a *node* recorded in the
/// current step. Node handles expire when the graph is cleared; using one after that, or using a
/// handle with another graph, is an error, never a wrong answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Var {
    /// The graph it belongs to.
    pub(crate) graph: u32,
    /// The graph's step (its number of clears) when the node was recorded; 0 for parameters.
    pub(crate) generation: u32,
    /// Position in the graph's parameters or nodes.
    pub(crate) index: u32,
    /// Whether it is a parameter.
    pub(crate) param: bool,
}

impl std::fmt::Display for Var {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.param { write!(f, "param#{}", self.index) } else { write!(f, "%{}", self.index) }
    }
}

impl Var {
    /// Whether this is a parameter (persistent across `Graph::clear`).
    pub fn is_param(&self) -> bool {
        self.param
    }

    /// Position in the graph's parameter list or node list.
    pub fn index(&self) -> usize {
        self.index as usize
    }
}
