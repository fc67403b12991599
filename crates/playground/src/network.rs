//! The Playground's network (`nn.ts`): nodes joined by links, trained one example at a
//! time with accumulated derivatives, exactly in `nn.ts`'s order of operations.

use std::ops::Range;

use crate::activation::{Activation, Regularization, square_error_der};
use crate::error::PlaygroundError;
use crate::seedrandom::Arc4Random;

/// A node (`nn.Node`): its bias, the state of the last forward and backward pass, and the
/// derivatives accumulated since the last update.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// The page's id: the feature name for inputs, `"1"`, `"2"`, ... across the other layers.
    pub id: String,
    /// Bias b; total input = b + Σ w · source output.
    pub bias: f64,
    /// Total input of the last forward pass.
    pub total_input: f64,
    /// Output of the last forward pass, activation(total input).
    pub output: f64,
    /// ∂E/∂output of the last backward pass.
    pub output_der: f64,
    /// ∂E/∂(total input) of the last backward pass: output_der · activation'(total input).
    pub input_der: f64,
    /// Sum of `input_der` since the last update (= ∂E/∂b summed over the batch).
    pub acc_input_der: f64,
    /// Number of derivatives summed in `acc_input_der`.
    pub num_accumulated_ders: usize,
    /// The node's activation function.
    pub activation: Activation,
    input_links: Range<usize>,
    output_links: Vec<usize>,
}

/// A weighted link between two nodes (`nn.Link`).
#[derive(Debug, Clone, PartialEq)]
pub struct Link {
    /// The page's id, `"<source id>-<dest id>"`.
    pub id: String,
    /// Index of the source node in [`Network::nodes`].
    pub source: usize,
    /// Index of the destination node in [`Network::nodes`].
    pub dest: usize,
    /// The weight w.
    pub weight: f64,
    /// Set when an L1 step pushed the weight across zero: the weight stays 0 and the link
    /// is skipped by backpropagation and updates from then on.
    pub is_dead: bool,
    /// ∂E/∂w of the last backward pass: dest input_der · source output.
    pub error_der: f64,
    /// Sum of `error_der` since the last update.
    pub acc_error_der: f64,
    /// Number of derivatives summed in `acc_error_der`.
    pub num_accumulated_ders: usize,
}

/// A layered, fully connected network with one output node.
#[derive(Debug, Clone, PartialEq)]
pub struct Network {
    nodes: Vec<Node>,
    links: Vec<Link>,
    layers: Vec<Range<usize>>,
    regularization: Regularization,
}

impl Network {
    /// The most weights and biases a network may have, [`parameter_count`](Self::parameter_count)
    /// of its shape. The page's controls stop at 6 hidden layers of 8 neurons (a few hundred
    /// parameters) but its URL takes any size; each parameter costs over 100 bytes here (a
    /// link with its id string), so this keeps a network to a few hundred megabytes instead of
    /// letting `networkShape=100000,100000` ask for a terabyte.
    pub const MAX_PARAMETERS: usize = 1_000_000;

    /// Weights and biases of a fully connected network of layer sizes `shape` (inputs first):
    /// Σᵢ₌₁ shape\[i\] · (shape\[i − 1\] + 1), saturating at `usize::MAX`.
    pub fn parameter_count(shape: &[usize]) -> usize {
        shape.windows(2).fold(0usize, |total, pair| {
            total.saturating_add(pair[1].saturating_mul(pair[0].saturating_add(1)))
        })
    }

    /// `nn.buildNetwork`: layers of `shape[i]` nodes (`shape[0]` inputs named by
    /// `input_ids`), each node linked from every node of the previous layer. Every link draws
    /// its weight `random() - 0.5` from `rng` as it is created, layer by layer, node by node,
    /// source by source (also under `init_zero`, which then sets it to 0). Biases start at
    /// 0.1 (0 under `init_zero`). Hidden nodes use `activation`, the last layer
    /// `output_activation`.
    pub fn build(
        shape: &[usize],
        activation: Activation,
        output_activation: Activation,
        regularization: Regularization,
        input_ids: &[&str],
        init_zero: bool,
        rng: &mut Arc4Random,
    ) -> Result<Self, PlaygroundError> {
        let shape_error = |reason: String| PlaygroundError::Shape { shape: shape.to_vec(), reason };
        if shape.len() < 2 {
            return Err(shape_error("a network needs an input and an output layer".into()));
        }
        if shape[1..].contains(&0) {
            return Err(shape_error("every layer after the inputs needs at least one node".into()));
        }
        if input_ids.len() != shape[0] {
            return Err(shape_error(format!("{} input ids for {} input nodes", input_ids.len(), shape[0])));
        }
        let parameters = Self::parameter_count(shape);
        if parameters > Self::MAX_PARAMETERS {
            return Err(shape_error(format!(
                "{parameters} weights and biases, more than the {} a network may have",
                Self::MAX_PARAMETERS
            )));
        }
        let bias = if init_zero { 0.0 } else { 0.1 };
        let new_node = |id: String, activation: Activation, input_links: Range<usize>| Node {
            id,
            bias,
            total_input: 0.0,
            output: 0.0,
            output_der: 0.0,
            input_der: 0.0,
            acc_input_der: 0.0,
            num_accumulated_ders: 0,
            activation,
            input_links,
            output_links: Vec::new(),
        };
        let mut nodes: Vec<Node> = Vec::with_capacity(shape.iter().sum());
        let mut links: Vec<Link> = Vec::new();
        let mut layers: Vec<Range<usize>> = Vec::with_capacity(shape.len());
        // Input nodes are named by their feature and, like hidden nodes, carry the hidden
        // activation and a bias that no computation reads.
        nodes.extend(input_ids.iter().map(|name| new_node(name.to_string(), activation, 0..0)));
        layers.push(0..nodes.len());
        let mut next_id = 1;
        for (layer_idx, &num_nodes) in shape.iter().enumerate().skip(1) {
            let node_activation = if layer_idx == shape.len() - 1 { output_activation } else { activation };
            let start = nodes.len();
            for _ in 0..num_nodes {
                let id = next_id.to_string();
                next_id += 1;
                let dest = nodes.len();
                let first_link = links.len();
                for source in layers[layer_idx - 1].clone() {
                    // `weight = Math.random() - 0.5` runs before the initZero override.
                    let random_weight = rng.next_f64() - 0.5;
                    links.push(Link {
                        id: format!("{}-{}", nodes[source].id, id),
                        source,
                        dest,
                        weight: if init_zero { 0.0 } else { random_weight },
                        is_dead: false,
                        error_der: 0.0,
                        acc_error_der: 0.0,
                        num_accumulated_ders: 0,
                    });
                    nodes[source].output_links.push(links.len() - 1);
                }
                nodes.push(new_node(id, node_activation, first_link..links.len()));
            }
            layers.push(start..nodes.len());
        }
        Ok(Network { nodes, links, layers, regularization })
    }

    /// All nodes, layer by layer, in creation order.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// All links in creation order (= the order of the weight draws).
    pub fn links(&self) -> &[Link] {
        &self.links
    }

    /// Number of layers, the input layer included.
    pub fn num_layers(&self) -> usize {
        self.layers.len()
    }

    /// The nodes of layer `index` (0 = inputs).
    pub fn layer(&self, index: usize) -> &[Node] {
        &self.nodes[self.layers[index].clone()]
    }

    /// Number of nodes per layer, inputs first.
    pub fn layer_sizes(&self) -> Vec<usize> {
        self.layers.iter().map(|r| r.len()).collect()
    }

    /// The links into `node` (an index into [`nodes`](Self::nodes)), in source order.
    pub fn input_links(&self, node: usize) -> &[Link] {
        &self.links[self.nodes[node].input_links.clone()]
    }

    /// Indices (into [`links`](Self::links)) of the links out of `node`, in destination order.
    pub fn output_links(&self, node: usize) -> &[usize] {
        &self.nodes[node].output_links
    }

    /// The output node.
    pub fn output_node(&self) -> &Node {
        &self.nodes[self.layers[self.layers.len() - 1].start]
    }

    /// The weight penalty the links use.
    pub fn regularization(&self) -> Regularization {
        self.regularization
    }

    /// Number of links killed by L1 regularisation.
    pub fn num_dead_links(&self) -> usize {
        self.links.iter().filter(|l| l.is_dead).count()
    }

    fn check_inputs(&self, inputs: &[f64]) -> Result<(), PlaygroundError> {
        let expected = self.layers[0].len();
        if inputs.len() == expected {
            Ok(())
        } else {
            Err(PlaygroundError::InputCount { expected, got: inputs.len() })
        }
    }

    /// `nn.forwardProp`: sets the inputs' outputs, then every later node's total input
    /// b + Σ w · source output (summed in link order) and output; returns the output node's.
    pub fn forward_prop(&mut self, inputs: &[f64]) -> Result<f64, PlaygroundError> {
        self.check_inputs(inputs)?;
        Ok(self.forward(inputs))
    }

    pub(crate) fn forward(&mut self, inputs: &[f64]) -> f64 {
        for (node, &value) in self.nodes[self.layers[0].clone()].iter_mut().zip(inputs) {
            node.output = value;
        }
        for n in self.layers[0].end..self.nodes.len() {
            let node = &self.nodes[n];
            let mut total = node.bias;
            for link in &self.links[node.input_links.clone()] {
                total += link.weight * self.nodes[link.source].output;
            }
            let node = &mut self.nodes[n];
            node.total_input = total;
            node.output = node.activation.output(total);
        }
        self.output_node().output
    }

    /// The output for `inputs` without touching the network's state; the same bits as
    /// [`forward_prop`](Self::forward_prop).
    pub fn predict(&self, inputs: &[f64]) -> Result<f64, PlaygroundError> {
        self.check_inputs(inputs)?;
        Ok(self.predict_with(inputs, &mut Vec::new()))
    }

    /// [`predict`](Self::predict) with a caller-kept buffer of node outputs, for loops;
    /// afterwards `outputs` holds every node's output in [`nodes`](Self::nodes) order (the
    /// per-neuron heat maps read them). `inputs` must have one value per input node.
    pub fn predict_with(&self, inputs: &[f64], outputs: &mut Vec<f64>) -> f64 {
        outputs.clear();
        outputs.extend_from_slice(inputs);
        for node in &self.nodes[self.layers[0].end..] {
            let mut total = node.bias;
            for link in &self.links[node.input_links.clone()] {
                total += link.weight * outputs[link.source];
            }
            outputs.push(node.activation.output(total));
        }
        outputs[self.layers[self.layers.len() - 1].start]
    }

    /// `nn.backProp` with the squared error: from the output (∂E/∂output = output −
    /// target) back to layer 1, each node's input_der = output_der · activation'(total
    /// input) and each live link's error_der = dest input_der · source output are added to
    /// the accumulators; a hidden node's output_der is Σ w · dest input_der over its
    /// outgoing links (dead ones included, their weight being 0). Uses the state of the
    /// last forward pass.
    pub fn back_prop(&mut self, target: f64) {
        let out = self.layers[self.layers.len() - 1].start;
        self.nodes[out].output_der = square_error_der(self.nodes[out].output, target);
        for layer_idx in (1..self.layers.len()).rev() {
            let layer = self.layers[layer_idx].clone();
            for node in &mut self.nodes[layer.clone()] {
                node.input_der =
                    node.output_der * node.activation.der_given_output(node.total_input, node.output);
                node.acc_input_der += node.input_der;
                node.num_accumulated_ders += 1;
            }
            for n in layer {
                let input_der = self.nodes[n].input_der;
                for l in self.nodes[n].input_links.clone() {
                    let source_output = self.nodes[self.links[l].source].output;
                    let link = &mut self.links[l];
                    if link.is_dead {
                        continue;
                    }
                    link.error_der = input_der * source_output;
                    link.acc_error_der += link.error_der;
                    link.num_accumulated_ders += 1;
                }
            }
            if layer_idx == 1 {
                continue;
            }
            for n in self.layers[layer_idx - 1].clone() {
                let mut output_der = 0.0;
                for &l in &self.nodes[n].output_links {
                    let link = &self.links[l];
                    output_der += link.weight * self.nodes[link.dest].input_der;
                }
                self.nodes[n].output_der = output_der;
            }
        }
    }

    /// Forgets the derivatives accumulated since the last update (the part of a batch that
    /// an epoch's end left over), so that a copy of the network can accumulate one batch of
    /// its own.
    pub fn clear_accumulated(&mut self) {
        for node in &mut self.nodes {
            node.acc_input_der = 0.0;
            node.num_accumulated_ders = 0;
        }
        for link in &mut self.links {
            link.acc_error_der = 0.0;
            link.num_accumulated_ders = 0;
        }
    }

    /// `nn.updateWeights`: for every node after the inputs with accumulated derivatives,
    /// b -= lr · acc / count; for every live link with accumulated derivatives,
    /// w -= (lr / count) · acc, then w' = w − lr · reg_rate · penalty'(w before the step).
    /// Under L1 a step that makes w · w' < 0 sets w = 0 and kills the link; otherwise
    /// w = w'. Accumulators are reset.
    pub fn update_weights(&mut self, learning_rate: f64, regularization_rate: f64) {
        let regularization = self.regularization;
        for node in &mut self.nodes[self.layers[0].end..] {
            if node.num_accumulated_ders > 0 {
                node.bias -= learning_rate * node.acc_input_der / node.num_accumulated_ders as f64;
                node.acc_input_der = 0.0;
                node.num_accumulated_ders = 0;
            }
            for link in &mut self.links[node.input_links.clone()] {
                if link.is_dead {
                    continue;
                }
                let regul_der = regularization.der(link.weight);
                if link.num_accumulated_ders > 0 {
                    link.weight -= (learning_rate / link.num_accumulated_ders as f64) * link.acc_error_der;
                    let new_weight = link.weight - (learning_rate * regularization_rate) * regul_der;
                    if regularization == Regularization::L1 && link.weight * new_weight < 0.0 {
                        link.weight = 0.0;
                        link.is_dead = true;
                    } else {
                        link.weight = new_weight;
                    }
                    link.acc_error_der = 0.0;
                    link.num_accumulated_ders = 0;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::activation::square_error;

    fn small(regularization: Regularization) -> Network {
        let mut rng = Arc4Random::new("net");
        Network::build(
            &[2, 3, 1],
            Activation::Tanh,
            Activation::Tanh,
            regularization,
            &["x", "y"],
            false,
            &mut rng,
        )
        .unwrap()
    }

    #[test]
    fn build_numbers_nodes_and_draws_weights_in_link_order() {
        let net = small(Regularization::None);
        let ids: Vec<_> = net.nodes().iter().map(|n| n.id.as_str()).collect();
        assert_eq!(ids, ["x", "y", "1", "2", "3", "4"]);
        let link_ids: Vec<_> = net.links().iter().map(|l| l.id.as_str()).collect();
        assert_eq!(link_ids, ["x-1", "y-1", "x-2", "y-2", "x-3", "y-3", "1-4", "2-4", "3-4"]);
        let mut rng = Arc4Random::new("net");
        for link in net.links() {
            assert_eq!(link.weight, rng.next_f64() - 0.5);
        }
        assert!(net.nodes().iter().all(|n| n.bias == 0.1));
        assert_eq!(net.output_links(0), [0, 2, 4]);
        assert_eq!(net.input_links(5).len(), 3);
        assert_eq!(net.layer_sizes(), [2, 3, 1]);
    }

    #[test]
    fn build_rejects_bad_shapes() {
        let mut rng = Arc4Random::new("x");
        let build = |shape: &[usize], ids: &[&str], rng: &mut Arc4Random| {
            Network::build(shape, Activation::Tanh, Activation::Tanh, Regularization::None, ids, false, rng)
        };
        assert!(build(&[2], &["x", "y"], &mut rng).is_err());
        assert!(build(&[2, 0, 1], &["x", "y"], &mut rng).is_err());
        let err = build(&[2, 1], &["x"], &mut rng).unwrap_err();
        assert_eq!(err.to_string(), "network shape [2, 1]: 1 input ids for 2 input nodes");
    }

    #[test]
    fn forward_and_predict_agree_and_check_the_input_count() {
        let mut net = small(Regularization::None);
        let a = net.forward_prop(&[0.3, -1.2]).unwrap();
        assert_eq!(net.predict(&[0.3, -1.2]).unwrap(), a);
        assert_eq!(net.output_node().output, a);
        assert_eq!(
            net.forward_prop(&[1.0]).unwrap_err(),
            PlaygroundError::InputCount { expected: 2, got: 1 }
        );
    }

    #[test]
    fn backprop_gradients_match_finite_differences() {
        let mut net = small(Regularization::None);
        let (inputs, target) = ([0.7, -0.4], 1.0);
        net.forward_prop(&inputs).unwrap();
        net.back_prop(target);
        // The central difference of the loss when `nudge` moves one parameter by ±h.
        let numeric = |nudge: &dyn Fn(&mut Network, f64)| {
            let h = 1e-6;
            let mut plus = net.clone();
            nudge(&mut plus, h);
            let mut minus = net.clone();
            nudge(&mut minus, -h);
            (square_error(plus.predict(&inputs).unwrap(), target)
                - square_error(minus.predict(&inputs).unwrap(), target))
                / (2.0 * h)
        };
        for l in 0..net.links().len() {
            let analytic = net.links()[l].error_der;
            let numeric = numeric(&|n, h| n.links[l].weight += h);
            assert!((analytic - numeric).abs() < 1e-8, "link {l}: {analytic} vs {numeric}");
        }
        for n in 2..net.nodes().len() {
            let analytic = net.nodes()[n].input_der;
            let numeric = numeric(&|net, h| net.nodes[n].bias += h);
            assert!((analytic - numeric).abs() < 1e-8, "bias {n}: {analytic} vs {numeric}");
        }
    }

    #[test]
    fn update_averages_the_batch_and_resets_accumulators() {
        let mut net = small(Regularization::None);
        let before = net.clone();
        for (inputs, target) in [([0.5, 0.5], 1.0), ([-1.0, 0.2], -1.0)] {
            net.forward_prop(&inputs).unwrap();
            net.back_prop(target);
        }
        let acc = net.links()[0].acc_error_der;
        let bias_acc = net.nodes()[2].acc_input_der;
        net.update_weights(0.1, 0.0);
        assert_eq!(net.links()[0].weight, before.links()[0].weight - (0.1 / 2.0) * acc);
        assert_eq!(net.nodes()[2].bias, 0.1 - 0.1 * bias_acc / 2.0);
        assert!(net.links().iter().all(|l| l.num_accumulated_ders == 0 && l.acc_error_der == 0.0));
        assert!(net.nodes().iter().all(|n| n.num_accumulated_ders == 0));
    }

    #[test]
    fn l2_shrinks_and_l1_kills_links_that_cross_zero() {
        let mut net = small(Regularization::L2);
        net.forward_prop(&[0.0, 0.0]).unwrap();
        net.back_prop(net.output_node().output); // zero error: only the penalty acts
        let w = net.links()[6].weight;
        net.update_weights(0.1, 0.5);
        assert_eq!(net.links()[6].weight, w - 0.05 * w);

        let mut net = small(Regularization::L1);
        net.forward_prop(&[0.0, 0.0]).unwrap();
        net.back_prop(net.output_node().output);
        // A penalty step larger than every weight pushes each across zero.
        net.update_weights(1.0, 10.0);
        assert_eq!(net.num_dead_links(), 9);
        assert!(net.links().iter().all(|l| l.weight == 0.0));
        // Dead links take no part in later passes.
        net.forward_prop(&[1.0, 1.0]).unwrap();
        net.back_prop(-1.0);
        assert!(net.links().iter().all(|l| l.num_accumulated_ders == 0));
        net.update_weights(1.0, 10.0);
        assert!(net.links().iter().all(|l| l.weight == 0.0));
    }
}
