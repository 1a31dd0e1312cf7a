#!/usr/bin/env bash
# Epoch time and peak memory of training from memory vs from a packed file
# on disk vs packed with on-the-fly augmentation, with 0, 1 and 2 loader
# workers: the small CNN ("cnn") and ResNet-20 ("resnet20") on Fashion-MNIST
# through `frugal train`. Writes bench/results/data.json, one object per run:
# {model, source, augment, workers, epoch_s, peak_rss_mb} (epoch_s: the
# training time of the last epoch; peak_rss_mb: the process's peak resident
# memory, as the run's summary.json reports it), and prints the table.
#
#   EPOCHS=2 LIMIT=0 THREADS=0 MODELS="cnn resnet20" WORKERS="0 1 2" bash bench/data.sh
#
# Targets (docs/RESULTS.md): packed within 5% of in-memory, augmentation
# within 10%, peak memory of a packed run independent of the data set's size
# (compare LIMIT=20000 with LIMIT=0). LIMIT > 0 trains on the first LIMIT
# samples only, for a quick check that the script works. Run it on an
# otherwise idle machine: the times are wall-clock.
set -euo pipefail
cd "$(dirname "$0")/.."
EPOCHS=${EPOCHS:-2}
LIMIT=${LIMIT:-0}
THREADS=${THREADS:-0}
MODELS=${MODELS:-"cnn resnet20"}
WORKERS=${WORKERS:-"0 1 2"}
source bench/frugal_cli.sh
runs=runs/bench-data
packed=runs/bench-data-packed
rm -rf "$runs"
mkdir -p bench/results "$runs"
[ -f "$packed/train.pack" ] || "$FRUGAL" pack idx /usr/share/datasets/fashion-mnist "$packed" > /dev/null
for model in $MODELS; do
  for source in memory packed packed-augment; do
    for workers in $WORKERS; do
      data=(data.name='"fashion-mnist"')
      augment=()
      [ "$source" = memory ] || data=(data.name='"packed"' data.path="\"$packed\"")
      [ "$source" = packed-augment ] && augment=(augment.crop=28 augment.padding=2 augment.flip=true)
      "$FRUGAL" train recipes/fmnist-full.toml --set run.out_dir="\"$runs\"" \
        run.name="\"$model-$source-$workers\"" run.progress=false run.threads="$THREADS" \
        train.checkpoint=false train.epochs="$EPOCHS" train.eval_every="$EPOCHS" model.name="\"$model\"" \
        data.limit="$LIMIT" data.test_limit="$LIMIT" data.workers="$workers" "${data[@]}" "${augment[@]}" > /dev/null
    done
  done
done
python3 - "$runs" bench/results/data.json <<'PY'
import json, os, sys
runs_dir, out = sys.argv[1], sys.argv[2]
rows = []
for name in sorted(os.listdir(runs_dir)):
    model, rest = name.split("-", 1)
    source, workers = rest.rsplit("-", 1)
    records = [json.loads(l) for l in open(os.path.join(runs_dir, name, "metrics.jsonl"))]
    summary = json.load(open(os.path.join(runs_dir, name, "summary.json")))
    epoch = [r for r in records if "train_s" in r][-1]
    rows.append(dict(model=model, source=source.replace("-augment", ""), augment=source.endswith("augment"),
                     workers=int(workers), epoch_s=epoch["train_s"], peak_rss_mb=summary["peak_rss_mb"]))
json.dump(rows, open(out, "w"), indent=1)
print("| model | source | augment | workers | epoch s | vs memory, same workers | peak RSS MB |")
print("|---|---|---|---|---|---|---|")
base = {(r["model"], r["workers"]): r["epoch_s"] for r in rows if r["source"] == "memory"}
for r in rows:
    ratio = r["epoch_s"] / base[(r["model"], r["workers"])]
    print(f"| {r['model']} | {r['source']} | {r['augment']} | {r['workers']} | {r['epoch_s']:.2f} | {ratio:.2f}x | {r['peak_rss_mb']:.0f} |")
PY
