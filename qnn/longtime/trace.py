"""Tracing the fixed-point curve in the xi-parametrisation (Theory: book/theory/fixed_point.md).

At each effective noise ``xi`` the curve points are the roots ``q`` of ``F(q; xi)``
(:func:`qnn.longtime.equations.points_at_xi`), with ``alpha`` read off explicitly. With label noise and small
``lambda`` the curve folds in ``xi`` (S-shaped ``q(xi)``) but stays a graph over ``q``: ordering the points by
``(q, xi)`` follows the fold, and ``alpha`` decreases along it. This module traces the curve on a set of ``xi``,
inserts points where neighbours are far apart, checks monotonicity and interpolates every field in ``log alpha``.
"""
from __future__ import annotations

import math

import numpy as np
from scipy.interpolate import PchipInterpolator
from scipy.optimize import brentq

from .equations import XI_MAX, XI_MIN, curve_point, f_value, points_at_xi

__all__ = ["FIELDS", "order", "trace", "gap", "refine_gaps", "point_at_q", "check_monotone", "interpolate_curve"]

FIELDS = ("mse", "loss", "ise", "xi", "q", "chi", "rank", "dof")
_LOGFIELDS = ("mse", "xi")


def order(points: list[dict]) -> list[dict]:
    """Order curve points along the curve: by decreasing alpha proxy = increasing (q, xi) on the graph over q.

    On the ``lambda = 0`` curve the non-interpolating points (q = 0) come first, ordered by increasing xi.
    """
    return sorted(points, key=lambda p: (p["q"], p["xi"]))


def trace(kappa: float, kappa_star: float, lam: float, noise: float, xis: np.ndarray) -> list[dict]:
    pts: list[dict] = []
    for xi in xis:
        pts.extend(points_at_xi(kappa, kappa_star, float(xi), lam, noise))
    return order(pts)


def gap(a: dict, b: dict) -> float:
    """Distance between neighbouring curve points (mostly in log alpha; log xi matters around folds)."""
    return abs(math.log(a["alpha"] / b["alpha"])) + 0.25 * abs(math.log(a["xi"] / b["xi"]))


def refine_gaps(kappa: float, kappa_star: float, lam: float, noise: float, pts: list[dict],
                 max_log_gap: float, rounds: int = 8) -> list[dict]:
    """Insert points where consecutive points are far apart: the geometric-mean xi between two points of
    different xi; around a fold (same xi, or a midpoint that did not close the gap) a widened scan of 5 xi."""
    tried: set[tuple[float, ...]] = set()
    for _ in range(rounds):
        new_xis: set[float] = set()
        new_pts: list[dict] = []
        for j, (a, b) in enumerate(zip(pts[:-1], pts[1:])):
            if gap(a, b) <= max_log_gap:
                continue
            key = (a["xi"], a["q"], b["xi"], b["q"])
            if a["xi"] != b["xi"] and key not in tried:
                new_xis.add(math.sqrt(a["xi"] * b["xi"]))
                tried.add(key)
                continue
            # around a fold (same xi on both sides of the gap): the curve is a graph over q, so solve for xi at
            # the intermediate q, stepping from a's xi towards the fold tip (away from the neighbours)
            p = None
            if a["q"] > 0 and b["q"] > 0 and key not in tried:
                tried.add(key)
                prev_xi = pts[j - 1]["xi"] if j > 0 else a["xi"]
                direction = 1.0 if a["xi"] >= prev_xi else -1.0
                p = point_at_q(kappa, kappa_star, lam, noise, math.sqrt(a["q"] * b["q"]), a["xi"], direction)
            if p is not None:
                new_pts.append(p)
            else:
                lo, hi = sorted((a["xi"], b["xi"]))
                lo, hi = max(lo / 1.3, XI_MIN), min(hi * 1.3, XI_MAX)
                new_xis.update(float(x) for x in np.geomspace(lo, hi, 7)[1:-1])
        if not new_xis and not new_pts:
            break
        extra = trace(kappa, kappa_star, lam, noise, np.array(sorted(new_xis))) if new_xis else []
        pts = order(pts + new_pts + extra)
    return pts


def point_at_q(kappa: float, kappa_star: float, lam: float, noise: float, q: float, xi0: float,
                direction: float) -> dict | None:
    """The curve point with cut ``q`` (``F(q; xi) = 0`` solved for ``xi``), searching from ``xi0`` in
    ``direction`` (+1 or -1 in log xi); ``None`` if no sign change within a factor e."""
    lam_eff = lam if lam > 0 else 0.0
    g = lambda x: float(f_value(kappa, kappa_star, math.exp(x), np.array([q]), lam_eff, noise)[0])  # noqa: E731
    x0 = math.log(xi0)
    g0 = g(x0)
    step = 0.005
    while step < 1.0:
        x1 = x0 + direction * step
        g1 = g(x1)
        if g0 * g1 <= 0:
            lo, hi = sorted((x0, x1))
            x = brentq(g, lo, hi, xtol=1e-12)
            return curve_point(kappa, kappa_star, math.exp(x), q, lam, noise,
                          "regularised" if lam > 0 else "interpolating")
        x0, g0, step = x1, g1, step * 2.0
    return None


def check_monotone(pts: list[dict]) -> str:
    al = np.array([p["alpha"] for p in pts])
    if al.size > 1 and np.any(np.diff(al) > 1e-9 * al[1:]):
        worst = int(np.argmax(np.diff(al)))
        return (f"alpha is not monotone along the traced curve near alpha = {al[worst]:.6g} (several fixed "
                f"points at the same alpha)")
    return ""



def interpolate_curve(pts: list[dict], alphas: np.ndarray) -> list[dict]:
    """Monotone cubic (PCHIP) interpolation of every field in ``log alpha`` along the ordered curve."""
    al = np.array([p["alpha"] for p in pts])
    keep = np.concatenate([[True], np.diff(al) < 0])     # strictly decreasing alpha
    x = -np.log(al[keep])
    sel = [p for p, kk in zip(pts, keep) if kk]
    out = [dict(alpha=float(a)) for a in alphas]
    for f in FIELDS:
        v = np.array([p[f] for p in sel], dtype=float)
        logf = f in _LOGFIELDS and np.all(v > 0)
        interp = PchipInterpolator(x, np.log(v) if logf else v, extrapolate=False)
        vals = interp(-np.log(alphas))
        vals = np.exp(vals) if logf else vals
        for o, val in zip(out, vals):
            o[f] = float(val)
    xi_sel = np.log(np.array([p["xi"] for p in sel]))
    dlogxi = PchipInterpolator(x, xi_sel, extrapolate=False).derivative()(-np.log(alphas))
    for o, a, dx in zip(out, alphas, dlogxi):
        j = int(np.argmin(np.abs(np.log(al / a))))
        o["branch"] = pts[j]["branch"]
        # d log alpha / d log xi = -1 / (d log xi / d(-log alpha))
        o["slope"] = -1.0 / float(dx) if np.isfinite(dx) and dx != 0 else math.nan
    return out
