//! Reading CSV text: what every CSV reader of this crate shares (byte-order marks, line ends,
//! line numbers, headers, numbers), so that all of them accept the same files and report the
//! same errors.
//!
//! The text is read as a stream, record by record ([`CsvRecords`]): no reader of this crate
//! holds a file's bytes whole, so a caller that keeps only a chunk of rows at a time (`predict`)
//! needs memory for that chunk, whatever the file's size.

use std::collections::VecDeque;
use std::io::{self, Read};

use backprop_tensor::Float;

use crate::error::{CellAt, DataError, Result};

/// CSV records read one at a time from a stream: a UTF-8 byte-order mark skipped, UTF-16
/// refused, `\r\n` and lone `\r` line ends read as `\n`, cells trimmed, blank lines skipped,
/// each row with the line it starts on.
pub(crate) struct CsvRecords<R: Read> {
    csv: csv::Reader<Normalized<io::Chain<io::Cursor<Vec<u8>>, R>>>,
    source: String,
    header: Vec<String>,
}

impl<R: Read> CsvRecords<R> {
    /// Starts reading `reader` (named `source` in messages) and reads its header row.
    ///
    /// # Errors
    /// A read error, a UTF-16 text, a file of nothing but blanks, a malformed header, or a
    /// repeated column name.
    pub(crate) fn new(reader: R, source: &str, delimiter: u8) -> Result<Self> {
        let io_error = |e| DataError::Io { file: source.to_string(), source: e };
        let reader = skip_byte_order_mark(reader).map_err(|e| match e {
            Start::Io(e) => io_error(e),
            Start::Utf16 => DataError::Utf16 { file: source.to_string() },
        })?;
        let mut csv = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(true)
            .trim(csv::Trim::All)
            .delimiter(delimiter)
            .from_reader(Normalized::new(reader));
        let header: Vec<String> = csv
            .byte_headers()
            .map_err(|e| stream_error(source, e))?
            .iter()
            .map(|name| String::from_utf8_lossy(name).into_owned())
            .collect();
        if header.iter().all(String::is_empty) {
            // A header of blanks: the file is empty if nothing but blanks follows. Records of
            // blanks read on the way would be skipped as blank lines anyway.
            let mut record = csv::ByteRecord::new();
            while !csv.get_ref().saw_text {
                if !csv.read_byte_record(&mut record).map_err(|e| stream_error(source, e))? {
                    return Err(DataError::EmptyFile { file: source.to_string() });
                }
            }
        }
        check_unique(&header, source)?;
        Ok(CsvRecords { csv, source: source.to_string(), header })
    }

    /// The column names.
    pub(crate) fn header(&self) -> &[String] {
        &self.header
    }

    /// The source's name, for messages.
    pub(crate) fn source(&self) -> &str {
        &self.source
    }

    /// Reads the next data row into `record`, skipping lines of blanks; returns the line it
    /// starts on, or `None` at the end of the text.
    ///
    /// # Errors
    /// A read error, a malformed record, or a row whose number of fields differs from the
    /// header's.
    pub(crate) fn next_row(&mut self, record: &mut csv::ByteRecord) -> Result<Option<u64>> {
        loop {
            if !self.csv.read_byte_record(record).map_err(|e| stream_error(&self.source, e))? {
                return Ok(None);
            }
            let line = match record.position() {
                // The parser reports where its read began, which is before any blank lines it
                // skipped on the way to the record; those are counted here.
                Some(p) => p.line() + self.csv.get_mut().newlines_at(p.byte()),
                None => 0,
            };
            if record.len() == 1 && record[0].is_empty() {
                continue; // A line of blanks.
            }
            if record.len() != self.header.len() {
                return Err(DataError::RaggedRow {
                    file: self.source.clone(),
                    line,
                    found: record.len(),
                    expected: self.header.len(),
                });
            }
            return Ok(Some(line));
        }
    }

    /// The error of a text that ended without a data row.
    pub(crate) fn no_rows(&self) -> DataError {
        DataError::NoDataRows { file: self.source.clone() }
    }
}

/// Why a text cannot be read at all.
enum Start {
    Io(io::Error),
    Utf16,
}

/// `reader` without its UTF-8 byte-order mark; UTF-16 (either byte order) is refused.
fn skip_byte_order_mark<R: Read>(
    mut reader: R,
) -> std::result::Result<io::Chain<io::Cursor<Vec<u8>>, R>, Start> {
    let mut start = [0_u8; 3];
    let mut len = 0;
    while len < start.len() {
        match reader.read(&mut start[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Start::Io(e)),
        }
    }
    let start = &start[..len];
    if start.starts_with(&[0xFF, 0xFE]) || start.starts_with(&[0xFE, 0xFF]) {
        return Err(Start::Utf16);
    }
    let kept = if start == [0xEF, 0xBB, 0xBF] { &[][..] } else { start };
    Ok(io::Cursor::new(kept.to_vec()).chain(reader))
}

/// A stream with `\r\n` and lone `\r` line ends turned into `\n` (the `csv` parser counts lines
/// by `\n` alone, and misses those after `\r`), which remembers where the recent runs of `\n`
/// are (to count the blank lines the parser skips) and whether any text but blanks came.
struct Normalized<R> {
    inner: R,
    /// The last byte read was `\r` (given out as `\n`): a `\n` right after it is dropped.
    after_cr: bool,
    /// Bytes given out so far.
    given: u64,
    /// Runs of `\n` given out, as `[start, end)` offsets, oldest first; runs before the last
    /// record asked about are dropped ([`Normalized::newlines_at`]), so this holds about what
    /// the parser's buffer holds.
    runs: VecDeque<(u64, u64)>,
    /// Whether a byte other than ASCII whitespace was given out.
    saw_text: bool,
}

impl<R: Read> Normalized<R> {
    fn new(inner: R) -> Self {
        Normalized { inner, after_cr: false, given: 0, runs: VecDeque::new(), saw_text: false }
    }

    /// The number of `\n` bytes given out from `offset` on without another byte between them.
    /// Offsets asked about never decrease.
    fn newlines_at(&mut self, offset: u64) -> u64 {
        while self.runs.front().is_some_and(|&(_, end)| end <= offset) {
            self.runs.pop_front();
        }
        match self.runs.front() {
            Some(&(start, end)) if start <= offset => end - offset,
            _ => 0,
        }
    }
}

impl<R: Read> Read for Normalized<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        loop {
            let n = self.inner.read(out)?;
            if n == 0 {
                return Ok(0);
            }
            // In place: bytes are only replaced or dropped, never added.
            let mut kept = 0;
            for i in 0..n {
                let byte = out[i];
                if byte == b'\n' && self.after_cr {
                    self.after_cr = false;
                    continue;
                }
                self.after_cr = byte == b'\r';
                let byte = if byte == b'\r' { b'\n' } else { byte };
                if byte == b'\n' {
                    match self.runs.back_mut() {
                        Some(run) if run.1 == self.given => run.1 += 1,
                        _ => self.runs.push_back((self.given, self.given + 1)),
                    }
                } else if !byte.is_ascii_whitespace() {
                    self.saw_text = true;
                }
                out[kept] = byte;
                kept += 1;
                self.given += 1;
            }
            if kept > 0 {
                return Ok(kept);
            }
            // Only the `\n` of a `\r\n` split across reads: read on.
        }
    }
}

/// A parser error as a [`DataError`]: a read error as the file's, others with their line.
fn stream_error(source: &str, error: csv::Error) -> DataError {
    if matches!(error.kind(), csv::ErrorKind::Io(_)) {
        if let csv::ErrorKind::Io(e) = error.into_kind() {
            return DataError::Io { file: source.to_string(), source: e };
        }
        unreachable!("the kind was just matched");
    }
    let line = error.position().map_or(0, csv::Position::line);
    DataError::Csv { file: source.to_string(), line, message: error.to_string() }
}

/// Refuses a header that names a column twice.
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
