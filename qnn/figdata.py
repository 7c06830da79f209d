"""Figure-data registry and cache: the simulation numbers behind the book's figures.

The book never trains networks while it is built. Each figure that shows simulations registers a *spec* here:
its task list (one parameter tuple per independent run), the function computing one task, and default ``d`` and
``reps``. ``python -m qnn data FIGURE`` runs the tasks (joblib-parallel, or on a Dask cluster), keeps each
finished task in a per-run partial folder (``.cache/figdata/``, git-ignored) so that an interrupted run resumes
where it stopped, and finally writes one small JSON file ``book/data/FIGURE.json`` with the parameters, the code
version and the results. The book reads it with :func:`load`, which never recomputes: a missing, stale or corrupt
file raises :class:`CacheError` whose message gives the regeneration command.

Registering a figure (a few lines, in a module of the package :mod:`qnn.figures`, imported automatically)::

    from qnn.figdata import register

    @register("fig6", d=30, reps=5, version="1",
              grid={"noise": [0.1, 0.25, 0.5, 1.0], "alpha": [0.05, 0.15, 0.25, 0.35, 0.45, 0.55]},
              fixed={"kappa": 0.4, "kappa_star": 0.3, "lam": 0.01},
              shared_seed=("noise",),
              description="Double descent with label noise (paper Figure 6)")
    def fig6(task):
        result = qnn.train_to_convergence(qnn.Setting(...), d=task["d"], seed=task["seed"], ...)
        return {"mse": result.mse, "loss_train": result.loss_train}

Each task is a dict: the ``fixed`` values, one point of the ``grid`` (Cartesian product, in the order given),
``d``, ``rep`` (0..reps-1) and ``seed`` (a 63-bit integer from ``numpy.random.SeedSequence``; tasks that differ
only in the keys named in ``shared_seed`` share their seed, i.e. the same teacher, data and initialisation, as in
the paper). The function returns a dict of JSON-serialisable numbers or lists of numbers. Bump ``version`` when
the meaning of the results changes: every cache made with another version is then reported stale. The cheap
consistency test (``tests/test_figdata.py``) recomputes the tasks listed in ``check_tasks`` and compares them
with the cache (relative tolerance ``check_rtol``). Tasks always run with single-threaded BLAS
(:func:`compute_task`), so the numbers do not depend on ``--jobs`` or on the machine's load.

Reading in a page::

    data = qnn.figdata.load("fig6")
    table = data.frame()                              # pandas DataFrame: one row per task (+ result columns)
    stats = data.stats("mse", by=("noise", "alpha"))  # mean and 2 std (ddof=0) over repetitions
"""
from __future__ import annotations

import hashlib
import importlib
import itertools
import json
import math
import os
import pkgutil
import platform
import shutil
import subprocess
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["FigureSpec", "FigureData", "CacheError", "register", "registry", "spec", "tasks_of", "load",
           "generate", "compute_task", "default_data_dir", "default_partial_dir", "regeneration_command",
           "compare_results", "FORMAT_VERSION"]

#: Version of the cache-file layout (not of the numbers).
FORMAT_VERSION = 1

_REPO_ROOT = Path(__file__).resolve().parents[1]
_REGISTRY: dict[str, FigureSpec] = {}
_ENTROPY = 0x9B0C_2601_1048_3  # the paper's arXiv number, as base entropy of every figure's seeds

Task = dict[str, Any]
TaskFunction = Callable[[Task], Mapping[str, Any]]


class CacheError(RuntimeError):
    """The cached data of a figure is missing, stale or corrupt (the message says how to regenerate it)."""


@dataclass(frozen=True)
class FigureSpec:
    """How to compute the cached simulation data of one figure.

    Parameters
    ----------
    name : str
        Registry key and file name (``book/data/<name>.json``), e.g. ``"fig6"``.
    compute : callable ``task -> dict``
        Computes one task; must be a module-level function (it is pickled to worker processes).
    d, reps : int
        Default input dimension and number of repetitions.
    version : str
        Code version of the results; bump it when ``compute`` changes its numbers on purpose.
    grid : mapping ``key -> list of values``
        Varied parameters (Cartesian product).
    fixed : mapping ``key -> value``
        Parameters common to every task.
    shared_seed : tuple of str
        Grid keys whose values share a seed (same teacher/data/init across them).
    description : str
        One line for ``python -m qnn data --list``.
    check_tasks : tuple of int
        Indices of cheap tasks recomputed by the consistency test.
    check_rtol : float
        Relative tolerance of that comparison (floating-point reproducibility across BLAS builds).
    """

    name: str
    compute: TaskFunction
    d: int
    reps: int
    version: str
    grid: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)
    fixed: Mapping[str, Any] = field(default_factory=dict)
    shared_seed: tuple[str, ...] = ()
    description: str = ""
    check_tasks: tuple[int, ...] = (0,)
    check_rtol: float = 1e-6

    def __post_init__(self) -> None:
        if not self.name or not self.name.replace("_", "").replace("-", "").isalnum():
            raise ValueError(f"name must be a non-empty identifier-like string (letters, digits, _ or -), "
                             f"got {self.name!r}")
        _check_count("d", self.d, 2)
        _check_count("reps", self.reps, 1)
        unknown = set(self.shared_seed) - set(self.grid)
        if unknown:
            raise ValueError(f"shared_seed must name grid keys ({sorted(self.grid)}), got unknown {sorted(unknown)}")
        reserved = {"d", "rep", "seed"} & (set(self.grid) | set(self.fixed))
        if reserved:
            raise ValueError(f"grid/fixed must not use the reserved keys d, rep, seed; got {sorted(reserved)}")
        if not math.isfinite(self.check_rtol) or self.check_rtol < 0:
            raise ValueError(f"check_rtol must be a finite number >= 0, got {self.check_rtol!r}")

    @property
    def code_version(self) -> str:
        """``qnn`` package version + the spec's own version: the cache is stale when it differs."""
        from . import __version__

        return f"qnn {__version__} / {self.name} v{self.version}"


@dataclass(frozen=True)
class FigureData:
    """Cached simulation data of one figure, as read by :func:`load`.

    Attributes
    ----------
    name : str
    params : dict
        ``{"d": ..., "reps": ...}`` used to generate the data.
    code_version : str
    tasks : tuple of dict
        The tasks, in registry order.
    results : tuple of dict
        ``results[i]`` is the output of ``compute(tasks[i])``.
    provenance : dict
        When, where and from which git commit the data were made (informational).
    """

    name: str
    params: Mapping[str, Any]
    code_version: str
    tasks: tuple[Mapping[str, Any], ...]
    results: tuple[Mapping[str, Any], ...]
    provenance: Mapping[str, Any]

    @property
    def d(self) -> int:
        """Input dimension of the simulations."""
        return int(self.params["d"])

    @property
    def reps(self) -> int:
        """Number of repetitions per grid point."""
        return int(self.params["reps"])

    def records(self) -> list[dict[str, Any]]:
        """One dict per task: the task's parameters followed by its results."""
        return [{**task, **result} for task, result in zip(self.tasks, self.results)]

    def frame(self):
        """The records as a :class:`pandas.DataFrame` (one row per task)."""
        import pandas as pd

        return pd.DataFrame(self.records())

    def stats(self, value: str, by: Sequence[str]):
        """Mean, 2 std (population std, ``ddof=0``) and count of a scalar result over repetitions.

        Parameters
        ----------
        value : str
            Result key (e.g. ``"mse"``).
        by : sequence of str
            Task keys to group by (e.g. ``("noise", "alpha")``); rows come out in registry order.

        Returns
        -------
        pandas.DataFrame with columns ``*by, "mean", "two_std", "count"`` and ``"samples"`` (the raw values, for
        :func:`qnn.plotting.add_simulation`).
        """
        frame = self.frame()
        missing = [key for key in (value, *by) if key not in frame.columns]
        if missing:
            raise ValueError(f"unknown column(s) {missing}; available: {list(frame.columns)}")
        grouped = frame.groupby(list(by), sort=False)[value]
        out = grouped.agg(mean="mean", count="count").reset_index()
        out["two_std"] = grouped.agg(lambda s: 2.0 * float(np.std(np.asarray(s, dtype=float), ddof=0))).values
        out["samples"] = grouped.agg(lambda s: list(map(float, s))).values
        return out


def _check_count(name: str, value: Any, minimum: int) -> int:
    from .conventions import check_int

    return check_int(name, value, minimum=minimum)


# --------------------------------------------------------------------------------------------------------------
# registry


def register(name: str, *, d: int, reps: int, version: str, grid: Mapping[str, Iterable[Any]] | None = None,
             fixed: Mapping[str, Any] | None = None, shared_seed: Sequence[str] = (), description: str = "",
             check_tasks: Sequence[int] = (0,), check_rtol: float = 1e-6) -> Callable[[TaskFunction], TaskFunction]:
    """Decorator registering ``compute`` as the task function of figure ``name`` (see the module docstring)."""

    def decorate(compute: TaskFunction) -> TaskFunction:
        figure = FigureSpec(name=name, compute=compute, d=d, reps=reps, version=str(version),
                            grid={k: tuple(_plain(v) for v in values) for k, values in (grid or {}).items()},
                            fixed={k: _plain(v) for k, v in (fixed or {}).items()},
                            shared_seed=tuple(shared_seed), description=description,
                            check_tasks=tuple(check_tasks), check_rtol=check_rtol)
        existing = _REGISTRY.get(name)
        if existing is not None and _qualified(existing.compute) != _qualified(compute):
            raise ValueError(f"figure {name!r} is already registered by {_qualified(existing.compute)}")
        _REGISTRY[name] = figure
        return compute

    return decorate


def _qualified(function: Callable[..., Any]) -> str:
    return f"{function.__module__}.{function.__qualname__}"


def _plain(value: Any) -> Any:
    """numpy scalars -> Python scalars (JSON-serialisable, exact)."""
    if isinstance(value, np.generic):
        return value.item()
    return value


def _load_figure_modules() -> None:
    from . import figures

    for module in pkgutil.iter_modules(figures.__path__):
        name = f"{figures.__name__}.{module.name}"
        try:
            importlib.import_module(name)
        except Exception as error:
            raise ImportError(f"the figure module {name} failed to import ({type(error).__name__}: {error}); "
                              "every module of qnn/figures must import for the figure registry to load") from error


def registry() -> dict[str, FigureSpec]:
    """All registered figures (imports every module of :mod:`qnn.figures` first)."""
    _load_figure_modules()
    return dict(sorted(_REGISTRY.items()))


def spec(name: str) -> FigureSpec:
    """The spec of figure ``name``; ``ValueError`` listing the known names otherwise."""
    figures = registry()
    if name not in figures:
        raise ValueError(f"figure must be one of {list(figures)}, got {name!r}")
    return figures[name]


def _seed(name: str, rep: int, seed_indices: Sequence[int]) -> int:
    name_key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "little")
    state = np.random.SeedSequence(_ENTROPY, spawn_key=(name_key, rep, *seed_indices)).generate_state(2, np.uint32)
    return int((int(state[0]) << 31) ^ int(state[1]))


def tasks_of(figure: FigureSpec, d: int | None = None, reps: int | None = None) -> list[Task]:
    """The task list of ``figure`` at input dimension ``d`` with ``reps`` repetitions (defaults: the spec's)."""
    d = _check_count("d", figure.d if d is None else d, 2)
    reps = _check_count("reps", figure.reps if reps is None else reps, 1)
    keys = list(figure.grid)
    tasks: list[Task] = []
    for point in itertools.product(*(list(enumerate(figure.grid[k])) for k in keys)):
        seed_indices = [index for key, (index, _) in zip(keys, point) if key not in figure.shared_seed]
        values = {key: value for key, (_, value) in zip(keys, point)}
        for rep in range(reps):
            task = {**figure.fixed, **values, "d": d, "rep": rep, "seed": _seed(figure.name, rep, seed_indices)}
            tasks.append(json.loads(json.dumps(task, allow_nan=False)))  # exactly what a cache file stores
    return tasks


# --------------------------------------------------------------------------------------------------------------
# files


def default_data_dir() -> Path:
    """``book/data`` of the repository (override with the environment variable ``QNN_DATA_DIR``)."""
    return Path(os.environ.get("QNN_DATA_DIR", _REPO_ROOT / "book" / "data"))


def default_partial_dir() -> Path:
    """Partial results of interrupted runs: ``.cache/figdata`` (override with ``QNN_PARTIAL_DIR``)."""
    return Path(os.environ.get("QNN_PARTIAL_DIR", _REPO_ROOT / ".cache" / "figdata"))


def regeneration_command(name: str, d: int | None = None, reps: int | None = None) -> str:
    """The shell command that regenerates the cache of figure ``name``."""
    command = f"python -m qnn data {name}"
    if d is not None:
        command += f" --d {d}"
    if reps is not None:
        command += f" --reps {reps}"
    return command


def _run_key(figure: FigureSpec, d: int, reps: int) -> str:
    text = json.dumps({"code_version": figure.code_version, "d": d, "reps": reps,
                       "grid": figure.grid, "fixed": figure.fixed, "shared_seed": figure.shared_seed},
                      sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(_REPO_ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def _dumps(payload: Mapping[str, Any]) -> str:
    """JSON text with one line per top-level key, and one line per entry of the ``tasks``/``results`` lists."""
    lines = []
    for key, value in payload.items():
        if key in ("tasks", "results") and isinstance(value, list):
            body = ",\n  ".join(json.dumps(entry, allow_nan=False, separators=(",", ":")) for entry in value)
            text = f"[\n  {body}\n ]" if value else "[]"
        else:
            text = json.dumps(value, allow_nan=False)
        lines.append(f" {json.dumps(key)}: {text}")
    return "{\n" + ",\n".join(lines) + "\n}\n"


def _atomic_write_json(path: Path, payload: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    tmp.write_text(_dumps(payload))
    os.replace(tmp, path)


def _validate_result(name: str, task_index: int, result: Any) -> dict[str, Any]:
    if not isinstance(result, Mapping):
        raise TypeError(f"figure {name!r}: task {task_index} returned {type(result).__name__}, expected a dict")
    clean = {str(k): _jsonable(v) for k, v in result.items()}
    try:
        json.dumps(clean, allow_nan=False)
    except ValueError as error:
        raise ValueError(f"figure {name!r}: task {task_index} returned a non-finite number ({error}); "
                         "a failed run must raise or be reported explicitly, not cached as NaN") from None
    return clean


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


# --------------------------------------------------------------------------------------------------------------
# generate / load


def compute_task(figure: FigureSpec, task: Mapping[str, Any]) -> dict[str, Any]:
    """Run ``figure.compute(task)`` exactly as :func:`generate` does: with single-threaded BLAS.

    Multi-threaded BLAS sums in a thread-count-dependent order, and iterative solvers (L-BFGS iteration counts,
    near-zero eigenvalues) amplify those last-digit differences; with one BLAS thread per task the numbers do
    not depend on ``--jobs``, the scheduler, or the machine's load, so a cache can be checked by recomputation.
    Parallelism comes from running tasks side by side (``--jobs``).
    """
    return dict(_run_one(figure.compute, -1, dict(task))[1])


def _run_one(compute: TaskFunction, index: int, task: Task) -> tuple[int, Mapping[str, Any]]:
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        return index, compute(dict(task))


def generate(name: str, *, d: int | None = None, reps: int | None = None, jobs: int = 1,
             scheduler: str | None = None, data_dir: Path | None = None, partial_dir: Path | None = None,
             progress: bool = True) -> Path:
    """Compute (or resume) the cached data of figure ``name`` and write ``<data_dir>/<name>.json``.

    Parameters
    ----------
    name : str
        Registered figure.
    d, reps : int, optional
        Override the spec's defaults.
    jobs : int
        joblib worker processes (``-1``: all cores). Ignored with ``scheduler``.
    scheduler : str, optional
        Address of a Dask scheduler (``tcp://host:8786``): run the tasks there through joblib's dask backend
        (requires ``dask.distributed``).
    data_dir, partial_dir : Path, optional
        Where the final file and the per-task partial results go (defaults: :func:`default_data_dir`,
        :func:`default_partial_dir`).
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
    d = _check_count("d", figure.d if d is None else d, 2)
    reps = _check_count("reps", figure.reps if reps is None else reps, 1)
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs == 0 or jobs < -1:
        raise ValueError(f"jobs must be a positive integer or -1 (all cores), got {jobs!r}")
    data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
    partial_root = Path(partial_dir) if partial_dir is not None else default_partial_dir()
    tasks = tasks_of(figure, d, reps)
    partial = partial_root / f"{name}-{_run_key(figure, d, reps)}"
    partial.mkdir(parents=True, exist_ok=True)
    done: dict[int, dict[str, Any]] = {}
    for path in partial.glob("task-*.json"):
        try:
            entry = json.loads(path.read_text())
            index = int(entry["index"])
            if entry["task"] == tasks[index]:
                done[index] = entry["result"]
        except (ValueError, KeyError, IndexError, TypeError, OSError):
            path.unlink(missing_ok=True)  # a half-written file from a killed run: recompute that task
    todo = [(i, task) for i, task in enumerate(tasks) if i not in done]
    bar = tqdm(total=len(tasks), initial=len(done), desc=f"{name} (d={d}, reps={reps})", disable=not progress,
               unit="task")
    try:
        for index, result in _execute(figure.compute, todo, jobs, scheduler):
            clean = _validate_result(name, index, result)
            _atomic_write_json(partial / f"task-{index}.json", {"index": index, "task": tasks[index],
                                                                 "result": clean})
            done[index] = clean
            bar.update(1)
    finally:
        bar.close()
    payload = {
        "format": FORMAT_VERSION,
        "figure": name,
        "description": figure.description,
        "code_version": figure.code_version,
        "params": {"d": d, "reps": reps},
        "tasks": tasks,
        "results": [done[i] for i in range(len(tasks))],
        "provenance": {"created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                       "git_commit": _git_commit(), "python": platform.python_version(),
                       "numpy": np.__version__, "machine": platform.machine(),
                       "command": regeneration_command(name, d, reps)},
    }
    out = data_dir / f"{name}.json"
    _atomic_write_json(out, payload)
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
    try:
        from dask.distributed import Client
    except ImportError:
        raise ImportError("--scheduler needs dask.distributed: pip install 'dask[distributed]' "
                          "(or pip install -e '.[dask]')") from None
    with Client(scheduler), parallel_config(backend="dask"):
        yield from Parallel(return_as="generator_unordered")(calls)


def load(name: str, *, d: int | None = None, reps: int | None = None, data_dir: Path | None = None) -> FigureData:
    """Read the cached data of figure ``name``; never recomputes.

    Parameters
    ----------
    name : str
        Registered figure.
    d, reps : int, optional
        If given, the cache must have been made with these values.
    data_dir : Path, optional
        Default :func:`default_data_dir`.

    Raises
    ------
    CacheError
        The file is missing, unreadable, for another figure, made by another code version, with other
        parameters, or its task list differs from what the registry now produces (the spec's grid changed).
        The message contains the command that regenerates it.
    """
    figure = spec(name)
    path = (Path(data_dir) if data_dir is not None else default_data_dir()) / f"{name}.json"
    command = regeneration_command(name, d, reps)
    if not path.exists():
        raise CacheError(f"no cached data for figure {name!r} at {path}; generate it with:  {command}")
    try:
        payload = json.loads(path.read_text())
        stored_tasks = payload["tasks"]
        results = payload["results"]
        params = payload["params"]
        if payload.get("format") != FORMAT_VERSION or payload.get("figure") != name:
            raise CacheError(f"cached data {path} is not format {FORMAT_VERSION} data of figure {name!r}; "
                             f"regenerate it with:  {command}")
        if not isinstance(results, list) or len(results) != len(stored_tasks):
            raise CacheError(f"cached data {path} is corrupt ({len(results)} results for {len(stored_tasks)} "
                             f"tasks); regenerate it with:  {command}")
    except CacheError:
        raise
    except (ValueError, KeyError, TypeError, OSError) as error:
        raise CacheError(f"cached data {path} is corrupt ({type(error).__name__}: {error}); "
                         f"regenerate it with:  {command}") from None
    if payload.get("code_version") != figure.code_version:
        raise CacheError(f"cached data {path} is stale: made by {payload.get('code_version')!r}, current code is "
                         f"{figure.code_version!r}; regenerate it with:  {command}")
    for key, wanted in (("d", d), ("reps", reps)):
        if wanted is not None and params.get(key) != wanted:
            raise CacheError(f"cached data {path} has {key}={params.get(key)!r}, expected {wanted!r}; "
                             f"regenerate it with:  {command}")
    expected = tasks_of(figure, params.get("d"), params.get("reps"))
    if stored_tasks != expected:
        raise CacheError(f"cached data {path} is stale: its task list differs from the registry's (grid, fixed "
                         f"parameters or seeds changed); regenerate it with:  "
                         f"{regeneration_command(name, params.get('d'), params.get('reps'))}")
    return FigureData(name=name, params=params, code_version=payload["code_version"], tasks=tuple(stored_tasks),
                      results=tuple(results), provenance=payload.get("provenance", {}))


def compare_results(cached: Mapping[str, Any], fresh: Mapping[str, Any], rtol: float,
                    atol: float = 0.0) -> list[str]:
    """Differences between a cached and a freshly computed task result (empty list: they agree).

    Numbers (and nested lists of numbers) are compared with ``numpy.isclose(rtol, atol)``; other values exactly.
    """
    problems: list[str] = []
    fresh = {str(k): _jsonable(v) for k, v in fresh.items()}
    if set(cached) != set(fresh):
        problems.append(f"result keys differ: cached {sorted(cached)}, fresh {sorted(fresh)}")
    for key in sorted(set(cached) & set(fresh)):
        a, b = cached[key], fresh[key]
        try:
            a_arr, b_arr = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
        except (TypeError, ValueError):
            if a != b:
                problems.append(f"{key}: cached {a!r} != fresh {b!r}")
            continue
        if a_arr.shape != b_arr.shape:
            problems.append(f"{key}: shape {a_arr.shape} (cached) != {b_arr.shape} (fresh)")
        elif not np.all(np.isclose(a_arr, b_arr, rtol=rtol, atol=atol)):
            worst = float(np.max(np.abs(a_arr - b_arr) / np.maximum(np.abs(b_arr), 1e-300)))
            problems.append(f"{key}: cached and fresh differ (max relative difference {worst:.3g} > {rtol:g})")
    return problems
