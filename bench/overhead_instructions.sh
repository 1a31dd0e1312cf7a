#!/usr/bin/env bash
# The Trainer's overhead over a bare LibTorch loop in instructions (valgrind
# callgrind), independent of machine load: bench_trainer_instructions runs
# the same LeNet-300-100 steps both ways, at SMALL and LARGE sample counts; the
# difference between the two sizes is the per-step cost without the set-up.
#
#   SMALL=1280 LARGE=3840 bash bench/overhead_instructions.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SMALL=${SMALL:-1280}
LARGE=${LARGE:-3840}
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DFRUGAL_BUILD_BENCH=ON > /dev/null
cmake --build build-bench --target bench_trainer_instructions -j "$(nproc)" > /dev/null
count() {
  valgrind --tool=callgrind --callgrind-out-file=/dev/null ./build-bench/bench_trainer_instructions "$1" "$2" 2>&1 |
    sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
b0=$(count bare "$SMALL") b1=$(count bare "$LARGE") t0=$(count trainer "$SMALL") t1=$(count trainer "$LARGE")
python3 - "$b0" "$b1" "$t0" "$t1" "$SMALL" "$LARGE" <<'PY'
import sys
b0, b1, t0, t1, small, large = map(int, sys.argv[1:])
steps = (large - small) // 128
bare, trainer = (b1 - b0) / steps, (t1 - t0) / steps
print(f"instructions per step: bare loop {bare:.4g}, trainer {trainer:.4g}: trainer {100 * (trainer - bare) / bare:+.2f}%")
PY
