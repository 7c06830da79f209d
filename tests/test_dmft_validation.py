"""Slow validation of the DMFT solver (qnn.mean_field) against gradient-flow simulations and the long-time fixed point.

Run with ``pytest -m slow tests/test_dmft_validation.py``. The simulations and DMFT solves are cached under
``.cache/dmft`` (the same cache as ``python -m qnn.mean_field.validation``, which also writes the book's data), so a
second run only recomputes the comparison. First run: the whole design, about 35 CPU-minutes
(benchmarks/README.md, "DMFT validation").
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


def book_design(name: str):
    """The design cut to what the book's data used (its sizes, runs and number of DMFT seeds)."""
    from dataclasses import replace

    comp = validation.Comparison.load(validation.DATA_DIR / f"comparison_{name}.npz")
    design = validation.DESIGN
    return comp, replace(design, d_values=tuple(int(d) for d in comp.d), reps=tuple(int(r) for r in comp.reps),
                         dmft_seeds=design.dmft_seeds[:comp.dmft_seeds])


@pytest.fixture(scope="module")
def comparisons():
    """The simulations and DMFT solves behind the book's data, recomputed (or read from .cache/dmft)."""
    out = {}
    for name, setting in validation.SETTINGS.items():
        book, design = book_design(name)
        comp, theory = validation.compare(name, setting, design, progress=False)
        assert comp.dmft_converged, theory.reason
        out[name] = (comp, book)
    return out


@pytest.mark.parametrize("name", sorted(validation.SETTINGS))
def test_book_data_regenerate(comparisons, name):
    """The committed comparison is what the code computes (same seeds: the same numbers up to round-off)."""
    comp, book = comparisons[name]
    for key in ("sim_mse", "sim_mse_se", "sim_loss", "sim_loss_se", "dmft_mse", "dmft_mse_se", "dmft_loss",
                "dmft_loss_se"):
        np.testing.assert_allclose(getattr(comp, key), getattr(book, key), rtol=1e-6, atol=1e-12, err_msg=key)


#: (setting, quantity) pairs that miss the design's acceptance (combined standard error <= 5% of the value and
#: |z| <= 2 at t = 1, 2, 2.5, 5, 10), measured with the book's data (book/dmft.md states which time misses, on which
#: side and by how much). Strict expected failures: a fix shows up as XPASS instead of being hidden.
KNOWN_ACCEPTANCE_FAILURES: set[tuple[str, str]] = {
    ("A", "mse"),    # |z| <= 0.74, but the combined standard error is 6.2-7.6% of the MSE at every time
    ("A", "loss"),   # t = 10: combined standard error 5.2%
    ("B", "mse"),    # combined standard error 5.2-12.1%
    ("B", "loss"),   # t >= 2: combined standard error 8.2-23%; DMFT 10-17% below the simulations at t = 2-5
    ("C", "mse"),    # combined standard error 5.9-8.4%
    ("C", "loss"),   # t = 10: DMFT 24% below the simulations, z = +2.44 (combined standard error 10%)
}


@pytest.mark.parametrize("metric", ["mse", "loss"])
@pytest.mark.parametrize("name", sorted(validation.SETTINGS))
def test_dmft_matches_simulations_extrapolated_to_infinite_d(comparisons, name, metric, request):
    if (name, metric) in KNOWN_ACCEPTANCE_FAILURES:
        request.applymarker(pytest.mark.xfail(strict=True, reason="measured miss, see book/dmft.md"))
    comp = comparisons[name][0]
    assert comp.accepted(metric), validation.acceptance_markdown(validation.acceptance_rows(comp))


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
