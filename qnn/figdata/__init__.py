"""Figure-data registry and cache: the numbers behind the book's figures.

The book never trains networks or solves the theory while it is built. Each figure registers a *spec*: its task
list (one parameter tuple per independent run or theory curve), the function computing one task, default ``d``
and ``reps`` (none for theory), and how each result key is compared with a recomputation. ``python -m qnn data
FIGURE`` runs the tasks (joblib-parallel, or on a Dask cluster), keeps each finished task in a per-run partial
folder (``.cache/figdata/``, git-ignored) so that an interrupted run resumes where it stopped, and finally writes
one JSON file ``book/data/FIGURE.json`` with the parameters, the code version, the results and a checksum. This is
the one cache of figure data: task functions do not keep caches of their own. The book reads it with
:func:`load`, which never recomputes: a missing, stale, edited or corrupt file raises :class:`CacheError` whose
message gives the regeneration command.

Registering a figure (in a module of the package :mod:`qnn.figures`, imported automatically)::

    from qnn.figdata import close, exact, ignore, register

    @register("fig6", d=30, reps=5, version="1",
              grid={"noise": [0.1, 0.25, 0.5, 1.0], "alpha": [0.05, 0.15, 0.25, 0.35, 0.45, 0.55]},
              fixed={"kappa": 0.4, "kappa_star": 0.3, "lam": 0.01}, shared_seed=("noise",),
              checks={"mse": close(1e-3, 0.0, "L-BFGS stops at |G W| <= 1e-6: ..."),
                      "n_iter": ignore("solver internal, chaotic in round-off")},
              check_sample=3, check_budget_s=20,
              description="Double descent with label noise (paper Figure 6)")
    def fig6(task):
        result = qnn.train_to_convergence(qnn.Setting(...), d=task["d"], seed=task["seed"], ...)
        return {"mse": result.mse, "n_iter": result.n_iter}

Each task is a dict: the ``fixed`` values, one point of the ``grid`` (Cartesian product, in the order given),
``d``, ``rep`` (0..reps-1) and ``seed`` (a 63-bit integer from ``numpy.random.SeedSequence``; tasks that differ
only in the keys named in ``shared_seed`` share their seed, i.e. the same teacher, data and initialisation, as in
the paper). Theory figures register without ``d`` and ``reps``: their tasks are the grid points alone. The
function returns a dict of JSON-serialisable numbers, strings or lists; every key must be declared in ``checks``
(that is also the cache's schema). Bump ``version`` when the meaning of the results changes on purpose: every
cache made with another version is then reported stale.

Reproducibility: on the same machine with the same BLAS kernel, regenerating a cache gives bit-identical numbers
(tasks run with single-threaded BLAS, :func:`compute_task`); on any machine, recomputed numbers agree with the
cache within the tolerances declared in each spec (:mod:`qnn.figdata.checks`, tested in
``tests/test_cached_data.py``, also under ``OPENBLAS_CORETYPE=Prescott`` in CI).

Reading in a page::

    data = qnn.figdata.load("fig6")
    table = data.frame()                              # pandas DataFrame: one row per task (+ result columns)
    stats = data.stats("mse", by=("noise", "alpha"))  # mean and 2 std (ddof=0) over repetitions
"""
from __future__ import annotations

from qnn.conventions import lazy_submodules

from .checks import SUITE_BUDGET_S, Verification, check_seed, compare_results, sample_indices, verify
from .runner import compute_task, dask_client, generate
from .specs import (DEFAULT_SAMPLE, Check, FigureSpec, close, exact, ignore, register, registry, spec, spectrum,
                    task_count, tasks_of)
from .store import (FORMAT_VERSION, CacheError, FigureData, checksum, default_data_dir, default_partial_dir, load,
                    regeneration_command, upgrade, validate_result)

__all__ = ["FigureSpec", "FigureData", "CacheError", "Check", "close", "spectrum", "exact", "ignore", "register",
           "registry", "spec", "tasks_of", "task_count", "load", "upgrade", "generate", "compute_task", "verify",
           "Verification", "compare_results", "sample_indices", "check_seed", "checksum", "validate_result",
           "default_data_dir", "default_partial_dir", "regeneration_command", "dask_client", "FORMAT_VERSION",
           "DEFAULT_SAMPLE", "SUITE_BUDGET_S"]

# qnn.<subpackage>.<module> resolves after a plain `import qnn` (submodules are imported on first use)
__getattr__ = lazy_submodules(__name__)
