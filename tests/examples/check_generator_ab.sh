#!/usr/bin/env bash
# Checks examples/generator_ab, the port of seed #5
# (examples/seeds/generator_ab.py): its output must be the document's four
# lines, after its two 0.5 s sleeps (~1 s), and, with python3 there, `diff`s
# with the seed's output byte for byte.
set -u
bin=$1
seed=$2
fail() { echo "FAIL: $*"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

printf '%s\n' ----A---- None ----B---- ----A---- >"$tmp/expected"
start=$(date +%s%N)
"$bin" >"$tmp/weft" || fail "generator_ab exited $?"
ms=$(( ($(date +%s%N) - start) / 1000000 ))
cat "$tmp/weft"
echo "elapsed_ms=$ms"
diff "$tmp/expected" "$tmp/weft" || fail "output differs from the expected lines (diff: expected, weft)"
# Two sleeps of 0.5 s: A's, between its yields, and B's after next().
[ "$ms" -ge 1000 ] || fail "finished after $ms ms, before its two 0.5 s sleeps"

if command -v python3 >/dev/null 2>&1; then
  python3 "$seed" >"$tmp/py" || fail "the seed exited $?"
  diff "$tmp/py" "$tmp/weft" || fail "weft's output differs from the seed's (diff: seed, weft)"
  echo "same bytes as $(basename "$seed")"
else
  echo "python3 not installed: compared with the expected lines only"
fi
echo "PASS"
