//! Deciding whether a target column holds classes or numbers to fit, with the reason in words.
//!
//! The rule for [`Task::Auto`], after scikit-learn's `type_of_target`: a column with any cell
//! that is not a number holds classes; a column of numbers holds classes when every value is an
//! integer (`3`, `-1`, `7.0`) — `type_of_target`'s "binary"/"multiclass", where any non-integer
//! makes it "continuous" — *and* there are few distinct values: at most
//! [`MAX_AUTO_CLASSES`], and at most half the rows. `type_of_target` sets no limit, but a
//! command that guesses must not turn ages, counts or prices written as integers into hundreds
//! of classes: 20 is above the class counts of the usual integer-labelled tables (digits 10,
//! covertype 7, wine quality 7–11), and a class needs on average two rows or more, so a small
//! file of distinct integers (a line `y = 2x + 1` sampled at integers) stays a regression.

/// What kind of target a CSV column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Task {
    /// Classification when any target cell is not a number, or every cell is an integer and
    /// there are few distinct values (at most 20 and at most half the rows: the rule and its
    /// reasons are in [`Task::choose`]); regression otherwise.
    #[default]
    Auto,
    /// Every distinct target text is a class (numeric labels such as `0`, `1`, `2` included).
    Classification,
    /// The target is a real number.
    Regression,
}

/// The most distinct integer values a column may have for [`Task::Auto`] to read it as classes.
pub const MAX_AUTO_CLASSES: usize = 20;

/// The task chosen for a target column, and why, in one line for a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskChoice {
    /// [`Task::Classification`] or [`Task::Regression`], never [`Task::Auto`].
    pub task: Task,
    /// Why, e.g. `treating 'label' as 10 classes (integers 0-9); --task regression to fit numbers`.
    pub reason: String,
}

impl Task {
    /// The task for the target column `column` whose cells (trimmed texts, one per row) are
    /// `cells`: this task when it is explicit, else the rule of this module (see its docs).
    ///
    /// ```
    /// use backprop_data::Task;
    ///
    /// let digits: Vec<String> = (0..50).map(|i| (i % 10).to_string()).collect();
    /// let choice = Task::Auto.choose("label", &digits);
    /// assert_eq!(choice.task, Task::Classification);
    /// assert_eq!(choice.reason, "treating 'label' as 10 classes (integers 0-9); --task regression to fit numbers");
    /// let prices = ["3.5", "2", "7.25"];
    /// assert_eq!(Task::Auto.choose("price", &prices).task, Task::Regression);
    /// assert_eq!(Task::Regression.choose("label", &digits).task, Task::Regression);
    /// ```
    pub fn choose<S: AsRef<str>>(self, column: &str, cells: &[S]) -> TaskChoice {
        let choice = |task, reason: String| TaskChoice { task, reason };
        match self {
            Task::Classification => choice(self, format!("treating '{column}' as classes, as --task says")),
            Task::Regression => choice(self, format!("fitting '{column}' as numbers, as --task says")),
            Task::Auto => auto(column, cells),
        }
    }
}

/// The rule of [`Task::Auto`].
fn auto<S: AsRef<str>>(column: &str, cells: &[S]) -> TaskChoice {
    let classes = |count: usize, why: String| TaskChoice {
        task: Task::Classification,
        reason: format!("treating '{column}' as {count} classes ({why}); --task regression to fit numbers"),
    };
    let numbers = |why: String| TaskChoice {
        task: Task::Regression,
        reason: format!(
            "fitting '{column}' as numbers ({why}); --task classification to treat values as classes"
        ),
    };
    let mut values = Vec::with_capacity(cells.len());
    for cell in cells {
        let text = cell.as_ref();
        match text.parse::<f64>() {
            Ok(value) => values.push(value),
            Err(_) => {
                let mut texts: Vec<&str> = cells.iter().map(AsRef::as_ref).collect();
                texts.sort_unstable();
                texts.dedup();
                return TaskChoice {
                    task: Task::Classification,
                    reason: format!(
                        "treating '{column}' as {} classes (it holds text: '{text}')",
                        texts.len()
                    ),
                };
            }
        }
    }
    if let Some(&fraction) = values.iter().find(|v| !v.is_finite() || v.fract() != 0.0) {
        return numbers(format!("{fraction} is not an integer"));
    }
    values.sort_unstable_by(f64::total_cmp);
    values.dedup();
    let (distinct, rows) = (values.len(), cells.len());
    if distinct < 2 {
        return numbers("a single value".to_string());
    }
    if distinct > MAX_AUTO_CLASSES {
        return numbers(format!("{distinct} distinct integers, more than {MAX_AUTO_CLASSES}"));
    }
    if 2 * distinct > rows {
        return numbers(format!("{distinct} distinct integers in {rows} rows, more than half the rows"));
    }
    classes(distinct, describe_integers(&values))
}

/// Sorted distinct integers in words: `integers 0-9`, `integers -1, 1`, `integers 1-20 (12 of them)`.
fn describe_integers(sorted: &[f64]) -> String {
    let (first, last) = (sorted[0], sorted[sorted.len() - 1]);
    let contiguous = last - first + 1.0 == sorted.len() as f64;
    if contiguous && first >= 0.0 {
        format!("integers {first}-{last}")
    } else if sorted.len() <= 4 {
        let listed: Vec<String> = sorted.iter().map(f64::to_string).collect();
        format!("integers {}", listed.join(", "))
    } else {
        format!("integers from {first} to {last}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auto(cells: &[&str]) -> TaskChoice {
        Task::Auto.choose("y", cells)
    }

    fn repeated(values: impl Iterator<Item = i64>, times: usize) -> Vec<String> {
        let values: Vec<i64> = values.collect();
        (0..times).flat_map(|_| values.iter().map(i64::to_string)).collect()
    }

    #[test]
    fn integers_with_few_values_are_classes_and_the_reason_says_so() {
        let cases: Vec<(Vec<String>, &str)> = vec![
            (repeated(0..10, 3), "treating 'y' as 10 classes (integers 0-9)"),
            (repeated([1, 0].into_iter(), 2), "treating 'y' as 2 classes (integers 0-1)"),
            (repeated([-1, 1].into_iter(), 2), "treating 'y' as 2 classes (integers -1, 1)"),
            (repeated([3, 5, 9].into_iter(), 2), "treating 'y' as 3 classes (integers 3, 5, 9)"),
            (repeated([-2, 0, 4, 6, 8].into_iter(), 2), "treating 'y' as 5 classes (integers from -2 to 8)"),
            (repeated(1..=20, 2), "treating 'y' as 20 classes (integers 1-20)"),
            (
                vec!["1.0".into(), "2".into(), "1".into(), "2.0".into()],
                "treating 'y' as 2 classes (integers 1-2)",
            ),
        ];
        for (cells, reason) in cases {
            let choice = Task::Auto.choose("y", &cells);
            assert_eq!(choice.task, Task::Classification, "{cells:?}");
            assert_eq!(choice.reason, format!("{reason}; --task regression to fit numbers"));
        }
    }

    #[test]
    fn fractions_many_values_or_few_rows_are_numbers() {
        let many = repeated(0..21, 2);
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        let cases: Vec<(Vec<&str>, &str)> = vec![
            (vec!["1", "2.5", "1"], "2.5 is not an integer"),
            (vec!["1", "1e300", "1", "inf"], "inf is not an integer"),
            (vec!["1", "NaN"], "NaN is not an integer"),
            (many, "21 distinct integers, more than 20"),
            (vec!["10", "2", "1", "2"], "3 distinct integers in 4 rows, more than half the rows"),
            (vec!["4", "4", "4"], "a single value"),
        ];
        for (cells, why) in cases {
            let choice = auto(&cells);
            assert_eq!(choice.task, Task::Regression, "{cells:?}");
            let expected =
                format!("fitting 'y' as numbers ({why}); --task classification to treat values as classes");
            assert_eq!(choice.reason, expected);
        }
    }

    #[test]
    fn text_means_classes_and_an_explicit_task_is_kept() {
        let choice = auto(&["cat", "2", "dog", "cat"]);
        assert_eq!(choice.task, Task::Classification);
        assert_eq!(choice.reason, "treating 'y' as 3 classes (it holds text: 'cat')");
        let digits = repeated(0..10, 3);
        let kept = Task::Regression.choose("label", &digits);
        assert_eq!(
            kept,
            TaskChoice {
                task: Task::Regression,
                reason: "fitting 'label' as numbers, as --task says".into()
            }
        );
        let kept = Task::Classification.choose("y", &["1.5", "2.5"]);
        assert_eq!(kept.task, Task::Classification);
        assert_eq!(kept.reason, "treating 'y' as classes, as --task says");
    }
}
