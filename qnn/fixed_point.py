"""Long-time fixed point of gradient flow (THEORY.md section 3; FIGURES.md section 2).

With ``Y = S* + sqrt(xi) Z_GOE`` (law ``rho_xi``, Hilbert transform ``H``; :mod:`qnn.spectral`) the limit of
gradient flow is ``S_hat = sum_{nu_i > b} (nu_i - q) v_i v_i^T`` over the eigenpairs of ``Y``, with
``b = max(q, omega)``, ``omega`` the upper ``min(kappa, 1)``-quantile of ``rho_xi`` (``-inf`` if ``kappa >= 1``).
With the tail integrals

    I   = int_b^inf rho_xi(x) H(x) (x - q) dx                    (degrees of freedom per d^2)
    MSE = 1 + 1/kappa* + int_b^inf rho_xi(x) (q^2 - x^2) dx + 4 xi I

the two unknowns ``(xi, q)`` solve

    xi = (MSE + Delta/2) / (2 alpha),     q chi = lambda,     chi = 1 - I/alpha.

Eliminating ``alpha`` gives the *xi-parametrisation* used throughout: at fixed ``xi`` the cut ``q`` solves

    F(q; xi) = 1 - lambda/q - 2 xi I / (MSE + Delta/2) = 0,       then  alpha = (MSE + Delta/2) / (2 xi).

All roots ``q`` of ``F`` at one ``xi`` cost one spectral law plus polynomial evaluations. With label noise and
small ``lambda`` the curve ``{F = 0}`` folds in ``xi`` (S-shaped ``q(xi)``, Figure 15) but stays a graph over
``q``; ordering the points by ``q`` follows the fold, and ``alpha`` is monotone along it (checked: a
non-monotone curve is reported, never silently resolved).

``lambda = 0`` means the limit ``lambda -> 0+`` with its two branches:

* interpolating (``chi = 0``, ``q > 0``): ``F_0(q; xi) = 1 - 2 xi I / (MSE + Delta/2) = 0``, ``alpha = I``;
* non-interpolating (``q = 0``): ``alpha = (MSE + Delta/2)/(2 xi)``, physical where ``c = alpha - I > 0``,
  ``chi = c/alpha``.

At each ``xi`` the curve has the ``q = 0`` point when ``c(xi) > 0`` and every interpolating root; ordered by
``(q, xi)`` they form one curve along which ``alpha`` decreases (the switch is at ``c = 0``, ``q = 0+``). With
``Delta = 0`` the MSE reaches 0 at ``alpha_PR+`` (:func:`qnn.thresholds.alpha_pr_plus`), above which the fixed
point is the teacher itself (``branch = "perfect_recovery"``).

Outputs: ``Loss_train = (2 MSE + Delta) chi^2 / 4`` (= ``lambda^2 alpha xi / q^2``),
``ISE = [(2 MSE + Delta) chi^2 + Delta (1 - 2 chi)] / 4``, rank fraction ``kappa_min = int_b^inf rho_xi``.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from scipy.optimize import brentq, root

from .conventions import Setting, check_positive
from .spectral import SpectralLaw, density, spectral_law

__all__ = ["FixedPoint", "FixedPointCurve", "fixed_point", "fixed_point_curve", "xi_branch",
           "estimator_density", "EstimatorDensity", "FixedPointError"]

XI_MIN = 1e-12            # smallest xi the solver visits (below it the law is resolved to ~1e-6 only)
XI_MAX = 1e6
_N_Q_GRID = 48            # points of the q-scan used to bracket every root of F(q; xi)


class FixedPointError(RuntimeError):
    """Raised when the fixed-point equations cannot be solved to tolerance (the message says why)."""


@dataclass(frozen=True)
class FixedPoint:
    """Long-time fixed point of gradient flow (THEORY.md section 3) at one :class:`~qnn.Setting`.

    Attributes
    ----------
    setting : Setting
        The parameters (``lam = 0`` means the limit ``lambda -> 0+``).
    mse : float
        ``lim |S_hat - S*|_F^2 / d``.
    loss : float
        Training loss (no regulariser) ``(2 MSE + Delta) chi^2 / 4``.
    ise : float
        In-sample error against the clean labels ``[(2 MSE + Delta) chi^2 + Delta (1 - 2 chi)] / 4``.
    xi : float
        Variance of the effective noise, ``(MSE + Delta/2) / (2 alpha)``.
    q : float
        Soft threshold.
    chi : float
        ``1 - I/alpha`` (``q chi = lambda``). NaN only on the ``"perfect_recovery"`` branch, where the
        ``lambda -> 0+`` limit does not determine it.
    rank : float
        ``kappa_min = int_b^inf rho_xi``: rank of ``S_hat`` divided by ``d``.
    dof : float
        ``I``, degrees of freedom of the estimator per ``d^2``.
    cut : float
        ``b = max(q, omega)``.
    omega : float
        Upper ``min(kappa, 1)``-quantile of ``rho_xi`` (``-inf`` when ``kappa >= 1``).
    branch : str
        ``"regularised"`` (lam > 0), ``"interpolating"``, ``"non_interpolating"`` or ``"perfect_recovery"``
        (lam = 0).
    converged : bool
        Whether the equations are satisfied to ``residual <= 1e-8`` with a resolved spectral law.
    reason : str
        Empty when converged; otherwise why not.
    residual : float
        Largest absolute residual of the two equations (relative form).
    """

    setting: Setting
    mse: float
    loss: float
    ise: float
    xi: float
    q: float
    chi: float
    rank: float
    dof: float
    cut: float
    omega: float
    branch: str
    converged: bool = True
    reason: str = ""
    residual: float = 0.0

    @property
    def kappa_min(self) -> float:
        """Alias of :attr:`rank`."""
        return self.rank

    @property
    def test_error(self) -> float:
        """The network's population test error ``E (f - f*)^2 = 2 MSE``."""
        return 2.0 * self.mse


@dataclass(frozen=True)
class FixedPointCurve:
    """Fixed points along a curve (arrays of equal length; see :class:`FixedPoint` for the meaning).

    ``alpha`` is the sample ratio at each point; for :func:`xi_branch` it is an output. ``branch`` holds one label
    per point; ``converged`` one flag per point.
    """

    setting: Setting
    alpha: np.ndarray
    mse: np.ndarray
    loss: np.ndarray
    ise: np.ndarray
    xi: np.ndarray
    q: np.ndarray
    chi: np.ndarray
    rank: np.ndarray
    dof: np.ndarray
    branch: tuple[str, ...] = field(default=())
    converged: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))

    def __len__(self) -> int:
        return int(self.alpha.size)

    def point(self, i: int) -> FixedPoint:
        """The ``i``-th point as a :class:`FixedPoint` (``cut`` and ``omega`` are not stored along curves: NaN)."""
        return FixedPoint(setting=self.setting.replace(alpha=float(self.alpha[i])), mse=float(self.mse[i]),
                          loss=float(self.loss[i]), ise=float(self.ise[i]), xi=float(self.xi[i]),
                          q=float(self.q[i]), chi=float(self.chi[i]), rank=float(self.rank[i]),
                          dof=float(self.dof[i]), cut=math.nan, omega=math.nan, branch=self.branch[i],
                          converged=bool(self.converged[i]))


# ----------------------------------------------------------------------------------------------------------------
# Evaluation at fixed (xi, q)
# ----------------------------------------------------------------------------------------------------------------
@lru_cache(maxsize=2048)
def _law(kappa_star: float, xi: float) -> SpectralLaw:
    return spectral_law(kappa_star, xi)


@lru_cache(maxsize=2048)
def _omega(kappa_star: float, xi: float, kappa: float) -> float:
    if kappa >= 1.0:
        return -math.inf
    return _law(kappa_star, xi).upper_quantile(kappa)


def _evaluate(kappa: float, kappa_star: float, xi: float, q: np.ndarray) -> dict[str, np.ndarray]:
    """I, MSE, rank at fixed xi for an array of q (vectorised through the law's tail integrals)."""
    law = _law(kappa_star, xi)
    omega = _omega(kappa_star, xi, kappa)
    q = np.atleast_1d(np.asarray(q, dtype=float))
    cut = np.maximum(q, omega)
    a0, _, a2, ah, ahx = law.tail_integrals(cut)
    dof = ahx - q * ah
    mse = 1.0 + 1.0 / kappa_star + q * q * a0 - a2 + 4.0 * xi * dof
    # q-derivatives at fixed xi (the boundary terms vanish both for cut = q, where x - q = 0, and cut = omega):
    # dI/dq = -int_b rho H,  dMSE/dq = 2 q int_b rho - 4 xi int_b rho H
    return {"dof": dof, "mse": mse, "rank": a0, "cut": cut, "omega": np.full_like(q, omega),
            "ddof": -ah, "dmse": 2.0 * q * a0 - 4.0 * xi * ah}


def _f_value(kappa: float, kappa_star: float, xi: float, q: np.ndarray, lam: float, noise: float,
             derivative: bool = False):
    """``F(q; xi) = 1 - lambda/q - 2 xi I/(MSE + Delta/2)`` (and ``dF/dq`` with ``derivative``)."""
    ev = _evaluate(kappa, kappa_star, xi, q)
    q = np.atleast_1d(q)
    reg = lam / q if lam > 0 else 0.0
    m = ev["mse"] + noise / 2.0
    f = 1.0 - reg - 2.0 * xi * ev["dof"] / m
    if not derivative:
        return f
    df = (lam / (q * q) if lam > 0 else 0.0) - 2.0 * xi * (ev["ddof"] * m - ev["dof"] * ev["dmse"]) / (m * m)
    return f, df


def _bracketed_newton(fun, lo: float, hi: float, f_lo: float, f_hi: float, rtol: float = 1e-14,
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


def _q_roots(kappa: float, kappa_star: float, xi: float, lam: float, noise: float) -> list[float]:
    """All roots ``q > 0`` of ``F(q; xi)`` (``lam > 0``) or ``F_0`` (``lam = 0``), ascending."""
    law = _law(kappa_star, xi)
    top = law.top
    if lam > 0:
        lo, hi = lam, max(lam, top) * (1.0 + 1e-12)
        if hi <= lo * (1.0 + 1e-12):           # lam above the spectrum: S_hat = 0, q = lam
            return [lam]
        grid = np.geomspace(lo, hi, _N_Q_GRID)
    else:
        grid = np.geomspace(top * 1e-9, top, _N_Q_GRID)
    vals = _f_value(kappa, kappa_star, xi, grid, lam, noise)
    roots: list[float] = []
    if lam > 0 and vals[0] == 0.0:
        roots.append(float(grid[0]))
    sign = np.sign(vals)
    idx = np.nonzero(sign[:-1] * sign[1:] < 0)[0]
    def fun(qq: float) -> tuple[float, float]:
        f, df = _f_value(kappa, kappa_star, xi, np.array([qq]), lam, noise, derivative=True)
        return float(f[0]), float(df[0])

    for i in idx:
        roots.append(_bracketed_newton(fun, float(grid[i]), float(grid[i + 1]), float(vals[i]), float(vals[i + 1])))
    return roots


def _point(kappa: float, kappa_star: float, xi: float, q: float, lam: float, noise: float,
           branch: str) -> dict[str, float]:
    """All outputs at one (xi, q) on the curve (alpha read off the xi equation)."""
    ev = _evaluate(kappa, kappa_star, xi, np.array([q]))
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


def _points_at_xi(kappa: float, kappa_star: float, xi: float, lam: float, noise: float) -> list[dict]:
    """Every curve point at this xi (several where the curve folds)."""
    if lam > 0:
        return [_point(kappa, kappa_star, xi, q, lam, noise, "regularised")
                for q in _q_roots(kappa, kappa_star, xi, lam, noise)]
    # lambda -> 0+: the q = 0 point where c > 0, and every interpolating root (with noise, the interpolating branch
    # starts at q = 0+ where c = 0 and runs back to smaller xi, so both kinds coexist there)
    zero = _point(kappa, kappa_star, xi, 0.0, 0.0, noise, "non_interpolating")
    out = [zero] if zero["chi"] > 0 else []
    return out + [_point(kappa, kappa_star, xi, q, 0.0, noise, "interpolating")
                  for q in _q_roots(kappa, kappa_star, xi, 0.0, noise)]


# ----------------------------------------------------------------------------------------------------------------
# Tracing the curve
# ----------------------------------------------------------------------------------------------------------------
def _order(points: list[dict]) -> list[dict]:
    """Order curve points along the curve: by decreasing alpha proxy = increasing (q, xi) on the graph over q.

    On the ``lambda = 0`` curve the non-interpolating points (q = 0) come first, ordered by increasing xi.
    """
    return sorted(points, key=lambda p: (p["q"], p["xi"]))


def _trace(kappa: float, kappa_star: float, lam: float, noise: float, xis: np.ndarray) -> list[dict]:
    pts: list[dict] = []
    for xi in xis:
        pts.extend(_points_at_xi(kappa, kappa_star, float(xi), lam, noise))
    return _order(pts)


def _gap(a: dict, b: dict) -> float:
    """Distance between neighbouring curve points (mostly in log alpha; log xi matters around folds)."""
    return abs(math.log(a["alpha"] / b["alpha"])) + 0.25 * abs(math.log(a["xi"] / b["xi"]))


def _refine_gaps(kappa: float, kappa_star: float, lam: float, noise: float, pts: list[dict],
                 max_log_gap: float, rounds: int = 8) -> list[dict]:
    """Insert points where consecutive points are far apart: the geometric-mean xi between two points of
    different xi; around a fold (same xi, or a midpoint that did not close the gap) a widened scan of 5 xi."""
    tried: set[tuple[float, ...]] = set()
    for _ in range(rounds):
        new_xis: set[float] = set()
        new_pts: list[dict] = []
        for j, (a, b) in enumerate(zip(pts[:-1], pts[1:])):
            if _gap(a, b) <= max_log_gap:
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
                p = _point_at_q(kappa, kappa_star, lam, noise, math.sqrt(a["q"] * b["q"]), a["xi"], direction)
            if p is not None:
                new_pts.append(p)
            else:
                lo, hi = sorted((a["xi"], b["xi"]))
                lo, hi = max(lo / 1.3, XI_MIN), min(hi * 1.3, XI_MAX)
                new_xis.update(float(x) for x in np.geomspace(lo, hi, 7)[1:-1])
        if not new_xis and not new_pts:
            break
        extra = _trace(kappa, kappa_star, lam, noise, np.array(sorted(new_xis))) if new_xis else []
        pts = _order(pts + new_pts + extra)
    return pts


def _point_at_q(kappa: float, kappa_star: float, lam: float, noise: float, q: float, xi0: float,
                direction: float) -> dict | None:
    """The curve point with cut ``q`` (``F(q; xi) = 0`` solved for ``xi``), searching from ``xi0`` in
    ``direction`` (+1 or -1 in log xi); ``None`` if no sign change within a factor e."""
    lam_eff = lam if lam > 0 else 0.0
    g = lambda x: float(_f_value(kappa, kappa_star, math.exp(x), np.array([q]), lam_eff, noise)[0])  # noqa: E731
    x0 = math.log(xi0)
    g0 = g(x0)
    step = 0.005
    while step < 1.0:
        x1 = x0 + direction * step
        g1 = g(x1)
        if g0 * g1 <= 0:
            lo, hi = sorted((x0, x1))
            x = brentq(g, lo, hi, xtol=1e-12)
            return _point(kappa, kappa_star, math.exp(x), q, lam, noise,
                          "regularised" if lam > 0 else "interpolating")
        x0, g0, step = x1, g1, step * 2.0
    return None


def _check_monotone(pts: list[dict]) -> str:
    al = np.array([p["alpha"] for p in pts])
    if al.size > 1 and np.any(np.diff(al) > 1e-9 * al[1:]):
        worst = int(np.argmax(np.diff(al)))
        return (f"alpha is not monotone along the traced curve near alpha = {al[worst]:.6g} (several fixed "
                f"points at the same alpha)")
    return ""


def _as_curve(setting: Setting, pts: list[dict], converged: np.ndarray | None = None) -> FixedPointCurve:
    arr = {k: np.array([p[k] for p in pts], dtype=float)
           for k in ("alpha", "mse", "loss", "ise", "xi", "q", "chi", "rank", "dof")}
    conv = np.ones(len(pts), dtype=bool) if converged is None else converged
    return FixedPointCurve(setting=setting, branch=tuple(p["branch"] for p in pts), converged=conv, **arr)


def xi_branch(setting: Setting, xis: np.ndarray | None = None, refine: bool = True) -> FixedPointCurve:
    """The fixed-point curve parametrised by ``xi`` (FIGURES.md Figure 15: ``q`` and MSE along ``xi``).

    At each ``xi`` every root ``q`` of ``F(q; xi) = 0`` is found (one, or three inside a fold), and ``alpha`` is
    read off ``alpha = (MSE + Delta/2)/(2 xi)``; ``setting.alpha`` is ignored. Points are returned in order along
    the curve (increasing ``q``), which follows the fold; with ``refine`` extra ``xi`` values are inserted where
    consecutive points are far apart, so that the fold is drawn smoothly.

    Parameters
    ----------
    setting : Setting
        ``kappa``, ``kappa_star``, ``noise``, ``lam`` are used.
    xis : array_like, optional
        Values of ``xi`` (default: 200 log-spaced values in ``[10^-0.6, 30]``), each in ``[1e-12, 1e6]``.
    refine : bool
        Insert points around folds.
    """
    if xis is None:
        xis = np.geomspace(10 ** -0.6, 30.0, 200)
    xis = np.atleast_1d(np.asarray(xis, dtype=float))
    if xis.size == 0 or np.any(~np.isfinite(xis)) or np.any(xis < XI_MIN) or np.any(xis > XI_MAX):
        raise ValueError(f"xis must be non-empty, finite, in [{XI_MIN}, {XI_MAX}]")
    pts = _trace(setting.kappa, setting.kappa_star, setting.lam, setting.noise, xis)
    if refine:
        pts = _refine_gaps(setting.kappa, setting.kappa_star, setting.lam, setting.noise, pts, 0.15)
    return _as_curve(setting, pts)


# ----------------------------------------------------------------------------------------------------------------
# Fixed alpha
# ----------------------------------------------------------------------------------------------------------------
def _perfect_recovery_point(setting: Setting) -> FixedPoint:
    return FixedPoint(setting=setting, mse=0.0, loss=0.0, ise=0.0, xi=0.0, q=0.0, chi=math.nan,
                      rank=min(setting.kappa_star, 1.0), dof=math.nan, cut=0.0, omega=math.nan,
                      branch="perfect_recovery")


def _xi_guess_range(setting: Setting) -> tuple[float, float]:
    alpha, noise = setting.alpha, setting.noise
    mse0 = setting.teacher_second_moment
    hi = (4.0 * mse0 + noise) / (2.0 * alpha)
    lo = max(XI_MIN, (noise / 2.0 + 1e-6 * mse0) / (2.0 * alpha) * 0.5) if noise > 0 else 1e-8
    return lo, max(hi, 4 * lo)


def _bracketing_points(setting: Setting, n: int) -> tuple[list[dict], int | None]:
    """Trace a coarse curve wide enough to bracket ``setting.alpha``; index i with alpha_i >= target > alpha_i+1."""
    k, ks, lam, noise, target = setting.kappa, setting.kappa_star, setting.lam, setting.noise, setting.alpha
    lo, hi = _xi_guess_range(setting)
    pts = _trace(k, ks, lam, noise, np.geomspace(lo, hi, n))
    for _ in range(40):
        al = [p["alpha"] for p in pts]
        if al and max(al) < target and lo > XI_MIN:
            lo_new = max(XI_MIN, lo / 30.0)
            pts = _order(pts + _trace(k, ks, lam, noise, np.geomspace(lo_new, lo, 5)[:-1]))
            lo = lo_new
            continue
        if al and min(al) > target and hi < XI_MAX:
            hi_new = min(XI_MAX, hi * 10.0)
            pts = _order(pts + _trace(k, ks, lam, noise, np.geomspace(hi, hi_new, 4)[1:]))
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
    ev = _evaluate(setting.kappa, setting.kappa_star, xi, np.array([q]))
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
            p = _point(k, ks, math.exp(logxi), 0.0, 0.0, noise, branch)
            return math.log(p["alpha"] / setting.alpha)
        x0 = math.log(guess["xi"])
        lo, hi = x0 - 0.05, x0 + 0.05
        for _ in range(60):
            if r(lo) * r(hi) <= 0:
                break
            lo, hi = lo - 0.1, hi + 0.1
        logxi = brentq(r, lo, hi, xtol=1e-13)
        p = _point(k, ks, math.exp(logxi), 0.0, 0.0, noise, branch)
        return p, abs(r(logxi))
    u0 = np.array([math.log(guess["xi"]), math.log(guess["q"])])
    sol = root(lambda u: _residuals(setting, u, branch), u0, method="hybr", options={"xtol": 1e-13})
    res = float(np.max(np.abs(_residuals(setting, sol.x, branch))))
    xi, q = math.exp(sol.x[0]), math.exp(sol.x[1])
    p = _point(k, ks, xi, q, lam, noise, branch)
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


def _finish(setting: Setting, p: dict, res: float, tol: float, extra_reason: str = "") -> FixedPoint:
    law = _law(setting.kappa_star, p["xi"])
    reasons = []
    if res > tol:
        reasons.append(f"residual {res:.2e} > {tol:.0e}")
    if not law.converged:
        reasons.append(f"spectral law not resolved (quadrature error {law.quadrature_error:.1e})")
    if extra_reason:
        reasons.append(extra_reason)
    return FixedPoint(setting=setting, mse=p["mse"], loss=p["loss"], ise=p["ise"], xi=p["xi"], q=p["q"],
                      chi=p["chi"], rank=p["rank"], dof=p["dof"], cut=p["cut"], omega=p["omega"],
                      branch=p["branch"], converged=not reasons, reason="; ".join(reasons), residual=res)


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
        pts = _points_at_xi(k, ks, xi, lam, noise)
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


def fixed_point(setting: Setting, *, tol: float = 1e-8, strict: bool = False) -> FixedPoint:
    """Solve the fixed-point equations of THEORY.md section 3 at ``setting``.

    Parameters
    ----------
    setting : Setting
        ``alpha, kappa, kappa_star, noise (Delta), lam (lambda)``. ``lam = 0`` means the limit ``lambda -> 0+``
        (interpolating / non-interpolating / perfect-recovery branch chosen automatically).
    tol : float
        Accepted residual of the equations (relative form).
    strict : bool
        Raise :class:`FixedPointError` instead of returning ``converged=False``.

    Returns
    -------
    FixedPoint
        With ``converged`` and ``reason`` set; never silently NaN (``chi`` and ``dof`` are NaN only on the
        documented ``"perfect_recovery"`` branch).

    Notes
    -----
    First Brent's method in ``log xi`` on ``alpha(xi) = alpha`` (xi-parametrisation of the module docstring,
    one spectral law per step). If the curve folds (several ``q`` at one visited ``xi``), a coarse curve is
    traced until it brackets ``alpha`` and the bracketing pair seeds a Powell-hybrid solve in
    ``(log xi, log q)``.
    """
    if not isinstance(setting, Setting):
        raise ValueError(f"setting must be a qnn.Setting, got {type(setting).__name__}")
    tol = check_positive("tol", tol)
    if setting.lam == 0.0 and setting.noise == 0.0:
        from .thresholds import alpha_pr_plus
        if setting.alpha >= alpha_pr_plus(setting.kappa, setting.kappa_star):
            return _perfect_recovery_point(setting)
    try:
        p, res = _solve_in_xi(setting)
    except _NotUnique:
        pass
    else:
        out = _finish(setting, p, res, tol)
        if out.converged:
            return out
    pts, i = _bracketing_points(setting, 14)
    if i is None:
        al = [p["alpha"] for p in pts]
        msg = (f"could not bracket alpha = {setting.alpha} on the fixed-point curve (alpha range reached "
               f"[{min(al) if al else math.nan:.4g}, {max(al) if al else math.nan:.4g}])")
        if strict:
            raise FixedPointError(msg)
        p = pts[0] if pts else None
        if p is None:
            raise FixedPointError(msg)
        return _finish(setting, p, math.inf, tol, msg)
    guess = _interpolate_guess(pts[i], pts[i + 1], setting.alpha)
    p, res, extra = guess, math.inf, ""
    if {pts[i]["branch"], pts[i + 1]["branch"]} == {"non_interpolating", "interpolating"}:
        # the bracket spans the lambda -> 0+ branch switch (c = 0): the q = 0 branch holds iff its solution has c > 0
        try:
            p0, res0 = _polish(setting, dict(pts[i], branch="non_interpolating"))
        except (ValueError, ArithmeticError):
            p0, res0 = None, math.inf
        if p0 is not None and p0["chi"] > 0 and res0 <= tol:
            return _finish(setting, p0, res0, tol)
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
        pts = _refine_gaps(setting.kappa, setting.kappa_star, setting.lam, setting.noise,
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
    out = _finish(setting, p, res, tol, extra)
    if strict and not out.converged:
        raise FixedPointError(out.reason)
    return out


_FIELDS = ("mse", "loss", "ise", "xi", "q", "chi", "rank", "dof")
_LOG_FIELDS = ("mse", "xi")


def _polish_on_branch(setting: Setting, guess: dict, tol: float) -> tuple[dict, float]:
    """Secant iteration in ``log xi`` on ``alpha(xi) = alpha`` following the curve point nearest to ``guess``
    (nearest ``q`` at each visited ``xi``); a fold pair (same xi) falls back to the 2D solve."""
    k, ks, lam, noise, target = setting.kappa, setting.kappa_star, setting.lam, setting.noise, setting.alpha
    state = {"q": guess["q"], "branch": guess["branch"]}

    def h(logxi: float) -> tuple[float, dict]:
        pts = _points_at_xi(k, ks, math.exp(logxi), lam, noise)
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


def _interpolate_curve(pts: list[dict], alphas: np.ndarray) -> list[dict]:
    """Monotone cubic (PCHIP) interpolation of every field in ``log alpha`` along the ordered curve."""
    from scipy.interpolate import PchipInterpolator
    al = np.array([p["alpha"] for p in pts])
    keep = np.concatenate([[True], np.diff(al) < 0])     # strictly decreasing alpha
    x = -np.log(al[keep])
    sel = [p for p, kk in zip(pts, keep) if kk]
    out = [dict(alpha=float(a)) for a in alphas]
    for f in _FIELDS:
        v = np.array([p[f] for p in sel], dtype=float)
        logf = f in _LOG_FIELDS and np.all(v > 0)
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


def fixed_point_curve(setting: Setting, alphas: np.ndarray, *, exact: bool = True, tol: float = 1e-8,
                      n_xi: int = 32) -> FixedPointCurve:
    """Fixed points at many ``alphas`` (other parameters from ``setting``), reusing work between them.

    The curve is traced once in the xi-parametrisation: the end points of the alpha range are solved by
    :func:`fixed_point`, ``n_xi`` log-spaced xi between them are added (every root ``q`` at each), and points are
    inserted where neighbours are far apart (around folds). Ordered along the fold, ``alpha`` is monotone, so every
    field is a function of ``alpha``: with ``exact=False`` it is interpolated (monotone cubic in ``log alpha``; measured
    MSE error <= 1e-4 relative away from the noisy double-descent peak, up to ~1% right at its cusp; for live
    sliders), with ``exact=True`` each point is then polished by a secant iteration on the
    local branch to ``tol`` (``converged`` per point). With label noise and small ``lambda`` this follows the
    double-descent peak through the fold of ``q(xi)``; a curve along which alpha is not monotone (several fixed
    points at one alpha) raises a ``RuntimeWarning``.

    Parameters
    ----------
    setting : Setting
        ``setting.alpha`` is ignored.
    alphas : array_like
        Sample ratios, each ``> 0``.
    exact : bool
        Polish every point or interpolate.
    tol : float
        Residual accepted when polishing.
    n_xi : int
        Number of xi values of the initial trace (>= 4).

    Returns
    -------
    FixedPointCurve
        One point per requested alpha, in the given order.
    """
    alphas = np.atleast_1d(np.asarray(alphas, dtype=float))
    if alphas.size == 0 or np.any(~np.isfinite(alphas)) or np.any(alphas <= 0):
        raise ValueError("alphas must be a non-empty array of finite values in (0, inf)")
    if not isinstance(setting, Setting):
        raise ValueError(f"setting must be a qnn.Setting, got {type(setting).__name__}")
    tol = check_positive("tol", tol)
    if int(n_xi) < 4:
        raise ValueError(f"n_xi must be an integer >= 4, got {n_xi!r}")
    k, ks, lam, noise = setting.kappa, setting.kappa_star, setting.lam, setting.noise
    solve = np.ones(alphas.size, dtype=bool)
    out: list[dict | None] = [None] * alphas.size
    conv = np.zeros(alphas.size, dtype=bool)
    if lam == 0.0 and noise == 0.0:
        from .thresholds import alpha_pr_plus
        a_pr = alpha_pr_plus(k, ks)
        for j, a in enumerate(alphas):
            if a >= a_pr * (1.0 - 1e-3):       # perfect recovery, or too close to it for the trace
                fp = fixed_point(setting.replace(alpha=float(a)), tol=tol)
                out[j] = dict(alpha=float(a), branch=fp.branch, **{f: getattr(fp, f) for f in _FIELDS})
                conv[j] = fp.converged
                solve[j] = False
    if solve.any():
        a_lo, a_hi = float(alphas[solve].min()), float(alphas[solve].max())
        ends = [fixed_point(setting.replace(alpha=a), tol=tol) for a in {a_lo, a_hi}]
        if not all(e.converged for e in ends):
            bad = [e for e in ends if not e.converged][0]
            raise FixedPointError(f"end point alpha = {bad.setting.alpha} of the curve: {bad.reason}")
        xi_lo = min(e.xi for e in ends) / 1.05
        xi_hi = max(e.xi for e in ends) * 1.05
        pts = _trace(k, ks, lam, noise, np.geomspace(max(xi_lo, XI_MIN), min(xi_hi, XI_MAX), int(n_xi)))
        pts = _refine_gaps(k, ks, lam, noise, pts, 0.08 if not exact else 0.25)
        warn = _check_monotone(pts)
        if warn:
            warnings.warn(warn, RuntimeWarning, stacklevel=2)
        idx = np.nonzero(solve)[0]
        interp = _interpolate_curve(pts, alphas[idx])
        for j, p in zip(idx, interp):
            a = float(alphas[j])
            s = setting.replace(alpha=a)
            if any(not math.isfinite(p[f]) for f in _FIELDS):       # outside the traced range: solve alone
                fp = fixed_point(s, tol=tol)
                out[j] = dict(alpha=a, branch=fp.branch, **{f: getattr(fp, f) for f in _FIELDS})
                conv[j] = fp.converged
                continue
            if not exact:
                p.pop("slope", None)
                out[j] = p
                conv[j] = True
                continue
            try:
                q, res = _polish_on_branch(s, p, tol)
            except (ArithmeticError, ValueError):
                q, res = None, math.inf
            if q is None or res > tol:
                fp = fixed_point(s, tol=tol)
                out[j] = dict(alpha=a, branch=fp.branch, **{f: getattr(fp, f) for f in _FIELDS})
                conv[j] = fp.converged
            else:
                out[j] = dict(q)
                out[j]["alpha"] = a
                conv[j] = _law(ks, q["xi"]).converged
    return _as_curve(setting, [o for o in out if o is not None], conv)


# ----------------------------------------------------------------------------------------------------------------
# Spectral law of the estimator
# ----------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class EstimatorDensity:
    """Spectral law of ``S_hat``: density ``rho_xi(s + q)`` for ``s > b - q`` plus an atom at 0.

    Attributes
    ----------
    s : ndarray
        Evaluation points.
    density : ndarray
        Continuous part at ``s`` (integrates to ``rank``).
    atom : float
        Mass ``1 - rank`` at 0.
    rank : float
        ``kappa_min``, the mass of the continuous part.
    lower_edge : float
        ``b - q``: the continuous part lives on ``s > lower_edge``.
    fixed_point : FixedPoint
        The fixed point it is derived from.
    """

    s: np.ndarray
    density: np.ndarray
    atom: float
    rank: float
    lower_edge: float
    fixed_point: FixedPoint

    def normalised(self) -> np.ndarray:
        """Density of the non-zero eigenvalues (continuous part divided by ``rank``), as in Figs. 2 and 4."""
        return self.density / self.rank if self.rank > 0 else np.zeros_like(self.density)


def estimator_density(setting: Setting | FixedPoint, s: np.ndarray) -> EstimatorDensity:
    """Spectral law of the fixed-point estimator ``S_hat`` (FIGURES.md Figs. 2 and 4).

    Parameters
    ----------
    setting : Setting or FixedPoint
        Where to evaluate (a :class:`FixedPoint` is reused as is).
    s : array_like
        Eigenvalue positions.
    """
    fp = setting if isinstance(setting, FixedPoint) else fixed_point(setting)
    s = np.asarray(s, dtype=float)
    if fp.branch == "perfect_recovery":
        from .spectral import teacher_density
        dens = teacher_density(s, fp.setting.kappa_star)
        return EstimatorDensity(s=s, density=dens, atom=1.0 - fp.rank, rank=fp.rank,
                                lower_edge=0.0, fixed_point=fp)
    if not fp.converged:
        raise FixedPointError(f"fixed point not converged: {fp.reason}")
    edge = fp.cut - fp.q
    x = s + fp.q
    dens = np.where(s > edge, density(x, fp.setting.kappa_star, fp.xi), 0.0)
    return EstimatorDensity(s=s, density=dens, atom=1.0 - fp.rank, rank=fp.rank, lower_edge=edge,
                            fixed_point=fp)
