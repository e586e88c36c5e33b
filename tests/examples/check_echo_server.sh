#!/usr/bin/env bash
# Checks examples/echo_server, the port of seed #8 (examples/seeds/echo_server.py).
#
# 1. Starts weft's server on a free loopback port and drives it with one
#    client session (below, a Python client over 127.0.0.1): two clients, the
#    second connecting while the first is open, messages whose reprs need
#    escapes and both kinds of quotes, each waited for to come back, then the
#    two closes, each waited for in the server's output. Every line the
#    server prints is thus caused by a step the client waited for, so the
#    output is the same on any number of workers: it must equal the expected
#    lines below once the clients' ports are replaced by PORT_A and PORT_B.
#    Run with --workers=1, 2 and 4.
# 2. If a python3 with gevent is there (python3, else Debian's /usr/bin/python3),
#    starts the seed itself on another free port (it takes the port as argv[1])
#    and diffs its normalised output, line by line, with weft's.
# 3. weft only: --quiet prints nothing, echoes 256 KiB while it is being sent
#    and answers a half-close with EOF; the default --host ("") listens on
#    every interface; a taken port makes it exit 1 and say so.
#
#   bash tests/examples/check_echo_server.sh build/release/examples/echo_server \
#       examples/seeds/echo_server.py
set -u
source "$(dirname "$0")/seed_lib.sh"
bin=$1
seed=${2:-$(dirname "$0")/../../examples/seeds/echo_server.py}
tmp=$(mktemp -d)
pids=()
fail() { echo "FAIL: $*"; exit 1; }
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT

command -v python3 >/dev/null 2>&1 || fail "the client session needs python3"

# A port nobody listens on (the seed must be told one; weft takes --port=0).
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# The client session: session.py PORT SERVER_STDOUT. Waits for the port to be
# listening (in /proc/net/tcp: a probe connection would show in the output),
# runs the session, prints the two clients' ports.
cat >"$tmp/session.py" <<'PY'
import socket, sys, time

port, log = int(sys.argv[1]), sys.argv[2]

def wait(what, ok):
    deadline = time.monotonic() + 10
    while not ok():
        if time.monotonic() > deadline:
            sys.exit('timed out waiting for ' + what)
        time.sleep(0.02)

def listening():
    for name in ('/proc/net/tcp', '/proc/net/tcp6'):
        try:
            rows = open(name).read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            f = row.split()
            if int(f[1].split(':')[1], 16) == port and f[3] == '0A':  # LISTEN
                return True
    return False

def printed(line, count):  # the server has printed `line` `count` times
    return lambda: open(log, 'rb').read().split(b'\n').count(line) >= count

def echo(s, data):
    s.sendall(data)
    got = b''
    while len(got) < len(data):
        chunk = s.recv(65536)
        if not chunk:
            sys.exit('server closed after %d of %d bytes' % (len(got), len(data)))
        got += chunk
    if got != data:
        sys.exit('echo of %r came back as %r' % (data, got))

wait('port %d to listen' % port, listening)
a = socket.create_connection(('127.0.0.1', port), timeout=10)
echo(a, b'hello\n')
b = socket.create_connection(('127.0.0.1', port), timeout=10)
echo(b, b"it's")
echo(a, b'tab\there "quoted" \'single\' back\\slash\r\n')
echo(b, bytes([0, 7, 0x1f, 0x7f, 0x80, 0xff]) + '骨头'.encode())
ports = (a.getsockname()[1], b.getsockname()[1])
a.close()
wait('"client was closed"', printed(b'client was closed', 1))
echo(b, b'bye')
b.shutdown(socket.SHUT_WR)
if b.recv(1) != b'':
    sys.exit('no EOF after a half-close')
b.close()
wait('a second "client was closed"', printed(b'client was closed', 2))
print(*ports)
PY

# What the seed prints for the session, once the clients' ports are replaced.
cat >"$tmp/expected" <<'EOF'
new client from [('127.0.0.1', PORT_A)] 
recv: b'hello\n'
new client from [('127.0.0.1', PORT_B)] 
recv: b"it's"
recv: b'tab\there "quoted" \'single\' back\\slash\r\n'
recv: b'\x00\x07\x1f\x7f\x80\xff\xe9\xaa\xa8\xe5\xa4\xb4'
client was closed
recv: b'bye'
client was closed
EOF

# drive NAME PORT: runs the session against the server writing $tmp/NAME.out
# and writes $tmp/NAME.norm, its output with the clients' ports replaced.
drive() {
  local name=$1 port=$2 ports pa pb
  ports=$(timeout 30 python3 "$tmp/session.py" "$port" "$tmp/$name.out") ||
    { cat "$tmp/$name.out" "$tmp/$name.err" 2>/dev/null; fail "$name: the client session failed"; }
  read -r pa pb <<<"$ports"
  [ -n "$pa" ] && [ -n "$pb" ] || fail "$name: the client printed no ports: '$ports'"
  sed -e "s/('127\.0\.0\.1', $pa)/('127.0.0.1', PORT_A)/" \
      -e "s/('127\.0\.0\.1', $pb)/('127.0.0.1', PORT_B)/" "$tmp/$name.out" >"$tmp/$name.norm"
}

# start_weft NAME FLAGS...: starts weft's server on a free port (--port=0),
# reads the port from its "Listening on" line on stderr into $port.
start_weft() {
  local name=$1 line
  shift
  timeout 60 "$bin" --port=0 "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" &
  pids+=($!)
  for _ in $(seq 100); do
    line=$(grep -m1 '^Listening on ' "$tmp/$name.err") && break
    sleep 0.05
  done
  [[ $line =~ ^Listening\ on\ ([0-9.]+):([0-9]+)$ ]] || fail "$name: no 'Listening on' line: $(cat "$tmp/$name.err")"
  listen_host=${BASH_REMATCH[1]} port=${BASH_REMATCH[2]}
}

for w in 1 2 4; do
  start_weft "weft$w" --host=127.0.0.1 --workers=$w
  drive "weft$w" "$port"
  [ "$w" = 1 ] && cat "$tmp/weft1.out"
  diff "$tmp/expected" "$tmp/weft$w.norm" || fail "--workers=$w: output differs from the expected lines"
  [ ! -s "$tmp/weft$w.err" ] || [ "$(cat "$tmp/weft$w.err")" = "Listening on 127.0.0.1:$port" ] ||
    fail "--workers=$w: unexpected stderr: $(cat "$tmp/weft$w.err")"
done

# The seed, where gevent is installed.
python=$(seed_python gevent) || python=""
if [ -n "$python" ]; then
  port=$(free_port)
  timeout 60 "$python" -u "$seed" "$port" >"$tmp/py.out" 2>"$tmp/py.err" &
  pids+=($!)
  drive py "$port"
  diff "$tmp/py.norm" "$tmp/weft1.norm" || fail "weft's output differs from the seed's (diff: seed, weft)"
  [ ! -s "$tmp/py.err" ] || fail "the seed wrote on stderr: $(cat "$tmp/py.err")"
  echo "same lines as $(basename "$seed") ($python), client ports aside"
else
  echo "no python3 with gevent: compared with the expected lines only"
fi

# --quiet, the default host: 256 KiB written by a thread while the main
# thread reads (so neither side's buffer stalls the other), then a
# half-close must bring EOF back.
start_weft quiet --quiet --workers=2
[ "$listen_host" = 0.0.0.0 ] || fail "the default --host must listen on every interface, not $listen_host"
timeout 20 python3 - "$port" <<'PY' || fail "--quiet: the big echo failed"
import socket, sys, threading
s = socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=10)
big = bytes(range(256)) * 1024
writer = threading.Thread(target=s.sendall, args=(big,))
writer.start()
got = b''
while len(got) < len(big):
    chunk = s.recv(65536)
    if not chunk:
        sys.exit('server closed after %d of %d bytes' % (len(got), len(big)))
    got += chunk
writer.join()
if got != big:
    sys.exit('the echo differs from what was sent')
s.shutdown(socket.SHUT_WR)
if s.recv(1) != b'':
    sys.exit('no EOF after a half-close')
PY
[ ! -s "$tmp/quiet.out" ] || fail "--quiet printed: $(head -3 "$tmp/quiet.out")"

# The port is taken now: a second server must say so and exit 1.
err=$(timeout 10 "$bin" --port="$port" 2>&1 >/dev/null); rc=$?
[ "$rc" = 1 ] || fail "a second server on port $port must exit 1, got $rc"
grep -qi 'in use' <<<"$err" || fail "a second server on a taken port must say so: $err"
err=$("$bin" --backlog=0 2>&1 >/dev/null); rc=$?
[ "$rc" = 2 ] || fail "--backlog=0 must exit 2, got $rc"
grep -q -- '--backlog' <<<"$err" || fail "--backlog=0 must explain itself: $err"
for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null || fail "a server died"; done
echo "PASS"
