#!/usr/bin/env bash
# Checks examples/getcurrent, the port of seed #7 (examples/seeds/getcurrent.py),
# in both of the document's forms: as the seed stands (each greenlet prints
# its five lines in turn) and with its `#gevent.sleep(1)` uncommented (they
# take turns, a line each): `getcurrent --sleep`. The Python of the second
# form is made from the seed with sed.
#
# The reprs cannot be equal (gevent prints <Greenlet at 0x7f…: f(5)>, weft
# <Fiber 2 on worker 0>), so each is replaced by A, B or C: its greenlet's or
# fiber's place in spawn order. gevent starts greenlets in spawn order, so
# there the first repr to appear is g1's, the next new one g2's; weft's fiber
# ids count up in spawn order, so there the lowest id is g1's. Nothing else
# is touched, and on one worker (like gevent's one thread) the normalised
# output must be the expected lines below and `diff` with the seed's. That
# demands gevent's order exactly: g1 must start first.
# With several workers, only what holds there: the same lines, and each
# fiber's own lines in order.
set -u
source "$(dirname "$0")/seed_lib.sh"
bin=$1
seed=$2
fail() { echo "FAIL: $*"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# weft: <Fiber N on worker W> -> A, B, C by ascending N.
normalize_weft() {
  local ids
  ids=$(grep -oE '^<Fiber [0-9]+ ' "$1" | awk '{ print $2 }' | sort -nu | tr '\n' ' ')
  awk -v ids="$ids" '
    BEGIN { n = split(ids, a, " "); for (i = 1; i <= n; i++) name[a[i]] = sprintf("%c", 64 + i) }
    match($0, /^<Fiber [0-9]+ on worker [0-9]+> /) {
      split($0, f, " ")
      print name[f[2]] " " substr($0, RLENGTH + 1)
      next
    }
    { print "UNEXPECTED " $0 }' "$1"
}

# gevent: <Greenlet at 0x…: f(5)> -> A, B, C by first appearance.
normalize_gevent() {
  awk '
    match($0, /^<Greenlet at 0x[0-9a-f]+: f\(5\)> /) {
      tok = substr($0, 1, RLENGTH)
      if (!(tok in seen)) seen[tok] = sprintf("%c", 65 + n++)
      print seen[tok] " " substr($0, RLENGTH + 1)
      next
    }
    { print "UNEXPECTED " $0 }' "$1"
}

# The document's two outputs, normalised.
for f in A B C; do for i in 0 1 2 3 4; do echo "$f $i"; done; done >"$tmp/expected"
for i in 0 1 2 3 4; do for f in A B C; do echo "$f $i"; done; done >"$tmp/expected_sleep"

py=$(seed_python gevent) || py=""
# The second form takes ~5 s: run it while weft runs.
if [ -n "$py" ]; then
  sed 's/^\( *\)#gevent\.sleep(1)/\1gevent.sleep(1)/' "$seed" >"$tmp/seed_sleep.py"
  grep -q '^ *gevent\.sleep(1)' "$tmp/seed_sleep.py" || fail "no '#gevent.sleep(1)' line to uncomment in $seed"
  "$py" "$tmp/seed_sleep.py" >"$tmp/py_sleep" 2>&1 &
  py_sleep_pid=$!
fi

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# One worker: the exact order.
"$bin" >"$tmp/weft" || fail "getcurrent exited $?"
cat "$tmp/weft"
[ "$(grep -cE '^<Fiber [0-9]+ on worker 0> [0-4]$' "$tmp/weft")" = 15 ] ||
  fail "expected 15 lines '<Fiber N on worker 0> i'"
normalize_weft "$tmp/weft" >"$tmp/weft.norm"
diff "$tmp/expected" "$tmp/weft.norm" ||
  fail "one worker: the order differs from gevent's, g1's lines first (diff: expected, weft normalised)"

start=$(now_ms)
"$bin" --sleep >"$tmp/weft_sleep" || fail "getcurrent --sleep exited $?"
ms=$(( $(now_ms) - start ))
echo "--sleep: elapsed_ms=$ms"
normalize_weft "$tmp/weft_sleep" >"$tmp/weft_sleep.norm"
diff "$tmp/expected_sleep" "$tmp/weft_sleep.norm" ||
  fail "--sleep, one worker: the order differs from gevent's (diff: expected, weft normalised)"
# Five 1 s sleeps a fiber, the three fibers' at the same time: ~5 s, not 15.
[ "$ms" -ge 5000 ] && [ "$ms" -lt 7500 ] || fail "--sleep took $ms ms, expected ~5000"

# Several workers: the same lines, each fiber counting 0..4 in order; how
# their lines interleave is up to the scheduler.
for w in 2 4; do
  for mode in "" "--sleep --scale=0.1"; do
    # shellcheck disable=SC2086
    "$bin" --workers=$w $mode >"$tmp/multi" || fail "--workers=$w $mode exited $?"
    normalize_weft "$tmp/multi" >"$tmp/multi.norm"
    [ "$(sort "$tmp/multi.norm")" = "$(sort "$tmp/expected")" ] ||
      fail "--workers=$w $mode printed: $(cat "$tmp/multi")"
    bad=$(awk '{ if ($2 != next_i[$1] + 0) print; next_i[$1] = $2 + 1 }' "$tmp/multi.norm")
    [ -z "$bad" ] || fail "--workers=$w $mode: a fiber printed out of order: $bad"
  done
done

# The seed, in both forms.
if [ -n "$py" ]; then
  "$py" "$seed" >"$tmp/py" || fail "$seed exited $?"
  normalize_gevent "$tmp/py" >"$tmp/py.norm"
  diff "$tmp/py.norm" "$tmp/weft.norm" ||
    fail "weft's output differs from the seed's (diff: seed, weft; both normalised)"
  wait "$py_sleep_pid" || fail "the seed with gevent.sleep(1) exited $?: $(cat "$tmp/py_sleep")"
  normalize_gevent "$tmp/py_sleep" >"$tmp/py_sleep.norm"
  diff "$tmp/py_sleep.norm" "$tmp/weft_sleep.norm" ||
    fail "--sleep: weft's output differs from the seed's (diff: seed, weft; both normalised)"
  echo "same lines as $(basename "$seed") in both forms ($py), reprs aside"
else
  echo "no python3 with gevent: compared with the expected lines only"
fi

err=$("$bin" --workers=-3 2>&1 >/dev/null); rc=$?
[ "$rc" = 2 ] || fail "--workers=-3 must exit 2, got $rc"
grep -q 'RuntimeOptions::workers' <<<"$err" || fail "--workers=-3 must explain itself: $err"
echo "PASS"
