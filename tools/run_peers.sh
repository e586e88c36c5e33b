#!/usr/bin/env bash
# Builds and runs the peer benchmarks (Go, and Boost.Fiber when available)
# that weft is compared against, then prints the median of each result.
#
# usage: tools/run_peers.sh [--quick] [BUILD_DIR]
#   BUILD_DIR  where the Go (and, if built here, Boost.Fiber) binaries go;
#              default build/peers under the repository root.
#   --quick    one run of each with small N: a smoke test, not a measurement.
#   PEERS_BIN  if set, directory holding CMake-built peer_boost_fiber_*
#              binaries; otherwise they are compiled here with g++ -O2.
# Exits non-zero if any build or benchmark run fails (runs continue first, so
# one failure does not hide the other results).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
quick=0
build=""
for arg in "$@"; do
  case "$arg" in
    --quick) quick=1 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    -*) echo "run_peers: unknown flag $arg" >&2; exit 2 ;;
    *) build="$arg" ;;
  esac
done
build="${build:-$repo/build/peers}"
mkdir -p "$build"
build="$(cd "$build" && pwd)"
benches=(yield spawnjoin skynet sleepmillion pingpong chanthroughput)

# The peers must see the runtimes' defaults (GOMAXPROCS = cores, GC on).
unset GOMAXPROCS GOGC GOFLAGS

# --- build -------------------------------------------------------------------
command -v go >/dev/null || { echo "run_peers: go not found" >&2; exit 1; }
# GOPATH mode with only the standard library: no module download needed.
export GOCACHE="$build/gocache" GOPATH="$build/gopath" GO111MODULE=off
mkdir -p "$build/go"
for b in "${benches[@]}"; do
  (cd "$repo/bench/peers/go" && go build -o "$build/go/$b" "./$b")
done

bf_bin=""
if [[ -n "${PEERS_BIN:-}" ]]; then
  bf_bin="$(cd "$PEERS_BIN" && pwd)"
  for b in "${benches[@]}"; do
    [[ -x "$bf_bin/peer_boost_fiber_$b" ]] || { echo "run_peers: missing $bf_bin/peer_boost_fiber_$b" >&2; exit 1; }
  done
elif echo '#include <boost/fiber/all.hpp>' | g++ -std=c++20 -fsyntax-only -x c++ - 2>/dev/null; then
  bf_bin="$build/boost_fiber"
  mkdir -p "$bf_bin"
  for b in "${benches[@]}"; do
    g++ -std=c++20 -O2 -o "$bf_bin/peer_boost_fiber_$b" "$repo/bench/peers/boost_fiber/$b.cc" \
      -lboost_fiber -lboost_context -pthread &
  done
  wait_failed=0
  for job in $(jobs -p); do wait "$job" || wait_failed=1; done
  ((wait_failed == 0)) || { echo "run_peers: Boost.Fiber build failed" >&2; exit 1; }
else
  echo "run_peers: Boost.Fiber headers not found, running the Go peers only" >&2
fi

# --- run ---------------------------------------------------------------------
# Each entry: "<binary> <args...>". Small N in quick mode.
if ((quick)); then
  reps=1; reps_sleep=1
  declare -A args=([yield]="-n 100000" [spawnjoin]="-n 10000" [skynet]="-n 10000"
                   [sleepmillion]="-n 10000" [pingpong]="-n 10000" [chanthroughput]="-n 100000")
  hold="-n 10000 -sleep_ms 500"
else
  reps=5; reps_sleep=3
  declare -A args=([yield]="" [spawnjoin]="" [skynet]="" [sleepmillion]=""
                   [pingpong]="" [chanthroughput]="")
  hold="-sleep_ms 10000"
fi

results="$build/results.txt"
: >"$results"
failed=0

# run_one REPS BINARY ARGS...: runs a peer REPS times, appending its result
# lines to $results. A crash, a timeout or a run without results is a failure.
run_one() {
  local reps="$1" bin="$2"; shift 2
  local i out
  for ((i = 1; i <= reps; i++)); do
    echo "run_peers: [$i/$reps] $(basename "$bin") $*" >&2
    if ! out="$(timeout 600 "$bin" "$@")"; then
      echo "run_peers: FAILED: $bin $*" >&2; failed=1; return
    fi
    if ! grep -q '^peer=' <<<"$out"; then
      echo "run_peers: FAILED (no result line): $bin $*" >&2; failed=1; return
    fi
    grep '^peer=' <<<"$out" | tee -a "$results" >&2
  done
}

for b in "${benches[@]}"; do
  r=$reps; [[ $b == sleepmillion ]] && r=$reps_sleep
  # shellcheck disable=SC2086  # args are deliberately word-split
  run_one "$r" "$build/go/$b" ${args[$b]}
  if [[ -n "$bf_bin" ]]; then
    # shellcheck disable=SC2086
    run_one "$r" "$bf_bin/peer_boost_fiber_$b" ${args[$b]}
  fi
done
# Go cannot spawn 1M goroutines within 100 ms here, so the first ones exit
# before the last start and the RSS sample undercounts; a long sleep keeps
# them all alive. Boost.Fiber's sample is already taken with all alive.
# shellcheck disable=SC2086
run_one "$reps_sleep" "$build/go/sleepmillion" $hold

# --- report ------------------------------------------------------------------
# Median per (peer, bench, unit), in first-seen order; extras from the last run.
echo
awk '
  {
    for (i = 1; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = substr($i, length(kv[1]) + 2) }
    key = f["peer"] SUBSEP f["bench"] SUBSEP f["unit"]
    if (!(key in count)) order[++nkeys] = key
    vals[key, ++count[key]] = f["value"] + 0
    extra[key] = f["extra"]
    delete f
  }
  END {
    printf "%-12s %-36s %16s  %-12s %4s  %s\n", "peer", "bench", "median", "unit", "runs", "extra(last run)"
    for (k = 1; k <= nkeys; k++) {
      key = order[k]; n = count[key]
      for (i = 1; i <= n; i++) v[i] = vals[key, i]
      for (i = 2; i <= n; i++) { x = v[i]; for (j = i - 1; j >= 1 && v[j] > x; j--) v[j + 1] = v[j]; v[j + 1] = x }
      med = (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
      split(key, p, SUBSEP)
      printf "%-12s %-36s %16.2f  %-12s %4d  %s\n", p[1], p[2], med, p[3], n, extra[key]
    }
  }' "$results"

if ((failed)); then
  echo "run_peers: some runs FAILED (see above)" >&2
  exit 1
fi
