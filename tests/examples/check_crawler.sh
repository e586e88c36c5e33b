#!/usr/bin/env bash
# Checks examples/crawler, the port of seed #4 (examples/seeds/crawler.py):
# unmodified blocking libcurl fetches, one after another and then one fiber
# per URL, against the example's own slow HTTP server. The sequential pass
# must take about urls x delay, the concurrent one about one delay (which
# only libweft_hook.so makes possible: curl blocks in connect, poll and
# recv). With a python3 that has gevent (python3, else Debian's
# /usr/bin/python3) it runs the seed and diffs the two outputs, with the
# port and the times masked and the concurrent completions (which finish
# in any order, in gevent too) sorted.
set -u
source "$(dirname "$0")/seed_lib.sh"
bin=$1
seed=$2
fail() { echo "FAIL: $*"; exit 1; }
holds() { awk "BEGIN { exit !($1) }"; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

urls=4 delay=0.3

# check_run NAME FILE: the lines and the two times of one run.
check_run() {
  local name=$1 out i
  out=$(cat "$2")
  [ "$(grep -Ec '^GET:http://127\.0\.0\.1:[0-9]+/slow/[0-9]+$' <<<"$out")" = $((2 * urls)) ] ||
    fail "$name: expected $((2 * urls)) 'GET:http://127.0.0.1:PORT/slow/N' lines"
  for i in $(seq 1 $urls); do
    [ "$(grep -Ec "^[0-9]+ bytes received from http://127\.0\.0\.1:[0-9]+/slow/$i\.\.$" \
      <<<"$out")" = 2 ] || fail "$name: /slow/$i was not received twice"
  done
  local seq_s con_s
  seq_s=$(sed -nE 's/^同步耗时： ([0-9.e-]+)$/\1/p' <<<"$out")
  con_s=$(sed -nE 's/^异步耗时： ([0-9.e-]+)$/\1/p' <<<"$out")
  [ -n "$seq_s" ] && [ -n "$con_s" ] || fail "$name: missing '同步耗时：' or '异步耗时：' line"
  # Every page sleeps at least the delay, so the lower bounds are exact; the
  # upper ones leave room for a loaded machine.
  holds "$seq_s >= $urls * $delay && $seq_s < 2 * $urls * $delay" ||
    fail "$name: sequential took $seq_s s, expected about $urls x $delay s"
  holds "$con_s >= $delay && $con_s < 0.6 * $seq_s" ||
    fail "$name: concurrent took $con_s s, expected about $delay s (< 0.6 x sequential $seq_s s)"
}

# The port and the times masked; the lines after the sequential total
# sorted (the concurrent fetches complete in any order).
normalise() {
  sed -E 's/127\.0\.0\.1:[0-9]+/127.0.0.1:PORT/; s/^(同步耗时：|异步耗时：) .*/\1 T/' "$1" |
    awk '/^同步耗时：/ { print; rest = 1; next } rest { print | "sort" } !rest { print }'
}

for w in 1 2; do
  timeout 20 "$bin" --urls=$urls --delay=${delay}s --workers=$w >"$tmp/weft$w"; rc=$?
  cat "$tmp/weft$w"
  [ "$rc" = 0 ] || fail "crawler --workers=$w exited $rc"
  check_run "crawler --workers=$w" "$tmp/weft$w"
done

# --delay also takes plain seconds.
out=$(timeout 10 "$bin" --urls=2 --delay=0.1 --workers=1) || fail "--delay=0.1 exited $?"
con_s=$(sed -nE 's/^异步耗时： ([0-9.e-]+)$/\1/p' <<<"$out")
[ -n "$con_s" ] && holds "$con_s >= 0.1" || fail "--delay=0.1 must mean 0.1 s: $out"

err=$(timeout 10 "$bin" --urls=0 2>&1 >/dev/null); rc=$?
[ "$rc" = 2 ] || fail "--urls=0 must exit 2, got $rc"
grep -q 'between 1 and 1000' <<<"$err" || fail "--urls=0 must explain itself: $err"
err=$(timeout 10 "$bin" --delay=soon 2>&1 >/dev/null); rc=$?
[ "$rc" != 0 ] || fail "--delay=soon must fail"
grep -q 'not a duration' <<<"$err" || fail "--delay=soon must explain itself: $err"

# The seed, when gevent is there to run it.
py=$(seed_python gevent) || py=""
if [ -n "$py" ]; then
  timeout 20 "$py" "$seed" --urls=$urls --delay=$delay >"$tmp/py"; rc=$?
  cat "$tmp/py"
  [ "$rc" = 0 ] || fail "$seed exited $rc"
  check_run seeds/crawler.py "$tmp/py"
  diff <(normalise "$tmp/py") <(normalise "$tmp/weft1") ||
    fail "weft's output differs from the seed's (diff: seed, weft; port and times masked)"
  echo "same output as $(basename "$seed") ($py)"
else
  echo "no python3 with gevent: checked weft's output only"
fi
echo "PASS"
