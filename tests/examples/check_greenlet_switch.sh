#!/usr/bin/env bash
# Runs examples/greenlet_switch, on the main thread and inside a weft fiber,
# and checks its output against the expected lines and, if a python3 with the
# greenlet module is installed, against examples/seeds/greenlet_switch.py's.
set -u
bin=$1
seed=$2
fail() { echo "FAIL: $*"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

expected() {  # $1: rounds
  printf '%s\n' 123 789 456 666
  for ((i = 1; i <= $1; i++)); do printf 'A%d\nB%d\n' "$i" "$i"; done
}

# A python3 that can import greenlet: the one on PATH, else Debian's.
python=""
for p in python3 /usr/bin/python3; do
  if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import greenlet' 2>/dev/null; then
    python=$p
    break
  fi
done

for rounds in 5 2 0; do
  expected "$rounds" >"$tmp/expected"
  for mode in --nofiber --fiber; do
    "$bin" --rounds="$rounds" "$mode" >"$tmp/cpp" || fail "--rounds=$rounds $mode exited $?"
    [ "$rounds" = 5 ] && [ "$mode" = --nofiber ] && cat "$tmp/cpp"
    cmp -s "$tmp/expected" "$tmp/cpp" || {
      diff "$tmp/expected" "$tmp/cpp"
      fail "--rounds=$rounds $mode: output differs from the expected lines"
    }
  done
  if [ -n "$python" ]; then
    "$python" "$seed" --rounds="$rounds" >"$tmp/py" || fail "the Python original exited $?"
    cmp -s "$tmp/py" "$tmp/cpp" || { diff "$tmp/py" "$tmp/cpp"; fail "--rounds=$rounds: C++ and Python outputs differ"; }
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
