#!/usr/bin/env bash
# Sampler bookkeeping and trainer-loop overhead (bench/infobatch_overhead.cpp).
# Writes bench/results/overhead.json (Google Benchmark JSON) and prints the console table.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DFRUGAL_BUILD_BENCH=ON > /dev/null
cmake --build build-bench --target bench_infobatch_overhead -j "$(nproc)" > /dev/null
mkdir -p bench/results
./build-bench/bench_infobatch_overhead --benchmark_out=bench/results/overhead.json \
  --benchmark_out_format=json "$@"
