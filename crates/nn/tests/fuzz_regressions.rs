//! Inputs the `model_file` fuzz target (`fuzz/`) found, kept as tests.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use backprop_autograd::Graph;
use backprop_nn::model_file::{check_model_tensors, header_of};
use backprop_nn::safetensors_file::{CHECKSUM_KEY, SafetensorsFile, write_safetensors};
use backprop_nn::{Activation, Loss, ModelMeta, load_model, mlp, read_model_header, save_model};
use backprop_tensor::{Tensor, TensorRng};

/// The bytes of a small f64 model file, as `save_model` writes them.
fn f64_model_bytes(dir: &Path) -> Vec<u8> {
    let mut g = Graph::<f64>::new();
    let model = mlp(&mut g, &[3, 4, 3], Activation::Relu, &mut TensorRng::seed_from_u64(2)).unwrap();
    let path = dir.join("model.safetensors");
    save_model(&path, &model, &g, &ModelMeta::new(Loss::CrossEntropy)).unwrap();
    std::fs::read(&path).unwrap()
}

/// `bytes` with its metadata's dtype changed from f64 to f32 and the checksum (which covers
/// the metadata) recomputed, as the fuzzer's input had a garbled checksum key: the tensors'
/// own dtype check must still catch the lie.
fn claim_f32(dir: &Path, bytes: &[u8]) -> Vec<u8> {
    let file = SafetensorsFile::from_bytes(Path::new("m.safetensors"), bytes.to_vec()).unwrap();
    let mut meta: BTreeMap<String, String> = file
        .metadata()
        .iter()
        .filter(|(k, _)| *k != CHECKSUM_KEY)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let header = meta.get_mut("backprop").expect("a model file");
    assert!(header.contains(r#""dtype":"f64""#));
    *header = header.replace(r#""dtype":"f64""#, r#""dtype":"f32""#);
    let tensors: Vec<(String, Tensor<f64>)> =
        file.names().into_iter().map(|n| (n.clone(), file.tensor::<f64>(&n, None).unwrap())).collect();
    let refs: Vec<(String, &Tensor<f64>)> = tensors.iter().map(|(n, t)| (n.clone(), t)).collect();
    let path = dir.join("resealed.safetensors");
    write_safetensors(&path, &refs, &meta).unwrap();
    std::fs::read(&path).unwrap()
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
    let lying = claim_f32(&dir, &f64_model_bytes(&dir));
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
