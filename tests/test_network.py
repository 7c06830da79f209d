"""Tests of qnn.simulation.network: losses, the gradient G, finite differences, population limit
(book/theory/conventions.md)."""
import math

import numpy as np
import pytest

from qnn.conventions import Setting
from qnn.simulation.data import init_student, make_dataset, rep_generators
from qnn.simulation.network import (flow_velocity, gradient_matrix, ise, loss_train, mse, objective,
                                    objective_and_gradient, population_flow_velocity, population_gradient_matrix,
                                    predictions, residuals, stationarity)

SETTING = Setting(alpha=0.6, kappa=0.6, kappa_star=0.4, noise=0.3, lam=0.07)


def problem(features, d=9, setting=SETTING, seed=0):
    gens = rep_generators(seed, 0)
    data = make_dataset(setting, d, gens, features)
    _, m, _ = setting.dims(d)
    return data, init_student(d, m, setting.gamma, gens.init)


@pytest.mark.parametrize("features", ["gaussian", "goe"])
def test_gradient_matches_finite_differences(features):
    data, W = problem(features)
    value, grad = objective_and_gradient(data, W, SETTING.lam)
    assert value == pytest.approx(objective(data, W, SETTING.lam), rel=1e-12)
    rng = np.random.default_rng(1)
    for _ in range(5):
        direction = rng.standard_normal(W.shape)
        h = 1e-5
        numeric = (objective(data, W + h * direction, SETTING.lam)
                   - objective(data, W - h * direction, SETTING.lam)) / (2 * h)
        analytic = float(np.sum(grad * direction))
        assert numeric == pytest.approx(analytic, rel=1e-6, abs=1e-10)


@pytest.mark.parametrize("features", ["gaussian", "goe"])
def test_flow_velocity_is_G_times_W_and_d_times_gradient(features):
    data, W = problem(features)
    G = gradient_matrix(data, W=W, lam=SETTING.lam)
    np.testing.assert_allclose(G, G.T, atol=1e-12)
    np.testing.assert_allclose(gradient_matrix(data, W @ W.T, lam=SETTING.lam), G, atol=1e-12)
    GW = flow_velocity(data, W, SETTING.lam)
    np.testing.assert_allclose(GW, G @ W, atol=1e-12)
    np.testing.assert_allclose(GW, data.d * objective_and_gradient(data, W, SETTING.lam)[1], atol=1e-12)
    # G = (d/n) sum_mu r_mu Z_mu + 2 lam I, written out
    r = residuals(data, W=W)
    expected = data.weighted_features(r) * data.d / data.n + 2 * SETTING.lam * np.eye(data.d)
    np.testing.assert_allclose(G, expected, atol=1e-12)
    assert stationarity(G, W @ W.T) == pytest.approx(np.linalg.norm(GW) / math.sqrt(data.d), rel=1e-10)


def test_losses_definitions():
    data, W = problem("gaussian")
    S = W @ W.T
    f = predictions(data, S)
    assert loss_train(data, S) == pytest.approx(np.sum((data.y - f) ** 2) / (4 * data.n), rel=1e-12)
    assert loss_train(data, W=W) == pytest.approx(loss_train(data, S), rel=1e-12)
    assert ise(data, S) == pytest.approx(np.sum((data.y_clean - f) ** 2) / (4 * data.n), rel=1e-12)
    assert objective(data, W, 0.3) == pytest.approx(loss_train(data, S) + 0.3 / data.d * np.trace(S), rel=1e-12)
    assert mse(data.S_star, data.S_star) == 0
    assert mse(np.zeros_like(S), data.S_star) == pytest.approx(np.sum(data.S_star ** 2) / data.d)
    clean, W = problem("gaussian", setting=SETTING.replace(noise=0.0))
    assert loss_train(clean, W=W) == pytest.approx(ise(clean, W=W), rel=1e-12)
    assert loss_train(clean, clean.S_star) == 0 and ise(data, data.S_star) == 0


@pytest.mark.parametrize("features", ["gaussian", "goe"])
def test_G_approaches_population_limit_as_alpha_grows(features):
    """(d/n) sum_mu tr(D Z_mu) Z_mu -> 2 D: the error shrinks like 1/sqrt(alpha)."""
    d = 8
    errors = []
    for alpha in (20, 320):
        data, W = problem(features, d, SETTING.replace(alpha=alpha, noise=0.0), seed=4)
        G = gradient_matrix(data, W=W, lam=SETTING.lam)
        G_pop = population_gradient_matrix(W @ W.T, data.S_star, SETTING.lam)
        errors.append(np.linalg.norm(G - G_pop) / np.linalg.norm(G_pop))
    assert errors[1] < 0.1
    assert errors[1] < errors[0] / 2.5       # sqrt(16) = 4 expected; 2.5 leaves room for sampling noise
    W = problem(features, d)[1]
    np.testing.assert_allclose(population_flow_velocity(W, data.S_star, 0.2),
                               population_gradient_matrix(W @ W.T, data.S_star, 0.2) @ W, atol=1e-12)


def test_bad_inputs():
    data, W = problem("gaussian")
    with pytest.raises(ValueError, match="lam"):
        flow_velocity(data, W, -1.0)
    with pytest.raises(ValueError, match="lam"):
        gradient_matrix(data, W=W, lam=float("inf"))
    with pytest.raises(ValueError, match="exactly one"):
        gradient_matrix(data)
    with pytest.raises(ValueError, match="W must have shape"):
        flow_velocity(data, W[:-1], 0.0)
    with pytest.raises(ValueError, match="lam"):
        objective(data, W, -0.1)


@pytest.mark.parametrize("features", ["gaussian", "goe"])
def test_hessian_vector_product_and_top_eigenvalue(features):
    from qnn.simulation.network import hessian_vector_product, largest_hessian_eigenvalue

    data, W = problem(features, d=6)
    V = np.random.default_rng(2).standard_normal(W.shape)
    h = 1e-6
    numeric = (flow_velocity(data, W + h * V, SETTING.lam) - flow_velocity(data, W - h * V, SETTING.lam)) / (2 * h)
    np.testing.assert_allclose(hessian_vector_product(data, W, V, SETTING.lam), numeric, rtol=1e-6, atol=1e-8)
    # dense Hessian from the HVP on a basis: symmetric (gradient flow), and power iteration finds its top eigenvalue
    size = W.size
    H = np.column_stack([hessian_vector_product(data, W, e.reshape(W.shape), SETTING.lam).ravel()
                         for e in np.eye(size)])
    np.testing.assert_allclose(H, H.T, atol=1e-10)
    eigenvalues = np.linalg.eigvalsh(H)
    top = eigenvalues[np.argmax(np.abs(eigenvalues))]
    assert largest_hessian_eigenvalue(data, W, SETTING.lam, n_iter=5000, rtol=1e-10) == pytest.approx(top, rel=1e-5)
    with pytest.raises(RuntimeError, match="did not converge"):
        largest_hessian_eigenvalue(data, W, SETTING.lam, n_iter=2, rtol=1e-14)
