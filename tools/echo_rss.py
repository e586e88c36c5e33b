#!/usr/bin/python3
"""echo_rss: an echo server's resident memory across a burst of connections.

Starts SERVER (a command line that takes --port=0 and prints
"Listening on HOST:PORT" on stdout or stderr), opens CONNS connections to it
at once from this process, sends BYTES on each and reads them back, holds
them all open, then closes them all; it reads the server's RSS from
/proc/PID/statm idle before the burst, at its peak (every connection open and
echoed) and at fixed times after the last close. Several rounds in one run
show whether the memory comes back each time.

  tools/echo_rss.py --conns 10000 -- build/release/examples/echo_server \
      --port=0 --quiet --backlog=1024 --workers=2
  tools/echo_rss.py --conns 1000 --rounds 3 -- build/release/examples/echo_service --port=0

The client is asyncio on one thread; it raises its own soft fd limit to the
hard one (it needs CONNS descriptors; the server needs as many).
"""

import argparse
import asyncio
import os
import re
import resource
import subprocess
import sys
import threading
import time

PAGE = os.sysconf("SC_PAGE_SIZE")
AFTER = (0.5, 1.0, 2.0, 5.0)  # seconds after the last close


def rss_bytes(pid):
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * PAGE


def print_smaps(pid):
    """The mappings holding the most resident memory, largest first."""
    maps, cur = [], None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                parts = line.split()
                lo, hi = (int(x, 16) for x in parts[0].split("-"))
                cur = [0, (hi - lo) // 1024, parts[5] if len(parts) > 5 else "[anon]"]
                maps.append(cur)
            elif line.startswith("Rss:"):
                cur[0] = int(line.split()[1])
    print("resident KiB  size KiB  mapping")
    for rss, size, name in sorted(maps, reverse=True)[:8]:
        print(f"{rss:12} {size:9}  {name}")


def start_server(cmd):
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    found = {}
    ready = threading.Event()

    def pump():  # keeps the pipe drained for the server's whole life
        for line in proc.stdout:
            m = re.search(r"Listening on (\S+):(\d+)", line)
            if m and not ready.is_set():
                found["addr"] = (m.group(1).strip("[]"), int(m.group(2)))
                ready.set()
        ready.set()

    threading.Thread(target=pump, daemon=True).start()
    if not ready.wait(10) or "addr" not in found:
        proc.kill()
        sys.exit("echo_rss: the server printed no 'Listening on HOST:PORT'")
    return proc, found["addr"]


async def one(addr, payload, opened, all_open):
    for attempt in range(50):  # a full backlog refuses or resets now and then
        try:
            reader, writer = await asyncio.open_connection(*addr)
            break
        except OSError:
            await asyncio.sleep(0.05 * (attempt + 1))
    else:
        raise RuntimeError("could not connect")
    writer.write(payload)
    await writer.drain()
    got = await reader.readexactly(len(payload))
    if got != payload:
        raise RuntimeError("echo mismatch")
    opened.append(writer)
    await all_open.wait()


async def burst(addr, conns, nbytes, pid):
    payload = os.urandom(nbytes)
    opened = []
    all_open = asyncio.Event()
    tasks = [asyncio.create_task(one(addr, payload, opened, all_open)) for _ in range(conns)]
    while len(opened) < conns:
        done = [t for t in tasks if t.done() and t.exception() is not None]
        if done:
            raise done[0].exception()
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.2)  # let the last handlers settle into their reads
    peak = rss_bytes(pid)
    for w in opened:
        w.close()
    all_open.set()
    await asyncio.gather(*tasks)
    for w in opened:
        try:
            await w.wait_closed()
        except OSError:
            pass
    return peak, time.monotonic()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--conns", type=int, default=10000)
    p.add_argument("--bytes", type=int, default=4096, help="sent and echoed on each connection")
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--settle", type=float, default=1.0, help="seconds idle before the baseline")
    p.add_argument("--smaps", action="store_true",
                   help="at the end, list the server's mappings with the most resident memory")
    p.add_argument("server", nargs=argparse.REMAINDER)
    a = p.parse_args()
    cmd = a.server[1:] if a.server[:1] == ["--"] else a.server
    if not cmd:
        p.error("give the server's command line after --")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    proc, addr = start_server(cmd)
    try:
        time.sleep(a.settle)
        base = rss_bytes(proc.pid)
        mib = lambda b: f"{b / 2**20:7.1f}"
        print(f"server: {' '.join(cmd)}")
        print(f"conns={a.conns} bytes={a.bytes}; RSS in MiB (delta from idle in brackets)")
        print(f"{'round':>5} {'idle':>7} {'peak':>7} " + " ".join(f"{f'+{t}s':>15}" for t in AFTER))
        for r in range(a.rounds):
            idle = rss_bytes(proc.pid)
            peak, closed_at = asyncio.run(burst(addr, a.conns, a.bytes, proc.pid))
            after = []
            for t in AFTER:
                time.sleep(max(0.0, closed_at + t - time.monotonic()))
                after.append(rss_bytes(proc.pid))
            cells = " ".join(f"{mib(x)} [{(x - base) / 2**20:+5.1f}]" for x in after)
            print(f"{r + 1:>5} {mib(idle)} {mib(peak)} {cells}", flush=True)
        if a.smaps:
            print_smaps(proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()


if __name__ == "__main__":
    main()
