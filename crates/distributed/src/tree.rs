//! How a batch is split over ranks, and the fixed order of the deterministic sum.

use std::ops::Range;

/// The `part`-th of `parts` consecutive, balanced pieces of `0..n` (sizes differ by at most 1):
/// the rows (or micro-batches) of one rank.
pub fn split(n: usize, parts: usize, part: usize) -> Range<usize> {
    (part * n / parts)..((part + 1) * n / parts)
}

/// Sums the `count` blocks of `len` values of `blocks` (block `j` at `offset(j)`) into block 0,
/// pairwise: block `j` gets `j + 1`, `j + 2` gets `j + 3`, ..., then `j` gets `j + 2`, and so
/// on. The order depends only on `count`, never on who computed which block, which is what makes
/// the deterministic mode's gradients independent of the number of ranks; a tree also keeps
/// the rounding error at O(log count) instead of a running sum's O(count).
pub fn pairwise_sum<F: std::ops::AddAssign + Copy>(
    blocks: &mut [F],
    count: usize,
    len: usize,
    offset: impl Fn(usize) -> usize,
) {
    let mut stride = 1;
    while stride < count {
        for j in (0..count).step_by(2 * stride) {
            if j + stride < count {
                let (to, from) = (offset(j), offset(j + stride));
                for i in 0..len {
                    let v = blocks[from + i];
                    blocks[to + i] += v;
                }
            }
        }
        stride *= 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_cover_every_index_once_in_order() {
        for n in 0..20 {
            for parts in 1..6 {
                let pieces: Vec<_> = (0..parts).map(|p| split(n, parts, p)).collect();
                assert_eq!(pieces[0].start, 0);
                assert_eq!(pieces[parts - 1].end, n);
                for w in pieces.windows(2) {
                    assert_eq!(w[0].end, w[1].start);
                }
                let (min, max) =
                    pieces.iter().fold((usize::MAX, 0), |(a, b), r| (a.min(r.len()), b.max(r.len())));
                assert!(max - min <= 1, "{n} over {parts}: {pieces:?}");
            }
        }
    }

    #[test]
    fn the_pairwise_order_is_a_tree_over_the_block_index() {
        // Values whose f32 sum depends on the order: the tree gives ((a+b)+(c+d))+e.
        let values = [1.0e8_f32, 1.0, -1.0e8, 1.0, 0.5];
        let mut blocks = values.to_vec();
        pairwise_sum(&mut blocks, 5, 1, |j| j);
        let expected = ((values[0] + values[1]) + (values[2] + values[3])) + values[4];
        assert_eq!(blocks[0].to_bits(), expected.to_bits());
        assert_ne!(expected, values.iter().sum::<f32>(), "the example must tell the orders apart");
        // Blocks stored anywhere (here reversed, two values each) give the same bits.
        let mut scattered = vec![0.0_f32; 10];
        for (j, v) in values.iter().enumerate() {
            scattered[2 * (4 - j)] = *v;
            scattered[2 * (4 - j) + 1] = 2.0 * v;
        }
        pairwise_sum(&mut scattered, 5, 2, |j| 2 * (4 - j));
        assert_eq!(scattered[8].to_bits(), expected.to_bits());
    }
}
