//! Where a forward pass runs: recorded on a graph, or computed on tensors.
//!
//! Layers write their forward pass once, against [`Pass`]; [`Graph`] records it (training,
//! with gradients) and [`Evaluate`] computes it straight on tensors from the parameter values
//! of a graph (inference without a tape: [`crate::Sequential::predict`]). Both run the same
//! kernels in the same order, so their values agree bit for bit.

use std::borrow::Cow;

use backprop_autograd::{Graph, Var};
use backprop_tensor::{Float, Tensor, Transpose};

use crate::activation::Activation;
use crate::error::Result;

/// The operations a forward pass is made of.
pub(crate) trait Pass<F: Float> {
    /// A value flowing through the pass.
    type Value;

    /// The shape of a value.
    fn shape<'v>(&'v self, x: &'v Self::Value) -> Result<&'v [usize]>;

    /// `activation(x·W + b)` of a dense layer with weight `w` and bias `b`
    /// (`activation(x·W)` without a bias), its input already checked.
    fn dense(
        &mut self,
        x: Self::Value,
        w: Var,
        b: Option<Var>,
        activation: Activation,
    ) -> Result<Self::Value>;

    /// `activation(x)`.
    fn activation(&mut self, x: Self::Value, activation: Activation) -> Result<Self::Value>;
}

/// Recording: a biased dense layer with a fusable activation is one [`Graph::affine_act`] op.
impl<F: Float> Pass<F> for Graph<F> {
    type Value = Var;

    fn shape<'v>(&'v self, x: &'v Var) -> Result<&'v [usize]> {
        Ok(Graph::shape(self, *x)?)
    }

    fn dense(&mut self, x: Var, w: Var, b: Option<Var>, activation: Activation) -> Result<Var> {
        let z = match (b, activation.fused()) {
            (Some(b), Some(fused)) => return Ok(self.affine_act(x, w, b, fused)?),
            (Some(b), None) => self.affine(x, w, b)?,
            (None, _) => self.matmul(x, w)?,
        };
        activation.apply(self, z)
    }

    fn activation(&mut self, x: Var, activation: Activation) -> Result<Var> {
        activation.apply(self, x)
    }
}

/// Inference on tensors, reading the parameters from a graph without recording anything: a
/// dense layer is one gemm into a fresh output (over the bias rows, `β = 1`, as the graph's
/// ops) and an activation runs in place.
pub(crate) struct Evaluate<'a, F: Float> {
    /// Where the parameter values live.
    pub(crate) graph: &'a Graph<F>,
}

impl<'a, F: Float> Pass<F> for Evaluate<'a, F> {
    /// The caller's input until a layer writes a new tensor.
    type Value = Cow<'a, Tensor<F>>;

    fn shape<'v>(&'v self, x: &'v Self::Value) -> Result<&'v [usize]> {
        Ok(x.shape())
    }

    fn dense(
        &mut self,
        x: Self::Value,
        w: Var,
        b: Option<Var>,
        activation: Activation,
    ) -> Result<Self::Value> {
        let w = self.graph.value(w)?;
        let shape = [x.shape()[0], w.shape()[1]];
        // The bias rows are written straight into fresh memory: zeroing it first cost a pass
        // over the output (2% of a 1024-row batch's inference).
        let (mut out, beta) = match b {
            Some(b) => {
                (Tensor::try_from_vec(&shape, self.graph.value(b)?.as_slice().repeat(shape[0]))?, F::one())
            }
            None => (Tensor::zeros(&shape), F::zero()),
        };
        out.try_gemm_into(F::one(), &x, Transpose::No, w, Transpose::No, beta)?;
        activation.apply_tensor_in_place(&mut out)?;
        Ok(Cow::Owned(out))
    }

    fn activation(&mut self, mut x: Self::Value, activation: Activation) -> Result<Self::Value> {
        activation.apply_tensor_in_place(x.to_mut())?;
        Ok(x)
    }
}
