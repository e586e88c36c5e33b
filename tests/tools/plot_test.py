"""tools_plot: PNG charts from a comparison JSON (bars per workload, time
against workers) and from a Google Benchmark JSON.

usage: plot_test.py TOOLS_DIR
Exit 77 (skip) when matplotlib is not installed.
"""

import json
import os
import subprocess
import sys
import tempfile

tools = sys.argv[1]
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL: " + what)


try:
    import matplotlib  # noqa: F401
except ImportError:
    print("SKIP: matplotlib is not installed (python3-matplotlib)")
    sys.exit(77)


def row(workload, peer, workers, wall):
    return {"workload": workload, "peer": peer, "workers": workers, "runs": 3,
            "wall_s": [wall, wall * 1.1, wall * 0.9], "cpu_s": [2 * wall] * 3,
            "user_s": [wall] * 3, "sys_s": [wall] * 3, "peak_rss_mib": [10.0] * 3,
            "wall_s_median": wall, "cpu_s_median": 2 * wall, "peak_rss_mib_median": 10.0,
            "own": {}}


compare = {
    "machine": {"cpus": 2, "date": "2026-01-01T00:00:00+00:00"},
    "config": {"workers": [1, 2], "reps": 3},
    "summary": [row("skynet", p, w, t * w ** -0.5) for p, t in (("weft", 0.1), ("go", 0.5))
                for w in (1, 2)] + [row("yield", "weft", None, 0.2), row("yield", "go", None, 0.3)],
    "runs": [],
}
bench = {
    "context": {"num_cpus": 2},
    "benchmarks": [
        {"name": "BM_Skynet/%d/real_time" % w, "run_name": "BM_Skynet/%d/real_time" % w,
         "run_type": "iteration", "real_time": 60.0 / w, "time_unit": "ms"} for w in (1, 2)
    ] + [{"name": "BM_Yield", "run_name": "BM_Yield", "run_type": "iteration",
          "real_time": 12.0, "time_unit": "ns"}],
}

with tempfile.TemporaryDirectory() as tmp:
    cj, bj = os.path.join(tmp, "cmp.json"), os.path.join(tmp, "gbench.json")
    with open(cj, "w") as f:
        json.dump(compare, f)
    with open(bj, "w") as f:
        json.dump(bench, f)
    out = os.path.join(tmp, "png")
    r = subprocess.run([os.path.join(tools, "plot"), "--out", out, cj, bj],
                       capture_output=True, text=True)
    print(r.stdout + r.stderr)
    check(r.returncode == 0, "plot exits 0 (got %d)" % r.returncode)
    want = ["cmp-skynet.png", "cmp-yield.png", "cmp-skynet-scaling.png", "gbench-BM_Skynet.png",
            "gbench-BM_Skynet-scaling.png", "gbench-BM_Yield.png"]
    for name in want:
        path = os.path.join(out, name)
        ok = os.path.exists(path)
        check(ok, "%s written" % name)
        if ok:
            with open(path, "rb") as f:
                check(f.read(8) == b"\x89PNG\r\n\x1a\n", "%s is a PNG" % name)
            check(path in r.stdout, "%s's path is printed" % name)
    r = subprocess.run([os.path.join(tools, "plot"), "--out", out, os.path.join(tmp, "none.json")],
                       capture_output=True, text=True)
    check(r.returncode == 1 and "cannot read" in r.stderr, "a missing file is an error")

if failures:
    print("%d check(s) failed" % len(failures))
    sys.exit(1)
print("tools_plot: ok")
