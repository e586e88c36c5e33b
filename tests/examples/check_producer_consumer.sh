#!/usr/bin/env bash
# Checks examples/producer_consumer, the port of seed #1
# (examples/seeds/producer_consumer.py): its output must be the expected
# bytes below (R, G: the seed's red and green escapes; Z: reset; the consumer
# lines end in a space after the reset), and, with python3 there, `diff`s
# with the seed's output byte for byte.
set -u
bin=$1
seed=$2
fail() { echo "FAIL: $*"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

R=$'\e[31;1m' G=$'\e[32;1m' Z=$'\e[0m'
{
  for c in A B; do
    echo "要开始啃骨头了..."
    echo "${R}[consumer] 消费者$c${Z} "
  done
  for n in 1 2 3 4 5; do
    echo "${G}[producer]${Z} 正在生产骨头 $n"
    for c in A B; do
      echo "[消费者$c] 正在啃骨头 $n"
      echo "${R}[consumer] 消费者$c${Z} "
    done
  done
} >"$tmp/expected"

"$bin" >"$tmp/weft" || fail "producer_consumer exited $?"
cat "$tmp/weft"
diff "$tmp/expected" "$tmp/weft" || fail "output differs from the expected lines (diff: expected, weft)"

if command -v python3 >/dev/null 2>&1; then
  PYTHONIOENCODING=utf-8 python3 "$seed" >"$tmp/py" || fail "the seed exited $?"
  diff "$tmp/py" "$tmp/weft" || fail "weft's output differs from the seed's (diff: seed, weft)"
  echo "same bytes as $(basename "$seed")"
else
  echo "python3 not installed: compared with the expected lines only"
fi
echo "PASS"
