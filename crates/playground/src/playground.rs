//! A whole Playground run (`playground.ts`): data, network, training steps and losses.

use crate::activation::square_error;
use crate::config::{PlaygroundConfig, Problem};
use crate::dataset::{Example, shuffle};
use crate::error::PlaygroundError;
use crate::features::{InputFeature, construct_input};
use crate::heatmap::grid_coordinates;
use crate::network::Network;
use crate::seedrandom::Arc4Random;

/// The state after one epoch: what the page's loss chart shows, plus accuracies.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EpochRecord {
    /// Epochs trained so far (0 = before training).
    pub epoch: usize,
    /// Mean of ½(output − label)² over the training points.
    pub train_loss: f64,
    /// Mean of ½(output − label)² over the test points.
    pub test_loss: f64,
    /// Fraction of training points whose output sign (>= 0 counts as +1) equals the
    /// label; `None` for regression.
    pub train_accuracy: Option<f64>,
    /// The same over the test points.
    pub test_accuracy: Option<f64>,
}

/// Points with their network inputs computed once (the features are pure functions of
/// the point, so caching them changes no bit).
#[derive(Debug, Clone)]
struct PointSet {
    points: Vec<Example>,
    inputs: Vec<f64>,
}

impl PointSet {
    fn new(points: Vec<Example>, features: &[InputFeature]) -> Self {
        let mut inputs = Vec::with_capacity(points.len() * features.len());
        let mut row = Vec::with_capacity(features.len());
        for p in &points {
            construct_input(features, p.x, p.y, &mut row);
            inputs.extend_from_slice(&row);
        }
        PointSet { points, inputs }
    }

    fn input(&self, i: usize, width: usize) -> &[f64] {
        &self.inputs[i * width..(i + 1) * width]
    }
}

/// A Playground run: the page loaded with a URL, stepped one epoch at a time.
///
/// Creation follows the page's start-up: seed the generator with the seed string,
/// generate the data set (`noise / 100`), shuffle it, split it at `percTrainData`, build
/// the network drawing its weights from the same generator, and compute the epoch-0
/// losses. Each [`step_epoch`](Self::step_epoch) is the page's `oneStep()`.
#[derive(Debug, Clone)]
pub struct Playground {
    config: PlaygroundConfig,
    seed: String,
    features: Vec<InputFeature>,
    train: PointSet,
    test: PointSet,
    network: Network,
    epoch: usize,
    train_loss: f64,
    test_loss: f64,
    train_correct: usize,
    test_correct: usize,
}

impl Playground {
    /// Starts a run of `config` (see [`PlaygroundConfig::validate`] for what is refused).
    /// Without a seed, a fresh one is drawn as the page does (`Math.random().toFixed(5)`);
    /// [`seed`](Self::seed) tells which.
    pub fn new(config: &PlaygroundConfig) -> Result<Self, PlaygroundError> {
        config.validate()?;
        let seed = config.seed.clone().unwrap_or_else(fresh_seed);
        let mut rng = Arc4Random::new(&seed);
        let mut data = (config.generator())(config.num_samples(), config.noise / 100.0, &mut rng);
        shuffle(&mut data, &mut rng);
        let test_points = data.split_off(config.split_index());
        let features = config.input_features();
        let input_ids: Vec<&str> = features.iter().map(|f| f.name()).collect();
        let network = Network::build(
            &config.layer_sizes(),
            config.activation,
            config.output_activation(),
            config.regularization,
            &input_ids,
            config.init_zero,
            &mut rng,
        )?;
        let mut playground = Playground {
            train: PointSet::new(data, &features),
            test: PointSet::new(test_points, &features),
            config: config.clone(),
            seed,
            features,
            network,
            epoch: 0,
            train_loss: 0.0,
            test_loss: 0.0,
            train_correct: 0,
            test_correct: 0,
        };
        playground.update_losses();
        Ok(playground)
    }

    /// [`PlaygroundConfig::from_url`] followed by [`new`](Self::new).
    pub fn from_url(url: &str) -> Result<Self, PlaygroundError> {
        Self::new(&PlaygroundConfig::from_url(url)?)
    }

    /// The page's `oneStep()`: one in-order pass over the training points, each a forward
    /// pass and a backward pass, with a weight update after every `batchSize`-th point
    /// (counted from the start of the epoch; a trailing partial batch stays accumulated into
    /// the next epoch's first update); then the losses.
    pub fn step_epoch(&mut self) {
        self.epoch += 1;
        let width = self.features.len();
        let batch_size = self.config.batch_size;
        for i in 0..self.train.points.len() {
            self.network.forward(self.train.input(i, width));
            self.network.back_prop(self.train.points[i].label);
            if (i + 1) % batch_size == 0 {
                self.network.update_weights(self.config.learning_rate, self.config.regularization_rate);
            }
        }
        self.update_losses();
    }

    /// Trains `epochs` more epochs and returns the records of the current epoch and of each
    /// new one (`epochs + 1` records; from epoch 0 on a fresh run).
    pub fn run(&mut self, epochs: usize) -> Vec<EpochRecord> {
        let mut history = Vec::with_capacity(epochs + 1);
        history.push(self.record());
        for _ in 0..epochs {
            self.step_epoch();
            history.push(self.record());
        }
        history
    }

    /// The current epoch's record.
    pub fn record(&self) -> EpochRecord {
        EpochRecord {
            epoch: self.epoch,
            train_loss: self.train_loss,
            test_loss: self.test_loss,
            train_accuracy: self.train_accuracy(),
            test_accuracy: self.test_accuracy(),
        }
    }

    /// `getLoss` over both sets: the mean of ½(output − label)², summed in point order
    /// and divided by the count, plus the counts of correctly signed outputs.
    fn update_losses(&mut self) {
        (self.train_loss, self.train_correct) = evaluate(&mut self.network, &self.train, self.features.len());
        (self.test_loss, self.test_correct) = evaluate(&mut self.network, &self.test, self.features.len());
    }

    /// Epochs trained so far.
    pub fn epoch(&self) -> usize {
        self.epoch
    }

    /// The page's `lossTrain` for the current epoch.
    pub fn train_loss(&self) -> f64 {
        self.train_loss
    }

    /// The page's `lossTest` for the current epoch.
    pub fn test_loss(&self) -> f64 {
        self.test_loss
    }

    /// Fraction of training points with `(output >= 0 ? 1 : -1) == label`; `None` for
    /// regression.
    pub fn train_accuracy(&self) -> Option<f64> {
        self.accuracy(self.train_correct, self.train.points.len())
    }

    /// Fraction of test points classified right; `None` for regression.
    pub fn test_accuracy(&self) -> Option<f64> {
        self.accuracy(self.test_correct, self.test.points.len())
    }

    fn accuracy(&self, correct: usize, total: usize) -> Option<f64> {
        (self.config.problem == Problem::Classification).then(|| correct as f64 / total as f64)
    }

    /// The network's output at the point (x1, x2).
    pub fn output_at(&self, x1: f64, x2: f64) -> f64 {
        let mut input = Vec::with_capacity(self.features.len());
        construct_input(&self.features, x1, x2, &mut input);
        self.network.predict_with(&input, &mut Vec::new())
    }

    /// The page's decision-boundary grid of the output node: `resolution` rows from top
    /// (x2 = 6) to bottom (x2 = −6), each `resolution` columns from x1 = −6 to x1 = 6, at
    /// the page's d3-scaled coordinates (the page uses 100).
    pub fn heatmap(&self, resolution: usize) -> Vec<Vec<f64>> {
        let (xs, ys) = grid_coordinates(resolution);
        let mut input = Vec::with_capacity(self.features.len());
        let mut scratch = Vec::new();
        ys.iter()
            .map(|&y| {
                xs.iter()
                    .map(|&x| {
                        construct_input(&self.features, x, y, &mut input);
                        self.network.predict_with(&input, &mut scratch)
                    })
                    .collect()
            })
            .collect()
    }

    /// The training points, in the shuffled order training visits them.
    pub fn train_points(&self) -> &[Example] {
        &self.train.points
    }

    /// The test points.
    pub fn test_points(&self) -> &[Example] {
        &self.test.points
    }

    /// The network in its current state.
    pub fn network(&self) -> &Network {
        &self.network
    }

    /// The network's input features, in input-node order.
    pub fn features(&self) -> &[InputFeature] {
        &self.features
    }

    /// The settings of this run.
    pub fn config(&self) -> &PlaygroundConfig {
        &self.config
    }

    /// The seed string the generator was keyed with.
    pub fn seed(&self) -> &str {
        &self.seed
    }
}

/// Loss and number of correctly signed outputs over `set`, with the page's forward pass.
fn evaluate(network: &mut Network, set: &PointSet, width: usize) -> (f64, usize) {
    let mut loss = 0.0;
    let mut correct = 0;
    for (i, point) in set.points.iter().enumerate() {
        let output = network.forward(set.input(i, width));
        loss += square_error(output, point.label);
        let predicted = if output >= 0.0 { 1.0 } else { -1.0 };
        correct += usize::from(predicted == point.label);
    }
    (loss / set.points.len() as f64, correct)
}

/// A seed as the page draws one: `Math.random().toFixed(5)`, from the clock and the
/// process's hash keys since no seeded generator exists yet.
fn fresh_seed() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    hasher.write_u128(nanos);
    let unit = (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64;
    format!("{unit:.5}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_run_splits_and_reports_epoch_zero() {
        let p = Playground::from_url("#seed=abc&percTrainData=30").unwrap();
        assert_eq!((p.train_points().len(), p.test_points().len()), (150, 350));
        assert_eq!(p.epoch(), 0);
        assert_eq!(p.seed(), "abc");
        let r = p.record();
        assert!(r.train_loss > 0.0 && r.test_loss > 0.0);
        assert!(r.train_accuracy.is_some());
    }

    #[test]
    fn training_lowers_the_loss_and_is_deterministic() {
        let mut a = Playground::from_url("#seed=det&dataset=gauss").unwrap();
        let mut b = a.clone();
        let history = a.run(20);
        assert_eq!(history.len(), 21);
        assert_eq!(history[20].epoch, 20);
        assert!(history[20].train_loss < history[0].train_loss / 2.0);
        assert_eq!(b.run(20), history);
        assert!(history[20].train_accuracy.unwrap() > 0.9);
    }

    #[test]
    fn regression_reports_no_accuracy() {
        let mut p = Playground::from_url("#problem=regression&seed=r").unwrap();
        assert_eq!((p.train_points().len(), p.test_points().len()), (600, 600));
        let r = p.run(1);
        assert_eq!(r[1].train_accuracy, None);
        assert_eq!(r[1].test_accuracy, None);
    }

    #[test]
    fn output_at_and_heatmap_agree_with_the_grid() {
        let p = Playground::from_url("#seed=grid").unwrap();
        let grid = p.heatmap(5);
        assert_eq!(grid.len(), 5);
        // Row 0 is the top (x2 = 6), column 0 the left (x1 = -6).
        assert_eq!(grid[0][0], p.output_at(-6.0, 6.0));
        assert_eq!(grid[4][4], p.output_at(6.0, -6.0));
        assert_eq!(grid[2][2], p.output_at(0.0, 0.0));
    }

    #[test]
    fn missing_seed_draws_a_page_style_seed() {
        let p = Playground::new(&PlaygroundConfig::default()).unwrap();
        assert_eq!(p.seed().len(), 7);
        assert!(p.seed().starts_with("0.") || p.seed() == "1.00000");
    }

    #[test]
    fn a_network_without_inputs_still_runs_as_on_the_page() {
        let mut p = Playground::from_url("#seed=none&x=false&y=false").unwrap();
        assert_eq!(p.network().layer_sizes(), [0, 4, 2, 1]);
        let history = p.run(3);
        assert!(history.iter().all(|r| r.train_loss.is_finite()));
        // Without inputs the output is the same everywhere.
        assert_eq!(p.output_at(1.0, 2.0), p.output_at(-3.0, 0.5));
    }

    #[test]
    fn invalid_configs_are_refused() {
        let config = PlaygroundConfig { batch_size: 0, ..Default::default() };
        assert!(Playground::new(&config).is_err());
    }
}
