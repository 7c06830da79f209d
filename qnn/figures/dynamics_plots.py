"""Figure builders of the dynamics pages (book/dynamics.md, book/learning_curves.md, book/unregularised.md,
book/convergence.md), beside :mod:`qnn.figures.longtime_plots` for the long-time pages.

Each ``figureN_*`` function takes the cached simulation data of the page (:func:`qnn.figdata.load` of a figure
registered in :mod:`qnn.figures.dynamics`) and, where the page draws them, the cached DMFT solutions
(:func:`qnn.figures.dynamics.dmft_solutions`), and returns the plotly figure in the style of :mod:`qnn.plotting`
(theory = lines, simulations = markers) together with what the page's tables report. The ``*_table`` functions
format those as Markdown. The pages keep their prose and captions. Theory: book/theory/dmft.md,
book/theory/fixed_point.md, book/theory/thresholds.md.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from .. import plotting
from ..conventions import Setting
from ..figdata import FigureData
from ..longtime.fixed_point import fixed_point
from ..simulation.oja import oja_power_law
from ..simulation.threshold_estimate import ThresholdEstimate, estimate_threshold
from ..longtime.thresholds import alpha_pr, parameter_count

__all__ = ["DMFTComparison", "compare_with_dmft", "figure5_slider", "figure1_output_histograms",
           "gaussianity_table", "figure5_panels", "figure5_tables", "figure5_dmft_check", "figure12_universality",
           "universality_table", "figure9_gamma", "gamma_table", "figure10_noisy_interpolation",
           "noisy_interpolation_table", "threshold_estimates", "figure20_threshold_estimator",
           "threshold_estimates_text", "figure21_threshold_plane", "figure13_oja", "oja_agreement_table",
           "kappa_min_by_alpha", "figure14_objective", "objective_exponent_table"]

#: Cached DMFT solutions: ``(figure, alpha, noise) -> {"t", "mse", "mse_stderr", ..., "reason"}``.
DMFTSolutions = Mapping[tuple[str, float, float], Mapping[str, Any]]


def _time_samples(runs: pd.DataFrame, key: str) -> tuple[np.ndarray, np.ndarray]:
    """Record times (without t = 0) and the samples of ``key`` at those times, one column per run."""
    t = np.asarray(runs["t"].iloc[0])[1:]
    samples = np.stack([np.asarray(v)[1:] for v in runs[key]], axis=1)
    return t, samples


def _limit(first: Mapping[str, Any], alpha: float, noise: float) -> Any:
    return fixed_point(Setting(alpha=alpha, kappa=first["kappa"], kappa_star=first["kappa_star"], noise=noise,
                               lam=first["lam"]))


# ------------------------------------------------------------------------------------------------------------
# DMFT against simulations
# ------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DMFTComparison:
    """Simulated MSE(t) against the DMFT at the simulation's record times covered by the DMFT solution.

    Attributes
    ----------
    t : numpy.ndarray
        The compared times.
    simulation, simulation_stderr : numpy.ndarray
        Mean over runs and its standard error (``ddof = 1``).
    dmft, dmft_stderr : numpy.ndarray
        The DMFT's MSE and its own standard error, interpolated at ``t``.
    z : numpy.ndarray
        ``(simulation - dmft) / sqrt(simulation_stderr**2 + dmft_stderr**2)``.
    """

    t: np.ndarray
    simulation: np.ndarray
    simulation_stderr: np.ndarray
    dmft: np.ndarray
    dmft_stderr: np.ndarray
    z: np.ndarray

    @property
    def max_abs_z(self) -> float:
        return float(np.max(np.abs(self.z)))

    @property
    def max_relative_difference(self) -> float:
        return float(np.max(np.abs(self.simulation / self.dmft - 1)))


def compare_with_dmft(t: np.ndarray, samples: np.ndarray, solution: Mapping[str, Any]) -> DMFTComparison:
    """z-score of the simulated MSE (``samples``: times x runs, at times ``t``) against a DMFT ``solution``,
    with the standard errors of both, at the times ``t <= solution["t"][-1]``."""
    t_dmft, mse_dmft, se_dmft = solution["t"], solution["mse"], solution["mse_stderr"]
    inside = t <= t_dmft[-1]
    dmft_at = np.interp(t[inside], t_dmft, mse_dmft)
    dmft_se_at = np.interp(t[inside], t_dmft, se_dmft)
    mean = samples[inside].mean(axis=1)
    se = samples[inside].std(axis=1, ddof=1) / np.sqrt(samples.shape[1])
    z = (mean - dmft_at) / np.sqrt(se ** 2 + dmft_se_at ** 2)
    return DMFTComparison(t=t[inside], simulation=mean, simulation_stderr=se, dmft=dmft_at, dmft_stderr=dmft_se_at,
                          z=z)


# ------------------------------------------------------------------------------------------------------------
# book/dynamics.md and book/learning_curves.md
# ------------------------------------------------------------------------------------------------------------
def figure5_slider(data: FigureData, dmft: DMFTSolutions) -> go.Figure:
    """MSE(t) for each alpha (a slider) and each noise level: simulations, long-time limit, DMFT where solved."""
    frame = data.frame()
    first = data.tasks[0]
    groups = {}
    for alpha, at_alpha in frame.groupby("alpha", sort=True):
        traces = []
        for index, (noise, runs) in enumerate(at_alpha.groupby("noise", sort=True)):
            t, samples = _time_samples(runs, "mse")
            traces.append(plotting.simulation_trace(t, samples, f"Δ = {noise:g}", color_index=index,
                                                    error_bars=False, group=f"noise={noise}"))
            limit = _limit(first, alpha, noise)
            traces.append(plotting.theory_trace([t[0], t[-1]], [limit.mse, limit.mse],
                                                f"Δ = {noise:g}: t → ∞ theory", color_index=index, dash="dash",
                                                group=f"noise={noise}"))
            if ("fig5", alpha, noise) in dmft:
                solution = dmft[("fig5", alpha, noise)]
                traces.append(plotting.theory_trace(solution["t"][1:], solution["mse"][1:], f"Δ = {noise:g}: DMFT",
                                                    color_index=index, group=f"noise={noise}"))
        groups[f"{alpha:g}"] = traces
    return plotting.slider_figure(groups, parameter="alpha", active=2,
                                  base=plotting.new_figure("t", "mse", log_x=True, log_y=True, y_range=(0.1, 8)))


def _gaussian(x: np.ndarray, variance: float) -> np.ndarray:
    return np.exp(-x ** 2 / (2 * variance)) / np.sqrt(2 * np.pi * variance)


def figure1_output_histograms(data: FigureData, dmft: DMFTSolutions) -> tuple[go.Figure, list[tuple]]:
    """Histograms of one run's training outputs at the recorded times (rows: alpha), against Gaussians.

    Returns the figure and one check per panel: ``(alpha, t, n, second moment, DMFT variance (NaN after the
    DMFT's last time), excess kurtosis, second moment / labels' second moment)``.
    """
    frame = data.frame()
    first = data.tasks[0]
    times = np.asarray(first and data.results[0]["t"])
    alphas = sorted(frame["alpha"].unique())
    fig = plotting.new_figure([""] * len(times) * (len(alphas) - 1) + ["output f"] * len(times),
                              (["density"] + [""] * (len(times) - 1)) * len(alphas), rows=len(alphas),
                              cols=len(times), x_range=(-12, 12), y_range=(0, 0.2),
                              subplot_titles=[f"α = {a:g}, t = {t:g}" for a in alphas for t in times],
                              height=330 * len(alphas))
    x = np.linspace(-12, 12, 400)
    checks = []
    for row, alpha in enumerate(alphas, start=1):
        run = frame[(frame["alpha"] == alpha) & (frame["rep"] == 0)].iloc[0]
        for col, t in enumerate(times, start=1):
            outputs = np.asarray(run["predictions"][col - 1])
            counts, edges = np.histogram(outputs, bins=30, density=True)
            fig.add_trace(go.Bar(x=(edges[1:] + edges[:-1]) / 2, y=counts, width=np.diff(edges),
                                 name="outputs (one run)", showlegend=row == 1 and col == 1, legendgroup="hist",
                                 marker=dict(color=plotting.color(0), opacity=0.5),
                                 meta={"kind": "simulation-histogram"}),
                          row=row, col=col)
            variance = float(np.mean(outputs ** 2))
            plotting.add_theory(fig, x, _gaussian(x, variance), "Gaussian, matched variance", line_color="black",
                                row=row, col=col, show_legend=row == 1 and col == 1, group="matched")
            solution = dmft[("fig1", alpha, 0.0)]
            dmft_variance = float("nan")
            if t <= solution["t"][-1]:
                dmft_variance = float(np.interp(t, solution["t"], solution["output_variance_train"]))
                plotting.add_theory(fig, x, _gaussian(x, dmft_variance), "Gaussian, DMFT variance", color_index=2,
                                    dash="dash", row=row, col=col, show_legend=row == 1 and col == 1, group="dmft")
            if col == len(times):
                plotting.add_theory(fig, x, _gaussian(x, run["labels_second_moment"]),
                                    "t → ∞: labels' second moment", color_index=1,
                                    dash="dot", row=row, col=col, show_legend=row == 1, group="limit")
            excess_kurtosis = float(np.mean(outputs ** 4) / variance ** 2 - 3)
            checks.append((alpha, t, outputs.size, variance, dmft_variance, excess_kurtosis,
                           variance / run["labels_second_moment"]))
    fig.update_layout(legend=dict(orientation="h", x=0, y=1.06, yanchor="bottom"), margin=dict(t=90))
    return fig, checks


def gaussianity_table(checks: list[tuple], kappa_star: float) -> str:
    """Markdown table of :func:`figure1_output_histograms`' checks; the DMFT variance is also given relative to
    the d = infinity labels' second moment ``2 (1 + 1/kappa*)``."""
    label_moment = 2 * (1 + 1 / kappa_star)  # (2/d) tr S*^2 as d -> infinity
    rows = ["| α | t | n | second moment (one run) | DMFT variance | excess kurtosis | run: second moment / labels' "
            "| DMFT: variance / 2(1 + 1/κ*) |", "|---|---|---|---|---|---|---|---|"]
    rows += [f"| {a:g} | {t:g} | {n} | {v:.2f} | " + (f"{dv:.2f}" if dv == dv else "–") + f" | {k:+.2f} | {r:.3f} | "
             + (f"{dv / label_moment:.3f}" if dv == dv else "–") + " |" for a, t, n, v, dv, k, r in checks]
    return "\n".join(rows)


def figure5_panels(data: FigureData, dmft: DMFTSolutions) -> tuple[go.Figure, list[tuple]]:
    """MSE(t) with label noise, one panel per noise level: simulations, long-time limit, DMFT where solved.

    Returns the figure and the agreement rows: ``(noise, alpha, final mean, final std, limit)`` per curve and
    ``("DMFT", noise, alpha, max |z|, max relative difference, last DMFT time, solver reason)`` per DMFT curve
    (:func:`compare_with_dmft`).
    """
    frame = data.frame()
    first = data.tasks[0]
    noises = sorted(frame["noise"].unique())
    fig = plotting.new_figure("t", ["mse"] + [""] * (len(noises) - 1), log_x=True, log_y=True, rows=1,
                              cols=len(noises), subplot_titles=[f"Δ = {noise:g}" for noise in noises],
                              x_range=(0.015, first["t_max"]), y_range=(0.15, 8))
    agreement: list[tuple] = []
    for col, noise in enumerate(noises, start=1):
        for index, (alpha, runs) in enumerate(frame[frame["noise"] == noise].groupby("alpha", sort=True)):
            t, samples = _time_samples(runs, "mse")
            plotting.add_simulation(fig, t, samples, f"α = {alpha:g}", color_index=index, row=1, col=col,
                                    show_legend=col == 1, group=f"alpha={alpha}", error_bars=False)
            limit = _limit(first, alpha, noise)
            plotting.add_theory(fig, [t[-1] / 3, t[-1]], [limit.mse, limit.mse], f"α = {alpha:g}: t → ∞",
                                color_index=index, dash="dash", row=1, col=col, show_legend=False,
                                group=f"alpha={alpha}")
            agreement.append((noise, alpha, samples[-1].mean(), samples[-1].std(ddof=0), limit.mse))
            if ("fig5", alpha, noise) in dmft:
                solution = dmft[("fig5", alpha, noise)]
                plotting.add_theory(fig, solution["t"][1:], solution["mse"][1:], f"α = {alpha:g}: DMFT",
                                    color_index=index, row=1, col=col, show_legend=col == 1, group=f"alpha={alpha}")
                comparison = compare_with_dmft(t, samples, solution)
                agreement.append(("DMFT", noise, alpha, comparison.max_abs_z, comparison.max_relative_difference,
                                  solution["t"][-1], solution["reason"]))
    fig.update_layout(legend=dict(orientation="h", x=0, y=1.08, yanchor="bottom"), margin=dict(t=80))
    return fig, agreement


def figure5_tables(agreement: list[tuple]) -> str:
    """Markdown: the final-time table against the long-time theory and, if any, the DMFT comparison list."""
    rows = ["| Δ | α | MSE(t_max) simulation (mean ± std) | t → ∞ theory |", "|---|---|---|---|"]
    rows += [f"| {n:g} | {a:g} | {m:.3f} ± {s:.3f} | {th:.3f} |" for n, a, m, s, th in
             (r for r in agreement if r[0] != "DMFT")]
    dmft_rows = [r for r in agreement if r[0] == "DMFT"]
    text = "Simulation at the final time against the long-time theory:\n\n" + "\n".join(rows)
    if dmft_rows:
        text += ("\n\nDMFT against the simulation (d = 30, GOE features) at the simulation's record times up to "
                 "the DMFT's last time (z-score with the standard errors of both, the simulation's from its 3 "
                 "runs):\n\n")
        text += "\n".join(f"* Δ = {n:g}, α = {a:g}, t ≤ {tm:g}: max |z| = {z:.2f}, max relative difference {r:.1%} "
                          f"(DMFT solver: {why})" for _, n, a, z, r, tm, why in dmft_rows)
    return text


def figure5_dmft_check(check: FigureData, dmft: DMFTSolutions) -> tuple[go.Figure, list[str]]:
    """The DMFT at one alpha against simulations at two sizes (one panel per noise level), with the Markdown
    table rows (header included) of :func:`compare_with_dmft` per (noise, size)."""
    frame = check.frame()
    first = check.tasks[0]
    noises = sorted(frame["noise"].unique())
    fig = plotting.new_figure("t", ["mse"] + [""] * (len(noises) - 1), log_x=True, rows=1, cols=len(noises),
                              subplot_titles=[f"Δ = {noise:g}, α = {first['alpha']:g}" for noise in noises])
    rows = ["| Δ | d | runs | max abs z over t ≤ 10 | max relative difference | at the lowest DMFT value over these "
            "times: sim / DMFT |", "|---|---|---|---|---|---|"]
    for col, noise in enumerate(noises, start=1):
        solution = dmft[("fig5", first["alpha"], noise)]
        plotting.add_theory(fig, solution["t"][1:], solution["mse"][1:], "DMFT (d = ∞)", line_color="black", row=1,
                            col=col, show_legend=col == 1, group="dmft")
        for index, (size, runs) in enumerate(frame[frame["noise"] == noise].groupby("size", sort=True)):
            t, samples = _time_samples(runs, "mse")
            plotting.add_simulation(fig, t, samples, f"d = {size}", color_index=index, row=1, col=col,
                                    show_legend=col == 1, group=f"d={size}")
            comparison = compare_with_dmft(t, samples, solution)
            k = int(np.argmin(comparison.dmft))
            rows.append(f"| {noise:g} | {size} | {samples.shape[1]} | {comparison.max_abs_z:.2f} | "
                        f"{comparison.max_relative_difference:.1%} | "
                        f"{comparison.simulation[k] / comparison.dmft[k]:.3f} (t = {comparison.t[k]:.2g}) |")
    fig.update_layout(legend=dict(orientation="h", x=0, y=1.1, yanchor="bottom"), margin=dict(t=90))
    return fig, rows


def figure12_universality(data: FigureData) -> tuple[go.Figure, list[tuple]]:
    """MSE(t) and Loss_train(t) with GOE and Gaussian-input features (columns: lambda).

    Returns the figure and per (lambda, alpha): ``(lam, alpha, max_t |log(MSE_gauss / MSE_GOE)|, final ratio,
    final MSE GOE, final MSE Gaussian, long-time theory MSE (NaN at lambda = 0))``.
    """
    frame = data.frame()
    first = data.tasks[0]
    lams = list(dict.fromkeys(frame["lam"]))
    fig = plotting.new_figure("t", ["mse", "", "loss_train", ""], log_x=True, log_y=True, rows=2, cols=2,
                              subplot_titles=[f"λ = {lam:g}" for lam in lams] * 2, x_range=(0.02, first["t_max"]))
    gaps = []
    for col, lam in enumerate(lams, start=1):
        for index, (alpha, runs) in enumerate(frame[frame["lam"] == lam].groupby("alpha", sort=True)):
            means = {}
            for features, symbol in (("goe", "circle"), ("gaussian", "diamond-open")):
                sub = runs[runs["features"] == features]
                for row, key in ((1, "mse"), (2, "loss_train")):
                    t, samples = _time_samples(sub, key)
                    name = f"α = {alpha:g}, {'GOE' if features == 'goe' else 'Gaussian inputs'}"
                    plotting.add_simulation(fig, t, samples, name, color_index=index, symbol=symbol, row=row,
                                            col=col, show_legend=row == 1 and col == 1, group=f"{alpha}-{features}",
                                            error_bars=False)
                    means[(features, key)] = samples.mean(axis=1)
            theory = fixed_point(Setting(alpha=alpha, kappa=first["kappa"], kappa_star=first["kappa_star"],
                                         lam=lam)).mse if lam > 0 else float("nan")
            gaussian, goe = means[("gaussian", "mse")], means[("goe", "mse")]
            gaps.append((lam, alpha, float(np.max(np.abs(np.log(gaussian / goe)))), float(gaussian[-1] / goe[-1]),
                         goe[-1], gaussian[-1], theory))
    fig.update_layout(legend=dict(orientation="h", x=0, y=1.04, yanchor="bottom"), margin=dict(t=110))
    return fig, gaps


def universality_table(gaps: list[tuple]) -> str:
    """Markdown table of :func:`figure12_universality`'s comparison."""
    rows = ["| λ | α | max over t of abs log(MSE_gauss / MSE_GOE) | MSE(t_max) GOE | MSE(t_max) Gaussian inputs | "
            "t → ∞ theory |", "|---|---|---|---|---|---|"]
    rows += [f"| {lam:g} | {a:g} | {g:.2f} | {mg:.4g} | {mq:.4g} | "
             + (f"{th:.4g}" if th == th else "(depends on γ)") + " |" for lam, a, g, r, mg, mq, th in gaps]
    return "\n".join(rows)


# ------------------------------------------------------------------------------------------------------------
# book/unregularised.md
# ------------------------------------------------------------------------------------------------------------
def figure9_gamma(data: FigureData) -> tuple[go.Figure, list[tuple[float, dict]]]:
    """Final MSE vs alpha for several initialisation scales gamma, with the conjectured threshold alpha_PR;
    returns the figure and ``(gamma, {alpha: mean final MSE})`` per gamma."""
    first = data.tasks[0]
    threshold = alpha_pr(first["kappa"], first["kappa_star"])
    fig = plotting.new_figure("alpha", "mse", x_range=(0, 0.57))
    table = []
    for index, gamma in enumerate(dict.fromkeys(t["gamma"] for t in data.tasks)):
        stats = data.stats("mse", by=("gamma", "alpha"))
        stats = stats[stats["gamma"] == gamma]
        plotting.add_simulation(fig, stats["alpha"], list(stats["samples"]), f"γ = {gamma:g}", color_index=index)
        table.append((gamma, dict(zip(stats["alpha"], stats["mean"]))))
    fig.add_hline(y=0, line=dict(color="gray", width=1))
    fig.add_vline(x=threshold, line=dict(color="black", dash="dash", width=1.5),
                  annotation_text=f"α_PR = {threshold:.3f}", annotation_position="top left")
    return fig, table


def gamma_table(table: list[tuple[float, dict]]) -> str:
    """Markdown table (gamma x alpha) of :func:`figure9_gamma`'s mean final MSE."""
    alphas = sorted(table[0][1])
    rows = ["| γ | " + " | ".join(f"α = {a:g}" for a in alphas) + " |", "|---" * (len(alphas) + 1) + "|"]
    rows += [f"| {g:g} | " + " | ".join(f"{m[a]:.2g}" for a in alphas) + " |" for g, m in table]
    return "\n".join(rows)


def figure10_noisy_interpolation(data: FigureData, a_inter: float) -> go.Figure:
    """MSE, Loss_train, ISE vs alpha of unregularised flow with label noise, with the lambda -> 0+ theory drawn
    above the noisy interpolation threshold ``a_inter``."""
    first = data.tasks[0]
    noise = first["noise"]
    grid = np.linspace(a_inter + 0.01, 0.8, 16)
    points = [fixed_point(Setting(alpha=a, kappa=first["kappa"], kappa_star=first["kappa_star"], noise=noise,
                                  lam=0.0)) for a in grid]
    good = [p.converged and p.branch == "non_interpolating" for p in points]
    keys = (("mse", "mse"), ("loss_train", "loss"), ("ise", "ise"))
    fig = plotting.new_figure("alpha", None, rows=1, cols=3, x_range=(0, 0.82),
                              subplot_titles=["MSE (log scale)", "Loss_train", "ISE (clean labels)"])
    fig.update_yaxes(type="log", row=1, col=1)
    for index, gamma in enumerate(dict.fromkeys(t["gamma"] for t in data.tasks)):
        for col, (key, _) in enumerate(keys, start=1):
            stats = data.stats(key, by=("gamma", "alpha"))
            stats = stats[stats["gamma"] == gamma]
            plotting.add_simulation(fig, stats["alpha"], list(stats["samples"]), f"γ = {gamma:g}",
                                    color_index=index, row=1, col=col, show_legend=col == 1, group=f"gamma={gamma}")
    for col, (_, attribute) in enumerate(keys, start=1):
        plotting.add_theory(fig, grid[good], [getattr(p, attribute) for p, g in zip(points, good) if g],
                            "theory (λ → 0⁺, non-interpolating branch)", line_color="black", row=1, col=col,
                            show_legend=col == 1, group="theory")
        fig.add_vline(x=a_inter, line=dict(color="black", dash="dash", width=1.2), row=1, col=col)
    fig.add_hline(y=noise / 4, line=dict(color="gray", width=1), row=1, col=3)
    fig.update_layout(legend=dict(orientation="h", x=0, y=1.1, yanchor="bottom"), margin=dict(t=90))
    return fig


def noisy_interpolation_table(data: FigureData, a_inter: float) -> str:
    """Markdown table: simulation means against the theory per (alpha, gamma) (below ``a_inter``: interpolation,
    Loss_train = 0 and ISE = Delta/4)."""
    first = data.tasks[0]
    noise = first["noise"]
    rows = ["| α | γ | MSE sim | MSE theory | Loss_train sim | Loss theory | ISE sim | ISE theory |",
            "|---|---|---|---|---|---|---|---|"]
    frame = data.frame()
    for (alpha, gamma), runs in frame.groupby(["alpha", "gamma"], sort=True):
        if alpha <= a_inter:
            rows.append(f"| {alpha:g} | {gamma:g} | {runs['mse'].mean():.3f} | (interpolates) | "
                        f"{runs['loss_train'].mean():.2g} | 0 | {runs['ise'].mean():.3f} | {noise / 4:g} |")
            continue
        p = fixed_point(Setting(alpha=alpha, kappa=first["kappa"], kappa_star=first["kappa_star"], noise=noise,
                                lam=0.0))
        rows.append(f"| {alpha:g} | {gamma:g} | {runs['mse'].mean():.3f} | {p.mse:.3f} | "
                    f"{runs['loss_train'].mean():.4f} | {p.loss:.4f} | {runs['ise'].mean():.4f} | {p.ise:.4f} |")
    return "\n".join(rows)


Estimates = dict[tuple[float, float], tuple[np.ndarray, np.ndarray, ThresholdEstimate]]


def threshold_estimates(data: FigureData) -> Estimates:
    """``(kappa, kappa*) -> (alphas, final MSE (alphas x runs), estimate_threshold(...))`` for every cached pair,
    ordered by ``(kappa*, kappa)``."""
    frame = data.frame()
    frame[["kappa", "kappa_star", "alpha"]] = list(frame["pair"])
    all_pairs = sorted(dict.fromkeys(zip(frame["kappa"], frame["kappa_star"])), key=lambda p: (p[1], p[0]))
    estimates = {}
    for kappa, kappa_star in all_pairs:
        sub = frame[(frame["kappa"] == kappa) & (frame["kappa_star"] == kappa_star)]
        alphas = np.array(sorted(sub["alpha"].unique()))
        mse = np.stack([sub[sub["alpha"] == a].sort_values("rep")["mse"].to_numpy() for a in alphas])
        estimates[(kappa, kappa_star)] = (alphas, mse, estimate_threshold(alphas, mse))
    return estimates


#: The (kappa, kappa*) panels of the paper's Figure 20.
FIGURE20_PAIRS = ((0.2, 0.1), (0.4, 0.3), (0.6, 0.3), (0.7, 0.1), (0.7, 0.3), (0.9, 0.3))


def figure20_threshold_estimator(estimates: Estimates) -> go.Figure:
    """The paper's Figure 20 panels (those among ``estimates``): top, the mean slope of log MSE with the
    half-minimum interval; bottom, the final MSE; gray: the theory alpha_PR."""
    pairs = [pair for pair in FIGURE20_PAIRS if pair in estimates]
    fig = plotting.new_figure("alpha", ["MSE'/MSE"] + [""] * (len(pairs) - 1) + ["mse"] + [""] * (len(pairs) - 1),
                              rows=2, cols=len(pairs),
                              subplot_titles=[f"κ = {k:g}, κ* = {ks:g}" for k, ks in pairs] + [""] * len(pairs),
                              height=700)
    for col, (kappa, kappa_star) in enumerate(pairs, start=1):
        alphas, mse, estimate = estimates[(kappa, kappa_star)]
        theory = alpha_pr(kappa, kappa_star)
        low_y, high_y = 1.1 * float(estimate.slope.min()), max(0.0, float(estimate.slope.max()))
        fig.add_trace(go.Scatter(x=[estimate.low, estimate.high, estimate.high, estimate.low, estimate.low],
                                 y=[low_y, low_y, high_y, high_y, low_y], fill="toself", mode="lines",
                                 fillcolor="rgba(255, 127, 14, 0.3)", line=dict(width=0),
                                 name="half-minimum interval", showlegend=col == 1, legendgroup="interval",
                                 meta={"kind": "estimate"}),
                      row=1, col=col)
        plotting.add_theory(fig, estimate.slope_alpha, estimate.slope, "mean slope of log MSE", color_index=3,
                            row=1, col=col, show_legend=col == 1, group="slope")
        fig.update_traces(mode="lines+markers", selector=dict(name="mean slope of log MSE"))
        fig.add_hline(y=0.5 * estimate.slope.min(), line=dict(color=plotting.color(3), dash="dash", width=1),
                      row=1, col=col)
        plotting.add_simulation(fig, alphas, mse, "final MSE", color_index=4, row=2, col=col, show_legend=col == 1,
                                group="mse")
        for row in (1, 2):
            fig.add_vline(x=theory, line=dict(color="gray", width=2), row=row, col=col)
        fig.update_yaxes(type="log", exponentformat="power", row=2, col=col)
    fig.update_layout(legend=dict(orientation="h", x=0, y=1.06, yanchor="bottom"), margin=dict(t=90))
    return fig


def threshold_estimates_text(data: FigureData, estimates: Estimates) -> str:
    """Markdown: summary sentence and table of every estimate against the theory alpha_PR."""
    rows = ["| κ | κ* | estimate | interval | theory α_PR | estimate − theory | theory in interval |",
            "|---|---|---|---|---|---|---|"]
    inside = 0
    for (kappa, kappa_star), (_, _, e) in estimates.items():
        theory = alpha_pr(kappa, kappa_star)
        inside += e.low <= theory <= e.high
        rows.append(f"| {kappa:g} | {kappa_star:g} | {e.alpha:.3f} | [{e.low:.3f}, {e.high:.3f}] | {theory:.4f} | "
                    f"{e.alpha - theory:+.3f} | {'yes' if e.low <= theory <= e.high else '**no**'} |")
    offsets = np.array([e.alpha - alpha_pr(*pair) for pair, (_, _, e) in estimates.items()])
    return (f"Estimates of all {len(estimates)} pairs against the theory (d = {data.d}, {data.reps} runs per α; the "
            f"point estimates lie on the α grid, step 0.03): the theory lies inside the half-minimum interval for "
            f"{inside} of {len(estimates)} pairs; estimate − theory has mean {offsets.mean():+.3f} and ranges from "
            f"{offsets.min():+.3f} to {offsets.max():+.3f}.\n\n" + "\n".join(rows))


def figure21_threshold_plane(data: FigureData, estimates: Estimates) -> go.Figure:
    """alpha_PR(kappa) for five kappa*, the parameter count, and the estimates of Figure 20 with their intervals."""
    fig = plotting.new_figure("kappa", "alpha_pr", x_range=(0.05, 1.1), y_range=(0.08, 0.54))
    for index, kappa_star in enumerate([0.1, 0.2, 0.3, 0.5, 0.7]):
        kappas = np.linspace(kappa_star, 1.1, 100)
        plotting.add_theory(fig, kappas, [alpha_pr(k, kappa_star) for k in kappas], f"α_PR, κ* = {kappa_star:g}",
                            color_index=index)
    kappas = np.linspace(0.05, 1.1, 200)
    plotting.add_theory(fig, kappas, [parameter_count(k) for k in kappas], "κ − κ²/2 (parameter counting)",
                        line_color="black", dash="dash")
    palette_index = {0.1: 0, 0.2: 1, 0.3: 2, 0.5: 3, 0.7: 4}
    shown_in_legend = set()
    for (kappa, kappa_star), (_, _, e) in estimates.items():
        fig.add_trace(go.Scatter(
            x=[kappa], y=[e.alpha], mode="markers", name=f"estimates, κ* = {kappa_star:g} (sim.)",
            legendgroup=f"estimates {kappa_star:g}", showlegend=kappa_star not in shown_in_legend,
            hovertext=f"κ = {kappa:g}, κ* = {kappa_star:g}: estimate {e.alpha:.3f} in [{e.low:.3f}, {e.high:.3f}]",
            marker=dict(symbol="x", size=11, color=plotting.color(palette_index[kappa_star]),
                        line=dict(width=1, color="black")),
            error_y=dict(type="data", symmetric=False, array=[e.high - e.alpha], arrayminus=[e.alpha - e.low]),
            meta={"kind": "simulation", "reps": data.reps, "error_bars": False}))
        shown_in_legend.add(kappa_star)
    plotting.add_note(fig, "crosses: estimates of Figure 20; bars: half-minimum interval")
    return fig


# ------------------------------------------------------------------------------------------------------------
# book/convergence.md
# ------------------------------------------------------------------------------------------------------------
#: Time windows where Figure 13's power laws are compared with the simulations, per kappa.
OJA_WINDOWS = {0.8: (50, 150), 0.2: (2, 10)}


def figure13_oja(data: FigureData) -> tuple[go.Figure, dict[tuple[float, int], tuple[float, float]]]:
    """Dist(t) of the exact Oja flow for kappa = 0.8 and 0.2 (columns) and three sizes, with the d -> infinity
    power laws; returns the figure and ``(kappa, d) -> (min, max)`` of ``Dist * t^p / C_p`` over
    :data:`OJA_WINDOWS`."""
    frame = data.frame()
    fig = plotting.new_figure("t", ["Dist(t)", ""], log_x=True, log_y=True, rows=1, cols=2, x_range=(0.05, 2000),
                              y_range=(1e-12, 5), subplot_titles=["κ = 0.8", "κ = 0.2"])
    agreement = {}
    for col, kappa in enumerate([0.8, 0.2], start=1):
        runs = frame[frame["kappa"] == kappa]
        exponent, constant = oja_power_law(kappa)
        for index, (size, group) in enumerate(runs.groupby("size", sort=True)):
            t, samples = _time_samples(group, "dist")
            plotting.add_simulation(fig, t, samples, f"d = {size}", color_index=index, row=1, col=col,
                                    show_legend=col == 1, group=f"d={size}", error_bars=False)
            low, high = OJA_WINDOWS[kappa]
            window = (t >= low) & (t <= high)
            ratio = samples.mean(axis=1)[window] * t[window] ** exponent / constant
            agreement[(kappa, size)] = (ratio.min(), ratio.max())
        grid = np.geomspace(0.3, 2000, 100)
        plotting.add_theory(fig, grid, constant * grid ** -exponent,
                            f"C{exponent} t^-{exponent}" + (" (κ ≥ 1/2)" if exponent == 3 else " (κ < 1/2)"),
                            line_color="black", dash="dash", row=1, col=col)
    fig.update_layout(legend=dict(orientation="h", x=0, y=1.1, yanchor="bottom"), margin=dict(t=90))
    return fig, agreement


def oja_agreement_table(agreement: dict[tuple[float, int], tuple[float, float]]) -> str:
    """Markdown table of :func:`figure13_oja`'s ratios to the power laws."""
    rows = ["| κ | d | t window | Dist · tᵖ / Cₚ (min – max over the window) |", "|---|---|---|---|"]
    for (kappa, size), (low, high) in agreement.items():
        window = "50 ≤ t ≤ 150" if kappa == 0.8 else "2 ≤ t ≤ 10"
        rows.append(f"| {kappa} | {size} | {window} | {low:.2f} – {high:.2f} |")
    return "\n".join(rows)


def kappa_min_by_alpha(data: FigureData) -> dict[float, float]:
    """``alpha -> kappa_min`` of the unconstrained (kappa = 1) fixed point at the figure's kappa* and lambda."""
    first = data.tasks[0]
    return {alpha: fixed_point(Setting(alpha=alpha, kappa=1.0, kappa_star=first["kappa_star"],
                                       lam=first["lam"])).kappa_min
            for alpha in sorted(data.frame()["alpha"].unique())}


def figure14_objective(data: FigureData, kappa_min: Mapping[float, float]) -> go.Figure:
    """Excess regularised objective over time, panels split by kappa versus kappa_min(alpha), with the paper's
    t^-3 guides."""
    frame = data.frame()
    first = data.tasks[0]
    fig = plotting.new_figure("t", ["Loss_λ(t) − Loss_λ(T)", ""], log_x=True, log_y=True, rows=1, cols=2,
                              x_range=(0.5, first["t_max"]), y_range=(1e-10, 0.5),
                              subplot_titles=["κ > κ_min(α)", "κ < κ_min(α)"])
    for index, (alpha, runs) in enumerate(frame.groupby("alpha", sort=True)):
        col = 1 if first["kappa"] > kappa_min[alpha] else 2
        t = np.asarray(runs["t"].iloc[0])
        objective = np.stack([np.asarray(v) for v in runs["objective"]], axis=1)
        excess = objective[:-1] - objective[-1]      # per run: objective minus its value at the final time T
        keep = (t[:-1] >= 0.5)
        mean = excess[keep].mean(axis=1)
        ok = mean > 0
        plotting.add_simulation(fig, t[:-1][keep][ok], excess[keep][ok],
                                f"α = {alpha:g} (κ_min = {kappa_min[alpha]:.2f})", color_index=index, row=1, col=col,
                                error_bars=False)
    grid = np.geomspace(0.5, first["t_max"], 50)
    plotting.add_theory(fig, grid, 10 * grid ** -3.0, "10 t⁻³ (guide)", line_color="black", dash="dash", row=1,
                        col=1)
    plotting.add_theory(fig, grid, 0.5 * grid ** -3.0, "0.5 t⁻³ (guide)", line_color="black", dash="dot", row=1,
                        col=2)
    fig.update_layout(legend=dict(orientation="h", x=0, y=1.1, yanchor="bottom"), margin=dict(t=90))
    return fig


def objective_exponent_table(data: FigureData, kappa_min: Mapping[float, float]) -> str:
    """Markdown table: local exponent of the mean excess objective between t ~ 30 and t ~ 300, per alpha."""
    first = data.tasks[0]
    rows = ["| α | κ_min(α) | panel | local exponent, t ≈ 30 → 300 |", "|---|---|---|---|"]
    for alpha, runs in data.frame().groupby("alpha", sort=True):
        t = np.asarray(runs["t"].iloc[0])
        objective = np.stack([np.asarray(v) for v in runs["objective"]], axis=1)
        excess = (objective[:-1] - objective[-1]).mean(axis=1)
        i, j = int(np.argmin(abs(t - 30))), int(np.argmin(abs(t - 300)))
        exponent = np.log(excess[j] / excess[i]) / np.log(t[j] / t[i])
        panel = "κ > κ_min" if first["kappa"] > kappa_min[alpha] else "κ < κ_min"
        rows.append(f"| {alpha:g} | {kappa_min[alpha]:.3f} | {panel} | {exponent:.2f} |")
    return "\n".join(rows)
