//! Inputs the `model_file` fuzz target (`fuzz/`) found, kept as tests.

use std::path::{Path, PathBuf};

use backprop_autograd::Graph;
use backprop_nn::model_file::{check_model_tensors, header_of};
use backprop_nn::safetensors_file::SafetensorsFile;
use backprop_nn::{Activation, Loss, ModelMeta, load_model, mlp, read_model_header, save_model};
use backprop_tensor::TensorRng;

/// The bytes of a small f64 model file, as `save_model` writes them.
fn f64_model_bytes(dir: &Path) -> Vec<u8> {
    let mut g = Graph::<f64>::new();
    let model = mlp(&mut g, &[3, 4, 3], Activation::Relu, &mut TensorRng::seed_from_u64(2)).unwrap();
    let path = dir.join("model.safetensors");
    save_model(&path, &model, &g, &ModelMeta::new(Loss::CrossEntropy)).unwrap();
    std::fs::read(&path).unwrap()
}

/// `bytes` with its metadata's dtype changed from f64 to f32; the text keeps its length, and
/// the checksum, which covers the tensors only, still holds.
fn claim_f32(bytes: &[u8]) -> Vec<u8> {
    let (from, to) = (br#"\"dtype\":\"f64\""#, br#"\"dtype\":\"f32\""#);
    let at = bytes.windows(from.len()).position(|w| w == from).expect("the header names its dtype");
    [&bytes[..at], &to[..], &bytes[at + from.len()..]].concat()
}

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("backprop-nn-fuzz-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The fuzzer's input (`model_file`, crash-4c9eaddd) was the multi-class seed with the
/// header's `"dtype":"f64"` turned into `"f32"` (and the checksum key garbled): the metadata
/// said f32 while every tensor was F64, and `load_model::<f64>` accepted it. The tensors'
/// dtype is now checked against the metadata with their names and shapes.
#[test]
fn a_header_dtype_that_contradicts_the_tensors_is_refused() {
    let dir = temp_dir("dtype");
    let lying = claim_f32(&f64_model_bytes(&dir));
    let path = dir.join("lying.safetensors");
    std::fs::write(&path, &lying).unwrap();

    assert_eq!(read_model_header(&path).unwrap().dtype, "f32", "the header alone reads fine");
    let expected = format!(
        "{}: inconsistent: the metadata says dtype f32 but tensor '0.weight' has dtype F64",
        path.display()
    );
    assert_eq!(load_model::<f64>(&path).unwrap_err().to_string(), expected);
    assert_eq!(load_model::<f32>(&path).unwrap_err().to_string(), expected);

    let file = SafetensorsFile::from_bytes(Path::new("m.safetensors"), lying).unwrap();
    let header = header_of(&file, "model").unwrap();
    assert_eq!(
        check_model_tensors(&file, &header, &[]).unwrap_err().to_string(),
        "m.safetensors: inconsistent: the metadata says dtype f32 but tensor '0.weight' has dtype F64"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_untouched_file_still_loads() {
    let dir = temp_dir("dtype-ok");
    let bytes = f64_model_bytes(&dir);
    let file = SafetensorsFile::from_bytes(Path::new("m.safetensors"), bytes).unwrap();
    let header = header_of(&file, "model").unwrap();
    check_model_tensors(&file, &header, &[]).unwrap();
    assert_eq!(file.dtype("0.weight"), Some(safetensors::Dtype::F64));
    assert_eq!(file.dtype("9.weight"), None);
    let (_, model, meta) = load_model::<f64>(dir.join("model.safetensors")).unwrap();
    assert_eq!(
        (model.in_features(), model.out_features(), meta.loss),
        (Some(3), Some(3), Loss::CrossEntropy)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
