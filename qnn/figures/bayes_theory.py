"""Bayes-optimal curves and spectra for the long-time pages (an addition to the paper), cached like every theory
curve (``python -m qnn data theory_bayes`` / ``theory_bayes_spectrum``).

The curves are :func:`qnn.optimal.bayes.bayes_optimal_curve` (each point polished, ~2 ms) on a fixed alpha grid,
refined next to the noiseless threshold ``alpha_BO`` where the error vanishes; the spectra are
:func:`qnn.optimal.denoising.denoised_spectrum` at the Bayes-optimal ``xi``. Theory: book/theory/bayes_optimal.md.

"""
from __future__ import annotations

import numpy as np

from ..optimal.bayes import bayes_optimal, bayes_optimal_curve
from ..conventions import Setting
from ..optimal.denoising import denoised_spectrum
from ..figdata import Check, close, exact, register
from ..longtime.thresholds import alpha_bo
from .longtime_theory import SPECTRUM_ALPHAS

#: Sample ratios of the cached curves (the long-time figures show alpha in [0, 0.62]).
ALPHA_GRID = np.linspace(0.002, 0.9, 450)


def _round(values) -> list[float]:
    return [float(f"{v:.7g}") for v in np.asarray(values, dtype=float)]


def bayes_curve(task: dict) -> dict:
    """Bayes-optimal MMSE along :data:`ALPHA_GRID` for one ``(kappa_star, noise)``.

    Without noise the grid is refined below ``alpha_BO`` (``alpha_BO - 10^-6 ... 10^-2``) and ends with
    ``alpha_BO`` itself (MMSE exactly 0 from there on).

    Returns
    -------
    dict of lists ``alpha, mmse, xi``; ``converged`` (all points); ``alpha_bo``.
    """
    setting = Setting(alpha=0.1, kappa=1.0, kappa_star=task["kappa_star"], noise=task["noise"])
    a_bo = alpha_bo(setting.kappa_star)
    alphas = ALPHA_GRID
    if setting.noise == 0.0:
        alphas = np.unique(np.concatenate([alphas, a_bo - np.geomspace(1e-6, 1e-2, 17), [a_bo]]))
    curve = bayes_optimal_curve(setting, alphas)
    return {"alpha": _round(curve.alpha), "mmse": _round(curve.mmse), "xi": _round(curve.xi),
            "converged": bool(np.all(curve.converged)), "alpha_bo": float(a_bo)}


def bayes_spectrum(task: dict) -> dict:
    """Spectral law of the Bayes-optimal estimator at one ``(kappa_star, alpha, noise)`` on a grid of ``s``.

    The density is that of all ``d`` eigenvalues (unit area): the estimator has no atom; the directions the teacher
    does not use end up in a narrow interval near 0 (mass ~ ``1 - kappa*``) when it is separated from the bulk.
    Without noise and for ``alpha >= alpha_BO`` the estimator is the teacher (its continuous part here, its atom
    ``1 - kappa*`` at 0 in ``atom``). The grid is ``[0, s_max]`` (200 points) plus 80 edge-clustered points in
    every interval of the support.

    Returns
    -------
    dict: ``s``, ``density``, ``atom``, ``intervals`` (support of the law, flattened pairs), ``interval_masses``,
    ``mmse``, ``xi``, ``perfect_recovery``, ``converged``, ``reason``.
    """
    point = bayes_optimal(Setting(alpha=task["alpha"], kappa=1.0, kappa_star=task["kappa_star"],
                                  noise=task["noise"]))
    ks = point.setting.kappa_star
    law = denoised_spectrum(ks, point.xi, np.zeros(0))
    theta = np.linspace(0.0, np.pi, 80)[1:-1]
    # The image edges f(lo), f(hi) are known to ~1e-8 only (the Hilbert transform at a square-root edge of the
    # support has sqrt(eps) conditioning), which moved the grid points next to an edge by ~1e-8 between CPUs and
    # the density there (slope ~2000) by ~2e-5. The grid is anchored on the edges rounded to 6 digits instead.
    edges = [(float(f"{lo:.6g}"), float(f"{hi:.6g}")) for lo, hi in law.intervals]
    inner = [lo + (hi - lo) * (1.0 - np.cos(theta)) / 2.0 for lo, hi in edges]
    s = np.unique(np.concatenate([np.linspace(0.0, task["s_max"], 200), *inner]))
    law = denoised_spectrum(ks, point.xi, s)
    return {"s": _round(s), "density": _round(law.density), "atom": float(law.atom),
            "intervals": _round([e for pair in law.intervals for e in pair]),
            "interval_masses": _round(law.interval_masses), "mmse": float(point.mmse), "xi": float(point.xi),
            "perfect_recovery": bool(point.perfect_recovery), "converged": bool(point.converged),
            "reason": point.reason}


_ROUNDED = "Brent to xtol 1e-12 in log xi on ~1e-13 quadratures, then rounded to 7 significant digits"
_CURVE_CHECKS: dict[str, Check] = {
    **{key: close(1e-5, 1e-8, _ROUNDED) for key in ("alpha", "mmse", "xi")},
    "converged": exact("all points of the curve converged"),
    "alpha_bo": exact("closed form kappa* - kappa*^2/2"),
}
_SPECTRUM_CHECKS: dict[str, Check] = {
    **{key: close(1e-5, 1e-8, _ROUNDED) for key in ("s", "density", "intervals", "interval_masses")},
    **{key: close(1e-8, 1e-12, _ROUNDED) for key in ("mmse", "xi", "atom")},
    **{key: exact("flags of the solution") for key in ("perfect_recovery", "converged", "reason")},
}

register("theory_bayes", version="1",
         grid={"kappa_star": [0.2, 0.3, 0.5], "noise": [0.0, 0.1, 0.25, 0.5, 1.0]}, fixed={},
         description="theory: Bayes-optimal MMSE vs alpha (addition to Figs. 2, 4, 6, 7, 19)",
         checks=_CURVE_CHECKS, check_budget_s=60.0)(bayes_curve)
register("theory_bayes_spectrum", version="3",
         grid={"kappa_star": [0.5, 0.3], "alpha": SPECTRUM_ALPHAS}, fixed={"noise": 0.0, "s_max": 8.0},
         description="theory: spectral law of the Bayes-optimal estimator (addition to Figs. 2 and 4 right)",
         checks=_SPECTRUM_CHECKS, check_budget_s=30.0)(bayes_spectrum)
