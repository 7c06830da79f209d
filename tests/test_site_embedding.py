"""How the book's site embeds its figures: the plotly.js bundle sized to the book (book/_ext/qnn_site.py, the
vendored plotly.js-cartesian-dist-min), the trimmed figure JSON (qnn.plotting.embedding) and the build's checks.

The browser side (figures drawn as they come into view, timings) is tests/test_browser_book.py.
"""
from __future__ import annotations

import base64
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
import pytest
from plotly.offline import get_plotlyjs_version

from qnn import plotting

from qnn.plotting import embedding

ROOT = Path(__file__).resolve().parents[1]
EXT = ROOT / "book" / "_ext"
sys.path.insert(0, str(EXT))
import qnn_site  # noqa: E402  (the book's Sphinx extension, not a package module)

plotting.core.use_notebook_renderer()   # the book's offline renderer, as plotting.show installs it on first use

BUNDLE_BUDGET = 1.6e6  # bytes of the served plotly.js


def _decode(spec: dict) -> np.ndarray:
    return np.frombuffer(base64.b64decode(spec["bdata"]), dtype={"f8": "<f8", "f4": "<f4"}[spec["dtype"]])


def _figure(trace_type=go.Scatter, n: int = 200) -> go.Figure:
    fig = plotting.new_figure("alpha", "mse")
    x = np.linspace(0.01, 3.0, n)
    if trace_type is go.Scatter:
        plotting.add_theory(fig, x, np.exp(-x) / 3, "theory")
    else:
        fig.add_trace(trace_type(x=x, y=x, z=x))
    return fig


# -- the bundle ------------------------------------------------------------------------------------------------------

def test_vendored_bundle_is_the_installed_plotlyjs_version_and_fits_its_budget():
    bundle, types = qnn_site._plotly_bundle()
    assert bundle.stat().st_size <= BUNDLE_BUDGET, f"{bundle.stat().st_size / 1e6:.2f} MB"
    assert f"v{get_plotlyjs_version()}" in bundle.read_text(encoding="utf-8")[:200]
    assert (bundle.parent / "LICENSE").read_text().startswith("MIT License")
    # the shared template keeps the defaults of exactly the trace types the bundle can draw
    assert types == embedding.TRACE_TYPES
    assert "scatter3d" not in types and {"scatter", "bar", "heatmap", "histogram"} <= types


def test_a_bundle_of_another_version_stops_the_build(tmp_path):
    fake = tmp_path / qnn_site.BUNDLE
    fake.write_text('/**\n* plotly.js (cartesian - minified) v0.0.1\n*/ moduleType:"trace",name:"scatter"')
    with pytest.raises(qnn_site.ExtensionError, match="refresh_plotly_bundle"):
        qnn_site._plotly_bundle(tmp_path)
    with pytest.raises(qnn_site.ExtensionError, match="not found"):
        qnn_site._plotly_bundle(tmp_path / "missing")


# -- the figure JSON ------------------------------------------------------------------------------------------------

def test_round_numbers_keeps_the_precision_the_data_carry():
    assert embedding.round_numbers(0.123456789012) == 0.1234568
    assert embedding.round_numbers([1.0000000049e-12, 7, True, "a", float("nan")])[:4] == [1e-12, 7, True, "a"]
    assert np.isnan(embedding.round_numbers(float("nan")))
    values = np.concatenate([np.geomspace(1e-30, 1e30, 500), -np.linspace(0, 5, 50), [np.nan, np.inf]])
    spec = {"dtype": "f8", "bdata": base64.b64encode(values.astype("<f8").tobytes()).decode()}
    stored = embedding.round_numbers({"y": spec})["y"]
    assert stored["dtype"] == "f4" and len(stored["bdata"]) < 0.55 * len(spec["bdata"])
    back = _decode(stored).astype(float)
    finite = np.isfinite(values)
    assert np.all(np.abs(back[finite] - values[finite]) <= 6e-8 * np.abs(values[finite]))
    assert np.isnan(back[-2]) and np.isinf(back[-1])
    # values outside float32's normal range keep float64 (a log axis may go there)
    tiny = {"dtype": "f8", "bdata": base64.b64encode(np.array([1e-45, 1.0]).tobytes()).decode()}
    assert embedding.round_numbers(tiny) == tiny
    with pytest.raises(ValueError, match="digits"):
        embedding.round_numbers(1.0, digits=0)


def test_embed_figure_shares_one_template_per_page_and_loses_nothing_drawn():
    fig = _figure()
    original = fig.to_dict()
    written: set[str] = set()
    first, preamble = embedding.embed_figure(original, written)
    second, again = embedding.embed_figure(fig.to_dict(), written)
    assert preamble.startswith("<script") and again == "" and len(written) == 1
    key = first["layout"]["template"]["qnnShared"]
    assert key in preamble and second["layout"]["template"] == {"qnnShared": key}
    assert "template" in original["layout"], "the input must not be modified"
    shared = json.loads(preamble[preamble.index("\"] = ") + 5:preamble.rindex(";</script>")])
    assert set(shared["data"]) <= embedding.TRACE_TYPES and shared["layout"] == json.loads(
        json.dumps(embedding.round_numbers(original["layout"]["template"]["layout"])))
    size = len(json.dumps(first))
    assert size < 0.5 * len(json.dumps(original)), (size, len(json.dumps(original)))
    for key_ in ("x", "y"):
        want, got = _decode(original["data"][0][key_]), _decode(first["data"][0][key_]).astype(float)
        np.testing.assert_allclose(got, want, rtol=6e-8, atol=0)
    with pytest.raises(ValueError, match="fig_dict"):
        embedding.embed_figure({"layout": {}}, set())


def test_share_arrays_writes_a_repeated_array_once():
    fig = _figure()
    x = np.linspace(0.01, 3.0, 200)
    plotting.add_theory(fig, x, np.exp(-x) / 3, "same y, other name")   # x and y as trace 0
    plotting.add_theory(fig, x, np.exp(-2 * x), "same x")
    trimmed, _ = embedding.embed_figure(fig.to_dict(), set())
    data = trimmed["data"]
    assert data[1]["x"] == {"qnnSame": [0, "x"]} and data[1]["y"] == {"qnnSame": [0, "y"]}
    assert data[2]["x"] == {"qnnSame": [0, "x"]} and "bdata" in data[2]["y"]
    assert embedding.share_arrays([{"x": [1, 2]}, {"x": [1, 2]}]) == [{"x": [1, 2]}, {"x": [1, 2]}]


def test_site_html_unescapes_only_the_slash():
    assert embedding.site_html("<p>", r'{"bdata":"ab\u002fc","t":"\u003c\u002fscript\u003e","s":"\\u002f"}') == (
        r'<p>{"bdata":"ab/c","t":"\u003c/script\u003e","s":"\\u002f"}')


def test_the_book_renderer_writes_the_shared_template_once(monkeypatch):
    renderer = pio.renderers["notebook"]
    monkeypatch.setenv("QNN_PLOTLYJS", "external")
    monkeypatch.setattr(plotting.core, "_TEMPLATES_WRITTEN", set())
    pages = [renderer.to_mimebundle(_figure().to_dict())["text/html"] for _ in range(3)]
    assert [page.count("window.qnnTemplates = window.qnnTemplates") for page in pages] == [1, 0, 0]
    assert all('"template":{"qnnShared":"' in page for page in pages)
    defined: set[str] = set()
    for page in pages:  # the build's check accepts the page in this order ...
        qnn_site.check_figures(page, embedding.TRACE_TYPES, "page", defined)
    with pytest.raises(qnn_site.ExtensionError, match="no earlier output"):  # ... and not without the first
        qnn_site.check_figures(pages[1], embedding.TRACE_TYPES, "page", set())
    # outside the book (a notebook, a Voila app) plotly's own embedding, which needs no qnn-figures.js
    monkeypatch.delenv("QNN_PLOTLYJS")
    assert "qnnShared" not in renderer.to_mimebundle(_figure().to_dict())["text/html"]


def test_figure_trace_types_reads_every_figure_of_a_page(monkeypatch):
    monkeypatch.setenv("QNN_PLOTLYJS", "external")
    html = "".join(pio.renderers["notebook"].to_mimebundle(f.to_dict())["text/html"]
                   for f in (_figure(), _figure(go.Heatmap), _figure(go.Scatter3d)))
    assert sorted(map(sorted, qnn_site.figure_trace_types(html).values())) == [["heatmap"], ["scatter"],
                                                                                ["scatter3d"]]
    with pytest.raises(qnn_site.ExtensionError, match="scatter3d.*does not draw"):
        qnn_site.check_figures(html, embedding.TRACE_TYPES, "book/page", set())


# -- the build ------------------------------------------------------------------------------------------------------

def _notebook_with(fig: go.Figure, path: Path) -> None:
    html = pio.renderers["notebook"].to_mimebundle(fig.to_dict())["text/html"]
    cell = nbformat.v4.new_code_cell("fig.show()", outputs=[nbformat.v4.new_output(
        "display_data", data={"text/html": html, "text/plain": "Figure"})])
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# A page"), cell], metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"}})
    nbformat.write(notebook, path)


@pytest.mark.parametrize("trace, fails", [(go.Scatter, False), (go.Scatter3d, True)])
def test_a_figure_outside_the_bundle_fails_the_book_build(tmp_path, monkeypatch, trace, fails):
    """The real build path (Sphinx + myst-nb + qnn_site, outputs already computed): a 3-D scatter stops it."""
    monkeypatch.setenv("QNN_PLOTLYJS", "external")
    monkeypatch.setattr(plotting.core, "_TEMPLATES_WRITTEN", set())
    source = tmp_path / "src"
    source.mkdir()
    _notebook_with(_figure(trace), source / "index.ipynb")
    (source / "conf.py").write_text(textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(EXT)!r})
        extensions = ["myst_nb", "qnn_site"]
        nb_execution_mode = "off"
        exclude_patterns = ["_build"]
        """))
    run = subprocess.run([sys.executable, "-m", "sphinx", "-b", "html", "-W", "-q", str(source),
                          str(tmp_path / "out")], capture_output=True, text=True, timeout=600)
    if fails:
        assert run.returncode != 0
        assert "scatter3d" in run.stderr and "does not draw" in run.stderr, run.stderr[-2000:]
    else:
        assert run.returncode == 0, run.stderr[-2000:]
        assert (tmp_path / "out" / "_static" / qnn_site.BUNDLE).exists()
        assert not (tmp_path / "out" / "_static" / "plotly.min.js").exists()


# -- what the site publishes ----------------------------------------------------------------------------------------

def test_round_csv_rounds_only_the_numbers_of_the_number_columns():
    text = ("trace,kind,panel,step,x,y,y_err\n"
            '"a, b",theory,λ = 0.1: density,,0.15000000000000002,2.4060150123456,\n'
            "c,simulation,p,0.123456789,1e-300,nan,0.0033593924448684035\n")
    assert qnn_site.round_csv(text) == ("trace,kind,panel,step,x,y,y_err\n"
                                        '"a, b",theory,λ = 0.1: density,,0.15,2.406015,\n'
                                        "c,simulation,p,0.123456789,1e-300,nan,0.003359392\n")
    assert qnn_site.round_csv("") == ""


def test_drop_unread_files_keeps_what_pages_load(tmp_path):
    static = tmp_path / "_static"
    for name in ("scripts/fontawesome.js", "scripts/fontawesome.js.LICENSE.txt", "scripts/bootstrap.js",
                 "scripts/bootstrap.js.map", "locales/fr/LC_MESSAGES/sphinx.mo",
                 "vendor/fontawesome/webfonts/fa-solid-900.ttf", "vendor/fontawesome/webfonts/fa-solid-900.woff2",
                 "vendor/fontawesome/webfonts/only.ttf"):
        (static / name).parent.mkdir(parents=True, exist_ok=True)
        (static / name).write_text("x")
    page = tmp_path / "book" / "page.html"
    page.parent.mkdir()
    page.write_text('<head>\n  <script defer src="../_static/scripts/fontawesome.js?digest=55c2"></script>\n'
                    '  <script defer src="../_static/scripts/bootstrap.js?digest=55c2"></script>\n</head>')
    qnn_site.drop_unread_files(tmp_path)
    left = sorted(str(f.relative_to(static)) for f in static.rglob("*") if f.is_file())
    assert left == ["scripts/bootstrap.js", "vendor/fontawesome/webfonts/fa-solid-900.woff2",
                    "vendor/fontawesome/webfonts/only.ttf"]
    assert page.read_text() == ('<head>\n  <script defer src="../_static/scripts/bootstrap.js?digest=55c2"></script>'
                                '\n</head>')
