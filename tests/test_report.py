"""The HTML report of a finished run (``snakemake --report report.html``) opened in headless
Chromium (Debian's ``chromium``): every figure, table and the claims ledger of ``results/`` is in
it, each figure decodes to a real image, each table page holds its table, and a screenshot of a
figure view is not blank. CI builds the smoke report and runs ``pytest -m report``; point
``AUTOSPARSE_REPORT`` at another report (its ``results/`` beside it) to check that one."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
REPORT = Path(os.environ.get("AUTOSPARSE_REPORT", REPO / "report.html")).resolve()
RESULTS = REPORT.parent / "results"

pytestmark = pytest.mark.report

# Appended to a copy of the report: clicks through every category and result (as a reader does)
# and writes what each view shows into <pre id="probe">; ``#show=<category>/<label>`` leaves that
# view open for the screenshot.
PROBE = """<script>
const sleep = ms => new Promise(r => setTimeout(r, ms));
const nav = t => [...document.querySelectorAll("nav a")].find(e => e.textContent.trim() === t);
const rows = () => [...document.querySelectorAll("nav table tbody tr")];
async function goto(cat) {  // the breadcrumb's "Results" first, when inside a category
  const up = nav("Results");
  if (up) { up.click(); await sleep(300); }
  if (rows().length) return;  // a report of one category: "Results" lists its results directly
  (nav(cat) || nav("Results")).click(); await sleep(300);
}
async function open(cat, i) {
  await goto(cat);
  const row = rows()[i];
  const label = row.querySelector("td").textContent.trim();
  row.querySelector('a[iconname="eye"]').click(); await sleep(600);
  return label;
}
(async () => {
  await sleep(500);
  const seen = [];
  const show = decodeURIComponent(location.hash.replace("#show=", "")).split("/");
  for (const cat of show.length === 2 ? [] : Object.keys(categories)) {
    await goto(cat);
    for (let i = 0; i < rows().length; i++) {
      const label = await open(cat, i);
      const img = document.querySelector("#app img[src^='data:image/png']");
      const frame = document.querySelector("#app iframe");
      let view = {kind: "none"};
      if (img) view = {kind: "img", width: img.naturalWidth, height: img.naturalHeight};
      else if (frame) view = {kind: "html", html: new TextDecoder().decode(
        Uint8Array.from(atob(frame.src.split(",")[1]), c => c.charCodeAt(0)))};
      seen.push({category: cat, label: label, view: view});
    }
  }
  if (show.length === 2) {
    await goto(show[0]);
    const i = rows().findIndex(r => r.querySelector("td").textContent.trim() === show[1]);
    if (i >= 0) await open(show[0], i);
  }
  const p = document.createElement("pre");
  p.id = "probe"; p.style.display = "none"; p.textContent = JSON.stringify(seen);
  document.body.appendChild(p);
})();
</script>
"""


def chromium(*args: str) -> subprocess.CompletedProcess:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    assert exe, "headless Chromium is needed: apt-get install chromium"
    return subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu",
                           "--virtual-time-budget=60000", "--window-size=1600,1000", *args],
                          capture_output=True, text=True, timeout=300)


def embedded(report: str) -> dict[str, list[str]]:
    """The report's own index: category -> the result files it embeds."""
    m = re.search(r"var categories = (\{.*?\});\n", report)
    assert m, "no category index in the report"
    return {c: [f for files in sub.values() for f in files]
            for c, sub in json.loads(m.group(1)).items()}


@pytest.fixture(scope="module")
def probed(tmp_path_factory):
    assert REPORT.is_file(), f"{REPORT} missing: run `snakemake --report report.html` first"
    text = REPORT.read_text()
    page = tmp_path_factory.mktemp("report") / "probe.html"
    page.write_text(text + PROBE)
    dom = chromium("--dump-dom", page.as_uri()).stdout
    m = re.search(r'<pre id="probe"[^>]*>(.*?)</pre>', dom, re.S)
    assert m, "the probe did not finish: the report's app did not render"
    import html

    return text, page, json.loads(html.unescape(m.group(1)))


def test_the_report_embeds_every_figure_table_and_the_ledger(probed):
    text, _, _ = probed
    index = embedded(text)
    present = {str(p.relative_to(REPORT.parent)) for p in
               [*RESULTS.glob("figures/*.png"), *RESULTS.glob("*table*.html"),
                *RESULTS.glob("claims.html")]}
    assert present, f"no figures or tables under {RESULTS}"
    assert present <= {f for files in index.values() for f in files}, index
    if (RESULTS / "claims.html").exists():
        assert index["Claims ledger"] == ["results/claims.html"]


def test_every_view_renders(probed):
    text, _, seen = probed
    index = embedded(text)
    assert len(seen) == sum(map(len, index.values())), seen  # every result opened
    for s in seen:
        v = s["view"]
        if s["category"] == "Figures":
            assert v["kind"] == "img" and v["width"] > 200 and v["height"] > 200, s
        else:  # tables and the ledger: a page holding its table
            assert v["kind"] == "html" and v["html"].count("<tr>") >= 2, s["label"]
            assert "<th>" in v["html"] and "`" not in v["html"], s["label"]
    assert {s["label"] for s in seen if s["category"] == "Figures"} == {
        p.stem for p in RESULTS.glob("figures/*.png")}


def test_a_screenshot_of_a_figure_view_is_not_blank(probed, tmp_path):
    """Fig. 3 (else the first figure; a run without figures, e.g. ``make run``: its first
    table) as a reader sees it."""
    _, page, seen = probed
    figures = [s["label"] for s in seen if s["category"] == "Figures"]
    view = (f"Figures/{'fig3' if 'fig3' in figures else figures[0]}" if figures
            else f"{seen[0]['category']}/{seen[0]['label']}")
    shot = Path(os.environ.get("AUTOSPARSE_REPORT_SCREENSHOT", tmp_path / "report.png"))
    chromium(f"--screenshot={shot}", page.as_uri() + f"#show={view}")
    hsv = np.asarray(Image.open(shot).convert("HSV"), dtype=float)[:, 400:]  # right of the menu
    assert hsv.shape == (1000, 1200, 3)
    assert ((hsv[..., 2] < 200) | (hsv[..., 1] > 50)).mean() > 0.005, "a blank view"
    if figures:  # the figure's coloured curves and points (a table is grey on white)
        assert ((hsv[..., 1] > 100) & (hsv[..., 2] > 60)).mean() > 2e-4, "no figure in view"


def test_the_probe_decodes_what_the_report_embeds(probed):
    """The probe's decoding is the report's: a table page's text is the HTML beside the CSV."""
    _, _, seen = probed
    table = next((s for s in seen if s["category"] == "Tables"), None)
    if table is None:
        pytest.skip("no table in this report")
    on_disk = (RESULTS / f"{table['label']}.html").read_text()
    assert table["view"]["html"] == on_disk
