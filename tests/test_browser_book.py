"""Browser test of the built book (marker ``browser``; needs /usr/bin/chromium and a built book).

Serves ``_build/html`` (or ``$QNN_BOOK_HTML``) on 127.0.0.1, opens every page of ``_toc.yml`` in headless
Chromium with every non-local request blocked, and checks that

* every plotly figure rendered (``.plotly-graph-div svg.main-svg``) and has a caption (``qnn.plotting.show``)
  naming the paper figure and a CSV download link,
* on each page with built-in sliders, moving the first slider changes which traces are visible,
* every formula was typeset by the site's own MathJax (``mjx-container`` for every ``.math`` node),
* the page requested nothing outside the site (it works offline), and
* no unexpected JavaScript error occurred (the two benign Jupyter Book 1 errors are ignored).

Run:  ``jupyter-book build . -W && python -m pytest -m browser``
"""
from __future__ import annotations

import functools
import http.server
import os
import threading
from pathlib import Path

import pytest
import yaml

from conftest import open_offline_page

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
BENIGN_ERRORS = ("Identifier 'THEBE_JS_URL' has already been declared", "Got invalid theme mode")


def toc_pages(toc_path: Path = ROOT / "_toc.yml") -> list[str]:
    """Every page (``file`` entry, without extension) of a Jupyter Book table of contents, in order."""
    toc = yaml.safe_load(toc_path.read_text())
    pages = [toc["root"]]

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                pages.append(node["file"])
            for key in ("parts", "chapters", "sections"):
                for child in node.get(key, []) or []:
                    walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk({k: v for k, v in toc.items() if k in ("parts", "chapters", "sections")})
    return [str(Path(p).with_suffix("")) for p in pages]


def test_toc_pages_parser():
    assert toc_pages()[0] == "book/intro"


def html_dir() -> Path:
    return Path(os.environ.get("QNN_BOOK_HTML", ROOT / "_build" / "html"))


@pytest.fixture(scope="module")
def server():
    directory = html_dir()
    if not (directory / "index.html").exists():
        pytest.fail(f"no built book at {directory}: run  jupyter-book build . -W  (or set QNN_BOOK_HTML)")
    handler = functools.partial(_QuietHandler, directory=str(directory))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep the test output clean
        pass


def _visible_state(page) -> list:
    return page.evaluate("""() => Array.from(document.querySelectorAll('.plotly-graph-div'))
        .map(div => (div.data || []).map(t => t.visible === undefined ? true : t.visible))""")


@pytest.mark.parametrize("page_name", toc_pages())
def test_page_renders_figures_and_sliders(server, browser, page_name):
    page, errors, blocked = open_offline_page(browser, (server, "data:"))
    response = page.goto(f"{server}/{page_name}.html", wait_until="load", timeout=60_000)
    assert response is not None and response.ok, f"{page_name}: HTTP {response and response.status}"

    n_divs = page.locator(".plotly-graph-div").count()
    if n_divs:
        page.wait_for_function(
            "n => document.querySelectorAll('.plotly-graph-div svg.main-svg').length >= n", arg=n_divs,
            timeout=30_000)
        rendered = page.evaluate("""() => Array.from(document.querySelectorAll('.plotly-graph-div'))
            .filter(div => div.querySelector('svg.main-svg') && (div.data || []).length > 0).length""")
        assert rendered == n_divs, f"{page_name}: {rendered} of {n_divs} plotly figures rendered"
        # every figure comes with a caption naming its paper figure (or saying it has none) and a CSV link
        captions = page.locator(".qnn-caption").all_inner_texts()
        assert len(captions) >= n_divs, f"{page_name}: {len(captions)} captions for {n_divs} figures"
        assert all("Figure" in c or "Not in the paper" in c for c in captions), captions
        n_links = page.locator("a.qnn-csv-download[download][href^='data:text/csv;base64,']").count()
        assert n_links >= n_divs, f"{page_name}: {n_links} CSV download links for {n_divs} figures"

    sliders = page.locator(".plotly-graph-div .slider-container")
    if sliders.count():
        before = _visible_state(page)
        rail = page.locator(".plotly-graph-div .slider-container .slider-rail-rect").first
        rail.scroll_into_view_if_needed()
        box = rail.bounding_box()
        assert box is not None, f"{page_name}: slider rail not visible"
        # click near the end of the rail opposite to the active step, so the selection must change
        for fraction in (0.98, 0.02):
            page.mouse.click(box["x"] + fraction * box["width"], box["y"] + box["height"] / 2)
            page.wait_for_timeout(300)
            if _visible_state(page) != before:
                break
        assert _visible_state(page) != before, f"{page_name}: moving the slider did not change the figure"

    # formulas are typeset by the site's own MathJax (book/_ext/offline_mathjax.py), without a network
    n_math = page.locator(".math").count()
    if n_math:
        page.wait_for_function("n => document.querySelectorAll('mjx-container').length >= n", arg=n_math,
                               timeout=30_000)

    assert blocked == [], f"{page_name}: the page requested non-local resources {blocked[:5]}"
    unexpected = [e for e in errors if not any(b in e for b in BENIGN_ERRORS)]
    assert unexpected == [], f"{page_name}: JavaScript errors {unexpected}"
    page.close()
