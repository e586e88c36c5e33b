#!/usr/bin/env bash
# Runs examples/producer_consumer and checks its output byte for byte against
# the expected lines below (Y, G, C: the yellow, green and cyan escapes; R:
# reset). If python3 is installed, also runs the Python original,
# examples/seeds/producer_consumer.py, and requires the same bytes from both.
set -u
bin=$1
seed=$2
fail() { echo "FAIL: $*"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

Y=$'\e[33m' G=$'\e[32m' C=$'\e[36m' R=$'\e[0m'
cat >"$tmp/expected" <<EOF2
${G}[旺财] 摇着尾巴等骨头${R}
${C}[小黑] 摇着尾巴等骨头${R}
${Y}[主人] 把第 1 根骨头扔给旺财${R}
${G}[旺财] 啃完第 1 根骨头，一共吃了 1 根${R}
${Y}[主人] 旺财已经吃了 1 根${R}
${Y}[主人] 把第 2 根骨头扔给小黑${R}
${C}[小黑] 啃完第 2 根骨头，一共吃了 1 根${R}
${Y}[主人] 小黑已经吃了 1 根${R}
${Y}[主人] 把第 3 根骨头扔给旺财${R}
${G}[旺财] 啃完第 3 根骨头，一共吃了 2 根${R}
${Y}[主人] 旺财已经吃了 2 根${R}
${Y}[主人] 把第 4 根骨头扔给小黑${R}
${C}[小黑] 啃完第 4 根骨头，一共吃了 2 根${R}
${Y}[主人] 小黑已经吃了 2 根${R}
${Y}[主人] 把第 5 根骨头扔给旺财${R}
${G}[旺财] 啃完第 5 根骨头，一共吃了 3 根${R}
${Y}[主人] 旺财已经吃了 3 根${R}
${G}[旺财] 吃饱了，趴下睡觉${R}
${C}[小黑] 吃饱了，趴下睡觉${R}
${Y}[主人] 骨头喂完了${R}
EOF2

"$bin" >"$tmp/cpp" || fail "producer_consumer exited $?"
cat "$tmp/cpp"
cmp -s "$tmp/expected" "$tmp/cpp" || { diff "$tmp/expected" "$tmp/cpp"; fail "output differs from the expected lines"; }

if command -v python3 >/dev/null 2>&1; then
  PYTHONIOENCODING=utf-8 python3 "$seed" >"$tmp/py" || fail "the Python original exited $?"
  cmp -s "$tmp/py" "$tmp/cpp" || { diff "$tmp/py" "$tmp/cpp"; fail "C++ and Python outputs differ"; }
  echo "same bytes as $(basename "$seed")"
else
  echo "python3 not installed: compared with the expected lines only"
fi

# --nocolor drops the escapes and nothing else; --bones changes the feeding.
"$bin" --nocolor >"$tmp/plain" || fail "--nocolor exited $?"
sed "s/$(printf '\e')\[[0-9]*m//g" "$tmp/expected" | cmp -s - "$tmp/plain" || fail "--nocolor output differs"
[ "$("$bin" --bones=8 --nocolor | grep -c '啃完第')" = 8 ] || fail "--bones=8 must feed 8 bones"
err=$("$bin" --bones=0 2>&1 >/dev/null); rc=$?
[ "$rc" = 2 ] || fail "--bones=0 must exit 2, got $rc"
grep -q -- '--bones' <<<"$err" || fail "--bones=0 must explain itself: $err"
echo "PASS"
