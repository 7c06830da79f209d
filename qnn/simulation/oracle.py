"""Finite-d Monte-Carlo oracle of the fixed point (book/theory/fixed_point.md): a testing tool.

Sample ``S* = W* W*^T / m*`` and GOE matrices ``Z`` at dimension ``d``; for given ``(xi, q)`` eigendecompose
``Y = S* + sqrt(xi) Z`` and apply the estimator of the fixed point: keep the eigenpairs with ``nu_i > q`` among the
top ``m = round(kappa d)`` (no cap when ``m >= d``) and shift them by ``-q``. Measure directly

    MSE  = |S_hat - S*|_F^2 / d,
    I    = [ sum_i f'(nu_i) + sum_{i<j} (f_i - f_j)/(nu_i - nu_j) ] / d^2     (divergence of Y -> S_hat),
    rank = (number kept) / d,

and solve the finite-d equations ``xi = (MSE + Delta/2)/(2 alpha)``, ``q (1 - I/alpha) = lambda`` with common
random numbers (the same ``S*`` and ``Z`` for every ``(xi, q)``), so the residuals are smooth in ``(xi, q)``.
The MSE is measured directly, not through Stein's identity, so agreement with :func:`qnn.fixed_point` checks the
whole chain (law, quadrature, Stein identity, equations).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq

from ..conventions import MAX_SAMPLES, Setting, check_dimension, check_int, check_nonnegative, check_positive
from .data import check_memory

__all__ = ["OracleSample", "OracleResult", "OracleSummary", "oracle_state", "oracle_fixed_point",
           "oracle_replicas", "sample_teacher_and_noise", "oracle_memory_bytes"]


@dataclass(frozen=True)
class OracleSample:
    """Monte-Carlo quantities at one ``(xi, q)``, averaged over samples.

    ``mse_sem``, ``dof_sem``: standard errors over the samples; ``None`` when ``n_samples = 1`` (one sample gives no
    estimate of its spread)."""

    xi: float
    q: float
    mse: float
    mse_sem: float | None
    dof: float
    dof_sem: float | None
    rank: float


@dataclass(frozen=True)
class OracleResult:
    """Solution of the finite-d fixed-point equations.

    Attributes
    ----------
    setting : Setting
    d, n_samples : int
    xi, q, mse, dof, rank, chi, loss, ise : float
        As in :class:`qnn.FixedPoint` (``loss``, ``ise`` from the same output formulas); NaN only with
        ``converged=False`` (when no equation could be evaluated).
    mse_sem : float or None
        Standard error of the MSE over samples at the solution; ``None`` when ``n_samples = 1`` (not estimable:
        use :func:`oracle_replicas`, whose spread over independent solves is the honest error bar).
    converged : bool
    reason : str
        Why ``converged`` is False (empty when it is True).
    """

    setting: Setting
    d: int
    n_samples: int
    xi: float
    q: float
    mse: float
    mse_sem: float | None
    dof: float
    rank: float
    chi: float
    loss: float
    ise: float
    converged: bool
    reason: str = ""


#: A teacher with ``m* >= d`` and more than this many entries in ``W*`` (32 MiB) is drawn from its Wishart law
#: instead of through ``W*`` (same law, ``O(d^2)`` draws instead of ``d m*``); smaller ones draw ``W*`` itself.
TEACHER_DIRECT_FLOATS = 2**22


def _teacher(rng: np.random.Generator, d: int, m_star: int) -> np.ndarray:
    """``S* = W* W*^T / m*``, ``W*`` a ``d x m*`` standard Gaussian matrix.

    Wide teachers (see :data:`TEACHER_DIRECT_FLOATS`) use the Bartlett decomposition of the Wishart law
    ``W* W*^T = A A^T``, ``A`` lower triangular, ``A_ii^2 ~ chi^2(m* - i)`` (``i = 0 .. d-1``), ``A_ij ~ N(0, 1)``
    below the diagonal (written out: importing ``scipy.stats`` took 3.5 s and ``scipy.stats.wishart`` 3 s per
    d = 800 draw on the shared 2-core machine)."""
    if m_star < d or float(d) * m_star <= TEACHER_DIRECT_FLOATS:
        w = rng.standard_normal((d, m_star))
        return w @ w.T / m_star
    a = np.tril(rng.standard_normal((d, d)), k=-1)
    a[np.diag_indices(d)] = np.sqrt(rng.chisquare(m_star - np.arange(d, dtype=float)))
    return a @ a.T / m_star


def oracle_memory_bytes(d: int, n_samples: int, m_star: int) -> float:
    """Estimated peak memory (bytes) of the oracle: per sample ``S*``, ``Z`` and one eigenbasis (``3 d^2``
    floats), plus ``8 d^2`` working floats (eigendecomposition, divergence) and ``W*`` while it is drawn."""
    direct = float(d) * m_star if (m_star < d or float(d) * m_star <= TEACHER_DIRECT_FLOATS) else 0.0
    return 8.0 * (3.0 * n_samples * d * d + 8.0 * d * d + direct)


def _width(kappa: float, d: int) -> int:
    """Student width ``m = round(kappa d)``, at least 1, capped at ``d`` (no cap when ``m >= d``)."""
    return min(d, max(1, round(min(kappa, 1.0) * d)))


def sample_teacher_and_noise(kappa_star: float, d: int, n_samples: int, seed: int | np.random.SeedSequence
                             ) -> list[tuple[np.ndarray, np.ndarray]]:
    """``n_samples`` pairs ``(S*, Z)``: ``S* = W* W*^T / m*`` with ``m* = round(kappa* d)``, ``Z`` GOE
    (``(H + H^T)/sqrt(2 d)``).

    Raises ``ValueError`` (with the estimate) when :func:`oracle_memory_bytes` exceeds
    :func:`qnn.simulation.data.memory_limit_bytes` (6 GiB unless ``QNN_MEMORY_LIMIT_GIB`` says otherwise), before any
    work."""
    kappa_star = check_positive("kappa_star", kappa_star)
    d = check_dimension(d)
    n_samples = check_int("n_samples", n_samples)
    if not kappa_star * d < MAX_SAMPLES:
        raise ValueError(f"kappa_star = {kappa_star:.4g} at d={d} gives a teacher width m* = kappa_star d beyond "
                         f"{MAX_SAMPLES:.0e}; use a smaller kappa_star")
    m_star = max(1, round(kappa_star * d))
    check_memory(f"the oracle at d={d}, n_samples={n_samples}", oracle_memory_bytes(d, n_samples, m_star),
                 "use a smaller d or n_samples")
    ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    out = []
    for child in ss.spawn(n_samples):
        rng = np.random.default_rng(child)
        s_star = _teacher(rng, d, m_star)
        h = rng.standard_normal((d, d))
        out.append((s_star, (h + h.T) / math.sqrt(2 * d)))
    return out


class _Eig:
    """Eigendecomposition of ``Y = S* + sqrt(xi) Z`` for one sample, with the quantities needed for any q."""

    def __init__(self, s_star: np.ndarray, z: np.ndarray, xi: float, m: int):
        self.d = s_star.shape[0]
        self.m = m
        nu, v = np.linalg.eigh(s_star + math.sqrt(xi) * z)
        self.nu = nu[::-1]                     # descending
        self.v = v[:, ::-1]
        # diagonal of S* in Y's eigenbasis (enough for the MSE)
        self.star_diag = np.einsum("ij,ij->j", self.v, s_star @ self.v)
        self.star_sq = float(np.sum(s_star * s_star))

    def evaluate(self, q: float) -> tuple[float, float, float]:
        nu = self.nu
        kept = int(min(self.m, np.count_nonzero(nu > q)))
        f = np.zeros_like(nu)
        f[:kept] = nu[:kept] - q
        # |S_hat - S*|^2 = sum f_i^2 - 2 sum f_i (S*)_ii + |S*|^2 in Y's basis
        mse = (float(np.sum(f * f)) - 2.0 * float(np.sum(f * self.star_diag)) + self.star_sq) / self.d
        # divergence: sum_i f'(nu_i) + sum_{i<j} (f_i - f_j)/(nu_i - nu_j); only pairs with a kept member matter
        fk = f[:kept]
        div = float(kept)
        if kept:
            diff = nu[:kept, None] - nu[None, :]
            num = fk[:, None] - f[None, :]
            iu = np.ones((kept, self.d), dtype=bool)
            iu[:, :kept] = np.triu(np.ones((kept, kept), dtype=bool), k=1)
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = np.where(iu & (diff != 0), num / np.where(diff != 0, diff, 1.0), 0.0)
            div += float(np.sum(ratio))
        return mse, div / self.d ** 2, kept / self.d


def _secant(f, x0: float, x1: float, tol: float, max_iter: int = 30) -> float:
    """Secant iteration on ``f`` (safeguarded: switches to Brent once a sign change is seen)."""
    f0, f1 = f(x0), f(x1)
    for _ in range(max_iter):
        if abs(x1 - x0) < tol and abs(f1) < 10 * tol:
            return x1
        if f0 * f1 < 0 and abs(x1 - x0) > tol:
            lo, hi = sorted((x0, x1))
            return brentq(f, lo, hi, xtol=tol)
        if f1 == f0:
            raise ArithmeticError("secant iteration stalled")
        x2 = x1 - f1 * (x1 - x0) / (f1 - f0)
        x2 = min(max(x2, x1 - 1.0), x1 + 1.0)
        x0, f0, x1, f1 = x1, f1, x2, f(x2)
    raise ArithmeticError("secant iteration did not converge")


def _sem(values: np.ndarray) -> np.ndarray | None:
    """Standard error of the mean over axis 0; ``None`` for a single sample (not estimable)."""
    return values.std(axis=0, ddof=1) / math.sqrt(len(values)) if len(values) > 1 else None


def oracle_state(kappa: float, kappa_star: float, xi: float, q: float, d: int = 400, n_samples: int = 1,
                 seed: int = 0) -> OracleSample:
    """Monte-Carlo MSE, degrees of freedom ``I`` and rank at fixed ``(xi, q)`` (see module docstring).

    The standard errors are ``None`` when ``n_samples = 1``. Raises ``ValueError`` for invalid arguments or when
    the samples would need more memory than allowed (see :func:`sample_teacher_and_noise`)."""
    kappa = check_positive("kappa", kappa)
    xi = check_positive("xi", xi)
    q = check_nonnegative("q", q)
    samples = sample_teacher_and_noise(kappa_star, d, n_samples, seed)
    m = _width(kappa, d)
    vals = np.array([_Eig(s, z, xi, m).evaluate(q) for s, z in samples])
    sem = _sem(vals)
    return OracleSample(xi=xi, q=q, mse=float(vals[:, 0].mean()), mse_sem=None if sem is None else float(sem[0]),
                        dof=float(vals[:, 1].mean()), dof_sem=None if sem is None else float(sem[1]),
                        rank=float(vals[:, 2].mean()))


class _XiEquation:
    """Residual ``log(2 alpha xi) - log(MSE + Delta/2)`` as a function of ``log xi``, with ``q`` solved inside.

    At each ``xi`` (one eigendecomposition per sample) ``q`` solves ``q (1 - I/alpha) = lambda`` (or, for
    ``lambda = 0``, ``I = alpha`` unless ``1 - I(0)/alpha > 0``, where ``q = 0``), starting from the previous ``q``.
    Every evaluation is recorded: ``record[log xi] = (q, mse, dof, rank, mse_sem, residual)``.
    """

    def __init__(self, setting: Setting, samples: list[tuple[np.ndarray, np.ndarray]], m: int, q_start: float):
        self.alpha, self.lam, self.noise = setting.alpha, setting.lam, setting.noise
        self.samples, self.m, self.q = samples, m, q_start
        self.record: dict[float, tuple] = {}

    def _solve_q(self, eigs: list[_Eig]) -> float:
        alpha, lam = self.alpha, self.lam

        def avg(q: float) -> np.ndarray:
            return np.mean([e.evaluate(q) for e in eigs], axis=0)

        def g(logq: float) -> float:
            q = math.exp(logq)
            _, dof, _ = avg(q)
            if lam > 0:
                return 1.0 - lam / q - dof / alpha
            return 1.0 - dof / alpha

        if lam == 0 and (1.0 - avg(0.0)[1] / alpha) > 0:    # c > 0: non-interpolating, q = 0
            return 0.0
        x = math.log(max(self.q, 1e-8))
        self.q = math.exp(_secant(g, x, x + 0.005, 1e-10))
        return self.q

    def __call__(self, logxi: float) -> float:
        xi = math.exp(logxi)
        eigs = [_Eig(s, z, xi, self.m) for s, z in self.samples]
        q_used = self._solve_q(eigs)
        per = np.array([e.evaluate(q_used) for e in eigs])
        mse, dof, rank = per.mean(axis=0)
        sem = _sem(per[:, 0])
        res = math.log(2.0 * self.alpha * xi) - math.log(mse + self.noise / 2.0)
        self.record[logxi] = (q_used, mse, dof, rank, None if sem is None else float(sem), res)
        return res


def _oracle_result(setting: Setting, d: int, n_samples: int, logxi: float, entry: tuple, converged: bool,
                   reason: str) -> OracleResult:
    """The :class:`OracleResult` at a recorded ``log xi``, with the output formulas of :class:`qnn.FixedPoint`."""
    lam, noise, alpha = setting.lam, setting.noise, setting.alpha
    q, mse, dof, rank, sem, _ = entry
    if lam > 0:
        chi = lam / q
    elif q > 0:
        chi = 0.0
    else:
        chi = 1.0 - dof / alpha
    loss = (2.0 * mse + noise) * chi ** 2 / 4.0
    ise = ((2.0 * mse + noise) * chi ** 2 + noise * (1.0 - 2.0 * chi)) / 4.0
    return OracleResult(setting=setting, d=d, n_samples=n_samples, xi=math.exp(logxi), q=q, mse=mse, mse_sem=sem,
                        dof=dof, rank=rank, chi=chi, loss=loss, ise=ise, converged=converged, reason=reason)


def oracle_fixed_point(setting: Setting, d: int = 800, n_samples: int = 2, seed: int = 0,
                       xi0: float | None = None, q0: float | None = None, tol: float = 1e-6) -> OracleResult:
    """Solve the fixed-point equations at finite ``d`` with Monte-Carlo spectra (common random numbers).

    Parameters
    ----------
    setting : Setting
        ``lam > 0``, or ``lam = 0`` (interpolating branch ``I = alpha`` if it exists, else ``q = 0``).
    d : int
        Dimension of the sampled matrices.
    n_samples : int
        Independent ``(S*, Z)`` pairs averaged in every equation (with 1, ``mse_sem`` is ``None``).
    seed : int
        Seed of the samples.
    xi0, q0 : float, optional
        Starting point (e.g. the d = infinity solution); defaults ``xi0 = (1 + 1/kappa* + Delta)/(4 alpha)``,
        ``q0 = max(lam, 0.1)``.
    tol : float
        Tolerance on ``log xi``.

    Returns
    -------
    OracleResult
        ``converged=False`` with the solver's ``reason`` when the iteration fails (then the recorded point with the
        smallest residual, or NaN if none).

    Notes
    -----
    Outer secant/Brent iteration on ``log xi`` for ``2 alpha xi = MSE + Delta/2``; at each ``xi`` (one
    eigendecomposition per sample) ``q`` solves ``q (1 - I/alpha) = lambda`` by Brent's method, starting from the
    previous ``q`` (the root nearest to it is taken). Raises ``ValueError`` for invalid arguments or when the
    samples would need more memory than allowed (see :func:`sample_teacher_and_noise`).
    """
    if not isinstance(setting, Setting):
        raise ValueError(f"setting must be a qnn.Setting, got {type(setting).__name__}")
    d = check_dimension(d)
    n_samples = check_int("n_samples", n_samples)
    samples = sample_teacher_and_noise(setting.kappa_star, d, n_samples, seed)
    if xi0 is None:
        xi0 = (setting.teacher_second_moment + setting.noise) / (4.0 * setting.alpha)
    equation = _XiEquation(setting, samples, _width(setting.kappa, d), q0 if q0 is not None else max(setting.lam, 0.1))
    x0 = math.log(xi0)
    try:
        logxi = _secant(equation, x0, x0 + 0.005, tol)
    except ArithmeticError as exc:
        reason = str(exc) or type(exc).__name__
        record = equation.record
        if not record:
            nan = math.nan
            return OracleResult(setting=setting, d=d, n_samples=n_samples, xi=nan, q=nan, mse=nan, mse_sem=None,
                                dof=nan, rank=nan, chi=nan, loss=nan, ise=nan, converged=False, reason=reason)
        logxi = min(record, key=lambda k: abs(record[k][5]))
        return _oracle_result(setting, d, n_samples, logxi, record[logxi], False, reason)
    return _oracle_result(setting, d, n_samples, logxi, equation.record[logxi], True, "")


@dataclass(frozen=True)
class OracleSummary:
    """Mean and standard error over independent oracle solves (each with its own ``S*``, ``Z``).

    The spread between independent solves is the honest error bar: the per-sample spread at a fixed solution
    underestimates it, because the solution ``(xi, q)`` itself fluctuates with the samples.
    """

    setting: Setting
    d: int
    mse: float
    mse_sem: float
    rank: float
    rank_sem: float
    loss: float
    loss_sem: float
    replicas: tuple[OracleResult, ...]

    @property
    def converged(self) -> bool:
        """True when every replica converged."""
        return all(r.converged for r in self.replicas)

    @property
    def reason(self) -> str:
        """The reasons of the replicas that did not converge (empty when all did); the summary's numbers are then
        not meaningful (they may be NaN)."""
        return "; ".join(f"replica {i}: {r.reason}" for i, r in enumerate(self.replicas) if not r.converged)


def oracle_replicas(setting: Setting, d: int = 800, n_replicas: int = 4, seed: int = 0, xi0: float | None = None,
                    q0: float | None = None) -> OracleSummary:
    """``n_replicas`` independent :func:`oracle_fixed_point` solves (one sample each), summarised.

    The errors are the spread over the replicas; each replica's own ``mse_sem`` is ``None`` (one sample)."""
    n_replicas = check_int("n_replicas", n_replicas, minimum=2)
    seeds = np.random.SeedSequence(seed).spawn(n_replicas)
    reps = tuple(oracle_fixed_point(setting, d=d, n_samples=1, seed=int(sq.generate_state(1)[0]), xi0=xi0, q0=q0)
                 for sq in seeds)
    def stat(name: str) -> tuple[float, float]:
        v = np.array([getattr(r, name) for r in reps])
        return float(v.mean()), float(v.std(ddof=1) / math.sqrt(v.size))
    mse, mse_sem = stat("mse")
    rank, rank_sem = stat("rank")
    loss, loss_sem = stat("loss")
    return OracleSummary(setting=setting, d=d, mse=mse, mse_sem=mse_sem, rank=rank, rank_sem=rank_sem, loss=loss,
                         loss_sem=loss_sem, replicas=reps)
