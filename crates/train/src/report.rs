//! The metrics people read: scikit-learn's `classification_report` and `confusion_matrix` for
//! classes, `r2_score`, `root_mean_squared_error` and `mean_absolute_error` for numbers.
//!
//! The numbers are scikit-learn's on the same predictions, conventions included: a class never
//! predicted has precision 0 and one never true has recall 0 (`zero_division=0`), F1 is
//! `2·tp / (true + predicted)` as scikit-learn computes it, every class of the model is listed
//! even when absent (as `labels=range(k)`), and R² of a constant target is 1 for a perfect
//! prediction and 0 otherwise (`force_finite=True`), averaged uniformly over outputs.
//!
//! ```
//! use backprop_train::{classification_report, regression_report};
//!
//! let names = ["cat".to_string(), "dog".to_string()];
//! let report = classification_report(&[0, 0, 1, 1], &[0, 1, 1, 1], &names)?;
//! assert_eq!(report.accuracy, 0.75);
//! assert_eq!(report.confusion, vec![vec![1, 1], vec![0, 2]]);
//! assert_eq!((report.classes[1].precision, report.classes[1].recall), (2.0 / 3.0, 1.0));
//! print!("{report}");
//!
//! let fit = regression_report(&[3.0, -0.5, 2.0, 7.0], &[2.5, 0.0, 2.0, 8.0], 1)?;
//! assert_eq!(fit.mae, 0.5);
//! assert!((fit.r2 - 0.948_608_137_044_967_9).abs() < 1e-15);
//! # Ok::<(), backprop_train::TrainError>(())
//! ```

use std::fmt;

use backprop_tensor::{Float, Tensor};
use serde::Serialize;

use crate::error::{Result, TrainError};

/// Precision, recall, F1 and support of one class, or their average over the classes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ClassScores {
    /// Of the rows predicted as the class, the fraction that are (0 when none is predicted).
    pub precision: f64,
    /// Of the rows of the class, the fraction predicted as it (0 when there are none).
    pub recall: f64,
    /// The harmonic mean of precision and recall, `2·tp / (true + predicted)` (0 when both are 0).
    pub f1: f64,
    /// The rows whose true class it is (for an average: all rows).
    pub support: usize,
}

/// What scikit-learn's `classification_report` and `confusion_matrix` say about predicted classes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassificationReport {
    /// The class names, in class order.
    pub class_names: Vec<String>,
    /// The scores of each class, in class order.
    pub classes: Vec<ClassScores>,
    /// The fraction of rows predicted right.
    pub accuracy: f64,
    /// The unweighted mean over the classes ("macro avg").
    pub macro_avg: ClassScores,
    /// The mean over the classes weighted by their support ("weighted avg").
    pub weighted_avg: ClassScores,
    /// `confusion[t][p]`: the rows of true class `t` predicted as `p` (rows true, columns predicted).
    pub confusion: Vec<Vec<usize>>,
}

/// What scikit-learn's regression metrics say about predicted numbers, averaged over outputs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RegressionReport {
    /// The coefficient of determination, `1 - Σ(y - ŷ)² / Σ(y - ȳ)²` (NaN for fewer than 2 rows).
    pub r2: f64,
    /// The root of the mean squared error.
    pub rmse: f64,
    /// The mean absolute error.
    pub mae: f64,
    /// The rows compared.
    pub rows: usize,
}

/// The confusion matrix of `classes` classes: `m[t][p]` counts the rows whose true class is `t`
/// and predicted class `p`, as scikit-learn's `confusion_matrix(truth, predicted, labels=range(classes))`.
///
/// # Errors
/// When the slices differ in length or hold a class `>= classes`.
pub fn confusion_matrix(truth: &[usize], predicted: &[usize], classes: usize) -> Result<Vec<Vec<usize>>> {
    if truth.len() != predicted.len() {
        let reason = format!("{} true classes but {} predicted ones", truth.len(), predicted.len());
        return Err(TrainError::invalid("confusion_matrix", reason));
    }
    let mut matrix = vec![vec![0; classes]; classes];
    for (row, (&t, &p)) in truth.iter().zip(predicted).enumerate() {
        if let Some(bad) = [t, p].into_iter().find(|&c| c >= classes) {
            let which = if bad == t { "true" } else { "predicted" };
            let reason = format!("the {which} class {bad} of row {row} is not in 0..{classes}");
            return Err(TrainError::invalid("confusion_matrix", reason));
        }
        matrix[t][p] += 1;
    }
    Ok(matrix)
}

/// The per-class precision, recall, F1 and support, their macro and weighted averages, the
/// accuracy and the confusion matrix of `predicted` against `truth`, one class per name.
///
/// # Errors
/// As [`confusion_matrix`], and when there are no rows.
pub fn classification_report(
    truth: &[usize],
    predicted: &[usize],
    class_names: &[String],
) -> Result<ClassificationReport> {
    let confusion = confusion_matrix(truth, predicted, class_names.len())?;
    if truth.is_empty() {
        return Err(TrainError::invalid("classification_report", "there are no rows"));
    }
    let classes: Vec<ClassScores> = (0..class_names.len())
        .map(|c| {
            let right = confusion[c][c];
            let support: usize = confusion[c].iter().sum();
            let predicted_as: usize = confusion.iter().map(|row| row[c]).sum();
            ClassScores {
                precision: ratio(right, predicted_as),
                recall: ratio(right, support),
                f1: ratio(2 * right, support + predicted_as),
                support,
            }
        })
        .collect();
    let right: usize = (0..class_names.len()).map(|c| confusion[c][c]).sum();
    Ok(ClassificationReport {
        class_names: class_names.to_vec(),
        accuracy: ratio(right, truth.len()),
        macro_avg: average(&classes, |_| 1.0),
        weighted_avg: average(&classes, |s| s.support as f64),
        classes,
        confusion,
    })
}

/// `a / b`, or 0 when `b` is 0 (scikit-learn's `zero_division=0`).
fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// The scores averaged over the classes with `weight`s, as numpy's `average`: `Σ w·x / Σ w`.
fn average(classes: &[ClassScores], weight: impl Fn(&ClassScores) -> f64) -> ClassScores {
    let weights: Vec<f64> = classes.iter().map(&weight).collect();
    let total = numpy_sum(&weights);
    let mean = |score: fn(&ClassScores) -> f64| {
        let weighted: Vec<f64> = classes.iter().zip(&weights).map(|(s, w)| score(s) * w).collect();
        if total == 0.0 { 0.0 } else { numpy_sum(&weighted) / total }
    };
    ClassScores {
        precision: mean(|s| s.precision),
        recall: mean(|s| s.recall),
        f1: mean(|s| s.f1),
        support: classes.iter().map(|s| s.support).sum(),
    }
}

/// The sum of `values` in numpy's order (its pairwise summation: eight running sums over
/// blocks of up to 128 values, halves beyond), so that sums, means and hence the metrics equal
/// scikit-learn's to the last bit rather than to rounding.
fn numpy_sum(values: &[f64]) -> f64 {
    const BLOCK: usize = 128;
    let n = values.len();
    if n < 8 {
        values.iter().fold(0.0, |acc, v| acc + v)
    } else if n <= BLOCK {
        let mut r: [f64; 8] = values[..8].try_into().expect("8 values");
        let whole = n - n % 8;
        for chunk in values[8..whole].chunks_exact(8) {
            r.iter_mut().zip(chunk).for_each(|(acc, v)| *acc += v);
        }
        let head = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        values[whole..].iter().fold(head, |acc, v| acc + v)
    } else {
        let half = n / 2;
        let half = half - half % 8;
        numpy_sum(&values[..half]) + numpy_sum(&values[half..])
    }
}

/// R², RMSE and MAE of `predicted` against `truth`, both row-major `[rows, outputs]`; with
/// several outputs each metric is computed per output and averaged (scikit-learn's
/// `multioutput="uniform_average"`).
///
/// # Errors
/// When the slices differ in length, `outputs` is 0 or does not divide their length, or there
/// are no rows.
pub fn regression_report(truth: &[f64], predicted: &[f64], outputs: usize) -> Result<RegressionReport> {
    if truth.len() != predicted.len() {
        let reason = format!("{} true values but {} predicted ones", truth.len(), predicted.len());
        return Err(TrainError::invalid("regression_report", reason));
    }
    if outputs == 0 || !truth.len().is_multiple_of(outputs) || truth.is_empty() {
        let reason = format!("{} values do not make rows of {outputs} outputs", truth.len());
        return Err(TrainError::invalid("regression_report", reason));
    }
    let rows = truth.len() / outputs;
    let column =
        |values: &[f64], j: usize| -> Vec<f64> { values.iter().skip(j).step_by(outputs).copied().collect() };
    let n = rows as f64;
    // numpy sums a column of one output pairwise, but the columns of several outputs (axis 0
    // of a row-major matrix) row after row; scikit-learn's numbers follow its order.
    let column_sum = |values: &[f64]| {
        if outputs == 1 { numpy_sum(values) } else { values.iter().fold(0.0, |acc, v| acc + v) }
    };
    let per_output: Vec<[f64; 3]> = (0..outputs)
        .map(|j| {
            let (t, p) = (column(truth, j), column(predicted, j));
            let squares: Vec<f64> = t.iter().zip(&p).map(|(a, b)| (a - b) * (a - b)).collect();
            let mean = column_sum(&t) / n;
            let spread: Vec<f64> = t.iter().map(|a| (a - mean) * (a - mean)).collect();
            let absolute: Vec<f64> = t.iter().zip(&p).map(|(a, b)| (b - a).abs()).collect();
            let squared = column_sum(&squares);
            [r2_of(squared, column_sum(&spread), rows), (squared / n).sqrt(), column_sum(&absolute) / n]
        })
        .collect();
    let mean_of = |k: usize| numpy_sum(&per_output.iter().map(|m| m[k]).collect::<Vec<_>>()) / outputs as f64;
    Ok(RegressionReport { r2: mean_of(0), rmse: mean_of(1), mae: mean_of(2), rows })
}

/// R² from the residual and total sums of squares, with scikit-learn's conventions.
fn r2_of(residual: f64, total: f64, rows: usize) -> f64 {
    if rows < 2 {
        f64::NAN
    } else if total == 0.0 {
        if residual == 0.0 { 1.0 } else { 0.0 }
    } else {
        1.0 - residual / total
    }
}

/// [`regression_report`] of two tensors of the same shape (`[rows]` or `[rows, outputs]`).
///
/// # Errors
/// When the shapes differ, and as [`regression_report`].
pub fn regression_report_of<F: Float>(truth: &Tensor<F>, predicted: &Tensor<F>) -> Result<RegressionReport> {
    if truth.shape() != predicted.shape() {
        let reason = format!(
            "true values {:?} and predictions {:?} differ in shape",
            truth.shape(),
            predicted.shape()
        );
        return Err(TrainError::invalid("regression_report", reason));
    }
    let outputs = truth.shape().get(1..).map_or(1, |rest| rest.iter().product());
    let as_f64 = |t: &Tensor<F>| -> Vec<f64> { t.as_slice().iter().map(|&v| Float::to_f64(v)).collect() };
    regression_report(&as_f64(truth), &as_f64(predicted), outputs)
}

/// scikit-learn's `classification_report` table (two decimals), then the confusion matrix.
impl fmt::Display for ClassificationReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width =
            self.class_names.iter().map(|n| n.chars().count()).max().unwrap_or(0).max("weighted avg".len());
        writeln!(
            f,
            "{:>width$}  {:>9} {:>9} {:>9} {:>9}\n",
            "", "precision", "recall", "f1-score", "support"
        )?;
        let row = |f: &mut fmt::Formatter<'_>, name: &str, s: &ClassScores| {
            writeln!(
                f,
                "{name:>width$}  {:>9.2} {:>9.2} {:>9.2} {:>9}",
                s.precision, s.recall, s.f1, s.support
            )
        };
        for (name, scores) in self.class_names.iter().zip(&self.classes) {
            row(f, name, scores)?;
        }
        writeln!(f)?;
        writeln!(
            f,
            "{:>width$}  {:>9} {:>9} {:>9.2} {:>9}",
            "accuracy", "", "", self.accuracy, self.macro_avg.support
        )?;
        row(f, "macro avg", &self.macro_avg)?;
        row(f, "weighted avg", &self.weighted_avg)?;
        writeln!(f, "\nconfusion matrix (rows: true class, columns: predicted class)")?;
        let cell = self
            .confusion
            .iter()
            .flatten()
            .map(|c| c.to_string().len())
            .chain(self.class_names.iter().map(|n| n.chars().count()))
            .max()
            .unwrap_or(1);
        let names = self.class_names.iter().map(|n| n.chars().count()).max().unwrap_or(0);
        write!(f, "{:>names$}", "")?;
        for name in &self.class_names {
            write!(f, "  {name:>cell$}")?;
        }
        writeln!(f)?;
        for (name, counts) in self.class_names.iter().zip(&self.confusion) {
            write!(f, "{name:>names$}")?;
            for count in counts {
                write!(f, "  {count:>cell$}")?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

/// R², RMSE, MAE and the row count, one per line.
impl fmt::Display for RegressionReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "r2    {:.6}", self.r2)?;
        writeln!(f, "rmse  {:.6}", self.rmse)?;
        writeln!(f, "mae   {:.6}", self.mae)?;
        writeln!(f, "rows  {}", self.rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(k: usize) -> Vec<String> {
        (0..k).map(|c| c.to_string()).collect()
    }

    /// 200 rows of 12 classes; 1, 2, 3, 5, 8 and 11 are never true, 3 is never predicted.
    fn twelve_classes() -> (Vec<usize>, Vec<usize>) {
        let truth: Vec<usize> = (0..200).map(|i| (i * i + 3 * i) % 11).collect();
        let predicted = (0..200)
            .map(|i| if i % 5 != 0 { truth[i] } else { (i * 7) % 12 })
            .map(|c| if c == 3 { 4 } else { c })
            .collect();
        (truth, predicted)
    }

    #[test]
    fn small_report_by_hand() {
        // cat: 1 right of 2, predicted once (right); dog: 2 right of 2, predicted 3 times.
        let r = classification_report(&[0, 0, 1, 1], &[0, 1, 1, 1], &["cat".into(), "dog".into()]).unwrap();
        let cat = ClassScores { precision: 1.0, recall: 0.5, f1: 2.0 / 3.0, support: 2 };
        let dog = ClassScores { precision: 2.0 / 3.0, recall: 1.0, f1: 0.8, support: 2 };
        assert_eq!(r.classes, vec![cat, dog]);
        assert_eq!(r.accuracy, 0.75);
        assert_eq!(r.macro_avg.precision, (1.0 + 2.0 / 3.0) / 2.0);
        assert_eq!(r.macro_avg.f1, (2.0 / 3.0 + 0.8) / 2.0);
        assert_eq!(r.weighted_avg.recall, 0.75);
        assert_eq!(r.macro_avg.support, 4);
        // As scikit-learn's classification_report prints it, then the confusion matrix.
        let expected = "              precision    recall  f1-score   support

         cat       1.00      0.50      0.67         2
         dog       0.67      1.00      0.80         2

    accuracy                           0.75         4
   macro avg       0.83      0.75      0.73         4
weighted avg       0.83      0.75      0.73         4

confusion matrix (rows: true class, columns: predicted class)
     cat  dog
cat    1    1
dog    0    2
";
        assert_eq!(r.to_string(), expected);
    }

    /// Expected values computed once with scikit-learn 1.9.1 (`precision_recall_fscore_support`,
    /// `accuracy_score`, `confusion_matrix` with `labels=range(12)`, `zero_division=0`) on the
    /// same predictions, and committed as literals.
    #[test]
    fn twelve_classes_equal_scikit_learn() {
        let (truth, predicted) = twelve_classes();
        let r = classification_report(&truth, &predicted, &names(12)).unwrap();
        let precision = [
            0.9090909090909091,
            0.0,
            0.0,
            0.0,
            0.918918918918919,
            0.0,
            0.8235294117647058,
            0.9354838709677419,
            0.0,
            0.90625,
            0.8823529411764706,
            0.0,
        ];
        let recall = [
            0.8108108108108109,
            0.0,
            0.0,
            0.0,
            0.918918918918919,
            0.0,
            0.7777777777777778,
            0.8055555555555556,
            0.0,
            0.8055555555555556,
            0.8333333333333334,
            0.0,
        ];
        let f1 = [
            0.8571428571428571,
            0.0,
            0.0,
            0.0,
            0.918918918918919,
            0.0,
            0.8,
            0.8656716417910447,
            0.0,
            0.8529411764705882,
            0.8571428571428571,
            0.0,
        ];
        let support = [37, 0, 0, 0, 37, 0, 18, 36, 0, 36, 36, 0];
        for (c, s) in r.classes.iter().enumerate() {
            assert_eq!([s.precision, s.recall, s.f1], [precision[c], recall[c], f1[c]], "class {c}");
            assert_eq!(s.support, support[c], "class {c}");
        }
        let m = r.macro_avg;
        assert_eq!(
            [m.precision, m.recall, m.f1],
            [0.4479688376598956, 0.41266266266266266, 0.42931812095552213]
        );
        let w = r.weighted_avg;
        assert_eq!([w.precision, w.recall, w.f1], [0.9026350914265998, 0.83, 0.8642074501442367]);
        assert_eq!(r.accuracy, 0.83);
        assert_eq!(r.confusion[0], vec![30, 1, 1, 0, 1, 0, 1, 1, 1, 1, 0, 0]);
        assert_eq!(r.confusion[9], vec![1, 1, 0, 0, 0, 0, 0, 0, 1, 29, 2, 2]);
        assert_eq!(r.confusion[10], vec![0, 0, 1, 0, 2, 1, 1, 1, 0, 0, 30, 0]);
        assert_eq!(r.confusion.iter().flatten().sum::<usize>(), 200);
        let table: Vec<String> = r.to_string().lines().take(18).map(str::to_string).collect();
        assert_eq!(table[2], "           0       0.91      0.81      0.86        37");
        assert_eq!(table[12], "          10       0.88      0.83      0.86        36");
        assert_eq!(table[15], "    accuracy                           0.83       200");
        assert_eq!(table[17], "weighted avg       0.90      0.83      0.86       200");
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["macro_avg"]["support"], 200);
        assert_eq!(json["classes"][4]["f1"], 0.918918918918919);
    }

    #[test]
    fn bad_class_lists_are_refused() {
        let err = |t: &[usize], p: &[usize]| classification_report(t, p, &names(3)).unwrap_err().to_string();
        assert_eq!(err(&[0, 1], &[0]), "confusion_matrix: 2 true classes but 1 predicted ones");
        assert_eq!(err(&[0, 3], &[0, 1]), "confusion_matrix: the true class 3 of row 1 is not in 0..3");
        assert_eq!(err(&[0, 1], &[0, 5]), "confusion_matrix: the predicted class 5 of row 1 is not in 0..3");
        assert_eq!(err(&[], &[]), "classification_report: there are no rows");
    }

    /// 300 rows of 2 outputs with exact binary values.
    fn two_outputs() -> (Vec<f64>, Vec<f64>) {
        let (mut truth, mut predicted) = (Vec::new(), Vec::new());
        for i in 0..300 {
            let (a, b) = (((i * 37) % 101) as f64 / 8.0 - 3.0, ((i * 11) % 29) as f64 / 4.0);
            truth.extend([a, b]);
            predicted
                .extend([a + ((i * 53) % 17) as f64 / 16.0 - 0.5, b * 0.75 + ((i * 5) % 13) as f64 / 8.0]);
        }
        (truth, predicted)
    }

    /// Expected values computed once with scikit-learn 1.9.1 (`r2_score`,
    /// `root_mean_squared_error`, `mean_absolute_error`, default `multioutput`) and committed.
    #[test]
    fn regression_equals_scikit_learn() {
        let (truth, predicted) = two_outputs();
        let both = regression_report(&truth, &predicted, 2).unwrap();
        let expected =
            RegressionReport { r2: 0.9359269591317312, rmse: 0.5178795678005389, mae: 0.428125, rows: 300 };
        assert_eq!(both, expected);
        let first = |v: &[f64]| -> Vec<f64> { v.iter().step_by(2).copied().collect() };
        let one = regression_report(&first(&truth), &first(&predicted), 1).unwrap();
        let expected = RegressionReport {
            r2: 0.9928960734014146,
            rmse: 0.3072475250781797,
            mae: 0.2658333333333333,
            rows: 300,
        };
        assert_eq!(one, expected);
        let tensors = regression_report_of(
            &Tensor::<f64>::from_vec(&[300, 2], truth.clone()),
            &Tensor::from_vec(&[300, 2], predicted.clone()),
        );
        assert_eq!(tensors.unwrap(), both);
    }

    #[test]
    fn regression_conventions_by_hand() {
        // r2 = 1 - 1.5 / 29.1875 (scikit-learn's documented example).
        let r = regression_report(&[3.0, -0.5, 2.0, 7.0], &[2.5, 0.0, 2.0, 8.0], 1).unwrap();
        assert_eq!(r.r2, 1.0 - 1.5 / 29.1875);
        assert_eq!((r.rmse, r.mae), ((1.5f64 / 4.0).sqrt(), 0.5));
        assert_eq!(r.to_string(), "r2    0.948608\nrmse  0.612372\nmae   0.500000\nrows  4\n");
        // A constant target: 1 when predicted exactly, 0 otherwise; one row: undefined (NaN).
        assert_eq!(regression_report(&[5.0; 3], &[5.0; 3], 1).unwrap().r2, 1.0);
        assert_eq!(regression_report(&[5.0; 3], &[5.0, 5.0, 6.0], 1).unwrap().r2, 0.0);
        assert!(regression_report(&[1.0], &[2.0], 1).unwrap().r2.is_nan());
        let err = |t: &[f64], p: &[f64], k| regression_report(t, p, k).unwrap_err().to_string();
        assert_eq!(err(&[1.0, 2.0], &[1.0], 1), "regression_report: 2 true values but 1 predicted ones");
        assert_eq!(
            err(&[1.0, 2.0, 3.0], &[1.0; 3], 2),
            "regression_report: 3 values do not make rows of 2 outputs"
        );
        assert_eq!(err(&[], &[], 1), "regression_report: 0 values do not make rows of 1 outputs");
        let shapes = regression_report_of(&Tensor::<f32>::zeros(&[2, 1]), &Tensor::zeros(&[2])).unwrap_err();
        assert_eq!(
            shapes.to_string(),
            "regression_report: true values [2, 1] and predictions [2] differ in shape"
        );
    }
}
