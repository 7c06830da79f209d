"""Dynamical mean-field theory (DMFT) of gradient flow, solved numerically (THEORY.md section 5).

As ``d -> infinity`` the training dynamics reduces to two coupled effective processes, solved here by iterating
them to self-consistency on a time grid ``t_0 = 0 < t_1 < ... < t_{N-1} = t_max``.

Parameter side
    A ``d_eff x d_eff`` matrix process (a finite-size stand-in for ``d = infinity``, averaged over ``samples``
    independent draws of ``S*``, ``W(0)`` and the noise)::

        dW/dt = -G(t) W,   G(t) = Xi(t) + 2 D(t) + 2 int_0^t Ru(t, s) D(s) ds + 2 lambda I,   D = W W^T - S*,
        Xi(t_i) = alpha^{-1/2} sum_{k <= i} L_ik Z_k,   L L^T = Cu (lower-triangular, causal),  Z_k iid GOE.

    Outputs ``C(t, s) = (2/d) tr(D(t) D(s))`` (``C(t, t) = 2 MSE(t)``) and the response
    ``R(t, s) = (2/d^2) Tr[dS(t)/dG(s)]`` (``<= 0``), estimated by tangent-linear runs of the full effective
    process (memory term included) started at ``n_starts`` times ``s`` by an impulse ``dW(s+) = -P W(s)`` with a
    random GOE probe ``P`` (Hutchinson: ``R(t, s) = E_P (1/d) tr(P dS(t))``), interpolated between start times at
    fixed lag ``t - s``.

Sample side
    A scalar Gaussian process, linear because the loss is quadratic (``u = f - y``)::

        u(t) = h(t) - sqrt(Delta) xi + (1/alpha) int_0^t R(t, s) u(s) ds,   h ~ GP(0, C),

    solved as a discrete Volterra equation: ``M = (I - K)^{-1} = I + Ru`` with ``K = R w / alpha`` (trapezoid
    weights ``w``), ``Cu = M (C + Delta) M^T``, ``Loss_train(t) = Cu(t, t) / 4``,
    ``ISE(t) = [M C M^T](t, t) / 4 + Delta (int_0^t Ru(t, s) ds)^2 / 4``.

Numerics (see the module's benchmark and tests for the measured errors):

* graded time grid (:func:`time_grid`), step ``h(t) = h_late (t + 1/refine) / (t + 1)``: ``h_late / refine`` at
  ``t = 0`` and ``h_late`` for ``t >> 1``; explicit Heun (second-order) steps with a predictor for the implicit
  diagonal memory term; the step is checked against the stability limit of the stiffest mode;
* memory integrals as block-causal matrix products over the stored history (GEMM, no Python loop over matrices);
* all random draws (``S*``, ``W(0)``, ``Z_k``, probes) are fixed across iterations (seeded), so the iteration is a
  deterministic contraction; it starts from the population flow and stops when the relative change of both
  kernels is below ``tol``;
* control variate for the reported MSE: each sample's ``alpha = infinity`` (population) flow from the same
  ``S*``, ``W(0)`` is subtracted and replaced by its mean over ``samples + control_samples`` cheap population
  runs. The kernel ``C`` used in the iteration is the plain sample mean (positive semi-definite).

The quantities the figures need: :attr:`DMFTResult.mse`, :attr:`DMFTResult.loss`, :attr:`DMFTResult.ise`, and
the variance of the network outputs ``f = tr(S Z_mu)`` on training samples,
:attr:`DMFTResult.output_variance_train` (``Cu(t,t) + 2 [M (Cs - Delta)](t) + q* + Delta`` with
``Cs(t) = (2/d) tr(D(t) S*)`` and ``q* = (2/d) tr S*^2``) and on fresh samples
:attr:`DMFTResult.output_variance_test` (``(2/d) tr S(t)^2 = C(t,t) + 2 Cs(t) + q*``).
"""
from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
from joblib import Parallel, delayed
from scipy.linalg import cholesky, solve_triangular
from tqdm.auto import tqdm

from .conventions import Setting, check_int, check_nonnegative, check_positive
from .data import goe, init_student, sample_teacher

__all__ = ["DMFTResult", "SampleSide", "dmft", "default_n_times", "time_grid", "sample_side", "trapezoid_weights",
           "causal_sqrt", "population_flow"]

#: Heun's method is stable for relaxation rates r with h r < 2; keep a margin.
_STABILITY_MARGIN = 1.6
_FORMAT_VERSION = 3


# ----------------------------------------------------------------------------------------------------------------
# grid, quadrature, sample side (pure functions)
# ----------------------------------------------------------------------------------------------------------------

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
    """Solve the sample side given the parameter-side kernels ``C`` and ``R`` (THEORY.md section 5).

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


# ----------------------------------------------------------------------------------------------------------------
# the effective process
# ----------------------------------------------------------------------------------------------------------------

class _CausalMemory:
    """``partial(i) = sum_{start <= l < i} kernel[i, l] history[..., l, :]`` by blocks of GEMMs.

    ``history`` is (N, k) or batched (B, N, k).

    ``history`` rows must be filled in time order before they are needed; the contribution of completed blocks
    is one matrix product per block, the current block's is a short matrix-vector product.
    """

    def __init__(self, kernel: np.ndarray, history: np.ndarray, start: int = 0, block: int = 32) -> None:
        self.kernel = kernel
        self.history = history
        self.start = start
        self.block = block
        self._b0 = -1
        self._past: np.ndarray | None = None

    def partial(self, i: int) -> np.ndarray:
        b0 = self.start + ((i - self.start) // self.block) * self.block
        if b0 != self._b0:
            self._b0 = b0
            self._past = (self.kernel[b0:b0 + self.block, self.start:b0] @ self.history[..., self.start:b0, :]
                          if b0 > self.start else None)
        hist = self.history
        out = (self.kernel[i, b0:i] @ hist[..., b0:i, :] if i > b0
               else np.zeros(hist.shape[:-2] + hist.shape[-1:]))
        if self._past is not None:
            out = out + self._past[..., i - b0, :]
        return out


class _Unstable(FloatingPointError):
    pass


@dataclass
class _Trajectory:
    W: np.ndarray        # (N, d, m)   W(t_i)
    Wp: np.ndarray       # (N-1, d, m) Heun predictor
    G: np.ndarray        # (N-1, d, d) G(t_i)
    Gp: np.ndarray       # (N-1, d, d) G at the predictor
    D: np.ndarray        # (N, d*d)    D(t_i) flattened


def _effective_run(t: np.ndarray, S_star: np.ndarray, W0: np.ndarray, lam: float,
                   Xi: np.ndarray | None, memory: np.ndarray | None, keep: bool) -> _Trajectory:
    """Integrate ``dW/dt = -G W`` (Heun) with ``G = Xi + 2 (D + memory * D) + 2 lam I``.

    ``Xi = None`` and ``memory = None`` give the population flow. ``keep`` stores what the tangent runs need.
    """
    n = t.size
    d, m = W0.shape
    D = np.empty((n, d * d))
    keep_shape = (n - 1,) if keep else (0,)
    traj = _Trajectory(W=np.empty((n if keep else 0, d, m)), Wp=np.empty(keep_shape + (d, m)),
                       G=np.empty(keep_shape + (d, d)), Gp=np.empty(keep_shape + (d, d)), D=D)
    mem = _CausalMemory(memory, D) if memory is not None else None
    diag = np.diag_indices(d)
    W = W0.copy()

    def field(Dmat: np.ndarray, i: int, partial: np.ndarray | None) -> np.ndarray:
        F = Dmat if memory is None else Dmat * (1.0 + memory[i, i]) + partial.reshape(d, d)
        G = 2.0 * F
        if Xi is not None:
            G = G + Xi[i].reshape(d, d)
        G[diag] += 2.0 * lam
        return G

    with np.errstate(over="raise", invalid="raise"):
        try:
            for i in range(n):
                Dmat = W @ W.T - S_star
                D[i] = Dmat.ravel()
                if keep:
                    traj.W[i] = W
                if i == n - 1:
                    break
                h = t[i + 1] - t[i]
                G = field(Dmat, i, mem.partial(i) if mem else None)
                k1 = -G @ W
                Wp = W + h * k1
                Gp = field(Wp @ Wp.T - S_star, i + 1, mem.partial(i + 1) if mem else None)
                W = W + 0.5 * h * (k1 - Gp @ Wp)
                if keep:
                    traj.Wp[i], traj.G[i], traj.Gp[i] = Wp, G, Gp
                if not np.isfinite(W[0, 0]):
                    raise FloatingPointError
        except FloatingPointError:
            raise _Unstable(f"the effective process blew up near t = {t[i]:.4g}") from None
    return traj


def _tangent_runs(t: np.ndarray, starts: np.ndarray, probes: np.ndarray, traj: _Trajectory,
                  memory: np.ndarray | None) -> np.ndarray:
    """Batched linearised Heun runs, probe ``b`` started at ``t_{starts[b]}`` by ``dW(t_j+) = -P_b W(t_j)``.

    Returns ``(1/d) tr(P_b dS_b(t_i))`` (B, N), NaN before each start. This is the exact tangent of the discrete
    forward map (memory term included), so it has no step-size mismatch with the forward run; the memory
    integral of run ``b`` starts at its start time (right half-cell only at ``t_j``).
    """
    n = t.size
    d, m = traj.W.shape[1:]
    nb = len(starts)
    j0 = int(starts.min())
    out = np.full((nb, n), np.nan)
    dW = np.zeros((nb, d, m))
    if memory is not None:
        history = np.zeros((n, nb * d * d))  # time-major: one GEMM/GEMV for the whole batch
        mem = _CausalMemory(memory, history, start=j0)
        first = np.zeros((nb, d * d))  # dD_b(t_{j_b}), for the half-cell correction
        cut = np.array([0.0 if j == 0 else 1.0 - (t[j + 1] - t[j]) / (t[j + 1] - t[j - 1]) for j in starts])

    def response_field(dD: np.ndarray, i: int) -> np.ndarray:
        dF = dD.reshape(nb, d * d)
        if memory is not None:
            dF = (dF * (1.0 + memory[i, i]) + mem.partial(i).reshape(nb, d * d)
                  - (cut * memory[i, starts])[:, None] * first)
        return 2.0 * dF.reshape(nb, d, d)

    with np.errstate(over="raise", invalid="raise"):
        try:
            for i in range(j0, n):
                W = traj.W[i]
                for b in np.flatnonzero(starts == i):
                    dW[b] = -probes[b] @ W
                dD = dW @ W.T
                dD += dD.transpose(0, 2, 1)
                if memory is not None:
                    history[i] = dD.reshape(-1)
                    new = starts == i
                    first[new] = dD[new].reshape(-1, d * d)
                active = starts <= i
                out[active, i] = np.einsum("bij,bij->b", probes[active], dD[active]) / d
                if i == n - 1:
                    break
                h = t[i + 1] - t[i]
                dk1 = -(response_field(dD, i) @ W + traj.G[i] @ dW)
                dWp = dW + h * dk1
                Wp = traj.Wp[i]
                dDp = dWp @ Wp.T
                dDp += dDp.transpose(0, 2, 1)
                dk2 = -(response_field(dDp, i + 1) @ Wp + traj.Gp[i] @ dWp)
                dW = dW + 0.5 * h * (dk1 + dk2)
        except FloatingPointError:
            raise _Unstable(f"a tangent-linear run blew up near t = {t[i]:.4g}") from None
    return out


def _child(seq: np.random.SeedSequence, k: int) -> np.random.SeedSequence:
    """The k-th child of ``seq``, without mutating it (``SeedSequence.spawn`` is stateful)."""
    return np.random.SeedSequence(entropy=seq.entropy, spawn_key=tuple(seq.spawn_key) + (k,),
                                  pool_size=seq.pool_size)


def _draws(setting: Setting, d: int, seed_seq: np.random.SeedSequence) -> tuple[np.ndarray, np.ndarray,
                                                                                  np.random.SeedSequence]:
    """Teacher, initial weights and the seed of the noise/probe stream of one sample."""
    teacher, init, noise = (_child(seed_seq, k) for k in range(3))
    m = max(1, int(round(setting.kappa * d)))
    S_star = sample_teacher(d, setting.kappa_star, np.random.default_rng(teacher))
    W0 = init_student(d, m, setting.gamma, np.random.default_rng(init))
    return S_star, W0, noise


def population_flow(setting: Setting, t: np.ndarray, d: int, seed_seq: np.random.SeedSequence) -> np.ndarray:
    """``D(t_i)`` (N, d*d) of the ``alpha = infinity`` flow ``dW/dt = -2 (D + lam I) W`` of one sample."""
    S_star, W0, _ = _draws(setting, d, seed_seq)
    return _effective_run(t, S_star, W0, setting.lam, None, None, keep=False).D


def _pop_statistics(setting: Setting, t: np.ndarray, d: int, seed_seq: np.random.SeedSequence
                    ) -> tuple[np.ndarray, float]:
    S_star, W0, _ = _draws(setting, d, seed_seq)
    D = _effective_run(t, S_star, W0, setting.lam, None, None, keep=False).D
    s_max = float(np.linalg.eigvalsh(S_star)[-1])
    return (2.0 / d) * (D @ D.T), s_max


def _sample_sweep(setting: Setting, t: np.ndarray, d: int, seed_seq: np.random.SeedSequence,
                  L: np.ndarray | None, memory: np.ndarray | None, starts: np.ndarray, batch: int = 5
                  ) -> dict[str, np.ndarray]:
    """One sweep of one sample: forward effective process + tangent runs; returns its kernel estimates."""
    S_star, W0, noise_seq = _draws(setting, d, seed_seq)
    z_seq, p_seq = _child(noise_seq, 0), _child(noise_seq, 1)
    n = t.size
    Xi = None
    if L is not None:
        Z = goe(d, np.random.default_rng(z_seq), size=n).reshape(n, d * d)
        Xi = (L @ Z) / math.sqrt(setting.alpha)
        del Z
    traj = _effective_run(t, S_star, W0, setting.lam, Xi, memory, keep=True)
    del Xi
    probes = goe(d, np.random.default_rng(p_seq), size=len(starts))
    R_cols = np.concatenate([_tangent_runs(t, starts[b:b + batch], probes[b:b + batch], traj, memory)
                             for b in range(0, len(starts), batch)])
    D = traj.D
    trace_S = np.einsum("nij,nij->n", traj.W, traj.W) / d
    return {"C": (2.0 / d) * (D @ D.T), "R_cols": R_cols, "trace_S": trace_S,
            "Cs": (2.0 / d) * (D @ S_star.ravel()), "q_star": (2.0 / d) * float(np.vdot(S_star, S_star))}


def _interpolate_response(t: np.ndarray, starts: np.ndarray, R_cols: np.ndarray, diagonal: np.ndarray
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


# ----------------------------------------------------------------------------------------------------------------
# result and driver
# ----------------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DMFTResult:
    """Solution of the DMFT on a time grid (THEORY.md section 5 conventions).

    Attributes
    ----------
    setting : Setting
    t : numpy.ndarray
        Time grid (N,).
    mse, mse_stderr : numpy.ndarray
        ``MSE(t)`` and its sampling standard error: the mean over samples of ``C_k(t, t)/2`` with the control
        variate (each sample's population flow subtracted, replaced by the mean over all population runs).
        ``C(t, t)/2`` is the plain sample mean.
    loss : numpy.ndarray
        ``Loss_train(t) = Cu(t, t) / 4``.
    ise : numpy.ndarray
        In-sample error (against clean labels).
    loss_stderr, ise_stderr : numpy.ndarray
        Jackknife (leave one sample out) standard errors of ``loss`` and ``ise`` from the final kernels. At late
        times ``Loss_train = Cu(t,t)/4`` is a strong cancellation (``~ chi^2 C`` with ``chi = 1 + int Ru`` small),
        which amplifies the sampling noise of ``C`` and ``R``; these errors measure it (they do not include its
        propagation through the self-consistency).
    mse_population : numpy.ndarray
        MSE of the ``alpha = infinity`` flow at ``d_eff`` (mean over all population runs; the control).
    C, R, Cu, Ru : numpy.ndarray
        Kernels (N, N): ``C(t,s) = (2/d) tr(D(t) D(s))``; ``R(t,s) = (2/d^2) Tr dS(t)/dG(s)`` (lower triangle);
        ``Cu`` the covariance of ``u = f - y`` on training samples; ``Ru`` the regular part of the response of
        ``u`` to ``h`` (lower triangle).
    M : numpy.ndarray
        Discrete ``(I - K)^{-1} = I + Ru`` (quadrature weights included).
    Cs : numpy.ndarray
        ``(2/d) tr(D(t) S*)`` (N,).
    q_star : float
        ``(2/d) tr S*^2`` averaged over the samples (``-> 2 (1 + 1/kappa*)``).
    trace_S : numpy.ndarray
        ``tr S(t) / d``.
    iterations : int
        Sweeps of the self-consistency iteration done.
    converged : bool
        Whether the relative change of the kernels fell below ``tol``.
    error : float
        Final relative self-consistency error ``max(|dC|/max|C|, |dR|/max|R|)``.
    errors : numpy.ndarray
        The error after every sweep.
    reason : str
        Why the iteration stopped.
    d_eff, samples, control_samples, n_starts, seed : int
    tol, damping : float
    """

    setting: Setting
    t: np.ndarray
    mse: np.ndarray
    mse_stderr: np.ndarray
    loss: np.ndarray
    ise: np.ndarray
    loss_stderr: np.ndarray
    ise_stderr: np.ndarray
    mse_population: np.ndarray
    C: np.ndarray
    R: np.ndarray
    Cu: np.ndarray
    Ru: np.ndarray
    M: np.ndarray
    Cs: np.ndarray
    q_star: float
    trace_S: np.ndarray
    iterations: int
    converged: bool
    error: float
    errors: np.ndarray
    reason: str
    d_eff: int
    samples: int
    control_samples: int
    n_starts: int
    seed: int
    tol: float
    damping: float

    @property
    def output_variance_test(self) -> np.ndarray:
        """Variance of the outputs ``f = tr(S(t) Z)`` on fresh inputs: ``(2/d) tr S^2 = C(t,t) + 2 Cs + q*``."""
        return np.diag(self.C) + 2.0 * self.Cs + self.q_star

    @property
    def output_variance_train(self) -> np.ndarray:
        """Variance of the outputs ``f = tr(S(t) Z_mu)`` on the training samples (Figure 1's Gaussian).

        ``f = u + y`` with ``u = M (h - sqrt(Delta) xi)``, ``y = h* + sqrt(Delta) xi``:
        ``E f^2 = Cu(t,t) + 2 [M (Cs - Delta)](t) + q* + Delta``.
        """
        noise = self.setting.noise
        return np.diag(self.Cu) + 2.0 * self.M @ (self.Cs - noise) + self.q_star + noise

    def to_npz(self, path: str | os.PathLike) -> None:
        """Save to a compressed ``.npz`` (read back with :meth:`from_npz`)."""
        arrays = {}
        meta = {"format_version": _FORMAT_VERSION, "setting": asdict(self.setting)}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, np.ndarray):
                arrays[f.name] = value
            elif f.name != "setting":
                meta[f.name] = value
        np.savez_compressed(path, meta=json.dumps(meta), **arrays)

    @classmethod
    def from_npz(cls, path: str | os.PathLike) -> DMFTResult:
        """Load a result saved by :meth:`to_npz`."""
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            if meta.pop("format_version", None) != _FORMAT_VERSION:
                raise ValueError(f"{path}: not a DMFT result of format version {_FORMAT_VERSION}")
            arrays = {k: data[k] for k in data.files if k != "meta"}
        meta["setting"] = Setting(**meta["setting"])
        return cls(**meta, **arrays)


def _jackknife_loss(setting: Setting, t: np.ndarray, starts: np.ndarray, outs: list[dict], C_pop_own: np.ndarray,
                    C_pop_mean: np.ndarray, d_eff: int) -> tuple[np.ndarray, np.ndarray]:
    """Leave-one-sample-out standard errors of ``Loss_train(t)`` and ``ISE(t)`` (NaN for a single sample)."""
    k = len(outs)
    if k < 2:
        return np.full(t.size, np.nan), np.full(t.size, np.nan)
    loss, ise = [], []
    for leave in range(k):
        keep = [i for i in range(k) if i != leave]
        C = np.mean([outs[i]["C"] for i in keep], axis=0)
        trace_S = np.mean([outs[i]["trace_S"] for i in keep], axis=0)
        R = _interpolate_response(t, starts, np.mean([outs[i]["R_cols"] for i in keep], axis=0),
                                  -2.0 * (d_eff + 1) / d_eff * trace_S)
        side = sample_side(t, C, R, setting.alpha, setting.noise)
        loss.append(np.diag(side.Cu) / 4.0)
        ise.append(side.ise)
    factor = (k - 1) / k
    return (np.sqrt(factor * np.sum((np.array(loss) - np.mean(loss, axis=0)) ** 2, axis=0)),
            np.sqrt(factor * np.sum((np.array(ise) - np.mean(ise, axis=0)) ** 2, axis=0)))


def _cache_key(params: dict) -> str:
    blob = json.dumps(params, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def default_n_times(setting: Setting, t_max: float, h_late: float = 0.05, refine: float = 10.0) -> int:
    """Grid size giving a late step ``min(h_late, 1.4 / (4 s_edge))`` (``s_edge = (1 + kappa*^{-1/2})^2``,
    the top of the teacher spectrum), i.e. inside the stability limit of the explicit integrator."""
    t_max = check_positive("t_max", t_max)
    h_late = check_positive("h_late", h_late)
    edge = (1.0 + 1.0 / math.sqrt(setting.kappa_star)) ** 2
    h = min(h_late, 1.4 / (4.0 * edge))
    a = 1.0 / refine
    return int(math.ceil((t_max + (1.0 - a) * math.log((t_max + a) / a)) / h)) + 1


def dmft(setting: Setting, t_max: float, *, n_times: int | None = None, d_eff: int = 80, samples: int = 4,
         control_samples: int = 16, n_starts: int = 20, damping: float = 0.0, tol: float = 2e-3,
         max_iter: int = 25, refine: float = 10.0, seed: int = 0, n_jobs: int = 1, batch: int = 5,
         cache_dir: str | os.PathLike | None = None, progress: bool = True) -> DMFTResult:
    """Solve the DMFT of gradient flow up to ``t_max`` (THEORY.md section 5).

    Parameters
    ----------
    setting : Setting
        The model (alpha, kappa, kappa*, Delta, lambda, gamma).
    t_max : float
        Final time, in ``(0, inf)``.
    n_times : int or None
        Grid points of the graded grid (:func:`time_grid`), >= 3; ``None`` uses :func:`default_n_times` (late
        step <= 0.05). The late step ``h_late`` must satisfy the stability limit of the explicit integrator,
        ``h_late * 4 max eig(S*) <= 1.6`` (checked).
    d_eff : int
        Size of the effective matrix process, >= 4. Its sampling spread and 1/d_eff bias shrink as it grows; the
        cost grows like ``d_eff^3``.
    samples : int
        Independent effective-process samples averaged (>= 1).
    control_samples : int
        Extra population-flow runs (cheap) for the control variate's mean (>= 0).
    n_starts : int
        Start times of the tangent-linear response runs (>= 2), equally spaced in grid index (two more are added
        just before ``t_max``).
    damping : float
        In ``[0, 1)``: kernels ``<- damping * old + (1 - damping) * new`` between sweeps (plain iteration
        converges without it; Anderson acceleration was tried and gave no gain).
    tol : float
        Convergence threshold of the relative kernel change, in ``(0, inf)``.
    max_iter : int
        Maximal number of sweeps (>= 1).
    refine : float
        Early/late step ratio of the grid, ``>= 1``.
    seed : int
        Base seed (>= 0); results are reproducible for a given seed and parameters.
    n_jobs : int
        joblib workers over samples (>= 1).
    batch : int
        Tangent-linear runs integrated together (>= 1): fewer Python steps, more memory
        (``batch * n_times * d_eff^2`` doubles per worker).
    cache_dir : path or None
        If given, the final result is cached there (keyed on all parameters) and the kernels are checkpointed
        after every sweep, so an interrupted solve resumes where it stopped.
    progress : bool
        Show a tqdm progress bar over the sweeps.

    Returns
    -------
    DMFTResult
        ``converged`` is False (with ``reason``) if ``max_iter`` sweeps did not reach ``tol``.

    Raises
    ------
    ValueError
        For a parameter outside its range, or a time step beyond the integrator's stability limit.
    RuntimeError
        If the effective process blows up numerically.
    """
    if not isinstance(setting, Setting):
        raise ValueError(f"setting must be a qnn.Setting, got {type(setting).__name__}")
    t_max = check_positive("t_max", t_max)
    refine = check_positive("refine", refine)
    n_times = default_n_times(setting, t_max, refine=max(refine, 1.0)) if n_times is None else n_times
    n_times = check_int("n_times", n_times, minimum=3)
    d_eff = check_int("d_eff", d_eff, minimum=4)
    samples = check_int("samples", samples, minimum=1)
    control_samples = check_int("control_samples", control_samples, minimum=0)
    n_starts = check_int("n_starts", n_starts, minimum=2)
    damping = check_nonnegative("damping", damping)
    if damping >= 1:
        raise ValueError(f"damping must be in [0, 1), got {damping!r}")
    tol = check_positive("tol", tol)
    max_iter = check_int("max_iter", max_iter, minimum=1)
    seed = check_int("seed", seed, minimum=0)
    n_jobs = check_int("n_jobs", n_jobs, minimum=1)
    batch = check_int("batch", batch, minimum=1)
    t = time_grid(t_max, n_times, refine)
    n = t.size
    # start times equally spaced in grid index, plus a few close to t_max: the response at the last rows is
    # interpolated from starts that reach the lag, so the last start interval is kept short
    starts = np.unique(np.concatenate([np.round(np.linspace(0, n - 2, n_starts)).astype(int),
                                       [k for k in (n - 4, n - 7) if k > 0]]))

    params = {"setting": asdict(setting), "t_max": t_max, "n_times": n_times, "d_eff": d_eff, "samples": samples,
              "control_samples": control_samples, "n_starts": n_starts, "damping": damping, "tol": tol,
              "max_iter": max_iter, "refine": refine, "seed": seed, "version": _FORMAT_VERSION}
    final_path = ckpt_path = None
    if cache_dir is not None:
        cache = Path(cache_dir)
        cache.mkdir(parents=True, exist_ok=True)
        key = _cache_key(params)
        final_path, ckpt_path = cache / f"dmft-{key}.npz", cache / f"dmft-{key}.ckpt.npz"
        if final_path.exists():
            return DMFTResult.from_npz(final_path)

    root = np.random.SeedSequence(seed)
    seqs = [_child(root, k) for k in range(samples + control_samples)]
    parallel = Parallel(n_jobs=n_jobs)
    # population flows: the starting point of the iteration and the control variate (sweep-independent)
    try:
        pops = parallel(delayed(_pop_statistics)(setting, t, d_eff, s) for s in seqs)
    except _Unstable as exc:
        raise ValueError(f"n_times = {n_times} is too small for t_max = {t_max:g} ({exc}: explicit-integrator "
                         f"instability); use n_times >= {default_n_times(setting, t_max, refine=refine)}") from None
    C_pop = np.stack([p[0] for p in pops])
    s_max = max(p[1] for p in pops)
    h_late = float(np.max(np.diff(t)))
    if h_late * 4.0 * s_max > _STABILITY_MARGIN:
        need = int(math.ceil((n_times - 1) * h_late * 4.0 * s_max / _STABILITY_MARGIN)) + 1
        raise ValueError(f"n_times = {n_times} gives a late step {h_late:.3g} beyond the stability limit of the "
                         f"explicit integrator (stiffest rate ~ 4 max eig S* = {4 * s_max:.3g}); use n_times >= "
                         f"{need} for t_max = {t_max:g}")
    C_pop_mean = C_pop.mean(axis=0)
    C_pop_own = C_pop[:samples]

    C = C_pop[:samples].mean(axis=0)
    R = np.zeros((n, n))
    errors: list[float] = []
    if ckpt_path is not None and ckpt_path.exists():
        with np.load(ckpt_path) as ck:
            C, R, errors = ck["C"], ck["R"], list(ck["errors"])
    sweeps = tqdm(range(len(errors), max_iter), desc=f"DMFT alpha={setting.alpha:g}", disable=not progress,
                  initial=len(errors), total=max_iter)
    converged, reason, last = False, "", None
    for sweep in sweeps:
        side = sample_side(t, C, R, setting.alpha, setting.noise)
        L = causal_sqrt(side.Cu)
        try:
            outs = parallel(delayed(_sample_sweep)(setting, t, d_eff, s, L, side.memory, starts, batch)
                            for s in seqs[:samples])
        except _Unstable as exc:
            raise RuntimeError(f"DMFT sweep {sweep + 1}: {exc}; increase n_times (smaller steps)") from None
        C_each = np.stack([o["C"] for o in outs])
        # plain mean: a Gram-matrix average stays positive semi-definite. (Adding the control variate here made C
        # indefinite by ~1e-3, and projecting Cu back onto the PSD cone -- a non-causal operation -- distorted
        # the late-time noise, where Cu(t,t) is itself only ~1e-2.)
        C_new = C_each.mean(axis=0)
        trace_S = np.mean([o["trace_S"] for o in outs], axis=0)
        R_new = _interpolate_response(t, starts, np.mean([o["R_cols"] for o in outs], axis=0),
                                      -2.0 * (d_eff + 1) / d_eff * trace_S)
        err = max(float(np.max(np.abs(C_new - C)) / np.max(np.abs(C_new))),
                  float(np.max(np.abs(R_new - R)) / max(np.max(np.abs(R_new)), 1e-300)))
        errors.append(err)
        last = (outs, C_each)
        C = damping * C + (1.0 - damping) * C_new
        R = damping * R + (1.0 - damping) * R_new
        sweeps.set_postfix(error=f"{err:.2e}")
        if ckpt_path is not None:
            np.savez(ckpt_path, C=C, R=R, errors=np.array(errors))
        if not np.isfinite(err):
            reason = f"non-finite kernels at sweep {sweep + 1}"
            break
        if err < tol:
            converged, reason = True, f"relative kernel change {err:.2e} < tol = {tol:g} after {sweep + 1} sweeps"
            break
    sweeps.close()
    if last is None:  # resumed from a checkpoint that had already used up max_iter: one more sweep's statistics
        side = sample_side(t, C, R, setting.alpha, setting.noise)
        outs = parallel(delayed(_sample_sweep)(setting, t, d_eff, s, causal_sqrt(side.Cu), side.memory, starts,
                                                 batch)
                        for s in seqs[:samples])
        last = (outs, np.stack([o["C"] for o in outs]))
    if not reason:
        reason = f"not converged: relative kernel change {errors[-1]:.2e} > tol = {tol:g} after {len(errors)} sweeps"
    outs, C_each = last

    side = sample_side(t, C, R, setting.alpha, setting.noise)
    mse_diff = np.einsum("kii->ki", C_each - C_pop_own) / 2.0
    mse_pop_all = np.einsum("kii->ki", C_pop) / 2.0
    var = mse_diff.var(axis=0, ddof=1) / samples if samples > 1 else np.full(n, np.nan)
    var = var + mse_pop_all.var(axis=0, ddof=1) / len(seqs) if len(seqs) > 1 else var
    loss_se, ise_se = _jackknife_loss(setting, t, starts, outs, C_pop_own, C_pop_mean, d_eff)
    result = DMFTResult(
        setting=setting, t=t, mse=mse_diff.mean(axis=0) + mse_pop_all.mean(axis=0), mse_stderr=np.sqrt(var),
        loss=np.diag(side.Cu) / 4.0, ise=side.ise, loss_stderr=loss_se, ise_stderr=ise_se,
        mse_population=mse_pop_all.mean(axis=0), C=C, R=R, Cu=side.Cu, Ru=side.Ru, M=side.M,
        Cs=np.mean([o["Cs"] for o in outs], axis=0), q_star=float(np.mean([o["q_star"] for o in outs])),
        trace_S=np.mean([o["trace_S"] for o in outs], axis=0), iterations=len(errors), converged=converged,
        error=float(errors[-1]) if errors else float("nan"), errors=np.array(errors), reason=reason,
        d_eff=d_eff, samples=samples, control_samples=control_samples, n_starts=len(starts), seed=seed, tol=tol,
        damping=damping)
    if final_path is not None:
        result.to_npz(final_path)
        if ckpt_path is not None and ckpt_path.exists():
            ckpt_path.unlink()
    return result
