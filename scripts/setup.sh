#!/usr/bin/env bash
# First command of the README: installs what is missing, builds skein, and
# runs the quickstart workflow on this machine with `skeinctl run`.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build --target skeinctl
echo
echo "built build/skeinctl; running the quickstart workflow:"
echo
exec build/skeinctl run workflows/quickstart.yaml "$@"
