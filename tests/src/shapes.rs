//! Shape strategies. Small axes, so that the edge cases (a scalar, 1×1, a single row, a single
//! column, an axis of length 1 that broadcasts) come up in most runs, not by luck.

use proptest::prelude::*;

/// The longest axis of a general shape.
pub const MAX_DIM: usize = 4;

/// An axis length from 1 to [`MAX_DIM`].
pub fn dim() -> impl Strategy<Value = usize> + Clone {
    1usize..=MAX_DIM
}

/// A matrix shape `(rows, cols)`: 1×1, a single row, a single column and a general matrix each
/// come up in about a quarter of the cases.
pub fn matrix_shape() -> impl Strategy<Value = (usize, usize)> + Clone {
    prop_oneof![
        Just((1, 1)),
        (2..=5usize).prop_map(|n| (1, n)),
        (2..=5usize).prop_map(|m| (m, 1)),
        (2..=5usize, 2..=5usize),
    ]
}

/// A shape of rank 0 (a scalar) to 4; rank-2 shapes are drawn by [`matrix_shape`].
pub fn any_shape() -> impl Strategy<Value = Vec<usize>> + Clone {
    prop_oneof![
        1 => Just(Vec::new()),
        2 => matrix_shape().prop_map(|(m, n)| vec![m, n]),
        3 => prop::collection::vec(dim(), 1..=4),
    ]
}

/// A shape of rank 1 to 4 (something to reduce along an axis).
pub fn shape_with_axes() -> impl Strategy<Value = Vec<usize>> + Clone {
    prop_oneof![matrix_shape().prop_map(|(m, n)| vec![m, n]), prop::collection::vec(dim(), 1..=4),]
}

/// The shapes of two operands that broadcast together (NumPy rules): both derive from one full
/// shape by dropping some leading axes and setting some others to 1, so `[3, 1]` against
/// `[4]`, `[2, 1, 4]` against `[3, 1]`, a scalar against anything, and equal shapes all occur.
pub fn broadcast_shapes() -> impl Strategy<Value = (Vec<usize>, Vec<usize>)> + Clone {
    any_shape().prop_flat_map(|full| {
        let operand = operand_of(full);
        (operand.clone(), operand)
    })
}

/// A shape that broadcasts to `full`.
fn operand_of(full: Vec<usize>) -> impl Strategy<Value = Vec<usize>> + Clone {
    let rank = full.len();
    (0..=rank, prop::collection::vec(prop::bool::weighted(0.3), rank)).prop_map(move |(dropped, ones)| {
        full[dropped..].iter().zip(&ones[dropped..]).map(|(&n, &one)| if one { 1 } else { n }).collect()
    })
}

/// The NumPy broadcast of two shapes.
///
/// # Panics
/// When they do not broadcast (a bug of the strategy that produced them).
pub fn broadcast(a: &[usize], b: &[usize]) -> Vec<usize> {
    let rank = a.len().max(b.len());
    let axis = |s: &[usize], i: usize| if i + s.len() < rank { 1 } else { s[i + s.len() - rank] };
    (0..rank)
        .map(|i| match (axis(a, i), axis(b, i)) {
            (x, y) if x == y || y == 1 => x,
            (1, y) => y,
            (x, y) => panic!("shapes {a:?} and {b:?} do not broadcast (axis {i}: {x} vs {y})"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    #[test]
    fn broadcast_follows_numpy() {
        assert_eq!(broadcast(&[3, 1], &[4]), vec![3, 4]);
        assert_eq!(broadcast(&[], &[2, 3]), vec![2, 3]);
        assert_eq!(broadcast(&[2, 1, 4], &[3, 1]), vec![2, 3, 4]);
    }

    #[test]
    #[should_panic(expected = "do not broadcast")]
    fn incompatible_shapes_are_refused() {
        broadcast(&[2], &[3]);
    }

    #[test]
    fn the_edge_cases_come_up() {
        let mut runner = TestRunner::deterministic();
        let shapes: Vec<(usize, usize)> =
            (0..200).map(|_| matrix_shape().new_tree(&mut runner).unwrap().current()).collect();
        assert!(shapes.contains(&(1, 1)));
        assert!(shapes.iter().any(|&(m, n)| m == 1 && n > 1));
        assert!(shapes.iter().any(|&(m, n)| m > 1 && n == 1));
        let pairs: Vec<_> =
            (0..200).map(|_| broadcast_shapes().new_tree(&mut runner).unwrap().current()).collect();
        assert!(pairs.iter().all(|(a, b)| !broadcast(a, b).is_empty() || (a.is_empty() && b.is_empty())));
        assert!(pairs.iter().any(|(a, b)| a != b && a.len() == b.len()), "stretched axes");
        assert!(pairs.iter().any(|(a, b)| a.len() != b.len()), "dropped leading axes");
    }
}
