"""The authors' own simulation data (d = 100, GPU): the markers of the paper's figures, validated on reading.

The paper's gradient-descent markers were published by its authors with their code (see
``book/data/paper/PROVENANCE.md`` for the source repository, its commit and the meaning of every column). The book
ships a copy in ``book/data/paper/``:

* ``figN_<quantity>.csv`` -- one row per marker: the parameters, ``alpha``, the mean over runs and the paper's error
  bar ``mean +- 2 std`` (``bar_low``, ``bar_high``; population std over runs);
* ``fig20_mse_runs.csv`` -- the individual runs behind Figure 20 (input of the threshold estimator);
* ``fig14_objective.csv`` -- Figure 14's mean objective curves, on a log-spaced subset of the recorded times.

``MANIFEST.json`` holds the SHA-256 and the row count of every file. :func:`markers`, :func:`runs` and
:func:`objective` check the file against it, then the columns, the finiteness of every number and the parameters
(those of the paper's run scripts, :data:`PARAMETERS`); any problem raises :class:`PaperDataError` naming the file.
Nothing here recomputes or downloads anything.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .store import CacheError, _REPO_ROOT, atomic_write_text

__all__ = ["PaperDataError", "PARAMETERS", "MARKER_COLUMNS", "RUN_COLUMNS", "OBJECTIVE_COLUMNS", "D", "ETA",
           "default_paper_dir", "marker_files", "markers", "runs", "objective", "validate_all", "write_manifest",
           "file_sha256"]

#: Input dimension and GD step of every file shipped here.
D = 100
ETA = 0.005

MARKER_COLUMNS = ("figure", "panel", "quantity", "kappa", "kappa_star", "noise", "lam", "gamma", "d", "eta", "T",
                  "alpha", "n", "reps", "mean", "std", "bar_low", "bar_high")
RUN_COLUMNS = ("figure", "panel", "quantity", "kappa", "kappa_star", "noise", "lam", "gamma", "d", "eta", "T",
               "alpha", "rep", "value")
OBJECTIVE_COLUMNS = ("alpha", "t", "mean_objective", "std_objective", "mean_excess_over_final",
                     "std_excess_over_final")
_TEXT = ("figure", "panel", "quantity")

_PAIRS_17 = {(0.5, 0.2), (0.5, 0.3), (0.5, 0.5), (0.7, 0.3), (0.7, 0.5), (0.7, 0.6), (0.7, 0.7)}
_PAIRS_21 = {(0.2, 0.1), (0.3, 0.1), (0.36, 0.1), (0.5, 0.1), (0.7, 0.1), (1.0, 0.1), (0.3, 0.2), (0.45, 0.2),
             (0.7, 0.2), (1.0, 0.2), (0.4, 0.3), (0.5, 0.3), (0.6, 0.3), (0.7, 0.3), (0.8, 0.3), (0.9, 0.3),
             (1.0, 0.3), (0.5, 0.5), (0.6, 0.5), (0.7, 0.5), (1.0, 0.5), (0.7, 0.7), (0.75, 0.7), (1.0, 0.7),
             (1.0, 1.0)}

#: The parameters of each paper figure as its authors ran it: the allowed (kappa, kappa*) pairs and the allowed
#: values of Delta (noise), lambda, gamma and the final time T. A file with any other value is refused.
PARAMETERS: dict[str, dict[str, Any]] = {
    "fig2": {"pairs": {(0.7, 0.5)}, "noise": {0.0}, "lam": {0.5, 0.1, 0.05}, "gamma": {1.0}, "T": {1000, 2000}},
    "fig4": {"pairs": {(0.35, 0.3)}, "noise": {0.0}, "lam": {0.1, 0.05, 0.01}, "gamma": {1.0}, "T": {5000}},
    "fig6": {"pairs": {(0.4, 0.3)}, "noise": {0.1, 0.25, 0.5, 1.0}, "lam": {0.1, 0.05, 0.01, 0.005},
             "gamma": {1.0}, "T": {5000}},
    "fig7": {"pairs": {(0.3, 0.2)}, "noise": {0.0}, "lam": {0.1, 0.05, 0.01, 0.005}, "gamma": {1.0}, "T": {3000}},
    "fig9": {"pairs": {(0.7, 0.5)}, "noise": {0.0}, "lam": {0.0}, "gamma": {1.0, 0.5, 0.1, 0.01}, "T": {10000}},
    "fig10": {"pairs": {(0.7, 0.5)}, "noise": {0.5}, "lam": {0.0}, "gamma": {1.0, 0.1, 0.01}, "T": {2000}},
    "fig16": {"pairs": {(0.4, 0.3), (0.35, 0.3), (0.32, 0.3), (0.3, 0.3)}, "noise": {0.0},
              "lam": {0.1, 0.05, 0.01}, "gamma": {1.0}, "T": {5000}},
    "fig17": {"pairs": _PAIRS_17, "noise": {0.0}, "lam": {0.5, 0.1, 0.05}, "gamma": {1.0}, "T": {1000, 2000}},
    "fig18": {"pairs": _PAIRS_17, "noise": {0.5}, "lam": {0.5, 0.1, 0.05}, "gamma": {1.0}, "T": {1000, 2000}},
    "fig19": {"pairs": {(0.7, 0.3), (0.5, 0.3), (0.4, 0.3), (0.35, 0.3)}, "noise": {1.0},
              "lam": {0.1, 0.05, 0.025, 0.005, 0.002}, "gamma": {1.0}, "T": {5000}},
    "fig20": {"pairs": _PAIRS_21, "noise": {0.0}, "lam": {0.0}, "gamma": {1.0}, "T": {10000}},
}

#: The published marker files (figure key -> quantities).
_QUANTITIES = {"fig2": ("mse", "loss_train"), "fig4": ("mse", "loss_train"), "fig6": ("mse",),
               "fig7": ("mse", "loss_train"), "fig9": ("mse",), "fig10": ("mse", "loss_train", "ise"),
               "fig16": ("mse", "loss_train"), "fig17": ("mse", "loss_train"), "fig18": ("mse", "ise"),
               "fig19": ("mse", "ise"), "fig20": ("mse",)}


class PaperDataError(CacheError):
    """A file of the authors' data is missing, damaged or not what the book expects (the message names it)."""


def default_paper_dir() -> Path:
    """``book/data/paper`` of the repository (override with the environment variable ``QNN_PAPER_DIR``)."""
    return Path(os.environ.get("QNN_PAPER_DIR", _REPO_ROOT / "book" / "data" / "paper"))


def marker_files() -> list[str]:
    """Names of the published marker files (``"fig2_mse.csv"``, ...), in figure order."""
    return [f"{figure}_{quantity}.csv" for figure, quantities in _QUANTITIES.items() for quantity in quantities]


def file_sha256(path: Path) -> str:
    """``sha256:<hex>`` of the bytes of ``path``."""
    return "sha256:" + hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _manifest(directory: Path) -> dict[str, Any]:
    path = directory / "MANIFEST.json"
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise PaperDataError(f"{path}: missing (the checksum manifest of the authors' data)") from None
    except (ValueError, OSError) as error:
        raise PaperDataError(f"{path}: unreadable ({type(error).__name__}: {error})") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        raise PaperDataError(f"{path}: not a manifest (expected an object with a 'files' entry)")
    return manifest


def _read(name: str, columns: tuple[str, ...], directory: Path | None) -> tuple[Path, pd.DataFrame]:
    """Read ``name`` after checking its checksum and row count against the manifest, and its columns."""
    directory = Path(directory) if directory is not None else default_paper_dir()
    path = directory / name
    entry = _manifest(directory)["files"].get(name)
    if entry is None:
        raise PaperDataError(f"{path}: not listed in {directory / 'MANIFEST.json'}")
    if not path.exists():
        raise PaperDataError(f"{path}: missing (listed in the manifest)")
    if file_sha256(path) != entry.get("sha256"):
        raise PaperDataError(f"{path}: fails its checksum (edited or damaged after it was copied; the manifest "
                             f"says {entry.get('sha256')})")
    try:
        frame = pd.read_csv(path)
    except (ValueError, OSError) as error:
        raise PaperDataError(f"{path}: unreadable as CSV ({type(error).__name__}: {error})") from None
    if tuple(frame.columns) != columns:
        raise PaperDataError(f"{path}: columns {list(frame.columns)}, expected {list(columns)}")
    if len(frame) != entry.get("rows") or len(frame) == 0:
        raise PaperDataError(f"{path}: {len(frame)} rows, the manifest says {entry.get('rows')}")
    numeric = [c for c in columns if c not in _TEXT]
    values = frame[numeric].apply(pd.to_numeric, errors="coerce").to_numpy(float)
    if not np.all(np.isfinite(values)):
        bad = [c for c, ok in zip(numeric, np.isfinite(values).all(axis=0)) if not ok]
        raise PaperDataError(f"{path}: non-finite or non-numeric values in column(s) {bad}")
    frame[numeric] = values
    return path, frame


def _allowed(value: float, allowed: set[float]) -> bool:
    return any(math.isclose(value, a, rel_tol=1e-6, abs_tol=1e-9) for a in allowed)


def _check_parameters(path: Path, frame: pd.DataFrame, figure: str, quantity: str) -> None:
    expected = PARAMETERS[figure]
    problems = []
    if set(frame["figure"]) != {"Fig" + figure[3:]}:
        problems.append(f"figure {sorted(set(frame['figure']))}, expected ['Fig{figure[3:]}']")
    if set(frame["quantity"]) != {quantity}:
        problems.append(f"quantity {sorted(set(frame['quantity']))}, expected ['{quantity}']")
    if not np.allclose(frame["d"], D) or not np.allclose(frame["eta"], ETA):
        problems.append(f"d / eta other than {D} / {ETA}")
    pairs = set(zip(frame["kappa"].round(6), frame["kappa_star"].round(6)))
    if not pairs <= expected["pairs"]:
        problems.append(f"(kappa, kappa*) {sorted(pairs - expected['pairs'])} not run by the authors for {figure}")
    for key in ("noise", "lam", "gamma", "T"):
        odd = sorted({float(v) for v in frame[key] if not _allowed(float(v), set(map(float, expected[key])))})
        if odd:
            problems.append(f"{key} = {odd} not among {sorted(expected[key])}")
    alpha = frame["alpha"].to_numpy(float)
    if np.any(alpha <= 0) or np.any(alpha > 1.5):
        problems.append("alpha outside (0, 1.5]")
    if problems:
        raise PaperDataError(f"{path}: {'; '.join(problems)}")


def markers(figure: str, quantity: str, *, directory: Path | None = None) -> pd.DataFrame:
    """The authors' markers of paper figure ``figure`` (``"fig2"``, ...) for ``quantity``, validated.

    Returns
    -------
    pandas.DataFrame with the columns :data:`MARKER_COLUMNS` (one row per marker) plus ``half_width`` (the
    half-width of the drawn error bar, ``(bar_high - bar_low) / 2`` = 2 std).

    Raises
    ------
    ValueError
        ``figure``/``quantity`` is not a published file.
    PaperDataError
        The file is missing, fails its checksum, has other columns or rows, non-finite values, parameters the
        authors did not run, or bars that are not ``mean +- 2 std``.
    """
    if figure not in _QUANTITIES or quantity not in _QUANTITIES[figure]:
        raise ValueError(f"figure/quantity must be one of the published files {marker_files()}, got "
                         f"{figure!r}, {quantity!r}")
    path, frame = _read(f"{figure}_{quantity}.csv", MARKER_COLUMNS, directory)
    _check_parameters(path, frame, figure, quantity)
    mean, std = frame["mean"].to_numpy(float), frame["std"].to_numpy(float)
    scale = np.maximum(np.abs(mean), 1e-30)
    if (np.any(std < 0) or np.any(frame["reps"] < 1)
            or not np.allclose(frame["bar_low"], mean - 2 * std, rtol=1e-5, atol=1e-6 * scale)
            or not np.allclose(frame["bar_high"], mean + 2 * std, rtol=1e-5, atol=1e-6 * scale)):
        raise PaperDataError(f"{path}: error bars are not mean +- 2 std (or std < 0, reps < 1)")
    if np.any(np.abs(frame["n"] - frame["alpha"] * D ** 2) > 1.0):
        raise PaperDataError(f"{path}: n differs from alpha d^2")
    # 9 significant digits, as the published numbers: the bar's half-width without the subtraction's round-off
    frame["half_width"] = [float(f"{v:.9g}") for v in (frame["bar_high"] - frame["bar_low"]) / 2]
    return frame


def runs(figure: str, quantity: str, *, directory: Path | None = None) -> pd.DataFrame:
    """The individual runs behind a marker file (shipped for ``fig20``/``mse``), validated like :func:`markers`;
    their mean per marker must equal the published mean (relative 1e-5)."""
    name = f"{figure}_{quantity}_runs.csv"
    if (figure, quantity) != ("fig20", "mse"):
        raise ValueError(f"figure/quantity: only the runs of fig20/mse are shipped, got {figure!r}, {quantity!r}")
    path, frame = _read(name, RUN_COLUMNS, directory)
    _check_parameters(path, frame, figure, quantity)
    published = markers(figure, quantity, directory=directory)
    means = frame.groupby(["kappa", "kappa_star", "alpha"])["value"].mean()
    reference = published.set_index(["kappa", "kappa_star", "alpha"])["mean"]
    if len(means) != len(reference) or not np.allclose(means.reindex(reference.index), reference, rtol=1e-5):
        raise PaperDataError(f"{path}: the mean of the runs differs from the published markers")
    return frame


def objective(*, directory: Path | None = None) -> pd.DataFrame:
    """Figure 14's mean objective curves (kappa = 0.4, kappa* = 0.3, lambda = 0.01, T = 5000), validated."""
    path, frame = _read("fig14_objective.csv", OBJECTIVE_COLUMNS, directory)
    if np.any(frame["t"] < 0) or np.any(frame["t"] > 5000 * (1 + 1e-6)) or np.any(frame["alpha"] <= 0):
        raise PaperDataError(f"{path}: times outside [0, 5000] or alpha <= 0")
    return frame


def validate_all(directory: Path | None = None) -> list[str]:
    """Read and validate every shipped file; returns their names (raises :class:`PaperDataError` on the first
    problem)."""
    for name in marker_files():
        figure, quantity = name[:-4].split("_", 1)
        markers(figure, quantity, directory=directory)
    runs("fig20", "mse", directory=directory)
    objective(directory=directory)
    return [*marker_files(), "fig20_mse_runs.csv", "fig14_objective.csv"]


def write_manifest(directory: Path, source: Mapping[str, str]) -> Path:
    """(Re)write ``MANIFEST.json`` of ``directory`` from the files' current bytes (after copying new data).

    ``source`` describes where they came from (repository, commit) and is stored with the checksums.
    """
    directory = Path(directory)
    files = {}
    for path in sorted(directory.glob("*.csv")):
        rows = sum(1 for _ in path.open()) - 1
        files[path.name] = {"sha256": file_sha256(path), "rows": rows}
    payload = {"source": dict(source), "files": files}
    atomic_write_text(directory / "MANIFEST.json", json.dumps(payload, indent=1, sort_keys=True) + "\n")
    return directory / "MANIFEST.json"
