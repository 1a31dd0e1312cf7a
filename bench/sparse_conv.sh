#!/usr/bin/env bash
# One epoch of dynamic sparse training (RigL, ERK, update every 100 steps) of
# the conv models on Fashion-MNIST at 90% sparsity through `frugal train`:
# the small CNN ("cnn") and ResNet-20 ("resnet20"), with the masked Conv and
# Linear layers on the sparse kernels ([sparse] kernel = "sparse", direct
# sparse convolution for the conv layers), chosen per layer ("auto"), or
# masked dense ("dense"). The three runs alternate ROUNDS times per model so
# that machine noise hits them alike. Writes bench/results/sparse_conv.json,
# one object per run: {model, sparsity, kernel, round, train_s, test_acc},
# and prints the table (medians).
#
#   ROUNDS=3 SPARSITY=0.9 THREADS=1 MODELS="cnn resnet20" LIMIT=0 bash bench/sparse_conv.sh
#
# LIMIT > 0 trains on the first LIMIT samples only (and tests on as many), for
# a quick check that the script works. Run it on an otherwise idle machine:
# the times are wall-clock. The layer alone: build/bench_sparse_conv_layer.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
SPARSITY=${SPARSITY:-0.9}
THREADS=${THREADS:-1}
MODELS=${MODELS:-"cnn resnet20"}
LIMIT=${LIMIT:-0}
source bench/frugal_cli.sh
runs=runs/bench-sparse-conv
rm -rf "$runs"
mkdir -p bench/results "$runs"
density=$(python3 -c "print(round(1 - $SPARSITY, 6))")
for model in $MODELS; do
  for round in $(seq 1 "$ROUNDS"); do
    for kernel in dense sparse auto; do
      "$FRUGAL" train recipes/fmnist-infobatch-rigl.toml --set run.out_dir="\"$runs\"" \
        run.name="\"$model-$kernel-$round\"" run.progress=false run.threads="$THREADS" train.checkpoint=false \
        train.epochs=1 infobatch.enabled=false model.name="\"$model\"" data.limit="$LIMIT" \
        data.test_limit="$LIMIT" sparse.density="$density" sparse.kernel="\"$kernel\"" > /dev/null
    done
  done
done
python3 - "$runs" bench/results/sparse_conv.json "$SPARSITY" <<'PY'
import json, os, statistics, sys
runs_dir, out, sparsity = sys.argv[1], sys.argv[2], float(sys.argv[3])
rows = []
for name in sorted(os.listdir(runs_dir)):
    model, kernel, round_ = name.rsplit("-", 2)
    records = [json.loads(l) for l in open(os.path.join(runs_dir, name, "metrics.jsonl"))]
    epoch = [r for r in records if "train_s" in r][-1]  # the epoch line, not a mask_update event
    rows.append(dict(model=model, sparsity=sparsity, kernel=kernel, round=int(round_),
                     train_s=epoch["train_s"], test_acc=epoch["test_acc"]))
json.dump(rows, open(out, "w"), indent=1)
print("| model | kernel | runs | train s per epoch (median) | speed-up vs dense | test acc % (mean) |")
print("|---|---|---|---|---|---|")
for model in dict.fromkeys(r["model"] for r in rows):
    mine = [r for r in rows if r["model"] == model]
    med = {k: statistics.median(r["train_s"] for r in mine if r["kernel"] == k) for k in ("dense", "sparse", "auto")}
    for k in ("dense", "sparse", "auto"):
        acc = statistics.mean(100 * r["test_acc"] for r in mine if r["kernel"] == k)
        n = sum(r["kernel"] == k for r in mine)
        print(f"| {model} | {k} | {n} | {med[k]:.3f} | {med['dense'] / med[k]:.2f}x | {acc:.2f} |")
PY
