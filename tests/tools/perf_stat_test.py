"""tools_perf_stat: tools/perf-stat on a small fiber program: a readable
summary, the JSON, and the command's exit status passed through.

usage: perf_stat_test.py TOOLS_DIR BINARY
Exit 77 (skip) when perf is missing or not permitted.
"""

import json
import os
import subprocess
import sys
import tempfile

tools, binary = sys.argv[1], sys.argv[2]
tool = os.path.join(tools, "perf-stat")
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL: " + what)


with tempfile.TemporaryDirectory() as tmp:
    js = os.path.join(tmp, "stat.json")
    r = subprocess.run([tool, "--json", js, "--", binary], capture_output=True, text=True)
    print(r.stdout + r.stderr)
    if r.returncode == 3:
        print("SKIP: perf is not usable here (see above)")
        sys.exit(77)
    check(r.returncode == 0, "perf-stat exits with the command's status 0 (got %d)" % r.returncode)
    for label in ("wall time", "CPU (task-clock)", "context switches", "CPU migrations",
                  "page faults"):
        check(label in r.stdout, "the summary has %r" % label)
    check("perf_fiber_spin:" in r.stdout, "the command's own output is left alone")
    with open(js) as f:
        data = json.load(f)
    c = data["counts"]
    check(c.get("task-clock", 0) > 1, "some CPU time was counted: %r" % c.get("task-clock"))
    check(c.get("page-faults", 0) > 0, "page faults were counted")
    check(all(k in c for k in ("cycles", "instructions", "cache-misses")),
          "hardware counters are reported, as a value or as absent (null)")

r = subprocess.run([tool, "--", "sh", "-c", "exit 7"], capture_output=True, text=True)
check(r.returncode == 7, "the command's exit status is passed through (got %d)" % r.returncode)
r = subprocess.run([tool], capture_output=True, text=True)
check(r.returncode == 2, "no command: usage, exit 2")

# Without perf on PATH, both perf scripts say what to install, exit 3.
with tempfile.TemporaryDirectory() as tmp:
    os.symlink(sys.executable, os.path.join(tmp, "python3"))
    for script in ("perf-stat", "perf-record"):
        r = subprocess.run([os.path.join(tools, script), "--", "/bin/true"], capture_output=True,
                           text=True, env=dict(os.environ, PATH=tmp))
        check(r.returncode == 3 and "not installed" in r.stderr and "linux-perf" in r.stderr
              and "perf_event_paranoid" in r.stderr,
              "%s without perf: exit 3 and how to fix it (got %d: %s)"
              % (script, r.returncode, r.stderr.strip()))

if failures:
    print("%d check(s) failed" % len(failures))
    sys.exit(1)
print("tools_perf_stat: ok")
