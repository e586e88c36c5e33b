#!/usr/bin/env bash
# Runs examples/generator_ab and checks its output against the expected lines
# and, if python3 is installed, against examples/seeds/generator_ab.py's.
set -u
bin=$1
seed=$2
fail() { echo "FAIL: $*"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

printf '%s\n' A1 B1 A2 B2 A3 B3 "all done" >"$tmp/expected"
"$bin" >"$tmp/cpp" || fail "generator_ab exited $?"
cat "$tmp/cpp"
cmp -s "$tmp/expected" "$tmp/cpp" || { diff "$tmp/expected" "$tmp/cpp"; fail "output differs from the expected lines"; }

if command -v python3 >/dev/null 2>&1; then
  python3 "$seed" >"$tmp/py" || fail "the Python original exited $?"
  cmp -s "$tmp/py" "$tmp/cpp" || { diff "$tmp/py" "$tmp/cpp"; fail "C++ and Python outputs differ"; }
  echo "same bytes as $(basename "$seed")"
else
  echo "python3 not installed: compared with the expected lines only"
fi

# Unequal tasks: the shorter one drops out, the other carries on alone.
out=$("$bin" --a_steps=1 --b_steps=3 | tr '\n' ' ')
[ "$out" = "A1 B1 B2 B3 all done " ] || fail "--a_steps=1 --b_steps=3 printed: $out"
"$bin" --a_steps=-1 >/dev/null 2>&1
[ "$?" = 2 ] || fail "--a_steps=-1 must exit 2"
echo "PASS"
