"""Benchmarks of qnn.mean_field (the DMFT solver): cost vs d_eff, iterations, step-size error, response-estimator noise.

Run (results go to benchmarks/README.md, section "DMFT")::

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/bench_dmft.py [cost|steps|response|all] [--quick]

Everything runs in-process with one BLAS thread (``n_jobs=1``) and reports both wall time and CPU time
(``time.process_time``): on a shared machine the wall time is inflated by other users' jobs, the CPU time is not;
with ``n_jobs=2`` the samples are split over two workers, so the idle-machine wall time on 2 cores is about
CPU / 2 plus the (serial) population runs.
"""
from __future__ import annotations

import argparse
import importlib
import math
import os
import platform
import time

import numpy as np

from qnn import Setting

dm = importlib.import_module("qnn.mean_field")

SETTING = Setting(alpha=0.4, kappa=0.7, kappa_star=0.5, lam=0.05)


def bench_cost(quick: bool) -> None:
    print("## cost: t_max = 20, setting A (alpha 0.4, kappa 0.7, kappa* 0.5, lambda 0.05), samples 4, "
          "control_samples 16, n_starts 20, default tol (1e-3, per-time test), default grid")
    print("| d_eff | grid points | sweeps | converged | wall (s) | CPU (s) | CPU per sweep and sample (s) | "
          "Loss_train(t_max) change in the last sweep |")
    print("|---|---|---|---|---|---|---|---|")
    for d_eff in ((20, 30) if quick else (40, 60, 80)):
        wall, cpu = time.perf_counter(), time.process_time()
        r = dm.dmft(SETTING, 5.0 if quick else 20.0, d_eff=d_eff, samples=4, control_samples=16, n_starts=20,
                    progress=False)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        print(f"| {d_eff} | {r.t.size} | {r.iterations} | {r.converged} | {wall:.0f} | {cpu:.0f} | "
              f"{cpu / (r.iterations * 4):.1f} | {r.loss_history[-1] / r.loss_history[-2] - 1:+.1e} |", flush=True)


def bench_steps(quick: bool) -> None:
    """Step-size error of the explicit Heun integrator on the graded grid, on deterministic problems (the DMFT
    itself redraws its noise on every grid, so grids cannot be compared sample by sample): the population flow's
    MSE(t), and the time integral of the response R(s + lag, s) from tangent-linear runs (what sets chi)."""
    t_max = 5.0 if quick else 10.0
    d = 30 if quick else 60
    seq = dm._child(np.random.SeedSequence(0), 0)
    base = dm.default_n_times(SETTING, t_max)
    print(f"## step-size error, population flow, d = {d}, t_max = {t_max:g} (reference: 8x finer grid)")
    ref_t = dm.time_grid(t_max, 8 * (base - 1) + 1)
    ref_D = dm.population_flow(SETTING, ref_t, d, seq)
    ref = np.einsum("ij,ij->i", ref_D, ref_D) / d
    print("| n_times | late step | max rel. error of MSE(t) |")
    print("|---|---|---|")
    for factor in (0.5, 1, 2):
        n = int(factor * (base - 1)) + 1
        t = dm.time_grid(t_max, n)
        D = dm.population_flow(SETTING, t, d, seq)
        mse = np.einsum("ij,ij->i", D, D) / d
        err = np.max(np.abs(mse - np.interp(t, ref_t, ref)) / np.interp(t, ref_t, ref))
        print(f"| {n} | {np.diff(t)[-1]:.3f} | {err:.2e} |", flush=True)
    print(f"## step-size error of the response: int_0^(t_max - s) R(s + lag, s) dlag, s = t_max/2, "
          f"population flow, d = {d}, 4 probes, uniform grid")
    S_star, W0, _ = dm._draws(SETTING, d, seq)
    P = dm.goe(d, np.random.default_rng(7), size=4)
    print("| step | integral of R | R(s + 0.1, s) |")
    print("|---|---|---|")
    for n in (201, 401, 801, 1601):
        t = dm.time_grid(t_max, n, refine=1.0)
        traj = dm._effective_run(t, S_star, W0, SETTING.lam, None, None, keep=True)
        j = int(np.searchsorted(t, t_max / 2))
        r = dm._tangent_runs(t, np.array([j] * 4), P, traj, None).mean(axis=0)[j:]
        lag = t[j:] - t[j]
        print(f"| {t[1] - t[0]:.4f} | {np.trapezoid(r, lag):.5f} | {np.interp(0.1, lag, r):.4f} |", flush=True)


def bench_response(quick: bool) -> None:
    """Noise of the two response estimators on one converged effective-process sample.

    Tangent-linear (Hutchinson probe): spread between two independent probes at the same start time.
    Novikov: E tr(S(t) Z_k) = sqrt(alpha)^{-1} d sum_u R(t, u) w_u L_uk, solved for R with the Cholesky factor L
    of Cu (one sample, all Z_k). Reported: relative deviation from the tangent-linear estimate.
    """
    t_max, d = (3.0, 30) if quick else (5.0, 60)
    r = dm.dmft(SETTING, t_max, d_eff=d, samples=2, control_samples=2, progress=False)
    t, n = r.t, r.t.size
    side = dm.sample_side(t, r.C, r.R, SETTING.alpha, SETTING.noise)
    L = dm.causal_sqrt(side.Cu)
    seq = dm._child(np.random.SeedSequence(0), 0)
    S_star, W0, noise_seq = dm._draws(SETTING, d, seq)
    Z = dm.goe(d, np.random.default_rng(dm._child(noise_seq, 0)), size=n).reshape(n, d * d)
    Xi = L @ Z / math.sqrt(SETTING.alpha)
    traj = dm._effective_run(t, S_star, W0, SETTING.lam, Xi, side.memory, keep=True)
    rng = np.random.default_rng(5)
    starts = np.array([n // 4] * 4)
    tangent = dm._tangent_runs(t, starts, dm.goe(d, rng, size=4), traj, side.memory)
    j = n // 4
    probe_spread = np.nanstd(tangent[:, j + 1:], axis=0).mean() / np.abs(np.nanmean(tangent[:, j + 1:], axis=0)).mean()
    S = traj.W @ traj.W.transpose(0, 2, 1)
    A = np.einsum("nk,tk->tn", Z, S.reshape(n, -1)) * math.sqrt(SETTING.alpha) / d   # (t, k)
    w = np.concatenate([[0.5 * (t[1] - t[0])], 0.5 * (t[2:] - t[:-2]), [0.5 * (t[-1] - t[-2])]])
    # R(t, u) w_u = A(t, :) L^{-1}  (row vector times inverse lower-triangular)
    RW = np.linalg.solve(L.T, A.T).T
    novikov = RW / w
    ref = np.nanmean(tangent, axis=0)
    sel = slice(j + 1, n)
    nov_dev = np.median(np.abs(novikov[sel, j] - ref[sel]) / np.abs(ref[sel]))
    print(f"## response estimators, d_eff = {d}, column s = {t[j]:.3f}")
    print(f"tangent-linear: relative spread of one probe = {probe_spread:.3f}; "
          f"Novikov (one sample): median relative deviation = {nov_dev:.3g}; cond(L) = {np.linalg.cond(L):.2e}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("what", nargs="?", default="all", choices=["cost", "steps", "response", "all"])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"numpy {np.__version__}, OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS')}, "
          f"load average {os.getloadavg()[0]:.1f}")
    if args.what in ("response", "all"):
        bench_response(args.quick)
    if args.what in ("steps", "all"):
        bench_steps(args.quick)
    if args.what in ("cost", "all"):
        bench_cost(args.quick)


if __name__ == "__main__":
    main()
