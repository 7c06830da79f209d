"""Theory curves for live slider updates: the book's fast fixed-point path with its spectral laws kept across moves.

A slider move of the double-descent explorer recomputes the whole curve vs ``alpha``. The expensive part of the
fast path (:mod:`qnn.longtime.fast`) is building the spectral laws ``rho_xi`` of the visited ``xi``; they depend on
``kappa*`` and ``xi`` only (book/theory/spectral_laws.md), not on ``kappa``, ``Delta`` or ``lambda``. Here they are
built once per ``(kappa*, xi values)`` and kept (:func:`cached_trace`), so a move of ``kappa``, ``Delta`` or
``lambda`` only solves ``F(q; xi) = 0`` again, on laws already built. The numbers are those of
:func:`qnn.longtime.fixed_point.xi_branch` with ``refine=False`` (same functions on the same laws: identical);
``tests/test_apps.py`` checks it.

:func:`noisy_alpha_inter` is the noisy interpolation threshold :func:`qnn.longtime.thresholds.alpha_inter` (the
double-descent peak) on the same batched laws: the same sign scan of ``c(xi) = alpha - dof`` on the ``q = 0``
branch over the same ``xi`` grid, and the root in the bracket by vectorised bisection refinement instead of a
scalar ``brentq`` on the reference laws (agreement within the book's theory tolerance, rtol 1e-5; tested).
"""
from __future__ import annotations

import math
from collections import OrderedDict

import numpy as np

from ..longtime import fast as _fast
from ..spectra.batch import LawBatch, law_batch

__all__ = ["cached_laws", "cached_trace", "noisy_alpha_inter", "clear_caches"]

_MAX_BATCHES = 48
_batches: OrderedDict[tuple[float, bytes], LawBatch] = OrderedDict()
_omegas: OrderedDict[tuple[float, float, bytes], np.ndarray] = OrderedDict()


def _remember(cache: OrderedDict, key, make):
    value = cache.get(key)
    if value is None:
        value = make()
        cache[key] = value
        while len(cache) > _MAX_BATCHES:
            cache.popitem(last=False)
    else:
        cache.move_to_end(key)
    return value


def clear_caches() -> None:
    """Forget every kept law (tests, benchmarks of cold updates)."""
    _batches.clear()
    _omegas.clear()


def cached_laws(kappa: float, kappa_star: float, xis: np.ndarray) -> _fast._Laws:
    """The fast path's laws at ``xis`` for ``(kappa, kappa*)``: the :class:`~qnn.spectra.batch.LawBatch` is kept per
    ``(kappa*, xis)`` (the last 48), the rank-cap quantiles ``omega`` per ``(kappa, kappa*, xis)``."""
    xis = np.ascontiguousarray(np.asarray(xis, dtype=float))
    key = xis.tobytes()
    batch = _remember(_batches, (float(kappa_star), key), lambda: law_batch(float(kappa_star), xis))
    laws = object.__new__(_fast._Laws)          # what _Laws.__init__ sets, from the kept batch
    laws.kappa, laws.batch, laws.xi = kappa, batch, batch.xi
    n = batch.xi.size
    laws.omega = _remember(_omegas, (float(kappa), float(kappa_star), key),
                           lambda: np.full(n, -np.inf) if kappa >= 1.0 else batch.upper_quantile(np.arange(n), kappa))
    return laws


def cached_trace(kappa: float, kappa_star: float, lam: float, noise: float, xis: np.ndarray) -> dict[str, np.ndarray]:
    """:func:`qnn.longtime.fast.trace` (every curve point at every ``xi``, ordered along the curve) on kept laws."""
    laws = cached_laws(kappa, kappa_star, xis)
    law, q = _fast._q_roots(laws, lam, noise)
    branch = np.full(law.size, _fast._REG if lam > 0 else _fast._INT)
    if lam == 0:
        n = laws.xi.size
        zero = _fast._outputs(laws, np.arange(n), np.zeros(n), np.full(n, _fast._NON), 0.0, noise)
        keep = zero["chi"] > 0
        law, q = np.concatenate([np.arange(n)[keep], law]), np.concatenate([np.zeros(keep.sum()), q])
        branch = np.concatenate([np.full(keep.sum(), _fast._NON), branch])
    pts = _fast._outputs(laws, law, q, branch, lam, noise)
    ok = np.isfinite(pts["alpha"]) & (pts["alpha"] > 0)
    order = np.lexsort((pts["xi"][ok], pts["q"][ok]))
    pts = {k: v[ok][order] for k, v in pts.items()}
    pts["converged"] = laws.batch.converged[pts.pop("law")]
    return pts


def _c_of(kappa: float, kappa_star: float, noise: float, xis: np.ndarray, *,
          keep: bool) -> tuple[np.ndarray, np.ndarray, LawBatch]:
    """``c = alpha - dof`` and ``alpha`` on the ``q = 0`` (non-interpolating) branch at ``lambda = 0``, on kept laws
    (``keep``) or on laws built for this call only (root-finding steps: values not met again)."""
    laws = cached_laws(kappa, kappa_star, xis) if keep else _fresh_laws(kappa, kappa_star, xis)
    n = laws.xi.size
    p = _fast._outputs(laws, np.arange(n), np.zeros(n), np.full(n, _fast._NON), 0.0, noise)
    return p["alpha"] - p["dof"], p["alpha"], laws.batch


def noisy_alpha_inter(kappa: float, kappa_star: float, noise: float, *, steps: int = 2,
                      delta: float = 1e-6) -> float:
    """The noisy interpolation threshold ``alpha_inter(Delta)`` (:func:`qnn.longtime.thresholds.alpha_inter` with
    ``noise > 0``) on batched, kept laws; NaN where that function raises (no sign change of ``c(xi)`` on its grid,
    or a switch below the resolved range of the laws).

    The first sign change of ``c(xi) = alpha - dof`` on the reference's grid (41 values in
    ``[Delta, max(100, 100 Delta)]``, laws kept per ``(kappa*, Delta)``) brackets the root; a cubic through the four
    nearest grid values of ``c`` (in ``log xi``) estimates it (error ~1e-4), then ``steps`` secant steps on pairs
    ``(x, x + delta)`` (two new laws each) square the error each time (~1e-8, then round-off). ``alpha`` is
    interpolated linearly on the last pair.
    """
    if not noise > 0:
        raise ValueError(f"noise must be in (0, inf) for the noisy threshold, got {noise!r}")
    grid = np.geomspace(noise, max(100.0, 100.0 * noise), 41)
    c, _, _ = _c_of(kappa, kappa_star, noise, grid, keep=True)
    change = np.nonzero(c[:-1] * c[1:] <= 0)[0]
    if change.size == 0:
        return math.nan
    i = int(change[0])
    logs = np.log(grid)
    near = slice(max(0, min(i - 1, grid.size - 4)), max(0, min(i - 1, grid.size - 4)) + 4)
    x = _cubic_root(logs[near], c[near], logs[i], logs[i + 1], float(c[i]), float(c[i + 1]))
    alpha = math.nan
    for _ in range(steps):
        pair = np.array([x, x + delta])
        (c0, c1), (a0, a1), batch = _c_of(kappa, kappa_star, noise, np.exp(pair), keep=False)
        if not batch.converged.all():
            return math.nan
        if c1 == c0:
            alpha = float(a0)
            break
        w = -c0 / (c1 - c0)
        alpha = float(a0 + w * (a1 - a0))
        x = float(x + w * delta)
    return alpha


def _cubic_root(xs: np.ndarray, cs: np.ndarray, lo: float, hi: float, c_lo: float, c_hi: float) -> float:
    """The root in ``[lo, hi]`` of the cubic through ``(xs, cs)`` (bisection on it), else the secant's."""
    secant = lo if c_hi == c_lo else (lo * c_hi - hi * c_lo) / (c_hi - c_lo)
    if xs.size < 4:
        return secant
    poly = np.polynomial.Polynomial.fit(xs, cs, 3)
    a, b, fa = lo, hi, float(poly(lo))
    if fa * float(poly(hi)) > 0:
        return secant
    for _ in range(60):
        mid = 0.5 * (a + b)
        fm = float(poly(mid))
        if (fm < 0) == (fa < 0):
            a, fa = mid, fm
        else:
            b = mid
    return 0.5 * (a + b)


def _alpha_at(kappa: float, kappa_star: float, noise: float, log_xi: float) -> float:
    _, alpha, batch = _c_of(kappa, kappa_star, noise, np.array([math.exp(log_xi)]), keep=False)
    return float(alpha[0]) if batch.converged.all() else math.nan


def _fresh_laws(kappa: float, kappa_star: float, xis: np.ndarray) -> _fast._Laws:
    laws = object.__new__(_fast._Laws)
    laws.kappa, laws.batch = kappa, law_batch(float(kappa_star), xis)
    laws.xi, n = laws.batch.xi, xis.size
    laws.omega = np.full(n, -np.inf) if kappa >= 1.0 else laws.batch.upper_quantile(np.arange(n), kappa)
    return laws
