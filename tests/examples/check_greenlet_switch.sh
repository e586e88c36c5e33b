#!/usr/bin/env bash
# Checks examples/greenlet_switch, the port of seeds #2 and #6
# (examples/seeds/greenlet_switch.py, which takes the rounds as argv[1]), on
# the main thread and inside a weft fiber: its output must be the expected
# lines below, and, with a python3 that has greenlet, `diff`s with the
# seed's output byte for byte. The A/B ping-pong sleeps 0.5 s between any
# two of its lines, so the rounds are few.
set -u
source "$(dirname "$0")/seed_lib.sh"
bin=$1
seed=$2
fail() { echo "FAIL: $*"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

expected() {  # $1: rounds
  printf '%s\n' 123 789 456 666
  for ((i = 1; i <= $1; i++)); do printf '%s\n' ----A---- ----B----; done
}

# A python3 that can import greenlet: the one on PATH, else Debian's.
python=$(seed_python greenlet) || python=""

for rounds in 2 0; do
  expected "$rounds" >"$tmp/expected"
  for mode in --nofiber --fiber; do
    start=$(date +%s%N)
    "$bin" --rounds="$rounds" "$mode" >"$tmp/weft" || fail "--rounds=$rounds $mode exited $?"
    ms=$(( ($(date +%s%N) - start) / 1000000 ))
    [ "$rounds" = 2 ] && [ "$mode" = --nofiber ] && cat "$tmp/weft"
    diff "$tmp/expected" "$tmp/weft" ||
      fail "--rounds=$rounds $mode: output differs from the expected lines (diff: expected, weft)"
    # test1 and test2 each sleep 0.5 s when switched back to: one sleep
    # between any two of the ping-pong's 2 x rounds lines.
    min=$(( rounds > 0 ? (2 * rounds - 1) * 500 : 0 ))
    [ "$ms" -ge "$min" ] || fail "--rounds=$rounds $mode took $ms ms, less than its sleeps ($min ms)"
  done
  if [ -n "$python" ]; then
    "$python" "$seed" "$rounds" >"$tmp/py" || fail "the seed exited $?"
    diff "$tmp/py" "$tmp/weft" ||
      fail "--rounds=$rounds: weft's output differs from the seed's (diff: seed, weft)"
  fi
done
if [ -n "$python" ]; then
  echo "same bytes as $(basename "$seed") ($python)"
else
  echo "no python3 with greenlet: compared with the expected lines only"
fi
"$bin" --rounds=-1 >/dev/null 2>&1
[ "$?" = 2 ] || fail "--rounds=-1 must exit 2"
echo "PASS"
