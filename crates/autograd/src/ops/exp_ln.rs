//! The exponential and the natural logarithm.

use crate::ops::unary::unary_fn;

unary_fn! {
    /// `y = eˣ`; `dy/dx = eˣ = y` (the saved output, no second `exp`).
    Exp = "exp",
    value(x) = x.exp(),
    derivative(_, y) = y;
    /// `eᵃ` elementwise (see [`Exp`]).
    fn exp;
}

unary_fn! {
    /// `y = ln x`; `dy/dx = 1/x` (`ln 0 = −inf`, NaN below 0, as IEEE defines).
    Ln = "ln",
    value(x) = x.ln(),
    derivative(x, _) = F::one() / x;
    /// `ln a` elementwise (see [`Ln`]).
    fn ln;
}

#[cfg(test)]
mod tests {
    use backprop_tensor::Tensor;

    use crate::{Graph, gradcheck};

    #[test]
    fn ln_of_exp_has_gradient_one() {
        let mut g = Graph::<f64>::new();
        let x = g.leaf(Tensor::from_vec(&[3], vec![-2.0, 0.0, 3.0]));
        let e = g.exp(x).unwrap();
        let y = g.ln(e).unwrap();
        g.backward_with_seed(y, Tensor::ones(&[3])).unwrap();
        for (&d, &v) in g.grad(x).unwrap().as_slice().iter().zip(g.value(y).unwrap().as_slice()) {
            assert!((d - 1.0).abs() < 1e-15, "{d}");
            assert!(v.is_finite());
        }
    }

    #[test]
    fn gradcheck_each() {
        let x = [Tensor::from_vec(&[2, 2], vec![0.3, 1.2, 0.7, 2.5])];
        gradcheck(|g, v| g.exp(v[0]), &x, 1e-6, 1e-8).unwrap();
        gradcheck(|g, v| g.ln(v[0]), &x, 1e-6, 1e-8).unwrap();
    }
}
