//! The Playground's settings (`state.ts`'s `State`), with its defaults and names.

use crate::activation::{Activation, Regularization};
use crate::dataset::{
    DataGenerator, classify_circle_data, classify_spiral_data, classify_two_gauss_data, classify_xor_data,
    regress_gaussian, regress_plane,
};
use crate::error::PlaygroundError;
use crate::features::InputFeature;
use crate::network::Network;

/// Number of points the page generates for a classification problem.
pub const NUM_SAMPLES_CLASSIFY: usize = 500;
/// Number of points the page generates for a regression problem.
pub const NUM_SAMPLES_REGRESS: usize = 1200;

/// The kind of problem (`problem=` in the hash).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Problem {
    /// Labels ±1, tanh output unit; accuracy is reported.
    #[default]
    Classification,
    /// Real labels in [-1, 1], linear output unit.
    Regression,
}

impl Problem {
    /// Both, in the page's order.
    pub const ALL: [Problem; 2] = [Problem::Classification, Problem::Regression];

    /// The name used in the URL hash.
    pub fn name(self) -> &'static str {
        match self {
            Problem::Classification => "classification",
            Problem::Regression => "regression",
        }
    }

    /// The problem whose hash name is `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.name() == name)
    }
}

/// A classification data set (`dataset=` in the hash).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ClassifyDataset {
    /// A disc of positives inside a ring of negatives.
    #[default]
    Circle,
    /// The four quadrants, positive where x·y >= 0.
    Xor,
    /// Two Gaussian blobs.
    Gauss,
    /// Two interleaved spirals.
    Spiral,
}

impl ClassifyDataset {
    /// All classification data sets, in the page's order.
    pub const ALL: [ClassifyDataset; 4] =
        [ClassifyDataset::Circle, ClassifyDataset::Xor, ClassifyDataset::Gauss, ClassifyDataset::Spiral];

    /// The name used in the URL hash.
    pub fn name(self) -> &'static str {
        match self {
            ClassifyDataset::Circle => "circle",
            ClassifyDataset::Xor => "xor",
            ClassifyDataset::Gauss => "gauss",
            ClassifyDataset::Spiral => "spiral",
        }
    }

    /// The data set whose hash name is `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.name() == name)
    }

    /// The data set's generator.
    pub fn generator(self) -> DataGenerator {
        match self {
            ClassifyDataset::Circle => classify_circle_data,
            ClassifyDataset::Xor => classify_xor_data,
            ClassifyDataset::Gauss => classify_two_gauss_data,
            ClassifyDataset::Spiral => classify_spiral_data,
        }
    }
}

/// A regression data set (`regDataset=` in the hash).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum RegressDataset {
    /// A tilted plane, label (x + y) / 10.
    #[default]
    Plane,
    /// Six signed Gaussian bumps.
    Gaussian,
}

impl RegressDataset {
    /// All regression data sets, in the page's order.
    pub const ALL: [RegressDataset; 2] = [RegressDataset::Plane, RegressDataset::Gaussian];

    /// The name used in the URL hash.
    pub fn name(self) -> &'static str {
        match self {
            RegressDataset::Plane => "reg-plane",
            RegressDataset::Gaussian => "reg-gauss",
        }
    }

    /// The data set whose hash name is `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.name() == name)
    }

    /// The data set's generator.
    pub fn generator(self) -> DataGenerator {
        match self {
            RegressDataset::Plane => regress_plane,
            RegressDataset::Gaussian => regress_gaussian,
        }
    }
}

/// Every setting of the page's URL hash (`State` in `state.ts`); [`Default`] gives the
/// page's defaults. Fields that only affect the page's looks (`showTestData`, `discretize`,
/// `collectStats`, `tutorial`, `hideText`, `cosX`, `cosY`) are kept so a configuration
/// round-trips through [`to_hash`](Self::to_hash).
#[derive(Debug, Clone, PartialEq)]
pub struct PlaygroundConfig {
    /// Hidden units' activation (`activation`, default tanh).
    pub activation: Activation,
    /// Weight penalty (`regularization`, default none).
    pub regularization: Regularization,
    /// Examples per weight update (`batchSize`, default 10).
    pub batch_size: usize,
    /// Data set used when `problem` is classification (`dataset`, default circle).
    pub dataset: ClassifyDataset,
    /// Data set used when `problem` is regression (`regDataset`, default reg-plane).
    pub reg_dataset: RegressDataset,
    /// Step size (`learningRate`, default 0.03).
    pub learning_rate: f64,
    /// Penalty weight (`regularizationRate`, default 0).
    pub regularization_rate: f64,
    /// Noise in percent, 0 to 50 on the page (`noise`, default 0); generators get `noise / 100`.
    pub noise: f64,
    /// Hidden layer sizes (`networkShape`, default 4,2; empty means no hidden layer).
    pub network_shape: Vec<usize>,
    /// Seed string of the random generator (`seed`); `None` makes a run draw a fresh one,
    /// as the page does.
    pub seed: Option<String>,
    /// Whether the page shows test points (`showTestData`, default false).
    pub show_test_data: bool,
    /// Whether the page's heat map is thresholded at 0 (`discretize`, default false).
    pub discretize: bool,
    /// Percentage of points used for training (`percTrainData`, default 50).
    pub perc_train_data: f64,
    /// Input features switched on, in `INPUTS` order (default x and y).
    pub features: Vec<InputFeature>,
    /// The page's `cosX` switch (never an input).
    pub cos_x: bool,
    /// The page's `cosY` switch (never an input).
    pub cos_y: bool,
    /// The page's `collectStats` switch.
    pub collect_stats: bool,
    /// The tutorial shown beside the page (`tutorial`).
    pub tutorial: Option<String>,
    /// Classification or regression (`problem`, default classification).
    pub problem: Problem,
    /// Start all weights and biases at 0 instead of random weights and 0.1 biases
    /// (`initZero`, default false).
    pub init_zero: bool,
    /// The page's `hideText` switch.
    pub hide_text: bool,
    /// Controls hidden with `<name>_hide=true`. Hiding an input feature (`x_hide=true`)
    /// removes it from the network, as on the page.
    pub hidden_controls: Vec<String>,
    /// Hash fields the page does not know, in the order met (the page ignores them).
    pub ignored_fields: Vec<String>,
}

impl Default for PlaygroundConfig {
    fn default() -> Self {
        PlaygroundConfig {
            activation: Activation::Tanh,
            regularization: Regularization::None,
            batch_size: 10,
            dataset: ClassifyDataset::Circle,
            reg_dataset: RegressDataset::Plane,
            learning_rate: 0.03,
            regularization_rate: 0.0,
            noise: 0.0,
            network_shape: vec![4, 2],
            seed: None,
            show_test_data: false,
            discretize: false,
            perc_train_data: 50.0,
            features: vec![InputFeature::X, InputFeature::Y],
            cos_x: false,
            cos_y: false,
            collect_stats: false,
            tutorial: None,
            problem: Problem::Classification,
            init_zero: false,
            hide_text: false,
            hidden_controls: Vec::new(),
            ignored_fields: Vec::new(),
        }
    }
}

impl PlaygroundConfig {
    /// Points generated before the split: 500 for classification, 1200 for regression.
    pub fn num_samples(&self) -> usize {
        match self.problem {
            Problem::Classification => NUM_SAMPLES_CLASSIFY,
            Problem::Regression => NUM_SAMPLES_REGRESS,
        }
    }

    /// The generator of the active data set.
    pub fn generator(&self) -> DataGenerator {
        match self.problem {
            Problem::Classification => self.dataset.generator(),
            Problem::Regression => self.reg_dataset.generator(),
        }
    }

    /// Name of the active data set (`circle`, ..., `reg-gauss`).
    pub fn dataset_name(&self) -> &'static str {
        match self.problem {
            Problem::Classification => self.dataset.name(),
            Problem::Regression => self.reg_dataset.name(),
        }
    }

    /// The network's inputs: features switched on and not hidden, in `INPUTS` order.
    pub fn input_features(&self) -> Vec<InputFeature> {
        InputFeature::ALL
            .into_iter()
            .filter(|f| self.features.contains(f) && !self.hidden_controls.iter().any(|h| h == f.name()))
            .collect()
    }

    /// The output unit's activation: tanh for classification, linear for regression.
    pub fn output_activation(&self) -> Activation {
        match self.problem {
            Problem::Classification => Activation::Tanh,
            Problem::Regression => Activation::Linear,
        }
    }

    /// Layer sizes from the inputs to the single output: `[inputs, hidden..., 1]`.
    pub fn layer_sizes(&self) -> Vec<usize> {
        let mut shape = vec![self.input_features().len()];
        shape.extend(&self.network_shape);
        shape.push(1);
        shape
    }

    /// Index splitting the shuffled data into train and test: `floor(n * percTrainData / 100)`.
    pub fn split_index(&self) -> usize {
        (self.num_samples() as f64 * self.perc_train_data / 100.0).floor() as usize
    }

    /// Checks that a run can be made of these settings: finite non-negative rates and noise,
    /// a positive batch size and layer sizes, at most [`Network::MAX_PARAMETERS`] weights and
    /// biases, and a split leaving both train and test data.
    pub fn validate(&self) -> Result<(), PlaygroundError> {
        let non_negative = |field: &str, v: f64| {
            if v.is_finite() && v >= 0.0 {
                Ok(())
            } else {
                Err(PlaygroundError::field(field, &v.to_string(), "expected a finite number >= 0"))
            }
        };
        check_rate("learningRate", self.learning_rate, &js_number_string(self.learning_rate))?;
        check_rate(
            "regularizationRate",
            self.regularization_rate,
            &js_number_string(self.regularization_rate),
        )?;
        non_negative("noise", self.noise)?;
        if self.batch_size == 0 {
            return Err(PlaygroundError::field("batchSize", "0", "expected a positive integer"));
        }
        let shape = || self.network_shape.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(",");
        if self.network_shape.contains(&0) {
            return Err(PlaygroundError::field(
                "networkShape",
                &shape(),
                "every hidden layer needs at least 1 neuron",
            ));
        }
        let parameters = Network::parameter_count(&self.layer_sizes());
        if parameters > Network::MAX_PARAMETERS {
            return Err(PlaygroundError::field(
                "networkShape",
                &shape(),
                format!(
                    "the network would have {parameters} weights and biases, more than the {} allowed",
                    Network::MAX_PARAMETERS
                ),
            ));
        }
        let n = self.num_samples();
        let split = (n as f64 * self.perc_train_data / 100.0).floor();
        if !(split >= 1.0 && split < n as f64) {
            return Err(PlaygroundError::field(
                "percTrainData",
                &self.perc_train_data.to_string(),
                format!("the {n} points must split into non-empty train and test sets"),
            ));
        }
        Ok(())
    }

    /// The URL hash (without `#`) the page writes for these settings (`State.serialize`):
    /// every field in the page's order, unset `seed`/`tutorial` left out, then the
    /// `_hide` fields.
    pub fn to_hash(&self) -> String {
        let has = |f: InputFeature| self.features.contains(&f);
        let shape = self.network_shape.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(",");
        let mut fields: Vec<(String, String)> = vec![
            ("activation".into(), self.activation.name().into()),
            ("regularization".into(), self.regularization.name().into()),
            ("batchSize".into(), self.batch_size.to_string()),
            ("dataset".into(), self.dataset.name().into()),
            ("regDataset".into(), self.reg_dataset.name().into()),
            ("learningRate".into(), js_number_string(self.learning_rate)),
            ("regularizationRate".into(), js_number_string(self.regularization_rate)),
            ("noise".into(), js_number_string(self.noise)),
            ("networkShape".into(), shape),
        ];
        if let Some(seed) = &self.seed {
            fields.push(("seed".into(), seed.clone()));
        }
        fields.extend([
            ("showTestData".into(), self.show_test_data.to_string()),
            ("discretize".into(), self.discretize.to_string()),
            ("percTrainData".into(), js_number_string(self.perc_train_data)),
            ("x".into(), has(InputFeature::X).to_string()),
            ("y".into(), has(InputFeature::Y).to_string()),
            ("xTimesY".into(), has(InputFeature::XTimesY).to_string()),
            ("xSquared".into(), has(InputFeature::XSquared).to_string()),
            ("ySquared".into(), has(InputFeature::YSquared).to_string()),
            ("cosX".into(), self.cos_x.to_string()),
            ("sinX".into(), has(InputFeature::SinX).to_string()),
            ("cosY".into(), self.cos_y.to_string()),
            ("sinY".into(), has(InputFeature::SinY).to_string()),
            ("collectStats".into(), self.collect_stats.to_string()),
        ]);
        if let Some(tutorial) = &self.tutorial {
            fields.push(("tutorial".into(), tutorial.clone()));
        }
        fields.extend([
            ("problem".into(), self.problem.name().into()),
            ("initZero".into(), self.init_zero.to_string()),
            ("hideText".into(), self.hide_text.to_string()),
        ]);
        for control in &self.hidden_controls {
            fields.push((format!("{control}_hide"), "true".into()));
        }
        fields.into_iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&")
    }
}

/// A number written as JavaScript's `String(n)` writes the values the page uses: integers
/// without a fraction, others as the shortest round-tripping decimal.
/// Checks a rate (`learningRate`, `regularizationRate`) as `written` gives it and as it was
/// read (`v`): a finite number >= 0 that backprop's engine, which trains in f32, keeps as it
/// is: 0, or a normal f32 number. A rate written as a positive number that reads as 0 (`1e-400`)
/// or below f32's smallest normal number would not train (or lose its precision); one above
/// f32's largest would be infinite.
///
/// # Errors
/// Naming the field and the value as written, and the range.
pub(crate) fn check_rate(field: &str, v: f64, written: &str) -> Result<(), PlaygroundError> {
    if !v.is_finite() || v < 0.0 {
        return Err(PlaygroundError::field(field, written, "expected a finite number >= 0"));
    }
    let mantissa = written.trim().split(['e', 'E']).next().unwrap_or_default();
    let written_positive = mantissa.bytes().any(|b| matches!(b, b'1'..=b'9'));
    let (tiny, huge) = (f64::from(f32::MIN_POSITIVE), f64::from(f32::MAX));
    if (v == 0.0 && written_positive) || (v != 0.0 && !(tiny..=huge).contains(&v)) {
        let fate = if v < tiny { "rounds to 0 (or loses its precision)" } else { "overflows to infinity" };
        return Err(PlaygroundError::field(
            field,
            written,
            format!(
                "it {fate} in f32, the arithmetic of backprop's engine; use 0 or a value from {:e} to {:e}",
                f32::MIN_POSITIVE,
                f32::MAX
            ),
        ));
    }
    Ok(())
}

fn js_number_string(v: f64) -> String {
    if v == 0.0 {
        return "0".to_string();
    }
    // JavaScript writes numbers below 1e-6 or from 1e21 on with an exponent (`1e-50`, `1e+39`).
    if v.abs() < 1e-6 || v.abs() >= 1e21 {
        let text = format!("{v:e}");
        return match text.split_once('e') {
            Some((mantissa, exponent)) if !exponent.starts_with('-') => format!("{mantissa}e+{exponent}"),
            _ => text,
        };
    }
    v.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_pages() {
        let c = PlaygroundConfig::default();
        assert_eq!(c.layer_sizes(), [2, 4, 2, 1]);
        assert_eq!(c.num_samples(), 500);
        assert_eq!(c.split_index(), 250);
        assert_eq!(c.output_activation(), Activation::Tanh);
        assert_eq!(c.dataset_name(), "circle");
        assert!(c.validate().is_ok());
        assert_eq!(
            c.to_hash(),
            "activation=tanh&regularization=none&batchSize=10&dataset=circle&regDataset=reg-plane&\
             learningRate=0.03&regularizationRate=0&noise=0&networkShape=4,2&showTestData=false&\
             discretize=false&percTrainData=50&x=true&y=true&xTimesY=false&xSquared=false&ySquared=false&\
             cosX=false&sinX=false&cosY=false&sinY=false&collectStats=false&problem=classification&\
             initZero=false&hideText=false"
        );
    }

    #[test]
    fn hidden_features_leave_the_network() {
        let c = PlaygroundConfig {
            features: vec![InputFeature::X, InputFeature::Y, InputFeature::SinX],
            hidden_controls: vec!["y".into()],
            ..Default::default()
        };
        assert_eq!(c.input_features(), [InputFeature::X, InputFeature::SinX]);
    }

    #[test]
    fn validation_names_the_field() {
        let c = PlaygroundConfig { perc_train_data: 100.0, ..Default::default() };
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains("`percTrainData`") && err.contains("`100`"), "{err}");
        let c = PlaygroundConfig { learning_rate: f64::NAN, ..Default::default() };
        assert!(c.validate().unwrap_err().to_string().contains("`learningRate`"));
        let c = PlaygroundConfig { network_shape: vec![3, 0], ..Default::default() };
        assert!(c.validate().unwrap_err().to_string().contains("`3,0`"));
        let c = PlaygroundConfig { regularization_rate: 1e-50, ..Default::default() };
        assert_eq!(
            c.validate().unwrap_err().to_string(),
            "hash field `regularizationRate`: invalid value `1e-50`: it rounds to 0 (or loses its precision) in f32, the arithmetic of backprop's engine; use 0 or a value from 1.1754944e-38 to 3.4028235e38"
        );
        let c = PlaygroundConfig { learning_rate: 1e39, ..Default::default() };
        assert!(c.validate().unwrap_err().to_string().contains("`1e+39`: it overflows to infinity in f32"));
        let c = PlaygroundConfig { batch_size: 0, ..Default::default() };
        assert!(c.validate().unwrap_err().to_string().contains("`batchSize`"));
    }
}
