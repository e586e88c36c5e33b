"""tools_perf_record: tools/perf-record on a fiber program, as a user runs it
(the program is swapped for its profile-preset twin, built if needed), and
the stacks it draws: the program's own function inside fibers, every fiber
stack rooted at weft_fiber_entry and never continuing below it.

usage: perf_record_test.py TOOLS_DIR PERF_FIBER_SPIN_BINARY
Exit 77 (skip) when perf is missing or not permitted.
"""

import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

tools, binary = sys.argv[1], sys.argv[2]
SPIN = "perf_fiber_spin_work"
ROOT = "weft_fiber_entry"
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL: " + what)


with tempfile.TemporaryDirectory() as out:
    # --no-build --call-graph dwarf: the binary of the build under test, as
    # built (a release build has no frame pointers; DWARF unwinding needs
    # none), instead of building the profile preset inside the test run.
    r = subprocess.run([os.path.join(tools, "perf-record"), "--no-build", "--call-graph", "dwarf",
                        "--out", out, "--", binary],
                       capture_output=True, text=True)
    print(r.stdout + r.stderr)
    if r.returncode == 3:
        print("SKIP: perf is not usable here (see above)")
        sys.exit(77)
    check(r.returncode == 0, "perf-record exits 0 (got %d)" % r.returncode)
    svg_path = os.path.join(out, "flame.svg")
    check("flame graph: " + svg_path in r.stdout, "the SVG's path is printed")
    if failures:
        sys.exit(1)

    with open(svg_path) as f:
        svg = f.read()
    ET.fromstring(svg)  # well-formed, or the test errors out
    check(ROOT in svg, "the flame graph has weft's fiber entry frame")
    check(SPIN in svg, "the flame graph has the program's own function")

    with open(os.path.join(out, "stacks.folded")) as f:
        folded = [line.rsplit(" ", 1) for line in f.read().splitlines()]
    spin_total = spin_rooted = 0
    for key, n in folded:
        frames = key.split(";")
        if ROOT in frames:
            check(frames.index(ROOT) == 1 and frames.count(ROOT) == 1,
                  "a fiber stack ends at the fiber root: " + key)
        if any(SPIN in fr for fr in frames):
            spin_total += int(n)
            if frames[1:2] == [ROOT]:
                spin_rooted += int(n)
    check(spin_total > 0, "samples in %s" % SPIN)
    # A sample taken in the few instructions of a prologue can lose one
    # frame, never the root: allow 2% of odd stacks, no more.
    check(spin_rooted >= 0.98 * spin_total,
          "%s's stacks unwind to %s: %d of %d" % (SPIN, ROOT, spin_rooted, spin_total))

    with open(os.path.join(out, "report.txt")) as f:
        report = f.read()
    check(SPIN in report, "perf report lists the program's function")

if failures:
    print("%d check(s) failed" % len(failures))
    sys.exit(1)
print("tools_perf_record: ok (%d of %d samples of %s rooted at %s)"
      % (spin_rooted, spin_total, SPIN, ROOT))
