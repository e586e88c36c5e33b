"""Folds `perf script` output into one line per distinct stack.

Each output line is `frame;frame;...;frame COUNT`, outermost frame first,
the process name as the root. A stack that ends at weft's fiber entry
(core/internal/context.cc: `weft_fiber_entry` terminates the frame-pointer
chain of every fiber stack) is rooted there: `comm;weft_fiber_entry;...`,
one `fiber` root per fiber whatever worker ran it. The collapser never makes
up a frame; it only drops perf's offsets and module paths.
"""

import re
import sys

FIBER_ROOT = "weft_fiber_entry"

# A sample header: "comm  tid  [cpu] time: period event:" (fields vary with
# the perf version and options; what matters is that it does not start with
# whitespace). Frame lines start with whitespace: "\t  addr sym+off (dso)".
# The module is the last parenthesised group: C++ symbols have parentheses
# and spaces of their own ("Task<long (*)(long), long>::run").
_FRAME = re.compile(r"^\s+([0-9a-fA-F]+)\s+(.*?)(?:\s+\(([^()]*)\))?$")
_OFFSET = re.compile(r"\+0x[0-9a-fA-F]+$")
_PERIOD = re.compile(r"\s(\d+)\s+[\w:.-]+:\s*$")


def _frame_name(sym, dso):
    sym = _OFFSET.sub("", sym.strip())
    if sym in ("", "[unknown]"):
        # Name the module at least, so unknown frames of different
        # libraries do not merge into one.
        base = dso.rsplit("/", 1)[-1].strip("[]") if dso else ""
        return "[%s]" % base if base and base != "unknown" else "[unknown]"
    return sym.replace(";", ":")


def _fold(comm, frames):
    """frames: innermost first. Returns the folded key, outermost first."""
    stack = list(reversed(frames))
    if FIBER_ROOT in stack:
        # Everything outside the fiber entry (normally nothing, since the
        # chain ends there) is not this fiber's: cut it.
        stack = stack[stack.index(FIBER_ROOT):]
    return ";".join([comm.replace(";", ":")] + stack)


def collapse(lines):
    """Returns {folded stack: weight} from an iterable of perf script lines.
    The weight is the sample's period when perf prints one (cpu-clock:
    nanoseconds), otherwise 1 per sample."""
    counts = {}
    comm = None
    weight = 1
    frames = []

    def flush():
        if comm is not None:
            key = _fold(comm, frames if frames else ["[no stack]"])
            counts[key] = counts.get(key, 0) + weight

    for raw in lines:
        line = raw.rstrip("\n")
        if not line.strip():
            flush()
            comm, frames, weight = None, [], 1
            continue
        if line[0] in " \t":
            if comm is None:
                continue
            m = _FRAME.match(line)
            if m:
                frames.append(_frame_name(m.group(2), m.group(3)))
            continue
        if line.startswith("#"):
            continue
        flush()
        frames = []
        # The command name may contain spaces; perf pads it, then the tid.
        m = re.match(r"^(.*?)\s+(\d+)(?:/\d+)?\s", line)
        comm = m.group(1).strip() if m else line.split()[0]
        p = _PERIOD.search(line)
        weight = int(p.group(1)) if p else 1
    flush()
    return counts


def write_folded(counts, out):
    for key in sorted(counts):
        out.write("%s %d\n" % (key, counts[key]))


def read_folded(lines):
    counts = {}
    for line in lines:
        line = line.rstrip("\n")
        if not line:
            continue
        key, _, n = line.rpartition(" ")
        counts[key] = counts.get(key, 0) + int(n)
    return counts


def main(argv):
    """collapse.py [PERF_SCRIPT_OUTPUT] > folded"""
    src = open(argv[1]) if len(argv) > 1 else sys.stdin
    write_folded(collapse(src), sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
