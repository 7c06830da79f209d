"""Benchmark of the fixed-point engine (qnn.spectral + qnn.fixed_point), side by side with a plain implementation.

The plain implementation evaluates the density and Hilbert transform point by point (``numpy.roots`` of the cubic at
each x) inside ``scipy.integrate.quad`` for every tail integral, finds ``omega`` by ``brentq`` on a ``quad`` mass,
and solves the two fixed-point equations with ``scipy.optimize.root`` — the approach of the paper's code
(FIGURES.md section 5: 0.5-0.9 s per xi point there).

Usage::

    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_theory.py [--repeats 15]

Prints a markdown table (paste into benchmarks/README.md, section "Theory").
"""
from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import time

import numpy as np
from scipy.integrate import quad
from scipy.optimize import brentq, root

import qnn
from qnn import Setting, fixed_point, fixed_point_curve
from qnn import spectral

from qnn import fixed_point_equations as _EQ

SETTINGS = [
    Setting(0.25, 0.7, 0.5, lam=0.1),
    Setting(0.39, 1.0, 0.3, noise=1.0, lam=0.1),
    Setting(0.3, 0.35, 0.3, lam=0.05),
    Setting(0.29, 0.4, 0.3, noise=1.0, lam=0.001),
]


# ------------------------------------------------------------------------------------------------ plain version
def plain_g(x: float, ks: float, xi: float) -> complex:
    roots = np.roots([xi, -(x + ks * xi), 1 - ks + ks * x, -ks])
    cand = [r for r in roots if r.imag < -1e-12]
    return complex(cand[0]) if cand else complex(0.0)


def plain_rho(x: float, ks: float, xi: float) -> float:
    return -plain_g(x, ks, xi).imag / math.pi


def plain_state(s: Setting, xi: float, q: float) -> tuple[float, float, float]:
    ks = s.kappa_star
    lo, hi = spectral.support(ks, xi)[0][0], spectral.support(ks, xi)[-1][1]
    mass = lambda b: quad(lambda x: plain_rho(x, ks, xi), b, hi, limit=200)[0]  # noqa: E731
    omega = -math.inf if s.kappa >= 1 else brentq(lambda b: mass(b) - s.kappa, lo, hi, xtol=1e-10)
    b = max(q, omega, lo)
    dof = quad(lambda x: plain_rho(x, ks, xi) * plain_g(x, ks, xi).real * (x - q), b, hi, limit=200)[0]
    a0 = quad(lambda x: plain_rho(x, ks, xi), b, hi, limit=200)[0]
    a2 = quad(lambda x: plain_rho(x, ks, xi) * x * x, b, hi, limit=200)[0]
    mse = 1 + 1 / ks + q * q * a0 - a2 + 4 * xi * dof
    return mse, dof, a0


def plain_fixed_point(s: Setting, xi0: float, q0: float) -> tuple[float, float, float]:
    def res(u):
        xi, q = math.exp(u[0]), math.exp(u[1])
        mse, dof, _ = plain_state(s, xi, q)
        return [math.log(2 * s.alpha * xi) - math.log(mse + s.noise / 2), 1 - s.lam / q - dof / s.alpha]
    sol = root(res, [math.log(xi0), math.log(q0)], method="hybr")
    xi, q = math.exp(sol.x[0]), math.exp(sol.x[1])
    return plain_state(s, xi, q)[0], xi, q


# ------------------------------------------------------------------------------------------------ timing helpers
def clear_caches() -> None:
    _EQ.clear_caches()
    spectral._discriminant_quartic.cache_clear()
    spectral._quartic_roots.cache_clear()
    spectral._support.cache_clear()


CLOCK = time.process_time   # CPU time of this process: robust to the shared machine's load (wall time is not)


def timed(fn, repeats: int) -> tuple[float, list[float]]:
    times = []
    out = None
    for _ in range(repeats):
        clear_caches()
        t = CLOCK()
        out = fn()
        times.append(CLOCK() - t)
    return statistics.median(times), times, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=15)
    args = ap.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.1f} at start; numpy {np.__version__}, "
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}, qnn {qnn.__version__}")
    print("times: CPU time of the benchmark process (time.process_time), median over repeats for the fast code")
    print()
    print("| task | fast (median) | plain | speed-up | agreement |")
    print("|---|---|---|---|---|")
    # 1. one evaluation of the equations at (xi, q): law, omega, tail integrals
    for ks, xi, qq, kappa in ((0.3, 1.0, 0.5, 0.4), (0.5, 0.2, 0.3, 1.0)):
        s = Setting(0.3, kappa, ks, lam=0.1)
        med, _, ev = timed(lambda: _EQ.evaluate(kappa, ks, xi, np.array([qq])), args.repeats)
        t = CLOCK()
        mse_plain, dof_plain, _ = plain_state(s, xi, qq)
        t_plain = CLOCK() - t
        print(f"| equations at one (xi, q) = ({xi}, {qq}), kappa={kappa}, kappa*={ks}: law + omega + tail "
              f"integrals vs point-by-point quad | {med * 1e3:.2f} ms | {t_plain * 1e3:.0f} ms | "
              f"{t_plain / med:.0f}x | MSE diff {abs(float(ev['mse'][0]) - mse_plain):.1e} |")
    # 2. single fixed points
    for s in SETTINGS:
        med, _, fp = timed(lambda: fixed_point(s), args.repeats)
        t = CLOCK()
        mse_plain, _, _ = plain_fixed_point(s, fp.xi * 1.2, fp.q * 1.2)
        t_plain = CLOCK() - t
        print(f"| fixed point alpha={s.alpha}, kappa={s.kappa}, kappa*={s.kappa_star}, Delta={s.noise}, "
              f"lambda={s.lam} | {med * 1e3:.1f} ms | {t_plain:.1f} s | {t_plain / med:.0f}x | "
              f"rel. MSE diff {abs(mse_plain / fp.mse - 1):.1e} |")
    # 3. 100-point curves
    alphas = np.linspace(0.01, 0.6, 100)
    for s in SETTINGS[:2] + SETTINGS[3:]:
        for exact in (True, False):
            med, _, curve = timed(lambda: fixed_point_curve(s, alphas, exact=exact), max(3, args.repeats // 5))
            print(f"| 100-alpha curve ({'polished' if exact else 'interpolated'}), kappa={s.kappa}, "
                  f"kappa*={s.kappa_star}, Delta={s.noise}, lambda={s.lam} | {med:.2f} s | | | "
                  f"{int(curve.converged.sum())}/100 converged |")
    print()
    print(f"load average at end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
