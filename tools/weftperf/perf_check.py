"""Is perf usable here, and which event samples CPU time?

perf needs the package `linux-perf` (Debian) and permission to open events:
root, CAP_PERFMON, or `kernel.perf_event_paranoid` low enough (<= 1 for
profiling other processes and kernel stacks, <= 2 for one's own user code).
Virtual machines often have no hardware counters: then `cycles` cannot be
opened and the software clock `cpu-clock` samples the same thing by time.
"""

import os
import shutil
import subprocess

FIX = ("install perf with `apt-get install linux-perf` (Debian; linux-tools-$(uname -r) on "
       "Ubuntu), and allow it with `sysctl kernel.perf_event_paranoid=1` (as root; or run as "
       "root)")


class PerfUnavailable(Exception):
    """perf cannot be used here; the message says why and how to fix it."""


def paranoid():
    try:
        with open("/proc/sys/kernel/perf_event_paranoid") as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def _try_stat(event):
    """True if perf can count `event` on a trivial command."""
    r = subprocess.run(["perf", "stat", "-x,", "-e", event, "--", "true"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        return False, r.stderr
    # -x, output: value,unit,event,... ; "<not supported>" or "<not counted>"
    # when the counter exists in name only.
    return ("<not supported>" not in r.stderr and "<not counted>" not in r.stderr), r.stderr


def check():
    """Raises PerfUnavailable unless perf can count a software event here."""
    if shutil.which("perf") is None:
        raise PerfUnavailable("perf is not installed: " + FIX)
    ok, err = _try_stat("task-clock")
    if not ok:
        level = paranoid()
        why = err.strip().splitlines()[-1] if err.strip() else "perf stat failed"
        raise PerfUnavailable(
            "perf is not permitted here (kernel.perf_event_paranoid=%s, uid %d): %s; %s"
            % (level, os.getuid(), why, FIX))


def sampling_event():
    """`cycles` where hardware counters exist, else `cpu-clock`."""
    ok, _ = _try_stat("cycles")
    return "cycles" if ok else "cpu-clock"


def hardware_counters():
    ok, _ = _try_stat("cycles")
    return ok
