#!/usr/bin/env bash
# Starts examples/http_hello on a free port and checks its answers: a plain
# GET, keep-alive, pipelined requests answered in order, HTTP/1.0 and
# "Connection: close" closing, and a 400 (then close) for a malformed, an
# oversized and a chunked request.
set -u
bin=$1
source "$(dirname "$0")/server_lib.sh"
start_server '^Listening on http://127\.0\.0\.1:([0-9]+)/$' "$bin" --port=0 --workers=2

timeout 20 python3 - "$port" <<'PY' || fail "see above"
import socket, sys

port = int(sys.argv[1])
HELLO = b"HTTP/1.1 200 OK\r\n"

def talk(payload, expect_close):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(payload)
    data = b""
    if expect_close:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    else:
        s.settimeout(0.5)
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    raise SystemExit("FAIL: server closed a keep-alive connection")
                data += chunk
        except socket.timeout:
            pass
    s.close()
    return data

def check(cond, what):
    if not cond:
        raise SystemExit("FAIL: " + what)

get = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
r = talk(get, expect_close=False)
check(r.startswith(HELLO) and r.endswith(b"\r\n\r\nhello world\n") and r.count(HELLO) == 1,
      "plain GET: %r" % r)

r = talk(get * 5, expect_close=False)
check(r.count(HELLO) == 5 and r.count(b"hello world\n") == 5, "5 pipelined GETs: %r" % r)

r = talk(b"GET / HTTP/1.0\r\n\r\n", expect_close=True)
check(r.startswith(HELLO) and b"Connection: close" in r, "HTTP/1.0: %r" % r)

r = talk(get + b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n" + get, expect_close=True)
check(r.count(HELLO) == 2, "Connection: close must end after the 2nd answer: %r" % r)

r = talk(b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nabcde" + get, expect_close=False)
check(r.count(HELLO) == 2, "a body is skipped, the next request answered: %r" % r)

for name, bad in [("garbage", b"GARBAGE\r\n\r\n"),
                  ("bad version", b"GET / HTTP/9.9\r\n\r\n"),
                  ("oversized", b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\n\r\n"),
                  ("chunked", b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")]:
    r = talk(bad, expect_close=True)
    check(r.startswith(b"HTTP/1.1 400 Bad Request\r\n"), "%s: want a 400, got %r" % (name, r[:80]))
print("http_hello: all checks passed")
PY
kill -0 "$server" 2>/dev/null || fail "the server died"
echo "PASS"
