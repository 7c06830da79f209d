"""Slow validation of qnn.dmft against gradient-flow simulations and the long-time fixed point.

Run with ``pytest -m slow tests/test_dmft_validation.py``. The simulations and DMFT solves are cached under
``.cache/dmft`` (the same cache as ``python -m qnn.dmft_validation``, which also writes the book's data), so a
second run only recomputes the comparison. First run: about an hour on 2 busy cores.
"""
from __future__ import annotations

import importlib

import numpy as np
import pytest

from qnn import Setting
from qnn.fixed_point import fixed_point

validation = importlib.import_module("qnn.dmft_validation")
dm = importlib.import_module("qnn.dmft")

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("name", sorted(validation.SETTINGS))
def test_dmft_matches_goe_simulations(name):
    """MSE(t) and Loss_train(t) of averaged gradient flow (GOE features, 8 reps, d = 40, 60, 80) agree with the
    DMFT within 2 standard errors at every record time (MSE with the population-flow control variate)."""
    comp, theory = validation.compare(name, validation.SETTINGS[name], progress=False)
    assert theory.converged, theory.reason
    print(validation.comparison_table([comp]))
    assert np.all(np.abs(comp.z_mse) < 2.0), np.abs(comp.z_mse).max(axis=1)
    assert np.all(np.abs(comp.z_loss) < 2.0), np.abs(comp.z_loss).max(axis=1)


def test_gaussian_features_approach_the_dmft_as_d_grows():
    """With Gaussian-input features (the network itself) the late-time test error sits above the DMFT by a
    finite-size gap that shrinks with d (THEORY.md section 6)."""
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
