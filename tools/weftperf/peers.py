"""The runtimes tools/compare puts side by side: how each is built and how
each runs a workload. Every peer program prints result lines of the form
`peer=NAME bench=B value=V unit=U extra=...` (bench/peers/*)."""

import os
import shutil
import subprocess

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PEERS_BUILD = os.path.join(REPO, "build", "peers")

# name: (full-size flags, --quick flags); every peer takes Go-style flags.
WORKLOADS = {
    "skynet": (["-n", "1000000"], ["-n", "10000"]),
    "spawnjoin": (["-n", "1000000"], ["-n", "10000"]),
    "sleepers": (["-n", "1000000", "-sleep_ms", "10000"], ["-n", "10000", "-sleep_ms", "200"]),
    "yield": (["-n", "10000000"], ["-n", "100000"]),
    "pingpong": (["-n", "1000000"], ["-n", "10000"]),
    "chanthroughput": (["-n", "10000000"], ["-n", "100000"]),
}
# Go's yield and ping-pong programs choose their own worker counts (yield on
# one, ping-pong on one then two), and the other peers copy that shape.
FIXED_WORKERS = {"yield", "pingpong"}

# The Go and Boost.Fiber programs are named after issue #14's predecessor.
_LEGACY_NAME = {"sleepers": "sleepmillion"}


class Peer:
    name = ""

    def build(self, workloads, log):
        """Builds what `workloads` need; returns None, or why it cannot run."""
        raise NotImplementedError

    def command(self, workload, flags, workers):
        """(argv, extra environment) for one run."""
        raise NotImplementedError


class Weft(Peer):
    name = "weft"

    def __init__(self, build_dir):
        self.bin = os.path.join(build_dir, "bench", "weft_peer")
        self.build_dir = build_dir

    def build(self, workloads, log):
        if not os.path.exists(os.path.join(self.build_dir, "CMakeCache.txt")):
            return "no configured build in %s (cmake --preset release)" % self.build_dir
        r = subprocess.run(["cmake", "--build", self.build_dir, "-j2", "--target", "weft_peer"],
                           stdout=log, stderr=log)
        return None if r.returncode == 0 else "building weft_peer failed (see the log)"

    def command(self, workload, flags, workers):
        return [self.bin, workload] + flags + ["-workers", str(workers)], {}


class Go(Peer):
    name = "go"

    def build(self, workloads, log):
        if shutil.which("go") is None:
            return "go not found (Debian package golang-go)"
        env = dict(os.environ, GOCACHE=os.path.join(PEERS_BUILD, "gocache"),
                   GOPATH=os.path.join(PEERS_BUILD, "gopath"), GO111MODULE="off")
        os.makedirs(os.path.join(PEERS_BUILD, "go"), exist_ok=True)
        for w in workloads:
            prog = _LEGACY_NAME.get(w, w)
            r = subprocess.run(["go", "build", "-o", os.path.join(PEERS_BUILD, "go", prog),
                                "./" + prog], cwd=os.path.join(REPO, "bench", "peers", "go"),
                               env=env, stdout=log, stderr=log)
            if r.returncode != 0:
                return "go build of %s failed (see the log)" % prog
        return None

    def command(self, workload, flags, workers):
        prog = _LEGACY_NAME.get(workload, workload)
        # The runtime's defaults otherwise: GC on, no GOFLAGS.
        return [os.path.join(PEERS_BUILD, "go", prog)] + flags, {"GOMAXPROCS": str(workers)}


class Tokio(Peer):
    name = "tokio"

    def build(self, workloads, log):
        if shutil.which("cargo") is None:
            return "cargo not found (Debian packages cargo and librust-tokio-dev)"
        if not os.path.isdir("/usr/share/cargo/registry") or not any(
                d.startswith("tokio-") for d in os.listdir("/usr/share/cargo/registry")):
            return "Tokio sources not found in /usr/share/cargo/registry (librust-tokio-dev)"
        r = subprocess.run(["cargo", "build", "--release", "--offline", "--target-dir",
                            os.path.join(PEERS_BUILD, "tokio")],
                           cwd=os.path.join(REPO, "bench", "peers", "tokio"), stdout=log, stderr=log)
        return None if r.returncode == 0 else "cargo build of bench/peers/tokio failed (see the log)"

    def command(self, workload, flags, workers):
        return [os.path.join(PEERS_BUILD, "tokio", "release", "weft-peer-tokio"), workload] + flags \
            + ["-workers", str(workers)], {}


class BoostFiber(Peer):
    name = "boost_fiber"

    def build(self, workloads, log):
        probe = subprocess.run(["g++", "-std=c++20", "-fsyntax-only", "-x", "c++", "-"],
                               input="#include <boost/fiber/all.hpp>\n", text=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if probe.returncode != 0:
            return "Boost.Fiber headers not found (Debian package libboost-fiber-dev)"
        out = os.path.join(PEERS_BUILD, "boost_fiber")
        os.makedirs(out, exist_ok=True)
        for w in workloads:
            prog = _LEGACY_NAME.get(w, w)
            src = os.path.join(REPO, "bench", "peers", "boost_fiber", prog + ".cc")
            binary = os.path.join(out, "peer_boost_fiber_" + prog)
            if os.path.exists(binary) and os.path.getmtime(binary) >= max(
                    os.path.getmtime(src), os.path.getmtime(os.path.join(
                        os.path.dirname(src), "peer_common.h"))):
                continue
            r = subprocess.run(["g++", "-std=c++20", "-O2", "-o", binary, src, "-lboost_fiber",
                                "-lboost_context", "-pthread"], stdout=log, stderr=log)
            if r.returncode != 0:
                return "building %s failed (see the log)" % prog
        return None

    def command(self, workload, flags, workers):
        prog = _LEGACY_NAME.get(workload, workload)
        return [os.path.join(PEERS_BUILD, "boost_fiber", "peer_boost_fiber_" + prog)] + flags \
            + ["-threads", str(workers)], {}


def all_peers(weft_build):
    return [Weft(weft_build), Go(), Tokio(), BoostFiber()]


def parse_results(text):
    """{bench: (value, unit)} from a peer's result lines."""
    out = {}
    for line in text.splitlines():
        if not line.startswith("peer="):
            continue
        f = dict(kv.split("=", 1) for kv in line.split() if "=" in kv)
        try:
            out[f["bench"]] = (float(f["value"]), f.get("unit", ""))
        except (KeyError, ValueError):
            continue
    return out
