"""Figure builders of the issue-12 checks on the dynamics pages: where Figure 5 ends, Figure 12 at several d, and
the bias study of the Figure 20/21 threshold estimator (book/learning_curves.md, book/unregularised.md).

Each reads cached data (:func:`qnn.figdata.load` results passed in) and returns a plotly figure and/or Markdown text;
the pages only call them and show the result.
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from .. import plotting
from ..conventions import Setting
from ..figdata import FigureData
from ..longtime.fixed_point import fixed_point
from ..simulation.threshold_estimate import extrapolate_in_inverse_d
from ..longtime.thresholds import alpha_pr

__all__ = ["figure5_end_points", "figure12_sizes", "figure12_limit_table", "bias_study_figure"]


def figure5_end_points(limit: FigureData, fig5: FigureData) -> tuple[go.Figure, str]:
    """End points of Figure 5's runs against 1/d with the fixed point at 1/d = 0; Markdown summary and table."""
    lf, f5 = limit.frame(), fig5.frame()
    first = limit.tasks[0]
    noises = sorted(lf["noise"].unique())
    dims = sorted(lf["dim"].unique())
    fig = plotting.new_figure("1/d", ["mse"] + [""] * (len(noises) - 1), rows=1, cols=len(noises), log_y=True,
                              subplot_titles=[f"Δ = {noise:g}" for noise in noises], x_range=(-0.003, 0.055))
    rows = ["| Δ | α | sim. t = 300 (d = 30) | end point, same runs (d = 30) | end point d = 20 / 30 / 45 | "
            "fit a + b/d: a | fixed point (d = ∞) | gap at d = 20 / 30 / 45 |", "|---|---|---|---|---|---|---|---|"]
    size_gaps, time_gaps = [], []
    for col, noise in enumerate(noises, start=1):
        for index, alpha in enumerate(sorted(lf["alpha"].unique())):
            sub = lf[(lf["noise"] == noise) & (lf["alpha"] == alpha)]
            samples = np.stack([sub[sub["dim"] == d].sort_values("rep")["mse"].to_numpy() for d in dims])
            plotting.add_simulation(fig, 1 / np.array(dims), samples, f"α = {alpha:g}", color_index=index, row=1,
                                    col=col, show_legend=col == 1, group=f"alpha={alpha}")
            theory = fixed_point(Setting(alpha=alpha, kappa=first["kappa"], kappa_star=first["kappa_star"],
                                         noise=noise, lam=first["lam"])).mse
            plotting.add_theory(fig, [0.0, 0.006], [theory, theory], f"α = {alpha:g}: fixed point (d = ∞)",
                                color_index=index, row=1, col=col, show_legend=False, group=f"alpha={alpha}")
            a, _, a_err = extrapolate_in_inverse_d(dims, samples.mean(axis=1))
            runs = f5[(f5["noise"] == noise) & (f5["alpha"] == alpha)]
            at_300 = np.mean([np.asarray(v)[-1] for v in runs["mse"]])
            means = samples.mean(axis=1)
            size_gaps.append(np.abs(means / theory - 1))
            time_gaps.append(abs(at_300 / means[dims.index(30)] - 1))
            rows.append(f"| {noise:g} | {alpha:g} | {at_300:.3f} | {means[dims.index(30)]:.3f} | "
                        + " / ".join(f"{m:.3f}" for m in means) + f" | {a:.3f} ± {a_err:.3f} | {theory:.3f} | "
                        + " / ".join(f"{m / theory - 1:+.0%}" for m in means) + " |")
    fig.update_layout(legend=dict(orientation="h", x=0, y=1.08, yanchor="bottom"), margin=dict(t=80))
    mean_size = np.mean(size_gaps, axis=0)
    text = (f"Averaged over the {len(time_gaps)} (Δ, α) of Figure 5, the simulations at t = 300 are within "
            f"{np.mean(time_gaps):.1%} of their own end points (d = 30, same runs): the flow has essentially stopped. "
            "The remaining gap to the fixed point is a finite-size effect: the mean |end point / fixed point − 1| is "
            + ", ".join(f"{g:.1%} at d = {d}" for d, g in zip(dims, mean_size))
            + f" (from {limit.reps} runs per point, each with its own teacher: the run-to-run spread, the error bars "
            "above, is of the same order).\n\nFinal simulated value, end point and fixed point (means over runs):\n\n"
            + "\n".join(rows))
    return fig, text


def figure12_sizes(sizes: FigureData) -> tuple[go.Figure, str, str]:
    """Ratio MSE_Gauss / MSE_GOE for t <= t_max at several d; caption clause and Markdown table of the largest
    |log ratio| per panel with its extrapolation in 1/d."""
    sf = sizes.frame()
    lams = sorted(sf["lam"].unique(), reverse=True)
    alphas = sorted(sf["alpha"].unique())
    dims = sorted(sf["dim"].unique())
    fig = plotting.new_figure("t", "MSE_Gauss / MSE_GOE", log_x=True, rows=len(lams), cols=len(alphas),
                              subplot_titles=[f"λ = {lam:g}, α = {alpha:g}" for lam in lams for alpha in alphas],
                              height=600)
    rows = ["| λ | α | " + " | ".join(f"d = {d}" for d in dims) + " | fit a + b/d: a (d → ∞) |",
            "|---" * (len(dims) + 3) + "|"]
    worst = dict.fromkeys(dims, 0.0)
    intercepts = []
    runs_per_point: set[int] = set()
    for row, lam in enumerate(lams, start=1):
        for col, alpha in enumerate(alphas, start=1):
            gaps = []
            for index, dim in enumerate(dims):
                sub = sf[(sf["lam"] == lam) & (sf["alpha"] == alpha) & (sf["dim"] == dim)]
                t = np.asarray(sub["t"].iloc[0])[1:]
                mean = {f: np.mean([np.asarray(v)[1:] for v in sub[sub["features"] == f]["mse"]], axis=0)
                        for f in ("goe", "gaussian")}
                ratio = mean["gaussian"] / mean["goe"]
                runs = min(len(sub[sub["features"] == f]) for f in ("goe", "gaussian"))
                plotting.add_simulation(fig, t, ratio[:, None], f"d = {dim}", color_index=index, row=row, col=col,
                                        show_legend=row == 1 and col == 1, group=f"d={dim}", error_bars=False,
                                        note=False)  # one ratio of two means per point: the note says so
                runs_per_point.add(runs)
                gaps.append(float(np.max(np.abs(np.log(ratio)))))
                worst[dim] = max(worst[dim], gaps[-1])
            fig.add_hline(y=1, line=dict(color="gray", width=1), row=row, col=col)
            a_fit, _, a_err = extrapolate_in_inverse_d(dims, gaps)
            intercepts.append(a_fit)
            rows.append(f"| {lam:g} | {alpha:g} | " + " | ".join(f"{g:.3f}" for g in gaps)
                        + f" | {a_fit:+.3f} ± {a_err:.3f} |")
    runs = "-".join(str(n) for n in sorted(runs_per_point)[::max(len(runs_per_point) - 1, 1)])
    plotting.add_note(fig, f"markers: ratio of the means over {runs} runs of each feature type (no error bars)",
                      name="error-bar-note")
    fig.update_layout(legend=dict(orientation="h", x=0, y=1.06, yanchor="bottom"), margin=dict(t=90))
    clause = ("Largest |log ratio| over all panels: " + ", ".join(f"{np.expm1(worst[d]):.0%} at d = {d}" for d in dims)
              + f"; extrapolated linearly in 1/d, the per-panel gap goes to {min(intercepts):+.2f} ... "
              f"{max(intercepts):+.2f} in |log ratio| (table below).")
    table = ("Largest |log(MSE_Gauss / MSE_GOE)| over t ≤ 10 per panel, and its extrapolation in 1/d (3 sizes; error "
             "from the fit residuals):\n\n" + "\n".join(rows))
    return fig, clause, table


def figure12_limit_table(limit: FigureData, kappa: float = 0.5, kappa_star: float = 0.2, lam: float = 0.1) -> str:
    """Markdown: long-time end points of both feature models by d, their relative gap and its 1/d extrapolation."""
    lf = limit.frame()
    dims = sorted(lf["dim"].unique())
    rows = ["| α | " + " | ".join(f"d = {d}: GOE / Gauss (gap)" for d in dims) + " | fit a + b/d of the gap: a | "
            "fixed point |", "|---" * (len(dims) + 3) + "|"]
    for alpha in sorted(lf["alpha"].unique()):
        cells, gaps = [], []
        for dim in dims:
            sub = lf[(lf["alpha"] == alpha) & (lf["dim"] == dim)]
            goe, gauss = (sub[sub["features"] == f]["mse"].mean() for f in ("goe", "gaussian"))
            gaps.append(gauss / goe - 1)
            cells.append(f"{goe:.3f} / {gauss:.3f} ({gaps[-1]:+.0%})")
        a, _, a_err = extrapolate_in_inverse_d(dims, gaps)
        theory = fixed_point(Setting(alpha=alpha, kappa=kappa, kappa_star=kappa_star, lam=lam)).mse
        rows.append(f"| {alpha:g} | " + " | ".join(cells) + f" | {a:+.0%} ± {a_err:.0%} | {theory:.3f} |")
    return (f"Long-time end points at λ = {lam:g} (mean over {limit.reps} runs; convex solver or L-BFGS to "
            "|G W|_F/√d ≤ 1e-6), relative gap Gauss/GOE − 1 and its extrapolation in 1/d:\n\n" + "\n".join(rows))


def bias_study_figure(study, reps: int) -> tuple[go.Figure, str]:
    """Estimates of the bias study (:func:`qnn.figures.dynamics.fig20_bias_estimates`) against 1/d, coloured by
    final time, with the 1/d fit of the t = 300 estimates and the theory; Markdown table and extrapolations."""
    pairs = sorted(set(zip(study["kappa"], study["kappa_star"])))
    times = sorted(study["t"].unique())
    fig = plotting.new_figure("1/d", ["estimate of α_PR"] + [""] * (len(pairs) - 1), rows=1, cols=len(pairs),
                              subplot_titles=[f"κ = {k:g}, κ* = {ks:g}" for k, ks in pairs])
    lines = []
    for col, (kappa, kappa_star) in enumerate(pairs, start=1):
        sub = study[(study["kappa"] == kappa) & (study["kappa_star"] == kappa_star)]
        for index, t in enumerate(times):
            at = sub[sub["t"] == t].sort_values("dim")
            fig.add_trace(go.Scatter(
                x=1 / at["dim"], y=at["estimate"], mode="markers", name=f"t = {t:g}", legendgroup=f"t={t}",
                showlegend=col == 1, marker=dict(color=plotting.color(index), size=9),
                error_y=dict(type="data", symmetric=False, array=at["high"] - at["estimate"],
                             arrayminus=at["estimate"] - at["low"]),
                meta={"kind": "simulation", "reps": reps, "error_bars": False}), row=1, col=col)
        at = sub[sub["t"] == 300.0].sort_values("dim")
        a, b, a_err = extrapolate_in_inverse_d(at["dim"], at["estimate"])
        theory = alpha_pr(kappa, kappa_star)
        lines.append(f"* κ = {kappa:g}, κ* = {kappa_star:g}: d → ∞ intercept {a:.3f} ± {a_err:.3f} (slope {b:+.2f} "
                     f"in 1/d) against α_PR = {theory:.4f}")
        x = np.linspace(0, 1 / 12, 20)
        plotting.add_theory(fig, x, a + b * x, "fit a + b/d at t = 300", line_color="gray", dash="dot", row=1,
                            col=col, show_legend=col == 1, group="fit")
        plotting.add_theory(fig, [0, 1 / 12], [theory] * 2, "theory α_PR", line_color="black", row=1, col=col,
                            show_legend=col == 1, group="theory")
    fig.update_layout(legend=dict(orientation="h", x=0, y=1.1, yanchor="bottom"), margin=dict(t=90))
    rows = ["| κ | κ* | d | " + " | ".join(f"t = {t:g}" for t in times) + " |", "|---" * (3 + len(times)) + "|"]
    for (kappa, kappa_star, dim), sub in study.groupby(["kappa", "kappa_star", "dim"]):
        values = dict(zip(sub["t"], sub["estimate"]))
        rows.append(f"| {kappa:g} | {kappa_star:g} | {dim} | "
                    + " | ".join(f"{values[t]:.3f}" if t in values else "–" for t in times) + " |")
    text = ("Estimates by d and final time:\n\n" + "\n".join(rows) + "\n\nExtrapolation in 1/d of the t = 300 "
            "estimates (3 sizes; the error is from the fit residuals, the estimates being quantised to the 0.03 "
            "grid):\n\n" + "\n".join(lines))
    return fig, text
