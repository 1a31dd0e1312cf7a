#!/usr/bin/env bash
# The Python package's overheads and savings (bench/python_bench.py):
# 1. InfoBatch through a torch DataLoader, the official three-line
#    integration, against the plain loop on the same data: samples forwarded
#    and wall time per epoch (num_workers 0 and 2);
# 2. frugal.DynamicSparsity.step() against a plain optimizer step;
# 3. frugal.SparseLinear forward + backward against nn.Linear on W * mask.
# Builds the module into build/ if needed, writes bench/results/python.json.
#
#   bench/python.sh [--quick]
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
