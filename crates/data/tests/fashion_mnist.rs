//! The real Fashion-MNIST files, as Debian's `dataset-fashion-mnist` installs them (gzip-compressed
//! IDX): loaded when present (`cargo xtask deps --data` installs them; CI does), else skipped
//! with the reason printed.

use std::path::Path;
use std::time::Instant;

use backprop_data::{MnistSet, has_mnist_test_set, mnist, mnist_set};

const FOLDER: &str = "/usr/share/datasets/fashion-mnist";

#[test]
fn fashion_mnist_loads_from_the_debian_package() {
    if !Path::new(FOLDER).join("train-images-idx3-ubyte.gz").is_file() {
        println!("skipped: Fashion-MNIST is not installed in {FOLDER}; run `cargo xtask deps --data`");
        return;
    }
    assert!(has_mnist_test_set(FOLDER));
    let start = Instant::now();
    let (train, test) = mnist::<f32>(FOLDER).unwrap();
    println!("loaded 70000 images from .gz in {:.2?}", start.elapsed());
    assert_eq!(train.features().shape(), &[60000, 784]);
    assert_eq!(test.features().shape(), &[10000, 784]);
    for data in [&train, &test] {
        let names: Vec<String> = (0..10).map(|c| c.to_string()).collect();
        assert_eq!(data.targets().class_names().unwrap(), names.as_slice());
    }
    // The first labels as the files hold them (ankle boot, T-shirt, T-shirt, dress, ...).
    assert_eq!(&train.targets().class_indices().unwrap()[..10], &[9, 0, 0, 3, 0, 2, 7, 2, 5, 5]);
    assert_eq!(&test.targets().class_indices().unwrap()[..10], &[9, 2, 1, 1, 6, 1, 4, 6, 5, 7]);
    // Pixels scaled to [0, 1]: the first training image's bytes sum to 76247, its brightest is 255.
    let first = &train.features().as_slice()[..784];
    let sum: f64 = first.iter().map(|&p| f64::from(p) * 255.0).sum();
    assert!((sum - 76247.0).abs() < 1e-2, "{sum}");
    assert_eq!(first[417], 1.0);
    let counts =
        (0..10).map(|c| train.targets().class_indices().unwrap().iter().filter(|&&i| i == c).count());
    assert!(counts.into_iter().all(|n| n == 6000), "Fashion-MNIST has 6000 training images per class");
    assert_eq!(mnist_set::<f32>(FOLDER, MnistSet::Test).unwrap(), test);
}
