"""The authors' d = 100 markers in the built site's CSV downloads (acceptance of the authors' data layer).

Reads every page of ``_build/html`` (or ``$QNN_BOOK_HTML``) and the CSV downloads it links (the links of
:func:`qnn.plotting.csv_download_link`: files in the site's ``<page>_csv/`` folders, or inline data links), and
checks, for each published marker file of ``book/data/paper``: at least 90% of its markers appear in some download
as a row whose trace names d = 100, with x equal to the marker's alpha and y equal to its mean (relative 1e-6), and
y_err equal to its bar half-width where the row has one. Needs a built book, so it runs with the browser tests
(``pytest -m browser``, after the build in CI); it uses no browser itself.
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
_LINK = re.compile(r'class="qnn-csv-download" download="([^"]+)" href="([^"]+)"')
#: The download of the figure that draws each published file.
DOWNLOAD = {"fig2": "figure2_left.csv", "fig4": "figure4_left.csv", "fig6": "figure6.csv", "fig7": "figure7.csv",
            "fig9": "figure9_gamma.csv", "fig10": "figure10_noisy_interpolation.csv", "fig16": "figure16.csv",
            "fig17": "figure17.csv", "fig18": "figure18.csv", "fig19": "figure19.csv",
            "fig20": "figure20_authors_all_pairs.csv"}


def _csv_texts(page: Path) -> list[tuple[str, str]]:
    """``(download name, text)`` of the CSV downloads linked from ``page``: files next to it (the site's
    ``<page>_csv/`` folders) or inline ``data:text/csv;base64,`` links."""
    texts = []
    for name, href in _LINK.findall(page.read_text(errors="replace")):
        if href.startswith("data:text/csv;base64,"):
            texts.append((name, base64.b64decode(href.split(",", 1)[1]).decode("utf-8")))
        else:
            texts.append((name, (page.parent / href).read_text()))
    return texts


def _site_rows() -> dict[str, list[dict[str, str]]]:
    directory = Path(os.environ.get("QNN_BOOK_HTML", ROOT / "_build" / "html"))
    pages = sorted((directory / "book").rglob("*.html"))
    if not pages:
        pytest.fail(f"no built book at {directory}: run  jupyter-book build . -W  (or set QNN_BOOK_HTML)")
    rows: dict[str, list[dict[str, str]]] = {}
    for page in pages:
        for name, text in _csv_texts(page):
            rows.setdefault(name, []).extend(row for row in csv.DictReader(io.StringIO(text))
                                             if "d = 100" in row["trace"])
    return rows


@pytest.fixture(scope="module")
def site_points() -> dict[str, np.ndarray]:
    points = {}
    for name, rows in _site_rows().items():
        rows = [r for r in rows if r["x"] and r["y"]]
        points[name] = np.array([(float(r["x"]), float(r["y"]), float(r["y_err"]) if r["y_err"] else np.nan)
                                 for r in rows]).reshape(-1, 3)
    return points


@pytest.mark.parametrize("name", paper.marker_files())
def test_published_markers_are_in_the_csv_downloads(name, site_points):
    figure, quantity = name[:-4].split("_", 1)
    frame = paper.markers(figure, quantity)
    assert DOWNLOAD[figure] in site_points, f"no download {DOWNLOAD[figure]} in the site"
    x, y, err = site_points[DOWNLOAD[figure]].T
    found = 0
    for alpha, mean, half in zip(frame["alpha"], frame["mean"], frame["half_width"]):
        bar = np.isnan(err) | (np.abs(err - half) <= 1e-6 * max(abs(half), 1e-300))
        found += bool(np.any((np.abs(x - alpha) <= 1e-6 * abs(alpha)) & (np.abs(y - mean) <= 1e-6 * abs(mean)) & bar))
    assert found >= 0.9 * len(frame), f"{name}: {found} of {len(frame)} markers in {DOWNLOAD[figure]}"
