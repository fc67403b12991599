//! Temporary stand-ins for APIs landing in nn and autograd (removed at merge).
use backprop_autograd::{Graph, Var};
use backprop_nn::{Loss, Reduction};
use backprop_tensor::{Float, Tensor};

use crate::error::Result;

/// What a loss compares the outputs with.
#[derive(Debug, Clone, Copy)]
pub enum Targets<'a, F: Float> {
    /// Class indices.
    Classes(&'a [usize]),
    /// Values.
    Values(&'a Tensor<F>),
}

pub(crate) fn compute_targets<F: Float>(
    loss: Loss,
    g: &mut Graph<F>,
    outputs: Var,
    targets: Targets<'_, F>,
    reduction: Reduction,
) -> Result<Var> {
    let t = match targets {
        Targets::Classes(classes) => {
            let value = |c: usize| match loss {
                Loss::Hinge | Loss::LogisticPm1 => {
                    if c == 1 {
                        F::one()
                    } else {
                        -F::one()
                    }
                }
                _ => F::from_f64(c as f64),
            };
            Tensor::from_vec(&[classes.len(), 1], classes.iter().map(|&c| value(c)).collect())
        }
        Targets::Values(v) => v.clone(),
    };
    let y = g.input(t);
    Ok(loss.compute(g, outputs, y, reduction)?)
}

pub(crate) fn step<F: Float, R, E>(
    g: &mut Graph<F>,
    f: impl FnOnce(&mut Graph<F>) -> Result<R, E>,
) -> Result<R, E> {
    let r = f(g);
    g.clear();
    r
}
