//! The TensorFlow Playground's data sets as [`Dataset`]s.
//!
//! A thin adapter over the faithful replica in `backprop-playground`: the points are the
//! page's, number for number (seedrandom's ARC4 keyed by the seed string, the generators of
//! `dataset.ts`, its shuffle and its train/test cut), turned into a feature matrix of the
//! chosen input features and targets.

use std::fmt;
use std::str::FromStr;

use backprop_playground::{
    Arc4Random, DataGenerator, Example, InputFeature, NUM_SAMPLES_CLASSIFY, NUM_SAMPLES_REGRESS,
    PlaygroundConfig, classify_circle_data, classify_spiral_data, classify_two_gauss_data, classify_xor_data,
    regress_gaussian, regress_plane, shuffle,
};
use backprop_tensor::{Float, Tensor};

use crate::csv_table::CsvTable;
use crate::dataset::{Dataset, Targets};
use crate::error::{DataError, Result};

/// `Display` as its `name()`, and `FromStr` by [`find_named`] among its `ALL`, for an enum
/// of named choices: `named!(Type, "kind", also)`.
macro_rules! named {
    ($type:ty, $kind:literal, $also:expr) => {
        impl fmt::Display for $type {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }

        impl FromStr for $type {
            type Err = DataError;

            fn from_str(name: &str) -> Result<Self> {
                find_named(&Self::ALL, Self::name, $kind, name, $also)
            }
        }
    };
}

/// One of the Playground's six data sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PlaygroundDataset {
    /// Classification: a disc of positives inside a ring of negatives.
    Circle,
    /// Classification: the four quadrants, positive where x₁·x₂ ≥ 0.
    Xor,
    /// Classification: two Gaussian blobs around (2, 2) and (−2, −2).
    Gauss,
    /// Classification: two interleaved spirals.
    Spiral,
    /// Regression: the plane (x₁ + x₂) / 10.
    Plane,
    /// Regression: six signed Gaussian bumps (the page's `reg-gauss`).
    MultiGauss,
}

impl PlaygroundDataset {
    /// All six, classification first, in the page's order.
    pub const ALL: [PlaygroundDataset; 6] = [
        PlaygroundDataset::Circle,
        PlaygroundDataset::Xor,
        PlaygroundDataset::Gauss,
        PlaygroundDataset::Spiral,
        PlaygroundDataset::Plane,
        PlaygroundDataset::MultiGauss,
    ];

    /// The name: `circle`, `xor`, `gauss`, `spiral`, `plane` or `multi-gauss`.
    pub fn name(self) -> &'static str {
        match self {
            PlaygroundDataset::Circle => "circle",
            PlaygroundDataset::Xor => "xor",
            PlaygroundDataset::Gauss => "gauss",
            PlaygroundDataset::Spiral => "spiral",
            PlaygroundDataset::Plane => "plane",
            PlaygroundDataset::MultiGauss => "multi-gauss",
        }
    }

    /// Whether its labels are classes (±1) rather than real values.
    pub fn is_classification(self) -> bool {
        !matches!(self, PlaygroundDataset::Plane | PlaygroundDataset::MultiGauss)
    }

    /// The number of points the page generates: 500 for classification, 1200 for regression.
    pub fn num_samples(self) -> usize {
        if self.is_classification() { NUM_SAMPLES_CLASSIFY } else { NUM_SAMPLES_REGRESS }
    }

    fn generator(self) -> DataGenerator {
        match self {
            PlaygroundDataset::Circle => classify_circle_data,
            PlaygroundDataset::Xor => classify_xor_data,
            PlaygroundDataset::Gauss => classify_two_gauss_data,
            PlaygroundDataset::Spiral => classify_spiral_data,
            PlaygroundDataset::Plane => regress_plane,
            PlaygroundDataset::MultiGauss => regress_gaussian,
        }
    }

    /// The active data set of a Playground configuration.
    pub fn of_config(config: &PlaygroundConfig) -> Self {
        config.dataset_name().parse().expect("the page's six data sets")
    }

    /// The page's own name (`reg-plane` and `reg-gauss` for the regression sets).
    fn page_name(self) -> &'static str {
        match self {
            PlaygroundDataset::Plane => "reg-plane",
            PlaygroundDataset::MultiGauss => "reg-gauss",
            other => other.name(),
        }
    }
}

// Parsed by name, also the page's `reg-plane` and `reg-gauss`.
named!(PlaygroundDataset, "data set", |d: PlaygroundDataset, name| d.page_name() == name);

/// One of the Playground's seven input features of a point (x₁, x₂).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Feature {
    /// x₁.
    X1,
    /// x₂.
    X2,
    /// x₁².
    X1Sq,
    /// x₂².
    X2Sq,
    /// x₁·x₂.
    X1X2,
    /// sin(x₁).
    SinX1,
    /// sin(x₂).
    SinX2,
}

impl Feature {
    /// All seven, in the page's input order.
    pub const ALL: [Feature; 7] = [
        Feature::X1,
        Feature::X2,
        Feature::X1Sq,
        Feature::X2Sq,
        Feature::X1X2,
        Feature::SinX1,
        Feature::SinX2,
    ];

    /// The name: `x1`, `x2`, `x1sq`, `x2sq`, `x1x2`, `sinx1` or `sinx2`.
    pub fn name(self) -> &'static str {
        match self {
            Feature::X1 => "x1",
            Feature::X2 => "x2",
            Feature::X1Sq => "x1sq",
            Feature::X2Sq => "x2sq",
            Feature::X1X2 => "x1x2",
            Feature::SinX1 => "sinx1",
            Feature::SinX2 => "sinx2",
        }
    }

    /// The replica's feature (the page's `x`, `y`, `xSquared`, ... inputs).
    pub fn input(self) -> InputFeature {
        match self {
            Feature::X1 => InputFeature::X,
            Feature::X2 => InputFeature::Y,
            Feature::X1Sq => InputFeature::XSquared,
            Feature::X2Sq => InputFeature::YSquared,
            Feature::X1X2 => InputFeature::XTimesY,
            Feature::SinX1 => InputFeature::SinX,
            Feature::SinX2 => InputFeature::SinY,
        }
    }

    /// The feature of a replica input.
    pub fn from_input(input: InputFeature) -> Self {
        Self::ALL.into_iter().find(|f| f.input() == input).expect("the seven inputs correspond")
    }

    /// The feature's value at (x₁, x₂), computed as the page computes it (V8's `Math.sin`).
    pub fn value(self, x1: f64, x2: f64) -> f64 {
        self.input().value(x1, x2)
    }

    /// Parses a comma-separated list such as `x1,x2,sinx1` (spaces allowed).
    ///
    /// # Errors
    /// When the list is empty, names an unknown feature (the error lists the valid names), or
    /// repeats one.
    pub fn parse_list(list: &str) -> Result<Vec<Feature>> {
        let mut features = Vec::new();
        for name in list.split(',').map(str::trim) {
            if name.is_empty() {
                return Err(DataError::invalid(
                    "playground",
                    format!("empty feature name in '{list}'; write names separated by commas, e.g. x1,x2"),
                ));
            }
            let feature: Feature = name.parse()?;
            if features.contains(&feature) {
                return Err(DataError::invalid("playground", format!("feature '{name}' is listed twice")));
            }
            features.push(feature);
        }
        Ok(features)
    }
}

named!(Feature, "feature", |_, _| false);

/// The one of `all` named `name` (or that `also` accepts for the name), or an error that lists the names
/// of `all`, each a `kind` (`unknown feature 'x3'; the features are: x1, ...`).
fn find_named<T: Copy>(
    all: &[T],
    name_of: fn(T) -> &'static str,
    kind: &str,
    name: &str,
    also: fn(T, &str) -> bool,
) -> Result<T> {
    all.iter().copied().find(|&item| name_of(item) == name || also(item, name)).ok_or_else(|| {
        let names: Vec<&str> = all.iter().map(|&item| name_of(item)).collect();
        DataError::invalid(
            "playground",
            format!("unknown {kind} '{name}'; the {kind}s are: {}", names.join(", ")),
        )
    })
}

/// What to generate: the data set, its noise, the input features and the seed.
///
/// ```
/// use backprop_data::{Feature, LabelEncoding, PlaygroundDataset, PlaygroundSpec};
///
/// let dataset: PlaygroundDataset = "spiral".parse().unwrap();
/// let spec = PlaygroundSpec::new(dataset, "0.12345")
///     .with_noise(10.0)
///     .with_features(Feature::parse_list("x1,x2,sinx1,sinx2").unwrap());
/// let (train, test) = spec.generate_split::<f32>().unwrap();
/// assert_eq!((train.features().shape(), test.len()), (&[250, 4][..], 250));
/// assert_eq!(train.feature_names(), &["x1", "x2", "sinx1", "sinx2"]);
/// // The page's labels are -1 and +1: class 0 and class 1.
/// let signs = train.targets().labels(LabelEncoding::PlusMinusOne).unwrap();
/// assert!(signs.as_slice().iter().all(|&s| s == -1.0 || s == 1.0));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct PlaygroundSpec {
    /// The data set.
    pub dataset: PlaygroundDataset,
    /// Noise in percent, as the page's slider and its `noise=` URL field (0 to 50 on the
    /// page); the generators receive `noise / 100`. Default 0.
    pub noise: f64,
    /// The feature columns, in this order. Default `x1, x2`.
    pub features: Vec<Feature>,
    /// The seed string the page keys its generator with (its `seed=` field, e.g. `0.12345`).
    pub seed: String,
    /// Percentage of points in the training set (`percTrainData`, 10 to 90 on the page).
    /// Default 50.
    pub train_percent: f64,
}

impl PlaygroundSpec {
    /// The page's defaults for `dataset`: no noise, features `x1, x2`, a 50% training set.
    pub fn new(dataset: PlaygroundDataset, seed: impl Into<String>) -> Self {
        PlaygroundSpec {
            dataset,
            noise: 0.0,
            features: vec![Feature::X1, Feature::X2],
            seed: seed.into(),
            train_percent: 50.0,
        }
    }

    /// The data settings of a Playground configuration: its active data set, noise, input
    /// features, seed and training percentage.
    ///
    /// # Errors
    /// When the configuration has no seed (the page would draw a fresh one at random).
    pub fn from_config(config: &PlaygroundConfig) -> Result<Self> {
        let seed = config.seed.clone().ok_or_else(|| {
            DataError::invalid(
                "playground",
                "the configuration has no seed; the data would not be reproducible",
            )
        })?;
        Ok(PlaygroundSpec {
            dataset: PlaygroundDataset::of_config(config),
            noise: config.noise,
            features: config.input_features().into_iter().map(Feature::from_input).collect(),
            seed,
            train_percent: config.perc_train_data,
        })
    }

    /// The same spec with another noise percentage.
    pub fn with_noise(mut self, noise: f64) -> Self {
        self.noise = noise;
        self
    }

    /// The same spec with other features.
    pub fn with_features(mut self, features: Vec<Feature>) -> Self {
        self.features = features;
        self
    }

    /// The same spec with another training percentage.
    pub fn with_train_percent(mut self, train_percent: f64) -> Self {
        self.train_percent = train_percent;
        self
    }

    /// All points of the data set, in the page's shuffled order.
    ///
    /// As the page: the generator is seeded with [`PlaygroundSpec::seed`], draws
    /// [`PlaygroundDataset::num_samples`] points with noise `noise / 100`, and the same
    /// generator shuffles them. Features are `[n, k]` for the chosen features; targets are
    /// classes `["-1", "1"]` (index 0 is the page's label −1, index 1 is +1; see
    /// [`Targets::labels`] with [`LabelEncoding::PlusMinusOne`](crate::LabelEncoding::PlusMinusOne)) or values `[n, 1]`: in [−1, 1] for `multi-gauss`, and in
    /// (−1.2, 1.2) for `plane`, whose d3 scale maps x₁ + x₂ by [−10, 10] → [−1, 1] unclamped.
    ///
    /// # Errors
    /// When the noise is negative or not finite, or there are no features.
    pub fn generate<F: Float>(&self) -> Result<Dataset<F>> {
        if !(self.noise.is_finite() && self.noise >= 0.0) {
            return Err(DataError::invalid(
                "playground",
                format!(
                    "the noise must be a finite percentage >= 0 (the page's slider goes 0 to 50), got {}",
                    self.noise
                ),
            ));
        }
        if self.features.is_empty() {
            return Err(DataError::invalid(
                "playground",
                "no input features; choose at least one, e.g. x1,x2",
            ));
        }
        let mut rng = Arc4Random::new(&self.seed);
        let mut points = (self.dataset.generator())(self.dataset.num_samples(), self.noise / 100.0, &mut rng);
        shuffle(&mut points, &mut rng);
        self.to_dataset(&points)
    }

    /// The page's training and test sets: [`PlaygroundSpec::generate`] cut after the first
    /// `⌊n · train_percent / 100⌋` points.
    ///
    /// # Errors
    /// As [`PlaygroundSpec::generate`], and when the cut leaves either set empty.
    pub fn generate_split<F: Float>(&self) -> Result<(Dataset<F>, Dataset<F>)> {
        let n = self.dataset.num_samples();
        let cut = (n as f64 * self.train_percent / 100.0).floor();
        if !(cut >= 1.0 && cut < n as f64) {
            return Err(DataError::invalid(
                "playground",
                format!(
                    "a training percentage of {} leaves an empty training or test set of {n} points",
                    self.train_percent
                ),
            ));
        }
        let all = self.generate::<F>()?;
        let cut = cut as usize;
        let train: Vec<usize> = (0..cut).collect();
        let test: Vec<usize> = (cut..n).collect();
        Ok((all.select(&train)?, all.select(&test)?))
    }

    fn to_dataset<F: Float>(&self, points: &[Example]) -> Result<Dataset<F>> {
        let features: Vec<F> = points
            .iter()
            .flat_map(|p| self.features.iter().map(move |f| F::from_f64(f.value(p.x, p.y))))
            .collect();
        let targets = if self.dataset.is_classification() {
            let indices = points.iter().map(|p| usize::from(p.label > 0.0)).collect();
            Targets::Classes { indices, names: vec!["-1".to_string(), "1".to_string()] }
        } else {
            let values = points.iter().map(|p| F::from_f64(p.label)).collect();
            Targets::Values(Tensor::from_vec(&[points.len(), 1], values))
        };
        let names = self.features.iter().map(|f| f.name().to_string()).collect();
        Dataset::new(Tensor::from_vec(&[points.len(), self.features.len()], features), targets, names)
    }
}

impl CsvTable {
    /// [`CsvTable::feature_matrix`], where a Playground feature (`x1sq`, `sinx2`, ...) that is
    /// not a column is computed from the columns `x1` and `x2`, as the Playground computes it.
    ///
    /// # Errors
    /// A missing column (listing the columns), or a cell that is not a finite number.
    pub fn playground_feature_matrix<F: Float>(&self, names: &[String]) -> Result<Tensor<F>> {
        self.feature_matrix_deriving(names, |name| {
            let feature = name.parse::<Feature>().ok()?;
            Some((["x1", "x2"], move |x1, x2| feature.value(x1, x2)))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::LabelEncoding;
    use backprop_playground::Playground;

    #[test]
    fn names_parse_and_errors_list_the_choices() {
        let parsed: Vec<PlaygroundDataset> =
            PlaygroundDataset::ALL.iter().map(|d| d.name().parse().unwrap()).collect();
        assert_eq!(parsed, PlaygroundDataset::ALL, "each name parses to its data set");
        assert_eq!("reg-gauss".parse::<PlaygroundDataset>().unwrap(), PlaygroundDataset::MultiGauss);
        let err = "moons".parse::<PlaygroundDataset>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "playground: unknown data set 'moons'; the data sets are: circle, xor, gauss, spiral, plane, multi-gauss"
        );
        let all = Feature::parse_list("x1, x2,x1sq,x2sq,x1x2,sinx1,sinx2").unwrap();
        assert_eq!(all, Feature::ALL);
        let err = Feature::parse_list("x1,cosx1").unwrap_err();
        assert_eq!(
            err.to_string(),
            "playground: unknown feature 'cosx1'; the features are: x1, x2, x1sq, x2sq, x1x2, sinx1, sinx2"
        );
        assert_eq!(
            Feature::parse_list("x1,x1").unwrap_err().to_string(),
            "playground: feature 'x1' is listed twice"
        );
        assert_eq!(
            Feature::parse_list("").unwrap_err().to_string(),
            "playground: empty feature name in ''; write names separated by commas, e.g. x1,x2"
        );
        for f in Feature::ALL {
            assert_eq!(Feature::from_input(f.input()), f);
        }
    }

    #[test]
    fn point_counts_labels_and_features() {
        for d in PlaygroundDataset::ALL {
            let ds: Dataset<f64> =
                PlaygroundSpec::new(d, "7").with_features(Feature::ALL.to_vec()).generate().unwrap();
            assert_eq!(ds.features().shape(), &[d.num_samples(), 7], "{d}");
            let rows = ds.features().view2().unwrap();
            for row in rows.rows() {
                let (x1, x2) = (row[0], row[1]);
                assert_eq!(row.to_vec(), vec![x1, x2, x1 * x1, x2 * x2, x1 * x2, row[5], row[6]]);
                assert!((row[5] - x1.sin()).abs() < 1e-15 && (row[6] - x2.sin()).abs() < 1e-15);
            }
            match ds.targets() {
                Targets::Classes { indices, names } => {
                    assert!(d.is_classification() && names == &["-1", "1"]);
                    let positives = indices.iter().filter(|&&i| i == 1).count();
                    assert!((150..350).contains(&positives), "{d}: {positives} positives");
                }
                Targets::Values(v) => {
                    assert!(!d.is_classification());
                    // The plane's d3 scale maps x1 + x2 in (-12, 12) by [-10, 10] -> [-1, 1]
                    // without clamping; the bumps are clamped to [-1, 1].
                    let bound = if d == PlaygroundDataset::Plane { 1.2 } else { 1.0 };
                    assert!(v.as_slice().iter().all(|y| y.abs() <= bound));
                    assert!(v.as_slice().iter().any(|y| y.abs() > 0.9));
                }
            }
        }
        assert_eq!(PlaygroundDataset::Circle.num_samples(), 500);
        assert_eq!(PlaygroundDataset::Plane.num_samples(), 1200);
    }

    #[test]
    fn same_points_as_the_replica_run() {
        for url in [
            "#dataset=circle&seed=0.12345&percTrainData=50&x=true&y=true&xTimesY=true&noise=0",
            "#dataset=spiral&seed=abc&percTrainData=70&noise=25&x=true&y=true&sinX=true",
            "#problem=regression&regDataset=reg-gauss&seed=0.5&percTrainData=40&noise=10&x=true&y=true",
        ] {
            let config = PlaygroundConfig::from_url(url).unwrap();
            let run = Playground::new(&config).unwrap();
            let spec = PlaygroundSpec::from_config(&config).unwrap();
            let (train, test) = spec.generate_split::<f64>().unwrap();
            for (ds, points) in [(&train, run.train_points()), (&test, run.test_points())] {
                assert_eq!(ds.len(), points.len(), "{url}");
                let k = spec.features.len();
                for (row, p) in ds.features().as_slice().chunks(k).zip(points) {
                    let expected: Vec<f64> = spec.features.iter().map(|f| f.value(p.x, p.y)).collect();
                    assert_eq!(row, expected.as_slice(), "{url}");
                }
                let labels: Vec<f64> = match ds.targets().labels(LabelEncoding::PlusMinusOne) {
                    Ok(signs) => signs.to_vec(),
                    Err(_) => ds.targets().values().unwrap().to_vec(),
                };
                assert_eq!(labels, points.iter().map(|p| p.label).collect::<Vec<_>>(), "{url}");
            }
        }
    }

    #[test]
    fn noise_flips_labels_and_bad_settings_are_refused() {
        let clean: Dataset<f64> = PlaygroundSpec::new(PlaygroundDataset::Xor, "s").generate().unwrap();
        let rows = clean.features().view2().unwrap();
        let agree = |ds: &Dataset<f64>| {
            let signs = ds.targets().labels(LabelEncoding::PlusMinusOne).unwrap().to_vec();
            rows.rows().into_iter().zip(signs).filter(|(r, s)| (r[0] * r[1] >= 0.0) == (*s > 0.0)).count()
        };
        assert_eq!(agree(&clean), 500, "without noise xor labels are the quadrant signs");
        let noisy: Dataset<f64> =
            PlaygroundSpec::new(PlaygroundDataset::Xor, "s").with_noise(50.0).generate().unwrap();
        assert_eq!(noisy.features(), clean.features(), "noise moves the labels, not the stored points");
        assert!(agree(&noisy) < 480);

        let err =
            PlaygroundSpec::new(PlaygroundDataset::Xor, "s").with_noise(-1.0).generate::<f32>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "playground: the noise must be a finite percentage >= 0 (the page's slider goes 0 to 50), got -1"
        );
        let err = PlaygroundSpec::new(PlaygroundDataset::Xor, "s").with_features(vec![]).generate::<f32>();
        assert_eq!(
            err.unwrap_err().to_string(),
            "playground: no input features; choose at least one, e.g. x1,x2"
        );
        let err = PlaygroundSpec::new(PlaygroundDataset::Xor, "s")
            .with_train_percent(100.0)
            .generate_split::<f32>();
        assert_eq!(
            err.unwrap_err().to_string(),
            "playground: a training percentage of 100 leaves an empty training or test set of 500 points"
        );
        let (train, test) =
            PlaygroundSpec::new(PlaygroundDataset::Gauss, "s").generate_split::<f32>().unwrap();
        assert_eq!((train.len(), test.len()), (250, 250));
    }

    #[test]
    fn playground_features_are_derived_from_x1_and_x2() {
        let t = CsvTable::parse("x1,x2,label\n2,-3,1\n0.5,1,-1\n".as_bytes().to_vec(), "t.csv").unwrap();
        let names: Vec<String> =
            ["x1", "x2", "x1sq", "x1x2", "sinx2"].iter().map(|s| s.to_string()).collect();
        let x: Tensor<f64> = t.playground_feature_matrix(&names).unwrap();
        let row0 = &x.as_slice()[..5];
        assert_eq!(&row0[..4], &[2.0, -3.0, 4.0, -6.0]);
        assert!((row0[4] - (-3.0f64).sin()).abs() < 1e-15);
    }
}
