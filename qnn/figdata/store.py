"""Cache files of figure data: layout, checksum, schema validation, :func:`load` and :func:`upgrade`.

A cache file ``book/data/NAME.json`` (format 2) holds ``format, figure, description, code_version, params,
tasks, results, checksum, provenance``. ``checksum`` is the SHA-256 of the canonical JSON of everything except
``description``, ``provenance`` and itself: an edited number, a deleted key or a truncated list is caught by
:func:`load` (hence by every page and by ``python -m qnn data --check``) before the schema is even read.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .specs import Check, FigureSpec, spec, task_count, tasks_of

__all__ = ["FigureData", "CacheError", "load", "upgrade", "default_data_dir", "default_partial_dir",
           "regeneration_command", "checksum", "validate_result", "FORMAT_VERSION"]

#: Version of the cache-file layout (not of the numbers). 2: checksum, declared result schema, theory tasks
#: without d/rep/seed.
FORMAT_VERSION = 2
_CHECKSUMMED = ("format", "figure", "code_version", "params", "tasks", "results")
_REPO_ROOT = Path(__file__).resolve().parents[2]


class CacheError(RuntimeError):
    """The cached data of a figure is missing, stale or corrupt (the message says how to regenerate it)."""


@dataclass(frozen=True)
class FigureData:
    """Cached data of one figure, as read by :func:`load`.

    Attributes
    ----------
    name : str
    params : dict
        ``{"d": ..., "reps": ...}`` used to generate the data (``{}`` for theory figures).
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
    def d(self) -> int | None:
        """Input dimension of the simulations (``None`` for theory figures)."""
        return self.params.get("d")

    @property
    def reps(self) -> int | None:
        """Number of repetitions per grid point (``None`` for theory figures)."""
        return self.params.get("reps")

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


def default_data_dir() -> Path:
    """``book/data`` of the repository (override with the environment variable ``QNN_DATA_DIR``)."""
    return Path(os.environ.get("QNN_DATA_DIR", _REPO_ROOT / "book" / "data"))


def default_partial_dir() -> Path:
    """Partial results of interrupted runs: ``.cache/figdata`` (override with ``QNN_PARTIAL_DIR``)."""
    return Path(os.environ.get("QNN_PARTIAL_DIR", _REPO_ROOT / ".cache" / "figdata"))


def regeneration_command(name: str, d: int | None = None, reps: int | None = None,
                         out: Path | None = None, force: bool = False) -> str:
    """The shell command that regenerates the cache of figure ``name`` (``force``: sizes other than the figure's
    defaults written to the book's own folder, which the command line refuses without ``--force``)."""
    command = f"python -m qnn data {name}"
    if d is not None:
        command += f" --d {d}"
    if reps is not None:
        command += f" --reps {reps}"
    if out is not None:
        command += f" --out {out}"
    if force:
        command += " --force"
    return command


def checksum(payload: Mapping[str, Any]) -> str:
    """``sha256:<hex>`` of the canonical JSON of the checksummed fields of a cache payload."""
    text = json.dumps({key: payload.get(key) for key in _CHECKSUMMED}, sort_keys=True, separators=(",", ":"),
                      default=repr)  # NaN and odd types still hash: the schema check names them
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def dumps(payload: Mapping[str, Any]) -> str:
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


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and ``os.replace`` (never a truncated file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def atomic_write_json(path: Path, payload: Mapping[str, Any]) -> None:
    """Write ``payload`` (see :func:`dumps`) to ``path`` atomically (:func:`atomic_write_text`)."""
    atomic_write_text(path, dumps(payload))


def jsonable(value: Any) -> Any:
    """numpy arrays/scalars and tuples -> plain JSON values."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    return value


def _numeric(value: Any) -> bool:
    if isinstance(value, list):
        return all(_numeric(v) for v in value)
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _finite(value: Any) -> bool:
    if isinstance(value, list):
        return all(_finite(v) for v in value)
    if isinstance(value, Mapping):
        return all(_finite(v) for v in value.values())
    return not isinstance(value, float) or math.isfinite(value)


def validate_result(figure: FigureSpec, index: int, result: Any) -> list[str]:
    """Schema problems of one result against ``figure.checks`` (keys, types, finite numbers); empty if none."""
    where = f"result {index}"
    if not isinstance(result, Mapping):
        return [f"{where} is {type(result).__name__}, expected a dict"]
    problems = []
    unknown = sorted(set(result) - set(figure.checks))
    missing = sorted(k for k, c in figure.checks.items() if not c.optional and k not in result)
    if unknown or missing:
        problems.append(f"{where}: undeclared keys {unknown}, missing keys {missing}")
    for key, value in result.items():
        check: Check | None = figure.checks.get(key)
        if not _finite(value):
            problems.append(f"{where}: {key} holds a non-finite number")
        elif check is not None and check.kind in ("close", "spectrum") and not _numeric(value):
            problems.append(f"{where}: {key} must be a finite number or a list of numbers, got "
                            f"{type(value).__name__}")
    return problems


def _note_read(path: Path) -> None:
    """Append ``path`` to the file named by ``QNN_DATA_READS``, if set: the book's build sets it for the kernel of
    each page, to learn which caches the page reads (book/_ext/qnn_data.py re-executes it when they change)."""
    record = os.environ.get("QNN_DATA_READS")
    if record:
        with open(record, "a", encoding="utf-8") as handle:
            handle.write(f"{path.resolve()}\n")


def _read(path: Path, name: str, command: str) -> dict[str, Any]:
    _note_read(path)
    if not path.exists():
        raise CacheError(f"no cached data for figure {name!r} at {path}; generate it with:  {command}")
    try:
        payload = json.loads(path.read_text())
    except (ValueError, OSError) as error:
        raise CacheError(f"cached data {path} is corrupt ({type(error).__name__}: {error}); "
                         f"regenerate it with:  {command}") from None
    if not isinstance(payload, dict):
        raise CacheError(f"cached data {path} is corrupt (not a JSON object); regenerate it with:  {command}")
    return payload


def _check_params(figure: FigureSpec, params: Any, wanted: Mapping[str, Any], path: Path, command: str) -> None:
    if not isinstance(params, dict) or set(params) != set(wanted):
        raise CacheError(f"cached data {path} has params {params!r}; figure {figure.name!r} needs the keys "
                         f"{sorted(wanted)}; regenerate it with:  {command}")
    for key, value in params.items():
        if isinstance(value, bool) or not isinstance(value, int):
            raise CacheError(f"cached data {path} has {key}={value!r} (not an integer); regenerate it with:  "
                             f"{command}")
        if value != wanted[key]:
            raise CacheError(f"cached data {path} has {key}={value!r}, expected {wanted[key]!r} (a cache "
                             f"made at other sizes belongs in another folder: --out DIR); regenerate it with:  "
                             f"{command}")


def load(name: str, *, d: int | None = None, reps: int | None = None, data_dir: Path | None = None) -> FigureData:
    """Read the cached data of figure ``name``; never recomputes.

    Parameters
    ----------
    name : str
        Registered figure.
    d, reps : int, optional
        The cache must have been made with these values (default: the spec's defaults; a cache made at other
        sizes is refused, so that it cannot pass for the book's).
    data_dir : Path, optional
        Default :func:`default_data_dir`.

    Raises
    ------
    CacheError
        The file is missing, unreadable, fails its checksum, is for another figure or format, was made by
        another code version or with other parameters, its task list differs from what the registry now
        produces, or a result breaks the spec's schema (keys, types, finite numbers). The message contains the
        command that regenerates it.
    """
    figure = spec(name)
    wanted = figure.params(d, reps)
    directory = Path(data_dir) if data_dir is not None else default_data_dir()
    path = directory / f"{name}.json"
    command = regeneration_command(name, d, reps, None if data_dir is None else directory,
                                   force=data_dir is None and wanted != figure.params())
    payload = _read(path, name, command)
    if payload.get("format") != FORMAT_VERSION or payload.get("figure") != name:
        hint = ("; or convert it with:  python -m qnn data --upgrade " + name) if payload.get("format") == 1 else ""
        raise CacheError(f"cached data {path} is not format {FORMAT_VERSION} data of figure {name!r}; regenerate "
                         f"it with:  {command}{hint}")
    if payload.get("checksum") != checksum(payload):
        raise CacheError(f"cached data {path} fails its checksum (edited or damaged after it was written); "
                         f"regenerate it with:  {command}")
    if payload.get("code_version") != figure.code_version:
        raise CacheError(f"cached data {path} is stale: made by {payload.get('code_version')!r}, current code is "
                         f"{figure.code_version!r}; regenerate it with:  {command}")
    _check_params(figure, payload.get("params"), wanted, path, command)
    stored, results = payload.get("tasks"), payload.get("results")
    count = task_count(figure, wanted.get("reps"))
    if not isinstance(stored, list) or not isinstance(results, list) or not len(stored) == len(results) == count:
        raise CacheError(f"cached data {path} is corrupt (expected {count} tasks and results); regenerate it "
                         f"with:  {command}")
    if stored != tasks_of(figure, d, reps):
        raise CacheError(f"cached data {path} is stale: its task list differs from the registry's (grid, fixed "
                         f"parameters or seeds changed); regenerate it with:  {command}")
    problems = [p for i, result in enumerate(results) for p in validate_result(figure, i, result)]
    if problems:
        raise CacheError(f"cached data {path} breaks the schema of figure {name!r} ({'; '.join(problems[:3])}"
                         f"{'; ...' if len(problems) > 3 else ''}); regenerate it with:  {command}")
    return FigureData(name=name, params=payload["params"], code_version=payload["code_version"],
                      tasks=tuple(stored), results=tuple(results), provenance=payload.get("provenance", {}))


def upgrade(name: str, *, data_dir: Path | None = None) -> Path:
    """Convert a format-1 cache (no checksum; theory tasks with placeholder ``d``/``rep``/``seed``) to format 2.

    The results are kept as they are; the code version, the task list (after dropping the keys the spec no
    longer has) and the result schema must match the current spec, else :class:`CacheError`.
    """
    figure = spec(name)
    directory = Path(data_dir) if data_dir is not None else default_data_dir()
    path = directory / f"{name}.json"
    payload = _read(path, name, regeneration_command(name))
    if payload.get("format") == FORMAT_VERSION:
        load(name, data_dir=directory)
        return path
    if payload.get("format") != 1 or payload.get("code_version") != figure.code_version:
        raise CacheError(f"{path}: only format-1 caches of the current code version can be upgraded; regenerate "
                         f"it with:  {regeneration_command(name)}")
    params = {k: v for k, v in payload["params"].items() if getattr(figure, k, None) is not None}
    drop = {key for key in ("d", "rep", "seed") if key not in tasks_of(figure, **params)[0]}
    tasks = [{k: v for k, v in task.items() if k not in drop} for task in payload["tasks"]]
    new = {"format": FORMAT_VERSION, "figure": name, "description": figure.description,
           "code_version": figure.code_version, "params": params, "tasks": tasks, "results": payload["results"]}
    new["checksum"] = checksum(new)
    new["provenance"] = {**payload.get("provenance", {}), "upgraded_from_format": 1}
    tmp = directory / f".upgrade-{name}"
    atomic_write_json(tmp / f"{name}.json", new)
    load(name, data_dir=tmp)  # full validation before it replaces the old file
    os.replace(tmp / f"{name}.json", path)
    tmp.rmdir()
    return path
