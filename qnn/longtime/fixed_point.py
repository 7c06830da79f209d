"""Long-time fixed point of gradient flow (Theory: book/theory/fixed_point.md).

With ``Y = S* + sqrt(xi) Z_GOE`` (law ``rho_xi``, Hilbert transform ``H``; :mod:`qnn.spectra.laws`) the limit of
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
``Delta = 0`` the MSE reaches 0 at ``alpha_PR+`` (:func:`qnn.longtime.thresholds.alpha_pr_plus`), above which the fixed
point is the teacher itself (``branch = "perfect_recovery"``).

Outputs: ``Loss_train = (2 MSE + Delta) chi^2 / 4`` (= ``lambda^2 alpha xi / q^2``),
``ISE = [(2 MSE + Delta) chi^2 + Delta (1 - 2 chi)] / 4``, rank fraction ``kappa_min = int_b^inf rho_xi``.
"""
from __future__ import annotations

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np

from . import fast as _fast
from . import reference as _reference
from ..conventions import Setting, check_positive
from .equations import XI_MAX, XI_MIN
from .trace import FIELDS, check_monotone, refine_gaps, trace
from ..spectra.laws import density, teacher_density
from .thresholds import alpha_pr_plus

__all__ = ["FixedPoint", "FixedPointCurve", "fixed_point", "fixed_point_curve", "xi_branch",
           "estimator_density", "EstimatorDensity", "FixedPointError"]


class FixedPointError(RuntimeError):
    """Raised when the fixed-point equations cannot be solved to tolerance (the message says why)."""


@dataclass(frozen=True)
class FixedPoint:
    """Long-time fixed point of gradient flow (Theory: book/theory/fixed_point.md) at one :class:`~qnn.Setting`.

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




def _as_curve(setting: Setting, pts: list[dict], converged: np.ndarray | None = None) -> FixedPointCurve:
    arr = {k: np.array([p[k] for p in pts], dtype=float)
           for k in ("alpha", "mse", "loss", "ise", "xi", "q", "chi", "rank", "dof")}
    conv = np.ones(len(pts), dtype=bool) if converged is None else converged
    return FixedPointCurve(setting=setting, branch=tuple(p["branch"] for p in pts), converged=conv, **arr)



def xi_branch(setting: Setting, xis: np.ndarray | None = None, refine: bool = True) -> FixedPointCurve:
    """The fixed-point curve parametrised by ``xi`` (Figure 15: ``q`` and MSE along ``xi``).

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
        Insert points around folds (with the reference path's tracing; without ``refine`` the roots at the given
        ``xi`` are found by the vectorised fast path, :func:`qnn.longtime.fast.trace`).
    """
    if xis is None:
        xis = np.geomspace(10 ** -0.6, 30.0, 200)
    xis = np.atleast_1d(np.asarray(xis, dtype=float))
    if xis.size == 0 or np.any(~np.isfinite(xis)) or np.any(xis < XI_MIN) or np.any(xis > XI_MAX):
        raise ValueError(f"xis must be non-empty, finite, in [{XI_MIN}, {XI_MAX}]")
    if not refine:      # every root at the given xi: all spectral laws in one vectorised pass (the fast path)
        return _as_curve(setting, _fast.as_dicts(_fast.trace(setting.kappa, setting.kappa_star, setting.lam,
                                                               setting.noise, xis)))
    pts = trace(setting.kappa, setting.kappa_star, setting.lam, setting.noise, xis)
    pts = refine_gaps(setting.kappa, setting.kappa_star, setting.lam, setting.noise, pts, 0.15)
    return _as_curve(setting, pts)




# ----------------------------------------------------------------------------------------------------------------
# Fixed alpha
# ----------------------------------------------------------------------------------------------------------------
def fixed_point(setting: Setting, *, tol: float = 1e-8, strict: bool = False, method: str = "fast") -> FixedPoint:
    """Solve the fixed-point equations (Theory: book/theory/fixed_point.md) at ``setting``.

    Parameters
    ----------
    setting : Setting
        ``alpha, kappa, kappa_star, noise (Delta), lam (lambda)``. ``lam = 0`` means the limit ``lambda -> 0+``
        (interpolating / non-interpolating / perfect-recovery branch chosen automatically).
    tol : float
        Accepted residual of the equations (relative form).
    strict : bool
        Raise :class:`FixedPointError` instead of returning ``converged=False``.
    method : {"fast", "reference"}
        ``"fast"`` (default): :mod:`qnn.longtime.fast`, a coarse curve traced with all its spectral laws built in
        one vectorised pass, then a secant iteration along the local branch (Newton in ``(log xi, q)`` near a fold);
        where it does not converge, the reference path is used. ``"reference"``: :mod:`qnn.longtime.reference`,
        the earlier solver (one adaptive :class:`~qnn.spectra.laws.SpectralLaw` per visited ``xi``), kept to check the
        fast path (agreement on 55 settings of all regimes: MSE within 4e-7 relative, benchmarks/README.md).

    Returns
    -------
    FixedPoint
        With ``converged`` and ``reason`` set; never silently NaN (``chi`` and ``dof`` are NaN only on the
        documented ``"perfect_recovery"`` branch).
    """
    if not isinstance(setting, Setting):
        raise ValueError(f"setting must be a qnn.Setting, got {type(setting).__name__}")
    tol = check_positive("tol", tol)
    _check_method(method)
    if method == "fast" and not _perfect_recovery(setting):
        try:
            fast = _fast.solve_point(setting, tol)
        except _fast.Unresolved as exc:
            out = FixedPoint(setting=setting, **{f: exc.point[f] for f in _POINT_FIELDS}, converged=False,
                             reason=str(exc), residual=exc.residual)
            if strict:
                raise FixedPointError(out.reason) from None
            return out
        if fast is not None:
            p, res = fast
            return FixedPoint(setting=setting, **{f: p[f] for f in _POINT_FIELDS}, converged=True, residual=res)
        _fast.STATS["fallbacks"] += 1
    try:
        p, res, extra = _reference.solve_point(setting, tol)
    except ArithmeticError as exc:
        raise FixedPointError(str(exc)) from None
    out = _finish(setting, p, res, tol, extra)
    if strict and not out.converged:
        raise FixedPointError(out.reason)
    return out


_POINT_FIELDS = ("mse", "loss", "ise", "xi", "q", "chi", "rank", "dof", "cut", "omega", "branch")
METHODS = ("fast", "reference")


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")


def _perfect_recovery(setting: Setting) -> bool:
    """Noiseless, ``lambda -> 0+`` and ``alpha >= alpha_PR+``: the fixed point is the teacher."""
    return (setting.lam == 0.0 and setting.noise == 0.0
            and setting.alpha >= alpha_pr_plus(setting.kappa, setting.kappa_star))


def _finish(setting: Setting, p: dict, res: float, tol: float, extra_reason: str = "") -> FixedPoint:
    converged, reason = _reference.point_status(setting, p, res, tol, extra_reason)
    return FixedPoint(setting=setting, mse=p["mse"], loss=p["loss"], ise=p["ise"], xi=p["xi"], q=p["q"],
                      chi=p["chi"], rank=p["rank"], dof=p["dof"], cut=p["cut"], omega=p["omega"],
                      branch=p["branch"], converged=converged, reason=reason, residual=res)



def fixed_point_curve(setting: Setting, alphas: np.ndarray, *, exact: bool = True, tol: float = 1e-8,
                      n_xi: int = 32, method: str = "fast") -> FixedPointCurve:
    """Fixed points at many ``alphas`` (other parameters from ``setting``), reusing work between them.

    The curve is traced once in the xi-parametrisation over an xi range covering the requested alphas (every root
    ``q`` at each xi; the reference path: between the solved end points), and points are inserted where neighbours
    are far apart (around folds). Ordered along the fold, ``alpha`` is monotone, so every field is a function of
    ``alpha``: with ``exact=False`` it is interpolated (monotone cubic in ``log alpha``; for live sliders; measured
    on 200-point curves, benchmarks/README.md: MSE within 2e-4 relative of the polished value away from the noisy
    double-descent peak, up to 4% right at its cusp), with ``exact=True`` each point is then polished on the local
    branch to ``tol`` (``converged`` per point). With label noise and small ``lambda`` this follows the
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
        Number of xi values of the initial trace (>= 4; the fast path traces at least 64).
    method : {"fast", "reference"}
        ``"fast"`` (default): all alphas are solved together from one traced curve (:mod:`qnn.longtime.fast`;
        the spectral laws of every step are built in one vectorised pass); ``"reference"``: the earlier
        point-by-point polish (:mod:`qnn.longtime.reference`). See :func:`fixed_point`.

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
    _check_method(method)
    try:
        if method == "fast":
            pts, conv, warn = _fast_curve(setting, alphas, exact, tol, int(n_xi))
        else:
            pts, conv, warn = _reference.solve_curve(setting, alphas, exact, tol, int(n_xi))
    except ArithmeticError as exc:
        raise FixedPointError(str(exc)) from None
    if warn:
        warnings.warn(warn, RuntimeWarning, stacklevel=2)
    return _as_curve(setting, pts, conv)


def _as_dict(fp: FixedPoint) -> dict:
    return dict(alpha=fp.setting.alpha, branch=fp.branch, **{f: getattr(fp, f) for f in FIELDS})


def _fast_curve(setting: Setting, alphas: np.ndarray, exact: bool, tol: float,
                n_xi: int) -> tuple[list[dict], np.ndarray, str]:
    """The fast path of :func:`fixed_point_curve`: every alpha polished together from one traced curve
    (:func:`qnn.longtime.fast.solve_curve`); those it leaves unsolved are solved alone by :func:`fixed_point`."""
    out: list[dict | None] = [None] * alphas.size
    conv = np.zeros(alphas.size, dtype=bool)
    alone = np.zeros(alphas.size, dtype=bool)
    if setting.lam == 0.0 and setting.noise == 0.0:      # perfect recovery, or too close to it for the trace
        alone = alphas >= alpha_pr_plus(setting.kappa, setting.kappa_star) * (1.0 - 1e-3)
    warn = ""
    rest = np.nonzero(~alone)[0]
    if rest.size:
        pts, solved, traced = _fast.solve_curve(setting, alphas[rest], exact, tol, max(n_xi, 64))
        warn = check_monotone(_fast.as_dicts(traced))
        for j, d in zip(rest[solved], _fast.as_dicts(pts, np.nonzero(solved)[0])):
            out[j], conv[j] = d, True
        alone[rest[~solved]] = True
    for j in np.nonzero(alone)[0]:
        fp = fixed_point(setting.replace(alpha=float(alphas[j])), tol=tol)
        out[j], conv[j] = _as_dict(fp), fp.converged
    return out, conv, warn



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
    """Spectral law of the fixed-point estimator ``S_hat`` (Figures 2 and 4).

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
