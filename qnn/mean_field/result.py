"""The DMFT's result: a frozen dataclass with the curves, the kernels and the iteration's record.

Theory: book/theory/dmft.md.
"""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

from ..conventions import Setting
from .numerics import interpolate_response, sample_side

#: Layout version of :meth:`DMFTResult.to_npz` files (4: per-sweep history, per-time stopping test, dissipation).
FORMAT_VERSION = 4


def atomic_savez(path: str | os.PathLike, compressed: bool = True, **arrays: np.ndarray) -> None:
    """``numpy.savez`` to a temporary file in the same folder, then ``os.replace``: never a truncated file."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            (np.savez_compressed if compressed else np.savez)(handle, **arrays)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass(frozen=True)
class DMFTResult:
    """Solution of the DMFT on a time grid (conventions: book/theory/dmft.md).

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
    dissipation : numpy.ndarray
        ``(1/d) |G W|_F^2`` of the effective process (mean over samples): the parameter-side energy balance
        ``d/dt [Loss_train + lambda tr S / d] = -(1/d) |G W|_F^2`` (see
        :func:`qnn.mean_field.validation.energy_balance`).
    sample_dissipation, sample_trace_S : numpy.ndarray
        The same per sample (samples, N), and ``sample_C0`` each sample's ``C(0, 0)`` (samples,): the balance of
        each sample, for its standard error.
    iterations : int
        Sweeps of the self-consistency iteration done.
    converged : bool
        Whether the last sweep moved every monitored quantity by less than ``tol`` (relative, at every time): the
        per-time stopping test of :func:`qnn.mean_field.dmft`.
    error : float
        The last sweep's change: the largest relative change, over all times, of ``C(t,t)``, ``Cu(t,t)``, ``chi(t)``
        and of ``R`` on the late-time band (relative to the band's largest ``|R|``).
    errors : numpy.ndarray
        The error after every sweep.
    loss_history : numpy.ndarray
        ``Loss_train(t_max)`` after every sweep (from the kernels that sweep produced).
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
    loss_history: np.ndarray
    dissipation: np.ndarray
    sample_dissipation: np.ndarray
    sample_trace_S: np.ndarray
    sample_C0: np.ndarray
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
        """Save to a compressed ``.npz``, atomically (read back with :meth:`from_npz`)."""
        arrays = {}
        meta = {"format_version": FORMAT_VERSION, "setting": asdict(self.setting)}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, np.ndarray):
                arrays[f.name] = value
            elif f.name != "setting":
                meta[f.name] = value
        atomic_savez(path, meta=json.dumps(meta), **arrays)

    @classmethod
    def from_npz(cls, path: str | os.PathLike) -> DMFTResult:
        """Load a result saved by :meth:`to_npz`."""
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            if meta.pop("format_version", None) != FORMAT_VERSION:
                raise ValueError(f"{path}: not a DMFT result of format version {FORMAT_VERSION}")
            arrays = {k: data[k] for k in data.files if k != "meta"}
        meta["setting"] = Setting(**meta["setting"])
        return cls(**meta, **arrays)


def jackknife_loss(setting: Setting, t: np.ndarray, starts: np.ndarray, outs: list[dict], d_eff: int
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Leave-one-sample-out standard errors of ``Loss_train(t)`` and ``ISE(t)`` (NaN for a single sample)."""
    k = len(outs)
    if k < 2:
        return np.full(t.size, np.nan), np.full(t.size, np.nan)
    loss, ise = [], []
    for leave in range(k):
        keep = [i for i in range(k) if i != leave]
        C = np.mean([outs[i]["C"] for i in keep], axis=0)
        trace_S = np.mean([outs[i]["trace_S"] for i in keep], axis=0)
        R = interpolate_response(t, starts, np.mean([outs[i]["R_cols"] for i in keep], axis=0),
                                 -2.0 * (d_eff + 1) / d_eff * trace_S)
        side = sample_side(t, C, R, setting.alpha, setting.noise)
        loss.append(np.diag(side.Cu) / 4.0)
        ise.append(side.ise)
    factor = (k - 1) / k
    return (np.sqrt(factor * np.sum((np.array(loss) - np.mean(loss, axis=0)) ** 2, axis=0)),
            np.sqrt(factor * np.sum((np.array(ise) - np.mean(ise, axis=0)) ** 2, axis=0)))

