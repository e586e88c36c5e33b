"""tools_flamegraph: the folded-stack collapser and the SVG flame graph, on
made-up `perf script` output (no perf needed).

usage: flamegraph_test.py TOOLS_DIR
"""

import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

sys.path.insert(0, sys.argv[1])
from weftperf import collapse, flamegraph  # noqa: E402

# Two fiber samples (one whose frame-pointer chain ran on past the fiber
# entry into garbage, as it did before weft_fiber_entry ended the chain), a
# worker-thread sample, and a C++ symbol with parentheses and spaces.
PERF_SCRIPT = """\
skynet 1234/1240 [001] 100.000001:    1001001 cpu-clock:
\t    55d0c1a0 (anonymous namespace)::skynet+0x1a (/b/skynet)
\t    55d0c1b0 weft::internal::Task<long, long (*)(long, long), long, long>::invoke+0x2 (/b/skynet)
\t    55d0c1c0 weft::internal::fiber_main+0x10 (/b/skynet)
\t    55d0c1d0 weft_fiber_entry+0x7 (/b/skynet)

skynet 1234/1241 [000] 100.000002:    1001001 cpu-clock:
\t    55d0c1a0 (anonymous namespace)::skynet+0x1a (/b/skynet)
\t    55d0c1d0 weft_fiber_entry+0x7 (/b/skynet)
\t    7f0000001 [unknown] ([unknown])
\t    deadbeef weft::internal::Worker::run+0x5 (/b/skynet)

skynet 1234/1241 [000] 100.000003:    1001001 cpu-clock:
\t    55d0c1e0 weft::internal::Worker::steal+0x3 (/b/skynet)
\t    55d0c1f0 weft::internal::Worker::run+0x5 (/b/skynet)
\t    7f0000002 start_thread+0x90 (/usr/lib/x86_64-linux-gnu/libc.so.6)
\t    7f0000003 [unknown] (/usr/lib/x86_64-linux-gnu/libc.so.6)

"""

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL: " + what)


counts = collapse.collapse(io.StringIO(PERF_SCRIPT).readlines())
fiber_stack = ("skynet;weft_fiber_entry;weft::internal::fiber_main;"
               "weft::internal::Task<long, long (*)(long, long), long, long>::invoke;"
               "(anonymous namespace)::skynet")
check(counts.get(fiber_stack) == 1001001, "the fiber stack folds, C++ names whole: %r" % counts)
check(counts.get("skynet;weft_fiber_entry;(anonymous namespace)::skynet") == 1001001,
      "a chain past the fiber entry is cut there")
check(counts.get("skynet;[libc.so.6];start_thread;weft::internal::Worker::run;"
                 "weft::internal::Worker::steal") == 1001001,
      "a worker stack keeps its thread frames, unknown frames named by module")
for key in counts:
    frames = key.split(";")
    if collapse.FIBER_ROOT in frames:
        check(frames.index(collapse.FIBER_ROOT) == 1 and frames.count(collapse.FIBER_ROOT) == 1,
              "one fiber root, right under the process: " + key)

buf = io.StringIO()
flamegraph.render(counts, title="test <graph>", unit="ns", out=buf)
svg = buf.getvalue()
try:
    root = ET.fromstring(svg)
except ET.ParseError as e:
    root = None
    check(False, "the SVG is well-formed XML: %s" % e)
if root is not None:
    ns = "{http://www.w3.org/2000/svg}"
    check(root.tag == ns + "svg", "the root element is <svg>")
    scripts = root.findall(ns + "script")
    check(len(scripts) == 1 and "addEventListener" in (scripts[0].text or ""),
          "one inline script with the handlers")
    names = [g.get("data-name") for g in root.iter(ns + "g")]
    check("weft_fiber_entry" in names and "(anonymous namespace)::skynet" in names,
          "frames are drawn with their names")
    titles = [t.text for t in root.iter(ns + "title")]
    check(any(t and t.startswith("weft_fiber_entry (2,002,002 ns, 66.67%)") for t in titles),
          "hover title gives the frame, its count and share: %r" % titles[:3])
    for ident in ("unzoom", "search", "details", "matched"):
        check(any(e.get("id") == ident for e in root.iter()), "element #%s exists" % ident)
# Self-contained: nothing fetched from elsewhere.
check(not re.search(r"\b(href|src)\s*=|@import|url\(", svg), "no external references")
check(re.findall(r"https?://[^\"' ]+", svg) == ["http://www.w3.org/2000/svg"],
      "no URL but the SVG namespace")

# The script at least parses, where node is at hand.
node = shutil.which("node")
if node:
    js = re.search(r"<!\[CDATA\[(.*)\]\]>", svg, re.S).group(1)
    with tempfile.NamedTemporaryFile("w", suffix=".js") as f:
        f.write(js)
        f.flush()
        r = subprocess.run([node, "--check", f.name], capture_output=True, text=True)
        check(r.returncode == 0, "the inline script parses: " + r.stderr)

# And it behaves: hover, zoom and search, on a minimal stand-in for the
# browser's DOM (only what the script touches).
FAKE_DOM = r"""
const frameData = JSON.parse(process.argv[2]);
function el(attrs) {
  const e = {attrs: Object.assign({}, attrs), style: {}, textContent: "", listeners: {},
    classes: new Set(), dataset: {},
    setAttribute(k, v) { this.attrs[k] = String(v); }, getAttribute(k) { return this.attrs[k]; },
    addEventListener(t, f) { this.listeners[t] = f; }, fire(t) { this.listeners[t](); }};
  e.classList = {add: c => e.classes.add(c), remove: c => e.classes.delete(c)};
  return e;
}
const byId = {};
for (const id of ["unzoom", "search", "details", "matched"]) byId[id] = el({});
const gs = frameData.map(f => {
  const g = el({}), title = el({}), rect = el(f.rect), text = el({});
  g.dataset = f.data; g.firstElementChild = title;
  title.nextElementSibling = rect; rect.nextElementSibling = text;
  return g;
});
const winListeners = {};
global.window = {addEventListener: (t, f) => { winListeners[t] = f; }};
global.document = {documentElement: {}, getElementById: id => byId[id],
                   querySelectorAll: () => gs};
let answer = "";
global.prompt = () => answer;
global.alert = m => { throw new Error("alert: " + m); };
eval(process.argv[3]);
winListeners.load();
const find = n => gs.find(g => g.dataset.name === n);
const out = {};
const entry = find("weft_fiber_entry");
entry.fire("mouseover");
out.hover = byId.details.textContent;
entry.fire("click");
const w = g => +g.firstElementChild.nextElementSibling.attrs.width;
out.zoomEntryWidth = w(entry);
out.zoomAncestorDim = find("skynet").classes.has("dim");
out.zoomAncestorWidth = w(find("skynet"));
out.zoomOtherHidden = find("weft::internal::Worker::steal").style.display === "none";
byId.unzoom.fire("click");
out.unzoomEntryWidth = w(entry);
out.unzoomOtherShown = find("weft::internal::Worker::steal").style.display === "";
answer = "::skynet$";
byId.search.fire("click");
out.matched = byId.matched.textContent;
out.highlighted = gs.filter(g => g.firstElementChild.nextElementSibling.attrs.fill ===
                                 "rgb(230,0,230)").map(g => g.dataset.name);
console.log(JSON.stringify(out));
"""
if node and root is not None:
    frames_json = []
    for g in root.iter(ns + "g"):
        rect = g.find(ns + "rect")
        frames_json.append({"data": {k[5:]: v for k, v in g.attrib.items() if k.startswith("data-")},
                            "rect": dict(rect.attrib)})
    js = re.search(r"<!\[CDATA\[(.*)\]\]>", svg, re.S).group(1)
    with tempfile.NamedTemporaryFile("w", suffix=".js") as f:
        f.write(FAKE_DOM)
        f.flush()
        r = subprocess.run([node, f.name, json.dumps(frames_json), js], capture_output=True,
                           text=True)
    check(r.returncode == 0, "the script runs on a stand-in DOM: " + r.stderr)
    if r.returncode == 0:
        got = json.loads(r.stdout)
        span = flamegraph.WIDTH - 2 * flamegraph.PAD
        check(got["hover"] == "weft_fiber_entry (2,002,002 ns, 66.67%)",
              "hover shows the frame and its share: %r" % got["hover"])
        check(abs(got["zoomEntryWidth"] - span) < 0.01, "a clicked frame fills the width")
        check(got["zoomAncestorDim"] and abs(got["zoomAncestorWidth"] - span) < 0.01,
              "its ancestors stay, dimmed, full width")
        check(got["zoomOtherHidden"], "frames outside it are hidden")
        check(abs(got["unzoomEntryWidth"] - span * 2 / 3) < 0.01 and got["unzoomOtherShown"],
              "Reset zoom restores the graph")
        check(got["matched"] == "Matched: 66.67%", "search reports the matched share: %r"
              % got["matched"])
        check(sorted(got["highlighted"]) == ["(anonymous namespace)::skynet"] * 2,
              "search highlights exactly the matching frames: %r" % got["highlighted"])
else:
    print("note: node not found, the script's behaviour is not exercised")

if failures:
    print("%d check(s) failed" % len(failures))
    sys.exit(1)
print("tools_flamegraph: ok")
