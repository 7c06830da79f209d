"""Gradient flow run until it stops moving: the reference for the long-time solvers' end points.

:func:`qnn.train_to_convergence` reaches the long-time limit at ``lambda > 0`` with an optimiser (L-BFGS on ``W``
or a convex solver over ``S``). When the width cap binds (``kappa < 1``) the loss in ``W`` is not convex and an
optimiser may stop at another stationary point than the flow. :func:`flow_to_stationarity` integrates the flow
itself, ``dW/dt = -G W`` (the same adaptive RK23 as :func:`qnn.simulate`, through
:func:`qnn.simulation.gradient_flow.integrate_flow`), from the same ``W(0)``, teacher and data as ``simulate`` /
``train_to_convergence`` with the same ``seed`` and repetition, and stops at the first check time where the flow
velocity ``|G W|_F / sqrt(d)`` is at most ``gtol`` (checks at geometrically growing intervals), or at ``t_max``
(``converged=False``).

Theory of the limit: book/theory/fixed_point.md.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..conventions import Setting, check_dimension, check_features, check_int, check_positive
from .data import init_student, make_dataset, rep_generators
from .network import flow_velocity, gradient_matrix, ise, loss_train, mse, stationarity
from .gradient_flow import DEFAULT_ATOL, DEFAULT_RTOL, integrate_flow

__all__ = ["StationaryFlowResult", "flow_to_stationarity"]


@dataclass(frozen=True, eq=False)
class StationaryFlowResult:
    """End point of :func:`flow_to_stationarity` (one repetition).

    Attributes
    ----------
    mse, loss, ise : float
        Metrics of the end point (as in :class:`qnn.SimulationResult`).
    rank : float
        Fraction of the d eigenvalues of ``S`` above ``1e-3`` times the largest (as :func:`qnn.train_to_convergence`).
    grad_norm : float
        ``|G W|_F / sqrt(d)`` at the end point.
    t : float
        Time at which the flow stopped.
    n_gradients : int
        Velocity evaluations used.
    converged : bool
        ``grad_norm <= gtol``.
    reason : str
    S : numpy.ndarray
        End point ``W W^T`` (d x d).
    """

    mse: float
    loss: float
    ise: float
    rank: float
    grad_norm: float
    t: float
    n_gradients: int
    converged: bool
    reason: str
    S: np.ndarray


def flow_to_stationarity(setting: Setting, d: int, *, seed: int = 0, rep: int = 0, features: str = "goe",
                         gtol: float = 1e-5, t_max: float = 2e4, first_check: float = 10.0, growth: float = 1.5,
                         rtol: float = DEFAULT_RTOL, atol: float = DEFAULT_ATOL) -> StationaryFlowResult:
    """Integrate gradient flow from ``W(0)`` until ``|G W|_F / sqrt(d) <= gtol`` or ``t = t_max``.

    Parameters
    ----------
    setting : Setting
    d : int
        Input dimension (>= 2).
    seed, rep : int
        Base seed and repetition (>= 0): the same problem as ``simulate(setting, d, ..., seed=seed)``'s repetition
        ``rep``.
    features : {"gaussian", "goe"}
    gtol : float
        Stationarity tolerance in (0, inf).
    t_max : float
        Largest time in (0, inf).
    first_check, growth : float
        The velocity is checked at ``t = first_check``, then after intervals growing by ``growth`` (> 1), capped at
        ``t_max``: at most ~``log(t_max / first_check) / log(growth)`` checks, each restarting RK23 from the
        current ``W`` (a few extra gradients).
    rtol, atol : float
        RK23 tolerances (as :func:`qnn.simulate`).

    Returns
    -------
    StationaryFlowResult
    """
    d = check_dimension(d)
    seed = check_int("seed", seed, minimum=0)
    rep = check_int("rep", rep, minimum=0)
    features = check_features(features)
    gtol = check_positive("gtol", gtol)
    t_max = check_positive("t_max", t_max)
    first_check = check_positive("first_check", first_check)
    if not growth > 1:
        raise ValueError(f"growth must be in (1, inf), got {growth}")
    gens = rep_generators(seed, rep)
    data = make_dataset(setting, d, gens, features)
    _, m, _ = setting.dims(d)
    W = init_student(d, m, setting.gamma, gens.init)
    t, interval, n_gradients = 0.0, min(first_check, t_max), 0
    velocity = lambda V: flow_velocity(data, V, setting.lam)  # noqa: E731
    end: list[np.ndarray] = []

    def keep_end(k: int, V: np.ndarray) -> None:
        if k == 1:
            end.append(V.copy())

    while True:
        end.clear()
        n_gradients += integrate_flow(velocity, W, np.array([0.0, interval]), None, rtol, atol, keep_end)
        W, t = end[0], t + interval
        S = W @ W.T
        size = stationarity(gradient_matrix(data, S, lam=setting.lam), S)
        if size <= gtol or t >= t_max:
            break
        interval = min(interval * growth, t_max - t)
    eigenvalues = np.linalg.eigvalsh(S)
    top = max(float(eigenvalues[-1]), 0.0)
    rank = float(np.sum(eigenvalues > 1e-3 * top)) / d if top > 0 else 0.0
    converged = size <= gtol
    reason = (f"stationary: |G W|_F/sqrt(d) = {size:.2e} <= gtol at t = {t:.4g}" if converged else
              f"t_max = {t_max:g} reached with |G W|_F/sqrt(d) = {size:.2e} > gtol")
    return StationaryFlowResult(mse=mse(S, data.S_star), loss=loss_train(data, S), ise=ise(data, S), rank=rank,
                                grad_norm=size, t=t, n_gradients=int(n_gradients), converged=bool(converged),
                                reason=reason, S=S)
