"""tests/report_geometry.py BROWSER PAGE.html WIDTH - lays an HTML report out
in headless Chromium and checks its geometry as rendered (the browser's own
text boxes, not the writer's estimates):
  - in every <svg>: no two <text> boxes intersect (marker labels, tau,
    title, ticks, axis labels, legend lines); no marker label (class
    mlabel) or legend text (class legend) reaches into the plot area
    (rect.frame, which holds every curve); every text lies inside the
    <svg> box (nothing clipped, the legend included);
  - every table and figure ends inside a WIDTH px wide window.
A copy of the page with a small script added is measured; the page itself
stays static. Prints one summary line; exit 1 with the collisions found.
"""
import json
import os
import re
import subprocess
import sys
import tempfile

SCRIPT = r"""<script>
(function () {
  function box(e) { var r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; }
  var out = {svgs: [], blocks: []};
  document.querySelectorAll('svg').forEach(function (s) {
    var o = {svg: box(s), frame: null, texts: []};
    var f = s.querySelector('rect.frame');
    if (f) o.frame = box(f);
    s.querySelectorAll('text').forEach(function (t) {
      var b = box(t);
      if (b[2] - b[0] < 0.01) return; /* empty text */
      o.texts.push({cls: t.getAttribute('class') || '', b: b, s: t.textContent});
    });
    out.svgs.push(o);
  });
  document.querySelectorAll('table, figure, svg').forEach(function (e) {
    out.blocks.push({tag: e.tagName.toLowerCase(), b: box(e)});
  });
  var pre = document.createElement('pre');
  pre.id = 'geometry';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();
</script>"""

TOL = 0.5  # px: boxes that only touch do not collide


def overlap(a, b):
    return a[0] < b[2] - TOL and b[0] < a[2] - TOL and a[1] < b[3] - TOL and b[1] < a[3] - TOL


def inside(a, outer):
    return a[0] >= outer[0] - TOL and a[2] <= outer[2] + TOL and a[1] >= outer[1] - TOL and a[3] <= outer[3] + TOL


def main():
    browser, page, width = sys.argv[1], sys.argv[2], int(sys.argv[3])
    html = open(page, encoding="utf-8").read()
    with tempfile.TemporaryDirectory() as tmp:
        probe = os.path.join(tmp, "probe.html")
        with open(probe, "w", encoding="utf-8") as f:
            f.write(html.replace("</body>", SCRIPT + "\n</body>"))
        cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
               "--no-first-run", "--hide-scrollbars", "--user-data-dir=" + os.path.join(tmp, "profile"),
               "--window-size=%d,2000" % width, "--dump-dom", "file://" + probe]
        dom = subprocess.run(cmd, capture_output=True, text=True, timeout=120).stdout
    m = re.search(r'<pre id="geometry">(.*?)</pre>', dom, re.S)
    if not m:
        print("no geometry in the dumped DOM (did the script run?)")
        return 1
    text = m.group(1).replace("&quot;", '"').replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    g = json.loads(text)
    bad = []
    n_labels = n_legend = n_texts = 0
    for i, s in enumerate(g["svgs"]):
        texts = s["texts"]
        n_texts += len(texts)
        for t in texts:
            if "mlabel" in t["cls"]:
                n_labels += 1
            if "legend" in t["cls"]:
                n_legend += 1
            if not inside(t["b"], s["svg"]):
                bad.append("svg %d: text %r at %s outside the svg %s" % (i, t["s"], t["b"], s["svg"]))
            if s["frame"] and ("mlabel" in t["cls"] or "legend" in t["cls"]) and overlap(t["b"], s["frame"]):
                bad.append("svg %d: %s %r at %s over the plot area %s" % (i, t["cls"], t["s"], t["b"], s["frame"]))
        for a in range(len(texts)):
            for b in range(a + 1, len(texts)):
                if overlap(texts[a]["b"], texts[b]["b"]):
                    bad.append("svg %d: %r %s and %r %s overlap" % (i, texts[a]["s"], texts[a]["b"],
                                                                   texts[b]["s"], texts[b]["b"]))
    for blk in g["blocks"]:
        if blk["b"][2] > width + TOL:
            bad.append("%s ends at x=%.1f, past the %d px window" % (blk["tag"], blk["b"][2], width))
    print("%d svgs, %d texts (%d marker labels, %d legend texts), %d blocks: %d problems"
          % (len(g["svgs"]), n_texts, n_labels, n_legend, len(g["blocks"]), len(bad)))
    for b in bad[:30]:
        print("  " + b)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
