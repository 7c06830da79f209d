"""Tests of the long-time figure helpers (qnn.figures.longtime_plots) and registry entries (qnn.figures.longtime*).

The cached data of these figures are checked against the current code by tests/test_figdata.py
(test_cached_data_matches_current_code); here the helpers are tested on synthetic data.
"""
from __future__ import annotations

import numpy as np
import pytest

from qnn import figdata
from qnn.figdata import FigureData
from qnn.figures import longtime_plots as lp


def _sim(values_by_alpha: dict[float, list[float]], converged: bool = True, **fixed) -> FigureData:
    tasks, results = [], []
    for alpha, values in values_by_alpha.items():
        for rep, value in enumerate(values):
            tasks.append({**fixed, "alpha": alpha, "rep": rep, "d": 10, "seed": rep})
            results.append({"mse": value, "converged": converged, "eigenvalues": [0.0, 1e-9, value, 2 * value]})
    return FigureData(name="sim", params={"d": 10, "reps": len(next(iter(values_by_alpha.values())))},
                      code_version="test", tasks=tuple(tasks), results=tuple(results), provenance={})


def _theory(alpha: list[float], mse: list[float], **fixed) -> FigureData:
    return FigureData(name="theory", params={"d": 2, "reps": 1}, code_version="test",
                      tasks=({**fixed, "d": 2, "rep": 0, "seed": 0},),
                      results=({"alpha": alpha, "mse": mse},), provenance={})


def test_agreement_z_scores():
    sim = _sim({0.1: [1.0, 1.2, 0.8], 0.2: [0.5, 0.7, 0.6]}, lam=0.1)
    theory = _theory([0.05, 0.15, 0.3], [2.0, 0.8, 0.4], lam=0.1)
    table = lp.agreement(theory, sim, "mse", theory_select={"lam": 0.1}, sim_select={"lam": 0.1})
    assert list(table["alpha"]) == [0.1, 0.2]
    np.testing.assert_allclose(table["mean"], [1.0, 0.6])
    # theory interpolated in log: between (0.05, 2.0) and (0.15, 0.8) at 0.1 -> sqrt(1.6)
    np.testing.assert_allclose(table["theory"].iloc[0], np.sqrt(2.0 * 0.8))
    se = np.std([1.0, 1.2, 0.8], ddof=1) / np.sqrt(3)
    np.testing.assert_allclose(table["z"].iloc[0], (1.0 - np.sqrt(1.6)) / se)
    summary = lp.agreement_summary([("x", table)])
    assert summary["points"].iloc[0] == 2 and summary["max |z|"].iloc[0] == pytest.approx(np.abs(table["z"]).max())


def test_agreement_outside_theory_range_is_nan_not_extrapolated():
    sim = _sim({0.5: [1.0, 1.1]})
    table = lp.agreement(_theory([0.1, 0.2], [1.0, 0.5]), sim, "mse", theory_select={}, sim_select={})
    assert np.isnan(table["theory"].iloc[0]) and np.isnan(table["z"].iloc[0])


def test_selection_errors_name_the_selection():
    theory = _theory([0.1, 0.2], [1.0, 0.5], lam=0.1)
    with pytest.raises(ValueError, match="lam"):
        lp.theory_result(theory, lam=0.2)
    with pytest.raises(ValueError, match="no simulation"):
        lp.simulation_samples(_sim({0.1: [1.0]}, lam=0.1), "mse", lam=0.3)


def test_simulation_samples_and_unconverged_count():
    sim = _sim({0.2: [3.0, 4.0], 0.1: [1.0, 2.0]}, converged=False, pair=[0.5, 0.2])
    alphas, samples, bad = lp.simulation_samples(sim, "mse", pair=[0.5, 0.2])
    np.testing.assert_array_equal(alphas, [0.1, 0.2])
    np.testing.assert_array_equal(samples, [[1.0, 2.0], [3.0, 4.0]])
    assert bad == 4


def test_unconverged_note_counts_runs_over_figures():
    assert lp.unconverged_note(_sim({0.1: [1.0, 2.0]}), _sim({0.2: [3.0]})) == "All 3 runs reached |G W|_F/√d ≤ 1e-6."
    note = lp.unconverged_note(_sim({0.1: [1.0, 2.0]}), _sim({0.2: [3.0, 4.0]}, converged=False))
    assert note == "2 of 4 runs stopped before |G W|_F/√d ≤ 1e-6 (kept in the averages)."


def test_histogram_has_unit_area_and_cutoff_drops_zeros():
    sim = _sim({0.1: [1.0, 2.0, 3.0]})
    values, runs, total = lp.nonzero_eigenvalues(sim, 1e-5, alpha=0.1)
    assert runs == 3 and total == 12 and values.size == 6
    bar = lp.histogram_trace(values, np.linspace(0, 6.5, 14), "h")
    assert np.sum(np.asarray(bar.y) * np.asarray(bar.width)) == pytest.approx(1.0)


def test_registered_long_time_figures():
    names = figdata.registry()
    for name in ("fig2", "fig4", "fig6_noise", "fig6_lambda", "fig7", "fig16", "fig17", "fig18", "fig19",
                 "theory_fig2", "theory_fig3", "theory_fig6", "theory_spectrum_fig4"):
        assert name in names
    tasks = figdata.tasks_of(figdata.spec("fig2"))
    # lambda shares seeds (same teacher/data/init across lambda, as in the paper); alpha does not
    by_key = {(t["lam"], t["alpha"], t["rep"]): t["seed"] for t in tasks}
    assert by_key[(0.5, 0.25, 0)] == by_key[(0.05, 0.25, 0)] != by_key[(0.5, 0.3, 0)]
    assert all(t["features"] == "goe" for t in tasks)


def test_long_time_point_reports_solver_and_convergence():
    from qnn.figures.longtime import long_time_point

    task = {"alpha": 0.3, "kappa": 0.7, "kappa_star": 0.5, "noise": 0.0, "lam": 0.1, "features": "goe",
            "gamma": 1.0, "method": "auto", "d": 12, "rep": 0, "seed": 3, "spectrum": True}
    out = long_time_point(task)
    assert out["method"] in ("convex", "lbfgs") and out["converged"] and out["grad_norm"] <= 1e-6
    assert len(out["eigenvalues"]) == 12 and out["mse"] > 0
