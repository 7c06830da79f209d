"""Per-gradient cost of GD's stability check (issue 14 item 2): flow_velocity vs velocity_and_objective (the same
gradient plus the objective), CPU time, min over repeats. Run: OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/bench_gd_stability_check.py
"""
import time, numpy as np, qnn
from qnn import Setting
from qnn.data import make_dataset, rep_generators, init_student
from qnn.network import flow_velocity
from qnn.integrator import velocity_and_objective
for f, d in (("gaussian", 40), ("goe", 30)):
    s = Setting(0.5, 0.7, 0.3, lam=0.01); g = rep_generators(0, 0); data = make_dataset(s, d, g, f)
    W = init_student(d, s.dims(d)[1], 1.0, g.init)
    res = {"flow_velocity": [], "velocity_and_objective": []}
    for rep in range(10):
        for name, fn in (("flow_velocity", lambda: flow_velocity(data, W, 0.01)), ("velocity_and_objective", lambda: velocity_and_objective(data, W, 0.01))):
            t0 = time.process_time()
            for _ in range(300): fn()
            res[name].append((time.process_time() - t0) / 300 * 1e6)
    print(f, d, {k: round(min(v), 1) for k, v in res.items()}, "us per call (min of 10 x 300, CPU time)")
