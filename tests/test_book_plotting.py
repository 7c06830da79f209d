"""The shared figure style (qnn.plotting): numbers drawn = numbers exported, error-bar convention, bad input."""
from __future__ import annotations

import base64
import csv
import io
import re

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
import pytest

from qnn import plotting

plotting.core.use_notebook_renderer()   # the book's offline renderer, as plotting.show installs it on first use


def _rows(fig):
    return list(csv.DictReader(io.StringIO(plotting.figure_csv(fig))))


def test_show_selects_the_offline_notebook_renderer(monkeypatch):
    """plotting.show makes the offline notebook renderer the default (importing qnn.plotting does not: activating
    it imports nbformat/jsonschema, seconds of start-up for a Voila app that never calls show)."""
    monkeypatch.setattr(pio.renderers, "default", "json")
    monkeypatch.setattr(go.Figure, "show", lambda self, *a, **k: None)
    monkeypatch.setattr("IPython.display.display", lambda *a, **k: None)
    plotting.show(plotting.new_figure("alpha", "mse"))
    assert pio.renderers.default == "notebook"
    assert type(pio.renderers["notebook"]).__name__ == "_OfflineNotebookRenderer"


def test_simulation_markers_are_mean_and_two_population_std():
    rng = np.random.default_rng(0)
    samples = rng.normal(size=(4, 5))
    fig = plotting.new_figure("alpha", "mse", log_y=True)
    plotting.add_simulation(fig, [0.1, 0.2, 0.3, 0.4], samples ** 2, "λ = 0.1")
    trace = fig.data[0]
    np.testing.assert_allclose(trace.y, (samples ** 2).mean(axis=1))
    np.testing.assert_allclose(trace.error_y.array, 2 * (samples ** 2).std(axis=1, ddof=0))
    assert not np.allclose(trace.error_y.array, 2 * (samples ** 2).std(axis=1, ddof=1))
    notes = [a.text for a in fig.layout.annotations]
    assert notes == ["markers: mean over 5 runs, bars ±2 std (population std, ddof=0)"]
    plotting.add_simulation(fig, [0.5], [[1.0, 2.0]], "again")  # note added once only
    assert len(fig.layout.annotations) == 1


def test_csv_matches_the_drawn_numbers():
    fig = plotting.new_figure("alpha", ("mse", "loss_train"), rows=1, cols=2, subplot_titles=["Δ = 0", "Δ = 1"])
    x = np.linspace(0.01, 0.6, 7)
    plotting.add_theory(fig, x, np.exp(-x), "theory", row=1, col=1)
    plotting.add_simulation(fig, x[:3], np.arange(6.0).reshape(3, 2), "sim", color_index=2, row=1, col=2)
    rows = _rows(fig)
    assert len(rows) == 7 + 3
    theory = [r for r in rows if r["kind"] == "theory"]
    np.testing.assert_array_equal([float(r["x"]) for r in theory], x)  # exact (repr round trip)
    np.testing.assert_array_equal([float(r["y"]) for r in theory], np.exp(-x))
    sim = [r for r in rows if r["kind"] == "simulation"]
    assert [float(r["y"]) for r in sim] == [0.5, 2.5, 4.5]
    assert [float(r["y_err"]) for r in sim] == [1.0, 1.0, 1.0]
    assert {r["panel"] for r in sim} == {"Δ = 1: Loss_train"}
    assert {r["panel"] for r in theory} == {"Δ = 0: MSE"}


def test_panel_names_fall_back_to_the_column_title_and_the_row_label():
    fig = plotting.new_figure("alpha", ["slope", "", "mse", ""], rows=2, cols=2, subplot_titles=["A", "B", "", ""])
    for panel in range(4):
        plotting.add_theory(fig, [0, 1], [1, 2], f"t{panel}", row=panel // 2 + 1, col=panel % 2 + 1)
    assert plotting.panel_names(fig) == {"x/y": "A: slope", "x2/y2": "B: slope", "x3/y3": "A: MSE",
                                         "x4/y4": "B: MSE"}
    single = plotting.new_figure()
    plotting.add_theory(single, [0, 1], [1, 2], "t")
    assert plotting.panel_names(single) == {"x/y": "main"}


def test_controls_sit_inside_the_figure():
    groups = {"0.1": [plotting.theory_trace([0, 1], [0, 1], "a")], "0.2": [plotting.theory_trace([0, 1], [1, 0], "b")]}
    buttons = plotting.slider_figure(groups, parameter="lam", control="buttons",
                                     base=plotting.new_figure("alpha", "mse", title="a title"))
    menu = buttons.layout.updatemenus[0]
    assert [b.label for b in menu.buttons] == ["λ = 0.1", "λ = 0.2"]  # the parameter is named on each button
    plot_height = buttons.layout.height - buttons.layout.margin.t - buttons.layout.margin.b
    above = (menu.y - 1.0) * plot_height  # px between the plotting area and the buttons' bottom
    assert 0 < above and above + 30 <= buttons.layout.margin.t - 20  # room for the buttons and the title above
    slider = plotting.slider_figure(groups, parameter="lam")
    plotting.add_simulation(slider, [0.5], [[1.0, 2.0]], "sim")
    note = [a for a in slider.layout.annotations if a.name == "error-bar-note"][0]
    assert note.y == 0 and note.yshift == -plotting.NOTE_OFFSET  # a fixed distance below the axis, in pixels
    assert slider.layout.sliders[0].pad.t >= plotting.NOTE_OFFSET  # the slider starts below the axis title


def test_download_link_embeds_the_csv():
    fig = plotting.new_figure()
    plotting.add_theory(fig, [1, 2], [3, 4], "a")
    link = plotting.csv_download_link(fig, "fig.csv")
    payload = re.search(r'href="data:text/csv;base64,([^"]+)"', link).group(1)
    assert base64.b64decode(payload).decode() == plotting.figure_csv(fig)
    assert 'download="fig.csv"' in link
    with pytest.raises(ValueError, match="filename"):
        plotting.csv_download_link(fig, "../fig.txt")


def test_slider_figure_toggles_groups_and_exports_steps():
    groups = {f"{k}": [plotting.theory_trace([0, 1], [k, k], f"curve {k}", color_index=i)]
              for i, k in enumerate([0.1, 0.2, 0.3])}
    fig = plotting.slider_figure(groups, parameter="kappa_star", active=1,
                                 static=[go.Scatter(x=[0, 1], y=[0, 0], name="reference")])
    assert [t.visible for t in fig.data] == [None, False, True, False]
    steps = fig.layout.sliders[0].steps
    assert [s.label for s in steps] == ["0.1", "0.2", "0.3"]
    assert steps[2].args[0]["visible"] == [True, False, False, True]
    assert fig.layout.sliders[0].currentvalue.prefix == "κ* = "
    rows = _rows(fig)
    assert {r["trace"]: r["step"] for r in rows} == {"reference": "", "curve 0.1": "0.1", "curve 0.2": "0.2",
                                                      "curve 0.3": "0.3"}
    buttons = plotting.slider_figure(list(groups.items()), parameter="lam", control="buttons")
    assert len(buttons.layout.updatemenus[0].buttons) == 3


def test_caption_names_the_paper_figure():
    assert plotting.caption(6, "MSE vs α.").startswith("Reproduces paper Figure 6. MSE vs α.")
    assert "Differences from the paper: d = 30." in plotting.caption(8, "x", deviations="d = 30.")
    assert plotting.caption(None, "x").startswith("Not in the paper.")


def test_labels_colours_and_log_ranges():
    assert plotting.label("kappa_star") == "κ*" and plotting.label("unknown") == "unknown"
    assert plotting.color(0) == plotting.color(len(plotting.PALETTE))
    fig = plotting.new_figure("t", ("mse", "loss_train"), log_x=True, log_y=True, rows=1, cols=2,
                              y_range=(1e-6, 10))
    assert fig.layout.yaxis.range == (-6.0, 1.0) and fig.layout.yaxis2.title.text == "Loss_train"


@pytest.mark.parametrize("call, match", [
    (lambda: plotting.color(-1), "index"),
    (lambda: plotting.new_figure(rows=0), "rows"),
    (lambda: plotting.new_figure(log_y=True, y_range=(0, 1)), "y_range"),
    (lambda: plotting.new_figure(x_range=(1, 0)), "x_range"),
    (lambda: plotting.new_figure("a", ("b",), rows=1, cols=2), "one per panel"),
    (lambda: plotting.add_theory(plotting.new_figure(), [0, 1], [1], "a"), "same length"),
    (lambda: plotting.add_simulation(plotting.new_figure(), [0, 1], [[1.0]], "a"), "one row per x"),
    (lambda: plotting.add_simulation(plotting.new_figure(), [0], [[np.nan]], "a"), "finite"),
    (lambda: plotting.slider_figure({}, parameter="a"), "at least one"),
    (lambda: plotting.slider_figure({"a": []}, parameter="a", active=3), "active"),
    (lambda: plotting.slider_figure({"a": []}, parameter="a", control="knob"), "control"),
])
def test_bad_input_is_a_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_notebook_renderer_loads_nothing_from_the_internet():
    fig = plotting.new_figure("alpha", "mse")
    plotting.add_theory(fig, [0, 1], [1, 2], "a")
    html = pio.renderers["notebook"].to_mimebundle(fig.to_dict())["text/html"]
    assert "Plotly.newPlot" in html
    assert "cdnjs" not in html and 'src="http' not in html
