"""The book's own caches agree with what the current code computes (on this machine, with this BLAS kernel).

Theory figures: every task is recomputed. Simulation figures: a seeded random sample of ``check_sample`` tasks
(at least 3), rotating with ``QNN_CHECK_SEED`` (default 0; see :mod:`qnn.figdata.checks`); figures whose
``check_budget_s`` exceeds :data:`qnn.figdata.SUITE_BUDGET_S` run only with ``pytest -m slow``. Each result key is
compared within the tolerance its spec declares (derived from the solver's stopping criterion), never solver
internals. ``.ci/run`` runs this file a second time under ``OPENBLAS_CORETYPE=Prescott``.
"""
from __future__ import annotations

import warnings

import pytest

from qnn import figdata


def _params() -> list:
    out = []
    for name, figure in figdata.registry().items():
        marks = [pytest.mark.slow] if figure.check_budget_s > figdata.SUITE_BUDGET_S else []
        out.append(pytest.param(name, marks=marks, id=name))
    return out


@pytest.mark.parametrize("name", _params())
def test_cache_agrees_with_code(name):
    """Static checks (checksum, schema, version, sizes, tasks) + recomputation within the declared tolerances."""
    figure = figdata.spec(name)
    result = figdata.verify(name, jobs=2)  # CI has 2 cores; each task runs single-threaded as when generated
    assert result.ok, f"{name} (check seed {figdata.check_seed()}): " + "\n".join(result.problems)
    if result.seconds > 3 * figure.check_budget_s:
        warnings.warn(f"{name}: recomputing tasks {list(result.checked)} took {result.seconds:.0f} s, over 3x its "
                      f"check_budget_s = {figure.check_budget_s:g} s", stacklevel=1)


def test_every_figure_declares_its_checks():
    """Each spec declares every result key (the cache schema) with a reason, and samples at least 3 tasks."""
    for name, figure in figdata.registry().items():
        assert figure.checks, name
        assert all(check.why for check in figure.checks.values()), name
        if not figure.deterministic:
            assert figure.check_sample is None or figure.check_sample >= 3, name
