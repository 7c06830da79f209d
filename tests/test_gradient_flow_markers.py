"""Do the long-time figures' marker solvers stop where gradient flow stops? (slow)

Design, fixed before the first run (2026-11-29, issue 12), not tuned afterwards:

* Families: the L-BFGS figures (4, 6, 7, 16, 19 and the spectra of Figure 4: ``method="lbfgs"``) and the "auto"
  figures (2, 17, 18 and the spectra of Figure 2: convex solver over S, L-BFGS where the width cap binds).
* Points (``qnn.figures.longtime.GF_CHECK_POINTS``): three rank-capped points of the L-BFGS family (Figure 4's
  spike, alpha = 0.3, lambda = 0.01; Figure 7 at lambda = 0.005, alpha = 0.2; Figure 6's double-descent peak,
  Delta = 1, alpha = 0.3; the theory has omega > q at all three), two "auto" points where the cached d = 40 runs
  fell back to L-BFGS ((0.5, 0.5), lambda = 0.1, alpha = 0.45, Delta = 0 and 0.5) and one uncapped control
  (Figure 2, lambda = 0.05, alpha = 0.4).
* d = 20 (the figures use 40-60; a gradient costs 0.13 ms at d = 20 and 0.5 ms at d = 40, and the flow needs
  ~4e4 gradients per 1000 time units), 2 repetitions, the same seed for solver and flow (same teacher, data, W(0)).
* Reference: gradient flow (adaptive RK23) until ``|G W|_F/sqrt(d) <= 1e-5``, at most t = 5000
  (:func:`qnn.simulation.stationary_flow.flow_to_stationarity`).
* Two assertions per point: (1) every flow reached the tolerance by t = 5000; (2) the flow's mean MSE (at its
  stopping time) lies within the figure's error bar around the solver's mean,
  ``|mean_flow - mean_solver| <= max(2 std_solver (ddof = 0), 1e-3 mean_solver)`` (the 1e-3 floor covers the
  flow's stopping tolerance where the solver's runs agree with each other).
* Revision before any comparison was seen: the first design had 3 repetitions and t <= 20000; under a load of
  ~18 on 2 cores (each of our processes got ~7% of a core) one flow used over 70 s of CPU without finishing, so
  the whole check would not have fitted the session. Reduced to 2 repetitions, t <= 5000.
* The data are the cache ``book/data/gf_check.json`` (``python -m qnn data gf_check --jobs 2``); the first test
  recomputes two of its tasks (one per family, both rank-capped) to check that the cache is what the code gives.
"""
from __future__ import annotations

import numpy as np
import pytest

from qnn import figdata
from qnn.figures.longtime import GF_CHECK_POINTS

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cached():
    return figdata.load("gf_check")


def _point_runs(data, point) -> list[dict]:
    return [res for task, res in zip(data.tasks, data.results) if task["point"] == list(point)]


@pytest.mark.parametrize("index", [0, 8])   # fig4 rep 0 (L-BFGS family), fig18 rep 0 ("auto" family)
def test_cache_is_what_the_code_gives(cached, index):
    task = cached.tasks[index]
    fresh = figdata.compute_task(figdata.spec("gf_check"), task)
    for key in ("mse_solver", "mse_flow", "t_flow"):
        assert fresh[key] == pytest.approx(cached.results[index][key], rel=1e-6), key


_IDS = [f"{p[0]}-alpha{p[6]}" for p in GF_CHECK_POINTS]


@pytest.mark.xfail(strict=True, reason="measured 2026-11-29 (first run): at every point at least one flow was still "
                   "above |G W|_F/sqrt(d) = 1e-5 at t = 5000 (largest velocity left 6.5e-4; L-BFGS family: 5 of 6 "
                   "flows, auto family: 4 of 6). The last stage of the flow is slow (directions of W in the null "
                   "space of S decay at the small eigenvalues of G), so the flow's end point is not a converged one")
@pytest.mark.parametrize("point", GF_CHECK_POINTS, ids=_IDS)
def test_flow_reaches_stationarity(cached, point):
    runs = _point_runs(cached, point)
    assert len(runs) == cached.reps
    assert all(run["converged_flow"] for run in runs), [run["reason_flow"] for run in runs]


@pytest.mark.parametrize("point", GF_CHECK_POINTS, ids=_IDS)
def test_flow_ends_inside_the_marker_error_bar(cached, point):
    runs = _point_runs(cached, point)
    assert len(runs) == cached.reps
    solver = np.array([r["mse_solver"] for r in runs])
    flow = np.array([r["mse_flow"] for r in runs])
    bar = max(2 * solver.std(), 1e-3 * solver.mean())
    assert abs(flow.mean() - solver.mean()) <= bar, (
        f"{point}: flow mean {flow.mean():.4g} vs solver mean {solver.mean():.4g} (bar {bar:.2g}); "
        f"per seed flow {flow.round(4)}, solver {solver.round(4)}")
