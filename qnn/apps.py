"""The interactive Voila apps of the qnn-book: their computations, figures and widgets.

Three apps (notebooks ``apps/<name>.md``, served by ``python -m qnn voila``, see :mod:`qnn.voila`):

* **double-descent explorer** (:class:`DoubleDescentApp`): the long-time theory MSE, Loss_train and ISE vs
  ``alpha`` (THEORY.md section 3) for sliders ``kappa, kappa*, Delta, lambda``, with the threshold lines of
  section 4, and optional simulation points (networks trained to convergence at small ``d``);
* **phase diagram** (:class:`PhaseDiagramApp`): the recovery thresholds ``alpha_BO``, ``alpha_PR+``,
  ``alpha_PR``, ``alpha_inter`` vs ``kappa`` at fixed ``kappa*``, and an inspector of one ``(kappa, alpha)``
  point (its fixed point and the spectral law of the estimator);
* **spectral-density explorer** (:class:`SpectrumApp`): eigenvalue histogram of a freshly trained network
  against the theory density of the estimator as ``alpha, lambda, kappa`` move.

The computations are pure functions returning frozen dataclasses (:func:`double_descent_curves`,
:func:`threshold_curves`, :func:`inspect_point`, :func:`trained_spectrum`), testable without a browser; the
``*_figure`` functions draw them in the book's style (:mod:`qnn.plotting`), for the apps and for static pages.

Live updates are debounced (:class:`Debouncer`: a slider burst triggers one computation, run in a worker thread
while a busy indicator is shown). Invalid or extreme parameters never produce a traceback: the app shows the
message of the ``ValueError`` (or of a non-converged solver) and keeps the last valid figure.

Speed: the double-descent curves are traced in the xi-parametrisation of :func:`qnn.fixed_point.xi_branch` on
a *fixed* xi grid (so the spectral laws, cached per ``(kappa*, xi)`` inside :mod:`qnn.fixed_point`, are reused
when ``kappa``, ``Delta`` or ``lambda`` move), plus a bounded number of extra points around folds.
"""
from __future__ import annotations

import html
import math
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import plotly.graph_objects as go

from . import plotting
from .conventions import Setting, check_int, check_nonnegative, check_positive
from .fixed_point import FixedPoint, FixedPointError, estimator_density, fixed_point, xi_branch

__all__ = [
    "Debouncer", "DoubleDescentCurves", "double_descent_curves", "double_descent_figure", "DoubleDescentApp",
    "ThresholdCurves", "threshold_curves", "PointInspection", "inspect_point", "phase_diagram_figure",
    "PhaseDiagramApp", "TrainedSpectrum", "trained_spectrum", "spectrum_figure", "SpectrumApp",
    "simulation_points", "SimulationPoints", "threshold_values", "threshold_legend_html", "cannot_recover",
]

#: xi grid of the double-descent curves (fixed, so that the spectral laws are cached across slider moves).
XI_GRID = np.geomspace(1e-3, 400.0, 64)
#: Largest number of xi values inserted around folds per update.
MAX_EXTRA_XI = 24
#: Threshold names, in drawing order, with their colours (paper: alpha_inter blue, alpha_PR+ orange,
#: alpha_PR green) and line styles.
THRESHOLD_STYLE: dict[str, tuple[str, str]] = {
    "alpha_bo": ("#000000", "dot"),
    "alpha_inter": (plotting.PALETTE[0], "dash"),
    "alpha_pr_plus": (plotting.PALETTE[1], "dash"),
    "alpha_pr": (plotting.PALETTE[2], "dash"),
    "alpha_inter_noisy": (plotting.PALETTE[3], "dashdot"),
}
THRESHOLD_LABEL: dict[str, str] = {
    "alpha_bo": "α_BO", "alpha_inter": "α_inter", "alpha_pr_plus": "α_PR⁺", "alpha_pr": "α_PR",
    "alpha_inter_noisy": "α_inter(Δ)",
}


# ================================================================================================================
# Debounced, guarded updates
# ================================================================================================================
class Debouncer:
    """Call ``function`` once, ``delay`` seconds after the *last* of a burst of triggers.

    Runs ``function`` in a timer thread (one at a time: a lock serialises runs). With ``delay = 0`` the call is
    synchronous (used by the tests).

    Parameters
    ----------
    delay : float
        Quiet time in seconds, in ``[0, inf)``.
    function : callable
        Called without arguments.
    """

    def __init__(self, delay: float, function: Callable[[], None]):
        self.delay = check_nonnegative("delay", delay)
        self.function = function
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()
        self._run_lock = threading.Lock()
        self.calls = 0

    @property
    def lock(self) -> threading.Lock:
        """Held while ``function`` runs (take it to run other work that must not overlap a call)."""
        return self._run_lock

    def __call__(self, *_ignored: object) -> None:
        if self.delay == 0:
            self._run()
            return
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = threading.Timer(self.delay, self._run)
            self._timer.daemon = True
            self._timer.start()

    def _run(self) -> None:
        with self._run_lock:
            self.calls += 1
            self.function()

    def wait(self, timeout: float = 60.0) -> None:
        """Block until a pending call has run (tests and benchmarks)."""
        timer = self._timer
        if timer is not None:
            timer.join(timeout)
        with self._run_lock:
            pass


_BUSY_HTML = ('<span class="qnn-app-spinner" style="color:#8a5a00"><span style="display:inline-block;width:0.8em;'
              'height:0.8em;border:2px solid #8a5a00;border-right-color:transparent;border-radius:50%;'
              'animation:qnn-spin 0.8s linear infinite"></span> {text}</span>'
              '<style>@keyframes qnn-spin {{ to {{ transform: rotate(360deg); }} }}</style>')


def _message_html(kind: str, text: str) -> str:
    colour = {"error": "#b00020", "warning": "#8a5a00", "info": "#2a5d8a"}[kind]
    icon = {"error": "<b>Error:</b> ", "warning": "<b>Note:</b> ", "info": ""}[kind]
    return f'<div class="qnn-app-{kind}" style="color:{colour}">{icon}{html.escape(text)}</div>'


class _App:
    """Common machinery: status line, busy indicator, debounced and guarded refresh."""

    def __init__(self, delay: float):
        import ipywidgets as widgets

        self.busy = widgets.HTML(value="", layout=widgets.Layout(min_height="1.5em"))
        self.busy.add_class("qnn-app-busy")
        self.status = widgets.HTML(value="")
        self.status.add_class("qnn-app-status")
        self.last_update_seconds = math.nan
        self.n_updates = 0
        self.messages: list[tuple[str, str]] = []
        self._debounced = Debouncer(delay, self.refresh)

    # -- to be provided by the apps
    def _compute_and_draw(self) -> list[tuple[str, str]]:   # pragma: no cover - abstract
        raise NotImplementedError

    def schedule(self, *_ignored: object) -> None:
        """Request a refresh (debounced); connected to every control."""
        self.busy.value = _BUSY_HTML.format(text="updating…")
        self._debounced()

    def wait(self, timeout: float = 120.0) -> None:
        """Block until the pending refresh has finished."""
        self._debounced.wait(timeout)

    def refresh(self) -> None:
        """Recompute and redraw now; errors become messages in the status line, never tracebacks."""
        start = time.perf_counter()
        self.busy.value = _BUSY_HTML.format(text="computing…")
        try:
            messages = self._compute_and_draw()
        except (ValueError, FixedPointError) as error:
            messages = [("error", f"{error}. The figure shows the last valid parameters.")]
        except Exception as error:  # noqa: BLE001 - a slider must never show a traceback; report the bug
            traceback.print_exc()
            messages = [("error", f"unexpected {type(error).__name__}: {error} (please report this)")]
        self.last_update_seconds = time.perf_counter() - start
        self.n_updates += 1
        self.messages = messages
        self.status.value = "".join(_message_html(kind, text) for kind, text in messages)
        self.busy.value = f'<span class="qnn-app-done">updated in {self.last_update_seconds:.2f} s</span>'


def _float_slider(description: str, value: float, low: float, high: float, step: float):
    import ipywidgets as widgets

    return widgets.FloatSlider(value=value, min=low, max=high, step=step, description=description,
                               continuous_update=True, readout_format=".3g",
                               style={"description_width": "initial"})


def _log_slider(description: str, value: float, low_exp: float, high_exp: float, step: float = 0.1):
    import ipywidgets as widgets

    return widgets.FloatLogSlider(value=value, base=10, min=low_exp, max=high_exp, step=step,
                                  description=description, continuous_update=True, readout_format=".2g",
                                  style={"description_width": "initial"})


# ================================================================================================================
# Thresholds (THEORY.md section 4)
# ================================================================================================================
def _thresholds_module():
    from . import thresholds

    return thresholds


def cannot_recover(kappa: float, kappa_star: float) -> bool:
    """Whether the student cannot represent the teacher: ``min(kappa, 1) < min(kappa*, 1)`` (then no recovery
    threshold exists)."""
    return min(kappa, 1.0) < min(kappa_star, 1.0)


def threshold_values(kappa: float, kappa_star: float, noise: float = 0.0) -> dict[str, float]:
    """The recovery thresholds at one ``(kappa, kappa*)`` (NaN where undefined, e.g. ``kappa < kappa*``).

    Keys: ``alpha_bo``, ``alpha_pr_plus``, ``alpha_pr``, ``alpha_inter`` (noiseless) and, when ``noise > 0``,
    ``alpha_inter_noisy`` (the double-descent peak, :func:`qnn.thresholds.alpha_inter` at ``Delta``).
    """
    kappa = check_positive("kappa", kappa)
    kappa_star = check_positive("kappa_star", kappa_star)
    noise = check_nonnegative("noise", noise)
    th = _thresholds_module()
    values = {"alpha_bo": float(th.alpha_bo(kappa_star))}
    for name in ("alpha_pr_plus", "alpha_pr", "alpha_inter"):
        value = float(getattr(th, name)(kappa, kappa_star))      # inf when recovery is impossible
        values[name] = value if math.isfinite(value) else math.nan
    if noise > 0:
        values["alpha_inter_noisy"] = _noisy_alpha_inter(kappa, kappa_star, noise)
    return values


@lru_cache(maxsize=256)
def _noisy_alpha_inter(kappa: float, kappa_star: float, noise: float) -> float:
    try:
        return float(_thresholds_module().alpha_inter(kappa, kappa_star, noise))
    except (ValueError, ArithmeticError, RuntimeError):
        return math.nan


# ================================================================================================================
# 1. Double-descent explorer
# ================================================================================================================
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


def _curve_arrays(curve) -> dict[str, np.ndarray]:
    return {name: np.asarray(getattr(curve, name), dtype=float) for name in _CURVE_FIELDS}


def _merge(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    both = {k: np.concatenate([a[k], b[k]]) for k in a}
    order = np.lexsort((both["xi"], both["q"]))   # along the curve: increasing (q, xi), as in qnn.fixed_point
    return {k: v[order] for k, v in both.items()}


def double_descent_curves(kappa: float, kappa_star: float, noise: float, lam: float, *,
                          alpha_range: tuple[float, float] = (0.01, 0.8),
                          xi_grid: np.ndarray = XI_GRID, max_extra: int = MAX_EXTRA_XI) -> DoubleDescentCurves:
    """Long-time theory MSE, Loss_train and ISE vs alpha (THEORY.md section 3) for the double-descent explorer.

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
    pts = _curve_arrays(xi_branch(setting, np.asarray(xi_grid, dtype=float), refine=False))
    # bounded refinement: insert xi midpoints where consecutive points are far apart on the plotted scales
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
        pts = _merge(pts, _curve_arrays(xi_branch(setting, new_xi, refine=False)))
    perfect_from = math.nan
    if lam == 0 and noise == 0:
        perfect_from = float(_thresholds_module().alpha_pr_plus(kappa, kappa_star))
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


_DD_PANELS = ("mse", "loss_train", "ise")


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


def double_descent_figure(curves: DoubleDescentCurves, *, widget: bool = False) -> go.Figure:
    """Three panels (MSE, Loss_train, ISE vs alpha) with the threshold lines; a ``FigureWidget`` if ``widget``."""
    fig = plotting.new_figure("alpha", ["mse", "loss_train", "ise"], rows=1, cols=3, height=430, width=1150)
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
    fig.update_layout(shapes=_threshold_shapes(curves.thresholds, 3, curves.alpha_range))
    return go.FigureWidget(fig) if widget else fig


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
    """Train small networks to convergence (L-BFGS on the loss of THEORY.md section 1, GOE features).

    Needs ``lam > 0`` (with ``lam = 0`` the limit depends on the initialisation). ``tick(done, total)`` is
    called after each training (progress bar).
    """
    from .simulation import train_to_convergence

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


class DoubleDescentApp(_App):
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
                 delay: float = 0.1):
        import ipywidgets as widgets

        super().__init__(delay)
        self.kappa = _float_slider("κ (student width)", kappa, 0.05, 1.5, 0.01)
        self.kappa_star = _float_slider("κ* (teacher width)", kappa_star, 0.05, 1.2, 0.01)
        self.noise = _float_slider("Δ (label noise)", noise, 0.0, 2.0, 0.05)
        self.lam = _log_slider("λ (regularisation)", lam, -4, 0)
        self.lam_zero = widgets.Checkbox(value=False, description="λ → 0⁺ limit", indent=False)
        self.curves = double_descent_curves(kappa, kappa_star, noise, lam)
        self.figure = double_descent_figure(self.curves, widget=True)
        self.legend = widgets.HTML(value=threshold_legend_html(self.curves.thresholds))
        self.sim_d = widgets.IntSlider(value=20, min=8, max=40, step=2, description="d", continuous_update=False)
        self.sim_button = widgets.Button(description="add simulation points", icon="play",
                                         tooltip="train networks at d (GOE features, 2 seeds) at 5 alphas")
        self.sim_progress = widgets.IntProgress(value=0, min=0, max=1, description="", layout={"width": "200px"})
        self.sim_progress.layout.visibility = "hidden"
        self.sim_button.on_click(self.add_simulation_points)
        self.simulation: SimulationPoints | None = None
        for control in (self.kappa, self.kappa_star, self.noise, self.lam, self.lam_zero):
            control.observe(self.schedule, names="value")
        controls = widgets.VBox([self.kappa, self.kappa_star, self.noise, widgets.HBox([self.lam, self.lam_zero])])
        sim_row = widgets.HBox([self.sim_button, self.sim_d, self.sim_progress])
        self.widget = widgets.VBox([controls, widgets.HBox([self.busy]), self.status, self.legend, self.figure,
                                    sim_row])
        self.widget.add_class("qnn-app")
        self.refresh()

    def parameters(self) -> tuple[float, float, float, float]:
        lam = 0.0 if self.lam_zero.value else float(self.lam.value)
        return float(self.kappa.value), float(self.kappa_star.value), float(self.noise.value), lam

    def _compute_and_draw(self) -> list[tuple[str, str]]:
        kappa, kappa_star, noise, lam = self.parameters()
        curves = double_descent_curves(kappa, kappa_star, noise, lam)
        self.curves = curves
        shapes = _threshold_shapes(curves.thresholds, 3, curves.alpha_range)
        values = (_positive(curves.mse), _positive(curves.loss), curves.ise)
        stale = self.simulation is not None and self.simulation.setting != curves.setting
        with self.figure.batch_update():
            for index, y in enumerate(values):
                self.figure.data[index].x = curves.alpha
                self.figure.data[index].y = y
            if stale:
                for index in range(3, 6):
                    self.figure.data[index].x, self.figure.data[index].y = [], []
            self.figure.layout.shapes = shapes
        self.legend.value = threshold_legend_html(curves.thresholds)
        if stale:
            self.simulation = None
        return list(curves.notes)

    def add_simulation_points(self, *_ignored: object, n_alpha: int = 5, reps: int = 2) -> None:
        """Train networks at ``n_alpha`` alphas of the window (``d`` from the slider) and draw them."""
        kappa, kappa_star, noise, lam = self.parameters()
        if lam <= 0:
            self.status.value = _message_html("warning", "simulation points need λ > 0: untick the λ → 0⁺ box "
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
            self.status.value = _message_html("error", str(error))
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
            self.status.value = _message_html("warning", f"{int((~points.converged).sum())} of "
                                              f"{points.converged.size} trainings did not reach the tolerance.")


# ================================================================================================================
# 2. Phase diagram
# ================================================================================================================
@dataclass(frozen=True)
class ThresholdCurves:
    """Recovery thresholds vs ``kappa`` at fixed ``kappa*`` (THEORY.md section 4).

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
    th = _thresholds_module()
    kappa = np.linspace(kappa_star, kappa_max, n)
    pr_plus = np.array([th.alpha_pr_plus(k, kappa_star) for k in kappa], dtype=float)
    pr = np.array([th.alpha_pr(k, kappa_star) for k in kappa], dtype=float)
    inter = np.array([th.alpha_inter(k, kappa_star) for k in kappa], dtype=float)
    counting = np.array([th.parameter_count(k) for k in kappa], dtype=float)
    for array in (kappa, pr_plus, pr, inter, counting):
        array.setflags(write=False)
    return ThresholdCurves(kappa_star=kappa_star, kappa=kappa, alpha_bo=float(th.alpha_bo(kappa_star)),
                           alpha_pr_plus=pr_plus, alpha_pr=pr, alpha_inter=inter, counting=counting)


def threshold_curves(kappa_star: float, *, kappa_max: float = 1.1, n: int = 80) -> ThresholdCurves:
    """The thresholds on ``n`` points of ``kappa`` in ``[kappa*, kappa_max]`` (cached per ``kappa*``)."""
    kappa_star = check_positive("kappa_star", kappa_star)
    kappa_max = check_positive("kappa_max", kappa_max)
    if kappa_max <= kappa_star:
        raise ValueError(f"kappa_max must be > kappa_star = {kappa_star}, got {kappa_max}")
    n = check_int("n", n, minimum=2)
    return _threshold_curves_cached(float(kappa_star), float(kappa_max), n)


@dataclass(frozen=True)
class PointInspection:
    """One ``(kappa, alpha)`` point of the phase diagram: fixed point, estimator spectrum, regime.

    Attributes
    ----------
    setting : Setting
    fixed_point : FixedPoint
    s, density : numpy.ndarray
        Density of the non-zero eigenvalues of ``S_hat`` (normalised to 1), on a grid ``s``.
    atom : float
        Mass of the eigenvalue atom at 0 (``1 - kappa_min``).
    regime : str
        Plain-language classification of the point relative to the thresholds.
    """

    setting: Setting
    fixed_point: FixedPoint
    s: np.ndarray
    density: np.ndarray
    atom: float
    regime: str


def _regime(setting: Setting, values: dict[str, float]) -> str:
    alpha, kappa, kappa_star = setting.alpha, setting.kappa, setting.kappa_star
    if cannot_recover(kappa, kappa_star):
        return "κ < κ*: the student cannot represent the teacher; no perfect recovery at any α."
    parts = []
    if alpha < values["alpha_bo"]:
        parts.append(f"α < α_BO = {values['alpha_bo']:.4f}: too few samples for any estimator to recover S*")
    else:
        pr_plus, pr = values["alpha_pr_plus"], values["alpha_pr"]
        parts.append(f"λ → 0⁺ estimator {'recovers' if alpha >= pr_plus else 'does not recover'} S* "
                     f"(α {'≥' if alpha >= pr_plus else '<'} α_PR⁺ = {pr_plus:.4f})")
        parts.append(f"unregularised gradient flow {'recovers' if alpha >= pr else 'does not recover'} S* "
                     f"(α {'≥' if alpha >= pr else '<'} α_PR = {pr:.4f})")
    return "; ".join(parts) + "."


def inspect_point(kappa: float, kappa_star: float, alpha: float, lam: float, noise: float = 0.0, *,
                  n_s: int = 300) -> PointInspection:
    """Fixed point and estimator spectrum at one ``(kappa, alpha)``; raises ``ValueError`` when not converged."""
    setting = Setting(alpha=alpha, kappa=kappa, kappa_star=kappa_star, noise=noise, lam=lam)
    fp = fixed_point(setting)
    if not fp.converged:
        raise ValueError(f"the fixed point did not converge at α = {alpha:.4g}, κ = {kappa:.4g}: {fp.reason}")
    if fp.branch == "perfect_recovery":
        top = (1 + 1 / math.sqrt(kappa_star)) ** 2
        s = np.linspace(0.0, top * 1.05, n_s)
    else:
        from .spectral import spectral_law

        law = spectral_law(kappa_star, fp.xi)
        s = np.linspace(0.0, max(law.top - fp.q, 1e-6) * 1.05, n_s)
    density = estimator_density(fp, s)
    values = threshold_values(kappa, kappa_star)
    return PointInspection(setting=setting, fixed_point=fp, s=s, density=density.normalised(),
                           atom=float(density.atom), regime=_regime(setting, values))


#: Cells of the clickable layer of the phase diagram (kappa, alpha).
CLICK_KAPPA = np.round(np.arange(0.02, 1.1 + 1e-9, 0.01), 2)
CLICK_ALPHA = np.round(np.arange(0.01, 0.6 + 1e-9, 0.005), 3)


def phase_diagram_figure(curves: ThresholdCurves, inspection: PointInspection | None = None, *,
                         widget: bool = False, kappa_range: tuple[float, float] = (0.0, 1.1),
                         alpha_range: tuple[float, float] = (0.0, 0.6)) -> go.Figure:
    """Left: thresholds vs kappa (+ the inspected point); right: the estimator spectrum at that point."""
    fig = plotting.new_figure(["kappa", "eigenvalue"], ["alpha", "density"], rows=1, cols=2, height=480, width=1100,
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
    fig.update_layout(legend=dict(orientation="h", y=-0.18))
    return go.FigureWidget(fig) if widget else fig


class PhaseDiagramApp(_App):
    """Phase diagram: ``kappa*`` slider, and an inspector (``kappa``, ``alpha``, ``lambda`` sliders, or a click)."""

    def __init__(self, *, kappa_star: float = 0.3, kappa: float = 0.5, alpha: float = 0.3, lam: float = 0.01,
                 delay: float = 0.1):
        import ipywidgets as widgets

        super().__init__(delay)
        self.kappa_star = _float_slider("κ* (teacher width)", kappa_star, 0.05, 0.95, 0.01)
        self.kappa = _float_slider("κ (inspect)", kappa, 0.02, 1.1, 0.01)
        self.alpha = _float_slider("α (inspect)", alpha, 0.01, 0.6, 0.005)
        self.lam = _log_slider("λ (inspect)", lam, -4, 0)
        self.info = widgets.HTML(value="")
        self.info.add_class("qnn-app-info")
        self.curves = threshold_curves(kappa_star)
        self.inspection: PointInspection | None = inspect_point(kappa, kappa_star, alpha, lam)
        self.figure = phase_diagram_figure(self.curves, self.inspection, widget=True)
        self.figure.data[5].on_click(self._on_click)
        for control in (self.kappa_star, self.kappa, self.alpha, self.lam):
            control.observe(self.schedule, names="value")
        self.widget = widgets.VBox([widgets.HBox([widgets.VBox([self.kappa_star, self.lam]),
                                                  widgets.VBox([self.kappa, self.alpha])]),
                                    self.busy, self.status, self.figure, self.info])
        self.widget.add_class("qnn-app")
        self.refresh()

    def _on_click(self, trace, points, selector) -> None:
        if points.xs:
            with self.kappa.hold_trait_notifications(), self.alpha.hold_trait_notifications():
                self.kappa.value = float(points.xs[0])
                self.alpha.value = float(points.ys[0])

    def _compute_and_draw(self) -> list[tuple[str, str]]:
        messages: list[tuple[str, str]] = []
        kappa_star = float(self.kappa_star.value)
        curves = threshold_curves(kappa_star)
        kappa, alpha, lam = float(self.kappa.value), float(self.alpha.value), float(self.lam.value)
        with self.figure.batch_update():
            for index, y in enumerate((np.full_like(curves.kappa, curves.alpha_bo), curves.alpha_inter,
                                       curves.alpha_pr_plus, curves.alpha_pr, curves.counting)):
                self.figure.data[index].x = curves.kappa
                self.figure.data[index].y = y
            self.figure.data[6].x, self.figure.data[6].y = [kappa], [alpha]
        self.curves = curves
        inspection = inspect_point(kappa, kappa_star, alpha, lam)
        self.inspection = inspection
        fp = inspection.fixed_point
        with self.figure.batch_update():
            self.figure.data[7].x = inspection.s
            self.figure.data[7].y = inspection.density
        self.info.value = (
            f"<b>Fixed point at κ = {kappa:.3g}, κ* = {kappa_star:.3g}, α = {alpha:.3g}, λ = {lam:.2g}</b> "
            f"({fp.branch.replace('_', ' ')} branch):<br>MSE = {fp.mse:.4g}, Loss_train = {fp.loss:.3g}, "
            f"ISE = {fp.ise:.3g}, ξ = {fp.xi:.4g}, q = {fp.q:.4g}, rank κ_min = {fp.rank:.4g}; "
            f"atom at 0 of mass 1 − κ_min = {inspection.atom:.4g}.<br>{html.escape(inspection.regime)}")
        if cannot_recover(kappa, kappa_star):
            messages.append(("warning", "κ < κ*: the inspected student is narrower than the teacher."))
        return messages


# ================================================================================================================
# 3. Spectral-density explorer
# ================================================================================================================
@dataclass(frozen=True)
class TrainedSpectrum:
    """Eigenvalues of networks trained to convergence, and the theory law of the estimator.

    Attributes
    ----------
    setting : Setting
    d, reps : int
    eigenvalues : numpy.ndarray
        Non-zero eigenvalues (above ``cutoff``) pooled over repetitions.
    zero_fraction : float
        Fraction of eigenvalues below ``cutoff`` (compare with the theory atom ``1 - kappa_min``).
    cutoff : float
    converged : numpy.ndarray
        Per repetition.
    """

    setting: Setting
    d: int
    reps: int
    eigenvalues: np.ndarray
    zero_fraction: float
    cutoff: float
    converged: np.ndarray


def trained_spectrum(setting: Setting, d: int = 30, *, reps: int = 2, seed: int = 0, cutoff: float = 1e-2,
                     max_iter: int = 4000, tick: Callable[[int, int], None] | None = None,
                     cancelled: Callable[[], bool] | None = None) -> TrainedSpectrum | None:
    """Train ``reps`` networks (L-BFGS to convergence, GOE features) and pool the eigenvalues of ``S = W W^T``.

    Eigenvalues below ``cutoff`` count as zero (the paper drops those below ``1e-2``). Returns ``None`` if
    ``cancelled()`` became true between repetitions.
    """
    from .simulation import train_to_convergence

    if setting.lam <= 0:
        raise ValueError("the spectrum explorer needs lam > 0 (allowed range (0, inf))")
    d = check_int("d", d, minimum=4)
    reps = check_int("reps", reps, minimum=1)
    cutoff = check_positive("cutoff", cutoff)
    eigenvalues, converged = [], []
    for rep in range(reps):
        if cancelled is not None and cancelled():
            return None
        result = train_to_convergence(setting, d, reps=1, seed=seed + rep, features="goe", progress=False,
                                      max_iter=max_iter, gtol=1e-5)
        eigenvalues.append(result.eigenvalues[0])
        converged.append(bool(result.converged[0]))
        if tick is not None:
            tick(rep + 1, reps)
    values = np.concatenate(eigenvalues)
    nonzero = values[values > cutoff]
    return TrainedSpectrum(setting=setting, d=d, reps=reps, eigenvalues=nonzero,
                           zero_fraction=1.0 - nonzero.size / values.size, cutoff=cutoff,
                           converged=np.array(converged))


def spectrum_figure(inspection: PointInspection | None, trained: TrainedSpectrum | None = None, *,
                    widget: bool = False) -> go.Figure:
    """Histogram of the trained eigenvalues (non-zero part, density) against the theory density."""
    fig = plotting.new_figure("eigenvalue", "density", height=440, width=800)
    fig.add_trace(go.Histogram(x=trained.eigenvalues if trained else [], histnorm="probability density",
                               nbinsx=30, name="trained network (non-zero eigenvalues)",
                               marker=dict(color="rgba(31,119,180,0.45)", line=dict(color="#1f77b4", width=1)),
                               meta={"kind": "simulation"}))
    fig.add_trace(plotting.theory_trace(inspection.s if inspection else [], inspection.density if inspection else [],
                                        "theory ρ_ξ(s + q)/κ_min", color_index=3))
    fig.update_layout(legend=dict(x=0.55, y=0.98), bargap=0.02)
    return go.FigureWidget(fig) if widget else fig


class SpectrumApp(_App):
    """Spectral-density explorer: sliders ``alpha, lambda, kappa, kappa*``, network size ``d``, auto-training."""

    def __init__(self, *, alpha: float = 0.4, lam: float = 0.05, kappa: float = 0.7, kappa_star: float = 0.5,
                 d: int = 30, auto_train: bool = True, delay: float = 0.1):
        import ipywidgets as widgets

        super().__init__(delay)
        self.alpha = _float_slider("α (samples / d²)", alpha, 0.02, 0.8, 0.01)
        self.lam = _log_slider("λ (regularisation)", lam, -3, 0)
        self.kappa = _float_slider("κ (student width)", kappa, 0.05, 1.5, 0.01)
        self.kappa_star = _float_slider("κ* (teacher width)", kappa_star, 0.05, 1.0, 0.01)
        self.d = widgets.IntSlider(value=d, min=10, max=40, step=2, description="d (network)",
                                   continuous_update=False)
        self.auto_train = widgets.Checkbox(value=auto_train, description="train a network on every change",
                                           indent=False)
        self.train_button = widgets.Button(description="train now", icon="play")
        self.progress = widgets.IntProgress(value=0, min=0, max=2, layout={"width": "200px"})
        self.info = widgets.HTML(value="")
        self.info.add_class("qnn-app-info")
        self.inspection: PointInspection | None = inspect_point(kappa, kappa_star, alpha, lam)
        self.trained: TrainedSpectrum | None = None
        self._generation = 0
        self._training_allowed = False   # the first refresh draws the theory only; training starts afterwards
        self.figure = spectrum_figure(self.inspection, None, widget=True)
        for control in (self.alpha, self.lam, self.kappa, self.kappa_star, self.d):
            control.observe(self.schedule, names="value")
        self.train_button.on_click(lambda *_: threading.Thread(target=self.train, daemon=True).start())
        self.widget = widgets.VBox([
            widgets.HBox([widgets.VBox([self.alpha, self.lam]), widgets.VBox([self.kappa, self.kappa_star])]),
            widgets.HBox([self.d, self.auto_train, self.train_button, self.progress]),
            self.busy, self.status, self.figure, self.info])
        self.widget.add_class("qnn-app")
        self.refresh()
        self._training_allowed = True
        if auto_train and delay > 0:     # first histogram in the background: the page shows up at once
            threading.Thread(target=self.train, daemon=True).start()
        elif auto_train:
            self.train()

    def setting(self) -> Setting:
        return Setting(alpha=float(self.alpha.value), kappa=float(self.kappa.value),
                       kappa_star=float(self.kappa_star.value), lam=float(self.lam.value))

    def schedule(self, *_ignored: object) -> None:
        """A parameter moved: abandon a training in progress (after its current network), then refresh."""
        self._generation += 1
        super().schedule()

    def _compute_and_draw(self) -> list[tuple[str, str]]:
        setting = self.setting()
        inspection = inspect_point(setting.kappa, setting.kappa_star, setting.alpha, setting.lam)
        self.inspection = inspection
        with self.figure.batch_update():
            self.figure.data[1].x = inspection.s
            self.figure.data[1].y = inspection.density
        self._describe()
        messages: list[tuple[str, str]] = []
        if self.auto_train.value and self._training_allowed:
            self._train(self._generation)
            if self.trained is not None and not self.trained.converged.all():
                messages.append(("warning", "some trainings stopped before the tolerance (see the histogram)."))
        elif not self.auto_train.value:
            messages.append(("info", "automatic training is off: press “train now” for a histogram."))
        return messages

    def _describe(self) -> None:
        fp = self.inspection.fixed_point if self.inspection else None
        text = ""
        if fp is not None:
            text = (f"Theory: rank κ_min = {fp.rank:.4g} (atom at 0 of mass {1 - fp.rank:.4g}), q = {fp.q:.4g}, "
                    f"ξ = {fp.xi:.4g}, MSE = {fp.mse:.4g}.")
        if self.trained is not None:
            t = self.trained
            same = t.setting == self.setting()
            text += (f"<br>Trained (d = {t.d}, {t.reps} networks{'' if same else ', previous parameters'}): "
                     f"fraction of eigenvalues below {t.cutoff:g}: {t.zero_fraction:.3f}.")
        self.info.value = text

    def train(self) -> None:
        """Train at the current parameters (in the caller's thread, never concurrently with a refresh)."""
        with self._debounced.lock:
            self._train(self._generation)

    def _train(self, generation: int) -> None:
        setting = self.setting()
        self.progress.max, self.progress.value = 2, 0

        def tick(done: int, total: int) -> None:
            self.progress.value = done

        trained = trained_spectrum(setting, int(self.d.value), reps=2, tick=tick,
                                   cancelled=lambda: generation != self._generation)
        if trained is None:
            return
        self.trained = trained
        with self.figure.batch_update():
            self.figure.data[0].x = trained.eigenvalues
            self.figure.data[0].name = f"trained networks, d = {trained.d} (non-zero eigenvalues)"
        self._describe()
