"""The DMFT's numerics that do not involve the effective process: grid, quadrature, sample side, causal noise.

Theory: book/theory/dmft.md. Everything here is a pure function of arrays.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.linalg import cholesky, solve_triangular

from ..conventions import Setting, check_int, check_nonnegative, check_positive

#: Heun's method is stable for relaxation rates r with h r < 2; keep a margin.
STABILITY_MARGIN = 1.6


def stiffest_rate(s_max: float, lam: float) -> float:
    """Upper estimate of the fastest relaxation rate of the effective process, ``4 s_max + 2 lambda``.

    ``s_max`` is the largest teacher eigenvalue; near the end of learning ``G ~ 2 (D + lambda)`` acts on ``W`` and
    on ``W W^T`` twice, so the stiffest mode of ``dW/dt = -G W`` relaxes at ``~ 4 s_max + 2 lambda``.
    """
    return 4.0 * s_max + 2.0 * lam


def default_n_times(setting: Setting, t_max: float, h_late: float = 0.05, refine: float = 10.0) -> int:
    """Grid size giving a late step ``min(h_late, 1.4 / (4 s_edge + 2 lambda))`` (at least 3 points).

    ``s_edge = (1 + kappa*^{-1/2})^2`` is the top of the teacher spectrum, so the step is inside the stability limit
    of the explicit integrator (:data:`STABILITY_MARGIN`).
    """
    t_max = check_positive("t_max", t_max)
    h_late = check_positive("h_late", h_late)
    edge = (1.0 + 1.0 / math.sqrt(setting.kappa_star)) ** 2
    h = min(h_late, 1.4 / stiffest_rate(edge, setting.lam))
    return max(3, grid_points(t_max, h, refine))


def grid_points(t_max: float, h_late: float, refine: float = 10.0) -> int:
    """Number of points of the graded grid (:func:`time_grid`) whose late step is at most ``h_late``."""
    a = 1.0 / refine
    steps = (t_max + (1.0 - a) * math.log((t_max + a) / a)) / h_late
    return int(min(math.ceil(steps), 2 ** 62)) + 1


def time_grid(t_max: float, n_times: int, refine: float = 10.0) -> np.ndarray:
    """A graded time grid on ``[0, t_max]``: fine at early times, uniform later.

    The step follows ``h(t) = h_late (t + 1/refine) / (t + 1)``: ``h_late / refine`` at ``t = 0`` (where the
    dynamics is fastest), ``h_late`` for ``t >> 1``; ``h_late`` is chosen so that ``n_times`` points end at
    ``t_max``.

    Parameters
    ----------
    t_max : float
        Final time, in ``(0, inf)``.
    n_times : int
        Number of grid points (>= 3).
    refine : float
        Ratio of the late to the initial step, in ``[1, inf)`` (``1`` gives a uniform grid).

    Returns
    -------
    numpy.ndarray
        Increasing times ``t_0 = 0, ..., t_{n_times - 1} = t_max``.
    """
    t_max = check_positive("t_max", t_max)
    n_times = check_int("n_times", n_times, minimum=3)
    refine = check_positive("refine", refine)
    if refine < 1:
        raise ValueError(f"refine must be >= 1 (allowed range [1, inf)), got {refine!r}")
    a = 1.0 / refine
    # number of steps = int_0^T dt / h(t) = [T + (1 - a) ln((T + a) / a)] / h_late
    h_late = (t_max + (1.0 - a) * math.log((t_max + a) / a)) / (n_times - 1)
    t = np.empty(n_times)
    t[0] = 0.0
    for i in range(n_times - 1):  # midpoint rule on dt/di = h(t): smooth, monotone
        tm = t[i] + 0.5 * h_late * (t[i] + a) / (t[i] + 1.0)
        t[i + 1] = t[i] + h_late * (tm + a) / (tm + 1.0)
    t *= t_max / t[-1]
    t[-1] = t_max
    return t


def trapezoid_weights(t: np.ndarray) -> np.ndarray:
    """Lower-triangular trapezoid weights: ``int_0^{t_i} f(s) ds ~ sum_{l <= i} w[i, l] f(t_l)``.

    Row 0 is zero (empty integral); for ``i >= 1`` the end points get half cells and the weight at ``s = 0`` is
    applied once.
    """
    t = np.asarray(t, dtype=float)
    n = t.size
    dt = np.diff(t)
    w = np.zeros((n, n))
    for i in range(1, n):
        w[i, :i + 1] = 0.0
        w[i, 0] = 0.5 * dt[0]
        if i > 1:
            w[i, 1:i] = 0.5 * (dt[:i - 1] + dt[1:i])
        w[i, i] += 0.5 * dt[i - 1]
    return w


@dataclass(frozen=True)
class SampleSide:
    """Solution of the sample-side Volterra equation on the grid.

    Attributes
    ----------
    M : numpy.ndarray
        ``(I - K)^{-1}``, ``K = R w / alpha``: the discrete response of ``u`` to ``h`` (identity + memory).
    memory : numpy.ndarray
        ``M - I``: ``sum_l memory[i, l] f(t_l) ~ int_0^{t_i} Ru(t_i, s) f(s) ds`` (weights included).
    Ru : numpy.ndarray
        The regular part of the response as a kernel, ``memory / w`` (zero where ``w = 0``).
    Cu : numpy.ndarray
        ``M (C + Delta) M^T``: covariance of ``u = f - y`` on training samples.
    ise : numpy.ndarray
        In-sample error ``[M C M^T](t, t) / 4 + Delta (sum_l memory[t, l])^2 / 4``.
    """

    M: np.ndarray
    memory: np.ndarray
    Ru: np.ndarray
    Cu: np.ndarray
    ise: np.ndarray


def sample_side(t: np.ndarray, C: np.ndarray, R: np.ndarray, alpha: float, noise: float) -> SampleSide:
    """Solve the sample side given the parameter-side kernels ``C`` and ``R`` (theory: book/theory/dmft.md).

    Parameters
    ----------
    t : numpy.ndarray
        Time grid (N,).
    C, R : numpy.ndarray
        Kernels (N, N); only the lower triangle (``t >= s``) of ``R`` is used.
    alpha : float
        Sample ratio, in ``(0, inf)``.
    noise : float
        Label-noise variance ``Delta``, in ``[0, inf)``.
    """
    alpha = check_positive("alpha", alpha)
    noise = check_nonnegative("noise", noise)
    w = trapezoid_weights(t)
    n = w.shape[0]
    K = np.tril(R) * w / alpha
    eye = np.eye(n)
    M = solve_triangular(eye - K, eye, lower=True)
    memory = M - eye
    Ru = np.divide(memory, w, out=np.zeros_like(memory), where=w > 0)
    Cu = M @ (C + noise) @ M.T
    Cu = 0.5 * (Cu + Cu.T)
    ise = (np.sum((M @ C) * M, axis=1) + noise * memory.sum(axis=1) ** 2) / 4.0
    return SampleSide(M=M, memory=memory, Ru=Ru, Cu=Cu, ise=ise)


def causal_sqrt(cov: np.ndarray, jitter: float = 1e-10) -> np.ndarray:
    """Lower-triangular ``L`` with ``L L^T ~ cov`` (Cholesky), robust to a near-singular or slightly indefinite ``cov``.

    Covariances of smooth processes on a fine grid are extremely ill-conditioned, and plain Cholesky with
    clipped pivots then returns rows with a wrong norm (huge noise). Here ``cov`` is first projected onto the
    positive semi-definite cone (negative eigenvalues, from rounding or a control-variate estimate, set to
    zero), then ``jitter * max(diag)`` is added to the diagonal so that Cholesky is backward stable:
    ``L L^T = cov + O(jitter) max(diag)``. Row ``i`` of ``L`` only involves times ``<= t_i`` (causal noise).

    Raises
    ------
    ValueError
        If ``cov`` is not a finite square matrix.
    """
    cov = np.asarray(cov, dtype=float)
    if cov.ndim != 2 or cov.shape[0] != cov.shape[1] or not np.all(np.isfinite(cov)):
        raise ValueError("cov must be a finite square matrix")
    cov = 0.5 * (cov + cov.T)
    scale = max(float(np.max(np.diag(cov))), 1e-300)
    eye = np.eye(cov.shape[0])
    try:
        return cholesky(cov + jitter * scale * eye, lower=True)
    except np.linalg.LinAlgError:   # indefinite beyond the jitter: project (O(N^3) eigh, rarely needed)
        vals, vecs = np.linalg.eigh(cov)
        cov = (vecs * np.clip(vals, 0.0, None)) @ vecs.T
        return cholesky(cov + jitter * scale * eye, lower=True)



def interpolate_response(t: np.ndarray, starts: np.ndarray, R_cols: np.ndarray, diagonal: np.ndarray
                          ) -> np.ndarray:
    """``R(t_a, t_b)`` on the whole grid from the columns at the start times, interpolated in ``s`` at fixed lag.

    ``diagonal`` (the exact probe expectation of the equal-time value) replaces the interpolated diagonal.
    """
    n = t.size
    s = t[starts]
    R = np.zeros((n, n))
    for b in range(n):
        lags = t[b:] - t[b]
        J = min(int(np.searchsorted(s, t[b], side="right")) - 1, len(s) - 1)
        vals = np.interp(s[J] + lags, t[starts[J]:], R_cols[J, starts[J]:])
        if J + 1 < len(s):
            theta = (t[b] - s[J]) / (s[J + 1] - s[J])
            tq = s[J + 1] + lags
            inside = tq <= t[-1] + 1e-12
            other = np.interp(tq, t[starts[J + 1]:], R_cols[J + 1, starts[J + 1]:])
            if J >= 1 and not np.all(inside):
                # near t_max the later start does not reach this lag: continue the piecewise-linear dependence on s
                # from the two earlier starts instead of freezing it (freezing biased the last rows of R and made
                # chi and Loss_train jump over the last start interval)
                before = np.interp(s[J - 1] + lags, t[starts[J - 1]:], R_cols[J - 1, starts[J - 1]:])
                slope = (vals - before) / (s[J] - s[J - 1])
                fallback = vals + slope * (t[b] - s[J])
            else:
                fallback = vals
            vals = np.where(inside, (1.0 - theta) * vals + theta * other, fallback)
        R[b:, b] = vals
    R[np.diag_indices(n)] = diagonal
    return R

