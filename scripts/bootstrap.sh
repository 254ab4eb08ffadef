#!/usr/bin/env bash
# Installs what vkrt needs on Debian 12 (when missing), then configures and
# builds into ./build. Safe to run again: it only rebuilds what changed.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/apt-install.sh scripts/debian-packages.txt
jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$jobs"
