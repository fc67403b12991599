//! The `Module` trait: what every layer and model offers, as PyTorch's `nn.Module`.

use backprop_autograd::{Graph, Var};
use backprop_tensor::Float;

use crate::error::Result;

/// A layer or a model: a forward pass on graph values, named parameters, and a train/eval mode.
///
/// The trait has no element type: a module holds only handles ([`Var`]) to parameters that
/// live in a [`Graph`] (created by the layer's constructor with [`Graph::param`]), so the same
/// module runs on the graph's element type, and `model.parameters()` needs no annotation.
/// [`Module::parameters`] lists the handles under the names PyTorch's `state_dict()` would use
/// for the equivalent module, in a stable order (the order of construction), which is the
/// order optimizers and model files use.
pub trait Module {
    /// Records the forward pass on `x` (a batch `[batch, features]`) and returns the output.
    ///
    /// # Errors
    /// When `x` does not fit the module (its shape), or a value is not of this graph.
    fn forward<F: Float>(&mut self, g: &mut Graph<F>, x: Var) -> Result<Var>;

    /// The parameters with their `state_dict` names (`weight`, `bias`, `0.weight`, ...).
    fn parameters(&self) -> Vec<(String, Var)>;

    /// Switches between training mode (`true`: dropout active) and evaluation mode. Modules
    /// without such behaviour ignore it.
    fn set_training(&mut self, training: bool) {
        let _ = training;
    }

    /// Whether the module is in training mode (the default for a new module).
    fn is_training(&self) -> bool {
        true
    }
}
