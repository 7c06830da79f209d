"""Tests of qnn.simulation.gradient_flow: gradient-flow simulator and training to convergence.

Fast tests use d <= 20. The finite-size trends (d = 40, 60, 80) and long runs are marked slow
(``pytest -m slow tests/test_simulation.py``); their measured numbers are in benchmarks/README.md (SIM section).
"""
import math

import numpy as np
import pytest

from qnn import simulate, train_to_convergence
from qnn.conventions import Setting
from qnn.simulation.data import init_student, make_dataset, rep_generators
from qnn.simulation.network import flow_velocity, gradient_matrix, mse, stationarity
from qnn.simulation.gradient_flow import StepSizeError, record_times

SETTING = Setting(alpha=0.5, kappa=0.7, kappa_star=0.3)
REGULARISED = Setting(alpha=0.6, kappa=1.2, kappa_star=0.4, noise=0.2, lam=0.1)


def relative_gap(a, b):
    """L1-in-time relative distance between two (reps, T) curves, averaged over repetitions."""
    return float(np.mean(np.sum(np.abs(a - b), axis=1) / np.sum(np.abs(b), axis=1)))


# --- record times --------------------------------------------------------------------------------------------------
def test_record_times():
    t = record_times(100.0, 60)
    assert len(t) == 60 and t[0] == 0 and t[1] == pytest.approx(1e-2) and t[-1] == pytest.approx(100.0)
    assert np.all(np.diff(t) > 0)
    np.testing.assert_allclose(np.diff(np.log(t[1:])), np.log(1e4) / 58)
    assert record_times(1.0, 10)[1] == pytest.approx(1e-3)
    np.testing.assert_array_equal(record_times(5.0, 2), [0.0, 5.0])
    with pytest.raises(ValueError, match="t_first"):
        record_times(1.0, 10, t_first=2.0)
    with pytest.raises(ValueError, match="n_records"):
        record_times(1.0, 1)


# --- the simulator's outputs ------------------------------------------------------------------------------------------
def test_simulate_outputs_are_consistent_with_the_network():
    d = 12
    setting = SETTING.replace(noise=0.3, lam=0.02)
    result = simulate(setting, d, 5.0, reps=2, seed=4, n_records=8, record_spectrum=True, record_predictions=True,
                      progress=False)
    n, m, _ = setting.dims(d)
    T = len(result.t)
    assert result.t[0] == 0 and result.t[-1] == 5.0 and T == 8
    for name in ("mse", "loss", "ise", "trace"):
        assert getattr(result, name).shape == (2, T)
    assert result.S.shape == (2, d, d) and result.eigenvalues.shape == (2, T, d)
    assert result.predictions.shape == (2, T, n) and result.mse_pop is None
    for rep in range(2):
        gens = rep_generators(4, rep)
        data = make_dataset(setting, d, gens, "gaussian")
        W0 = init_student(d, m, setting.gamma, gens.init)
        np.testing.assert_array_equal(result.S_star[rep], data.S_star)
        assert result.mse[rep, 0] == pytest.approx(mse(W0 @ W0.T, data.S_star), rel=1e-12)
        S = result.S[rep]
        assert result.mse[rep, -1] == pytest.approx(mse(S, data.S_star), rel=1e-12)
        np.testing.assert_allclose(result.predictions[rep, -1], data.predict(S), atol=1e-10)
        f = result.predictions[rep, -1]
        assert result.loss[rep, -1] == pytest.approx(np.sum((f - data.y) ** 2) / (4 * n), rel=1e-10)
        assert result.ise[rep, -1] == pytest.approx(np.sum((f - data.y_clean) ** 2) / (4 * n), rel=1e-10)
    np.testing.assert_allclose(result.eigenvalues.sum(axis=2), result.trace * d, rtol=1e-10)
    assert np.all(result.eigenvalues[:, :, :d - m] < 1e-8)            # rank(S) <= m
    objective = result.loss + setting.lam * result.trace               # L = Loss_train + (lam/d) tr S
    assert np.all(np.diff(objective, axis=1) < 1e-9)                   # gradient flow decreases it
    # the training loss goes down a lot; with noise > 0 it differs from the ISE
    assert np.all(result.loss[:, -1] < 0.5 * result.loss[:, 0])
    assert not np.allclose(result.loss, result.ise)


def test_simulate_is_reproducible_and_rep_draws_do_not_depend_on_reps_or_jobs():
    kwargs = dict(n_records=6, progress=False)
    a = simulate(SETTING, 10, 2.0, reps=2, seed=7, **kwargs)
    b = simulate(SETTING, 10, 2.0, reps=2, seed=7, **kwargs)
    c = simulate(SETTING, 10, 2.0, reps=3, seed=7, n_jobs=2, **kwargs)
    other = simulate(SETTING, 10, 2.0, reps=1, seed=8, **kwargs)
    np.testing.assert_array_equal(a.mse, b.mse)
    np.testing.assert_allclose(c.mse[:2], a.mse, rtol=1e-12)
    np.testing.assert_allclose(c.S[:2], a.S, rtol=1e-12, atol=1e-14)
    assert not np.allclose(other.mse[0], a.mse[0])


def test_gaussian_and_goe_runs_are_paired():
    g = simulate(SETTING, 10, 1.0, reps=2, seed=3, n_records=4, progress=False)
    o = simulate(SETTING, 10, 1.0, reps=2, seed=3, n_records=4, features="goe", progress=False)
    np.testing.assert_array_equal(g.S_star, o.S_star)
    np.testing.assert_array_equal(g.mse[:, 0], o.mse[:, 0])          # same W(0)
    assert not np.allclose(g.mse[:, -1], o.mse[:, -1])


def test_default_integrator_error_is_far_below_half_a_percent():
    """rtol = 1e-4 (default) vs 1e-8: measured max relative MSE difference ~5e-5 at d = 30 (benchmarks/README.md)."""
    setting = SETTING.replace(noise=0.2, lam=0.01)
    times = [0.05, 0.3, 1, 3, 10, 30]
    ref = simulate(setting, 14, 30.0, reps=2, times=times, rtol=1e-8, atol=1e-11, progress=False)
    default = simulate(setting, 14, 30.0, reps=2, times=times, progress=False)
    assert np.max(np.abs(default.mse - ref.mse) / ref.mse) < 1e-3
    assert np.max(np.abs(default.loss - ref.loss) / ref.loss) < 5e-3


def test_gradient_descent_converges_to_the_flow_at_first_order():
    """GD with step eta has an O(eta) error: halving eta halves the distance to the flow."""
    times = [0.1, 0.5, 1, 2, 5]
    flow = simulate(SETTING, 12, 5.0, reps=2, times=times, rtol=1e-8, atol=1e-11, progress=False)
    gaps = []
    for eta in (0.02, 0.01):
        gd = simulate(SETTING, 12, 5.0, reps=2, times=times, eta=eta, progress=False)
        np.testing.assert_allclose(gd.t, flow.t)
        assert gd.n_gradients[0] == round(5.0 / eta)
        gaps.append(np.max(np.abs(gd.mse - flow.mse) / flow.mse))
    assert gaps[0] < 0.05
    assert 1.6 < gaps[0] / gaps[1] < 2.4


def test_gradient_descent_divergence_is_reported():
    with pytest.raises(FloatingPointError, match="eta too large"):
        simulate(SETTING, 10, 50.0, eta=1.0, n_records=3, progress=False)


def test_predictions_stay_centred_with_the_teacher_variance_at_init():
    """Figure 1's quantity: at t = 0 the outputs tr(S(0) Z) have mean 0 and variance 2 tr(S(0)^2)/d."""
    d = 20
    result = simulate(SETTING, d, 0.1, reps=1, n_records=2, record_predictions=True, progress=False)
    gens = rep_generators(0, 0)
    _, m, _ = SETTING.dims(d)
    W0 = init_student(d, m, 1.0, gens.init)
    f0 = result.predictions[0, 0]
    variance = 2 * np.sum((W0 @ W0.T) ** 2) / d
    assert abs(f0.mean()) < 4 * math.sqrt(variance / len(f0))
    assert f0.var() == pytest.approx(variance, rel=0.15)


# --- population limit ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("features", ["gaussian", "goe"])
def test_large_alpha_matches_the_population_flow(features):
    """MSE(t) -> the alpha = inf flow G = 2(S - S*) + 2 lam I from the same S*, W(0); the gap shrinks with alpha.

    Measured (d = 8, 6 reps, L1-in-time relative gap): roughly 0.2-0.35 at alpha = 10 and 0.03-0.07 at alpha = 160.
    """
    setting = Setting(alpha=10, kappa=0.5, kappa_star=0.3, lam=0.05)
    gaps = []
    for alpha in (10, 160):
        result = simulate(setting.replace(alpha=alpha), 8, 20.0, reps=6, n_records=12, features=features,
                          population_control=True, progress=False)
        assert result.mse_pop.shape == result.mse.shape
        np.testing.assert_array_equal(result.mse_pop[:, 0], result.mse[:, 0])
        gaps.append(relative_gap(result.mse, result.mse_pop))
    assert gaps[1] < 0.1
    assert gaps[1] < gaps[0] / 2.5


def test_population_flow_recovers_the_teacher_without_regularisation():
    result = simulate(Setting(alpha=1, kappa=0.5, kappa_star=0.3), 12, 200.0, reps=2, n_records=10,
                      population_control=True, progress=False)
    assert np.all(result.mse_pop[:, -1] < 1e-3 * result.mse_pop[:, 0])


# --- training to convergence ----------------------------------------------------------------------------------------
def test_train_to_convergence_reaches_a_stationary_point():
    d = 12
    result = train_to_convergence(REGULARISED, d, reps=2, seed=1, gtol=1e-7, progress=False)
    assert result.converged.all(), result.reason
    assert np.all(result.grad_norm <= 1e-7)
    for rep in range(2):
        data = make_dataset(REGULARISED, d, rep_generators(1, rep), "gaussian")
        np.testing.assert_array_equal(result.S_star[rep], data.S_star)
        G = gradient_matrix(data, result.S[rep], lam=REGULARISED.lam)
        assert stationarity(G, result.S[rep]) == pytest.approx(result.grad_norm[rep], rel=1e-8)
        assert result.mse[rep] == pytest.approx(mse(result.S[rep], data.S_star), rel=1e-12)
    np.testing.assert_allclose(result.eigenvalues.sum(axis=1), result.trace * d, rtol=1e-10)
    assert result.rank.shape == (2,) and np.all((result.rank > 0) & (result.rank <= 1))
    summary = result.summary()
    assert summary["mse_mean"] == pytest.approx(result.mse.mean())
    assert summary["rank_std"] == pytest.approx(result.rank.std(ddof=1)) and summary["n_converged"] == 2


@pytest.mark.parametrize("features", ["gaussian", "goe"])
def test_lbfgs_and_convex_solver_agree_when_the_width_cap_does_not_bind(features):
    lbfgs = train_to_convergence(REGULARISED, 12, reps=2, seed=2, features=features, gtol=1e-7, progress=False)
    convex = train_to_convergence(REGULARISED, 12, reps=2, seed=2, features=features, gtol=1e-8, method="convex",
                                  progress=False)
    assert lbfgs.converged.all() and convex.converged.all(), (lbfgs.reason, convex.reason)
    np.testing.assert_allclose(convex.S, lbfgs.S, atol=1e-5)
    np.testing.assert_allclose(convex.mse, lbfgs.mse, rtol=1e-4)
    np.testing.assert_allclose(convex.rank, lbfgs.rank)


def test_convex_solver_flags_a_binding_width_cap():
    setting = Setting(alpha=0.3, kappa=0.1, kappa_star=0.5, noise=0.5, lam=0.01)
    result = train_to_convergence(setting, 12, reps=1, method="convex", progress=False)
    assert not result.converged[0] and "width cap binds" in result.reason[0]
    assert result.rank[0] > setting.dims(12)[1] / 12


def test_train_to_convergence_matches_a_long_gradient_flow():
    d = 10
    flow = simulate(REGULARISED, d, 300.0, reps=2, seed=5, n_records=5, progress=False)
    end = train_to_convergence(REGULARISED, d, reps=2, seed=5, gtol=1e-7, progress=False)
    assert end.converged.all()
    np.testing.assert_allclose(flow.mse[:, -1], end.mse, rtol=1e-3)
    np.testing.assert_allclose(flow.S, end.S, atol=1e-3)


def test_train_to_convergence_reports_non_convergence():
    result = train_to_convergence(REGULARISED, 12, max_iter=3, progress=False)
    assert not result.converged[0] and "max_iter" in result.reason[0] and result.n_iter[0] <= 3
    assert result.grad_norm[0] > result.gtol


def test_cache_resumes_identical_results(tmp_path):
    first = simulate(SETTING, 8, 1.0, reps=2, n_records=4, cache_dir=str(tmp_path), progress=False)
    assert any(tmp_path.rglob("*.pkl"))
    second = simulate(SETTING, 8, 1.0, reps=3, n_records=4, cache_dir=str(tmp_path), progress=False)
    np.testing.assert_array_equal(second.mse[:2], first.mse)
    end = train_to_convergence(REGULARISED, 8, reps=1, cache_dir=str(tmp_path), progress=False)
    again = train_to_convergence(REGULARISED, 8, reps=1, cache_dir=str(tmp_path), progress=False)
    np.testing.assert_array_equal(end.S, again.S)


# --- bad input ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, name", [
    (dict(setting={"alpha": 1}), "setting"),
    (dict(d=1), "d"),
    (dict(t_max=0.0), "t_max"),
    (dict(t_max=float("nan")), "t_max"),
    (dict(reps=0), "reps"),
    (dict(seed=-1), "seed"),
    (dict(features="binary"), "features"),
    (dict(eta=0.0), "eta"),
    (dict(eta=5.0), "eta"),
    (dict(n_records=1), "n_records"),
    (dict(t_first=-1.0), "t_first"),
    (dict(times=[0.5, 2.0]), "times"),
    (dict(rtol=0.5), "rtol"),
    (dict(atol=-1.0), "atol"),
    (dict(n_jobs=0), "n_jobs"),
    (dict(setting=Setting(alpha=200, kappa=1, kappa_star=1), d=100, features="goe"), "features='goe'"),
])
def test_simulate_bad_inputs(kwargs, name):
    arguments = dict(setting=SETTING, d=8, t_max=1.0)
    arguments.update(kwargs)
    setting, d, t_max = arguments.pop("setting"), arguments.pop("d"), arguments.pop("t_max")
    with pytest.raises(ValueError, match=name):
        simulate(setting, d, t_max, progress=False, **arguments)


@pytest.mark.parametrize("kwargs, name", [
    (dict(setting=SETTING), "lam > 0"),
    (dict(d=0), "d"),
    (dict(reps=-2), "reps"),
    (dict(gtol=0.0), "gtol"),
    (dict(max_iter=0), "max_iter"),
    (dict(method="newton"), "method"),
    (dict(features="x"), "features"),
    (dict(rank_cutoff=1.0), "rank_cutoff"),
    (dict(n_jobs=1.5), "n_jobs"),
])
def test_train_to_convergence_bad_inputs(kwargs, name):
    arguments = dict(setting=REGULARISED, d=8)
    arguments.update(kwargs)
    setting, d = arguments.pop("setting"), arguments.pop("d")
    with pytest.raises(ValueError, match=name):
        train_to_convergence(setting, d, progress=False, **arguments)


# --- slow: finite-size trends -----------------------------------------------------------------------------------------
@pytest.mark.slow
def test_gaussian_features_approach_goe_as_d_grows():
    """Universality at finite d: the averaged long-time MSE with Gaussian-input features approaches the GOE value.

    Paired runs (same S*, W(0), noise per seed/rep); the convex solver gives the lambda > 0 end point.
    """
    setting = Setting(alpha=0.4, kappa=1.0, kappa_star=0.5, noise=0.5, lam=0.02)
    reps = 24
    gaps = {}
    for d in (40, 60, 80):
        g = train_to_convergence(setting, d, reps=reps, method="convex", gtol=1e-5, progress=False)
        o = train_to_convergence(setting, d, reps=reps, method="convex", features="goe", gtol=1e-5, progress=False)
        assert g.converged.all() and o.converged.all()
        gaps[d] = (g.mse.mean() - o.mse.mean()) / o.mse.mean()
        print(f"d={d}: gaussian {g.mse.mean():.4f} +- {g.mse.std(ddof=1) / math.sqrt(reps):.4f}, "
              f"goe {o.mse.mean():.4f} +- {o.mse.std(ddof=1) / math.sqrt(reps):.4f}, gap {gaps[d]:+.3f}")
    assert gaps[40] > gaps[80]
    assert abs(gaps[80]) < 0.1


@pytest.mark.slow
def test_train_to_convergence_matches_long_simulation_at_d40():
    setting = Setting(alpha=0.5, kappa=1.0, kappa_star=0.5, noise=0.25, lam=0.05)
    flow = simulate(setting, 40, 2000.0, reps=3, seed=1, n_records=10, progress=False)
    end = train_to_convergence(setting, 40, reps=3, seed=1, gtol=1e-7, progress=False)
    assert end.converged.all(), end.reason
    print("flow", flow.mse[:, -1], "lbfgs", end.mse, "iterations", end.n_iter)
    np.testing.assert_allclose(flow.mse[:, -1], end.mse, rtol=1e-3)


def test_gd_stability_bound_from_the_largest_hessian_eigenvalue():
    """Near a minimum GD is stable for eta < 2/lambda_max and unstable above (power-iteration estimate)."""
    from qnn.simulation.network import largest_hessian_eigenvalue

    d = 10
    end = train_to_convergence(REGULARISED, d, reps=1, seed=3, gtol=1e-8, method="convex", progress=False)
    data = make_dataset(REGULARISED, d, rep_generators(3, 0), "gaussian")
    _, m, _ = REGULARISED.dims(d)
    values, vectors = np.linalg.eigh(end.S[0])
    W_min = np.zeros((d, m))
    W_min[:, :d] = vectors * np.sqrt(np.clip(values, 0, None))          # m = 12 >= d: any S >= 0 is reachable
    top = largest_hessian_eigenvalue(data, W_min, REGULARISED.lam, n_iter=2000, rtol=1e-9)
    assert 1 < top < 1000
    distances = {}
    for factor in (0.9, 1.1):
        W = W_min + 1e-4 * np.random.default_rng(0).standard_normal(W_min.shape)
        eta = factor * 2 / top
        for _ in range(1500):
            W = W - eta * flow_velocity(data, W, REGULARISED.lam)
            if np.abs(W).max() > 1e3:
                break
        distances[factor] = np.linalg.norm(W @ W.T - end.S[0])
    assert distances[0.9] < 1e-3
    assert distances[1.1] > 0.1


# --- issue 14: no silently wrong numbers ------------------------------------------------------------------------------
def test_gradient_descent_past_its_stability_limit_raises_early():
    """Item 2: eta = 0.05 at alpha = .5, kappa = .5, kappa* = .3, d = 20 used to end at MSE 0.051 (flow: 0.0026)
    without a warning. The objective's first rise (step 23 of 800) is reported, with the Hessian's lambda_max."""
    setting = Setting(0.5, 0.5, 0.3)
    for eta in (0.05, 0.07):
        with pytest.raises(StepSizeError, match=r"eta too large.*objective rose.*lambda_max ~ \d") as error:
            simulate(setting, 20, 40.0, eta=eta, n_records=10, progress=False)
        assert isinstance(error.value, ValueError) and isinstance(error.value, FloatingPointError)
        assert "eta = " + f"{eta:.4g}" in str(error.value)
    # below the limit GD still runs and stays within O(eta) of the flow (eta = 0.04 is the largest stable step here)
    flow = simulate(setting, 20, 40.0, n_records=10, progress=False)
    gd = simulate(setting, 20, 40.0, eta=0.04, n_records=10, progress=False)
    assert abs(gd.mse[0, -1] - flow.mse[0, -1]) < 0.05 * flow.mse[0, -1]


def test_integrate_flow_checks_the_objective_given_with_the_velocity():
    """On E(W) = a |W|^2 / 2 (velocity a W) GD is stable for eta a < 2: the check must pass at 1.9, fail at 2.1."""
    from qnn.simulation.gradient_flow import integrate_flow

    a, W0 = 10.0, np.ones((3, 2))
    for eta, stable in ((0.19, True), (0.21, False)):
        times = eta * np.arange(0, 201, 50)      # 200 steps: |1 - eta a|^200 = 7e-10 at eta a = 1.9
        records = []

        def run(times=times, eta=eta, records=records):
            integrate_flow(lambda W: a * W, W0, times, eta, 1e-4, 1e-7, lambda k, W: records.append(W.copy()),
                           velocity_energy=lambda W: (a * W, 0.5 * a * float(np.sum(W * W))))
        if stable:
            run()
            assert len(records) == 5 and np.abs(records[-1]).max() < 1e-8
        else:
            with pytest.raises(StepSizeError, match=r"lambda_max ~ 10 \(eta \* lambda_max = 2.1\)"):
                run()


def test_lbfgs_refuses_gamma_zero_and_flags_a_saddle():
    """Item 3: gamma = 0 (and gamma = 1e-20) used to report converged=True after 0 iterations at the saddle W = 0,
    MSE 3.80 (gamma = 1e-12 reaches MSE 6e-4)."""
    setting = Setting(0.5, 0.5, 0.3, lam=0.01, gamma=0.0)
    with pytest.raises(ValueError, match="gamma must be > 0 for method='lbfgs'"):
        train_to_convergence(setting, 10, progress=False)
    tiny = train_to_convergence(setting.replace(gamma=1e-20), 10, progress=False)
    assert not tiny.converged[0] and tiny.reason[0].startswith("saddle point") and tiny.mse[0] > 3
    small = train_to_convergence(setting.replace(gamma=1e-12), 10, progress=False)
    assert small.converged[0] and small.mse[0] < 1e-3, small.reason
    convex = train_to_convergence(setting, 10, method="convex", progress=False)   # convex: no saddle at S = 0
    assert convex.converged[0] and convex.mse[0] == pytest.approx(small.mse[0], rel=1e-3)


def test_convex_iteration_cap_is_reported_as_such():
    """Item 4: max_iter=1 used to say "width cap binds" instead of naming the iteration cap."""
    result = train_to_convergence(Setting(0.5, 0.5, 0.3, lam=0.01), 10, method="convex", max_iter=1, progress=False)
    assert not result.converged[0] and result.reason[0].startswith("max_iter=1 reached")
    assert "rank 8 > m = 5" in result.reason[0]


@pytest.mark.parametrize("method", ["lbfgs", "convex"])
def test_rank_of_a_zero_estimator_is_zero(method):
    """Item 4: at lam = 1e6 the estimator is 0 (eigenvalues ~1e-33) and used to get rank 0.5 (relative cutoff)."""
    result = train_to_convergence(Setting(0.5, 0.5, 0.3, lam=1e6), 10, method=method, progress=False)
    assert result.converged[0] and result.eigenvalues[0, -1] < 1e-20
    assert result.rank[0] == 0
    finite = train_to_convergence(Setting(0.5, 0.5, 0.3, lam=1.0), 10, method=method, progress=False)
    assert finite.rank[0] == pytest.approx(0.2)          # two eigenvalues 1.28 and 2.86 of ten: unaffected


@pytest.mark.parametrize("call, name", [
    (lambda: simulate(Setting(1e308, 0.5, 0.3), 10, 1.0, progress=False), "alpha"),
    (lambda: train_to_convergence(Setting(1e308, 0.5, 0.3, lam=0.1), 10, progress=False), "alpha"),
    (lambda: simulate(Setting(0.5, 0.5, 0.3), 3000, 1.0, progress=False), "features='gaussian' at d=3000"),
    (lambda: train_to_convergence(Setting(0.5, 0.5, 0.3, lam=0.1), 3000, progress=False), "GiB"),
])
def test_huge_problems_fail_up_front_with_value_error(call, name):
    """Item 9: OverflowError from Setting(1e308, ...) and numpy MemoryError (101 GiB) at d = 3000."""
    with pytest.raises(ValueError, match=name):
        call()


@pytest.mark.parametrize("kwargs, lam", [(dict(t_max=1e12), 0.0), (dict(t_max=1e3), 1e6),
                                         (dict(t_max=1e3, eta=1e-6), 0.0)])
def test_hopeless_run_lengths_are_refused_up_front(kwargs, lam):
    """A run needing > 1e8 steps (t_max = 1e12; lam = 1e6 makes the explicit step ~1e-6) used to run silently."""
    with pytest.raises(ValueError, match="t_max = .* is out of reach"):
        simulate(Setting(0.5, 0.5, 0.3, lam=lam), 4, progress=False, **kwargs)
