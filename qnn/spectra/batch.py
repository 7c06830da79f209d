"""Spectral laws ``rho_xi`` for many ``xi`` at once: the fast path of the fixed-point solver.

Theory: book/theory/spectral_laws.md. The representation is the one of :class:`qnn.spectra.laws.SpectralLaw` (on each
piece ``[a, b]`` of the support, Chebyshev series in ``t`` with ``x = a + (b - a)(1 - cos theta)/2``,
``theta = pi (t + 1)/2``, of ``rho f dx/dt`` for ``f = 1, x, x^2, H, H x``, and their antiderivatives), but it is
built for a whole array of ``xi`` in a few numpy passes instead of one Python-level construction per ``xi``:

* the discriminant quartics of all laws are formed in closed form and their roots found as eigenvalues of a stack
  of 4 x 4 companion matrices; the support (one or two intervals) and the near-cusp cut points follow from the
  roots' pattern, vectorised over laws;
* every node of every piece of every law goes through one closed-form cubic solve
(:func:`qnn.spectra.laws._complex_pair`
  with one ``xi`` per node);
* pieces have a fixed degree (``_DEGREE``); those whose trailing coefficients are not below ``_TAIL_TOL`` are bisected,
  all laws' pieces of one generation together.

Queries are vectorised over (law, cut) pairs: :meth:`LawBatch.split` returns the integrals below and above each
cut, :meth:`LawBatch.upper_quantile` the rank-cap quantile ``omega``.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from .laws import _antiderivative, _chebyshev_transform

__all__ = ["LawBatch", "law_batch"]

_DEGREE = 48             # Chebyshev degree of every piece
_TAIL_TOL = 1e-9         # accepted size of the last coefficients (relative, as in qnn.spectra.laws)
_GRADING_STEPS = 16      # geometric cuts (ratio 4) on each side of a near-singular point
_MAX_PIECES = 200         # pieces per law beyond which a law is left unresolved (flagged)
_MAX_DEPTH = 24          # bisection depth limit
_NEWTON_STEPS = 8        # polishing steps of the closed-form cubic roots
_CONVERGED = 1e-8        # a law is resolved when its worst piece's trailing coefficients are below this


@lru_cache(maxsize=256)
def _quartic_matrix(kappa_star: float) -> np.ndarray:
    """``M`` with ``quartic coefficient k = sum_j M[k, j] xi^j``: the discriminant of the cubic in ``g`` as a
    polynomial in ``z`` (rows) and ``xi`` (columns), formed by 2-d polynomial products (read-only)."""
    def mul(p, q):
        out = np.zeros((p.shape[0] + q.shape[0] - 1, p.shape[1] + q.shape[1] - 1))
        for i in range(p.shape[0]):
            for j in range(p.shape[1]):
                out[i:i + q.shape[0], j:j + q.shape[1]] += p[i, j] * q
        return out

    def pad(p):
        out = np.zeros((5, 4))
        out[:p.shape[0], :p.shape[1]] = p
        return out
    ks = kappa_star
    a = np.array([[0.0, 1.0]])                  # xi
    b = np.array([[0.0, -ks], [-1.0, 0.0]])     # -(z + kappa* xi)
    c = np.array([[1.0 - ks], [ks]])            # 1 - kappa* + kappa* z
    d = -ks
    b2, c2 = mul(b, b), mul(c, c)
    out = (pad(mul(b2, c2)) + 18.0 * d * pad(mul(a, mul(b, c))) - 4.0 * d * pad(mul(b2, b))
           - 4.0 * pad(mul(a, mul(c2, c))) - 27.0 * d * d * pad(mul(a, a)))
    out.setflags(write=False)
    return out


def quartic_coefficients(kappa_star: float, xi: np.ndarray) -> np.ndarray:
    """Discriminant of the cubic in ``g`` as a quartic in ``z``, for every ``xi``: shape ``(n, 5)``, increasing powers
    (the batched form of :func:`qnn.spectra.laws._discriminant_quartic`)."""
    xi = np.asarray(xi, dtype=float)
    return (xi[:, None] ** np.arange(4)) @ _quartic_matrix(float(kappa_star)).T


def _horner(coef: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Rows of ``coef`` (increasing powers, leading axes broadcast with ``x``) evaluated at ``x``."""
    out = coef[..., -1] * np.ones_like(x)
    for k in range(coef.shape[-1] - 2, -1, -1):
        out = out * x + coef[..., k]
    return out


def _supports(quart: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Support of every law from its quartic: ``(edges (n, 2, 2), two_intervals (n,), z (n,))``.

    ``edges[i, k]`` is interval ``k`` of law ``i`` (for one interval, interval 1 repeats interval 0); ``z[i]`` is a
    complex root of the quartic when the support is one interval (NaN otherwise).
    """
    n = quart.shape[0]
    comp = np.zeros((n, 4, 4))
    comp[:, 0, :] = -quart[:, 3::-1] / quart[:, 4:5]
    comp[:, 1, 0] = comp[:, 2, 1] = comp[:, 3, 2] = 1.0
    roots = np.linalg.eigvals(comp)
    scale = np.maximum(1.0, np.max(np.abs(roots), axis=1))
    is_real = np.abs(roots.imag) <= 1e-7 * scale[:, None]
    n_real = is_real.sum(axis=1)
    real = np.sort(np.where(is_real, roots.real, np.inf), axis=1)
    if np.any((n_real != 2) & (n_real != 4)):
        raise ArithmeticError("could not locate the support of rho_xi (the discriminant quartic has "
                              f"{sorted(set(n_real.tolist()))} real roots)")
    two = n_real == 4
    # four real roots: the quartic (leading coefficient kappa*^2 > 0) is negative on (r0, r1) and (r2, r3); a gap
    # narrower than 1e-9 of the scale is a merging point (one interval)
    merged = two & (real[:, 2] - real[:, 1] <= 1e-9 * scale)
    two = two & ~merged
    edges = np.empty((n, 2, 2))
    edges[:, 0, 0] = real[:, 0]
    edges[:, 0, 1] = np.where(two, real[:, 1], np.where(merged, real[:, 3], real[:, 1]))
    edges[:, 1, 0] = np.where(two, real[:, 2], edges[:, 0, 0])
    edges[:, 1, 1] = np.where(two, real[:, 3], edges[:, 0, 1])
    edges = _polish_edges(quart, edges, scale)
    # two real roots: the complex pair (branch points off the axis) limits the convergence near its real part
    cplx = np.where(is_real, np.nan + 0j, roots)
    z = cplx[np.arange(n), np.argmax(np.abs(cplx.imag) > 0, axis=1)]
    return edges, two, np.where(two | merged, np.nan + 0j, z)


def _polish_edges(quart: np.ndarray, edges: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Three Newton steps on the quartic for every edge (steps larger than 1e-6 of the scale are rejected)."""
    coef = quart[:, None, None, :]
    dcoef = coef[..., 1:] * np.arange(1, 5)
    lim = 1e-6 * scale[:, None, None]
    for _ in range(3):
        dv = _horner(dcoef, edges)
        with np.errstate(divide="ignore", invalid="ignore"):
            step = np.where(dv != 0, _horner(coef, edges) / np.where(dv != 0, dv, 1.0), 0.0)
        ok = np.isfinite(step) & (np.abs(step) <= lim)
        edges = np.where(ok, edges - step, edges)
    return edges


def _stieltjes_inside(x: np.ndarray, kappa_star: float, xi: np.ndarray, quart: np.ndarray):
    """Real part and ``|Im|`` of ``g(x + i0)`` inside the support, one ``xi`` (and quartic) per point: the closed-form
    Cardano pair of :func:`qnn.spectra.laws._complex_pair`, then complex Newton steps on the cubic."""
    a, b, c, d = xi, -(x + kappa_star * xi), (1.0 - kappa_star) + kappa_star * x, -kappa_star
    ba = b / a
    p = c / a - ba * ba / 3.0
    r = 2.0 * ba ** 3 / 27.0 - ba * c / (3.0 * a) + d / a
    disc = -_horner(quart, x) / (108.0 * a ** 4)
    sq = np.sqrt(np.clip(disc, 0.0, None))
    s = np.where(r > 0, -1.0, 1.0)
    u = np.cbrt(-r / 2.0 + s * sq)
    with np.errstate(divide="ignore", invalid="ignore"):
        v = np.where(u != 0, -p / (3.0 * np.where(u != 0, u, 1.0)), np.cbrt(-r / 2.0 - s * sq))
        den = u * u + u * v + v * v
        diff = np.where(den > 0, 2.0 * s * sq / np.where(den > 0, den, 1.0), 0.0)
    g = ((-(u + v) / 2.0 - ba / 3.0) - 1j * (np.sqrt(3.0) / 2.0) * np.abs(diff)).ravel()
    # Newton steps only where the closed form lost digits (large coefficients: small xi)
    a, b, c = (np.broadcast_to(v, x.shape).ravel() for v in (a, b, c))
    idx = np.arange(g.size)
    for _ in range(_NEWTON_STEPS):
        gi, ai, bi, ci = g[idx], a[idx], b[idx], c[idx]
        der = (3.0 * ai * gi + 2.0 * bi) * gi + ci
        ok = np.abs(der) > 0
        step = np.where(ok, (((ai * gi + bi) * gi + ci) * gi + d) / np.where(ok, der, 1.0), 0.0)
        g[idx] = gi - step
        idx = idx[np.abs(step) > 1e-13 * np.abs(gi)]
        if idx.size == 0:
            break
    g = g.reshape(x.shape)
    inside = disc > 0
    return np.where(inside, g.real, 0.0), np.where(inside, np.abs(g.imag), 0.0)


def _coefficients(a: np.ndarray, b: np.ndarray, kappa_star: float, xi: np.ndarray,
                  quart: np.ndarray) -> np.ndarray:
    """Chebyshev coefficients ``(P, 5, _DEGREE)`` of ``rho f dx/dt`` on the pieces ``[a, b]`` (one ``xi`` and quartic
    each)."""
    n = _DEGREE
    t = np.cos(np.pi * (np.arange(n) + 0.5) / n)
    theta = np.pi * (t + 1.0) / 2.0
    lo, hi = a[:, None], b[:, None]
    x = lo + (hi - lo) * ((1.0 - np.cos(theta)) / 2.0)
    jac = (hi - lo) * (np.sin(theta) * (np.pi / 4.0))
    re, im = _stieltjes_inside(x, kappa_star, np.broadcast_to(xi[:, None], x.shape), quart[:, None, :])
    w = (im / np.pi) * jac
    wx = w * x
    vals = np.stack([w, wx, wx * x, w * re, wx * re], axis=1)
    return vals @ _chebyshev_transform(n)


def _initial_pieces(edges: np.ndarray, two: np.ndarray, z: np.ndarray):
    """Pieces of every law before bisection: ``(law, a, b, interval id)`` arrays (interval ids are global).

    Each interval is cut geometrically (ratio 4) towards the point nearest to the singularity that limits the
    convergence of its Chebyshev series, down to the singularity's distance ``delta``: the real part of a complex
    pair of branch points (a near-cusp where two intervals have merged, or the hard edge at 0 of ``kappa* = 1``),
    or, for two intervals, the facing edge of the other one across the gap. So one generation resolves the law.
    """
    n = edges.shape[0]
    lo = np.concatenate([edges[:, 0, 0], edges[:, 1, 0]])
    hi = np.concatenate([edges[:, 0, 1], edges[:, 1, 1]])
    use = np.concatenate([np.ones(n, dtype=bool), two])
    gap = edges[:, 1, 0] - edges[:, 0, 1]
    c = np.concatenate([np.where(two, edges[:, 0, 1], np.clip(z.real, edges[:, 0, 0], edges[:, 0, 1])),
                        edges[:, 1, 0]])
    dist = np.maximum(z.real - edges[:, 0, 1], edges[:, 0, 0] - z.real).clip(0.0)
    delta = np.concatenate([np.where(two, gap, np.abs(z.imag) + dist), gap])
    width = hi - lo
    graded = np.isfinite(delta) & (delta < 0.05 * width)
    cusp = ~graded & np.isfinite(delta) & (delta < 0.25 * width)      # one cut, as qnn.spectra.laws does
    k = 4.0 ** np.arange(_GRADING_STEPS)
    offsets = np.concatenate([-k[::-1], [0.0], k])
    cuts = c[:, None] + np.where(graded[:, None], delta[:, None] * offsets, np.where(offsets == 0.0, 0.0, np.nan))
    margin = 1e-3 * np.where(graded, delta, width)[:, None]
    inside = (cuts > lo[:, None] + margin) & (cuts < hi[:, None] - margin) & (graded | cusp)[:, None]
    pts = np.sort(np.concatenate([lo[:, None], np.where(inside, cuts, np.nan), hi[:, None]], axis=1), axis=1)
    a, b = pts[:, :-1], pts[:, 1:]
    ok = np.isfinite(a) & np.isfinite(b) & use[:, None]
    row = np.nonzero(ok)[0]
    ivl = np.where(row < n, 2 * row, 2 * (row - n) + 1)
    return ivl // 2, a[ok], b[ok], ivl


class LawBatch:
    """The laws ``rho_xi`` of ``S* + sqrt(xi) Z_GOE`` for an array of ``xi`` (build with :func:`law_batch`).

    Attributes
    ----------
    kappa_star : float
    xi : ndarray
        One value per law.
    top, bottom : ndarray
        Upper and lower edges of each support.
    quadrature_error : ndarray
        Largest relative size of the trailing Chebyshev coefficients of each law's pieces.
    """

    def __init__(self, kappa_star: float, xi: np.ndarray, edges: np.ndarray, pieces: tuple, anti: np.ndarray,
                 tail: np.ndarray, rho: np.ndarray) -> None:
        self.kappa_star = kappa_star
        self.xi = xi
        self.bottom = edges[:, 0, 0].copy()
        self.top = edges[:, 1, 1].copy()
        law_i, a, b = pieces
        order = np.lexsort((a, law_i))
        law_i, a, b, anti, tail = law_i[order], a[order], b[order], anti[order], tail[order]
        self._rho = rho[order]                           # integrand series of the mass (derivative of anti[0])
        n = xi.size
        counts = np.bincount(law_i, minlength=n)
        width = int(counts.max())
        start = np.concatenate([[0], np.cumsum(counts)[:-1]])
        col = np.arange(law_i.size) - start[law_i]
        self.quadrature_error = np.zeros(n)
        np.maximum.at(self.quadrature_error, law_i, tail)
        self._lo = np.full((n, width), np.inf)
        self._hi = np.full((n, width), np.inf)
        self._lo[law_i, col], self._hi[law_i, col] = a, b
        self._anti = anti                                # flat: piece start[law] + j
        self._start = start
        tot = np.zeros((n, width, 5))
        tot[law_i, col] = anti.sum(axis=-1)             # T_k(1) = 1
        self._tot = tot
        zero = np.zeros((n, 1, 5))
        self._before = np.concatenate([zero, np.cumsum(tot, axis=1)], axis=1)           # sum over pieces < j
        self._after = np.concatenate([np.cumsum(tot[:, ::-1], axis=1)[:, ::-1], zero], axis=1)   # pieces >= j
        self._last = counts - 1

    @property
    def converged(self) -> np.ndarray:
        """Per law: whether the Chebyshev series resolved the density."""
        return self.quadrature_error < _CONVERGED

    def _locate(self, law: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Piece index ``j`` (the last piece starting below ``b``, at least 0) and the position ``t`` of ``b`` in it
        (clipped to ``[-1, 1]``)."""
        j = np.maximum(np.sum(self._lo[law] < b[:, None], axis=1) - 1, 0)
        lo, hi = self._lo[law, j], self._hi[law, j]
        u = np.clip((b - lo) / (hi - lo), 0.0, 1.0)
        return j, 2.0 * np.arccos(1.0 - 2.0 * u) / np.pi - 1.0

    def split(self, law: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(int_-inf^b rho f, int_b^inf rho f)``, each ``(5, m)``, for ``f = 1, x, x^2, H, H x`` and the pairs
        ``(law[i], b[i])``; each side is summed from its own pieces (no cancellation between the two)."""
        law = np.asarray(law, dtype=int)
        b = np.asarray(b, dtype=float)
        j, t = self._locate(law, b)
        basis = np.cos(np.arccos(np.clip(t, -1.0, 1.0))[:, None] * np.arange(self._anti.shape[-1]))
        part = np.einsum("ik,ijk->ij", basis, self._anti[self._start[law] + j])
        # b at or beyond an end of its piece: the piece's exact total (or nothing), as SpectralLaw.split_integrals
        # does, so that a cut above the support leaves an exactly empty tail (rank 0, not -3e-17)
        part = np.where((t >= 1.0)[:, None], self._tot[law, j], np.where((t <= -1.0)[:, None], 0.0, part))
        head = self._before[law, j] + part
        tail = self._after[law, j + 1] + (self._tot[law, j] - part)
        return head.T, tail.T

    def upper_quantile(self, law: np.ndarray, mass: float) -> np.ndarray:
        """``omega`` with ``int_omega^inf rho = mass`` for each law in ``law`` (``mass`` in ``(0, 1)``)."""
        law = np.asarray(law, dtype=int)
        after = self._after[law, :, 0]                   # mass of the pieces >= j
        j = np.clip(np.sum(after >= mass, axis=1) - 1, 0, self._last[law])
        target = self._tot[law, j, 0] - (mass - after[np.arange(law.size), j + 1])
        piece = self._start[law] + j
        t = _invert(self._anti[piece, 0], self._rho[piece], target)
        lo, hi = self._lo[law, j], self._hi[law, j]
        x = lo + (hi - lo) * (1.0 - np.cos(np.pi * (t + 1.0) / 2.0)) / 2.0
        return np.where(target <= 0.0, lo, x)


def _invert(anti: np.ndarray, der: np.ndarray, target: np.ndarray) -> np.ndarray:
    """``t`` in ``[-1, 1]`` with ``P(t) = target`` for the non-decreasing Chebyshev series ``P`` (rows of ``anti``;
    ``der`` its derivative series): bracket on a 33-point grid, then safeguarded Newton, vectorised over rows."""
    k = np.arange(anti.shape[-1])
    grid = np.linspace(-1.0, 1.0, 33)
    vals = np.cos(np.arccos(grid)[:, None] * k) @ anti.T - target            # (33, m)
    cols = np.arange(target.size)
    idx = np.clip(np.sum(vals < 0.0, axis=0), 1, grid.size - 1)
    lo, hi = grid[idx - 1], grid[idx]
    f_lo, f_hi = vals[idx - 1, cols], vals[idx, cols]
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(f_hi != f_lo, lo - f_lo * (hi - lo) / (f_hi - f_lo), 0.5 * (lo + hi))
    t = np.clip(t, lo, hi)
    kd = np.arange(der.shape[-1])
    for _ in range(30):
        phi = np.arccos(np.clip(t, -1.0, 1.0))
        ft = np.einsum("ik,ik->i", np.cos(phi[:, None] * k), anti) - target
        lo, hi = np.where(ft < 0, t, lo), np.where(ft < 0, hi, t)
        dt = np.einsum("ik,ik->i", np.cos(phi[:, None] * kd), der)
        with np.errstate(divide="ignore", invalid="ignore"):
            t_new = np.where(dt > 0, t - ft / dt, 0.5 * (lo + hi))
        t_new = np.where((t_new < lo) | (t_new > hi), 0.5 * (lo + hi), t_new)
        done = (np.abs(t_new - t) <= 1e-15) | (hi - lo <= 1e-15) | (ft == 0)
        t = np.where(ft == 0, t, t_new)
        if np.all(done):
            break
    return t


def law_batch(kappa_star: float, xi: np.ndarray) -> LawBatch:
    """Build the laws ``rho_xi`` for every ``xi`` (1-d array of values in ``(0, inf)``) at one ``kappa*``."""
    xi = np.atleast_1d(np.asarray(xi, dtype=float))
    if xi.ndim != 1 or xi.size == 0 or not np.all(np.isfinite(xi) & (xi > 0)):
        raise ValueError(f"xi must be a non-empty 1-d array of values in (0, inf), got {xi!r}")
    quart = quartic_coefficients(kappa_star, xi)
    edges, two, z = _supports(quart)
    law_i, a, b, ivl = _initial_pieces(edges, two, z)
    ivl_lo = np.where(ivl % 2 == 0, edges[ivl // 2, 0, 0], edges[ivl // 2, 1, 0])
    ivl_hi = np.where(ivl % 2 == 0, edges[ivl // 2, 0, 1], edges[ivl // 2, 1, 1])
    scales = np.zeros(2 * xi.size)
    depth = np.zeros(law_i.size, dtype=int)
    done_law, done_a, done_b, done_anti, done_tail, done_rho = [], [], [], [], [], []
    first = True
    while law_i.size:
        coef = _coefficients(a, b, kappa_star, xi[law_i], quart[law_i])
        lead = np.maximum(np.max(np.abs(coef[:, 0]), axis=1), 1e-300)
        if first:
            np.maximum.at(scales, ivl, lead)
            first = False
        tail = np.max(np.abs(coef[:, 0, -8:]), axis=1)
        ref = np.maximum(scales[ivl] * (b - a) / (ivl_hi - ivl_lo), 1e-300)
        rel = np.minimum(tail / lead, tail / ref)
        pieces = np.bincount(law_i, minlength=xi.size) + (np.bincount(np.concatenate(done_law), minlength=xi.size)
                                                       if done_law else 0)
        accept = (rel <= _TAIL_TOL) | (depth >= _MAX_DEPTH) | (pieces[law_i] >= _MAX_PIECES)
        for store, value in zip((done_law, done_a, done_b, done_anti, done_tail, done_rho),
                                (law_i, a, b, _antiderivative(coef), rel, coef[:, 0])):
            store.append(value[accept])
        keep = ~accept
        mid = 0.5 * (a[keep] + b[keep])
        law_i = np.concatenate([law_i[keep], law_i[keep]])
        a, b = np.concatenate([a[keep], mid]), np.concatenate([mid, b[keep]])
        ivl, ivl_lo, ivl_hi = (np.concatenate([v[keep], v[keep]]) for v in (ivl, ivl_lo, ivl_hi))
        depth = np.concatenate([depth[keep], depth[keep]]) + 1
    pieces = (np.concatenate(done_law), np.concatenate(done_a), np.concatenate(done_b))
    return LawBatch(kappa_star, xi, edges, pieces, np.concatenate(done_anti), np.concatenate(done_tail),
                    np.concatenate(done_rho))

