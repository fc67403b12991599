//! A CSV file read as text cells, for using a trained model on new rows: the model names the
//! columns it needs, so other columns (the target, ids, notes) may hold anything, and can be
//! copied to the output as they are.
//!
//! It reads exactly as [`crate::read_csv`] does (header row, cells trimmed, a UTF-8 byte-order
//! mark skipped, `\r\n` and `\r` line ends, blank lines skipped, numbers parsed straight into
//! the element type) and reports mistakes with the same [`DataError`]s: file, line and column.

use std::io::Read;
use std::path::Path;

use crate::csv_text::{CsvRecords, parse_number};
use crate::error::{CellAt, DataError};
use backprop_tensor::{Float, Tensor};

/// The rows a command that streams a CSV file (`backprop predict`, `backprop eval`) holds at
/// once: enough for a forward pass to be efficient, few enough that memory does not grow with
/// the file (8192 rows of 100 short cells are a few MB).
pub const CSV_CHUNK_ROWS: usize = 8192;

/// The environment variable that sets the rows of a chunk ([`csv_chunk_rows`]), to see that the
/// results do not depend on it (tests read a small file in chunks of a few rows).
pub const CSV_CHUNK_ROWS_ENV: &str = "BACKPROP_CSV_CHUNK_ROWS";

/// The rows of a chunk: [`CSV_CHUNK_ROWS_ENV`] when it holds a positive whole number, else
/// [`CSV_CHUNK_ROWS`].
pub fn csv_chunk_rows() -> usize {
    std::env::var(CSV_CHUNK_ROWS_ENV)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .filter(|&n: &usize| n > 0)
        .unwrap_or(CSV_CHUNK_ROWS)
}

/// A CSV file's header and cells, each row with the line it starts on.
/// ```
/// use backprop_data::CsvTable;
///
/// let table = CsvTable::parse(b"id,x1,x2\nA,1.5,2\nB,-1,0.5\n".to_vec(), "new.csv").unwrap();
/// let x = table.feature_matrix::<f64>(&["x1".into(), "x2".into()]).unwrap();
/// assert_eq!(x.to_vec(), vec![1.5, 2.0, -1.0, 0.5]);
/// assert_eq!(table.rows[1][0], "B");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct CsvTable {
    /// The file, as given (for messages).
    pub source: String,
    /// The column names.
    pub header: Vec<String>,
    /// The cells of each data row (as many as the header).
    pub rows: Vec<Vec<String>>,
    /// The 1-based line on which each row starts (the header is line 1).
    pub lines: Vec<u64>,
}

/// A CSV file read a chunk of rows at a time: each chunk is a [`CsvTable`] of the file's header
/// and at most `rows_per_chunk` rows, with their lines in the file, so that a command working
/// chunk by chunk holds one chunk's cells, never the file's. [`CsvTable::read`] is the one chunk
/// of a file read whole.
///
/// ```
/// use backprop_data::CsvChunks;
///
/// let text = "x,y\n1,a\n\n2,b\n3,c\n";
/// let mut chunks = CsvChunks::new(text.as_bytes(), "s.csv", 2).unwrap();
/// assert_eq!(chunks.header(), ["x", "y"]);
/// let first = chunks.next_chunk().unwrap().unwrap();
/// assert_eq!((first.rows.len(), first.lines.clone()), (2, vec![2, 4]));
/// let second = chunks.next_chunk().unwrap().unwrap();
/// assert_eq!((second.rows, second.lines), (vec![vec!["3".to_string(), "c".into()]], vec![5]));
/// assert!(chunks.next_chunk().unwrap().is_none());
/// ```
pub struct CsvChunks<R: Read> {
    records: CsvRecords<R>,
    rows_per_chunk: usize,
    rows_read: usize,
    record: csv::ByteRecord,
}

impl CsvChunks<std::io::Take<std::fs::File>> {
    /// Opens the file at `path` (a regular file within the input size limit,
    /// `backprop_data::max_input_bytes`) and reads its header.
    ///
    /// # Errors
    /// As [`CsvChunks::new`], and when the file cannot be opened.
    pub fn open(path: &Path, rows_per_chunk: usize) -> Result<Self, DataError> {
        let source = path.display().to_string();
        let file = crate::input_file::open_input_bounded(path)
            .map_err(|e| DataError::Io { file: source.clone(), source: e })?;
        Self::new(file, &source, rows_per_chunk)
    }
}

impl<R: Read> CsvChunks<R> {
    /// Reads the header of the CSV text `reader` (named `source` in messages), to be read in
    /// chunks of `rows_per_chunk` rows (at least 1).
    ///
    /// # Errors
    /// A read error, an empty file (or one of blanks), UTF-16, a malformed header or a
    /// repeated column name.
    pub fn new(reader: R, source: &str, rows_per_chunk: usize) -> Result<Self, DataError> {
        Ok(CsvChunks {
            records: CsvRecords::new(reader, source, b',')?,
            rows_per_chunk: rows_per_chunk.max(1),
            rows_read: 0,
            record: csv::ByteRecord::new(),
        })
    }

    /// The column names.
    pub fn header(&self) -> &[String] {
        self.records.header()
    }

    /// The file, as given (for messages).
    pub fn source(&self) -> &str {
        self.records.source()
    }

    /// The next chunk of rows (1 to `rows_per_chunk`), or `None` after the last.
    ///
    /// # Errors
    /// A read error, a row with another number of fields than the header, a cell that is not
    /// UTF-8 (each naming the line), or a file without data rows (at the first chunk).
    pub fn next_chunk(&mut self) -> Result<Option<CsvTable>, DataError> {
        let source = self.records.source().to_string();
        let header = self.records.header().to_vec();
        let capacity = self.rows_per_chunk.min(CSV_CHUNK_ROWS);
        let (mut rows, mut lines) = (Vec::with_capacity(capacity), Vec::with_capacity(capacity));
        while rows.len() < self.rows_per_chunk {
            let Some(line) = self.records.next_row(&mut self.record)? else { break };
            let mut row = Vec::with_capacity(header.len());
            for (j, cell) in self.record.iter().enumerate() {
                let text = std::str::from_utf8(cell).map_err(|_| DataError::NotUtf8 {
                    at: CellAt { file: source.clone(), line, column: header[j].clone(), index: j + 1 },
                })?;
                row.push(text.to_string());
            }
            rows.push(row);
            lines.push(line);
        }
        if rows.is_empty() {
            return if self.rows_read == 0 { Err(self.records.no_rows()) } else { Ok(None) };
        }
        self.rows_read += rows.len();
        Ok(Some(CsvTable { source, header, rows, lines }))
    }
}

impl CsvTable {
    /// Reads the file at `path` whole ([`CsvChunks`] reads it a chunk at a time).
    ///
    /// # Errors
    /// The file cannot be read, is empty, UTF-16, has a repeated column name, a row with
    /// another number of fields than the header, a cell that is not UTF-8, or no data rows.
    pub fn read(path: &Path) -> Result<Self, DataError> {
        Self::whole(CsvChunks::open(path, usize::MAX)?)
    }

    /// Parses CSV bytes; `source` names them in messages.
    ///
    /// # Errors
    /// As [`CsvTable::read`].
    pub fn parse(bytes: Vec<u8>, source: &str) -> Result<Self, DataError> {
        Self::whole(CsvChunks::new(&bytes[..], source, usize::MAX)?)
    }

    /// The one chunk of `chunks`, whose chunks are unbounded.
    fn whole<R: Read>(mut chunks: CsvChunks<R>) -> Result<Self, DataError> {
        Ok(chunks.next_chunk()?.expect("the first chunk is rows or an error"))
    }

    /// Number of data rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether there are no data rows (never true for a table [`CsvTable::parse`] returned).
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The position of the column named `name`.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.header.iter().position(|h| h == name)
    }

    /// The position of the column named `name`, or an error listing the columns.
    ///
    /// # Errors
    /// When there is no such column.
    pub fn require_column(&self, name: &str) -> Result<usize, DataError> {
        self.column(name).ok_or_else(|| DataError::UnknownColumn {
            file: self.source.clone(),
            name: name.to_string(),
            columns: self.header.clone(),
        })
    }

    /// Where the cell of `row` in column `col` is.
    pub fn cell_at(&self, row: usize, col: usize) -> CellAt {
        CellAt {
            file: self.source.clone(),
            line: self.lines[row],
            column: self.header[col].clone(),
            index: col + 1,
        }
    }

    /// The cells of column `col` as finite numbers of type `F`.
    ///
    /// # Errors
    /// An empty cell, a cell that is not a number, NaN or an infinity, or a value too large
    /// for `F`, each naming the line and the column.
    pub fn numbers<F: Float>(&self, col: usize) -> Result<Vec<F>, DataError> {
        (0..self.len()).map(|row| parse_number(&self.rows[row][col], || self.cell_at(row, col))).collect()
    }

    /// The matrix `[rows, names.len()]` of the named columns, in that order.
    ///
    /// # Errors
    /// A missing column (listing the columns), or a cell that is not a finite number.
    pub fn feature_matrix<F: Float>(&self, names: &[String]) -> Result<Tensor<F>, DataError> {
        self.feature_matrix_deriving(names, |_| None::<([&str; 2], fn(f64, f64) -> f64)>)
    }

    /// [`CsvTable::feature_matrix`], where a name that is not a column may be computed from two
    /// other columns: `derive(name)` gives their names and the function of their values, or
    /// `None` when the name cannot be derived (the column is then missing). With the
    /// `playground` feature, `CsvTable::playground_feature_matrix` derives the Playground's
    /// features from `x1` and `x2`.
    ///
    /// # Errors
    /// A missing column (listing the columns), or a cell that is not a finite number.
    pub fn feature_matrix_deriving<F: Float, D: Fn(f64, f64) -> f64>(
        &self,
        names: &[String],
        derive: impl Fn(&str) -> Option<([&str; 2], D)>,
    ) -> Result<Tensor<F>, DataError> {
        let mut columns: Vec<Vec<F>> = Vec::with_capacity(names.len());
        for name in names {
            if let Some(col) = self.column(name) {
                columns.push(self.numbers(col)?);
                continue;
            }
            let derived = derive(name)
                .and_then(|([a, b], function)| Some((function, (self.column(a)?, self.column(b)?))));
            let Some((function, (c1, c2))) = derived else {
                return Err(self.require_column(name).expect_err("the column is missing"));
            };
            let x1: Vec<f64> = self.numbers(c1)?;
            let x2: Vec<f64> = self.numbers(c2)?;
            columns.push(x1.iter().zip(&x2).map(|(&a, &b)| F::from_f64(function(a, b))).collect());
        }
        let rows = self.len();
        let k = names.len();
        let mut data = vec![F::zero(); rows * k];
        for (j, column) in columns.iter().enumerate() {
            for (i, &v) in column.iter().enumerate() {
                data[i * k + j] = v;
            }
        }
        Ok(Tensor::from_vec(&[rows, k], data))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CsvOptions, read_csv};

    fn table(text: &str) -> Result<CsvTable, DataError> {
        CsvTable::parse(text.as_bytes().to_vec(), "t.csv")
    }

    #[test]
    fn reads_like_the_data_crate() {
        let text = "\u{feff}a, b ,y\r\n1,2,p\r\n\r\n3,4e-1,q\r\n";
        let t = table(text).unwrap();
        assert_eq!(t.header, ["a", "b", "y"]);
        assert_eq!(t.rows, [["1", "2", "p"], ["3", "4e-1", "q"]]);
        assert_eq!(t.lines, [2, 4]);
        let x: Tensor<f32> = t.feature_matrix(&["b".into(), "a".into()]).unwrap();
        assert_eq!(x.to_vec(), vec![2.0, 1.0, 0.4, 3.0]);
        let ds = read_csv::<f32>(text.as_bytes(), "t.csv", &CsvOptions::new("y")).unwrap();
        let same: Tensor<f32> = t.feature_matrix(&["a".into(), "b".into()]).unwrap();
        assert_eq!(&same, ds.features());
    }

    #[test]
    fn errors_name_the_file_line_and_column() {
        let cases = [
            ("", "t.csv: the file is empty; expected a header row and data rows"),
            ("a,b\n", "t.csv: the file has a header row but no data rows"),
            ("a,b\n1,2\n1\n", "t.csv:3: the row has 1 field, the header has 2"),
            ("a,a\n1,2\n", "t.csv: column 'a' appears twice in the header (columns 1 and 2)"),
        ];
        for (text, expected) in cases {
            assert_eq!(table(text).unwrap_err().to_string(), expected, "{text:?}");
        }
        let t = table("a,b\n1,x\n2,\n3,inf\n").unwrap();
        let err = t.feature_matrix::<f32>(&["a".into(), "b".into()]).unwrap_err();
        assert_eq!(err.to_string(), "t.csv:2: column 'b' (2): 'x' is not a number");
        let err = t.feature_matrix::<f32>(&["c".into()]).unwrap_err();
        assert_eq!(err.to_string(), "t.csv: no column named 'c'; the columns are: a, b");
        let t = table("a,b\n1,2\n\n\n2,\n").unwrap();
        assert_eq!(
            t.numbers::<f64>(1).unwrap_err().to_string(),
            "t.csv:5: column 'b' (2): the cell is empty"
        );
        let t = table("a\n1e39\n").unwrap();
        assert_eq!(
            t.numbers::<f32>(0).unwrap_err().to_string(),
            "t.csv:2: column 'a' (1): '1e39' is too large for f32"
        );
    }

    /// A reader that gives one byte per read, so that every line end, `\r\n` and run of blank
    /// lines is split across reads.
    struct OneByte<'a>(&'a [u8]);

    impl Read for OneByte<'_> {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            let Some((&first, rest)) = self.0.split_first() else { return Ok(0) };
            if out.is_empty() {
                return Ok(0);
            }
            out[0] = first;
            self.0 = rest;
            Ok(1)
        }
    }

    #[test]
    fn chunks_of_any_size_make_the_whole_table() {
        let text = "\u{feff}a,b,note\r\n1,2,x\r\n\r\n\r\n3,4,\"two\nlines\"\n5,6,y\r7,8,z\n\n\n  \n9,10,w\n";
        let whole = table(text).unwrap();
        assert_eq!(whole.lines, [2, 5, 7, 8, 12]);
        for size in 1..=6 {
            for one_byte in [false, true] {
                let mut chunks = if one_byte {
                    let reader: Box<dyn Read> = Box::new(OneByte(text.as_bytes()));
                    CsvChunks::new(reader, "t.csv", size).unwrap()
                } else {
                    CsvChunks::new(Box::new(text.as_bytes()) as Box<dyn Read>, "t.csv", size).unwrap()
                };
                assert_eq!(chunks.header(), whole.header);
                let (mut rows, mut lines) = (Vec::new(), Vec::new());
                while let Some(chunk) = chunks.next_chunk().unwrap() {
                    assert!((1..=size).contains(&chunk.len()), "size {size}");
                    assert_eq!(chunk.header, whole.header);
                    rows.extend(chunk.rows);
                    lines.extend(chunk.lines);
                }
                assert_eq!(
                    (rows, lines),
                    (whole.rows.clone(), whole.lines.clone()),
                    "size {size}, {one_byte}"
                );
            }
        }
    }

    #[test]
    fn a_bad_cell_in_a_later_chunk_names_its_line_in_the_file() {
        let mut text = String::from("x,y\n");
        for i in 0..10 {
            text.push_str(&format!("{i},{i}\n\n"));
        }
        text.push_str("7,oops\n");
        let mut chunks = CsvChunks::new(text.as_bytes(), "t.csv", 4).unwrap();
        let mut errors = Vec::new();
        while let Some(chunk) = chunks.next_chunk().unwrap() {
            if let Err(e) = chunk.feature_matrix::<f32>(&["x".into(), "y".into()]) {
                errors.push(e.to_string());
            }
        }
        assert_eq!(errors, ["t.csv:22: column 'y' (2): 'oops' is not a number"]);
        let err = CsvChunks::new("a,b\n1,2\n3\n".as_bytes(), "t.csv", 1).unwrap();
        let mut err = err;
        assert!(err.next_chunk().is_ok());
        assert_eq!(
            err.next_chunk().unwrap_err().to_string(),
            "t.csv:3: the row has 1 field, the header has 2"
        );
        let mut empty = CsvChunks::new("a,b\n\n".as_bytes(), "t.csv", 3).unwrap();
        assert_eq!(
            empty.next_chunk().unwrap_err().to_string(),
            "t.csv: the file has a header row but no data rows"
        );
        let blank = CsvChunks::new(" \n\t\n\n".as_bytes(), "t.csv", 3).err().unwrap();
        assert_eq!(blank.to_string(), "t.csv: the file is empty; expected a header row and data rows");
    }
}
