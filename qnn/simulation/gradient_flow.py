"""Finite-d training: gradient flow in time (:func:`simulate`) and its long-time limit (:func:`train_to_convergence`).

Conventions of book/theory/conventions.md:
``dW/dt = -G W`` with ``G = (d/n) sum_mu (tr(S Z_mu) - y_mu) Z_mu + 2 lambda I``
in the paper's time units; ``MSE = |S - S*|_F^2 / d``; ``Loss_train`` and ``ISE`` as in :mod:`qnn.simulation.network`.

Integration
-----------
``eta=None`` (default) integrates the flow itself with scipy's adaptive explicit Runge-Kutta 2(3) pair
(``scipy.integrate.RK23``, Bogacki-Shampine) at ``rtol=1e-4``, ``atol=1e-7``; record times are hit through the
solver's dense output. The flow is mildly stiff (the Hessian's largest eigenvalue is ~40-50 in paper units at
alpha = 0.5, kappa = 0.7, kappa* = 0.3), so at late times the step settles at the explicit stability limit (~0.05)
instead of the paper's fixed ``eta = 5e-3``: about 20000 steps (60000 gradients) for ``t_max = 1000``.
The step-size error is measured (``benchmarks/bench_simulator.py --accuracy``; asserted in
``tests/test_simulation.py``): against ``rtol=1e-8`` the default is within ~5e-5 (relative) in MSE(t) and ~1e-4 in
Loss_train(t), far inside a 0.5% budget, and costs no more gradients than ``rtol=1e-3`` (stability-limited).
``eta=<float>`` runs plain gradient descent ``W <- W - eta G W`` instead (the paper's discrete scheme,
time ``t = eta * step``; record times are rounded to multiples of ``eta``), which carries an O(eta) error relative
to the flow. GD past its stability limit (``eta * lambda_max >= 2`` somewhere on the path) does not follow the flow
and can settle at a wrong MSE without blowing up: every step checks that the regularised objective does not rise
and raises :class:`qnn.simulation.integrator.StepSizeError` (a ``ValueError``) at the first rise
(:mod:`qnn.simulation.integrator`).

Performance note: one gradient costs O(n d m) (gaussian) or O(n d^2/2) (GOE, packed). On a loaded shared machine
set ``OPENBLAS_NUM_THREADS=1``: multi-threaded OpenBLAS on these small matrices was measured 10-100x slower under
load. Parallelise over repetitions with ``n_jobs`` instead.

Seeding
-------
Repetition ``r`` of a run with ``seed`` uses :func:`qnn.simulation.data.rep_generators` ``(seed, r)``
(= ``SeedSequence(seed).spawn(reps)[r]``): results do not depend on ``reps`` or ``n_jobs``, and gaussian/goe runs
share ``S*``, ``W(0)`` and the label noise.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from collections.abc import Callable

import joblib
import numpy as np
from scipy.optimize import minimize
from tqdm.auto import tqdm

from ..conventions import Setting, check_dimension, check_features, check_int, check_jobs, check_positive
from .data import Dataset, check_training_memory, init_student, make_dataset, rep_generators
from .integrator import (StepSizeError, check_step_budget, check_stepping, integrate_flow,
                         population_velocity_and_objective, record_grid, record_times, velocity_and_objective)
from .network import (flow_velocity, gradient_matrix, hessian_vector_product, ise, loss_train, mse,
                      objective_and_gradient, population_flow_velocity, stationarity)

__all__ = ["SimulationResult", "ConvergenceResult", "StepSizeError", "simulate", "train_to_convergence", "record_times",
           "integrate_flow", "DEFAULT_RTOL", "DEFAULT_ATOL"]

DEFAULT_RTOL = 1e-4
DEFAULT_ATOL = 1e-7


# ---------------------------------------------------------------------------------------------------------------
# results
# ---------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class SimulationResult:
    """Gradient-flow trajectories of ``reps`` independent repetitions (teacher, data and init redrawn each).

    Attributes
    ----------
    setting : Setting
    d : int
    features : str
    eta : float or None
        GD step, or ``None`` for the adaptive Runge-Kutta flow integrator.
    seed : int
    t : numpy.ndarray
        Record times (T,), paper units: 0, then log-spaced up to ``t_max`` (see :func:`record_times`).
    mse, loss, ise, trace : numpy.ndarray
        (reps, T): ``|S - S*|_F^2/d``, ``Loss_train``, ``ISE``, ``tr S / d`` at the record times.
    S : numpy.ndarray
        Final ``S = W W^T`` per repetition (reps, d, d).
    S_star : numpy.ndarray
        Teacher per repetition (reps, d, d).
    eigenvalues : numpy.ndarray or None
        Eigenvalues of ``S`` at the record times, ascending (reps, T, d), if ``record_spectrum``.
    predictions : numpy.ndarray or None
        Outputs ``tr(S Z_mu)`` on the training samples at the record times (reps, T, n), if ``record_predictions``.
    mse_pop : numpy.ndarray or None
        (reps, T): MSE of the population flow (alpha = inf, ``G = 2(S - S*) + 2 lambda I``) from the same ``S*`` and
        ``W(0)``, if ``population_control``.
    n_gradients : numpy.ndarray
        Number of gradient evaluations per repetition (reps,).
    rtol : float
        Relative tolerance of the adaptive integrator (unused for GD).
    """

    setting: Setting
    d: int
    features: str
    eta: float | None
    seed: int
    t: np.ndarray
    mse: np.ndarray
    loss: np.ndarray
    ise: np.ndarray
    trace: np.ndarray
    S: np.ndarray
    S_star: np.ndarray
    eigenvalues: np.ndarray | None
    predictions: np.ndarray | None
    mse_pop: np.ndarray | None
    n_gradients: np.ndarray
    rtol: float

    @property
    def reps(self) -> int:
        return self.mse.shape[0]


@dataclass(frozen=True, eq=False)
class ConvergenceResult:
    """End points of training to convergence (lambda > 0), one entry per repetition.

    Attributes
    ----------
    setting, d, features, seed, method
        As requested (``method`` is ``"lbfgs"`` or ``"convex"``).
    gtol : float
        Stationarity tolerance: a repetition is ``converged`` when its stationarity measure is <= ``gtol``.
    mse, loss, ise, trace : numpy.ndarray
        (reps,) metrics of the end point (as in :class:`SimulationResult`).
    rank : numpy.ndarray
        (reps,) fraction of the d eigenvalues of ``S`` above ``rank_cutoff * max(eigenvalue)``
        (comparable to the theory's ``kappa_min``); 0 when ``max(eigenvalue)`` is below ``ZERO_EIGENVALUE_SCALE``
        (1e-9) times the teacher's largest eigenvalue (such an ``S`` is zero up to round-off).
    grad_norm : numpy.ndarray
        (reps,) ``|G W|_F / sqrt(d) = sqrt(tr(G S G)/d)``: the flow velocity; 0 at stationary points.
    converged : numpy.ndarray
        (reps,) bool: ``grad_norm <= gtol``; for lbfgs also not a saddle (no direction of negative curvature
        ``< -SADDLE_CURVATURE_TOL`` along ``v u^T``, see ``reason``); for convex also the proximal-gradient mapping
        (divided by sqrt(d)) ``<= gtol`` and the solution's rank fits in the width ``m``.
    reason : tuple of str
        Why each repetition stopped: starts with ``"stationary"`` / ``"prox-gradient"`` when converged, else with
        ``"max_iter="``, ``"L-BFGS-B stalled"``, ``"saddle point"`` or ``"width cap binds"``.
    n_iter : numpy.ndarray
        (reps,) iterations used.
    S, S_star : numpy.ndarray
        (reps, d, d) end points and teachers.
    eigenvalues : numpy.ndarray
        (reps, d) eigenvalues of ``S``, ascending.
    rank_cutoff : float
    """

    setting: Setting
    d: int
    features: str
    seed: int
    method: str
    gtol: float
    mse: np.ndarray
    loss: np.ndarray
    ise: np.ndarray
    trace: np.ndarray
    rank: np.ndarray
    grad_norm: np.ndarray
    converged: np.ndarray
    reason: tuple[str, ...]
    n_iter: np.ndarray
    S: np.ndarray
    S_star: np.ndarray
    eigenvalues: np.ndarray
    rank_cutoff: float

    @property
    def reps(self) -> int:
        return self.mse.shape[0]

    def summary(self) -> dict[str, float]:
        """Mean and spread over repetitions: ``{name}_mean``, ``{name}_std`` (ddof=1; 0 for one repetition) for
        mse, loss, ise, rank, plus ``n_converged``. With a binding width cap, repetitions can sit in different local
        minima: report the spread, not only the mean."""
        out: dict[str, float] = {}
        for name in ("mse", "loss", "ise", "rank"):
            values = getattr(self, name)
            out[f"{name}_mean"] = float(values.mean())
            out[f"{name}_std"] = float(values.std(ddof=1)) if values.size > 1 else 0.0
        out["n_converged"] = int(self.converged.sum())
        return out


# ---------------------------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------------------------
def _check_setting(setting: Setting) -> Setting:
    if not isinstance(setting, Setting):
        raise ValueError(f"setting must be a qnn.Setting, got {type(setting).__name__}")
    return setting


def _rep_problem(setting: Setting, d: int, features: str, seed: int, rep: int) -> tuple[Dataset, np.ndarray]:
    gens = rep_generators(seed, rep)
    data = make_dataset(setting, d, gens, features)
    _, m, _ = setting.dims(d)
    return data, init_student(d, m, setting.gamma, gens.init)


_integrate = integrate_flow   # former private name, still imported by qnn.mean_field.validation


def _simulate_rep(setting: Setting, d: int, t: np.ndarray, features: str, eta: float | None, seed: int,
                  rep: int, record_spectrum: bool, record_predictions: bool, population_control: bool,
                  rtol: float, atol: float, tick: Callable[[], None] | None = None) -> dict[str, np.ndarray]:
    data, W0 = _rep_problem(setting, d, features, seed, rep)
    T = len(t)
    out = {name: np.empty(T) for name in ("mse", "loss", "ise", "trace")}
    if record_spectrum:
        out["eigenvalues"] = np.empty((T, d))
    if record_predictions:
        out["predictions"] = np.empty((T, data.n))

    def on_record(k: int, W: np.ndarray) -> None:
        S = W @ W.T
        f = data.predict(W=W)
        out["mse"][k] = mse(S, data.S_star)
        out["loss"][k] = float((f - data.y) @ (f - data.y)) / (4 * data.n)
        out["ise"][k] = float((f - data.y_clean) @ (f - data.y_clean)) / (4 * data.n)
        out["trace"][k] = np.trace(S) / d
        if record_spectrum:
            out["eigenvalues"][k] = np.linalg.eigvalsh(S)
        if record_predictions:
            out["predictions"][k] = f
        if k == T - 1:
            out["S"] = S
        if tick is not None:
            tick()

    n_gradients = integrate_flow(lambda W: flow_velocity(data, W, setting.lam), W0, t, eta, rtol, atol, on_record,
                                 velocity_energy=lambda W: velocity_and_objective(data, W, setting.lam))
    out["n_gradients"] = np.array(n_gradients)
    out["S_star"] = data.S_star
    if population_control:
        mse_pop = np.empty(T)

        def on_record_pop(k: int, W: np.ndarray) -> None:
            mse_pop[k] = mse(W @ W.T, data.S_star)

        integrate_flow(lambda W: population_flow_velocity(W, data.S_star, setting.lam), W0, t, eta, rtol, atol,
                       on_record_pop, velocity_energy=lambda W: population_velocity_and_objective(W, data.S_star,
                                                                                                  setting.lam))
        out["mse_pop"] = mse_pop
    return out


def _run_reps(function: Callable[..., dict], reps: int, n_jobs: int, progress: bool, description: str,
              ticks_per_rep: int = 0) -> list[dict]:
    """Run ``function(rep=r)`` for r < reps, serially (progress ticks within a repetition) or with joblib."""
    if n_jobs == 1:
        results = []
        per_rep = max(ticks_per_rep, 1)
        with tqdm(total=reps * per_rep, desc=description, disable=not progress) as bar:
            for rep in range(reps):
                if ticks_per_rep:
                    results.append(function(rep=rep, tick=lambda: bar.update(1)))
                else:
                    results.append(function(rep=rep))
                bar.n = (rep + 1) * per_rep   # also right when a repetition came from the cache
                bar.refresh()
        return results
    parallel = joblib.Parallel(n_jobs=n_jobs, return_as="generator")
    jobs = (joblib.delayed(function)(rep=rep) for rep in range(reps))
    return list(tqdm(parallel(jobs), total=reps, desc=description, disable=not progress))


# ---------------------------------------------------------------------------------------------------------------
# public API
# ---------------------------------------------------------------------------------------------------------------
def simulate(setting: Setting, d: int, t_max: float, *, reps: int = 1, seed: int = 0, features: str = "gaussian",
             eta: float | None = None, n_records: int = 60, t_first: float | None = None,
             times: np.ndarray | None = None, record_spectrum: bool = False, record_predictions: bool = False,
             population_control: bool = False,
             rtol: float = DEFAULT_RTOL, atol: float = DEFAULT_ATOL, n_jobs: int = 1, progress: bool = True,
             cache_dir: str | None = None) -> SimulationResult:
    """Train the network by gradient flow ``dW/dt = -G W`` from ``W(0)`` and record its metrics.

    Parameters
    ----------
    setting : Setting
        Model parameters (alpha, kappa, kappa_star, noise, lam, gamma).
    d : int
        Input dimension (>= 2); ``n = floor(alpha d^2)``, ``m = round(kappa d)``, ``m* = round(kappa* d)``.
    t_max : float
        Final time, paper units, in ``(0, inf)``.
    reps : int
        Independent repetitions (>= 1), each with its own teacher, data and initialisation.
    seed : int
        Base seed (>= 0); see the module docstring for the seeding scheme.
    features : {"gaussian", "goe"}
    eta : float or None
        ``None``: adaptive RK23 integration of the flow (``rtol``, ``atol``). A float in ``(0, inf)``: plain GD with
        this step (record times rounded to multiples of ``eta``).
    n_records : int
        Number of record times (>= 2), see :func:`record_times`.
    t_first : float, optional
        First positive record time (default ``min(1e-2, 1e-3 t_max)``).
    times : array_like, optional
        Explicit record times in ``[0, t_max]`` (overrides ``n_records`` and ``t_first``); ``0`` and ``t_max`` are
        added if missing.
    record_spectrum, record_predictions : bool
        Also store the eigenvalues of ``S`` / the training-set outputs at every record time.
    population_control : bool
        Also integrate the population flow (alpha = inf) from the same ``S*`` and ``W(0)`` (``mse_pop``).
    rtol, atol : float
        Tolerances of the adaptive integrator, ``rtol`` in (0, 0.1], ``atol`` in (0, inf).
    n_jobs : int
        Parallel workers over repetitions (joblib; -1 for all cores). Results do not depend on it.
    progress : bool
        Show a tqdm progress bar.
    cache_dir : str, optional
        If given, each repetition is cached on disk (joblib.Memory): an interrupted run resumes where it stopped.

    Returns
    -------
    SimulationResult

    Raises
    ------
    ValueError
        On any invalid argument (the message names it and its allowed range), including ``gamma = 0``.
    StepSizeError
        GD only (``eta`` given): the regularised objective rose at some step (or the weights blew up), i.e. ``eta``
        is past GD's stability limit and the run no longer follows the flow. It is a ``ValueError`` (and a
        ``FloatingPointError``); the message gives the time and the stable step estimated from the Hessian.
    """
    setting = _check_setting(setting)
    d = check_dimension(d)
    t_max = check_positive("t_max", t_max)
    reps = check_int("reps", reps, minimum=1)
    seed = check_int("seed", seed, minimum=0)
    features = check_features(features)
    eta, rtol, atol = check_stepping(t_max, eta, rtol, atol)
    n_jobs = check_jobs("n_jobs", n_jobs)
    check_training_memory(setting, d, features)
    check_step_budget(setting, t_max, eta)
    t = record_grid(t_max, n_records, t_first, times, eta)

    rep_function = _simulate_rep
    if cache_dir is not None:
        rep_function = joblib.Memory(cache_dir, verbose=0).cache(_simulate_rep, ignore=["tick"])

    def one_rep(rep: int, tick: Callable[[], None] | None = None) -> dict:
        return rep_function(setting, d, t, features, eta, seed, rep, bool(record_spectrum), bool(record_predictions),
                            bool(population_control), rtol, atol, tick=tick)

    outs = _run_reps(one_rep, reps, n_jobs, progress, f"simulate d={d} {features}", ticks_per_rep=len(t))
    return _stack_reps(outs, setting=setting, d=d, features=features, eta=eta, seed=seed, t=t, rtol=rtol)


def _stack_reps(outs: list[dict], **fields) -> SimulationResult:
    """One :class:`SimulationResult` from the repetitions' records (a missing record stays ``None``)."""
    keys = ("mse", "loss", "ise", "trace", "S", "S_star", "eigenvalues", "predictions", "mse_pop", "n_gradients")
    stacked = {key: np.stack([o[key] for o in outs]) if key in outs[0] else None for key in keys}
    return SimulationResult(**fields, **stacked)


def _lbfgs_rep(data: Dataset, W0: np.ndarray, lam: float, gtol: float, max_iter: int) -> tuple[np.ndarray, int, str]:
    d, m = W0.shape
    scale = float(d)

    def fun(w: np.ndarray) -> tuple[float, np.ndarray]:
        value, grad = objective_and_gradient(data, w.reshape(d, m), lam)
        return scale * value, scale * grad.ravel()   # d L and G W: O(1) numbers in paper units

    w = W0.ravel().copy()
    used = 0
    # |G W|_F / sqrt(d) <= sqrt(m) max|G W|_ij, so scipy's max-abs criterion at gtol/sqrt(m) implies ours;
    # restart (fresh curvature memory) when the line search stalls before that, while restarts make progress.
    for _ in range(10):
        result = minimize(fun, w, jac=True, method="L-BFGS-B",
                          options={"maxiter": max_iter - used, "gtol": gtol / math.sqrt(m), "ftol": 0.0,
                                   "maxcor": 20, "maxls": 50})
        w, used = result.x, used + int(result.nit)
        W = w.reshape(d, m)
        size = stationarity(gradient_matrix(data, W=W, lam=lam), W @ W.T)
        if size <= gtol:
            return W, used, "stationary: |G W|_F/sqrt(d) <= gtol"
        if used >= max_iter:
            return W, used, f"max_iter={max_iter} reached with |G W|_F/sqrt(d) = {size:.2e} > gtol"
        if result.nit <= 1:
            break
    return W, used, (f"L-BFGS-B stalled ({result.message}) at |G W|_F/sqrt(d) = {size:.2e} > gtol "
                     "(gtol near the float64 limit of the objective?)")


def _convex_rep(data: Dataset, S0: np.ndarray, lam: float, gtol: float, max_iter: int) -> tuple[np.ndarray, int, str]:
    """FISTA with adaptive restart on F(S) = (d/(4n)) sum (tr(S Z) - y)^2 + lambda tr S over S >= 0.

    grad F = G / 2. Step 1/L with L = (d/(2n)) lambda_max(A^T A), A: S -> (tr(S Z_mu))_mu (power iteration, +10%).
    """
    d, n = data.d, data.n
    rng = np.random.default_rng(0)
    V = rng.standard_normal((d, d))
    V = V + V.T
    top = 0.0
    for _ in range(50):
        AV = data.weighted_features(data.predict(V))
        top = float(np.linalg.norm(AV) / np.linalg.norm(V))
        V = AV / np.linalg.norm(AV)
    step = 1.0 / (1.1 * d / (2 * n) * top)

    def project(M: np.ndarray) -> np.ndarray:
        vals, vecs = np.linalg.eigh(0.5 * (M + M.T))
        vals = np.clip(vals, 0.0, None)
        return (vecs * vals) @ vecs.T

    def grad(S: np.ndarray) -> np.ndarray:
        return 0.5 * gradient_matrix(data, S, lam=lam)

    S = project(S0)
    Y, momentum = S.copy(), 1.0
    for it in range(1, max_iter + 1):
        S_new = project(Y - step * grad(Y))
        mapping = (Y - S_new) / step
        if np.linalg.norm(mapping) / math.sqrt(d) <= gtol and stationarity(2 * grad(S_new), S_new) <= gtol:
            return S_new, it, "prox-gradient mapping and |G W|_F/sqrt(d) <= gtol"
        momentum_new = 0.5 * (1 + math.sqrt(1 + 4 * momentum**2))
        if np.einsum("ij,ij->", mapping, S_new - S) > 0:   # objective going up: restart momentum
            momentum_new, Y = 1.0, S_new.copy()
        else:
            Y = S_new + (momentum - 1) / momentum_new * (S_new - S)
        S, momentum = S_new, momentum_new
    return S, max_iter, f"max_iter={max_iter} reached before the prox-gradient mapping <= gtol"


#: An end point whose largest eigenvalue is below this fraction of the teacher's counts as S = 0 (rank 0): its
#: eigenvalues are round-off or solver residue, and the relative cutoff alone would count them.
ZERO_EIGENVALUE_SCALE = 1e-9
#: A stationary point is reported as a saddle when the loss curves down along the escape direction by more than
#: this (paper units; at W = 0 the curvature is 2 lambda_min(G), O(1)); round-off at true minima is far smaller.
SADDLE_CURVATURE_TOL = 1e-4


def _saddle_curvature(data: Dataset, W: np.ndarray, G: np.ndarray, lam: float) -> float:
    """Curvature ``<V, D(G W)[V]> / |V|^2`` of ``d L`` along ``V = v u^T``: ``v`` the bottom eigenvector of ``G``,
    ``u`` the least-used column direction of ``W`` (smallest right singular vector). At a stationary ``W`` with a
    free direction (``W u = 0``) it is ``2 lambda_min(G)``, negative exactly at the Burer-Monteiro saddles
    (e.g. ``W = 0``, where gamma = 0 starts)."""
    _, vecs = np.linalg.eigh(G)
    _, _, Vt = np.linalg.svd(W, full_matrices=True)
    V = np.outer(vecs[:, 0], Vt[-1])
    return float(np.sum(V * hessian_vector_product(data, W, V, lam)))


def _rank(eigenvalues: np.ndarray, S_star: np.ndarray, rank_cutoff: float) -> int:
    """Number of eigenvalues above ``rank_cutoff * lambda_max(S)``; 0 if ``lambda_max(S)`` is below
    ``ZERO_EIGENVALUE_SCALE * lambda_max(S*)`` (the teacher sets the scale of a meaningful eigenvalue)."""
    top = float(eigenvalues[-1])
    if not top > ZERO_EIGENVALUE_SCALE * float(np.linalg.eigvalsh(S_star)[-1]):
        return 0
    return int(np.sum(eigenvalues > rank_cutoff * top))


def _converge_rep(setting: Setting, d: int, features: str, seed: int, rep: int, method: str, gtol: float,
                  max_iter: int, rank_cutoff: float) -> dict:
    data, W0 = _rep_problem(setting, d, features, seed, rep)
    _, m, _ = setting.dims(d)
    if method == "lbfgs":
        W, n_iter, reason = _lbfgs_rep(data, W0, setting.lam, gtol, max_iter)
        S = W @ W.T
    else:
        S, n_iter, reason = _convex_rep(data, W0 @ W0.T, setting.lam, gtol, max_iter)
    G = gradient_matrix(data, S, lam=setting.lam)
    eigenvalues = np.linalg.eigvalsh(S)
    n_kept = _rank(eigenvalues, data.S_star, rank_cutoff)
    converged = reason.startswith(("stationary", "prox"))
    if method == "lbfgs" and converged:
        curvature = _saddle_curvature(data, W, G, setting.lam)
        if curvature < -SADDLE_CURVATURE_TOL:
            converged = False
            reason = (f"saddle point: |G W|_F/sqrt(d) <= gtol but not a minimum: the loss curves down (curvature "
                      f"{curvature:.3g}) along v u^T (v: bottom eigenvector of G, u: an unused column direction of "
                      f"W). gamma = {setting.gamma:.3g} starts at or next to the saddle W = 0, which the flow leaves "
                      "slowly or never; use a larger gamma or method='convex'")
    if method == "convex" and n_kept > m:
        width = f"rank {n_kept} > m = {m}; not reachable by the network"
        if converged:
            converged, reason = False, f"width cap binds: convex solution has {width}"
        else:
            reason += f" (and the last iterate has {width})"
    return {"mse": mse(S, data.S_star), "loss": loss_train(data, S), "ise": ise(data, S), "trace": np.trace(S) / d,
            "rank": n_kept / d, "grad_norm": stationarity(G, S), "converged": converged, "reason": reason,
            "n_iter": n_iter, "S": S, "S_star": data.S_star, "eigenvalues": eigenvalues}


def train_to_convergence(setting: Setting, d: int, *, reps: int = 1, seed: int = 0, features: str = "gaussian",
                         gtol: float = 1e-6, max_iter: int = 20000, n_jobs: int = 1, method: str = "lbfgs",
                         rank_cutoff: float = 1e-3, progress: bool = True,
                         cache_dir: str | None = None) -> ConvergenceResult:
    """Long-time limit of gradient flow at lambda > 0: minimise the regularised loss to a stationary point.

    Same teacher, data and ``W(0)`` as :func:`simulate` for the same ``seed``/repetition.

    Parameters
    ----------
    setting : Setting
        Must have ``lam > 0`` (with ``lam = 0`` the limit depends on the initialisation: use :func:`simulate`), and
        ``gamma > 0`` for ``method="lbfgs"`` (``W(0) = 0`` is a saddle that the flow never leaves).
    d : int
        Input dimension (>= 2).
    reps, seed, features, n_jobs, progress, cache_dir
        As in :func:`simulate`.
    gtol : float
        Stationarity tolerance in (0, inf) on ``|G W|_F / sqrt(d)`` (lbfgs) or on the proximal-gradient mapping
        ``|S - P(S - grad F / L)|_F L / sqrt(d)`` (convex).
    max_iter : int
        Iteration budget per repetition (>= 1). Near exact interpolation L-BFGS can need thousands.
    method : {"lbfgs", "convex"}
        ``"lbfgs"``: scipy L-BFGS-B on ``d L(W)`` over ``W`` (d x m) from the gamma-initialisation; with
        ``kappa < 1`` and the width cap binding it can stop in different local minima for different seeds (average
        them and report the spread). ``"convex"``: accelerated proximal gradient (FISTA with restart) on the
        convex problem ``min_{S >= 0} (d/(4n)) sum (tr(S Z) - y)^2 + lambda tr S`` (uses ``|W|_F^2 = tr S``). It is
        the network's problem when the width cap does not bind (``rank(S) <= m``, e.g. ``kappa >= 1``); a
        repetition whose convex solution has rank > m is flagged ``converged=False``.
    rank_cutoff : float
        Relative eigenvalue cutoff in (0, 1) for ``rank``.

    Returns
    -------
    ConvergenceResult
    """
    setting = _check_setting(setting)
    if method == "lbfgs" and setting.gamma == 0:
        raise ValueError("gamma must be > 0 for method='lbfgs' (allowed range (0, inf)): W(0) = 0 is a stationary "
                         "point (a saddle) that gradient flow and L-BFGS never leave; use gamma > 0 (any small value "
                         "escapes it) or method='convex' (whose problem has no saddle)")
    if setting.lam <= 0:
        raise ValueError("train_to_convergence needs lam > 0 (allowed range (0, inf)): with lam = 0 the long-time "
                         "limit depends on the initialisation and the dynamics; use simulate() instead")
    d = check_dimension(d)
    reps = check_int("reps", reps, minimum=1)
    seed = check_int("seed", seed, minimum=0)
    features = check_features(features)
    gtol = check_positive("gtol", gtol)
    max_iter = check_int("max_iter", max_iter, minimum=1)
    n_jobs = check_jobs("n_jobs", n_jobs)
    if method not in ("lbfgs", "convex"):
        raise ValueError(f"method must be one of ('lbfgs', 'convex'), got {method!r}")
    rank_cutoff = check_positive("rank_cutoff", rank_cutoff)
    if rank_cutoff >= 1:
        raise ValueError(f"rank_cutoff must be in (0, 1), got {rank_cutoff}")
    check_training_memory(setting, d, features)

    function = _converge_rep
    if cache_dir is not None:
        function = joblib.Memory(cache_dir, verbose=0).cache(_converge_rep)

    def one_rep(rep: int) -> dict:
        return function(setting, d, features, seed, rep, method, gtol, max_iter, rank_cutoff)

    outs = _run_reps(one_rep, reps, n_jobs, progress, f"train_to_convergence d={d} {method}")
    stack = lambda key: np.stack([np.asarray(o[key]) for o in outs])  # noqa: E731
    return ConvergenceResult(setting=setting, d=d, features=features, seed=seed, method=method, gtol=gtol,
                             mse=stack("mse"), loss=stack("loss"), ise=stack("ise"), trace=stack("trace"),
                             rank=stack("rank"), grad_norm=stack("grad_norm"), converged=stack("converged"),
                             reason=tuple(o["reason"] for o in outs), n_iter=stack("n_iter"), S=stack("S"),
                             S_star=stack("S_star"), eigenvalues=stack("eigenvalues"), rank_cutoff=rank_cutoff)
