"""Spectral laws of the teacher and of its free convolution with a semicircle (Theory: book/theory/spectral_laws.md).

Conventions
-----------
* ``g(z) = int rho(x) / (z - x) dx`` (Stieltjes transform, ``Im g < 0`` for ``Im z > 0``),
  ``rho(x) = -Im g(x + i0) / pi`` and ``H(x) = Re g(x + i0) = p.v. int rho(y) / (x - y) dy``.
* Teacher ``S* = W* W*^T / m*`` with ``m* = kappa* d``: ``z g^2 - (1 - kappa* + kappa* z) g + kappa* = 0``; a
  Marchenko-Pastur bulk on ``[(1 - 1/sqrt(kappa*))^2, (1 + 1/sqrt(kappa*))^2]`` of mass ``min(1, kappa*)`` plus an
  atom ``1 - kappa*`` at 0 when ``kappa* < 1``.
* ``Y = S* + sqrt(xi) Z_GOE`` (free additive convolution with a semicircle of variance ``xi``): by subordination
  ``g`` solves the cubic ``xi g^3 - (z + kappa* xi) g^2 + (1 - kappa* + kappa* z) g - kappa* = 0``.

Numerics
--------
Inside the support the cubic (real coefficients) has one real root and a complex-conjugate pair; the Stieltjes
root is the member of the pair with ``Im g < 0``. It is obtained in closed form (Cardano, in a cancellation-free
form) for all points at once. The support edges are the real roots of the discriminant of the cubic, a quartic in
``z``; the support has one or two intervals. On each interval ``[lo, hi]`` the substitution
``x = lo + (hi - lo)(1 - cos theta)/2`` removes the square-root edges, and ``rho``, ``rho x``, ``rho x^2``,
``rho H``, ``rho H x`` (times the Jacobian) are expanded in Chebyshev series in ``theta``; their antiderivatives
give every tail integral ``int_b^inf ...`` needed by the fixed point (:mod:`qnn.longtime.fixed_point`) for any cut ``b``
at the cost of a polynomial evaluation. Pieces (degree 128) are bisected until the trailing coefficients fall below
1e-10; intervals are cut first at near-cusps of the density (where two intervals have just merged, located by the
complex roots of the discriminant quartic). Tolerances: mass, mean, second moment and ``int rho H x = 1/2`` are
reproduced to ~1e-13 for ``xi`` in ``[1e-10, 100]``; below ``xi ~ 1e-12`` accuracy degrades (flagged by
:attr:`SpectralLaw.converged`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from numpy.polynomial import chebyshev as _cheb

from ..conventions import check_nonnegative, check_positive
from .teacher import semicircle_density, teacher_atom, teacher_density, teacher_support

__all__ = [
    "SpectralLaw", "spectral_law", "stieltjes", "density", "hilbert_transform", "support",
    "teacher_density", "teacher_atom", "teacher_support", "upper_quantile", "semicircle_density", "near_cusps",
]

_TAIL_TOL = 1e-10        # relative size of the last Chebyshev coefficients accepted as converged
_MIN_DEGREE = 128        # Chebyshev degree of every piece
_MAX_DEPTH = 24          # bisection depth limit
_MAX_PIECES = 400        # total number of Chebyshev pieces per interval
_NEWTON_STEPS = 8        # polishing steps of the closed-form cubic roots


# ----------------------------------------------------------------------------------------------------------------
# The cubic
# ----------------------------------------------------------------------------------------------------------------
def _cubic_coefficients(x: np.ndarray, kappa_star: float, xi: float):
    """Coefficients (a, b, c, d) of ``a g^3 + b g^2 + c g + d`` at real ``x``."""
    a = xi
    b = -(x + kappa_star * xi)
    c = (1.0 - kappa_star) + kappa_star * x
    d = -kappa_star
    return a, b, c, d


def _complex_pair(x: np.ndarray, kappa_star: float, xi: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Real part, |imaginary part| of the complex-conjugate root pair, and the cubic's ``(q/2)^2 + (p/3)^3``.

    Cardano: with ``g = t - b/(3a)`` the cubic becomes ``t^3 + p t + r = 0``. Where ``D = (r/2)^2 + (p/3)^3 > 0``
    there is one real root ``u + v`` and the pair ``-(u + v)/2 +- i sqrt(3)/2 (u - v)`` with
    ``u = cbrt(-r/2 + sqrt D)``, ``v = -p/(3u)``; ``u - v`` is formed without cancellation.
    Where ``D <= 0`` (outside the support) the returned imaginary part is 0.
    """
    a, b, c, d = _cubic_coefficients(x, kappa_star, xi)
    ba = b / a
    p = c / a - ba * ba / 3.0
    r = 2.0 * ba ** 3 / 27.0 - ba * c / (3.0 * a) + d / a
    # D = (r/2)^2 + (p/3)^3 = -Delta / (108 a^4), Delta the discriminant of the cubic. Delta is evaluated as the
    # quartic polynomial in x (well conditioned), not from p and r (catastrophic cancellation when xi is small).
    disc = -_horner(_discriminant_quartic(kappa_star, xi), x) / (108.0 * a ** 4)
    sq = np.sqrt(np.clip(disc, 0.0, None))
    # choose the sign that avoids cancellation in -r/2 +- sqrt(D)
    s = np.where(r > 0, -1.0, 1.0)
    u3 = -r / 2.0 + s * sq
    u = np.cbrt(u3)
    with np.errstate(divide="ignore", invalid="ignore"):
        v = np.where(u != 0, -p / (3.0 * np.where(u != 0, u, 1.0)), np.cbrt(-r / 2.0 - s * sq))
    real_root_t = u + v
    # u - v = (u^3 - v^3)/(u^2 + uv + v^2) with u^3 - v^3 = 2 s sqrt(D)
    den = u * u + u * v + v * v
    with np.errstate(divide="ignore", invalid="ignore"):
        diff = np.where(den > 0, 2.0 * s * sq / np.where(den > 0, den, 1.0), 0.0)
    re = -real_root_t / 2.0 - ba / 3.0
    im = (math.sqrt(3.0) / 2.0) * np.abs(diff)
    # Complex Newton steps on the original cubic repair the cancellation of Cardano's formula when the
    # coefficients are large (small xi); they leave real roots (outside the support) untouched.
    inside = disc > 0
    if np.any(inside):
        g = re[inside] - 1j * im[inside]
        bb, cc = b[inside] if np.ndim(b) else b, c[inside] if np.ndim(c) else c
        for _ in range(_NEWTON_STEPS):
            val = ((a * g + bb) * g + cc) * g + d
            der = (3.0 * a * g + 2.0 * bb) * g + cc
            ok = np.abs(der) > 0
            step = np.where(ok, val / np.where(ok, der, 1.0), 0.0)
            g = g - step
            if np.all(np.abs(step) <= 1e-13 * np.abs(g)):
                break
        re = re.copy()
        im = im.copy()
        re[inside] = g.real
        im[inside] = np.abs(g.imag)
    return re, im, disc


def stieltjes(x: np.ndarray | float, kappa_star: float, xi: float) -> np.ndarray:
    """Boundary value ``g(x + i0)`` of the Stieltjes transform of ``rho_xi`` on the real axis (vectorised).

    Inside the support it is the complex root of the cubic with ``Im g < 0`` (closed form). Outside the support
    the three roots are real; the Stieltjes branch is the one closest to a direct quadrature of
    ``int rho(y)/(x - y) dy`` (the roots are separated by O(1) except next to an edge, where the two merging
    roots are both within the quadrature error of the answer).

    Parameters
    ----------
    x : array_like
        Real points.
    kappa_star : float
        Teacher width ratio, in ``(0, inf)``.
    xi : float
        Semicircle variance, in ``(0, inf)``.
    """
    kappa_star = check_positive("kappa_star", kappa_star)
    xi = check_positive("xi", xi)
    x = np.asarray(x, dtype=float)
    flat = np.atleast_1d(x).ravel()
    re, im, disc = _complex_pair(flat, kappa_star, xi)
    out = re - 1j * im
    outside = ~(disc > 0)
    if np.any(outside):
        xo = flat[outside]
        roots = _real_cubic_roots(xo, kappa_star, xi)
        guess = _hilbert_quadrature(xo, kappa_star, xi)
        k = np.argmin(np.abs(roots - guess[:, None]), axis=1)
        out[outside] = np.take_along_axis(roots, k[:, None], axis=1)[:, 0]
    return out.reshape(x.shape)


def _real_cubic_roots(x: np.ndarray, kappa_star: float, xi: float) -> np.ndarray:
    """All three roots (real parts) of the cubic at each real ``x`` (batched companion eigenvalues)."""
    a, b, c, d = _cubic_coefficients(x, kappa_star, xi)
    comp = np.zeros(x.shape + (3, 3))
    comp[..., 0, 0] = -b / a
    comp[..., 0, 1] = -c / a
    comp[..., 0, 2] = -d / a
    comp[..., 1, 0] = 1.0
    comp[..., 2, 1] = 1.0
    return np.linalg.eigvals(comp).real


def _hilbert_quadrature(x: np.ndarray, kappa_star: float, xi: float, n: int = 400) -> np.ndarray:
    """Coarse ``int rho(y) / (x - y) dy`` for ``x`` off the support (midpoint rule in the edge variable)."""
    total = np.zeros_like(x)
    theta = np.pi * (np.arange(n) + 0.5) / n
    for lo, hi in support(kappa_star, xi):
        y = lo + (hi - lo) * (1.0 - np.cos(theta)) / 2.0
        w = density(y, kappa_star, xi) * (hi - lo) / 2.0 * np.sin(theta) * (np.pi / n)
        diff = x[:, None] - y[None, :]
        safe = np.where(np.abs(diff) > 1e-14, diff, 1e-14)
        total += np.sum(w[None, :] / safe, axis=1)
    return total


@lru_cache(maxsize=4096)
def _discriminant_quartic(kappa_star: float, xi: float) -> np.ndarray:
    """Coefficients (increasing powers of z) of the discriminant of the cubic in g (cached; read-only).

    With ``a = xi``, ``b = -(z + kappa* xi)``, ``c = 1 - kappa* + kappa* z``, ``d = -kappa*``:
    ``Delta = 18 abcd - 4 b^3 d + b^2 c^2 - 4 a c^3 - 27 a^2 d^2``.
    """
    a, d = xi, -kappa_star
    b = np.array([-kappa_star * xi, -1.0])
    c = np.array([1.0 - kappa_star, kappa_star])
    b2, c2 = np.convolve(b, b), np.convolve(c, c)
    out = np.convolve(b2, c2)                                   # degree 4
    out[:3] += 18.0 * a * d * np.convolve(b, c)
    out[:4] += -4.0 * d * np.convolve(b2, b) - 4.0 * a * np.convolve(c2, c)
    out[0] += -27.0 * a * a * d * d
    out.setflags(write=False)
    return out


def _horner(coef: np.ndarray, x):
    """Polynomial with increasing-power coefficients ``coef`` at ``x`` (plain Horner; no numpy.polynomial overhead)."""
    out = coef[-1] * np.ones_like(x) if isinstance(x, np.ndarray) else coef[-1]
    for c in coef[-2::-1]:
        out = out * x + c
    return out


@lru_cache(maxsize=4096)
def _quartic_roots(kappa_star: float, xi: float) -> np.ndarray:
    """Roots of the discriminant quartic (cached; read-only)."""
    roots = np.roots(_discriminant_quartic(kappa_star, xi)[::-1])
    roots.setflags(write=False)
    return roots


@lru_cache(maxsize=4096)
def _support(kappa_star: float, xi: float) -> tuple[tuple[float, float], ...]:
    coef = _discriminant_quartic(kappa_star, xi)
    roots = _quartic_roots(kappa_star, xi)
    scale = max(1.0, float(np.max(np.abs(roots))))
    real = np.sort(roots[np.abs(roots.imag) <= 1e-7 * scale].real)
    intervals: list[list[float]] = []
    for lo, hi in zip(real[:-1], real[1:]):
        if hi - lo <= 1e-12 * scale:
            continue
        if _horner(coef, 0.5 * (lo + hi)) < 0:
            if intervals and abs(intervals[-1][1] - lo) <= 1e-9 * scale:
                intervals[-1][1] = hi
            else:
                intervals.append([lo, hi])
    if not intervals:
        raise ArithmeticError(f"could not locate the support of rho_xi (kappa_star={kappa_star}, xi={xi}); "
                              f"discriminant roots {roots}")
    # polish all edges at once with a few Newton steps on the quartic (steps larger than 1e-6 are rejected)
    edges = np.array(intervals, dtype=float).ravel()
    dcoef = coef[1:] * np.arange(1, 5)
    for _ in range(3):
        dv = _horner(dcoef, edges)
        with np.errstate(divide="ignore", invalid="ignore"):
            step = np.where(dv != 0, _horner(coef, edges) / np.where(dv != 0, dv, 1.0), 0.0)
        ok = np.isfinite(step) & (np.abs(step) <= 1e-6 * scale)
        edges = np.where(ok, edges - step, edges)
    edges = edges.reshape(-1, 2)
    return tuple((float(a), float(b)) for a, b in edges)


def support(kappa_star: float, xi: float) -> tuple[tuple[float, float], ...]:
    """Support of ``rho_xi``: a tuple of one or two intervals ``(lo, hi)``, sorted.

    The edges are the real roots of the discriminant of the cubic (a quartic in ``z``); an interval between two
    consecutive real roots belongs to the support when the discriminant is negative there (complex roots).
    """
    return _support(check_positive("kappa_star", kappa_star), check_positive("xi", xi))


def density(x: np.ndarray | float, kappa_star: float, xi: float) -> np.ndarray:
    """Density ``rho_xi(x) = -Im g(x + i0) / pi`` of ``S* + sqrt(xi) Z_GOE`` (vectorised; 0 off the support).

    ``xi = 0`` returns the teacher's continuous part (:func:`teacher_density`).
    """
    kappa_star = check_positive("kappa_star", kappa_star)
    xi = check_nonnegative("xi", xi)
    if xi == 0.0:
        return teacher_density(x, kappa_star)
    x = np.asarray(x, dtype=float)
    _, im, _ = _complex_pair(np.atleast_1d(x), kappa_star, xi)
    return (im / np.pi).reshape(x.shape)


def hilbert_transform(x: np.ndarray | float, kappa_star: float, xi: float) -> np.ndarray:
    """``H_xi(x) = Re g(x + i0) = p.v. int rho_xi(y) / (x - y) dy`` (vectorised, valid on and off the support)."""
    x = np.asarray(x, dtype=float)
    return np.real(stieltjes(x, kappa_star, xi)).reshape(x.shape)


# ----------------------------------------------------------------------------------------------------------------
# Chebyshev representation of one law (fixed kappa*, xi)
# ----------------------------------------------------------------------------------------------------------------
_MOMENT_NAMES = ("rho", "rho_x", "rho_x2", "rho_h", "rho_hx")


@dataclass(frozen=True)
class _Piece:
    lo: float
    hi: float
    # antiderivatives P_k(t) = int_{-1}^t phi_k, t in [-1, 1]; Chebyshev coefficients, one row per moment
    anti: np.ndarray = field(repr=False)
    totals: np.ndarray = field(repr=False)     # int over the whole piece, per moment
    degree: int = 0
    tail: float = 0.0                           # size of the last coefficients / largest coefficient


def _batch_coefficients(bounds: np.ndarray, kappa_star: float, xi: float, n: int) -> np.ndarray:
    """Chebyshev coefficients (in t, theta = pi (t + 1)/2) of ``rho f (dx/dt)`` for the five moments, for several
    pieces at once: ``bounds`` (k, 2) -> coefficients (k, 5, n). One closed-form cubic solve for all nodes."""
    j = np.arange(n)
    t = np.cos(np.pi * (j + 0.5) / n)          # Chebyshev points of the first kind (interior)
    theta = np.pi * (t + 1.0) / 2.0
    lo, hi = bounds[:, :1], bounds[:, 1:]
    x = lo + (hi - lo) * ((1.0 - np.cos(theta)) / 2.0)
    jac = (hi - lo) * (np.sin(theta) * (np.pi / 4.0))
    re, im, _ = _complex_pair(x.ravel(), kappa_star, xi)
    re, im = re.reshape(x.shape), im.reshape(x.shape)
    w = (im / np.pi) * jac
    wx = w * x
    vals = np.stack([w, wx, wx * x, w * re, wx * re], axis=1)
    return vals @ _chebyshev_transform(n)


@lru_cache(maxsize=8)
def _chebyshev_transform(n: int) -> np.ndarray:
    """Matrix mapping values at the n Chebyshev points of the first kind to Chebyshev coefficients (DCT-II, as a
    matrix product: faster than an FFT call at these sizes)."""
    j = np.arange(n)
    mat = np.cos(np.pi * np.outer(j + 0.5, j) / n) * (2.0 / n)
    mat[:, 0] /= 2.0
    mat.setflags(write=False)
    return mat


def _piece_coefficients(lo: float, hi: float, kappa_star: float, xi: float, n: int) -> np.ndarray:
    """Coefficients (5, n) for one piece (see :func:`_batch_coefficients`)."""
    return _batch_coefficients(np.array([[lo, hi]]), kappa_star, xi, n)[0]


def _antiderivative(coef: np.ndarray) -> np.ndarray:
    """Chebyshev coefficients of ``int_{-1}^t`` along the last axis of ``coef``."""
    n = coef.shape[-1]
    c = np.zeros(coef.shape[:-1] + (n + 2,))
    c[..., :n] = coef
    out = np.zeros(coef.shape[:-1] + (n + 1,))
    k = np.arange(1, n + 1)
    out[..., 1:] = (c[..., :n] - c[..., 2:n + 2]) / (2.0 * k)
    out[..., 1] = c[..., 0] - c[..., 2] / 2.0  # T_0 integrates to T_1
    sign = np.where(np.arange(1, n + 1) % 2 == 0, 1.0, -1.0)
    out[..., 0] = -out[..., 1:] @ sign         # value 0 at t = -1
    return out


def _make_piece(lo: float, hi: float, coef: np.ndarray, tail: float) -> _Piece:
    anti = _antiderivative(coef)
    totals = anti.sum(axis=-1)                 # T_k(1) = 1
    return _Piece(lo=lo, hi=hi, anti=anti, totals=totals, degree=coef.shape[-1], tail=tail)


def _split_points(kappa_star: float, xi: float, intervals: tuple[tuple[float, float], ...]) -> list[list[float]]:
    """Interior points where the density is nearly singular, per interval.

    Where two intervals have just merged, the two edges become a complex-conjugate pair of roots of the
    discriminant quartic close to the real axis; their real part is a near-cusp of the density that limits the
    convergence of a Chebyshev series over the whole interval. Starting with a split there (where the cosine map
    clusters nodes) resolves it with few pieces.

    Exactly at a merger the pair can come out real (a double root, or two real roots a round-off apart that the
    support test does not separate): a real root strictly inside an interval is the same near-cusp and is cut too
    (else the quadrature runs over the cusp and its error jumps to ~1e-3, depending on the last bit of ``xi``).
    """
    roots = _quartic_roots(kappa_star, xi)
    out: list[list[float]] = []
    for lo, hi in intervals:
        width = hi - lo
        pts = sorted(float(r.real) for r in roots
                     if abs(r.imag) < 0.25 * width and lo + 1e-3 * width < r.real < hi - 1e-3 * width)
        out.append(sorted(set(pts)))
    return out


def _build_pieces(intervals: tuple[tuple[float, float], ...], kappa_star: float, xi: float) -> list[_Piece]:
    """Adaptive piecewise Chebyshev representation of the support.

    A piece is accepted when its trailing coefficients are below ``_TAIL_TOL`` times its own leading coefficient or
    times the interval's leading coefficient (scaled by the piece's share of the interval); otherwise it is bisected
    in ``x``. The cosine map clusters nodes at both ends of every piece, so square-root edges and interior cuts are
    both resolved; bisection handles interior near-zeros of the density (two intervals about to merge). All pieces
    of one generation are evaluated together.
    """
    accepted: list[_Piece] = []
    # pending: (a, b, depth, interval index); intervals are first cut at their near-singular points
    pending = []
    for i, ((lo, hi), cuts) in enumerate(zip(intervals, _split_points(kappa_star, xi, intervals))):
        edges = [lo, *cuts, hi]
        pending.extend((a, b, 0, i) for a, b in zip(edges[:-1], edges[1:]))
    scales: dict[int, float] = {}
    while pending:
        coefs = _batch_coefficients(np.array([(a, b) for a, b, _, _ in pending]), kappa_star, xi, _MIN_DEGREE)
        nxt = []
        for (a, b, depth, i), coef in zip(pending, coefs):
            lead = max(float(np.max(np.abs(coef[0]))), 1e-300)
            if depth == 0:
                scales[i] = max(scales.get(i, 0.0), lead)
            lo, hi = intervals[i]
            tail = float(np.max(np.abs(coef[0, -8:])))
            rel = min(tail / lead, tail / max(scales[i] * (b - a) / (hi - lo), 1e-300))
            if rel <= _TAIL_TOL or depth >= _MAX_DEPTH or len(accepted) + len(nxt) >= _MAX_PIECES:
                accepted.append(_make_piece(a, b, coef, rel))
            else:
                mid = 0.5 * (a + b)
                nxt.extend([(a, mid, depth + 1, i), (mid, b, depth + 1, i)])
        pending = nxt
    accepted.sort(key=lambda p: p.lo)
    return accepted


@dataclass(frozen=True)
class SpectralLaw:
    """The law ``rho_xi`` of ``S* + sqrt(xi) Z_GOE`` with its tail integrals precomputed.

    Build with :func:`spectral_law`. All tail integrals ``int_b^inf rho(x) f(x) dx`` for
    ``f in {1, x, x^2, H, H x}`` cost one Chebyshev evaluation for any (array of) cut(s) ``b``.

    Attributes
    ----------
    kappa_star, xi : float
        Parameters of the law.
    intervals : tuple of (lo, hi)
        Support (one or two intervals).
    quadrature_error : float
        Largest relative size of the trailing Chebyshev coefficients (a convergence indicator; ~1e-11 or below
        when fully resolved).
    """

    kappa_star: float
    xi: float
    intervals: tuple[tuple[float, float], ...]
    pieces: tuple[_Piece, ...] = field(repr=False)
    quadrature_error: float = 0.0
    # stacked copies of the pieces (for one vectorised evaluation of all of them)
    _lo: np.ndarray = field(repr=False, default=None)
    _hi: np.ndarray = field(repr=False, default=None)
    _anti: np.ndarray = field(repr=False, default=None)
    _tot: np.ndarray = field(repr=False, default=None)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_lo", np.array([p.lo for p in self.pieces]))
        object.__setattr__(self, "_hi", np.array([p.hi for p in self.pieces]))
        object.__setattr__(self, "_anti", np.stack([p.anti for p in self.pieces]))
        object.__setattr__(self, "_tot", np.stack([p.totals for p in self.pieces]))

    @property
    def converged(self) -> bool:
        """Whether the Chebyshev series resolved the density (trailing coefficients below 1e-8)."""
        return self.quadrature_error < 1e-8

    @property
    def top(self) -> float:
        """Upper edge of the support."""
        return self.intervals[-1][1]

    @property
    def bottom(self) -> float:
        """Lower edge of the support."""
        return self.intervals[0][0]

    def tail_integrals(self, b: np.ndarray | float) -> np.ndarray:
        """``int_b^inf rho f`` for ``f = 1, x, x^2, H, H x`` (rows, in this order), vectorised over ``b``."""
        return self.split_integrals(b)[1]

    def split_integrals(self, b: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
        """``(int_-inf^b rho f, int_b^inf rho f)`` for the five ``f`` of :meth:`tail_integrals`, each summed from
        the pieces on its own side of ``b`` (no cancellation between the two)."""
        b = np.atleast_1d(np.asarray(b, dtype=float)).ravel()
        if b.size > 2048:                       # bound the (pieces, points, degree) work array
            parts = [self.split_integrals(c) for c in np.array_split(b, -(-b.size // 2048))]
            return np.concatenate([p[0] for p in parts], axis=1), np.concatenate([p[1] for p in parts], axis=1)
        lo, hi = self._lo[:, None], self._hi[:, None]
        u = (b[None, :] - lo) / (hi - lo)                      # (pieces, points)
        # pieces entirely above (below) b contribute their totals to the tail (head); only the piece containing b
        # needs its Chebyshev series
        tail = ((u <= 0.0).astype(float).T @ self._tot).T      # (5, points)
        head = ((u >= 1.0).astype(float).T @ self._tot).T
        ip, im = np.nonzero((u > 0.0) & (u < 1.0))
        if ip.size:
            # t = 2 theta/pi - 1 with cos(theta) = 1 - 2u; T_k(t) = cos(k arccos t)
            phi = np.arccos(np.clip(2.0 * np.arccos(1.0 - 2.0 * u[ip, im]) / np.pi - 1.0, -1.0, 1.0))
            basis = np.cos(phi[:, None] * np.arange(self._anti.shape[-1]))
            below = np.einsum("ik,ijk->ij", basis, self._anti[ip])          # (inside, 5)
            np.add.at(head.T, im, below)
            np.add.at(tail.T, im, self._tot[ip] - below)
        return head, tail

    def mass_above(self, b: np.ndarray | float) -> np.ndarray:
        """``int_b^inf rho_xi``."""
        return self.tail_integrals(b)[0]

    def moments(self) -> np.ndarray:
        """Total integrals of ``rho (1, x, x^2, H, H x)``: exactly ``(1, 1, 1 + 1/kappa* + xi, 0, 1/2)``
        (``int rho H x = (1/2)(int rho)^2 = 1/2`` by symmetry of the Hilbert kernel)."""
        return self.tail_integrals(self.bottom - 1.0)[:, 0]

    def upper_quantile(self, mass: float) -> float:
        """The point ``omega`` with ``int_omega^inf rho_xi = mass``, for ``mass in (0, 1)``;
        ``-inf`` for ``mass >= 1``."""
        mass = check_positive("mass", mass)
        if mass >= 1.0:
            return -math.inf
        acc = 0.0
        for piece in reversed(self.pieces):
            tot = float(piece.totals[0])
            if acc + tot >= mass:
                target = tot - (mass - acc)     # P(t) = int_{-1}^t phi_0 must equal this
                return _invert_piece(piece, target)
            acc += tot
        # mass slightly above the numerically integrated total: the quantile is the bottom edge
        return self.bottom

    def density(self, x: np.ndarray | float) -> np.ndarray:
        """``rho_xi(x)`` (see :func:`density`)."""
        return density(x, self.kappa_star, self.xi)

    def hilbert(self, x: np.ndarray | float) -> np.ndarray:
        """``H_xi(x)`` (see :func:`hilbert_transform`)."""
        return hilbert_transform(x, self.kappa_star, self.xi)


def _cheb_eval(t, coef: np.ndarray):
    """Chebyshev series at ``t`` in [-1, 1] through ``T_k(t) = cos(k arccos t)`` (one product, no Clenshaw loop)."""
    phi = np.arccos(np.clip(t, -1.0, 1.0))
    return np.cos(np.multiply.outer(phi, np.arange(coef.shape[-1]))) @ coef


def _invert_piece(piece: _Piece, target: float) -> float:
    """x in the piece with ``int_lo^x rho = target``: bracket on a 33-point grid of t, then safeguarded Newton
    (the derivative of the antiderivative series is the integrand series)."""
    anti0 = piece.anti[0]
    grid = np.linspace(-1.0, 1.0, 33)
    vals = _cheb_eval(grid, anti0) - target
    j = int(np.clip(np.searchsorted(vals, 0.0), 1, grid.size - 1))   # P is non-decreasing in t
    lo, hi = grid[j - 1], grid[j]
    f_lo, f_hi = vals[j - 1], vals[j]
    der = _cheb.chebder(anti0)
    t = lo - f_lo * (hi - lo) / (f_hi - f_lo) if f_hi != f_lo else 0.5 * (lo + hi)
    for _ in range(50):
        ft = float(_cheb_eval(t, anti0)) - target
        if ft == 0.0:
            break
        if ft < 0:
            lo = t
        else:
            hi = t
        dt = float(_cheb_eval(t, der))
        t_new = t - ft / dt if dt > 0 else 0.5 * (lo + hi)
        if not (lo <= t_new <= hi):
            t_new = 0.5 * (lo + hi)
        if abs(t_new - t) <= 1e-15 or hi - lo <= 1e-15:
            t = t_new
            break
        t = t_new
    theta = np.pi * (t + 1.0) / 2.0
    return float(piece.lo + (piece.hi - piece.lo) * (1.0 - math.cos(theta)) / 2.0)


def spectral_law(kappa_star: float, xi: float) -> SpectralLaw:
    """Build the :class:`SpectralLaw` of ``S* + sqrt(xi) Z_GOE``.

    Parameters
    ----------
    kappa_star : float
        Teacher width ratio ``m*/d``, in ``(0, inf)``.
    xi : float
        Variance of the semicircle, in ``(0, inf)``.
    """
    kappa_star = check_positive("kappa_star", kappa_star)
    xi = check_positive("xi", xi)
    intervals = support(kappa_star, xi)
    pieces = _build_pieces(intervals, kappa_star, xi)
    err = max(p.tail for p in pieces)
    return SpectralLaw(kappa_star=kappa_star, xi=xi, intervals=intervals, pieces=tuple(pieces),
                       quadrature_error=err)


def upper_quantile(mass: float, kappa_star: float, xi: float) -> float:
    """Upper ``mass``-quantile ``omega`` of ``rho_xi``: ``int_omega^inf rho_xi = mass`` (``-inf`` if mass >= 1)."""
    return spectral_law(kappa_star, xi).upper_quantile(mass)


def near_cusps(kappa_star: float, xi: float) -> tuple[tuple[float, ...], ...]:
    """Interior points of each support interval where ``rho_xi`` nearly vanishes (two intervals just merged),
    sorted; a quadrature should put piece boundaries there (used by :mod:`qnn.optimal.denoising`)."""
    intervals = support(kappa_star, xi)
    return tuple(tuple(p) for p in _split_points(check_positive("kappa_star", kappa_star), xi, intervals))
