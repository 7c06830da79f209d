"""The authors' d = 100 markers in the built site's CSV downloads (acceptance of the authors' data layer).

Reads every page of ``_build/html`` (or ``$QNN_BOOK_HTML``), decodes the CSV download links (``data:text/csv``
links of :func:`qnn.plotting.csv_download_link`), and checks, for each published marker file of
``book/data/paper``: at least 90% of its markers appear in some download as a row whose trace names d = 100, with x
equal to the marker's alpha and y equal to its mean (relative 1e-6), and y_err equal to its bar half-width where
the row has one. Needs a built book, so it runs with the browser tests (``pytest -m browser``, after the build in
CI); it uses no browser itself.
"""
from __future__ import annotations

import base64
import csv
import io
import os
import re
from pathlib import Path

import numpy as np
import pytest

from qnn.figdata import paper

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
_LINK = re.compile(r'href="data:text/csv;base64,([A-Za-z0-9+/=]+)"')


def _site_rows() -> list[dict[str, str]]:
    directory = Path(os.environ.get("QNN_BOOK_HTML", ROOT / "_build" / "html"))
    pages = sorted((directory / "book").rglob("*.html"))
    if not pages:
        pytest.fail(f"no built book at {directory}: run  jupyter-book build . -W  (or set QNN_BOOK_HTML)")
    rows = []
    for page in pages:
        for payload in _LINK.findall(page.read_text(errors="replace")):
            text = base64.b64decode(payload).decode("utf-8")
            rows += [row for row in csv.DictReader(io.StringIO(text)) if "d = 100" in row["trace"]]
    return rows


@pytest.fixture(scope="module")
def site_points() -> np.ndarray:
    rows = [r for r in _site_rows() if r["x"] and r["y"]]
    assert rows, "no CSV row of the site names d = 100"
    return np.array([(float(r["x"]), float(r["y"]), float(r["y_err"]) if r["y_err"] else np.nan) for r in rows])


@pytest.mark.parametrize("name", paper.marker_files())
def test_published_markers_are_in_the_csv_downloads(name, site_points):
    figure, quantity = name[:-4].split("_", 1)
    frame = paper.markers(figure, quantity)
    x, y, err = site_points.T
    found = 0
    for alpha, mean, half in zip(frame["alpha"], frame["mean"], frame["half_width"]):
        match = (np.abs(x - alpha) <= 1e-6 * abs(alpha)) & (np.abs(y - mean) <= 1e-6 * abs(mean))
        if match.any() and all(np.isnan(e) or abs(e - half) <= 1e-6 * max(abs(half), 1e-300) for e in err[match]):
            found += 1
    assert found >= 0.9 * len(frame), f"{name}: {found} of {len(frame)} markers in the site's CSV downloads"
