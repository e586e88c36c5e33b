"""Runs one process and measures it from outside: wall time, user and system
CPU and peak resident memory from wait4(2)'s rusage, which covers the whole
process (every thread) and nothing else.

The process is started by measure_exec.c, a small helper that forks, execs
and calls wait4 itself: ru_maxrss survives exec, so a child forked straight
from Python would start from Python's own ~14 MB (see the helper). The
helper is compiled on first use into build/compare/."""

import os
import shutil
import signal
import subprocess
import tempfile
import threading

_HERE = os.path.dirname(os.path.abspath(__file__))
_SRC = os.path.join(_HERE, "measure_exec.c")
_REPO = os.path.dirname(os.path.dirname(_HERE))


def helper():
    """Path of the compiled helper, built (statically if the C library
    allows) when missing or older than its source."""
    out_dir = os.path.join(_REPO, "build", "compare")
    path = os.path.join(out_dir, "measure_exec")
    if os.path.exists(path) and os.path.getmtime(path) >= os.path.getmtime(_SRC):
        return path
    os.makedirs(out_dir, exist_ok=True)
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        raise RuntimeError("no C compiler (cc) to build measure_exec")
    for static in (["-static"], []):
        r = subprocess.run([cc, "-O2"] + static + ["-o", path + ".tmp", _SRC],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if r.returncode == 0:
            os.replace(path + ".tmp", path)
            return path
    raise RuntimeError("building measure_exec failed: " + r.stderr)


def run(argv, env=None, timeout_s=600):
    """Returns a dict: wall_s, user_s, sys_s, cpu_s, peak_rss_kib, status,
    timed_out, stdout, stderr (the last 2000 characters)."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    with tempfile.NamedTemporaryFile("r", suffix=".rusage") as res:
        p = subprocess.Popen([helper(), res.name] + list(argv), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=full_env, text=True, errors="replace",
                             start_new_session=True)
        timed_out = []

        def kill():
            timed_out.append(True)
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

        timer = threading.Timer(timeout_s, kill)
        timer.start()
        # Drain both pipes before reaping, or a chatty child blocks on a full pipe.
        err_chunks = []
        t = threading.Thread(target=lambda: err_chunks.append(p.stderr.read()))
        t.start()
        out = p.stdout.read()
        t.join()
        _, status, _ = os.wait4(p.pid, 0)
        timer.cancel()
        p.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        fields = res.read().split()
    if len(fields) != 5:  # killed before the helper could write
        return {"wall_s": float(timeout_s), "user_s": 0.0, "sys_s": 0.0, "cpu_s": 0.0,
                "peak_rss_kib": 0, "status": p.returncode or -9, "timed_out": bool(timed_out),
                "stdout": out, "stderr": "".join(err_chunks)[-2000:]}
    code, wall_ns, user_us, sys_us, maxrss = (int(x) for x in fields)
    return {
        "wall_s": wall_ns / 1e9,
        "user_s": user_us / 1e6,
        "sys_s": sys_us / 1e6,
        "cpu_s": (user_us + sys_us) / 1e6,
        "peak_rss_kib": maxrss,  # Linux reports KiB
        "status": code,
        "timed_out": bool(timed_out),
        "stdout": out,
        "stderr": "".join(err_chunks)[-2000:],
    }
