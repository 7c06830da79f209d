"""Spectral laws (Theory: book/theory/spectral_laws.md): exact moments, histograms of sampled matrices, edges,
quantiles."""
import math

import numpy as np
import pytest
from scipy.integrate import quad

from qnn.spectra import laws as sp

CASES = [(0.3, 0.01), (0.3, 0.5), (0.5, 1e-4), (1.0, 0.01), (2.0, 0.3), (0.3, 1e-8), (0.3, 100.0), (0.7, 2.0)]


def sample_eigenvalues(kappa_star, xi, d, rng):
    m = max(1, round(kappa_star * d))
    w = rng.standard_normal((d, m))
    h = rng.standard_normal((d, d))
    y = w @ w.T / m + math.sqrt(xi) * (h + h.T) / math.sqrt(2 * d)
    return np.linalg.eigvalsh(y)


@pytest.mark.parametrize("ks, xi", CASES)
def test_exact_moments(ks, xi):
    law = sp.spectral_law(ks, xi)
    mass, mean, second, h_mean, hx = law.moments()
    assert law.converged
    assert mass == pytest.approx(1.0, abs=1e-9)
    assert mean == pytest.approx(1.0, abs=1e-9)
    assert second == pytest.approx(1 + 1 / ks + xi, rel=1e-9)      # tr S*^2/d + xi
    assert h_mean == pytest.approx(0.0, abs=1e-8)                   # int rho H = 0 (antisymmetric kernel)
    assert hx == pytest.approx(0.5, abs=1e-9)                       # int rho H x = 1/2


def test_number_of_intervals():
    assert len(sp.support(0.3, 0.01)) == 2        # the atom at 0 becomes a separate small semicircle
    assert len(sp.support(0.3, 0.5)) == 1
    assert len(sp.support(2.0, 0.01)) == 1
    lo, hi = sp.support(0.3, 1e-8)[0]
    assert lo == pytest.approx(-2 * math.sqrt(1e-8 * 0.7), rel=1e-3) and hi == pytest.approx(-lo, rel=1e-3)


def test_density_vanishes_outside_and_is_positive_inside():
    for ks, xi in CASES:
        ivs = sp.support(ks, xi)
        for lo, hi in ivs:
            x = np.linspace(lo, hi, 50)[1:-1]
            assert np.all(sp.density(x, ks, xi) > 0)
        assert sp.density(ivs[0][0] - 1e-3, ks, xi) == 0 and sp.density(ivs[-1][1] + 1e-3, ks, xi) == 0


def test_small_xi_tends_to_teacher_law():
    ks = 0.4
    x = np.linspace(0.5, 8, 30)
    np.testing.assert_allclose(sp.density(x, ks, 1e-9), sp.teacher_density(x, ks), atol=2e-4)
    lo, hi = sp.teacher_support(ks)
    assert quad(lambda t: sp.teacher_density(t, ks), lo, hi, limit=200)[0] == pytest.approx(ks, abs=1e-6)


def test_hilbert_transform_against_quadrature():
    ks, xi = 0.3, 0.5
    law = sp.spectral_law(ks, xi)
    lo, hi = law.intervals[0]
    for x in (-2.0, -0.5, 1.0, 3.0, 9.0):
        ref = quad(lambda y: float(sp.density(y, ks, xi)), lo, hi, weight="cauchy", wvar=x, limit=400)[0]
        # quad's cauchy weight integrates f(y)/(y - x)
        assert float(sp.hilbert_transform(x, ks, xi)) == pytest.approx(-ref, abs=1e-6)


def test_stieltjes_is_continuous_along_the_axis():
    """A wrong root choice shows as a jump that does not shrink under grid refinement; square-root edges give
    jumps ~ sqrt(h), so refining the grid 16x must shrink the largest jump ~4x."""
    ks, xi = 0.3, 0.02
    jumps = []
    for n in (4001, 64001):
        x = np.linspace(-1, 10, n)
        g = sp.stieltjes(x, ks, xi)
        assert np.all(g.imag <= 0)
        jumps.append(np.max(np.abs(np.diff(g))))
    assert jumps[1] < jumps[0] / 3


@pytest.mark.parametrize("ks, xi, mass", [(0.3, 0.5, 0.4), (0.3, 0.01, 0.35), (0.3, 0.01, 0.8), (1.0, 0.2, 0.1)])
def test_upper_quantile(ks, xi, mass):
    law = sp.spectral_law(ks, xi)
    om = law.upper_quantile(mass)
    top = law.top
    ref = quad(lambda y: float(sp.density(y, ks, xi)), om, top, limit=400)[0]
    assert ref == pytest.approx(mass, abs=1e-7)
    assert law.upper_quantile(1.0) == -math.inf


def _ks_distance(eigs, law):
    """Kolmogorov distance between the empirical distribution and rho_xi."""
    e = np.sort(eigs)
    cdf = 1.0 - law.mass_above(e)
    emp_hi = np.arange(1, e.size + 1) / e.size
    emp_lo = np.arange(0, e.size) / e.size
    return float(max(np.max(np.abs(cdf - emp_hi)), np.max(np.abs(cdf - emp_lo))))


def test_histogram_small_d():
    """d = 300 (cheap); the Kolmogorov distance of a sampled spectrum is O(1/d) for these ensembles."""
    rng = np.random.default_rng(1)
    for ks, xi in [(0.3, 0.05), (0.5, 0.5)]:
        law = sp.spectral_law(ks, xi)
        dist = _ks_distance(sample_eigenvalues(ks, xi, 300, rng), law)
        assert dist < 0.012, dist


@pytest.mark.slow
def test_histogram_d1000_and_finite_size_trend():
    """Sampled S* + sqrt(xi) Z at d = 250, 500, 1000: the Kolmogorov distance shrinks ~1/d and is < 0.004 at
    d = 1000 (2 samples averaged); the histogram (40 bins) matches the density to 5% of its maximum."""
    rng = np.random.default_rng(2)
    for ks, xi in [(0.3, 0.01), (0.3, 0.5), (1.0, 0.1), (0.5, 2.0)]:
        law = sp.spectral_law(ks, xi)
        dists = {}
        for d in (250, 500, 1000):
            dists[d] = np.mean([_ks_distance(sample_eigenvalues(ks, xi, d, rng), law) for _ in range(2)])
        assert dists[1000] < 0.004, (ks, xi, dists)
        assert dists[1000] < dists[250], (ks, xi, dists)
        eigs = np.concatenate([sample_eigenvalues(ks, xi, 1000, rng) for _ in range(2)])
        hist, edges = np.histogram(eigs, bins=40, density=True)
        # bin averages of the density from the tail integrals
        mass = law.mass_above(edges[:-1]) - law.mass_above(edges[1:])
        avg = mass / np.diff(edges)
        assert np.max(np.abs(hist - avg)) < 0.05 * np.max(avg) + 0.01, (ks, xi)


@pytest.mark.parametrize("call", [lambda: sp.spectral_law(0.0, 1.0), lambda: sp.spectral_law(0.3, -1.0),
                                  lambda: sp.density(1.0, 0.3, float("nan")), lambda: sp.support(-1, 1),
                                  lambda: sp.spectral_law(0.3, 1.0).upper_quantile(0.0)])
def test_bad_input(call):
    with pytest.raises(ValueError):
        call()


def test_upper_quantile_in_the_spectral_gap():
    """kappa = kappa*: the quantile falls in the gap between the teacher bulk and the noise around 0 (it used to
    fail to bracket); any point of the gap is correct, the returned one is an edge of the gap."""
    for xi in (1e-5, 1e-3, 6e-3):
        law = sp.spectral_law(0.3, xi)
        (lo0, hi0), (lo1, hi1) = law.intervals
        om = law.upper_quantile(0.3)
        assert hi0 - 1e-9 <= om <= lo1 + 1e-9
        assert float(law.mass_above(om)[0]) == pytest.approx(0.3, abs=1e-12)
