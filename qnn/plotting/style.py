"""The figure layer under :mod:`qnn.plotting`: what every book figure gets before it is drawn.

* **Toolbar** (:data:`PLOTLY_CONFIG`, :func:`figure_config`): download / zoom / pan / reset only; no button that
  uploads or shares anything (plotly.js 4 shows "Share chart", an upload to Plotly Cloud, unless told not to);
  the PNG download at twice the screen resolution, named after the figure (``qnn-figure6.png``).
* **Log axes** (:func:`log_ticks`, :func:`label_log_axes`): labelled at decades (or at 1, 2, 5 times a power of ten
  when the axis spans less than two decades), with unlabelled minor ticks in between; never a crowd of minor
  digits, never a single label.
* **Panel spacing** (:func:`panel_gap`): the vertical gap of a grid of panels, in pixels, leaves room for the tick
  labels and axis title of the panel above *and* the title of the panel below.
* **Legends** (:func:`legend_per_panel`): one legend per panel, below it, so that each legend encodes the one
  variable its panel varies.
* **Sliders** (:func:`increasing_steps`): a slider over numbers runs in increasing order.

:func:`finish` applies the automatic parts (log axes); :func:`qnn.plotting.show` calls it.
"""
from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

__all__ = ["PLOTLY_CONFIG", "FORBIDDEN_BUTTONS", "figure_config", "log_ticks", "label_log_axes", "panel_gap",
           "space_rows", "legend_per_panel", "increasing_steps", "finish"]

#: plotly's ``config`` of every book figure (:func:`figure_config` adds the PNG file name).
PLOTLY_CONFIG: dict[str, Any] = {
    "displaylogo": False, "responsive": True,
    "showSendToCloud": False,  # plotly.js 4 has no showLink / showEditInChartStudio any more (plotly.py warns)
    "modeBarButtonsToRemove": ["zoomIn2d", "zoomOut2d", "autoScale2d", "lasso2d", "select2d",
                               "toggleSpikelines", "hoverClosestCartesian", "hoverCompareCartesian",
                               "sendChartToCloud", "sendDataToCloud", "editInChartStudio", "downloadJson"],
    "toImageButtonOptions": {"format": "png", "filename": "qnn-figure", "scale": 2},
}
#: plotly's names of the toolbar buttons that would send a figure anywhere; none may ever be shown.
FORBIDDEN_BUTTONS = ("sendChartToCloud", "sendDataToCloud", "editInChartStudio")

_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def figure_config(name: str | None = None) -> dict[str, Any]:
    """plotly's ``config`` of a book figure: :data:`PLOTLY_CONFIG` with the PNG download named ``qnn-<name>``.

    Parameters
    ----------
    name : str, optional
        The figure's CSV name or any stem: ``"figure6.csv"`` and ``"figure6"`` both give ``qnn-figure6.png``.
    """
    config = {**PLOTLY_CONFIG, "modeBarButtonsToRemove": list(PLOTLY_CONFIG["modeBarButtonsToRemove"]),
              "toImageButtonOptions": dict(PLOTLY_CONFIG["toImageButtonOptions"])}
    if name is not None:
        stem = re.sub(r"[^A-Za-z0-9_-]+", "-", re.sub(r"\.csv$", "", str(name))).strip("-")
        if not stem:
            raise ValueError(f"name must contain a letter or a digit, got {name!r}")
        config["toImageButtonOptions"]["filename"] = stem if stem.startswith("qnn-") else f"qnn-{stem}"
    return config


def _decade_text(power: int, plain: bool) -> str:
    if plain:
        return f"{10.0 ** power:g}"
    return "10" + str(power).translate(_SUPERSCRIPT)


def log_ticks(low: float, high: float) -> tuple[list[float], list[str], list[float]]:
    """Labelled and minor ticks of a log axis showing ``[low, high]`` (data units).

    Three powers of ten or more in view: labels at the powers of ten (every second or third one when there are
    more than 7 or 14), minor ticks at 2-9 times each power. Fewer: labels at 1 and 3 times the powers of ten
    (spans over 1.3 decades) or at 1, 2 and 5 times, minor ticks at the other integer multiples. Labels are plain
    numbers (``0.001``, ``1``, ``1000``) while every decade label lies within ``[0.001, 1000]``, powers of ten
    (``10⁻⁴``) otherwise.

    Returns
    -------
    (major values, major labels, minor values)
    """
    if not (math.isfinite(low) and math.isfinite(high)) or low <= 0 or high <= low:
        raise ValueError(f"low and high must satisfy 0 < low < high < inf, got {low!r}, {high!r}")
    eps = 1e-9
    first, last = math.floor(math.log10(low)), math.ceil(math.log10(high))
    inside = [(m, k) for k in range(first, last + 1) for m in range(1, 10)
              if low * (1 - eps) <= m * 10.0 ** k <= high * (1 + eps)]
    decades = [k for m, k in inside if m == 1]
    if len(decades) >= 3:
        step = 1 if len(decades) <= 7 else 2 if len(decades) <= 14 else 3
        anchor = 0 if 0 in decades else decades[0]
        labelled = [k for k in decades if (k - anchor) % step == 0]
        plain = all(-3 <= k <= 3 for k in labelled)
        major = [10.0 ** k for k in labelled]
        text = [_decade_text(k, plain) for k in labelled]
        minor = [m * 10.0 ** k for m, k in inside if m > 1 or k not in labelled]
        return major, text, minor
    chosen = [(m, k) for m, k in inside if m in ((1, 3) if math.log10(high / low) >= 1.3 else (1, 2, 5))]
    if len(chosen) < 2:  # less than a factor 2.5: every integer multiple
        chosen = inside
    major = [float(f"{m * 10.0 ** k:.12g}") for m, k in chosen]
    text = [f"{value:g}" for value in major]
    minor = [float(f"{m * 10.0 ** k:.12g}") for m, k in inside if (m, k) not in chosen]
    return major, text, minor


def _axis_values(fig: go.Figure, axis_key: str) -> np.ndarray:
    """Every positive finite value drawn on layout axis ``axis_key`` (``"yaxis2"``), error bars included."""
    letter, number = axis_key[0], axis_key[5:]
    ref = letter + number
    values = []
    for trace in fig.data:
        if (getattr(trace, f"{letter}axis", None) or letter) != ref:
            continue
        data = getattr(trace, letter, None)
        if data is None:
            continue
        try:
            centre = np.asarray(data, dtype=float).ravel()
        except (TypeError, ValueError):
            continue
        values.append(centre)
        error = getattr(trace, f"error_{letter}", None)
        if error is not None and error.array is not None and error.visible is not False:
            spread = np.asarray(error.array, dtype=float).ravel()
            if spread.shape == centre.shape:
                values += [centre + spread, centre - spread]
    if not values:
        return np.empty(0)
    flat = np.concatenate(values)
    return flat[np.isfinite(flat) & (flat > 0)]


def label_log_axes(fig: go.Figure) -> go.Figure:
    """Give every log axis of ``fig`` the ticks of :func:`log_ticks` (in place; returns ``fig``).

    An axis without a range gets one: the extent of its data (error bars included), widened by 4 % of its
    span on each side, so that the labelled ticks are those the reader sees.
    """
    for key in list(fig.layout.to_plotly_json()):
        if not re.fullmatch(r"[xy]axis\d*", key) or fig.layout[key].type != "log":
            continue
        axis = fig.layout[key]
        if axis.range is not None:
            low, high = 10.0 ** float(axis.range[0]), 10.0 ** float(axis.range[1])
        else:
            values = _axis_values(fig, key)
            if values.size == 0:
                continue
            span = max(math.log10(values.max() / values.min()), 0.1)
            low_exp = math.log10(values.min()) - 0.04 * span
            high_exp = math.log10(values.max()) + 0.04 * span
            axis.range = [low_exp, high_exp]
            low, high = 10.0 ** low_exp, 10.0 ** high_exp
        if not high > low > 0:
            continue
        major, text, minor = log_ticks(low, high)
        axis.update(tickmode="array", tickvals=major, ticktext=text, exponentformat="power",
                    minor=dict(tickmode="array", tickvals=minor, ticks="outside", ticklen=3, showgrid=False))
    return fig


#: Pixels of the tick labels (and tick marks) below a panel, of an axis title, and of a panel title.
TICK_LABELS_PX, AXIS_TITLE_PX, PANEL_TITLE_PX = 26, 24, 24


def panel_gap(*, x_titles: bool, panel_titles: bool) -> int:
    """Pixels between two rows of panels: tick labels of the upper panel, its x-axis title (``x_titles``) and the
    title of the lower panel (``panel_titles``), plus 10 px of air."""
    return TICK_LABELS_PX + (AXIS_TITLE_PX if x_titles else 0) + (PANEL_TITLE_PX if panel_titles else 0) + 10


#: Pixels from the bottom of the plotting area to a legend below a panel (below the x title, or below the note).
LEGEND_BELOW_PX, LEGEND_BELOW_NOTE_PX, LEGEND_ENTRY_PX = 56, 84, 19


def legend_per_panel(fig: go.Figure, *, font_size: int = 11) -> go.Figure:
    """One legend per panel, below the panel (in place; returns ``fig``).

    Each trace goes to the legend of its panel (``legend`` for the first panel with entries, ``legend2``, ... for
    the next ones), so that the colours of one panel's legend stand for the one parameter that panel varies. The
    legends sit below the panels' x titles (and below a note), left-aligned with their panel; the figure grows by
    the tallest legend, the panels keep their height. On a narrow screen the site's layout script
    (book/_ext/static/qnn-figures.js) stacks the panels and puts each legend in its panel's top-right corner
    (and gives the bottom margin back: ``layout.meta["qnn_bottom_without_legends"]``).
    """
    panels: dict[str, int] = {}
    for trace in fig.data:
        key = trace.xaxis or "x"
        panels.setdefault(key, 0)
        if trace.showlegend is not False and trace.name:
            panels[key] += 1
    layout = fig.layout
    top = layout.margin.t if layout.margin.t is not None else 100
    bottom = layout.margin.b if layout.margin.b is not None else 80
    height = layout.height or 450
    noted = any(getattr(a, "name", None) in ("note", "error-bar-note") for a in layout.annotations or [])
    offset = LEGEND_BELOW_NOTE_PX if noted else LEGEND_BELOW_PX
    room = offset + LEGEND_ENTRY_PX * max(panels.values(), default=0) + 12 - bottom
    plot_px = height - top - bottom
    for index, key in enumerate(panels):
        name = "legend" if index == 0 else f"legend{index + 1}"
        x_domain = layout["xaxis" + key[1:]].domain
        layout[name] = dict(x=float(x_domain[0]) if x_domain is not None else 0.0, y=-offset / plot_px,
                            xanchor="left", yanchor="top", xref="paper", yref="paper", orientation="v",
                            bgcolor="rgba(255,255,255,0)", font=dict(size=font_size), tracegroupgap=0)
        for trace in fig.data:
            if (trace.xaxis or "x") == key:
                trace.legend = None if index == 0 else name
    if room > 0:
        fig.update_layout(margin=dict(b=bottom + room), height=height + room)
    fig.update_layout(meta={**(layout.meta or {}), "qnn_bottom_without_legends": bottom})
    return fig


def increasing_steps(items: Sequence[tuple[str, Any]], active: int) -> tuple[list[tuple[str, Any]], int]:
    """``items`` (slider steps ``(label, traces)``) sorted by increasing number when every label is a number
    (``"0.35"``, ``"κ = 0.35"``), with the index of the same active step; other labels keep their order."""
    numbers = []
    for text, _ in items:
        match = re.fullmatch(r"\s*(?:[^=]*=\s*)?([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*", str(text))
        if match is None:
            return list(items), active
        numbers.append(float(match.group(1)))
    order = sorted(range(len(items)), key=numbers.__getitem__)
    return [items[i] for i in order], order.index(active)


def _rows_of_panels(fig: go.Figure) -> list[tuple[float, float]]:
    domains = set()
    for key in fig.layout.to_plotly_json():
        if re.fullmatch(r"yaxis\d*", key) and fig.layout[key].domain is not None and not fig.layout[key].overlaying:
            domains.add(tuple(round(float(v), 6) for v in fig.layout[key].domain))
    return sorted(domains, key=lambda d: -d[1])


def space_rows(fig: go.Figure) -> go.Figure:
    """Make the gap between rows of panels at least :func:`panel_gap` pixels, with the figure's final height and
    margins (in place; returns ``fig``).

    A grid whose rows are closer grows in height by the missing pixels (the panels keep their height); the panel
    titles move with their panels.
    """
    rows = _rows_of_panels(fig)
    if len(rows) < 2 or any(rows[i][0] < rows[i + 1][1] - 1e-6 for i in range(len(rows) - 1)):
        return fig  # one row, or panels that are not a plain grid of rows
    layout = fig.layout
    top, bottom = (layout.margin.t if layout.margin.t is not None else 100,
                   layout.margin.b if layout.margin.b is not None else 80)
    height = layout.height or 450
    plot_px = height - top - bottom
    tops = {row[1] for row in rows[1:]}
    titled = any(a.xref == "paper" and a.yref == "paper" and a.text and round(float(a.y), 6) in tops
                 for a in layout.annotations or [])
    x_titles = any(_axis_text(layout[k]) for k in layout.to_plotly_json() if re.fullmatch(r"xaxis\d*", k)
                   and layout[k].anchor and _y_domain(layout, layout[k].anchor) not in (rows[-1], None))
    needed = panel_gap(x_titles=x_titles, panel_titles=titled)
    current = min(rows[i][0] - rows[i + 1][1] for i in range(len(rows) - 1)) * plot_px
    if current >= needed - 0.5:
        return fig
    panel_px = [(r[1] - r[0]) * plot_px for r in rows]
    new_plot = sum(panel_px) + needed * (len(rows) - 1)
    new_domains, edge = {}, 1.0
    for row, px in zip(rows, panel_px):
        new_domains[row] = (edge - px / new_plot, edge)
        edge -= (px + needed) / new_plot
    new_domains[rows[-1]] = (0.0, new_domains[rows[-1]][1])
    for key in layout.to_plotly_json():
        if re.fullmatch(r"yaxis\d*", key) and layout[key].domain is not None:
            old = tuple(round(float(v), 6) for v in layout[key].domain)
            if old in new_domains:
                layout[key].domain = list(new_domains[old])
    moves = {row[1]: new_domains[row][1] for row in rows}
    for annotation in layout.annotations or []:
        if annotation.yref == "paper" and annotation.y is not None and round(float(annotation.y), 6) in moves:
            annotation.y = moves[round(float(annotation.y), 6)]
    fig.update_layout(height=round(new_plot + top + bottom))
    return fig


def _axis_text(axis: Any) -> str:
    return str(axis.title.text or "") if axis.title is not None else ""


def _y_domain(layout: Any, anchor: str) -> tuple[float, float] | None:
    axis = layout["yaxis" + anchor[1:]]
    return tuple(round(float(v), 6) for v in axis.domain) if axis is not None and axis.domain is not None else None


def finish(fig: go.Figure) -> go.Figure:
    """The automatic part of the figure layer, applied by :func:`qnn.plotting.show`: :func:`label_log_axes` and
    :func:`space_rows`."""
    return space_rows(label_log_axes(fig))
