# For the check scripts of the example servers (check_http_hello.sh): start
# one on a free port, learn the port from its "Listening on ..." line (on
# stdout or stderr: both go to $log), stop it on exit. (check_echo_server.sh
# keeps the server's stdout apart, to diff it with the seed's, and does
# without.)
#
#   source "$(dirname "$0")/server_lib.sh"
#   start_server '^Listening on http://127\.0\.0\.1:([0-9]+)/$' "$bin" --port=0 --workers=2
#   ... use $port, $log, $server; fail "message" on a failed check
dir=$(mktemp -d)
log=$dir/server.log
server=
fail() { echo "FAIL: $*"; [ -f "$log" ] && { echo "--- server output:"; cat "$log"; }; exit 1; }
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
  rm -rf "$dir"
}
trap cleanup EXIT

# Waits up to 5 s for a line matching the extended regex $1 in the server's output.
wait_for() {
  for _ in $(seq 50); do
    grep -Eq "$1" "$log" && return 0
    sleep 0.1
  done
  return 1
}

# start_server REGEX COMMAND... : REGEX matches the listening line, with the
# port as its first group. Sets $server (pid) and $port.
start_server() {
  local regex=$1
  shift
  timeout 30 "$@" >"$log" 2>&1 &
  server=$!
  wait_for "$regex" || fail "no line matching '$regex'"
  local line
  line=$(grep -Em1 "$regex" "$log")
  [[ $line =~ $regex ]] || fail "cannot read the port from '$line'"
  port=${BASH_REMATCH[1]}
  [ "$port" -gt 0 ] || fail "bad port '$port'"
}
