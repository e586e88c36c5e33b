#!/usr/bin/env bash
# Runs examples/skynet and checks what it prints and how it exits.
set -u
bin=$1
fail() { echo "FAIL: $*"; exit 1; }

out=$("$bin" --leaves=10000 --workers=2 --runs=2) || fail "skynet exited $?"
echo "$out"
[ "$(grep -c '^result=49995000 time_ms=[0-9.]*$' <<<"$out")" = 2 ] ||
  fail "expected two lines 'result=49995000 time_ms=...'"

out=$("$bin" --leaves=1 --workers=1) || fail "skynet --leaves=1 exited $?"
grep -q '^result=0 time_ms=' <<<"$out" || fail "a single leaf must sum to 0: $out"

err=$("$bin" --leaves=999 2>&1 >/dev/null); rc=$?
[ "$rc" = 2 ] || fail "--leaves=999 must exit 2, got $rc"
grep -q 'power of 10' <<<"$err" || fail "--leaves=999 must explain itself: $err"

err=$("$bin" --workers=-3 2>&1 >/dev/null); rc=$?
[ "$rc" = 2 ] || fail "--workers=-3 must exit 2, got $rc"
grep -q 'RuntimeOptions::workers' <<<"$err" || fail "--workers=-3 must explain itself: $err"
echo "PASS"
