"""The figure helpers of the qnn-book (pages and apps): :mod:`qnn.plotting` re-exports them.

Conventions (those of the paper's figures):

* theory = lines, simulation = markers with error bars of **±2 standard deviations over repetitions**
  (population std, ``ddof=0``); every figure with simulation markers says so in a note on the figure;
* one colour per value of the varied parameter, in a fixed order (:data:`PALETTE`, matplotlib's ``tab10`` so
  blue/orange/green match the paper's threshold curves);
* axis labels with the book's symbols (:data:`SYMBOLS`: α, κ, κ*, λ, Δ, γ, MSE, Loss_train, ISE, t).

Helpers
-------
:func:`label`                   axis label of a quantity (``label("kappa_star") == "κ*"``).
:func:`color`                   colour of the i-th value of a varied parameter.
:func:`new_figure`              an empty styled figure (optionally a grid of panels; log axes, ranges).
:func:`add_theory`              add a theory curve (line); :func:`theory_trace` builds the trace only.
:func:`add_simulation`          add simulation markers: mean ± 2 std (ddof=0) over repetitions, from raw samples;
                                :func:`simulation_trace` builds the trace only (for :func:`slider_figure`).
:func:`add_note`                a grey note below the x axis (e.g. how error bars are computed).
:func:`slider_figure`           a figure with a built-in plotly slider (or buttons) over precomputed trace groups;
                                stays interactive in the static HTML book, no kernel needed.
:func:`caption`                 the caption text, naming the paper figure it reproduces.
:func:`figure_csv`              the figure's own numbers as CSV text (one row per plotted point).
:func:`csv_download_link`       an offline ``<a download href="data:text/csv;base64,...">`` link to that CSV.
:func:`show`                    display a figure + caption + CSV link in a notebook / book page.

:func:`show` sets ``plotly.io.renderers.default = "notebook"`` (once, on first use): under myst-nb (the book) and Voila
the default plotly 7 renderer emits a mime type they cannot display; the ``notebook`` renderer inlines
plotly.js once per page and works offline. The ``notebook`` renderer is replaced by a subclass that drops the
MathJax CDN script plotly adds to every figure (the book serves its own MathJax; see book/_ext).
"""
from __future__ import annotations

import base64
import csv
import html
import io
import math
import os
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
from plotly.io._base_renderers import NotebookRenderer
from plotly.subplots import make_subplots

from .embedding import embed_figure, site_html
from .style import PLOTLY_CONFIG, figure_config, finish, increasing_steps, legend_per_panel, panel_gap

__all__ = ["PALETTE", "SYMBOLS", "ERROR_BAR_NOTE", "MEAN_ONLY_NOTE", "PLOTLY_CONFIG", "figure_config",
           "legend_per_panel", "label", "color", "new_figure", "theory_trace", "add_theory", "simulation_trace",
           "add_simulation", "add_note", "panel_names", "slider_figure", "caption", "figure_csv",
           "csv_download_link", "show"]

_TEMPLATES_WRITTEN: set[str] = set()  # shared templates already written into this page (kernel)
_CDN_MATHJAX = re.compile(r'<script src="https://cdnjs\.cloudflare\.com/ajax/libs/mathjax/[^"]*"></script>')


class _OfflineNotebookRenderer(NotebookRenderer):
    """plotly's ``notebook`` renderer minus the MathJax CDN ``<script>`` it adds to every figure.

    The book's figures use no LaTeX, the book serves its own MathJax (offline), and a second MathJax loaded from a
    CDN would fail offline and compete with the page's copy online.

    With ``QNN_PLOTLYJS=external`` in the environment (set by the book's Sphinx extension book/_ext/qnn_site.py
    for the kernels that execute the pages) plotly.js is not inlined at all: the site loads it once from its
    static files. Everywhere else (Voila apps, a plain notebook) it is inlined once per notebook, as plotly does.
    In the book each figure is also trimmed by :func:`qnn.plotting.embedding.embed_figure` (one shared template
    per page, numbers at the precision the data carry).
    """

    def activate(self) -> None:
        if os.environ.get("QNN_PLOTLYJS") == "external":
            return
        super().activate()

    def to_mimebundle(self, fig_dict: dict) -> dict:
        site = os.environ.get("QNN_PLOTLYJS") == "external"  # a book page: trimmed embedding (qnn.plotting.embedding)
        if site:
            fig_dict, preamble = embed_figure(fig_dict, _TEMPLATES_WRITTEN)
        bundle = super().to_mimebundle(fig_dict)
        bundle["text/html"] = _CDN_MATHJAX.sub("", bundle["text/html"])
        if site:
            bundle["text/html"] = site_html(preamble, bundle["text/html"])
        return bundle


def use_notebook_renderer() -> None:
    """Register the offline ``notebook`` renderer and make it plotly's default (done by :func:`show`, not at import:
    touching plotly's renderer registry imports nbformat and jsonschema, seconds of start-up that a Voila app, which
    draws through a FigureWidget, never needs)."""
    if not isinstance(pio.renderers["notebook"], _OfflineNotebookRenderer):
        pio.renderers["notebook"] = _OfflineNotebookRenderer(config={**(pio.renderers["notebook"].config or {}),
                                                                     **PLOTLY_CONFIG})
    if pio.renderers.default != "notebook":
        pio.renderers.default = "notebook"

#: matplotlib tab10: C0 blue, C1 orange, C2 green, ... (the paper's default colour cycle).
PALETTE: tuple[str, ...] = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                            "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")

#: Axis/legend symbols of the book's quantities (keys are the names used in :mod:`qnn`).
SYMBOLS: dict[str, str] = {
    "alpha": "α", "kappa": "κ", "kappa_star": "κ*", "lam": "λ", "noise": "Δ", "gamma": "γ", "t": "t",
    "d": "d", "xi": "ξ", "q": "q", "mse": "MSE", "loss_train": "Loss_train", "ise": "ISE",
    "kappa_min": "κ_min", "alpha_bo": "α_BO", "alpha_pr": "α_PR", "alpha_pr_plus": "α_PR⁺",
    "alpha_inter": "α_inter", "eigenvalue": "eigenvalue", "density": "density",
}

#: The note put on every figure that shows simulation markers.
ERROR_BAR_NOTE = "markers: mean over {reps} runs, bars ±2 std (population std, ddof=0)"
#: The note of figures whose markers have no error bars (time courses, as in the paper).
MEAN_ONLY_NOTE = "markers: mean over {reps} runs (no error bars)"


def label(name: str) -> str:
    """Axis label of a quantity: its symbol from :data:`SYMBOLS`, else ``name`` unchanged."""
    return SYMBOLS.get(name, name)


def color(index: int) -> str:
    """Colour of the ``index``-th value of a varied parameter (cycles through :data:`PALETTE`)."""
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or index < 0:
        raise ValueError(f"index must be an integer >= 0, got {index!r}")
    return PALETTE[int(index) % len(PALETTE)]


def _axis_name(kind: str, index: int) -> str:
    return f"{kind}axis" if index <= 1 else f"{kind}axis{index}"


def new_figure(x: str | Sequence[str] | None = None, y: str | Sequence[str] | None = None, *, log_x: bool = False,
               log_y: bool = False,
               x_range: Sequence[float] | None = None, y_range: Sequence[float] | None = None,
               title: str | None = None, rows: int = 1, cols: int = 1,
               subplot_titles: Sequence[str] | None = None, height: int | None = None,
               width: int | None = None) -> go.Figure:
    """An empty figure in the book's style.

    Parameters
    ----------
    x, y : str or sequence of str, optional
        Quantity names (``"alpha"``, ``"mse"``, ...) or free text; translated by :func:`label`. With several
        panels a single name labels every panel; a sequence gives one label per panel (row-major order).
    log_x, log_y : bool
        Logarithmic axes (all panels).
    x_range, y_range : (float, float), optional
        Axis ranges in data units (also for log axes; converted to plotly's log10 convention here).
    title : str, optional
        Figure title.
    rows, cols : int
        Grid of panels (``plotly.subplots.make_subplots``); address a panel with ``row=, col=`` in the add_*
        helpers.
    subplot_titles : sequence of str, optional
        Panel titles.
    height, width : int, optional
        Pixel size (default: plotly's automatic width, 420 px per row of panels).

    Returns
    -------
    plotly.graph_objects.Figure
    """
    if rows < 1 or cols < 1:
        raise ValueError(f"rows and cols must be integers >= 1, got rows={rows!r}, cols={cols!r}")
    if rows * cols > 1:
        # rows of panels apart by the pixels their tick labels, x titles and panel titles need (qnn.plotting.style)
        plot_height = (height or 420 * rows) - (60 if title else 30) - 60
        gap = panel_gap(x_titles=any(_per_panel("x", x, rows * cols)), panel_titles=any(subplot_titles or ()))
        fig = make_subplots(rows=rows, cols=cols, subplot_titles=subplot_titles, horizontal_spacing=0.16,
                            vertical_spacing=min(0.4, gap / max(plot_height, 1)))
    else:
        fig = go.Figure()
    fig.update_layout(template="plotly_white", height=height or 420 * rows, width=width,
                      margin=dict(l=60, r=20, t=60 if title else 30, b=60),
                      legend=dict(bgcolor="rgba(255,255,255,0.7)", tracegroupgap=0), font=dict(size=13))
    if title:  # at the very top of the figure, clear of a row of buttons (slider_figure) below it
        fig.update_layout(title=dict(text=title, x=0.5, xanchor="center", yref="container", y=1.0, yanchor="top",
                                     pad=dict(t=10), font=dict(size=15)))
    x_labels, y_labels = _per_panel("x", x, rows * cols), _per_panel("y", y, rows * cols)
    for index in range(1, rows * cols + 1):
        x_axis: dict[str, Any] = dict(showline=True, linecolor="black", mirror=True, ticks="outside",
                                      showgrid=True, zeroline=False)
        y_axis = dict(x_axis)
        if x_labels[index - 1] is not None:
            x_axis["title"] = label(x_labels[index - 1])
        if y_labels[index - 1] is not None:
            y_axis["title"] = label(y_labels[index - 1])
        if log_x:
            x_axis.update(type="log", exponentformat="power")
        if log_y:
            y_axis.update(type="log", exponentformat="power")
        if x_range is not None:
            x_axis["range"] = _plotly_range(x_range, log_x, "x_range")
        if y_range is not None:
            y_axis["range"] = _plotly_range(y_range, log_y, "y_range")
        fig.layout[_axis_name("x", index)].update(x_axis)
        fig.layout[_axis_name("y", index)].update(y_axis)
    return fig


def _per_panel(name: str, labels: str | Sequence[str] | None, n_panels: int) -> list[str | None]:
    if labels is None or isinstance(labels, str):
        return [labels] * n_panels
    labels = list(labels)
    if len(labels) != n_panels:
        raise ValueError(f"{name} must be one label or one per panel ({n_panels}), got {len(labels)}")
    return labels


def _plotly_range(bounds: Sequence[float], log: bool, name: str) -> list[float]:
    if len(bounds) != 2 or not all(math.isfinite(float(b)) for b in bounds) or float(bounds[0]) >= float(bounds[1]):
        raise ValueError(f"{name} must be two finite increasing numbers (low, high), got {bounds!r}")
    low, high = float(bounds[0]), float(bounds[1])
    if log:
        if low <= 0:
            raise ValueError(f"{name} on a log axis must be > 0, got {bounds!r}")
        return [math.log10(low), math.log10(high)]
    return [low, high]


def _finite_array(name: str, values: Any, ndim: int | tuple[int, ...]) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    allowed = (ndim,) if isinstance(ndim, int) else ndim
    if array.ndim not in allowed:
        raise ValueError(f"{name} must be an array with {' or '.join(map(str, allowed))} dimensions, "
                         f"got shape {array.shape}")
    return array


def theory_trace(x: Sequence[float], y: Sequence[float], name: str, *, color_index: int = 0,
                 dash: str | None = None, show_legend: bool = True, group: str | None = None,
                 line_color: str | None = None) -> go.Scatter:
    """A theory curve (a line) in the book's style; see :func:`add_theory` for the parameters."""
    x_values, y_values = _finite_array("x", x, 1), _finite_array("y", y, 1)
    if x_values.shape != y_values.shape:
        raise ValueError(f"x and y must have the same length, got {x_values.size} and {y_values.size}")
    return go.Scatter(x=x_values, y=y_values, mode="lines", name=name, showlegend=show_legend,
                      legendgroup=group or name, meta={"kind": "theory"},
                      line=dict(color=line_color or color(color_index), dash=dash or "solid", width=2.2))


def add_theory(fig: go.Figure, x: Sequence[float], y: Sequence[float], name: str, *, color_index: int = 0,
               dash: str | None = None, row: int | None = None, col: int | None = None,
               show_legend: bool = True, group: str | None = None, line_color: str | None = None) -> go.Figure:
    """Add a theory curve (a line) to ``fig``.

    Parameters
    ----------
    x, y : sequence of float
        Points of the curve, same length. Non-finite ``y`` values are drawn as gaps (e.g. where a branch does
        not exist).
    name : str
        Legend entry.
    color_index : int
        Index of the varied parameter's value (see :func:`color`); ``line_color`` overrides it.
    dash : {"solid", "dash", "dot", "dashdot"}, optional
    row, col : int, optional
        Panel (figures made with ``rows``/``cols``).
    group : str, optional
        Legend group shared with the matching simulation markers (one click hides both).
    """
    fig.add_trace(theory_trace(x, y, name, color_index=color_index, dash=dash, show_legend=show_legend,
                               group=group, line_color=line_color), row=row, col=col)
    return fig


def simulation_trace(x: Sequence[float], samples: Sequence[Sequence[float]], name: str, *,
                     color_index: int = 0, symbol: str = "circle", show_legend: bool = True,
                     group: str | None = None, marker_color: str | None = None,
                     error_bars: bool = True) -> go.Scatter:
    """Simulation markers (mean ± 2 std, ddof=0, over repetitions); see :func:`add_simulation`."""
    x_values = _finite_array("x", x, 1)
    values = _finite_array("samples", samples, 2)
    if values.shape[0] != x_values.size:
        raise ValueError(f"samples must have one row per x value: got {values.shape[0]} rows for {x_values.size} x")
    if values.shape[1] < 1:
        raise ValueError("samples must have at least one repetition per x value")
    if not np.all(np.isfinite(values)):
        raise ValueError("samples must be finite (a failed or diverged run must be reported, not plotted)")
    mean = values.mean(axis=1)
    spread = 2.0 * values.std(axis=1, ddof=0)
    reps = values.shape[1]
    marker = dict(color=marker_color or color(color_index), symbol=symbol, size=8 if error_bars else 6,
                  line=dict(width=0.5, color="black"))
    error_y = dict(type="data", array=spread, visible=True, thickness=1.2, width=3) if error_bars else None
    return go.Scatter(x=x_values, y=mean, mode="markers", name=f"{name} (sim.)", showlegend=show_legend,
                      legendgroup=group or name, meta={"kind": "simulation", "reps": reps, "error_bars": error_bars},
                      marker=marker, error_y=error_y)


def add_simulation(fig: go.Figure, x: Sequence[float], samples: Sequence[Sequence[float]], name: str, *,
                   color_index: int = 0, symbol: str = "circle", row: int | None = None, col: int | None = None,
                   show_legend: bool = True, group: str | None = None, marker_color: str | None = None,
                   error_bars: bool = True, note: bool = True) -> go.Figure:
    """Add simulation markers: mean over repetitions with ±2 std (population std, ``ddof=0``) error bars.

    Parameters
    ----------
    x : sequence of float, length ``k``
        Abscissae.
    samples : array of shape ``(k, reps)``
        One row of repetition values per abscissa (NaN entries are not allowed: a failed run must be reported,
        not averaged away).
    name : str
        Legend entry (`` (sim.)`` is appended).
    error_bars : bool
        Draw the ±2 std bars (default). The paper's time-course figures show the mean only: pass ``False``
        there (the note then says so).
    note : bool
        Add the error-bar note (:data:`ERROR_BAR_NOTE` or :data:`MEAN_ONLY_NOTE`) to the figure (once per figure).

    Notes
    -----
    The paper draws the mean of the final-time values with bars of ±2 population standard deviations of the
    repetitions (not of the mean); we do the same and state it on the figure.
    """
    trace = simulation_trace(x, samples, name, color_index=color_index, symbol=symbol, show_legend=show_legend,
                             group=group, marker_color=marker_color, error_bars=error_bars)
    fig.add_trace(trace, row=row, col=col)
    if note:
        _add_error_bar_note(fig, trace.meta["reps"], error_bars)
    return fig


#: Pixels between the bottom of the plotting area and the top of a note (below the x-axis title).
NOTE_OFFSET = 58
#: Bottom margin (pixels) of a figure with a note below its x axis.
NOTE_MARGIN = 92


def add_note(fig: go.Figure, text: str, *, name: str = "note") -> go.Figure:
    """Add a small grey note below the x-axis title of ``fig`` (right-aligned, at a fixed pixel distance from the
    plotting area, so it never overlaps the axis title, whatever the figure's height)."""
    fig.add_annotation(name=name, text=text, showarrow=False, xref="paper", yref="paper", x=1.0, y=0.0,
                       yshift=-NOTE_OFFSET, xanchor="right", yanchor="top", font=dict(size=11, color="#555"))
    sliders = list(fig.layout.sliders or [])
    needed = NOTE_MARGIN + (SLIDER_HEIGHT if sliders else 0)
    bottom = fig.layout.margin.b if fig.layout.margin.b is not None else 80
    if bottom < needed:
        fig.update_layout(margin=dict(b=needed))
        if sliders and fig.layout.height:  # keep the plotting area's height
            fig.update_layout(height=fig.layout.height + needed - bottom)
    for slider in sliders:  # a slider starts below the note
        if slider.pad.t is None or slider.pad.t < NOTE_MARGIN - 8:
            slider.pad.t = NOTE_MARGIN - 8
    return fig


def _add_error_bar_note(fig: go.Figure, reps: int | str, error_bars: bool = True) -> None:
    if any(getattr(a, "name", None) == "error-bar-note" for a in fig.layout.annotations):
        return
    text = (ERROR_BAR_NOTE if error_bars else MEAN_ONLY_NOTE).format(reps=reps)
    add_note(fig, text, name="error-bar-note")


def slider_figure(groups: Mapping[str, Sequence[go.Scatter]] | Sequence[tuple[str, Sequence[go.Scatter]]], *,
                  parameter: str, base: go.Figure | None = None, static: Sequence[go.Scatter] = (),
                  active: int = 0, control: str = "slider") -> go.Figure:
    """A figure with a built-in slider (or buttons) switching between precomputed groups of traces.

    Works in the static HTML book: the slider only toggles trace visibility (plotly's ``restyle``), no kernel.

    Parameters
    ----------
    groups : mapping ``step label -> traces`` (or a sequence of ``(label, traces)`` pairs)
        The traces shown at each slider position, e.g. ``{"0.1": [curve, markers], "0.2": [...]}``. Traces are
        added in order; their own ``visible`` flags are overwritten.
    parameter : str
        Name of the slider parameter (translated by :func:`label`), shown as the slider prefix.
    base : plotly Figure, optional
        A styled figure from :func:`new_figure` to add the traces to (default: a fresh one).
    static : sequence of traces
        Traces shown at every position (e.g. a reference curve).
    active : int
        Index of the initially selected group.
    control : {"slider", "buttons"}
        A slider (ordered parameters) or a row of buttons (categorical choices).

    Returns
    -------
    plotly.graph_objects.Figure
    """
    items = list(groups.items()) if isinstance(groups, Mapping) else [(str(k), list(v)) for k, v in groups]
    if not items:
        raise ValueError("groups must contain at least one (label, traces) entry")
    if control not in ("slider", "buttons"):
        raise ValueError(f"control must be 'slider' or 'buttons', got {control!r}")
    if isinstance(active, bool) or not isinstance(active, int) or not 0 <= active < len(items):
        raise ValueError(f"active must be an integer in [0, {len(items) - 1}], got {active!r}")
    if control == "slider":  # a slider over numbers runs in increasing order (the active step stays the same)
        items, active = increasing_steps(items, active)
    fig = base if base is not None else new_figure()
    for trace in static:
        fig.add_trace(trace)
    n_static = len(fig.data)
    owner: list[int] = []
    for index, (_, traces) in enumerate(items):
        for trace in traces:
            trace.visible = index == active
            fig.add_trace(trace)
            owner.append(index)
    sims = [t.meta for t in fig.data if isinstance(t.meta, dict) and t.meta.get("kind") == "simulation"]
    if sims:
        reps = [m["reps"] for m in sims]
        _add_error_bar_note(fig, min(reps) if min(reps) == max(reps) else f"{min(reps)}-{max(reps)}",
                            all(m.get("error_bars", True) for m in sims))
    steps = []
    for index, (step_label, _) in enumerate(items):
        visible = [True] * n_static + [o == index for o in owner]
        text = str(step_label)
        if control == "buttons" and "=" not in text:
            text = f"{label(parameter)} = {text}"
        steps.append(dict(method="restyle", args=[{"visible": visible}], label=text))
    margin = fig.layout.margin
    top, bottom = margin.t if margin.t is not None else 100, margin.b if margin.b is not None else 80
    if control == "slider":
        # the slider sits below the x-axis title and the note (NOTE_OFFSET), inside the figure
        fig.update_layout(sliders=[dict(active=active, steps=steps, x=0.0, len=1.0, y=0.0, yanchor="top",
                                        pad=dict(t=bottom - 8, b=10),
                                        currentvalue=dict(prefix=f"{label(parameter)} = "))],
                          margin=dict(b=bottom + SLIDER_HEIGHT), height=(fig.layout.height or 420) + SLIDER_HEIGHT)
    else:
        # a row of buttons in the top margin, above the panel titles, starting at the left of the plotting area
        height = (fig.layout.height or 420) + BUTTONS_HEIGHT
        plot_height = height - (top + BUTTONS_HEIGHT) - bottom
        fig.update_layout(updatemenus=[dict(type="buttons", direction="right", active=active, buttons=steps,
                                            x=0.0, xanchor="left", y=1.0 + 30.0 / plot_height, yanchor="bottom",
                                            pad=dict(t=0, b=0, l=0, r=0), showactive=True)],
                          margin=dict(t=top + BUTTONS_HEIGHT), height=height)
    return fig


#: Pixels added to a figure's height (and bottom margin) for a slider.
SLIDER_HEIGHT = 80
#: Pixels added to a figure's height (and top margin) for a row of buttons.
BUTTONS_HEIGHT = 44


def caption(paper_figure: int | str | None, text: str, *, deviations: str | None = None) -> str:
    """Caption text naming the paper figure it reproduces.

    Parameters
    ----------
    paper_figure : int or str or None
        Number of the paper's figure (``6`` -> "Reproduces paper Figure 6."), a free phrase such as
        ``"the theory curves of Figure 21"``, or ``None`` for a figure with no counterpart in the paper.
    text : str
        What the figure shows.
    deviations : str, optional
        How it differs from the paper's figure (smaller ``d``, fewer repetitions, ...).
    """
    if paper_figure is None:
        head = "Not in the paper."
    elif isinstance(paper_figure, (int, np.integer)):
        head = f"Reproduces paper Figure {int(paper_figure)}."
    else:
        head = f"Reproduces {paper_figure}."
    parts = [head, text.strip()]
    if deviations:
        parts.append(f"Differences from the paper: {deviations.strip()}")
    return " ".join(parts)


def _axis_title(axis: Any) -> str:
    title = getattr(axis, "title", None)
    return str(getattr(title, "text", None) or "") if title is not None else ""


def panel_names(fig: go.Figure) -> dict[str, str]:
    """A readable name for each panel of ``fig``, keyed by its plotly axes (``"x2/y2"``).

    The name is the panel's title (or the title of the panel above it in the same column) and the y-axis title (or
    that of the first panel of the same row), e.g. ``"Δ = 0.5: κ_min"``; a single unnamed panel is ``"main"``.
    """
    layout = fig.layout
    panels: dict[str, tuple[tuple[float, float], tuple[float, float], str]] = {}
    for trace in fig.data:
        key = f"{trace.xaxis or 'x'}/{trace.yaxis or 'y'}"
        if key in panels:
            continue
        x_axis = layout[_axis_name("x", int(trace.xaxis[1:] or 1) if trace.xaxis else 1)]
        y_axis = layout[_axis_name("y", int(trace.yaxis[1:] or 1) if trace.yaxis else 1)]
        x_domain = tuple(x_axis.domain) if x_axis.domain is not None else (0.0, 1.0)
        y_domain = tuple(y_axis.domain) if y_axis.domain is not None else (0.0, 1.0)
        panels[key] = (x_domain, y_domain, _axis_title(y_axis))
    titles = {}
    for annotation in layout.annotations or []:
        if annotation.xref == "paper" and annotation.yref == "paper" and annotation.text:
            titles[(round(float(annotation.x), 4), round(float(annotation.y), 4))] = str(annotation.text)

    def own_title(x_domain, y_domain):
        return titles.get((round((x_domain[0] + x_domain[1]) / 2, 4), round(y_domain[1], 4)), "")

    names = {}
    for key, (x_domain, y_domain, y_title) in panels.items():
        title = own_title(x_domain, y_domain)
        if not title:  # the title of the panel above, in the same column
            above = [(yd[0], own_title(xd, yd)) for xd, yd, _ in panels.values()
                     if abs(xd[0] - x_domain[0]) < 1e-6 and yd[0] > y_domain[0]]
            title = next((t for _, t in sorted(above) if t), "")
        if not y_title:  # the y-axis title of the first panel of the same row
            row = [(xd[0], yt) for xd, yd, yt in panels.values() if abs(yd[1] - y_domain[1]) < 1e-6 and yt]
            y_title = min(row)[1] if row else ""
        names[key] = ": ".join(part for part in (title, y_title) if part) or key
    if len(names) == 1 and names.get("x/y") == "x/y":
        names["x/y"] = "main"
    return names


def figure_csv(fig: go.Figure) -> str:
    """The numbers drawn in ``fig`` as CSV text, one row per plotted point.

    Columns: ``trace`` (legend name), ``kind`` (theory / simulation / other), ``panel`` (what the panel shows:
    its title and y-axis title, see :func:`panel_names`),
    ``step`` (slider/button label, empty for always-visible traces), ``x``, ``y``, ``y_err`` (the half-width of
    the drawn error bar, i.e. 2 std; empty without bars).
    """
    step_of: dict[int, str] = {}
    for control in list(fig.layout.sliders or []) + list(fig.layout.updatemenus or []):
        entries = [e for e in (getattr(control, "steps", None) or getattr(control, "buttons", None) or [])
                   if e.args and isinstance(e.args[0], dict) and "visible" in e.args[0]]
        for index in range(len(fig.data)):
            shown_at = [str(e.label) for e in entries if e.args[0]["visible"][index]]
            if entries and len(shown_at) < len(entries):
                step_of[index] = ";".join(shown_at)
    names = panel_names(fig)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["trace", "kind", "panel", "step", "x", "y", "y_err"])
    for index, trace in enumerate(fig.data):
        if trace.x is None or trace.y is None:
            continue
        kind = (trace.meta or {}).get("kind", "other") if isinstance(trace.meta, dict) else "other"
        errors = None
        if trace.error_y is not None and trace.error_y.array is not None:
            errors = list(trace.error_y.array)
        for point, (x_value, y_value) in enumerate(zip(trace.x, trace.y)):
            err = "" if errors is None else repr(float(errors[point]))
            panel = names[f"{trace.xaxis or 'x'}/{trace.yaxis or 'y'}"]
            writer.writerow([trace.name or f"trace {index}", kind, panel, step_of.get(index, ""),
                             _number(x_value), _number(y_value), err])
    return buffer.getvalue()


def _number(value: Any) -> str:
    if value is None:
        return ""
    try:
        return repr(float(value))
    except (TypeError, ValueError):
        return str(value)


def csv_download_link(fig: go.Figure, filename: str, text: str | None = None) -> str:
    """HTML link that downloads :func:`figure_csv` of ``fig`` as ``filename`` (works offline: a data: URL)."""
    if not filename or "/" in filename or not filename.endswith(".csv"):
        raise ValueError(f"filename must be a plain file name ending in .csv, got {filename!r}")
    payload = base64.b64encode(figure_csv(fig).encode("utf-8")).decode("ascii")
    anchor_text = html.escape(text or f"Download the numbers of this figure ({filename})")
    return (f'<a class="qnn-csv-download" download="{html.escape(filename)}" '
            f'href="data:text/csv;base64,{payload}">{anchor_text}</a>')


def show(fig: go.Figure, *, caption_text: str | None = None, csv_name: str | None = None,
         details: str | Sequence[str | None] | None = None) -> None:
    """Display ``fig`` in a notebook/book page, followed by its caption, the collapsed "How this figure was made"
    block and a CSV download link.

    Parameters
    ----------
    fig : plotly Figure
    caption_text : str, optional
        Usually :func:`caption` (...): what is plotted, parameters, what to see (about 60 words at most).
    csv_name : str, optional
        File name of the CSV download (``"figure6.csv"``); omitted -> no link.
    details : str or sequence of (str or None), optional
        Method sentences for the details block (solver, stopping rule, runs, differences from the paper), see
        :mod:`qnn.plotting.captions`; the markers' error-bar convention is added from the figure itself.
    """
    from IPython.display import HTML, display

    from . import captions

    use_notebook_renderer()
    finish(fig)  # the figure layer: decade labels on log axes (qnn.plotting.style)
    fig.show(config=figure_config(csv_name or None))
    pieces = [captions.caption_html(caption_text), captions.details_html(details, fig)]
    if csv_name:
        pieces.append(f"<p>{csv_download_link(fig, csv_name)}</p>")
    pieces = [piece for piece in pieces if piece]
    if pieces:
        display(HTML("\n".join(pieces)))
