//! Fuzzes `backprop_data::read_csv`: any bytes are a `Dataset` or an error, never a panic,
//! and a `Dataset` is consistent with the text it came from.
//!
//! With comma delimiters the same text also goes through `CsvTable::parse` (the CLI's reader,
//! on the same parsing core), which must accept every file `read_csv` accepts and give the
//! same feature matrix.
//!
//! The first byte picks the options: bits 0-1 the task, bits 2-3 the delimiter, bit 4 `f32`
//! or `f64`, bits 5-7 which header column is the target (so that most inputs get past the
//! unknown-column check). The rest is the file.

#![no_main]

use backprop_data::{CsvOptions, CsvTable, DataError, Dataset, Targets, Task, read_csv};
use backprop_tensor::Float;
use libfuzzer_sys::fuzz_target;

const DELIMITERS: [u8; 4] = [b',', b';', b'\t', b'|'];

fuzz_target!(|data: &[u8]| {
    let Some((&options_byte, text)) = data.split_first() else {
        return;
    };
    let task = match options_byte & 0b11 {
        0 => Task::Auto,
        1 => Task::Classification,
        _ => Task::Regression,
    };
    let delimiter = DELIMITERS[usize::from((options_byte >> 2) & 0b11)];
    let target = target_column(text, delimiter, usize::from(options_byte >> 5));
    let options = CsvOptions { task, delimiter, ..CsvOptions::new(target) };
    if options_byte & 0b1_0000 == 0 {
        check::<f32>(text, &options);
    } else {
        check::<f64>(text, &options);
    }
});

/// The `index`-th name (wrapping around) of the first line, trimmed, without quotes.
fn target_column(text: &[u8], delimiter: u8, index: usize) -> String {
    let first_line = text.split(|&b| b == b'\n' || b == b'\r').next().unwrap_or_default();
    let names: Vec<&[u8]> = first_line.split(|&b| b == delimiter).collect();
    let name = names[index % names.len()];
    String::from_utf8_lossy(name).trim().trim_matches('"').to_string()
}

fn check<F: Float>(text: &[u8], options: &CsvOptions) {
    let result = read_csv::<F>(text, "fuzz.csv", options);
    match &result {
        Ok(dataset) => check_dataset(dataset, options),
        Err(error) => check_error(error),
    }
    if options.delimiter == b',' {
        check_table(text, result.ok().as_ref());
    }
}

/// `CsvTable` reads what `read_csv` read: the same rows and, column by column, the same numbers.
fn check_table<F: Float>(text: &[u8], dataset: Option<&Dataset<F>>) {
    let table = match CsvTable::parse(text.to_vec(), "fuzz.csv") {
        Ok(table) => table,
        Err(error) => {
            check_error(&error);
            assert!(dataset.is_none(), "read_csv accepted a file CsvTable refuses: {error}");
            return;
        }
    };
    assert!(!table.is_empty());
    assert!(table.rows.iter().all(|row| row.len() == table.header.len()), "a ragged row was accepted");
    if let Some(dataset) = dataset {
        assert_eq!(table.len(), dataset.len());
        let features =
            table.feature_matrix::<F>(dataset.feature_names()).expect("read_csv read these columns");
        assert_eq!(&features, dataset.features(), "CsvTable and read_csv read different numbers");
    }
}

fn check_dataset<F: Float>(dataset: &Dataset<F>, options: &CsvOptions) {
    let rows = dataset.len();
    let features = dataset.features();
    assert!(rows > 0, "a data set without rows was accepted");
    assert_eq!(features.shape()[0], rows);
    assert_eq!(features.shape()[1], dataset.feature_names().len());
    assert!(!dataset.feature_names().contains(&options.target), "the target is also a feature");
    assert!(features.as_slice().iter().all(|v| v.is_finite()), "a non-finite feature was accepted");
    match dataset.targets() {
        Targets::Classes { indices, names } => {
            assert_ne!(options.task, Task::Regression, "regression gave classes");
            assert_eq!(indices.len(), rows);
            assert!(names.len() >= 2, "a single class was accepted");
            assert!(indices.iter().all(|&i| i < names.len()), "a class index out of range");
        }
        Targets::Values(values) => {
            assert_ne!(options.task, Task::Classification, "classification gave values");
            assert_eq!(values.shape(), &[rows, 1]);
            assert!(values.as_slice().iter().all(|v| v.is_finite()), "a non-finite target was accepted");
        }
    }
}

fn check_error(error: &DataError) {
    let message = error.to_string();
    assert!(message.starts_with("fuzz.csv"), "the error does not name the source: {message}");
}
