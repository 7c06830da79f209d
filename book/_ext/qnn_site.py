"""Sphinx extension: the site-wide assets and clean-ups of the qnn-book (offline, light pages, no console errors).

* **plotly.js once, as a static file.** ``plotly.min.js`` of the installed plotly package is copied to
  ``_static/plotly.min.js``, loaded by every page with a figure and prefetched by the others; the copy of
  plotly.js that plotly's ``notebook`` renderer
  inlines into a page's first figure output is removed from the page (the browser then caches one 4.8 MB file
  instead of downloading it again with every page). The extension also sets ``QNN_PLOTLYJS=external`` in the
  environment of the notebook kernels it starts, so :mod:`qnn.plotting` does not inline it in the first place.
* **CSV files instead of inline CSV.** The "download the numbers" link under each figure carries its CSV as a
  ``data:`` URL (so that it also works in a notebook); in the site each CSV becomes a file next to its page
  (``<page>_csv/<name>.csv``), which the reader downloads only on demand. This halves the pages' weight.
* **No source maps.** The theme's ``*.map`` files (3.3 MB, never loaded by a reader's browser) are not published.
* **qnn-figures.js** (``book/_ext/static``): the responsive layout of the figures (panels reflow into fewer
  columns on narrow screens, rows of buttons that do not fit become a drop-down, legends move below narrow
  figures); see the comments in that file.
* **Console clean-ups**: a favicon (no 404; ``html.favicon`` in ``_config.yml``), the theme's default colour mode
  (else pydata-sphinx-theme logs "Got invalid theme mode"), and each page's script list de-duplicated
  (sphinx-thebe registers its configuration script once
  per build pass, so a page could declare ``THEBE_JS_URL`` twice).
"""
from __future__ import annotations

import base64
import os
import posixpath
import re
import shutil
from pathlib import Path

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.errors import ExtensionError

STATIC = Path(__file__).parent / "static"
#: A ``<script>`` element whose body is plotly.js itself (plotly's bundle starts with its version banner).
_CSV_LINK = re.compile(r'(?P<head><a class="qnn-csv-download" download="(?P<name>[^"]+)" )'
                       r'href="data:text/csv;base64,(?P<payload>[A-Za-z0-9+/=]*)"')
_INLINE_PLOTLYJS = re.compile(r"<script[^>]*>\s*/\*\*?\s*\n?\s*\*?\s*plotly\.js v[\s\S]*?</script>")


def _plotly_bundle() -> Path:
    try:
        import plotly
    except ImportError:
        raise ExtensionError("the qnn-book site needs plotly (pip install -r requirements.txt)") from None
    bundle = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    if not bundle.exists():
        raise ExtensionError(f"plotly.min.js not found at {bundle}")
    return bundle


def _stage(app: Sphinx) -> None:
    staging = Path(app.doctreedir).parent / "qnn_site_static"
    staging.mkdir(parents=True, exist_ok=True)
    bundle = _plotly_bundle()
    target = staging / "plotly.min.js"
    if not target.exists() or target.stat().st_size != bundle.stat().st_size:
        shutil.copy2(bundle, target)
    app.config.html_static_path = [*app.config.html_static_path, str(staging), str(STATIC)]


def strip_inline_plotlyjs(text: str) -> str:
    """``text`` without any ``<script>`` element that inlines plotly.js (the site loads it once from _static)."""
    return _INLINE_PLOTLYJS.sub("", text)


def csv_links_to_files(text: str, folder: Path, href_prefix: str) -> str:
    """Write every inline CSV download (``<a class="qnn-csv-download" download="NAME" href="data:...">``, made by
    :func:`qnn.plotting.csv_download_link`) to ``folder/NAME`` and point the link at ``href_prefix + NAME``."""

    def replace(match: re.Match) -> str:
        name = match.group("name")
        if "/" in name or not name.endswith(".csv"):
            raise ExtensionError(f"bad CSV file name {name!r}")
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / name
        temporary = target.with_suffix(".csv.tmp")
        temporary.write_bytes(base64.b64decode(match.group("payload")))
        os.replace(temporary, target)
        return f'{match.group("head")}href="{href_prefix}{name}"'

    return _CSV_LINK.sub(replace, text)


def _rewrite_doctree(app: Sphinx, doctree: nodes.document, docname: str) -> None:
    folder_name = f"{posixpath.basename(docname)}_csv"
    folder = Path(app.outdir) / posixpath.dirname(docname) / folder_name
    for node in list(doctree.findall(nodes.raw)):
        text = node.astext()
        new = text
        if "plotly.js v" in new:
            new = strip_inline_plotlyjs(new)
        if "qnn-csv-download" in new:
            new = csv_links_to_files(new, folder, f"{folder_name}/")
        if new != text:
            node.parent.replace(node, nodes.raw("", new, format=node.get("format", "html")))


def _drop_source_maps(app: Sphinx, exception: Exception | None) -> None:
    # the theme ships source maps of its bundles (3.3 MB); a reader's browser never loads them
    if exception is None:
        for source_map in (Path(app.outdir) / "_static").rglob("*.map"):
            source_map.unlink()


def _page_context(app: Sphinx, pagename: str, templatename: str, context: dict, doctree) -> None:
    # pydata-sphinx-theme writes the stored colour mode or this template variable into the page; left empty, its
    # script logs "Got invalid theme mode" on every page of a fresh browser
    if not context.get("default_mode"):
        context["default_mode"] = "light"
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    has_figures = "plotly-graph-div" in context.get("body", "")
    if not has_figures and "pathto" in context:
        # evaluating plotly.js costs ~1 s of CPU per page view: pages without a figure only prefetch it, so that
        # the next figure page finds it in the browser's cache
        href = context["pathto"]("_static/plotly.min.js", 1)
        context["metatags"] = context.get("metatags", "") + f'\n<link rel="prefetch" href="{href}" as="script">'
    for script in scripts:
        if not has_figures and posixpath.basename(getattr(script, "filename", None) or "") in (
                "plotly.min.js", "qnn-figures.js"):
            continue
        attributes = getattr(script, "attributes", {}) or {}
        key = (getattr(script, "filename", str(script)) or None, attributes.get("body"))  # '' and None: no file
        if key not in seen:
            seen.add(key)
            unique.append(script)
    scripts[:] = unique  # in place: the builder's list object (other handlers may hold it too)


def setup(app: Sphinx) -> dict:
    # kernels started by myst-nb inherit this: qnn.plotting then does not inline plotly.js into outputs
    os.environ["QNN_PLOTLYJS"] = "external"
    app.connect("builder-inited", _stage)
    app.connect("doctree-resolved", _rewrite_doctree)
    app.connect("build-finished", _drop_source_maps)
    app.connect("html-page-context", _page_context, priority=100)
    app.add_js_file("plotly.min.js", priority=200)
    app.add_js_file("qnn-figures.js", priority=201)
    app.add_css_file("qnn-site.css")
    return {"parallel_read_safe": True, "parallel_write_safe": True}
