#!/usr/bin/env bash
# Installs every dependency of frugal from Debian's packages. Safe to run twice.
set -euo pipefail
packages=(
  build-essential cmake pkg-config
  libtorch-dev libopenblas0-openmp libgloo-dev
  libcli11-dev libtomlplusplus-dev nlohmann-json3-dev
  gnuplot-nox zlib1g-dev libpng-dev libjpeg62-turbo-dev
  googletest libgtest-dev libgmock-dev libbenchmark-dev libxsmm-dev libblas-dev
  dataset-fashion-mnist
  python3-torch pybind11-dev python3-dev python3-pytest
  iproute2
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# LibTorch runs its ops on an OpenMP pool; OpenBLAS's OpenMP build shares that
# pool, its pthread build brings a second one whose spinning workers made
# 2 threads 3x slower than 1 (docs/RESULTS.md, threads). Select the OpenMP build.
multiarch=$(gcc -print-multiarch)
for lib in libblas.so.3 liblapack.so.3 libopenblas.so.0; do
  want=/usr/lib/$multiarch/openblas-openmp/$lib
  if [ "$(readlink -f "/usr/lib/$multiarch/$lib")" != "$(readlink -f "$want")" ]; then
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo update-alternatives --quiet --set "$lib-$multiarch" "$want"
  fi
done
