//! Writes the seed corpus under `fuzz/seeds/<target>/`: a few small valid inputs per target,
//! the model files through `backprop_nn::save_model` itself. Deterministic: running it again
//! rewrites the same bytes.
//!
//! `cargo run --example make_seeds` (from `fuzz/`).

use std::path::{Path, PathBuf};

use backprop_autograd::Graph;
use backprop_data::{IdxArray, IdxData, Standardizer, idx_bytes};
use backprop_nn::{Activation, Loss, MlpSpec, ModelMeta, save_model};
use backprop_tensor::{Float, TensorRng};

fn seeds_dir(target: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds").join(target);
    std::fs::create_dir_all(&dir).expect("create the seed directory");
    dir
}

/// Options byte of the `csv_loader` target: task (0 auto, 1 classification, 2 regression),
/// delimiter (0 `,`, 1 `;`, 2 tab, 3 `|`), f64, and the target column's index in the header.
fn csv_options(task: u8, delimiter: u8, f64: bool, target: u8) -> u8 {
    task | (delimiter << 2) | (u8::from(f64) << 4) | (target << 5)
}

fn csv_seeds() {
    let dir = seeds_dir("csv_loader");
    let seeds: [(&str, u8, &[u8]); 5] = [
        (
            "flowers.csv",
            csv_options(0, 0, false, 2),
            b"petal_length,petal_width,species\n1.4,0.2,setosa\n4.7,1.4,versicolor\n6.0,2.5,virginica\n",
        ),
        ("regression.csv", csv_options(2, 0, true, 0), b"y,x1,x2\n1.5,0,1\n-2e3,1.25,-0.5\n0.001,3,4\n"),
        (
            "semicolon_quoted_crlf_bom.csv",
            csv_options(0, 1, false, 1),
            b"\xEF\xBB\xBF\"a\";\"label\"\r\n\"1.0\";\"yes\"\r\n\r\n2.5;no\r\n",
        ),
        ("numeric_classes_tab.csv", csv_options(1, 2, true, 1), b"x\tclass\n0.5\t2\n1\t10\n-1\t2\n"),
        ("pipes_and_blanks.csv", csv_options(0, 3, false, 0), b" t | u | v \n 1 | 2 | 3 \n\n 4 | 5 | 6 \n"),
    ];
    for (name, options, text) in seeds {
        std::fs::write(dir.join(name), [&[options][..], text].concat()).expect("write a CSV seed");
    }
}

fn idx_seeds() {
    let dir = seeds_dir("idx_loader");
    let arrays = [
        ("u8_2x3.idx", IdxArray::new(vec![2, 3], IdxData::U8(vec![0, 1, 2, 253, 254, 255]))),
        ("i8_3.idx", IdxArray::new(vec![3], IdxData::I8(vec![-128, 0, 127]))),
        ("i16_1x2.idx", IdxArray::new(vec![1, 2], IdxData::I16(vec![-30000, 258]))),
        ("i32_2.idx", IdxArray::new(vec![2], IdxData::I32(vec![i32::MIN, 16909060]))),
        ("f32_2x1x1.idx", IdxArray::new(vec![2, 1, 1], IdxData::F32(vec![-1.5, f32::MAX]))),
        ("f64_2.idx", IdxArray::new(vec![2], IdxData::F64(vec![std::f64::consts::PI, -0.0]))),
        ("u8_0x5_empty.idx", IdxArray::new(vec![0, 5], IdxData::U8(vec![]))),
    ];
    for (name, array) in arrays {
        std::fs::write(dir.join(name), idx_bytes(&array.expect("a valid IDX array")))
            .expect("write an IDX seed");
    }
}

fn model_seed<F: Float>(name: &str, spec: &MlpSpec, meta: &ModelMeta, seed: u64) {
    let mut g = Graph::<F>::new();
    let model = spec.build(&mut g, &mut TensorRng::seed_from_u64(seed)).expect("a valid architecture");
    save_model(seeds_dir("model_file").join(name), &model, &g, meta).expect("save a model seed");
}

fn model_seeds() {
    let mut binary = ModelMeta::new(Loss::BceWithLogits);
    binary.feature_names = vec!["x".into(), "y".into()];
    binary.class_names = vec!["blue".into(), "orange".into()];
    binary.input_scaling = Some(Standardizer::from_parts(vec![0.5, -1.0], vec![2.0, 0.25]).unwrap());
    model_seed::<f32>("binary_f32.safetensors", &MlpSpec::new(&[2, 3, 1], Activation::Tanh), &binary, 1);

    let mut multi = MlpSpec::new(&[3, 4, 3], Activation::Relu);
    multi.dropout = 0.25;
    let mut multi_meta = ModelMeta::new(Loss::CrossEntropy);
    multi_meta.class_names = vec!["a".into(), "b".into(), "c".into()];
    model_seed::<f64>("multiclass_dropout_f64.safetensors", &multi, &multi_meta, 2);

    let mut regression = MlpSpec::new(&[2, 1], Activation::Identity);
    regression.bias = false;
    model_seed::<f32>("regression_no_bias_f32.safetensors", &regression, &ModelMeta::new(Loss::Mse), 3);

    let mut pm1 = MlpSpec::new(&[1, 2, 1], Activation::Sigmoid);
    pm1.output = Activation::Identity;
    model_seed::<f64>("hinge_f64.safetensors", &pm1, &ModelMeta::new(Loss::Hinge), 4);
}

fn playground_seeds() {
    let dir = seeds_dir("playground_url");
    let urls = [
        ("defaults.txt", "https://playground.tensorflow.org/"),
        (
            "circle_4_2.txt",
            "https://playground.tensorflow.org/#activation=tanh&batchSize=10&dataset=circle\
             &learningRate=0.03&networkShape=4,2&seed=0.12345&percTrainData=50&x=true&y=true",
        ),
        (
            "regression_all_features.txt",
            "#activation=relu&regularization=L1&batchSize=7&dataset=spiral&regDataset=reg-gauss&learningRate=0.1\
             &regularizationRate=0.003&noise=15&networkShape=5,3,2&seed=xyz&percTrainData=70&x=false&y=true\
             &xSquared=true&ySquared=true&xTimesY=true&sinX=true&sinY=true&problem=regression&initZero=true",
        ),
        (
            "quirks.txt",
            "learningRate=&networkShape=&batchSize=4&batchSize=6&foo=1&x_hide=true&regularization=L2\
             &dataset=xor&noise=0x10&percTrainData=.5e2",
        ),
        (
            "page_hash.txt",
            "#activation=sigmoid&regularization=none&batchSize=30&dataset=gauss&regDataset=reg-plane\
             &learningRate=1&regularizationRate=0&noise=50&networkShape=8,8,8,8,8,8&seed=0.98765\
             &showTestData=true&discretize=true&percTrainData=10&x=true&y=true&xTimesY=false&xSquared=false\
             &ySquared=false&cosX=false&sinX=false&cosY=false&sinY=false&collectStats=false\
             &problem=classification&initZero=false&hideText=true&tutorial=dp-reg",
        ),
    ];
    for (name, url) in urls {
        std::fs::write(dir.join(name), url).expect("write a URL seed");
    }
}

fn main() {
    csv_seeds();
    idx_seeds();
    model_seeds();
    playground_seeds();
    println!("seeds written under {}", Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds").display());
}
