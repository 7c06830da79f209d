"""Data: teacher, student initialisation, features and labels (book/theory/conventions.md).

Conventions
-----------
* Teacher ``S* = W* W*^T / m*`` with ``W*_ij ~ N(0, 1)``, ``W* in R^{d x m*}``.
* Student initialisation ``W_ij(0) ~ N(0, gamma / m)``, ``W in R^{d x m}``.
* Features, ``"gaussian"`` (the network itself): ``Z_mu = (x_mu x_mu^T - I) / sqrt(d)``, ``x_mu ~ N(0, I_d)``;
  only the inputs ``X`` (n x d) are stored and the n x d x d tensor is never formed.
  ``"goe"`` (the paper's simulation model): ``Z_mu = (H + H^T) / sqrt(2 d)``, ``H_ij ~ N(0, 1)``, stored packed
  (upper triangle, see :class:`Dataset`); ``Dataset.Z`` unpacks it to (n x d x d).
  Both have ``E Z_ij^2 = 1/d`` (i != j), ``2/d`` (i = j).
* Labels ``y_mu = tr(S* Z_mu) + sqrt(Delta) xi_mu``.

All randomness comes from a :class:`numpy.random.Generator` passed in by the caller. :func:`rep_generators` gives
the project's seeding scheme for one repetition: independent streams for the teacher, the student's
initialisation, the features and the label noise, so that ``"gaussian"`` and ``"goe"`` runs of the same
seed/repetition share ``S*``, ``W(0)`` and the noise draws (a paired comparison).
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from ..conventions import (MAX_SAMPLES, Setting, check_dimension, check_features, check_int, check_nonnegative,
                           check_positive)

__all__ = ["Dataset", "RepGenerators", "sample_teacher", "init_student", "goe", "make_dataset", "rep_generators",
           "memory_limit_bytes", "check_memory", "training_memory_bytes", "check_training_memory"]

#: Default cap on the memory one training problem may allocate (features plus working arrays); the environment
#: variable ``QNN_MEMORY_LIMIT_GIB`` overrides it (e.g. on a larger machine).
DEFAULT_MEMORY_LIMIT_GIB = 6.0


def memory_limit_bytes() -> float:
    """The memory cap of :func:`check_training_memory`: ``QNN_MEMORY_LIMIT_GIB`` (GiB) if set, else 6 GiB."""
    text = os.environ.get("QNN_MEMORY_LIMIT_GIB")
    if text is None:
        return DEFAULT_MEMORY_LIMIT_GIB * 2**30
    try:
        return check_positive("QNN_MEMORY_LIMIT_GIB", float(text)) * 2**30
    except ValueError:
        raise ValueError(f"the environment variable QNN_MEMORY_LIMIT_GIB must be a positive number of GiB, "
                         f"got {text!r}") from None


def check_memory(what: str, size_bytes: float, hint: str) -> None:
    """Raise ``ValueError`` naming ``what``, the estimate and the limit if ``size_bytes`` exceeds
    :func:`memory_limit_bytes`; ``hint`` says which parameter to reduce."""
    limit = memory_limit_bytes()
    if not size_bytes <= limit:
        raise ValueError(f"{what} needs about {size_bytes / 2**30:.3g} GiB (limit {limit / 2**30:.3g} GiB, set by "
                         f"QNN_MEMORY_LIMIT_GIB); {hint}")


def _check_size(what: str, n_floats: float, hint: str) -> None:
    check_memory(what, 8.0 * n_floats, hint)


def training_memory_bytes(setting: Setting, d: int, features: str = "gaussian") -> float:
    """Estimated peak memory (bytes) of one training problem: its data set, teacher, student and the working
    arrays of one gradient (see :func:`check_training_memory`).

    ``"gaussian"``: inputs ``X`` (n x d) plus two n x m products; ``"goe"``: the packed features
    (n x d(d+1)/2); both plus O(n) label vectors and O(d^2 + d m + d m*) matrices.
    """
    if not isinstance(setting, Setting):
        raise ValueError(f"setting must be a qnn.Setting, got {type(setting).__name__}")
    n, m, m_star = setting.dims(check_dimension(d))
    if check_features(features) == "gaussian":
        features_floats = float(n) * d + 2.0 * n * m
    else:
        features_floats = float(n) * (d * (d + 1) // 2)
    return 8.0 * (features_floats + 8.0 * n + float(d) * (m_star + 2 * d + 10 * m))


def check_training_memory(setting: Setting, d: int, features: str = "gaussian") -> None:
    """Raise ``ValueError`` (with the estimate) if one training problem would need more than
    :func:`memory_limit_bytes`; called by :func:`make_dataset` and, before any work, by the simulators."""
    size = training_memory_bytes(setting, d, features)
    n, _, _ = setting.dims(d)
    check_memory(f"features='{features}' at d={d}, alpha={setting.alpha:.4g} (n = {n} samples)", size,
                 "use a smaller d or alpha" + (" or features='gaussian'" if features == "goe" else ""))


def _check_generator(rng: np.random.Generator) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    return rng


def sample_teacher(d: int, kappa_star: float, rng: np.random.Generator) -> np.ndarray:
    """Sample the teacher matrix ``S* = W* W*^T / m*``.

    Parameters
    ----------
    d : int
        Input dimension (>= 2).
    kappa_star : float
        Teacher width ratio, in ``(0, inf)``; ``m* = max(1, round(kappa_star d))``.
    rng : numpy.random.Generator

    Returns
    -------
    numpy.ndarray
        ``S*`` (d x d), symmetric positive semi-definite, ``E S* = I``.
    """
    d = check_dimension(d)
    kappa_star = check_positive("kappa_star", kappa_star)
    rng = _check_generator(rng)
    if not kappa_star * d < MAX_SAMPLES:
        raise ValueError(f"kappa_star * d = {kappa_star * d:.3g} is too large (must be < {MAX_SAMPLES:.0e})")
    m_star = max(1, int(round(kappa_star * d)))
    _check_size(f"the teacher at d={d}, kappa_star={kappa_star:.4g}", float(d) * (m_star + 2 * d),
                "use a smaller kappa_star or d")
    W_star = rng.standard_normal((d, m_star))
    S_star = W_star @ W_star.T / m_star
    return 0.5 * (S_star + S_star.T)


def init_student(d: int, m: int, gamma: float, rng: np.random.Generator) -> np.ndarray:
    """Draw the student's initial weights ``W(0)`` (d x m) with iid ``N(0, gamma/m)`` entries.

    Parameters
    ----------
    d : int
        Input dimension (>= 2).
    m : int
        Student width (>= 1).
    gamma : float
        Initialisation variance, in ``[0, inf)``; ``E S(0) = gamma I``.
    rng : numpy.random.Generator
    """
    d = check_dimension(d)
    m = check_int("m", m, minimum=1)
    gamma = check_nonnegative("gamma", gamma)
    rng = _check_generator(rng)
    _check_size(f"the student at d={d}, m={m}", float(d) * m, "use a smaller m or d")
    return rng.standard_normal((d, m)) * math.sqrt(gamma / m)


def goe(d: int, rng: np.random.Generator, size: int | None = None) -> np.ndarray:
    """GOE matrices ``(H + H^T) / sqrt(2 d)`` with ``H_ij ~ N(0, 1)``.

    Entry variances are ``1/d`` off the diagonal and ``2/d`` on it; the spectrum tends to the semicircle on
    ``[-2, 2]``.

    Parameters
    ----------
    d : int
        Matrix size (>= 2).
    rng : numpy.random.Generator
    size : int or None
        Number of matrices; ``None`` returns one (d, d) matrix, otherwise an array (size, d, d).
    """
    d = check_dimension(d)
    rng = _check_generator(rng)
    if size is None:
        H = rng.standard_normal((d, d))
        return (H + H.T) / math.sqrt(2 * d)
    size = check_int("size", size, minimum=1)
    _check_size(f"{size} GOE matrices of size d={d}", float(size) * d * d, "use a smaller size or d")
    H = rng.standard_normal((size, d, d))
    H += H.transpose(0, 2, 1)
    H /= math.sqrt(2 * d)
    return H


class RepGenerators(NamedTuple):
    """Independent random streams of one repetition (see :func:`rep_generators`)."""

    teacher: np.random.Generator
    init: np.random.Generator
    features: np.random.Generator
    noise: np.random.Generator


def rep_generators(seed: int, rep: int) -> RepGenerators:
    """The project's seeding scheme for repetition ``rep`` of a run with base ``seed``.

    Repetition ``rep`` uses ``SeedSequence(seed).spawn(reps)[rep]`` (built directly as
    ``SeedSequence(seed, spawn_key=(rep,))``, which is the same sequence and does not depend on ``reps``), split
    into four independent streams: teacher, initialisation, features, label noise. Gaussian and GOE runs of the same
    ``(seed, rep)`` therefore share ``S*``, ``W(0)`` and the noise ``xi``.

    Parameters
    ----------
    seed : int
        Base seed (>= 0).
    rep : int
        Repetition index (>= 0).
    """
    seed = check_int("seed", seed, minimum=0)
    rep = check_int("rep", rep, minimum=0)
    children = np.random.SeedSequence(seed, spawn_key=(rep,)).spawn(4)
    return RepGenerators(*(np.random.default_rng(child) for child in children))


@dataclass(frozen=True, eq=False)
class Dataset:
    """A training set ``{(Z_mu, y_mu)}`` with its teacher, for either feature model.

    Attributes
    ----------
    features : {"gaussian", "goe"}
    X : numpy.ndarray or None
        Inputs (n x d) for ``"gaussian"`` features (``Z_mu = (x_mu x_mu^T - I)/sqrt(d)``), else ``None``.
    Z_packed : numpy.ndarray or None
        ``"goe"`` features stored by their upper triangle (n x d(d+1)/2, order of ``numpy.triu_indices(d)``), the
        off-diagonal entries multiplied by ``sqrt(2)`` so that ``tr(S Z_mu) = Z_packed[mu] . pack(S)`` (every
        packed entry is then ``N(0, 2/d)``); half the memory and time of the full tensor. ``None`` for gaussian.
    y : numpy.ndarray
        Noisy labels (n,).
    y_clean : numpy.ndarray
        Teacher outputs ``tr(S* Z_mu)`` (n,).
    S_star : numpy.ndarray
        Teacher matrix (d x d).
    d, n : int

    Notes
    -----
    The methods below are the only place where the feature model matters; everything else in :mod:`qnn` goes
    through them. Costs: ``"gaussian"`` O(n d m) from ``W`` (O(n d^2) from ``S``); ``"goe"`` O(n d^2 / 2).
    """

    features: str
    X: np.ndarray | None
    Z_packed: np.ndarray | None
    y: np.ndarray
    y_clean: np.ndarray
    S_star: np.ndarray
    d: int
    n: int

    @property
    def Z(self) -> np.ndarray | None:
        """The GOE feature matrices as a full (n x d x d) array (built on each access: O(n d^2) memory), or
        ``None`` for gaussian features (whose tensor is never formed)."""
        if self.features != "goe":
            return None
        rows, cols = np.triu_indices(self.d)
        values = self.Z_packed / _packing_scale(self.d)
        Z = np.empty((self.n, self.d, self.d))
        Z[:, rows, cols] = values
        Z[:, cols, rows] = values
        return Z

    def pack(self, S: np.ndarray) -> np.ndarray:
        """Packed form of a symmetric matrix: ``tr(S Z_mu) = Z_packed[mu] @ pack(S)`` (GOE features)."""
        rows, cols = np.triu_indices(self.d)
        return S[rows, cols] * _packing_scale(self.d)

    def _unpack(self, u: np.ndarray) -> np.ndarray:
        """The symmetric matrix ``sum_mu v_mu Z_mu`` from ``u = v @ Z_packed``."""
        rows, cols = np.triu_indices(self.d)
        u = u / _packing_scale(self.d)
        M = np.empty((self.d, self.d))
        M[rows, cols] = u
        M[cols, rows] = u
        return M

    # --- predictions -------------------------------------------------------------------------------------------
    def predict(self, S: np.ndarray | None = None, *, W: np.ndarray | None = None) -> np.ndarray:
        """Network outputs ``tr(S Z_mu)`` for all samples, from ``S`` (d x d) or from ``W`` (d x m, ``S = W W^T``).

        Exactly one of ``S`` (positional) and ``W`` (keyword) must be given.
        """
        if (S is None) == (W is None):
            raise ValueError("predict needs exactly one of S (d x d) or W= (d x m)")
        if W is not None:
            W = self._check_matrix("W", W, square=False)
            if self.features == "gaussian":
                XW = self.X @ W
                return (np.einsum("ik,ik->i", XW, XW) - np.einsum("ik,ik->", W, W)) / math.sqrt(self.d)
            S = W @ W.T
        S = self._check_matrix("S", S, square=True)
        if self.features == "gaussian":
            return (np.einsum("ij,ij->i", self.X @ S, self.X) - np.trace(S)) / math.sqrt(self.d)
        return self.Z_packed @ self.pack(S)

    def predict_with_cache(self, W: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Outputs ``tr(W W^T Z_mu)`` plus the intermediate (``X W`` or ``S``) that
        :meth:`weighted_features_times` can reuse (saves one O(n d m) product per gradient)."""
        W = self._check_matrix("W", W, square=False)
        if self.features == "gaussian":
            XW = self.X @ W
            f = (np.einsum("ik,ik->i", XW, XW) - np.einsum("ik,ik->", W, W)) / math.sqrt(self.d)
            return f, XW
        S = W @ W.T
        return self.Z_packed @ self.pack(S), S

    # --- contractions with the features -------------------------------------------------------------------------
    def weighted_features(self, v: np.ndarray) -> np.ndarray:
        """The symmetric matrix ``sum_mu v_mu Z_mu`` (d x d). Cost O(n d^2)."""
        v = self._check_weights(v)
        if self.features == "gaussian":
            M = self.X.T @ (v[:, None] * self.X)
            M[np.diag_indices_from(M)] -= v.sum()
            M /= math.sqrt(self.d)
            return 0.5 * (M + M.T)
        return self._unpack(v @ self.Z_packed)

    def weighted_features_times(self, v: np.ndarray, W: np.ndarray, cache: np.ndarray | None = None) -> np.ndarray:
        """The product ``(sum_mu v_mu Z_mu) W`` (d x m) without forming any d x d x n object.

        Cost O(n d m) for ``"gaussian"`` (through ``X W``; pass ``cache`` from :meth:`predict_with_cache` to skip
        recomputing it), O(n d^2 + d^2 m) for ``"goe"``.
        """
        v = self._check_weights(v)
        W = self._check_matrix("W", W, square=False)
        if self.features == "gaussian":
            XW = self.X @ W if cache is None else cache
            return (self.X.T @ (v[:, None] * XW) - v.sum() * W) / math.sqrt(self.d)
        return self.weighted_features(v) @ W

    # --- helpers ---------------------------------------------------------------------------------------------------
    def _check_matrix(self, name: str, M: np.ndarray, square: bool) -> np.ndarray:
        M = np.asarray(M, dtype=float)
        if M.ndim != 2 or M.shape[0] != self.d or (square and M.shape[1] != self.d):
            want = f"({self.d}, {self.d})" if square else f"({self.d}, m)"
            raise ValueError(f"{name} must have shape {want}, got {M.shape}")
        return M

    def _check_weights(self, v: np.ndarray) -> np.ndarray:
        v = np.asarray(v, dtype=float)
        if v.shape != (self.n,):
            raise ValueError(f"v must have shape ({self.n},) (one weight per sample), got {v.shape}")
        return v


def make_dataset(setting: Setting, d: int, rng: np.random.Generator | RepGenerators,
                 features: str = "gaussian", S_star: np.ndarray | None = None) -> Dataset:
    """Draw a training set of ``n = floor(alpha d^2)`` samples for ``setting`` at dimension ``d``.

    Parameters
    ----------
    setting : Setting
        Uses ``alpha``, ``kappa_star`` (if ``S_star`` is not given) and ``noise`` (``Delta``).
    d : int
        Input dimension (>= 2).
    rng : numpy.random.Generator or RepGenerators
        One generator for everything (teacher, then features, then noise, in this order), or the four streams of
        :func:`rep_generators` (the project's scheme; makes gaussian/goe runs share teacher and noise).
    features : {"gaussian", "goe"}
    S_star : numpy.ndarray, optional
        A given teacher (d x d); if ``None`` one is drawn with :func:`sample_teacher`.

    Returns
    -------
    Dataset
    """
    if not isinstance(setting, Setting):
        raise ValueError(f"setting must be a qnn.Setting, got {type(setting).__name__}")
    d = check_dimension(d)
    features = check_features(features)
    check_training_memory(setting, d, features)
    gens = rng if isinstance(rng, RepGenerators) else RepGenerators(*(4 * (_check_generator(rng),)))
    n, _, _ = setting.dims(d)
    if S_star is None:
        S_star = sample_teacher(d, setting.kappa_star, gens.teacher)
    else:
        S_star = np.asarray(S_star, dtype=float)
        if S_star.shape != (d, d):
            raise ValueError(f"S_star must have shape ({d}, {d}), got {S_star.shape}")
    if features == "gaussian":
        X, Z_packed = gens.features.standard_normal((n, d)), None
    else:
        # every packed entry is N(0, 2/d): diagonal Z_ii ~ N(0, 2/d); off-diagonal sqrt(2) Z_ij with Z_ij ~ N(0, 1/d)
        X, Z_packed = None, gens.features.standard_normal((n, d * (d + 1) // 2))
        Z_packed *= math.sqrt(2.0 / d)    # in place: no second copy of the largest array
    xi = gens.noise.standard_normal(n)
    probe = Dataset(features=features, X=X, Z_packed=Z_packed, y=np.zeros(n), y_clean=np.zeros(n), S_star=S_star,
                    d=d, n=n)
    y_clean = probe.predict(S_star)
    y = y_clean + math.sqrt(setting.noise) * xi
    return Dataset(features=features, X=X, Z_packed=Z_packed, y=y, y_clean=y_clean, S_star=S_star, d=d, n=n)


def _packing_scale(d: int) -> np.ndarray:
    """1 on the diagonal, sqrt(2) off it, in ``numpy.triu_indices(d)`` order."""
    rows, cols = np.triu_indices(d)
    return np.where(rows == cols, 1.0, math.sqrt(2.0))
