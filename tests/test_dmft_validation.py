"""Slow validation of the DMFT solver (qnn.mean_field) against gradient-flow simulations and the long-time fixed point.

Run with ``pytest -m slow tests/test_dmft_validation.py``. The simulations and DMFT solves are cached under
``.cache/dmft`` (the same cache as ``python -m qnn.mean_field.validation``, which also writes the book's data), so a
second run only recomputes the comparison. First run: about an hour on 2 busy cores.
"""
from __future__ import annotations

import importlib

import numpy as np
import pytest

from qnn import Setting
from qnn.longtime.fixed_point import fixed_point

validation = importlib.import_module("qnn.mean_field.validation")
dm = importlib.import_module("qnn.mean_field")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def comparisons():
    """Simulations (GOE features, 8 reps, d = 40, 60, 80) and 3 independent DMFT solves per setting."""
    out = {}
    for name, setting in validation.SETTINGS.items():
        comp, theory = validation.compare(name, setting, progress=False)
        assert comp.dmft_converged, theory.reason
        print(validation.comparison_table([comp]))
        print(validation.acceptance_table([comp]))
        out[name] = comp
    return out


# Measured outcome (2026-11-28, 3 DMFT seeds, see book/dmft.md): MSE max |z| = 1.6/1.3/1.8 (A), 2.4/1.5/1.7 (B),
# 1.4/1.2/1.6 (C) at d = 40/60/80; Loss_train max |z| = 2.4/2.5/3.4 (A), 3.2/3.0/3.7 (B), 1.4/1.4/2.3 (C), the
# deviations sitting at late times (t >~ 5, loss ~1e-3, 10-30%). Kept as strict expected failures, so that a fix
# shows up as XPASS instead of being hidden by a wider tolerance.
KNOWN_MSE_FAILURES = {"B"}
KNOWN_LOSS_FAILURES = {"A", "B", "C"}
KNOWN_EARLY_LOSS_FAILURES = {"B"}


# Issue 13's acceptance: at t = 5 and 10, the DMFT (3 seeds, converged by the per-time test) within 2 combined
# standard errors of the simulations extrapolated linearly in 1/d (d = 40, 60, 80) to d = infinity, or within 3%.
# Declared before measuring with the new stopping test, from issue 13's sweep-by-sweep diagnosis (d_eff = 80): A's
# gap closes at convergence; B (MSE -12%, Loss_train -34%) and C (Loss_train -20%) keep one.
KNOWN_ACCEPTANCE_FAILURES = {("B", "mse"), ("B", "loss"), ("C", "loss")}


@pytest.mark.parametrize("metric", ["mse", "loss"])
@pytest.mark.parametrize("name", sorted(validation.SETTINGS))
def test_dmft_matches_simulations_extrapolated_to_infinite_d(comparisons, name, metric, request):
    if (name, metric) in KNOWN_ACCEPTANCE_FAILURES:
        request.applymarker(pytest.mark.xfail(strict=True, reason="gap after convergence (issue 13)"))
    assert comparisons[name].accepted(metric), validation.acceptance_table([comparisons[name]])


@pytest.mark.parametrize("name", sorted(validation.SETTINGS))
def test_mse_matches_goe_simulations(comparisons, name, request):
    """MSE(t) of averaged gradient flow agrees with the DMFT within 2 standard errors at every record time."""
    if name in KNOWN_MSE_FAILURES:
        request.applymarker(pytest.mark.xfail(strict=True, reason="late-time MSE of setting B above the DMFT"))
    z = np.abs(comparisons[name].z_mse)
    assert np.all(z < 2.0), z.max(axis=1)


@pytest.mark.parametrize("name", sorted(validation.SETTINGS))
def test_loss_matches_goe_simulations(comparisons, name, request):
    """Loss_train(t) of averaged gradient flow agrees with the DMFT within 2 standard errors at every time."""
    if name in KNOWN_LOSS_FAILURES:
        request.applymarker(pytest.mark.xfail(strict=True, reason="late-time Loss_train differs by 10-30%"))
    z = np.abs(comparisons[name].z_loss)
    assert np.all(z < 2.0), z.max(axis=1)


@pytest.mark.parametrize("name", sorted(validation.SETTINGS))
def test_loss_matches_goe_simulations_up_to_t5(comparisons, name, request):
    """Before the late-time regime, Loss_train agrees within 10% (measured: <= 7% in A, <= 4% in C; B deviates by
    up to 27% at d = 40, 14% at d = 80 already at t ~ 4)."""
    if name in KNOWN_EARLY_LOSS_FAILURES:
        request.applymarker(pytest.mark.xfail(strict=True, reason="setting B: loss 13-27% above the DMFT by t ~ 4"))
    comp = comparisons[name]
    early = comp.t <= 5.0
    rel = np.abs(comp.sim_loss[:, early] / comp.dmft_loss[early] - 1)
    assert np.all(rel < 0.10), rel.max(axis=1)


def test_gaussian_features_approach_the_dmft_as_d_grows():
    """With Gaussian-input features (the network itself) the late-time test error sits above the DMFT by a
    finite-size gap that shrinks with d (theory: book/theory/validation.md)."""
    comp, _ = validation.compare("A", validation.SETTINGS["A"], features="gaussian", progress=False)
    late = comp.t > 1.0
    gap = np.mean((comp.sim_mse[:, late] - comp.dmft_mse[late]) / comp.dmft_mse[late], axis=1)
    print(dict(zip(comp.d.tolist(), np.round(gap, 4).tolist())))
    assert gap[-1] < gap[0]


@pytest.mark.parametrize("setting", [Setting(alpha=0.4, kappa=0.7, kappa_star=0.5, lam=0.5),
                                     Setting(alpha=0.3, kappa=1.0, kappa_star=0.5, noise=0.25, lam=0.3)])
def test_long_time_limit_is_the_fixed_point(setting):
    """lambda > 0: at the end of a long run the DMFT's MSE is within 2% of qnn.fixed_point (plus 2 standard
    errors of its own sampling), and its training loss within 5%."""
    r = dm.dmft(setting, 20.0, d_eff=60, samples=4, control_samples=16, progress=False,
                cache_dir=validation.CACHE_DIR / "fixed_point")
    fp = fixed_point(setting)
    assert r.converged, r.reason
    assert abs(r.mse[-1] - fp.mse) < 0.02 * fp.mse + 2 * r.mse_stderr[-1], (r.mse[-1], fp.mse)
    assert abs(r.loss[-1] - fp.loss) < 0.05 * fp.loss, (r.loss[-1], fp.loss)
    # and it has stopped moving
    assert abs(r.mse[-1] - np.interp(15.0, r.t, r.mse)) < 0.01 * fp.mse
