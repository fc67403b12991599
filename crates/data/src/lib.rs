//! # backprop-data
//!
//! Data sets for the backprop workspace:
//!
//! - [`load_csv`] / [`read_csv`]: a CSV file with a header row, a chosen target column
//!   ([`CsvOptions`]), numeric features, and string class labels encoded to indices whose names
//!   are kept in [`Targets::Classes`]. Bad input is an error naming the file, line and column
//!   ([`DataError`]). A numeric target is read as classes when its values are integers with few
//!   distinct values ([`Task::choose`] says which task and why, in one line).
//! - [`read_idx`] / [`write_idx`] and [`mnist`]: IDX files, the MNIST format, uncompressed or
//!   gzip-compressed (`.gz`, decompressed while reading), checked against the file's size (or
//!   what the stream really holds) before anything is allocated.
//! - `PlaygroundSpec`, with the `playground` feature (off by default): the TensorFlow
//!   Playground's six data sets (`PlaygroundDataset`) with its point counts, noise, seeds,
//!   train/test cut and seven input features (`Feature`), point for point the page's (through
//!   `backprop-playground`, which the rest of the crate does not need).
//! - [`train_test_split`]: a seeded split; [`Batches`] and [`Dataset::batch_into`]: shuffled
//!   mini-batches gathered into reusable buffers; [`Standardizer`]: z-scores fitted on the
//!   training set; [`LabelEncoding`]: class indices as one-hot, {0,1}, ±1 or index labels
//!   ([`Targets::labels`]).
//!
//! ```
//! use backprop_data::{Batch, Batches, CsvOptions, Standardizer, read_csv, train_test_split};
//!
//! let csv = "petal_length,petal_width,species\n\
//!            1.4,0.2,setosa\n4.7,1.4,versicolor\n6.0,2.5,virginica\n1.3,0.2,setosa\n\
//!            4.5,1.5,versicolor\n5.1,1.9,virginica\n1.5,0.1,setosa\n4.9,1.5,versicolor\n";
//! let data = read_csv::<f32>(csv.as_bytes(), "flowers.csv", &CsvOptions::new("species")).unwrap();
//! assert_eq!(data.targets().class_names().unwrap(), &["setosa", "versicolor", "virginica"]);
//!
//! let (mut train, mut test) = train_test_split(&data, 0.25, 42).unwrap();
//! assert_eq!((train.len(), test.len()), (6, 2));
//! let scaler = Standardizer::fit(train.features()).unwrap();
//! scaler.apply_to_dataset(&mut train).unwrap();
//! scaler.apply_to_dataset(&mut test).unwrap();
//!
//! let mut batches = Batches::new(train.len(), 4, 7).unwrap();
//! let mut batch = Batch::new();
//! for _epoch in 0..2 {
//!     for rows in batches.next_epoch() {
//!         train.batch_into(rows, &mut batch).unwrap();
//!         assert_eq!(batch.features.shape(), &[rows.len(), 2]);
//!     }
//! }
//!
//! // Mistakes in the file name the line and the column.
//! let err = read_csv::<f32>("a,b,y\n1,2,p\n1,x,q\n".as_bytes(), "bad.csv", &CsvOptions::new("y"));
//! assert_eq!(err.unwrap_err().to_string(), "bad.csv:3: column 'b' (2): 'x' is not a number");
//! ```

#![warn(missing_docs)]

mod batches;
mod csv_load;
mod csv_table;
mod csv_text;
mod dataset;
mod error;
mod idx;
mod input_file;
mod labels;
mod matrix;
mod mnist;
#[cfg(feature = "playground")]
mod playground;
mod shorten;
mod split;
mod standardize;
mod task_choice;

pub use batches::Batches;
pub use csv_load::{CsvOptions, Task, load_csv, load_csv_with_choice, read_csv, read_csv_with_choice};
pub use csv_table::{CSV_CHUNK_ROWS, CSV_CHUNK_ROWS_ENV, CsvChunks, CsvTable, csv_chunk_rows};
pub use csv_text::parse_number;
pub use dataset::{Batch, BatchTargets, Dataset, Targets};
pub use error::{CellAt, DataError, Result};
pub use idx::{IdxArray, IdxData, IdxType, idx_bytes, read_idx, read_idx_from, write_idx};
pub use input_file::{
    DEFAULT_MAX_INPUT_BYTES, MAX_INPUT_BYTES_ENV, max_input_bytes, open_input, open_input_bounded, read_input,
};
pub use labels::LabelEncoding;
pub use mnist::{
    MnistSet, has_mnist_test_set, load_idx_images, load_idx_pair, load_idx_pair_with_classes, mnist,
    mnist_set,
};
#[cfg(feature = "playground")]
pub use playground::{Feature, PlaygroundDataset, PlaygroundSpec};
pub use shorten::{MAX_LISTED_ITEMS, MAX_QUOTED_CHARS, shorten, shorten_list};
pub use split::train_test_split;
pub use standardize::Standardizer;
pub use task_choice::{MAX_AUTO_CLASSES, TaskChoice};
