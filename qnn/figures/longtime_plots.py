"""Figure builders of the long-time pages (book/longtime.md, book/spectrum.md, book/double_descent.md).

They read the cached theory curves (:mod:`qnn.figures.longtime_theory`) and simulations
(:mod:`qnn.figures.longtime`) through :func:`qnn.figdata.load` and draw them in the shared style of
:mod:`qnn.plotting` (theory = lines, simulation = markers with ±2 std bars). :func:`agreement` measures how far the
markers are from the theory at the simulated alphas (z-scores against the standard error of the mean).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from .. import plotting
from ..figdata import FigureData

__all__ = ["theory_result", "simulation_samples", "agreement", "agreement_summary", "sweep_traces", "on_panel",
           "vertical_line", "assemble", "sweep_figure", "unconverged_note", "simulation_details",
           "histogram_trace", "nonzero_eigenvalues"]


def _matches(task: Mapping[str, Any], select: Mapping[str, Any]) -> bool:
    for key, wanted in select.items():
        value = task.get(key)
        if isinstance(wanted, (list, tuple)):
            if value is None or list(value) != list(wanted):
                return False
        elif value is None or not np.isclose(float(value), float(wanted), rtol=1e-12, atol=1e-15):
            return False
    return True


def theory_result(theory: FigureData, **select: Any) -> dict[str, Any]:
    """The cached theory curve whose task matches ``select`` (e.g. ``lam=0.1``); ``ValueError`` if none/several."""
    found = [res for task, res in zip(theory.tasks, theory.results) if _matches(task, select)]
    if len(found) != 1:
        raise ValueError(f"{theory.name}: {len(found)} theory curves match {select}, expected exactly 1")
    return found[0]


def simulation_samples(sim: FigureData, value: str, **select: Any) -> tuple[np.ndarray, np.ndarray, int]:
    """Simulated ``value`` at the tasks matching ``select``, grouped by alpha.

    Returns
    -------
    alphas : (k,) array, samples : (k, reps) array, n_unconverged : int (runs whose solver did not reach the
    stationarity tolerance; they are kept in the samples and reported by the pages).
    """
    rows = [(task["alpha"], task["rep"], res[value], bool(res.get("converged", True)))
            for task, res in zip(sim.tasks, sim.results) if _matches(task, select)]
    if not rows:
        raise ValueError(f"{sim.name}: no simulation matches {select}")
    frame = pd.DataFrame(rows, columns=["alpha", "rep", "value", "converged"])
    table = frame.pivot(index="alpha", columns="rep", values="value").sort_index()
    return table.index.to_numpy(float), table.to_numpy(float), int((~frame["converged"]).sum())


def _theory_at(curve: Mapping[str, Any], key: str, alphas: np.ndarray) -> np.ndarray:
    a = np.asarray(curve["alpha"], float)
    y = np.asarray(curve[key], float)
    order = np.argsort(a)
    a, y = a[order], y[order]
    if np.all(y > 0):
        return np.exp(np.interp(alphas, a, np.log(y), left=np.nan, right=np.nan))
    return np.interp(alphas, a, y, left=np.nan, right=np.nan)


def agreement(theory: FigureData, sim: FigureData, quantity: str, *, theory_select: Mapping[str, Any],
              sim_select: Mapping[str, Any], theory_key: str | None = None) -> pd.DataFrame:
    """Simulation mean vs theory at the simulated alphas.

    Returns a DataFrame with ``alpha, mean, theory, rel_dev`` (= mean/theory - 1) and ``z`` = (mean - theory) / SE,
    SE = std(ddof=1)/sqrt(reps) (the standard error of the mean; the plotted bars are ±2 population std).
    """
    alphas, samples, _ = simulation_samples(sim, quantity, **sim_select)
    curve = theory_result(theory, **theory_select)
    expected = _theory_at(curve, theory_key or quantity, alphas)
    mean = samples.mean(axis=1)
    reps = samples.shape[1]
    se = samples.std(axis=1, ddof=1) / np.sqrt(reps) if reps > 1 else np.full(mean.shape, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(se > 0, (mean - expected) / se, np.nan)
        rel = mean / expected - 1.0
    return pd.DataFrame({"alpha": alphas, "mean": mean, "theory": expected, "rel_dev": rel, "z": z})


def on_panel(trace: go.Scatter | go.Bar, panel: int) -> go.Scatter | go.Bar:
    """Put a trace on panel ``panel`` (1-based, row-major) of a :func:`qnn.plotting.new_figure` grid."""
    suffix = "" if panel == 1 else str(panel)
    trace.update(xaxis=f"x{suffix}", yaxis=f"y{suffix}")
    return trace


def sweep_traces(theory: FigureData, sim: FigureData | None, *, vary: str, values: Sequence[Any],
                 quantities: Sequence[str], theory_select: Mapping[str, Any] | None = None,
                 sim_select: Mapping[str, Any] | None = None, sim_values: Sequence[Any] | None = None,
                 names: Sequence[str] | None = None, colors: Sequence[str | None] | None = None,
                 positive: bool = True, first_panel: int = 1) -> list[go.Scatter]:
    """Theory lines (and simulation markers where cached) of ``quantities`` vs alpha, one colour per ``values``.

    Quantity ``i`` goes to panel ``first_panel + i``; ``sim_values`` (default: all ``values``) limits the markers
    to the values that were simulated. Non-positive theory values are dropped when ``positive`` (log axes).
    """
    traces: list[go.Scatter] = []
    sim_values = list(values) if sim_values is None else list(sim_values)
    for index, value in enumerate(values):
        name = names[index] if names is not None else f"{plotting.label(vary)} = {value:g}"
        line_color = colors[index] if colors is not None else None
        curve = theory_result(theory, **{**(theory_select or {}), vary: value})
        for offset, quantity in enumerate(quantities):
            panel = first_panel + offset
            x = np.asarray(curve["alpha"], float)
            y = np.asarray(curve[quantity], float)
            keep = np.isfinite(y) & ((y > 0) if positive else True)
            traces.append(on_panel(plotting.theory_trace(x[keep], y[keep], name, color_index=index,
                                                         line_color=line_color, show_legend=offset == 0,
                                                         group=name), panel))
            if sim is not None and any(np.isclose(float(value), float(v)) for v in sim_values):
                alphas, samples, _ = simulation_samples(sim, quantity, **{**(sim_select or {}), vary: value})
                traces.append(on_panel(plotting.simulation_trace(alphas, samples, name, color_index=index,
                                                                 marker_color=line_color,
                                                                 show_legend=False, group=name), panel))
    return traces


def vertical_line(x: float, y_range: Sequence[float], name: str, panel: int = 1, *, log_y: bool = True,
                  show_legend: bool = True) -> go.Scatter:
    """A dashed grey vertical line at ``x`` (a threshold), spanning ``y_range``, as a theory trace."""
    trace = plotting.theory_trace([x, x], list(y_range), name, dash="dash", line_color="#555555",
                                  show_legend=show_legend, group=name)
    trace.line.width = 1.4
    return on_panel(trace, panel)


def nonzero_eigenvalues(sim: FigureData | Sequence[FigureData], cutoff: float,
                        **select: Any) -> tuple[np.ndarray, int, int]:
    """All eigenvalues above ``cutoff`` of the runs matching ``select`` (pooled over several caches if a sequence
    is given), the number of runs, and the total number of eigenvalues."""
    sims = [sim] if isinstance(sim, FigureData) else list(sim)
    values, runs, total = [], 0, 0
    for data in sims:
        for task, res in zip(data.tasks, data.results):
            if _matches(task, select):
                eig = np.asarray(res["eigenvalues"], float)
                values.append(eig[eig > cutoff])
                runs += 1
                total += eig.size
    if not runs:
        raise ValueError(f"{', '.join(d.name for d in sims)}: no simulation matches {select}")
    return np.concatenate(values), runs, total


def histogram_trace(values: np.ndarray, bins: int | np.ndarray, name: str, panel: int = 1,
                    show_legend: bool = True) -> go.Bar:
    """Density-normalised histogram (area 1) of ``values`` as a bar trace (kind ``simulation-histogram``)."""
    counts, edges = np.histogram(values, bins=bins)
    widths = np.diff(edges)
    density = counts / max(counts.sum(), 1) / widths
    trace = go.Bar(x=(edges[1:] + edges[:-1]) / 2, y=density, width=widths, name=name, showlegend=show_legend,
                   legendgroup=name, marker=dict(color=plotting.color(0), opacity=0.45),
                   meta={"kind": "simulation-histogram"})
    return on_panel(trace, panel)


def assemble(base: go.Figure, traces: Sequence[go.Scatter | go.Bar]) -> go.Figure:
    """Add ``traces`` to ``base`` and, if any are simulation markers, the shared ±2 std note of
    :mod:`qnn.plotting` (:data:`qnn.plotting.ERROR_BAR_NOTE`) below the figure."""
    for trace in traces:
        base.add_trace(trace)
    reps = sorted({t.meta["reps"] for t in base.data
                   if isinstance(t.meta, dict) and t.meta.get("kind") == "simulation"})
    if reps:
        text = plotting.ERROR_BAR_NOTE.format(reps=reps[0] if len(reps) == 1 else f"{reps[0]}-{reps[-1]}")
        plotting.add_note(base, text, name="error-bar-note")
    return base


def sweep_figure(theory: FigureData, sim: FigureData | None, *, vary: str, values: Sequence[Any],
                 quantities: Sequence[str] = ("mse", "loss_train"), theory_select: Mapping[str, Any] | None = None,
                 sim_select: Mapping[str, Any] | None = None, sim_values: Sequence[Any] | None = None,
                 y_ranges: Sequence[Sequence[float] | None] = (None, None), x_range: Sequence[float] = (0, 0.62),
                 extra: Sequence[go.Scatter | go.Bar] = ()) -> go.Figure:
    """One row of panels (one per quantity, log y) of theory lines + simulation markers vs alpha
    (:func:`sweep_traces` on a :func:`qnn.plotting.new_figure`), plus ``extra`` traces; ``y_ranges`` in data units."""
    base = plotting.new_figure("alpha", list(quantities), log_y=True, x_range=x_range, rows=1,
                               cols=len(quantities))
    for index, y_range in enumerate(y_ranges):
        if y_range is not None:
            suffix = "" if index == 0 else str(index + 1)
            base.layout[f"yaxis{suffix}"].range = [np.log10(y_range[0]), np.log10(y_range[1])]
    traces = sweep_traces(theory, sim, vary=vary, values=values, quantities=quantities,
                          theory_select=theory_select, sim_select=sim_select, sim_values=sim_values)
    return assemble(base, [*traces, *extra])


def unconverged_note(*sims: FigureData) -> str:
    """Sentence for a caption: how many runs of ``sims`` (results of ``train_to_convergence``) stopped before the
    stationarity tolerance ``|G W|_F / sqrt(d) <= 1e-6`` (a result without a ``converged`` entry counts as
    converged)."""
    bad = sum(not r.get("converged", True) for sim in sims for r in sim.results)
    total = sum(len(sim.results) for sim in sims)
    return (f"All {total} runs reached |G W|_F/√d ≤ 1e-6." if bad == 0 else
            f"{bad} of {total} runs stopped before |G W|_F/√d ≤ 1e-6 (kept in the averages).")


def simulation_details(sim: FigureData | Sequence[FigureData], family: str | None, figure: str | None = None,
                       differences: str | None = None) -> list[str]:
    """The "How this figure was made" sentences of a long-time figure with markers from ``sim`` (one cache or
    several): features, ``d`` and runs (read from the cache), the solver and its stopping rule
    (:func:`qnn.figures.longtime.solver_note`), how many runs met it, the check against gradient flow for the solver
    ``family`` (``"auto"``/``"lbfgs"``, or ``None`` for no check), and the differences from paper figure ``figure``
    (plus ``differences``)."""
    from ..plotting import captions
    from .longtime import flow_check_note, method_deviation, solver_note

    sims = [sim] if isinstance(sim, FigureData) else list(sim)
    first = sims[0].tasks[0]
    features = "GOE features" if first.get("features", "goe") == "goe" else f"{first['features']} features"
    reps = sorted({s.reps for s in sims})
    runs = " or ".join(str(r) for r in reps)
    deviation = "; ".join(p for p in ((method_deviation(figure) if figure else None), differences) if p)
    return [f"Simulations use {features} at d = {sims[0].d}, with {runs} independent runs per point, each with a "
            "fresh teacher, data set and initialisation.",
            solver_note(*sims), unconverged_note(*sims), flow_check_note(family) if family else None,
            captions.differences(deviation)]


def agreement_summary(rows: Sequence[tuple[str, pd.DataFrame]]) -> pd.DataFrame:
    """One line per (label, :func:`agreement` table): number of points, max |z|, median |z|, max |relative dev.|."""
    out = []
    for name, table in rows:
        z = np.abs(table["z"].to_numpy(float))
        rel = np.abs(table["rel_dev"].to_numpy(float))
        out.append({"curve": name, "points": int(np.isfinite(z).sum()), "max |z|": float(np.nanmax(z)),
                    "median |z|": float(np.nanmedian(z)), "max |rel. dev.|": float(np.nanmax(rel))})
    return pd.DataFrame(out)
