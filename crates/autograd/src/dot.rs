//! Graphviz export of a computation graph: the lecture's "graph of derivatives".

use std::collections::HashSet;
use std::fmt::Write as _;

use backprop_tensor::{Float, Tensor};

use crate::error::Result;
use crate::graph::{Graph, Var};
use crate::op::BackwardCtx;

impl<F: Float> Graph<F> {
    /// The part of the graph that `root` depends on, in Graphviz DOT.
    ///
    /// Every value is a node, labelled with its label (see [`Graph::set_label`]) or parameter
    /// name and its op's name (`leaf` or `input` for an unlabelled value recorded without an op),
    /// its shape, and its value when it has a single element. Edges go from each input to the value
    /// computed from it; an input used twice by one op has two edges.
    ///
    /// When both ends of an edge hold a single element, the edge is labelled with the local
    /// derivative `∂(child)/∂(parent)`, obtained by calling the op's backward with a
    /// `dL/d(child)` of 1. This is the graph of derivatives of backpropagation: the gradient of
    /// the root with respect to any value is the sum, over all paths from that value to the
    /// root, of the product of the edge labels along the path.
    ///
    /// Values computed in no-grad mode, or from inputs that require no gradient, are recorded
    /// without their op (nothing will be backpropagated through them) and so appear as leaves.
    ///
    /// ```
    /// use backprop_autograd::Graph;
    /// use backprop_tensor::Tensor;
    ///
    /// let mut g = Graph::<f64>::new();
    /// let a = g.leaf(Tensor::scalar(2.0));
    /// let b = g.leaf(Tensor::scalar(-3.0));
    /// g.set_label(a, "a").unwrap();
    /// g.set_label(b, "b").unwrap();
    /// let ab = g.mul(a, b).unwrap();
    /// let e = g.add(ab, a).unwrap();
    /// let dot = g.to_dot(e).unwrap();
    /// assert!(dot.starts_with("digraph backprop {"));
    /// assert!(dot.contains("n0 -> n2 [label=\"-3\"]"), "∂(a·b)/∂a = b:\n{dot}");
    /// assert!(dot.contains("n2 -> n3 [label=\"1\"]"));
    /// // Write it to a file and render it with Graphviz:
    /// //     std::fs::write("graph.dot", dot)?;
    /// //     $ dot -Tpng graph.dot -o graph.png
    /// ```
    ///
    /// # Errors
    /// When `root` is not a live value of this graph.
    pub fn to_dot(&self, root: Var) -> Result<String> {
        self.check("to_dot", root)?;
        let reachable = self.reachable_from(root);
        let mut out = String::from("digraph backprop {\n  rankdir=LR;\n  node [fontname=\"Helvetica\"];\n");
        out.push_str("  edge [fontname=\"Helvetica\", fontsize=10];\n");
        for &v in &reachable {
            let value = self.value_unchecked(v);
            let name = match (self.label(v), self.recorded_op(v)) {
                (Some(label), Some((op, _))) => format!("{label}: {}", op.name()),
                (Some(label), None) => label.to_string(),
                (None, Some((op, _))) => op.name().to_string(),
                (None, None) if self.requires_grad_unchecked(v) => "leaf".to_string(),
                (None, None) => "input".to_string(),
            };
            let mut text = format!("{}\\n{:?}", escape(&name), value.shape());
            if value.len() == 1 {
                let _ = write!(text, "\\n= {}", format_number(value.as_slice()[0].to_f64()));
            }
            let shape = if self.recorded_op(v).is_some() { "box" } else { "ellipse" };
            let style = if v == root { ", style=bold" } else { "" };
            let _ = writeln!(out, "  {} [shape={shape}{style}, label=\"{text}\"];", node_id(v));
        }
        for &v in &reachable {
            let Some((_, inputs)) = self.recorded_op(v) else { continue };
            let derivatives = self.local_derivatives(v);
            for k in 0..inputs.len() {
                let input = inputs.get(k);
                let label = match derivatives.as_ref().and_then(|d| d[k]) {
                    Some(d) => format!(" [label=\"{}\"]", format_number(d)),
                    None => String::new(),
                };
                let _ = writeln!(out, "  {} -> {}{label};", node_id(input), node_id(v));
            }
        }
        out.push_str("}\n");
        Ok(out)
    }

    /// Every value `root` depends on, and `root`; parameters first, then nodes in recording order.
    fn reachable_from(&self, root: Var) -> Vec<Var> {
        let mut seen = HashSet::new();
        let mut stack = vec![root];
        while let Some(v) = stack.pop() {
            if !seen.insert(v) {
                continue;
            }
            if let Some((_, inputs)) = self.recorded_op(v) {
                stack.extend((0..inputs.len()).map(|k| inputs.get(k)));
            }
        }
        let mut reachable: Vec<Var> = seen.into_iter().collect();
        reachable.sort_by_key(|v| (!v.is_param(), v.index()));
        reachable
    }

    /// `∂v/∂(input k)` for each input position where both are single elements, from the op's
    /// backward with `dL/dv = 1`; `None` when `v` is not a single element or backward fails.
    fn local_derivatives(&self, v: Var) -> Option<Vec<Option<f64>>> {
        let (op, inputs) = self.recorded_op(v)?;
        let output = self.value_unchecked(v);
        if output.len() != 1 {
            return None;
        }
        let values: Vec<&Tensor<F>> =
            (0..inputs.len()).map(|k| self.value_unchecked(inputs.get(k))).collect();
        let needs = vec![true; values.len()];
        let grad_output = Tensor::ones(output.shape());
        let ctx =
            BackwardCtx { inputs: &values, output, grad_output: &grad_output, needs_input_grad: &needs };
        let gradients = op.backward(&ctx).ok()?;
        Some(
            (0..values.len())
                .map(|k| match gradients.get(k) {
                    Some(Some(d)) if d.len() == 1 && values[k].len() == 1 => Some(d.as_slice()[0].to_f64()),
                    _ => None,
                })
                .collect(),
        )
    }
}

fn node_id(v: Var) -> String {
    if v.is_param() { format!("p{}", v.index()) } else { format!("n{}", v.index()) }
}

/// A number as a person would write it: `2`, `-0.4199`, `1.234e-7`.
fn format_number(x: f64) -> String {
    if x == x.trunc() && x.abs() < 1e9 {
        format!("{x}")
    } else if (1e-3..1e6).contains(&x.abs()) {
        let fixed = format!("{x:.4}");
        fixed.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        format!("{x:.3e}")
    }
}

/// Escapes a label for a double-quoted DOT string.
fn escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use backprop_tensor::Tensor;

    use super::*;

    #[test]
    fn scalar_graph_edges_carry_local_derivatives() {
        let mut g = Graph::<f64>::new();
        let w = g.param("w", Tensor::scalar(0.5));
        let x = g.input(Tensor::scalar(2.0));
        let wx = g.mul(w, x).unwrap();
        let t = g.tanh(wx).unwrap();
        let sq = g.mul(t, t).unwrap();
        g.set_label(sq, "loss \"sq\"").unwrap();
        let dot = g.to_dot(sq).unwrap();
        let tanh1 = 1f64.tanh();
        let expected = format!(
            "digraph backprop {{\n  rankdir=LR;\n  node [fontname=\"Helvetica\"];\n  edge [fontname=\"Helvetica\", fontsize=10];\n\
             \x20 p0 [shape=ellipse, label=\"w\\n[]\\n= 0.5\"];\n\
             \x20 n0 [shape=ellipse, label=\"input\\n[]\\n= 2\"];\n\
             \x20 n1 [shape=box, label=\"mul\\n[]\\n= 1\"];\n\
             \x20 n2 [shape=box, label=\"tanh\\n[]\\n= {t}\"];\n\
             \x20 n3 [shape=box, style=bold, label=\"loss \\\"sq\\\": mul\\n[]\\n= {sq}\"];\n\
             \x20 p0 -> n1 [label=\"2\"];\n\
             \x20 n0 -> n1 [label=\"0.5\"];\n\
             \x20 n1 -> n2 [label=\"{dt}\"];\n\
             \x20 n2 -> n3 [label=\"{t}\"];\n\
             \x20 n2 -> n3 [label=\"{t}\"];\n}}\n",
            t = format_number(tanh1),
            sq = format_number(tanh1 * tanh1),
            dt = format_number(1.0 - tanh1 * tanh1),
        );
        assert_eq!(dot, expected);
    }

    #[test]
    fn only_what_the_root_depends_on_and_no_labels_on_tensor_edges() {
        let mut g = Graph::<f64>::new();
        let x = g.leaf(Tensor::ones(&[2, 2]));
        let unused = g.leaf(Tensor::ones(&[3]));
        let e = g.exp(x).unwrap();
        let s = g.sum(e).unwrap();
        let dot = g.to_dot(s).unwrap();
        assert!(!dot.contains(&node_id(unused)), "{dot}");
        assert!(dot.contains("n0 -> n2;\n") && dot.contains("n2 -> n3;\n"), "{dot}");
        assert!(dot.contains("label=\"leaf\\n[2, 2]\"]"), "{dot}");
        g.clear();
        assert!(g.to_dot(s).is_err(), "stale root");
    }

    #[test]
    fn numbers_are_short() {
        assert_eq!(format_number(2.0), "2");
        assert_eq!(format_number(-0.41997434161402614), "-0.42");
        assert_eq!(format_number(0.7615941559557649), "0.7616");
        assert_eq!(format_number(1.5e-7), "1.500e-7");
        assert_eq!(format_number(f64::NAN), "NaN");
    }
}
