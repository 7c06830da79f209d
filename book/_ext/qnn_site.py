"""Sphinx extension: the site-wide assets and clean-ups of the qnn-book (offline, light pages, no console errors).

* **plotly.js once, as a static file, sized to the book.** plotly.js's *cartesian* bundle (1.5 MB instead of the
  full 4.8 MB; vendored in ``vendor/plotly.js-cartesian-dist-min`` with its licence, refreshed by
  ``refresh_plotly_bundle.py``) is served as ``_static/plotly-cartesian.min.js``, loaded by every page with a
  figure and prefetched by the others. The build stops if the vendored bundle is not the plotly.js version of the
  installed plotly package, or if a figure uses a trace type that the bundle lacks (:func:`check_figures`: the
  browser would otherwise show an empty figure). The copy of plotly.js that plotly's ``notebook`` renderer
  inlines into a page's first figure output is removed from the page. The extension also sets
  ``QNN_PLOTLYJS=external`` in the environment of the notebook kernels it starts, so :mod:`qnn.plotting` does not
  inline it in the first place and trims each figure (:mod:`qnn.plotting.embedding`: one shared template per
  page, numbers at the precision the data carry); a figure that refers to a shared template its page does not define
  also stops
  the build.
* **CSV files instead of inline CSV.** The "download the numbers" link under each figure carries its CSV as a
  ``data:`` URL (so that it also works in a notebook); in the site each CSV becomes a file next to its page
  (``<page>_csv/<name>.csv``), which the reader downloads only on demand. This halves the pages' weight.
* **No files the reader never loads.** The theme's source maps (3.3 MB), translation catalogues, TrueType icon
  fonts and its ``fontawesome.js`` (1.5 MB; the stylesheet draws the same icons from the WOFF2 web font) are not
  published (:func:`drop_unread_files`). The CSV files' numbers are rounded to the precision the data carry.
* **qnn-figures.js** (``book/_ext/static``): figures are drawn when they come within a screen of the viewport
  (and all of them before printing), in their final size from the start; the responsive layout of the figures
  (panels reflow into fewer columns on narrow screens, rows of buttons that do not fit become a drop-down, legends
  move below narrow figures); see the comments in that file.
* **Console clean-ups**: a favicon (no 404; ``html.favicon`` in ``_config.yml``), the theme's default colour mode
  (else pydata-sphinx-theme logs "Got invalid theme mode"), and each page's script list de-duplicated
  (sphinx-thebe registers its configuration script once
  per build pass, so a page could declare ``THEBE_JS_URL`` twice).
"""
from __future__ import annotations

import base64
import csv
import io
import json
import os
import posixpath
import re
import shutil
from pathlib import Path

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.errors import ExtensionError

from qnn.plotting.embedding import round_numbers

STATIC = Path(__file__).parent / "static"
#: A ``<script>`` element whose body is plotly.js itself (plotly's bundle starts with its version banner).
_CSV_LINK = re.compile(r'(?P<head><a class="qnn-csv-download" download="(?P<name>[^"]+)" )'
                       r'href="data:text/csv;base64,(?P<payload>[A-Za-z0-9+/=]*)"')
_INLINE_PLOTLYJS = re.compile(r"<script[^>]*>\s*/\*\*?\s*\n?\s*\*?\s*plotly\.js v[\s\S]*?</script>")


VENDOR = Path(__file__).parent / "vendor" / "plotly.js-cartesian-dist-min"
BUNDLE = "plotly-cartesian.min.js"
#: how plotly.js registers a trace module: the bundle's own list of the trace types it can draw
_TRACE_MODULE = re.compile(r'moduleType:"trace",name:"([a-z0-9]+)"')
_NEW_PLOT = re.compile(r'Plotly\.newPlot\(\s*"(?P<id>[^"]+)",\s*')
_SHARED_DEFINED = re.compile(r'window\.qnnTemplates \|\| \{\}\)\["(?P<key>[A-Za-z0-9]+)"\]')
_SHARED_USED = re.compile(r'"template":\s*\{"qnnShared":\s*"(?P<key>[A-Za-z0-9]+)"\}')
_REFRESH = "python book/_ext/refresh_plotly_bundle.py"


def _plotly_bundle(vendor: Path = VENDOR) -> tuple[Path, frozenset[str]]:
    """The vendored plotly.js bundle and its trace types; raises if it is missing, empty or not the version of
    the installed plotly package."""
    try:
        from plotly.offline import get_plotlyjs_version
    except ImportError:
        raise ExtensionError("the qnn-book site needs plotly (pip install -r requirements.txt)") from None
    bundle = vendor / BUNDLE
    if not bundle.exists():
        raise ExtensionError(f"plotly.js bundle not found at {bundle}: run  {_REFRESH}")
    version = get_plotlyjs_version()
    head = bundle.read_text(encoding="utf-8", errors="replace")
    if f"v{version}\n" not in head[:300]:
        raise ExtensionError(f"{bundle} is not plotly.js v{version}, the version of the installed plotly package "
                             f"(its banner: {head[:120]!r}): run  {_REFRESH}")
    types = frozenset(_TRACE_MODULE.findall(head))
    if "scatter" not in types:
        raise ExtensionError(f"no trace modules found in {bundle} (expected at least scatter)")
    return bundle, types


def _stage(app: Sphinx) -> None:
    staging = Path(app.doctreedir).parent / "qnn_site_static"
    staging.mkdir(parents=True, exist_ok=True)
    bundle, app.env.qnn_trace_types = _plotly_bundle()
    for source, name in ((bundle, BUNDLE), (VENDOR / "LICENSE", "plotly-cartesian.LICENSE.txt")):
        target = staging / name
        if not target.exists() or target.read_bytes() != source.read_bytes():
            shutil.copy2(source, target)
    stale = staging / "plotly.min.js"  # the full bundle staged by earlier builds
    if stale.exists():
        stale.unlink()
    app.config.html_static_path = [*app.config.html_static_path, str(staging), str(STATIC)]


def figure_trace_types(text: str) -> dict[str, set[str]]:
    """The trace types of every ``Plotly.newPlot("ID", DATA, ...)`` call in ``text``: ``{ID: {type, ...}}`` (a
    trace without ``type`` is a scatter). Raises :class:`ExtensionError` if a call's DATA is not a JSON list."""
    found = {}
    decoder = json.JSONDecoder()
    for match in _NEW_PLOT.finditer(text):
        try:
            data, _ = decoder.raw_decode(text, match.end())
        except ValueError as error:
            raise ExtensionError(f"figure {match.group('id')}: its traces are not JSON ({error})") from None
        if not isinstance(data, list):
            raise ExtensionError(f"figure {match.group('id')}: its traces are not a JSON list")
        found[match.group("id")] = {str(t.get("type") or "scatter") for t in data if isinstance(t, dict)}
    return found


def check_figures(text: str, trace_types: frozenset[str], where: str, defined: set[str]) -> None:
    """Stop the build if a figure in ``text`` uses a trace type outside ``trace_types`` (the bundle's) or refers
    to a shared template that is not defined before it (``defined``: the keys defined so far on the page;
    updated)."""
    for figure, types in figure_trace_types(text).items():
        missing = sorted(types - trace_types)
        if missing:
            raise ExtensionError(f"{where}: figure {figure} uses the trace type(s) {', '.join(missing)}, which "
                                 f"the site's plotly.js bundle ({BUNDLE}) does not draw; it draws only "
                                 f"{', '.join(sorted(trace_types))}")
    events = sorted([(m.start(), "define", m.group("key")) for m in _SHARED_DEFINED.finditer(text)]
                    + [(m.start(), "use", m.group("key")) for m in _SHARED_USED.finditer(text)])
    for _, event, key in events:
        if event == "define":
            defined.add(key)
        elif key not in defined:
            raise ExtensionError(f"{where}: a figure refers to the shared plotly template {key!r}, which no "
                                 "earlier output of the page defines (was that output removed?)")


def strip_inline_plotlyjs(text: str) -> str:
    """``text`` without any ``<script>`` element that inlines plotly.js (the site loads it once from _static)."""
    return _INLINE_PLOTLYJS.sub("", text)


def round_csv(text: str, columns: tuple[str, ...] = ("x", "y", "y_err")) -> str:
    """The CSV ``text`` with the numbers of ``columns`` rounded to :data:`qnn.plotting.embedding.SIGNIFICANT_DIGITS`
    significant digits (the precision the book's data carry); other columns and non-numbers are kept as they are."""
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        return text
    indices = [i for i, name in enumerate(rows[0]) if name in columns]
    for row in rows[1:]:
        for i in indices:
            if i < len(row) and row[i]:
                try:
                    row[i] = repr(round_numbers(float(row[i])))
                except ValueError:
                    pass
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


def csv_links_to_files(text: str, folder: Path, href_prefix: str) -> str:
    """Write every inline CSV download (``<a class="qnn-csv-download" download="NAME" href="data:...">``, made by
    :func:`qnn.plotting.csv_download_link`) to ``folder/NAME``, its numbers rounded by :func:`round_csv`, and point
    the link at ``href_prefix + NAME``."""

    def replace(match: re.Match) -> str:
        name = match.group("name")
        if "/" in name or not name.endswith(".csv"):
            raise ExtensionError(f"bad CSV file name {name!r}")
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / name
        temporary = target.with_suffix(".csv.tmp")
        temporary.write_text(round_csv(base64.b64decode(match.group("payload")).decode("utf-8")), encoding="utf-8")
        os.replace(temporary, target)
        return f'{match.group("head")}href="{href_prefix}{name}"'

    return _CSV_LINK.sub(replace, text)


def _rewrite_doctree(app: Sphinx, doctree: nodes.document, docname: str) -> None:
    folder_name = f"{posixpath.basename(docname)}_csv"
    folder = Path(app.outdir) / posixpath.dirname(docname) / folder_name
    trace_types = getattr(app.env, "qnn_trace_types", None) or _plotly_bundle()[1]
    defined: set[str] = set()
    for node in list(doctree.findall(nodes.raw)):
        text = node.astext()
        if "Plotly.newPlot" in text or "qnnTemplates" in text:
            check_figures(text, trace_types, docname, defined)
        new = text
        if "plotly.js v" in new:
            new = strip_inline_plotlyjs(new)
        if "qnn-csv-download" in new:
            new = csv_links_to_files(new, folder, f"{folder_name}/")
        if new != text:
            node.parent.replace(node, nodes.raw("", new, format=node.get("format", "html")))


#: the theme's script that redraws its icons as SVG: the theme's stylesheet already draws them from the web font
_FONTAWESOME_JS = re.compile(r'\s*<script defer src="[./]*_static/scripts/fontawesome\.js[^"]*"></script>')


def drop_unread_files(outdir: Path) -> None:
    """Remove what the theme copies into ``_static`` but a reader's browser never loads: source maps (3.3 MB), the
    theme's translation catalogues (``locales``, used by Sphinx while it builds), the TrueType copies of the icon
    fonts (the stylesheet offers WOFF2 first, which every browser that runs the site reads), and the 1.5 MB
    ``fontawesome.js`` that redraws the same icons as SVG (its ``<script>`` is removed from every page)."""
    static = outdir / "_static"
    for source_map in static.rglob("*.map"):
        source_map.unlink()
    shutil.rmtree(static / "locales", ignore_errors=True)
    for font in static.glob("vendor/fontawesome/webfonts/*.ttf"):
        if font.with_suffix(".woff2").exists():
            font.unlink()
    for page in outdir.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        new = _FONTAWESOME_JS.sub("", text)
        if new != text:
            temporary = page.with_suffix(".html.tmp")
            temporary.write_text(new, encoding="utf-8")
            os.replace(temporary, page)
    for name in ("fontawesome.js", "fontawesome.js.LICENSE.txt"):
        (static / "scripts" / name).unlink(missing_ok=True)


def _drop_unread_files(app: Sphinx, exception: Exception | None) -> None:
    if exception is None and app.builder.format == "html":
        drop_unread_files(Path(app.outdir))


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
        # evaluating plotly.js costs CPU time on every page view: pages without a figure only prefetch it, so that
        # the next figure page finds it in the browser's cache
        href = context["pathto"](f"_static/{BUNDLE}", 1)
        context["metatags"] = context.get("metatags", "") + f'\n<link rel="prefetch" href="{href}" as="script">'
    for script in scripts:
        if not has_figures and posixpath.basename(getattr(script, "filename", None) or "") in (
                BUNDLE, "qnn-figures.js"):
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
    app.connect("build-finished", _drop_unread_files)
    app.connect("html-page-context", _page_context, priority=100)
    app.add_js_file(BUNDLE, priority=200)
    app.add_js_file("qnn-figures.js", priority=201)
    app.add_css_file("qnn-site.css")
    return {"parallel_read_safe": True, "parallel_write_safe": True}
