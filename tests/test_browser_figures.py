"""Browser test of the book's figures as drawn (marker ``browser``; needs /usr/bin/chromium and a built book).

Opens every page of ``_toc.yml`` at 1400 px and 400 px, scrolls to each plotly figure (figures may be drawn only
once they come into view) and checks, on the SVG plotly drew:

* **no overlapping text**: the bounding boxes of all visible text elements of the figure (panel titles, axis titles,
  tick labels, legend entries, notes and other annotations, slider and button labels) do not intersect (by more
  than 1 px each way);
* **no clipped text**: every text element, legend entries included, lies inside the figure's box and every legend
  entry inside its legend's box;
* **log axes labelled at decades or 1-2-5 / 1-3 multiples**: every log axis has at least two labelled ticks;
* **a slider over numbers runs in increasing order**;
* **a toolbar without a share/upload button**: no "Share chart" / cloud / Chart Studio button in the drawn
  toolbar, ``showSendToCloud`` off, and the PNG download named ``qnn-...`` at scale >= 2.

With ``QNN_FIGURE_SHOTS=DIR`` every figure is also saved as ``DIR/<page>@<width>-<n>.png`` (to look at them).
Run:  ``jupyter-book build . -W && python -m pytest -m browser tests/test_browser_figures.py``.
"""
from __future__ import annotations

import functools
import http.server
import os
import re
import threading
from pathlib import Path

import pytest

from conftest import open_offline_page
from book_pages import toc_pages

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
WIDTHS = (1400, 400)
TOLERANCE_PX = 1.0


def html_dir() -> Path:
    return Path(os.environ.get("QNN_BOOK_HTML", ROOT / "_build" / "html"))


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    directory = html_dir()
    if not (directory / "index.html").exists():
        pytest.fail(f"no built book at {directory}: run  jupyter-book build . -W  (or set QNN_BOOK_HTML)")
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler,
                                                                                directory=str(directory)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def overlapping_pairs(boxes: list[dict], tolerance: float = TOLERANCE_PX) -> list[tuple[dict, dict]]:
    """Pairs of boxes ``{"x", "y", "w", "h", ...}`` that intersect by more than ``tolerance`` px in both
    directions."""
    pairs = []
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            dx = min(a["x"] + a["w"], b["x"] + b["w"]) - max(a["x"], b["x"])
            dy = min(a["y"] + a["h"], b["y"] + b["h"]) - max(a["y"], b["y"])
            if dx > tolerance and dy > tolerance:
                pairs.append((a, b))
    return pairs


def test_overlap_check_can_fail():
    a = {"x": 0, "y": 0, "w": 30, "h": 12, "text": "a"}
    assert overlapping_pairs([a, {**a, "x": 25, "text": "b"}])
    assert not overlapping_pairs([a, {**a, "x": 30.5, "text": "b"}])  # touching is not overlapping
    assert not overlapping_pairs([a, {**a, "y": 12, "text": "b"}])


#: Every visible text element of figure f (its box relative to the figure), the figure's box, each legend entry
#: with its legend's box, the toolbar's buttons, the config, log axes' labelled ticks and slider step labels.
_FIGURE_JS = """f => {
    const div = document.querySelectorAll('.plotly-graph-div')[f];
    const g = div.getBoundingClientRect();
    const visible = e => { for (let n = e; n && n !== div; n = n.parentElement) {
        const s = getComputedStyle(n); if (s.display === 'none' || s.visibility === 'hidden' ||
            parseFloat(s.opacity) === 0) return false; } return true; };
    const box = (e, r) => ({x: r.left - g.left, y: r.top - g.top, w: r.width, h: r.height,
                            text: (e.textContent || '').trim().slice(0, 60), cls: e.getAttribute('class') || ''});
    const texts = [];
    div.querySelectorAll('svg text').forEach(e => {
        if (!(e.textContent || '').trim() || e.closest('.hoverlayer') || !visible(e)) return;
        const r = e.getBoundingClientRect();
        if (r.width > 0 && r.height > 0) texts.push(box(e, r));
    });
    const legends = [];
    div.querySelectorAll('g.legend').forEach(l => {
        const bg = l.querySelector('rect.bg'); if (!bg) return;
        const lr = bg.getBoundingClientRect();
        l.querySelectorAll('g.traces text').forEach(t => legends.push({entry: box(t, t.getBoundingClientRect()),
                                                                    legend: box(bg, lr)}));
    });
    const buttons = Array.from(div.querySelectorAll('.modebar-btn')).map(b =>
        (b.getAttribute('data-title') || '') + '|' + (b.getAttribute('data-attr') || '') + '|' +
        (b.getAttribute('data-val') || ''));
    const ctx = div._context || {};
    const full = div._fullLayout || {};
    const logAxes = Object.keys(full).filter(k => /^[xy]axis\\d*$/.test(k) && full[k].type === 'log' &&
                                                 full[k].visible !== false)
        .map(k => ({axis: k, labels: (full[k]._vals || []).filter(v => v.text && !v.minor).map(v => v.text)}));
    const sliders = (full.sliders || []).map(s => (s.steps || []).map(st => st.label));
    return {width: g.width, height: g.height, texts, legends, buttons, logAxes, sliders,
            config: {showSendToCloud: ctx.showSendToCloud, image: ctx.toImageButtonOptions || {}}};
}"""


def _describe(box: dict) -> str:
    return f"{box['text']!r} [{box['cls']}] at ({box['x']:.0f}, {box['y']:.0f}, {box['w']:.0f}x{box['h']:.0f})"


def figure_problems(info: dict) -> list[str]:
    """Everything wrong with one drawn figure (``_FIGURE_JS``'s answer), as readable sentences."""
    problems = [f"overlapping text: {_describe(a)} and {_describe(b)}" for a, b in overlapping_pairs(info["texts"])]
    width, height = info["width"], info["height"]
    problems += [f"text outside the figure ({width:.0f}x{height:.0f}): {_describe(t)}" for t in info["texts"]
                 if t["x"] < -TOLERANCE_PX or t["y"] < -TOLERANCE_PX or t["x"] + t["w"] > width + TOLERANCE_PX
                 or t["y"] + t["h"] > height + TOLERANCE_PX]
    for item in info["legends"]:
        entry, legend = item["entry"], item["legend"]
        if (entry["x"] + entry["w"] > legend["x"] + legend["w"] + TOLERANCE_PX or
                entry["y"] + entry["h"] > legend["y"] + legend["h"] + TOLERANCE_PX or entry["y"] < legend["y"] - 1):
            problems.append(f"legend entry cut by its legend box: {_describe(entry)} in {_describe(legend)}")
    for axis in info["logAxes"]:
        if len(axis["labels"]) < 2:
            problems.append(f"log axis {axis['axis']} has {len(axis['labels'])} labelled tick(s): {axis['labels']}")
    for steps in info["sliders"]:
        numbers = [re.search(r"[-+]?\d*\.?\d+(?:[eE][-+]?\d+)?\s*$", str(s)) for s in steps]
        if all(numbers):
            values = [float(n.group()) for n in numbers]
            if values != sorted(values):
                problems.append(f"slider steps not in increasing order: {steps}")
    shared = [b for b in info["buttons"] if re.search(r"share|cloud|chart studio|upload", b, re.I)]
    if shared:
        problems.append(f"toolbar buttons that send the figure away: {shared}")
    config = info["config"]
    if config["showSendToCloud"] is not False:
        problems.append(f"config allows sending the figure to the cloud: {config}")
    image = config["image"]
    if not (image.get("scale", 1) >= 2 and str(image.get("filename", "")).startswith("qnn-")):
        problems.append(f"PNG download not named qnn-... at scale >= 2: {image}")
    return problems


def test_figure_problems_can_fail():
    ok = {"width": 500, "height": 400, "texts": [], "legends": [], "buttons": ["Download plot as a PNG|toImage|"],
          "logAxes": [{"axis": "yaxis", "labels": ["0.1", "1"]}], "sliders": [["0.35", "0.7"]],
          "config": {"showSendToCloud": False, "image": {"scale": 2, "filename": "qnn-figure6"}}}
    assert figure_problems(ok) == []
    bad = {**ok, "buttons": ["Share chart...|sendChartToCloud|"], "sliders": [["0.7", "0.35"]],
           "logAxes": [{"axis": "yaxis", "labels": ["1"]}], "config": {**ok["config"], "image": {}}}
    assert len(figure_problems(bad)) == 4


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("page_name", toc_pages())
def test_figures_as_drawn(server, browser, page_name, width):
    page, errors, blocked = open_offline_page(browser, (server, "data:"), viewport={"width": width, "height": 900},
                                              route=False)
    response = page.goto(f"{server}/{page_name}.html", wait_until="load", timeout=60_000)
    assert response is not None and response.ok, f"{page_name}: HTTP {response and response.status}"
    n_figures = page.locator(".plotly-graph-div").count()
    shots = os.environ.get("QNN_FIGURE_SHOTS")
    problems = []
    for figure in range(n_figures):
        div = page.locator(".plotly-graph-div").nth(figure)
        div.scroll_into_view_if_needed()
        page.wait_for_function("""f => { const div = document.querySelectorAll('.plotly-graph-div')[f];
            return div.querySelector('svg.main-svg') && (div.data || []).length > 0 && div._fullLayout; }""",
                               arg=figure, timeout=30_000, polling="raf")
        page.wait_for_timeout(100)
        info = page.evaluate(_FIGURE_JS, figure)
        problems += [f"figure {figure + 1}: {p}" for p in figure_problems(info)]
        if shots:
            Path(shots).mkdir(parents=True, exist_ok=True)
            div.screenshot(path=str(Path(shots) / f"{page_name.replace('/', '_')}@{width}-{figure + 1}.png"))
    page.close()
    assert problems == [], f"{page_name} at {width} px:\n" + "\n".join(problems)
    assert errors == [], f"{page_name} at {width} px: JavaScript errors {errors}"
