"""Figure builders for the Bayes-optimal additions of the long-time pages (book/longtime.md, book/spectrum.md,
book/double_descent.md, book/theory/bayes_optimal.md).

They read the cached curves of :mod:`qnn.figures.bayes_theory` and draw them in the style of :mod:`qnn.plotting`
(theory = lines; the Bayes-optimal error is dash-dotted, black unless it shares a colour with the gradient-flow
curves of the same parameter). Theory: book/theory/bayes_optimal.md.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

from .. import plotting
from ..figdata import FigureData
from ..spectra.laws import teacher_density
from ..longtime.thresholds import alpha_bo
from .longtime_plots import on_panel, theory_result, vertical_line

__all__ = ["BO_NAME", "BO_CAPTION", "bayes_trace", "alpha_bo_line", "spectrum_comparison", "bayes_gap"]

#: Legend entry of the Bayes-optimal curve.
BO_NAME = "Bayes-optimal"
#: Sentence appended to the captions of the figures that show it.
BO_CAPTION = ("Addition to the paper: the Bayes-optimal error (dash-dotted), the smallest MSE any estimator can reach "
              "from the same data (see the Bayes-optimal theory page).")
_BLACK = "#000000"


def bayes_trace(data: FigureData, kappa_star: float, noise: float, *, panel: int = 1, name: str = BO_NAME,
                color: str | None = _BLACK, color_index: int = 0, show_legend: bool = True,
                x_max: float | None = None) -> go.Scatter:
    """The cached Bayes-optimal MMSE vs alpha as a dash-dotted theory line on ``panel``.

    Zeros (perfect recovery, ``alpha >= alpha_BO`` without noise) are dropped, as on every log axis of the book;
    ``x_max`` trims the curve to the plotted range.
    """
    curve = theory_result(data, kappa_star=kappa_star, noise=noise)
    x, y = np.asarray(curve["alpha"], float), np.asarray(curve["mmse"], float)
    keep = y > 0
    if x_max is not None:
        keep &= x <= x_max
    trace = plotting.theory_trace(x[keep], y[keep], name, dash="dashdot", line_color=color,
                                  color_index=color_index, show_legend=show_legend, group=name)
    return on_panel(trace, panel)


def alpha_bo_line(kappa_star: float, y_range: Sequence[float], *, panel: int = 1, log_y: bool = True,
                  show_legend: bool = True) -> go.Scatter:
    """Dotted vertical line at ``alpha_BO(kappa*)``, the Bayes-optimal perfect-recovery threshold."""
    a_bo = alpha_bo(kappa_star)
    trace = vertical_line(a_bo, y_range, f"α_BO = {a_bo:.4g}", panel, log_y=log_y, show_legend=show_legend)
    trace.line.dash = "dot"
    return trace


def bayes_gap(data: FigureData, gf_theory: FigureData, kappa_star: float, noise: float, alpha: float,
              gf_select: Mapping[str, Any]) -> tuple[float, float]:
    """Gradient-flow (fixed-point) MSE and Bayes-optimal MMSE at ``alpha``, linearly interpolated on the cached
    curves (the gradient-flow curve is the one of ``gf_theory`` matching ``gf_select``)."""
    out = []
    for curve, key in ((theory_result(gf_theory, **gf_select), "mse"),
                       (theory_result(data, kappa_star=kappa_star, noise=noise), "mmse")):
        x, y = np.asarray(curve["alpha"], float), np.asarray(curve[key], float)
        order = np.argsort(x)
        out.append(float(np.interp(alpha, x[order], y[order])))
    return out[0], out[1]


def spectrum_comparison(bayes: FigureData, gf_theory: FigureData, kappa_star: float, lam: float,
                        alphas: Sequence[float], *, x_range: tuple[float, float], y_max: float) -> go.Figure:
    """Slider over ``alpha``: spectral densities (whole-matrix normalisation, atoms not drawn) of the teacher (one
    static trace), of the gradient-flow fixed point at ``lam`` (``gf_theory`` caches densities of the non-zero
    eigenvalues: they are multiplied back by the rank) and of the Bayes-optimal estimator."""
    groups = {}
    lo, hi = (1.0 - kappa_star ** -0.5) ** 2, (1.0 + kappa_star ** -0.5) ** 2   # the teacher's bulk
    s_teacher = lo + (hi - lo) * (1.0 - np.cos(np.linspace(0.0, np.pi, 240))) / 2.0
    teacher = plotting.theory_trace(s_teacher, teacher_density(s_teacher, kappa_star),
                                    f"teacher S* (atom {max(0.0, 1 - kappa_star):.2g} at 0)",
                                    line_color="#888888", dash="dot")
    for alpha in alphas:
        gf = theory_result(gf_theory, lam=lam, alpha=alpha)
        bo = theory_result(bayes, kappa_star=kappa_star, alpha=alpha)
        flow = plotting.theory_trace(gf["s"], np.asarray(gf["density"], float) * gf["rank"],
                                     f"gradient flow, λ = {lam:g} (atom {1 - gf['rank']:.2f} at 0)", color_index=0)
        label = "Bayes-optimal" + (" (= teacher)" if bo["perfect_recovery"] else ", no atom")
        best = plotting.theory_trace(bo["s"], bo["density"], label, line_color=_BLACK, dash="dashdot")
        groups[f"{alpha:g}"] = [flow, best]
    base = plotting.new_figure("eigenvalue", "density", x_range=x_range, y_range=(0, y_max))
    return plotting.slider_figure(groups, parameter="alpha", base=base, static=[teacher], active=1)


def overview_figure(data: FigureData, kappa_stars: Sequence[float], noises: Sequence[float],
                    noisy_kappa_star: float) -> go.Figure:
    """Two panels of Bayes-optimal MMSE vs alpha: noiseless for several ``kappa_stars`` (with their ``alpha_BO``),
    and at ``noisy_kappa_star`` for several ``noises`` (log y)."""
    base = plotting.new_figure("alpha", "MMSE", log_y=True, x_range=(0, 0.62), rows=1, cols=2,
                               subplot_titles=["Δ = 0, several κ*", f"κ* = {noisy_kappa_star:g}, several Δ"])
    traces = []
    for index, ks in enumerate(kappa_stars):
        traces.append(bayes_trace(data, ks, 0.0, color=None, color_index=index, x_max=0.62,
                                  name=f"κ* = {ks:g}"))
        traces[-1].line.dash = "solid"
        line = alpha_bo_line(ks, (1e-3, 10), show_legend=False)
        line.line.color = plotting.color(index)
        traces.append(line)
    for index, noise in enumerate(noises):
        trace = bayes_trace(data, noisy_kappa_star, noise, panel=2, color=None, color_index=len(kappa_stars) + index,
                            x_max=0.62, name=f"Δ = {noise:g}")
        trace.line.dash = "solid"
        traces.append(trace)
    for trace in traces:
        base.add_trace(trace)
    base.layout.yaxis.range = [-3, 1]
    base.layout.yaxis2.range = [-2, 1]
    return base
