#!/usr/bin/env bash
# One epoch of LeNet-300-100 training at 95% sparsity: SparseLinear layers vs
# masked dense torch Linear (bench/sparse_training.cpp), one thread, same run.
# Builds with -DFRUGAL_BUILD_BENCH=ON into build-bench and writes
# bench/results/sparse_training.json {model, density, threads, dense_s, sparse_s}.
#
#   bench/sparse_training.sh [extra bench_sparse_training flags]
#
# Run it on an otherwise idle machine: the times are wall-clock.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${FRUGAL_BENCH_BUILD:-$root/build-bench}"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DFRUGAL_BUILD_BENCH=ON -DFRUGAL_BUILD_TESTS=OFF >/dev/null
cmake --build "$build" --target bench_sparse_training -j"$(nproc)"
mkdir -p "$root/bench/results"
"$build/bench_sparse_training" --density 0.05 --threads 1 --json "$root/bench/results/sparse_training.json" "$@"
