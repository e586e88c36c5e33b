#!/usr/bin/env bash
# Checks examples/echo_service (weft::net::Server):
# 1. Graceful stop on SIGTERM under load: 100 clients in request/response
#    round trips of 64-byte messages; SIGTERM mid-load. Every message gets
#    its whole echo or, once the server stops, a clean EOF before any byte
#    of it; no client sees a reset; connects are refused afterwards; the
#    process prints its counters (accepted=100 ... cut=0) and exits 0.
# 2. --idle-timeout closes a silent client and is counted (timed_out=1);
#    SIGINT stops it too. --max-conns with --reject-when-full closes the
#    connection past the cap at once (rejected=1).
# 3. The same graceful stop over TLS (see there).
set -u
bin=$1
source "$(dirname "$0")/server_lib.sh"

# stop_under_load N CA WHAT: N clients in request/response round trips of
# 64-byte messages to $port; SIGTERM to $server mid-load. Every message must
# get its whole echo or, once the server stops, a clean end before any byte
# of it (with TLS: close_notify; Python raises SSLEOFError on a close
# without it), never a reset; connects are refused afterwards. With CA (a
# PEM file) the clients speak TLS and verify the server against it. WHAT
# names the run in the summary line.
stop_under_load() {
  timeout 60 /usr/bin/python3 - "$port" "$server" "$@" <<'PY' || fail "see above"
import os, signal, socket, ssl, sys, threading, time

port, pid, N, ca, what = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
ctx = ssl.create_default_context(cafile=ca) if ca else None
lock = threading.Lock()
stats = {"answers": 0, "eof": 0, "refused": 0}
errors = []
ready = threading.Barrier(N + 1)

def client(i):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=20)
        if ctx:
            s = ctx.wrap_socket(s, server_hostname="localhost")
    except OSError as e:
        with lock: errors.append("client %d: connect: %r" % (i, e))
        ready.wait()
        return
    ready.wait()
    r = 0
    try:
        while True:
            msg = ("request %d %d " % (i, r)).encode().ljust(64, b".")
            s.sendall(msg)
            got = b""
            while len(got) < len(msg):
                chunk = s.recv(4096)
                if not chunk:
                    break
                got += chunk
            if not got:
                with lock: stats["eof"] += 1
                break
            if got != msg:
                with lock: errors.append("client %d: %r for %r" % (i, got, msg))
                return
            with lock: stats["answers"] += 1
            r += 1
    except OSError as e:  # SSLEOFError, ConnectionResetError, BrokenPipeError, timeout
        with lock: errors.append("client %d round %d: %r" % (i, r, e))
        return
    finally:
        s.close()
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
        with lock: errors.append("client %d: a connect succeeded after the stop" % i)
    except ConnectionRefusedError:
        with lock: stats["refused"] += 1

threads = [threading.Thread(target=client, args=(i,)) for i in range(N)]
for t in threads: t.start()
ready.wait()
time.sleep(0.5)
os.kill(pid, signal.SIGTERM)
for t in threads: t.join()
print("%s: %d answers, %d clean ends, %d refused, %d errors"
      % (what, stats["answers"], stats["eof"], stats["refused"], len(errors)))
for e in errors[:10]: print("  " + e)
if errors or stats["eof"] != N or stats["refused"] != N or stats["answers"] == 0:
    raise SystemExit("FAIL: graceful stop (%s)" % what)
PY
}

# The server's own pid (start_server's $server is timeout(1)'s, which
# forwards signals; wait on it for the exit status).
start_server '^Listening on 127\.0\.0\.1:([0-9]+)$' "$bin" --port=0 --workers=2 --grace=5s
stop_under_load 100 "" "echo_service under SIGTERM"
expect_clean_exit SIGTERM
grep -q '^stopping on signal 15 (grace 5s)$' "$log" || fail "no 'stopping on signal 15' line"
grep -q '^accepted=100 active=0 rejected=0 timed_out=0 cut=0$' "$log" || fail "wrong counters"

# 2. Idle timeout, SIGINT, and the cap.
start_server '^Listening on 127\.0\.0\.1:([0-9]+)$' "$bin" --port=0 --workers=2 \
    --idle-timeout=200ms --max-conns=1 --reject-when-full
timeout 20 python3 - "$port" "$server" <<'PY' || fail "see above"
import os, signal, socket, sys, time
port, pid = int(sys.argv[1]), int(sys.argv[2])
a = socket.create_connection(("127.0.0.1", port), timeout=10)
a.sendall(b"x"); assert a.recv(1) == b"x"
b = socket.create_connection(("127.0.0.1", port), timeout=10)
if b.recv(1) != b"":
    raise SystemExit("FAIL: the connection past --max-conns=1 was not closed")
start = time.monotonic()
if a.recv(1) != b"":
    raise SystemExit("FAIL: the idle connection was not closed")
took = time.monotonic() - start
if not 0.1 < took < 5:
    raise SystemExit("FAIL: idle close after %.3f s, want ~0.2" % took)
time.sleep(0.1)
os.kill(pid, signal.SIGINT)
PY
expect_clean_exit SIGINT
grep -q '^stopping on signal 2 ' "$log" || fail "no 'stopping on signal 2' line"
grep -q '^accepted=1 active=0 rejected=1 timed_out=1 cut=0$' "$log" || fail "wrong counters"
grep "accepted=" "$log"

# 3. TLS (--tls-cert/--tls-key, a throwaway certificate): echo round trips
# from Python's ssl (verifying the certificate); a plain-text client is
# dropped and counted (tls_failed=1); SIGTERM mid-load: every message gets
# its whole echo, then each client reads close_notify (Python raises
# SSLEOFError on a close without it), never a reset; connects are refused.
make_cert
start_server '^Listening on 127\.0\.0\.1:([0-9]+) \(TLS\)$' "$bin" --port=0 --workers=2 \
  --grace=5s --tls-cert="$dir/cert.pem" --tls-key="$dir/key.pem"
expect_plain_text_dropped
stop_under_load 20 "$dir/cert.pem" "echo_service over TLS under SIGTERM"
expect_clean_exit "SIGTERM (TLS)"
grep -q '^accepted=21 active=0 rejected=0 timed_out=0 cut=0 tls_failed=1$' "$log" ||
  fail "wrong counters (TLS)"
grep "accepted=" "$log"
echo "PASS"
