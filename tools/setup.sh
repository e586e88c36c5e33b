#!/usr/bin/env bash
# Installs the Debian packages weft needs to build, test and benchmark, if any
# are missing. Idempotent: when everything is there it changes nothing and
# needs no network.
#
# usage: tools/setup.sh [--peers]
#   --peers  also the benchmark peers tools/compare, run_peers.sh and
#            run_io_peers.sh compare weft with (Go, Rust's Tokio, Boost.Fiber,
#            nginx, wrk); no test needs them (their rows are skipped).
#   Runs as root, or through sudo when not root. Without either, prints the
#   apt-get command to run and exits 1. Needs no terminal
#   (DEBIAN_FRONTEND=noninteractive).
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git
  libboost-context-dev libabsl-dev libgtest-dev libgmock-dev libbenchmark-dev
  python3 python3-gevent  # the example checks diff against the Python seeds
  clang clang-format      # test.sh's -Wthread-safety build (clang 14); .clang-format
  libssl-dev openssl      # TlsStream; the TLS tests' certificates and s_client/s_server peers
  libcurl4-openssl-dev libhiredis-dev redis-server  # the hook's proofs: crawler, Redis BLPOP
  linux-perf python3-matplotlib  # tools/perf-record, perf-stat, plot (and their tests)
)
for arg in "$@"; do
  case "$arg" in
    --peers) packages+=(golang-go cargo librust-tokio-dev libboost-fiber-dev nginx wrk) ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "setup: unknown argument '$arg' (try --help)" >&2; exit 2 ;;
  esac
done

if ! command -v dpkg >/dev/null 2>&1; then
  echo "setup: dpkg not found; weft's setup script supports Debian/Ubuntu only." >&2
  echo "setup: install these (or your distribution's equivalents): ${packages[*]}" >&2
  exit 1
fi

missing=()
for p in "${packages[@]}"; do
  # dpkg -s also succeeds for removed-but-configured packages: check the status.
  if ! dpkg -s "$p" 2>/dev/null | grep -q '^Status: install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} packages present"
  exit 0
fi

echo "setup: missing: ${missing[*]}"
if [ "$(id -u)" -eq 0 ]; then
  as_root=(env DEBIAN_FRONTEND=noninteractive)
elif command -v sudo >/dev/null 2>&1; then
  # Without a terminal sudo cannot ask for a password: fail rather than hang.
  if [ -t 0 ]; then as_root=(sudo); else as_root=(sudo -n); fi
  as_root+=(env DEBIAN_FRONTEND=noninteractive)
else
  echo "setup: not root and no sudo; as root, run:" >&2
  echo "  apt-get update && apt-get install -y --no-install-recommends ${missing[*]}" >&2
  exit 1
fi

"${as_root[@]}" apt-get update
"${as_root[@]}" apt-get install -y --no-install-recommends "${missing[@]}"
echo "setup: installed ${missing[*]}"
