#!/usr/bin/env bash
# Starts examples/http_hello on a free port and checks its answers: a plain
# GET, keep-alive, pipelined requests answered in order, HTTP/1.0 and
# "Connection: close" closing, and a 400 (then close) for a malformed, an
# oversized and a chunked request; a 400 for a NUL or other control byte in
# the request line or a header (a tab in a header value is fine); then
# SIGTERM with a keep-alive connection open: the idle connection reads EOF,
# the server prints its counters and exits 0. Then the same server with
# --tls-cert/--tls-key over HTTPS (see there).
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

for name, bad in [("NUL in the target", b"GET /a\x00b HTTP/1.1\r\nHost: x\r\n\r\n"),
                  ("NUL in a header", b"GET / HTTP/1.1\r\nHost: x\x00y\r\n\r\n"),
                  ("SOH in a header name", b"GET / HTTP/1.1\r\nHo\x01st: x\r\n\r\n"),
                  ("DEL in a header", b"GET / HTTP/1.1\r\nHost: x\x7f\r\n\r\n"),
                  ("bare LF in a header", b"GET / HTTP/1.1\r\nHost: x\nEvil: 1\r\n\r\n"),
                  ("ESC in the method", b"G\x1bET / HTTP/1.1\r\n\r\n")]:
    r = talk(bad, expect_close=True)
    check(r.startswith(b"HTTP/1.1 400 Bad Request\r\n") and r.count(b"HTTP/1.1") == 1,
          "%s: want a 400 and a close, got %r" % (name, r[:80]))
r = talk(b"GET / HTTP/1.1\r\nHost: x\r\nX-Tab: a\tb\r\n\r\n", expect_close=False)
check(r.startswith(HELLO), "a tab in a header value is fine: %r" % r[:80])
print("http_hello: all checks passed")
PY
kill -0 "$server" 2>/dev/null || fail "the server died"

timeout 20 python3 - "$port" "$server" <<'PY' || fail "see above"
import os, signal, socket, sys
port, pid = int(sys.argv[1]), int(sys.argv[2])
s = socket.create_connection(("127.0.0.1", port), timeout=10)
s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
data = b""
while not data.endswith(b"hello world\n"):
    data += s.recv(4096)
os.kill(pid, signal.SIGTERM)
if s.recv(4096) != b"":
    raise SystemExit("FAIL: the idle keep-alive connection must read EOF at the stop")
PY
expect_clean_exit SIGTERM
grep -q '^stopping on signal 15$' "$log" || fail "no 'stopping on signal 15' line"
grep -Eq '^accepted=[0-9]+ active=0 rejected=0 timed_out=0 cut=0$' "$log" || fail "wrong counters"

# HTTPS (--tls-cert/--tls-key, a throwaway certificate; Python's ssl,
# verifying it): a GET with ALPN http/1.1, pipelined GETs, a 400 with
# close_notify; a plain-text client dropped and counted (tls_failed=1);
# SIGTERM with an idle keep-alive connection: it reads close_notify (Python
# raises SSLEOFError on a close without it).
make_cert
start_server '^Listening on https://127\.0\.0\.1:([0-9]+)/$' "$bin" --port=0 --workers=2 \
  --tls-cert="$dir/cert.pem" --tls-key="$dir/key.pem"
expect_plain_text_dropped
timeout 20 /usr/bin/python3 - "$port" "$server" "$dir/cert.pem" <<'PY' || fail "see above"
import os, signal, socket, ssl, sys

port, pid, ca = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
HELLO = b"HTTP/1.1 200 OK\r\n"
get = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
ctx = ssl.create_default_context(cafile=ca)
ctx.set_alpn_protocols(["http/1.1"])

def check(cond, what):
    if not cond:
        raise SystemExit("FAIL: " + what)

def connect():
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=5),
                        server_hostname="localhost")
    check(s.selected_alpn_protocol() == "http/1.1", "ALPN")
    return s

def read_answers(s, n):
    data = b""
    while data.count(b"hello world\n") < n:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    return data

s = connect()
s.sendall(get)
r = read_answers(s, 1)
check(r.startswith(HELLO) and r.endswith(b"\r\n\r\nhello world\n"), "HTTPS GET: %r" % r)
s.sendall(get * 5)
check(read_answers(s, 5).count(HELLO) == 5, "5 pipelined GETs over TLS")
s.close()

s = connect()
s.sendall(b"GARBAGE\r\n\r\n")
r = b""
while True:
    chunk = s.recv(65536)  # SSLEOFError without close_notify
    if not chunk:
        break
    r += chunk
check(r.startswith(b"HTTP/1.1 400 Bad Request\r\n"), "a 400 over TLS: %r" % r[:80])
s.close()

s = connect()
s.sendall(get)
read_answers(s, 1)
os.kill(pid, signal.SIGTERM)
check(s.recv(4096) == b"", "the idle keep-alive TLS connection must read close_notify")
print("http_hello over TLS: all checks passed")
PY
expect_clean_exit "SIGTERM (TLS)"
grep -Eq '^accepted=4 active=0 rejected=0 timed_out=0 cut=0$' "$log" || fail "wrong counters (TLS)"
grep -q '^tls_failed=1$' "$log" || fail "wrong tls_failed (TLS)"
echo "PASS"
