#!/usr/bin/env bash
# Pruning while fine-tuning on a Fashion-MNIST transfer task: pretrain
# LeNet-300-100 on classes 0-4, fine-tune on classes 5-9 with a new (dense)
# head while pruning the hidden layers to 10%, 3% and 1% remaining weights with
# magnitude (AGP), movement, soft movement and L0, plus dense fine-tuning.
# Soft movement and L0 have no fixed target: their remaining share comes from
# the regularizer weight lambda; the table reports the share each run reached.
# Writes bench/results/fineprune.json and prints a Markdown table.
# Full grid: SEEDS="0 1 2" bash bench/fineprune.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SEEDS=${SEEDS:-0}
EPOCHS=${EPOCHS:-8}
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release > /dev/null
cmake --build build --target frugal_cli -j "$(nproc)" > /dev/null
runs=runs/bench-fineprune
mkdir -p bench/results "$runs"
common=(run.out_dir="\"$runs\"" run.progress=false train.checkpoint=false)
./build/frugal train recipes/fmnist-pretrain-0to4.toml --set "${common[@]}" run.name=pretrain > /dev/null
init=model.init="\"$runs/pretrain/model.pt\""
tune() {  # name, then --set assignments
  local name=$1; shift
  # AdamW for weights and scores, as the reference fine-tunes: with plain SGD the
  # regularizer's per-score gradient (lambda / n) is too small to move the scores.
  ./build/frugal train recipes/fmnist-finetune-movement.toml --set "${common[@]}" "$init" \
    run.name="$name" train.epochs="$EPOCHS" optimizer.name=adamw optimizer.lr=1e-3 \
    optimizer.weight_decay=0 "$@" > /dev/null
}
for seed in $SEEDS; do
  tune "dense-1.0-$seed" run.seed=$seed prune.enabled=false
  for remaining in 0.1 0.03 0.01; do
    for method in magnitude movement; do
      tune "$method-$remaining-$seed" run.seed=$seed prune.method=$method prune.final_remaining=$remaining
    done
  done
  # Regularized methods: the remaining share follows lambda (tuned per target).
  for lambda in 25 100 400; do
    tune "soft_movement-l$lambda-$seed" run.seed=$seed prune.method=soft_movement prune.lambda=$lambda
    tune "l0-l$lambda-$seed" run.seed=$seed prune.method=l0 prune.lambda=$lambda
  done
done
python3 - "$runs" bench/results/fineprune.json <<'PY'
import json, os, sys
runs_dir, out = sys.argv[1], sys.argv[2]
rows = []
for name in sorted(os.listdir(runs_dir)):
    if name == "pretrain": continue
    method, setting, seed = name.rsplit("-", 2)
    s = json.load(open(os.path.join(runs_dir, name, "summary.json")))
    reached = s["prune"]["remaining"] if isinstance(s.get("prune"), dict) else 1.0
    rows.append(dict(method=method, remaining=reached, setting=setting, seed=int(seed),
                     test_acc=s["test_acc"]))
json.dump(rows, open(out, "w"), indent=1)
print("| method | setting | remaining reached | seed | test acc % |")
print("|---|---|---|---|---|")
for r in sorted(rows, key=lambda r: (r["method"], -r["remaining"])):
    print(f"| {r['method']} | {r['setting']} | {100 * r['remaining']:.2f}% | {r['seed']} | {100 * r['test_acc']:.2f} |")
PY
