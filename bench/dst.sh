#!/usr/bin/env bash
# Dynamic sparse training on Fashion-MNIST: dense vs static, SET, RigL and an
# ITOP setting (random growth among never-active weights, alpha 0.5, ΔT 50)
# at several sparsities. Writes bench/results/dst.json and prints a Markdown table.
# The issue's full grid is
#   MODELS="mlp cnn" SPARSITIES="0.8 0.9 0.95 0.98" SEEDS="0 1 2" bash bench/dst.sh
# the default is a reduced grid that fits a 2-core machine in ~15 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
MODELS=${MODELS:-mlp}
SPARSITIES=${SPARSITIES:-"0.9 0.98"}
SEEDS=${SEEDS:-0}
EPOCHS=${EPOCHS:-10}
source bench/frugal_cli.sh
runs=runs/bench-dst
mkdir -p bench/results "$runs"
train() {  # name, then --set assignments
  local name=$1; shift
  "$FRUGAL" train recipes/fmnist-full.toml --set run.name="$name" run.out_dir="\"$runs\"" \
    run.progress=false train.epochs="$EPOCHS" train.checkpoint=false "$@" > /dev/null
}
for model in $MODELS; do
  for seed in $SEEDS; do
    train "$model-dense-0-$seed" model.name="\"$model\"" run.seed=$seed
    for sp in $SPARSITIES; do
      d=$(python3 -c "print(round(1 - $sp, 6))")
      common=(model.name="\"$model\"" run.seed=$seed sparse.enabled=true sparse.density=$d)
      train "$model-static-$sp-$seed" "${common[@]}" sparse.method=static
      train "$model-set-$sp-$seed" "${common[@]}" sparse.method=random
      train "$model-rigl-$sp-$seed" "${common[@]}" sparse.method=gradient
      train "$model-itop-$sp-$seed" "${common[@]}" sparse.method=random_unfired \
        sparse.drop_fraction=0.5 sparse.update_interval=50
    done
  done
done
python3 - "$runs" bench/results/dst.json "$EPOCHS" <<'PY'
import json, os, sys, statistics as st
runs_dir, out, epochs = sys.argv[1], sys.argv[2], int(sys.argv[3])
rows = []
for name in sorted(os.listdir(runs_dir)):
    model, method, sparsity, seed = name.split("-")
    s = json.load(open(os.path.join(runs_dir, name, "summary.json")))
    upd_ms, n_upd, train_s = 0.0, 0, 0.0
    for line in open(os.path.join(runs_dir, name, "metrics.jsonl")):
        r = json.loads(line)
        if r.get("event") == "mask_update":
            upd_ms += r["update_ms"]; n_upd += 1
        elif "event" not in r:
            train_s += r["train_s"]
    step_s = train_s / max(s["steps"], 1)
    interval = 50 if method == "itop" else 100
    rows.append(dict(method=method, model=model, sparsity=float(sparsity), seed=int(seed),
                     epochs=epochs, test_acc=s["test_acc"], itop_rate=s.get("itop_rate", 1.0),
                     wall_s=s["wall_s"],
                     update_cost_share=(upd_ms / 1000 / n_upd) / (interval * step_s) if n_upd else 0.0))
json.dump(rows, open(out, "w"), indent=1)
print("| model | sparsity | method | seeds | test acc % | R_s | wall s | mask update / ΔT steps |")
print("|---|---|---|---|---|---|---|---|")
key = lambda r: (r["model"], r["sparsity"], ["dense", "static", "set", "rigl", "itop"].index(r["method"]))
groups = {}
for r in sorted(rows, key=key):
    groups.setdefault((r["model"], r["sparsity"], r["method"]), []).append(r)
for (model, sp, method), rs in groups.items():
    acc = [100 * r["test_acc"] for r in rs]
    sd = f" ± {st.stdev(acc):.2f}" if len(acc) > 1 else ""
    print(f"| {model} | {sp:.2f} | {method} | {len(rs)} | {st.mean(acc):.2f}{sd} | "
          f"{st.mean(r['itop_rate'] for r in rs):.3f} | {st.mean(r['wall_s'] for r in rs):.1f} | "
          f"{100 * st.mean(r['update_cost_share'] for r in rs):.2f}% |")
PY
