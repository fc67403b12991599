//! # backprop-playground
//!
//! A headless replica of the [TensorFlow Playground](https://playground.tensorflow.org),
//! number for number: paste a Playground URL and get the same run the page makes, in plain
//! `f64` arithmetic and much faster.
//!
//! What makes the numbers equal, not merely close:
//! - the page's random generator, seedrandom 2.4.4's ARC4 keyed by the seed string
//!   ([`Arc4Random`]), drawn in the page's order: data generation, shuffle, then one weight
//!   per link;
//! - its data generators ([`classify_circle_data`], ...) and input features
//!   ([`InputFeature`]), operation for operation, including d3's scale arithmetic;
//! - its network ([`Network`]): weights U(−0.5, 0.5), biases 0.1, tanh output for
//!   classification and linear for regression, per-example backpropagation of ½(o − y)²,
//!   batch-mean updates with a trailing partial batch carried into the next epoch, L1 that
//!   kills links crossing zero, L2, unregularised biases;
//! - V8's `Math` functions ([`jsmath`]), which differ from Rust's and `libm`'s in the last bit.
//!
//! Reported losses are the page's: the mean of ½(output − label)² over the training and
//! the test points, epoch 0 being before training.
//!
//! ```
//! use backprop_playground::{Playground, PlaygroundConfig};
//!
//! let url = "https://playground.tensorflow.org/#activation=tanh&batchSize=10&dataset=circle\
//!            &learningRate=0.03&networkShape=4,2&seed=0.12345&percTrainData=50&x=true&y=true";
//! let config = PlaygroundConfig::from_url(url)?;
//! let mut run = Playground::new(&config)?;
//! let history = run.run(3);
//! assert_eq!(history.len(), 4);
//! // Epoch 0 of this run, as the page computes it (playground_reference.json).
//! assert_eq!(history[0].train_loss, 0.5015807429602891);
//! assert!(history[3].train_loss < history[0].train_loss);
//! assert!(history[3].test_accuracy.is_some());
//!
//! // The page's picture: outputs on a grid over [-6, 6]², rows from the top, and its colours.
//! let grid = run.heatmap(100);
//! let top_left = backprop_playground::color(grid[0][0]);
//! assert_eq!(top_left.len(), 3);
//! # Ok::<(), backprop_playground::PlaygroundError>(())
//! ```

#![warn(missing_docs)]

mod activation;
mod config;
pub mod d3;
mod dataset;
mod error;
mod features;
mod hash;
pub mod heatmap;
pub mod jsmath;
mod network;
mod playground;
mod seedrandom;

pub use activation::{Activation, Regularization, square_error, square_error_der};
pub use config::{
    ClassifyDataset, NUM_SAMPLES_CLASSIFY, NUM_SAMPLES_REGRESS, PlaygroundConfig, Problem, RegressDataset,
};
pub use dataset::{
    DataGenerator, Example, classify_circle_data, classify_spiral_data, classify_two_gauss_data,
    classify_xor_data, regress_gaussian, regress_plane, shuffle,
};
pub use error::PlaygroundError;
pub use features::{InputFeature, construct_input};
pub use hash::js_number;
pub use heatmap::{color, color_continuous, heatmap_color};
pub use network::{Link, Network, Node};
pub use playground::{EpochRecord, Playground};
pub use seedrandom::Arc4Random;
