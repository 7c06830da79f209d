"""Per-gradient cost of GD's stability check (issue 14 item 2).

Compares ``flow_velocity`` with ``velocity_and_objective`` (the same gradient plus the regularised objective that GD
checks at every step): CPU time per call, minimum over repeats, interleaved so that machine load hits both alike.

Run: ``OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/bench_gd_stability_check.py`` (results in README.md).
"""
import time

from qnn import Setting
from qnn.simulation.data import init_student, make_dataset, rep_generators
from qnn.simulation.integrator import velocity_and_objective
from qnn.simulation.network import flow_velocity

REPEATS, CALLS = 10, 300


def main() -> None:
    setting = Setting(0.5, 0.7, 0.3, lam=0.01)
    for features, d in (("gaussian", 40), ("goe", 30)):
        gens = rep_generators(0, 0)
        data = make_dataset(setting, d, gens, features)
        W = init_student(d, setting.dims(d)[1], 1.0, gens.init)
        calls = {"flow_velocity": lambda: flow_velocity(data, W, setting.lam),
                 "velocity_and_objective": lambda: velocity_and_objective(data, W, setting.lam)}
        best = {name: float("inf") for name in calls}
        for _ in range(REPEATS):
            for name, call in calls.items():
                start = time.process_time()
                for _ in range(CALLS):
                    call()
                best[name] = min(best[name], (time.process_time() - start) / CALLS * 1e6)
        print(features, f"d={d}", {name: round(value, 1) for name, value in best.items()},
              f"us per call (CPU time, min of {REPEATS} x {CALLS})")


if __name__ == "__main__":
    main()
