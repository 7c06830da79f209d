"""Browser test of how the built book reads (marker ``browser``; needs /usr/bin/chromium and a built book).

Serves ``_build/html`` (or ``$QNN_BOOK_HTML``) on 127.0.0.1 and opens every page of ``_toc.yml`` in headless
Chromium at 1400 px and 400 px, waits for the site's MathJax, and checks that

* no raw TeX is left in the prose (``$$``, ``\\(``, ``\\[``, ``\\begin{``, a TeX command such as ``\\frac``): every
  formula was typeset, also inside list items;
* at 1400 px every display equation fits the text column (its typeset width is not larger than its box);
* at 400 px the page does not scroll sideways (wide equations and tables scroll inside their own box);
* every "How this figure was made" block is collapsed and labelled so.

Run:  ``jupyter-book build . -W && python -m pytest -m browser tests/test_browser_reading.py``.
"""
from __future__ import annotations

import functools
import http.server
import os
import threading
from pathlib import Path

import pytest

from conftest import open_offline_page
from book_pages import toc_pages

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
WIDTHS = (1400, 400)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def site():
    directory = Path(os.environ.get("QNN_BOOK_HTML", ROOT / "_build" / "html"))
    if not (directory / "index.html").exists():
        pytest.fail(f"no built book at {directory}: run  jupyter-book build . -W  (or set QNN_BOOK_HTML)")
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                            functools.partial(_QuietHandler, directory=str(directory)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


#: Waits for MathJax, then measures the reading problems of the page's article.
READING_JS = r"""async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) { await MathJax.startup.promise; }
  const article = document.querySelector('article.bd-article') || document.querySelector('main') || document.body;
  const clone = article.cloneNode(true);
  clone.querySelectorAll('pre, code, script, style, mjx-container, .cell_input, details.qnn-details, '
                         + '.plotly-graph-div, .headerlink').forEach(e => e.remove());
  const text = clone.textContent.replace(/\s+/g, ' ');
  const raw = [];
  const tex = /\\(frac|mathrm|operatorname|left|right|qquad|alpha|kappa|lambda|xi|rho|int|sum|big)\b/;
  for (const re of [/\$\$/, /\\\(/, /\\\)/, /\\\[/, /\\\]/, /\\begin\{/, tex]) {
    const m = text.match(re);
    if (m) { raw.push(text.slice(Math.max(0, m.index - 60), m.index + 60)); }
  }
  const wide = [];
  article.querySelectorAll('mjx-container[display="true"]').forEach(box => {
    const math = box.querySelector('mjx-math');
    const width = math ? math.getBoundingClientRect().width : box.scrollWidth;
    if (width > box.clientWidth + 1) {
      wide.push(`${Math.round(width)} px in a ${box.clientWidth} px column: ` +
                (box.querySelector('mjx-assistive-mml') || box).textContent.slice(0, 60));
    }
  });
  const overflowing = [];
  const limit = document.documentElement.clientWidth;
  article.querySelectorAll('*').forEach(e => {
    const r = e.getBoundingClientRect();
    if (r.width > 0 && r.right > limit + 1 && !e.closest('mjx-container, .qnn-table-wrap, .table-wrapper, '
        + 'table, .cell_output pre, .highlight, .MathJax_Preview, .plotly-graph-div')) {
      const cls = typeof e.className === 'string' ? e.className : '';
      overflowing.push(`${e.tagName.toLowerCase()}.${cls} right=${Math.round(r.right)}`);
    }
  });
  const details = Array.from(article.querySelectorAll('details.qnn-details'));
  const badDetails = details.filter(d => d.open || !d.querySelector('summary')
                                      || d.querySelector('summary').textContent.trim() !== 'How this figure was made');
  return {raw, wide, overflowing: overflowing.slice(0, 5), details: details.length, badDetails: badDetails.length,
          scroll: document.documentElement.scrollWidth, view: document.documentElement.clientWidth,
          typeset: document.querySelectorAll('mjx-container').length};
}"""


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("page_name", toc_pages())
def test_page_reads_at_width(browser, site, page_name, width):
    page, errors, blocked = open_offline_page(browser, (site,), viewport={"width": width, "height": 900})
    try:
        page.goto(f"{site}/{page_name}.html", wait_until="load")
        result = page.evaluate(READING_JS)
    finally:
        page.close()
    assert result["raw"] == [], f"{page_name} at {width} px: raw TeX left after MathJax: {result['raw']}"
    assert result["badDetails"] == 0, f"{page_name}: a 'How this figure was made' block is open or mislabelled"
    if width >= 1400:
        assert result["wide"] == [], f"{page_name}: display equations wider than the text column: {result['wide']}"
    else:
        assert result["scroll"] <= result["view"] + 1, (
            f"{page_name} at {width} px scrolls sideways: {result['scroll']} px of content in a {result['view']} px "
            f"window; first elements past the edge: {result['overflowing']}")
