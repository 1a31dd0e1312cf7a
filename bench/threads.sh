#!/usr/bin/env bash
# Thread scaling of `frugal train` on Fashion-MNIST: one thread against the
# default (run.threads = 0: the cores other processes leave idle), for
# LeNet-300-100 (MLP) and the CNN, on an idle machine and with one busy
# neighbour (a process spinning on one core). The runs are alternated ROUNDS
# times so machine noise hits them alike. Writes bench/results/threads.json,
# one object per run: {model, neighbour, threads_setting, threads_used,
# intra_op_threads, blas, round, train_s}, and prints the medians.
#
#   ROUNDS=3 MLP_EPOCHS=3 CNN_LIMIT=20000 bash bench/threads.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
MLP_EPOCHS=${MLP_EPOCHS:-3}
CNN_LIMIT=${CNN_LIMIT:-20000}
source bench/frugal_cli.sh
runs=runs/bench-threads
rm -rf "$runs"
mkdir -p bench/results "$runs"
neighbour_pid=""
trap '[[ -n $neighbour_pid ]] && kill "$neighbour_pid" 2> /dev/null || true' EXIT
train() {  # model neighbour threads round
  local extra=(train.epochs="$MLP_EPOCHS")
  [[ $1 == cnn ]] && extra=(model.name='"cnn"' train.epochs=1 data.limit="$CNN_LIMIT")
  "$FRUGAL" train recipes/fmnist-full.toml --set run.out_dir="\"$runs\"" \
    run.name="$1-$2-$3-$4" run.progress=false run.threads="$3" train.checkpoint=false \
    data.test_limit=1000 "${extra[@]}" > /dev/null 2>&1
}
for neighbour in idle busy; do
  if [[ $neighbour == busy ]]; then
    (while :; do :; done) &
    neighbour_pid=$!
    sleep 1
  fi
  for round in $(seq 1 "$ROUNDS"); do
    for model in mlp cnn; do
      for threads in 1 0; do train "$model" "$neighbour" "$threads" "$round"; done
    done
  done
  [[ -n $neighbour_pid ]] && kill "$neighbour_pid" && neighbour_pid=""
done
python3 - "$runs" bench/results/threads.json <<'PY'
import json, os, statistics, sys
runs_dir, out = sys.argv[1], sys.argv[2]
rows = []
for name in sorted(os.listdir(runs_dir)):
    model, neighbour, threads, round_ = name.split("-")
    summary = json.load(open(os.path.join(runs_dir, name, "summary.json")))
    epochs = [json.loads(l) for l in open(os.path.join(runs_dir, name, "metrics.jsonl"))]
    rows.append(dict(model=model, neighbour=neighbour, threads_setting=int(threads),
                     threads_used=summary["threads"], intra_op_threads=summary["intra_op_threads"],
                     blas=summary["blas"], round=int(round_),
                     train_s=sum(e["train_s"] for e in epochs if "train_s" in e)))
json.dump(rows, open(out, "w"), indent=1)
print("| model | neighbour | 1 thread (s) | default (s) | default used | speed-up |")
print("|---|---|---|---|---|---|")
for model in ("mlp", "cnn"):
    for neighbour in ("idle", "busy"):
        pick = lambda t: [r for r in rows if (r["model"], r["neighbour"], r["threads_setting"]) == (model, neighbour, t)]
        one, default = statistics.median(r["train_s"] for r in pick(1)), statistics.median(r["train_s"] for r in pick(0))
        used = sorted({r["threads_used"] for r in pick(0)})
        print(f"| {model} | {neighbour} | {one:.2f} | {default:.2f} | {used} | {one / default:.2f}x |")
print("blas:", sorted({r["blas"] for r in rows}))
PY
