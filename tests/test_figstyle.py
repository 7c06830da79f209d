"""The figure layer (qnn.plotting.style, applied by qnn.plotting): toolbar, log-axis ticks, panel gaps, legends,
sliders.

The drawn result (no overlapping text, no share button, at 1400 and 400 px) is checked in the browser by
tests/test_browser_figures.py; these tests check the layout each figure is given.
"""
from __future__ import annotations

import math

import numpy as np
import plotly.io as pio
import pytest

from qnn import plotting

from qnn.plotting import style as figstyle

plotting.core.use_notebook_renderer()   # the book's offline renderer, as plotting.show installs it on first use


def test_toolbar_has_no_upload_button_and_png_is_named_and_scaled():
    config = figstyle.figure_config("figure6.csv")
    assert config["showSendToCloud"] is False
    assert set(figstyle.FORBIDDEN_BUTTONS) <= set(config["modeBarButtonsToRemove"])
    assert config["toImageButtonOptions"] == {"format": "png", "filename": "qnn-figure6", "scale": 2}
    assert figstyle.figure_config("qnn-figure6")["toImageButtonOptions"]["filename"] == "qnn-figure6"
    assert figstyle.PLOTLY_CONFIG["toImageButtonOptions"]["filename"] == "qnn-figure"  # not modified in place
    with pytest.raises(ValueError, match="name"):
        figstyle.figure_config(".csv")


def test_the_page_html_carries_the_config():
    fig = plotting.new_figure("alpha", "mse")
    plotting.add_theory(fig, [0.1, 0.2], [1.0, 0.5], "theory")
    bundle = pio.renderers["notebook"].to_mimebundle(fig.to_dict())  # the renderer's default config
    assert '"showSendToCloud": false' in bundle["text/html"]
    html = pio.to_html(fig, config=figstyle.figure_config("figure2.csv"), include_plotlyjs=False)
    assert '"filename": "qnn-figure2"' in html and '"scale": 2' in html


@pytest.mark.parametrize("low, high", [(1e-3, 10), (0.1, 8), (0.3, 3), (1e-12, 5), (0.04, 6), (0.5, 0.9),
                                       (2e-4, 2), (0.05, 2000), (0.35, 11), (0.9, 1.3)])
def test_log_ticks_label_at_least_two_values_and_never_a_crowd(low, high):
    major, text, minor = figstyle.log_ticks(low, high)
    assert 2 <= len(major) <= 8, (major, text)
    assert all(low * (1 - 1e-9) <= v <= high * (1 + 1e-9) for v in major + minor)
    assert len(text) == len(major) and not set(major) & set(minor)
    assert all(t for t in text)


def test_log_ticks_at_decades_when_three_decades_are_in_view():
    major, text, minor = figstyle.log_ticks(1e-3, 10)
    assert major == [1e-3, 1e-2, 0.1, 1.0, 10.0] and text == ["0.001", "0.01", "0.1", "1", "10"]
    assert minor[:2] == [2e-3, 3e-3]
    major, text, _ = figstyle.log_ticks(1e-12, 5)
    assert text[0] == "10⁻¹²" and len(major) == 7  # every second decade
    assert figstyle.log_ticks(0.1, 8)[1] == ["0.1", "0.3", "1", "3"]
    with pytest.raises(ValueError, match="low and high"):
        figstyle.log_ticks(0.0, 1.0)


def test_log_axes_of_a_figure_get_a_range_and_the_ticks():
    fig = plotting.new_figure("t", "mse", log_x=True, log_y=True, y_range=(0.1, 8))
    plotting.add_theory(fig, [0.05, 2000.0], [1.0, 2.0], "theory")
    figstyle.finish(fig)
    assert list(fig.layout.yaxis.ticktext) == ["0.1", "0.3", "1", "3"]
    x_range = fig.layout.xaxis.range
    assert x_range[0] < math.log10(0.05) and x_range[1] > math.log10(2000.0)
    assert list(fig.layout.xaxis.ticktext) == ["0.1", "1", "10", "100", "1000"]
    assert fig.layout.xaxis.minor.tickvals and fig.layout.xaxis.tickmode == "array"


def test_rows_of_panels_leave_room_for_ticks_axis_titles_and_panel_titles():
    for rows, height in ((2, 600), (2, None), (3, None), (4, 900)):
        fig = plotting.new_figure("t", "mse", rows=rows, cols=2, height=height,
                                  subplot_titles=[f"panel {i}" for i in range(2 * rows)])
        plot_px = fig.layout.height - fig.layout.margin.t - fig.layout.margin.b
        upper, lower = fig.layout.yaxis.domain, fig.layout.yaxis3.domain
        gap_px = (upper[0] - lower[1]) * plot_px
        assert gap_px >= figstyle.panel_gap(x_titles=True, panel_titles=True) - 1, (rows, height, gap_px)


def test_legend_per_panel_gives_each_panel_its_own_legend():
    fig = plotting.new_figure("alpha", "mse", rows=1, cols=2)
    for index in range(3):
        plotting.add_theory(fig, [0, 1], [1, 2], f"Δ = {index}", color_index=index, row=1, col=1)
        plotting.add_theory(fig, [0, 1], [1, 2], f"λ = {index}", color_index=index, row=1, col=2)
    plotting.legend_per_panel(fig)
    legends = {trace.name: trace.legend or "legend" for trace in fig.data}
    assert {legends[f"Δ = {i}"] for i in range(3)} == {"legend"}
    assert {legends[f"λ = {i}"] for i in range(3)} == {"legend2"}
    assert fig.layout.legend2.x == pytest.approx(fig.layout.xaxis2.domain[0])  # below its own panel
    assert fig.layout.legend.x == pytest.approx(fig.layout.xaxis.domain[0])
    assert fig.layout.legend.y < 0 and fig.layout.legend.yanchor == "top"
    plot_px = fig.layout.height - fig.layout.margin.t - fig.layout.margin.b
    assert plot_px == 420 - 30 - 60                                   # the panels keep their height
    below_px = fig.layout.margin.b + fig.layout.legend.y * plot_px     # room left under the legend's top
    assert below_px >= 3 * figstyle.LEGEND_ENTRY_PX
    assert fig.layout.meta["qnn_bottom_without_legends"] == 60


def test_a_slider_over_numbers_runs_in_increasing_order():
    groups = {}
    for kappa in (0.7, 0.5, 0.4, 0.35):
        groups[f"{kappa:g}"] = [plotting.theory_trace([0, 1], [kappa, kappa], f"κ = {kappa:g}")]
    fig = plotting.slider_figure(groups, parameter="kappa", active=0)
    steps = [step.label for step in fig.layout.sliders[0].steps]
    assert steps == ["0.35", "0.4", "0.5", "0.7"]
    active = fig.layout.sliders[0].active
    assert steps[active] == "0.7"  # the same group is shown first
    shown = [trace.name for trace in fig.data if trace.visible]
    assert shown == ["κ = 0.7"]
    labels, index = figstyle.increasing_steps([("a", 1), ("b", 2)], 1)
    assert labels == [("a", 1), ("b", 2)] and index == 1   # not numbers: order kept
    assert np.all(np.diff([float(s) for s in steps]) > 0)


def test_rows_are_spaced_with_the_final_margins():
    # the margins grow after new_figure (a legend on top, a note below): the gap is made good when shown
    fig = plotting.new_figure("t", "mse", rows=2, cols=3, height=600, subplot_titles=[f"p{i}" for i in range(6)])
    plotting.add_note(fig, "a note")
    fig.update_layout(margin=dict(t=90))
    panel_px = (fig.layout.yaxis.domain[1] - fig.layout.yaxis.domain[0]) * (600 - 90 - fig.layout.margin.b)
    figstyle.finish(fig)
    plot_px = fig.layout.height - 90 - fig.layout.margin.b
    gap_px = (fig.layout.yaxis.domain[0] - fig.layout.yaxis4.domain[1]) * plot_px
    assert gap_px == pytest.approx(figstyle.panel_gap(x_titles=True, panel_titles=True), abs=1)
    assert (fig.layout.yaxis.domain[1] - fig.layout.yaxis.domain[0]) * plot_px == pytest.approx(panel_px, abs=1)
    titles = {a.text: a.y for a in fig.layout.annotations if a.text.startswith("p")}
    assert titles["p3"] == pytest.approx(fig.layout.yaxis4.domain[1]) and titles["p0"] == pytest.approx(1.0)
