"""Tests of qnn.mean_field, the DMFT solver (book/theory/dmft.md): numerics of each piece, limits, the contract.

The comparisons with gradient-flow simulations and with the long-time fixed point are in
``tests/test_dmft_validation.py`` (``@pytest.mark.slow``).
"""
from __future__ import annotations

import math
import time
import zipfile

import numpy as np
import pytest

import importlib

import qnn
from qnn.conventions import Setting

dm = importlib.import_module("qnn.mean_field")   # the module (``qnn.dmft`` is the solver function)

SETTING = Setting(alpha=0.4, kappa=0.7, kappa_star=0.5, lam=0.05)


# --- grid and quadrature -------------------------------------------------------------------------------------------

def test_time_grid_is_graded_and_hits_the_ends():
    t = dm.time_grid(20.0, 400)
    h = np.diff(t)
    assert t[0] == 0.0 and t[-1] == 20.0 and t.size == 400
    assert np.all(h > 0)
    assert 8.0 < h[-1] / h[0] < 12.0            # refine = 10: early steps ten times finer
    assert np.all(np.diff(h) > -1e-12)          # steps never shrink
    uniform = dm.time_grid(3.0, 31, refine=1.0)
    np.testing.assert_allclose(uniform, np.linspace(0, 3, 31), atol=1e-12)


@pytest.mark.parametrize("kwargs, name", [({"t_max": 0.0, "n_times": 10}, "t_max"),
                                          ({"t_max": 1.0, "n_times": 2}, "n_times"),
                                          ({"t_max": 1.0, "n_times": 10, "refine": 0.5}, "refine"),
                                          ({"t_max": float("nan"), "n_times": 10}, "t_max")])
def test_time_grid_rejects_bad_input(kwargs, name):
    with pytest.raises(ValueError, match=name):
        dm.time_grid(**kwargs)


def test_trapezoid_weights_integrate_linear_functions_exactly():
    t = dm.time_grid(5.0, 60)
    w = dm.trapezoid_weights(t)
    assert np.all(w[0] == 0)
    assert np.all(np.triu(w, 1) == 0)
    np.testing.assert_allclose(w @ np.ones_like(t), t, atol=1e-12)          # weight at s = 0 applied once
    np.testing.assert_allclose(w @ (2 * t + 1), t ** 2 + t, atol=1e-12)
    # second order for curved integrands: halving the step divides the error by ~4
    errs = []
    for n in (40, 80):
        t = dm.time_grid(5.0, n)
        errs.append(np.max(np.abs(dm.trapezoid_weights(t) @ np.exp(-t) - (1 - np.exp(-t)))))
    assert 3.0 < errs[0] / errs[1] < 5.0


# --- sample side ---------------------------------------------------------------------------------------------------

def test_sample_side_without_response_is_the_identity():
    t = dm.time_grid(2.0, 30)
    rng = np.random.default_rng(0)
    A = rng.standard_normal((30, 5))
    C = A @ A.T
    side = dm.sample_side(t, C, np.zeros((30, 30)), alpha=0.5, noise=0.3)
    np.testing.assert_allclose(side.M, np.eye(30))
    np.testing.assert_allclose(side.Cu, C + 0.3)
    np.testing.assert_allclose(side.ise, np.diag(C) / 4)


def test_sample_side_solves_the_volterra_equation():
    """Constant R = -r: u(t) = 1 + (1/alpha) int_0^t R u  gives  u = exp(-r t / alpha)."""
    r, alpha, noise = 2.0, 0.5, 0.25
    errors = []
    for n in (100, 200):
        t = dm.time_grid(2.0, n, refine=1.0)
        side = dm.sample_side(t, np.zeros((n, n)), -r * np.ones((n, n)), alpha, noise)
        u = side.M @ np.ones(n)
        errors.append(np.max(np.abs(u - np.exp(-r * t / alpha))))
        # Ru is the resolvent kernel: for constant K = -r/alpha, Ru(t, s) = -(r/alpha) exp(-r (t-s)/alpha)
        i, j = n - 1, n // 2
        assert side.Ru[i, j] == pytest.approx(-(r / alpha) * math.exp(-r * (t[i] - t[j]) / alpha), rel=2e-3)
        # ISE for clean labels C = 0: only the noise term Delta (int Ru)^2 / 4 = Delta (u - 1)^2 / 4
        np.testing.assert_allclose(side.ise, noise * (u - 1) ** 2 / 4, atol=1e-12)
        np.testing.assert_allclose(np.diag(side.Cu), noise * u ** 2, atol=1e-12)
    assert errors[0] < 1e-3
    assert 3.0 < errors[0] / errors[1] < 5.0   # second order


def test_sample_side_rejects_bad_input():
    t = dm.time_grid(1.0, 5)
    with pytest.raises(ValueError, match="alpha"):
        dm.sample_side(t, np.eye(5), np.zeros((5, 5)), alpha=0.0, noise=0.0)
    with pytest.raises(ValueError, match="noise"):
        dm.sample_side(t, np.eye(5), np.zeros((5, 5)), alpha=1.0, noise=-1.0)


def test_causal_sqrt_of_a_smooth_ill_conditioned_kernel():
    t = np.linspace(0, 5, 300)
    cov = np.exp(-np.subtract.outer(t, t) ** 2) * np.outer(1 + t, 1 + t)
    assert np.linalg.cond(cov) > 1e15      # the case where plain Cholesky with clipped pivots goes wrong
    L = dm.causal_sqrt(cov)
    assert np.all(np.triu(L, 1) == 0)
    np.testing.assert_allclose(L @ L.T, cov, atol=1e-8 * cov.max())
    # slightly indefinite input (e.g. a control-variate estimate): projected, not garbage
    bad = cov - 1e-6 * np.eye(300)
    L = dm.causal_sqrt(bad)
    np.testing.assert_allclose(L @ L.T, cov, atol=2e-6 * cov.max())
    with pytest.raises(ValueError, match="cov"):
        dm.causal_sqrt(np.full((3, 3), np.nan))


# --- parameter side ------------------------------------------------------------------------------------------------

def _random_trajectory(d=16, n=60, seed=1):
    t = dm.time_grid(2.0, n)
    S_star, W0, _ = dm._draws(SETTING, d, dm._child(np.random.SeedSequence(seed), 0))
    rng = np.random.default_rng(seed)
    Xi = rng.standard_normal((n, d, d))
    Xi = 0.1 * (Xi + Xi.transpose(0, 2, 1)).reshape(n, -1)
    memory = -0.02 * np.tril(rng.random((n, n)))
    traj = dm._effective_run(t, S_star, W0, SETTING.lam, Xi, memory, keep=True)
    return t, S_star, W0, Xi, memory, traj, rng


def test_tangent_runs_match_finite_differences():
    """The response R(t, s) = (1/d) tr(P dS(t)) after an impulse dW(s+) = -P W(s), memory term included."""
    t, S_star, W0, Xi, memory, traj, rng = _random_trajectory()
    d, n = W0.shape[0], t.size
    j = 0   # start at t = 0, where the memory integral and an impulse in W(0) coincide exactly
    P = dm.goe(d, rng)
    R = dm._tangent_runs(t, np.array([j]), P[None], traj, memory)[0]
    eps = 1e-6
    pert = [dm._effective_run(t, S_star, W0 - sign * eps * P @ W0, SETTING.lam, Xi, memory, keep=False).D
            for sign in (1, -1)]
    fd = np.einsum("ij,nij->n", P, (pert[0] - pert[1]).reshape(n, d, d)) / (2 * eps * d)
    np.testing.assert_allclose(R, fd, rtol=1e-5, atol=1e-7)
    assert R[0] == pytest.approx(-2 * np.trace(P @ P @ (W0 @ W0.T)) / d)   # equal time: -(2/d) tr(P^2 S)
    assert np.all(R < 0)


def test_batched_tangent_runs_equal_single_runs():
    t, S_star, W0, Xi, memory, traj, rng = _random_trajectory()
    starts = np.array([0, 7, 20, 41])
    probes = dm.goe(W0.shape[0], rng, size=4)
    batched = dm._tangent_runs(t, starts, probes, traj, memory)
    single = np.concatenate([dm._tangent_runs(t, starts[k:k + 1], probes[k:k + 1], traj, memory)
                             for k in range(4)])
    np.testing.assert_allclose(batched, single, rtol=1e-12, atol=1e-14)
    assert np.all(np.isnan(batched[1, :7])) and np.all(np.isfinite(batched[1, 7:]))


def test_causal_memory_equals_the_direct_sum():
    rng = np.random.default_rng(2)
    kernel = np.tril(rng.standard_normal((70, 70)))
    history = rng.standard_normal((70, 9))
    for start in (0, 5):
        mem = dm._CausalMemory(kernel, history, start=start, block=8)
        for i in range(start, 70):
            np.testing.assert_allclose(mem.partial(i), kernel[i, start:i] @ history[start:i], atol=1e-12)


def test_population_flow_without_noise_decreases_mse_to_the_rank_limited_optimum():
    # kappa >= kappa*, lam = 0: the population flow recovers S* (MSE -> 0)
    setting = Setting(alpha=1.0, kappa=0.7, kappa_star=0.5)
    t = dm.time_grid(20.0, 500)
    D = dm.population_flow(setting, t, 30, dm._child(np.random.SeedSequence(0), 0))
    mse = np.einsum("ij,ij->i", D, D) / 30
    assert np.all(np.diff(mse) <= 1e-12)
    assert mse[-1] < 1e-3 * mse[0]


# --- the solver ----------------------------------------------------------------------------------------------------

FAST = dict(d_eff=16, samples=2, control_samples=2, n_starts=6, progress=False)


@pytest.fixture(scope="module")
def small_result():
    return dm.dmft(SETTING, 1.5, n_times=60, **FAST)


def test_small_solve_converges_and_is_consistent(small_result):
    assert qnn.dmft is dm.dmft and isinstance(small_result, qnn.DMFTResult)
    r = small_result
    assert r.converged, r.reason
    assert r.error < r.tol and r.iterations == len(r.errors) >= 2
    assert np.all(np.isfinite(r.mse)) and np.all(np.isfinite(r.loss))
    # the reported MSE (control variate) and the plain kernel mean agree within their sampling error
    assert np.all(np.abs(r.mse - np.diag(r.C) / 2) < 5 * r.mse_stderr + 1e-12)
    np.testing.assert_allclose(r.loss, np.diag(r.Cu) / 4)
    assert np.all(np.isfinite(r.loss_stderr)) and np.all(r.loss_stderr >= 0)
    # C is an average of Gram matrices: positive semi-definite (what the causal noise factor needs)
    assert np.linalg.eigvalsh(r.C)[0] > -1e-10 * np.max(r.C)
    assert r.mse[-1] < r.mse[0] and r.loss[-1] < r.loss[0]
    assert np.all(np.tril(r.R) <= 0)                            # the response of S to G is negative
    np.testing.assert_allclose(np.diag(r.R), -2 * (r.d_eff + 1) / r.d_eff * r.trace_S)
    # at t = 0 nothing has been learnt: Loss_train = (C(0,0) + Delta)/4 and the outputs have variance (2/d) tr S^2
    assert r.loss[0] == pytest.approx(r.C[0, 0] / 4)
    np.testing.assert_allclose(r.output_variance_train[0], r.output_variance_test[0], rtol=1e-10)
    # no label noise: the in-sample error equals the training loss
    np.testing.assert_allclose(r.ise, r.loss, rtol=1e-8, atol=1e-12)


def test_solve_is_reproducible(small_result):
    again = dm.dmft(SETTING, 1.5, n_times=60, **FAST)
    np.testing.assert_array_equal(again.mse, small_result.mse)
    other = dm.dmft(SETTING, 1.5, n_times=60, **{**FAST, "seed": 1})
    assert not np.array_equal(other.mse, small_result.mse)


def test_large_alpha_gives_the_population_flow():
    """alpha -> infinity: the noise (~ alpha^{-1/2}) and the memory (~ 1/alpha) vanish, and the DMFT reproduces
    the population flow of the same samples, with Loss_train -> (C(t,t) + Delta)/4. Measured: the MSE gap falls
    like alpha^{-1/2} (first order in the noise, zero mean), the loss gap like 1/alpha."""
    setting = Setting(alpha=1.0, kappa=0.7, kappa_star=0.5, noise=0.2, lam=0.05)
    mse_gaps, loss_gaps = [], []
    for alpha in (100.0, 1e4):
        r = dm.dmft(setting.replace(alpha=alpha), 2.0, n_times=80, **FAST)
        assert r.converged, r.reason
        mse_gaps.append(np.max(np.abs(r.mse - r.mse_population)))
        loss_gaps.append(np.max(np.abs(r.loss - (np.diag(r.C) + setting.noise) / 4)))   # memory -> 0
    assert mse_gaps[1] < 5e-4 * np.max(r.mse_population)
    assert mse_gaps[0] / mse_gaps[1] > 6.0      # ~ sqrt(100) = 10
    assert loss_gaps[0] / loss_gaps[1] > 6.0


def test_noise_raises_the_training_loss():
    setting = Setting(alpha=0.4, kappa=0.7, kappa_star=0.5, lam=0.05)
    clean = dm.dmft(setting, 1.5, n_times=60, **FAST)
    noisy = dm.dmft(setting.replace(noise=0.5), 1.5, n_times=60, **FAST)
    assert noisy.loss[0] == pytest.approx(clean.loss[0] + 0.5 / 4)
    assert np.all(noisy.loss > clean.loss)
    # f - f* = (f - y) + sqrt(Delta) xi and E[u xi] = -sqrt(Delta) chi(t), chi = M 1 (= 1 at t = 0):
    # ISE = Loss_train + Delta (1 - 2 chi) / 4 -- below the loss early, above it once chi < 1/2 (noise fitted)
    chi = noisy.M @ np.ones(noisy.t.size)
    np.testing.assert_allclose(noisy.ise, noisy.loss + 0.5 * (1 - 2 * chi) / 4, rtol=1e-9, atol=1e-12)
    assert noisy.ise[0] == pytest.approx(noisy.loss[0] - 0.5 / 4)
    assert 0 < chi[-1] < 1


def test_not_converged_is_reported():
    r = dm.dmft(SETTING, 1.5, n_times=60, max_iter=1, **FAST)
    assert not r.converged
    assert "not converged" in r.reason and r.iterations == 1


def test_npz_roundtrip_and_cache(tmp_path, small_result):
    path = tmp_path / "r.npz"
    small_result.to_npz(path)
    back = dm.DMFTResult.from_npz(path)
    assert back.setting == small_result.setting and back.converged == small_result.converged
    np.testing.assert_array_equal(back.C, small_result.C)
    np.testing.assert_array_equal(back.loss_history, small_result.loss_history)
    np.testing.assert_array_equal(back.output_variance_train, small_result.output_variance_train)
    assert not list(tmp_path.glob("*.tmp"))                    # atomic write: no temporary left behind
    first = dm.dmft(SETTING, 1.5, n_times=60, cache_dir=tmp_path, **FAST)
    assert not list((tmp_path / "checkpoints").glob("*.npz"))  # removed once converged
    second = dm.dmft(SETTING, 1.5, n_times=60, cache_dir=tmp_path, **FAST)
    np.testing.assert_array_equal(first.mse, second.mse)
    np.testing.assert_array_equal(first.mse, small_result.mse)


def test_resume_from_checkpoint_gives_the_same_answer(tmp_path, small_result):
    """A solve stopped by max_iter keeps its checkpoint; a call with a larger max_iter continues from it and gives
    the same answer as an uninterrupted solve (the random draws are fixed by the seed)."""
    partial = dm.dmft(SETTING, 1.5, n_times=60, max_iter=2, cache_dir=tmp_path, **FAST)
    assert not partial.converged and partial.iterations == 2
    assert len(list((tmp_path / "checkpoints").glob("*.npz"))) == 1
    resumed = dm.dmft(SETTING, 1.5, n_times=60, cache_dir=tmp_path, **FAST)
    assert resumed.iterations == small_result.iterations
    np.testing.assert_allclose(resumed.mse, small_result.mse, rtol=1e-10)
    np.testing.assert_allclose(resumed.loss_history, small_result.loss_history, rtol=1e-10)
    assert not list((tmp_path / "checkpoints").glob("*.npz"))


# --- issue 14, item 7: damaged cache files are detected and recomputed, never wedge ----------------------------------

def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])


def test_truncated_checkpoint_is_discarded_and_recomputed(tmp_path, small_result):
    dm.dmft(SETTING, 1.5, n_times=60, max_iter=2, cache_dir=tmp_path, **FAST)
    (ckpt,) = (tmp_path / "checkpoints").glob("*.npz")
    _truncate(ckpt)
    with pytest.warns(UserWarning, match="damaged DMFT checkpoint"):
        again = dm.dmft(SETTING, 1.5, n_times=60, cache_dir=tmp_path, **FAST)
    np.testing.assert_array_equal(again.mse, small_result.mse)
    assert again.iterations == small_result.iterations


def test_checkpoint_with_nan_is_discarded(tmp_path, small_result):
    dm.dmft(SETTING, 1.5, n_times=60, max_iter=2, cache_dir=tmp_path, **FAST)
    (ckpt,) = (tmp_path / "checkpoints").glob("*.npz")
    with np.load(ckpt) as ck:
        arrays = dict(ck)
    arrays["C"][5, 5] = np.nan
    np.savez(ckpt, **arrays)
    with pytest.warns(UserWarning, match="damaged DMFT checkpoint"):
        again = dm.dmft(SETTING, 1.5, n_times=60, cache_dir=tmp_path, **FAST)
    np.testing.assert_array_equal(again.mse, small_result.mse)


def test_truncated_cached_result_is_recomputed(tmp_path, small_result, caplog):
    dm.dmft(SETTING, 1.5, n_times=60, cache_dir=tmp_path, **FAST)
    files = [p for p in (tmp_path / "joblib").rglob("output.pkl")]
    assert len(files) == 1
    _truncate(files[0])
    again = dm.dmft(SETTING, 1.5, n_times=60, cache_dir=tmp_path, **FAST)   # joblib logs, then recomputes
    assert "Exception while loading" in caplog.text
    np.testing.assert_array_equal(again.mse, small_result.mse)
    third = dm.dmft(SETTING, 1.5, n_times=60, cache_dir=tmp_path, **FAST)   # the entry was rewritten: loads
    np.testing.assert_array_equal(third.mse, small_result.mse)


def test_truncated_result_file_raises_a_clear_error(tmp_path, small_result):
    path = tmp_path / "r.npz"
    small_result.to_npz(path)
    _truncate(path)
    with pytest.raises((OSError, ValueError, EOFError, zipfile.BadZipFile)):
        dm.DMFTResult.from_npz(path)


# --- issue 13: the per-time stopping test ----------------------------------------------------------------------------

def test_per_sweep_history_is_recorded(small_result):
    r = small_result
    assert r.loss_history.shape == r.errors.shape == (r.iterations,)
    assert r.loss_history[-1] == pytest.approx(r.loss[-1], rel=1e-12)
    assert "converged" in r.reason and "Loss_train(t_max) moved" in r.reason


def test_converged_result_does_not_move_in_one_more_sweep():
    """Acceptance of issue 13: a converged result never changes Loss_train(t_max) by more than 0.5% in one more
    sweep. One more sweep = a warm start from the result's own kernels (same grid, seed), one sweep."""
    setting = Setting(alpha=0.3, kappa=0.4, kappa_star=0.3, noise=0.5, lam=0.01)   # setting B, short and small
    for t_max in (2.0, 4.0):
        r = dm.dmft(setting, t_max, **FAST)
        assert r.converged, r.reason
        more = dm.dmft(setting, t_max, warm_start=r, max_iter=1, **FAST)
        assert abs(more.loss_history[0] / r.loss[-1] - 1) < 0.005, (t_max, more.loss_history[0], r.loss[-1])
        # and the whole curves stay put to the stopping tolerance (x contraction margin)
        assert np.max(np.abs(more.loss / r.loss - 1)) < 3 * r.tol


def test_sweep_change_sees_late_times():
    """The change is relative at every time: a 1% move of C at the last time only (where C is ~100 times smaller
    than at t = 0) registers as 1%, not as 1e-4 as a change relative to max|C| would."""
    r = dm.dmft(SETTING, 1.5, n_times=60, **FAST)
    t, C, R = r.t, r.C.copy(), r.R.copy()
    problem = _problem(r)
    old = dm.solver.State(C=r.C, R=r.R, side=dm.sample_side(t, r.C, r.R, SETTING.alpha, SETTING.noise))
    C[-1, -1] *= 1.01
    side = dm.sample_side(t, C, R, SETTING.alpha, SETTING.noise)
    change = dm.sweep_change(problem, old, C, R, side)
    assert change >= 0.01 / 1.01 - 1e-9                      # C(t,t) itself: 1% (and Cu(t,t) amplifies it)
    assert change > 100 * 0.01 * C[-1, -1] / np.max(np.abs(C))   # what the old max-normalised test saw


def _problem(r):
    options = dm.DMFTOptions.create(r.setting, float(r.t[-1]), r.t.size, d_eff=r.d_eff)
    return dm.solver.Problem(setting=r.setting, options=options, t=r.t, starts=np.array([0, 10]), seqs=[],
                             C_start=r.C, mse_pop=np.zeros((1, r.t.size)))


def test_warm_start_from_another_seed_needs_fewer_sweeps():
    setting = Setting(alpha=0.3, kappa=0.4, kappa_star=0.3, noise=0.5, lam=0.01)
    cold = dm.dmft(setting, 3.0, **FAST)
    other = dm.dmft(setting, 3.0, **{**FAST, "seed": 1})
    warm = dm.dmft(setting, 3.0, warm_start=other, **FAST)
    assert cold.converged and warm.converged
    assert warm.iterations < cold.iterations
    assert np.max(np.abs(warm.loss / cold.loss - 1)) < 5 * cold.tol   # the same fixed point
    shorter = dm.dmft(setting, 1.5, **FAST)                           # from a shorter t_max
    longer = dm.dmft(setting, 3.0, warm_start=shorter, **FAST)
    assert longer.converged and longer.iterations < cold.iterations
    assert np.max(np.abs(longer.loss / cold.loss - 1)) < 5 * cold.tol


# --- issue 14, items 9 and 10: sizes checked up front, messages about n_times --------------------------------------

@pytest.mark.parametrize("t_max", [1000.0, 1e6, 1e300])
def test_oversized_solves_are_refused_at_once(t_max):
    start = time.perf_counter()
    with pytest.raises(ValueError, match=r"GiB.*reduce t_max, n_times or d_eff"):
        dm.dmft(SETTING, t_max)
    assert time.perf_counter() - start < 1.0


def test_memory_estimate_is_in_the_message():
    with pytest.raises(ValueError) as info:
        dm.dmft(SETTING, 1000.0)
    options = dm.DMFTOptions.create(SETTING, 1000.0)
    need = dm.memory_estimate(SETTING, options, dm.RunControl())
    assert f"{need / 2**30:.3g} GiB" in str(info.value) and "default grid" in str(info.value)


def test_tiny_t_max_needs_no_n_times():
    """dmft(S, 1e-9) used to fail with "n_times must be an integer >= 3, got 2" though n_times was not passed."""
    r = dm.dmft(SETTING, 1e-9, **FAST)
    assert r.t.size == 3 and r.t[-1] == 1e-9 and r.converged, r.reason
    assert dm.default_n_times(SETTING, 1e-9) == 3


def test_stiff_regularisation_gives_a_consistent_message():
    """lam = 1e6 used to say "n_times = 110 is too small ... use n_times >= 110": the default grid now accounts for
    lambda, and an explicit grid that is too coarse is told a larger size."""
    stiff = SETTING.replace(lam=1e6)
    assert dm.default_n_times(stiff, 5.0) > 1e6
    with pytest.raises(ValueError, match="GiB"):
        dm.dmft(stiff, 5.0)
    with pytest.raises(ValueError, match=r"n_times = 110 gives a late step .* n_times >= (\d+)") as info:
        dm.dmft(stiff, 5.0, n_times=110, **FAST)
    need = int(str(info.value).rsplit(">= ", 1)[1].split()[0])
    assert need > 1e6


@pytest.mark.parametrize("kwargs, name", [
    ({"t_max": -1.0}, "t_max"), ({"n_times": 2}, "n_times"), ({"d_eff": 3}, "d_eff"), ({"samples": 0}, "samples"),
    ({"samples": 1}, "samples"),
    ({"damping": 1.0}, "damping"), ({"tol": 0.0}, "tol"), ({"n_starts": 1}, "n_starts"), ({"seed": -1}, "seed"),
    ({"max_iter": 0}, "max_iter"), ({"n_jobs": 0}, "n_jobs"), ({"control_samples": -1}, "control_samples")])
def test_dmft_rejects_bad_input(kwargs, name):
    args = {"t_max": 1.0, **FAST, **kwargs}
    t_max = args.pop("t_max")
    with pytest.raises(ValueError, match=name):
        dm.dmft(SETTING, t_max, **args)


def test_dmft_refuses_an_unstable_time_step():
    with pytest.raises(ValueError, match="n_times"):
        dm.dmft(SETTING, 20.0, n_times=50, **FAST)
    with pytest.raises(ValueError, match="setting"):
        dm.dmft({"alpha": 1}, 1.0)


# --- the energy-balance diagnostic (qnn.mean_field.validation) --------------------------------------------------------

def test_energy_balance_is_exact_in_the_population_limit():
    """alpha -> infinity: the parameter-side balance reproduces Loss_train = MSE/2 + Delta/4 (with the control
    variate: the population runs' mean). Without the population correction the trapezoid rule's early-time error
    is visible (measured -1.8e-3 here)."""
    validation = importlib.import_module("qnn.mean_field.validation")
    setting = Setting(alpha=1e12, kappa=1.0, kappa_star=0.5, noise=0.25, lam=0.02, gamma=0.1)
    r = dm.dmft(setting, 4.0, **FAST)
    balance, se = validation.energy_balance(r)
    np.testing.assert_allclose(balance, r.mse_population / 2 + setting.noise / 4, atol=1e-6)
    np.testing.assert_allclose(r.loss, r.mse_population / 2 + setting.noise / 4, rtol=0.2)
    raw, _ = validation.energy_balance(r, correct=False)
    assert np.max(np.abs(raw - r.loss)) > 1e-4
    assert np.all(np.isfinite(se[1:]))


def test_extrapolation_in_one_over_d():
    validation = importlib.import_module("qnn.mean_field.validation")
    d = np.array([40, 60, 80])
    y = 2.0 + 3.0 / d
    value, se = validation.extrapolate_in_d(d, np.stack([y, 2 * y], axis=1), np.full((3, 2), 0.01))
    np.testing.assert_allclose(value, [2.0, 4.0], atol=1e-12)
    assert np.all(se > 0.01)    # an extrapolation is less certain than the points


def test_blow_up_during_the_iteration_is_a_value_error_naming_n_times():
    """Issue 14 (found by tests/test_reliability.py): alpha = 1e-6 makes the noise ~ alpha^{-1/2} huge and the
    default grid too coarse; this used to be a RuntimeError, it is a ValueError naming a finer n_times."""
    setting = Setting(alpha=1e-06, kappa=0.5, kappa_star=2.0, noise=50.0, lam=0.0001, gamma=1e-06)
    with pytest.raises(ValueError, match=r"n_times = \d+ \(the default grid.*n_times >= \d+"):
        dm.dmft(setting, 0.5, d_eff=4, samples=2, control_samples=0, n_starts=2, max_iter=2, progress=False)
