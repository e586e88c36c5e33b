#!/usr/bin/env bash
# Runs examples/gevent_sleep and checks its output order against gevent's and
# that the sleeps overlap: the run lasts about the longest sleep, not the sum.
# If a python3 with gevent is installed, also runs examples/seeds/gevent_sleep.py
# and compares the two outputs line by line.
set -u
bin=$1
seed=$2
fail() { echo "FAIL: $*"; exit 1; }

expected="func1 running
func2 running
func3 running
func3 done..
switch func2
switch func1"

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# One worker, the real sleeps (2 s, 1 s, 0): gevent's exact order, ~2 s.
start=$(now_ms)
out=$("$bin" --workers=1) || fail "gevent_sleep exited $?"
ms=$(( $(now_ms) - start ))
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
  [ "$(line "func3 running")" -lt "$(line "func3 done..")" ] || fail "--workers=$w: $out"
  [ "$(line "func3 done..")" -lt "$(line "switch func2")" ] &&
    [ "$(line "switch func2")" -lt "$(line "switch func1")" ] ||
    fail "--workers=$w: the finishes are not in sleep order: $out"
done

# The Python original, when gevent is there to run it.
for py in python3 /usr/bin/python3; do
  if "$py" -c 'import gevent' 2>/dev/null; then
    py_out=$("$py" "$seed" 0.1) || fail "$seed exited $?"
    weft_out=$("$bin" --workers=1 --scale=0.1) || fail "gevent_sleep exited $?"
    [ "$py_out" = "$weft_out" ] || fail "gevent printed
$py_out
but weft printed
$weft_out"
    echo "same output as gevent ($py)"
    break
  fi
done

err=$("$bin" --scale=-1 2>&1 >/dev/null); rc=$?
[ "$rc" = 2 ] || fail "--scale=-1 must exit 2, got $rc"
grep -q -- '--scale' <<<"$err" || fail "--scale=-1 must explain itself: $err"
err=$("$bin" --workers=-3 2>&1 >/dev/null); rc=$?
[ "$rc" = 2 ] || fail "--workers=-3 must exit 2, got $rc"
grep -q 'RuntimeOptions::workers' <<<"$err" || fail "--workers=-3 must explain itself: $err"
echo "PASS"
