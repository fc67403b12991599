//! A session's training run behind one interface, so the worker's loop (play, step,
//! throttled frames) is written once for both modes: [`PlaygroundRun`] wraps the replica.

use backprop_playground::{Example, Network, Playground, PlaygroundConfig, construct_input};

use crate::derivatives::{Backward, FORMULAS, LayerGradients, Local, batch_rows};
use crate::error::{ApiError, ApiResult};
use crate::frame::{Frame, Grid, HEATMAP_SIZE, NEURON_MAP_SIZE, Points, node_grids, unix_ms};

/// A training state that can be drawn: what a frame is built from, also in the middle of
/// a `train` call (engine mode draws from the Trainer's snapshot).
pub trait View {
    /// Epochs trained so far.
    fn epoch(&self) -> u64;
    /// The current (train, test) losses.
    fn losses(&self) -> (f64, f64);
    /// The frame of the current state; `points` when the data changed since the last one.
    fn frame(&self, points: bool, epochs_per_second: f64) -> Frame;
    /// An owned copy of the state to draw on another thread while training goes on, when
    /// copying is cheap next to drawing (playground mode: the replica is a few hundred weights
    /// and points, its heat maps thousands of forward passes); `None` draws on the training
    /// thread.
    fn snapshot(&self) -> Option<Box<dyn View + Send>> {
        None
    }
}

/// What the worker needs of a run.
pub trait Run: View + Send {
    /// Weights and biases of the network.
    fn parameters(&self) -> usize;
    /// Output classes (1 for regression and ±1 labels).
    fn classes(&self) -> usize;
    /// Trains up to `epochs` more epochs, calling `after_epoch` after each; stops when it
    /// returns false.
    ///
    /// # Errors
    /// Divergence, naming the epoch (the run keeps its state).
    fn train(&mut self, epochs: u64, after_epoch: &mut dyn FnMut(&dyn View) -> bool) -> Result<(), String>;
    /// The data as CSV: `x,y,label,split`.
    fn data_csv(&self) -> String;
    /// The model as a backprop-nn model file (safetensors).
    ///
    /// # Errors
    /// When the model cannot be saved (a diverged weight).
    fn model_file(&self) -> ApiResult<Vec<u8>>;
    /// The gradients of the mini-batch of consecutive training rows holding row `example`
    /// (L the mean loss over the batch, without the regularisation penalty) and the local
    /// derivatives at `example`, from the run's own engine; the parameters are not updated.
    ///
    /// # Errors
    /// 400 when `example` is not a training row.
    fn derivatives(&mut self, example: usize) -> ApiResult<(Backward, Local)>;
}

/// Playground mode: the replica itself, so every loss is the page's.
pub struct PlaygroundRun {
    run: Playground,
}

impl PlaygroundRun {
    /// Starts the replica on `config` (its seed set, so the run can be repeated).
    ///
    /// # Errors
    /// 400 with the replica's message when it refuses the settings.
    pub fn new(config: &PlaygroundConfig) -> ApiResult<Self> {
        Ok(PlaygroundRun { run: Playground::new(config).map_err(|e| ApiError::bad_request(e.to_string()))? })
    }

    /// The replica.
    pub fn playground(&self) -> &Playground {
        &self.run
    }
}

impl View for PlaygroundRun {
    fn epoch(&self) -> u64 {
        self.run.epoch() as u64
    }

    fn losses(&self) -> (f64, f64) {
        (self.run.train_loss(), self.run.test_loss())
    }

    fn snapshot(&self) -> Option<Box<dyn View + Send>> {
        Some(Box::new(PlaygroundRun { run: self.run.clone() }))
    }

    fn frame(&self, points: bool, epochs_per_second: f64) -> Frame {
        let network = self.run.network();
        let heatmap = self.run.heatmap(HEATMAP_SIZE).concat();
        let features = self.run.features();
        let nodes = network.nodes().len();
        let mut input = Vec::with_capacity(features.len());
        let flat = node_grids(NEURON_MAP_SIZE, nodes, |x, y, values| {
            construct_input(features, x, y, &mut input);
            network.predict_with(&input, values);
        });
        let mut flat = flat.into_iter();
        let neurons: Vec<Vec<Grid>> =
            network.layer_sizes().iter().map(|&n| flat.by_ref().take(n).collect()).collect();
        let (weights, biases) = layer_parameters(network);
        let (train_loss, test_loss) = self.losses();
        let as_points = |set: &[Example]| set.iter().map(|p| [p.x, p.y, p.label]).collect();
        Frame {
            epoch: self.epoch(),
            train_loss,
            test_loss,
            epochs_per_second,
            step_time_ms: unix_ms(),
            heatmap: Some(Grid {
                size: HEATMAP_SIZE,
                domain: backprop_playground::heatmap::DOMAIN,
                values: heatmap,
            }),
            neurons,
            weights,
            biases,
            points: points.then(|| Points {
                train: as_points(self.run.train_points()),
                test: as_points(self.run.test_points()),
            }),
            classes: self.classes(),
        }
    }
}

impl Run for PlaygroundRun {
    fn parameters(&self) -> usize {
        Network::parameter_count(&self.run.network().layer_sizes())
    }

    fn classes(&self) -> usize {
        1
    }

    fn train(&mut self, epochs: u64, after_epoch: &mut dyn FnMut(&dyn View) -> bool) -> Result<(), String> {
        for _ in 0..epochs {
            self.run.step_epoch();
            let (train, test) = self.losses();
            if !(train.is_finite() && test.is_finite()) {
                return Err(format!(
                    "training diverged at epoch {}: the loss is {train} (train) / {test} (test); lower the learning rate",
                    self.run.epoch()
                ));
            }
            if !after_epoch(self) {
                break;
            }
        }
        Ok(())
    }

    /// The replica's network as a Dense/activation model of the same numbers (in f32). Its
    /// output is the pre-activation of the page's tanh output node, saved with the ±1 hinge
    /// loss for classification (same sign, so the same classes) and mse for regression.
    fn model_file(&self) -> ApiResult<Vec<u8>> {
        let network = self.run.network();
        let sizes = network.layer_sizes();
        let mut graph = backprop_autograd::Graph::<f32>::new();
        let activation = crate::engine::nn_activation(self.run.config().activation);
        let model = backprop_nn::mlp(
            &mut graph,
            &sizes,
            activation,
            &mut backprop_tensor::TensorRng::seed_from_u64(0),
        )
        .map_err(|e| ApiError::conflict(e.to_string()))?;
        let (weights, biases) = layer_parameters(network);
        let mut tensors = Vec::new();
        for ((name, shape), l) in
            model.state_dict_shapes().into_iter().zip((0..weights.len()).flat_map(|l| [l, l]))
        {
            let values: Vec<f32> = if name.ends_with("weight") {
                // PyTorch's layout: [out, in].
                (0..shape[0]).flat_map(|j| weights[l].iter().map(move |row| row[j] as f32)).collect()
            } else {
                biases[l].iter().map(|&b| b as f32).collect()
            };
            tensors.push((name, backprop_tensor::Tensor::from_vec(&shape, values)));
        }
        model.load_state_dict(&mut graph, &tensors).map_err(|e| ApiError::conflict(e.to_string()))?;
        let loss = match self.run.config().problem {
            backprop_playground::Problem::Classification => backprop_nn::Loss::Hinge,
            backprop_playground::Problem::Regression => backprop_nn::Loss::Mse,
        };
        let mut meta = backprop_nn::ModelMeta::new(loss);
        meta.feature_names = self.run.features().iter().map(|f| f.name().to_string()).collect();
        crate::engine::model_file_bytes(&graph, &model, &meta)
    }

    /// The replica's own `back_prop` on a copy of its network: ∂E/∂z of each node and
    /// ∂E/∂w of each link summed over the batch's rows as the page accumulates them, divided
    /// by the count as its update does (E = ½(output − label)², the page's loss).
    fn derivatives(&mut self, example: usize) -> ApiResult<(Backward, Local)> {
        let points = self.run.train_points();
        let batch = batch_rows(example, self.run.config().batch_size, points.len())?;
        let features = self.run.features();
        let mut input = Vec::with_capacity(features.len());
        let mut network = self.run.network().clone();
        network.clear_accumulated();
        for &row in &batch {
            construct_input(features, points[row].x, points[row].y, &mut input);
            network.forward_prop(&input).map_err(|e| ApiError::conflict(e.to_string()))?;
            network.back_prop(points[row].label);
        }
        let (weights, biases) = layer_parameters(&network);
        let mut layers = Vec::with_capacity(weights.len());
        let mut start = network.layer_sizes()[0];
        for (w, b) in weights.iter().zip(&biases) {
            let mean = |sum: f64, count: usize| if count == 0 { 0.0 } else { sum / count as f64 };
            let nodes = start..start + b.len();
            let dz: Vec<f64> = nodes
                .clone()
                .map(|n| mean(network.nodes()[n].acc_input_der, network.nodes()[n].num_accumulated_ders))
                .collect();
            let mut dw = vec![vec![0.0; b.len()]; w.len()];
            for (j, n) in nodes.enumerate() {
                for (row, link) in dw.iter_mut().zip(network.input_links(n)) {
                    row[j] = mean(link.acc_error_der, link.num_accumulated_ders);
                }
            }
            layers.push(LayerGradients { db: dz.clone(), dz, dw, w: w.clone(), b: b.clone() });
            start += b.len();
        }
        // The local derivatives: the page's σ' at the example's forward pass.
        construct_input(features, points[example].x, points[example].y, &mut input);
        network.forward_prop(&input).map_err(|e| ApiError::conflict(e.to_string()))?;
        let sizes = network.layer_sizes();
        let slopes = (1..sizes.len())
            .map(|l| {
                network
                    .layer(l)
                    .iter()
                    .map(|node| node.activation.der_given_output(node.total_input, node.output))
                    .collect()
            })
            .collect();
        Ok((
            Backward { batch, layers, formulas: FORMULAS, updated: false },
            Local { example, weights, slopes },
        ))
    }

    fn data_csv(&self) -> String {
        let as_points = |set: &[Example]| set.iter().map(|p| [p.x, p.y, p.label]).collect();
        Points { train: as_points(self.run.train_points()), test: as_points(self.run.test_points()) }.csv()
    }
}

/// The replica's links as `weights[l][i][j]` (node i of layer l to node j of layer l + 1)
/// and its biases as `biases[l][j]`.
fn layer_parameters(network: &Network) -> (Vec<Vec<Vec<f64>>>, Vec<Vec<f64>>) {
    let sizes = network.layer_sizes();
    let mut start = sizes[0];
    let mut weights = Vec::with_capacity(sizes.len() - 1);
    let mut biases = Vec::with_capacity(sizes.len() - 1);
    for pair in sizes.windows(2) {
        let (inputs, outputs) = (pair[0], pair[1]);
        let mut w = vec![vec![0.0; outputs]; inputs];
        let mut b = Vec::with_capacity(outputs);
        for j in 0..outputs {
            let node = start + j;
            b.push(network.nodes()[node].bias);
            for (row, link) in w.iter_mut().zip(network.input_links(node)) {
                row[j] = link.weight;
            }
        }
        weights.push(w);
        biases.push(b);
        start += outputs;
    }
    (weights, biases)
}
