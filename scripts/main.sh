#!/usr/bin/env bash
# Sets everything up, builds, and runs the main job on Fashion-MNIST (from the
# Debian package): LeNet-300-100 on full data, with InfoBatch, and with InfoBatch
# plus RigL at 90% sparsity (data and weights pruned in one run), then prints
# them side by side and draws the plots. Runs go to runs/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
for recipe in fmnist-full fmnist-infobatch fmnist-infobatch-rigl; do
  ./build/frugal train "recipes/$recipe.toml" > /dev/null
done
./build/frugal report runs/fmnist-full runs/fmnist-infobatch runs/fmnist-infobatch-rigl --out runs/report
