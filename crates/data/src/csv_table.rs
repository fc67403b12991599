//! A CSV file read as text cells, for using a trained model on new rows: the model names the
//! columns it needs, so other columns (the target, ids, notes) may hold anything, and can be
//! copied to the output as they are.
//!
//! It reads exactly as [`crate::read_csv`] does (header row, cells trimmed, a UTF-8 byte-order
//! mark skipped, `\r\n` and `\r` line ends, blank lines skipped, numbers parsed straight into
//! the element type) and reports mistakes with the same [`DataError`]s: file, line and column.

use std::path::Path;

use crate::csv_text::{next_row, normalize, parse_number, read_header, reader as csv_reader};
use crate::error::{CellAt, DataError};
use backprop_tensor::{Float, Tensor};

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

impl CsvTable {
    /// Reads the file at `path`.
    ///
    /// # Errors
    /// The file cannot be read, is empty, UTF-16, has a repeated column name, a row with
    /// another number of fields than the header, a cell that is not UTF-8, or no data rows.
    pub fn read(path: &Path) -> Result<Self, DataError> {
        let source = path.display().to_string();
        let bytes = crate::input_file::read_input(path)
            .map_err(|e| DataError::Io { file: source.clone(), source: e })?;
        Self::parse(bytes, &source)
    }

    /// Parses CSV bytes; `source` names them in messages.
    ///
    /// # Errors
    /// As [`CsvTable::read`].
    pub fn parse(bytes: Vec<u8>, source: &str) -> Result<Self, DataError> {
        let text = normalize(bytes, source)?;
        if text.iter().all(u8::is_ascii_whitespace) {
            return Err(DataError::EmptyFile { file: source.to_string() });
        }
        let mut reader = csv_reader(&text, b',');
        let header = read_header(&mut reader, source)?;
        let mut rows = Vec::new();
        let mut lines = Vec::new();
        let mut record = csv::ByteRecord::new();
        while let Some(line) = next_row(&mut reader, &mut record, &text, source, header.len())? {
            let mut row = Vec::with_capacity(header.len());
            for (j, cell) in record.iter().enumerate() {
                let text = std::str::from_utf8(cell).map_err(|_| DataError::NotUtf8 {
                    at: CellAt { file: source.to_string(), line, column: header[j].clone(), index: j + 1 },
                })?;
                row.push(text.to_string());
            }
            rows.push(row);
            lines.push(line);
        }
        if rows.is_empty() {
            return Err(DataError::NoDataRows { file: source.to_string() });
        }
        Ok(CsvTable { source: source.to_string(), header, rows, lines })
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
}
