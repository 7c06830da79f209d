"""Tests of the dynamics chapter's figure-data helpers (qnn.figures.dynamics)."""
import numpy as np

from qnn import figdata
from qnn.figures.dynamics import FIG20_PAIRS


def test_registered_figures_and_grids():
    names = {"dyn_dmft", "dyn_fig1", "dyn_fig5", "dyn_fig9", "dyn_fig10", "dyn_fig12", "dyn_fig13", "dyn_fig14",
             "dyn_fig20"}
    assert names <= set(figdata.registry())
    tasks = figdata.tasks_of(figdata.spec("dyn_fig20"))
    pairs = {tuple(task["pair"][:2]) for task in tasks}
    assert pairs == {(k, ks) for k, ks, _ in FIG20_PAIRS}
    # Figure 13 derives its sizes from d: a smaller --d gives smaller matrices
    task = figdata.tasks_of(figdata.spec("dyn_fig13"), d=16, reps=1)[0]
    out = figdata.spec("dyn_fig13").compute({**task, "t_max": 1.0})
    assert out["size"] == round(task["fraction"] * 16)
    assert np.all(np.diff(out["dist"]) <= 1e-12)


def test_fig20_grids_bracket_the_theory_threshold():
    """Each pair's 9-alpha grid is centred on alpha_PR (rounded to 0.01), so the drop is inside the grid."""
    from qnn.longtime.thresholds import alpha_pr

    assert len({(k, ks) for k, ks, _ in FIG20_PAIRS}) == len(FIG20_PAIRS)
    for kappa, kappa_star, centre in FIG20_PAIRS:
        assert abs(centre - alpha_pr(kappa, kappa_star)) <= 0.0051, (kappa, kappa_star)
