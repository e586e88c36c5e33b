# Sourced by the check scripts of the seed ports.
#
# seed_python MODULE — prints a python3 that can import MODULE (gevent,
# greenlet): the one on PATH, else Debian's /usr/bin/python3 (a pyenv or
# venv python3 on PATH often lacks Debian's python3-gevent). Prints nothing
# and fails if neither can.
seed_python() {
  local p
  for p in python3 /usr/bin/python3; do
    if command -v "$p" >/dev/null 2>&1 && "$p" -c "import $1" 2>/dev/null; then
      echo "$p"
      return 0
    fi
  done
  return 1
}
