#!/usr/bin/env bash
# Installs the build tree BUILD into a temporary prefix, then configures,
# builds and runs the outside project PROJECT (examples/find_package) against it.
set -euo pipefail
build=$1 project=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --install "$build" --prefix "$work/prefix" > "$work/install.log"
test -f "$work/prefix/include/frugal/data/infobatch.h"
test -x "$work/prefix/bin/frugal"
cmake -S "$project" -B "$work/build" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$work/prefix" > "$work/configure.log" 2>&1 || { cat "$work/configure.log"; exit 1; }
cmake --build "$work/build" -j 2 > "$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
"$work/build/uses_frugal"
