"""Reference solver of the fixed-point equations at given ``alpha`` (Theory: book/theory/fixed_point.md).

This is the solver the project used before the vectorised fast path (:mod:`qnn.longtime.fast`); it is kept as
the *reference path* (``method="reference"`` of :func:`qnn.longtime.fixed_point.fixed_point` and
:func:`qnn.longtime.fixed_point.fixed_point_curve`) against which tests and ``benchmarks/bench_theory.py`` check the
fast
path. It builds one adaptive Chebyshev :class:`~qnn.spectra.laws.SpectralLaw` per visited ``xi``.

Fixed ``alpha``: first Brent's method in ``log xi`` on ``alpha(xi) = alpha`` (one spectral law per step). If the
curve folds (several ``q`` at one visited ``xi``), a coarse curve is traced until it brackets ``alpha`` and the
bracketing pair seeds a secant iteration along the local branch, then a Powell-hybrid solve in ``(log xi, log q)``.
Curves: the curve is traced once on log-spaced ``xi`` between the solved end points, refined around folds,
interpolated in ``log alpha`` and (``exact``) polished point by point.

Points are dicts (see :mod:`qnn.longtime.equations`).
"""
from __future__ import annotations

import math

import numpy as np
from scipy.optimize import brentq, root

from ..conventions import Setting
from .equations import XI_MAX, XI_MIN, initial_xi_range, curve_point, evaluate, law, points_at_xi
from .trace import FIELDS, check_monotone, interpolate_curve, order, refine_gaps, trace
from .thresholds import alpha_pr_plus

__all__ = ["solve_point", "solve_curve", "perfect_recovery_point", "point_status"]


def perfect_recovery_point(setting: Setting) -> dict:
    """The teacher itself (``Delta = 0``, ``lambda -> 0+``, ``alpha >= alpha_PR+``)."""
    return dict(alpha=setting.alpha, mse=0.0, loss=0.0, ise=0.0, xi=0.0, q=0.0, chi=math.nan,
                rank=min(setting.kappa_star, 1.0), dof=math.nan, cut=0.0, omega=math.nan, branch="perfect_recovery")


def point_status(setting: Setting, p: dict, res: float, tol: float, extra_reason: str = "") -> tuple[bool, str]:
    """``(converged, reason)`` of a solved point: residual within ``tol`` and a resolved spectral law."""
    reasons = []
    if res > tol:
        reasons.append(f"residual {res:.2e} > {tol:.0e}")
    if p["branch"] != "perfect_recovery":
        lw = law(setting.kappa_star, p["xi"])
        if not lw.converged:
            reasons.append(f"spectral law not resolved (quadrature error {lw.quadrature_error:.1e})")
    if extra_reason:
        reasons.append(extra_reason)
    return not reasons, "; ".join(reasons)




def _bracketing_points(setting: Setting, n: int) -> tuple[list[dict], int | None]:
    """Trace a coarse curve wide enough to bracket ``setting.alpha``; index i with alpha_i >= target > alpha_i+1."""
    k, ks, lam, noise, target = setting.kappa, setting.kappa_star, setting.lam, setting.noise, setting.alpha
    lo, hi = initial_xi_range(setting)
    pts = trace(k, ks, lam, noise, np.geomspace(lo, hi, n))
    for _ in range(40):
        al = [p["alpha"] for p in pts]
        if al and max(al) < target and lo > XI_MIN:
            lo_new = max(XI_MIN, lo / 30.0)
            pts = order(pts + trace(k, ks, lam, noise, np.geomspace(lo_new, lo, 5)[:-1]))
            lo = lo_new
            continue
        if al and min(al) > target and hi < XI_MAX:
            hi_new = min(XI_MAX, hi * 10.0)
            pts = order(pts + trace(k, ks, lam, noise, np.geomspace(hi, hi_new, 4)[1:]))
            hi = hi_new
            continue
        break
    for i in range(len(pts) - 1):
        if pts[i]["alpha"] >= target >= pts[i + 1]["alpha"]:
            return pts, i
    return pts, None


def _residuals(setting: Setting, u: np.ndarray, branch: str) -> np.ndarray:
    """Equations at fixed alpha in (log xi, log q): the xi equation and the q equation (relative forms)."""
    xi, q = math.exp(u[0]), math.exp(u[1])
    xi = min(max(xi, XI_MIN), XI_MAX)
    ev = evaluate(setting.kappa, setting.kappa_star, xi, np.array([q]))
    mse, dof = float(ev["mse"][0]), float(ev["dof"][0])
    r1 = math.log(2.0 * setting.alpha * xi) - math.log(max(mse + setting.noise / 2.0, 1e-300))
    if branch == "regularised":
        r2 = 1.0 - setting.lam / q - dof / setting.alpha
    else:                                       # interpolating: chi = 0
        r2 = 1.0 - dof / setting.alpha
    return np.array([r1, r2])


def _polish(setting: Setting, guess: dict, tol: float = 1e-10) -> tuple[dict, float]:
    branch = guess["branch"]
    k, ks, lam, noise = setting.kappa, setting.kappa_star, setting.lam, setting.noise
    if branch == "non_interpolating":          # q = 0: one equation in xi
        def r(logxi: float) -> float:
            p = curve_point(k, ks, math.exp(logxi), 0.0, 0.0, noise, branch)
            return math.log(p["alpha"] / setting.alpha)
        x0 = math.log(guess["xi"])
        lo, hi = x0 - 0.05, x0 + 0.05
        for _ in range(60):
            if r(lo) * r(hi) <= 0:
                break
            lo, hi = lo - 0.1, hi + 0.1
        logxi = brentq(r, lo, hi, xtol=1e-13)
        p = curve_point(k, ks, math.exp(logxi), 0.0, 0.0, noise, branch)
        return p, abs(r(logxi))
    u0 = np.array([math.log(guess["xi"]), math.log(guess["q"])])
    sol = root(lambda u: _residuals(setting, u, branch), u0, method="hybr", options={"xtol": 1e-13})
    res = float(np.max(np.abs(_residuals(setting, sol.x, branch))))
    xi, q = math.exp(sol.x[0]), math.exp(sol.x[1])
    p = curve_point(k, ks, xi, q, lam, noise, branch)
    return p, res


def _interpolate_guess(a: dict, b: dict, target: float) -> dict:
    la, lb = math.log(a["alpha"]), math.log(b["alpha"])
    w = 0.5 if la == lb else (math.log(target) - la) / (lb - la)
    g = dict(a if w < 0.5 else b)
    g["xi"] = math.exp((1 - w) * math.log(a["xi"]) + w * math.log(b["xi"]))
    if a["q"] > 0 and b["q"] > 0:
        g["q"] = math.exp((1 - w) * math.log(a["q"]) + w * math.log(b["q"]))
    else:
        g["q"] = max(a["q"], b["q"]) * w if b["q"] > 0 else a["q"] * (1 - w)
    if a["branch"] != b["branch"]:
        g["branch"] = "interpolating" if g["q"] > 0 else "non_interpolating"
    if g["branch"] == "interpolating" and g["q"] <= 0:
        g["q"] = max(a["q"], b["q"]) * 1e-3
    return g


class _NotUnique(Exception):
    """The xi-parametrised curve has several points at one xi (a fold) or none: use the general path."""


def _solve_in_xi(setting: Setting) -> tuple[dict, float]:
    """Solve ``alpha(xi) = setting.alpha`` by Brent's method in ``log xi`` along a fold-free curve.

    Each evaluation builds one spectral law and finds the root ``q(xi)``; raises :class:`_NotUnique` if a visited
    ``xi`` has not exactly one curve point, or if no bracket is found.
    """
    k, ks, lam, noise, target = setting.kappa, setting.kappa_star, setting.lam, setting.noise, setting.alpha
    cache: dict[float, dict] = {}

    def h(logxi: float) -> float:
        xi = math.exp(logxi)
        pts = points_at_xi(k, ks, xi, lam, noise)
        if len(pts) != 1:
            raise _NotUnique
        cache[logxi] = pts[0]
        return math.log(pts[0]["alpha"] / target)

    mse_guess = 0.3 * setting.teacher_second_moment
    x0 = math.log(min(max((mse_guess + noise / 2.0) / (2.0 * target), XI_MIN), XI_MAX))
    f0 = h(x0)
    # secant iteration (first step assumes d log alpha / d log xi = -1); Brent once a sign change is bracketed
    x1 = min(max(x0 + max(min(f0, 3.0), -3.0), math.log(XI_MIN)), math.log(XI_MAX))
    f1 = h(x1)
    logxi = None
    for _ in range(40):
        if abs(f1) <= 1e-12:
            logxi = x1
            break
        if f0 * f1 < 0 and abs(x1 - x0) > 1e-13:
            lo, hi = sorted((x0, x1))
            # xtol 1e-11 in log xi: below it the equations only see the round-off of the integrals (~1e-12)
            logxi = brentq(h, lo, hi, xtol=1e-11, rtol=4 * np.finfo(float).eps)
            break
        slope = (f1 - f0) / (x1 - x0) if x1 != x0 else -1.0
        if not slope < 0:                       # alpha must decrease with xi on a fold-free curve
            slope = -1.0
        x2 = x1 - max(min(f1 / slope, 3.0), -3.0)
        x2 = min(max(x2, math.log(XI_MIN)), math.log(XI_MAX))
        if x2 == x1:
            raise _NotUnique
        if abs(x2 - x1) <= 1e-10 and abs(f1) <= 1e-9:    # converged to the noise of the integrals
            logxi = x1
            break
        x0, f0, x1, f1 = x1, f1, x2, h(x2)
    if logxi is None:
        raise _NotUnique
    if logxi not in cache:
        h(logxi)
    p = cache[logxi]
    return p, abs(math.log(p["alpha"] / target))


def _polish_on_branch(setting: Setting, guess: dict, tol: float) -> tuple[dict, float]:
    """Secant iteration in ``log xi`` on ``alpha(xi) = alpha`` following the curve point nearest to ``guess``
    (nearest ``q`` at each visited ``xi``); a fold pair (same xi) falls back to the 2D solve."""
    k, ks, lam, noise, target = setting.kappa, setting.kappa_star, setting.lam, setting.noise, setting.alpha
    state = {"q": guess["q"], "branch": guess["branch"]}

    def h(logxi: float) -> tuple[float, dict]:
        pts = points_at_xi(k, ks, math.exp(logxi), lam, noise)
        if not pts:
            raise ArithmeticError("no curve point")
        p = min(pts, key=lambda p: (p["branch"] != state["branch"], abs(math.log((p["q"] + 1e-300) /
                                                                               (state["q"] + 1e-300)))))
        state["q"], state["branch"] = p["q"], p["branch"]
        return math.log(p["alpha"] / target), p

    x0 = math.log(guess["xi"])
    f0, p0 = h(x0)
    if abs(f0) <= tol:
        return p0, abs(f0)
    slope = guess.get("slope")                  # d log alpha / d log xi along the curve, if known
    if slope is not None and math.isfinite(slope) and slope != 0.0:
        x1 = x0 - max(min(f0 / slope, 0.2), -0.2)
    else:
        x1 = x0 + (0.002 if f0 > 0 else -0.002)
    f1, p1 = h(x1)
    for _ in range(12):
        if abs(f1) <= tol:
            return p1, abs(f1)
        if f1 == f0:
            break
        x2 = x1 - f1 * (x1 - x0) / (f1 - f0)
        x2 = min(max(x2, x1 - 0.5), x1 + 0.5)
        x0, f0, p0 = x1, f1, p1
        x1 = x2
        f1, p1 = h(x1)
    return p1, abs(f1)


def solve_point(setting: Setting, tol: float) -> tuple[dict, float, str]:
    """The fixed point at ``setting``: ``(point, residual, extra reason)``.

    Raises
    ------
    ArithmeticError
        When not even a coarse curve point could be found (the message says why).
    """
    if setting.lam == 0.0 and setting.noise == 0.0:
        if setting.alpha >= alpha_pr_plus(setting.kappa, setting.kappa_star):
            return perfect_recovery_point(setting), 0.0, ""
    try:
        p, res = _solve_in_xi(setting)
    except _NotUnique:
        pass
    else:
        if point_status(setting, p, res, tol)[0]:
            return p, res, ""
    pts, i = _bracketing_points(setting, 14)
    if i is None:
        al = [p["alpha"] for p in pts]
        msg = (f"could not bracket alpha = {setting.alpha} on the fixed-point curve (alpha range reached "
               f"[{min(al) if al else math.nan:.4g}, {max(al) if al else math.nan:.4g}])")
        if not pts:
            raise ArithmeticError(msg)
        return pts[0], math.inf, msg
    return _solve_bracketed(setting, pts, i, tol)


def _solve_bracketed(setting: Setting, pts: list[dict], i: int, tol: float) -> tuple[dict, float, str]:
    """Solve at ``setting.alpha`` between the traced points ``i`` and ``i + 1`` (which bracket it)."""
    guess = _interpolate_guess(pts[i], pts[i + 1], setting.alpha)
    p, res, extra = guess, math.inf, ""
    if {pts[i]["branch"], pts[i + 1]["branch"]} == {"non_interpolating", "interpolating"}:
        # the bracket spans the lambda -> 0+ branch switch (c = 0): the q = 0 branch holds iff its solution has c > 0
        try:
            p0, res0 = _polish(setting, dict(pts[i], branch="non_interpolating"))
        except (ValueError, ArithmeticError):
            p0, res0 = None, math.inf
        if p0 is not None and p0["chi"] > 0 and res0 <= tol:
            return p0, res0, ""
        guess = dict(guess, branch="interpolating")
    if pts[i]["xi"] != pts[i + 1]["xi"] and guess["branch"] != "non_interpolating":
        try:                                    # secant on the local branch (cheap)
            p, res = _polish_on_branch(setting, guess, tol)
        except (ValueError, ArithmeticError):
            p, res = guess, math.inf
    if res > tol:
        try:                                    # Powell hybrid in (log xi, log q)
            p, res = _polish(setting, guess)
        except (ValueError, ArithmeticError) as exc:  # brentq without sign change, etc.
            p, res = guess, math.inf
            extra = f"solver failed: {exc}"
    if res > tol:   # refine the bracket once and retry
        pts = refine_gaps(setting.kappa, setting.kappa_star, setting.lam, setting.noise,
                          pts[max(0, i - 1): i + 3], 0.02, rounds=3)
        for j in range(len(pts) - 1):
            if pts[j]["alpha"] >= setting.alpha >= pts[j + 1]["alpha"]:
                try:
                    p2, res2 = _polish(setting, _interpolate_guess(pts[j], pts[j + 1], setting.alpha))
                except (ValueError, ArithmeticError):
                    continue
                if res2 < res:
                    p, res, extra = p2, res2, ""
                break
    return p, res, extra


def _solve_alone(setting: Setting, tol: float) -> tuple[dict, bool, str]:
    p, res, extra = solve_point(setting, tol)
    return (dict(p, alpha=setting.alpha), *point_status(setting, p, res, tol, extra))


def solve_curve(setting: Setting, alphas: np.ndarray, exact: bool, tol: float,
                n_xi: int) -> tuple[list[dict], np.ndarray, str]:
    """Fixed points at every ``alphas`` (see :func:`qnn.longtime.fixed_point.fixed_point_curve`):
    ``(points, converged flags, warning or "")``.

    Raises
    ------
    ArithmeticError
        When an end point of the alpha range does not converge.
    """
    k, ks, lam, noise = setting.kappa, setting.kappa_star, setting.lam, setting.noise
    solve = np.ones(alphas.size, dtype=bool)
    out: list[dict | None] = [None] * alphas.size
    conv = np.zeros(alphas.size, dtype=bool)
    if lam == 0.0 and noise == 0.0:
        a_pr = alpha_pr_plus(k, ks)
        for j, a in enumerate(alphas):
            if a >= a_pr * (1.0 - 1e-3):       # perfect recovery, or too close to it for the trace
                out[j], conv[j], _ = _solve_alone(setting.replace(alpha=float(a)), tol)
                solve[j] = False
    warn = ""
    if solve.any():
        a_lo, a_hi = float(alphas[solve].min()), float(alphas[solve].max())
        ends = []
        for a in {a_lo, a_hi}:
            p, ok, reason = _solve_alone(setting.replace(alpha=a), tol)
            if not ok:
                raise ArithmeticError(f"end point alpha = {a} of the curve: {reason}")
            ends.append(p)
        xi_lo = min(e["xi"] for e in ends) / 1.05
        xi_hi = max(e["xi"] for e in ends) * 1.05
        pts = trace(k, ks, lam, noise, np.geomspace(max(xi_lo, XI_MIN), min(xi_hi, XI_MAX), int(n_xi)))
        pts = refine_gaps(k, ks, lam, noise, pts, 0.08 if not exact else 0.25)
        warn = check_monotone(pts)
        idx = np.nonzero(solve)[0]
        for j, p in zip(idx, interpolate_curve(pts, alphas[idx])):
            out[j], conv[j] = _curve_point_at(setting.replace(alpha=float(alphas[j])), p, exact, tol)
    return out, conv, warn


def _curve_point_at(s: Setting, p: dict, exact: bool, tol: float) -> tuple[dict, bool]:
    """One curve point from its interpolated guess ``p``: as is (``exact=False``), polished on the local branch,
    or solved alone (outside the traced range, or when polishing fails)."""
    if any(not math.isfinite(p[f]) for f in FIELDS):       # outside the traced range: solve alone
        return _solve_alone(s, tol)[:2]
    if not exact:
        p.pop("slope", None)
        return p, True
    try:
        q, res = _polish_on_branch(s, p, tol)
    except (ArithmeticError, ValueError):
        q, res = None, math.inf
    if q is None or res > tol:
        return _solve_alone(s, tol)[:2]
    return dict(q, alpha=s.alpha), law(s.kappa_star, q["xi"]).converged
