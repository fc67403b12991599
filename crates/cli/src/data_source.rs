//! Where the rows come from: a Playground data set or a CSV file, split into training and
//! test sets the same way by `train` and `eval`.

use std::path::{Path, PathBuf};

use backprop_data::{
    CsvOptions, DataError, Dataset, Feature, PlaygroundDataset, PlaygroundSpec, Targets, Task,
    load_csv_with_choice, train_test_split,
};
use backprop_tensor::{Float, Tensor};

use crate::error::{CliError, Result};
use backprop_data::CsvTable;

/// The default test fraction: the page's 50% split for Playground sets, scikit-learn's 0.25
/// for CSV files.
pub fn default_test_fraction(playground: bool) -> f64 {
    if playground { 0.5 } else { 0.25 }
}

/// The data of a run: training rows, test rows (none with a test fraction of 0) and where
/// they came from.
#[derive(Debug, Clone)]
pub struct Prepared<F: Float> {
    /// The training set.
    pub train: Dataset<F>,
    /// The test set, if any.
    pub test: Option<Dataset<F>>,
    /// The source.
    pub origin: Origin,
}

/// Where a run's rows came from, with what a picture of them needs.
#[derive(Debug, Clone, PartialEq)]
pub enum Origin {
    /// A Playground set: its points in the raw (x1, x2) plane, in the rows' order.
    Playground {
        /// The data set.
        dataset: PlaygroundDataset,
        /// The training points.
        train_xy: Vec<[f64; 2]>,
        /// The test points.
        test_xy: Vec<[f64; 2]>,
    },
    /// A CSV file.
    Csv {
        /// The file.
        path: PathBuf,
        /// The target column.
        target: String,
        /// Why the target was read as classes or as numbers (`Task::choose`'s reason).
        task_reason: String,
    },
}

/// The Playground's points of `dataset` with `features`, generated from the seed string
/// `seed` and cut as the page cuts (the first `⌊n·(1 − test_fraction)⌋` shuffled points
/// train).
///
/// # Errors
/// When the noise or the cut cannot be used.
pub fn playground_data<F: Float>(
    dataset: PlaygroundDataset,
    noise: f64,
    features: &[Feature],
    seed: u64,
    test_fraction: f64,
) -> Result<Prepared<F>> {
    let spec =
        PlaygroundSpec::new(dataset, seed.to_string()).with_noise(noise).with_features(features.to_vec());
    let plane = spec.clone().with_features(vec![Feature::X1, Feature::X2]);
    let (train, test, train_plane, test_plane) = if test_fraction == 0.0 {
        (spec.generate::<F>()?, None, plane.generate::<f64>()?, None)
    } else {
        let percent = (1.0 - test_fraction) * 100.0;
        let (train, test) = spec.with_train_percent(percent).generate_split::<F>()?;
        let (train_plane, test_plane) = plane.with_train_percent(percent).generate_split::<f64>()?;
        (train, Some(test), train_plane, Some(test_plane))
    };
    let points = |d: Option<&Dataset<f64>>| -> Vec<[f64; 2]> {
        d.map(|d| d.features().as_slice().chunks_exact(2).map(|p| [p[0], p[1]]).collect()).unwrap_or_default()
    };
    Ok(Prepared {
        origin: Origin::Playground {
            dataset,
            train_xy: points(Some(&train_plane)),
            test_xy: points(test_plane.as_ref()),
        },
        train,
        test,
    })
}

/// Splits `all` as `train` does: a seeded shuffle, the first `⌈n·test_fraction⌉` rows test.
///
/// # Errors
/// When the fraction leaves no training rows (a usage error naming `--test-fraction`).
pub fn split<F: Float>(
    all: &Dataset<F>,
    test_fraction: f64,
    seed: u64,
) -> Result<(Dataset<F>, Option<Dataset<F>>)> {
    let (train, test) = train_test_split(all, test_fraction, seed).map_err(|e| match e {
        // The fraction is in [0, 1) (checked by the flag's parser), so the split's only
        // complaint is a data set too small for it.
        DataError::Invalid { .. } if (0.0..1.0).contains(&test_fraction) => CliError::usage(format!(
            "--test-fraction {test_fraction} leaves no training rows: the data has only {} rows",
            all.len()
        )),
        other => CliError::from(other),
    })?;
    Ok((train, (test_fraction > 0.0).then_some(test)))
}

/// A CSV file for training: every column but `target` is a feature; `task` says whether the
/// target holds classes or numbers (`Task::Auto`: decided from its values).
///
/// # Errors
/// As `backprop_data::load_csv` (file, line, column), and a split that leaves no training rows.
pub fn csv_data<F: Float>(
    path: &Path,
    target: &str,
    task: Task,
    test_fraction: f64,
    seed: u64,
) -> Result<Prepared<F>> {
    let (all, choice): (Dataset<F>, _) =
        load_csv_with_choice(path, &CsvOptions { task, ..CsvOptions::new(target) })?;
    let (train, test) = split(&all, test_fraction, seed)?;
    let origin =
        Origin::Csv { path: path.to_path_buf(), target: target.to_string(), task_reason: choice.reason };
    Ok(Prepared { train, test, origin })
}

/// A CSV file for evaluating a model: the model's feature columns by name (Playground features
/// derived from `x1`, `x2` when missing), and the target read as the model's classes (by
/// name) or as numbers.
///
/// `target` defaults to the one column that is not a feature of the model.
///
/// # Errors
/// A missing column, a bad cell, a class the model does not know, or no way to tell the
/// target.
pub fn csv_for_model<F: Float>(
    path: &Path,
    target: Option<&str>,
    feature_names: &[String],
    class_names: Option<&[String]>,
) -> Result<(Dataset<F>, String)> {
    let table = CsvTable::read(path)?;
    let target = match target {
        Some(t) => t.to_string(),
        None => {
            let others: Vec<&String> = table.header.iter().filter(|h| !feature_names.contains(h)).collect();
            match others.as_slice() {
                [one] => (*one).clone(),
                _ => {
                    return Err(CliError::usage(format!(
                        "{}: pass --target COL: the columns that are not features of the model are [{}]",
                        path.display(),
                        others.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
                    )));
                }
            }
        }
    };
    let target_col = table.require_column(&target)?;
    let features = table.playground_feature_matrix::<F>(feature_names)?;
    let targets = match class_names {
        Some(names) => {
            let mut indices = Vec::with_capacity(table.len());
            for (row, cells) in table.rows.iter().enumerate() {
                let label = &cells[target_col];
                let index = names.iter().position(|n| n == label).ok_or_else(|| {
                    CliError::Runtime(format!(
                        "{}: class '{label}' is not one of the model's classes [{}]",
                        table.cell_at(row, target_col),
                        names.join(", ")
                    ))
                })?;
                indices.push(index);
            }
            Targets::Classes { indices, names: names.to_vec() }
        }
        None => {
            let values: Vec<F> = table.numbers(target_col)?;
            Targets::Values(Tensor::from_vec(&[values.len(), 1], values))
        }
    };
    Ok((Dataset::new(features, targets, feature_names.to_vec())?, target))
}

/// A directory of its own for a unit test named `tag` (the caller removes it).
#[cfg(test)]
pub(crate) fn test_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("backprop-cli-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn playground_points_follow_the_rows() {
        let features = [Feature::X1X2, Feature::X1];
        let p: Prepared<f64> = playground_data(PlaygroundDataset::Xor, 0.0, &features, 3, 0.3).unwrap();
        let test = p.test.as_ref().unwrap();
        assert_eq!((p.train.len(), test.len()), (350, 150));
        let Origin::Playground { train_xy, test_xy, .. } = &p.origin else { panic!("a Playground origin") };
        assert_eq!((train_xy.len(), test_xy.len()), (350, 150));
        for (row, xy) in p.train.features().as_slice().chunks(2).zip(train_xy) {
            assert_eq!(row, &[xy[0] * xy[1], xy[0]]);
        }
        let all: Prepared<f32> =
            playground_data(PlaygroundDataset::Plane, 5.0, &[Feature::X1], 3, 0.0).unwrap();
        assert_eq!((all.train.len(), all.test.is_none()), (1200, true));
    }

    #[test]
    fn evaluation_csv_maps_classes_by_name() {
        let dir = test_dir("ds");
        let path = dir.join("e.csv");
        std::fs::write(&path, "b,a,label\n1,2,yes\n3,4,no\n").unwrap();
        let names = ["no".to_string(), "yes".to_string(), "maybe".to_string()];
        let feats = ["a".to_string(), "b".to_string()];
        let (ds, target) = csv_for_model::<f32>(&path, None, &feats, Some(&names)).unwrap();
        assert_eq!(target, "label");
        assert_eq!(ds.features().to_vec(), vec![2.0, 1.0, 4.0, 3.0]);
        assert_eq!(ds.targets().class_indices().unwrap(), &[1, 0]);
        let err = csv_for_model::<f32>(&path, None, &feats, Some(&names[..1])).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "{}:2: column 'label' (3): class 'yes' is not one of the model's classes [no]",
                path.display()
            )
        );
        let err = csv_for_model::<f32>(&path, None, &["a".to_string()], None).unwrap_err();
        assert!(
            err.to_string().ends_with(
                "pass --target COL: the columns that are not features of the model are [b, label]"
            )
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
