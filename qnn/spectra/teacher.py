"""Spectral law of the teacher ``S* = W* W*^T / m*`` (Marchenko-Pastur with an atom at 0 when kappa* < 1) and
the semicircle (the GOE law); the ``xi = 0`` end of :mod:`qnn.spectra.laws` (Theory: book/theory/spectral_laws.md)."""
from __future__ import annotations

import math

import numpy as np

from ..conventions import check_positive

__all__ = ["semicircle_density", "teacher_atom", "teacher_support", "teacher_density"]


def semicircle_density(x: np.ndarray | float) -> np.ndarray:
    """Semicircle density ``sqrt(4 - x^2) / (2 pi)`` on ``[-2, 2]`` (the GOE law;
    Theory: book/theory/conventions.md)."""
    x = np.asarray(x, dtype=float)
    return np.sqrt(np.clip(4.0 - x * x, 0.0, None)) / (2.0 * np.pi)


def teacher_atom(kappa_star: float) -> float:
    """Mass ``max(0, 1 - kappa*)`` of the teacher law's atom at 0."""
    kappa_star = check_positive("kappa_star", kappa_star)
    return max(0.0, 1.0 - kappa_star)


def teacher_support(kappa_star: float) -> tuple[float, float]:
    """Edges ``(1 -+ 1/sqrt(kappa*))^2`` of the Marchenko-Pastur bulk of ``S*``."""
    kappa_star = check_positive("kappa_star", kappa_star)
    r = 1.0 / math.sqrt(kappa_star)
    return (1.0 - r) ** 2, (1.0 + r) ** 2


def teacher_density(x: np.ndarray | float, kappa_star: float) -> np.ndarray:
    """Continuous part of the spectral law of ``S*`` (Marchenko-Pastur, total mass ``min(1, kappa*)``).

    ``rho(x) = kappa* sqrt((x_+ - x)(x - x_-)) / (2 pi x)`` on ``[x_-, x_+]``, ``x_pm = (1 pm 1/sqrt(kappa*))^2``;
    the atom ``1 - kappa*`` at 0 (``kappa* < 1``) is :func:`teacher_atom`.
    """
    lo, hi = teacher_support(kappa_star)
    x = np.asarray(x, dtype=float)
    inside = (x > lo) & (x < hi) & (x > 0)
    out = np.zeros_like(x)
    xs = x[inside]
    out[inside] = kappa_star * np.sqrt((hi - xs) * (xs - lo)) / (2.0 * np.pi * xs)
    return out
