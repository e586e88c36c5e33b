#!/usr/bin/env bash
# Runs examples/getcurrent and checks its output: without a sleep each fiber
# prints its lines in one block; with sleep(0) they take turns. Exact order
# with one worker (the same as gevent's once fiber reprs are replaced by
# A, B, C in order of appearance); with several workers, only each fiber's
# own order. If a python3 with gevent is installed, also runs
# examples/seeds/getcurrent.py and compares the normalised outputs.
set -u
bin=$1
seed=$2
fail() { echo "FAIL: $*"; exit 1; }

# Replaces each "<...>" repr by A, B, C in order of first appearance, afresh
# in each section (gevent reuses greenlet addresses). A fiber is known by its
# repr without the worker it ran on: with several workers a fiber may be
# stolen between two of its lines.
normalize() {
  awk '
    /^with(out)? sleep/ { print; delete seen; n = 0; next }
    {
      if (match($0, /^<[^>]*>/) == 0) { print "UNEXPECTED " $0; next }
      tok = substr($0, 1, RLENGTH)
      rest = substr($0, RLENGTH + 1)
      sub(/ on worker [0-9]+>$/, ">", tok)
      if (!(tok in seen)) { seen[tok] = sprintf("%c", 65 + n); n++ }
      print seen[tok] rest
    }'
}

# What gevent prints, normalised.
expected() {
  echo "without sleep:"
  for f in A B C; do for i in 0 1 2 3 4; do echo "$f $i"; done; done
  echo "with sleep(0):"
  for i in 0 1 2 3 4; do for f in A B C; do echo "$f $i"; done; done
}

out=$("$bin" --workers=1) || fail "getcurrent exited $?"
echo "$out"
[ "$(normalize <<<"$out")" = "$(expected)" ] ||
  fail "with one worker the order must be gevent's; normalised it is:
$(normalize <<<"$out")"
[ "$(grep -cE '^<Fiber [0-9]+ "f\(5\)" on worker 0> [0-4]$' <<<"$out")" = 15 ] ||
  fail "expected 15 lines '<Fiber N \"f(5)\" on worker 0> i'"
[ "$(grep -cE '^<Fiber [0-9]+ "f_sleep\(5\)" on worker 0> [0-4]$' <<<"$out")" = 15 ] ||
  fail "expected 15 lines '<Fiber N \"f_sleep(5)\" on worker 0> i'"

# Several workers: the same lines, three fibers a section, each counting
# 0..4 in order; how their lines interleave is up to the scheduler.
for w in 2 4; do
  out=$("$bin" --workers=$w) || fail "--workers=$w exited $?"
  norm=$(normalize <<<"$out")
  [ "$(sort <<<"$norm")" = "$(expected | sort)" ] || fail "--workers=$w printed:
$out"
  bad=$(awk '
    /^with(out)? sleep/ { delete next_i; next }
    { if ($2 != next_i[$1] + 0) print; next_i[$1] = $2 + 1 }' <<<"$norm")
  [ -z "$bad" ] || fail "--workers=$w: a fiber printed out of order: $bad"
done

for py in python3 /usr/bin/python3; do
  if "$py" -c 'import gevent' 2>/dev/null; then
    py_out=$("$py" "$seed") || fail "$seed exited $?"
    [ "$(normalize <<<"$py_out")" = "$(expected)" ] || fail "gevent printed (normalised)
$(normalize <<<"$py_out")"
    echo "same order as gevent ($py)"
    break
  fi
done

err=$("$bin" --workers=-3 2>&1 >/dev/null); rc=$?
[ "$rc" = 2 ] || fail "--workers=-3 must exit 2, got $rc"
grep -q 'RuntimeOptions::workers' <<<"$err" || fail "--workers=-3 must explain itself: $err"
echo "PASS"
