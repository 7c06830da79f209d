"""Tests of the dynamics-chapter figure helpers (qnn.figures.dynamics_plots) and of the pages' thinness.

The figures themselves are drawn from the cached data when the book is built (and were checked, when they moved
out of the pages, to give the same plotly JSON, captions, CSV files and tables as the inline code did); here the
analysis helpers are tested on synthetic data.
"""
from __future__ import annotations

import ast
from pathlib import Path

import jupytext
import numpy as np
import pytest

from qnn.figdata import FigureData
from qnn.figures import dynamics_plots as dp

BOOK = Path(__file__).resolve().parents[1] / "book"


def test_compare_with_dmft_z_scores_by_hand():
    solution = {"t": np.array([0.0, 1.0, 2.0]), "mse": np.array([2.0, 1.0, 0.5]),
                "mse_stderr": np.array([0.0, 0.1, 0.1])}
    t = np.array([0.5, 1.5, 3.0])                       # t = 3 lies beyond the DMFT solution: not compared
    samples = np.array([[1.4, 1.6, 1.5], [0.8, 0.6, 0.7], [9.0, 9.0, 9.0]])
    comparison = dp.compare_with_dmft(t, samples, solution)
    np.testing.assert_array_equal(comparison.t, [0.5, 1.5])
    np.testing.assert_allclose(comparison.dmft, [1.5, 0.75])
    np.testing.assert_allclose(comparison.dmft_stderr, [0.05, 0.1])
    se = np.std([1.4, 1.6, 1.5], ddof=1) / np.sqrt(3)
    np.testing.assert_allclose(comparison.z[0], 0.0, atol=1e-12)
    np.testing.assert_allclose(comparison.z[1], (0.7 - 0.75) / np.sqrt(se ** 2 + 0.1 ** 2))
    assert comparison.max_abs_z == pytest.approx(abs(comparison.z[1]))
    assert comparison.max_relative_difference == pytest.approx(0.05 / 0.75)


def _oja_data() -> FigureData:
    """Two sizes per kappa; Dist(t) = exactly the power law, times 2 for the second size."""
    tasks, results = [], []
    t = np.geomspace(0.05, 2000, 60)
    for kappa in (0.8, 0.2):
        exponent, constant = dp.oja_power_law(kappa)
        for size, factor in ((100, 1.0), (200, 2.0)):
            for rep in range(2):
                tasks.append({"kappa": kappa, "fraction": size / 400, "d": 400, "rep": rep, "seed": rep})
                results.append({"t": np.concatenate([[0.0], t]).tolist(),
                                "dist": np.concatenate([[1.0], factor * constant * t ** -exponent]).tolist(),
                                "size": size})
    return FigureData(name="dyn_fig13", params={"d": 400, "reps": 2}, code_version="test", tasks=tuple(tasks),
                      results=tuple(results), provenance={})


def test_figure13_ratio_to_the_power_law():
    fig, agreement = dp.figure13_oja(_oja_data())
    assert agreement[(0.8, 100)] == pytest.approx((1.0, 1.0)) and agreement[(0.2, 200)] == pytest.approx((2.0, 2.0))
    assert len(fig.data) == 2 * 2 + 2                   # two sizes and one power law per panel
    table = dp.oja_agreement_table(agreement)
    assert "| 0.8 | 100 | 50 ≤ t ≤ 150 | 1.00 – 1.00 |" in table and "| 0.2 | 200 | 2 ≤ t ≤ 10 | 2.00 – 2.00 |" in table


@pytest.mark.parametrize("page", ["dynamics", "learning_curves", "unregularised", "convergence"])
def test_dynamics_pages_hold_no_plot_loops(page):
    """Issue 15: the dynamics pages are parameters + a call + show; loops building figures live in
    qnn.figures.dynamics_plots."""
    notebook = jupytext.read(BOOK / f"{page}.md")
    for cell in notebook.cells:
        if cell.cell_type == "code":
            loops = [node for node in ast.walk(ast.parse(cell.source)) if isinstance(node, (ast.For, ast.While))]
            assert not loops, f"book/{page}.md: a code cell loops (line {loops[0].lineno} of the cell)"
