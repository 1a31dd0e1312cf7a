#!/usr/bin/env bash
# c10d's C++ Reducer (DDP's engine: allreduce overlapped with backward through
# autograd hooks) against frugal's bucketed allreduce after backward
# (DataParallel::average_gradients): bench/reducer.cpp in 2 processes on
# 127.0.0.1, one thread each, global batch 128 of synthetic Fashion-MNIST-shaped
# data, MLP (LeNet-300-100) and CNN, the two modes alternated over ROUNDS
# rounds, at each bucket size in BUCKETS (MB; the Reducer's first bucket is
# DDP's 1 MB, or FIRST_MB, or the bucket size, whichever is smaller). Writes OUT (default
# bench/results/reducer.json; one object per run: {model, mode, round,
# steps_per_s, bucket_mb, first_bucket_mb, buckets, max_abs_diff, run}, run
# being the start time; APPEND=1 keeps OUT's earlier runs) and prints the
# medians and the median of the rounds' reducer/bucketed ratios.
#
#   ROUNDS=9 MLP_STEPS=200 CNN_STEPS=30 BUCKETS="25 0.1" MODELS="mlp cnn" bash bench/reducer.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-9}
MLP_STEPS=${MLP_STEPS:-200}
CNN_STEPS=${CNN_STEPS:-30}
MODELS=${MODELS:-mlp cnn}
OUT=${OUT:-bench/results/reducer.json}
BUCKETS=${BUCKETS:-25 0.1}
PORT=${PORT:-29640}
if [[ -z ${BENCH_REDUCER:-} ]]; then
  cmake -S . -B build -DCMAKE_BUILD_TYPE=Release > /dev/null
  cmake --build build --target bench_reducer -j "$(nproc)" > /dev/null
  BENCH_REDUCER=./build/bench_reducer
fi
mkdir -p bench/results
lines=$(mktemp)
run=$(date -u +%FT%TZ)
trap 'rm -f "$lines"' EXIT
for bucket in $BUCKETS; do
  for model in $MODELS; do
    steps=$MLP_STEPS
    [[ $model == cnn ]] && steps=$CNN_STEPS
    args=(--world-size 2 --port "$PORT" --model "$model" --steps "$steps" --rounds "$ROUNDS"
          --bucket-mb "$bucket" --first-bucket-mb "${FIRST_MB:-1}")
    "$BENCH_REDUCER" --rank 1 "${args[@]}" &
    peer=$!
    status=0
    "$BENCH_REDUCER" --rank 0 "${args[@]}" --out "$lines" > /dev/null || status=$?
    wait "$peer" || status=$?
    [[ $status == 0 ]] || { echo "bench/reducer.sh: $model at $bucket MB failed" >&2; exit 1; }
    PORT=$((PORT + 2))
  done
done
/usr/bin/python3 - "$lines" "$OUT" "$run" "${APPEND:-0}" <<'PY'
import json, os, statistics, sys
lines, out, run, append = sys.argv[1:]
rows = [dict(json.loads(l), run=run) for l in open(lines)]
if append == "1" and os.path.exists(out):
    rows = json.load(open(out)) + rows
json.dump(rows, open(out, "w"), indent=1)
print("| run | model | bucket MB | bucketed steps/s | reducer steps/s | reducer/bucketed, median of rounds (range) | reducer faster in | reducer buckets | max weight diff |")
print("|---|---|---|---|---|---|---|---|---|")
for key in dict.fromkeys((r["run"], r["bucket_mb"], r["model"]) for r in rows):
    pick = [r for r in rows if (r["run"], r["bucket_mb"], r["model"]) == key]
    by_round = {}
    for r in pick:
        by_round.setdefault(r["round"], {})[r["mode"]] = r["steps_per_s"]
    a = statistics.median(r["steps_per_s"] for r in pick if r["mode"] == "bucketed")
    b = statistics.median(r["steps_per_s"] for r in pick if r["mode"] == "reducer")
    ratios = sorted(v["reducer"] / v["bucketed"] for v in by_round.values())
    buckets = sorted({r["buckets"] for r in pick if r["mode"] == "reducer"})
    print(f"| {key[0]} | {key[2]} | {key[1]:g} | {a:.2f} | {b:.2f} | {statistics.median(ratios):.3f} "
          f"({ratios[0]:.3f}-{ratios[-1]:.3f}) | {sum(x > 1 for x in ratios)}/{len(ratios)} | "
          f"{','.join(map(str, buckets))} | {max(r['max_abs_diff'] for r in pick):.3g} |")
PY
