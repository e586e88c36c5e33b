"""Draws folded stacks (collapse.py's output) as an interactive flame graph:
one self-contained SVG file, inline script and style, nothing fetched, so it
opens offline in any browser.

In the browser: hover a frame to read its name, samples and share of the
total (bottom line, and the native tooltip); click a frame to zoom into it
(its ancestors stay, dimmed, below); "Reset zoom" or Escape undoes it;
"Search" (or Ctrl-F, or "/") highlights every frame matching a regular
expression and shows the share of samples under a match.
"""

import hashlib
import sys
from xml.sax.saxutils import escape

WIDTH = 1200          # px, the whole graph
ROW = 16              # px per stack level
TOP = 54              # px above the frames: title, buttons
BOTTOM = 28           # px below: the details line
PAD = 10              # px left and right
MIN_PX = 0.3          # frames narrower than this are not drawn (still counted)


class _Node:
    __slots__ = ("name", "value", "children")

    def __init__(self, name):
        self.name = name
        self.value = 0
        self.children = {}


def _tree(counts):
    root = _Node("all")
    for stack, n in counts.items():
        root.value += n
        node = root
        for frame in stack.split(";"):
            child = node.children.get(frame)
            if child is None:
                child = node.children[frame] = _Node(frame)
            child.value += n
            node = child
    return root


def _depth(node):
    return 1 + max((_depth(c) for c in node.children.values()), default=0)


def _label(name, px):
    """The frame's text, cut to fit `px` (the script redoes it on zoom; this
    is for viewers without scripts, such as an <img> in a README)."""
    fit = int((px - 6) // 7)
    if fit < 3:
        return ""
    return name if len(name) <= fit else name[:fit - 2] + ".."


def _colour(name):
    """A stable warm colour per name; weft's own frames in blue-green, so the
    runtime stands apart from the program and the kernel."""
    h = hashlib.md5(name.encode()).digest()
    if name.startswith("weft") or "weft::" in name:
        return "rgb(%d,%d,%d)" % (60 + h[0] % 60, 160 + h[1] % 60, 170 + h[2] % 60)
    if name.startswith("["):
        return "rgb(%d,%d,%d)" % (180 + h[0] % 40, 180 + h[0] % 40, 170 + h[1] % 40)
    return "rgb(%d,%d,%d)" % (205 + h[0] % 50, 80 + h[1] % 130, 40 + h[2] % 50)


_SCRIPT = r"""
var W = %(width)d, PAD = %(pad)d, TOTAL = %(total)d, UNIT = "%(unit)s";
var svg = document.documentElement, frames = [], zoomed = null;
var details = document.getElementById("details");
var matchedText = document.getElementById("matched");
function fmt(n) { return n.toString().replace(/\B(?=(\d{3})+(?!\d))/g, ","); }
function pct(n) { return (100 * n / TOTAL).toFixed(2) + "%%"; }
function describe(g) {
  return g.dataset.name + " (" + fmt(+g.dataset.n) + " " + UNIT + ", " + pct(+g.dataset.n) + ")";
}
function place(g, x, w) {
  var r = g.firstElementChild.nextElementSibling, t = r.nextElementSibling;
  r.setAttribute("x", x); r.setAttribute("width", Math.max(w, 0));
  t.setAttribute("x", x + 3);
  var fit = Math.floor((w - 6) / 7), name = g.dataset.name;
  t.textContent = fit < 3 ? "" : (name.length <= fit ? name : name.slice(0, fit - 2) + "..");
}
function layout() {
  var x0 = 0, w0 = 1, d0 = -1;
  if (zoomed) { x0 = +zoomed.dataset.x; w0 = +zoomed.dataset.w; d0 = +zoomed.dataset.d; }
  var span = W - 2 * PAD;
  frames.forEach(function (g) {
    var x = +g.dataset.x, w = +g.dataset.w, d = +g.dataset.d;
    var inside = x >= x0 - 1e-12 && x + w <= x0 + w0 + 1e-12;
    var ancestor = d < d0 && x <= x0 + 1e-12 && x + w >= x0 + w0 - 1e-12;
    if (zoomed && ancestor) {
      g.style.display = ""; g.classList.add("dim"); place(g, PAD, span);
    } else if (!zoomed || (inside && d >= d0)) {
      var px = (w / w0) * span;
      g.style.display = px < %(min_px)s ? "none" : "";
      g.classList.remove("dim");
      place(g, PAD + ((x - x0) / w0) * span, px);
    } else {
      g.style.display = "none";
    }
  });
  document.getElementById("unzoom").style.opacity = zoomed ? 1 : 0.3;
}
function search(re) {
  var hits = [];
  frames.forEach(function (g) {
    var r = g.firstElementChild.nextElementSibling;
    var hit = re !== null && re.test(g.dataset.name);
    r.setAttribute("fill", hit ? "rgb(230,0,230)" : g.dataset.fill);
    if (hit) hits.push([+g.dataset.x, +g.dataset.w]);
  });
  // Nested matches must not count twice: merge the intervals.
  hits.sort(function (a, b) { return a[0] - b[0]; });
  var sum = 0, end = -1;
  hits.forEach(function (h) {
    var s = Math.max(h[0], end), e = h[0] + h[1];
    if (e > s) sum += e - s;
    end = Math.max(end, e);
  });
  matchedText.textContent = re === null ? "" : "Matched: " + (100 * sum).toFixed(2) + "%%";
}
function askSearch() {
  var term = prompt("Search frames (regular expression); empty to clear", "");
  if (term === null) return;
  if (term === "") { search(null); return; }
  try { search(new RegExp(term)); } catch (e) { alert("Bad regular expression: " + e.message); }
}
window.addEventListener("load", function () {
  frames = Array.prototype.slice.call(document.querySelectorAll("g.f"));
  frames.forEach(function (g) {
    g.dataset.fill = g.firstElementChild.nextElementSibling.getAttribute("fill");
    g.addEventListener("mouseover", function () { details.textContent = describe(g); });
    g.addEventListener("mouseout", function () { details.textContent = " "; });
    g.addEventListener("click", function () { zoomed = (+g.dataset.d === 0) ? null : g; layout(); });
  });
  document.getElementById("unzoom").addEventListener("click", function () { zoomed = null; layout(); });
  document.getElementById("search").addEventListener("click", askSearch);
  layout();
});
window.addEventListener("keydown", function (e) {
  if ((e.ctrlKey && e.key === "f") || e.key === "/") { e.preventDefault(); askSearch(); }
  else if (e.key === "Escape") { zoomed = null; layout(); search(null); }
});
"""


def render(counts, title="Flame graph", unit="samples", out=sys.stdout):
    """Writes the SVG for `counts` ({folded stack: weight}) to `out`."""
    root = _tree(counts)
    total = max(root.value, 1)
    depth = _depth(root)
    height = TOP + depth * ROW + BOTTOM
    w = out.write
    w('<?xml version="1.0" standalone="no"?>\n')
    w('<svg version="1.1" xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
      'viewBox="0 0 %d %d">\n' % (WIDTH, height, WIDTH, height))
    w("<style>\n"
      "text { font-family: monospace; font-size: 12px; fill: #000; }\n"
      "g.f text { pointer-events: none; }\n"
      "g.f:hover rect { stroke: #000; stroke-width: 0.5; cursor: pointer; }\n"
      "g.dim rect { opacity: 0.5; }\n"
      ".button { cursor: pointer; fill: #333; text-decoration: underline; }\n"
      "</style>\n")
    w('<rect x="0" y="0" width="%d" height="%d" fill="#f8f8f0"/>\n' % (WIDTH, height))
    w('<text x="%d" y="20" text-anchor="middle" style="font-size:16px">%s</text>\n'
      % (WIDTH // 2, escape(title)))
    w('<text x="%d" y="40">%s %s in all</text>\n' % (PAD, "{:,}".format(root.value), escape(unit)))
    w('<text id="unzoom" class="button" x="%d" y="40" text-anchor="middle">Reset zoom</text>\n'
      % (WIDTH // 2))
    w('<text id="search" class="button" x="%d" y="40" text-anchor="end">Search</text>\n'
      % (WIDTH - PAD))
    w('<text id="matched" x="%d" y="%d" text-anchor="end"> </text>\n'
      % (WIDTH - PAD, height - 10))
    w('<text id="details" x="%d" y="%d"> </text>\n' % (PAD, height - 10))

    span = WIDTH - 2 * PAD
    # Iterative walk (deep fiber recursions overflow Python's stack).
    todo = [(root, 0.0, 0)]
    while todo:
        node, x, d = todo.pop()
        frac = node.value / total
        if frac * span < MIN_PX:
            continue
        y = TOP + (depth - 1 - d) * ROW
        name = escape(node.name, {'"': "&quot;"})
        w('<g class="f" data-name="%s" data-n="%d" data-x="%.9f" data-w="%.9f" data-d="%d">'
          '<title>%s (%s %s, %.2f%%)</title>'
          '<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="%s" rx="2"/>'
          '<text x="%.1f" y="%d">%s</text></g>\n'
          % (name, node.value, x, frac, d, name, "{:,}".format(node.value), escape(unit),
             100 * frac, PAD + x * span, y, frac * span, ROW - 1, _colour(node.name),
             PAD + x * span + 3, y + ROW - 4, escape(_label(node.name, frac * span))))
        cx = x
        for child in sorted(node.children.values(), key=lambda c: c.name):
            todo.append((child, cx, d + 1))
            cx += child.value / total
    w("<script><![CDATA[%s]]></script>\n" % (_SCRIPT % {
        "width": WIDTH, "pad": PAD, "total": root.value, "unit": unit, "min_px": MIN_PX}))
    w("</svg>\n")


def main(argv):
    """flamegraph.py [FOLDED] [TITLE] > out.svg"""
    from weftperf.collapse import read_folded
    src = open(argv[1]) if len(argv) > 1 and argv[1] != "-" else sys.stdin
    render(read_folded(src), title=argv[2] if len(argv) > 2 else "Flame graph")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
