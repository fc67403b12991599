//! Fuzzes the model-file loader in memory, step for step what `backprop_nn::load_model` does
//! after reading the file: `SafetensorsFile::from_bytes`, `header_of`, `check_model_tensors`,
//! `build_from_file`. Any bytes are a model or an error naming the file, never a panic or an
//! allocation the file does not pay for with its own bytes. A loaded model is then used as
//! the CLI uses it: a prediction, the task's classes and probabilities, the input scaling.

#![no_main]

use std::path::Path;

use backprop_autograd::Graph;
use backprop_nn::model_file::{ModelHeader, build_from_file, check_model_tensors, header_of};
use backprop_nn::safetensors_file::SafetensorsFile;
use backprop_nn::{NnError, Sequential, Task};
use backprop_tensor::{Float, Tensor};
use libfuzzer_sys::fuzz_target;

const PATH: &str = "fuzz.safetensors";

fuzz_target!(|data: &[u8]| {
    let file = match SafetensorsFile::from_bytes(Path::new(PATH), data.to_vec()) {
        Ok(file) => file,
        Err(error) => return check_message(&error.to_string()),
    };
    // Every tensor reads (or refuses) in both dtypes, whatever the metadata says.
    for name in file.names() {
        let shape = file.shape(&name).expect("a listed tensor has a shape");
        for result in [
            file.tensor::<f32>(&name, None).map(|t| t.len()),
            file.tensor::<f64>(&name, None).map(|t| t.len()),
        ] {
            match result {
                Ok(len) => assert_eq!(len, shape.iter().product::<usize>()),
                Err(error) => check_message(&error.to_string()),
            }
        }
    }
    let header = match header_of(&file, "model") {
        Ok(header) => header,
        Err(error) => return check_message(&error.to_string()),
    };
    if let Err(error) = check_model_tensors(&file, &header, &[]) {
        return check_message(&error.to_string());
    }
    if header.dtype == "f32" {
        use_model::<f32>(&file, &header);
        assert!(build_from_file::<f64>(&file, &header).is_err(), "an f32 model loaded as f64");
    } else {
        use_model::<f64>(&file, &header);
        assert!(build_from_file::<f32>(&file, &header).is_err(), "an f64 model loaded as f32");
    }
});

fn use_model<F: Float>(file: &SafetensorsFile, header: &ModelHeader) {
    let (g, model): (Graph<F>, Sequential) = match build_from_file::<F>(file, header) {
        Ok(built) => built,
        Err(error) => return check_nn_error(&error),
    };
    assert_eq!(model.specs(), header.layers, "the model is not the header's architecture");
    let inputs = model.in_features().expect("a checked model has a dense layer");
    let outputs = model.out_features().expect("a checked model has a dense layer");
    let mut x = Tensor::from_shape_fn(&[3, inputs], |i| F::from_f64(i[0] as f64 - i[1] as f64 * 0.5));
    let meta = &header.meta;
    if let Some(scaling) = &meta.input_scaling {
        scaling.apply(&mut x).expect("the scaling was checked against the inputs");
    }
    let y = model.predict(&g, &x).expect("a checked model predicts on inputs of its width");
    assert_eq!(y.shape(), &[3, outputs]);
    if meta.task != Task::Regression && y.as_slice().iter().all(|v| v.is_finite()) {
        let classes = meta.loss.predict_classes(&y).expect("a classifier's outputs give classes");
        assert_eq!(classes.len(), 3);
        let probabilities = meta.loss.probabilities(&y).expect("a classifier's outputs give probabilities");
        assert_eq!(probabilities.shape()[0], 3);
    }
}

fn check_nn_error(error: &NnError) {
    check_message(&error.to_string());
}

fn check_message(message: &str) {
    assert!(message.starts_with(PATH), "the error does not name the file: {message}");
}
