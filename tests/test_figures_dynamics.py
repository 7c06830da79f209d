"""Tests of the dynamics chapter's figure-data helpers (qnn.figures.dynamics)."""
import numpy as np
import pytest

import qnn
from qnn import figdata
from qnn.dmft_validation import Comparison
from qnn.figures.dynamics import FIG20_PAIRS, dmft_learning_curves


def _comparison(setting, t):
    k = len(t)
    ones = np.ones((1, k))
    return Comparison(name="X", setting=setting, features="goe", d=np.array([30]), reps=4, t=t, sim_mse=ones,
                      sim_mse_se=0.1 * ones, sim_loss=ones, sim_loss_se=0.1 * ones, dmft_mse=2.0 * np.ones(k),
                      dmft_mse_se=0.05 * np.ones(k), dmft_loss=np.ones(k), dmft_converged=True, dmft_seconds=1.0)


def test_dmft_curves_are_matched_by_setting(tmp_path):
    t = np.linspace(0.1, 10, 5)
    _comparison(qnn.Setting(alpha=0.3, kappa=0.4, kappa_star=0.3, noise=0.5, lam=0.01), t).save(tmp_path / "comparison_B.npz")
    _comparison(qnn.Setting(alpha=0.4, kappa=0.7, kappa_star=0.5, lam=0.05), t).save(tmp_path / "comparison_A.npz")
    curves = dmft_learning_curves(0.4, 0.3, 0.01, data_dir=tmp_path)
    assert list(curves) == [(0.5, 0.3)]
    t_read, mse, se = curves[(0.5, 0.3)]
    np.testing.assert_array_equal(t_read, t)
    np.testing.assert_array_equal(mse, 2.0)
    assert dmft_learning_curves(0.4, 0.3, 0.02, data_dir=tmp_path) == {}


def test_unreadable_dmft_cache_is_reported_not_hidden(tmp_path):
    np.savez(tmp_path / "comparison_old.npz", meta='{"name": "old"}')
    with pytest.raises((TypeError, KeyError, ValueError)):
        dmft_learning_curves(data_dir=tmp_path)
    problems = []
    assert dmft_learning_curves(data_dir=tmp_path, problems=problems) == {}
    assert len(problems) == 1 and problems[0].startswith("comparison_old.npz")


def test_registered_figures_and_grids():
    names = {"dyn_fig1", "dyn_fig5", "dyn_fig9", "dyn_fig10", "dyn_fig12", "dyn_fig13", "dyn_fig14", "dyn_fig20"}
    assert names <= set(figdata.registry())
    tasks = figdata.tasks_of(figdata.spec("dyn_fig20"))
    pairs = {tuple(task["pair"][:2]) for task in tasks}
    assert pairs == {(k, ks) for k, ks, _ in FIG20_PAIRS}
    # Figure 13 derives its sizes from d: a smaller --d gives smaller matrices
    task = figdata.tasks_of(figdata.spec("dyn_fig13"), d=16, reps=1)[0]
    out = figdata.spec("dyn_fig13").compute({**task, "t_max": 1.0})
    assert out["size"] == round(task["fraction"] * 16)
    assert np.all(np.diff(out["dist"]) <= 1e-12)
