#!/usr/bin/env bash
# Sparse vs dense linear-layer forward times (bench/kernels.cpp): builds with
# -DFRUGAL_BUILD_BENCH=ON into build-bench, runs every case once, writes
# bench/results/kernels.json and prints the Markdown tables; then frugal's
# kernel against LibTorch's sparse CSR matmul and libxsmm's spmdm
# (bench/kernel_libraries.cpp, bench/results/kernel_libraries.json); then one epoch of
# sparse vs masked dense training of LeNet-300-100 at 95% sparsity through
# `frugal train` (bench/sparse_training.sh, bench/results/sparse_training.json).
#
#   bench/kernels.sh [--quick] [extra bench_kernels flags]
#
# Run it on an otherwise idle machine: the times are wall-clock.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$root/build-bench"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DFRUGAL_BUILD_BENCH=ON -DFRUGAL_BUILD_TESTS=OFF >/dev/null
cmake --build "$build" --target bench_kernels bench_kernel_libraries -j"$(nproc)"
mkdir -p "$root/bench/results"
"$build/bench_kernels" --json="$root/bench/results/kernels.json" "$@"
"$build/bench_kernel_libraries" --json "$root/bench/results/kernel_libraries.json"
bash "$root/bench/sparse_training.sh"
