#!/usr/bin/env bash
# From a fresh clone to weft's headline demo: installs what is missing
# (tools/setup.sh), builds the `release` preset into build/release, and runs
# skynet — a million fibers in a tree, summed.
#
# usage: tools/quickstart.sh
# Expected last line: result=499999500000 time_ms=...
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

bash tools/setup.sh
cmake --preset release
cmake --build --preset release -j "$(nproc)"
echo "quickstart: running build/release/examples/skynet (1,000,000 fibers)"
build/release/examples/skynet
