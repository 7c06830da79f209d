"""Computing figure data: :func:`generate` (resumable, parallel) and :func:`compute_task` (one task)."""
from __future__ import annotations

import hashlib
import json
import platform
import shutil
import subprocess
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from ..conventions import check_jobs
from .specs import FigureSpec, Task, TaskFunction, spec, tasks_of
from .store import (FORMAT_VERSION, _REPO_ROOT, atomic_write_json, checksum, default_data_dir, default_partial_dir,
                    jsonable, regeneration_command, validate_result)

__all__ = ["generate", "compute_task"]


def compute_task(figure: FigureSpec, task: Mapping[str, Any]) -> dict[str, Any]:
    """Run ``figure.compute(task)`` exactly as :func:`generate` does: with single-threaded BLAS.

    Multi-threaded BLAS sums in a thread-count-dependent order, and iterative solvers (L-BFGS iteration counts,
    near-zero eigenvalues) amplify those last-digit differences; with one BLAS thread per task the numbers do
    not depend on ``--jobs``, the scheduler, or the machine's load. They still depend on the BLAS kernel (CPU):
    the consistency checks compare them within the tolerances the spec declares (:mod:`qnn.figdata.checks`).
    """
    return jsonable(dict(_run_one(figure.compute, -1, dict(task))[1]))


def _run_one(compute: TaskFunction, index: int, task: Task) -> tuple[int, Mapping[str, Any]]:
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        return index, compute(dict(task))


def _run_key(figure: FigureSpec, params: Mapping[str, int]) -> str:
    text = json.dumps({"code_version": figure.code_version, **params, "grid": figure.grid, "fixed": figure.fixed,
                       "shared_seed": figure.shared_seed}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(_REPO_ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def _clean(figure: FigureSpec, index: int, result: Any) -> dict[str, Any]:
    if not isinstance(result, Mapping):
        raise TypeError(f"figure {figure.name!r}: task {index} returned {type(result).__name__}, expected a dict")
    clean = jsonable(dict(result))
    problems = validate_result(figure, index, clean)
    if any("non-finite" in p for p in problems):
        raise ValueError(f"figure {figure.name!r}: task {index} returned a non-finite number ({problems}); "
                         "a failed run must raise or be reported explicitly, not cached as NaN")
    if problems:
        raise ValueError(f"figure {figure.name!r}: task {index} does not match the declared checks: {problems}")
    return clean


def _resume(partial: Path, tasks: list[Task]) -> dict[int, dict[str, Any]]:
    done: dict[int, dict[str, Any]] = {}
    for path in partial.glob("task-*.json"):
        try:
            entry = json.loads(path.read_text())
            index = int(entry["index"])
            if entry["task"] == tasks[index]:
                done[index] = entry["result"]
        except (ValueError, KeyError, IndexError, TypeError, OSError):
            path.unlink(missing_ok=True)  # a half-written file from a killed run: recompute that task
    return done


def generate(name: str, *, d: int | None = None, reps: int | None = None, jobs: int = 1,
             scheduler: str | None = None, data_dir: Path | None = None, partial_dir: Path | None = None,
             force: bool = False, progress: bool = True) -> Path:
    """Compute (or resume) the cached data of figure ``name`` and write ``<data_dir>/<name>.json``.

    Parameters
    ----------
    name : str
        Registered figure.
    d, reps : int, optional
        Override the spec's defaults. A cache at other sizes than the spec's must go to another ``data_dir``
        (or pass ``force``): it would otherwise replace the book's data.
    jobs : int
        joblib worker processes (``-1``: all cores). Ignored with ``scheduler``.
    scheduler : str, optional
        Address of a Dask scheduler (``tcp://host:8786``): run the tasks there through joblib's dask backend
        (requires ``dask.distributed``).
    data_dir, partial_dir : Path, optional
        Where the final file and the per-task partial results go (defaults: :func:`default_data_dir`,
        :func:`default_partial_dir`).
    force : bool
        Allow non-default ``d``/``reps`` in the default data folder (``load`` and ``--check`` will refuse it).
    progress : bool
        Show a tqdm progress bar.

    Returns
    -------
    Path of the written cache file.

    Notes
    -----
    Every finished task is written at once to ``<partial_dir>/<name>-<key>/task-<i>.json``; a rerun with the
    same parameters and code version skips them (resume after an interruption). The partial folder is removed
    once the merged file is written.
    """
    from tqdm.auto import tqdm

    figure = spec(name)
    params = figure.params(d, reps)
    jobs = check_jobs("jobs", jobs)
    if params != figure.params() and data_dir is None and not force:
        raise ValueError(f"d/reps {params} differ from the defaults {figure.params()} of figure {name!r}: write "
                         f"this cache to another folder (data_dir / --out DIR) or pass force=True (--force)")
    data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
    tasks = tasks_of(figure, d, reps)
    partial = (Path(partial_dir) if partial_dir is not None else default_partial_dir()) / \
        f"{name}-{_run_key(figure, params)}"
    partial.mkdir(parents=True, exist_ok=True)
    done = _resume(partial, tasks)
    todo = [(i, task) for i, task in enumerate(tasks) if i not in done]
    size = ", ".join(f"{k}={v}" for k, v in params.items()) or "theory"
    bar = tqdm(total=len(tasks), initial=len(done), desc=f"{name} ({size})", disable=not progress, unit="task")
    try:
        for index, result in _execute(figure.compute, todo, jobs, scheduler):
            clean = _clean(figure, index, result)
            atomic_write_json(partial / f"task-{index}.json", {"index": index, "task": tasks[index], "result": clean})
            done[index] = clean
            bar.update(1)
    finally:
        bar.close()
    payload = {"format": FORMAT_VERSION, "figure": name, "description": figure.description,
               "code_version": figure.code_version, "params": params, "tasks": tasks,
               "results": [done[i] for i in range(len(tasks))]}
    payload["checksum"] = checksum(payload)
    payload["provenance"] = {"created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                             "git_commit": _git_commit(), "python": platform.python_version(),
                             "numpy": np.__version__, "machine": platform.machine(),
                             "command": regeneration_command(name, d, reps)}
    out = data_dir / f"{name}.json"
    atomic_write_json(out, payload)
    shutil.rmtree(partial, ignore_errors=True)
    return out


def _execute(compute: TaskFunction, todo: list[tuple[int, Task]], jobs: int,
             scheduler: str | None) -> Iterable[tuple[int, Mapping[str, Any]]]:
    if not todo:
        return
    if scheduler is None and jobs == 1:
        for index, task in todo:
            yield _run_one(compute, index, task)
        return
    from joblib import Parallel, delayed, parallel_config

    calls = (delayed(_run_one)(compute, index, task) for index, task in todo)
    if scheduler is None:
        yield from Parallel(n_jobs=jobs, return_as="generator_unordered")(calls)
        return
    Client = dask_client()
    with Client(scheduler), parallel_config(backend="dask"):
        yield from Parallel(return_as="generator_unordered")(calls)


def dask_client():
    """``dask.distributed.Client``; ``ImportError`` with the install command if dask is missing."""
    try:
        from dask.distributed import Client
    except ImportError:
        raise ImportError("--scheduler needs dask.distributed: pip install 'dask[distributed]' "
                          "(or pip install -e '.[dask]')") from None
    return Client
