"""Figure data of the long-time chapters: regularised long-time limit, spectrum of S, double descent.

Every task is one repetition of :func:`qnn.train_to_convergence` at one parameter point, with the paper's GOE
features (``features="goe"``; they match the d = infinity theory already at d = 40-80, see
book/theory/validation.md).
The long-time limit of gradient flow at ``lambda > 0`` is a stationary point of the regularised loss; it is reached
by

* ``method="convex"``: accelerated proximal gradient on the convex problem in ``S`` (valid when the width cap does
  not bind, i.e. the solution has rank <= m);
* ``method="lbfgs"``: L-BFGS on ``W`` from the gamma-initialisation (the network's own problem, needed when the
  width cap binds);
* ``method="auto"``: convex first; if its solution does not fit in the width (rank > m), L-BFGS.

Each result records ``converged`` and the solver's ``reason``: pages count and report unconverged points instead of
hiding them. Run ``python -m qnn data FIGURE --jobs 2`` with ``OMP_NUM_THREADS=1`` on a shared machine (BLAS
threads oversubscribing 2 cores made the same runs 40-400x slower here).
"""
from __future__ import annotations

from ..figdata import close, exact, ignore, register
from ..simulation.gradient_flow import train_to_convergence
from .common import longtime_checks, setting_of

#: Stationarity tolerance (|G W|_F / sqrt(d)) and iteration budget of every long-time run.
LONGTIME_GTOL = 1e-6
LONGTIME_MAX_ITER = 20000

#: Coarse alpha grid of the simulations (the theory lines use fine grids).
ALPHAS = [0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5, 0.6]
ALPHAS_SMALL = [0.05, 0.15, 0.2, 0.25, 0.3, 0.35, 0.45, 0.6]

#: The paper's GD final times (eta = 5e-3) of the long-time figures whose markers we compute with an optimiser.
PAPER_TMAX = {"fig2": "1000 (λ = 0.5, 0.1) and 2000 (λ = 0.05)", "fig4": "5000", "fig6": "5000", "fig7": "3000",
              "fig16": "5000", "fig17": "1000 (λ = 0.5, 0.1) and 2000 (λ = 0.05)",
              "fig18": "1000 (λ = 0.5, 0.1) and 2000 (λ = 0.05)", "fig19": "5000"}

_SOLVER_NAMES = {"convex": "accelerated proximal gradient on the convex problem over S",
                 "lbfgs": "L-BFGS on W from the γ-initialisation"}

#: (kappa, kappa*) pairs of paper Figures 17 and 18.
PAIRS_17 = [[0.5, 0.2], [0.5, 0.3], [0.5, 0.5], [0.7, 0.3], [0.7, 0.5], [0.7, 0.6], [0.7, 0.7]]


#: Seconds the consistency test's sample of each figure (3 tasks) may take: 1.5 x the time measured one task at a
#: time on a loaded 2-core machine (tests/test_cached_data.py warns beyond 3x).
BUDGET = {"fig2": 60.0, "fig4": 65.0, "fig6_noise": 5.0, "fig6_lambda": 5.0, "fig7": 10.0, "fig16": 15.0,
          "fig17": 15.0, "fig18": 20.0, "fig19": 10.0, "spectrum_fig2": 15.0, "spectrum_fig4": 10.0,
          "finite_size": 5.0}


_COMMON = {"features": "goe", "gamma": 1.0}
#: Result checks (tolerances from the solver's gtol, see qnn.figures.common) without / with the eigenvalues of S.
_CHECKS = longtime_checks(40, with_eigenvalues=False)
_SPECTRUM_CHECKS = longtime_checks(60, with_eigenvalues=True)


@register("fig2", d=60, reps=5, version="1",
          grid={"lam": [0.5, 0.1, 0.05], "alpha": ALPHAS},
          fixed={**_COMMON, "kappa": 0.7, "kappa_star": 0.5, "noise": 0.0, "method": "auto", "spectrum": True},
          shared_seed=("lam",), checks=_SPECTRUM_CHECKS, check_budget_s=BUDGET["fig2"],
          description="Long-time MSE, Loss_train and spectrum of S vs alpha, kappa=0.7, kappa*=0.5 (paper Fig. 2)")
@register("fig4", d=60, reps=5, version="1",
          grid={"lam": [0.1, 0.05, 0.01], "alpha": ALPHAS},
          fixed={**_COMMON, "kappa": 0.35, "kappa_star": 0.3, "noise": 0.0, "method": "lbfgs", "spectrum": True},
          shared_seed=("lam",), checks=_SPECTRUM_CHECKS, check_budget_s=BUDGET["fig4"],
          description="Long-time MSE, Loss_train and spectrum of S vs alpha, kappa=0.35, kappa*=0.3 (paper Fig. 4)")
@register("fig6_noise", d=40, reps=5, version="1",
          grid={"noise": [0.1, 0.25, 0.5, 1.0], "alpha": ALPHAS},
          fixed={**_COMMON, "kappa": 0.4, "kappa_star": 0.3, "lam": 0.01, "method": "lbfgs"},
          shared_seed=("noise",), checks=_CHECKS, check_budget_s=BUDGET["fig6_noise"],
          description="Double descent: MSE vs alpha for several Delta, lambda=0.01 (paper Fig. 6 left)")
@register("fig6_lambda", d=40, reps=5, version="1",
          grid={"lam": [0.1, 0.05, 0.005], "alpha": ALPHAS},
          fixed={**_COMMON, "kappa": 0.4, "kappa_star": 0.3, "noise": 1.0, "method": "lbfgs"},
          shared_seed=("lam",), checks=_CHECKS, check_budget_s=BUDGET["fig6_lambda"],
          description="Double descent: MSE vs alpha for several lambda, Delta=1 (paper Fig. 6 right; "
                      "lambda=0.01 is in fig6_noise)")
@register("fig7", d=40, reps=5, version="1",
          grid={"lam": [0.1, 0.05, 0.01, 0.005], "alpha": [0.02, 0.05, 0.08, 0.12, 0.16, 0.2, 0.23, 0.26, 0.3, 0.35]},
          fixed={**_COMMON, "kappa": 0.3, "kappa_star": 0.2, "noise": 0.0, "method": "lbfgs"},
          shared_seed=("lam",), checks=_CHECKS, check_budget_s=BUDGET["fig7"],
          description="MSE and Loss_train vs alpha as lambda -> 0+, kappa=0.3, kappa*=0.2 (paper Fig. 7)")
@register("fig16", d=40, reps=4, version="1",
          grid={"lam": [0.1, 0.05, 0.01], "kappa": [0.4, 0.35, 0.32, 0.3], "alpha": ALPHAS_SMALL},
          fixed={**_COMMON, "kappa_star": 0.3, "noise": 0.0, "method": "lbfgs"},
          shared_seed=("lam", "kappa"), checks=_CHECKS, check_budget_s=BUDGET["fig16"],
          description="Width dependence near kappa*: MSE and Loss_train vs alpha (paper Fig. 16)")
@register("fig17", d=40, reps=4, version="1",
          grid={"pair": PAIRS_17, "alpha": ALPHAS_SMALL},
          fixed={**_COMMON, "lam": 0.1, "noise": 0.0, "method": "auto"}, checks=_CHECKS,
          check_budget_s=BUDGET["fig17"],
          description="MSE and Loss_train vs alpha for 7 (kappa, kappa*) pairs, lambda=0.1, Delta=0 (paper Fig. 17)")
@register("fig18", d=40, reps=4, version="1",
          grid={"pair": PAIRS_17, "alpha": ALPHAS_SMALL},
          fixed={**_COMMON, "lam": 0.1, "noise": 0.5, "method": "auto"}, checks=_CHECKS,
          check_budget_s=BUDGET["fig18"],
          description="MSE and ISE vs alpha for 7 (kappa, kappa*) pairs, lambda=0.1, Delta=0.5 (paper Fig. 18)")
@register("fig19", d=40, reps=4, version="1",
          grid={"kappa": [0.7, 0.5, 0.4, 0.35], "lam": [0.1, 0.025], "alpha": ALPHAS_SMALL},
          fixed={**_COMMON, "kappa_star": 0.3, "noise": 1.0, "method": "lbfgs"},
          shared_seed=("lam",), checks=_CHECKS, check_budget_s=BUDGET["fig19"],
          description="Double descent and ISE across widths, Delta=1 (paper Fig. 19)")
# Extra runs for the spectra at the paper's alphas (pooled with the runs of fig2 / fig4 on the spectrum page).
@register("spectrum_fig2", d=60, reps=15, version="1",
          grid={"lam": [0.5, 0.1, 0.05], "alpha": [0.25, 0.4]},
          fixed={**_COMMON, "kappa": 0.7, "kappa_star": 0.5, "noise": 0.0, "method": "auto", "spectrum": True},
          shared_seed=("lam",), checks=_SPECTRUM_CHECKS, check_budget_s=BUDGET["spectrum_fig2"],
          description="Extra runs for the spectrum of S at the paper's alphas, kappa=0.7, kappa*=0.5 (paper Fig. 2)")
@register("spectrum_fig4", d=60, reps=15, version="1",
          grid={"lam": [0.1, 0.05, 0.01], "alpha": [0.25, 0.3, 0.35]},
          fixed={**_COMMON, "kappa": 0.35, "kappa_star": 0.3, "noise": 0.0, "method": "lbfgs", "spectrum": True},
          shared_seed=("lam",), checks=_SPECTRUM_CHECKS, check_budget_s=BUDGET["spectrum_fig4"],
          description="Extra runs for the spectrum of S at the paper's alphas, kappa=0.35, kappa*=0.3 (paper Fig. 4)")
def long_time_point(task: dict) -> dict:
    """One repetition of the long-time limit at the task's parameters (see the module docstring).

    Returns
    -------
    dict with ``mse``, ``loss_train``, ``ise``, ``rank`` (fraction of eigenvalues of S above 1e-3 of the largest),
    ``grad_norm`` (|G W|_F / sqrt(d) at the end point), ``converged`` (bool), ``reason``, ``method`` (the one used),
    ``n_iter``; with ``task["spectrum"]`` true also ``eigenvalues`` (all d eigenvalues of S, ascending).
    """
    setting = setting_of(task)
    requested = task["method"]
    method = "convex" if requested == "auto" else requested
    kwargs = dict(d=task["d"], reps=1, seed=task["seed"], features=task["features"], gtol=LONGTIME_GTOL,
                  max_iter=LONGTIME_MAX_ITER, progress=False)
    result = train_to_convergence(setting, method=method, **kwargs)
    if requested == "auto" and not bool(result.converged[0]) and result.reason[0].startswith("width cap"):
        method = "lbfgs"
        result = train_to_convergence(setting, method=method, **kwargs)
    out = {"mse": float(result.mse[0]), "loss_train": float(result.loss[0]), "ise": float(result.ise[0]),
           "rank": float(result.rank[0]), "grad_norm": float(result.grad_norm[0]),
           "converged": bool(result.converged[0]), "reason": result.reason[0], "method": method,
           "n_iter": int(result.n_iter[0])}
    if task.get("spectrum"):
        out["eigenvalues"] = [float(v) for v in result.eigenvalues[0]]
    return out


@register("finite_size", reps=10, version="1",
          grid={"alpha": [0.25, 0.3], "dim": [30, 40, 60, 80]},
          fixed={**_COMMON, "kappa": 0.7, "kappa_star": 0.5, "noise": 0.0, "lam": 0.05, "method": "convex"},
          checks=longtime_checks(30, with_eigenvalues=False), check_budget_s=BUDGET["finite_size"],
          description="Finite-size trend of the long-time MSE at kappa=0.7, kappa*=0.5, lambda=0.05 (d = 30..80 "
                      "in the grid key dim)")
def finite_size_point(task: dict) -> dict:
    """:func:`long_time_point` at input dimension ``task["dim"]`` (the spec has no ``d`` of its own, so that one
    cache holds several dimensions)."""
    return long_time_point({**task, "d": task["dim"]})


def solver_note(*sims) -> str:
    """Caption sentence naming the solver(s) that produced the markers of the cached figures ``sims``.

    Counts the ``method`` recorded with every run (``"auto"`` tasks record the solver actually used), e.g.
    ``"Markers: end points of L-BFGS on W from the γ-initialisation (200 runs), stopped at |G W|_F/√d ≤ 1e-6."``
    """
    counts: dict[str, int] = {}
    for sim in sims:
        for result in sim.results:
            counts[result["method"]] = counts.get(result["method"], 0) + 1
    parts = [f"{_SOLVER_NAMES[m]} ({n} runs)" for m, n in sorted(counts.items())]
    return (f"The simulated end points are the long-time limit computed directly, not by integrating the flow: "
            f"{' and '.join(parts)}, each run until the flow velocity |G W|_F/√d fell below {LONGTIME_GTOL:g}.")


def method_deviation(figure: str) -> str:
    """The "differences from the paper" clause on the marker method of long-time figure ``figure``."""
    return (f"the long-time limit is computed by an optimiser run to stationarity, where the paper runs gradient "
            f"descent (η = 5e-3) to T = {PAPER_TMAX[figure]}")


# ------------------------------------------------------------------------------------------------------------
# Do the solvers stop where gradient flow stops? (tests/test_gradient_flow_markers.py; design fixed before running)
# ------------------------------------------------------------------------------------------------------------
#: One point per row: (figure, method, kappa, kappa*, Delta, lambda, alpha). The first three are the L-BFGS family
#: (figures 4, 6, 7, 16, 19), all with the width cap binding in the theory (omega > q); the next two are the
#: "auto" family (figures 2, 17, 18) at the points where the cached d = 40 runs fell back to L-BFGS (cap binds);
#: the last is an uncapped "auto" control (convex solver).
_FLOW_STOP = ("the flow stops at the first geometric check time where |G W|_F/sqrt(d) <= 1e-5, or at t = 5000; "
              "RK23 at rtol 1e-4 (1e-3 between two integrations whose steps differ by round-off)")
_GF_CHECKS = {**{f"{k}_solver": close(1e-3, 1e-9, "the solver's stop at gtol = 1e-6") for k in ("mse", "loss_train")},
              "rank_solver": close(0.0, 0.05 + 1e-12, "one eigenvalue may cross the rank cut-off (1/d = 0.05)"),
              "rank_flow": close(0.0, 0.05 + 1e-12, "one eigenvalue may cross the rank cut-off (1/d = 0.05)"),
              "converged_solver": exact("whether the solver met its criterion"),
              "method_solver": exact("convex or lbfgs"),
              "mse_flow": close(1e-3, 1e-9, _FLOW_STOP), "loss_train_flow": close(1e-3, 1e-9, _FLOW_STOP),
              "t_flow": close(1e-9, 0.0, "check times are a fixed schedule"),
              "converged_flow": exact("whether the flow met its criterion by t = 5000"),
              "grad_norm_solver": ignore("below gtol by an amount chaotic in round-off"),
              "grad_norm_flow": ignore("velocity at the stop: chaotic in round-off"),
              "reason_flow": ignore("message quoting the velocity"),
              "n_gradients_flow": ignore("RK23 step count: chaotic in round-off")}
GF_CHECK_POINTS = (("fig4", "lbfgs", 0.35, 0.3, 0.0, 0.01, 0.3),
                   ("fig7", "lbfgs", 0.3, 0.2, 0.0, 0.005, 0.2),
                   ("fig6", "lbfgs", 0.4, 0.3, 1.0, 0.01, 0.3),
                   ("fig17", "auto", 0.5, 0.5, 0.0, 0.1, 0.45),
                   ("fig18", "auto", 0.5, 0.5, 0.5, 0.1, 0.45),
                   ("fig2", "auto", 0.7, 0.5, 0.0, 0.05, 0.4))


@register("gf_check", d=20, reps=2, version="1",
          grid={"point": [list(p) for p in GF_CHECK_POINTS]},
          fixed={**_COMMON, "flow_gtol": 1e-5, "flow_t_max": 5000.0},
          checks=_GF_CHECKS, check_budget_s=600.0,
          description="Long-time solvers vs gradient flow run to stationarity, same seeds (rank-capped points)")
def gf_check(task: dict) -> dict:
    """The marker solver's end point and gradient flow's (:func:`qnn.simulation.stationary_flow.flow_to_stationarity`)
    for
    the same teacher, data and ``W(0)``. Slow (minutes per task): not recomputed by the consistency test."""
    from ..simulation.stationary_flow import flow_to_stationarity

    _, method, kappa, kappa_star, noise, lam, alpha = task["point"]
    point = {**task, "kappa": kappa, "kappa_star": kappa_star, "noise": noise, "lam": lam, "alpha": alpha,
             "method": method}
    solver = long_time_point(point)
    flow = flow_to_stationarity(setting_of(point), task["d"], seed=task["seed"], features=task["features"],
                                gtol=task["flow_gtol"], t_max=task["flow_t_max"])
    out = {f"{key}_solver": solver[key] for key in ("mse", "loss_train", "rank", "grad_norm", "converged", "method")}
    out.update({"mse_flow": flow.mse, "loss_train_flow": flow.loss, "rank_flow": flow.rank,
                "grad_norm_flow": flow.grad_norm, "converged_flow": flow.converged, "reason_flow": flow.reason,
                "t_flow": flow.t, "n_gradients_flow": flow.n_gradients})
    return out


def flow_check_note(family: str, data_dir=None) -> str:
    """Caption sentence: how the ``family`` (``"lbfgs"`` or ``"auto"``) solver compared with gradient flow run to
    stationarity in the cached ``gf_check`` (the criterion of ``tests/test_gradient_flow_markers.py``)."""
    import numpy as np

    from ..figdata import load

    if family not in ("lbfgs", "auto"):
        raise ValueError(f"family must be 'lbfgs' or 'auto', got {family!r}")
    data = load("gf_check", data_dir=data_dir)
    points = [p for p in GF_CHECK_POINTS if p[1] == family]
    inside, stationary, worst, velocity = 0, 0, 0.0, 0.0
    for point in points:
        runs = [r for t, r in zip(data.tasks, data.results) if t["point"] == list(point)]
        solver, flow = (np.array([r[f"mse_{k}"] for r in runs]) for k in ("solver", "flow"))
        inside += abs(flow.mean() - solver.mean()) <= max(2 * solver.std(), 1e-3 * solver.mean())
        stationary += all(r["converged_flow"] for r in runs)
        worst = max(worst, float(np.max(np.abs(flow / solver - 1))))
        velocity = max([velocity] + [r["grad_norm_flow"] for r in runs])
    first = data.tasks[0]
    return (f"To check that this solver stops where gradient flow stops, the flow itself (RK23) was integrated from "
            f"the same initialisations ({data.reps} runs at d = {data.d}) until |G W|_F/√d ≤ {first['flow_gtol']:g} "
            f"or t = {first['flow_t_max']:g}, at {len(points)} points: the flow's mean MSE lies "
            f"inside the markers' error bar at {inside} of {len(points)} points, the flow reached the tolerance at "
            f"{stationary} of {len(points)} (largest velocity left {velocity:.1e}), and single runs of the flow and "
            f"the solver differ by up to {worst:.1%}.")
