#!/usr/bin/env bash
# frugal against a plain PyTorch loop (bench/vs_pytorch.py, Debian's
# python3-torch: the same LibTorch build) on Fashion-MNIST, full data, same
# model, optimizer, batch and schedule: LeNet-300-100 and the CNN, each side at
# 1 and 2 threads, all runs alternated ROUNDS times. Training time only (the
# per-epoch evaluation is excluded on both sides). Writes
# bench/results/vs_pytorch.json, one object per run: {impl, model, threads,
# round, train_s, test_acc}, and prints each side at its best thread count.
#
#   ROUNDS=3 EPOCHS=15 CNN_EPOCHS=3 THREADS="1 2" MODELS="mlp cnn" PRUNED=0 OUT=bench/results/vs_pytorch.json bash bench/vs_pytorch.sh
#
# PRUNED=1 adds a third side, "frugal-pruned": frugal as it is meant to be
# used, recipes/fmnist-infobatch-rigl.toml (InfoBatch and RigL at 10%
# density on the sparse kernels) on the same model, epochs and threads; its
# accuracy is printed beside it, since pruning trades some away.
#
# Target (issue: speed): frugal's training time at most 0.5x PyTorch's for both models.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
EPOCHS=${EPOCHS:-15}
CNN_EPOCHS=${CNN_EPOCHS:-3}
THREADS=${THREADS:-"1 2"}
MODELS=${MODELS:-"mlp cnn"}
PRUNED=${PRUNED:-0}
OUT=${OUT:-bench/results/vs_pytorch.json}
PYTHON=${PYTHON:-/usr/bin/python3}
source bench/frugal_cli.sh
runs=runs/bench-vs-pytorch
rm -rf "$runs"
mkdir -p "$(dirname "$OUT")" "$runs"
out=$runs/pytorch.jsonl
for round in $(seq 1 "$ROUNDS"); do
  for model in $MODELS; do
    epochs=$EPOCHS; [[ $model == cnn ]] && epochs=$CNN_EPOCHS
    for threads in $THREADS; do
      "$FRUGAL" train recipes/fmnist-full.toml --set run.out_dir="\"$runs\"" \
        run.name="frugal-$model-$threads-$round" run.progress=false run.threads="$threads" \
        train.checkpoint=false train.epochs="$epochs" model.name="\"$model\"" > /dev/null 2>&1
      if [[ $PRUNED == 1 ]]; then
        "$FRUGAL" train recipes/fmnist-infobatch-rigl.toml --set run.out_dir="\"$runs\"" \
          run.name="frugal_pruned-$model-$threads-$round" run.progress=false run.threads="$threads" \
          train.checkpoint=false train.epochs="$epochs" model.name="\"$model\"" > /dev/null 2>&1
      fi
      "$PYTHON" bench/vs_pytorch.py --model "$model" --epochs "$epochs" --threads "$threads" |
        sed "s/^{/{\"model\": \"$model\", \"threads\": $threads, \"round\": $round, /" >> "$out"
    done
  done
done
"$PYTHON" - "$runs" "$OUT" <<'PY'
import json, os, statistics, sys
runs_dir, out = sys.argv[1], sys.argv[2]
rows = []
for line in open(os.path.join(runs_dir, "pytorch.jsonl")):
    r = json.loads(line)
    rows.append(dict(impl="pytorch", model=r["model"], threads=r["threads"], round=r["round"],
                     train_s=r["train_s"], test_acc=r["test_acc"]))
for name in sorted(os.listdir(runs_dir)):
    if not name.startswith("frugal"):
        continue
    impl, model, threads, round_ = name.split("-")
    epochs = [json.loads(l) for l in open(os.path.join(runs_dir, name, "metrics.jsonl"))]
    epochs = [e for e in epochs if "train_s" in e]
    rows.append(dict(impl=impl.replace("_", "-"), model=model, threads=int(threads), round=int(round_),
                     train_s=sum(e["train_s"] for e in epochs), test_acc=epochs[-1]["test_acc"]))
json.dump(rows, open(out, "w"), indent=1)
impls = [i for i in ("frugal", "frugal-pruned") if any(r["impl"] == i for r in rows)]


def best(impl, model):
    """(median train_s, threads, median test_acc) at the impl's fastest thread count."""
    threads = sorted({r["threads"] for r in rows if (r["impl"], r["model"]) == (impl, model)})
    pick = lambda t: [r for r in rows if (r["impl"], r["model"], r["threads"]) == (impl, model, t)]
    t = min(threads, key=lambda t: statistics.median(r["train_s"] for r in pick(t)))
    return (statistics.median(r["train_s"] for r in pick(t)), t, statistics.median(r["test_acc"] for r in pick(t)))


print("| model | side | best (s) | threads | / PyTorch | test acc % |")
print("|---|---|---|---|---|---|")
for model in [m for m in ("mlp", "cnn") if any(r["model"] == m for r in rows)]:
    p = best("pytorch", model)
    print(f"| {model} | pytorch | {p[0]:.2f} | {p[1]} | 1.00x | {100 * p[2]:.2f} |")
    for impl in impls:
        f = best(impl, model)
        print(f"| {model} | {impl} | {f[0]:.2f} | {f[1]} | {f[0] / p[0]:.2f}x | {100 * f[2]:.2f} |")
PY
