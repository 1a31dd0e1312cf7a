#!/usr/bin/env bash
# One epoch of dynamic sparse training of LeNet-300-100 on Fashion-MNIST (RigL,
# 95% sparse, ERK, update every 100 steps) through `frugal train`, with the
# masked Linear layers multiplied on the CSR kernels ([sparse] kernel =
# "sparse"), chosen per layer ("auto"), or masked dense ("dense"); one thread,
# the three runs alternated PAIRS times so that machine noise hits them alike.
# Writes bench/results/sparse_training.json, one object per run:
# {kernel, density, threads, round, train_s, test_acc}, and prints the table.
#
#   PAIRS=3 DENSITY=0.05 THREADS=1 bash bench/sparse_training.sh
#
# Run it on an otherwise idle machine: the times are wall-clock.
set -euo pipefail
cd "$(dirname "$0")/.."
PAIRS=${PAIRS:-3}
DENSITY=${DENSITY:-0.05}
THREADS=${THREADS:-1}
source bench/frugal_cli.sh
runs=runs/bench-sparse-training
rm -rf "$runs"
mkdir -p bench/results "$runs"
for round in $(seq 1 "$PAIRS"); do
  for kernel in dense sparse auto; do
    "$FRUGAL" train recipes/fmnist-infobatch-rigl.toml --set run.out_dir="\"$runs\"" \
      run.name="$kernel-$round" run.progress=false run.threads="$THREADS" train.checkpoint=false \
      train.epochs=1 infobatch.enabled=false sparse.density="$DENSITY" sparse.kernel="$kernel" > /dev/null
  done
done
python3 - "$runs" bench/results/sparse_training.json "$DENSITY" "$THREADS" <<'PY'
import json, os, statistics, sys
runs_dir, out, density, threads = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
rows = []
for name in sorted(os.listdir(runs_dir)):
    kernel, round_ = name.rsplit("-", 1)
    records = [json.loads(l) for l in open(os.path.join(runs_dir, name, "metrics.jsonl"))]
    epoch = [r for r in records if "train_s" in r][-1]  # the epoch line, not a mask_update event
    rows.append(dict(kernel=kernel, density=density, threads=threads, round=int(round_),
                     train_s=epoch["train_s"], test_acc=epoch["test_acc"]))
json.dump(rows, open(out, "w"), indent=1)
med = {k: statistics.median(r["train_s"] for r in rows if r["kernel"] == k) for k in ("dense", "sparse", "auto")}
print("| kernel | runs | train s per epoch (median) | speed-up vs dense | test acc % (mean) |")
print("|---|---|---|---|---|")
for k in ("dense", "sparse", "auto"):
    acc = statistics.mean(100 * r["test_acc"] for r in rows if r["kernel"] == k)
    n = sum(r["kernel"] == k for r in rows)
    print(f"| {k} | {n} | {med[k]:.3f} | {med['dense'] / med[k]:.2f}x | {acc:.2f} |")
PY
