#!/usr/bin/env bash
# Checks that an installed weft works from another project: installs BUILD_DIR
# with `cmake --install` into a temporary prefix, configures consumer/ with
# find_package(weft) against that prefix only, builds it, runs it and checks
# that it prints sum=45.
#
# usage: tests/install/run_install_test.sh BUILD_DIR
#   BUILD_DIR  a configured and built weft build tree (e.g. build/release)
# Exit status: 0 pass, 1 fail, 2 usage. Registered with ctest as
# install_find_package (label "install").
set -euo pipefail

if [ $# -ne 1 ] || [ ! -f "$1/CMakeCache.txt" ]; then
  echo "usage: $0 BUILD_DIR   (a configured weft build tree)" >&2
  exit 2
fi
build="$(cd "$1" && pwd)"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# cache VAR — a variable's value from the weft build's CMakeCache.txt.
cache() {
  sed -n "s/^$1:[A-Z]*=//p" "$build/CMakeCache.txt" | head -n 1
}
cxx="$(cache CMAKE_CXX_COMPILER)"
build_type="$(cache CMAKE_BUILD_TYPE)"
generator="$(cache CMAKE_GENERATOR)"
sanitize="$(cache WEFT_SANITIZE)"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/weft-install-test.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
prefix="$tmp/prefix"

fail() {
  echo "install test: FAIL: $*" >&2
  exit 1
}

echo "install test: cmake --install $build --prefix $prefix"
cmake --install "$build" --prefix "$prefix" >"$tmp/install.log" ||
  { cat "$tmp/install.log"; fail "cmake --install failed"; }
[ -f "$prefix/include/weft/weft.h" ] || fail "include/weft/weft.h not installed"
config="$(find "$prefix" -name weftConfig.cmake -print -quit)"
[ -n "$config" ] || fail "weftConfig.cmake not installed"

echo "install test: configuring consumer against $prefix (WEFT_SANITIZE='${sanitize}')"
# CMAKE_FIND_USE_PACKAGE_REGISTRY / SYSTEM_PACKAGE_REGISTRY off, and weft_DIR
# checked below, so a weft installed elsewhere on the machine cannot stand in.
cmake -S "$here/consumer" -B "$tmp/build" ${generator:+-G "$generator"} \
  ${cxx:+-DCMAKE_CXX_COMPILER="$cxx"} ${build_type:+-DCMAKE_BUILD_TYPE="$build_type"} \
  -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF \
  >"$tmp/configure.log" 2>&1 ||
  { cat "$tmp/configure.log"; fail "configuring the consumer failed"; }
weft_dir="$(sed -n 's/^weft_DIR:[A-Z]*=//p' "$tmp/build/CMakeCache.txt")"
[ "$weft_dir" = "$(dirname "$config")" ] ||
  fail "find_package(weft) found '$weft_dir', not the test prefix '$(dirname "$config")'"

echo "install test: building consumer"
cmake --build "$tmp/build" >"$tmp/build.log" 2>&1 ||
  { cat "$tmp/build.log"; fail "building the consumer failed"; }

echo "install test: running consumer"
rc=0
out="$("$tmp/build/consumer")" || rc=$?
echo "$out"
[ "$rc" -eq 0 ] || fail "consumer exited with status $rc"
[ "$out" = "sum=45" ] || fail "expected output 'sum=45'"
echo "install test: PASS"
