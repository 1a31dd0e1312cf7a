"""Times for bench/python.sh (see there). Prints Markdown, writes JSON."""

import argparse
import json
import math
import os
import sys
import time

import torch
from torch.utils.data import DataLoader, TensorDataset

import frugal

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vs_pytorch  # noqa: E402  (the same data, model and optimizer as the C++ comparison)


def fmnist_loop(epochs, use_infobatch, workers, limit):
    """The plain PyTorch loop of bench/vs_pytorch.py (LeNet-300-100, SGD, cosine,
    batch 128) through a DataLoader, on full data or with the official
    package's three-line InfoBatch integration (r 0.5, delta 0.875)."""
    torch.manual_seed(0)
    x, y = vs_pytorch.load("train", limit)
    tx, ty = vs_pytorch.load("test", 0)
    mean, std = x.mean(), x.std(unbiased=False)
    data = TensorDataset((x - mean) / std, y)
    tx = (tx - mean) / std
    model = vs_pytorch.model_for("mlp")
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    ds = frugal.InfoBatch(data, epochs, 0.5, 0.875) if use_infobatch else data
    loader = DataLoader(ds, 128, sampler=ds.sampler if use_infobatch else None, shuffle=not use_infobatch,
                        num_workers=workers)
    criterion = torch.nn.CrossEntropyLoss(reduction="none")
    forwarded, train_s, step = 0, 0.0, 0
    for epoch in range(epochs):
        start = time.perf_counter()
        batches = len(loader)
        for b, (xb, yb) in enumerate(loader):
            for group in optimizer.param_groups:
                group["lr"] = 0.05 * 0.5 * (1 + math.cos(math.pi * (epoch + b / batches) / epochs))
            per_sample = criterion(model(xb), yb)
            loss = ds.update(per_sample) if use_infobatch else per_sample.mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            forwarded += len(xb)
        train_s += time.perf_counter() - start
    with torch.no_grad():
        correct = sum((model(tx[i:i + 1000]).argmax(1) == ty[i:i + 1000]).sum().item()
                      for i in range(0, tx.shape[0], 1000))
    return {"train_s": train_s, "forwarded": forwarded, "test_acc": correct / tx.shape[0]}


def dst_step(steps, use_dst):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(784, 300), torch.nn.ReLU(), torch.nn.Linear(300, 100),
                                torch.nn.ReLU(), torch.nn.Linear(100, 10))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    sparsity = frugal.DynamicSparsity(model, optimizer, 0.1, method="rigl", update_interval=50,
                                      total_steps=steps) if use_dst else None
    x, y = torch.randn(128, 784), torch.randint(0, 10, (128,))
    start = time.perf_counter()
    for _ in range(steps):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
        if sparsity:
            sparsity.step()
    return {"ms_per_step": 1e3 * (time.perf_counter() - start) / steps}


def sparse_linear(density, batch, reps):
    torch.manual_seed(0)
    linear = torch.nn.Linear(1024, 1024)
    mask = torch.rand(1024, 1024) < density
    sparse = frugal.SparseLinear.from_dense(linear, mask)
    with torch.no_grad():
        linear.weight.mul_(mask)
    x = torch.randn(batch, 1024, requires_grad=True)
    out = {}
    for name, layer in (("dense", linear), ("sparse", sparse)):
        layer(x).sum().backward()
        start = time.perf_counter()
        for _ in range(reps):
            layer(x).sum().backward()
        out[name + "_ms"] = 1e3 * (time.perf_counter() - start) / reps
    return out


def rigl_epoch(sparse_layers, limit):
    """One epoch of the same loop at 95% sparsity, RigL (ERK, update interval
    100) by frugal.DynamicSparsity with sparsity.step() after each optimizer
    step, on masked nn.Linear layers or on frugal.SparseLinear layers (built
    from the same nn.Linear layers; the same seed gives them the same masks
    to start from, and they drop and grow on the same steps)."""
    torch.manual_seed(0)
    x, y = vs_pytorch.load("train", limit)
    x = (x - x.mean()) / x.std(unbiased=False)
    model = vs_pytorch.model_for("mlp")
    order = torch.randperm(x.shape[0])  # drawn before SparseLinear's own init draws
    if sparse_layers:
        for i, layer in enumerate(model):
            if isinstance(layer, torch.nn.Linear):
                model[i] = frugal.SparseLinear.from_dense(layer, torch.ones_like(layer.weight, dtype=torch.bool))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    batches = (x.shape[0] + 127) // 128
    sparsity = frugal.DynamicSparsity(model, optimizer, 0.05, method="rigl", update_interval=100,
                                      total_steps=batches)
    start = time.perf_counter()
    for b in range(batches):
        idx = order[b * 128:(b + 1) * 128]
        loss = torch.nn.functional.cross_entropy(model(x[idx]), y[idx])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        sparsity.step()
    train_s = time.perf_counter() - start
    nnz = sum(int(m.sum()) for m in sparsity.masks)
    return {"train_s": train_s, "layers": "SparseLinear" if sparse_layers else "masked Linear",
            "updates": sparsity.updates, "density": sparsity.density(), "active": nnz, "final_loss": loss.item()}


def infobatch_part(args, epochs, limit, results):
    # Full data and InfoBatch alternated, ROUNDS times: the ratio is what counts.
    for round_ in range(args.rounds):
        for use in (False, True):
            r = fmnist_loop(epochs, use, args.workers, limit)
            r.update(round=round_ + 1, infobatch=use, workers=args.workers, epochs=epochs)
            results["infobatch"].append(r)
    print("| loop | round | forwarded | train s | test acc |\n|---|---|---|---|---|")
    for r in results["infobatch"]:
        print(f"| {'InfoBatch' if r['infobatch'] else 'full'} | {r['round']} | {r['forwarded']} | "
              f"{r['train_s']:.1f} | {100 * r['test_acc']:.2f} |")
    for round_ in range(args.rounds):
        full, ib = [r for r in results["infobatch"] if r["round"] == round_ + 1]
        print(f"round {round_ + 1}: samples saved {100 * (1 - ib['forwarded'] / full['forwarded']):.1f}%, "
              f"wall saved {100 * (1 - ib['train_s'] / full['train_s']):.1f}%, "
              f"accuracy {100 * (ib['test_acc'] - full['test_acc']):+.2f} points")


def rigl_epoch_part(args, limit, results):
    # The two variants alternated, ROUNDS times.
    results["rigl_epoch"] = []
    for round_ in range(args.rounds):
        for sparse_layers in (False, True):
            r = rigl_epoch(sparse_layers, limit)
            r["round"] = round_ + 1
            results["rigl_epoch"].append(r)
    print("\n| one epoch at 95% sparsity, RigL | round | train s | updates | active |\n|---|---|---|---|---|")
    for r in results["rigl_epoch"]:
        print(f"| {r['layers']} | {r['round']} | {r['train_s']:.2f} | {r['updates']} | {r['active']} |")
    for round_ in range(args.rounds):
        dense, sparse = [r for r in results["rigl_epoch"] if r["round"] == round_ + 1]
        print(f"round {round_ + 1}: SparseLinear {dense['train_s'] / sparse['train_s']:.2f}x faster")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", default=None)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--only", choices=["rigl_epoch"], default=None,
                        help="run one part alone; with --json, its rows replace that part's in the file")
    args = parser.parse_args()
    epochs, limit, steps, reps = (2, 4096, 100, 10) if args.quick else (15, 0, 1000, 50)
    results = {"torch_threads": torch.get_num_threads(), "infobatch": [], "dst": {}, "sparse_linear": []}
    if args.only == "rigl_epoch":
        if args.json and os.path.exists(args.json):
            with open(args.json) as f:
                results = json.load(f)
        rigl_epoch_part(args, limit, results)
        results.setdefault("measured", {})["rigl_epoch"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        if args.json:
            with open(args.json, "w") as f:
                json.dump(results, f, indent=2)
        return
    infobatch_part(args, epochs, limit, results)
    rigl_epoch_part(args, limit, results)
    for use in (False, True):
        results["dst"]["rigl" if use else "dense"] = dst_step(steps, use)
    print(f"\nDST step: dense {results['dst']['dense']['ms_per_step']:.2f} ms, "
          f"RigL {results['dst']['rigl']['ms_per_step']:.2f} ms")
    print("\n| density | batch | masked dense ms | SparseLinear ms |\n|---|---|---|---|")
    for density in (0.05, 0.1, 0.3):
        for batch in (1, 64):
            r = sparse_linear(density, batch, reps)
            r.update(density=density, batch=batch)
            results["sparse_linear"].append(r)
            print(f"| {density} | {batch} | {r['dense_ms']:.3f} | {r['sparse_ms']:.3f} |")
    results["measured"] = {part: time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
                           for part in ("infobatch", "rigl_epoch", "dst", "sparse_linear")}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
