"""tools_perf_trace: tools/perf-trace on a small fiber program: the probes
are in its ELF notes (readelf -n), and recording them counts each kind of
event the program makes, with a scheduling-latency histogram.

usage: perf_trace_test.py TOOLS_DIR BINARY
BINARY is a release build artefact: perf-trace swaps it for its profile
twin (probes compiled in), building it the first time. Exit 77 (skip) when
perf is missing or not permitted (after the checks that need no perf).
"""

import os
import subprocess
import sys

tools, binary = sys.argv[1], sys.argv[2]
tool = os.path.join(tools, "perf-trace")
failures = []
PROBES = ("spawn", "switch_in", "park", "wake", "steal", "worker_sleep", "worker_wake",
          "poller_wake", "timer_fire")


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL: " + what)


# The probes, listed from the profile twin's ELF notes.
r = subprocess.run([tool, "--list", "--", binary], capture_output=True, text=True)
print(r.stdout + r.stderr)
check(r.returncode == 0, "perf-trace --list exits 0 (got %d)" % r.returncode)
listed = r.stdout.split(":", 1)[1].split() if ":" in r.stdout else []
for p in PROBES:
    check(p in listed, "probe %s is listed" % p)

# The same, read by hand: readelf -n shows provider weft's notes.
sys.path.insert(0, tools)
from weftperf import profile_build  # noqa: E402

twin = profile_build.profile_twin(binary)
check(twin is not None, "%s is a weft build artefact" % binary)
if twin is not None:
    notes = subprocess.run(["readelf", "-n", twin[1]], capture_output=True, text=True).stdout
    check("stapsdt" in notes and "Provider: weft" in notes, "readelf -n shows weft's SDT notes")
    for p in PROBES:
        check("Name: %s\n" % p in notes, "readelf -n names probe %s" % p)

# A binary without probes: exit 4 and how to build it with them.
r = subprocess.run([tool, "--no-build", "--", "/bin/true"], capture_output=True, text=True)
check(r.returncode == 4 and "WEFT_USDT=ON" in r.stderr,
      "no probes: exit 4 and the fix (got %d: %s)" % (r.returncode, r.stderr.strip()))

r = subprocess.run([tool, "--", binary], capture_output=True, text=True)
print(r.stdout + r.stderr)
if r.returncode == 3:
    print("SKIP: perf is not usable here (see above)")
    sys.exit(1 if failures else 77)
check(r.returncode == 0, "perf-trace exits 0 (got %d)" % r.returncode)
counts = {}
for line in r.stdout.split("probe counts:", 1)[-1].splitlines():
    f = line.split()
    if len(f) == 2 and f[1].isdigit():
        counts[f[0]] = int(f[1])
# The program spawns, joins (park, wake) and yields (switch_in) on two workers.
for p in ("spawn", "switch_in", "park", "wake"):
    check(counts.get(p, 0) > 0, "probe %s fired (count %r)" % (p, counts.get(p)))
check("scheduling latency (wake -> switch-in)" in r.stdout and "p99" in r.stdout,
      "a scheduling-latency histogram is printed")

if failures:
    print("%d failure(s)" % len(failures))
    sys.exit(1)
print("OK")
