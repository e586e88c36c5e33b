#!/usr/bin/env bash
# Starts examples/https_hello on a free port with a throwaway certificate
# and checks its answers over TLS (Python's ssl, verifying the certificate):
# a GET, pipelined GETs in order, "Connection: close" ending with
# close_notify, a 400 for a request with a body; and that a plain-text
# client is dropped while the server goes on serving.
set -u
bin=$1
source "$(dirname "$0")/server_lib.sh"
make_cert
start_server '^Listening on https://127\.0\.0\.1:([0-9]+)/$' "$bin" --port=0 --workers=2 \
  --cert="$dir/cert.pem" --key="$dir/key.pem"
# First a plain-text client: the checks below then show that the server goes
# on serving after dropping it.
expect_plain_text_dropped

timeout 20 /usr/bin/python3 - "$port" "$dir/cert.pem" <<'PY' || fail "see above"
import socket, ssl, sys

port, ca = int(sys.argv[1]), sys.argv[2]
HELLO = b"HTTP/1.1 200 OK\r\n"
ctx = ssl.create_default_context(cafile=ca)
ctx.set_alpn_protocols(["http/1.1"])

def check(cond, what):
    if not cond:
        raise SystemExit("FAIL: " + what)

def talk(payload, answers):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            check(s.selected_alpn_protocol() == "http/1.1", "ALPN")
            s.sendall(payload)
            data = b""
            while data.count(b"\r\n\r\n") < answers:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            return data, s

get = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
r, _ = talk(get, 1)
check(r.startswith(HELLO) and r.endswith(b"\r\n\r\nhello world\n"), "GET: %r" % r)
r, _ = talk(get * 5, 5)
check(r.count(HELLO) == 5, "5 pipelined GETs: %r" % r)
r, s = talk(get + b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n", 2)
check(r.count(HELLO) == 2 and b"Connection: close" in r, "Connection: close: %r" % r)
r, _ = talk(b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nabcde", 1)
check(r.startswith(b"HTTP/1.1 400"), "a body gets a 400: %r" % r)

print("ok")
PY
echo PASS
