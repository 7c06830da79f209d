"""Fixed point (Theory: book/theory/fixed_point.md): equations, identities, limits, branches, curves, bad input."""
import math

import numpy as np
import pytest

import qnn
from qnn import Setting, estimator_density, fixed_point, fixed_point_curve, xi_branch
from qnn.longtime import thresholds
from qnn.longtime.fixed_point import FixedPointError
from qnn.longtime.equations import evaluate as _evaluate

SETTINGS = [
    Setting(0.39, 1.0, 0.3, noise=1.0, lam=0.1),
    Setting(0.25, 0.7, 0.5, lam=0.1),
    Setting(0.4, 0.35, 0.3, lam=0.01),
    Setting(0.29, 0.4, 0.3, noise=1.0, lam=0.0002),
    Setting(0.3, 2.0, 1.5, lam=0.05),
    Setting(0.15, 0.5, 0.2, noise=0.25, lam=1.0),
]


@pytest.mark.parametrize("s", SETTINGS)
def test_equations_hold(s):
    fp = fixed_point(s)
    assert fp.converged, fp.reason
    ev = _evaluate(s.kappa, s.kappa_star, fp.xi, np.array([fp.q]))
    mse, dof = float(ev["mse"][0]), float(ev["dof"][0])
    assert fp.xi == pytest.approx((mse + s.noise / 2) / (2 * s.alpha), rel=1e-9)
    assert fp.q * (1 - dof / s.alpha) == pytest.approx(s.lam, rel=1e-9)
    # FIGURES.md forms of the outputs
    assert fp.loss == pytest.approx(s.lam ** 2 * s.alpha * fp.xi / fp.q ** 2, rel=1e-9)
    assert fp.ise == pytest.approx(fp.loss + s.noise / 4 * (1 - 2 * s.lam / fp.q), rel=1e-9, abs=1e-15)
    assert 0 < fp.chi <= 1 and 0 <= fp.rank <= min(1.0, s.kappa) + 1e-12
    assert fp.mse > 0


def test_figures_md_check_value():
    """FIGURES.md: kappa = 1, kappa* = 0.3, Delta = 1, lambda = 0.1, alpha ~ 0.39: MSE 0.86, Loss 0.051,
    Err_in 0.164, rank 0.533 (values quoted to 2-3 digits at an approximate alpha)."""
    fp = fixed_point(Setting(0.39, 1.0, 0.3, noise=1.0, lam=0.1))
    assert fp.mse == pytest.approx(0.86, rel=0.03)
    assert fp.loss == pytest.approx(0.051, rel=0.05)
    assert fp.ise == pytest.approx(0.164, rel=0.02)
    assert fp.rank == pytest.approx(0.533, rel=0.01)


def test_large_lambda_gives_zero_estimator():
    fp = fixed_point(Setting(0.3, 0.5, 0.3, lam=50.0))
    assert fp.mse == pytest.approx(1 + 1 / 0.3, rel=1e-9) and fp.rank == 0 and fp.chi == pytest.approx(1.0)


def test_rank_cap_binds():
    fp = fixed_point(Setting(0.3, 0.35, 0.3, lam=0.01))
    assert fp.rank == pytest.approx(0.35, abs=1e-9) and fp.cut == pytest.approx(fp.omega)


def test_small_lambda_tends_to_lambda_zero_branches():
    # noisy, below alpha_inter: interpolating; above: non-interpolating
    a_int = thresholds.alpha_inter(0.7, 0.5, 0.5)
    for alpha, branch in [(0.2, "interpolating"), (0.5, "non_interpolating")]:
        s = Setting(alpha, 0.7, 0.5, noise=0.5, lam=0.0)
        fp0 = fixed_point(s)
        assert fp0.converged and fp0.branch == branch
        fps = [fixed_point(s.replace(lam=lam)) for lam in (1e-3, 1e-4)]
        assert abs(fps[1].mse - fp0.mse) < abs(fps[0].mse - fp0.mse) + 1e-9
        assert fps[1].mse == pytest.approx(fp0.mse, rel=2e-3)
        assert fps[1].loss == pytest.approx(fp0.loss, abs=2e-3)
    assert a_int == pytest.approx(0.3236, abs=1e-3)


def test_noiseless_lambda_zero_vanishes_above_alpha_pr_plus_only():
    k, ks = 0.3, 0.2
    a_pr = thresholds.alpha_pr_plus(k, ks)
    below = fixed_point(Setting(a_pr - 0.01, k, ks))
    assert below.converged and below.branch == "interpolating" and below.mse > 1e-3
    near = fixed_point(Setting(a_pr - 1e-3, k, ks))
    assert 0 < near.mse < below.mse
    above = fixed_point(Setting(a_pr + 0.01, k, ks))
    assert above.mse == 0.0 and above.branch == "perfect_recovery"
    # the regularised MSE at small lambda is small above the threshold and O(1) below
    assert fixed_point(Setting(a_pr + 0.03, k, ks, lam=1e-4)).mse < 1e-3
    assert fixed_point(Setting(a_pr - 0.03, k, ks, lam=1e-4)).mse > 1e-2


def test_curve_matches_single_points_and_is_monotone_through_the_fold():
    s = Setting(0.3, 0.4, 0.3, noise=1.0, lam=0.001)
    alphas = np.linspace(0.05, 0.6, 8)
    curve = fixed_point_curve(s, alphas)
    assert curve.converged.all()
    for i in (0, 4, 7):
        fp = fixed_point(s.replace(alpha=float(alphas[i])))
        assert curve.mse[i] == pytest.approx(fp.mse, rel=1e-7)
    # double-descent peak near the noisy interpolation threshold
    peak = alphas[np.argmax(curve.mse)]
    assert abs(peak - thresholds.alpha_inter(0.4, 0.3, 1.0)) < 0.06
    approx = fixed_point_curve(s, alphas, exact=False)
    np.testing.assert_allclose(approx.mse, curve.mse, rtol=5e-3)


def test_xi_branch_folds_for_small_lambda():
    s = Setting(0.3, 0.4, 0.3, noise=1.0, lam=0.001)
    br = xi_branch(s, np.geomspace(1, 30, 60))
    # S-shape: xi is not monotone along the curve, alpha is
    assert np.any(np.diff(br.xi) > 0) and np.any(np.diff(br.xi) < 0)
    assert np.all(np.diff(br.alpha) <= 1e-12)
    assert np.all(np.diff(br.q) >= 0)
    no_fold = xi_branch(s.replace(lam=0.1), np.geomspace(1, 30, 30))
    assert np.all(np.diff(no_fold.xi) > 0)


def test_estimator_density_integrates_to_rank():
    s = Setting(0.3, 0.35, 0.3, lam=0.05)
    fp = fixed_point(s)
    ed = estimator_density(fp, np.linspace(-1, 12, 20001))
    mass = np.trapezoid(ed.density, ed.s)
    assert mass == pytest.approx(fp.rank, abs=2e-3)
    assert ed.atom == pytest.approx(1 - fp.rank)
    assert np.all(ed.density[ed.s < ed.lower_edge] == 0)


def test_kappa_min_above_kappa_star_fig3():
    """Fig. 3: kappa = 1, kappa* = 0.3, Delta = 0, small lambda: kappa_min peaks ~0.52 near alpha ~ 0.32 and
    returns towards kappa* at large alpha."""
    s = Setting(0.3, 1.0, 0.3, lam=0.001)
    curve = fixed_point_curve(s, np.linspace(0.05, 0.75, 15), exact=False)
    i = int(np.argmax(curve.rank))
    assert curve.rank[i] == pytest.approx(0.52, abs=0.03)
    assert abs(curve.alpha[i] - 0.32) < 0.04
    assert curve.rank[-1] < 0.36


@pytest.mark.parametrize("call", [
    lambda: fixed_point("not a setting"),
    lambda: fixed_point(Setting(0.3, 0.5, 0.3), tol=-1),
    lambda: fixed_point_curve(Setting(0.3, 0.5, 0.3, lam=0.1), [0.1, -0.2]),
    lambda: fixed_point_curve(Setting(0.3, 0.5, 0.3, lam=0.1), []),
    lambda: xi_branch(Setting(0.3, 0.5, 0.3, lam=0.1), [0.0, 1.0]),
])
def test_bad_input(call):
    with pytest.raises(ValueError):
        call()


def test_tiny_kappa_star_reports_instead_of_crashing():
    """Issue 14, item 8: fixed_point(Setting(.3, .5, 1e-6, lam=.01)) raised "math domain error" (the MSE, a small
    difference of numbers of size 1/kappa*, came out negative). Now: a finite, non-negative MSE below the zero
    estimator's, or converged=False with a reason; kappa* = 1e-3 converges."""
    for ks in (1e-3, 1e-6):
        fp = fixed_point(Setting(0.3, 0.5, ks, lam=0.01))
        assert math.isfinite(fp.mse) and 0 <= fp.mse <= 1 + 1 / ks, (ks, fp)
        assert fp.converged or fp.reason, (ks, fp)
    assert fixed_point(Setting(0.3, 0.5, 1e-3, lam=0.01)).converged


def test_exports():
    assert qnn.fixed_point is fixed_point and qnn.longtime.thresholds.alpha_pr is thresholds.alpha_pr
    assert issubclass(FixedPointError, RuntimeError)


# ------------------------------------------------------------------------------------------------------------------
# Monte-Carlo oracle at finite d (Theory: book/theory/fixed_point.md)
# ------------------------------------------------------------------------------------------------------------------
from qnn.simulation.oracle import oracle_replicas, oracle_state  # noqa: E402


@pytest.mark.parametrize("kappa, ks, xi, q", [(1.0, 0.3, 1.0, 0.4), (0.35, 0.3, 0.2, 0.3), (0.7, 0.5, 2.0, 1.0)])
def test_oracle_state_matches_theory_at_fixed_xi_q(kappa, ks, xi, q):
    """Direct finite-d MSE, divergence and rank of the estimator vs the d = infinity integrals at fixed (xi, q).
    d = 400, 2 samples; measured gaps (d = 200, 400): MSE <= 0.6%, dof <= 0.0015, rank <= 0.004."""
    mc = oracle_state(kappa, ks, xi, q, d=400, n_samples=2, seed=3)
    th = _evaluate(kappa, ks, xi, np.array([q]))
    assert mc.mse == pytest.approx(float(th["mse"][0]), rel=0.015)
    assert mc.dof == pytest.approx(float(th["dof"][0]), abs=0.005)
    assert mc.rank == pytest.approx(float(th["rank"][0]), abs=0.01)


ORACLE_SETTINGS = [
    Setting(0.39, 1.0, 0.3, noise=1.0, lam=0.1), Setting(0.25, 0.7, 0.5, lam=0.1),
    Setting(0.3, 0.35, 0.3, lam=0.05), Setting(0.4, 0.4, 0.3, noise=0.5, lam=0.01),
    Setting(0.3, 2.0, 1.5, lam=1.0), Setting(0.15, 0.5, 0.2, noise=0.25, lam=1.0),
    Setting(0.5, 1.0, 0.5, lam=0.01), Setting(0.2, 1.2, 0.3, noise=0.5, lam=0.3),
    Setting(0.2, 0.7, 0.5, noise=0.5, lam=0.0), Setting(0.5, 0.6, 0.3, lam=0.5),
]


@pytest.mark.slow
def test_fixed_point_vs_oracle_d800():
    """Fixed point vs the Monte-Carlo oracle at d = 800 (6 independent solves each): |relative MSE gap| < 1% on at
    least 8 of the 10 settings (kappa < 1 and >= 1, Delta = 0 and > 0, lambda from 0.01 to 1 and 0+); every gap
    within 1% + 3 standard errors. Measured (seed 2026): largest gap +0.88 +- 0.72%. The capped setting
    kappa = 0.35 converges slowest: +5% at d = 200-400, +0.7 +- 0.6% (seed 2026) / +2.2 +- 0.8% (seed 5) at
    d = 800, +0.2 +- 0.4% at d = 1600 (benchmarks/README.md, section Theory)."""
    within, table = 0, []
    for s in ORACLE_SETTINGS:
        fp = fixed_point(s)
        o = oracle_replicas(s, d=800, n_replicas=6, seed=2026, xi0=fp.xi, q0=fp.q if fp.q > 0 else None)
        assert o.converged
        gap, sem = o.mse / fp.mse - 1, o.mse_sem / fp.mse
        table.append((s, gap, sem))
        within += abs(gap) < 0.01
        assert abs(gap) < 0.01 + 3 * sem, (s, gap, sem)
        assert o.rank == pytest.approx(fp.rank, abs=0.01)
    assert within >= 8, table


# ------------------------------------------------------------------------------------------------------------------
# Trained networks (qnn.train_to_convergence, L-BFGS on the network's loss)
# ------------------------------------------------------------------------------------------------------------------
TRAIN_SETTINGS = {
    "T1": Setting(0.25, 0.7, 0.5, lam=0.1), "T2": Setting(0.39, 1.0, 0.3, noise=1.0, lam=0.1),
    "T3": Setting(0.3, 0.35, 0.3, lam=0.05), "T4": Setting(0.4, 0.4, 0.3, noise=0.5, lam=0.05),
    "T5": Setting(0.3, 2.0, 1.5, lam=1.0), "T6": Setting(0.15, 0.5, 0.2, noise=0.25, lam=1.0),
    "T7": Setting(0.45, 1.0, 0.5, lam=0.02),
}
TRAIN_SEEDS = 5


def _train(s, d, features, reps=TRAIN_SEEDS):
    from qnn import train_to_convergence
    r = train_to_convergence(s, d, reps=reps, seed=11, features=features, method="lbfgs", progress=False,
                             max_iter=20000, n_jobs=2)
    assert r.converged.all(), r.reason
    return r


def _mean_sem(values):
    values = np.asarray(values, dtype=float)
    return float(values.mean()), float(values.std(ddof=1) / math.sqrt(values.size))


def test_training_goe_small_d():
    """Cheap version (default suite): GOE features, d = 30, 5 seeds, two settings; within 3 standard errors or 5%
    (finite-size excess at d = 30 measured +3..+15%, mostly < 2 standard errors)."""
    from qnn import train_to_convergence
    for key in ("T2", "T5"):
        s = TRAIN_SETTINGS[key]
        fp = fixed_point(s)
        r = train_to_convergence(s, 30, reps=TRAIN_SEEDS, seed=11, features="goe", progress=False)
        assert r.converged.all()
        m, sem = _mean_sem(r.mse)
        assert abs(m - fp.mse) < max(3 * sem, 0.05 * fp.mse), (key, m, sem, fp.mse)
        assert np.mean(r.rank) == pytest.approx(_theory_rank(fp, r.rank_cutoff), abs=0.03)


def _theory_rank(fp, rank_cutoff=1e-3):
    """Theory rank counted like the simulator: eigenvalues of S_hat above ``rank_cutoff`` times the largest one
    (the density of S_hat is positive at 0+, so a relative cutoff removes a little mass; e.g. 0.584 -> 0.577)."""
    from qnn.longtime.equations import law as _law
    law = _law(fp.setting.kappa_star, fp.xi)
    return float(law.mass_above(max(fp.cut, fp.q + rank_cutoff * (law.top - fp.q)))[0])


# More seeds where 5 were not enough to resolve Loss_train (re-measured 2026-11-28, seed 11, L-BFGS, all converged;
# relative deviation of the seed mean from the fixed point +- its standard error, z = deviation / sem):
#   GOE T2 d = 60:  5 seeds -6.7 +- 2.1% (z -3.2);  24 seeds -2.0 +- 1.7% (z -1.1)  -> within 3%
#   GOE T6 d = 80:  5 seeds -4.0 +- 1.5% (z -2.7);  24 seeds -1.2 +- 0.8% (z -1.5)  -> within 3%
#   Gaussian T4 fit e_inf: 5 seeds z -2.4; 10: -1.5; 16: -1.9; 24: -0.7 (0.0258 +- 0.0008 vs 0.0265)
#   Gaussian T6 fit e_inf: 5 seeds z +2.4; 10: +1.7; 16: +2.7; 24: +1.2 (0.1085 +- 0.0024 vs 0.1055)
# The 5-seed sem has 4 degrees of freedom (a 2.5-sem cut is a ~7% two-sided tail for Student t_4) and the slow
# tests make ~60 comparisons, so 5-seed misses at -2.6..-3.2 sem were expected. This is more statistical power,
# not a wider tolerance. 24 seeds also resolve the finite-d MSE excess (T2 d = 60/80: +4.0/+3.5%, z +2.4/+3.9;
# T6 d = 60: +11%, z +4.0; it shrinks with d), so the other cases keep 5 seeds (benchmarks/README.md, Theory).
GOE_SEEDS = {("T2", 60): 24, ("T6", 80): 24}
GAUSSIAN_SEEDS = {"T4": 24, "T6": 24}
# Loss_train case still outside the bound with more seeds, kept visible as xfail (finite-d effect, see reason):
KNOWN_LOSS_GAPS_GOE = {
    ("T2", 80): "seed 11: 5 seeds -3.7 +- 1.3% (z -2.8), 24 seeds -4.4 +- 1.3% (z -3.5; their MSE +3.5%, z +3.9); "
                "independent seed 12, 24 seeds: -1.5 +- 1.5%; pooled 48 seeds -3.0 +- 1.0%, i.e. at the 3% bound. "
                "T2 Loss_train with 24 seeds vs d = 40/60/80/100/120: -0.3/-2.0/-4.4/-2.7/-1.7% "
                "(+-2.2/1.7/1.3/1.0/0.9); "
                "the finite-d Monte-Carlo oracle shows the same sign and size (d = 80: -2.7%, d = 400: -0.5 +- 0.25%)",
}


@pytest.mark.slow
@pytest.mark.parametrize("d", [60, 80])
@pytest.mark.parametrize("key", sorted(TRAIN_SETTINGS))
def test_training_goe_features(key, d):
    """GOE features (the paper's simulation model), 5 seeds (24 where listed in GOE_SEEDS): MSE, Loss_train and rank
    within 2.5 standard errors or 3% of the d = infinity fixed point (rank counted with the simulator's cutoff)."""
    s = TRAIN_SETTINGS[key]
    fp = fixed_point(s)
    seeds = GOE_SEEDS.get((key, d), TRAIN_SEEDS)
    r = _train(s, d, "goe", reps=seeds)
    for name, theory in (("mse", fp.mse), ("rank", _theory_rank(fp, r.rank_cutoff)), ("loss", fp.loss)):
        m, sem = _mean_sem(getattr(r, name))
        sem = max(sem, 1.0 / (d * math.sqrt(12 * seeds))) if name == "rank" else sem
        ok = abs(m - theory) <= max(2.5 * sem, 0.03 * abs(theory))
        if not ok and name == "loss" and (key, d) in KNOWN_LOSS_GAPS_GOE:
            pytest.xfail(f"known finite-d Loss_train gap: {KNOWN_LOSS_GAPS_GOE[(key, d)]}")
        assert ok, (key, d, name, m, sem, theory)


@pytest.mark.slow
@pytest.mark.parametrize("key", sorted(TRAIN_SETTINGS))
def test_training_gaussian_inputs_converge_with_d(key):
    """Gaussian-input features (the network itself) at d = 40, 60, 80, 5 seeds (24 where listed in GAUSSIAN_SEEDS):
    the fit e(d) = e_inf + c/d (weighted by the seed standard errors) lands within 2 standard errors of the theory,
    for MSE, rank and Loss_train; and the MSE excess at d = 80 is below the one at d = 40 (or both are within 2
    standard errors)."""
    s = TRAIN_SETTINGS[key]
    fp = fixed_point(s)
    dims = np.array([40, 60, 80])
    seeds = GAUSSIAN_SEEDS.get(key, TRAIN_SEEDS)
    runs = [_train(s, int(d), "gaussian", reps=seeds) for d in dims]
    for name, theory in (("mse", fp.mse), ("rank", _theory_rank(fp, runs[0].rank_cutoff)), ("loss", fp.loss)):
        stats = np.array([_mean_sem(getattr(r, name)) for r in runs])
        if name == "rank":      # rank is a multiple of 1/d: floor the standard error at its resolution
            stats[:, 1] = np.maximum(stats[:, 1], 1.0 / (dims * math.sqrt(12 * seeds)))
        e_inf, e_inf_se = _extrapolate(dims, stats[:, 0], stats[:, 1])
        assert abs(e_inf - theory) <= 2 * e_inf_se, (key, name, stats, e_inf, e_inf_se, theory)
        if name == "mse":
            ex = np.abs(stats[:, 0] - theory)
            assert ex[-1] < ex[0] or ex[0] < 2 * stats[0, 1], (key, stats, theory)


def _extrapolate(dims, means, sems):
    """Weighted least squares of e(d) = e_inf + c/d; returns e_inf and its standard error."""
    sems = np.maximum(sems, 1e-12 * np.maximum(np.abs(means), 1e-300))
    A = np.stack([np.ones_like(dims, dtype=float), 1.0 / dims], axis=1) / sems[:, None]
    b = means / sems
    coef, *_ = np.linalg.lstsq(A, b, rcond=None)
    cov = np.linalg.pinv(A.T @ A)
    return float(coef[0]), float(math.sqrt(cov[0, 0]))


@pytest.mark.parametrize("k, ks", [(0.3, 0.2), (0.4, 0.3), (1.0, 0.3), (0.35, 0.3), (0.7, 0.5)])
def test_interpolating_branch_ends_at_alpha_pr_plus(k, ks):
    """Two independent routes to alpha_PR+: the lambda = 0 interpolating branch of the fixed-point engine at
    xi -> 0 (full free-convolution law) and the closed semicircle-moment formula of qnn.longtime.thresholds."""
    from qnn.longtime.equations import points_at_xi as _points_at_xi
    pts = [p for p in _points_at_xi(k, ks, 1e-8, 0.0, 0.0) if p["branch"] == "interpolating"]
    assert len(pts) == 1
    assert pts[0]["alpha"] == pytest.approx(thresholds.alpha_pr_plus(k, ks), abs=1e-4)


def test_branch_switch_at_noisy_interpolation_threshold():
    """lambda -> 0+ with noise: interpolating (chi = 0) below alpha_inter(Delta), non-interpolating (q = 0, chi > 0)
    above; the MSE peaks at the switch (finite in this limit: ~10.5 at (0.4, 0.3, Delta = 1), with a
    square-root rise on the interpolating side) and the small-lambda curves approach it from below."""
    a = thresholds.alpha_inter(0.4, 0.3, 1.0)
    below = fixed_point(Setting(a - 1e-3, 0.4, 0.3, noise=1.0))
    above = fixed_point(Setting(a + 1e-3, 0.4, 0.3, noise=1.0))
    assert below.converged and below.branch == "interpolating" and below.q > 0 and below.chi == 0
    assert above.converged and above.branch == "non_interpolating" and above.q == 0 and above.chi > 0
    peak = fixed_point(Setting(a + 1e-5, 0.4, 0.3, noise=1.0)).mse
    assert peak > max(below.mse, above.mse)
    small = [fixed_point(Setting(a, 0.4, 0.3, noise=1.0, lam=lam)).mse for lam in (1e-3, 1e-4, 1e-5)]
    assert small[0] < small[1] < small[2] < peak


# ------------------------------------------------------------------------------------------------------------------
# Fast path (default) against the reference path (issue 17): 1e-6 relative on the MSE, same branch and flag
# ------------------------------------------------------------------------------------------------------------------
from theory_grid import GRID  # noqa: E402


def _grid_id(s):
    return f"a{s.alpha}-k{s.kappa}-ks{s.kappa_star}-D{s.noise}-l{s.lam}"


@pytest.mark.parametrize("s", GRID, ids=_grid_id)
def test_fast_path_matches_reference_path(s):
    fast, ref = fixed_point(s), fixed_point(s, method="reference")
    assert (fast.converged, fast.branch) == (ref.converged, ref.branch)
    assert fast.mse == pytest.approx(ref.mse, rel=1e-6, abs=1e-14)
    for name in ("xi", "q", "rank", "loss", "ise"):
        assert getattr(fast, name) == pytest.approx(getattr(ref, name), rel=1e-5, abs=1e-12), name


@pytest.mark.parametrize("s", [Setting(0.3, 0.4, 0.3, noise=1.0, lam=1e-3), Setting(0.3, 0.4, 0.3, noise=1.0),
                               Setting(0.3, 0.35, 0.3, lam=0.05), Setting(0.3, 1.0, 0.3, noise=0.5, lam=1e-4)])
def test_fast_curve_matches_reference_path_through_the_fold(s):
    alphas = np.linspace(0.05, 0.6, 23)          # includes the double-descent peaks of the noisy settings
    fast = fixed_point_curve(s, alphas)
    ref = fixed_point_curve(s, alphas, method="reference")
    assert fast.converged.all() and ref.converged.all()
    assert fast.branch == ref.branch
    np.testing.assert_allclose(fast.mse, ref.mse, rtol=1e-6)
    np.testing.assert_allclose(fast.xi, ref.xi, rtol=1e-5)


def test_method_is_checked():
    with pytest.raises(ValueError, match="method"):
        fixed_point(Setting(0.3, 0.5, 0.3, lam=0.1), method="quick")
    with pytest.raises(ValueError, match="method"):
        fixed_point_curve(Setting(0.3, 0.5, 0.3, lam=0.1), [0.2], method="quick")
