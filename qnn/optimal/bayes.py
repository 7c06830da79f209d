"""Bayes-optimal error of learning the teacher from ``n = alpha d^2`` samples (Theory: book/theory/bayes_optimal.md).

The smallest error any estimator can reach (Maillard, Troiani, Martin, Krzakala, Zdeborova, NeurIPS 2024,
arXiv:2408.03733), in the paper's conventions (``S* = W* W*^T / m*``, ``MSE = |S_hat - S*|_F^2 / d``, label-noise
variance ``Delta``): with ``mmse(xi)`` the error of denoising ``S* + sqrt(xi) Z_GOE`` (:mod:`qnn.optimal.denoising`),

    MMSE = mmse(xi),        xi = (MMSE + Delta/2) / (2 alpha).

It does not depend on the student (``kappa``, ``lambda`` and ``gamma`` of the :class:`~qnn.Setting` are ignored).
Eliminating ``MMSE``: ``xi`` solves ``A(xi) = alpha`` with ``A(xi) = (mmse(xi) + Delta/2) / (2 xi)``.

Solving. ``T(xi) = (mmse(xi) + Delta/2) / (2 alpha)`` is increasing (more noise, larger error) and bounded by
``(1/kappa* + Delta/2) / (2 alpha) =: xi_max``, so every solution lies below ``xi_max`` and ``T`` maps
``[xi*, inf)`` into itself, ``xi*`` the largest solution: iterating ``T`` from ``xi_max`` decreases towards
``xi*`` and never passes it. The solver takes steps ``xi -> min(T(xi), xi/10)`` from ``xi_max`` until
``T(xi) > xi`` (a root is bracketed just above) and then runs Brent's method in ``log xi`` on that bracket; it
therefore returns the largest solution. ``xi = 0`` always solves the noiseless equations (spurious unless no
other exists): as ``xi -> 0``, ``A(xi) -> alpha_BO = kappa* - kappa*^2/2`` (``1/2`` for ``kappa* >= 1``), so for
``Delta = 0`` and ``alpha >= alpha_BO`` no positive solution exists and ``MMSE = 0`` (perfect recovery).
With ``Delta > 0``, ``xi >= Delta / (4 alpha) > 0``.

Limits: ``MMSE -> 1/kappa*`` as ``alpha -> 0`` (the prior variance: nothing learnt); ``MMSE -> 0`` at ``alpha_BO``
when ``Delta = 0``; ``MMSE ~ Delta * alpha_BO / (2 alpha)`` for large ``alpha`` with noise.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.interpolate import PchipInterpolator
from scipy.optimize import brentq

from ..conventions import Setting, check_positive
from .denoising import DenoisedSpectrum, denoised_spectrum, denoiser, density_cube_integral, mmse_denoising
from ..longtime.thresholds import alpha_bo

__all__ = ["BayesOptimal", "BayesOptimalCurve", "bayes_optimal", "bayes_optimal_curve", "bayes_optimal_branch",
           "bayes_optimal_window"]

XI_MIN = 1e-14            # smallest xi the solver visits (below it MMSE < 2 alpha XI_MIN: reported as 0)
_RTOL = 1e-12             # relative tolerance of Brent's method in xi
_QUADRATURE_TOL = 1e-9    # largest accepted change of MMSE between the 64- and 96-node rules (+ round-off)


@dataclass(frozen=True)
class BayesOptimal:
    """Bayes-optimal error at one :class:`~qnn.Setting` (uses ``alpha``, ``kappa_star`` and ``noise`` only).

    Attributes
    ----------
    setting : Setting
        The parameters.
    mmse : float
        Minimum mean-squared error ``lim E |E[S*|data] - S*|_F^2 / d`` (the network's best test error is
        ``2 MMSE``).
    xi : float
        Effective noise variance ``(MMSE + Delta/2) / (2 alpha)`` of the equivalent denoising problem (0 on
        perfect recovery).
    perfect_recovery : bool
        ``Delta = 0`` and ``alpha >= alpha_BO``: the error is exactly 0.
    converged : bool
        Whether the fixed-point equation is satisfied to ``residual <= 1e-9`` with a resolved quadrature.
    reason : str
        Empty when converged; otherwise why not.
    residual : float
        ``|T(xi)/xi - 1|`` at the returned ``xi``.
    evaluations : int
        Number of ``mmse(xi)`` evaluations the solver used.
    """

    setting: Setting
    mmse: float
    xi: float
    perfect_recovery: bool = False
    converged: bool = True
    reason: str = ""
    residual: float = 0.0
    evaluations: int = 0

    @property
    def test_error(self) -> float:
        """Best possible population test error of the network, ``E (f - f*)^2 = 2 MMSE``."""
        return 2.0 * self.mmse

    def denoiser(self, x: np.ndarray | float) -> np.ndarray:
        """Eigenvalue map ``x -> x - 2 xi H_xi(x)`` of the Bayes-optimal estimator (identity on perfect recovery)."""
        x = np.asarray(x, dtype=float)
        return x.copy() if self.xi == 0.0 else denoiser(x, self.setting.kappa_star, self.xi)

    def spectrum(self, s: np.ndarray) -> DenoisedSpectrum:
        """Spectral law of the Bayes-optimal estimator at the points ``s``
        (:func:`qnn.optimal.denoising.denoised_spectrum`;
        the teacher's law on perfect recovery)."""
        return denoised_spectrum(self.setting.kappa_star, self.xi, s)


@dataclass(frozen=True)
class BayesOptimalCurve:
    """Bayes-optimal error along a curve (arrays of equal length; see :class:`BayesOptimal`)."""

    setting: Setting
    alpha: np.ndarray
    mmse: np.ndarray
    xi: np.ndarray
    converged: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))

    def __len__(self) -> int:
        return int(self.alpha.size)


class _Counter:
    """``mmse(xi)`` with an evaluation count."""

    def __init__(self, kappa_star: float) -> None:
        self.kappa_star, self.calls = kappa_star, 0

    def __call__(self, xi: float) -> float:
        self.calls += 1
        return float(mmse_denoising(self.kappa_star, xi))


def _bracket(t_map, xi_top: float, xi_floor: float) -> tuple[float, float, float, float] | None:
    """Steps ``xi -> min(T(xi), xi/10)`` from ``xi_top`` (where ``T <= xi``) down to ``xi_floor``. Returns
    ``(lo, hi, T(lo), T(hi))`` with ``T(lo) >= lo`` and ``T(hi) <= hi`` (the largest root lies in ``[lo, hi]``),
    or ``None`` when ``T(xi) < xi`` all the way down."""
    hi, t_hi = xi_top, t_map(xi_top)
    while True:
        nxt = min(t_hi, hi / 10.0)
        if nxt <= xi_floor:
            nxt = xi_floor
        t_nxt = t_map(nxt)
        if t_nxt >= nxt:
            return nxt, hi, t_nxt, t_hi
        if nxt == xi_floor:
            return None
        hi, t_hi = nxt, t_nxt


def bayes_optimal(setting: Setting) -> BayesOptimal:
    """Bayes-optimal error at ``setting`` (largest solution ``xi`` of the fixed-point equation; see the module).

    Parameters
    ----------
    setting : Setting
        ``alpha``, ``kappa_star`` and ``noise`` are used; ``kappa``, ``lam`` and ``gamma`` do not matter.

    Returns
    -------
    BayesOptimal
        With ``converged=False`` and a ``reason`` if the equation or the quadrature could not be resolved.
    """
    if not isinstance(setting, Setting):
        raise ValueError(f"setting must be a qnn.Setting, got {type(setting).__name__}")
    alpha, ks, noise = setting.alpha, setting.kappa_star, setting.noise
    if noise == 0.0 and alpha >= alpha_bo(ks):
        return BayesOptimal(setting=setting, mmse=0.0, xi=0.0, perfect_recovery=True)
    mmse = _Counter(ks)

    def t_map(xi: float) -> float:
        return (mmse(xi) + noise / 2.0) / (2.0 * alpha)

    xi_top = (1.0 / ks + noise / 2.0) / (2.0 * alpha)
    xi_floor = noise / (4.0 * alpha) if noise > 0 else XI_MIN
    found = _bracket(t_map, xi_top, xi_floor)
    if found is None:   # noiseless, alpha just below alpha_BO: the root is below XI_MIN, MMSE < 2 alpha XI_MIN
        return BayesOptimal(setting=setting, mmse=0.0, xi=0.0, converged=True, evaluations=mmse.calls,
                            reason="")
    lo, hi, t_lo, t_hi = found
    if t_lo == lo:
        xi = lo
    elif t_hi == hi:
        xi = hi
    else:
        u = brentq(lambda v: math.log(t_map(math.exp(v))) - v, math.log(lo), math.log(hi), xtol=_RTOL,
                   rtol=4 * np.finfo(float).eps)
        xi = math.exp(u)
    value = mmse(xi)
    residual = abs((value + noise / 2.0) / (2.0 * alpha * xi) - 1.0)
    check = xi - (4.0 * math.pi ** 2 / 3.0) * xi * xi * density_cube_integral(ks, xi, nodes=96)
    quad_err = abs(check - value)
    reasons = []
    if residual > 1e-9:
        reasons.append(f"fixed-point residual {residual:.2e} > 1e-9")
    if quad_err > _QUADRATURE_TOL * max(1.0, value) + 1e-13 * xi:   # + the round-off of xi - xi^2 int rho^3
        reasons.append(f"quadrature of int rho^3 unresolved (64 vs 96 nodes differ by {quad_err:.2e})")
    return BayesOptimal(setting=setting, mmse=value, xi=xi, converged=not reasons, reason="; ".join(reasons),
                        residual=residual, evaluations=mmse.calls)


def bayes_optimal_branch(kappa_star: float, noise: float, xis: np.ndarray) -> BayesOptimalCurve:
    """The Bayes-optimal curve in the xi-parametrisation: at each ``xi``, ``MMSE = mmse(xi)`` and
    ``alpha = (MMSE + Delta/2) / (2 xi)`` (exact points of the curve, no root finding; cheap for sliders).

    Parameters
    ----------
    kappa_star : float
        Teacher width ratio, in ``(0, inf)``.
    noise : float
        Label-noise variance ``Delta``, in ``[0, inf)``.
    xis : array_like
        Effective noise variances, each in ``(0, inf)``.

    Returns
    -------
    BayesOptimalCurve
        Points in the order of ``xis``; ``setting.alpha`` is a placeholder (alpha is an output here).
    """
    setting = Setting(alpha=1.0, kappa=1.0, kappa_star=kappa_star, noise=noise)
    xis = np.asarray(xis, dtype=float).ravel()
    if xis.size == 0 or not np.all(np.isfinite(xis)) or np.any(xis <= 0):
        raise ValueError("xis must be a non-empty array of finite values > 0 (allowed range (0, inf))")
    mmse = np.asarray(mmse_denoising(setting.kappa_star, xis), dtype=float)
    alpha = (mmse + setting.noise / 2.0) / (2.0 * xis)
    return BayesOptimalCurve(setting=setting, alpha=alpha, mmse=mmse, xi=xis.copy(),
                             converged=np.ones(xis.size, dtype=bool))


def _check_alphas(alphas: np.ndarray) -> np.ndarray:
    alphas = np.asarray(alphas, dtype=float).ravel()
    if alphas.size == 0 or not np.all(np.isfinite(alphas)) or np.any(alphas <= 0):
        raise ValueError("alphas must be a non-empty array of finite values > 0 (allowed range (0, inf))")
    return alphas


def bayes_optimal_curve(setting: Setting, alphas: np.ndarray, *, exact: bool = True,
                        points_per_decade: int = 12) -> BayesOptimalCurve:
    """Bayes-optimal error at many sample ratios (vectorised over ``alphas``).

    ``mmse(xi)`` is tabulated once on a log grid of ``xi`` covering every requested ``alpha`` (exact points of the
    curve, :func:`bayes_optimal_branch`); each ``alpha`` then takes the largest grid bracket of ``A(xi) = alpha``.
    With ``exact=True`` the root is polished by Brent's method in that bracket (``converged`` as in
    :func:`bayes_optimal`); with ``exact=False`` it is read off a monotone cubic (PCHIP) interpolation of
    ``log xi`` against ``alpha`` (~30 ms for a 100-point curve; absolute error below 1e-4 at 12 points per
    decade, measured).
    Noiseless points at ``alpha >= alpha_BO`` are exact zeros.

    Parameters
    ----------
    setting : Setting
        ``kappa_star`` and ``noise`` are used (its ``alpha`` is replaced by each of ``alphas``).
    alphas : array_like
        Sample ratios, each in ``(0, inf)``.
    exact : bool, default True
        Polish each point (about 5 more evaluations per point) or interpolate.
    points_per_decade : int, default 12
        Density of the ``xi`` grid.
    """
    if not isinstance(setting, Setting):
        raise ValueError(f"setting must be a qnn.Setting, got {type(setting).__name__}")
    if isinstance(points_per_decade, bool) or int(points_per_decade) != points_per_decade or points_per_decade < 2:
        raise ValueError(f"points_per_decade must be an integer >= 2, got {points_per_decade!r}")
    alphas = _check_alphas(alphas)
    ks, noise = setting.kappa_star, setting.noise
    mmse = np.zeros(alphas.size)
    xi = np.zeros(alphas.size)
    converged = np.ones(alphas.size, dtype=bool)
    todo = np.ones(alphas.size, dtype=bool) if noise > 0 else alphas < alpha_bo(ks)
    if not np.any(todo):
        return BayesOptimalCurve(setting=setting, alpha=alphas, mmse=mmse, xi=xi, converged=converged)
    grid = _xi_grid(ks, noise, alphas[todo], int(points_per_decade))
    branch = bayes_optimal_branch(ks, noise, grid)
    a_grid = branch.alpha                                   # A(xi) on the ascending grid
    for i in np.nonzero(todo)[0]:
        above = np.nonzero(a_grid >= alphas[i])[0]          # grid points with T(xi) >= xi
        k = int(above[-1]) if above.size else -1
        if k < 0 or k == grid.size - 1:                     # outside the table: solve the point on its own
            point = bayes_optimal(setting.replace(alpha=float(alphas[i])))
            mmse[i], xi[i], converged[i] = point.mmse, point.xi, point.converged
            continue
        if exact:
            u = brentq(_log_residual, math.log(grid[k]), math.log(grid[k + 1]), args=(ks, noise, float(alphas[i])),
                       xtol=_RTOL, rtol=4 * np.finfo(float).eps)
            xi[i] = math.exp(u)
            mmse[i] = float(mmse_denoising(ks, xi[i]))
            converged[i] = abs((mmse[i] + noise / 2.0) / (2.0 * alphas[i] * xi[i]) - 1.0) <= 1e-9
        else:
            xi[i] = _interpolate_xi(a_grid, grid, k, float(alphas[i]))
            mmse[i] = max(2.0 * alphas[i] * xi[i] - noise / 2.0, 0.0)
    return BayesOptimalCurve(setting=setting, alpha=alphas, mmse=mmse, xi=xi, converged=converged)


def _log_residual(u: float, kappa_star: float, noise: float, alpha: float) -> float:
    """``log T(xi) - log xi`` at ``xi = e^u``."""
    return math.log((float(mmse_denoising(kappa_star, math.exp(u))) + noise / 2.0) / (2.0 * alpha)) - u


def _xi_grid(kappa_star: float, noise: float, alphas: np.ndarray, per_decade: int) -> np.ndarray:
    """Ascending log grid of xi from below the smallest solution to above the largest (``xi_max`` bound)."""
    top = (1.0 / kappa_star + noise / 2.0) / (2.0 * float(alphas.min())) * 1.5
    if noise > 0:
        bottom = noise / (4.0 * float(alphas.max())) * 0.9
    else:   # below the solution of the alpha nearest alpha_BO, which scales as (alpha_BO - alpha)^2
        gap = max(alpha_bo(kappa_star) - float(alphas.max()), 1e-6)
        bottom = max(min(1e-3, 0.1 * gap * gap), XI_MIN)
    n = max(int(math.ceil(per_decade * math.log10(top / bottom))), 2)
    return np.geomspace(bottom, top, n + 1)


def _interpolate_xi(a_grid: np.ndarray, grid: np.ndarray, k: int, alpha: float) -> float:
    """``xi`` with ``A(xi) = alpha`` from a PCHIP interpolation of ``log xi`` against ``log A`` near the bracket
    ``[grid[k], grid[k+1]]`` (``A`` is monotone there)."""
    lo, hi = max(k - 2, 0), min(k + 4, grid.size)
    la, lx = np.log(a_grid[lo:hi]), np.log(grid[lo:hi])
    if not np.all(np.diff(la) < 0):           # not monotone around the bracket: linear in the bracket only
        la, lx = la[k - lo:k - lo + 2], lx[k - lo:k - lo + 2]
    return float(np.exp(PchipInterpolator(la[::-1], lx[::-1])(math.log(alpha))))


def bayes_optimal_window(kappa_star: float, noise: float, alpha_range: tuple[float, float], *,
                         points_per_decade: int = 8, mmse_floor: float = 1e-6) -> BayesOptimalCurve:
    """Exact points of the Bayes-optimal curve covering ``alpha_range`` (for plots and sliders; 30-80 evaluations
    of ``mmse(xi)``, a few ms each).

    :func:`bayes_optimal_branch` on a log grid of ``xi`` from ``xi_max`` of the lowest ``alpha`` down to the
    solution of the highest one (with noise, ``Delta / (4 alpha)``), or without noise down to where the MMSE is
    about ``mmse_floor`` (``xi = mmse_floor / (2 alpha_BO)``: the curve plunges to 0 at ``alpha_BO``); then the
    noiseless zero ``(alpha_BO, 0)`` if it lies in the window. Points are sorted by ``alpha``; those outside the
    window are dropped except one neighbour on each side.
    """
    low, high = (float(v) for v in alpha_range)
    if not (0 < low < high and math.isfinite(high)):
        raise ValueError(f"alpha_range must be (low, high) with 0 < low < high < inf, got {alpha_range!r}")
    if isinstance(points_per_decade, bool) or int(points_per_decade) != points_per_decade or points_per_decade < 2:
        raise ValueError(f"points_per_decade must be an integer >= 2, got {points_per_decade!r}")
    setting = Setting(alpha=1.0, kappa=1.0, kappa_star=kappa_star, noise=noise)
    top = (1.0 / setting.kappa_star + setting.noise / 2.0) / (2.0 * low)
    floor = check_positive("mmse_floor", mmse_floor)
    bottom = setting.noise / (4.0 * high) if setting.noise > 0 else floor / (2.0 * alpha_bo(setting.kappa_star))
    n = max(int(math.ceil(points_per_decade * math.log10(top / bottom))), 2)
    branch = bayes_optimal_branch(setting.kappa_star, setting.noise, np.geomspace(bottom, top, n + 1))
    alpha, mmse, xi = branch.alpha[::-1], branch.mmse[::-1], branch.xi[::-1]
    a_bo = alpha_bo(setting.kappa_star)
    if setting.noise == 0 and low <= a_bo <= high:
        alpha, mmse, xi = np.append(alpha, a_bo), np.append(mmse, 0.0), np.append(xi, 0.0)
    inside = (alpha >= low) & (alpha <= high)
    keep = inside.copy()
    keep[:-1] |= inside[1:]
    keep[1:] |= inside[:-1]
    return BayesOptimalCurve(setting=setting, alpha=alpha[keep], mmse=mmse[keep], xi=xi[keep],
                             converged=np.ones(int(keep.sum()), dtype=bool))
