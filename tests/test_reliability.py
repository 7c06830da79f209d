"""Property test (issue 14): every public function of qnn, fed extreme but valid settings, either returns finite
numbers, or says it did not converge (``converged=False`` with a non-empty ``reason``), or raises ``ValueError`` --
within a time limit. Nothing may come back silently NaN/inf, raise another exception, or hang.

Design (fixed before running it): the inputs are drawn by a seeded generator (one stream per function, so adding a
function does not change the others' draws) from pools of extreme values of every parameter (1e-6 .. 1e6 where
the range allows, 0 where it is allowed). Problem sizes are kept small (d <= 8, n <= 400, short times) so that the
whole file runs in well under 60 s on a loaded 2-core machine; each call runs in a forked child process with
single-threaded BLAS, killed after ``CALL_LIMIT_S`` and limited to ``CHILD_MEMORY_BYTES`` more address space
(closed-form functions run in process). What counts as "finite" follows the result docstrings:
``FixedPoint.chi``/``dof`` are NaN on the ``"perfect_recovery"`` branch and ``FixedPoint.omega`` is ``-inf`` when
``kappa >= 1``; the thresholds are ``inf`` when recovery is impossible (documented values, not failures). A failure
message lists every offending call with its arguments. Violations in modules owned by other work streams are listed
in ``KNOWN_VIOLATIONS`` (exact seeded labels): they turn the test into a visible xfail, any other violation fails it.
"""
from __future__ import annotations

import dataclasses
import math
import multiprocessing
import resource
import time

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

import qnn
from qnn import Setting
from qnn.spectra import laws as spectral
from qnn.longtime import thresholds
from qnn.longtime.fixed_point import FixedPoint

CALL_LIMIT_S = 10.0     # per call; the slowest passing call took 3 s on the loaded machine, typical ones < 0.3 s
KNOWN_LIMIT_S = 1.0     # for the known violations below (three of them hang): enough to see whether they are fixed
CHILD_MEMORY_BYTES = 2 * 2**30   # address space a call may add (the data-size checks stop far below it)

ALPHAS = (1e-6, 1e-3, 0.05, 0.3, 0.5, 1.0, 3.0, 50.0, 1e3, 1e6)
KAPPAS = (1e-6, 1e-3, 0.05, 0.3, 0.5, 1.0, 2.0, 50.0, 1e6)
NOISES = (0.0, 1e-15, 1e-8, 0.1, 1.0, 50.0, 1e6)
LAMS = (0.0, 1e-12, 1e-4, 0.01, 0.5, 10.0, 1e6)
GAMMAS = (0.0, 1e-12, 1e-3, 1.0, 30.0)


class PropertyViolation(Exception):
    """A finite answer outside the function's documented range (e.g. a negative sample-ratio threshold)."""


def positive(value: float) -> float:
    """Sample-ratio thresholds are > 0 (or the documented inf)."""
    if not value > 0:
        raise PropertyViolation(f"returned {value!r}, but a sample-ratio threshold must be > 0")
    return value


def pick(rng: np.random.Generator, pool):
    return pool[int(rng.integers(len(pool)))]


def random_setting(rng: np.random.Generator, **fixed) -> Setting:
    values = dict(alpha=pick(rng, ALPHAS), kappa=pick(rng, KAPPAS), kappa_star=pick(rng, KAPPAS),
                  noise=pick(rng, NOISES), lam=pick(rng, LAMS), gamma=pick(rng, GAMMAS))
    values.update(fixed)
    return Setting(**values)


# --- what an acceptable answer is ---------------------------------------------------------------------------------
def _documented_nonfinite(obj, name: str) -> bool:
    if isinstance(obj, FixedPoint):
        if name in ("chi", "dof") and obj.branch == "perfect_recovery":
            return True
        if name == "omega" and obj.setting.kappa >= 1:
            return True
    return False


def nonfinite_fields(obj, prefix: str = "", mask=None) -> list[str]:
    """Names of the numeric fields of ``obj`` (recursively through dataclasses, tuples) holding NaN or inf.

    ``mask``: for per-repetition results, a boolean array of entries that must be finite (the converged ones)."""
    bad = []
    if dataclasses.is_dataclass(obj) and not isinstance(obj, Setting):
        for field in dataclasses.fields(obj):
            if field.name.startswith("_"):
                continue
            value = getattr(obj, field.name)
            if _documented_nonfinite(obj, field.name):
                continue
            bad += nonfinite_fields(value, f"{prefix}{field.name}.", mask)
        return bad
    if isinstance(obj, (tuple, list)):
        for i, value in enumerate(obj):
            bad += nonfinite_fields(value, f"{prefix}{i}.", mask)
        return bad
    if isinstance(obj, (bool, str, type(None), Setting)):
        return bad
    array = np.asarray(obj)
    if array.dtype.kind in "fc":
        finite = np.isfinite(array)
        if mask is not None and array.ndim >= 1 and array.shape[0] == mask.shape[0]:
            finite = finite | ~mask.reshape((-1,) + (1,) * (array.ndim - 1))
        if not finite.all():
            bad.append(prefix.rstrip(".") or "value")
    return bad


def judge(result, documented=None) -> str | None:
    """None if ``result`` is acceptable, else what is wrong with it. ``documented``: a value the function's
    docstring gives for this input (e.g. ``inf`` for an impossible threshold), accepted as is."""
    if documented is not None and np.array_equal(np.asarray(result), np.asarray(documented)):
        return None
    converged = getattr(result, "converged", None)
    reason = getattr(result, "reason", None)
    mask = None
    if converged is not None:
        flags = np.atleast_1d(np.asarray(converged, dtype=bool))
        if reason is not None:
            reasons = (reason,) if isinstance(reason, str) else tuple(reason)
            if not flags.all():
                missing = [i for i, (ok, why) in enumerate(zip(flags, reasons if len(reasons) == flags.size
                                                               else reasons * flags.size)) if not ok and not why]
                if missing:
                    return f"converged=False without a reason at {missing}"
            if flags.size > 1:
                mask = flags
            elif not flags[0]:
                return None         # one unconverged result with its reason: its numbers may be anything
        elif not flags.all():
            mask = flags            # no reason field (e.g. curves): only the converged entries must be finite
    bad = nonfinite_fields(result, mask=mask)
    if bad:
        return f"non-finite {', '.join(bad)} without converged=False and a reason"
    return None


def _outcome(call, documented) -> tuple[str, str]:
    """Run one case (in the child process): ``(kind, message)``, kind in finite / not converged / ValueError / bad."""
    try:
        result = call()
    except ValueError as error:
        return ("ValueError", "") if str(error) else ("bad", "ValueError without a message")
    except PropertyViolation as error:
        return "bad", str(error)
    except Exception as error:     # any other exception is a finding
        return "bad", f"{type(error).__name__}: {str(error)[:300]}"
    problem = judge(result, documented)
    if problem:
        return "bad", problem
    if np.any(~np.atleast_1d(np.asarray(getattr(result, "converged", True), dtype=bool))):
        return "not converged", ""
    return "finite", ""


def _child(connection, call, documented) -> None:
    # a memory cap turns a runaway allocation into a MemoryError (a finding) instead of swapping the machine
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    with open("/proc/self/statm") as statm:
        current = int(statm.read().split()[0]) * resource.getpagesize()
    cap = current + CHILD_MEMORY_BYTES
    resource.setrlimit(resource.RLIMIT_AS, (cap if hard == resource.RLIM_INFINITY else min(cap, hard), hard))
    connection.send(_outcome(call, documented))
    connection.close()


def _isolated(context, call, documented, limit: float) -> tuple[str, str]:
    """One case in a forked child, killed after ``limit`` seconds (a signal cannot interrupt a long numpy call)."""
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=_child, args=(sender, call, documented), daemon=True)
    child.start()
    sender.close()
    if receiver.poll(limit):
        try:
            outcome = receiver.recv()
        except EOFError:
            child.join(5)
            outcome = "bad", f"the call crashed its process (exit code {child.exitcode})"
    else:
        child.kill()
        outcome = "bad", f"no answer within {limit} s"
    child.join(5)
    receiver.close()
    return outcome


def run_cases(cases, isolate: bool = True) -> tuple[list[str], dict]:
    """Run ``(label, call[, documented])`` cases; return the failures and a tally of outcomes.

    ``isolate``: each case in its own forked child (time limit, memory cap); else in this process (for the cheap
    closed-form functions, whose calls take milliseconds; their time is still checked against the limit)."""
    context = multiprocessing.get_context("fork")
    failures, tally = [], {"finite": 0, "not converged": 0, "ValueError": 0, "slowest_s": 0.0}
    with threadpool_limits(1):
        for case in cases:
            label, call, documented = case if len(case) == 3 else (*case, None)
            limit = KNOWN_LIMIT_S if label in KNOWN_VIOLATIONS else CALL_LIMIT_S
            start = time.perf_counter()
            kind, message = _isolated(context, call, documented, limit) if isolate else _outcome(call, documented)
            elapsed = time.perf_counter() - start
            if kind != "bad" and elapsed > limit:
                kind, message = "bad", f"answered after {elapsed:.1f} s > {limit} s"
            if kind == "bad":
                failures.append(f"{label} ({elapsed:.1f} s): {message}")
            else:
                tally[kind] += 1
                tally["slowest_s"] = round(max(tally["slowest_s"], elapsed), 2)
    return failures, tally


#: Violations found by this test in modules owned by other work streams (issue 14), reported to them rather than
#: patched here: exact case labels (the draws are seeded) -> owner. They make the test xfail, visibly, while
#: any other violation fails it; once fixed they simply pass.
KNOWN_VIOLATIONS: dict[str, str] = {
    "estimator_density(Setting(alpha=1e-06, kappa=1e-06, kappa_star=2.0, noise=0.1, lam=0.0001, gamma=1.0))":
        "FixedPointError (a RuntimeError) 'solver failed: math range error' (qnn.longtime.fixed_point)",
}


def check(cases, isolate: bool = True) -> None:
    failures, tally = run_cases(cases, isolate)
    print(tally)
    unknown = [f for f in failures if not any(f.startswith(label + " (") for label in KNOWN_VIOLATIONS)]
    assert not unknown, f"{len(unknown)} calls violate the property:\n" + "\n".join(unknown)
    if failures:
        pytest.xfail(f"{len(failures)} known violations (issue 14, reported to their owners):\n" + "\n".join(failures))


# --- the cases, one generator per public function ---------------------------------------------------------------------
def _sim_setting(rng, d, **fixed):
    """A random setting whose n = alpha d^2 stays <= 400 (the run time grows with n, not the property)."""
    setting = random_setting(rng, **fixed)
    while setting.dims(d)[0] > 400 or setting.dims(d)[1] > 64 or setting.dims(d)[2] > 64:
        setting = random_setting(rng, **fixed)
    return setting


def simulate_cases(rng, count=24):
    for _ in range(count):
        d = int(pick(rng, (2, 3, 5, 8)))
        setting = _sim_setting(rng, d)
        # the explicit integrator's step is ~2.5 / max(2 lam, 1): keep every run under ~2000 steps (time limit)
        t_max = float(pick(rng, tuple(t for t in (1e-6, 0.1, 2.0, 20.0) if t * max(2 * setting.lam, 1) <= 5e3)))
        eta = pick(rng, (None, None, t_max / 4, t_max / 100, t_max))
        features = pick(rng, ("gaussian", "goe"))
        kwargs = dict(eta=eta, features=features, n_records=4, progress=False, seed=int(rng.integers(100)),
                      population_control=bool(rng.integers(2)))
        yield (f"simulate({setting}, d={d}, t_max={t_max}, {kwargs})",
               lambda s=setting, d=d, t=t_max, k=kwargs: qnn.simulate(s, d, t, **k))


def train_cases(rng, count=16):
    for _ in range(count):
        d = int(pick(rng, (2, 3, 5, 8)))
        setting = _sim_setting(rng, d, lam=pick(rng, (1e-12, 1e-4, 0.01, 0.5, 10.0, 1e6)))
        kwargs = dict(method=pick(rng, ("lbfgs", "convex")), max_iter=int(pick(rng, (1, 50, 2000))),
                      reps=int(pick(rng, (1, 2))), progress=False)
        yield (f"train_to_convergence({setting}, d={d}, {kwargs})",
               lambda s=setting, d=d, k=kwargs: qnn.train_to_convergence(s, d, **k))


def fixed_point_cases(rng, count=25):
    for _ in range(count):
        setting = random_setting(rng)
        yield f"fixed_point({setting})", lambda s=setting: qnn.fixed_point(s)


def curve_cases(rng, count=3):
    for _ in range(count):
        setting = random_setting(rng)
        alphas = np.sort(rng.choice(np.array(ALPHAS), size=3, replace=False))
        yield (f"fixed_point_curve({setting}, {alphas.tolist()}, exact=False)",
               lambda s=setting, a=alphas: qnn.fixed_point_curve(s, a, exact=False, n_xi=8))
    for _ in range(count):
        setting = random_setting(rng)
        xis = np.sort(rng.choice(np.array([1e-12, 1e-6, 0.01, 1.0, 30.0, 1e6]), size=3, replace=False))
        yield (f"xi_branch({setting}, {xis.tolist()}, refine=False)",
               lambda s=setting, x=xis: qnn.xi_branch(s, x, refine=False))


def density_cases(rng, count=4):
    for _ in range(count):
        setting = random_setting(rng)
        s = np.array([-1.0, 0.0, 1e-9, 0.5, 3.0, 1e6])
        yield f"estimator_density({setting})", lambda st=setting, s=s: qnn.estimator_density(st, s)


def dmft_cases(rng, count=3):
    for _ in range(count):
        setting = random_setting(rng, kappa=pick(rng, (0.05, 0.5, 2.0)), kappa_star=pick(rng, (0.05, 0.5, 2.0)),
                                 gamma=pick(rng, (1e-6, 1.0, 5.0)))
        t_max = float(pick(rng, (0.05, 0.5)))
        kwargs = dict(d_eff=4, samples=2, control_samples=0, n_starts=2, max_iter=2, progress=False)
        yield (f"dmft({setting}, {t_max}, {kwargs})",
               lambda s=setting, t=t_max, k=kwargs: qnn.dmft(s, t, **k))


def oja_cases(rng, count=4):
    for _ in range(count):
        d = int(pick(rng, (2, 5, 12)))
        kappa = float(pick(rng, (1e-6, 0.1, 0.5, 1.0)))
        gamma = float(pick(rng, (1e-12, 1e-3, 1.0, 1e3)))
        t_max = float(pick(rng, (0.1, 10.0, 1e4)))
        yield (f"oja_flow(d={d}, kappa={kappa}, t_max={t_max}, gamma={gamma})",
               lambda d=d, k=kappa, t=t_max, g=gamma: qnn.oja_flow(d, k, t, gamma=g, t_first=min(0.05, t / 2),
                                                                 n_records=5))
    for kappa in (1e-6, 0.3, 0.5, 1.0, 1e6):
        yield f"oja_power_law({kappa})", lambda k=kappa: qnn.oja_power_law(k)


def threshold_estimate_cases(rng, count=6):
    for _ in range(count):
        alphas = np.sort(rng.choice(np.array(ALPHAS), size=5, replace=False))
        mse = np.exp(rng.normal(size=(5, 2)) * pick(rng, (1e-12, 1.0, 300.0)))
        yield f"estimate_threshold({alphas.tolist()}, {mse.tolist()})", \
            lambda a=alphas, m=mse: qnn.estimate_threshold(a, m)


SPECTRAL_X = np.array([-1e6, -2.0, 0.0, 1e-12, 0.5, 4.0, 1e6])
XIS = (0.0, 1e-12, 1e-6, 0.01, 1.0, 30.0, 1e6)


def spectral_cases(rng, count=6):
    for _ in range(count):
        ks, xi = float(pick(rng, KAPPAS)), float(pick(rng, XIS))
        yield f"spectral_law({ks}, {xi})", lambda k=ks, z=xi: spectral.spectral_law(k, z)
        yield f"stieltjes(x, {ks}, {xi})", lambda k=ks, z=xi: spectral.stieltjes(SPECTRAL_X, k, z)
        yield f"density(x, {ks}, {xi})", lambda k=ks, z=xi: spectral.density(SPECTRAL_X, k, z)
        yield f"hilbert_transform(x, {ks}, {xi})", lambda k=ks, z=xi: spectral.hilbert_transform(SPECTRAL_X, k, z)
        yield f"support({ks}, {xi})", lambda k=ks, z=xi: spectral.support(k, z)
        mass = float(pick(rng, (1e-9, 0.3, 1.0)))
        yield (f"upper_quantile({mass}, {ks}, {xi})", lambda k=ks, z=xi, w=mass: spectral.upper_quantile(w, k, z),
               -math.inf if mass >= 1 else None)                          # documented: -inf for mass >= 1
        yield f"teacher_density(x, {ks})", lambda k=ks: spectral.teacher_density(SPECTRAL_X, k)
        yield f"teacher_atom({ks})", lambda k=ks: spectral.teacher_atom(k)
        yield f"teacher_support({ks})", lambda k=ks: spectral.teacher_support(k)
    yield "semicircle_density(x)", lambda: spectral.semicircle_density(SPECTRAL_X)


def threshold_cases(rng, count=6):
    for _ in range(count):
        kappa, ks = float(pick(rng, KAPPAS)), float(pick(rng, KAPPAS))
        noise = float(pick(rng, NOISES))
        yield f"alpha_bo({ks})", lambda k=ks: positive(thresholds.alpha_bo(k))
        # documented: the recovery thresholds are inf when min(kappa, 1) < min(kappa*, 1) (recovery impossible)
        impossible = math.inf if min(kappa, 1) < min(ks, 1) else None
        yield (f"alpha_pr_plus({kappa}, {ks})", lambda a=kappa, k=ks: positive(thresholds.alpha_pr_plus(a, k)),
               impossible)
        yield f"alpha_pr({kappa}, {ks})", lambda a=kappa, k=ks: positive(thresholds.alpha_pr(a, k)), impossible
        yield (f"alpha_inter({kappa}, {ks}, {noise})",
               lambda a=kappa, k=ks, z=noise: positive(thresholds.alpha_inter(a, k, z)), impossible)
        yield f"parameter_count({kappa})", lambda a=kappa: thresholds.parameter_count(a)
        yield f"omega0({kappa}, {ks})", lambda a=kappa, k=ks: thresholds.omega0(a, k)
        yield f"kappa_saturation({ks})", lambda k=ks: thresholds.kappa_saturation(k)
        order = int(pick(rng, (0, 1, 2, 3)))
        yield f"semicircle_tail_moment({order}, x)", lambda o=order: thresholds.semicircle_tail_moment(o, SPECTRAL_X)


def data_cases(rng, count=6):
    for _ in range(count):
        d = int(pick(rng, (2, 3, 8)))
        setting = _sim_setting(rng, d)
        features = pick(rng, ("gaussian", "goe"))
        yield (f"make_dataset({setting}, {d}, {features})",
               lambda s=setting, d=d, f=features: qnn.simulation.data.make_dataset(s, d, np.random.default_rng(0), f))
        yield (f"Setting.dims/teacher_second_moment({setting})",
               lambda s=setting, d=d: (s.dims(d), s.teacher_second_moment))


def oracle_cases(rng, count=4):
    from qnn.simulation import oracle

    # the Monte-Carlo oracle draws d x (kappa* d) teachers (wide ones through their Wishart law): kappa* = 1e6 is
    # tried once (it used to hang), not drawn at random
    moderate = tuple(k for k in KAPPAS if k <= 50)
    for _ in range(count):
        kappa, ks = float(pick(rng, KAPPAS)), float(pick(rng, moderate))
        xi, q = float(pick(rng, XIS[1:])), float(pick(rng, (0.0, 1e-9, 0.5, 3.0, 1e6)))
        n_samples = int(pick(rng, (1, 2)))
        yield (f"oracle_state({kappa}, {ks}, {xi}, {q}, d=16, n_samples={n_samples})",
               lambda a=kappa, k=ks, x=xi, b=q, n=n_samples: oracle.oracle_state(a, k, x, b, d=16, n_samples=n))
        setting = random_setting(rng, kappa_star=pick(rng, moderate))
        yield (f"oracle_fixed_point({setting}, d=16)", lambda st=setting: oracle.oracle_fixed_point(st, d=16))
    setting = random_setting(rng, kappa_star=pick(rng, moderate))
    yield (f"oracle_replicas({setting}, d=16, n_replicas=2)",
           lambda st=setting: oracle.oracle_replicas(st, d=16, n_replicas=2))
    yield "oracle_state(0.5, 1000000.0, 1.0, 0.5, d=16)", lambda: oracle.oracle_state(0.5, 1e6, 1.0, 0.5, d=16)


def bayes_cases(rng, count=12):
    from qnn.optimal import denoising
    from qnn.optimal.bayes import bayes_optimal_window

    for _ in range(count):
        setting = random_setting(rng)
        yield f"bayes_optimal({setting})", lambda s=setting: qnn.bayes_optimal(s)
    for _ in range(3):
        setting = random_setting(rng)
        alphas = np.sort(rng.choice(np.array(ALPHAS), size=3, replace=False))
        exact = bool(rng.integers(2))
        yield (f"bayes_optimal_curve({setting}, {alphas.tolist()}, exact={exact})",
               lambda s=setting, a=alphas, e=exact: qnn.bayes_optimal_curve(s, a, exact=e))
        ks, noise = float(pick(rng, KAPPAS)), float(pick(rng, NOISES))
        xis = np.sort(rng.choice(np.array(XIS[1:]), size=3, replace=False))
        yield (f"bayes_optimal_branch({ks}, {noise}, {xis.tolist()})",
               lambda k=ks, z=noise, x=xis: qnn.bayes_optimal_branch(k, z, x))
        low = float(pick(rng, (1e-6, 0.01, 0.3)))
        yield (f"bayes_optimal_window({ks}, {noise}, ({low}, 0.8))",
               lambda k=ks, z=noise, w=low: bayes_optimal_window(k, z, (w, 0.8)))
    for _ in range(4):
        ks, xi = float(pick(rng, KAPPAS)), float(pick(rng, XIS))
        yield f"mmse_denoising({ks}, {xi})", lambda k=ks, z=xi: denoising.mmse_denoising(k, z)
        yield f"denoiser(x, {ks}, {xi})", lambda k=ks, z=xi: denoising.denoiser(SPECTRAL_X, k, z)
        yield f"denoised_spectrum({ks}, {xi}, x)", lambda k=ks, z=xi: denoising.denoised_spectrum(k, z, SPECTRAL_X)
        yield f"near_cusps({ks}, {xi})", lambda k=ks, z=xi: spectral.near_cusps(k, z)


GENERATORS = {
    "simulate": simulate_cases, "train_to_convergence": train_cases, "fixed_point": fixed_point_cases,
    "fixed_point_curve+xi_branch": curve_cases, "estimator_density": density_cases, "dmft": dmft_cases,
    "oja": oja_cases, "estimate_threshold": threshold_estimate_cases, "spectral": spectral_cases,
    "thresholds": threshold_cases, "data": data_cases, "oracle": oracle_cases, "bayes_optimal": bayes_cases,
}


#: closed-form functions: run in-process (forking costs more than the call)
CLOSED_FORM = ("spectral", "thresholds", "estimate_threshold")


@pytest.mark.parametrize("name", list(GENERATORS))
def test_public_functions_answer_finite_or_flagged_or_value_error(name):
    seed = int.from_bytes(name.encode()[:8], "little") % 2**32      # one fixed stream per function
    check(list(GENERATORS[name](np.random.default_rng([20261129, seed]))), isolate=name not in CLOSED_FORM)


def test_every_public_function_is_covered():
    """A public function added to qnn's namespace must get a generator here (names as in ``__all__``)."""
    covered = {"simulate", "train_to_convergence", "fixed_point", "fixed_point_curve", "xi_branch",
               "estimator_density", "dmft", "oja_flow", "oja_power_law", "estimate_threshold", "bayes_optimal",
               "bayes_optimal_curve", "bayes_optimal_branch"}
    public = {name for name in qnn.__all__ if callable(getattr(qnn, name)) and not isinstance(getattr(qnn, name), type)}
    assert public - covered == set(), f"not covered by the property test: {sorted(public - covered)}"
    assert set(spectral.__all__) - {"SpectralLaw"} <= {
        "spectral_law", "stieltjes", "density", "hilbert_transform", "support", "teacher_density", "teacher_atom",
        "teacher_support", "upper_quantile", "semicircle_density", "near_cusps"}
    assert set(thresholds.__all__) <= {"semicircle_tail_moment", "alpha_bo", "alpha_pr_plus", "alpha_pr",
                                       "alpha_inter", "parameter_count", "omega0", "kappa_saturation"}
