#!/usr/bin/env bash
# The two CSR product forms (register-blocked tiles vs column panels) and the
# activation layouts at batch 256, one thread (bench/spmm_designs.cpp):
# builds with -DFRUGAL_BUILD_BENCH=ON into build-bench, writes
# bench/results/spmm_designs.json and prints the Markdown table.
#
#   bench/spmm_designs.sh [--rounds=N] [--quick]
#
# Run it on an otherwise idle machine: the times are wall-clock.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$root/build-bench"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DFRUGAL_BUILD_BENCH=ON -DFRUGAL_BUILD_TESTS=OFF >/dev/null
cmake --build "$build" --target bench_spmm_designs -j"$(nproc)"
mkdir -p "$root/bench/results"
"$build/bench_spmm_designs" --json="$root/bench/results/spmm_designs.json" "$@"
