#!/usr/bin/env bash
# Checks examples/gevent_sleep, the port of seed #3 (examples/seeds/gevent_sleep.py):
# on one worker its output must be the expected lines below (gevent's) and
# the sleeps must overlap (the run lasts about the longest sleep, not the
# sum); with a python3 that has gevent (python3, else Debian's
# /usr/bin/python3), it `diff`s with the seed's output byte for byte. With
# several workers, only what holds there: the same lines, each function's in
# order, the finishes in sleep order.
set -u
source "$(dirname "$0")/seed_lib.sh"
bin=$1
seed=$2
fail() { echo "FAIL: $*"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

expected="func1 running
func2 running
func3  running
func3 done..
switch func2
switch func1"

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# One worker, the real sleeps (2 s, 1 s, 0): gevent's exact order, ~2 s.
start=$(now_ms)
"$bin" --workers=1 >"$tmp/weft" || fail "gevent_sleep exited $?"
ms=$(( $(now_ms) - start ))
out=$(cat "$tmp/weft")
echo "$out"
echo "elapsed_ms=$ms"
[ "$out" = "$expected" ] || fail "expected gevent's order:
$expected"
# The longest sleep is 2000 ms, the sum 3000 ms; anything well under the sum
# proves the sleeps overlapped (generous: the machine may be loaded).
[ "$ms" -ge 2000 ] || fail "finished after $ms ms, before its longest sleep (2000 ms) ended"
[ "$ms" -lt 2800 ] || fail "took $ms ms: the sleeps did not overlap (their sum is 3000 ms)"

# --scale shrinks every sleep.
start=$(now_ms)
out=$("$bin" --workers=1 --scale=0.1) || fail "--scale=0.1 exited $?"
ms=$(( $(now_ms) - start ))
[ "$out" = "$expected" ] || fail "--scale=0.1 changed the order: $out"
[ "$ms" -ge 200 ] && [ "$ms" -lt 1500 ] || fail "--scale=0.1 took $ms ms, expected ~200"

# Several workers: the three start in any order, but each finishes after it
# started, and the finishes keep gevent's order (0 s, then 1 s, then 2 s).
for w in 2 4; do
  out=$("$bin" --workers=$w --scale=0.25) || fail "--workers=$w exited $?"
  [ "$(sort <<<"$out")" = "$(sort <<<"$expected")" ] || fail "--workers=$w printed: $out"
  line() { grep -nx "$1" <<<"$out" | cut -d: -f1; }
  for f in 1 2; do
    [ "$(line "func$f running")" -lt "$(line "switch func$f")" ] ||
      fail "--workers=$w: func$f finished before it started: $out"
  done
  [ "$(line "func3  running")" -lt "$(line "func3 done..")" ] || fail "--workers=$w: $out"
  [ "$(line "func3 done..")" -lt "$(line "switch func2")" ] &&
    [ "$(line "switch func2")" -lt "$(line "switch func1")" ] ||
    fail "--workers=$w: the finishes are not in sleep order: $out"
done

# The seed, when gevent is there to run it: its real sleeps, like the first
# run above.
py=$(seed_python gevent) || py=""
if [ -n "$py" ]; then
  "$py" "$seed" >"$tmp/py" || fail "$seed exited $?"
  diff "$tmp/py" "$tmp/weft" || fail "weft's output differs from the seed's (diff: seed, weft)"
  echo "same output as $(basename "$seed") ($py)"
else
  echo "no python3 with gevent: compared with the expected lines only"
fi

err=$("$bin" --scale=-1 2>&1 >/dev/null); rc=$?
[ "$rc" = 2 ] || fail "--scale=-1 must exit 2, got $rc"
grep -q -- '--scale' <<<"$err" || fail "--scale=-1 must explain itself: $err"
err=$("$bin" --workers=-3 2>&1 >/dev/null); rc=$?
[ "$rc" = 2 ] || fail "--workers=-3 must exit 2, got $rc"
grep -q 'RuntimeOptions::workers' <<<"$err" || fail "--workers=-3 must explain itself: $err"
echo "PASS"
