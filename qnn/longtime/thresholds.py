"""Recovery and interpolation thresholds (Theory: book/theory/thresholds.md).

Semicircle tail moments ``M_k(x) = int_x^2 t^k s(t) dt`` with ``s(t) = sqrt(4 - t^2)/(2 pi)``:

    M0(x) = 1/2 - x sqrt(4 - x^2)/(4 pi) - arcsin(x/2)/pi
    M1(x) = (4 - x^2)^{3/2} / (6 pi)
    M2(x) = 1/2 - sqrt(4 - x^2)(x^3 - 2x)/(8 pi) - arcsin(x/2)/pi

Perfect recovery needs the student to be able to represent the teacher: ``min(kappa, 1) >= min(kappa*, 1)``.
When it cannot (``kappa < kappa*`` and ``kappa < 1``) the recovery thresholds are ``inf``.
"""
from __future__ import annotations

import math

import numpy as np
from scipy.optimize import brentq

from ..conventions import check_nonnegative, check_positive
from .equations import curve_point, law

__all__ = ["semicircle_tail_moment", "alpha_bo", "alpha_pr_plus", "alpha_pr", "alpha_inter",
           "parameter_count", "omega0", "kappa_saturation"]


def semicircle_tail_moment(k: int, x: float | np.ndarray) -> np.ndarray:
    """``M_k(x) = int_x^2 t^k s(t) dt`` for ``k in {0, 1, 2}`` (``x`` clipped to ``[-2, 2]``)."""
    if k not in (0, 1, 2):
        raise ValueError(f"k must be 0, 1 or 2, got {k!r}")
    x = np.clip(np.asarray(x, dtype=float), -2.0, 2.0)
    r = np.sqrt(4.0 - x * x)
    if k == 0:
        return 0.5 - x * r / (4 * np.pi) - np.arcsin(x / 2) / np.pi
    if k == 1:
        return r ** 3 / (6 * np.pi)
    return 0.5 - r * (x ** 3 - 2 * x) / (8 * np.pi) - np.arcsin(x / 2) / np.pi


def _m(k: int, x: float) -> float:
    return float(semicircle_tail_moment(k, x))


def _check_pair(kappa: float, kappa_star: float) -> tuple[float, float]:
    return check_positive("kappa", kappa), check_positive("kappa_star", kappa_star)


def _impossible(kappa: float, kappa_star: float) -> bool:
    return min(kappa, 1.0) < min(kappa_star, 1.0)


def parameter_count(kappa: float) -> float:
    """``kappa - kappa^2/2`` (``1/2`` for ``kappa >= 1``): dimension of rank-``kappa d`` PSD matrices over ``d^2``."""
    kappa = check_positive("kappa", kappa)
    k = min(kappa, 1.0)
    return k - k * k / 2.0


def alpha_bo(kappa_star: float) -> float:
    """Bayes-optimal perfect-recovery threshold ``kappa* - kappa*^2/2`` (``1/2`` if ``kappa* >= 1``)."""
    return parameter_count(check_positive("kappa_star", kappa_star))


def omega0(kappa: float, kappa_star: float) -> float:
    """``omega_0 in [-2, 2]`` with ``M0(omega_0) = (min(kappa, 1) - kappa*)/(1 - kappa*)`` (``kappa* < 1``,
    ``kappa >= kappa*``); ``-2`` when the right side is ``>= 1``."""
    kappa, kappa_star = _check_pair(kappa, kappa_star)
    if kappa_star >= 1.0:
        raise ValueError(f"kappa_star must be < 1 for omega0, got {kappa_star!r}")
    if kappa < kappa_star:
        raise ValueError(f"kappa must be >= kappa_star = {kappa_star} for omega0, got {kappa!r}")
    target = (min(kappa, 1.0) - kappa_star) / (1.0 - kappa_star)
    if target >= 1.0:
        return -2.0
    if target <= 0.0:
        return 2.0
    return brentq(lambda x: _m(0, x) - target, -2.0, 2.0, xtol=1e-15, rtol=1e-15)


def alpha_pr_plus(kappa: float, kappa_star: float) -> float:
    """Perfect-recovery threshold of the ``lambda -> 0+`` regularised fixed point, ``alpha_PR+``.

    ``alpha_PR+ = kappa* - kappa*^2/2 + (1 - kappa*)^2 [M2(b) - q M1(b)] / 2`` with ``b = min(max(q, omega_0), 2)``
    and ``q in (0, 2]`` solving ``[M1(b) - q M0(b)]/q = kappa*/(1 - kappa*)``. Equals ``alpha_BO`` at
    ``kappa = kappa*``; increases with ``kappa`` up to the convex (nuclear-norm) plateau reached at
    :func:`kappa_saturation`. ``1/2`` when ``kappa* >= 1`` and ``kappa >= 1``.

    Returns ``inf`` when perfect recovery is impossible (``min(kappa, 1) < min(kappa*, 1)``: the student cannot
    represent the teacher).
    """
    kappa, kappa_star = _check_pair(kappa, kappa_star)
    if _impossible(kappa, kappa_star):
        return math.inf
    if kappa_star >= 1.0:
        return 0.5
    base = kappa_star - kappa_star ** 2 / 2.0
    om = omega0(kappa, kappa_star)
    if om >= 2.0:
        return base
    ratio = kappa_star / (1.0 - kappa_star)

    def eq(q: float) -> float:
        b = min(max(q, om), 2.0)
        return (_m(1, b) - q * _m(0, b)) / q - ratio

    q = brentq(eq, 1e-14, 2.0, xtol=1e-15, rtol=1e-15)
    b = min(max(q, om), 2.0)
    return base + (1.0 - kappa_star) ** 2 * (_m(2, b) - q * _m(1, b)) / 2.0


def kappa_saturation(kappa_star: float) -> float:
    """Smallest ``kappa`` from which ``alpha_PR+`` is constant (the cap ``omega_0`` no longer binds):
    ``M0(q_c) = (kappa_sat - kappa*)/(1 - kappa*)`` where ``q_c`` is the unconstrained soft threshold."""
    kappa_star = check_positive("kappa_star", kappa_star)
    if kappa_star >= 1.0:
        return 1.0
    ratio = kappa_star / (1.0 - kappa_star)
    q = brentq(lambda q: (_m(1, q) - q * _m(0, q)) / q - ratio, 1e-14, 2.0, xtol=1e-15)
    return kappa_star + (1.0 - kappa_star) * _m(0, q)


def _alpha_inter_noiseless(kappa: float, kappa_star: float) -> float:
    if kappa_star >= 1.0:
        return 0.5
    plateau = (0.5 + kappa_star - kappa_star ** 2 / 2.0) / 2.0
    if kappa >= (1.0 + kappa_star) / 2.0:
        return plateau
    rhs = ((1.0 + kappa_star) / 2.0 - kappa) / (1.0 - kappa_star)
    f = lambda v: (v * math.sqrt(max(0.0, 1.0 - v * v)) + math.asin(v)) / math.pi - rhs  # noqa: E731
    v = 1.0 if f(1.0) <= 0.0 else brentq(f, 0.0, 1.0, xtol=1e-15, rtol=1e-15)   # f(1) = 1/2: kappa = kappa*
    tail = (1.0 - kappa_star) ** 2 * v * (1.0 - v * v) ** 1.5 / math.pi
    return (kappa_star + kappa * (1.0 - kappa_star)) / 2.0 + tail


def alpha_inter(kappa: float, kappa_star: float, noise: float = 0.0) -> float:
    """Interpolation threshold.

    Noiseless (``noise = 0``): ``kappa* - kappa*^2/2 + ((1 - kappa*)^2/2) M2(max(0, omega_0))``, equal to the
    plateau ``1/4 + kappa*/2 - kappa*^2/4`` for ``2 kappa >= 1 + kappa*`` (closed form via ``f(v)``),
    ``1/2`` if ``kappa* >= 1``. Returns ``inf`` if ``min(kappa, 1) < min(kappa*, 1)``.

    Noisy (``noise = Delta > 0``): the ``alpha`` where the ``lambda -> 0+`` fixed point switches from the
    interpolating to the non-interpolating branch, i.e. where ``c = alpha - int_b x H rho_xi = 0`` on the ``q = 0``
    branch (the double-descent peak). Found by a root search in ``xi`` over ``[Delta, max(100, 100 Delta)]``
    (as the paper's code does); raises ``ValueError`` if ``c`` has no sign change there.
    """
    kappa, kappa_star = _check_pair(kappa, kappa_star)
    noise = check_nonnegative("noise", noise)
    if noise == 0.0:
        if _impossible(kappa, kappa_star):
            return math.inf
        return _alpha_inter_noiseless(kappa, kappa_star)
    def c_of(xi: float) -> tuple[float, float]:
        p = curve_point(kappa, kappa_star, xi, 0.0, 0.0, noise, "non_interpolating")
        return p["alpha"] - p["dof"], p["alpha"]

    lo, hi = noise, max(100.0, 100.0 * noise)
    grid = np.geomspace(lo, hi, 41)
    vals = [c_of(float(x))[0] for x in grid]
    for i in range(len(grid) - 1):
        if vals[i] * vals[i + 1] <= 0:
            xi = brentq(lambda x: c_of(x)[0], grid[i], grid[i + 1], xtol=1e-12, rtol=1e-12)
            if not law(kappa_star, xi).converged:
                raise ValueError(f"noise = {noise!r} is too small to resolve the noisy interpolation threshold (the "
                                 f"effective noise xi = {xi:.2g} at the switch is below the resolved range of the "
                                 f"spectral laws); use noise = 0 for the noiseless threshold")
            return c_of(xi)[1]
    raise ValueError(f"no interpolation transition found for kappa={kappa}, kappa_star={kappa_star}, "
                     f"noise={noise}: c(xi) keeps one sign on [{lo}, {hi}]")


def alpha_pr(kappa: float, kappa_star: float) -> float:
    """Perfect-recovery threshold of unregularised gradient flow (the paper's conjecture):
    ``min(kappa - kappa^2/2, alpha_inter(kappa, kappa*))`` (the plateau for ``kappa >= (1 + kappa*)/2``;
    ``1/2`` if ``kappa* >= 1``). Returns ``inf`` if ``min(kappa, 1) < min(kappa*, 1)``."""
    kappa, kappa_star = _check_pair(kappa, kappa_star)
    if _impossible(kappa, kappa_star):
        return math.inf
    inter = _alpha_inter_noiseless(kappa, kappa_star)
    if kappa_star >= 1.0 or kappa >= (1.0 + kappa_star) / 2.0:
        return inter
    return min(inter, parameter_count(kappa))
