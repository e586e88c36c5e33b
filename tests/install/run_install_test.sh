#!/usr/bin/env bash
# Checks that an installed weft works from another project, as a newcomer
# would use it: installs BUILD_DIR with `cmake --install` into a temporary
# prefix, configures consumer/ with find_package(weft) against that prefix
# only, builds and runs its three programs:
#   consumer        fibers, Generators and Greenlets (values and exceptions
#                   across their switches); prints sum=45, generator=0 1 3 6
#                   10, greenlet=12 56 34 78, caught=generator greenlet
#   hook_consumer   links weft::hook (libweft_hook.so) too; prints
#                   hook=enabled and "usleep parked only its fiber"
#   readme_example  the first ```cpp block of README.md, extracted now (so the
#                   README cannot drift from what compiles); it sleeps 1 s in
#                   two fibers and prints fib(20) = 6765 and a <Fiber ...> line
# The consumer sets no C++ standard and no sanitizer flag or macro: weft::weft
# must carry C++20, and a sanitizer build's -fsanitize and WEFT_ASAN/WEFT_TSAN
# (checked here: the programs are instrumented, they switch coroutines, and
# they must write nothing to stderr).
#
# usage: tests/install/run_install_test.sh BUILD_DIR [README]
#   BUILD_DIR  a configured and built weft build tree (e.g. build/release)
#   README     the README.md to take the example from (default: this checkout's)
# Exit status: 0 pass, 1 fail, 2 usage. Registered with ctest in every build
# tree as install_find_package (label "install"), so `ctest --preset asan -R
# install` and tools/test.sh's tsan step check sanitizer installs.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [ $# -lt 1 ] || [ $# -gt 2 ] || [ ! -f "$1/CMakeCache.txt" ]; then
  echo "usage: $0 BUILD_DIR [README]   (BUILD_DIR: a configured weft build tree)" >&2
  exit 2
fi
build="$(cd "$1" && pwd)"
readme="${2:-$here/../../README.md}"
[ -f "$readme" ] || { echo "$0: no README at $readme" >&2; exit 2; }

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
[ -n "$(find "$prefix" -name 'libweft_hook.so*' -print -quit)" ] ||
  fail "libweft_hook.so (weft::hook) not installed"

# The README's first C++ block, verbatim: the lines between the first line
# that is exactly ```cpp and the next line that is exactly ```.
example="$tmp/readme_example.cc"
awk '/^```cpp$/ { inside = 1; next } inside && /^```$/ { exit } inside' "$readme" >"$example"
grep -q 'int main' "$example" ||
  fail "no \`\`\`cpp block with a main() in $readme (the first one is the one built)"

echo "install test: configuring consumer against $prefix (WEFT_SANITIZE='${sanitize}')"
# CMAKE_FIND_USE_PACKAGE_REGISTRY / SYSTEM_PACKAGE_REGISTRY off, and weft_DIR
# checked below, so a weft installed elsewhere on the machine cannot stand in.
cmake -S "$here/consumer" -B "$tmp/build" ${generator:+-G "$generator"} \
  ${cxx:+-DCMAKE_CXX_COMPILER="$cxx"} ${build_type:+-DCMAKE_BUILD_TYPE="$build_type"} \
  -DCMAKE_PREFIX_PATH="$prefix" -DWEFT_README_EXAMPLE="$example" \
  -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF \
  >"$tmp/configure.log" 2>&1 ||
  { cat "$tmp/configure.log"; fail "configuring the consumer failed"; }
weft_dir="$(sed -n 's/^weft_DIR:[A-Z]*=//p' "$tmp/build/CMakeCache.txt")"
[ "$weft_dir" = "$(dirname "$config")" ] ||
  fail "find_package(weft) found '$weft_dir', not the test prefix '$(dirname "$config")'"

echo "install test: building consumer and readme_example"
cmake --build "$tmp/build" >"$tmp/build.log" 2>&1 ||
  { cat "$tmp/build.log"
    fail "building the consumer failed (readme_example.cc is the first \`\`\`cpp block of" \
         "$readme; its line 1 is the line after the \`\`\`cpp)"; }

# A sanitizer build's install must have instrumented the consumer's own code:
# each of its object files calls into the sanitizer's runtime.
case "$sanitize" in
  address*) probe=__asan_ ;;  # also address,undefined
  thread*) probe=__tsan_ ;;
  undefined*) probe=__ubsan_ ;;
  *) probe= ;;
esac
if [ -n "$probe" ]; then
  n=0
  while IFS= read -r -d '' obj; do
    n=$((n + 1))
    # grep reads all of nm's output: with -q it could exit first, and under
    # pipefail nm's SIGPIPE would fail the check (it did for address,undefined).
    nm "$obj" | grep " U $probe" >/dev/null ||
      fail "$(basename "$obj") calls no $probe*: the installed weft::weft did not pass on -fsanitize=$sanitize"
  done < <(find "$tmp/build/CMakeFiles" -name '*.o' -print0)
  [ "$n" -eq 3 ] || fail "expected 3 object files under $tmp/build/CMakeFiles, found $n"
fi

# run NAME — runs the consumer's program NAME; its output goes to $out. It
# fails on a non-zero exit and on anything written to stderr (a sanitizer's
# warnings do not all change the exit status).
run() {
  local rc=0
  echo "install test: running $1"
  out="$("$tmp/build/$1" 2>"$tmp/$1.err")" || rc=$?
  echo "$out"
  cat "$tmp/$1.err" >&2
  [ "$rc" -eq 0 ] || fail "$1 exited with status $rc"
  [ ! -s "$tmp/$1.err" ] || fail "$1 wrote to stderr (above)"
}

run consumer
[ "$out" = "$(printf 'sum=45\ngenerator=0 1 3 6 10\ngreenlet=12 56 34 78\ncaught=generator greenlet')" ] ||
  fail "consumer: expected sum=45, generator=0 1 3 6 10, greenlet=12 56 34 78, caught=generator greenlet"

run hook_consumer
[ "$out" = "$(printf 'hook=enabled\nusleep parked only its fiber')" ] ||
  fail "hook_consumer: expected hook=enabled and 'usleep parked only its fiber'"

t0="$(date +%s%N)"
run readme_example
ms=$((($(date +%s%N) - t0) / 1000000))
echo "install test: readme_example took ${ms} ms"
[ "$(sed -n 1p <<<"$out")" = "fib(20) = 6765" ] ||
  fail "readme_example: expected 'fib(20) = 6765' on its first line"
sed -n 2p <<<"$out" | grep -Eq '^<Fiber .+>$' ||
  fail "readme_example: expected a '<Fiber ...>' line (weft::current()) second"
[ "$(wc -l <<<"$out")" -eq 2 ] || fail "readme_example: expected two lines"
[ "$ms" -ge 1000 ] || fail "readme_example: finished in ${ms} ms; its fibers sleep 1 s"
echo "install test: PASS"
