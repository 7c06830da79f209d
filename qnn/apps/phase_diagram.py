"""Phase diagram (app ``phase_diagram``, notebook ``apps/phase_diagram.md``).

The recovery thresholds ``alpha_BO``, ``alpha_PR+``, ``alpha_PR``, ``alpha_inter`` vs ``kappa`` at fixed
``kappa*`` (book/theory/thresholds.md), and an inspector of one ``(kappa, alpha)`` point: its fixed point and the
spectral law of the estimator (:func:`qnn.apps.point.inspect_point`).
"""
from __future__ import annotations

import html
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import plotly.graph_objects as go

from .. import plotting
from ..longtime import thresholds
from ..conventions import check_int, check_positive
from .base import App, figure_widget, float_slider, log_slider
from .point import PointInspection, inspect_point
from .threshold_lines import THRESHOLD_STYLE, cannot_recover

__all__ = ["ThresholdCurves", "threshold_curves", "phase_diagram_figure", "PhaseDiagramApp"]

#: Launcher entry (:mod:`qnn.apps.launcher`): the app's name (its notebook is ``apps/<NAME>.md``) and description.
NAME = "phase_diagram"
DESCRIPTION = ("recovery-threshold phase diagram (alpha vs kappa) with a point inspector "
               "(fixed point and spectrum of one (kappa, alpha))")
#: The book page (``book/<BOOK_PAGE>.md``) the app belongs to: the list page links to it.
BOOK_PAGE = "thresholds"


@dataclass(frozen=True)
class ThresholdCurves:
    """Recovery thresholds vs ``kappa`` at fixed ``kappa*`` (book/theory/thresholds.md).

    Attributes
    ----------
    kappa_star : float
    kappa : numpy.ndarray
        Grid from ``kappa*`` to ``kappa_max``.
    alpha_bo : float
        ``kappa* - kappa*^2/2`` (1/2 if ``kappa* >= 1``), independent of ``kappa``.
    alpha_pr_plus, alpha_pr, alpha_inter, counting : numpy.ndarray
        ``alpha_PR+``, ``alpha_PR``, noiseless ``alpha_inter`` and the parameter count ``kappa - kappa^2/2``
        (1/2 for ``kappa >= 1``) on the grid.
    """

    kappa_star: float
    kappa: np.ndarray
    alpha_bo: float
    alpha_pr_plus: np.ndarray
    alpha_pr: np.ndarray
    alpha_inter: np.ndarray
    counting: np.ndarray


@lru_cache(maxsize=64)
def _threshold_curves_cached(kappa_star: float, kappa_max: float, n: int) -> ThresholdCurves:
    kappa = np.linspace(kappa_star, kappa_max, n)
    pr_plus = np.array([thresholds.alpha_pr_plus(k, kappa_star) for k in kappa], dtype=float)
    pr = np.array([thresholds.alpha_pr(k, kappa_star) for k in kappa], dtype=float)
    inter = np.array([thresholds.alpha_inter(k, kappa_star) for k in kappa], dtype=float)
    counting = np.array([thresholds.parameter_count(k) for k in kappa], dtype=float)
    for array in (kappa, pr_plus, pr, inter, counting):
        array.setflags(write=False)
    return ThresholdCurves(kappa_star=kappa_star, kappa=kappa, alpha_bo=float(thresholds.alpha_bo(kappa_star)),
                           alpha_pr_plus=pr_plus, alpha_pr=pr, alpha_inter=inter, counting=counting)


def threshold_curves(kappa_star: float, *, kappa_max: float = 1.1, n: int = 80) -> ThresholdCurves:
    """The thresholds on ``n`` points of ``kappa`` in ``[kappa*, kappa_max]`` (cached per ``kappa*``)."""
    kappa_star = check_positive("kappa_star", kappa_star)
    kappa_max = check_positive("kappa_max", kappa_max)
    if kappa_max <= kappa_star:
        raise ValueError(f"kappa_max must be > kappa_star = {kappa_star}, got {kappa_max}")
    n = check_int("n", n, minimum=2)
    return _threshold_curves_cached(float(kappa_star), float(kappa_max), n)


#: Cells of the clickable layer of the phase diagram (kappa, alpha).
CLICK_KAPPA = np.round(np.arange(0.02, 1.1 + 1e-9, 0.01), 2)
CLICK_ALPHA = np.round(np.arange(0.01, 0.6 + 1e-9, 0.005), 3)


def phase_diagram_figure(curves: ThresholdCurves, inspection: PointInspection | None = None, *,
                         widget: bool = False, kappa_range: tuple[float, float] = (0.0, 1.1),
                         alpha_range: tuple[float, float] = (0.0, 0.6)) -> go.Figure:
    """Left: thresholds vs kappa (+ the inspected point); right: the estimator spectrum at that point."""
    fig = plotting.new_figure(["kappa", "eigenvalue"], ["alpha", "density"], rows=1, cols=2, height=480,
                              subplot_titles=["recovery thresholds", "spectrum of the estimator Ŝ"])
    fig.update_xaxes(range=list(kappa_range), row=1, col=1)
    fig.update_yaxes(range=list(alpha_range), row=1, col=1)
    lines = [("α_BO (parameter counting, Bayes-optimal)", np.full_like(curves.kappa, curves.alpha_bo), "#000000",
              "dot"),
             ("α_inter", curves.alpha_inter, THRESHOLD_STYLE["alpha_inter"][0], "solid"),
             ("α_PR⁺ (λ → 0⁺)", curves.alpha_pr_plus, THRESHOLD_STYLE["alpha_pr_plus"][0], "solid"),
             ("α_PR (λ = 0 gradient flow)", curves.alpha_pr, THRESHOLD_STYLE["alpha_pr"][0], "solid"),
             ("κ − κ²/2 (student parameters)", curves.counting, "#7f7f7f", "dash")]
    for name, y, colour, dash in lines:
        fig.add_trace(plotting.theory_trace(curves.kappa, y, name, line_color=colour, dash=dash), row=1, col=1)
    # a transparent heatmap under the curves: clicking anywhere selects the (kappa, alpha) of the clicked cell
    fig.add_trace(go.Heatmap(x=CLICK_KAPPA, y=CLICK_ALPHA, z=np.zeros((CLICK_ALPHA.size, CLICK_KAPPA.size)),
                             opacity=0.0, showscale=False, name="click to inspect", hoverinfo="x+y",
                             hovertemplate="κ = %{x:.3f}, α = %{y:.3f}<extra>click to inspect</extra>",
                             meta={"kind": "click-grid"}), row=1, col=1)
    point = inspection.setting if inspection else None
    fig.add_trace(go.Scatter(x=[point.kappa] if point else [], y=[point.alpha] if point else [], mode="markers",
                             name="inspected point", marker=dict(symbol="x", size=13, color="#d62728"),
                             meta={"kind": "selection"}), row=1, col=1)
    fig.add_trace(plotting.theory_trace(inspection.s if inspection else [], inspection.density if inspection else [],
                                        "density of the non-zero eigenvalues", color_index=4), row=1, col=2)
    fig.update_layout(legend=dict(orientation="h", y=-0.18), autosize=True)
    return figure_widget(fig) if widget else fig


class PhaseDiagramApp(App):
    """Phase diagram: ``kappa*`` slider, and an inspector (``kappa``, ``alpha``, ``lambda`` sliders, or a click)."""

    def __init__(self, *, kappa_star: float = 0.3, kappa: float = 0.5, alpha: float = 0.3, lam: float = 0.01,
                 delay: float = 0.05):
        import ipywidgets as widgets

        super().__init__(delay)
        self.kappa_star = float_slider("κ* (teacher width)", kappa_star, 0.05, 0.95, 0.01)
        self.kappa = float_slider("κ (inspect)", kappa, 0.02, 1.1, 0.01)
        self.alpha = float_slider("α (inspect)", alpha, 0.01, 0.6, 0.005)
        self.lam = log_slider("λ (inspect)", lam, -4, 0)
        self.info = widgets.HTML(value="")
        self.info.add_class("qnn-app-info")
        self.curves = threshold_curves(kappa_star)
        self.inspection: PointInspection | None = inspect_point(kappa, kappa_star, alpha, lam)
        self.figure = phase_diagram_figure(self.curves, self.inspection, widget=True)
        self.figure.data[5].on_click(self._on_click)
        for control in (self.kappa_star, self.kappa, self.alpha, self.lam):
            control.observe(self.schedule, names="value")
        self.widget = self.box([widgets.HBox([self.kappa_star, self.lam, self.kappa, self.alpha]),
                                self.busy, self.status, self.figure, self.info])
        self.refresh()

    def _on_click(self, trace, points, selector) -> None:
        if points.xs:
            with self.kappa.hold_trait_notifications(), self.alpha.hold_trait_notifications():
                self.kappa.value = float(points.xs[0])
                self.alpha.value = float(points.ys[0])

    def _compute_and_draw(self) -> list[tuple[str, str]]:
        messages: list[tuple[str, str]] = []
        kappa_star = float(self.kappa_star.value)
        kappa, alpha, lam = float(self.kappa.value), float(self.alpha.value), float(self.lam.value)
        # compute everything before drawing anything: if either step raises, the figure, the marker and the info
        # keep showing the last valid parameters together (as the error message says)
        curves = threshold_curves(kappa_star)
        inspection = inspect_point(kappa, kappa_star, alpha, lam)
        with self.figure.batch_update():
            for index, y in enumerate((np.full_like(curves.kappa, curves.alpha_bo), curves.alpha_inter,
                                       curves.alpha_pr_plus, curves.alpha_pr, curves.counting)):
                self.figure.data[index].x = curves.kappa
                self.figure.data[index].y = y
            self.figure.data[6].x, self.figure.data[6].y = [kappa], [alpha]
            self.figure.data[7].x = inspection.s
            self.figure.data[7].y = inspection.density
        self.curves = curves
        self.inspection = inspection
        fp = inspection.fixed_point
        self.info.value = (
            f"<b>Fixed point at κ = {kappa:.3g}, κ* = {kappa_star:.3g}, α = {alpha:.3g}, λ = {lam:.2g}</b> "
            f"({fp.branch.replace('_', ' ')} branch):<br>MSE = {fp.mse:.4g}, Loss_train = {fp.loss:.3g}, "
            f"ISE = {fp.ise:.3g}, ξ = {fp.xi:.4g}, q = {fp.q:.4g}, rank κ_min = {fp.rank:.4g}; "
            f"atom at 0 of mass 1 − κ_min = {inspection.atom:.4g}.<br>{html.escape(inspection.regime)}")
        if cannot_recover(kappa, kappa_star):
            messages.append(("warning", "κ < κ*: the inspected student is narrower than the teacher."))
        return messages
