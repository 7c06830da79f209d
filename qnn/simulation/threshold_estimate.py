"""Locating the perfect-recovery threshold from simulations (paper Figure 20; FIGURES.md section 3).

Given the final-time MSE of unregularised gradient flow at sample ratios ``alpha_1 < ... < alpha_k`` (several
repetitions each), the MSE collapses by orders of magnitude at the recovery threshold. The paper's estimator:

1. per repetition, the forward difference of ``log MSE``,
   ``slope_i = [log MSE(alpha_{i+1}) - log MSE(alpha_i)] / (alpha_{i+1} - alpha_i)``, placed at ``alpha_i``;
2. the mean over repetitions (``MSE'/MSE`` in the figure);
3. point estimate: the ``alpha_i`` where the mean slope is most negative;
4. interval: from the smallest to the largest ``alpha`` at which the mean slope, linearly interpolated between
   the ``alpha_i``, crosses half of its minimum.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

__all__ = ["ThresholdEstimate", "TheoryComparison", "log_mse_slopes", "estimate_threshold", "compare_with_theory",
           "extrapolate_in_inverse_d"]


@dataclass(frozen=True)
class ThresholdEstimate:
    """Result of :func:`estimate_threshold`.

    Attributes
    ----------
    alpha : float
        Point estimate (the ``alpha_i`` of the most negative mean slope).
    low, high : float
        The half-minimum interval.
    slope_alpha : numpy.ndarray
        Abscissae of the slopes (``alpha_1 .. alpha_{k-1}``).
    slope : numpy.ndarray
        Mean slope of ``log MSE`` over repetitions.
    """

    alpha: float
    low: float
    high: float
    slope_alpha: np.ndarray
    slope: np.ndarray


def _check_inputs(alphas, mse) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(alphas, dtype=float)
    values = np.asarray(mse, dtype=float)
    if a.ndim != 1 or a.size < 3:
        raise ValueError(f"alphas must be a 1-d array of at least 3 sample ratios, got shape {a.shape}")
    if not np.all(np.isfinite(a)) or np.any(np.diff(a) <= 0):
        raise ValueError("alphas must be finite and strictly increasing")
    if values.ndim == 1:
        values = values[:, None]
    if values.ndim != 2 or values.shape[0] != a.size:
        raise ValueError(f"mse must have shape (len(alphas), reps) = ({a.size}, reps), got {values.shape}")
    if not np.all(np.isfinite(values)) or np.any(values <= 0):
        raise ValueError("mse must be finite and > 0 (its logarithm is taken)")
    return a, values


def log_mse_slopes(alphas, mse) -> tuple[np.ndarray, np.ndarray]:
    """Forward differences of ``log MSE`` in alpha, per repetition, at ``alphas[:-1]``.

    Parameters
    ----------
    alphas : array (k,)
        Strictly increasing sample ratios (k >= 3).
    mse : array (k,) or (k, reps)
        Final-time MSE, > 0.

    Returns
    -------
    (alphas[:-1], slopes of shape (k - 1, reps))
    """
    a, values = _check_inputs(alphas, mse)
    logs = np.log(values)
    return a[:-1], np.diff(logs, axis=0) / np.diff(a)[:, None]


def estimate_threshold(alphas, mse) -> ThresholdEstimate:
    """The paper's estimate of the recovery threshold (see the module docstring).

    Raises
    ------
    ValueError
        For malformed input, or when the mean slope is nowhere negative (no drop of the MSE to locate).
    """
    x, slopes = log_mse_slopes(alphas, mse)
    mean = slopes.mean(axis=1)
    i_min = int(np.argmin(mean))
    if mean[i_min] >= 0:
        raise ValueError("mse must decrease somewhere along alphas: the mean slope of log MSE is nowhere negative")
    half = 0.5 * mean[i_min]
    below = mean - half  # < 0 where the slope is steeper than half its minimum
    crossings = []
    for i in range(mean.size - 1):
        if below[i] == 0:
            crossings.append(x[i])
        elif below[i] * below[i + 1] < 0:
            crossings.append(x[i] + (x[i + 1] - x[i]) * below[i] / (below[i] - below[i + 1]))
    if below[-1] == 0:
        crossings.append(x[-1])
    low = min(crossings) if crossings else x[0]
    high = max(crossings) if crossings else x[-1]
    # a slope still below half its minimum at the grid's edge: the interval is open there; clip to the grid
    if below[0] < 0:
        low = x[0]
    if below[-1] < 0:
        high = x[-1]
    return ThresholdEstimate(alpha=float(x[i_min]), low=float(low), high=float(high), slope_alpha=x, slope=mean)


@dataclass(frozen=True)
class TheoryComparison:
    """How a set of threshold estimates compares with a theory (:func:`compare_with_theory`).

    Attributes
    ----------
    n : int
        Number of estimates.
    mean_offset, mean_abs_offset, max_abs_offset : float
        Mean of ``estimate - theory``, of its absolute value, and the largest absolute value.
    n_inside : int
        Estimates whose half-minimum interval ``[low, high]`` contains the theory value.
    """

    n: int
    mean_offset: float
    mean_abs_offset: float
    max_abs_offset: float
    n_inside: int


def compare_with_theory(estimates: Mapping[tuple[float, float], ThresholdEstimate],
                        theory: Callable[[float, float], float]) -> TheoryComparison:
    """Offsets of ``estimates`` (keyed by ``(kappa, kappa*)``) from ``theory(kappa, kappa*)``.

    Raises
    ------
    ValueError
        If ``estimates`` is empty.
    """
    if not estimates:
        raise ValueError("estimates must hold at least one (kappa, kappa*) pair")
    offsets = np.array([e.alpha - theory(*pair) for pair, e in estimates.items()])
    inside = sum(e.low <= theory(*pair) <= e.high for pair, e in estimates.items())
    return TheoryComparison(n=offsets.size, mean_offset=float(offsets.mean()),
                            mean_abs_offset=float(np.abs(offsets).mean()),
                            max_abs_offset=float(np.abs(offsets).max()), n_inside=int(inside))


def extrapolate_in_inverse_d(dims, values) -> tuple[float, float, float]:
    """Least-squares line ``value = a + b / d`` through estimates at several dimensions.

    Parameters
    ----------
    dims : array (k,)
        Distinct dimensions (k >= 2).
    values : array (k,)
        The estimate at each dimension.

    Returns
    -------
    (a, b, a_stderr): the d -> infinity intercept, the slope in 1/d, and the intercept's standard error from the
    fit residuals (``nan`` with k = 2, where the line has no residual).
    """
    d = np.asarray(dims, dtype=float)
    v = np.asarray(values, dtype=float)
    if d.ndim != 1 or d.size < 2 or v.shape != d.shape:
        raise ValueError(f"dims and values must be 1-d arrays of the same length >= 2, got {d.shape}, {v.shape}")
    if np.any(d <= 0) or np.unique(d).size != d.size or not np.all(np.isfinite(v)):
        raise ValueError("dims must be distinct and > 0, values finite")
    x = 1.0 / d
    A = np.stack([np.ones_like(x), x], axis=1)
    coef, *_ = np.linalg.lstsq(A, v, rcond=None)
    if d.size == 2:
        return float(coef[0]), float(coef[1]), float("nan")
    residual = v - A @ coef
    sigma2 = float(residual @ residual) / (d.size - 2)
    cov = sigma2 * np.linalg.inv(A.T @ A)
    return float(coef[0]), float(coef[1]), float(np.sqrt(cov[0, 0]))
