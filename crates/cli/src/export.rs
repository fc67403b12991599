//! `backprop export`: a saved model as an ONNX file that onnxruntime and other runtimes run
//! without this program (the graph is described in `backprop_nn::onnx`).

use backprop_nn::{export_onnx, read_model_header};
use backprop_tensor::Float;

use crate::args::ExportArgs;
use crate::error::Result;
use crate::model::load_model_or_checkpoint;
use crate::report::emit;

/// Runs `backprop export`.
///
/// # Errors
/// An unreadable model file, a model with a layer ONNX cannot express, or an output file that
/// cannot be written.
pub fn run(args: &ExportArgs) -> Result<()> {
    crate::outputs::check_outputs(&[("--model", Some(&args.model))], &[("--onnx", Some(&args.onnx))])?;
    let header = read_model_header(&args.model)?;
    if header.dtype == "f64" { run_typed::<f64>(args) } else { run_typed::<f32>(args) }
}

fn run_typed<F: Float>(args: &ExportArgs) -> Result<()> {
    let (g, model, meta) = load_model_or_checkpoint::<F>(&args.model)?;
    export_onnx(&args.onnx, &model, &g, &meta)?;
    emit(&format!("wrote {}", args.onnx.display()));
    Ok(())
}
