"""Benchmark of the fixed-point solver: the fast path (default) against the reference path, cold, side by side.

Cold means fresh settings with every cache cleared before each call (a new slider value in an app): the spectral-law
caches of :mod:`qnn.longtime.equations` and :mod:`qnn.spectra.laws`, and the per-kappa* matrix of
:mod:`qnn.spectra.batch`. Single thread (OpenBLAS limited to one thread below, before numpy loads). Times are the CPU
time of this process (``time.process_time``), robust to the shared machine's load; each call is repeated and the
median kept.

1. Single fixed points on the 55 settings of ``tests/theory_grid.py`` (all regimes), both methods: median and worst
   time, ratio, largest relative MSE difference, fallbacks of the fast path to the reference path.
2. 200-alpha curves (``fixed_point_curve``, polished and interpolated) at six settings including the noisy
   double-descent fold, both methods.

Usage::

    .venv/bin/python benchmarks/bench_theory.py [--repeats 3] [--curve-repeats 3]

Prints markdown tables (paste into benchmarks/README.md, section "Theory").
"""
from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import pathlib
import platform
import statistics
import sys
import time

import numpy as np

import qnn
from qnn import Setting, fixed_point, fixed_point_curve
from qnn.longtime import equations as fixed_point_equations, fast as fixed_point_fast
from qnn.spectra import laws as spectral, batch as spectral_batch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "tests"))
from theory_grid import GRID

CURVES = [
    Setting(0.3, 0.7, 0.5, lam=0.1),
    Setting(0.3, 1.0, 0.3, noise=1.0, lam=0.1),
    Setting(0.3, 0.35, 0.3, lam=0.05),                      # rank cap binds
    Setting(0.3, 0.4, 0.3, noise=1.0, lam=1e-3),             # double-descent fold
    Setting(0.3, 0.4, 0.3, noise=1.0),                       # lambda -> 0+, branch switch at the peak
    Setting(0.3, 1.0, 0.3, noise=0.5, lam=1e-4),             # fold, lambda = 1e-4
]
ALPHAS = np.linspace(0.02, 0.8, 200)
CLOCK = time.process_time


def clear_caches() -> None:
    fixed_point_equations.clear_caches()
    for fn in (spectral._discriminant_quartic, spectral._quartic_roots, spectral._support,
               spectral_batch._quartic_matrix):
        fn.cache_clear()


def timed(fn, repeats: int):
    times, out = [], None
    for _ in range(repeats):
        clear_caches()
        t = CLOCK()
        out = fn()
        times.append(CLOCK() - t)
    return statistics.median(times), out


def single_points(repeats: int) -> None:
    fast_t, ref_t, diffs, rows = [], [], [], []
    fb0 = fixed_point_fast.STATS["fallbacks"]
    for s in GRID:
        tf, f = timed(lambda: fixed_point(s), repeats)
        tr, r = timed(lambda: fixed_point(s, method="reference"), repeats)
        d = abs(f.mse / r.mse - 1.0) if r.mse > 0 else abs(f.mse)
        fast_t.append(tf)
        ref_t.append(tr)
        diffs.append(d)
        rows.append((s, tf, tr, d, f.branch == r.branch and f.converged == r.converged))
    fast_t, ref_t = np.array(fast_t) * 1e3, np.array(ref_t) * 1e3
    ratio = ref_t / fast_t
    print(f"Single fixed points, {len(GRID)} settings (tests/theory_grid.py), cold, median of {repeats} calls each:")
    print()
    print("| | fast (ms CPU) | reference (ms CPU) | ratio reference/fast |")
    print("|---|---|---|---|")
    print(f"| median | {np.median(fast_t):.1f} | {np.median(ref_t):.1f} | {np.median(ratio):.1f}x |")
    print(f"| worst (max time) | {fast_t.max():.1f} | {ref_t.max():.1f} | "
          f"per setting {ratio.min():.2f}x - {ratio.max():.1f}x |")
    print()
    print(f"Largest relative MSE difference fast vs reference: {max(diffs):.1e}; branch and converged flag equal in "
          f"{sum(r[4] for r in rows)}/{len(rows)}; fallbacks of the fast path to the reference path: "
          f"{fixed_point_fast.STATS['fallbacks'] - fb0}.")
    slow = sorted(rows, key=lambda r: -r[1])[:3]
    print("Slowest fast calls: " + "; ".join(f"(alpha={s.alpha}, kappa={s.kappa}, kappa*={s.kappa_star}, "
                                             f"Delta={s.noise}, lambda={s.lam}) {tf * 1e3:.1f} ms"
                                             for s, tf, _, _, _ in slow))
    print()


def curves(repeats: int) -> None:
    print(f"200-alpha curves (alpha in [0.02, 0.8]), cold, median of {repeats} (reference: 1 call):")
    print()
    print("| setting | fast polished (ms) | fast interpolated (ms) | reference polished (ms) | ratio | "
          "max rel. MSE diff (polished / interpolated) |")
    print("|---|---|---|---|---|---|")
    for s in CURVES:
        tf, cf = timed(lambda: fixed_point_curve(s, ALPHAS), repeats)
        ti, ci = timed(lambda: fixed_point_curve(s, ALPHAS, exact=False), repeats)
        tr, cr = timed(lambda: fixed_point_curve(s, ALPHAS, method="reference"), 1)
        ok = cr.mse > 0
        d = np.max(np.abs(cf.mse[ok] / cr.mse[ok] - 1.0))
        di = np.max(np.abs(ci.mse[ok] / cr.mse[ok] - 1.0))
        print(f"| kappa={s.kappa}, kappa*={s.kappa_star}, Delta={s.noise}, lambda={s.lam} | {tf * 1e3:.0f} | "
              f"{ti * 1e3:.0f} | {tr * 1e3:.0f} | {tr / tf:.0f}x | {d:.1e} / {di:.1e} "
              f"({int(cf.converged.sum())}/200 converged) |")
    print()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--curve-repeats", type=int, default=3)
    args = ap.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.1f} at start; numpy {np.__version__}, "
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS')}, qnn {qnn.__version__}")
    print()
    single_points(args.repeats)
    curves(args.curve_repeats)
    print(f"load average at end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
