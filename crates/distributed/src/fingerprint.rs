//! Hashes of what every rank must share: the settings and the data.

use std::hash::{DefaultHasher, Hash, Hasher};

use backprop_data::{Dataset, Targets};
use backprop_tensor::Float;

/// A 64-bit hash of settings and data, compared across ranks at start-up. `DefaultHasher::new()`
/// has fixed keys, so the same binary hashes the same values alike on every rank (ranks must
/// run the same build, as they must anyway to train alike).
#[derive(Debug, Clone, Default)]
pub struct Fingerprint(DefaultHasher);

impl Fingerprint {
    /// An empty fingerprint.
    pub fn new() -> Self {
        Fingerprint(DefaultHasher::new())
    }

    /// Adds a value (settings: anything `Debug`, e.g. a configuration struct, by its text).
    pub fn debug(mut self, value: &impl std::fmt::Debug) -> Self {
        format!("{value:?}").hash(&mut self.0);
        self
    }

    /// Adds a data set: its shape, every feature value's bits, its targets and names.
    pub fn dataset<F: Float>(mut self, data: &Dataset<F>) -> Self {
        data.features().shape().hash(&mut self.0);
        for v in data.features().as_slice() {
            Float::to_f64(*v).to_bits().hash(&mut self.0);
        }
        data.feature_names().hash(&mut self.0);
        match data.targets() {
            Targets::Classes { indices, names } => {
                indices.hash(&mut self.0);
                names.hash(&mut self.0);
            }
            Targets::Values(values) => {
                for v in values.as_slice() {
                    Float::to_f64(*v).to_bits().hash(&mut self.0);
                }
            }
        }
        self
    }

    /// The hash.
    pub fn finish(&self) -> u64 {
        self.0.finish()
    }
}
