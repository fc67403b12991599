//! The lecture's graph of derivatives for `POST .../backward` and `GET .../weight`
//! (docs/SERVE_API.md): one mini-batch's gradients layer by layer, and for one weight its
//! value, ∂L/∂w and the sum over paths that makes the sensitivity of an output to an input.
//!
//! The gradients come from the run's own engine (the replica's `back_prop` in playground
//! mode, backprop-autograd in engine mode); this module only holds them and does the path
//! arithmetic on the local derivatives ∂child/∂parent = σ'(z_child) · w, which neither engine
//! keeps.

use serde::{Deserialize, Serialize};

use crate::error::{ApiError, ApiResult};

/// The most paths a weight's answer lists (the sum covers them all).
pub const MAX_LISTED_PATHS: usize = 64;

/// One Dense layer's part of a backward pass on a mini-batch (L the mean loss over the batch,
/// without the regularisation penalty): ∂L/∂Z summed over the rows, ∂L/∂W = Xᵀ·∂L/∂Z,
/// ∂L/∂b, and the parameters the pass used.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LayerGradients {
    /// ∂L/∂z per neuron, summed over the batch's rows (L being their mean, so this is ∂L/∂b).
    #[serde(rename = "dZ")]
    pub dz: Vec<f64>,
    /// ∂L/∂w, `[in][out]`.
    #[serde(rename = "dW")]
    pub dw: Vec<Vec<f64>>,
    /// ∂L/∂b, `[out]`.
    pub db: Vec<f64>,
    /// The weights, `[in][out]`.
    #[serde(rename = "W")]
    pub w: Vec<Vec<f64>>,
    /// The biases, `[out]`.
    pub b: Vec<f64>,
}

/// The Dense layer's formulas, shown beside the numbers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Formulas {
    /// The weight gradient.
    #[serde(rename = "dW")]
    pub dw: &'static str,
    /// The gradient passed to the layer below.
    #[serde(rename = "dX")]
    pub dx: &'static str,
    /// The bias gradient.
    pub db: &'static str,
}

/// The formulas of `Z = XW + b`.
pub const FORMULAS: Formulas = Formulas { dw: "dW = Xᵀ·dZ", dx: "dX = dZ·Wᵀ", db: "db = Σ_rows dZ" };

/// A backward pass over one mini-batch, layers from the input to the output.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Backward {
    /// The training rows of the batch.
    pub batch: Vec<usize>,
    /// Per Dense layer.
    pub layers: Vec<LayerGradients>,
    /// The formulas.
    pub formulas: Formulas,
    /// Whether the parameters were updated (never: the step button trains; the values shown
    /// are those of the current state).
    pub updated: bool,
}

/// The local derivatives at one example: `weights[l][i][j]` from node i of layer l to node j
/// of layer l + 1 and `slopes[l][j]` = σ'(z) of node j of layer l + 1 (the output layer's
/// activation included, 1 for a linear output).
#[derive(Debug, Clone, PartialEq)]
pub struct Local {
    /// The training row the derivatives are taken at.
    pub example: usize,
    /// The weights.
    pub weights: Vec<Vec<Vec<f64>>>,
    /// σ'(z) of every node after the inputs, per layer.
    pub slopes: Vec<Vec<f64>>,
}

impl Local {
    /// Nodes per layer, inputs first.
    fn sizes(&self) -> Vec<usize> {
        let mut sizes: Vec<usize> = self.weights.iter().map(Vec::len).collect();
        sizes.push(self.slopes.last().map_or(0, Vec::len));
        sizes
    }

    /// ∂child/∂parent of the link from node i of layer l to node j of layer l + 1.
    fn edge(&self, l: usize, i: usize, j: usize) -> f64 {
        self.slopes[l][j] * self.weights[l][i][j]
    }
}

/// The query of `GET .../weight`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeightQuery {
    /// The layer of links: 0 joins the inputs to the first hidden layer.
    pub layer: usize,
    /// The node the link leaves, in layer `layer`.
    pub from: usize,
    /// The node the link enters, in layer `layer + 1`.
    pub to: usize,
    /// The input of the path sum (default 0).
    pub input: Option<usize>,
    /// The output of the path sum (default 0).
    pub output: Option<usize>,
    /// The training row the batch and the local derivatives are taken at (default 0).
    pub example: Option<usize>,
}

/// One path from the input to the output through the weight, with its product.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Path {
    /// `[layer, node]` from the input to the output.
    pub nodes: Vec<[usize; 2]>,
    /// Π ∂child/∂parent along the path.
    pub product: f64,
}

/// The answer of `GET .../weight`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WeightInfo {
    /// The weight's value.
    pub value: f64,
    /// ∂L/∂w on the batch.
    pub grad: f64,
    /// The training row the path sum is taken at.
    pub example: usize,
    /// The first paths (at most [`MAX_LISTED_PATHS`]).
    pub paths: Vec<Path>,
    /// Σ over all paths through the weight of Π ∂child/∂parent: this link's share of
    /// ∂output/∂input at the example.
    pub path_sum: f64,
    /// How many paths there are (saturating).
    pub path_count: u64,
}

/// Checks `value` against `0..len`, naming the field.
fn in_range(field: &str, value: usize, len: usize, what: &str) -> ApiResult<()> {
    if value < len {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!("`{field}` {value}: expected {what} in 0..{len}")))
    }
}

/// The answer for `query` from a batch's gradients and the local derivatives.
///
/// # Errors
/// 400 naming the field when the layer, a node, the input or the output is out of range.
pub fn weight_info(query: &WeightQuery, backward: &Backward, local: &Local) -> ApiResult<WeightInfo> {
    let layers = backward.layers.len();
    in_range("layer", query.layer, layers, "a layer of links")?;
    let sizes = local.sizes();
    let (l, i, j) = (query.layer, query.from, query.to);
    in_range("from", i, sizes[l], &format!("a node of layer {l}"))?;
    in_range("to", j, sizes[l + 1], &format!("a node of layer {}", l + 1))?;
    let k = query.input.unwrap_or(0);
    let o = query.output.unwrap_or(0);
    in_range("input", k, sizes[0], "an input")?;
    in_range("output", o, sizes[layers], "an output")?;
    let layer = &backward.layers[l];
    let (paths, path_count) = list_paths(local, &sizes, (l, i, j), k, o);
    Ok(WeightInfo {
        value: layer.w[i][j],
        grad: layer.dw[i][j],
        example: local.example,
        paths,
        path_sum: path_sum(local, &sizes, (l, i, j), k, o),
        path_count,
    })
}

/// Σ over the paths from input k to output o through link (l, i, j) of their products,
/// without listing them: ∂a(l, i)/∂x_k forward, times the link's ∂child/∂parent, times
/// ∂out_o/∂a(l + 1, j) backward.
fn path_sum(local: &Local, sizes: &[usize], (l, i, j): (usize, usize, usize), k: usize, o: usize) -> f64 {
    let last = sizes.len() - 1;
    // Forward: d[n] = ∂a(m, n)/∂x_k, from m = 0 up to layer l.
    let mut forward: Vec<f64> = (0..sizes[0]).map(|n| if n == k { 1.0 } else { 0.0 }).collect();
    for m in 0..l {
        forward = (0..sizes[m + 1])
            .map(|q| (0..sizes[m]).map(|p| forward[p] * local.edge(m, p, q)).sum())
            .collect();
    }
    // Backward: d[n] = ∂out_o/∂a(m, n), from the output down to layer l + 1.
    let mut backward: Vec<f64> = (0..sizes[last]).map(|n| if n == o { 1.0 } else { 0.0 }).collect();
    for m in (l + 1..last).rev() {
        backward = (0..sizes[m])
            .map(|p| (0..sizes[m + 1]).map(|q| local.edge(m, p, q) * backward[q]).sum())
            .collect();
    }
    forward[i] * local.edge(l, i, j) * backward[j]
}

/// The first [`MAX_LISTED_PATHS`] paths from input k to output o through link (l, i, j) in
/// lexicographic order of their nodes, and how many there are.
fn list_paths(
    local: &Local,
    sizes: &[usize],
    (l, i, j): (usize, usize, usize),
    k: usize,
    o: usize,
) -> (Vec<Path>, u64) {
    let last = sizes.len() - 1;
    // The choices at each layer: fixed at the input, the link's two ends and the output.
    let choices: Vec<Vec<usize>> = (0..=last)
        .map(|m| {
            let fixed = [(0, k), (l, i), (l + 1, j), (last, o)];
            let wanted: Vec<usize> = fixed.iter().filter(|(at, _)| *at == m).map(|&(_, n)| n).collect();
            match wanted.split_first() {
                // Two constraints on one layer that disagree leave no path.
                Some((&n, rest)) if rest.iter().all(|&r| r == n) => vec![n],
                Some(_) => Vec::new(),
                None => (0..sizes[m]).collect(),
            }
        })
        .collect();
    let count = choices.iter().fold(1u64, |c, layer| c.saturating_mul(layer.len() as u64));
    let mut paths = Vec::new();
    let mut at = vec![0usize; choices.len()];
    if count > 0 {
        'odometer: loop {
            let nodes: Vec<[usize; 2]> = at.iter().enumerate().map(|(m, &c)| [m, choices[m][c]]).collect();
            let product =
                nodes.windows(2).map(|pair| local.edge(pair[0][0], pair[0][1], pair[1][1])).product();
            paths.push(Path { nodes, product });
            if paths.len() == MAX_LISTED_PATHS {
                break;
            }
            for m in (0..at.len()).rev() {
                at[m] += 1;
                if at[m] < choices[m].len() {
                    continue 'odometer;
                }
                at[m] = 0;
            }
            break;
        }
    }
    (paths, count)
}

/// The batch of `batch_size` consecutive training rows that holds `example` (the Playground's
/// batches within an epoch), out of `rows`.
///
/// # Errors
/// 400 when `example` is not a training row.
pub fn batch_rows(example: usize, batch_size: usize, rows: usize) -> ApiResult<Vec<usize>> {
    in_range("example", example, rows, "a training row")?;
    let size = batch_size.max(1);
    let start = example / size * size;
    Ok((start..(start + size).min(rows)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 2-3-2 network with arbitrary weights and slopes.
    fn local() -> Local {
        Local {
            example: 0,
            weights: vec![
                vec![vec![0.5, -1.0, 2.0], vec![1.5, 0.25, -0.75]],
                vec![vec![1.0, -2.0], vec![0.5, 0.5], vec![-1.0, 3.0]],
            ],
            slopes: vec![vec![0.9, 0.2, 0.6], vec![1.0, 0.5]],
        }
    }

    fn backward(local: &Local) -> Backward {
        let layers = local
            .weights
            .iter()
            .map(|w| LayerGradients {
                dz: vec![0.0; w[0].len()],
                dw: w.iter().map(|row| row.iter().map(|v| v * 10.0).collect()).collect(),
                db: vec![0.0; w[0].len()],
                w: w.clone(),
                b: vec![0.0; w[0].len()],
            })
            .collect();
        Backward { batch: vec![0], layers, formulas: FORMULAS, updated: false }
    }

    /// ∂out_o/∂x_k of the whole network: the Jacobian product, for checking path sums.
    fn jacobian(local: &Local, k: usize, o: usize) -> f64 {
        let sizes = local.sizes();
        let mut d: Vec<f64> = (0..sizes[0]).map(|n| if n == k { 1.0 } else { 0.0 }).collect();
        for m in 0..sizes.len() - 1 {
            d = (0..sizes[m + 1]).map(|q| (0..sizes[m]).map(|p| d[p] * local.edge(m, p, q)).sum()).collect();
        }
        d[o]
    }

    #[test]
    fn path_sums_through_a_layer_add_up_to_the_jacobian() {
        let local = local();
        let back = backward(&local);
        for (k, o) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
            for layer in 0..2 {
                let (from_len, to_len) = (local.weights[layer].len(), local.weights[layer][0].len());
                let mut total = 0.0;
                for from in 0..from_len {
                    for to in 0..to_len {
                        let q =
                            WeightQuery { layer, from, to, input: Some(k), output: Some(o), example: None };
                        let info = weight_info(&q, &back, &local).unwrap();
                        let listed: f64 = info.paths.iter().map(|p| p.product).sum();
                        assert!((listed - info.path_sum).abs() < 1e-12, "{listed} vs {}", info.path_sum);
                        assert_eq!(info.paths.len() as u64, info.path_count);
                        assert_eq!(info.grad, back.layers[layer].dw[from][to]);
                        total += info.path_sum;
                    }
                }
                // Every path crosses each layer of links exactly once.
                assert!((total - jacobian(&local, k, o)).abs() < 1e-12, "layer {layer}: {total}");
            }
        }
    }

    #[test]
    fn paths_are_listed_with_their_nodes_and_products() {
        let local = local();
        let q = WeightQuery { layer: 0, from: 1, to: 2, input: Some(1), output: Some(1), example: None };
        let info = weight_info(&q, &backward(&local), &local).unwrap();
        assert_eq!(info.path_count, 1);
        assert_eq!(info.paths[0].nodes, vec![[0, 1], [1, 2], [2, 1]]);
        assert_eq!(info.paths[0].product, (0.6 * -0.75) * (0.5 * 3.0));
        // A link that leaves another input than the chosen one is on no path.
        let q = WeightQuery { input: Some(0), ..q };
        let info = weight_info(&q, &backward(&local), &local).unwrap();
        assert_eq!((info.path_count, info.path_sum, info.paths.len()), (0, 0.0, 0));
    }

    #[test]
    fn out_of_range_queries_name_the_field() {
        let local = local();
        let back = backward(&local);
        let q = WeightQuery { layer: 2, from: 0, to: 0, input: None, output: None, example: None };
        assert_eq!(
            weight_info(&q, &back, &local).unwrap_err().message,
            "`layer` 2: expected a layer of links in 0..2"
        );
        let q = WeightQuery { layer: 1, to: 2, ..q };
        assert_eq!(
            weight_info(&q, &back, &local).unwrap_err().message,
            "`to` 2: expected a node of layer 2 in 0..2"
        );
        let q = WeightQuery { layer: 0, to: 0, input: Some(5), ..q };
        assert_eq!(
            weight_info(&q, &back, &local).unwrap_err().message,
            "`input` 5: expected an input in 0..2"
        );
    }

    #[test]
    fn batches_are_consecutive_rows_holding_the_example() {
        assert_eq!(batch_rows(0, 3, 8).unwrap(), vec![0, 1, 2]);
        assert_eq!(batch_rows(7, 3, 8).unwrap(), vec![6, 7]);
        assert!(batch_rows(8, 3, 8).is_err());
    }
}
