//! Loading a data set from a CSV file with a header row.

use std::io::Read;
use std::path::Path;

use backprop_tensor::{Float, Tensor};

use crate::csv_text::{CsvRecords, parse_number};
use crate::dataset::{Dataset, Targets};
use crate::error::{CellAt, DataError, Result};
pub use crate::task_choice::Task;
use crate::task_choice::TaskChoice;

/// How to read a CSV file: which column is the target, and what kind of target it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvOptions {
    /// The header name of the target column; every other column is a numeric feature.
    pub target: String,
    /// Classification, regression, or decided from the target column ([`Task::Auto`]).
    pub task: Task,
    /// The field delimiter (default `b','`).
    pub delimiter: u8,
}

impl CsvOptions {
    /// Options with `target` as the target column, [`Task::Auto`] and comma delimiters; set the
    /// other fields with struct update syntax,
    /// `CsvOptions { delimiter: b';', ..CsvOptions::new("y") }`.
    pub fn new(target: impl Into<String>) -> Self {
        CsvOptions { target: target.into(), task: Task::Auto, delimiter: b',' }
    }
}

/// Loads a CSV file into a [`Dataset`]: see [`read_csv`] for the format and the errors.
///
/// # Errors
/// When the file cannot be read, and as [`read_csv`]; messages start with the path as given.
pub fn load_csv<F: Float>(path: impl AsRef<Path>, options: &CsvOptions) -> Result<Dataset<F>> {
    Ok(load_csv_with_choice(path, options)?.0)
}

/// [`load_csv`], also returning the task chosen for the target and why ([`Task::choose`]), for
/// a command to say what it decided.
///
/// # Errors
/// As [`load_csv`].
pub fn load_csv_with_choice<F: Float>(
    path: impl AsRef<Path>,
    options: &CsvOptions,
) -> Result<(Dataset<F>, TaskChoice)> {
    let path = path.as_ref();
    let file = crate::input_file::open_input_bounded(path)
        .map_err(|source| DataError::Io { file: path.display().to_string(), source })?;
    read_csv_with_choice(file, &path.display().to_string(), options)
}

/// Reads CSV text into a [`Dataset`]; `source` names it in error messages (e.g. the file name).
///
/// The first row is the header. The target column ([`CsvOptions::target`]) becomes the
/// targets, every other column a numeric feature, in header order. Cells are trimmed of spaces;
/// fields may be quoted. A UTF-8 byte-order mark is skipped, lines may end in `\n`, `\r\n` or
/// `\r` (inside a quoted field too, they read as `\n`), and blank lines are skipped.
///
/// Classification targets are strings; their classes are the distinct texts sorted as
/// scikit-learn's `LabelEncoder` sorts them (by value when every class is a number, else by
/// text), so class `i` is `names[i]`. Regression targets form a `[n, 1]` matrix.
///
/// # Errors
/// Each names the source, and for a cell the 1-based line (the header is line 1) and the
/// column's name and 1-based position, e.g. `iris.csv:7: column 'petal_width' (4): 'abc' is
/// not a number`: an empty file, a header without rows, a UTF-16 file, a repeated column name,
/// an unknown target column (listing the columns), a target-only file, a row with a different
/// number of fields than the header, an empty cell, a cell that is not a number, NaN or an
/// infinity, a value too large for `F`, and a classification target with a single class.
///
/// ```
/// use backprop_data::{CsvOptions, read_csv};
///
/// let text = "x1,x2,label\n0.5,1,cat\n-1,2.5,dog\n3,0,cat\n";
/// let ds = read_csv::<f32>(text.as_bytes(), "pets.csv", &CsvOptions::new("label")).unwrap();
/// assert_eq!(ds.features().shape(), &[3, 2]);
/// assert_eq!(ds.targets().class_names().unwrap(), &["cat", "dog"]);
/// assert_eq!(ds.targets().class_indices().unwrap(), &[0, 1, 0]);
///
/// let bad = "x1,x2,label\n0.5,1,cat\n-1,oops,dog\n";
/// let err = read_csv::<f32>(bad.as_bytes(), "pets.csv", &CsvOptions::new("label")).unwrap_err();
/// assert_eq!(err.to_string(), "pets.csv:3: column 'x2' (2): 'oops' is not a number");
/// ```
pub fn read_csv<F: Float>(reader: impl Read, source: &str, options: &CsvOptions) -> Result<Dataset<F>> {
    Ok(read_csv_with_choice(reader, source, options)?.0)
}

/// [`read_csv`], also returning the task chosen for the target and why.
///
/// # Errors
/// As [`read_csv`].
pub fn read_csv_with_choice<F: Float>(
    reader: impl Read,
    source: &str,
    options: &CsvOptions,
) -> Result<(Dataset<F>, TaskChoice)> {
    let mut csv = CsvRecords::new(reader, source, options.delimiter)?;
    let header = csv.header().to_vec();
    let target =
        header.iter().position(|name| *name == options.target).ok_or_else(|| DataError::UnknownColumn {
            file: source.to_string(),
            name: options.target.clone(),
            columns: header.clone(),
        })?;
    if header.len() == 1 {
        return Err(DataError::NoFeatures { file: source.to_string(), target: options.target.clone() });
    }

    let mut features: Vec<F> = Vec::new();
    let mut target_cells: Vec<(String, u64)> = Vec::new();
    let mut record = csv::ByteRecord::new();
    while let Some(line) = csv.next_row(&mut record)? {
        for (j, cell) in record.iter().enumerate() {
            let at = || CellAt { file: source.to_string(), line, column: header[j].clone(), index: j + 1 };
            let text = std::str::from_utf8(cell).map_err(|_| DataError::NotUtf8 { at: at() })?;
            if text.is_empty() {
                return Err(DataError::EmptyCell { at: at() });
            }
            if j == target {
                target_cells.push((text.to_string(), line));
            } else {
                features.push(parse_number(text, at)?);
            }
        }
    }
    if target_cells.is_empty() {
        return Err(csv.no_rows());
    }

    let rows = target_cells.len();
    let column = &header[target];
    let texts: Vec<&str> = target_cells.iter().map(|(text, _)| text.as_str()).collect();
    let choice = options.task.choose(column, &texts);
    let classify = choice.task == Task::Classification;
    if classify && options.task == Task::Auto {
        canonical_integers(&mut target_cells);
    }
    let targets = if classify {
        encode_classes(&target_cells, source, column)?
    } else {
        let values = target_cells
            .iter()
            .map(|(text, line)| {
                let at = || CellAt {
                    file: source.to_string(),
                    line: *line,
                    column: column.clone(),
                    index: target + 1,
                };
                parse_number(text, at)
            })
            .collect::<Result<Vec<F>>>()?;
        Targets::Values(Tensor::from_vec(&[rows, 1], values))
    };
    let feature_names =
        header.iter().enumerate().filter(|&(j, _)| j != target).map(|(_, name)| name.clone()).collect();
    let dataset =
        Dataset::new(Tensor::from_vec(&[rows, header.len() - 1], features), targets, feature_names)?;
    Ok((dataset, choice))
}

/// Writes integers that the rule of [`Task::Auto`] read as classes the one way: `7.0` and `7`
/// are the same number, so the same class, named `7`.
fn canonical_integers(cells: &mut [(String, u64)]) {
    for (text, _) in cells {
        if let Ok(value) = text.parse::<f64>() {
            // `+ 0.0` turns -0 into 0.
            *text = (value + 0.0).to_string();
        }
    }
}

/// Class indices and names, the names sorted by value when all are numbers, else by text.
fn encode_classes<F: Float>(cells: &[(String, u64)], source: &str, column: &str) -> Result<Targets<F>> {
    let mut names: Vec<&str> = cells.iter().map(|(text, _)| text.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    let numeric: Option<Vec<f64>> =
        names.iter().map(|n| n.parse::<f64>().ok().filter(|v| !v.is_nan())).collect();
    if let Some(values) = numeric {
        let mut order: Vec<usize> = (0..names.len()).collect();
        order.sort_by(|&a, &b| values[a].total_cmp(&values[b]).then_with(|| names[a].cmp(names[b])));
        names = order.into_iter().map(|i| names[i]).collect();
    }
    if names.len() < 2 {
        return Err(DataError::SingleClass {
            file: source.to_string(),
            column: column.to_string(),
            class: names[0].to_string(),
        });
    }
    let index: std::collections::HashMap<&str, usize> =
        names.iter().enumerate().map(|(i, &n)| (n, i)).collect();
    let indices = cells.iter().map(|(text, _)| index[text.as_str()]).collect();
    Ok(Targets::Classes { indices, names: names.into_iter().map(str::to_string).collect() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(name: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data").join(name)
    }

    fn read(text: &str, target: &str) -> Result<Dataset<f64>> {
        read_csv(text.as_bytes(), "bad.csv", &CsvOptions::new(target))
    }

    fn message(text: &str, target: &str) -> String {
        read(text, target).unwrap_err().to_string()
    }

    #[test]
    fn iris_has_150_rows_4_features_and_3_classes() {
        let ds: Dataset<f32> = load_csv(sample("iris.csv"), &CsvOptions::new("species")).unwrap();
        assert_eq!(ds.features().shape(), &[150, 4]);
        assert_eq!(ds.feature_names(), &["sepal_length", "sepal_width", "petal_length", "petal_width"]);
        assert_eq!(ds.targets().class_names().unwrap(), &["setosa", "versicolor", "virginica"]);
        let indices = ds.targets().class_indices().unwrap();
        for class in 0..3 {
            assert_eq!(indices.iter().filter(|&&i| i == class).count(), 50);
        }
        assert_eq!(&ds.features().as_slice()[..4], &[5.1, 3.5, 1.4, 0.2]);
        assert_eq!((indices[0], indices[149]), (0, 2));
    }

    #[test]
    fn wine_has_178_rows_13_features_and_3_classes() {
        let ds: Dataset<f64> = load_csv(sample("wine.csv"), &CsvOptions::new("cultivar")).unwrap();
        assert_eq!(ds.features().shape(), &[178, 13]);
        assert_eq!(ds.feature_names()[0], "alcohol");
        assert_eq!(ds.feature_names()[12], "proline");
        assert_eq!(ds.targets().class_names().unwrap(), &["class_0", "class_1", "class_2"]);
        let indices = ds.targets().class_indices().unwrap();
        let counts: Vec<usize> = (0..3).map(|c| indices.iter().filter(|&&i| i == c).count()).collect();
        assert_eq!(counts, vec![59, 71, 48]);
        assert_eq!(&ds.features().as_slice()[..3], &[14.23, 1.71, 2.43]);
    }

    #[test]
    fn a_string_feature_column_is_reported() {
        let path = sample("iris.csv");
        let err = load_csv::<f64>(&path, &CsvOptions::new("petal_width")).unwrap_err();
        let expected = format!("{}:2: column 'species' (5): 'setosa' is not a number", path.display());
        assert_eq!(err.to_string(), expected);
    }

    #[test]
    fn line_endings_bom_and_blank_lines_read_the_same() {
        let unix = "a,b,y\n1,2,p\n3,4,q\n";
        let expected = read(unix, "y").unwrap();
        for text in [
            "a,b,y\r\n1,2,p\r\n3,4,q\r\n".to_string(),
            "a,b,y\r1,2,p\r3,4,q\r".to_string(),
            "\u{feff}a,b,y\n1,2,p\n3,4,q".to_string(),
            "a,b,y\n\n1, 2 ,p\n   \n\"3\",4,q\n\n".to_string(),
        ] {
            assert_eq!(read(&text, "y").unwrap(), expected, "{text:?}");
        }
        for end in ["\n", "\r\n", "\r"] {
            let text = ["a,b,y", "1,2,p", "3,x,q", ""].join(end);
            assert_eq!(message(&text, "y"), "bad.csv:3: column 'b' (2): 'x' is not a number", "{end:?}");
        }
        let err = read("\u{feff}a,y\n1,p\n", "\u{feff}a").unwrap_err().to_string();
        assert_eq!(
            err, "bad.csv: no column named '\u{feff}a'; the columns are: a, y",
            "the BOM is not a name"
        );
    }

    #[test]
    fn bad_input_gets_exact_messages() {
        // [text, target column, message] of each file (a table, kept as data beside the code).
        let cases: Vec<[String; 3]> = serde_json::from_str(include_str!("bad_csv_messages.json")).unwrap();
        assert_eq!(cases.len(), 21);
        for [text, target, expected] in &cases {
            assert_eq!(&message(text, target), expected, "input {text:?}");
        }
        let utf16 = [0xFF, 0xFE, b'a', 0];
        let err = read_csv::<f64>(&utf16[..], "w.csv", &CsvOptions::new("a")).unwrap_err();
        assert_eq!(err.to_string(), "w.csv: the file is UTF-16 encoded; save it as UTF-8");
        let latin1 = b"a,y\n1,caf\xe9\n";
        let err = read_csv::<f64>(&latin1[..], "l.csv", &CsvOptions::new("y")).unwrap_err();
        assert_eq!(err.to_string(), "l.csv:2: column 'y' (2): the cell is not valid UTF-8");
        let err = read_csv::<f32>("a,y\n1e39,1\n".as_bytes(), "f.csv", &CsvOptions::new("y")).unwrap_err();
        assert_eq!(err.to_string(), "f.csv:2: column 'a' (1): '1e39' is too large for f32");
        let missing = sample("no_such_file.csv");
        let err = load_csv::<f64>(&missing, &CsvOptions::new("y")).unwrap_err();
        assert_eq!(err.to_string(), format!("{}: No such file or directory (os error 2)", missing.display()));
    }

    #[test]
    fn tasks_and_class_order() {
        let text = "x,y\n1,10\n2,2\n3,1\n4,2\n";
        let auto = read(text, "y").unwrap();
        assert_eq!(auto.targets().values().unwrap().to_vec(), vec![10.0, 2.0, 1.0, 2.0]);
        let opts = CsvOptions { task: Task::Classification, ..CsvOptions::new("y") };
        let classes: Dataset<f64> = read_csv(text.as_bytes(), "n.csv", &opts).unwrap();
        assert_eq!(classes.targets().class_names().unwrap(), &["1", "2", "10"], "numeric labels by value");
        assert_eq!(classes.targets().class_indices().unwrap(), &[2, 1, 0, 1]);
        let words = read("x,y\n1,b\n2,B\n3,a\n4,10\n", "y").unwrap();
        assert_eq!(words.targets().class_names().unwrap(), &["10", "B", "a", "b"], "text order otherwise");
        let opts = CsvOptions { task: Task::Regression, ..CsvOptions::new("y") };
        let err = read_csv::<f64>("x,y\n1,2\n2,cat\n".as_bytes(), "r.csv", &opts).unwrap_err();
        assert_eq!(err.to_string(), "r.csv:3: column 'y' (2): 'cat' is not a number");
        let opts = CsvOptions { delimiter: b';', ..CsvOptions::new("y") };
        let semi: Dataset<f64> = read_csv("x;z;y\n1;2;a\n3;4;b\n".as_bytes(), "s.csv", &opts).unwrap();
        assert_eq!(semi.features().to_vec(), vec![1.0, 2.0, 3.0, 4.0]);
        assert_eq!(semi.feature_names(), &["x", "z"]);
    }

    #[test]
    fn integer_labels_with_few_values_are_classes_named_by_value() {
        // Labels 0..=10, each on two rows, written in file order 10, 9, ..., 0.
        let mut text = String::from("x,label\n");
        for row in 0..22 {
            text.push_str(&format!("{row},{}\n", 10 - row % 11));
        }
        let ds = read(&text, "label").unwrap();
        let names: Vec<String> = (0..=10).map(|c| c.to_string()).collect();
        assert_eq!(ds.targets().class_names().unwrap(), names.as_slice(), "sorted as numbers");
        assert_eq!(&ds.targets().class_indices().unwrap()[..3], &[10, 9, 8]);
        // 7.0 and 7 are one class, named 7; -0 is 0.
        let ds = read("x,y\n1,7.0\n2,7\n3,-0\n4,0\n5,7\n", "y").unwrap();
        assert_eq!(ds.targets().class_names().unwrap(), &["0", "7"]);
        assert_eq!(ds.targets().class_indices().unwrap(), &[1, 1, 0, 0, 1]);
        // Explicit tasks are kept: regression on the same labels, classes on fractions.
        let opts = CsvOptions { task: Task::Regression, ..CsvOptions::new("label") };
        let values: Dataset<f64> = read_csv(text.as_bytes(), "d.csv", &opts).unwrap();
        assert_eq!(values.targets().values().unwrap().as_slice()[..2], [10.0, 9.0]);
        let opts = CsvOptions { task: Task::Classification, ..CsvOptions::new("y") };
        let fractions: Dataset<f64> = read_csv("x,y\n1,0.5\n2,1.5\n".as_bytes(), "f.csv", &opts).unwrap();
        assert_eq!(fractions.targets().class_names().unwrap(), &["0.5", "1.5"]);
    }

    #[test]
    fn f32_cells_are_rounded_once() {
        // Just above the midpoint 1 + 2^-24 between 1 and the next f32: parsed as f64 it rounds
        // to that midpoint, which then rounds (to even) down to 1.0 in f32.
        let ds: Dataset<f32> =
            read_csv("a,y\n1.0000000596046448,0\n1,1\n".as_bytes(), "r.csv", &CsvOptions::new("y")).unwrap();
        assert_eq!(ds.features().as_slice()[0], "1.0000000596046448".parse::<f32>().unwrap());
    }

    #[test]
    fn line_numbers_count_the_blank_lines_before_a_row() {
        let err = read_csv::<f64>("a,b,y\n1,2,p\n\n\n3,x,q\n".as_bytes(), "gaps.csv", &CsvOptions::new("y"))
            .unwrap_err();
        assert_eq!(err.to_string(), "gaps.csv:5: column 'b' (2): 'x' is not a number");
        let err = read_csv::<f64>("a,b,y\r\n\r\n1,2\r\n".as_bytes(), "gaps.csv", &CsvOptions::new("y"))
            .unwrap_err();
        assert!(err.to_string().starts_with("gaps.csv:3:"), "{err}");
    }
}
