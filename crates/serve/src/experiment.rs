//! The experiment object of the API (docs/SERVE_API.md): what a client sends, checked and
//! resolved into the replica's [`PlaygroundConfig`] plus the engine-only settings.
//!
//! The Playground fields are the replica's own: a `hash` goes through
//! [`PlaygroundConfig::from_url`], and the resolved experiment echoes
//! [`PlaygroundConfig::to_hash`], so the page's URL state and the replica never disagree.

use backprop_playground::{
    Activation, ClassifyDataset, InputFeature, PlaygroundConfig, Problem, RegressDataset, Regularization,
};
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, ApiResult};

/// Which network trains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// The bit-exact Playground replica (crates/playground): its losses are the page's.
    #[default]
    Playground,
    /// backprop-nn trained by the `Trainer`: any layer sizes, softmax, optimizers.
    Engine,
}

/// The experiment as the API carries it. In a request every field is optional (missing
/// ones take the Playground's defaults); in a response every field is filled in.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(missing_docs)] // The fields are the contract's, documented there.
pub struct Experiment {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hash: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dataset: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub noise: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub perc_train_data: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch_size: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub features: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hidden: Option<Vec<usize>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activation: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub learning_rate: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub regularization: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub regularization_rate: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub show_test_data: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub discretize: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub optimizer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loss: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub classes: Option<usize>,
}

/// The Playground's own control limits, which playground mode keeps (the page cannot go
/// beyond them, and the replica's numbers are the page's only inside them).
pub const PLAYGROUND_MAX_LAYERS: usize = 6;
/// Neurons per hidden layer on the Playground's controls.
pub const PLAYGROUND_MAX_NEURONS: usize = 8;
/// The largest batch size accepted (the page's slider stops at 30; engine mode takes more).
pub const MAX_BATCH_SIZE: usize = 100_000;

/// The optimizers engine mode offers: backprop-optim's names.
pub const OPTIMIZERS: [&str; 7] = backprop_optim::OptimizerConfig::CHOICES;
/// The schedules engine mode offers (backprop-optim's kinds with fixed settings).
pub const SCHEDULES: [&str; 4] = ["constant", "step", "exponential", "cosine"];
/// The losses engine mode offers.
pub const LOSSES: [&str; 4] = ["mse", "log", "ce", "hinge"];

/// An experiment checked and filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    /// Which network trains.
    pub mode: Mode,
    /// The Playground settings (data, features, network, rates); the seed is always set.
    pub config: PlaygroundConfig,
    /// Whether the data are the uploaded CSV instead of the Playground's generator.
    pub upload: bool,
    /// Engine mode: the optimizer's name (one of [`OPTIMIZERS`]).
    pub optimizer: String,
    /// Engine mode: the schedule's name (one of [`SCHEDULES`]).
    pub schedule: String,
    /// Engine mode: the loss's name (one of [`LOSSES`]).
    pub loss: String,
}

impl Experiment {
    /// Checks every field and fills in the defaults; `seed` is drawn when missing, as the
    /// page does, so that the echoed hash reproduces the run. `max_params` is the server's
    /// cap on weights and biases.
    ///
    /// # Errors
    /// 400 naming the first bad field and what it accepts.
    pub fn resolve(&self, max_params: usize, fresh_seed: impl FnOnce() -> String) -> ApiResult<Resolved> {
        let mode = self.mode.unwrap_or_default();
        let mut config = match &self.hash {
            Some(hash) => {
                if let Some(field) = self.playground_fields_given().first() {
                    return Err(ApiError::bad_request(format!(
                        "`{field}` and `hash`: a hash sets every Playground field; send the hash alone or the \
                         fields without it"
                    )));
                }
                PlaygroundConfig::from_url(hash).map_err(|e| ApiError::bad_request(e.to_string()))?
            }
            None => self.playground_fields()?,
        };
        let upload = self.hash.is_none() && self.dataset.as_deref() == Some("upload");
        if config.seed.is_none() {
            config.seed = Some(fresh_seed());
        }
        config.validate().map_err(|e| ApiError::bad_request(e.to_string()))?;
        if mode == Mode::Playground {
            let shape = &config.network_shape;
            if shape.len() > PLAYGROUND_MAX_LAYERS || shape.iter().any(|&n| n > PLAYGROUND_MAX_NEURONS) {
                return Err(ApiError::bad_request(format!(
                    "`hidden` {shape:?}: playground mode allows at most {PLAYGROUND_MAX_LAYERS} hidden layers of \
                     1..={PLAYGROUND_MAX_NEURONS} neurons (engine mode takes any sizes)"
                )));
            }
            if upload {
                return Err(ApiError::bad_request(
                    "`dataset` `upload`: playground mode trains on the Playground's data sets only; use mode `engine`",
                ));
            }
        }
        let parameters = backprop_playground::Network::parameter_count(&config.layer_sizes());
        if parameters > max_params {
            return Err(ApiError::bad_request(format!(
                "`hidden` {:?}: the network would have {parameters} weights and biases, more than the {max_params} allowed",
                config.network_shape
            )));
        }
        let pick =
            |field: &str, value: &Option<String>, allowed: &[&str], default: &str| -> ApiResult<String> {
                let value = value.as_deref().unwrap_or(default);
                if allowed.contains(&value) {
                    Ok(value.to_string())
                } else {
                    Err(ApiError::bad_request(format!(
                        "`{field}` `{value}`: expected one of {}",
                        allowed.join(", ")
                    )))
                }
            };
        let default_loss = if config.problem == Problem::Regression { "mse" } else { "log" };
        Ok(Resolved {
            mode,
            upload,
            optimizer: pick("optimizer", &self.optimizer, &OPTIMIZERS, "sgd")?,
            schedule: pick("schedule", &self.schedule, &SCHEDULES, "constant")?,
            loss: pick("loss", &self.loss, &LOSSES, default_loss)?,
            config,
        })
    }

    /// The names of the Playground fields this experiment sets (those a `hash` sets instead).
    fn playground_fields_given(&self) -> Vec<&'static str> {
        [
            ("dataset", self.dataset.is_some()),
            ("problem", self.problem.is_some()),
            ("noise", self.noise.is_some()),
            ("percTrainData", self.perc_train_data.is_some()),
            ("batchSize", self.batch_size.is_some()),
            ("seed", self.seed.is_some()),
            ("features", self.features.is_some()),
            ("hidden", self.hidden.is_some()),
            ("activation", self.activation.is_some()),
            ("learningRate", self.learning_rate.is_some()),
            ("regularization", self.regularization.is_some()),
            ("regularizationRate", self.regularization_rate.is_some()),
            ("showTestData", self.show_test_data.is_some()),
            ("discretize", self.discretize.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, given)| given.then_some(name))
        .collect()
    }

    /// The Playground settings from the separate fields (no hash), each range-checked.
    fn playground_fields(&self) -> ApiResult<PlaygroundConfig> {
        let mut c = PlaygroundConfig::default();
        if let Some(problem) = &self.problem {
            c.problem = Problem::ALL.into_iter().find(|p| p.name() == problem).ok_or_else(|| {
                ApiError::bad_request(format!("`problem` `{problem}`: expected classification or regression"))
            })?;
        }
        if let Some(dataset) = self.dataset.as_deref().filter(|d| *d != "upload") {
            let problem = if let Some(d) = ClassifyDataset::from_name(dataset) {
                c.dataset = d;
                Problem::Classification
            } else if let Some(d) = RegressDataset::from_name(dataset) {
                c.reg_dataset = d;
                Problem::Regression
            } else {
                return Err(ApiError::bad_request(format!(
                    "`dataset` `{dataset}`: expected one of circle, xor, gauss, spiral, reg-plane, reg-gauss, upload"
                )));
            };
            // A data set of the other problem would silently train the problem's default set.
            if self.problem.is_some() && c.problem != problem {
                return Err(ApiError::bad_request(format!(
                    "`dataset` `{dataset}` is a {} data set, but `problem` is `{}`",
                    problem.name(),
                    c.problem.name()
                )));
            }
            c.problem = problem;
        }
        let range = |field: &str, v: Option<f64>, lo: f64, hi: f64| -> ApiResult<Option<f64>> {
            match v {
                Some(v) if !(v.is_finite() && (lo..=hi).contains(&v)) => {
                    Err(ApiError::bad_request(format!("`{field}` {v}: expected a number in {lo}..={hi}")))
                }
                other => Ok(other),
            }
        };
        if let Some(v) = range("noise", self.noise, 0.0, 50.0)? {
            c.noise = v;
        }
        if let Some(v) = range("percTrainData", self.perc_train_data, 10.0, 90.0)? {
            c.perc_train_data = v;
        }
        if let Some(v) = range("learningRate", self.learning_rate, 0.0, 10.0)? {
            c.learning_rate = v;
        }
        if let Some(v) = range("regularizationRate", self.regularization_rate, 0.0, 10.0)? {
            c.regularization_rate = v;
        }
        if let Some(b) = self.batch_size {
            if !(1..=MAX_BATCH_SIZE).contains(&b) {
                return Err(ApiError::bad_request(format!(
                    "`batchSize` {b}: expected an integer in 1..={MAX_BATCH_SIZE}"
                )));
            }
            c.batch_size = b;
        }
        if let Some(hidden) = &self.hidden {
            if hidden.contains(&0) {
                return Err(ApiError::bad_request(format!(
                    "`hidden` {hidden:?}: every layer needs at least 1 neuron"
                )));
            }
            c.network_shape = hidden.clone();
        }
        if let Some(names) = &self.features {
            let mut features = Vec::with_capacity(names.len());
            for name in names {
                let f = InputFeature::from_name(name).ok_or_else(|| {
                    let known: Vec<&str> = InputFeature::ALL.iter().map(|f| f.name()).collect();
                    ApiError::bad_request(format!(
                        "`features` `{name}`: expected some of {}",
                        known.join(", ")
                    ))
                })?;
                if !features.contains(&f) {
                    features.push(f);
                }
            }
            if features.is_empty() {
                return Err(ApiError::bad_request(
                    "`features` []: the network needs at least one input feature",
                ));
            }
            c.features = features;
        }
        if let Some(name) = &self.activation {
            c.activation = Activation::from_name(name).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "`activation` `{name}`: expected tanh, relu, sigmoid or linear"
                ))
            })?;
        }
        if let Some(name) = &self.regularization {
            c.regularization = Regularization::from_name(name).ok_or_else(|| {
                ApiError::bad_request(format!("`regularization` `{name}`: expected none, L1 or L2"))
            })?;
        }
        c.seed = self.seed.clone();
        c.show_test_data = self.show_test_data.unwrap_or(c.show_test_data);
        c.discretize = self.discretize.unwrap_or(c.discretize);
        Ok(c)
    }
}

impl Resolved {
    /// The same experiment again: the mode, the hash (which sets every Playground field,
    /// the seed included) and the engine's settings; an upload's fields without a hash.
    pub fn again(&self) -> Experiment {
        let echo = self.echo(1);
        if self.upload {
            return Experiment { hash: None, classes: None, ..echo };
        }
        Experiment {
            mode: echo.mode,
            hash: echo.hash,
            optimizer: echo.optimizer,
            schedule: echo.schedule,
            loss: echo.loss,
            ..Experiment::default()
        }
    }

    /// The experiment every field filled in, `hash` the replica's serialisation of it.
    pub fn echo(&self, classes: usize) -> Experiment {
        let c = &self.config;
        let engine = self.mode == Mode::Engine;
        Experiment {
            mode: Some(self.mode),
            hash: Some(c.to_hash()),
            dataset: Some(if self.upload { "upload".into() } else { c.dataset_name().into() }),
            problem: Some(c.problem.name().into()),
            noise: Some(c.noise),
            perc_train_data: Some(c.perc_train_data),
            batch_size: Some(c.batch_size),
            seed: c.seed.clone(),
            features: Some(c.input_features().iter().map(|f| f.name().to_string()).collect()),
            hidden: Some(c.network_shape.clone()),
            activation: Some(c.activation.name().into()),
            learning_rate: Some(c.learning_rate),
            regularization: Some(c.regularization.name().into()),
            regularization_rate: Some(c.regularization_rate),
            show_test_data: Some(c.show_test_data),
            discretize: Some(c.discretize),
            optimizer: engine.then(|| self.optimizer.clone()),
            schedule: engine.then(|| self.schedule.clone()),
            loss: engine.then(|| self.loss.clone()),
            classes: Some(classes),
        }
    }
}
