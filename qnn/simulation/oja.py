"""The population (Oja-type) flow of paper Figure 13, solved exactly, and its late-time power laws.

Model (FIGURES.md section 4): no data. The target ``T`` is a GOE matrix (``qnn.simulation.data.goe``: semicircle on
``[-2, 2]``), the student ``Z = W W^T`` with ``W`` in ``R^{d x m}``, ``m = floor(kappa d)``,
``W_ij(0) ~ N(0, gamma/m)``, and

    dW/dt = (T - W W^T) W        (gradient flow on (1/4) |W W^T - T|_F^2),

i.e. the ``alpha -> infinity`` limit of the main model with an indefinite target. Its limit ``Z_inf`` keeps the
``m`` largest eigenvalues of ``T`` clipped at 0 (the best PSD approximation of rank <= m), and the paper plots
``Dist(t) = |Z(t) - Z_inf|_F^2 / d``.

Exact solution
--------------
``Z`` solves the matrix Riccati equation ``dZ/dt = T Z + Z T - 2 Z^2``, whose solution from ``W(s)`` is

    Z(s + h) = E W (I_m + W^T F W)^{-1} W^T E,   E = e^{T h},   F = (e^{2 T h} - I) / T   (F = 2h I at T = 0),

(differentiate in ``h``: ``d/dh (W^T F W) = 2 W^T e^{2 T h} W`` produces the ``-2 Z^2`` term). With the
Cholesky factor ``I + W^T F W = L L^T`` the update ``W <- E W L^{-T}`` reproduces ``Z(s + h)`` exactly. We apply it
in the eigenbasis of ``T`` (``E`` and ``F`` diagonal) over steps ``h <= max_step``: there is **no time
discretisation error**; ``max_step`` only bounds the conditioning (entries of ``F`` up to ``e^{4 h}``) and the
tests check that the answer does not depend on it. The paper's Euler scheme with ``eta = 5e-3`` differs from this
flow by ``O(eta)``.

Power laws (d -> infinity, FIGURES.md section 4), with ``s(x) = sqrt(4 - x^2) / (2 pi)``:

* ``kappa >= 1/2`` (the width covers all positive eigenvalues): ``Dist(t) ~ C3 t^-3``,
  ``C3 = (pi^2/12 - zeta(3)/2) s(0) = (pi^2/12 - zeta(3)/2) / pi``;
* ``kappa < 1/2``: ``Dist(t) ~ C1 t^-1``, ``C1 = ln 2 w^2 s(w)``, where ``w`` has semicircle mass ``kappa`` above it.

At finite ``d`` the laws hold for ``1 << t << d`` (the eigenvalue spacing near 0, resp. near ``w``, is
``1/(d s)``); afterwards ``Dist`` decays exponentially at the rate of the smallest gap (the "plateaus" and drops of
the paper's figure).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq
from scipy.special import zeta

from ..conventions import check_dimension, check_int, check_positive
from .data import goe

__all__ = ["OjaResult", "oja_flow", "oja_limit", "oja_power_law", "oja_problem", "semicircle_density",
           "semicircle_upper_quantile", "C3_CONSTANT"]

#: ``(pi^2/12 - zeta(3)/2) / pi``: the constant of the ``t^-3`` law (kappa >= 1/2).
C3_CONSTANT: float = (math.pi**2 / 12 - float(zeta(3)) / 2) / math.pi


def semicircle_density(x: np.ndarray | float) -> np.ndarray | float:
    """Semicircle density ``s(x) = sqrt(4 - x^2) / (2 pi)`` on ``[-2, 2]`` (0 outside)."""
    x = np.asarray(x, dtype=float)
    out = np.sqrt(np.clip(4.0 - x * x, 0.0, None)) / (2 * math.pi)
    return float(out) if out.ndim == 0 else out


def _semicircle_upper_mass(x: float) -> float:
    """``int_x^2 s(t) dt`` for ``x`` in ``[-2, 2]`` (FIGURES.md ``M0``)."""
    return 0.5 - x * math.sqrt(max(4.0 - x * x, 0.0)) / (4 * math.pi) - math.asin(x / 2) / math.pi


def semicircle_upper_quantile(mass: float) -> float:
    """The point ``w`` with semicircle mass ``mass`` above it, ``mass`` in ``(0, 1)``."""
    mass = check_positive("mass", mass)
    if mass >= 1:
        raise ValueError(f"mass must be in (0, 1), got {mass!r}")
    return float(brentq(lambda x: _semicircle_upper_mass(x) - mass, -2.0, 2.0, xtol=1e-14, rtol=1e-15))


def oja_power_law(kappa: float) -> tuple[int, float]:
    """Exponent ``p`` and constant ``C`` of the late-time law ``Dist(t) ~ C t^-p`` (d -> infinity).

    Parameters
    ----------
    kappa : float
        Student width ratio ``m/d``, in ``(0, inf)``.

    Returns
    -------
    (3, C3) for ``kappa >= 1/2``; (1, C1) with ``C1 = ln 2 w^2 s(w)`` for ``kappa < 1/2``.
    """
    kappa = check_positive("kappa", kappa)
    if kappa >= 0.5:
        return 3, C3_CONSTANT
    w = semicircle_upper_quantile(kappa)
    return 1, math.log(2.0) * w * w * float(semicircle_density(w))


def oja_limit(eigenvalues: np.ndarray, m: int) -> np.ndarray:
    """Eigenvalues of ``Z_inf``: the ``m`` largest of ``eigenvalues`` clipped at 0, all others 0.

    Parameters
    ----------
    eigenvalues : array (d,)
        Eigenvalues of the target ``T`` in ascending order (as ``numpy.linalg.eigh`` returns them).
    m : int
        Student width, ``0 <= m <= d``.
    """
    tau = np.asarray(eigenvalues, dtype=float)
    if tau.ndim != 1 or np.any(np.diff(tau) < 0):
        raise ValueError("eigenvalues must be a 1-d array in ascending order")
    m = check_int("m", m, minimum=0)
    if m > tau.size:
        raise ValueError(f"m must be in [0, d] = [0, {tau.size}], got {m}")
    z = np.zeros_like(tau)
    if m:
        z[-m:] = np.clip(tau[-m:], 0.0, None)
    return z


@dataclass(frozen=True, eq=False)
class OjaResult:
    """Distance to the limit along the exact Oja flow, ``reps`` independent targets and initialisations.

    Attributes
    ----------
    d, m : int
    kappa, gamma : float
    seed : int
    t : numpy.ndarray
        Record times (T,), starting at 0.
    dist : numpy.ndarray
        (reps, T): ``|Z(t) - Z_inf|_F^2 / d``.
    gap : numpy.ndarray
        (reps,): eigenvalue gap of ``T`` at the cut (``tau_{d-m+1} - tau_{d-m}``, or the smallest ``|tau|``
        when ``kappa d`` covers all positive eigenvalues): it sets the finite-d late exponential rate.
    """

    d: int
    m: int
    kappa: float
    gamma: float
    seed: int
    t: np.ndarray
    dist: np.ndarray
    gap: np.ndarray

    @property
    def reps(self) -> int:
        return self.dist.shape[0]


def _propagate(tau: np.ndarray, V: np.ndarray, h: float) -> np.ndarray:
    """Exact Riccati step ``W <- E W L^{-T}`` in the eigenbasis of ``T`` (see the module docstring)."""
    E = np.exp(tau * h)
    small = np.abs(tau * h) < 1e-8
    F = np.where(small, 2.0 * h * (1.0 + tau * h), np.expm1(2.0 * tau * h) / np.where(small, 1.0, tau))
    M = V.T @ (F[:, None] * V)
    M[np.diag_indices_from(M)] += 1.0
    L = np.linalg.cholesky(M)
    # V_new = E V L^{-T}  <=>  L V_new^T = (E V)^T
    return np.linalg.solve(L, (E[:, None] * V).T).T


def oja_problem(d: int, m: int, gamma: float, seq: np.random.SeedSequence
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The random draws of one repetition of :func:`oja_flow`.

    Returns ``(tau, U, W0)``: the eigenvalues (ascending) and eigenvectors of the GOE target ``T = U diag(tau) U^T``
    and the initialisation ``W0_ij ~ N(0, gamma/m)`` (d x m). Repetition ``r`` of ``oja_flow(..., seed=s)`` uses
    ``seq = SeedSequence(s, spawn_key=(r,))``.
    """
    target_rng, init_rng = (np.random.default_rng(s) for s in seq.spawn(2))
    tau, U = np.linalg.eigh(goe(d, target_rng))
    W0 = init_rng.standard_normal((d, m)) * math.sqrt(gamma / m)
    return tau, U, W0


def _one_rep(d: int, m: int, gamma: float, t: np.ndarray, max_step: float,
             seq: np.random.SeedSequence) -> tuple[np.ndarray, float]:
    tau, U, W0 = oja_problem(d, m, gamma, seq)
    V = U.T @ W0
    z = oja_limit(tau, m)
    n_pos = int(np.sum(tau > 0))
    gap = float(tau[d - m] - tau[d - m - 1]) if m < n_pos else float(np.min(np.abs(tau)))
    dist = np.empty(t.size)

    def distance(V: np.ndarray) -> float:
        diff = V @ V.T
        diff[np.diag_indices_from(diff)] -= z
        return float(np.einsum("ij,ij->", diff, diff)) / d

    dist[0] = distance(V)
    for k in range(1, t.size):
        span = t[k] - t[k - 1]
        steps = max(1, math.ceil(span / max_step))
        for _ in range(steps):
            V = _propagate(tau, V, span / steps)
        dist[k] = distance(V)
    return dist, gap


def oja_flow(d: int, kappa: float, t_max: float, *, reps: int = 1, seed: int = 0, gamma: float = 1.0,
             n_records: int = 80, t_first: float = 0.05, max_step: float = 2.0) -> OjaResult:
    """Solve the Oja flow ``dW/dt = (T - W W^T) W`` exactly and record ``Dist(t) = |Z - Z_inf|_F^2 / d``.

    Parameters
    ----------
    d : int
        Matrix size (>= 2).
    kappa : float
        Width ratio in ``(0, 1]``; ``m = floor(kappa d)`` must be >= 1.
    t_max : float
        Final time, in ``(t_first, inf)``.
    reps : int
        Independent repetitions (fresh ``T`` and ``W(0)`` each), >= 1.
    seed : int
        Base seed (>= 0); repetition ``r`` uses ``SeedSequence(seed, spawn_key=(r,))``.
    gamma : float
        Initialisation variance, in ``(0, inf)``.
    n_records : int
        Record times (>= 3): 0, then ``n_records - 1`` log-spaced times from ``t_first`` to ``t_max``.
    t_first : float
        First positive record time, in ``(0, t_max)``.
    max_step : float
        Longest exact step, in ``(0, 4]`` (bounds the conditioning ``e^{4 h}``, not an accuracy parameter).

    Returns
    -------
    OjaResult
    """
    d = check_dimension(d)
    kappa = check_positive("kappa", kappa)
    if kappa > 1:
        raise ValueError(f"kappa must be in (0, 1], got {kappa!r}")
    m = int(math.floor(kappa * d))
    if m < 1:
        raise ValueError(f"kappa * d must be >= 1 so that m = floor(kappa d) >= 1, got kappa={kappa}, d={d}")
    t_max = check_positive("t_max", t_max)
    t_first = check_positive("t_first", t_first)
    if t_first >= t_max:
        raise ValueError(f"t_first must be in (0, t_max) = (0, {t_max}), got {t_first}")
    reps = check_int("reps", reps, minimum=1)
    seed = check_int("seed", seed, minimum=0)
    gamma = check_positive("gamma", gamma)
    n_records = check_int("n_records", n_records, minimum=3)
    max_step = check_positive("max_step", max_step)
    if max_step > 4:
        raise ValueError(f"max_step must be in (0, 4], got {max_step!r}")
    t = np.concatenate([[0.0], np.geomspace(t_first, t_max, n_records - 1)])
    outs = [_one_rep(d, m, gamma, t, max_step, np.random.SeedSequence(seed, spawn_key=(rep,)))
            for rep in range(reps)]
    return OjaResult(d=d, m=m, kappa=float(kappa), gamma=float(gamma), seed=seed, t=t,
                     dist=np.stack([o[0] for o in outs]), gap=np.array([o[1] for o in outs]))
