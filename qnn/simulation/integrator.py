"""Integrating the training dynamics ``dW/dt = -G W``: adaptive Runge-Kutta, or gradient descent checked for stability.

Used by :func:`qnn.simulation.gradient_flow.simulate` (and :mod:`qnn.mean_field.validation`); the integrator choices
and their
measured accuracy are described in :mod:`qnn.simulation.gradient_flow`. Gradient descent (``eta`` given) must decrease
the
objective at every step, as the flow does: the first rise beyond round-off raises :class:`StepSizeError`, whose
message estimates the Hessian's largest eigenvalue (GD follows the flow only while ``eta * lambda_max < 2``).
Conventions: book/theory/conventions.md.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from scipy.integrate import RK23

from ..conventions import Setting, check_int, check_positive
from .data import Dataset
from .network import flow_velocity, population_flow_velocity

__all__ = ["StepSizeError", "integrate_flow", "velocity_and_objective", "population_velocity_and_objective"]


class StepSizeError(ValueError, FloatingPointError):
    """Gradient descent (``eta`` given) left its stability region: ``eta`` is too large for this setting.

    A ``ValueError`` (the argument ``eta`` is the cause) and, for backward compatibility, a ``FloatingPointError``.
    """


def _curvature_estimate(velocity: Callable[[np.ndarray], np.ndarray], W: np.ndarray, n_iter: int = 60) -> float:
    """Largest-magnitude eigenvalue of the Jacobian of ``velocity`` at ``W`` (the Hessian of ``d L``), by power
    iteration on central finite differences; only used to word the error of an unstable GD run."""
    V = np.random.default_rng(0).standard_normal(W.shape)
    V /= np.linalg.norm(V)
    step = 1e-6 * max(1.0, float(np.linalg.norm(W)))
    estimate = 0.0
    for _ in range(n_iter):
        HV = (velocity(W + step * V) - velocity(W - step * V)) / (2 * step)
        norm = float(np.linalg.norm(HV))
        if not math.isfinite(norm) or norm == 0.0:
            break
        estimate = float(np.sum(V * HV))
        V = HV / norm
    return estimate


def _unstable_gd_message(eta: float, step: int, before: float, after: float, curvature: float) -> str:
    message = (f"eta too large: gradient descent with eta = {eta:.4g} is past its stability limit at t = "
               f"{step * eta:.4g} (step {step}): the training objective rose from {before:.6g} to {after:.6g}, "
               "which gradient flow never does, so the run no longer follows the flow. GD follows the flow only "
               "while eta * lambda_max < 2 along the whole path (lambda_max: largest Hessian eigenvalue)")
    suggestion = eta / 2
    if math.isfinite(curvature) and curvature > 0:
        message += f"; at that point lambda_max ~ {curvature:.4g} (eta * lambda_max = {eta * curvature:.3g})"
        suggestion = min(eta, 2 / curvature) / 2
    return message + f". Use a smaller eta (e.g. {suggestion:.2g}) or eta=None (the adaptive flow integrator)."


def _gradient_descent(velocity: Callable[[np.ndarray], np.ndarray],
                      velocity_energy: Callable[[np.ndarray], tuple[np.ndarray, float]] | None,
                      W0: np.ndarray, t: np.ndarray, eta: float, check: Callable[[np.ndarray, float], None],
                      on_record: Callable[[int, np.ndarray], None]) -> int:
    """GD ``W <- W - eta G W`` with the energy test of :func:`integrate_flow`."""
    steps = np.rint(t / eta).astype(np.int64)
    W = W0.copy()
    step = 0
    energy = math.inf
    floor = math.inf
    for k in range(1, len(t)):
        while step < steps[k]:
            if velocity_energy is None:
                GW = velocity(W)
            else:
                GW, new = velocity_energy(W)
                if floor == math.inf:
                    floor = _ENERGY_ATOL * max(abs(new), 1e-300)
                if new > energy + _ENERGY_RTOL * abs(energy) + floor:
                    raise StepSizeError(_unstable_gd_message(eta, step, energy, new, _curvature_estimate(velocity, W)))
                energy = new
            W -= eta * GW
            step += 1
            check(W, step * eta)      # O(d m), negligible next to the gradient; catches growth before overflow
        on_record(k, W)
    return int(steps[-1])


#: GD's objective may not rise by more than this (relative to its value, plus a floor relative to its start):
#: gradient flow decreases it monotonically, and stable GD does too; round-off stays far below both.
_ENERGY_RTOL = 1e-9
_ENERGY_ATOL = 1e-14


def integrate_flow(velocity: Callable[[np.ndarray], np.ndarray], W0: np.ndarray, t: np.ndarray, eta: float | None,
                   rtol: float, atol: float, on_record: Callable[[int, np.ndarray], None], *,
                   velocity_energy: Callable[[np.ndarray], tuple[np.ndarray, float]] | None = None) -> int:
    """Integrate ``dW/dt = -velocity(W)`` from ``W0`` exactly as :func:`simulate` does.

    Parameters
    ----------
    velocity : callable
        ``W -> G W`` (e.g. :func:`qnn.simulation.network.flow_velocity` or
        :func:`qnn.simulation.network.population_flow_velocity`).
    W0 : numpy.ndarray
        Initial weights (d x m).
    t : numpy.ndarray
        Increasing record times starting at 0 (for GD: multiples of ``eta``).
    eta : float or None
        ``None``: adaptive RK23 with ``rtol``, ``atol``; else GD with step ``eta``.
    on_record : callable
        Called as ``on_record(k, W(t[k]))`` for every k (in order; ``W`` may be a view: copy to keep it).
    velocity_energy : callable, optional
        ``W -> (G W, E(W))`` with ``E`` the objective whose gradient flow this is (``G W = d grad E``). GD then
        checks at every step that ``E`` does not rise (beyond round-off: relative ``1e-9`` plus ``1e-14 E(0)``):
        the flow decreases ``E`` monotonically, and a rise means ``eta`` is past GD's stability limit.

    Returns
    -------
    int
        Number of gradient (velocity) evaluations.

    Raises
    ------
    StepSizeError
        GD only: the objective rose (with ``velocity_energy``) or the weights blew up; a ``ValueError`` and a
        ``FloatingPointError``. The message gives the time, the rise and an estimate of the stable step.
    FloatingPointError
        If the adaptive integration blows up.
    RuntimeError
        If the RK23 solver fails.
    """
    shape = W0.shape
    blow_up = 1e8 * max(1.0, float(np.abs(W0).max(initial=0.0)))

    def check(W: np.ndarray, time: float) -> None:
        if not np.abs(W).max(initial=0.0) <= blow_up:     # also catches NaN
            if eta:
                raise StepSizeError(f"gradient flow blew up at t = {time:.4g}: eta too large (GD is stable for "
                                    "eta < 2 / largest Hessian eigenvalue); use a smaller eta or eta=None")
            raise FloatingPointError(f"gradient flow blew up at t = {time:.4g}: integration diverged")

    on_record(0, W0)
    if eta is not None:
        return _gradient_descent(velocity, velocity_energy, W0, t, eta, check, on_record)

    solver = RK23(lambda _t, y: -velocity(y.reshape(shape)).ravel(), 0.0, W0.ravel().copy(), float(t[-1]),
                  rtol=rtol, atol=atol)
    k = 1
    while k < len(t):
        if solver.status != "running":
            raise RuntimeError(f"RK23 stopped at t = {solver.t:.4g} before t_max ({solver.status})")
        message = solver.step()
        if solver.status == "failed":
            raise RuntimeError(f"RK23 failed at t = {solver.t:.4g}: {message}")
        check(solver.y, solver.t)
        if t[k] <= solver.t:
            dense = solver.dense_output()
            while k < len(t) and t[k] <= solver.t:
                W = solver.y if t[k] == solver.t else dense(t[k])
                on_record(k, W.reshape(shape))
                k += 1
    return int(solver.nfev)


def velocity_and_objective(data: Dataset, W: np.ndarray, lam: float) -> tuple[np.ndarray, float]:
    """``(G W, d L(W))`` from one pass over the data (the objective from the predictions the velocity needs)."""
    GW, f = flow_velocity(data, W, lam, return_predictions=True)
    f -= data.y                                   # f is a fresh array: reuse it for the residuals
    energy = data.d * float(f @ f) / (4 * data.n)
    return GW, (energy + lam * float(np.vdot(W, W)) if lam else energy)


def population_velocity_and_objective(W: np.ndarray, S_star: np.ndarray, lam: float) -> tuple[np.ndarray, float]:
    """``(G W, E(W))`` of the population flow, ``E = |W W^T - S*|_F^2 / 2 + lambda |W|_F^2`` (``grad E = G W``)."""
    D = W @ W.T - S_star
    energy = 0.5 * float(np.einsum("ij,ij->", D, D)) + lam * float(np.einsum("ij,ij->", W, W))
    return population_flow_velocity(W, S_star, lam), energy


def record_times(t_max: float, n_records: int = 60, t_first: float | None = None) -> np.ndarray:
    """Record times: ``0`` followed by ``n_records - 1`` log-spaced times from ``t_first`` to ``t_max``.

    ``t_first`` defaults to ``min(1e-2, 1e-3 t_max)`` (early enough to resolve the initial transient, whose rate
    is O(1) in paper units).
    """
    t_max = check_positive("t_max", t_max)
    n_records = check_int("n_records", n_records, minimum=2)
    if t_first is None:
        t_first = min(1e-2, 1e-3 * t_max)
    t_first = check_positive("t_first", t_first)
    if t_first > t_max:
        raise ValueError(f"t_first must be in (0, t_max] = (0, {t_max}], got {t_first}")
    if n_records == 2:
        return np.array([0.0, t_max])
    return np.concatenate([[0.0], np.geomspace(t_first, t_max, n_records - 1)])


def record_grid(t_max: float, n_records: int, t_first: float | None, times: np.ndarray | None,
                eta: float | None) -> np.ndarray:
    """The record times of a run: :func:`record_times`, or the explicit ``times`` in ``[0, t_max]`` with ``0`` and
    ``t_max`` added; for GD (``eta`` given) rounded to multiples of ``eta``."""
    if times is None:
        t = record_times(t_max, n_records, t_first)
    else:
        t = np.asarray(times, dtype=float).ravel()
        if t.size == 0 or not np.all(np.isfinite(t)) or t.min() < 0 or t.max() > t_max:
            raise ValueError(f"times must be finite record times in [0, t_max] = [0, {t_max}]")
        t = np.unique(np.concatenate([[0.0], t, [t_max]]))
    if eta is not None:
        t = np.unique(np.rint(t / eta)) * eta
    return t


def check_stepping(t_max: float, eta: float | None, rtol: float, atol: float) -> tuple[float | None, float, float]:
    """Validate the stepping options of a run: GD's ``eta`` in ``(0, t_max]`` (or ``None`` for the adaptive
    integrator), ``rtol`` in ``(0, 0.1]``, ``atol`` in ``(0, inf)``."""
    if eta is not None:
        eta = check_positive("eta", eta)
        if eta > t_max:
            raise ValueError(f"eta must be in (0, t_max] = (0, {t_max}], got {eta}")
    rtol = check_positive("rtol", rtol)
    if rtol > 0.1:
        raise ValueError(f"rtol must be in (0, 0.1], got {rtol}")
    return eta, rtol, check_positive("atol", atol)


#: simulate() refuses runs that would need more integration steps than this (about a day of CPU at d = 10).
MAX_STEPS = 10**8


def check_step_budget(setting: Setting, t_max: float, eta: float | None) -> None:
    """Refuse up front a run whose number of steps is hopeless: GD takes ``t_max / eta`` steps; the adaptive
    integrator is explicit, so its step is at most ~2.5 / lambda_max with lambda_max >= max(2 lambda, 1) (the
    regulariser alone gives 2 lambda; the data term's curvature is O(1) or more, the teacher's scale)."""
    if eta is not None:
        steps, why = t_max / eta, f"t_max / eta = {t_max:.3g} / {eta:.3g} GD steps"
    else:
        stiffness = max(2.0 * setting.lam, 1.0)
        steps = t_max * stiffness / 2.5
        why = (f"at least t_max * lambda_max / 2.5 steps of the explicit integrator, with lambda_max >= "
               f"max(2 lam, 1) = {stiffness:.3g} at t_max = {t_max:.3g}")
    if steps > MAX_STEPS:
        raise ValueError(f"t_max = {t_max:.3g} is out of reach: the run needs {why} = {steps:.3g} > {MAX_STEPS:.0e}; "
                         "use a smaller t_max (with lam > 0 the flow relaxes within a time of order 1/lam)"
                         + (" or a larger eta" if eta is not None else ""))
