#!/usr/bin/env bash
# Epoch time and peak memory of training from memory vs from a packed file
# on disk vs packed with on-the-fly augmentation, with 0, 1 and 2 loader
# workers: the small CNN ("cnn") and ResNet-20 ("resnet20") on Fashion-MNIST
# through `frugal train`. Writes bench/results/data.json, one object per run:
# {model, source, augment, workers, limit, round, epoch_s, peak_rss_mb}
# (epoch_s: the training time of the last epoch; peak_rss_mb: the process's
# peak resident memory, as the run's summary.json reports it), and prints the
# medians over the rounds.
#
#   EPOCHS=2 LIMITS=0 ROUNDS=1 THREADS=0 MODELS="cnn resnet20" WORKERS="0 1 2" bash bench/data.sh
#
# RUNS (default runs/bench-data) and OUT (default bench/results/data.json)
# name the run directory and the rows file.
#
# The three sources of one (model, workers, limit) run back to back in every
# round, so the ratios between them are measured side by side.
# Targets (docs/RESULTS.md): packed within 5% of in-memory, augmentation
# within 10%, peak memory of a packed run independent of the data set's size
# (LIMITS="20000 0" compares the first 20,000 samples with all 60,000).
# A limit > 0 trains (and tests) on the first that many samples only. The
# times are wall-clock: run it on an otherwise idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."
EPOCHS=${EPOCHS:-2}
LIMITS=${LIMITS:-0}
ROUNDS=${ROUNDS:-1}
THREADS=${THREADS:-0}
MODELS=${MODELS:-"cnn resnet20"}
WORKERS=${WORKERS:-"0 1 2"}
source bench/frugal_cli.sh
runs=${RUNS:-runs/bench-data}
out=${OUT:-bench/results/data.json}
packed=runs/bench-data-packed
rm -rf "$runs"
mkdir -p bench/results "$runs"
[ -f "$packed/train.pack" ] || "$FRUGAL" pack idx /usr/share/datasets/fashion-mnist "$packed" > /dev/null
for round in $(seq 1 "$ROUNDS"); do
  for model in $MODELS; do
    for limit in $LIMITS; do
      for workers in $WORKERS; do
        for source in memory packed packed-augment; do
          data=(data.name='"fashion-mnist"')
          augment=()
          [ "$source" = memory ] || data=(data.name='"packed"' data.path="\"$packed\"")
          [ "$source" = packed-augment ] && augment=(augment.crop=28 augment.padding=2 augment.flip=true)
          "$FRUGAL" train recipes/fmnist-full.toml --set run.out_dir="\"$runs\"" \
            run.name="\"$model-$source-$workers-$limit-$round\"" run.progress=false run.threads="$THREADS" \
            train.checkpoint=false train.epochs="$EPOCHS" train.eval_every="$EPOCHS" model.name="\"$model\"" \
            data.limit="$limit" data.test_limit="$limit" data.workers="$workers" "${data[@]}" "${augment[@]}" \
            > /dev/null 2>> "$runs/stderr.log"
        done
      done
    done
  done
done
python3 - "$runs" "$out" <<'PY'
import json, os, statistics, sys
runs_dir, out = sys.argv[1], sys.argv[2]
rows = []
for name in sorted(os.listdir(runs_dir)):
    if not os.path.isdir(os.path.join(runs_dir, name)):
        continue
    model, rest = name.split("-", 1)
    source, workers, limit, round_ = rest.rsplit("-", 3)
    records = [json.loads(l) for l in open(os.path.join(runs_dir, name, "metrics.jsonl"))]
    summary = json.load(open(os.path.join(runs_dir, name, "summary.json")))
    epoch = [r for r in records if "train_s" in r][-1]
    rows.append(dict(model=model, source=source.replace("-augment", ""), augment=source.endswith("augment"),
                     workers=int(workers), limit=int(limit), round=int(round_), epoch_s=epoch["train_s"],
                     peak_rss_mb=summary["peak_rss_mb"]))
json.dump(rows, open(out, "w"), indent=1)
groups = {}
for r in rows:
    groups.setdefault((r["model"], r["limit"], r["workers"], r["source"], r["augment"]), []).append(r)
median = {k: (statistics.median(r["epoch_s"] for r in g), max(r["peak_rss_mb"] for r in g))
          for k, g in groups.items()}
print("| model | samples | workers | source | augment | epoch s | vs memory, same workers | peak RSS MB |")
print("|---|---|---|---|---|---|---|---|")
for (model, limit, workers, source, augment), (epoch_s, rss) in sorted(median.items()):
    base = median[(model, limit, workers, "memory", False)][0]
    print(f"| {model} | {limit or 'all'} | {workers} | {source} | {'yes' if augment else 'no'} | {epoch_s:.2f} | "
          f"{epoch_s / base:.2f}x | {rss:.0f} |")
PY
