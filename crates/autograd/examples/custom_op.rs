//! A custom op written with the `Op` trait, checked with `gradcheck`, and the graph of
//! derivatives of a scalar computation that uses it, in Graphviz DOT.
//!
//! ```text
//! cargo run -p backprop-autograd --example custom_op > graph.dot
//! dot -Tpng graph.dot -o graph.png
//! ```
//! (The gradient check and the gradients go to stderr, the DOT text to stdout.)

use backprop_autograd::{BackwardCtx, ForwardCtx, GradSink, Graph, Op, Result, gradcheck};
use backprop_tensor::{Float, Tensor};

/// `y = x³` elementwise; `dL/dx = 3x²·dL/dy`.
struct Cube;

impl<F: Float> Op<F> for Cube {
    fn name(&self) -> &str {
        "cube"
    }

    fn forward(&mut self, ctx: &mut ForwardCtx<'_, F>, inputs: &[&Tensor<F>]) -> Result<Tensor<F>> {
        let x = inputs[0];
        let mut y = ctx.uninit(x.shape());
        for (y, &x) in y.as_mut_slice().iter_mut().zip(x.as_slice()) {
            *y = x * x * x;
        }
        Ok(y)
    }

    fn backward_into(&self, ctx: &BackwardCtx<'_, F>, grads: &mut [GradSink<'_, F>]) -> Result<()> {
        let three = F::from_f64(3.0);
        let dx = ctx.inputs[0].try_zip_map("cube", ctx.grad_output, |x, g| three * x * x * g)?;
        grads[0].accumulate("cube", dx)
    }
}

fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
    let x = Tensor::from_vec(&[2, 3], vec![0.5, -1.5, 2.0, 0.1, -0.3, 1.2]);
    let report = gradcheck(|g, v| g.apply(Cube, &[v[0]]), &[x], 1e-6, 1e-6)?;
    eprintln!("gradcheck of cube passed: worst {report}");

    // L = tanh(cube(a) · b + a): a is used twice, so its gradient is a sum over two paths.
    let mut g = Graph::<f64>::new();
    let a = g.leaf(Tensor::scalar(0.8));
    let b = g.leaf(Tensor::scalar(-0.5));
    g.set_label(a, "a")?;
    g.set_label(b, "b")?;
    let cube = g.apply(Cube, &[a])?;
    let product = g.mul(cube, b)?;
    let sum = g.add(product, a)?;
    let loss = g.tanh(sum)?;
    g.set_label(loss, "L")?;
    g.backward(loss)?;
    eprintln!("L = {:.6}", g.value(loss)?.item());
    eprintln!("dL/da = {:.6}, dL/db = {:.6}", g.grad(a)?.item(), g.grad(b)?.item());
    print!("{}", g.to_dot(loss)?);
    Ok(())
}
