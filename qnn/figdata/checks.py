"""Cache versus code: recompute tasks and compare the physics within the tolerances each spec declares.

Which tasks: every task of a theory figure (cheap); a seeded random sample of ``check_sample`` tasks (at least
3) of a simulation figure, or all of them. The sample rotates with the *check seed*: ``QNN_CHECK_SEED`` in the
environment (default 0; CI may set it to its run number so that successive runs cover different tasks). The
choice depends only on the seed and the figure's name, never on the date or the machine.

How: each result key is compared as its :class:`qnn.figdata.Check` says (entry-wise with ``rtol``/``atol``,
spectra as sorted distributions, flags exactly); solver internals (iteration counts, gradient norms at the stop,
wall time) are never compared: they are chaotic in floating-point round-off and differ between BLAS kernels.
"""
from __future__ import annotations

import os
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .runner import compute_task
from .specs import Check, FigureSpec, spec
from .store import load

__all__ = ["compare_results", "sample_indices", "check_seed", "verify", "Verification", "SUITE_BUDGET_S"]

#: Figures whose ``check_budget_s`` exceeds this are recomputed only by ``pytest -m slow`` (default suite time).
SUITE_BUDGET_S = 120.0


def check_seed() -> int:
    """The seed of the rotating sample: ``int(QNN_CHECK_SEED)`` (default 0)."""
    text = os.environ.get("QNN_CHECK_SEED", "0")
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"QNN_CHECK_SEED must be an integer >= 0, got {text!r}") from None
    if value < 0:
        raise ValueError(f"QNN_CHECK_SEED must be an integer >= 0, got {value}")
    return value


def sample_indices(figure: FigureSpec, n_tasks: int, sample: int | str | None = None,
                   seed: int | None = None) -> list[int]:
    """Indices of the tasks to recompute: ``sample`` = ``"all"``, a count, or ``None`` (the spec's plan)."""
    size = figure.check_sample if sample is None else sample
    if size is None or size == "all" or size >= n_tasks:
        return list(range(n_tasks))
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"sample must be 'all' or an integer >= 1, got {size!r}")
    seed = check_seed() if seed is None else seed
    rng = np.random.default_rng([seed, zlib.crc32(figure.name.encode())])
    return sorted(int(i) for i in rng.choice(n_tasks, size=size, replace=False))


def _compare(key: str, check: Check, a: Any, b: Any) -> str | None:
    if check.kind == "ignore":
        return None
    if check.kind == "exact":
        return None if a == b else f"{key}: cached {_short(a)} != fresh {_short(b)}"
    a_arr, b_arr = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if check.kind == "spectrum":
        if a_arr.ndim != 1 or a_arr.shape != b_arr.shape:
            return f"{key}: {a_arr.shape} eigenvalues cached, {b_arr.shape} fresh"
        a_arr, b_arr = np.sort(a_arr), np.sort(b_arr)
        width = float(b_arr[-1] - b_arr[0]) if b_arr.size else 0.0
        bound = check.atol + check.rtol * width
        worst = float(np.max(np.abs(a_arr - b_arr), initial=0.0))
        return None if worst <= bound else (f"{key}: sorted eigenvalues differ by {worst:.3g} > {bound:.3g} "
                                            f"(= {check.atol:g} + {check.rtol:g} x spectral width {width:.3g})")
    if a_arr.shape != b_arr.shape:
        return f"{key}: shape {a_arr.shape} (cached) != {b_arr.shape} (fresh)"
    excess = np.abs(a_arr - b_arr) - (check.atol + check.rtol * np.abs(b_arr))
    if not np.any(excess > 0):
        return None
    at = tuple(int(i) for i in np.unravel_index(int(np.argmax(excess)), excess.shape)) if excess.ndim else ()
    return (f"{key}{list(at) if at else ''}: cached {float(a_arr[at]):.8g} vs fresh {float(b_arr[at]):.8g} "
            f"(allowed: {check.atol:g} + {check.rtol:g} x |fresh|)")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def compare_results(figure: FigureSpec, cached: Mapping[str, Any], fresh: Mapping[str, Any]) -> list[str]:
    """Differences between a cached and a freshly computed result of ``figure`` (empty list: they agree)."""
    problems: list[str] = []
    if set(cached) != set(fresh):
        problems.append(f"result keys differ: cached {sorted(cached)}, fresh {sorted(fresh)}")
    for key in sorted(set(cached) & set(fresh)):
        check = figure.checks.get(key)
        if check is None:
            problems.append(f"{key}: not declared in the spec's checks")
            continue
        problem = _compare(key, check, cached[key], fresh[key])
        if problem:
            problems.append(problem)
    return problems


@dataclass(frozen=True)
class Verification:
    """Outcome of :func:`verify` for one figure.

    Attributes
    ----------
    name : str
    checked : tuple of int
        Recomputed task indices.
    problems : tuple of str
        One line per differing task (``task i (params): ...``); empty when the cache agrees with the code.
    seconds : float
        Wall time of the recomputation.
    """

    name: str
    checked: tuple[int, ...]
    problems: tuple[str, ...]
    seconds: float

    @property
    def ok(self) -> bool:
        """True when every recomputed task agrees with the cache."""
        return not self.problems


def verify(name: str, *, sample: int | str | None = None, seed: int | None = None, d: int | None = None,
           reps: int | None = None, data_dir: Path | None = None, jobs: int = 1) -> Verification:
    """Load the cache of ``name`` (all static checks) and recompute ``sample`` of its tasks.

    Parameters
    ----------
    name : str
        Registered figure.
    sample : int, ``"all"`` or None
        Tasks to recompute: ``None`` = the spec's plan (all for theory, ``check_sample`` for simulations).
    seed : int, optional
        Seed of the sample (default :func:`check_seed`).
    d, reps : int, optional
        Sizes the cache must have (default: the spec's).
    data_dir : Path, optional
        Folder of the cache (default: the book's).
    jobs : int
        Worker processes for the recomputation (each task single-threaded, as when generated).

    Raises
    ------
    CacheError
        From :func:`qnn.figdata.load` (missing, corrupt, stale, other sizes, schema).
    """
    figure = spec(name)
    data = load(name, d=d, reps=reps, data_dir=data_dir)
    indices = sample_indices(figure, len(data.tasks), sample, seed)
    start = time.perf_counter()
    if jobs == 1 or len(indices) < 2:
        fresh = [compute_task(figure, data.tasks[index]) for index in indices]
    else:
        from joblib import Parallel, delayed

        fresh = Parallel(n_jobs=jobs)(delayed(compute_task)(figure, data.tasks[index]) for index in indices)
    problems = []
    for index, result in zip(indices, fresh):
        task = data.tasks[index]
        found = compare_results(figure, data.results[index], result)
        if found:
            label = ", ".join(f"{k}={v}" for k, v in task.items() if k in figure.grid or k in ("rep",))
            problems.append(f"task {index} ({label}): " + "; ".join(found))
    return Verification(name, tuple(indices), tuple(problems), time.perf_counter() - start)
