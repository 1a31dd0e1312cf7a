"""Times for bench/python.sh (see there). Prints Markdown, writes JSON."""

import argparse
import json
import time

import torch
from torch.utils.data import DataLoader, TensorDataset

import frugal


def infobatch_epochs(n, epochs, workers, use_infobatch):
    torch.manual_seed(0)
    data = TensorDataset(torch.randn(n, 64), torch.randint(0, 10, (n,)))
    model = torch.nn.Sequential(torch.nn.Linear(64, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    ds = frugal.InfoBatch(data, epochs, 0.5, 0.875) if use_infobatch else data
    loader = DataLoader(ds, 128, sampler=ds.sampler if use_infobatch else None, shuffle=not use_infobatch,
                        num_workers=workers)
    criterion = torch.nn.CrossEntropyLoss(reduction="none")
    forwarded, start = 0, time.perf_counter()
    for _ in range(epochs):
        for x, y in loader:
            per_sample = criterion(model(x), y)
            loss = ds.update(per_sample) if use_infobatch else per_sample.mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            forwarded += len(x)
    return {"seconds": time.perf_counter() - start, "forwarded": forwarded}


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


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", default=None)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    n, epochs, steps, reps = (4096, 4, 100, 10) if args.quick else (50000, 8, 1000, 50)
    results = {"torch_threads": torch.get_num_threads(), "infobatch": [], "dst": {}, "sparse_linear": []}
    print("| loop | workers | forwarded | seconds |\n|---|---|---|---|")
    for workers in (0, 2):
        for use in (False, True):
            r = infobatch_epochs(n, epochs, workers, use)
            r.update(workers=workers, infobatch=use)
            results["infobatch"].append(r)
            print(f"| {'InfoBatch' if use else 'full'} | {workers} | {r['forwarded']} | {r['seconds']:.2f} |")
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
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
