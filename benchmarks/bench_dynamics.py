"""Benchmark of the dynamics chapter: regeneration time of its cached data, and the exact Oja solver.

Usage::

    .venv/bin/python benchmarks/bench_dynamics.py --oja            # exact Oja flow vs Euler (seconds, accuracy)
    .venv/bin/python benchmarks/bench_dynamics.py --regenerate     # time `python -m qnn data <fig> --jobs 2`

``--regenerate`` writes into a temporary data directory (``QNN_DATA_DIR``), so the book's caches are untouched.
Results are recorded by hand in ``benchmarks/README.md`` (section DYN) with the machine load.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

FIGURES = ("dyn_fig1", "dyn_fig5", "dyn_fig12", "dyn_fig13", "dyn_fig14", "dyn_fig9", "dyn_fig10", "dyn_fig20",
           "dyn_dmft")


def bench_oja() -> None:
    from qnn.simulation.oja import oja_flow, oja_limit, oja_problem

    for d, kappa in ((200, 0.8), (400, 0.8), (400, 0.2)):
        start = time.perf_counter()
        result = oja_flow(d, kappa, 2000.0, reps=1, seed=1, n_records=60, max_step=4.0)
        print(f"exact Oja flow d={d} kappa={kappa} t<=2000: {time.perf_counter() - start:.2f} s, "
              f"Dist(2000) = {result.dist[0, -1]:.2e}")
    # Euler (the paper's scheme, eta = 5e-3) to t = 10 at d = 100 for comparison of cost and accuracy
    d, kappa, seed = 100, 0.8, 1
    exact = oja_flow(d, kappa, 10.0, seed=seed, n_records=3, t_first=5.0)
    m = exact.m
    tau, U, W = oja_problem(d, m, 1.0, np.random.SeedSequence(seed, spawn_key=(0,)))
    T = (U * tau) @ U.T
    Z_inf = (U * oja_limit(tau, m)) @ U.T
    start = time.perf_counter()
    for _ in range(int(round(10.0 / 5e-3))):
        W += 5e-3 * (T - W @ W.T) @ W
    euler = np.sum((W @ W.T - Z_inf) ** 2) / d
    print(f"Euler eta=5e-3, d={d}, t=10: {time.perf_counter() - start:.2f} s, Dist = {euler:.4e} "
          f"(exact {exact.dist[0, -1]:.4e}, relative difference {abs(euler / exact.dist[0, -1] - 1):.1e})")


def bench_regenerate() -> None:
    with tempfile.TemporaryDirectory() as data, tempfile.TemporaryDirectory() as partial:
        env = {**os.environ, "QNN_DATA_DIR": data, "QNN_PARTIAL_DIR": partial}
        total = 0.0
        for name in FIGURES:
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "qnn", "data", name, "--jobs", "2"], env=env, check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            seconds = time.perf_counter() - start
            total += seconds
            print(f"{name}: {seconds:.0f} s", flush=True)
        print(f"total: {total:.0f} s; load average now {os.getloadavg()[0]:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--oja", action="store_true")
    parser.add_argument("--regenerate", action="store_true")
    args = parser.parse_args()
    if not (args.oja or args.regenerate):
        parser.error("choose --oja and/or --regenerate")
    if args.oja:
        bench_oja()
    if args.regenerate:
        bench_regenerate()


if __name__ == "__main__":
    main()
