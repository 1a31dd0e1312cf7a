#!/usr/bin/env bash
# Sets everything up, builds, and runs the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
cd build && ctest --output-on-failure --timeout 600 -j "$(nproc)"
