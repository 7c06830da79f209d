"""Spectral-density explorer (app ``spectrum``, notebook ``apps/spectrum.md``).

Eigenvalue histogram of freshly trained networks against the theory density of the estimator
(book/theory/spectral_laws.md) as ``alpha, lambda, kappa`` move.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go

from .. import plotting
from ..conventions import Setting, check_int, check_positive
from ..simulation.gradient_flow import train_to_convergence
from .base import App, figure_widget, float_slider, log_slider
from .point import PointInspection, inspect_point

__all__ = ["TrainedSpectrum", "trained_spectrum", "spectrum_figure", "SpectrumApp"]

#: Launcher entry (:mod:`qnn.apps.launcher`): the app's name (its notebook is ``apps/<NAME>.md``) and description.
NAME = "spectrum"
DESCRIPTION = "spectral density of a freshly trained estimator against the theory as alpha, lambda, kappa move"
#: The book page (``book/<BOOK_PAGE>.md``) the app belongs to: the list page links to it.
BOOK_PAGE = "spectrum"


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
    fig = plotting.new_figure("eigenvalue", "density", height=440)
    fig.add_trace(go.Histogram(x=trained.eigenvalues if trained else [], histnorm="probability density",
                               nbinsx=30, name="trained network (non-zero eigenvalues)",
                               marker=dict(color="rgba(31,119,180,0.45)", line=dict(color="#1f77b4", width=1)),
                               meta={"kind": "simulation"}))
    fig.add_trace(plotting.theory_trace(inspection.s if inspection else [], inspection.density if inspection else [],
                                        "theory ρ_ξ(s + q)/κ_min", color_index=3))
    fig.update_layout(legend=dict(x=0.55, y=0.98), bargap=0.02, autosize=True)
    return figure_widget(fig) if widget else fig


class SpectrumApp(App):
    """Spectral-density explorer: sliders ``alpha, lambda, kappa, kappa*``, network size ``d``, auto-training."""

    def __init__(self, *, alpha: float = 0.4, lam: float = 0.05, kappa: float = 0.7, kappa_star: float = 0.5,
                 d: int = 30, auto_train: bool = True, delay: float = 0.05):
        import ipywidgets as widgets

        super().__init__(delay)
        self.alpha = float_slider("α (samples / d²)", alpha, 0.02, 0.8, 0.01)
        self.lam = log_slider("λ (regularisation)", lam, -3, 0)
        self.kappa = float_slider("κ (student width)", kappa, 0.05, 1.5, 0.01)
        self.kappa_star = float_slider("κ* (teacher width)", kappa_star, 0.05, 1.0, 0.01)
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
        self._train_lock = threading.Lock()
        self._training_allowed = False   # the first refresh draws the theory only; training starts afterwards
        self.figure = spectrum_figure(self.inspection, None, widget=True)
        for control in (self.alpha, self.lam, self.kappa, self.kappa_star, self.d):
            control.observe(self.schedule, names="value")
        self.train_button.on_click(lambda *_: threading.Thread(target=self.train, daemon=True).start())
        self.widget = self.box([
            widgets.HBox([self.alpha, self.lam, self.kappa, self.kappa_star]),
            widgets.HBox([self.d, self.auto_train, self.train_button, self.progress]),
            self.busy, self.status, self.figure, self.info])
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
            if self._debounced.delay > 0:     # in the background: a slider move never waits for a training
                threading.Thread(target=self.train, daemon=True).start()
            else:
                self.train()
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
        """Train at the current parameters (in the caller's thread; one training at a time: a training started
        for older parameters stops after its current network, see :meth:`schedule`)."""
        generation = self._generation
        with self._train_lock:
            if generation == self._generation:
                self._train(generation)

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
