//! MNIST-style image/label data sets stored as IDX files.

use std::path::{Path, PathBuf};

use backprop_tensor::{Float, Tensor};

use crate::dataset::{Dataset, Targets};
use crate::error::{DataError, Result};
use crate::idx::{IdxArray, IdxData, read_idx};

/// The MNIST file names: (images, labels) for training, then for testing.
const MNIST_FILES: [(&str, &str); 2] = [
    ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
];

/// One of the two halves of an MNIST-style folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MnistSet {
    /// `train-images-idx3-ubyte` and `train-labels-idx1-ubyte` (60 000 images in MNIST).
    Train,
    /// `t10k-images-idx3-ubyte` and `t10k-labels-idx1-ubyte` (10 000 images in MNIST).
    Test,
}

impl MnistSet {
    /// The (images, labels) file names, without `.gz`.
    fn files(self) -> (&'static str, &'static str) {
        match self {
            MnistSet::Train => MNIST_FILES[0],
            MnistSet::Test => MNIST_FILES[1],
        }
    }

    /// The paths of this half's (images, labels) files in `folder`, in any form [`mnist`]
    /// accepts: to read them with other classes than MNIST's ten ([`load_idx_pair`]), or the
    /// images without their labels ([`load_idx_images`]).
    ///
    /// # Errors
    /// When the folder lacks one of them (the message names it).
    pub fn paths(self, folder: impl AsRef<Path>) -> Result<(PathBuf, PathBuf)> {
        let (images, labels) = self.files();
        Ok((find(folder.as_ref(), images)?, find(folder.as_ref(), labels)?))
    }
}

/// Loads MNIST (or Fashion-MNIST, which uses the same files) from a folder: returns
/// `(train, test)` with features `[n, 784]` and classes `"0"` to `"9"`.
///
/// The folder holds the four files `train-images-idx3-ubyte`, `train-labels-idx1-ubyte`,
/// `t10k-images-idx3-ubyte` and `t10k-labels-idx1-ubyte`, each uncompressed or gzip-compressed
/// with `.gz` appended (as downloads and Debian's `dataset-fashion-mnist` ship them), or their
/// variants with `.idx` for `-idx` (e.g. `train-images.idx3-ubyte`). An uncompressed file is
/// preferred to its `.gz`. Pixels are scaled to `[0, 1]` as in [`load_idx_pair`].
///
/// # Errors
/// When a file is missing, unreadable or malformed (see [`read_idx`]), the image and label
/// counts differ, or a label is not a digit 0–9.
pub fn mnist<F: Float>(folder: impl AsRef<Path>) -> Result<(Dataset<F>, Dataset<F>)> {
    let folder = folder.as_ref();
    Ok((mnist_set(folder, MnistSet::Train)?, mnist_set(folder, MnistSet::Test)?))
}

/// Loads one half of an MNIST-style folder (the files as in [`mnist`]), e.g. the training set
/// of a folder without the t10k files ([`has_mnist_test_set`]).
///
/// # Errors
/// As [`mnist`].
pub fn mnist_set<F: Float>(folder: impl AsRef<Path>, set: MnistSet) -> Result<Dataset<F>> {
    let folder = folder.as_ref();
    let (images, labels) = set.files();
    idx_dataset(&find(folder, images)?, &find(folder, labels)?, Some(10))
}

/// Whether `folder` holds both t10k files (test images and labels, in any form [`mnist`]
/// accepts), so that they can be the test set instead of a split of the training set.
pub fn has_mnist_test_set(folder: impl AsRef<Path>) -> bool {
    let (images, labels) = MnistSet::Test.files();
    [images, labels].iter().all(|name| find(folder.as_ref(), name).is_ok())
}

/// Loads an image IDX file and a label IDX file as a classification data set; either may be
/// gzip-compressed (see [`read_idx`]).
///
/// Images are `[n, d1, d2, ...]` (any element type) and become features `[n, d1·d2·...]`;
/// `u8` pixels are scaled to `[0, 1]` (`x / 255`), other types are kept as they are. Labels
/// are `[n]` integers `>= 0`; the classes are `"0"` up to the largest label.
///
/// # Errors
/// When a file is unreadable or malformed (see [`read_idx`]), the images have fewer than 2
/// dimensions, the labels are not a vector of non-negative integers, or the counts differ.
pub fn load_idx_pair<F: Float>(images: impl AsRef<Path>, labels: impl AsRef<Path>) -> Result<Dataset<F>> {
    idx_dataset(images.as_ref(), labels.as_ref(), None)
}

/// [`load_idx_pair`] with a known number of classes (say a test set whose labels must be those
/// of the model, though some classes may be absent): the classes are `"0"` to `classes - 1`.
///
/// # Errors
/// As [`load_idx_pair`], and when a label is not in `0..classes`.
pub fn load_idx_pair_with_classes<F: Float>(
    images: impl AsRef<Path>,
    labels: impl AsRef<Path>,
    classes: usize,
) -> Result<Dataset<F>> {
    idx_dataset(images.as_ref(), labels.as_ref(), Some(classes))
}

/// The path of `name` in `folder`: the name, its `.`-variant, or either with `.gz`, the first
/// that is a file; or an error saying what is missing.
fn find(folder: &Path, name: &str) -> Result<PathBuf> {
    let dotted = name.replacen("-idx", ".idx", 1);
    let candidates = [name.to_string(), dotted.clone(), format!("{name}.gz"), format!("{dotted}.gz")];
    candidates.iter().map(|file| folder.join(file)).find(|p| p.is_file()).ok_or_else(|| {
        DataError::invalid("mnist", format!("{} has no {name} (nor {dotted})", folder.display()))
    })
}

fn idx_dataset<F: Float>(
    images_path: &Path,
    labels_path: &Path,
    classes: Option<usize>,
) -> Result<Dataset<F>> {
    let images = read_idx(images_path)?;
    let labels = read_idx(labels_path)?;
    let (image_file, label_file) = (images_path.display().to_string(), labels_path.display().to_string());
    from_arrays(&images, &image_file, &labels, &label_file, classes)
}

/// The images of an IDX file without labels (say for predictions) as features
/// `[n, d1·d2·...]`, scaled as [`load_idx_pair`] scales them (`u8` pixels `x / 255`).
///
/// # Errors
/// As [`read_idx`], and when the images have fewer than 2 dimensions.
pub fn load_idx_images<F: Float>(images: impl AsRef<Path>) -> Result<Tensor<F>> {
    let path = images.as_ref();
    image_features(&read_idx(path)?, &path.display().to_string())
}

/// The image array `[n, d1, d2, ...]` as features `[n, d1·d2·...]`: `u8` pixels divided by 255,
/// other types as they are; `image_file` names it in messages.
fn image_features<F: Float>(images: &IdxArray, image_file: &str) -> Result<Tensor<F>> {
    let dims = images.dims();
    if dims.len() < 2 {
        return Err(DataError::idx(
            image_file,
            format!("images need at least 2 dimensions (count, pixels...), got dims {dims:?}"),
        ));
    }
    let (count, pixels) = (dims[0], dims[1..].iter().product::<usize>());
    let features: Vec<F> = match images.data() {
        IdxData::U8(bytes) => bytes.iter().map(|&b| F::from_f64(f64::from(b) / 255.0)).collect(),
        other => other.to_f64_vec().into_iter().map(F::from_f64).collect(),
    };
    Ok(Tensor::from_vec(&[count, pixels], features))
}

/// A data set from image and label arrays already read; the names are for messages.
fn from_arrays<F: Float>(
    images: &IdxArray,
    image_file: &str,
    labels: &IdxArray,
    label_file: &str,
    classes: Option<usize>,
) -> Result<Dataset<F>> {
    let features = image_features(images, image_file)?;
    if labels.dims().len() != 1 {
        return Err(DataError::idx(
            label_file,
            format!("labels must be a vector, got dims {:?}", labels.dims()),
        ));
    }
    let (count, pixels) = (features.shape()[0], features.shape()[1]);
    if labels.dims()[0] != count {
        return Err(DataError::idx(
            image_file,
            format!("{count} images, but {label_file} has {} labels", labels.dims()[0]),
        ));
    }
    let values = labels.data().to_i64_vec().ok_or_else(|| {
        DataError::idx(
            label_file,
            format!("labels must be integers, the file holds {}", labels.dtype().name()),
        )
    })?;
    if let Some((i, &label)) = values.iter().enumerate().find(|&(_, &v)| v < 0) {
        return Err(DataError::idx(label_file, format!("label {label} at index {i} is negative")));
    }
    let num_classes = match classes {
        Some(n) => {
            if let Some((i, &label)) = values.iter().enumerate().find(|&(_, &v)| v as usize >= n) {
                return Err(DataError::idx(
                    label_file,
                    format!("label {label} at index {i} is not in 0..{n}"),
                ));
            }
            n
        }
        None => values.iter().max().map_or(0, |&m| m as usize + 1),
    };
    Dataset::new(
        features,
        Targets::Classes {
            indices: values.into_iter().map(|v| v as usize).collect(),
            names: (0..num_classes).map(|c| c.to_string()).collect(),
        },
        (0..pixels).map(|p| format!("pixel{p}")).collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::idx::write_idx;

    /// A fresh folder under the system's temporary directory.
    fn temp_folder(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("backprop-data-mnist-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn write(path: PathBuf, dims: Vec<usize>, data: IdxData) {
        write_idx(path, &IdxArray::new(dims, data).unwrap()).unwrap();
    }

    /// Three 2×2 training images and two test images, with labels.
    fn write_tiny_mnist(dir: &Path, dotted_test: bool) {
        write(
            dir.join("train-images-idx3-ubyte"),
            vec![3, 2, 2],
            IdxData::U8((0..12).map(|i| i * 20).collect()),
        );
        write(dir.join("train-labels-idx1-ubyte"), vec![3], IdxData::U8(vec![7, 0, 9]));
        let (ti, tl) = if dotted_test {
            ("t10k-images.idx3-ubyte", "t10k-labels.idx1-ubyte")
        } else {
            ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
        };
        write(dir.join(ti), vec![2, 2, 2], IdxData::U8(vec![255, 0, 51, 102, 0, 0, 0, 255]));
        write(dir.join(tl), vec![2], IdxData::U8(vec![3, 3]));
    }

    #[test]
    fn tiny_mnist_loads_scaled_and_labelled() {
        let dir = temp_folder("ok");
        write_tiny_mnist(&dir, true);
        let (train, test) = mnist::<f32>(&dir).unwrap();
        assert_eq!(train.features().shape(), &[3, 4]);
        assert_eq!(&train.features().as_slice()[..4], &[0.0, 20.0 / 255.0, 40.0 / 255.0, 60.0 / 255.0]);
        assert_eq!(train.targets().class_indices().unwrap(), &[7, 0, 9]);
        assert_eq!(train.targets().num_classes(), Some(10));
        assert_eq!(test.features().to_vec(), vec![1.0, 0.0, 0.2, 0.4, 0.0, 0.0, 0.0, 1.0]);
        assert_eq!(test.feature_names(), &["pixel0", "pixel1", "pixel2", "pixel3"]);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn idx_pair_takes_any_image_type_and_counts_classes() {
        let dir = temp_folder("pair");
        write(dir.join("x.idx"), vec![2, 3], IdxData::F32(vec![0.5, -1.0, 2.0, 3.0, 4.0, 5.0]));
        write(dir.join("y.idx"), vec![2], IdxData::I32(vec![2, 0]));
        let ds = load_idx_pair::<f64>(dir.join("x.idx"), dir.join("y.idx")).unwrap();
        assert_eq!(ds.features().to_vec(), vec![0.5, -1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(ds.targets().class_names().unwrap(), &["0", "1", "2"]);
        let ds = load_idx_pair_with_classes::<f64>(dir.join("x.idx"), dir.join("y.idx"), 4).unwrap();
        assert_eq!(ds.targets().class_names().unwrap(), &["0", "1", "2", "3"]);
        let err = load_idx_pair_with_classes::<f64>(dir.join("x.idx"), dir.join("y.idx"), 2).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("{}: label 2 at index 0 is not in 0..2", dir.join("y.idx").display())
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn mismatches_are_reported_with_file_names() {
        let images = IdxArray::new(vec![2, 1, 1], IdxData::U8(vec![1, 2])).unwrap();
        let labels = |data| IdxArray::new(vec![2], data).unwrap();
        let err = |images: &IdxArray, labels: &IdxArray, classes| {
            from_arrays::<f32>(images, "img", labels, "lbl", classes).unwrap_err().to_string()
        };
        let three = IdxArray::new(vec![3], IdxData::U8(vec![0, 1, 2])).unwrap();
        assert_eq!(err(&images, &three, None), "img: 2 images, but lbl has 3 labels");
        assert_eq!(
            err(&images, &labels(IdxData::U8(vec![1, 10])), Some(10)),
            "lbl: label 10 at index 1 is not in 0..10"
        );
        assert_eq!(
            err(&images, &labels(IdxData::I8(vec![-1, 0])), None),
            "lbl: label -1 at index 0 is negative"
        );
        assert_eq!(
            err(&images, &labels(IdxData::F32(vec![0.0, 1.0])), None),
            "lbl: labels must be integers, the file holds f32"
        );
        let flat = IdxArray::new(vec![2], IdxData::U8(vec![1, 2])).unwrap();
        assert_eq!(
            err(&flat, &labels(IdxData::U8(vec![0, 1])), None),
            "img: images need at least 2 dimensions (count, pixels...), got dims [2]"
        );
        assert_eq!(err(&images, &images, None), "lbl: labels must be a vector, got dims [2, 1, 1]");
    }

    /// Replaces `dir/name` by `dir/name.gz`, its gzip-compressed bytes.
    fn gzip_in_place(dir: &Path, name: &str) {
        use std::io::Write;
        let bytes = std::fs::read(dir.join(name)).unwrap();
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        encoder.write_all(&bytes).unwrap();
        std::fs::write(dir.join(format!("{name}.gz")), encoder.finish().unwrap()).unwrap();
        std::fs::remove_file(dir.join(name)).unwrap();
    }

    #[test]
    fn missing_files_are_named_and_gzip_files_read_the_same() {
        let dir = temp_folder("missing");
        let err = mnist::<f32>(&dir).unwrap_err().to_string();
        assert_eq!(
            err,
            format!("mnist: {} has no train-images-idx3-ubyte (nor train-images.idx3-ubyte)", dir.display())
        );
        assert!(!has_mnist_test_set(&dir));
        write_tiny_mnist(&dir, false);
        let plain = mnist::<f32>(&dir).unwrap();
        let files = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte"];
        for name in files.into_iter().chain(["t10k-labels-idx1-ubyte"]) {
            gzip_in_place(&dir, name);
        }
        assert_eq!(mnist::<f32>(&dir).unwrap(), plain, "all four .gz");
        assert!(has_mnist_test_set(&dir));
        std::fs::remove_file(dir.join("t10k-labels-idx1-ubyte.gz")).unwrap();
        assert!(!has_mnist_test_set(&dir), "test images without test labels are no test set");
        assert_eq!(mnist_set::<f32>(&dir, MnistSet::Train).unwrap(), plain.0);
        let err = mnist_set::<f32>(&dir, MnistSet::Test).unwrap_err().to_string();
        assert_eq!(
            err,
            format!("mnist: {} has no t10k-labels-idx1-ubyte (nor t10k-labels.idx1-ubyte)", dir.display())
        );
        let pair = load_idx_pair::<f32>(
            dir.join("t10k-images-idx3-ubyte.gz"),
            dir.join("train-labels-idx1-ubyte.gz"),
        );
        let images = dir.join("t10k-images-idx3-ubyte.gz");
        let expected = format!(
            "{}: 2 images, but {} has 3 labels",
            images.display(),
            dir.join("train-labels-idx1-ubyte.gz").display()
        );
        assert_eq!(pair.unwrap_err().to_string(), expected);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
