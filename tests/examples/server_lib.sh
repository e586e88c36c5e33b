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

# make_cert: a throwaway self-signed certificate for localhost, valid a day,
# in $dir/cert.pem with its key in $dir/key.pem.
make_cert() {
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
    -subj /CN=localhost -addext subjectAltName=DNS:localhost \
    -keyout "$dir/key.pem" -out "$dir/cert.pem" 2>/dev/null || fail "openssl req"
}

# expect_clean_exit WHAT: waits for the server, which a signal has told to
# stop, and fails unless it exits 0; WHAT (the signal) names it in the
# message.
expect_clean_exit() {
  wait "$server"
  local rc=$?
  server=
  [ "$rc" -eq 0 ] || fail "exit status $rc after $1"
}

# expect_plain_text_dropped: a client speaking plain text to the TLS port
# $port is dropped (an alert, then EOF or a reset), neither answered nor
# echoed.
expect_plain_text_dropped() {
  timeout 20 python3 - "$port" <<'PY' || fail "see above"
import socket, sys
request = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5) as plain:
    plain.sendall(request)
    junk = b""
    try:
        while True:
            chunk = plain.recv(65536)
            if not chunk:
                break
            junk += chunk
    except ConnectionResetError:
        pass  # closed with our request unread: a reset, as good as EOF here
if b"HTTP/1.1 200" in junk or request in junk:
    raise SystemExit("FAIL: plain text must not be answered: %r" % junk)
PY
}
