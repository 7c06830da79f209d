"""The quadratic network, its losses and its gradient flow (book/theory/conventions.md).

All functions are pure. A student is given by its weights ``W`` (d x m) or by ``S = W W^T`` (d x d); the data by a
:class:`qnn.simulation.data.Dataset` (either feature model).

* Outputs ``f_mu = tr(S Z_mu)``; residuals ``r_mu = f_mu - y_mu`` (network minus label).
* ``G = (d/n) sum_mu r_mu Z_mu + 2 lambda I`` (symmetric d x d); gradient flow ``dW/dt = -G W`` (paper time),
  i.e. ``d * grad_W L = G W``.
* ``L(W) = (1/(4n)) sum_mu r_mu^2 + (lambda/d) |W|_F^2`` (:func:`objective`), ``Loss_train`` = its data term,
  ``ISE = (1/(4n)) sum_mu tr((S - S*) Z_mu)^2``, ``MSE = |S - S*|_F^2 / d``.
* Population limit (alpha -> inf): ``G = 2 (S - S*) + 2 lambda I``.
"""
from __future__ import annotations

import math

import numpy as np

from ..conventions import check_nonnegative
from .data import Dataset

__all__ = ["predictions", "residuals", "gradient_matrix", "flow_velocity", "loss_train", "ise", "mse",
           "objective", "objective_and_gradient", "population_gradient_matrix", "population_flow_velocity",
           "stationarity", "hessian_vector_product", "largest_hessian_eigenvalue"]


def _gram(S: np.ndarray | None, W: np.ndarray | None) -> np.ndarray:
    if (S is None) == (W is None):
        raise ValueError("give exactly one of S (d x d) or W (d x m)")
    if S is None:
        W = np.asarray(W, dtype=float)
        return W @ W.T
    return np.asarray(S, dtype=float)


def predictions(data: Dataset, S: np.ndarray | None = None, *, W: np.ndarray | None = None) -> np.ndarray:
    """Network outputs ``tr(S Z_mu)`` (n,), from ``S`` or (cheaper for gaussian features) from ``W=``."""
    return data.predict(S, W=W)


def residuals(data: Dataset, S: np.ndarray | None = None, *, W: np.ndarray | None = None) -> np.ndarray:
    """Residuals ``r_mu = tr(S Z_mu) - y_mu`` (n,)."""
    return data.predict(S, W=W) - data.y


def gradient_matrix(data: Dataset, S: np.ndarray | None = None, *, W: np.ndarray | None = None,
                    lam: float = 0.0) -> np.ndarray:
    """``G = (d/n) sum_mu r_mu Z_mu + 2 lambda I`` (d x d). Cost O(n d^2)."""
    lam = check_nonnegative("lam", lam)
    r = data.predict(S, W=W) - data.y
    G = data.weighted_features(r * (data.d / data.n))
    G[np.diag_indices_from(G)] += 2.0 * lam
    return G


def flow_velocity(data: Dataset, W: np.ndarray, lam: float = 0.0, *,
                  return_predictions: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """The product ``G W = d * grad_W L`` (d x m), so that gradient flow reads ``dW/dt = -G W``.

    Cost O(n d m) for gaussian features (two products with ``X``), O(n d^2) for GOE features.
    With ``return_predictions=True`` also returns the outputs ``tr(S Z_mu)`` computed on the way.
    """
    lam = check_nonnegative("lam", lam)
    f, cache = data.predict_with_cache(W)
    GW = data.weighted_features_times((f - data.y) * (data.d / data.n), W, cache=cache)
    if lam:
        GW += 2.0 * lam * W
    return (GW, f) if return_predictions else GW


def loss_train(data: Dataset, S: np.ndarray | None = None, *, W: np.ndarray | None = None) -> float:
    """``Loss_train = (1/(4n)) sum_mu (y_mu - tr(S Z_mu))^2`` (no regulariser)."""
    r = data.predict(S, W=W) - data.y
    return float(r @ r) / (4 * data.n)


def ise(data: Dataset, S: np.ndarray | None = None, *, W: np.ndarray | None = None) -> float:
    """In-sample error ``(1/(4n)) sum_mu tr((S - S*) Z_mu)^2`` (against the clean labels)."""
    r = data.predict(S, W=W) - data.y_clean
    return float(r @ r) / (4 * data.n)


def mse(S: np.ndarray, S_star: np.ndarray) -> float:
    """``MSE = |S - S*|_F^2 / d`` (the network's test error ``E (f - f*)^2`` is ``2 MSE``)."""
    D = np.asarray(S, dtype=float) - np.asarray(S_star, dtype=float)
    return float(np.einsum("ij,ij->", D, D)) / D.shape[0]


def objective(data: Dataset, W: np.ndarray, lam: float = 0.0) -> float:
    """Regularised loss ``L(W) = (1/(4n)) sum_mu r_mu^2 + (lambda/d) |W|_F^2``."""
    lam = check_nonnegative("lam", lam)
    W = np.asarray(W, dtype=float)
    return loss_train(data, W=W) + lam / data.d * float(np.einsum("ij,ij->", W, W))


def objective_and_gradient(data: Dataset, W: np.ndarray, lam: float = 0.0) -> tuple[float, np.ndarray]:
    """``(L(W), grad_W L)`` with ``grad_W L = G W / d`` (for quasi-Newton minimisers)."""
    lam = check_nonnegative("lam", lam)
    W = np.asarray(W, dtype=float)
    GW, f = flow_velocity(data, W, lam, return_predictions=True)
    r = f - data.y
    value = float(r @ r) / (4 * data.n) + lam / data.d * float(np.einsum("ij,ij->", W, W))
    return value, GW / data.d


def population_gradient_matrix(S: np.ndarray, S_star: np.ndarray, lam: float = 0.0) -> np.ndarray:
    """Population-limit (alpha -> inf) ``G = 2 (S - S*) + 2 lambda I``."""
    lam = check_nonnegative("lam", lam)
    G = 2.0 * (np.asarray(S, dtype=float) - np.asarray(S_star, dtype=float))
    G[np.diag_indices_from(G)] += 2.0 * lam
    return G


def population_flow_velocity(W: np.ndarray, S_star: np.ndarray, lam: float = 0.0) -> np.ndarray:
    """``G W`` with the population ``G = 2 (W W^T - S*) + 2 lambda I`` (d x m). Cost O(d^2 m)."""
    lam = check_nonnegative("lam", lam)
    W = np.asarray(W, dtype=float)
    return 2.0 * (W @ (W.T @ W) - S_star @ W) + 2.0 * lam * W


def stationarity(G: np.ndarray, S: np.ndarray) -> float:
    """Size of the flow velocity, ``|G W|_F / sqrt(d) = sqrt(tr(G S G) / d)``: zero exactly at stationary points.

    It depends on ``W`` only through ``S = W W^T``, so it applies to any ``S >= 0`` (e.g. a convex solution).
    """
    d = S.shape[0]
    value = float(np.einsum("ij,ji->", G @ S, G)) / d
    return math.sqrt(max(value, 0.0))


def hessian_vector_product(data: Dataset, W: np.ndarray, V: np.ndarray, lam: float = 0.0) -> np.ndarray:
    """Directional derivative of the flow velocity, ``D(G W)[V] = d * Hess_W L [V]`` (d x m), exactly.

    ``D(G W)[V] = (d/n) sum_mu tr(Z_mu (W V^T + V W^T)) Z_mu W + G V``. Its largest eigenvalue bounds the stable
    step of explicit integrators: GD is stable near a minimum for ``eta < 2 / lambda_max``.
    """
    lam = check_nonnegative("lam", lam)
    W = np.asarray(W, dtype=float)
    V = np.asarray(V, dtype=float)
    if V.shape != W.shape:
        raise ValueError(f"V must have the shape of W {W.shape}, got {V.shape}")
    f, cache = data.predict_with_cache(W)
    scale = data.d / data.n
    WVt = W @ V.T
    df = data.predict(WVt + WVt.T)
    return (data.weighted_features_times(df * scale, W, cache=cache)
            + data.weighted_features_times((f - data.y) * scale, V) + 2.0 * lam * V)


def largest_hessian_eigenvalue(data: Dataset, W: np.ndarray, lam: float = 0.0, *, n_iter: int = 100,
                               rtol: float = 1e-6, seed: int = 0) -> float:
    """Largest-magnitude eigenvalue of ``V -> D(G W)[V]`` (the Hessian of ``d L`` in W) by power iteration.

    Parameters
    ----------
    n_iter : int
        Maximum power iterations (>= 1).
    rtol : float
        Stop when the Rayleigh quotient changes by less than ``rtol`` (relative).
    seed : int
        Seed of the random start vector.

    Raises
    ------
    RuntimeError
        If the iteration has not converged to ``rtol`` within ``n_iter`` steps (eigenvalues nearly degenerate in
        magnitude); the message gives the last estimate.
    """
    W = np.asarray(W, dtype=float)
    V = np.random.default_rng(seed).standard_normal(W.shape)
    V /= np.linalg.norm(V)
    estimate = 0.0
    for _ in range(n_iter):
        HV = hessian_vector_product(data, W, V, lam)
        new = float(np.sum(V * HV))
        norm = float(np.linalg.norm(HV))
        if norm == 0.0:
            return 0.0
        V = HV / norm
        if abs(new - estimate) <= rtol * abs(new):
            return new
        estimate = new
    raise RuntimeError(f"power iteration did not converge in {n_iter} steps (last estimate {estimate:.6g}); "
                       "raise n_iter or rtol")
