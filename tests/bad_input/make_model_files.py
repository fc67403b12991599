#!/usr/bin/env python3
"""Writes the broken model files of the bad-input corpus from one good model file.

The committed bytes are what the tests read; this script only documents how they were made
and remakes them. The good model comes from the 8-row `data.csv` of the model cases:

    backprop train --csv tests/bad_input/30-model-truncated-data/data.csv --target y \
        --layers 3 --epochs 1 --seed 0 --threads 1 --save /tmp/base.safetensors
    python3 tests/bad_input/make_model_files.py /tmp/base.safetensors [CASE ...]

With CASE names, only those cases are written. Cases 30-59 were made with the older checksum
(`fnv1a64:`, tensors only), which backprop still reads; cases from 150 on use the current one
(`fnv1a64m:`, tensors and metadata), and case 150 needs a base written by a backprop that
writes it (cases 150-152 were made with `--save` from that version, then
`... /tmp/base.safetensors 150-model-header-byte-flipped 151-model-duplicate-class-names
152-model-duplicate-feature-names`).

Each case folder gets a `model.safetensors` (created or overwritten). Variants that change the
tensors or the metadata recompute the `backprop.checksum` entry, so that the file is refused for
the reason the case is about and not for an altered checksum.
"""

import json
import math
import struct
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
CHECKSUM_KEY = "backprop.checksum"


def parse(data):
    """The header (without `__metadata__`), the metadata and each tensor's bytes."""
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8 : 8 + n])
    body = data[8 + n :]
    metadata = header.pop("__metadata__", {})
    tensors = {}
    for name, info in header.items():
        start, end = info["data_offsets"]
        tensors[name] = (info["dtype"], list(info["shape"]), body[start:end])
    return tensors, metadata


def fnv1a64(parts):
    h = 0xCBF29CE484222325
    for part in parts:
        for byte in part:
            h ^= byte
            h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def checksum(tensors, metadata=None):
    """The checksum that backprop's safetensors writer stores: FNV-1a over the sorted tensors
    and, with `metadata`, over its sorted entries (length-prefixed key and value); without it,
    the older tensors-only scheme."""
    parts = []
    for name in sorted(tensors):
        dtype, shape, raw = tensors[name]
        parts.append(name.encode())
        parts.append(f"{dtype}[{', '.join(str(d) for d in shape)}]".encode())
        parts.append(struct.pack("<Q", len(raw)))
        parts.append(raw)
    if metadata is None:
        return f"fnv1a64:{fnv1a64(parts):016x}"
    for key in sorted(k for k in metadata if k != CHECKSUM_KEY):
        for text in (key.encode(), metadata[key].encode()):
            parts.append(struct.pack("<Q", len(text)))
            parts.append(text)
    return f"fnv1a64m:{fnv1a64(parts):016x}"


def serialize(tensors, metadata, with_checksum=True, offsets=None, cover_metadata=False):
    """Safetensors bytes as backprop writes them: sorted keys, header padded to 8 bytes."""
    metadata = dict(metadata)
    metadata.pop(CHECKSUM_KEY, None)
    if with_checksum:
        metadata[CHECKSUM_KEY] = checksum(tensors, metadata if cover_metadata else None)
    header = {}
    body = b""
    for name in sorted(tensors):
        dtype, shape, raw = tensors[name]
        span = [len(body), len(body) + len(raw)]
        header[name] = {"data_offsets": (offsets or {}).get(name, span), "dtype": dtype, "shape": shape}
        body += raw
    if metadata:
        header["__metadata__"] = dict(sorted(metadata.items()))
    text = json.dumps(dict(sorted(header.items())), separators=(",", ":"))
    text += " " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text.encode() + body


def floats(raw):
    return list(struct.unpack(f"<{len(raw) // 4}f", raw))


def with_header(metadata, change):
    """The metadata with its `backprop` JSON changed by `change(header_dict)`."""
    header = json.loads(metadata["backprop"])
    change(header)
    out = dict(metadata)
    out["backprop"] = json.dumps(header, separators=(",", ":"))
    return out


def variants(good):
    tensors, metadata = parse(good)

    def retyped(dtype, pack):
        return {n: (dtype, s, pack(floats(r))) for n, (_, s, r) in tensors.items()}

    as_f64 = retyped("F64", lambda v: struct.pack(f"<{len(v)}d", *v))
    as_i32 = retyped("I32", lambda v: struct.pack(f"<{len(v)}i", *[round(x * 1000) for x in v]))
    transposed = dict(tensors)
    dtype, shape, raw = tensors["0.weight"]
    rows, cols = shape
    values = floats(raw)
    flipped = [values[r * cols + c] for c in range(cols) for r in range(rows)]
    transposed["0.weight"] = (dtype, [cols, rows], struct.pack(f"<{len(flipped)}f", *flipped))
    missing = {n: t for n, t in tensors.items() if n != "2.bias"}
    extra = dict(tensors)
    extra["4.weight"] = ("F32", [1, 1], struct.pack("<f", 0.5))
    nan = dict(tensors)
    w = floats(tensors["2.weight"][2])
    w[1] = math.nan
    nan["2.weight"] = ("F32", tensors["2.weight"][1], struct.pack(f"<{len(w)}f", *w))
    flipped_byte = bytearray(good)
    flipped_byte[-5] ^= 0x40
    # One bit of the header's input scaling (the first mean's first digit after the point).
    header_flip = bytearray(good)
    at = good.index(b'\\"mean\\":[') + len(b'\\"mean\\":[')
    at = good.index(b".", at) + 1
    header_flip[at] ^= 0x01

    def set_meta(key, value):
        return lambda h: h["meta"].__setitem__(key, value)

    def set_top(key, value):
        return lambda h: h.__setitem__(key, value)

    def break_chain(h):
        h["layers"][2]["dense"]["in_features"] = 4

    return {
        "30-model-truncated-data": good[:-10],
        "31-model-truncated-header": good[:100],
        "32-model-shorter-than-length-field": good[:5],
        "33-model-empty-file": b"",
        "34-model-pytorch-zip": b"PK\x03\x04\x14\x00\x00\x00\x08\x00archive/data.pkl" + bytes(24),
        "35-model-csv-text": b"a,b,y\n0.1,1.2,no\n0.5,-0.3,yes\n",
        "36-model-trailing-bytes": good + b"\n\n\n\n",
        "37-model-header-not-json": struct.pack("<Q", 16) + b"<html>not json  ",
        "38-model-f64-tensors-f32-metadata": serialize(as_f64, metadata),
        "39-model-integer-tensors": serialize(as_i32, metadata),
        "40-model-header-dtype-f16": serialize(tensors, with_header(metadata, set_top("dtype", "f16"))),
        "41-model-transposed-weight": serialize(transposed, metadata),
        "42-model-missing-tensor": serialize(missing, metadata),
        "43-model-unexpected-tensor": serialize(extra, metadata),
        "44-model-class-names-contradict": serialize(
            tensors, with_header(metadata, set_meta("class_names", ["no", "yes", "maybe"]))
        ),
        "45-model-feature-names-contradict": serialize(
            tensors, with_header(metadata, set_meta("feature_names", ["a", "b", "c"]))
        ),
        "46-model-task-contradicts-loss": serialize(
            tensors, with_header(metadata, set_meta("task", "regression"))
        ),
        "47-model-zero-deviation-scaling": serialize(
            tensors, with_header(metadata, set_meta("input_scaling", {"mean": [0, 0], "std": [1, 0]}))
        ),
        "48-model-layers-do-not-chain": serialize(tensors, with_header(metadata, break_chain)),
        "49-model-checksum-mismatch": bytes(flipped_byte),
        "50-model-no-backprop-metadata": serialize(tensors, {}, with_checksum=False),
        "51-model-metadata-not-json": serialize(tensors, dict(metadata, backprop="{layers: [dense]")),
        "52-model-format-version-2": serialize(tensors, with_header(metadata, set_top("format_version", 2))),
        "53-model-nan-weight": serialize(nan, metadata),
        "54-model-offsets-contradict-shape": serialize(tensors, metadata, offsets={"0.bias": [0, 8]}),
        "55-init-truncated": good[: len(good) // 2],
        # The remaining model cases use the good model itself, with data or flags that do not fit it.
        "56-eval-class-not-in-model": good,
        "57-predict-missing-feature-column": good,
        "58-init-layers-differ": good,
        "59-init-other-features": good,
        "150-model-header-byte-flipped": bytes(header_flip),
        "151-model-duplicate-class-names": serialize(
            tensors, with_header(metadata, set_meta("class_names", ["yes", "yes"])), cover_metadata=True
        ),
        "152-model-duplicate-feature-names": serialize(
            tensors, with_header(metadata, set_meta("feature_names", ["x1", "x1"])), cover_metadata=True
        ),
    }


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    good = Path(sys.argv[1]).read_bytes()
    only = set(sys.argv[2:])
    for case, data in variants(good).items():
        if only and case not in only:
            continue
        folder = HERE / case
        folder.mkdir(exist_ok=True)
        (folder / "model.safetensors").write_bytes(data)
        print(f"{case}/model.safetensors: {len(data)} bytes")


if __name__ == "__main__":
    main()
