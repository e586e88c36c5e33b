"""tools_compare: tools/compare --quick gives a Markdown table and valid
JSON; a peer whose toolchain is missing becomes a skipped row, not a
failure.

usage: compare_test.py TOOLS_DIR WEFT_BUILD_DIR
Exit 77 (skip) when the build has no weft_peer (WEFT_BUILD_BENCHMARKS off).
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile

tools, build = sys.argv[1], sys.argv[2]
tool = os.path.join(tools, "compare")
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL: " + what)


if not os.path.exists(os.path.join(build, "bench", "weft_peer")):
    print("SKIP: %s has no bench/weft_peer (configure with WEFT_BUILD_BENCHMARKS=ON)" % build)
    sys.exit(77)


def shadow_path(tmp, hide):
    """A PATH where the commands in `hide` do not exist: one directory of
    links to everything else on the current PATH."""
    d = os.path.join(tmp, "bin")
    os.makedirs(d)
    for p in os.environ.get("PATH", "").split(os.pathsep):
        if not os.path.isdir(p):
            continue
        for name in os.listdir(p):
            dst = os.path.join(d, name)
            if name in hide or os.path.lexists(dst):
                continue
            os.symlink(os.path.join(p, name), dst)
    return d


with tempfile.TemporaryDirectory() as tmp:
    # Every peer that is installed here, on two tiny workloads.
    js = os.path.join(tmp, "all.json")
    r = subprocess.run([tool, "--quick", "--only", "skynet,sleepers", "--workers", "2",
                        "--build-dir", build, "--json", js], capture_output=True, text=True)
    print(r.stdout + r.stderr[-3000:])
    check(r.returncode == 0, "compare --quick exits 0 (got %d)" % r.returncode)
    check("| workload | workers | peer |" in r.stdout, "a Markdown table is printed")
    with open(js) as f:
        data = json.load(f)
    weft = [row for row in data["summary"] if row["peer"] == "weft"]
    check({row["workload"] for row in weft} == {"skynet", "sleepers"}, "weft has both rows")
    for row in weft:
        check(row["wall_s_ratio"] == 1.0, "weft's ratio to itself is 1")
        check(row["peak_rss_mib_median"] > 0 and row["cpu_s_median"] >= 0,
              "whole-process figures are there")
    check(any(row["workload"] == "sleepers" and "sleepers/spawn" in row["own"] for row in weft),
          "the sleepers' own spawn time is kept")
    for peer in ("go", "tokio", "boost_fiber"):
        rows = [row for row in data["summary"] if row["peer"] == peer]
        check(bool(rows) != (peer in data["skipped"]),
              "%s is either measured or skipped with a reason" % peer)
        if rows:
            check(all(row["wall_s_ratio"] is not None for row in rows), "%s has ratios" % peer)
    runs = [x for x in data["runs"] if x["workload"] == "skynet"]
    check(len({x["peer"] for x in runs}) == len(runs), "--quick: one repetition per peer")

    # Go and cargo missing: their rows are skipped, the run still succeeds.
    path = shadow_path(tmp, {"go", "cargo"})
    js2 = os.path.join(tmp, "missing.json")
    r = subprocess.run([tool, "--quick", "--only", "skynet", "--workers", "1", "--peers",
                        "weft,go,tokio", "--build-dir", build, "--json", js2],
                       capture_output=True, text=True, env=dict(os.environ, PATH=path))
    print(r.stdout + r.stderr[-2000:])
    check(r.returncode == 0, "missing toolchains are not failures (got %d)" % r.returncode)
    check("| go | skipped: go not found" in r.stdout, "Go's row says it was skipped and why")
    check("| tokio | skipped: cargo not found" in r.stdout, "Tokio's row too")
    with open(js2) as f:
        data = json.load(f)
    check(set(data["skipped"]) == {"go", "tokio"}, "the JSON lists the skipped peers")
    check([row["peer"] for row in data["summary"]] == ["weft"], "weft still measured")

    r = subprocess.run([tool, "--only", "nosuch"], capture_output=True, text=True)
    check(r.returncode == 2 and "unknown workload" in r.stderr, "a bad workload is a usage error")

if failures:
    print("%d check(s) failed" % len(failures))
    sys.exit(1)
print("tools_compare: ok")
