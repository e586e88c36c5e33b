"""Maps a weft build artefact to its twin in the `profile` preset (frame
pointers kept, so perf can walk fiber stacks) and builds it if needed."""

import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROFILE_DIR = os.path.join(REPO, "build", "profile")


def profile_twin(path):
    """If `path` is an executable under REPO/build/<preset>/, returns
    (target name, the same file under build/profile); else None."""
    real = os.path.realpath(path)
    build = os.path.join(REPO, "build") + os.sep
    if not real.startswith(build):
        return None
    rel = real[len(build):].split(os.sep)
    if len(rel) < 2 or rel[0] == "peers":
        return None
    return rel[-1], os.path.join(PROFILE_DIR, *rel[1:])


def ensure_built(target, log=sys.stderr):
    """Configures build/profile (once) and builds `target` there."""
    if not os.path.exists(os.path.join(PROFILE_DIR, "CMakeCache.txt")):
        print("perf-record: configuring the profile preset (build/profile)", file=log)
        cmd = ["cmake", "--preset", "profile"]
        if _has("ccache"):
            cmd.append("-DCMAKE_CXX_COMPILER_LAUNCHER=ccache")
        subprocess.run(cmd, cwd=REPO, check=True, stdout=log.fileno() if hasattr(log, "fileno") else None)
    print("perf-record: building %s in build/profile" % target, file=log)
    subprocess.run(["cmake", "--build", PROFILE_DIR, "-j2", "--target", target], cwd=REPO,
                   check=True, stdout=subprocess.DEVNULL)


def _has(tool):
    from shutil import which
    return which(tool) is not None
