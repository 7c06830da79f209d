"""Theory curves of the long-time chapters, cached like the simulation data.

The fixed-point theory (:mod:`qnn.longtime.fixed_point`) costs ~5-10 s per curve on a shared 2-core machine; the
long-time
pages draw ~130 curves, which would exceed the book's build budget (< 5 min). So each curve is one task of a
registered "figure" here (``python -m qnn data theory_fig6`` etc.), computed by
:func:`qnn.longtime.fixed_point.xi_branch`
(the paper's xi-parametrisation: at each xi the cut q is root-found and alpha read off, folds followed in order) or
:func:`qnn.longtime.fixed_point.fixed_point` + :func:`qnn.longtime.fixed_point.estimator_density` for spectra. The
consistency test
recomputes every task (~1 minute in all) and compares it with the cache within the tolerances of
:data:`qnn.figures.common.THEORY_CURVE_CHECKS`, so a change of the theory code is caught.

The theory is the d = infinity limit: the specs have no ``d`` or ``reps`` and the tasks carry no ``d``, ``rep`` or
``seed``.
"""
from __future__ import annotations


import numpy as np

from ..figdata import register
from ..longtime.fixed_point import estimator_density, fixed_point, xi_branch
from .common import THEORY_CURVE_CHECKS, THEORY_SPECTRUM_CHECKS, setting_of
from .longtime import PAIRS_17

#: Window of sample ratios kept in the cache (the figures show alpha in [0, 0.62]).
ALPHA_WINDOW = (0.004, 0.9)
#: Number of log-spaced xi values of each curve (xi_branch refines folds and gaps on top).
N_XI = 160


def _round(values: np.ndarray) -> list[float]:
    return [float(f"{v:.7g}") for v in np.asarray(values, dtype=float)]


_CURVE = dict(checks=THEORY_CURVE_CHECKS, check_budget_s=60.0)


@register("theory_fig2", version="2", grid={"lam": [0.5, 0.1, 0.05]},
          fixed={"kappa": 0.7, "kappa_star": 0.5, "noise": 0.0},
          description="theory: fixed point along xi, kappa=0.7, kappa*=0.5 (paper Fig. 2)", **_CURVE)
@register("theory_fig4", version="2", grid={"lam": [0.1, 0.05, 0.01]},
          fixed={"kappa": 0.35, "kappa_star": 0.3, "noise": 0.0},
          description="theory: fixed point along xi, kappa=0.35, kappa*=0.3 (paper Fig. 4)", **_CURVE)
@register("theory_fig3", version="2",
          grid={"noise": [0.0, 0.5], "lam": [5.0, 2.0, 1.0, 0.5, 0.2, 0.1, 0.05, 0.01, 0.005, 0.001]},
          fixed={"kappa": 1.0, "kappa_star": 0.3},
          description="theory: kappa_min vs alpha, kappa=1, kappa*=0.3 (paper Fig. 3)", **_CURVE)
@register("theory_fig6", version="2",
          grid={"noise": [0.1, 0.25, 0.5, 1.0], "lam": [0.1, 0.05, 0.01, 0.005, 0.001, 0.0002]},
          fixed={"kappa": 0.4, "kappa_star": 0.3},
          description="theory: double descent, kappa=0.4, kappa*=0.3 (paper Figs. 6 and 15)", **_CURVE)
@register("theory_fig7", version="2", grid={"lam": [0.1, 0.05, 0.01, 0.005, 0.0]},
          fixed={"kappa": 0.3, "kappa_star": 0.2, "noise": 0.0},
          description="theory: lambda -> 0+, kappa=0.3, kappa*=0.2 (paper Fig. 7)", **_CURVE)
@register("theory_fig16", version="2", grid={"lam": [0.1, 0.05, 0.01], "kappa": [0.4, 0.35, 0.32, 0.3]},
          fixed={"kappa_star": 0.3, "noise": 0.0},
          description="theory: width dependence near kappa* (paper Fig. 16)", **_CURVE)
@register("theory_fig17", version="2", grid={"noise": [0.0, 0.5], "pair": PAIRS_17, "lam": [0.5, 0.1, 0.05]},
          fixed={},
          description="theory: 7 (kappa, kappa*) pairs, Delta = 0 and 0.5 (paper Figs. 17, 18)", **_CURVE)
@register("theory_fig19", version="2",
          grid={"kappa": [0.7, 0.5, 0.4, 0.35], "lam": [0.1, 0.05, 0.025, 0.005, 0.002]},
          fixed={"kappa_star": 0.3, "noise": 1.0},
          description="theory: double descent across widths, Delta=1 (paper Fig. 19)", **_CURVE)
def theory_curve(task: dict) -> dict:
    """The long-time fixed point along xi for one parameter set, restricted to :data:`ALPHA_WINDOW`.

    The xi range is ``[1e-7, 3e3]`` without noise (MSE -> 0 needs tiny xi) and ``[1e-3, 3e3]`` with noise.

    Returns
    -------
    dict of lists, in order along the curve: ``alpha, mse, loss_train, ise, rank, q, xi`` and ``branch``
    (one label per point); ``converged`` (bool, all points).
    """
    setting = setting_of(task, alpha=0.1)  # xi_branch reads alpha off the curve
    xi_min = 1e-7 if setting.noise == 0 else 1e-3
    curve = xi_branch(setting, np.geomspace(xi_min, 3e3, N_XI), refine=True)
    inside = (curve.alpha >= ALPHA_WINDOW[0]) & (curve.alpha <= ALPHA_WINDOW[1])
    keep = inside | np.roll(inside, 1) | np.roll(inside, -1)  # one point beyond each end of the window
    finite = np.isfinite(curve.mse) & np.isfinite(curve.alpha)
    keep &= finite
    out = {"alpha": _round(curve.alpha[keep]), "mse": _round(curve.mse[keep]), "loss_train": _round(curve.loss[keep]),
            "ise": _round(curve.ise[keep]), "rank": _round(curve.rank[keep]), "q": _round(curve.q[keep]),
            "xi": _round(curve.xi[keep]), "branch": [curve.branch[i] for i in np.nonzero(keep)[0]],
            "converged": bool(np.all(curve.converged[keep]))}
    return out


#: Sample ratios of the spectrum page's slider (simulations exist at each: they are in ALPHAS).
SPECTRUM_ALPHAS = [0.15, 0.25, 0.3, 0.35, 0.4, 0.5]

_SPECTRUM = dict(checks=THEORY_SPECTRUM_CHECKS, check_budget_s=30.0)


@register("theory_spectrum_fig2", version="1", grid={"lam": [0.5, 0.1, 0.05], "alpha": SPECTRUM_ALPHAS},
          fixed={"kappa": 0.7, "kappa_star": 0.5, "noise": 0.0, "s_max": 7.0},
          description="theory: spectral density of S_hat, kappa=0.7, kappa*=0.5 (paper Fig. 2 right)", **_SPECTRUM)
@register("theory_spectrum_fig4", version="1", grid={"lam": [0.1, 0.05, 0.01], "alpha": SPECTRUM_ALPHAS},
          fixed={"kappa": 0.35, "kappa_star": 0.3, "noise": 0.0, "s_max": 8.0},
          description="theory: spectral density of S_hat, kappa=0.35, kappa*=0.3 (paper Fig. 4 right)", **_SPECTRUM)
def theory_spectrum(task: dict) -> dict:
    """Fixed point at one alpha and the density of the non-zero eigenvalues of ``S_hat`` on a grid.

    Returns
    -------
    dict: ``s`` (grid), ``density`` (of the non-zero eigenvalues, integrates to 1), ``rank`` (kappa_min, their
    fraction), ``lower_edge`` (b - q: the density starts there), ``q``, ``xi``, ``mse``, ``converged``, ``reason``.
    """
    setting = setting_of(task)
    point = fixed_point(setting)
    if not point.converged:
        return {"s": [], "density": [], "rank": 0.0, "lower_edge": 0.0, "q": 0.0, "xi": 0.0, "mse": 0.0,
                "converged": False, "reason": point.reason}
    s = np.linspace(0.0, task["s_max"], 400)
    edge = point.cut - point.q
    s = np.unique(np.concatenate([s, [max(edge, 0.0) + 1e-9]]))  # resolve the jump at the lower edge
    law = estimator_density(point, s)
    return {"s": _round(s), "density": _round(law.normalised()), "rank": float(point.rank),
            "lower_edge": float(edge), "q": float(point.q), "xi": float(point.xi), "mse": float(point.mse),
            "converged": True, "reason": ""}
