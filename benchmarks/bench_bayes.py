"""Benchmark of the Bayes-optimal error (qnn.optimal.bayes, qnn.optimal.denoising), side by side with a plain version.

The plain version is the independent computation of tests/test_bayes_optimal.py: the Stieltjes transform from the
companion-matrix eigenvalues of the cubic on a uniform grid of 20001 points, MMSE = E|S*|^2/d - E|S_hat|^2/d by the
trapezoidal rule, the fixed point by a scan from the upper bound and the Illinois method.

Usage::

    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_bayes.py [--repeats 7]

Prints a markdown table (benchmarks/README.md, section "Bayes-optimal"). Times are CPU times of this process
(``time.process_time``): the shared machine's wall times vary several-fold with its load.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from qnn import Setting, bayes_optimal, bayes_optimal_branch, bayes_optimal_curve
from qnn.optimal.denoising import mmse_denoising

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_bayes_optimal import _independent_bayes

POINTS = [Setting(0.2, 1.0, 0.3), Setting(0.3, 1.0, 0.5), Setting(0.25, 1.0, 1.0), Setting(0.3, 1.0, 2.0),
          Setting(0.2, 1.0, 0.3, noise=0.5), Setting(0.4, 1.0, 0.5, noise=1.0), Setting(0.6, 1.0, 1.0, noise=0.25),
          Setting(0.1, 1.0, 2.0, noise=1.0)]


def cpu(fn, repeats: int) -> tuple[float, object]:
    """Median CPU time of ``fn()`` over ``repeats`` calls, and its last result."""
    times, out = [], None
    for _ in range(repeats):
        start = time.process_time()
        out = fn()
        times.append(time.process_time() - start)
    return statistics.median(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    print(f"# {platform.processor() or platform.machine()}, load {os.getloadavg()[0]:.1f}, "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print("| task | fast (median CPU) | plain (CPU) | speed-up | agreement |")
    print("|---|---|---|---|---|")
    t_eval, _ = cpu(lambda: mmse_denoising(0.5, 0.3), args.repeats * 10)
    print(f"| mmse(xi) at kappa*=0.5, xi=0.3 (one int rho^3) | {t_eval * 1e3:.2f} ms | | | |")
    fast_total = 0.0
    for s in POINTS:
        t_fast, r = cpu(lambda: bayes_optimal(s), args.repeats)
        t_plain, ref = cpu(lambda: _independent_bayes(s.kappa_star, s.alpha, s.noise), 1)
        fast_total += t_fast
        print(f"| BO point alpha={s.alpha}, kappa*={s.kappa_star}, Delta={s.noise} ({r.evaluations} evaluations) | "
              f"{t_fast * 1e3:.1f} ms | {t_plain:.2f} s | {t_plain / t_fast:.0f}x | {abs(r.mmse - ref):.1e} |")
    print(f"| mean per point (8 points) | {fast_total / len(POINTS) * 1e3:.1f} ms | | | |")
    alphas = np.linspace(0.005, 0.8, 100)
    for ks, noise in ((0.3, 0.0), (0.3, 1.0), (1.5, 0.5)):
        setting = Setting(0.1, 1.0, ks, noise=noise)
        t_ex, ex = cpu(lambda: bayes_optimal_curve(setting, alphas), max(1, args.repeats // 3))
        t_in, fa = cpu(lambda: bayes_optimal_curve(setting, alphas, exact=False), args.repeats)
        t_br, _ = cpu(lambda: bayes_optimal_branch(ks, noise, np.geomspace(1e-4, 1e3, 80)), args.repeats)
        print(f"| 100-alpha curve kappa*={ks}, Delta={noise}: polished / interpolated / 80-xi branch | "
              f"{t_ex:.2f} s / {t_in * 1e3:.0f} ms / {t_br * 1e3:.0f} ms | | | "
              f"{np.max(np.abs(fa.mmse - ex.mmse)):.1e} (interp. vs polished); {int(ex.converged.sum())}/100 |")


if __name__ == "__main__":
    main()
