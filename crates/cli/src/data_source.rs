//! Where the rows come from: a Playground data set or a CSV file, split into training and
//! test sets the same way by `train` and `eval`.

use std::path::{Path, PathBuf};

use backprop_data::{
    CsvOptions, DataError, Dataset, Feature, MnistSet, PlaygroundDataset, PlaygroundSpec, Targets, Task,
    has_mnist_test_set, load_csv_with_choice, load_idx_pair, load_idx_pair_with_classes, train_test_split,
};
use backprop_tensor::{Float, Tensor};

use crate::args::ImageArgs;
use crate::error::{CliError, Result};
use backprop_data::{CsvChunks, csv_chunk_rows};

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
    /// IDX image files (their labels are classes `0..k`).
    Images {
        /// The training images and labels, as the user named them (a folder or two files).
        source: String,
        /// Where the test set came from: the t10k files, the --test-images file, or a split.
        test_source: String,
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

/// IDX images for training: `--idx DIR` (its t10k files the test set when present) or
/// `--images/--labels` (with `--test-images/--test-labels` as the test set); without a test
/// file, `test_fraction` (given or the default) splits the training images as a CSV is split.
/// The test labels must be classes of the training labels.
///
/// # Errors
/// A missing or malformed file (named, as `backprop_data::read_idx` says), labels that do not
/// fit the images, and `--test-fraction` given beside test files (usage error).
pub fn image_data<F: Float>(args: &ImageArgs, test_fraction: Option<f64>, seed: u64) -> Result<Prepared<F>> {
    // The classes are those of the training labels (0 to the largest), as for named files.
    let (images, labels, tests, source, test_file) = match (&args.idx, &args.images, &args.labels) {
        (Some(dir), _, _) => {
            let (images, labels) = MnistSet::Train.paths(dir)?;
            let tests = has_mnist_test_set(dir).then(|| MnistSet::Test.paths(dir)).transpose()?;
            let test_file = tests.is_some().then(|| format!("the t10k files of {}", dir.display()));
            (images, labels, tests, dir.display().to_string(), test_file)
        }
        (None, Some(images), Some(labels)) => {
            let tests = args.test_images.clone().zip(args.test_labels.clone());
            let test_file = args.test_images.as_ref().map(|p| p.display().to_string());
            let source = format!("{} with {}", images.display(), labels.display());
            (images.clone(), labels.clone(), tests, source, test_file)
        }
        _ => unreachable!("clap requires --idx, or --images with --labels"),
    };
    let train: Dataset<F> = load_idx_pair(&images, &labels)?;
    let classes = train.targets().num_classes().unwrap_or(0);
    let test = tests.map(|(ti, tl)| load_idx_pair_with_classes(ti, tl, classes)).transpose()?;
    match (test, test_file) {
        (Some(test), Some(test_file)) => {
            if let Some(f) = test_fraction {
                return Err(CliError::usage(format!(
                    "--test-fraction {f} splits the training images, but the test set is {test_file}; leave --test-fraction out"
                )));
            }
            if test.num_features() != train.num_features() {
                return Err(CliError::usage(format!(
                    "the test images ({test_file}) have {} pixels each, the training images {}",
                    test.num_features(),
                    train.num_features()
                )));
            }
            Ok(Prepared {
                train,
                test: Some(test),
                origin: Origin::Images { source, test_source: test_file },
            })
        }
        _ => {
            let f = test_fraction.unwrap_or(default_test_fraction(false));
            let (train, test) = split(&train, f, seed)?;
            let test_source = format!("a --test-fraction {f} split of the training images");
            Ok(Prepared { train, test, origin: Origin::Images { source, test_source } })
        }
    }
}

/// The image sets of `eval`: a set scored whole and a test set (at least one of them), and
/// where they came from.
#[derive(Debug, Clone)]
pub struct ImageSets<F: Float> {
    /// `--images/--labels`, scored whole.
    pub all: Option<Dataset<F>>,
    /// `--test-images/--test-labels`, or the t10k files of `--idx`.
    pub test: Option<Dataset<F>>,
    /// The folder or the images file.
    pub source: String,
}

/// IDX images for evaluating a model whose classes are `classes`: `--idx DIR` gives its t10k
/// files (the test set), `--images/--labels` a set evaluated whole and `--test-images/--test-labels`
/// a test set; the images must have the model's `inputs` pixels.
///
/// # Errors
/// A missing or malformed file, labels outside the model's classes, images of another size,
/// or a model whose class names are not `0..k` (it was not trained on labels that are
/// integers).
pub fn images_for_model<F: Float>(
    args: &ImageArgs,
    classes: &[String],
    inputs: usize,
) -> Result<ImageSets<F>> {
    if classes.iter().enumerate().any(|(i, c)| *c != i.to_string()) {
        return Err(CliError::usage(format!(
            "the model's classes [{}] are not 0..{}, so IDX labels (integers) cannot name them",
            classes.join(", "),
            classes.len()
        )));
    }
    let load = |images: &Path, labels: &Path| -> Result<Dataset<F>> {
        let set = load_idx_pair_with_classes(images, labels, classes.len())?;
        if set.num_features() != inputs {
            return Err(CliError::file(
                images,
                format!(
                    "the images have {} pixels each, but the model takes {inputs} inputs",
                    set.num_features()
                ),
            ));
        }
        Ok(set)
    };
    match (&args.idx, &args.images, &args.labels) {
        (Some(dir), _, _) => {
            let (images, labels) = MnistSet::Test.paths(dir)?;
            let test = load(&images, &labels)?;
            Ok(ImageSets { all: None, test: Some(test), source: dir.display().to_string() })
        }
        (None, Some(images), Some(labels)) => {
            let all = load(images, labels)?;
            let test = match (&args.test_images, &args.test_labels) {
                (Some(ti), Some(tl)) => Some(load(ti, tl)?),
                _ => None,
            };
            Ok(ImageSets { all: Some(all), test, source: images.display().to_string() })
        }
        _ => unreachable!("clap requires --idx, or --images with --labels"),
    }
}

/// A CSV file for evaluating a model: the model's feature columns by name (Playground features
/// derived from `x1`, `x2` when missing), and the target read as the model's classes (by
/// name) or as numbers.
///
/// `target` defaults to the one column that is not a feature of the model.
///
/// The file is read a chunk of rows at a time ([`backprop_data::CsvChunks`]), each chunk's
/// cells turned into numbers before the next is read: what stays is the data set itself, as
/// `train` holds it, never the file's text or its cells as strings. (The rows are kept
/// because `eval` splits them as `train` did, by a seeded shuffle of all rows, and scores each
/// part in that order, so that its numbers are training's bit for bit.)
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
    let mut chunks = CsvChunks::open(path, csv_chunk_rows())?;
    let target = match target {
        Some(t) => t.to_string(),
        None => {
            let others: Vec<&String> =
                chunks.header().iter().filter(|h| !feature_names.contains(h)).collect();
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
    let mut features: Vec<F> = Vec::new();
    let mut indices: Vec<usize> = Vec::new();
    let mut values: Vec<F> = Vec::new();
    while let Some(table) = chunks.next_chunk()? {
        let target_col = table.require_column(&target)?;
        features.extend_from_slice(table.playground_feature_matrix::<F>(feature_names)?.as_slice());
        match class_names {
            Some(names) => {
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
            }
            None => values.extend(table.numbers::<F>(target_col)?),
        }
    }
    let rows = features.len() / feature_names.len().max(1);
    let targets = match class_names {
        Some(names) => Targets::Classes { indices, names: names.to_vec() },
        None => Targets::Values(Tensor::from_vec(&[values.len(), 1], values)),
    };
    let features = Tensor::from_vec(&[rows, feature_names.len()], features);
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
