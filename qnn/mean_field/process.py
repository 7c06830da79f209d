"""The DMFT's effective matrix process: forward runs, tangent-linear response runs, one sample's sweep.

Theory: book/theory/dmft.md. The random draws of a sample (teacher, initialisation, noise, probes) are fixed by its
seed sequence, so a sweep is a deterministic function of the kernels it is given.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..conventions import Setting
from ..simulation.data import goe, init_student, sample_teacher


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
    dissipation: np.ndarray  # (N,)    (1/d) |G W|_F^2 at t_i (the energy balance's right-hand side)


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
                       G=np.empty(keep_shape + (d, d)), Gp=np.empty(keep_shape + (d, d)), D=D,
                       dissipation=np.empty(n))
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
                G = field(Dmat, i, mem.partial(i) if mem else None)
                k1 = -G @ W
                traj.dissipation[i] = float(np.vdot(k1, k1)) / d
                if i == n - 1:
                    break
                h = t[i + 1] - t[i]
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


def population_balance(setting: Setting, t: np.ndarray, d: int, seed_seq: np.random.SeedSequence
                       ) -> tuple[np.ndarray, np.ndarray]:
    """The energy balance of the sample's population flow on grid ``t``, and its exact loss.

    Returns ``E(0) + lam (trS(0) - trS(t))/d - int_0^t (1/d)|G W|^2`` (trapezoid rule) and ``E(t) = C(t,t)/4``
    (the population loss without the noise term): equal in continuous time, so their difference is the
    discretisation error of the balance, second order in the step.
    """
    S_star, W0, _ = _draws(setting, d, seed_seq)
    traj = _effective_run(t, S_star, W0, setting.lam, None, None, keep=False)
    loss = np.einsum("ij,ij->i", traj.D, traj.D) / (2.0 * d)
    trace_S = (traj.D @ np.eye(d).ravel() + np.trace(S_star)) / d
    steps = 0.5 * np.diff(t) * (traj.dissipation[1:] + traj.dissipation[:-1])
    balance = loss[0] + setting.lam * (trace_S[0] - trace_S) - np.concatenate([[0.0], np.cumsum(steps)])
    return balance, loss


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
    return {"C": (2.0 / d) * (D @ D.T), "R_cols": R_cols, "trace_S": trace_S, "dissipation": traj.dissipation,
            "Cs": (2.0 / d) * (D @ S_star.ravel()), "q_star": (2.0 / d) * float(np.vdot(S_star, S_star))}

