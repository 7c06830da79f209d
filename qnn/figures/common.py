"""What the figure modules share: a task's :class:`~qnn.conventions.Setting`, and the declared checks of each solver.

Every result key a task returns is declared with a :class:`qnn.figdata.Check`: the tolerance within which a
recomputation (another machine, another BLAS kernel) must reproduce the cached value, derived from the stopping
criterion of the solver that produced it, or the reason it is never compared. The check sets below are per
solver; a figure module passes the one of its solver to :func:`qnn.figdata.register` (``checks=``).
"""
from __future__ import annotations

from typing import Any

from ..conventions import Setting
from ..figdata import Check, close, exact, ignore, spectrum

__all__ = ["setting_of", "FLOW_CHECKS", "GD_CHECKS", "longtime_checks", "THEORY_CURVE_CHECKS",
           "THEORY_SPECTRUM_CHECKS", "OJA_CHECKS", "DMFT_CHECKS"]


def setting_of(task: dict[str, Any], **override: Any) -> Setting:
    """The :class:`Setting` of a task: ``alpha, kappa, kappa_star, noise, lam, gamma`` (default 1).

    ``kappa``/``kappa_star`` come from the task's keys or, if absent, from its ``pair = [kappa, kappa*]``;
    ``override`` replaces any field (e.g. ``alpha=...`` for theory curves, whose tasks have no alpha).
    """
    values = {"alpha": task.get("alpha"), "noise": task.get("noise", 0.0), "lam": task.get("lam", 0.0),
              "gamma": task.get("gamma", 1.0)}
    if "kappa" in task:
        values["kappa"], values["kappa_star"] = task["kappa"], task["kappa_star"]
    else:
        values["kappa"], values["kappa_star"] = task["pair"][:2]
    values.update(override)
    return Setting(**values)


# -- adaptive RK23 of qnn.simulate (rtol = 1e-4, atol = 1e-7) ----------------------------------------------------
_RK23 = ("qnn.simulate integrates with RK23 at rtol = 1e-4 (global error measured ~1e-4 against rtol = 1e-8); two "
         "integrations whose steps differ by round-off agree to 1e-3, and values below 1e-12 are under what atol = "
         "1e-7 on the entries of W resolves (squared): zero in theory")
_TIMES = "record times are a fixed log-spaced grid, hit exactly by the integrator"
FLOW_CHECKS: dict[str, Check] = {
    "t": close(1e-12, 0.0, _TIMES, optional=True),
    "mse": close(1e-3, 1e-12, _RK23),
    "loss_train": close(1e-3, 1e-12, _RK23, optional=True),
    "ise": close(1e-3, 1e-12, _RK23, optional=True),
    "size": exact("the dimension the task ran at", optional=True),
}

# -- plain GD with a fixed step (dyn_fig14) ------------------------------------------------------------------------
_GD = ("GD with a fixed step has no solver tolerance: only round-off (1e-16), which the contracting late-time flow "
       "does not amplify beyond 1e-5; values below 1e-12 are zero in theory")
GD_CHECKS: dict[str, Check] = {
    "t": close(1e-12, 0.0, _TIMES),
    "objective": close(1e-5, 1e-12, _GD),
    "mse": close(1e-5, 1e-12, _GD),
}


# -- long-time limit: qnn.train_to_convergence (gtol = 1e-6 on |G W|_F / sqrt(d)) ----------------------------------
def longtime_checks(d_min: int, with_eigenvalues: bool) -> dict[str, Check]:
    """Checks of :func:`qnn.figures.longtime.long_time_point` results at input dimensions ``>= d_min``."""
    stop = ("the solver stops where |G W|_F/sqrt(d) <= gtol = 1e-6; such a stop moves S by O(gtol/mu), mu >= lambda "
            ">= 1e-3 the curvature of the regularised loss, i.e. by <= 1e-3 relative; values below 1e-9 are zero "
            "in theory (interpolation)")
    checks = {
        "mse": close(1e-3, 1e-9, stop),
        "loss_train": close(1e-3, 1e-9, stop),
        "ise": close(1e-3, 1e-9, stop),
        "rank": close(0.0, 1.0 / d_min + 1e-12, "rank counts eigenvalues above 1e-3 of the largest: one eigenvalue "
                      f"within the solver's tolerance of that cut-off may cross it (1/d <= 1/{d_min})"),
        "converged": exact("whether the stopping criterion was met: pages count unconverged points"),
        "method": exact("convex or lbfgs, chosen by the width-cap test of the convex solution"),
        "reason": ignore("solver message quoting the gradient norm at the stop (a solver internal)"),
        "grad_norm": ignore("gradient norm at the stop: below gtol by an amount chaotic in round-off"),
        "n_iter": ignore("iteration count: chaotic in round-off, differs between BLAS kernels"),
    }
    if with_eigenvalues:
        checks["eigenvalues"] = spectrum(1e-3, 0.0, "eigenvalues move with S by <= 1e-3 (as the MSE); compared "
                                         "sorted, as a distribution, relative to the spectral width, so that the "
                                         "near-zero eigenvalues (round-off) do not count")
    return checks


# -- theory: qnn.longtime.fixed_point (root finding to xtol 1e-11..1e-13, values rounded to 7 digits) ------------------
_ROOT = ("root finding to xtol 1e-11 in log xi on integrals with ~1e-12 round-off, then rounded to 7 significant "
         "digits; 1e-5 covers the conditioning near folds and thresholds, 1e-8 absolute the values that vanish")
THEORY_CURVE_CHECKS: dict[str, Check] = {
    **{key: close(1e-5, 1e-8, _ROOT) for key in ("alpha", "mse", "loss_train", "ise", "rank", "q", "xi")},
    "branch": exact("branch label of each point (a different count of points is a different curve)"),
    "converged": exact("all points of the curve converged"),
}
THEORY_SPECTRUM_CHECKS: dict[str, Check] = {
    "s": close(1e-9, 1e-12, "a fixed grid plus the lower edge + 1e-9 (edge solved to ~1e-12)"),
    "density": close(1e-5, 1e-6, "density rounded to 7 digits; at the grid point 1e-9 above the lower edge an edge "
                     "shift of ~1e-12 (root tolerance) moves it by ~1e-8"),
    **{key: close(1e-8, 1e-12, "fixed point solved to xtol 1e-12..1e-13 in (xi, q); 1e-8 covers the conditioning "
                  "near thresholds") for key in ("rank", "lower_edge", "q", "xi", "mse")},
    "converged": exact("whether the fixed point was found"),
    "reason": ignore("solver message of an unconverged point"),
}

# -- exact Oja flow (qnn.simulation.oja.oja_flow) ----------------------------------------------------------------------
OJA_CHECKS: dict[str, Check] = {
    "t": close(1e-12, 0.0, _TIMES),
    "dist": close(1e-5, 1e-24, "exact steps of conditioning <= e^(4 h) ~ 1e7 turn 1e-16 round-off into <= 1e-9 per "
                  "step; |Z - Z_inf| carries ~1e-14 absolute round-off, so Dist below ~1e-24 is round-off"),
    "gap": close(1e-9, 0.0, "eigenvalue gap of the GOE target (eigh, round-off ~1e-15)"),
    "size": exact("the dimension the task ran at"),
}

# -- DMFT (qnn.mean_field, self-consistency to a relative kernel change < tol = 2e-3) ----------------------------------
_DMFT = ("the DMFT iteration stops at a relative kernel change < tol = 2e-3; two stops differ by a few tol (1e-2), "
         "1e-8 absolute for quantities that vanish")
DMFT_CHECKS: dict[str, Check] = {
    "t": close(1e-12, 0.0, "a fixed time grid"),
    **{key: close(1e-2, 1e-8, _DMFT) for key in ("mse", "mse_stderr", "loss", "output_variance_train")},
    "converged": exact("whether the self-consistency reached tol"),
    "reason": ignore("solver message quoting the final kernel change"),
    "iterations": ignore("sweep count: a solver internal"),
    "error": ignore("final relative kernel change: a solver internal"),
    "loss_history": ignore("Loss_train(t_max) after each sweep: the solver's own convergence record", optional=True),
}
