//! # backprop-data
//!
//! Data sets for the backprop workspace: CSV and IDX (MNIST) loading with precise errors,
//! seeded train/test splits, shuffled mini-batches, standardisation and one-hot encoding.

#![warn(missing_docs)]

mod batches;
mod csv_load;
mod dataset;
mod error;
mod idx;
mod mnist;
mod one_hot;
mod split;
mod standardize;

pub use batches::Batches;
pub use csv_load::{CsvOptions, Task, load_csv, read_csv};
pub use dataset::{Batch, BatchTargets, Dataset, Targets};
pub use error::{CellAt, DataError, Result};
pub use idx::{IdxArray, IdxData, IdxType, idx_bytes, read_idx, read_idx_from, write_idx};
pub use mnist::{load_idx_pair, mnist};
pub use one_hot::{one_hot, one_hot_into};
pub use split::train_test_split;
pub use standardize::Standardizer;
