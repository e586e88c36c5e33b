#!/usr/bin/env bash
# Measures weft's channel, mutex and semaphore benchmarks next to their
# peers in the same session, in interleaved rounds, and prints the median of
# each figure across rounds: the way the README's sync rows are measured.
#
# usage: tools/sync_rounds.sh [ROUNDS] [BUILD_DIR]
#   ROUNDS     rounds to run (default 5). Each round: weft_bench (channel,
#              mutex and semaphore benchmarks, 3 repetitions, their
#              medians), then Go's pingpong and chanthroughput, then
#              Boost.Fiber's if built.
#   BUILD_DIR  a Release build of weft (default build/release).
# The peers come from build/peers (tools/run_peers.sh builds them); the Go
# ones are built here if missing.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
rounds="${1:-5}"
build="${2:-$repo/build/release}"
bench="$build/bench/weft_bench"
peers="$repo/build/peers"
[[ -x "$bench" ]] || { echo "sync_rounds: $bench not found (build the release preset)" >&2; exit 1; }

unset GOMAXPROCS GOGC GOFLAGS
mkdir -p "$peers/go"
for b in pingpong chanthroughput; do
  if [[ ! -x "$peers/go/$b" ]]; then
    command -v go >/dev/null || { echo "sync_rounds: go not found" >&2; exit 1; }
    (cd "$repo/bench/peers/go" && GOCACHE="$peers/gocache" GOPATH="$peers/gopath" GO111MODULE=off \
      go build -o "$peers/go/$b" "./$b")
  fi
done

raw="$(mktemp)"
trap 'rm -f "$raw"' EXIT
for ((r = 1; r <= rounds; r++)); do
  # "name value": ns per op, or M items/s where the benchmark reports a rate.
  "$bench" --benchmark_filter='PingPongChannel|ChannelThroughput|MutexContended|SemaphoreContended' \
    --benchmark_repetitions=3 --benchmark_report_aggregates_only=true 2>/dev/null |
    awk '/_median/ { name = $1; sub("/real_time_median", "", name); v = $2
                     if (match($0, /items_per_second=[0-9.]+M/)) {
                       v = substr($0, RSTART + 17, RLENGTH - 18); name = name " (M/s)" }
                     else name = name " (ns)"
                     print name "\t" v }' >>"$raw"
  for p in "$peers/go/pingpong" "$peers/go/chanthroughput" \
           "$peers/boost_fiber/peer_boost_fiber_pingpong" \
           "$peers/boost_fiber/peer_boost_fiber_chanthroughput"; do
    [[ -x "$p" ]] || continue
    "$p" | awk '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
                  print f["peer"] " " f["bench"] " (" f["unit"] ")\t" f["value"] }' >>"$raw"
  done
  echo "round $r of $rounds done" >&2
done

# Median of each name across rounds, with the rounds' values.
sort -s -t$'\t' -k1,1 "$raw" | awk -F'\t' '
  function flush() {
    if (n == 0) return
    for (i = 1; i <= n; i++) s[i] = v[i]
    for (i = 2; i <= n; i++) { x = s[i]; for (j = i - 1; j >= 1 && s[j] > x; j--) s[j + 1] = s[j]; s[j + 1] = x }
    m = (n % 2) ? s[(n + 1) / 2] : (s[n / 2] + s[n / 2 + 1]) / 2
    line = ""; for (i = 1; i <= n; i++) line = line (i > 1 ? ", " : "") v[i]
    printf "%-50s median %-12s rounds: %s\n", name, m, line
    split("", v); split("", s); n = 0
  }
  $1 != name { flush(); name = $1 }
  { v[++n] = $2 + 0 }
  END { flush() }'
