#!/usr/bin/env bash
# InfoBatch vs full data on Fashion-MNIST: LeNet-300-100 (15 epochs) and the
# small CNN (8 epochs), 3 seeds each, same optimizer and cosine schedule.
# Runs alternate (full, infobatch) per seed so machine noise hits both alike.
# Writes bench/results/infobatch.json and prints a Markdown table.
# Usage: bash bench/infobatch.sh; MODELS="mlp cnn" and SEEDS="0 1 2" (the
# defaults) choose what runs; results accumulate over calls in runs/bench-infobatch.
# SET="train.eval_every=8" adds recipe settings to every run. A run whose
# load average (sampled each epoch, summary.json) went above the core count
# is marked loaded: its wall time is not a result. RUNS (default
# runs/bench-infobatch) and OUT (default bench/results/infobatch.json) name
# the run folder and the results file.
set -euo pipefail
cd "$(dirname "$0")/.."
MODELS=${MODELS:-"mlp cnn"}
SEEDS=${SEEDS:-"0 1 2"}
read -r -a extra <<< "${SET:-}"
source bench/frugal_cli.sh
runs=${RUNS:-runs/bench-infobatch}
out=${OUT:-bench/results/infobatch.json}
mkdir -p "$(dirname "$out")" "$runs"
for model in $MODELS; do
  epochs=15; [ "$model" = cnn ] && epochs=8
  for seed in $SEEDS; do
    for method in full infobatch; do
      "$FRUGAL" train "recipes/fmnist-$method.toml" --set \
        run.name="$model-$method-$seed" run.out_dir="\"$runs\"" run.seed=$seed run.progress=false \
        model.name="\"$model\"" train.epochs=$epochs train.checkpoint=false "${extra[@]}" > /dev/null
    done
  done
done
python3 - "$runs" "$out" <<'PY'
import json, sys, os, statistics as st
runs_dir, out = sys.argv[1], sys.argv[2]
rows = []
for name in sorted(os.listdir(runs_dir)):
    with open(os.path.join(runs_dir, name, "summary.json")) as f:
        s = json.load(f)
    model, method, seed = name.rsplit("-", 2)
    book = 0.0; train = 0.0
    with open(os.path.join(runs_dir, name, "metrics.jsonl")) as f:
        for line in f:
            r = json.loads(line)
            if "event" in r: continue
            book += r["bookkeeping_s"]; train += r["train_s"]
    rows.append(dict(method=method, model=model, seed=int(seed), epochs=s["epochs"],
                     test_acc=s["test_acc"], wall_s=s["wall_s"],
                     samples_forwarded=s["samples_forwarded"],
                     bookkeeping_share=book / train, max_load_avg=s["max_load_avg"], cores=s["cores"]))
with open(out, "w") as f:
    json.dump(rows, f, indent=1)
print("| model | method | seeds | test acc % (mean ± sd) | wall s (mean) | samples forwarded | fewer samples | wall time saved | bookkeeping share | max load average |")
print("|---|---|---|---|---|---|---|---|---|---|")
for model in ("mlp", "cnn"):
    full = [r for r in rows if r["model"] == model and r["method"] == "full"]
    for method in ("full", "infobatch"):
        rs = [r for r in rows if r["model"] == model and r["method"] == method]
        if not rs: continue
        acc = [100 * r["test_acc"] for r in rs]
        wall = st.mean(r["wall_s"] for r in rs)
        fwd = st.mean(r["samples_forwarded"] for r in rs)
        full_wall = st.mean(r["wall_s"] for r in full)
        full_fwd = st.mean(r["samples_forwarded"] for r in full)
        sd = st.stdev(acc) if len(acc) > 1 else 0.0
        print(f"| {model} | {method} | {len(rs)} | {st.mean(acc):.2f} ± {sd:.2f} | {wall:.1f} | {fwd:.0f} "
              f"| {100 * (1 - fwd / full_fwd):.1f}% | {100 * (1 - wall / full_wall):.1f}% "
              f"| {100 * st.mean(r['bookkeeping_share'] for r in rs):.3f}% "
              f"| {max(r['max_load_avg'] for r in rs):.2f}"
              f"{' (loaded: above the core count)' if any(r['max_load_avg'] > r['cores'] for r in rs) else ''} |")
PY
