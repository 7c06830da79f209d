"""The exercise pages: hidden solutions, and every number quoted in a solution recomputed from qnn.

Each check computes a quantity with the package, formats it the way the page prints it, and asserts that the
page contains that text: a change in the theory that moves a quoted number makes this test fail.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from qnn import Setting, apps

from qnn.longtime import thresholds
from qnn.optimal.bayes import bayes_optimal
from qnn.longtime.fixed_point import fixed_point

PAGES = Path(__file__).resolve().parents[1] / "book" / "exercises"
NAMES = ("thresholds", "double_descent", "spectrum", "fixed_point", "bayes_optimal")


def page(name: str) -> str:
    return (PAGES / f"{name}.md").read_text()


def fmt(value: float, digits: int) -> str:
    return f"{value:.{digits}f}"


@pytest.mark.parametrize("name", NAMES)
def test_every_exercise_has_a_hidden_solution(name):
    text = page(name)
    n_exercises = text.count("\n## Exercise")
    n_solutions = text.count(":::{admonition} Solution\n:class: dropdown")
    assert n_exercises >= 2 and n_solutions == n_exercises, (name, n_exercises, n_solutions)


def test_threshold_numbers():
    text = page("thresholds")
    assert f"${fmt(thresholds.alpha_bo(0.3), 3)}$" in text and f"${fmt(thresholds.alpha_bo(0.5), 3)}$" in text
    assert thresholds.alpha_bo(1.5) == 0.5
    for kappa, binding, digits in ((0.35, "count", 4), (0.5, "inter", 4), (0.8, "inter", 4)):
        count, inter, pr = (thresholds.parameter_count(kappa), thresholds.alpha_inter(kappa, 0.3),
                            thresholds.alpha_pr(kappa, 0.3))
        assert pr == pytest.approx(count if binding == "count" else inter)
        assert f"{fmt(pr, digits)}$" in text
    assert "$\\alpha_{\\rm inter} = 0.3061$" in text and f"{thresholds.alpha_inter(0.35, 0.3):.4f}" == "0.3061"
    assert f"{thresholds.alpha_inter(0.5, 0.3):.4f}" == "0.3694"
    assert f"{thresholds.parameter_count(0.8):.2f}" == "0.48" and "the count $0.48$" in text
    assert (1 + 0.3) / 2 == 0.65
    assert thresholds.alpha_pr_plus(0.3, 0.3) == pytest.approx(thresholds.alpha_bo(0.3), abs=1e-12)
    plateau = thresholds.alpha_pr_plus(1.0, 0.3)
    assert f"plateau ${fmt(plateau, 4)}$" in text


def test_double_descent_numbers():
    text = page("double_descent")
    assert f"$\\alpha_{{\\rm inter}}(0.4, 0.3) = {thresholds.alpha_inter(0.4, 0.3):.3f}$" in text
    quoted = ", ".join(f"{thresholds.alpha_inter(0.4, 0.3, noise):.4f}$" for noise in (0.1, 0.25, 0.5, 1.0))
    assert quoted.replace(", ", ", $") in text
    assert f"${thresholds.alpha_inter(0.4, 0.3, 1e-3):.3f}$" in text
    assert f"${thresholds.alpha_inter(0.4, 0.3, 1e-2):.4f}$" in text
    fp = fixed_point(Setting(alpha=0.2, kappa=0.4, kappa_star=0.3, noise=1.0, lam=0.0))
    assert fp.branch == "interpolating" and fp.loss == 0.0 and fp.ise == pytest.approx(0.25)
    peaks = {}
    for lam in (1e-3, 1e-2, 0.1):
        curves = apps.double_descent_curves(0.4, 0.3, 1.0, lam)
        window = curves.alpha > 0.15
        i = int(np.argmax(curves.mse[window]))
        peaks[lam] = (curves.alpha[window][i], curves.mse[window][i], i)
    assert f"peak MSE of ${peaks[1e-3][1]:.2f}$ at $\\alpha \\approx {peaks[1e-3][0]:.3f}$" in text
    assert f"a peak of ${peaks[1e-2][1]:.2f}$ at $\\alpha \\approx {peaks[1e-2][0]:.3f}$" in text
    assert f"($\\alpha \\approx {peaks[1e-3][0]:.3f}$ for $\\Delta = 1$)" in text
    assert peaks[0.1][2] == 0          # lambda = 0.1: no interior maximum, the MSE decreases with alpha


def test_spectrum_numbers():
    text = page("spectrum")
    for lam, rank, atom in ((0.05, "0.5493", "0.4507"), (1e-3, "0.6543", "0.3457")):
        fp = fixed_point(Setting(alpha=0.4, kappa=0.7, kappa_star=0.5, lam=lam))
        assert fp.cut == pytest.approx(fp.q) and fp.q > fp.omega          # regularisation binds
        assert (fmt(fp.rank, 4), fmt(1 - fp.rank, 4)) == (rank, atom)
        assert f"$q = {fp.q:.3g} > \\omega = {fp.omega:.3g}$" in text
        assert f"$\\kappa_{{\\min}} = {rank}$" in text and f"atom ${atom}$" in text
    fp = fixed_point(Setting(alpha=0.3, kappa=0.35, kappa_star=0.3, lam=0.01))
    assert fp.cut == pytest.approx(fp.omega) and fp.omega > fp.q and fp.rank == pytest.approx(0.35)  # width binds
    assert f"$\\omega = {fp.omega:.4f} > q = {fp.q:.4f}$" in text
    assert f"$\\alpha_{{\\rm PR}}^+(0.7, 0.5) = {thresholds.alpha_pr_plus(0.7, 0.5):.4f}$" in text


@pytest.mark.slow
def test_spectrum_measured_zero_fraction():
    """The zero fraction quoted in exercise 3 (d = 30, three seed pairs): 28 of 60 eigenvalues."""
    setting = Setting(alpha=0.4, kappa=0.7, kappa_star=0.5, lam=0.05)
    for seed in (0, 2, 4):
        assert apps.trained_spectrum(setting, 30, reps=2, seed=seed).zero_fraction == pytest.approx(28 / 60)
    assert "$0.467$ (28 of 60)" in page("spectrum")


def test_fixed_point_numbers():
    text = page("fixed_point")
    fp = fixed_point(Setting(alpha=0.3, kappa=0.4, kappa_star=0.3, lam=20.0))
    assert fp.mse == pytest.approx(1 + 1 / 0.3) and fp.rank == pytest.approx(0.0, abs=1e-12)
    assert f"${fp.mse:.4f}$ for $\\kappa^* = 0.3$" in text
    assert f"{(1 - 1 / np.sqrt(0.3)) ** 2:.4f}" in text
    quoted, scaled_excess = [], []
    for alpha in (10, 100, 1000):
        fp = fixed_point(Setting(alpha=alpha, kappa=1.0, kappa_star=0.3, lam=0.1))
        scaled_excess.append((fp.mse - 0.3 * 0.1 ** 2) * alpha)
        quoted.append(f"${fp.mse:.4g}$")
    assert ", ".join(quoted) in text
    assert min(scaled_excess) > 0 and max(scaled_excess) / min(scaled_excess) < 1.1   # excess ~ c / alpha


def test_bayes_optimal_numbers():
    text = page("bayes_optimal")
    a_bo, a_pr = thresholds.alpha_bo(0.3), thresholds.alpha_pr(0.35, 0.3)
    a_pr_plus = thresholds.alpha_pr_plus(0.35, 0.3)
    assert f"$\\alpha_{{\\rm BO}}(0.3) = {a_bo:.3f}$" in text
    assert f"$\\alpha_{{\\rm PR}} = {a_pr:.4f}$" in text and f"$\\alpha_{{\\rm PR}}^+ = {a_pr_plus:.4f}$" in text
    assert f"{a_pr / a_bo - 1:.0%} and {a_pr_plus / a_bo - 1:.0%} more".replace("%", " %") in text
    assert thresholds.alpha_pr_plus(0.3, 0.3) == pytest.approx(a_bo, abs=1e-12)
    small = bayes_optimal(Setting(alpha=0.001, kappa=1.0, kappa_star=0.5))
    assert f"gives ${small.mmse:.4f}$" in text and f"$\\xi \\approx {small.xi:.0f}$" in text
    inter = thresholds.alpha_inter(0.4, 0.3, 1.0)
    assert f"$\\alpha_{{\\rm inter}} = {inter:.4f}$" in text
    mse = {lam: fixed_point(Setting(alpha=inter, kappa=0.4, kappa_star=0.3, noise=1.0, lam=lam)).mse
           for lam in (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.7, 1.0, 1e-3)}
    grid = {lam: v for lam, v in mse.items() if lam != 1e-3}
    best = min(grid, key=grid.get)
    assert best == 0.4
    assert f"${grid[0.05]:.3f}$ at $\\lambda = 0.05$" in text and f"minimum of ${grid[best]:.3f}$" in text
    assert f"(${grid[1.0]:.3f}$ at $\\lambda = 1$)" in text and f"${mse[1e-3]:.3f}$ at $\\lambda = 10^{{-3}}$" in text
    bo = bayes_optimal(Setting(alpha=inter, kappa=1.0, kappa_star=0.3, noise=1.0)).mmse
    assert f"Bayes-optimal error is ${bo:.3f}$" in text and f"still {grid[best] / bo - 1:.0%} above".replace(
        "%", " %") in text
