//! Reading CSV text: what every CSV reader of this crate shares (byte-order marks, line ends,
//! line numbers, headers, numbers), so that all of them accept the same files and report the
//! same errors.

use backprop_tensor::Float;

use crate::error::{CellAt, DataError, Result};

/// A `csv` reader over normalised text: header row, flexible row lengths (checked by the
/// callers, who name the line), cells trimmed.
pub(crate) fn reader(text: &[u8], delimiter: u8) -> csv::Reader<&[u8]> {
    csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .trim(csv::Trim::All)
        .delimiter(delimiter)
        .from_reader(text)
}

/// Reads the next data row into `record`, skipping lines of blanks; returns the line it starts
/// on, or `None` at the end of the text.
///
/// # Errors
/// A malformed record, or a row whose number of fields differs from the header's.
pub(crate) fn next_row(
    csv: &mut csv::Reader<&[u8]>,
    record: &mut csv::ByteRecord,
    text: &[u8],
    source: &str,
    columns: usize,
) -> Result<Option<u64>> {
    loop {
        if !csv.read_byte_record(record).map_err(|e| csv_error(source, &e))? {
            return Ok(None);
        }
        let line = start_line(text, record.position());
        if record.len() == 1 && record[0].is_empty() {
            continue; // A line of blanks.
        }
        if record.len() != columns {
            return Err(DataError::RaggedRow {
                file: source.to_string(),
                line,
                found: record.len(),
                expected: columns,
            });
        }
        return Ok(Some(line));
    }
}

/// Reads the header row, refusing repeated names.
pub(crate) fn read_header(csv: &mut csv::Reader<&[u8]>, source: &str) -> Result<Vec<String>> {
    let header: Vec<String> = csv
        .byte_headers()
        .map_err(|e| csv_error(source, &e))?
        .iter()
        .map(|name| String::from_utf8_lossy(name).into_owned())
        .collect();
    check_unique(&header, source)?;
    Ok(header)
}

/// The line a record starts on. The parser reports where its read began, which is before any
/// blank lines it skipped on the way to the record; those are counted here.
pub(crate) fn start_line(text: &[u8], position: Option<&csv::Position>) -> u64 {
    let Some(position) = position else { return 0 };
    let skipped = text
        .get(position.byte() as usize..)
        .map_or(0, |rest| rest.iter().take_while(|&&b| b == b'\n').count());
    position.line() + skipped as u64
}

/// Strips a UTF-8 byte-order mark, rejects UTF-16, and turns `\r\n` and lone `\r` line ends
/// into `\n` (the `csv` parser counts lines by `\n` alone, and misses those after `\r`).
pub(crate) fn normalize(mut bytes: Vec<u8>, source: &str) -> Result<Vec<u8>> {
    if bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]) {
        return Err(DataError::Utf16 { file: source.to_string() });
    }
    if bytes.starts_with(&[0xEF, 0xBB, 0xBF]) {
        bytes.drain(..3);
    }
    if bytes.contains(&b'\r') {
        let mut kept = 0;
        for i in 0..bytes.len() {
            let byte = bytes[i];
            if byte == b'\r' && bytes.get(i + 1) == Some(&b'\n') {
                continue;
            }
            bytes[kept] = if byte == b'\r' { b'\n' } else { byte };
            kept += 1;
        }
        bytes.truncate(kept);
    }
    Ok(bytes)
}

pub(crate) fn check_unique(header: &[String], source: &str) -> Result<()> {
    for (second, name) in header.iter().enumerate() {
        if let Some(first) = header[..second].iter().position(|other| other == name) {
            return Err(DataError::DuplicateColumn {
                file: source.to_string(),
                name: name.clone(),
                first: first + 1,
                second: second + 1,
            });
        }
    }
    Ok(())
}

pub(crate) fn csv_error(source: &str, error: &csv::Error) -> DataError {
    let line = error.position().map_or(0, csv::Position::line);
    DataError::Csv { file: source.to_string(), line, message: error.to_string() }
}

/// Parses a cell as a finite number of type `F` (an `f32` is parsed as `f32`, not rounded
/// twice); `at` says where the cell is, for the error.
///
/// # Errors
/// An empty cell, text that is not a number, NaN or an infinity, or a value too large for `F`.
pub fn parse_number<F: Float>(text: &str, at: impl Fn() -> CellAt) -> Result<F> {
    if text.is_empty() {
        return Err(DataError::EmptyCell { at: at() });
    }
    let wide: f64 = text.parse().map_err(|_| DataError::NotANumber { at: at(), text: text.to_string() })?;
    if !wide.is_finite() {
        return Err(DataError::NotFinite { at: at(), text: text.to_string() });
    }
    let value = if F::NAME == "f32" {
        let narrow: f32 = text.parse().expect("a valid f64 literal is a valid f32 literal");
        F::from_f64(f64::from(narrow))
    } else {
        F::from_f64(wide)
    };
    if !value.is_finite() {
        return Err(DataError::OutOfRange { at: at(), text: text.to_string(), ty: F::NAME });
    }
    Ok(value)
}
