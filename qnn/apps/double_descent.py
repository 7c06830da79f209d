"""Double-descent explorer (app ``double_descent``, notebook ``apps/double_descent.md``).

The long-time theory MSE, Loss_train and ISE vs ``alpha`` (book/theory/fixed_point.md) for sliders ``kappa,
kappa*, Delta, lambda``, with the threshold lines (book/theory/thresholds.md), and optional simulation points
(networks trained to convergence at small ``d``), and optionally the Bayes-optimal error (book/theory/bayes_optimal.md;
it depends on ``kappa*`` and ``Delta`` only, so it is cached per pair and costs nothing when ``kappa`` or ``lambda``
move).

Speed: the curves are traced in the xi-parametrisation of :func:`qnn.longtime.fixed_point.xi_branch` on a *fixed* xi
grid, on spectral laws kept per ``(kappa*, xi)`` (:mod:`qnn.apps.curves`: reused when ``kappa``, ``Delta`` or
``lambda`` move), plus a bounded number of extra points around folds; the noisy threshold line uses the same kept
laws, and a parameter set met before is redrawn from memory. The figure is updated in place (one
``batch_update``: new ``x``/``y`` of the traces, the threshold lines only when they moved).
"""
from __future__ import annotations

import html
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import plotly.graph_objects as go

from .. import plotting
from ..optimal.bayes import bayes_optimal_window
from ..conventions import Setting, check_int, check_positive
from ..simulation.gradient_flow import train_to_convergence
from ..longtime.thresholds import alpha_pr_plus
from .base import App, figure_widget, float_slider, log_slider, message_html
from .curves import cached_trace
from .threshold_lines import THRESHOLD_LABEL, THRESHOLD_STYLE, cannot_recover, threshold_values

__all__ = ["DoubleDescentCurves", "double_descent_curves", "threshold_legend_html", "double_descent_figure",
           "SimulationPoints", "simulation_points", "DoubleDescentApp", "bayes_overlay"]

#: Launcher entry (:mod:`qnn.apps.launcher`): the app's name (its notebook is ``apps/<NAME>.md``) and description.
NAME = "double_descent"
DESCRIPTION = ("double-descent explorer: theory MSE / Loss_train / ISE vs alpha with the thresholds, "
               "sliders for kappa, kappa*, Delta, lambda; optional simulation points")
#: The book page (``book/<BOOK_PAGE>.md``) the app belongs to: the list page links to it.
BOOK_PAGE = "double_descent"

#: xi grid of the double-descent curves (fixed, so that the spectral laws are cached across slider moves).
XI_GRID = np.geomspace(1e-3, 400.0, 64)
#: Largest number of xi values inserted around folds per update.
MAX_EXTRA_XI = 24


@dataclass(frozen=True)
class DoubleDescentCurves:
    """Theory curves vs alpha at fixed ``(kappa, kappa*, Delta, lambda)``.

    Attributes
    ----------
    setting : Setting
        ``alpha`` is a placeholder (1.0); the other parameters are those of the curves.
    alpha, mse, loss, ise, rank : numpy.ndarray
        Points along the curve, ordered by increasing alpha. With label noise and small ``lambda`` the curve
        folds (several fixed points at one alpha); the points are then ordered along the curve and ``alpha``
        is not monotone.
    thresholds : dict
        Name -> alpha of the threshold lines (:func:`threshold_values`); NaN where undefined.
    alpha_range : (float, float)
        The plotted alpha window.
    perfect_from : float
        ``alpha_PR+`` when ``lambda = 0`` and ``Delta = 0`` (MSE = 0 above it), else NaN.
    notes : tuple of (kind, text)
        Messages for the user (warnings about the regime).
    """

    setting: Setting
    alpha: np.ndarray
    mse: np.ndarray
    loss: np.ndarray
    ise: np.ndarray
    rank: np.ndarray
    thresholds: dict[str, float]
    alpha_range: tuple[float, float]
    perfect_from: float = math.nan
    notes: tuple[tuple[str, str], ...] = field(default=())


_CURVE_FIELDS = ("alpha", "mse", "loss", "ise", "rank", "xi", "q")


def _curve_arrays(setting: Setting, xis: np.ndarray) -> dict[str, np.ndarray]:
    """Every curve point at the given ``xi`` (as :func:`qnn.longtime.fixed_point.xi_branch` with ``refine=False``),
    on spectral laws kept across slider moves (:func:`qnn.apps.curves.cached_trace`)."""
    pts = cached_trace(setting.kappa, setting.kappa_star, setting.lam, setting.noise, xis)
    return {name: np.asarray(pts[name], dtype=float) for name in _CURVE_FIELDS}


def _merge(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    both = {k: np.concatenate([a[k], b[k]]) for k in a}
    order = np.lexsort((both["xi"], both["q"]))   # along the curve: increasing (q, xi), as in qnn.fixed_point
    return {k: v[order] for k, v in both.items()}


def _refined_points(setting: Setting, xi_grid: np.ndarray, low: float, high: float,
                    max_extra: int) -> dict[str, np.ndarray]:
    """The curve on ``xi_grid``, then a bounded refinement: xi midpoints inserted (at most ``max_extra`` in all,
    three rounds) where consecutive points are far apart on the plotted scales of the window ``[low, high]``."""
    pts = _curve_arrays(setting, xi_grid)
    for _ in range(3):
        budget = max_extra - (pts["alpha"].size - len(xi_grid))
        if budget <= 0 or pts["alpha"].size < 2:
            break
        a, m = pts["alpha"], np.maximum(pts["mse"], 1e-300)
        visible = ((a[:-1] >= low) | (a[1:] >= low)) & ((a[:-1] <= high) | (a[1:] <= high))
        gap = np.abs(np.diff(a)) / (high - low) + np.abs(np.diff(np.log(m))) / 4.0
        gap = np.where(visible, gap, 0.0)
        worst = np.argsort(gap)[::-1][:budget]
        worst = worst[gap[worst] > 0.04]
        if worst.size == 0:
            break
        new_xi = np.unique(np.sqrt(pts["xi"][worst] * pts["xi"][worst + 1]))
        new_xi = new_xi[np.isfinite(new_xi) & (new_xi > 0)]
        if new_xi.size == 0:
            break
        pts = _merge(pts, _curve_arrays(setting, new_xi))
    return pts


def double_descent_curves(kappa: float, kappa_star: float, noise: float, lam: float, *,
                          alpha_range: tuple[float, float] = (0.01, 0.8),
                          xi_grid: np.ndarray = XI_GRID, max_extra: int = MAX_EXTRA_XI) -> DoubleDescentCurves:
    """Long-time theory MSE, Loss_train and ISE vs alpha (book/theory/fixed_point.md) for the double-descent explorer.

    Parameters
    ----------
    kappa, kappa_star : float
        Student and teacher width ratios, in ``(0, inf)``.
    noise : float
        Label-noise variance ``Delta``, in ``[0, inf)``.
    lam : float
        Regularisation ``lambda`` in ``[0, inf)``; ``0`` is the limit ``lambda -> 0+``.
    alpha_range : (float, float)
        Plotted window ``0 < low < high``.
    xi_grid : array
        Values of ``xi`` traced (fixed grid: cached spectral laws).
    max_extra : int
        Extra xi values allowed around folds / large gaps.

    Returns
    -------
    DoubleDescentCurves
    """
    setting = Setting(alpha=1.0, kappa=kappa, kappa_star=kappa_star, noise=noise, lam=lam)
    low, high = (float(v) for v in alpha_range)
    if not (0 < low < high and math.isfinite(high)):
        raise ValueError(f"alpha_range must be (low, high) with 0 < low < high < inf, got {alpha_range!r}")
    max_extra = check_int("max_extra", max_extra, minimum=0)
    notes: list[tuple[str, str]] = []
    pts = _refined_points(setting, np.asarray(xi_grid, dtype=float), low, high, max_extra)
    perfect_from = math.nan
    if lam == 0 and noise == 0:
        perfect_from = float(alpha_pr_plus(kappa, kappa_star))
        perfect_from = perfect_from if math.isfinite(perfect_from) else math.nan
        if math.isfinite(perfect_from):
            notes.append(("info", f"λ → 0⁺ without noise: MSE = Loss_train = 0 for α ≥ α_PR⁺ = {perfect_from:.4g} "
                                  "(not drawn on the log axes)."))
    # keep the points in the window plus one neighbour on each side (so lines reach the edges)
    a = pts["alpha"]
    inside = (a >= low) & (a <= high)
    keep = inside.copy()
    keep[:-1] |= inside[1:]
    keep[1:] |= inside[:-1]
    pts = {k: v[keep] for k, v in pts.items()}
    if pts["alpha"].size == 0:
        raise ValueError(f"no fixed point with alpha in [{low}, {high}] at these parameters")
    if np.any(np.diff(pts["alpha"]) > 1e-9 * pts["alpha"][1:]) and not np.all(np.diff(pts["alpha"]) >= 0):
        notes.append(("warning", "the fixed-point curve folds here: several long-time solutions coexist at the "
                                 "same α (the curve is drawn along the fold)."))
    if cannot_recover(kappa, kappa_star):
        notes.append(("warning", f"κ = {kappa:.3g} < κ* = {kappa_star:.3g}: the student is narrower than the "
                                 "teacher, so it can never recover it; the recovery thresholds are undefined."))
    if noise > 0 and lam < 1e-3:
        notes.append(("info", "small λ with noise: the MSE peak sits at the noisy interpolation threshold "
                              "α_inter(Δ) (red dash-dot line)."))
    thresholds = threshold_values(kappa, kappa_star, noise)
    # order by alpha only when the curve is a graph over alpha
    order = np.arange(pts["alpha"].size)
    if np.all(np.diff(pts["alpha"][::-1]) >= 0):
        order = order[::-1]
    return DoubleDescentCurves(setting=setting, alpha=pts["alpha"][order], mse=pts["mse"][order],
                               loss=pts["loss"][order], ise=pts["ise"][order], rank=pts["rank"][order],
                               thresholds=thresholds, alpha_range=(low, high), perfect_from=perfect_from,
                               notes=tuple(notes))


@lru_cache(maxsize=256)
def _remembered_curves(kappa: float, kappa_star: float, noise: float, lam: float) -> DoubleDescentCurves:
    """:func:`double_descent_curves` kept per parameter set (a slider moved back redraws at once)."""
    return double_descent_curves(kappa, kappa_star, noise, lam)


_DD_PANELS = ("mse", "loss_train", "ise")
#: Horizontal gap between two panels of the double-descent figure, as a fraction of the plotting width (room for
#: the tick labels and the title of the next panel's y axis).
DD_PANEL_GAP = 0.07


def _positive(values: np.ndarray) -> np.ndarray:
    """NaN where not strictly positive (gaps on log axes instead of plotly warnings)."""
    values = np.asarray(values, dtype=float)
    return np.where(values > 0, values, np.nan)


def _threshold_shapes(thresholds: dict[str, float], n_panels: int, alpha_range: tuple[float, float]) -> list[dict]:
    """Vertical lines at the thresholds inside the alpha window, in every panel."""
    shapes = []
    shown = [(k, v) for k, v in thresholds.items() if math.isfinite(v) and alpha_range[0] <= v <= alpha_range[1]]
    for index in range(1, n_panels + 1):
        suffix = "" if index == 1 else str(index)
        for name, value in shown:
            colour, dash = THRESHOLD_STYLE[name]
            shapes.append(dict(type="line", xref=f"x{suffix}", yref=f"y{suffix} domain", x0=value, x1=value,
                               y0=0, y1=1, line=dict(color=colour, dash=dash, width=1.4), name=name))
    return shapes


_DASH_TEXT = {"dot": "dotted", "dash": "dashed", "dashdot": "dash-dot", "solid": "solid"}


def threshold_legend_html(thresholds: dict[str, float]) -> str:
    """One line naming each threshold line (colour, style, value); undefined ones say why."""
    parts = []
    for name, value in thresholds.items():
        colour, dash = THRESHOLD_STYLE[name]
        text = f"{THRESHOLD_LABEL[name]} = {value:.4f}" if math.isfinite(value) else \
            f"{THRESHOLD_LABEL[name]}: none (κ < κ*)" if name != "alpha_inter_noisy" else \
            f"{THRESHOLD_LABEL[name]}: not found"
        parts.append(f'<span style="color:{colour}">{html.escape(text)} ({_DASH_TEXT[dash]})</span>')
    return '<div class="qnn-app-thresholds">Threshold lines: ' + " · ".join(parts) + "</div>"


@lru_cache(maxsize=64)
def _bayes_points(kappa_star: float, noise: float,
                  alpha_range: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    curve = bayes_optimal_window(kappa_star, noise, alpha_range)
    alpha, mmse = curve.alpha.copy(), curve.mmse.copy()
    alpha.setflags(write=False)
    mmse.setflags(write=False)
    return alpha, mmse


def bayes_overlay(curves: DoubleDescentCurves) -> tuple[np.ndarray, np.ndarray]:
    """Bayes-optimal MMSE vs alpha for the ``kappa*`` and ``Delta`` of ``curves`` over its window (cached per
    ``(kappa*, Delta)``), cut one decade below the smallest positive gradient-flow MSE so that the plunge to 0 at
    ``alpha_BO`` does not stretch the log axis."""
    s = curves.setting
    alpha, mmse = _bayes_points(s.kappa_star, s.noise, tuple(float(v) for v in curves.alpha_range))
    positive = curves.mse[curves.mse > 0]
    floor = float(positive.min()) / 10.0 if positive.size else 0.0
    keep = mmse > floor
    return alpha[keep], mmse[keep]


def double_descent_figure(curves: DoubleDescentCurves, *, widget: bool = False) -> go.Figure:
    """Three panels (MSE, Loss_train, ISE vs alpha) with the threshold lines; a ``FigureWidget`` if ``widget``.

    The figure takes the width of its container (no fixed width) and the panels share it with narrow gaps
    (:data:`DD_PANEL_GAP`), so that the three plots use the full width of the app. Traces: 0-2 theory, 3-5
    simulation markers, 6 the Bayes-optimal MMSE on the MSE panel (empty until shown).
    """
    fig = plotting.new_figure("alpha", ["mse", "loss_train", "ise"], rows=1, cols=3, height=430)
    panel = (1.0 - 2 * DD_PANEL_GAP) / 3
    for index in range(3):
        start = index * (panel + DD_PANEL_GAP)
        fig.layout[f"xaxis{index + 1 if index else ''}"].domain = [start, min(start + panel, 1.0)]
    fig.update_layout(autosize=True)
    fig.update_yaxes(type="log", exponentformat="power", row=1, col=1)
    fig.update_yaxes(type="log", exponentformat="power", row=1, col=2)
    fig.update_xaxes(range=list(curves.alpha_range))
    values = (_positive(curves.mse), _positive(curves.loss), curves.ise)
    for col, (name, y) in enumerate(zip(_DD_PANELS, values), start=1):
        fig.add_trace(plotting.theory_trace(curves.alpha, y, f"theory {plotting.label(name)}", color_index=0,
                                            show_legend=False), row=1, col=col)
    for col in range(1, 4):   # simulation markers (filled by the "add simulation points" button)
        fig.add_trace(go.Scatter(x=[], y=[], mode="markers", name="simulation", showlegend=col == 1,
                                 marker=dict(color=plotting.color(1), size=8, line=dict(width=0.5, color="black")),
                                 error_y=dict(type="data", array=[], visible=True), meta={"kind": "simulation"}),
                      row=1, col=col)
    bayes = plotting.theory_trace([], [], "Bayes-optimal MMSE (any κ, λ)", dash="dashdot", line_color="#000000")
    fig.add_trace(bayes, row=1, col=1)
    fig.update_layout(shapes=_threshold_shapes(curves.thresholds, 3, curves.alpha_range))
    return figure_widget(fig) if widget else fig


@dataclass(frozen=True)
class SimulationPoints:
    """Networks trained to convergence at a few alphas (GOE features): samples per alpha (reps columns)."""

    setting: Setting
    d: int
    alpha: np.ndarray
    mse: np.ndarray
    loss: np.ndarray
    ise: np.ndarray
    converged: np.ndarray


def simulation_points(kappa: float, kappa_star: float, noise: float, lam: float, alphas: np.ndarray, *,
                      d: int = 20, reps: int = 2, seed: int = 0, max_iter: int = 4000,
                      tick: Callable[[int, int], None] | None = None) -> SimulationPoints:
    """Train small networks to convergence (L-BFGS on the loss of book/theory/conventions.md, GOE features).

    Needs ``lam > 0`` (with ``lam = 0`` the limit depends on the initialisation). ``tick(done, total)`` is
    called after each training (progress bar).
    """
    lam = check_positive("lam (simulation points need lambda > 0)", lam)
    d = check_int("d", d, minimum=4)
    reps = check_int("reps", reps, minimum=1)
    alphas = np.atleast_1d(np.asarray(alphas, dtype=float))
    total = alphas.size * reps
    out = {k: np.zeros((alphas.size, reps)) for k in ("mse", "loss", "ise")}
    converged = np.zeros((alphas.size, reps), dtype=bool)
    done = 0
    for i, alpha in enumerate(alphas):
        setting = Setting(alpha=float(alpha), kappa=kappa, kappa_star=kappa_star, noise=noise, lam=lam)
        for rep in range(reps):
            result = train_to_convergence(setting, d, reps=1, seed=seed + rep, features="goe", progress=False,
                                          max_iter=max_iter, gtol=1e-5)
            out["mse"][i, rep], out["loss"][i, rep], out["ise"][i, rep] = \
                result.mse[0], result.loss[0], result.ise[0]
            converged[i, rep] = bool(result.converged[0])
            done += 1
            if tick is not None:
                tick(done, total)
    return SimulationPoints(setting=Setting(alpha=1.0, kappa=kappa, kappa_star=kappa_star, noise=noise, lam=lam),
                            d=d, alpha=alphas, converged=converged, **out)


class DoubleDescentApp(App):
    """Double-descent explorer: sliders ``kappa, kappa*, Delta, lambda`` (+ a ``lambda -> 0+`` switch).

    Attributes
    ----------
    widget : ipywidgets.VBox
        What the notebook displays.
    figure : plotly.graph_objects.FigureWidget
    curves : DoubleDescentCurves
        The curves currently drawn.
    """

    def __init__(self, *, kappa: float = 0.4, kappa_star: float = 0.3, noise: float = 0.5, lam: float = 0.01,
                 delay: float = 0.05):
        import ipywidgets as widgets

        super().__init__(delay)
        self.kappa = float_slider("κ (student width)", kappa, 0.05, 1.5, 0.01)
        self.kappa_star = float_slider("κ* (teacher width)", kappa_star, 0.05, 1.2, 0.01)
        self.noise = float_slider("Δ (label noise)", noise, 0.0, 2.0, 0.05)
        self.lam = log_slider("λ (regularisation)", lam, -4, 0)
        self.lam_zero = widgets.Checkbox(value=False, description="λ → 0⁺ limit", indent=False)
        self.bayes = widgets.Checkbox(value=False, description="Bayes-optimal", indent=False,
                                      tooltip="the smallest MSE any estimator can reach (an addition to the paper)")
        self.curves = double_descent_curves(kappa, kappa_star, noise, lam)
        self.figure = double_descent_figure(self.curves, widget=True)
        self.legend = widgets.HTML(value=threshold_legend_html(self.curves.thresholds))
        self.sim_d = widgets.IntSlider(value=20, min=8, max=40, step=2, description="d", continuous_update=False)
        self.sim_button = widgets.Button(description="add simulation points", icon="play",
                                         tooltip="train networks at d (GOE features, 2 seeds) at 5 alphas",
                                         layout={"width": "auto"})
        self.sim_progress = widgets.IntProgress(value=0, min=0, max=1, description="", layout={"width": "200px"})
        self.sim_progress.layout.visibility = "hidden"
        self.sim_button.on_click(self.add_simulation_points)
        self.simulation: SimulationPoints | None = None
        for control in (self.kappa, self.kappa_star, self.noise, self.lam, self.lam_zero, self.bayes):
            control.observe(self.schedule, names="value")
        controls = widgets.HBox([self.kappa, self.kappa_star, self.noise, self.lam, self.lam_zero, self.bayes])
        sim_row = widgets.HBox([self.sim_button, self.sim_d, self.sim_progress])
        self.widget = self.box([controls, widgets.HBox([self.busy]), self.status, self.legend, self.figure, sim_row])
        self.refresh()

    def parameters(self) -> tuple[float, float, float, float]:
        lam = 0.0 if self.lam_zero.value else float(self.lam.value)
        return float(self.kappa.value), float(self.kappa_star.value), float(self.noise.value), lam

    def _compute_and_draw(self) -> list[tuple[str, str]]:
        kappa, kappa_star, noise, lam = self.parameters()
        curves = _remembered_curves(kappa, kappa_star, noise, lam)
        shapes = _threshold_shapes(curves.thresholds, 3, curves.alpha_range)
        values = (_positive(curves.mse), _positive(curves.loss), curves.ise)
        stale = self.simulation is not None and self.simulation.setting != curves.setting
        best = bayes_overlay(curves) if self.bayes.value else ([], [])
        new_lines = curves.thresholds != self.curves.thresholds or self.n_updates == 0
        with self.figure.batch_update():
            if self.bayes.value or self.figure.data[6].x is not None and len(self.figure.data[6].x):
                self.figure.data[6].x, self.figure.data[6].y = best
            for index, y in enumerate(values):
                self.figure.data[index].x = curves.alpha
                self.figure.data[index].y = y
            if stale:
                for index in range(3, 6):
                    self.figure.data[index].x, self.figure.data[index].y = [], []
            if new_lines:
                self.figure.layout.shapes = shapes
        self.curves = curves
        self.legend.value = threshold_legend_html(curves.thresholds)
        if stale:
            self.simulation = None
        return list(curves.notes)

    def add_simulation_points(self, *_ignored: object, n_alpha: int = 5, reps: int = 2) -> None:
        """Train networks at ``n_alpha`` alphas of the window (``d`` from the slider) and draw them."""
        kappa, kappa_star, noise, lam = self.parameters()
        if lam <= 0:
            self.status.value = message_html("warning", "simulation points need λ > 0: untick the λ → 0⁺ box "
                                                         "(at λ = 0 the limit depends on the initialisation).")
            return
        low, high = self.curves.alpha_range
        alphas = np.linspace(max(low, 0.05), high * 0.9, n_alpha)
        self.sim_button.disabled = True
        self.sim_progress.layout.visibility = "visible"
        self.sim_progress.max, self.sim_progress.value = n_alpha * reps, 0
        self.sim_progress.description = "training…"

        def tick(done: int, total: int) -> None:
            self.sim_progress.value = done

        try:
            points = simulation_points(kappa, kappa_star, noise, lam, alphas, d=int(self.sim_d.value),
                                       reps=reps, tick=tick)
        except ValueError as error:
            self.status.value = message_html("error", str(error))
            return
        finally:
            self.sim_button.disabled = False
            self.sim_progress.description = ""
            self.sim_progress.layout.visibility = "hidden"
        self.simulation = points
        with self.figure.batch_update():
            for index, samples in enumerate((points.mse, points.loss, points.ise)):
                trace = self.figure.data[3 + index]
                trace.x = points.alpha
                trace.y = samples.mean(axis=1)
                trace.error_y = dict(type="data", array=2.0 * samples.std(axis=1, ddof=0), visible=True)
                trace.name = f"simulation d={points.d} ({samples.shape[1]} seeds, ±2 std)"
        if not points.converged.all():
            self.status.value = message_html("warning", f"{int((~points.converged).sum())} of "
                                              f"{points.converged.size} trainings did not reach the tolerance.")
