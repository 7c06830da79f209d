"""The DMFT's disk cache, in the package's one caching story for solvers.

The story (the same for :func:`qnn.simulate`, :func:`qnn.train_to_convergence` and :func:`qnn.dmft`): a solver
given ``cache_dir`` memoises its expensive unit of work with :class:`joblib.Memory` -- one repetition for the
simulations, one whole solve here. Why joblib.Memory rather than a hand-made key and file format: it hashes the
arguments (numpy arrays and frozen dataclasses included) so the key cannot forget a parameter, it notices a
change in the cached function's code, it writes atomically (temporary file + rename, so an interrupted write
never leaves a truncated entry), and it recomputes, with a warning, an entry it cannot load. Figure data is a
different story (:mod:`qnn.figdata`: versioned JSON in ``book/data`` that is committed and checked).

A DMFT solve is one long call (minutes to an hour), so it also needs to resume *inside* the call: the iteration's
kernels are checkpointed after every sweep (:class:`Checkpoint`, ``<cache_dir>/checkpoints``), atomically, and a
checkpoint that cannot be read or holds non-finite or wrongly shaped kernels is discarded with a warning (the solve
then starts over). The checkpoint of a converged solve is removed; that of a solve stopped by ``max_iter`` is
kept, so that a call with a larger ``max_iter`` continues from it.
"""
from __future__ import annotations

import warnings
import zipfile
from pathlib import Path

import joblib
import numpy as np

from ..conventions import Setting
from .options import DMFTOptions
from .result import atomic_savez


class Checkpoint:
    """The iteration state of one solve on disk: kernels, per-sweep errors and ``Loss_train(t_max)`` history."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def save(self, state) -> None:
        """Write ``state.C``, ``state.R``, ``state.errors``, ``state.loss_history`` atomically."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_savez(self.path, compressed=False, C=state.C, R=state.R, errors=np.array(state.errors),
                     loss_history=np.array(state.loss_history))

    def load(self, n: int) -> tuple[np.ndarray, np.ndarray, tuple, tuple] | None:
        """``(C, R, errors, loss_history)`` if the file is readable and sane for an ``n``-point grid, else None (a
        damaged file is removed, with a warning)."""
        if not self.path.exists():
            return None
        try:
            with np.load(self.path, allow_pickle=False) as ck:
                C, R, errors, losses = ck["C"], ck["R"], ck["errors"], ck["loss_history"]
            sane = (C.shape == R.shape == (n, n) and errors.shape == losses.shape and errors.ndim == 1
                    and all(np.all(np.isfinite(a)) for a in (C, R, errors, losses)))
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            sane, why = False, f"{type(exc).__name__}: {exc}"
        else:
            why = "wrong shapes or non-finite values"
        if not sane:
            warnings.warn(f"discarding a damaged DMFT checkpoint {self.path} ({why}); starting over", stacklevel=2)
            self.remove()
            return None
        return C, R, tuple(errors.tolist()), tuple(losses.tolist())

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


def checkpoint_path(cache_dir: str | Path, setting: Setting, options: DMFTOptions, warm: tuple | None = None) -> Path:
    """Where the checkpoint of a solve lives (keyed on the setting, the options and the warm start)."""
    extra = "" if warm is None else joblib.hash(warm)
    return Path(cache_dir) / "checkpoints" / f"dmft-{options.key(setting, extra)}.npz"
