//! Which element of each operand meets which element of a broadcast result.
//!
//! NumPy broadcasting aligns trailing axes and stretches axes of length 1. Seen as flat
//! row-major indices, result element `o` reads operand element `Σ_axis index_axis · stride_axis`,
//! where the stride of a stretched (or missing) axis is 0. Forward passes use it to read both
//! operands; backward passes use it to add each result gradient into the operand element it came
//! from, which sums the gradient of a broadcast operand back to its own shape.

use backprop_tensor::{TensorError, broadcast_shape};

/// Axis lengths or strides, inline up to four axes (as ndarray keeps them), so that building
/// the map allocates nothing for the tensors of a neural network.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Dims {
    Inline { len: usize, dims: [usize; 4] },
    Heap(Vec<usize>),
}

impl Dims {
    fn zeros(len: usize) -> Self {
        if len <= 4 { Dims::Inline { len, dims: [0; 4] } } else { Dims::Heap(vec![0; len]) }
    }
}

impl std::ops::Deref for Dims {
    type Target = [usize];
    fn deref(&self) -> &[usize] {
        match self {
            Dims::Inline { len, dims } => &dims[..*len],
            Dims::Heap(dims) => dims,
        }
    }
}

impl std::ops::DerefMut for Dims {
    fn deref_mut(&mut self) -> &mut [usize] {
        match self {
            Dims::Inline { len, dims } => &mut dims[..*len],
            Dims::Heap(dims) => dims,
        }
    }
}

/// The index map of two operands onto their broadcast result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Broadcast {
    shape: Dims,
    strides: [Dims; 2],
}

impl Broadcast {
    /// The map for operands of shapes `a` and `b`.
    ///
    /// # Errors
    /// When the shapes do not broadcast, naming `op` and both shapes.
    pub(crate) fn new(op: &'static str, a: &[usize], b: &[usize]) -> Result<Self, TensorError> {
        let rank = a.len().max(b.len());
        let mut shape = Dims::zeros(rank);
        for (axis, len) in shape.iter_mut().enumerate() {
            let x = if axis + a.len() >= rank { a[axis + a.len() - rank] } else { 1 };
            let y = if axis + b.len() >= rank { b[axis + b.len() - rank] } else { 1 };
            *len = match (x, y) {
                _ if x == y => x,
                (1, _) => y,
                (_, 1) => x,
                // The tensor crate's rules, and its message.
                _ => return Err(broadcast_shape(op, a, b).expect_err("axes of different lengths, neither 1")),
            };
        }
        let strides = [operand_strides(&shape, a), operand_strides(&shape, b)];
        Ok(Broadcast { shape, strides })
    }

    /// The shape of the result.
    pub(crate) fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// Calls `f(result_index, a_index, b_index)` for every element of the result, in row-major
    /// order (a fixed order, so sums into a broadcast operand are reproducible).
    pub(crate) fn for_each(&self, mut f: impl FnMut(usize, usize, usize)) {
        if self.shape.contains(&0) {
            return;
        }
        let Some((&last, leading)) = self.shape.split_last() else {
            f(0, 0, 0);
            return;
        };
        let [sa, sb] = &self.strides;
        let (last_a, last_b) = (sa[leading.len()], sb[leading.len()]);
        let mut index = Dims::zeros(leading.len());
        let (mut base_a, mut base_b, mut out) = (0, 0, 0);
        loop {
            for j in 0..last {
                f(out, base_a + j * last_a, base_b + j * last_b);
                out += 1;
            }
            // Odometer over the leading axes.
            let mut axis = leading.len();
            loop {
                if axis == 0 {
                    return;
                }
                axis -= 1;
                index[axis] += 1;
                base_a += sa[axis];
                base_b += sb[axis];
                if index[axis] < leading[axis] {
                    break;
                }
                base_a -= sa[axis] * leading[axis];
                base_b -= sb[axis] * leading[axis];
                index[axis] = 0;
            }
        }
    }
}

/// The stride of `operand` along each axis of `shape`: 0 where the operand is stretched.
fn operand_strides(shape: &[usize], operand: &[usize]) -> Dims {
    let lead = shape.len() - operand.len();
    let mut strides = Dims::zeros(shape.len());
    let mut stride = 1;
    for (axis, &len) in operand.iter().enumerate().rev() {
        if len != 1 {
            strides[lead + axis] = stride;
        }
        stride *= len;
    }
    strides
}

#[cfg(test)]
mod tests {
    use super::*;

    fn triples(a: &[usize], b: &[usize]) -> Vec<(usize, usize, usize)> {
        let map = Broadcast::new("test", a, b).unwrap();
        let mut out = Vec::new();
        map.for_each(|o, i, j| out.push((o, i, j)));
        out
    }

    #[test]
    fn row_column_and_scalar_operands() {
        // [2, 3] with a bias row [3].
        assert_eq!(
            triples(&[2, 3], &[3]),
            vec![(0, 0, 0), (1, 1, 1), (2, 2, 2), (3, 3, 0), (4, 4, 1), (5, 5, 2)]
        );
        // [2, 1] against [1, 3]: an outer product layout.
        assert_eq!(
            triples(&[2, 1], &[1, 3]),
            vec![(0, 0, 0), (1, 0, 1), (2, 0, 2), (3, 1, 0), (4, 1, 1), (5, 1, 2)]
        );
        assert_eq!(triples(&[], &[]), vec![(0, 0, 0)]);
        assert_eq!(triples(&[2], &[]), vec![(0, 0, 0), (1, 1, 0)]);
        assert_eq!(triples(&[0, 3], &[3]), vec![]);
    }

    #[test]
    fn three_axes_match_a_direct_index_computation() {
        let (a, b) = ([2, 1, 4], [3, 1]);
        let map = Broadcast::new("test", &a, &b).unwrap();
        assert_eq!(map.shape(), &[2, 3, 4]);
        let mut seen = 0;
        map.for_each(|o, i, j| {
            let (x, y, z) = (o / 12, (o / 4) % 3, o % 4);
            assert_eq!(i, x * 4 + z, "a index of result {o}");
            assert_eq!(j, y, "b index of result {o}");
            seen += 1;
        });
        assert_eq!(seen, 24);
    }

    #[test]
    fn more_than_four_axes() {
        let map = Broadcast::new("test", &[2, 1, 1, 1, 3], &[2, 1, 1, 1]).unwrap();
        assert_eq!(map.shape(), &[2, 2, 1, 1, 3]);
        let mut seen = Vec::new();
        map.for_each(|o, i, j| seen.push((o, i, j)));
        assert_eq!(seen.len(), 12);
        // b = [2, 1, 1, 1] aligns with the result's axes 1..5.
        assert_eq!(seen[4], (4, 1, 1), "result [0, 1, 0, 0, 1] reads a[0, 0, 0, 0, 1] and b[1, 0, 0, 0]");
        assert_eq!(seen[6], (6, 3, 0), "result [1, 0, 0, 0, 0] reads a[1, 0, 0, 0, 0] and b[0, 0, 0, 0]");
    }

    #[test]
    fn shapes_that_do_not_broadcast_are_named() {
        let err = Broadcast::new("add", &[2, 3], &[2]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "add: [2, 3] x [2]: cannot broadcast: axis 1 of the result has lengths 3 and 2"
        );
    }
}
