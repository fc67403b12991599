"""Checks an ONNX file from `backprop export` against the reference tools.

usage: check.py MODEL.onnx INPUT.csv PREDICTIONS.csv

1. onnx.checker.check_model(full_check=True) on the file (schema, types, shape inference);
2. onnxruntime on the feature columns of INPUT.csv (named by the file's feature_names
   metadata), compared within 1e-5 with PREDICTIONS.csv, the output of `backprop predict` on
   the same CSV: the p_<class> columns against `probabilities` for classifiers (and the
   predicted labels), the prediction column(s) against `prediction` for regression.

Prints one line and exits 0 when everything agrees; otherwise names the first difference and
exits 1. Run by crates/cli/tests/onnx_python.rs with the venv that `cargo xtask` creates.
"""

import csv
import json
import sys

import numpy as np
import onnx
import onnxruntime

TOLERANCE = 1e-5


def fail(message):
    print(f"check.py: {message}", file=sys.stderr)
    sys.exit(1)


def main(model_path, input_csv, predictions_csv):
    model = onnx.load(model_path)
    onnx.checker.check_model(model, full_check=True)
    meta = {p.key: p.value for p in model.metadata_props}
    features = json.loads(meta["feature_names"])
    classes = json.loads(meta["class_names"])
    task = meta["task"]

    elem_type = model.graph.input[0].type.tensor_type.elem_type
    dtype = onnx.helper.tensor_dtype_to_np_dtype(elem_type)
    with open(input_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    x = np.array([[float(row[name]) for name in features] for row in rows], dtype=dtype)

    session = onnxruntime.InferenceSession(model_path, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    outputs = dict(zip(names, session.run(None, {"input": x})))

    with open(predictions_csv, newline="") as f:
        expected = list(csv.DictReader(f))
    if len(expected) != len(rows):
        fail(f"{predictions_csv} has {len(expected)} rows, {input_csv} has {len(rows)}")

    if task == "regression":
        got = outputs["prediction"]
        columns = ["prediction"] if got.shape[1] == 1 else [f"prediction_{i}" for i in range(got.shape[1])]
    else:
        if names != ["logits", "probabilities"]:
            fail(f"a classifier should output logits and probabilities, got {names}")
        got = outputs["probabilities"]
        if not classes:
            classes = [str(i) for i in range(got.shape[1])]
        columns = [f"p_{c}" for c in classes]
    want = np.array([[float(row[c]) for c in columns] for row in expected])
    if got.shape != want.shape:
        fail(f"onnxruntime gives shape {got.shape}, backprop predict {want.shape}")
    diff = np.abs(got.astype(np.float64) - want)
    worst = np.unravel_index(np.argmax(diff), diff.shape)
    if diff[worst] > TOLERANCE:
        fail(
            f"row {worst[0]}, column {columns[worst[1]]}: onnxruntime {got[worst]}, "
            f"backprop predict {want[worst]} (difference {diff[worst]:.3g} > {TOLERANCE})"
        )
    if task != "regression":
        # The label is the most probable class; skip rows where two classes tie within rounding.
        for i, row in enumerate(expected):
            ranked = np.sort(got[i])
            if ranked[-1] - ranked[-2] > 2 * TOLERANCE and classes[int(np.argmax(got[i]))] != row["prediction"]:
                fail(f"row {i}: onnxruntime's most probable class is {classes[int(np.argmax(got[i]))]}, "
                     f"backprop predict says {row['prediction']}")
    print(f"ok: {len(rows)} rows, {len(columns)} columns, largest difference {diff[worst]:.3g}")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        fail("usage: check.py MODEL.onnx INPUT.csv PREDICTIONS.csv")
    main(*sys.argv[1:])
