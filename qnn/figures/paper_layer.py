"""The authors' d = 100 markers as a third layer of the book's figures (beside theory lines and the book's runs).

The data are the authors' published gradient-descent results (:mod:`qnn.figdata.paper`, ``book/data/paper/``). They
are drawn as OPEN diamonds in the colour of the matching theory line, with the paper's ±2 std bars, one trace per
series named ``"<series>: authors' GD, d = 100"`` (so the figure's CSV download names d = 100 on every row), and a
single legend entry (:func:`legend_key`). :func:`details` is the figure's "how it was made" note on these data
(parameters that differ from the book's runs); :func:`theory_coverage` measures how often the theory lies inside
the authors' bars; :func:`authors_threshold_estimates` runs qnn's estimator of Figure 20 on the authors' runs.
"""
from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from .. import plotting
from ..conventions import Setting
from ..figdata import load, paper
from ..longtime.fixed_point import fixed_point
from ..longtime.thresholds import alpha_inter
from ..simulation.threshold_estimate import ThresholdEstimate, estimate_threshold

__all__ = ["AUTHORS", "SYMBOL", "CAPTION", "SOURCE", "THEORY_CURVES", "EXPONENT_WINDOW", "authors_trace",
           "legend_key", "sweep_layer", "details", "details_html", "show_details", "theory_coverage",
           "coverage_summary", "authors_threshold_estimates", "estimate_traces", "objective_layer", "add_fig20_layer",
           "all_pairs_figure", "finite_size_table", "kappa_min_at", "objective_exponents", "gamma_gaps"]

#: What every trace of the layer is called (with its series in front).
AUTHORS = "authors' GD, d = 100"
#: Marker symbol of the layer (open: distinct from the book's filled markers).
SYMBOL = "diamond-open"
#: Caption sentence of a figure that carries the layer.
CAPTION = "Open diamonds: the authors' own GD runs, d = 100."
#: Where the numbers come from (to cite wherever they are shown).
SOURCE = ("authors' GD runs, d = 100 (Martin, Biroli, Bach; public repository simonmartin15/QuadraticNets, "
          "commit 27c4386)")


def _select(frame: pd.DataFrame, select: Mapping[str, Any]) -> pd.DataFrame:
    keep = np.ones(len(frame), dtype=bool)
    for key, wanted in select.items():
        if isinstance(wanted, str):
            keep &= (frame[key] == wanted).to_numpy()
        else:
            keep &= np.isclose(frame[key].to_numpy(float), float(wanted), rtol=1e-6, atol=1e-9)
    return frame[keep]


def authors_trace(x: Sequence[float], mean: Sequence[float], half_width: Sequence[float] | None, series: str, *,
                  color: str, panel: int = 1, reps: int | None = None, size: int = 8) -> go.Scatter:
    """One series of the authors' markers: open diamonds at ``mean`` with bars ``± half_width`` (no bars if None).

    The trace is named ``"<series>: authors' GD, d = 100"``, has meta ``kind = "authors"`` and ``d = 100``, and
    joins the legend group of :func:`legend_key` (it has no legend entry of its own); ``size``: marker size in px.
    """
    x_values, y_values = np.asarray(x, float), np.asarray(mean, float)
    if x_values.shape != y_values.shape or x_values.ndim != 1:
        raise ValueError(f"x and mean must be 1-d arrays of one length, got {x_values.shape}, {y_values.shape}")
    if not (np.all(np.isfinite(x_values)) and np.all(np.isfinite(y_values))):
        raise ValueError("x and mean must be finite")
    error_y = None
    if half_width is not None:
        error_y = dict(type="data", array=np.asarray(half_width, float), visible=True, thickness=1.0, width=2,
                       color=color)
    trace = go.Scatter(x=x_values, y=y_values, mode="markers", name=f"{series}: {AUTHORS}" if series else AUTHORS,
                       showlegend=False, legendgroup="authors", error_y=error_y,
                       meta={"kind": "authors", "d": paper.D, "reps": reps},
                       marker=dict(symbol=SYMBOL, size=size, color=color,
                                   line=dict(width=1.6 if size >= 8 else 1.0, color=color)))
    suffix = "" if panel == 1 else str(panel)
    trace.update(xaxis=f"x{suffix}", yaxis=f"y{suffix}")
    return trace


def legend_key() -> go.Scatter:
    """The layer's one legend entry: a trace with one undefined point (plotly hides a legend entry without points;
    in the figure's CSV it is one row of kind ``legend`` with empty x and y)."""
    return go.Scatter(x=[None], y=[None], mode="markers", name=AUTHORS, legendgroup="authors", showlegend=True,
                      meta={"kind": "legend"}, marker=dict(symbol=SYMBOL, size=9, color="#444444",
                                                           line=dict(width=1.6, color="#444444")))


def sweep_layer(figure: str, *, vary: str, values: Sequence[Any], quantities: Sequence[str],
                select: Mapping[str, Any] | None = None, colors: Sequence[str] | None = None,
                color_indices: Sequence[int] | None = None, first_panel: int = 1, key: bool = True,
                positive: bool = True) -> list[go.Scatter]:
    """The authors' markers of paper figure ``figure`` vs alpha, one series per value of ``vary``.

    Quantity ``i`` goes to panel ``first_panel + i``; series ``j`` gets ``colors[j]`` (default: the palette colour
    ``color_indices[j]``, default ``j``, as :func:`qnn.figures.longtime_plots.sweep_traces` colours its lines).
    ``select`` restricts the rows (e.g. ``{"lam": 0.1}`` or ``{"panel": "left"}``). A value the authors did not
    run gives no trace. Non-positive means are dropped when ``positive`` (log axes). With ``key``, the legend
    entry (:func:`legend_key`) comes first.
    """
    traces: list[go.Scatter] = [legend_key()] if key else []
    for offset, quantity in enumerate(quantities):
        frame = _select(paper.markers(figure, quantity), select or {})
        for index, value in enumerate(values):
            rows = _select(frame, {vary: value}).sort_values("alpha")
            if positive:
                rows = rows[rows["mean"] > 0]
            if rows.empty:
                continue
            color = (colors[index] if colors is not None else
                     plotting.color(color_indices[index] if color_indices is not None else index))
            series = f"{plotting.label(vary)} = {value:g}"
            traces.append(authors_trace(rows["alpha"], rows["mean"], rows["half_width"], series, color=color,
                                        panel=first_panel + offset, reps=int(rows["reps"].iloc[0])))
    return traces


# ------------------------------------------------------------------------------------------------------------
# How the figure was made: the authors' data (to be routed into the book's method-details block)
# ------------------------------------------------------------------------------------------------------------
_DIFFERENCES = {
    "fig2": "Their markers are GD stopped at T (1000 for λ = 0.5, 0.1; 2000 for λ = 0.05), the book's the "
            "long-time limit computed by an optimiser at d = 60.",
    "fig4": "Their markers are GD stopped at T = 5000, the book's the long-time limit (L-BFGS) at d = 60.",
    "fig6": "Their markers are GD stopped at T = 5000, the book's the long-time limit (L-BFGS) at d = 40. The "
            "λ = 0.001 and 0.0002 lines have no markers, in the paper either.",
    "fig7": "Their markers are GD stopped at T = 3000, the book's the long-time limit (L-BFGS) at d = 40; near "
            "α_PR⁺ with the smallest λ, GD is still moving at T.",
    "fig9": "Their runs are GD to t = 10000 at d = 100, the book's gradient flow to t = 300 at d = 20: below α_PR, "
            "where the end point depends on the initialisation, both the time and the size matter.",
    "fig10": "Their runs are GD to t = 2000 at d = 100 with γ = 1, 0.1, 0.01 (all three drawn; the book simulates "
             "γ = 1 and 0.01 at d = 20 to t = 300).",
    "fig14": "Their excess objective is measured from their own final time T = 5000, the book's from T = 500 at "
             "d = 30 (η = 0.02): the two are comparable only well before both final times. Their 14 values of α "
             "are split between the panels by κ versus κ_min(α), as the book's.",
    "fig16": "Their markers are GD stopped at T = 5000, the book's the long-time limit (L-BFGS) at d = 40.",
    "fig17": "Their markers are GD stopped at T (1000 for λ = 0.5, 0.1; 2000 for λ = 0.05) and cover all three λ; "
             "the book simulates λ = 0.1 only (long-time limit, d = 40).",
    "fig18": "Their markers are GD stopped at T (1000 for λ = 0.5, 0.1; 2000 for λ = 0.05) and cover all three λ; "
             "the book simulates λ = 0.1 only (long-time limit, d = 40).",
    "fig19": "Their markers are GD stopped at T = 5000 and cover all five λ; the book simulates λ = 0.1 and 0.025 "
             "(long-time limit, d = 40).",
    "fig20": "Their runs are GD to t = 10000 at d = 100, 5 or 10 runs on 15-50 values of α per pair (a coarse grid "
             "plus a fine one around the theory threshold); the book's are gradient flow to t = 300 at d = 20, 2 runs "
             "on 9 values of α spaced 0.03.",
    "fig21": "The open diamonds are qnn's estimator (qnn.simulation.threshold_estimate) applied to the authors' "
             "Figure 20 runs (d = 100, 5-10 runs, t = 10000, 15-50 values of α per pair); the crosses to the book's "
             "runs (d = 20, 2 runs, t = 300, 9 values of α).",
}


def details(figure: str) -> str:
    """The method-details note of ``figure`` (``"fig2"``, ...) on the authors' data it carries."""
    if figure not in _DIFFERENCES:
        raise ValueError(f"figure must be one of {sorted(_DIFFERENCES)}, got {figure!r}")
    return (f"Open diamonds: the {SOURCE}; gradient descent on W with η = 5e-3, GOE features, mean over their runs "
            f"at their final time T, bars ±2 std (population). " + _DIFFERENCES[figure])


def details_html(figure: str) -> str:
    """:func:`details` as a collapsed HTML block."""
    return ('<details class="qnn-authors-details"><summary>The authors\' d = 100 data in this figure</summary>'
            f"<p>{html.escape(details(figure))}</p></details>")


def show_details(figure: str) -> None:
    """Display :func:`details_html` in a notebook / book page (right below the figure's caption)."""
    from IPython.display import HTML, display

    display(HTML(details_html(figure)))


# ------------------------------------------------------------------------------------------------------------
# Is the theory inside the authors' bars?
# ------------------------------------------------------------------------------------------------------------
#: Paper figure -> (cached theory curves, the marker columns that select a curve).
THEORY_CURVES = {"fig2": ("theory_fig2", ("lam",)), "fig4": ("theory_fig4", ("lam",)),
                 "fig6": ("theory_fig6", ("noise", "lam")), "fig7": ("theory_fig7", ("lam",)),
                 "fig16": ("theory_fig16", ("kappa", "lam")), "fig17": ("theory_fig17", ("pair", "noise", "lam")),
                 "fig18": ("theory_fig17", ("pair", "noise", "lam")), "fig19": ("theory_fig19", ("kappa", "lam"))}


def _branch_values(curve_alpha: np.ndarray, curve_y: np.ndarray, alpha: float) -> list[float]:
    """Values of a (possibly folded) curve at ``alpha``: log-linear interpolation on every segment of the curve,
    in its own order, whose end points bracket ``alpha``."""
    out = []
    for i in range(curve_alpha.size - 1):
        a0, a1 = curve_alpha[i], curve_alpha[i + 1]
        y0, y1 = curve_y[i], curve_y[i + 1]
        if not (min(a0, a1) <= alpha <= max(a0, a1)) or a0 == a1 or not (np.isfinite(y0) and np.isfinite(y1)):
            continue
        w = (alpha - a0) / (a1 - a0)
        out.append(float(np.exp((1 - w) * np.log(y0) + w * np.log(y1))) if y0 > 0 and y1 > 0
                   else float((1 - w) * y0 + w * y1))
    return out


def _theory_rows(figure: str, quantity: str, data_dir=None) -> list[dict[str, Any]]:
    frame = paper.markers(figure, quantity)
    rows = []
    if figure == "fig10":  # the lambda -> 0+ branch above the noisy interpolation threshold, as the paper draws it
        first = frame.iloc[0]
        a_inter = alpha_inter(first["kappa"], first["kappa_star"], first["noise"])
        cache: dict[float, Any] = {}
        attribute = {"mse": "mse", "loss_train": "loss", "ise": "ise"}[quantity]
        for _, row in frame[frame["alpha"] > a_inter].iterrows():
            if row["alpha"] not in cache:
                cache[row["alpha"]] = fixed_point(Setting(alpha=row["alpha"], kappa=row["kappa"],
                                                          kappa_star=row["kappa_star"], noise=row["noise"], lam=0.0))
            point = cache[row["alpha"]]
            values = [float(getattr(point, attribute))] if point.converged else []
            rows.append({**row.to_dict(), "values": values})
        return rows
    name, keys = THEORY_CURVES[figure]
    theory = load(name, data_dir=data_dir)
    for _, row in frame.iterrows():
        wanted = {k: ([row["kappa"], row["kappa_star"]] if k == "pair" else row[k]) for k in keys}
        curves = [res for task, res in zip(theory.tasks, theory.results)
                  if all((np.allclose(task[k], v) if k == "pair" else np.isclose(task[k], v))
                         for k, v in wanted.items())]
        if len(curves) != 1:
            raise ValueError(f"{name}: {len(curves)} theory curves match {wanted}, expected 1")
        values = _branch_values(np.asarray(curves[0]["alpha"], float), np.asarray(curves[0][quantity], float),
                                float(row["alpha"]))
        rows.append({**row.to_dict(), "values": values})
    return rows


def theory_coverage(figure: str, quantities: Sequence[str], data_dir=None) -> pd.DataFrame:
    """Per authors' marker of ``figure``: the theory value(s) at its alpha and whether one lies in its bar.

    Columns: the marker columns, ``theory`` (the value nearest the mean, NaN where no curve covers the alpha),
    ``inside`` (``bar_low <= theory <= bar_high`` for some branch), ``covered`` (a theory value exists).
    """
    out = []
    for quantity in quantities:
        for row in _theory_rows(figure, quantity, data_dir):
            values = row.pop("values")
            inside = any(row["bar_low"] <= v <= row["bar_high"] for v in values)
            nearest = min(values, key=lambda v: abs(v - row["mean"])) if values else float("nan")
            out.append({**row, "theory": nearest, "inside": inside, "covered": bool(values)})
    return pd.DataFrame(out)


def coverage_summary(table: pd.DataFrame) -> dict[str, float]:
    """Markers with a theory value, how many have it inside their bar, and the fraction."""
    covered = table[table["covered"]]
    n_inside = int(covered["inside"].sum())
    return {"markers": int(len(table)), "covered": int(len(covered)), "inside": n_inside,
            "fraction": n_inside / len(covered) if len(covered) else float("nan")}


# ------------------------------------------------------------------------------------------------------------
# Figures 14, 20 and 21
# ------------------------------------------------------------------------------------------------------------
def authors_threshold_estimates() -> dict[tuple[float, float], tuple[np.ndarray, np.ndarray, ThresholdEstimate]]:
    """``(kappa, kappa*) -> (alphas, final MSE (alphas x runs), estimate)`` from the authors' Figure 20 runs, by
    :func:`qnn.simulation.threshold_estimate.estimate_threshold`; ordered by ``(kappa*, kappa)``."""
    frame = paper.runs("fig20", "mse")
    out = {}
    for (kappa, kappa_star), sub in sorted(frame.groupby(["kappa", "kappa_star"]), key=lambda g: (g[0][1], g[0][0])):
        table = sub.pivot_table(index="alpha", columns="rep", values="value", aggfunc="first").sort_index()
        if table.isna().any().any():
            raise paper.PaperDataError(f"fig20_mse_runs.csv: pair ({kappa}, {kappa_star}) has missing runs")
        alphas, mse = table.index.to_numpy(float), table.to_numpy(float)
        out[(float(kappa), float(kappa_star))] = (alphas, mse, estimate_threshold(alphas, mse))
    return out


def estimate_traces(estimates: Mapping[tuple[float, float], tuple[Any, Any, ThresholdEstimate]],
                    palette_index: Mapping[float, int]) -> list[go.Scatter]:
    """Figure 21's layer: one open diamond per pair at the estimate, bars over the half-minimum interval."""
    traces = [legend_key()]
    traces[0].name = f"{AUTHORS}: estimates"
    for (kappa, kappa_star), (_, _, e) in estimates.items():
        if kappa_star not in palette_index:
            continue
        trace = authors_trace([kappa], [e.alpha], None, f"κ = {kappa:g}, κ* = {kappa_star:g}",
                              color=plotting.color(palette_index[kappa_star]))
        trace.error_y = dict(type="data", symmetric=False, array=[e.high - e.alpha], arrayminus=[e.alpha - e.low],
                             color=plotting.color(palette_index[kappa_star]), thickness=1.0, width=3)
        trace.hovertext = f"κ = {kappa:g}, κ* = {kappa_star:g}, d = 100: {e.alpha:.3f} in [{e.low:.3f}, {e.high:.3f}]"
        traces.append(trace)
    return traces


def objective_layer(kappa: float, kappa_min: Mapping[float, float]) -> list[go.Scatter]:
    """Figure 14's layer: the authors' mean excess objective (no bars, as in the paper) for t >= 0.5 at the alphas
    of ``kappa_min`` (the book's, coloured as the book colours them: by their sorted order), in panel 1 when
    ``kappa > kappa_min[alpha]`` else 2. Alphas the authors did not run are skipped."""
    frame = paper.objective()
    traces = [legend_key()]
    for index, alpha in enumerate(sorted(kappa_min)):
        rows = _select(frame, {"alpha": alpha})
        rows = rows[(rows["t"] >= 0.5) & (rows["mean_excess_over_final"] > 0)].iloc[::2]   # ~40 times per alpha
        if rows.empty:
            continue
        panel = 1 if kappa > kappa_min[alpha] else 2
        traces.append(authors_trace(rows["t"], rows["mean_excess_over_final"], None, f"α = {alpha:g}",
                                    color=plotting.color(index), panel=panel, reps=10, size=5))
    return traces


def add_fig20_layer(fig: go.Figure, pairs: Sequence[tuple[float, float]],
                    book: Mapping[tuple[float, float], tuple[np.ndarray, Any, Any]]) -> go.Figure:
    """Add Figure 20's layer to ``fig`` (a 2-row grid, one column per pair of ``pairs``): the authors' final MSE
    (bottom row, ±2 std). Their slopes, on a finer grid than the book's, are in :func:`all_pairs_figure`. Each
    column's view stays on the book's alpha grid (``book[pair][0]``) ± 0.03; the CSV holds every authors' point."""
    frame = paper.markers("fig20", "mse")
    fig.add_trace(legend_key())
    for col, (kappa, kappa_star) in enumerate(pairs, start=1):
        series = f"κ = {kappa:g}, κ* = {kappa_star:g}"
        rows = _select(frame, {"kappa": kappa, "kappa_star": kappa_star}).sort_values("alpha")
        fig.add_trace(authors_trace(rows["alpha"], rows["mean"], rows["half_width"], f"{series}, final MSE",
                                    color=plotting.color(4), panel=len(pairs) + col, reps=int(rows["reps"].iloc[0])))
        alphas = np.asarray(book[(kappa, kappa_star)][0], float)
        fig.update_xaxes(range=[float(alphas[0]) - 0.03, float(alphas[-1]) + 0.03], col=col)
    return fig


def all_pairs_figure(estimates: Mapping[tuple[float, float], tuple[Any, Any, ThresholdEstimate]],
                     theory: Any) -> go.Figure:
    """The authors' Figure 20 data for every (kappa, kappa*) pair (a slider): top, the mean slope of log MSE with
    the half-minimum interval of qnn's estimator; bottom, the final MSE (±2 std); grey: ``theory(kappa, kappa*)``
    (alpha_PR)."""
    frame = paper.markers("fig20", "mse")
    base = plotting.new_figure("alpha", ["MSE'/MSE", "mse"], rows=2, cols=1, height=640, x_range=(0, 0.57))
    base.layout.yaxis2.update(type="log", exponentformat="power")
    base.add_trace(legend_key())
    groups = {}
    for (kappa, kappa_star), (_, _, e) in estimates.items():
        series = f"κ = {kappa:g}, κ* = {kappa_star:g}"
        rows = _select(frame, {"kappa": kappa, "kappa_star": kappa_star}).sort_values("alpha")
        low_y, high_y = 1.1 * float(e.slope.min()), max(0.0, float(e.slope.max()))
        band = go.Scatter(x=[e.low, e.high, e.high, e.low, e.low], y=[low_y, low_y, high_y, high_y, low_y],
                          fill="toself", mode="lines", fillcolor="rgba(255, 127, 14, 0.3)", line=dict(width=0),
                          name="half-minimum interval, d = 100", meta={"kind": "estimate"})
        slope = authors_trace(e.slope_alpha, np.round(e.slope, 6), None, f"{series}, slope",
                              color=plotting.color(3))
        slope.mode = "lines+markers"
        mse = authors_trace(rows["alpha"], rows["mean"], rows["half_width"], f"{series}, MSE",
                            color=plotting.color(4), panel=2, reps=int(rows["reps"].iloc[0]))
        value = float(theory(kappa, kappa_star))
        lines = [plotting.theory_trace([value, value], [low_y, high_y], f"α_PR = {value:.4f}", line_color="#777777"),
                 plotting.theory_trace([value, value], [float(rows["mean"].min()), float(rows["mean"].max())],
                                       "α_PR", line_color="#777777", show_legend=False)]
        lines[1].update(xaxis="x2", yaxis="y2")
        groups[series] = [band, slope, mse, *lines]
    return plotting.slider_figure(groups, parameter="pair", base=base)


def finite_size_table(book: Mapping[tuple[float, float], tuple[Any, Any, ThresholdEstimate]],
                      bias: pd.DataFrame, authors: Mapping[tuple[float, float], tuple[Any, Any, ThresholdEstimate]],
                      theory: Any, book_d: int) -> str:
    """Markdown: the threshold estimates at d = ``book_d`` (book), at the bias study's sizes (final time 300) and at
    d = 100 (authors) for the bias study's pairs, then the mean offsets over all pairs at ``book_d`` and 100."""
    rows = ["| κ | κ* | α_PR | " + " | ".join(f"d = {d}" for d in sorted(set(bias["dim"]))) + " | d = 100 (authors) |",
            "|---|---|---|" + "---|" * (len(set(bias["dim"])) + 1)]
    final = bias[bias["t"] == bias["t"].max()]
    for (kappa, kappa_star), sub in final.groupby(["kappa", "kappa_star"]):
        cells = [f"{r.estimate:.3f} [{r.low:.3f}, {r.high:.3f}]" for r in sub.sort_values("dim").itertuples()]
        e = authors[(kappa, kappa_star)][2]
        rows.append(f"| {kappa:g} | {kappa_star:g} | {theory(kappa, kappa_star):.4f} | " + " | ".join(cells)
                    + f" | {e.alpha:.3f} [{e.low:.3f}, {e.high:.3f}] |")
    summary = []
    for name, estimates in ((f"d = {book_d} (book, {len(book)} pairs)", book),
                            (f"d = 100 (authors, the same {len(book)} pairs)", {p: authors[p] for p in book})):
        offsets = np.array([e.alpha - theory(*pair) for pair, (_, _, e) in estimates.items()])
        inside = sum(e.low <= theory(*pair) <= e.high for pair, (_, _, e) in estimates.items())
        summary.append(f"| {name} | {offsets.mean():+.4f} | {np.abs(offsets).mean():.4f} | {inside} of "
                       f"{len(offsets)} |")
    return ("\n".join(rows) + "\n\n| estimates | mean estimate − α_PR | mean abs(estimate − α_PR) | α_PR inside the "
            "interval |\n|---|---|---|---|\n" + "\n".join(summary))


def kappa_min_at(alphas: Sequence[float], kappa_star: float, lam: float) -> dict[float, float]:
    """``alpha -> kappa_min`` of the unconstrained (kappa = 1) fixed point, at the authors' alphas."""
    return {float(a): fixed_point(Setting(alpha=float(a), kappa=1.0, kappa_star=kappa_star, lam=lam)).kappa_min
            for a in alphas}


#: Time window of the fitted exponent of the authors' excess objective (the window the convergence page discusses).
EXPONENT_WINDOW = (100.0, 1000.0)


def objective_exponents() -> pd.DataFrame:
    """Least-squares slope of log(mean excess objective) against log t over :data:`EXPONENT_WINDOW`, per alpha of
    the authors' Figure 14 data, and the excess at t = 100."""
    out = []
    for alpha, rows in paper.objective().groupby("alpha", sort=True):
        t, y = rows["t"].to_numpy(float), rows["mean_excess_over_final"].to_numpy(float)
        window = (t >= EXPONENT_WINDOW[0]) & (t <= EXPONENT_WINDOW[1]) & (y > 0)
        slope = float(np.polyfit(np.log(t[window]), np.log(y[window]), 1)[0])
        out.append({"alpha": float(alpha), "exponent": slope, "excess_at_100": float(np.interp(100.0, t, y))})
    return pd.DataFrame(out)


def gamma_gaps(alpha_max: float) -> pd.DataFrame:
    """Figure 9 (authors): per gamma, the median and largest relative excess of its mean final MSE over the
    smallest gamma's, at the alphas <= ``alpha_max``."""
    frame = paper.markers("fig9", "mse")
    table = frame.pivot_table(index="alpha", columns="gamma", values="mean")
    table = table[table.index <= alpha_max]
    reference = table[table.columns.min()]
    out = [{"gamma": float(g), "median_excess": float((table[g] / reference - 1).median()),
            "max_excess": float((table[g] / reference - 1).max())} for g in sorted(table.columns, reverse=True)]
    return pd.DataFrame(out)
