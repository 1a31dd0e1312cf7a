#!/usr/bin/env bash
# The Python package against plain PyTorch (bench/python_bench.py), on
# Fashion-MNIST from the Debian package:
# 1. the plain PyTorch loop of bench/vs_pytorch.py (LeNet-300-100, 15 epochs)
#    through a DataLoader on full data vs the official three-line
#    frugal.InfoBatch integration: samples forwarded, training time, test
#    accuracy (targets: >= 30% fewer samples, wall saved within 2 points of
#    that, accuracy within 0.3 points), alternated --rounds times;
# 2. one epoch at 95% sparsity, RigL (update interval 100) on masked
#    nn.Linear vs on frugal.SparseLinear from the same masks (target >= 3x),
#    alternated --rounds times;
# 3. frugal.DynamicSparsity.step() against a plain optimizer step, and
#    SparseLinear forward + backward against nn.Linear on W * mask.
# Builds the module into build/ if needed, writes bench/results/python.json.
#
#   bench/python.sh [--quick] [--rounds N] [--workers N] [--only rigl_epoch]
#
# --only rigl_epoch runs part 2 alone and replaces its rows in the JSON file.
#
# Run it on an otherwise idle machine: the times are wall-clock.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${FRUGAL_BUILD_DIR:-$root/build}"
[ -d "$build" ] || cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" --target frugal_python -j"$(nproc)"
mkdir -p "$root/bench/results"
PYTHONPATH="$build/python" /usr/bin/python3 "$root/bench/python_bench.py" \
  --json "$root/bench/results/python.json" "$@"
