#!/usr/bin/env bash
# c10d's C++ Reducer (DDP's engine: allreduce overlapped with backward through
# autograd hooks) against frugal's bucketed allreduce after backward
# (DataParallel::average_gradients): bench/reducer.cpp in 2 processes on
# 127.0.0.1, one thread each, global batch 128 of synthetic Fashion-MNIST-shaped
# data, MLP (LeNet-300-100) and CNN, the two modes alternated over ROUNDS
# rounds, at each bucket size in BUCKETS (MB; the Reducer's first bucket is
# DDP's 1 MB or the bucket size, whichever is smaller). Writes
# bench/results/reducer.json (one object per run: {model, mode, round,
# steps_per_s, bucket_mb, first_bucket_mb, buckets, max_abs_diff}) and prints
# the medians.
#
#   ROUNDS=5 MLP_STEPS=300 CNN_STEPS=50 BUCKETS="25 0.1" bash bench/reducer.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-5}
MLP_STEPS=${MLP_STEPS:-300}
CNN_STEPS=${CNN_STEPS:-50}
BUCKETS=${BUCKETS:-25 0.1}
PORT=${PORT:-29640}
if [[ -z ${BENCH_REDUCER:-} ]]; then
  cmake -S . -B build -DCMAKE_BUILD_TYPE=Release > /dev/null
  cmake --build build --target bench_reducer -j "$(nproc)" > /dev/null
  BENCH_REDUCER=./build/bench_reducer
fi
mkdir -p bench/results
lines=$(mktemp)
trap 'rm -f "$lines"' EXIT
for bucket in $BUCKETS; do
  for model in mlp cnn; do
    steps=$MLP_STEPS
    [[ $model == cnn ]] && steps=$CNN_STEPS
    args=(--world-size 2 --port "$PORT" --model "$model" --steps "$steps" --rounds "$ROUNDS"
          --bucket-mb "$bucket")
    "$BENCH_REDUCER" --rank 1 "${args[@]}" &
    peer=$!
    status=0
    "$BENCH_REDUCER" --rank 0 "${args[@]}" --out "$lines" > /dev/null || status=$?
    wait "$peer" || status=$?
    [[ $status == 0 ]] || { echo "bench/reducer.sh: $model at $bucket MB failed" >&2; exit 1; }
    PORT=$((PORT + 2))
  done
done
/usr/bin/python3 - "$lines" bench/results/reducer.json <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
json.dump(rows, open(sys.argv[2], "w"), indent=1)
print("| model | bucket MB | bucketed steps/s | reducer steps/s | reducer/bucketed | reducer buckets | max weight diff |")
print("|---|---|---|---|---|---|---|")
for bucket in dict.fromkeys(r["bucket_mb"] for r in rows):
    for model in ("mlp", "cnn"):
        pick = [r for r in rows if r["model"] == model and r["bucket_mb"] == bucket]
        by_round = {}
        for r in pick:
            by_round.setdefault(r["round"], {})[r["mode"]] = r["steps_per_s"]
        a = statistics.median(r["steps_per_s"] for r in pick if r["mode"] == "bucketed")
        b = statistics.median(r["steps_per_s"] for r in pick if r["mode"] == "reducer")
        ratios = sorted(v["reducer"] / v["bucketed"] for v in by_round.values())
        buckets = sorted({r["buckets"] for r in pick if r["mode"] == "reducer"})
        print(f"| {model} | {bucket:g} | {a:.2f} | {b:.2f} | {statistics.median(ratios):.3f} "
              f"(rounds {ratios[0]:.3f}-{ratios[-1]:.3f}) | {','.join(map(str, buckets))} | "
              f"{max(r['max_abs_diff'] for r in pick):.3g} |")
PY
