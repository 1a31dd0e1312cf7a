#!/usr/bin/env bash
# frugal against a plain PyTorch loop (bench/vs_pytorch.py, Debian's
# python3-torch: the same LibTorch build) on Fashion-MNIST, full data, same
# model, optimizer, batch and schedule: LeNet-300-100 and the CNN, each side at
# 1 and 2 threads, all runs alternated ROUNDS times. Training time only (the
# per-epoch evaluation is excluded on both sides). Writes
# bench/results/vs_pytorch.json, one object per run: {impl, model, threads,
# round, train_s, test_acc}, and prints each side at its best thread count.
#
#   ROUNDS=3 EPOCHS=15 CNN_EPOCHS=3 bash bench/vs_pytorch.sh
#
# Target (issue: speed): frugal's training time at most 0.5x PyTorch's for both models.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
EPOCHS=${EPOCHS:-15}
CNN_EPOCHS=${CNN_EPOCHS:-3}
PYTHON=${PYTHON:-/usr/bin/python3}
source bench/frugal_cli.sh
runs=runs/bench-vs-pytorch
rm -rf "$runs"
mkdir -p bench/results "$runs"
out=$runs/pytorch.jsonl
for round in $(seq 1 "$ROUNDS"); do
  for model in mlp cnn; do
    epochs=$EPOCHS; [[ $model == cnn ]] && epochs=$CNN_EPOCHS
    for threads in 1 2; do
      "$FRUGAL" train recipes/fmnist-full.toml --set run.out_dir="\"$runs\"" \
        run.name="frugal-$model-$threads-$round" run.progress=false run.threads="$threads" \
        train.checkpoint=false train.epochs="$epochs" model.name="\"$model\"" > /dev/null 2>&1
      "$PYTHON" bench/vs_pytorch.py --model "$model" --epochs "$epochs" --threads "$threads" |
        sed "s/^{/{\"model\": \"$model\", \"threads\": $threads, \"round\": $round, /" >> "$out"
    done
  done
done
"$PYTHON" - "$runs" bench/results/vs_pytorch.json <<'PY'
import json, os, statistics, sys
runs_dir, out = sys.argv[1], sys.argv[2]
rows = []
for line in open(os.path.join(runs_dir, "pytorch.jsonl")):
    r = json.loads(line)
    rows.append(dict(impl="pytorch", model=r["model"], threads=r["threads"], round=r["round"],
                     train_s=r["train_s"], test_acc=r["test_acc"]))
for name in sorted(os.listdir(runs_dir)):
    if not name.startswith("frugal-"):
        continue
    _, model, threads, round_ = name.split("-")
    epochs = [json.loads(l) for l in open(os.path.join(runs_dir, name, "metrics.jsonl"))]
    epochs = [e for e in epochs if "train_s" in e]
    rows.append(dict(impl="frugal", model=model, threads=int(threads), round=int(round_),
                     train_s=sum(e["train_s"] for e in epochs), test_acc=epochs[-1]["test_acc"]))
json.dump(rows, open(out, "w"), indent=1)
print("| model | PyTorch best (s) | threads | frugal best (s) | threads | frugal / PyTorch | acc PyTorch | acc frugal |")
print("|---|---|---|---|---|---|---|---|")
for model in ("mlp", "cnn"):
    best = {}
    for impl in ("pytorch", "frugal"):
        med = {t: statistics.median(r["train_s"] for r in rows if (r["impl"], r["model"], r["threads"]) == (impl, model, t))
               for t in (1, 2)}
        t = min(med, key=med.get)
        acc = statistics.median(r["test_acc"] for r in rows if (r["impl"], r["model"], r["threads"]) == (impl, model, t))
        best[impl] = (med[t], t, acc)
    p, f = best["pytorch"], best["frugal"]
    print(f"| {model} | {p[0]:.2f} | {p[1]} | {f[0]:.2f} | {f[1]} | {f[0] / p[0]:.2f}x | {100 * p[2]:.2f} | {100 * f[2]:.2f} |")
PY
