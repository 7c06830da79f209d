"""Regression tests of the Monte-Carlo oracle's edge cases (issue 14: no silently wrong numbers).

Its agreement with the d = infinity theory is tested in tests/test_fixed_point.py (Theory: book/theory/fixed_point.md).
"""
from __future__ import annotations

import math
import time

import numpy as np
import pytest

from qnn import Setting

from qnn.simulation import oracle
from qnn.simulation.oracle import oracle_fixed_point, oracle_replicas, oracle_state, sample_teacher_and_noise


def test_one_sample_has_no_standard_error_instead_of_nan():
    """n_samples = 1: the standard errors are not estimable; they are None (documented), never NaN."""
    one = oracle_state(1.0, 1.0, 1e-12, 0.5, d=16, n_samples=1)
    assert one.mse_sem is None and one.dof_sem is None
    assert all(math.isfinite(v) for v in (one.mse, one.dof, one.rank))
    two = oracle_state(1.0, 1.0, 1e-12, 0.5, d=16, n_samples=2)
    assert math.isfinite(two.mse_sem) and two.mse_sem >= 0 and math.isfinite(two.dof_sem)
    fp = oracle_fixed_point(Setting(0.39, 1.0, 0.3, noise=1.0, lam=0.1), d=16, n_samples=1)
    assert fp.converged and fp.mse_sem is None and math.isfinite(fp.mse)


def test_replicas_have_no_per_replica_standard_error():
    """oracle_replicas: one sample per replica, so each replica's mse_sem is None; the summary's errors are finite."""
    out = oracle_replicas(Setting(1e6, 0.3, 0.5, noise=1.0, lam=0.0, gamma=1.0), d=16, n_replicas=2)
    assert all(r.mse_sem is None for r in out.replicas)
    assert out.converged and out.reason == ""
    assert all(math.isfinite(v) for v in (out.mse, out.mse_sem, out.rank, out.rank_sem, out.loss, out.loss_sem))


def test_summary_of_unconverged_replica_says_why(monkeypatch):
    def failing(*args, **kwargs):
        raise ArithmeticError("secant iteration stalled")
    monkeypatch.setattr(oracle, "_secant", failing)
    out = oracle_replicas(Setting(0.39, 1.0, 0.3, noise=1.0, lam=0.1), d=8, n_replicas=2)
    assert not out.converged and "stalled" in out.reason


def test_huge_teacher_width_answers_quickly():
    """kappa* = 1e6 at d = 16 used to draw a 16 x 1.6e7 teacher (2 GiB, seconds); it is drawn from its Wishart law."""
    start = time.perf_counter()
    out = oracle_state(0.5, 1e6, 1.0, 0.5, d=16)
    assert time.perf_counter() - start < 1.0
    assert all(math.isfinite(v) for v in (out.mse, out.dof, out.rank))
    (s_star, _), = sample_teacher_and_noise(1e6, 16, 1, seed=0)
    # m* = 1.6e7: S* = I + O(1/sqrt(m*)) entrywise
    assert np.abs(s_star - np.eye(16)).max() < 10 / math.sqrt(1.6e7)


@pytest.mark.parametrize("d, m_star", [(4, 8), (3, 3)])
def test_wishart_draw_has_the_teacher_law(monkeypatch, d, m_star):
    """The Wishart path (used for wide teachers) against the exact moments of S* = W W^T / m*, W ~ N(0, 1)^(d x m*):
    E S*_ij = delta_ij, Var S*_ii = 2/m*, Var S*_ij = 1/m* (i != j), E (S*^2)_11 = 1 + (d + 1)/m*.
    4000 draws; design (fixed before running): every sample moment within 4.5 standard errors of its exact value."""
    monkeypatch.setattr(oracle, "TEACHER_DIRECT_FLOATS", 0)       # force the Wishart path even for tiny sizes
    draws = np.array([s for s, _ in sample_teacher_and_noise(m_star / d, d, 4000, seed=7)])
    n = len(draws)
    diag, off = draws[:, 0, 0], draws[:, 0, 1]
    sq11 = np.einsum("nij,nji->n", draws[:, :1, :], draws[:, :, :1])
    for values, mean in ((diag, 1.0), (off, 0.0), (sq11, 1.0 + (d + 1) / m_star)):
        assert abs(values.mean() - mean) < 4.5 * values.std(ddof=1) / math.sqrt(n), (values.mean(), mean)
    # variances: standard error of a sample variance ~ sqrt(2/(n-1)) sigma^2 for near-Gaussian, x2 margin for kurtosis
    for values, var in ((diag, 2.0 / m_star), (off, 1.0 / m_star)):
        assert abs(values.var(ddof=1) / var - 1) < 4.5 * 2 * math.sqrt(2 / (n - 1)), (values.var(ddof=1), var)
    # the direct path draws the same law (same checks, smaller margin not needed)
    monkeypatch.setattr(oracle, "TEACHER_DIRECT_FLOATS", math.inf)
    direct = np.array([s for s, _ in sample_teacher_and_noise(m_star / d, d, 4000, seed=7)])
    assert abs(direct[:, 0, 0].var(ddof=1) / (2.0 / m_star) - 1) < 4.5 * 2 * math.sqrt(2 / (n - 1))


def test_memory_precheck_names_the_parameter(monkeypatch):
    """d = 100000 would need d^2 matrices of 75 GiB each: a ValueError with the estimate, before any allocation."""
    start = time.perf_counter()
    with pytest.raises(ValueError, match=r"d=100000.*GiB.*QNN_MEMORY_LIMIT_GIB"):
        oracle_state(0.5, 0.5, 1.0, 0.5, d=100_000)
    with pytest.raises(ValueError, match=r"n_samples=.*GiB"):
        oracle_fixed_point(Setting(0.39, 1.0, 0.3, lam=0.1), d=100_000)
    with pytest.raises(ValueError, match=r"d=.*GiB"):
        oracle_replicas(Setting(0.39, 1.0, 0.3, lam=0.1), d=100_000)
    assert time.perf_counter() - start < 1.0
    monkeypatch.setenv("QNN_MEMORY_LIMIT_GIB", "0.001")         # 1 MiB: d = 200, 2 samples need ~4.3 MiB
    with pytest.raises(ValueError, match=r"limit 0.001 GiB"):
        sample_teacher_and_noise(0.5, 200, 2, seed=0)
