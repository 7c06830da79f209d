"""Tests of qnn.dmft (book/theory/dmft.md): numerics of each piece, limits, and the solver's contract.

The comparisons with gradient-flow simulations and with the long-time fixed point are in
``tests/test_dmft_validation.py`` (``@pytest.mark.slow``).
"""
from __future__ import annotations

import math

import numpy as np
import pytest

import importlib

import qnn
from qnn.conventions import Setting

dm = importlib.import_module("qnn.dmft")   # the module (``qnn.dmft`` itself is the solver function)

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
    np.testing.assert_array_equal(back.output_variance_train, small_result.output_variance_train)
    first = dm.dmft(SETTING, 1.5, n_times=60, cache_dir=tmp_path, **FAST)
    assert len(list(tmp_path.glob("dmft-*.npz"))) == 1 and not list(tmp_path.glob("*.ckpt.npz"))
    second = dm.dmft(SETTING, 1.5, n_times=60, cache_dir=tmp_path, **FAST)
    np.testing.assert_array_equal(first.mse, second.mse)
    np.testing.assert_array_equal(first.mse, small_result.mse)


def test_resume_from_checkpoint_gives_the_same_answer(tmp_path, small_result):
    """An interrupted solve leaves the kernels of its last sweep in a checkpoint; resuming from it gives the same
    answer as an uninterrupted solve (the random draws are fixed by the seed)."""
    partial = dm.dmft(SETTING, 1.5, n_times=60, max_iter=2, **FAST)   # = the first two sweeps of the full solve
    assert not partial.converged
    key = dm._cache_key(_params(max_iter=25))
    np.savez(tmp_path / f"dmft-{key}.ckpt.npz", C=partial.C, R=partial.R, errors=partial.errors)
    resumed = dm.dmft(SETTING, 1.5, n_times=60, cache_dir=tmp_path, **FAST)
    assert resumed.iterations == small_result.iterations
    np.testing.assert_allclose(resumed.mse, small_result.mse, rtol=1e-10)
    assert not list(tmp_path.glob("*.ckpt.npz"))


def _params(max_iter):
    from dataclasses import asdict
    return {"setting": asdict(SETTING), "t_max": 1.5, "n_times": 60, "d_eff": 16, "samples": 2,
            "control_samples": 2, "n_starts": 6, "damping": 0.0, "tol": 2e-3, "max_iter": max_iter,
            "refine": 10.0, "seed": 0, "version": dm._FORMAT_VERSION}


@pytest.mark.parametrize("kwargs, name", [
    ({"t_max": -1.0}, "t_max"), ({"n_times": 2}, "n_times"), ({"d_eff": 3}, "d_eff"), ({"samples": 0}, "samples"),
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
