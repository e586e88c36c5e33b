#!/usr/bin/env bash
# Starts examples/echo_server on a free port, echoes through two clients at
# once and checks what the server prints about them.
set -u
bin=$1
source "$(dirname "$0")/server_lib.sh"
start_server '^Listening on 127\.0\.0\.1:([0-9]+)$' "$bin" --port=0 --workers=2

# Two connections open at once; each echoes a line, then 256 KiB written by
# a thread while the main thread reads (so neither side's buffer stalls the
# other), then a half-close must bring EOF back. Prints both local ports.
ports=$(timeout 20 python3 - "$port" <<'PY'
import socket, sys, threading

port = int(sys.argv[1])
a = socket.create_connection(('127.0.0.1', port), timeout=5)
b = socket.create_connection(('127.0.0.1', port), timeout=5)

def expect(s, data):
    got = b''
    while len(got) < len(data):
        chunk = s.recv(65536)
        if not chunk:
            sys.exit('server closed after %d of %d bytes' % (len(got), len(data)))
        got += chunk
    if got != data:
        sys.exit('echo differs from what was sent')

for s, line in ((a, b'hello from a\n'), (b, b'hello from b\n'), (a, b'again from a\n')):
    s.sendall(line)
    expect(s, line)

big = bytes(range(256)) * 1024
writer = threading.Thread(target=b.sendall, args=(big,))
writer.start()
expect(b, big)
writer.join()

for s in (a, b):
    s.shutdown(socket.SHUT_WR)
    if s.recv(1) != b'':
        sys.exit('no EOF after a half-close')
print(a.getsockname()[1], b.getsockname()[1])
a.close()
b.close()
PY
) || fail "echo client failed"
read -r pa pb <<<"$ports"
[ -n "$pa" ] && [ -n "$pb" ] || fail "client printed no ports: '$ports'"

for p in "$pa" "$pb"; do
  grep -q "^New connection from 127\.0\.0\.1:$p$" "$log" ||
    fail "no 'New connection from 127.0.0.1:$p' line"
  wait_for "^Connection closed 127\.0\.0\.1:$p$" || fail "no 'Connection closed 127.0.0.1:$p' line"
done

# The port is taken now: a second server must say so and exit 1.
err=$(timeout 10 "$bin" --port="$port" 2>&1 >/dev/null); rc=$?
[ "$rc" = 1 ] || fail "a second server on port $port must exit 1, got $rc"
grep -qi 'in use' <<<"$err" || fail "a second server on a taken port must say so: $err"

kill -0 "$server" 2>/dev/null || fail "the server died"
cat "$log"
echo "PASS"
