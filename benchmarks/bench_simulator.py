"""Benchmark: time per gradient-descent step of the simulator vs a feature-tensor reference.

One GD step is ``W <- W - eta G W`` with ``G = (d/n) sum_mu (tr(S Z_mu) - y_mu) Z_mu + 2 lambda I``
(book/theory/conventions.md). Compared, side by side in one run, at d = 50, 100, 150 (alpha = 0.5, kappa = 0.7,
kappa* = 0.3):

* ``qnn`` (gaussian inputs): :func:`qnn.simulation.network.flow_velocity`, O(n d m) through ``X W``; the n x d x d
  feature tensor is never formed.
* ``qnn`` (GOE features, packed upper triangle): O(n d^2 / 2).
* reference: the straightforward implementation that forms ``Z = (x x^T - I)/sqrt(d)`` as an (n, d, d) array once
  and contracts it with ``numpy.einsum`` at every step (O(n d^2) per step, O(n d^2) memory: 2 GiB at d = 150).
  Skipped at a given d if the machine has less than 3x that memory available.
* the same tensor viewed as an (n, d^2) matrix and contracted by BLAS matrix-vector products (a better tensor
  implementation, shown for honesty: the gain of qnn over it is smaller).

Also checks that both implementations give the same step (max abs difference printed).

Usage::

    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_simulator.py [--dims 50 100 150] [--repeats 5]

Prints a markdown table (copy it into benchmarks/README.md).
"""
from __future__ import annotations

import argparse
import math
import os
import platform
import time

import numpy as np

from qnn.conventions import Setting
from qnn.simulation.data import init_student, make_dataset, rep_generators
from qnn.simulation.network import flow_velocity


def reference_step(Z: np.ndarray, y: np.ndarray, W: np.ndarray, eta: float, lam: float) -> np.ndarray:
    """One GD step through the explicit feature tensor Z (n, d, d) and einsum."""
    n, d, _ = Z.shape
    S = W @ W.T
    residual = np.einsum("nij,ij->n", Z, S) - y
    G = (d / n) * np.einsum("n,nij->ij", residual, Z) + 2 * lam * np.eye(d)
    return W - eta * G @ W


def reference_blas_step(Z_flat: np.ndarray, y: np.ndarray, W: np.ndarray, eta: float, lam: float) -> np.ndarray:
    """The same through the tensor viewed as an (n, d*d) matrix: two BLAS matrix-vector products."""
    n = Z_flat.shape[0]
    d = W.shape[0]
    S = W @ W.T
    residual = Z_flat @ S.ravel() - y
    G = (d / n) * (residual @ Z_flat).reshape(d, d) + 2 * lam * np.eye(d)
    return W - eta * G @ W


def ours_step(data, W: np.ndarray, eta: float, lam: float) -> np.ndarray:
    return W - eta * flow_velocity(data, W, lam)


def best_time(function, repeats: int) -> tuple[float, float]:
    """(min, median) wall time of ``function()`` over ``repeats`` calls, after one warm-up call."""
    function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times), float(np.median(times))


def available_memory_bytes() -> int:
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dims", type=int, nargs="+", default=[50, 100, 150])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--t-max", type=float, default=1000.0, help="time-to-solution run length (0 to skip)")
    parser.add_argument("--solution-dims", type=int, nargs="+", default=[40])
    parser.add_argument("--accuracy", action="store_true", help="also measure the step-size error (d = 30)")
    args = parser.parse_args()
    setting = Setting(alpha=0.5, kappa=0.7, kappa_star=0.3, noise=0.1, lam=0.01)
    eta = 5e-3
    print(f"# machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}, numpy {np.__version__}")
    print("| d | n | m | qnn gaussian (ms/step) | qnn goe packed (ms/step) | einsum reference (ms/step) "
          "| speed-up vs einsum | tensor + BLAS matvec (ms/step) | speed-up vs BLAS | max abs step difference |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for d in args.dims:
        n, m, _ = setting.dims(d)
        gens = rep_generators(0, 0)
        data = make_dataset(setting, d, gens, "gaussian")
        W = init_student(d, m, setting.gamma, gens.init)
        ours, _ = best_time(lambda: ours_step(data, W, eta, setting.lam), args.repeats)
        goe_data = make_dataset(setting, d, rep_generators(0, 0), "goe")
        ours_goe, _ = best_time(lambda goe_data=goe_data: ours_step(goe_data, W, eta, setting.lam), args.repeats)
        del goe_data
        tensor_bytes = 8 * n * d * d
        if available_memory_bytes() > 3 * tensor_bytes:
            Z = (np.einsum("ni,nj->nij", data.X, data.X) - np.eye(d)) / math.sqrt(d)
            reference, _ = best_time(lambda: reference_step(Z, data.y, W, eta, setting.lam), args.repeats)
            Z_flat = Z.reshape(n, d * d)
            blas, _ = best_time(lambda: reference_blas_step(Z_flat, data.y, W, eta, setting.lam), args.repeats)
            step = ours_step(data, W, eta, setting.lam)
            difference = max(float(np.abs(reference_step(Z, data.y, W, eta, setting.lam) - step).max()),
                             float(np.abs(reference_blas_step(Z_flat, data.y, W, eta, setting.lam) - step).max()))
            del Z, Z_flat
            ref_text, speedup, diff_text = f"{1e3 * reference:.2f}", f"{reference / ours:.0f}x", f"{difference:.1e}"
            blas_text, blas_speedup = f"{1e3 * blas:.2f}", f"{blas / ours:.1f}x"
        else:
            ref_text, speedup, diff_text = f"skipped (needs {tensor_bytes / 2**30:.1f} GiB)", "-", "-"
            blas_text, blas_speedup = "-", "-"
        print(f"| {d} | {n} | {m} | {1e3 * ours:.3f} | {1e3 * ours_goe:.3f} | {ref_text} | {speedup} | {blas_text} "
              f"| {blas_speedup} | {diff_text} |", flush=True)

    if args.t_max > 0:
        time_to_solution(args.t_max, args.solution_dims)
    if args.accuracy:
        integrator_accuracy()


def integrator_accuracy(d: int = 30, reps: int = 2) -> None:
    """Max relative error of MSE(t) and Loss_train(t), t in [0.02, 100], against RK23 at rtol = 1e-8."""
    from qnn import simulate

    times = np.array([0.02, 0.1, 0.5, 1, 2, 5, 10, 20, 50, 100])
    print(f"\n# step-size error at d = {d}, {reps} reps, vs rtol = 1e-8 (max over reps and times)")
    print("| setting | integrator | gradients | max rel. error MSE | max rel. error Loss_train |")
    print("|---|---|---|---|---|")
    for setting in (Setting(alpha=0.5, kappa=0.7, kappa_star=0.3),
                    Setting(alpha=1.0, kappa=1.0, kappa_star=0.5, noise=0.25, lam=0.01)):
        label = f"alpha={setting.alpha:g} kappa={setting.kappa:g} kappa*={setting.kappa_star:g} " \
                f"Delta={setting.noise:g} lambda={setting.lam:g}"
        ref = simulate(setting, d, 100.0, reps=reps, times=times, rtol=1e-8, atol=1e-11, progress=False)
        for options in ({"rtol": 1e-3}, {"rtol": 1e-4}, {"rtol": 1e-5}, {"eta": 5e-3}, {"eta": 2.5e-3}):
            run = simulate(setting, d, 100.0, reps=reps, times=times, progress=False, **options)
            error_mse = np.max(np.abs(run.mse - ref.mse) / ref.mse)
            error_loss = np.max(np.abs(run.loss - ref.loss) / ref.loss)
            name = f"RK23 rtol={options['rtol']:g}" if "rtol" in options else f"GD eta={options['eta']:g}"
            print(f"| {label} | {name} | {int(run.n_gradients.mean())} | {error_mse:.1e} | {error_loss:.1e} |",
                  flush=True)


def time_to_solution(t_max: float, dims: list[int]) -> None:
    """Wall time of one ``qnn.simulate`` repetition to ``t_max`` (adaptive RK23, default tolerances), per feature
    model, against the paper's fixed-step GD (eta = 5e-3, i.e. t_max / eta gradients; estimated from the per-step
    time, not run)."""
    from qnn import simulate

    setting = Setting(alpha=0.5, kappa=0.7, kappa_star=0.3, noise=0.0, lam=0.0)
    print(f"\n# time to solution, t_max = {t_max:g}, alpha = 0.5, kappa = 0.7, kappa* = 0.3, lambda = 0, 1 rep")
    print("| d | features | wall time (s) | gradients (RK23) | GD eta=5e-3 gradients | GD estimate (s) |")
    print("|---|---|---|---|---|---|")
    for d in dims:
        for features in ("gaussian", "goe"):
            start = time.perf_counter()
            result = simulate(setting, d, t_max, features=features, progress=False)
            wall = time.perf_counter() - start
            n_grad = int(result.n_gradients[0])
            gd = round(t_max / 5e-3)
            print(f"| {d} | {features} | {wall:.1f} | {n_grad} | {gd} | {wall / n_grad * gd:.0f} |", flush=True)


if __name__ == "__main__":
    main()
