"""The DMFT driver: :func:`dmft` validates its options once, then builds the problem, iterates, assembles.

Theory: book/theory/dmft.md. The steps, each a short function:

1. :class:`~qnn.mean_field.options.DMFTOptions` / :class:`~qnn.mean_field.options.RunControl`: validation and size
check;
2. :func:`build_problem`: grid, response start times, seeds, stability check, population flows (the iteration's
   start and the control variate);
3. :func:`start_state`: population kernels, a warm start (another solve's kernels) or a checkpoint;
4. :func:`iterate`: sweeps until the per-time stopping test (:func:`sweep_change`) passes or ``max_iter``;
5. :func:`assemble`: curves, standard errors and the iteration's record in a :class:`DMFTResult`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import joblib
import numpy as np
from joblib import Parallel, delayed
from scipy.interpolate import RegularGridInterpolator
from tqdm.auto import tqdm

from ..conventions import Setting
from .numerics import (STABILITY_MARGIN, SampleSide, causal_sqrt, interpolate_response, sample_side, stiffest_rate,
                       time_grid)
from .cache import Checkpoint, checkpoint_path
from .options import DMFTOptions, RunControl, check_size
from .process import _child, _draws, _pop_statistics, _sample_sweep, _Unstable
from .result import DMFTResult, jackknife_loss


@dataclass(frozen=True)
class Problem:
    """Everything fixed during the iteration."""

    setting: Setting
    options: DMFTOptions
    t: np.ndarray
    starts: np.ndarray
    seqs: list
    C_start: np.ndarray        # population C, mean over the iteration's own samples
    mse_pop: np.ndarray        # (samples + control_samples, N): every population run's MSE


@dataclass(frozen=True)
class State:
    """The iteration's state after a sweep (or at its start: ``outs`` is None)."""

    C: np.ndarray
    R: np.ndarray
    side: SampleSide
    errors: tuple = ()
    loss_history: tuple = ()
    outs: list | None = None


def response_starts(n: int, n_starts: int) -> np.ndarray:
    """Start times of the response runs: equally spaced in grid index, plus two close to ``t_max``.

    The response at the last rows is interpolated from starts that reach the lag, so the last interval is short.
    """
    near_end = np.array([k for k in (n - 4, n - 7) if k > 0], dtype=int)
    return np.unique(np.concatenate([np.round(np.linspace(0, n - 2, n_starts)).astype(int), near_end]))


def check_stability(setting: Setting, options: DMFTOptions, t: np.ndarray, seqs: list) -> None:
    """Refuse a late step beyond the explicit integrator's stability limit, before any run."""
    s_max = max(float(np.linalg.eigvalsh(_draws(setting, options.d_eff, s)[0])[-1]) for s in seqs)
    h_late = float(np.max(np.diff(t)))
    rate = stiffest_rate(s_max, setting.lam)
    if h_late * rate > STABILITY_MARGIN:
        need = int(math.ceil((options.n_times - 1) * h_late * rate / STABILITY_MARGIN)) + 1
        raise ValueError(f"{options.describe_grid()} gives a late step {h_late:.3g} beyond the stability limit of "
                         f"the explicit integrator (stiffest rate ~ 4 max eig S* + 2 lambda = {rate:.3g}); pass "
                         f"n_times >= {need} for t_max = {options.t_max:g}")


def build_problem(setting: Setting, options: DMFTOptions, parallel: Parallel) -> Problem:
    """Grid, start times, seeds, stability check and the population flows (sweep-independent)."""
    t = time_grid(options.t_max, options.n_times, options.refine)
    root = np.random.SeedSequence(options.seed)
    seqs = [_child(root, k) for k in range(options.samples + options.control_samples)]
    check_stability(setting, options, t, seqs)
    try:
        pops = parallel(delayed(_pop_statistics)(setting, t, options.d_eff, s) for s in seqs)
    except _Unstable as exc:
        raise ValueError(f"{options.describe_grid()}: {exc} (explicit-integrator instability, e.g. from a large "
                         f"initialisation); pass a finer grid, n_times >= {2 * options.n_times}") from None
    C_start = np.mean([p[0] for p in pops[:options.samples]], axis=0)
    mse_pop = np.array([np.diag(p[0]) / 2.0 for p in pops])
    return Problem(setting=setting, options=options, t=t, starts=response_starts(t.size, options.n_starts),
                   seqs=seqs, C_start=C_start, mse_pop=mse_pop)


def warm_kernels(warm: DMFTResult | None) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """``(t, C, R)`` of a warm-start result (None passes through)."""
    if warm is None:
        return None
    if not isinstance(warm, DMFTResult):
        raise ValueError(f"warm_start must be a DMFTResult or None, got {type(warm).__name__}")
    return warm.t, warm.C, warm.R


def start_state(problem: Problem, warm: tuple | None) -> State:
    """Population kernels (``R = 0``), overwritten where a warm start's grid reaches by its interpolated kernels."""
    t, s = problem.t, problem.setting
    C, R = problem.C_start.copy(), np.zeros((t.size, t.size))
    if warm is not None:
        t_w, C_w, R_w = warm
        k = int(np.searchsorted(t, t_w[-1], side="right"))
        grid = np.stack(np.meshgrid(t[:k], t[:k], indexing="ij"), axis=-1)
        C[:k, :k] = RegularGridInterpolator((t_w, t_w), C_w)(grid)
        R[:k, :k] = np.tril(RegularGridInterpolator((t_w, t_w), np.tril(R_w))(grid))
    return State(C=C, R=R, side=sample_side(t, C, R, s.alpha, s.noise))


def relative_change(new: np.ndarray, old: np.ndarray) -> float:
    """``max_t |new - old| / |new|`` (floored at ``1e-8 max |new|``)."""
    scale = np.maximum(np.abs(new), 1e-8 * max(float(np.max(np.abs(new))), 1e-300))
    return float(np.max(np.abs(new - old) / scale))


def sweep_change(problem: Problem, old: State, C: np.ndarray, R: np.ndarray, side: SampleSide) -> float:
    """The per-time stopping test: the largest relative change of one sweep over every time.

    Monitors ``C(t,t)`` (the MSE), ``Cu(t,t)`` (Loss_train), ``chi(t) = [M 1](t)`` (the sample-side response)
    at every ``t``, the whole ``R`` relative to its largest entry, and ``R`` on the late band
    ``t >= (1 - late_band) t_max`` relative to the band's largest entry. (A test on ``max|dC| / max|C|`` alone is
    dominated by early times, where ``C`` is largest, and let late-time values move by ~5% per sweep.)
    """
    band = problem.t >= (1.0 - problem.options.late_band) * problem.t[-1]
    R_band, R_band_old = np.tril(R)[band], np.tril(old.R)[band]
    scale_band = max(float(np.max(np.abs(R_band))), 1e-300)
    return max(relative_change(np.diag(C), np.diag(old.C)), relative_change(np.diag(side.Cu), np.diag(old.side.Cu)),
               relative_change(side.M.sum(axis=1), old.side.M.sum(axis=1)),
               float(np.max(np.abs(R - old.R))) / max(float(np.max(np.abs(R))), 1e-300),
               float(np.max(np.abs(R_band - R_band_old))) / scale_band)


def run_sweep(problem: Problem, state: State, parallel: Parallel, control: RunControl) -> list[dict]:
    """One sweep: every sample's effective process and response runs, driven by the state's kernels."""
    o = problem.options
    L = causal_sqrt(state.side.Cu)
    try:
        return parallel(delayed(_sample_sweep)(problem.setting, problem.t, o.d_eff, s, L, state.side.memory,
                                               problem.starts, control.batch) for s in problem.seqs[:o.samples])
    except _Unstable as exc:   # the grid is too coarse for this setting's noise and memory: a parameter problem
        raise ValueError(f"{o.describe_grid()} is too coarse for this setting: in DMFT sweep "
                         f"{len(state.errors) + 1} {exc}; pass a finer grid, n_times >= {2 * o.n_times}") from None


def kernels(problem: Problem, outs: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    """The sweep's kernel estimates: plain sample means of ``C`` (PSD) and the interpolated response ``R``."""
    d = problem.options.d_eff
    trace_S = np.mean([o["trace_S"] for o in outs], axis=0)
    R = interpolate_response(problem.t, problem.starts, np.mean([o["R_cols"] for o in outs], axis=0),
                             -2.0 * (d + 1) / d * trace_S)
    return np.mean([o["C"] for o in outs], axis=0), R


def step(problem: Problem, state: State, outs: list[dict]) -> State:
    """The next state from a sweep's outputs (damped update, sample side, change and loss record)."""
    s, damping = problem.setting, problem.options.damping
    C_new, R_new = kernels(problem, outs)
    C = damping * state.C + (1.0 - damping) * C_new
    R = damping * state.R + (1.0 - damping) * R_new
    side = sample_side(problem.t, C, R, s.alpha, s.noise)
    change = sweep_change(problem, state, C, R, side)
    return State(C=C, R=R, side=side, errors=state.errors + (change,),
                 loss_history=state.loss_history + (float(side.Cu[-1, -1]) / 4.0,), outs=outs)


def stop_reason(problem: Problem, state: State) -> tuple[bool, str]:
    """``(converged, reason)`` after a sweep; reason ``""`` means: continue."""
    tol, k, err = problem.options.tol, len(state.errors), state.errors[-1]
    losses = state.loss_history
    moved = f"; Loss_train(t_max) moved {losses[-1] / losses[-2] - 1:+.2e} in the last sweep" if k > 1 else ""
    if not np.isfinite(err) or not np.all(np.isfinite(state.side.Cu)):
        return False, f"non-finite kernels at sweep {k}"
    if err < tol:
        return True, f"converged: per-time relative change {err:.2e} < tol = {tol:g} after {k} sweeps{moved}"
    if k >= problem.options.max_iter:
        return False, f"not converged: per-time relative change {err:.2e} > tol = {tol:g} after {k} sweeps{moved}"
    return False, ""


def iterate(problem: Problem, state: State, parallel: Parallel, control: RunControl, checkpoint=None
            ) -> tuple[State, bool, str]:
    """Sweep until :func:`stop_reason` says stop; checkpoint the kernels after every sweep if asked."""
    o, s = problem.options, problem.setting
    bar = tqdm(total=o.max_iter, initial=len(state.errors), desc=f"DMFT alpha={s.alpha:g}",
               disable=not control.progress)
    converged, reason = False, ""
    try:
        while len(state.errors) < o.max_iter:
            state = step(problem, state, run_sweep(problem, state, parallel, control))
            bar.update(1)
            bar.set_postfix(change=f"{state.errors[-1]:.2e}", loss=f"{state.loss_history[-1]:.4g}")
            if checkpoint is not None:
                checkpoint.save(state)
            converged, reason = stop_reason(problem, state)
            if reason:
                break
    finally:
        bar.close()
    if state.outs is None:   # resumed from a checkpoint that had used up max_iter: statistics from one more sweep
        state = State(C=state.C, R=state.R, side=state.side, errors=state.errors, loss_history=state.loss_history,
                      outs=run_sweep(problem, state, parallel, control))
    if not reason:
        converged, reason = stop_reason(problem, state)
    return state, converged, reason


def assemble(problem: Problem, state: State, converged: bool, reason: str) -> DMFTResult:
    """The result: MSE with the population control variate, jackknife errors, kernels and the record."""
    o, outs, t = problem.options, state.outs, problem.t
    mse_diff = np.array([np.diag(out["C"]) / 2.0 for out in outs]) - problem.mse_pop[:o.samples]
    n_all = len(problem.mse_pop)
    var = mse_diff.var(axis=0, ddof=1) / o.samples if o.samples > 1 else np.full(t.size, np.nan)
    var = var + problem.mse_pop.var(axis=0, ddof=1) / n_all if n_all > 1 else var
    loss_se, ise_se = jackknife_loss(problem.setting, t, problem.starts, outs, o.d_eff)
    stack = lambda key: np.array([out[key] for out in outs])  # noqa: E731
    return DMFTResult(
        setting=problem.setting, t=t, mse=mse_diff.mean(axis=0) + problem.mse_pop.mean(axis=0),
        mse_stderr=np.sqrt(var), loss=np.diag(state.side.Cu) / 4.0, ise=state.side.ise, loss_stderr=loss_se,
        ise_stderr=ise_se, mse_population=problem.mse_pop.mean(axis=0), C=state.C, R=state.R, Cu=state.side.Cu,
        Ru=state.side.Ru, M=state.side.M, Cs=stack("Cs").mean(axis=0), q_star=float(stack("q_star").mean()),
        trace_S=stack("trace_S").mean(axis=0), iterations=len(state.errors), converged=converged,
        error=float(state.errors[-1]) if state.errors else float("nan"), errors=np.array(state.errors),
        loss_history=np.array(state.loss_history), dissipation=stack("dissipation").mean(axis=0),
        sample_dissipation=stack("dissipation"), sample_trace_S=stack("trace_S"),
        sample_C0=np.array([out["C"][0, 0] for out in outs]), reason=reason, d_eff=o.d_eff,
        samples=o.samples, control_samples=o.control_samples, n_starts=len(problem.starts), seed=o.seed, tol=o.tol,
        damping=o.damping)


def solve(setting: Setting, options: DMFTOptions, warm: tuple | None = None, control: RunControl | None = None,
          checkpoint=None) -> DMFTResult:
    """Solve with validated options: problem, start (or resume), iterate, assemble."""
    control = RunControl() if control is None else control
    parallel = Parallel(n_jobs=control.n_jobs)
    problem = build_problem(setting, options, parallel)
    state = start_state(problem, warm)
    saved = None if checkpoint is None else checkpoint.load(problem.t.size)
    if saved is not None:
        C, R, errors, losses = saved
        state = State(C=C, R=R, side=sample_side(problem.t, C, R, setting.alpha, setting.noise), errors=errors,
                      loss_history=losses)
    state, converged, reason = iterate(problem, state, parallel, control, checkpoint)
    return assemble(problem, state, converged, reason)


def dmft(setting: Setting, t_max: float, *, n_times: int | None = None, d_eff: int = 80, samples: int = 4,
         control_samples: int = 16, n_starts: int = 20, damping: float = 0.0, tol: float = 1e-3,
         max_iter: int = 40, refine: float = 10.0, late_band: float = 0.25, seed: int = 0,
         warm_start: DMFTResult | None = None, n_jobs: int = 1, batch: int = 5,
         cache_dir: str | Path | None = None, progress: bool = True) -> DMFTResult:
    """Solve the DMFT of gradient flow up to ``t_max`` (theory: book/theory/dmft.md).

    Parameters
    ----------
    setting : Setting
        The model (alpha, kappa, kappa*, Delta, lambda, gamma).
    t_max : float
        Final time, in ``(0, inf)``.
    n_times : int or None
        Grid points of the graded grid (:func:`time_grid`), >= 3; ``None`` uses :func:`default_n_times` (late
        step <= 0.05 and inside the stability limit ``h_late (4 max eig S* + 2 lambda) <= 1.6``, checked).
    d_eff : int
        Size of the effective matrix process, >= 4. Its sampling spread and 1/d_eff bias shrink as it grows; the
        cost grows like ``d_eff^3``.
    samples : int
        Independent effective-process samples averaged (>= 2: the standard errors need two).
    control_samples : int
        Extra population-flow runs (cheap) for the control variate's mean (>= 0).
    n_starts : int
        Start times of the tangent-linear response runs (>= 2), equally spaced in grid index (two more are added
        just before ``t_max``).
    damping : float
        In ``[0, 1)``: kernels ``<- damping * old + (1 - damping) * new`` between sweeps.
    tol : float
        Stopping threshold, in ``(0, inf)``: the iteration stops when one sweep moves ``C(t,t)``, ``Cu(t,t)``
        (so ``Loss_train``) and ``chi(t)`` by less than ``tol`` relative at *every* time, and ``R`` by less than
        ``tol`` relative to its largest entry, globally and on the late band (:func:`sweep_change`). The
        late-time error contracts by ~0.65-0.75 per sweep, so a converged result moves by < ``3 tol`` more.
    max_iter : int
        Maximal number of sweeps (>= 1); 20-30 from a cold start at ``t_max = 10``, fewer from a warm start.
    refine : float
        Early/late step ratio of the grid, ``>= 1``.
    late_band : float
        In ``[0, 1)``: the fraction of ``[0, t_max]`` at its end where ``R`` is also tested on its own scale.
    seed : int
        Base seed (>= 0); results are reproducible for a given seed and parameters.
    warm_start : DMFTResult or None
        Start the iteration from this result's kernels (interpolated; e.g. a shorter ``t_max`` or another
        seed), instead of the population flow. Part of the cache key.
    n_jobs : int
        joblib workers over samples (>= 1). Results do not depend on it.
    batch : int
        Tangent-linear runs integrated together (>= 1): fewer Python steps, more memory.
    cache_dir : path or None
        If given, the result is cached there (:mod:`qnn.mean_field.cache`: joblib.Memory, like every solver of the
        package) and the iteration is checkpointed after every sweep, so an interrupted solve resumes.
    progress : bool
        Show a tqdm progress bar over the sweeps.

    Returns
    -------
    DMFTResult
        ``converged`` is False (with ``reason``) if ``max_iter`` sweeps did not pass the stopping test;
        ``loss_history`` records ``Loss_train(t_max)`` after every sweep.

    Raises
    ------
    ValueError
        For a parameter outside its range, a time step beyond the integrator's stability limit (checked before
        any work, or found when the effective process blows up during the iteration: the message names a finer
        ``n_times``), or a problem whose estimated memory exceeds the machine's (the estimate in the message).
    """
    options = DMFTOptions.create(setting, t_max, n_times, d_eff=d_eff, samples=samples,
                                 control_samples=control_samples, n_starts=n_starts, damping=damping, tol=tol,
                                 max_iter=max_iter, refine=refine, late_band=late_band, seed=seed)
    control = RunControl.create(n_jobs=n_jobs, batch=batch, progress=progress)
    check_size(setting, options, control)
    warm = warm_kernels(warm_start)
    if cache_dir is None:
        return solve(setting, options, warm, control)
    return cached_solve(Path(cache_dir), setting, options, warm, control)


def _solve_with_checkpoint(setting: Setting, options: DMFTOptions, warm: tuple | None, control: RunControl,
                           checkpoint: Checkpoint) -> DMFTResult:
    result = solve(setting, options, warm, control, checkpoint)
    if result.converged:   # else kept: a call with a larger max_iter continues from it
        checkpoint.remove()
    return result


def cached_solve(cache_dir: Path, setting: Setting, options: DMFTOptions, warm: tuple | None,
                 control: RunControl) -> DMFTResult:
    """:func:`solve` memoised with joblib.Memory in ``cache_dir`` (see :mod:`qnn.mean_field.cache`), checkpointed per
    sweep."""
    memory = joblib.Memory(cache_dir / "joblib", verbose=0)
    function = memory.cache(_solve_with_checkpoint, ignore=["control", "checkpoint"])
    return function(setting, options, warm, control, Checkpoint(checkpoint_path(cache_dir, setting, options, warm)))
