"""A plain PyTorch training loop, the baseline of bench/vs_pytorch.sh.

Same as `frugal train recipes/fmnist-full.toml` (optionally with
model.name = "cnn"): Fashion-MNIST from Debian's dataset-fashion-mnist,
inputs / 255 standardized by the training set's mean and std, LeNet-300-100
or the small CNN, SGD (lr 0.05, momentum 0.9, weight decay 5e-4), batch 128,
cosine learning rate over the share of training done (set every step, as
frugal does), a fresh shuffle each epoch, test evaluation after every epoch
(not counted in train_s). Prints one JSON object.

    /usr/bin/python3 bench/vs_pytorch.py --model mlp --epochs 15 --threads 1
"""
import argparse
import gzip
import json
import math
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

DATA = "/usr/share/datasets/fashion-mnist"


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def load(split, limit):
    prefix = "train" if split == "train" else "t10k"
    x = read_idx(f"{DATA}/{prefix}-images-idx3-ubyte.gz")
    y = read_idx(f"{DATA}/{prefix}-labels-idx1-ubyte.gz")
    if limit:
        x, y = x[:limit], y[:limit]
    return torch.from_numpy(x.copy()).float().div_(255).unsqueeze(1), torch.from_numpy(y.astype(np.int64))


def model_for(name):
    if name == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 300), nn.ReLU(), nn.Linear(300, 100), nn.ReLU(),
                             nn.Linear(100, 10))
    return nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", choices=["mlp", "cnn"], default="mlp")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--limit", type=int, default=0)
    parser.add_argument("--test-limit", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    x, y = load("train", args.limit)
    tx, ty = load("test", args.test_limit)
    mean, std = x.mean(), x.std(unbiased=False)
    x, tx = (x - mean) / std, (tx - mean) / std
    model = model_for(args.model)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    n, batch = x.shape[0], 128
    batches = (n + batch - 1) // batch
    train_s = 0.0
    for epoch in range(args.epochs):
        start = time.perf_counter()
        model.train()
        order = torch.randperm(n)
        for b in range(batches):
            progress = (epoch + b / batches) / args.epochs
            for group in optimizer.param_groups:
                group["lr"] = 0.05 * 0.5 * (1 + math.cos(math.pi * progress))
            idx = order[b * batch:(b + 1) * batch]
            optimizer.zero_grad()
            loss = F.cross_entropy(model(x[idx]), y[idx])
            loss.backward()
            optimizer.step()
        train_s += time.perf_counter() - start
        model.eval()
        with torch.no_grad():
            correct = sum((model(tx[i:i + 1000]).argmax(1) == ty[i:i + 1000]).sum().item()
                          for i in range(0, tx.shape[0], 1000))
    print(json.dumps({"train_s": train_s, "test_acc": correct / tx.shape[0]}))


if __name__ == "__main__":
    main()
