"""PyTorch's DistributedDataParallel (gloo backend, 2 processes) on the run that
crates/cli/tests/distributed.rs gives `mpirun -np 2 backprop train --distributed`, for the
comparison of the two trained models.

    python ddp_gloo.py init INIT.safetensors IN HIDDEN CLASSES SEED
        writes initial weights (PyTorch's Linear initialisation) with the model file's names
        (`0.weight` [out, in], `0.bias`, `2.weight`, `2.bias`), for `backprop train --init`;
    python ddp_gloo.py train DATA.csv TARGET INIT.safetensors OUT.json EPOCHS LR
        trains Linear-Tanh-Linear with cross-entropy and SGD on 2 gloo processes, each
        computing half of every batch (the whole data set: one batch per epoch), and writes the
        parameters before and after training in backprop's layout (weights [in, out]) as JSON:
        {"initial": {name: values}, "trained": {name: values}}.

Only the standard library and torch: the safetensors files are read and written by hand.
"""

import csv
import json
import os
import socket
import struct
import sys

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as functional


def read_safetensors(path):
    data = open(path, "rb").read()
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + length])
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        assert entry["dtype"] == "F32", entry
        start, end = entry["data_offsets"]
        values = struct.unpack("<%df" % ((end - start) // 4), data[8 + length + start : 8 + length + end])
        tensors[name] = torch.tensor(values, dtype=torch.float32).reshape(entry["shape"])
    return tensors


def write_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name, tensor in tensors.items():
        values = tensor.detach().to(torch.float32).flatten().tolist()
        blob = struct.pack("<%df" % len(values), *values)
        header[name] = {"dtype": "F32", "shape": list(tensor.shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def model(inputs, hidden, classes):
    return torch.nn.Sequential(torch.nn.Linear(inputs, hidden), torch.nn.Tanh(), torch.nn.Linear(hidden, classes))


def load_csv(path, target):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    features = [name for name in rows[0] if name != target]
    x = torch.tensor([[float(row[name]) for name in features] for row in rows], dtype=torch.float32)
    # Classes in numeric order, as backprop sorts numeric labels.
    names = sorted({row[target] for row in rows}, key=float)
    y = torch.tensor([names.index(row[target]) for row in rows], dtype=torch.long)
    return x, y


def ours(net):
    """The parameters by name, flattened in backprop's layout (a weight [in, out])."""
    result = {}
    for name, parameter in net.named_parameters():
        value = parameter.detach()
        result[name] = (value.t() if value.dim() == 2 else value).flatten().tolist()
    return result


def rank_main(rank, size, port, args):
    data, target, init, out, epochs, lr = args
    os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"] = "127.0.0.1", str(port)
    dist.init_process_group("gloo", rank=rank, world_size=size)
    torch.set_num_threads(1)
    x, y = load_csv(data, target)
    weights = read_safetensors(init)
    net = model(x.shape[1], weights["0.weight"].shape[0], weights["2.weight"].shape[0])
    with torch.no_grad():
        for name, parameter in net.named_parameters():
            parameter.copy_(weights[name])
    initial = ours(net)
    ddp = torch.nn.parallel.DistributedDataParallel(net)
    optimizer = torch.optim.SGD(ddp.parameters(), lr=float(lr))
    # One batch of every row per epoch; each rank computes its half (DDP averages the two
    # halves' mean gradients: the whole batch's mean, as backprop's ranks sum theirs).
    n = x.shape[0]
    mine = slice(rank * n // size, (rank + 1) * n // size)
    for _ in range(int(epochs)):
        optimizer.zero_grad()
        loss = functional.cross_entropy(ddp(x[mine]), y[mine])
        loss.backward()
        optimizer.step()
    if rank == 0:
        with open(out, "w") as f:
            json.dump({"initial": initial, "trained": ours(net)}, f)
    dist.destroy_process_group()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    if sys.argv[1] == "init":
        path, inputs, hidden, classes, seed = sys.argv[2:7]
        torch.manual_seed(int(seed))
        net = model(int(inputs), int(hidden), int(classes))
        write_safetensors(path, dict(net.named_parameters()))
    elif sys.argv[1] == "train":
        mp.spawn(rank_main, args=(2, free_port(), sys.argv[2:8]), nprocs=2, join=True)
    else:
        raise SystemExit("usage: ddp_gloo.py init|train ...")


if __name__ == "__main__":
    main()
