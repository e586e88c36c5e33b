#!/usr/bin/env bash
# Runs examples/crawler and checks its fetches and its two times: one after
# another takes about urls x delay, one fiber per URL about one delay. If a
# python3 with gevent is installed, checks examples/seeds/crawler.py the same
# way, so the original the README shows keeps working too.
set -u
bin=$1
seed=$(dirname "$0")/../../examples/seeds/crawler.py
fail() { echo "FAIL: $*"; exit 1; }
# awk does the arithmetic: true (exit 0) if the expression holds.
holds() { awk "BEGIN { exit !($1) }"; }

urls=4 delay=0.3

# check_run NAME OUTPUT: the fetches and times of one run with $urls, $delay.
check_run() {
  local name=$1 out=$2 i
  grep -Eq "^Serving $urls slow URLs on 127\.0\.0\.1:[0-9]+, each answering after " <<<"$out" ||
    fail "$name: no 'Serving $urls slow URLs on 127.0.0.1:PORT, ...' line"
  local ok='^GET http://127\.0\.0\.1:[0-9]+/slow/[0-9]+: 200, [0-9]+ bytes$'
  [ "$(grep -Ec "$ok" <<<"$out")" = $((2 * urls)) ] ||
    fail "$name: expected $((2 * urls)) lines 'GET http://127.0.0.1:PORT/slow/N: 200, N bytes'"
  ! grep -q 'error' <<<"$out" || fail "$name: a fetch failed"
  for i in $(seq 1 $urls); do
    [ "$(grep -Ec "/slow/$i: 200, " <<<"$out")" = 2 ] || fail "$name: /slow/$i was not fetched twice"
  done
  # The sequential pass fetches in order, all before its total.
  local pages want
  pages=$(sed -n '/^Serving/,/^sequential:/p' <<<"$out" | grep -Eo '/slow/[0-9]+' | tr -d '\n')
  want=$(for i in $(seq 1 $urls); do printf '/slow/%d' "$i"; done)
  [ "$pages" = "$want" ] || fail "$name: the sequential pass must fetch in order, got $pages"

  local seq_s con_s
  seq_s=$(sed -nE "s/^sequential: $urls fetches in ([0-9.]+) s$/\1/p" <<<"$out")
  con_s=$(sed -nE "s/^concurrent: $urls fetches in ([0-9.]+) s$/\1/p" <<<"$out")
  [ -n "$seq_s" ] && [ -n "$con_s" ] || fail "$name: missing 'sequential:' or 'concurrent:' total"
  # Every page sleeps at least the delay, so these lower bounds are exact; the
  # upper ones leave room for a loaded machine.
  holds "$seq_s >= $urls * $delay && $seq_s < 2 * $urls * $delay" ||
    fail "$name: sequential took $seq_s s, expected about $urls x $delay s"
  holds "$con_s >= $delay && $con_s < 0.6 * $seq_s" ||
    fail "$name: concurrent took $con_s s, expected about $delay s (< 0.6 x sequential $seq_s s)"
}

out=$(timeout 20 "$bin" --urls=$urls --delay=${delay}s --workers=2); rc=$?
echo "$out"
[ "$rc" = 0 ] || fail "crawler exited $rc"
grep -q 'each answering after 300ms$' <<<"$out" || fail "--delay=${delay}s must read as 300ms"
check_run crawler "$out"

# --delay also takes plain seconds.
out=$(timeout 10 "$bin" --urls=2 --delay=0.1 --workers=1) || fail "--delay=0.1 exited $?"
con_s=$(sed -nE 's/^concurrent: 2 fetches in ([0-9.]+) s$/\1/p' <<<"$out")
[ -n "$con_s" ] && holds "$con_s >= 0.1" || fail "--delay=0.1 must mean 0.1 s: $out"

err=$(timeout 10 "$bin" --urls=0 2>&1 >/dev/null); rc=$?
[ "$rc" = 2 ] || fail "--urls=0 must exit 2, got $rc"
grep -q 'between 1 and 1000' <<<"$err" || fail "--urls=0 must explain itself: $err"
err=$(timeout 10 "$bin" --delay=soon 2>&1 >/dev/null); rc=$?
[ "$rc" != 0 ] || fail "--delay=soon must fail"
grep -q 'not a duration' <<<"$err" || fail "--delay=soon must explain itself: $err"

# The Python original, when gevent is there to run it.
ran_seed=0
for py in python3 /usr/bin/python3; do
  if "$py" -c 'import gevent' 2>/dev/null; then
    out=$(timeout 20 "$py" "$seed" --urls=$urls --delay=$delay); rc=$?
    echo "$out"
    [ "$rc" = 0 ] || fail "seeds/crawler.py exited $rc"
    check_run seeds/crawler.py "$out"
    ran_seed=1
    break
  fi
done
[ "$ran_seed" = 1 ] || echo "(no python3 with gevent: seeds/crawler.py not run)"
echo "PASS"
