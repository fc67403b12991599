//! Elementwise arithmetic with NumPy broadcasting, scalar ops and unary math.
//!
//! The common case of a bias, a row vector `[n]` or `[1, n]` added to every row of a batch
//! `[m, n]`, runs as a tight loop over rows; other broadcasts go through ndarray.

use ndarray::{ArrayD, IxDyn, Zip};

use crate::error::{Result, TensorError, or_panic};
use crate::float::Float;
use crate::parallel::{map_into, zip_inplace, zip_into};
use crate::tensor::Tensor;

/// The shape two operands broadcast to, under NumPy's rules (align trailing axes; an axis of
/// length 1 stretches).
///
/// # Errors
/// When an aligned pair of axes differs and neither is 1, naming `op` and both shapes.
pub fn broadcast_shape(op: &'static str, a: &[usize], b: &[usize]) -> Result<Vec<usize>> {
    let ndim = a.len().max(b.len());
    let mut out = vec![0; ndim];
    for i in 0..ndim {
        let x = if i + a.len() >= ndim { a[i + a.len() - ndim] } else { 1 };
        let y = if i + b.len() >= ndim { b[i + b.len() - ndim] } else { 1 };
        out[i] = match (x, y) {
            _ if x == y => x,
            (1, _) => y,
            (_, 1) => x,
            _ => {
                return Err(TensorError::shape(
                    op,
                    a,
                    b,
                    format!("cannot broadcast: axis {i} of the result has lengths {x} and {y}"),
                ));
            }
        };
    }
    Ok(out)
}

/// Whether `small` is a row vector that repeats over the rows of `big`: `big` is `[.., n]` and
/// `small` is `[n]` or `[1, n]` (or any `[1, ..., 1, n]` of no more axes than `big`).
fn is_row_broadcast(big: &[usize], small: &[usize]) -> bool {
    match (big.last(), small.last()) {
        (Some(&n), Some(&m)) if n == m && n > 0 => {
            small.len() <= big.len() && small[..small.len() - 1].iter().all(|&d| d == 1)
        }
        _ => false,
    }
}

/// A broadcasting arithmetic method `$try_name` (named `$op` in errors) and its panicking twin
/// `$name`, both computing `x $sym y` for each pair of elements.
macro_rules! arithmetic {
    ($(#[$doc:meta])* $try_name:ident, $name:ident, $op:literal, $sym:tt) => {
        $(#[$doc])*
        ///
        /// # Errors
        /// When the shapes do not broadcast.
        pub fn $try_name(&self, other: &Tensor<F>) -> Result<Self> {
            self.try_zip_map($op, other, |x, y| x $sym y)
        }

        #[doc = concat!("Panicking twin of [`Tensor::", stringify!($try_name), "`].")]
        #[track_caller]
        pub fn $name(&self, other: &Tensor<F>) -> Self {
            or_panic(self.$try_name(other))
        }
    };
}

impl<F: Float> Tensor<F> {
    /// Applies `f` elementwise to two broadcast operands.
    ///
    /// # Errors
    /// When the shapes do not broadcast, naming `op`.
    pub fn try_zip_map(
        &self,
        op: &'static str,
        other: &Tensor<F>,
        f: impl Fn(F, F) -> F + Sync + Send,
    ) -> Result<Self> {
        if self.shape() == other.shape() {
            let mut out = Tensor::zeros(self.shape());
            zip_into(self.as_slice(), other.as_slice(), out.as_mut_slice(), f);
            return Ok(out);
        }
        let shape = broadcast_shape(op, self.shape(), other.shape())?;
        if shape == self.shape() && is_row_broadcast(self.shape(), other.shape()) {
            return Ok(zip_with_row(self, other.as_slice(), &f));
        }
        if shape == other.shape() && is_row_broadcast(other.shape(), self.shape()) {
            return Ok(zip_with_row(other, self.as_slice(), |y, x| f(x, y)));
        }
        let a = self.view();
        let b = other.view();
        let a = a.broadcast(IxDyn(&shape)).expect("shape checked by broadcast_shape");
        let b = b.broadcast(IxDyn(&shape)).expect("shape checked by broadcast_shape");
        let mut out = ArrayD::zeros(IxDyn(&shape));
        Zip::from(&mut out).and(&a).and(&b).for_each(|o, &x, &y| *o = f(x, y));
        Ok(Tensor::from_array(out))
    }

    /// Applies `f` to every element.
    pub fn map(&self, f: impl Fn(F) -> F + Sync + Send) -> Self {
        let mut out = Tensor::zeros(self.shape());
        map_into(self.as_slice(), out.as_mut_slice(), f);
        out
    }

    /// Applies `f` to every element in place.
    pub fn map_inplace(&mut self, f: impl Fn(F) -> F + Sync + Send) {
        crate::parallel::map_inplace(self.as_mut_slice(), f);
    }

    /// `self[i] = f(self[i], other[i])` in place; `other` may broadcast to `self`'s shape.
    ///
    /// # Errors
    /// When `other` does not broadcast to exactly `self`'s shape.
    pub fn try_zip_inplace(
        &mut self,
        op: &'static str,
        other: &Tensor<F>,
        f: impl Fn(F, F) -> F + Sync + Send,
    ) -> Result<()> {
        if self.shape() == other.shape() {
            zip_inplace(self.as_mut_slice(), other.as_slice(), f);
            return Ok(());
        }
        let shape = broadcast_shape(op, self.shape(), other.shape())?;
        if shape != self.shape() {
            return Err(TensorError::shape(
                op,
                self.shape(),
                other.shape(),
                "the result would not fit the left operand",
            ));
        }
        if is_row_broadcast(self.shape(), other.shape()) {
            let row = other.as_slice();
            for dst in self.as_mut_slice().chunks_exact_mut(row.len()) {
                for (d, &y) in dst.iter_mut().zip(row) {
                    *d = f(*d, y);
                }
            }
            return Ok(());
        }
        let b = other.view();
        let b = b.broadcast(IxDyn(&shape)).expect("shape checked by broadcast_shape");
        Zip::from(&mut self.view_mut()).and(&b).for_each(|x, &y| *x = f(*x, y));
        Ok(())
    }

    arithmetic!(
        /// `self + other`, broadcasting.
        try_add, add, "add", +
    );
    arithmetic!(
        /// `self - other`, broadcasting.
        try_sub, sub, "sub", -
    );
    arithmetic!(
        /// `self * other` elementwise, broadcasting.
        try_mul, mul, "mul", *
    );
    arithmetic!(
        /// `self / other` elementwise, broadcasting.
        try_div, div, "div", /
    );

    /// `self += other` in place; `other` may broadcast to `self`'s shape (a bias row).
    ///
    /// # Errors
    /// When `other` does not broadcast to `self`'s shape.
    pub fn try_add_assign(&mut self, other: &Tensor<F>) -> Result<()> {
        self.try_zip_inplace("add_assign", other, |x, y| x + y)
    }

    /// `self += alpha · other` in place, same shapes (the BLAS `axpy`).
    ///
    /// # Errors
    /// When the shapes differ.
    pub fn try_axpy(&mut self, alpha: F, other: &Tensor<F>) -> Result<()> {
        if self.shape() != other.shape() {
            return Err(TensorError::shape("axpy", self.shape(), other.shape(), "shapes differ"));
        }
        zip_inplace(self.as_mut_slice(), other.as_slice(), |x, y| x + alpha * y);
        Ok(())
    }

    /// `self + c` for every element.
    pub fn add_scalar(&self, c: F) -> Self {
        self.map(|x| x + c)
    }

    /// `self · c` for every element.
    pub fn mul_scalar(&self, c: F) -> Self {
        self.map(|x| x * c)
    }

    /// `-self`.
    pub fn neg(&self) -> Self {
        self.map(|x| -x)
    }

    /// `eˣ`.
    pub fn exp(&self) -> Self {
        self.map(num_traits::Float::exp)
    }

    /// Natural logarithm (`-inf` at 0, NaN below, as IEEE defines).
    pub fn ln(&self) -> Self {
        self.map(num_traits::Float::ln)
    }

    /// Square root.
    pub fn sqrt(&self) -> Self {
        self.map(num_traits::Float::sqrt)
    }

    /// `xⁿ` for an integer power.
    pub fn powi(&self, n: i32) -> Self {
        self.map(|x| num_traits::Float::powi(x, n))
    }

    /// `x²`.
    pub fn square(&self) -> Self {
        self.map(|x| x * x)
    }

    /// `|x|`.
    pub fn abs(&self) -> Self {
        self.map(num_traits::Float::abs)
    }

    /// Each element limited to `[lo, hi]`.
    ///
    /// # Panics
    /// When `lo > hi`.
    #[track_caller]
    pub fn clamp(&self, lo: F, hi: F) -> Self {
        assert!(lo <= hi, "clamp: lower bound {lo} exceeds upper bound {hi}");
        self.map(|x| {
            if x < lo {
                lo
            } else if x > hi {
                hi
            } else {
                x
            }
        })
    }

    /// Sums `self` (a broadcast result) back down to `shape`, the shape of an operand that was
    /// broadcast: the gradient of a broadcast operand is the sum of the gradients of its copies.
    ///
    /// # Errors
    /// When `shape` does not broadcast to `self`'s shape.
    pub fn try_sum_to_shape(&self, shape: &[usize]) -> Result<Self> {
        if self.shape() == shape {
            return Ok(self.clone());
        }
        let full = broadcast_shape("sum_to_shape", self.shape(), shape)?;
        if full != self.shape() {
            return Err(TensorError::shape(
                "sum_to_shape",
                self.shape(),
                shape,
                "target does not broadcast to the source",
            ));
        }
        if is_row_broadcast(self.shape(), shape) {
            let n = *shape.last().expect("row broadcast has a last axis");
            let mut out = vec![F::zero(); n];
            for row in self.as_slice().chunks_exact(n) {
                for (o, &x) in out.iter_mut().zip(row) {
                    *o += x;
                }
            }
            return Tensor::try_from_vec(shape, out);
        }
        let mut data = self.view().to_owned();
        let lead = self.ndim() - shape.len();
        for _ in 0..lead {
            data = data.sum_axis(ndarray::Axis(0));
        }
        for (axis, &len) in shape.iter().enumerate() {
            if len == 1 && data.shape()[axis] != 1 {
                data = data.sum_axis(ndarray::Axis(axis)).insert_axis(ndarray::Axis(axis));
            }
        }
        Ok(Tensor::from_array(data))
    }
}

/// `out[i, j] = f(matrix[i, j], row[j])` for every row of `matrix` (a row broadcast over it).
fn zip_with_row<F: Float>(matrix: &Tensor<F>, row: &[F], f: impl Fn(F, F) -> F) -> Tensor<F> {
    let mut out = Tensor::zeros(matrix.shape());
    for (dst, src) in
        out.as_mut_slice().chunks_exact_mut(row.len()).zip(matrix.as_slice().chunks_exact(row.len()))
    {
        for ((d, &m), &r) in dst.iter_mut().zip(src).zip(row) {
            *d = f(m, r);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(shape: &[usize], v: &[f64]) -> Tensor<f64> {
        Tensor::from_vec(shape, v.to_vec())
    }

    #[test]
    fn broadcast_shapes_follow_numpy() {
        assert_eq!(broadcast_shape("add", &[3, 4], &[4]).unwrap(), vec![3, 4]);
        assert_eq!(broadcast_shape("add", &[3, 1], &[1, 4]).unwrap(), vec![3, 4]);
        assert_eq!(broadcast_shape("add", &[], &[2, 2]).unwrap(), vec![2, 2]);
        let err = broadcast_shape("add", &[3, 4], &[3]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "add: [3, 4] x [3]: cannot broadcast: axis 1 of the result has lengths 4 and 3"
        );
    }

    #[test]
    fn row_bias_add_and_general_broadcast() {
        let x = t(&[2, 3], &[1., 2., 3., 4., 5., 6.]);
        let b = t(&[3], &[10., 20., 30.]);
        assert_eq!(x.add(&b).to_vec(), vec![11., 22., 33., 14., 25., 36.]);
        assert_eq!(b.sub(&x).to_vec(), vec![9., 18., 27., 6., 15., 24.]);
        let col = t(&[2, 1], &[1., 2.]);
        assert_eq!(x.mul(&col).to_vec(), vec![1., 2., 3., 8., 10., 12.]);
        assert_eq!(x.div(&Tensor::scalar(2.0)).to_vec(), vec![0.5, 1., 1.5, 2., 2.5, 3.]);
        let mut y = x.clone();
        y.try_add_assign(&b).unwrap();
        assert_eq!(y, x.add(&b));
        assert!(b.clone().try_add_assign(&x).is_err(), "in-place result cannot grow");
    }

    #[test]
    fn sum_to_shape_reverses_broadcast() {
        let g = t(&[2, 3], &[1., 2., 3., 4., 5., 6.]);
        assert_eq!(g.try_sum_to_shape(&[3]).unwrap().to_vec(), vec![5., 7., 9.]);
        assert_eq!(g.try_sum_to_shape(&[1, 3]).unwrap().shape(), &[1, 3]);
        assert_eq!(g.try_sum_to_shape(&[2, 1]).unwrap().to_vec(), vec![6., 15.]);
        assert_eq!(g.try_sum_to_shape(&[]).unwrap().to_vec(), vec![21.]);
        assert!(g.try_sum_to_shape(&[2]).is_err());
    }

    #[test]
    fn unary_math() {
        let x = t(&[4], &[-2., -0.5, 0.5, 4.]);
        assert_eq!(x.abs().to_vec(), vec![2., 0.5, 0.5, 4.]);
        assert_eq!(x.clamp(-1., 1.).to_vec(), vec![-1., -0.5, 0.5, 1.]);
        assert_eq!(x.powi(2).to_vec(), x.square().to_vec());
        assert_eq!(x.abs().square().sqrt().to_vec(), x.abs().to_vec());
        for (a, b) in x.exp().ln().as_slice().iter().zip(x.as_slice()) {
            assert!((a - b).abs() < 1e-15);
        }
        assert_eq!(x.neg().add_scalar(1.0).mul_scalar(2.0).to_vec(), vec![6., 3., 1., -6.]);
        let mut y = x.clone();
        y.try_axpy(2.0, &x).unwrap();
        assert_eq!(y, x.mul_scalar(3.0));
    }
}
