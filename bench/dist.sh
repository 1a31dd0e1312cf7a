#!/usr/bin/env bash
# Data-parallel scaling of `frugal train` on Fashion-MNIST: 1 and 2 processes
# (--nproc), one thread each, for LeNet-300-100 (MLP) and the CNN, alternated
# ROUNDS times. The global batch is the same in both (each of 2 ranks takes
# half), so both train the same model. Writes bench/results/dist.json, one
# object per run: {nproc, model, round, samples_per_s, comm_share}, where
# comm_share = summary.json's comm_s (seconds inside collectives on rank 0)
# over the training time, and prints the medians.
#
#   ROUNDS=3 MLP_EPOCHS=3 CNN_LIMIT=20000 bash bench/dist.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
MLP_EPOCHS=${MLP_EPOCHS:-3}
CNN_LIMIT=${CNN_LIMIT:-20000}
source bench/frugal_cli.sh
runs=runs/bench-dist
rm -rf "$runs"
mkdir -p bench/results "$runs"
train() {  # model nproc round
  local extra=(train.epochs="$MLP_EPOCHS")
  [[ $1 == cnn ]] && extra=(model.name='"cnn"' train.epochs=1 data.limit="$CNN_LIMIT")
  "$FRUGAL" train recipes/fmnist-full.toml --nproc "$2" --set run.out_dir="\"$runs\"" \
    run.name="$1-$2-$3" run.progress=false run.threads=1 train.checkpoint=false \
    data.test_limit=1000 "${extra[@]}" > /dev/null 2>&1
}
for round in $(seq 1 "$ROUNDS"); do
  for model in mlp cnn; do
    for nproc in 1 2; do train "$model" "$nproc" "$round"; done
  done
done
python3 - "$runs" bench/results/dist.json <<'PY'
import json, os, statistics, sys
runs_dir, out = sys.argv[1], sys.argv[2]
rows = []
for name in sorted(os.listdir(runs_dir)):
    model, nproc, round_ = name.split("-")
    summary = json.load(open(os.path.join(runs_dir, name, "summary.json")))
    epochs = [json.loads(l) for l in open(os.path.join(runs_dir, name, "metrics.jsonl"))]
    train_s = sum(e["train_s"] for e in epochs)
    rows.append(dict(nproc=int(nproc), model=model, round=int(round_),
                     samples_per_s=summary["samples_forwarded"] / train_s,
                     comm_share=summary.get("comm_s", 0.0) / train_s))
json.dump(rows, open(out, "w"), indent=1)
print("| model | processes | samples/s | communication share |")
print("|---|---|---|---|")
for model in ("mlp", "cnn"):
    for nproc in (1, 2):
        pick = [r for r in rows if (r["model"], r["nproc"]) == (model, nproc)]
        print(f"| {model} | {nproc} | {statistics.median(r['samples_per_s'] for r in pick):.0f} | "
              f"{statistics.median(r['comm_share'] for r in pick):.1%} |")
PY
