"""The fixed-point equations at given ``(xi, q)`` (Theory: book/theory/fixed_point.md).

This module sits below both :mod:`qnn.longtime.fixed_point` (which solves the equations at given ``alpha``) and
:mod:`qnn.longtime.thresholds` (which locates the branch switch of the ``lambda -> 0+`` curve): it evaluates, at one
effective
noise ``xi`` and cut ``q``, the tail integrals of the law ``rho_xi`` of ``S* + sqrt(xi) Z_GOE``
(:mod:`qnn.spectra.laws`; Theory: book/theory/spectral_laws.md)

    I   = int_b^inf rho_xi(x) H(x) (x - q) dx,       MSE = 1 + 1/kappa* + int_b^inf rho_xi(x) (q^2 - x^2) dx + 4 xi I,

with ``b = max(q, omega)``, ``omega`` the upper ``min(kappa, 1)``-quantile of ``rho_xi``; the function
``F(q; xi) = 1 - lambda/q - 2 xi I / (MSE + Delta/2)`` whose roots ``q`` are the points of the fixed-point curve at
this ``xi``; and every output at such a point, ``alpha = (MSE + Delta/2)/(2 xi)`` included.

Curve points are plain dicts with the keys ``alpha, mse, loss, ise, xi, q, chi, rank, dof, cut, omega, branch``.
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from ..conventions import Setting
from ..spectra.laws import SpectralLaw, spectral_law

__all__ = ["XI_MIN", "XI_MAX", "initial_xi_range", "law", "cap_quantile", "evaluate", "f_value",
           "bracketed_newton", "q_roots", "curve_point", "points_at_xi", "clear_caches"]

XI_MIN = 1e-12            # smallest xi the solver visits (below it the law is resolved to ~1e-6 only)
XI_MAX = 1e6
_N_Q_GRID = 48            # points of the q-scan used to bracket every root of F(q; xi)


def initial_xi_range(setting: Setting) -> tuple[float, float]:
    """Initial ``xi`` range of a fixed-point trace, shared by the fast and the reference solver: at the fixed point
    ``xi = (MSE + Delta/2) / (2 alpha)``; the range runs from about ``Delta / (8 alpha)`` (``1e-8`` without noise)
    to ``(4 MSE(0) + Delta) / (2 alpha)``, ``MSE(0)`` the teacher's second moment; traces widen it when needed."""
    alpha, noise = setting.alpha, setting.noise
    mse0 = setting.teacher_second_moment
    hi = (4.0 * mse0 + noise) / (2.0 * alpha)
    lo = max(XI_MIN, (noise / 2.0 + 1e-6 * mse0) / (2.0 * alpha) * 0.5) if noise > 0 else 1e-8
    return lo, max(hi, 4 * lo)


@lru_cache(maxsize=2048)
def law(kappa_star: float, xi: float) -> SpectralLaw:
    """The spectral law ``rho_xi`` (cached per ``(kappa*, xi)``)."""
    return spectral_law(kappa_star, xi)


@lru_cache(maxsize=2048)
def cap_quantile(kappa_star: float, xi: float, kappa: float) -> float:
    """``omega``: the upper ``kappa``-quantile of ``rho_xi`` (``-inf`` for ``kappa >= 1``; cached)."""
    if kappa >= 1.0:
        return -math.inf
    return law(kappa_star, xi).upper_quantile(kappa)


def evaluate(kappa: float, kappa_star: float, xi: float, q: np.ndarray) -> dict[str, np.ndarray]:
    """I, MSE, rank at fixed xi for an array of q (vectorised through the law's tail integrals)."""
    lw = law(kappa_star, xi)
    omega = cap_quantile(kappa_star, xi, kappa)
    q = np.atleast_1d(np.asarray(q, dtype=float))
    cut = np.maximum(q, omega)
    head, tail = lw.split_integrals(cut)
    a0, _, _, ah, ahx = tail
    dof = ahx - q * ah
    # 1 + 1/kappa* - int_b rho x^2 = int^b rho x^2 - xi (the second moment of rho_xi is 1 + 1/kappa* + xi): no
    # cancellation when the MSE is much smaller than 1/kappa* (small kappa* or small xi)
    mse = head[2] - xi + q * q * a0 + 4.0 * xi * dof
    # q-derivatives at fixed xi (the boundary terms vanish both for cut = q, where x - q = 0, and cut = omega):
    # dI/dq = -int_b rho H,  dMSE/dq = 2 q int_b rho - 4 xi int_b rho H
    return {"dof": dof, "mse": mse, "rank": a0, "cut": cut, "omega": np.full_like(q, omega),
            "ddof": -ah, "dmse": 2.0 * q * a0 - 4.0 * xi * ah}


def f_value(kappa: float, kappa_star: float, xi: float, q: np.ndarray, lam: float, noise: float,
             derivative: bool = False):
    """``F(q; xi) = 1 - lambda/q - 2 xi I/(MSE + Delta/2)`` (and ``dF/dq`` with ``derivative``)."""
    ev = evaluate(kappa, kappa_star, xi, q)
    q = np.atleast_1d(q)
    reg = lam / q if lam > 0 else 0.0
    m = ev["mse"] + noise / 2.0
    f = 1.0 - reg - 2.0 * xi * ev["dof"] / m
    if not derivative:
        return f
    df = (lam / (q * q) if lam > 0 else 0.0) - 2.0 * xi * (ev["ddof"] * m - ev["dof"] * ev["dmse"]) / (m * m)
    return f, df


def bracketed_newton(fun, lo: float, hi: float, f_lo: float, f_hi: float, rtol: float = 1e-14,
                      ftol: float = 1e-14, max_iter: int = 100) -> float:
    """Root of ``fun`` (returning value and derivative) in ``[lo, hi]`` with a sign change: Newton steps,
    bisection whenever a step leaves the bracket or the bracket stops shrinking."""
    x = lo - f_lo * (hi - lo) / (f_hi - f_lo)            # regula falsi start
    prev_width = hi - lo
    for it in range(max_iter):
        fx, dfx = fun(x)
        if abs(fx) <= ftol:
            return x
        if (fx < 0) == (f_lo < 0):
            lo, f_lo = x, fx
        else:
            hi, f_hi = x, fx
        if hi - lo <= rtol * max(abs(lo), abs(hi)):
            return 0.5 * (lo + hi)
        x_new = x - fx / dfx if (dfx != 0 and math.isfinite(dfx)) else math.nan
        if not (lo < x_new < hi) or (it % 4 == 3 and hi - lo > 0.5 * prev_width):
            x_new = 0.5 * (lo + hi)
        if it % 4 == 3:
            prev_width = hi - lo
        if abs(x_new - x) <= rtol * abs(x):
            return x_new
        x = x_new
    if hi - lo <= 1e-10 * max(abs(lo), abs(hi)):
        return 0.5 * (lo + hi)
    raise ArithmeticError(f"bracketed Newton did not converge in [{lo}, {hi}]")


def q_roots(kappa: float, kappa_star: float, xi: float, lam: float, noise: float) -> list[float]:
    """All roots ``q > 0`` of ``F(q; xi)`` (``lam > 0``) or ``F_0`` (``lam = 0``), ascending."""
    top = law(kappa_star, xi).top
    if lam > 0:
        lo, hi = lam, max(lam, top) * (1.0 + 1e-12)
        if hi <= lo * (1.0 + 1e-12):           # lam above the spectrum: S_hat = 0, q = lam
            return [lam]
        grid = np.geomspace(lo, hi, _N_Q_GRID)
    else:
        grid = np.geomspace(top * 1e-9, top, _N_Q_GRID)
    vals = f_value(kappa, kappa_star, xi, grid, lam, noise)
    roots: list[float] = []
    if lam > 0 and vals[0] == 0.0:
        roots.append(float(grid[0]))
    sign = np.sign(vals)
    idx = np.nonzero(sign[:-1] * sign[1:] < 0)[0]
    def fun(qq: float) -> tuple[float, float]:
        f, df = f_value(kappa, kappa_star, xi, np.array([qq]), lam, noise, derivative=True)
        return float(f[0]), float(df[0])

    for i in idx:
        roots.append(bracketed_newton(fun, float(grid[i]), float(grid[i + 1]), float(vals[i]), float(vals[i + 1])))
    return roots


def curve_point(kappa: float, kappa_star: float, xi: float, q: float, lam: float, noise: float,
           branch: str) -> dict[str, float]:
    """All outputs at one (xi, q) on the curve (alpha read off the xi equation)."""
    ev = evaluate(kappa, kappa_star, xi, np.array([q]))
    mse = float(ev["mse"][0])
    dof = float(ev["dof"][0])
    alpha = (mse + noise / 2.0) / (2.0 * xi)
    if branch == "regularised":
        chi = lam / q
    elif branch == "interpolating":
        chi = 0.0
    else:
        chi = 1.0 - dof / alpha
    loss = (2.0 * mse + noise) * chi * chi / 4.0
    ise = ((2.0 * mse + noise) * chi * chi + noise * (1.0 - 2.0 * chi)) / 4.0
    return dict(alpha=alpha, mse=mse, loss=loss, ise=ise, xi=xi, q=q, chi=chi, rank=float(ev["rank"][0]),
                dof=dof, cut=float(ev["cut"][0]), omega=float(ev["omega"][0]), branch=branch)


def points_at_xi(kappa: float, kappa_star: float, xi: float, lam: float, noise: float) -> list[dict]:
    """Every curve point at this xi (several where the curve folds); points whose ``alpha`` comes out non-positive
    (round-off of the integrals far beyond the resolved range) are dropped."""
    if lam > 0:
        pts = [curve_point(kappa, kappa_star, xi, q, lam, noise, "regularised")
               for q in q_roots(kappa, kappa_star, xi, lam, noise)]
    else:
        # lambda -> 0+: the q = 0 point where c > 0, and every interpolating root (with noise, the interpolating
        # branch starts at q = 0+ where c = 0 and runs back to smaller xi, so both kinds coexist there)
        zero = curve_point(kappa, kappa_star, xi, 0.0, 0.0, noise, "non_interpolating")
        pts = [zero] if zero["chi"] > 0 else []
        pts += [curve_point(kappa, kappa_star, xi, q, 0.0, noise, "interpolating")
                for q in q_roots(kappa, kappa_star, xi, 0.0, noise)]
    return [p for p in pts if math.isfinite(p["alpha"]) and p["alpha"] > 0]


def clear_caches() -> None:
    """Forget every cached spectral law and quantile (for cold benchmarks)."""
    law.cache_clear()
    cap_quantile.cache_clear()
