"""Figure specs: what a cached figure computes, its task list, and how a cache is compared with the code.

A *spec* (:class:`FigureSpec`) is registered by decorating the task function with :func:`register`. Every result
key the function returns is declared in ``checks`` with a :class:`Check`: how the cached value is compared with a
fresh recomputation (tolerance and a sentence saying why), or why it is not compared (solver internals such as
iteration counts are chaotic in floating-point round-off and are never compared). The declaration is also the
schema of the cache: :func:`qnn.figdata.load` refuses results with undeclared or missing keys.
"""
from __future__ import annotations

import hashlib
import importlib
import itertools
import json
import math
import pkgutil
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Check", "FigureSpec", "close", "spectrum", "exact", "ignore", "register", "registry", "spec",
           "tasks_of", "task_count", "DEFAULT_SAMPLE"]

_REGISTRY: dict[str, FigureSpec] = {}
_ENTROPY = 0x9B0C_2601_1048_3  # the paper's arXiv number, as base entropy of every figure's seeds
#: Number of tasks of a simulation figure recomputed by the default consistency test (at least 3).
DEFAULT_SAMPLE = 3
_KINDS = ("close", "spectrum", "exact", "ignore")

Task = dict[str, Any]
TaskFunction = Callable[[Task], Mapping[str, Any]]


@dataclass(frozen=True)
class Check:
    """How one result key of a figure is compared between its cache and a recomputation.

    Attributes
    ----------
    kind : str
        ``"close"``: numbers or (nested) lists of numbers, entry-wise ``|a - b| <= atol + rtol |b|`` (shapes must
        match); ``"spectrum"``: a list of eigenvalues compared as a distribution, sorted, with
        ``max |a_i - b_i| <= atol + rtol * (max b - min b)`` (tolerance scaled by the spectral width);
        ``"exact"``: any JSON value, equal; ``"ignore"``: stored but never compared (solver internals).
    rtol, atol : float
        Tolerances (``"close"``, ``"spectrum"``).
    why : str
        One sentence: where the tolerance comes from (the solver's stopping criterion), or why the key is ignored.
    optional : bool
        The key may be absent from a result.
    """

    kind: str
    rtol: float = 0.0
    atol: float = 0.0
    why: str = ""
    optional: bool = False

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise ValueError(f"kind must be one of {_KINDS}, got {self.kind!r}")
        for name in ("rtol", "atol"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < math.inf:
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        if not self.why.strip():
            raise ValueError("why must say in one sentence where the tolerance comes from (or why it is ignored)")


def close(rtol: float, atol: float, why: str, optional: bool = False) -> Check:
    """Entry-wise comparison of numbers (see :class:`Check`)."""
    return Check("close", rtol, atol, why, optional)


def spectrum(rtol: float, atol: float, why: str, optional: bool = False) -> Check:
    """Sorted eigenvalues, tolerance scaled by the spectral width (see :class:`Check`)."""
    return Check("spectrum", rtol, atol, why, optional)


def exact(why: str, optional: bool = False) -> Check:
    """Exact equality (flags, labels, grids; see :class:`Check`)."""
    return Check("exact", why=why, optional=optional)


def ignore(why: str, optional: bool = False) -> Check:
    """Stored, never compared (solver internals; see :class:`Check`)."""
    return Check("ignore", why=why, optional=optional)


@dataclass(frozen=True)
class FigureSpec:
    """How to compute the cached data of one figure.

    Parameters
    ----------
    name : str
        Registry key and file name (``book/data/<name>.json``), e.g. ``"fig6"``.
    compute : callable ``task -> dict``
        Computes one task; must be a module-level function (it is pickled to worker processes).
    version : str
        Code version of the results; bump it when ``compute`` changes its numbers on purpose.
    d, reps : int or None
        Default input dimension and number of repetitions of a simulation. ``d=None``: the tasks carry no
        dimension (theory at d = infinity, or a grid key sets the size); ``reps=None`` too: deterministic tasks
        without ``rep`` and ``seed`` (theory).
    grid : mapping ``key -> list of values``
        Varied parameters (Cartesian product).
    fixed : mapping ``key -> value``
        Parameters common to every task.
    shared_seed : tuple of str
        Grid keys whose values share a seed (same teacher/data/init across them).
    description : str
        One line for ``python -m qnn data --list``.
    checks : mapping ``result key -> Check``
        Schema of a result and how each key is compared with a recomputation (see :class:`Check`).
    check_sample : int or None
        Tasks recomputed by the default consistency test: ``None`` = all (theory), else a seeded random sample
        of that many (at least 3, or all tasks if fewer).
    check_budget_s : float
        Expected seconds of that recomputation on the reference machine (2 shared cores); the default test
        suite skips figures whose budget exceeds :data:`qnn.figdata.checks.SUITE_BUDGET_S` (they run with
        ``pytest -m slow``) and warns when a figure takes over 3x its budget.
    """

    name: str
    compute: TaskFunction
    version: str
    d: int | None
    reps: int | None
    grid: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)
    fixed: Mapping[str, Any] = field(default_factory=dict)
    shared_seed: tuple[str, ...] = ()
    description: str = ""
    checks: Mapping[str, Check] = field(default_factory=dict)
    check_sample: int | None = DEFAULT_SAMPLE
    check_budget_s: float = 30.0

    def __post_init__(self) -> None:
        if not self.name or not self.name.replace("_", "").replace("-", "").isalnum():
            raise ValueError(f"name must be a non-empty identifier-like string (letters, digits, _ or -), "
                             f"got {self.name!r}")
        if self.d is not None:
            _check_count("d", self.d, 2)
        if self.reps is not None:
            _check_count("reps", self.reps, 1)
        elif self.d is not None:
            raise ValueError("reps=None (deterministic tasks) needs d=None too")
        unknown = set(self.shared_seed) - set(self.grid)
        if unknown:
            raise ValueError(f"shared_seed must name grid keys ({sorted(self.grid)}), got unknown {sorted(unknown)}")
        reserved = {"d", "rep", "seed"} & (set(self.grid) | set(self.fixed))
        if reserved:
            raise ValueError(f"grid/fixed must not use the reserved keys d, rep, seed; got {sorted(reserved)}")
        if not self.checks or not all(isinstance(c, Check) for c in self.checks.values()):
            raise ValueError(f"figure {self.name!r}: checks must map every result key to a Check (close, spectrum, "
                             "exact or ignore with a reason)")
        if self.check_sample is not None:
            _check_count("check_sample", self.check_sample, DEFAULT_SAMPLE)
        if not 0 < self.check_budget_s < math.inf:
            raise ValueError(f"check_budget_s must be a finite number > 0, got {self.check_budget_s!r}")

    @property
    def deterministic(self) -> bool:
        """True for tasks without repetitions or seeds (theory curves)."""
        return self.reps is None

    @property
    def code_version(self) -> str:
        """``qnn`` package version + the spec's own version: the cache is stale when it differs."""
        from ..conventions import __version__

        return f"qnn {__version__} / {self.name} v{self.version}"

    def params(self, d: int | None = None, reps: int | None = None) -> dict[str, int]:
        """The cache's ``params`` for these overrides (defaults: the spec's); ``{}`` for theory figures."""
        out = {}
        for key, default, value, minimum in (("d", self.d, d, 2), ("reps", self.reps, reps, 1)):
            if default is None:
                if value is not None:
                    raise ValueError(f"figure {self.name!r} has no {key} (its tasks do not depend on it), "
                                     f"got {key}={value!r}")
                continue
            out[key] = _check_count(key, default if value is None else value, minimum)
        return out


def _check_count(name: str, value: Any, minimum: int) -> int:
    from ..conventions import check_int

    return check_int(name, value, minimum=minimum)


_LEGACY = ("check_tasks", "check_rtol")


def register(name: str, *, version: str, d: int | None = None, reps: int | None = None,
             grid: Mapping[str, Iterable[Any]] | None = None, fixed: Mapping[str, Any] | None = None,
             shared_seed: Sequence[str] = (), description: str = "", checks: Mapping[str, Check] | None = None,
             check_sample: int | None = DEFAULT_SAMPLE, check_budget_s: float = 30.0,
             **legacy: Any) -> Callable[[TaskFunction], TaskFunction]:
    """Decorator registering ``compute`` as the task function of figure ``name`` (see :class:`FigureSpec`).

    One function may be decorated several times (one figure per decorator). Theory figures pass neither ``d``
    nor ``reps`` and recompute every task in the consistency test (``check_sample=None``).
    """
    if legacy:
        hint = (" (check_tasks/check_rtol were replaced by checks={key: Check} and check_sample)"
                if set(legacy) <= set(_LEGACY) else "")
        raise TypeError(f"register() got unexpected keyword argument(s) {sorted(legacy)}{hint}")
    if reps is None and check_sample == DEFAULT_SAMPLE:
        check_sample = None

    def decorate(compute: TaskFunction) -> TaskFunction:
        figure = FigureSpec(name=name, compute=compute, version=str(version), d=d, reps=reps,
                            grid={k: tuple(_plain(v) for v in values) for k, values in (grid or {}).items()},
                            fixed={k: _plain(v) for k, v in (fixed or {}).items()},
                            shared_seed=tuple(shared_seed), description=description, checks=dict(checks or {}),
                            check_sample=check_sample, check_budget_s=float(check_budget_s))
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
    from .. import figures

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


def task_count(figure: FigureSpec, reps: int | None = None) -> int:
    """Number of tasks at ``reps`` repetitions (default: the spec's), without building them."""
    points = math.prod(len(values) for values in figure.grid.values())
    return points * (1 if figure.deterministic else (figure.reps if reps is None else reps))


def tasks_of(figure: FigureSpec, d: int | None = None, reps: int | None = None) -> list[Task]:
    """The task list of ``figure`` at input dimension ``d`` with ``reps`` repetitions (defaults: the spec's).

    A task holds the ``fixed`` values, one grid point, then ``d`` (unless the spec has none), ``rep`` and ``seed``
    (unless the spec is deterministic).
    """
    params = figure.params(d, reps)
    keys = list(figure.grid)
    tasks: list[Task] = []
    for point in itertools.product(*(list(enumerate(figure.grid[k])) for k in keys)):
        seed_indices = [index for key, (index, _) in zip(keys, point) if key not in figure.shared_seed]
        base = {**figure.fixed, **{key: value for key, (_, value) in zip(keys, point)}}
        if "d" in params:
            base["d"] = params["d"]
        for rep in range(params.get("reps", 0)) if "reps" in params else [None]:
            task = base if rep is None else {**base, "rep": rep, "seed": _seed(figure.name, rep, seed_indices)}
            tasks.append(json.loads(json.dumps(task, allow_nan=False)))  # exactly what a cache file stores
    return tasks
