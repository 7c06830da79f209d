"""Tests of qnn.simulation.data: teacher, initialisation, features, labels, seeding (book/theory/conventions.md)."""
import math

import numpy as np
import pytest

from qnn.conventions import Setting
from qnn.simulation.data import (check_training_memory, goe, init_student, make_dataset, memory_limit_bytes,
                                 rep_generators, sample_teacher, training_memory_bytes)

SETTING = Setting(alpha=0.5, kappa=0.7, kappa_star=0.3, noise=0.2)


def explicit_gaussian_features(X):
    """The n x d x d tensor (x x^T - I)/sqrt(d), formed explicitly (reference only, small d)."""
    d = X.shape[1]
    return (np.einsum("ni,nj->nij", X, X) - np.eye(d)) / math.sqrt(d)


def test_teacher_shape_rank_and_moments():
    d, kappa_star = 200, 0.3
    S = sample_teacher(d, kappa_star, np.random.default_rng(0))
    assert S.shape == (d, d)
    np.testing.assert_array_equal(S, S.T)
    eigenvalues = np.linalg.eigvalsh(S)
    assert eigenvalues.min() > -1e-10
    assert int(np.sum(eigenvalues > 1e-8 * eigenvalues.max())) == round(kappa_star * d)   # rank m* = 60
    # tr S*/d = (1/(d m*)) sum W_ij^2 has mean 1 and std sqrt(2/(d m*)) = 0.013; allow 4 std
    assert abs(np.trace(S) / d - 1) < 4 * math.sqrt(2 / (d * 60))
    # tr S*^2 / d -> 1 + 1/kappa* = 4.33 (finite-d: 1 + 1/kappa* + 1/d); its std at d = 200 is ~ 0.05
    assert abs(np.sum(S * S) / d - (1 + 1 / kappa_star)) < 0.25


def test_teacher_width_at_least_one():
    S = sample_teacher(10, 0.01, np.random.default_rng(0))
    assert np.linalg.matrix_rank(S) == 1


def test_init_variance_and_shape():
    W = init_student(100, 70, 2.0, np.random.default_rng(1))
    assert W.shape == (100, 70)
    # sample variance of 7000 N(0, 2/70) entries: relative std sqrt(2/7000) = 1.7%; allow 4 std
    assert abs(W.var() * 70 / 2.0 - 1) < 4 * math.sqrt(2 / 7000)
    assert np.all(init_student(5, 3, 0.0, np.random.default_rng(1)) == 0)


def test_goe_variances_and_semicircle_edge():
    d = 30
    Z = goe(d, np.random.default_rng(2), size=400)
    np.testing.assert_array_equal(Z, Z.transpose(0, 2, 1))
    off = Z[:, np.triu_indices(d, 1)[0], np.triu_indices(d, 1)[1]]
    diag = np.diagonal(Z, axis1=1, axis2=2)
    # 174000 off-diagonal and 12000 diagonal samples: relative std of the variance 0.3% and 1.3%
    assert abs(off.var() * d - 1) < 0.02
    assert abs(diag.var() * d / 2 - 1) < 0.06
    top = np.linalg.eigvalsh(goe(400, np.random.default_rng(3)))[-1]
    assert abs(top - 2) < 0.1          # semicircle edge at 2 (Tracy-Widom fluctuations ~ d^{-2/3})
    assert goe(4, np.random.default_rng(0)).shape == (4, 4)


@pytest.mark.parametrize("features", ["gaussian", "goe"])
def test_dataset_contractions_match_explicit_tensor(features):
    d = 7
    data = make_dataset(SETTING, d, rep_generators(0, 0), features)
    n, m, _ = SETTING.dims(d)
    assert data.n == n == len(data.y) and data.d == d
    Z = explicit_gaussian_features(data.X) if features == "gaussian" else data.Z
    assert Z.shape == (n, d, d)
    W = init_student(d, m, 1.0, np.random.default_rng(5))
    S = W @ W.T
    f = np.einsum("nij,ij->n", Z, S)
    np.testing.assert_allclose(data.predict(S), f, atol=1e-12)
    np.testing.assert_allclose(data.predict(W=W), f, atol=1e-12)
    v = np.random.default_rng(6).standard_normal(n)
    M = np.einsum("n,nij->ij", v, Z)
    np.testing.assert_allclose(data.weighted_features(v), M, atol=1e-12)
    np.testing.assert_allclose(data.weighted_features_times(v, W), M @ W, atol=1e-12)
    np.testing.assert_allclose(data.y_clean, np.einsum("nij,ij->n", Z, data.S_star), atol=1e-12)


@pytest.mark.parametrize("features", ["gaussian", "goe"])
def test_feature_second_moment_identity(features):
    """E tr(A Z) tr(B Z) = 2 tr(A B) / d for symmetric A, B: the only property of the features the theory uses."""
    d = 6
    data = make_dataset(Setting(alpha=2000, kappa=1, kappa_star=1), d, np.random.default_rng(7), features)
    rng = np.random.default_rng(8)
    A, B = rng.standard_normal((2, d, d))
    A, B = A + A.T, B + B.T
    estimate = np.mean(data.predict(A) * data.predict(B))
    exact = 2 * np.trace(A @ B) / d
    scale = 2 * math.sqrt(np.trace(A @ A) * np.trace(B @ B)) / d
    # n = 72000 samples; the standard error is ~ scale * few / sqrt(n) ~ 0.01 scale (heavier tails for gaussian)
    assert abs(estimate - exact) < 0.05 * scale


def test_labels_noise_and_pairing_between_feature_models():
    d = 20
    gaussian = make_dataset(SETTING, d, rep_generators(3, 1), "gaussian")
    goe_data = make_dataset(SETTING, d, rep_generators(3, 1), "goe")
    np.testing.assert_array_equal(gaussian.S_star, goe_data.S_star)
    np.testing.assert_allclose(gaussian.y - gaussian.y_clean, goe_data.y - goe_data.y_clean, atol=1e-12)
    noise = (gaussian.y - gaussian.y_clean) / math.sqrt(SETTING.noise)
    assert abs(noise.var() - 1) < 4 * math.sqrt(2 / gaussian.n)
    clean = make_dataset(SETTING.replace(noise=0.0), d, rep_generators(3, 1), "gaussian")
    np.testing.assert_array_equal(clean.y, clean.y_clean)


def test_given_teacher_is_used():
    S_star = np.eye(5)
    data = make_dataset(SETTING, 5, np.random.default_rng(0), S_star=S_star)
    np.testing.assert_array_equal(data.S_star, S_star)


def test_seeding_reproducible_and_independent_of_other_reps():
    a = make_dataset(SETTING, 10, rep_generators(11, 2), "gaussian")
    b = make_dataset(SETTING, 10, rep_generators(11, 2), "gaussian")
    c = make_dataset(SETTING, 10, rep_generators(11, 3), "gaussian")
    np.testing.assert_array_equal(a.X, b.X)
    np.testing.assert_array_equal(a.y, b.y)
    assert not np.allclose(a.S_star, c.S_star)
    # the scheme is SeedSequence(seed).spawn(reps)[rep], whatever reps is
    child = np.random.SeedSequence(11).spawn(5)[2]
    expected = np.random.default_rng(child.spawn(4)[0])
    np.testing.assert_array_equal(rep_generators(11, 2).teacher.standard_normal(3), expected.standard_normal(3))


@pytest.mark.parametrize("call, name", [
    (lambda: sample_teacher(1, 0.5, np.random.default_rng()), "d"),
    (lambda: sample_teacher(10, 0.0, np.random.default_rng()), "kappa_star"),
    (lambda: sample_teacher(10, float("nan"), np.random.default_rng()), "kappa_star"),
    (lambda: sample_teacher(10, 0.5, 3), "rng"),
    (lambda: init_student(10, 0, 1.0, np.random.default_rng()), "m"),
    (lambda: init_student(10, 3, -1.0, np.random.default_rng()), "gamma"),
    (lambda: init_student(10.5, 3, 1.0, np.random.default_rng()), "d"),
    (lambda: goe(0, np.random.default_rng()), "d"),
    (lambda: goe(5, np.random.default_rng(), size=0), "size"),
    (lambda: make_dataset(SETTING, 10, np.random.default_rng(), "fourier"), "features"),
    (lambda: make_dataset(SETTING, 10, np.random.default_rng(), S_star=np.eye(3)), "S_star"),
    (lambda: make_dataset({"alpha": 1}, 10, np.random.default_rng()), "setting"),
    (lambda: rep_generators(-1, 0), "seed"),
    (lambda: rep_generators(0, -1), "rep"),
])
def test_bad_inputs_raise_value_error_naming_the_parameter(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def test_bad_shapes_in_dataset_methods():
    data = make_dataset(SETTING, 6, np.random.default_rng(0))
    with pytest.raises(ValueError, match="S must have shape"):
        data.predict(np.eye(5))
    with pytest.raises(ValueError, match="W must have shape"):
        data.predict(W=np.ones((5, 2)))
    with pytest.raises(ValueError, match="exactly one"):
        data.predict()
    with pytest.raises(ValueError, match="v must have shape"):
        data.weighted_features(np.ones(data.n + 1))


# --- issue 14 item 9: sizes are checked up front, with the estimate in the message ----------------------------------
def test_gaussian_features_at_d3000_fail_early_with_the_memory_estimate():
    """make_dataset at d = 3000, alpha = 0.5 used to die in numpy: MemoryError, Unable to allocate 101 GiB."""
    setting = Setting(alpha=0.5, kappa=0.5, kappa_star=0.3)
    n, m, _ = setting.dims(3000)
    expected = 8 * (n * 3000 + 2 * n * m) / 2**30           # the inputs X plus two n x m products: ~ 152 GiB
    with pytest.raises(ValueError, match=r"features='gaussian' at d=3000.* needs about (\d+) GiB") as error:
        make_dataset(setting, 3000, np.random.default_rng(0))
    stated = float(error.value.args[0].split("needs about ")[1].split(" GiB")[0])
    assert stated == pytest.approx(expected, rel=0.01)
    assert training_memory_bytes(setting, 3000) / 2**30 == pytest.approx(stated, rel=1e-3)


def test_goe_memory_check_and_its_environment_override(monkeypatch):
    setting = Setting(alpha=2.0, kappa=1.0, kappa_star=1.0)
    with pytest.raises(ValueError, match="features='goe' at d=120"):       # ~ 8 * 28800 * 7260 B = 1.6 GiB
        monkeypatch.setenv("QNN_MEMORY_LIMIT_GIB", "1")
        check_training_memory(setting, 120, "goe")
    monkeypatch.setenv("QNN_MEMORY_LIMIT_GIB", "2")
    check_training_memory(setting, 120, "goe")
    monkeypatch.setenv("QNN_MEMORY_LIMIT_GIB", "lots")
    with pytest.raises(ValueError, match="QNN_MEMORY_LIMIT_GIB"):
        check_training_memory(setting, 120, "goe")
    monkeypatch.delenv("QNN_MEMORY_LIMIT_GIB")
    assert memory_limit_bytes() == 6 * 2**30


@pytest.mark.parametrize("call, name", [
    (lambda: make_dataset(Setting(1e308, 0.5, 0.3), 10, np.random.default_rng()), "alpha"),
    (lambda: make_dataset(Setting(1e12, 0.5, 0.3), 10, np.random.default_rng()), "alpha=1e\\+12"),
    (lambda: sample_teacher(10, 1e308, np.random.default_rng()), "kappa_star"),
    (lambda: sample_teacher(10, 1e12, np.random.default_rng()), "kappa_star"),
    (lambda: init_student(10, 10**12, 1.0, np.random.default_rng()), "m"),
    (lambda: goe(1000, np.random.default_rng(), size=10**4), "size"),
])
def test_huge_sizes_raise_value_error_before_allocating(call, name):
    """Issue 14 item 9: Setting(1e308, .5, .3) gave OverflowError; huge arrays gave numpy's MemoryError."""
    with pytest.raises(ValueError, match=name):
        call()
