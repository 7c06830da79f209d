"""Tests of qnn.simulation.threshold_estimate (the Figure 20 estimator)."""
import numpy as np
import pytest

from qnn.simulation.threshold_estimate import estimate_threshold, log_mse_slopes


def test_slopes_are_forward_differences_of_log():
    alphas = np.array([0.1, 0.2, 0.4])
    mse = np.array([[1.0, 2.0], [np.e**-1, 2.0], [np.e**-3, 2.0 * np.e]])
    x, s = log_mse_slopes(alphas, mse)
    np.testing.assert_allclose(x, [0.1, 0.2])
    np.testing.assert_allclose(s, [[-10.0, 0.0], [-10.0, 5.0]])


def test_locates_a_smooth_drop():
    # log MSE = -A * sigmoid((alpha - a0)/w): slope minimum at a0; half-minimum points at a0 +- w*2*acosh(sqrt2)
    a0, w = 0.37, 0.01
    alphas = np.linspace(0.2, 0.5, 301)
    log_mse = -12.0 / (1 + np.exp(-(alphas - a0) / w))
    est = estimate_threshold(alphas, np.exp(log_mse))
    assert est.alpha == pytest.approx(a0, abs=2e-3)  # forward differences shift by half a grid step
    half_width = w * 2 * np.arccosh(np.sqrt(2))
    assert est.low == pytest.approx(a0 - half_width, abs=3e-3)
    assert est.high == pytest.approx(a0 + half_width, abs=3e-3)


def test_moving_the_drop_moves_the_estimate():
    alphas = np.linspace(0.1, 0.6, 26)
    estimates = [estimate_threshold(alphas, np.exp(-10 / (1 + np.exp(-(alphas - a0) / 0.02)))).alpha
                 for a0 in (0.25, 0.4)]
    assert estimates[0] < 0.3 < estimates[1]


def test_averages_over_repetitions():
    alphas = np.linspace(0.1, 0.5, 9)
    rng = np.random.default_rng(0)
    reps = [np.exp(-8 / (1 + np.exp(-(alphas - 0.3) / 0.03)) + 0.1 * rng.standard_normal(9)) for _ in range(6)]
    est = estimate_threshold(alphas, np.stack(reps, axis=1))
    assert est.low <= est.alpha <= est.high
    assert abs(est.alpha - 0.3) <= 0.05 + 1e-12


@pytest.mark.parametrize("alphas, mse, match", [
    ([0.1, 0.2], [1.0, 0.5], "alphas"), ([0.1, 0.3, 0.2], [1.0, 0.5, 0.1], "alphas"),
    ([0.1, 0.2, 0.3], [1.0, 0.0, 0.1], "mse"), ([0.1, 0.2, 0.3], [1.0, np.nan, 0.1], "mse"),
    ([0.1, 0.2, 0.3], [[1.0, 1.0]], "mse"), ([0.1, 0.2, 0.3], [0.1, 0.2, 0.3], "nowhere negative"),
])
def test_bad_input(alphas, mse, match):
    with pytest.raises(ValueError, match=match):
        estimate_threshold(alphas, mse)


def test_compare_with_theory_counts_offsets_and_intervals():
    from qnn.simulation.threshold_estimate import ThresholdEstimate, compare_with_theory

    empty = np.array([])
    estimates = {(0.5, 0.5): ThresholdEstimate(0.40, 0.36, 0.42, empty, empty),
                 (0.7, 0.3): ThresholdEstimate(0.35, 0.33, 0.37, empty, empty)}
    result = compare_with_theory(estimates, lambda k, ks: 0.38)
    assert result.n == 2 and result.n_inside == 1
    assert result.mean_offset == pytest.approx(-0.005)
    assert result.mean_abs_offset == pytest.approx(0.025)
    assert result.max_abs_offset == pytest.approx(0.03)
    with pytest.raises(ValueError, match="at least one"):
        compare_with_theory({}, lambda k, ks: 0.0)


def test_extrapolation_in_inverse_d_recovers_a_line():
    from qnn.simulation.threshold_estimate import extrapolate_in_inverse_d

    dims = np.array([14.0, 20.0, 28.0])
    a, b, err = extrapolate_in_inverse_d(dims, 0.375 + 0.8 / dims)
    assert a == pytest.approx(0.375) and b == pytest.approx(0.8) and err == pytest.approx(0.0, abs=1e-12)
    a2, _, err2 = extrapolate_in_inverse_d(dims[:2], 0.375 + 0.8 / dims[:2])
    assert a2 == pytest.approx(0.375) and np.isnan(err2)
    with pytest.raises(ValueError, match="distinct"):
        extrapolate_in_inverse_d([20, 20], [0.4, 0.4])
