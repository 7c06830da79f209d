"""Thresholds (Theory: book/theory/thresholds.md): reference values, identities, limits, bad input."""
import math

import numpy as np
import pytest

from qnn.longtime import thresholds as th

KS = 0.3


@pytest.mark.parametrize("kappa, ref", [(0.35, 0.2989), (0.40, 0.3176), (0.50, 0.3270), (0.65, 0.3272),
                                        (1.0, 0.3272)])
def test_alpha_pr_plus_reference(kappa, ref):
    assert th.alpha_pr_plus(kappa, KS) == pytest.approx(ref, abs=1e-3 / 2 + 5e-5)


@pytest.mark.parametrize("kappa, ref", [(0.35, 0.2888), (0.40, 0.3200), (0.50, 0.3694), (0.65, 0.3775),
                                        (0.9, 0.3775)])
def test_alpha_pr_reference(kappa, ref):
    assert th.alpha_pr(kappa, KS) == pytest.approx(ref, abs=1e-3 / 2 + 5e-5)


@pytest.mark.parametrize("ks, ref", [(0.1, 0.1576), (0.2, 0.2556), (0.3, 0.3272), (0.5, 0.4222), (0.7, 0.4746)])
def test_convex_threshold_reference(ks, ref):
    assert th.alpha_pr_plus(1.0, ks) == pytest.approx(ref, abs=1e-3 / 2 + 5e-5)
    assert th.alpha_pr_plus(5.0, ks) == pytest.approx(th.alpha_pr_plus(1.0, ks), abs=1e-12)


def test_figure_references():
    assert th.alpha_pr_plus(0.3, 0.2) == pytest.approx(0.2469, abs=1e-3 / 2 + 5e-5)
    assert th.alpha_pr(0.7, 0.5) == pytest.approx(0.4371, abs=1e-3 / 2 + 5e-5)
    assert th.alpha_inter(0.9, 0.5) == pytest.approx(0.4375, abs=1e-12)
    assert th.alpha_pr_plus(1.0, 0.5) == pytest.approx(0.4222, abs=1e-3 / 2 + 5e-5)
    assert th.kappa_saturation(0.3) == pytest.approx(0.54, abs=0.01)


@pytest.mark.parametrize("ks", [0.05, 0.2, 0.3, 0.5, 0.8])
def test_alpha_pr_plus_at_kappa_star_is_parameter_count(ks):
    assert th.alpha_pr_plus(ks, ks) == pytest.approx(ks - ks ** 2 / 2, abs=1e-12)
    # continuity from above
    assert th.alpha_pr_plus(ks * (1 + 1e-6), ks) == pytest.approx(ks - ks ** 2 / 2, abs=1e-4)
    assert th._alpha_inter_noiseless(ks, ks) == pytest.approx(ks - ks ** 2 / 2, abs=1e-9)


@pytest.mark.parametrize("ks", [0.1, 0.3, 0.5])
def test_monotone_and_ordered(ks):
    kappas = np.linspace(ks, 1.1, 60)
    plus = np.array([th.alpha_pr_plus(k, ks) for k in kappas])
    inter = np.array([th.alpha_inter(k, ks) for k in kappas])
    pr = np.array([th.alpha_pr(k, ks) for k in kappas])
    assert np.all(np.diff(plus) >= -1e-12) and np.all(np.diff(inter) >= -1e-12)
    assert np.all(pr <= inter + 1e-12)
    assert np.all(plus >= th.alpha_bo(ks) - 1e-12) and np.all(inter <= 0.5)


@pytest.mark.parametrize("kappa", [0.32, 0.35, 0.4, 0.5, 0.6, 0.64])
def test_inter_closed_form_equals_moment_form(kappa):
    om = th.omega0(kappa, KS)
    moment_form = KS - KS ** 2 / 2 + (1 - KS) ** 2 / 2 * float(th.semicircle_tail_moment(2, max(0.0, om)))
    assert th.alpha_inter(kappa, KS) == pytest.approx(moment_form, abs=1e-12)


def test_plateau_formula():
    for ks in (0.1, 0.3, 0.6):
        assert th.alpha_inter(0.99, ks) == pytest.approx(0.25 + ks / 2 - ks ** 2 / 4, abs=1e-14)


def test_tail_moments_against_quadrature():
    from scipy.integrate import quad
    for x in (-1.7, -0.3, 0.0, 0.8, 1.9):
        for k in (0, 1, 2):
            ref = quad(lambda t, k=k: t ** k * math.sqrt(4 - t * t) / (2 * math.pi), x, 2)[0]
            assert float(th.semicircle_tail_moment(k, x)) == pytest.approx(ref, abs=1e-12)


def test_impossible_recovery_is_inf():
    assert th.alpha_pr_plus(0.2, 0.3) == math.inf
    assert th.alpha_pr(0.2, 0.3) == math.inf
    assert th.alpha_inter(0.2, 0.3) == math.inf
    assert th.alpha_bo(1.5) == 0.5 and th.alpha_pr_plus(1.2, 1.5) == 0.5


@pytest.mark.parametrize("args, ref", [((0.4, 0.3, 1.0), 0.2875), ((0.7, 0.5, 0.5), 0.3236),
                                       ((0.7, 0.3, 1.0), 0.2955), ((0.5, 0.3, 1.0), 0.2950),
                                       ((0.35, 0.3, 1.0), 0.2782)])
def test_noisy_interpolation_threshold(args, ref):
    assert th.alpha_inter(*args) == pytest.approx(ref, abs=1e-3 / 2 + 5e-5)


@pytest.mark.parametrize("call", [lambda: th.alpha_pr_plus(-1, 0.3), lambda: th.alpha_pr(0.5, 0.0),
                                  lambda: th.alpha_inter(0.5, 0.3, -1.0), lambda: th.alpha_bo(float("nan")),
                                  lambda: th.semicircle_tail_moment(3, 0.0)])
def test_bad_input(call):
    with pytest.raises(ValueError):
        call()


def test_noisy_alpha_inter_tends_to_noiseless_or_refuses():
    """Issue 14, item 1: alpha_inter(0.5, 0.3, noise=1e-12) returned 0.5356 and noise=1e-14 -172221 (the MSE lost
    to cancellation against 1 + 1/kappa* at xi ~ noise). Now every tiny noise gives a value within 1e-3 of the
    noiseless 0.36938 (the threshold moves continuously: 0.36933 at 1e-10) or a ValueError naming ``noise``."""
    noiseless = th.alpha_inter(0.5, 0.3)
    for noise in (1e-10, 1e-11, 1e-12, 1e-13, 1e-14, 1e-15, 1e-20):
        try:
            value = th.alpha_inter(0.5, 0.3, noise=noise)
        except ValueError as exc:
            assert "noise" in str(exc)
            continue
        assert abs(value - noiseless) < 1e-3, (noise, value)
    assert th.alpha_inter(0.5, 0.3, noise=1e-10) == pytest.approx(noiseless, abs=1e-3)
