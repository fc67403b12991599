//! The error type of data loading and preparation.

use std::fmt;

use backprop_tensor::TensorError;

/// Where a CSV cell is: file, line (1-based, the header is line 1) and column (name and 1-based
/// index). Displayed as `iris.csv:7: column 'petal_width' (4)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CellAt {
    /// The file (or source name) the cell was read from.
    pub file: String,
    /// The 1-based line on which the cell's row starts; the header is line 1.
    pub line: u64,
    /// The column's name in the header.
    pub column: String,
    /// The column's 1-based position in the header.
    pub index: usize,
}

impl fmt::Display for CellAt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: column '{}' ({})", self.file, self.line, crate::shorten(&self.column), self.index)
    }
}

/// Why a data set could not be read or prepared.
///
/// Every message names what failed and where: file, line and column for CSV cells, the file and
/// the header for IDX files, the operation and the sizes for in-memory preparation.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The file could not be opened or read.
    #[error("{file}: {source}")]
    Io {
        /// The file.
        file: String,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A CSV file without a single byte (or only a byte-order mark, blanks and blank lines).
    #[error("{file}: the file is empty; expected a header row and data rows")]
    EmptyFile {
        /// The file.
        file: String,
    },
    /// A CSV file with a header row and nothing below it.
    #[error("{file}: the file has a header row but no data rows")]
    NoDataRows {
        /// The file.
        file: String,
    },
    /// A CSV file encoded in UTF-16 (recognised by its byte-order mark).
    #[error("{file}: the file is UTF-16 encoded; save it as UTF-8")]
    Utf16 {
        /// The file.
        file: String,
    },
    /// A CSV row whose number of fields differs from the header's.
    #[error("{file}:{line}: the row has {found} field{}, the header has {expected}", if *found == 1 { "" } else { "s" })]
    RaggedRow {
        /// The file.
        file: String,
        /// The 1-based line on which the row starts.
        line: u64,
        /// Fields in the row.
        found: usize,
        /// Fields in the header.
        expected: usize,
    },
    /// A CSV header naming two columns the same.
    #[error("{file}: column '{name}' appears twice in the header (columns {first} and {second})")]
    DuplicateColumn {
        /// The file.
        file: String,
        /// The repeated name.
        name: String,
        /// 1-based position of its first occurrence.
        first: usize,
        /// 1-based position of its second occurrence.
        second: usize,
    },
    /// A CSV target column that the header does not have.
    #[error(
        "{file}: no column named '{}'; the columns are: {}",
        crate::shorten(name),
        crate::shorten_list(columns)
    )]
    UnknownColumn {
        /// The file.
        file: String,
        /// The name asked for.
        name: String,
        /// The header's column names, in order.
        columns: Vec<String>,
    },
    /// A CSV file whose only column is the target.
    #[error("{file}: the target '{target}' is the only column; there are no feature columns")]
    NoFeatures {
        /// The file.
        file: String,
        /// The target column.
        target: String,
    },
    /// An empty CSV cell (missing value).
    #[error("{at}: the cell is empty")]
    EmptyCell {
        /// The cell.
        at: CellAt,
    },
    /// A CSV cell that is not valid UTF-8.
    #[error("{at}: the cell is not valid UTF-8")]
    NotUtf8 {
        /// The cell.
        at: CellAt,
    },
    /// A CSV cell in a numeric column that does not parse as a number.
    #[error("{at}: '{}' is not a number", crate::shorten(text))]
    NotANumber {
        /// The cell.
        at: CellAt,
        /// The cell's text (trimmed).
        text: String,
    },
    /// A CSV cell holding NaN or an infinity.
    #[error("{at}: '{}' is not a finite number", crate::shorten(text))]
    NotFinite {
        /// The cell.
        at: CellAt,
        /// The cell's text (trimmed).
        text: String,
    },
    /// A CSV cell whose finite value overflows the element type (e.g. `1e300` in `f32`).
    #[error("{at}: '{}' is too large for {ty}", crate::shorten(text))]
    OutOfRange {
        /// The cell.
        at: CellAt,
        /// The cell's text (trimmed).
        text: String,
        /// The element type, `f32` or `f64`.
        ty: &'static str,
    },
    /// A classification target with fewer than two distinct classes.
    #[error(
        "{file}: column '{column}' has only one class ('{class}'); classification needs at least 2 classes"
    )]
    SingleClass {
        /// The file.
        file: String,
        /// The target column.
        column: String,
        /// The one class present.
        class: String,
    },
    /// A malformed CSV file that the `csv` parser rejected.
    #[error("{file}:{line}: {message}")]
    Csv {
        /// The file.
        file: String,
        /// The 1-based line where the parser stopped.
        line: u64,
        /// The parser's message.
        message: String,
    },
    /// A malformed IDX (MNIST format) file.
    #[error("{file}: {reason}")]
    Idx {
        /// The file.
        file: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An argument that a data operation cannot take (fractions, sizes, shapes, indices).
    #[error("{op}: {reason}")]
    Invalid {
        /// The operation, e.g. `train_test_split`.
        op: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A tensor operation failed.
    #[error(transparent)]
    Tensor(#[from] TensorError),
}

impl DataError {
    /// An invalid argument to the operation `op`.
    pub fn invalid(op: &'static str, reason: impl Into<String>) -> Self {
        DataError::Invalid { op, reason: reason.into() }
    }

    /// A malformed IDX file.
    pub(crate) fn idx(file: &str, reason: impl Into<String>) -> Self {
        DataError::Idx { file: file.to_string(), reason: reason.into() }
    }
}

/// Result of a data operation.
pub type Result<T, E = DataError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_file_line_and_column() {
        let at = CellAt { file: "iris.csv".into(), line: 7, column: "petal_width".into(), index: 4 };
        let err = DataError::NotANumber { at, text: "abc".into() };
        assert_eq!(err.to_string(), "iris.csv:7: column 'petal_width' (4): 'abc' is not a number");
        let err = DataError::UnknownColumn {
            file: "a.csv".into(),
            name: "y".into(),
            columns: vec!["x1".into(), "x2".into()],
        };
        assert_eq!(err.to_string(), "a.csv: no column named 'y'; the columns are: x1, x2");
        assert_eq!(DataError::invalid("one_hot", "0 classes").to_string(), "one_hot: 0 classes");
    }
}
