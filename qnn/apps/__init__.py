"""The interactive Voila apps of the qnn-book: their computations, figures and widgets.

One module per app, each declaring its ``NAME`` (its notebook is ``apps/<NAME>.md``, served by
``python -m qnn voila``, see :mod:`qnn.apps.launcher`) and a one-line ``DESCRIPTION``; the launcher lists the apps from
these declarations (:func:`app_modules`):

* :mod:`qnn.apps.double_descent` (:class:`DoubleDescentApp`): the long-time theory MSE, Loss_train and ISE vs
  ``alpha`` for sliders ``kappa, kappa*, Delta, lambda``, with the threshold lines, and optional simulation
  points (networks trained to convergence at small ``d``);
* :mod:`qnn.apps.phase_diagram` (:class:`PhaseDiagramApp`): the recovery thresholds ``alpha_BO``,
  ``alpha_PR+``, ``alpha_PR``, ``alpha_inter`` vs ``kappa`` at fixed ``kappa*``, and an inspector of one
  ``(kappa, alpha)`` point (its fixed point and the spectral law of the estimator);
* :mod:`qnn.apps.spectrum` (:class:`SpectrumApp`): eigenvalue histogram of a freshly trained network against
  the theory density of the estimator as ``alpha, lambda, kappa`` move.

Shared pieces: :mod:`qnn.apps.base` (the :class:`Debouncer` and the base class :class:`~qnn.apps.base.App`:
debounced, guarded refresh, status line), :mod:`qnn.apps.threshold_lines` (threshold values, colours, labels) and
:mod:`qnn.apps.point` (one inspected ``(kappa, alpha)`` point), :mod:`qnn.apps.curves` (the fast fixed-point path
with its spectral laws kept across slider moves) and :mod:`qnn.apps.server` (the Voila process of the launcher:
readiness of the pre-heated kernels, clean stop).

The computations are pure functions returning frozen dataclasses (:func:`double_descent_curves`,
:func:`threshold_curves`, :func:`inspect_point`, :func:`trained_spectrum`), testable without a browser; the
``*_figure`` functions draw them in the book's style (:mod:`qnn.plotting`), for the apps and for static pages.
Theory: book/theory/fixed_point.md, book/theory/thresholds.md, book/theory/spectral_laws.md.
"""
from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

from qnn.conventions import lazy_submodules

from .base import App, Debouncer
from .double_descent import (DoubleDescentApp, DoubleDescentCurves, SimulationPoints, double_descent_curves,
                             double_descent_figure, simulation_points, threshold_legend_html)
from .phase_diagram import PhaseDiagramApp, ThresholdCurves, phase_diagram_figure, threshold_curves
from .point import PointInspection, inspect_point
from .spectrum import SpectrumApp, TrainedSpectrum, spectrum_figure, trained_spectrum
from .threshold_lines import cannot_recover, threshold_values

__all__ = [
    "Debouncer", "DoubleDescentCurves", "double_descent_curves", "double_descent_figure", "DoubleDescentApp",
    "ThresholdCurves", "threshold_curves", "PointInspection", "inspect_point", "phase_diagram_figure",
    "PhaseDiagramApp", "TrainedSpectrum", "trained_spectrum", "spectrum_figure", "SpectrumApp",
    "simulation_points", "SimulationPoints", "threshold_values", "threshold_legend_html", "cannot_recover",
    "App", "app_modules",
]


def app_modules() -> list[ModuleType]:
    """The modules of this package that declare an app (a ``NAME`` and a ``DESCRIPTION``), sorted by name.

    The Voila launcher (:data:`qnn.apps.launcher.APPS`) is built from this list, so a new app module is listed as soon
    as it declares both.
    """
    modules = [importlib.import_module(f"{__name__}.{info.name}") for info in pkgutil.iter_modules(__path__)]
    return sorted((m for m in modules if hasattr(m, "NAME") and hasattr(m, "DESCRIPTION")),
                  key=lambda m: m.NAME)

# qnn.<subpackage>.<module> resolves after a plain `import qnn` (submodules are imported on first use)
__getattr__ = lazy_submodules(__name__)
