"""Loss_train of trained networks vs the fixed point with many seeds (issue 3 acceptance, benchmarks/README.md Theory).

Usage: ``OPENBLAS_NUM_THREADS=1 python benchmarks/loss_train_seeds.py --reps 24 --seed 11 T2:80:goe T4:40:gaussian``
(jobs are SETTING:d:features with SETTING one of tests/test_fixed_point.py's T2, T4, T6). Prints one JSON line per job
(per-seed loss, mse, rank, theory, seconds, converged) and then the seed mean +- standard error and
z = (mean - theory) / sem of Loss_train for the first 5, 10, 16, 24 seeds. Runs are cached (resumable).
"""
import argparse
import json
import math
import time

import numpy as np

from qnn import Setting, train_to_convergence
from qnn.longtime.fixed_point import fixed_point

SETTINGS = {"T2": Setting(0.39, 1.0, 0.3, noise=1.0, lam=0.1), "T4": Setting(0.4, 0.4, 0.3, noise=0.5, lam=0.05),
            "T6": Setting(0.15, 0.5, 0.2, noise=0.25, lam=1.0)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("jobs", nargs="+", help="SETTING:d:features, e.g. T2:80:goe")
    ap.add_argument("--reps", type=int, default=24)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--cache-dir", default="/tmp/fp_cache")
    args = ap.parse_args()
    records = []
    for job in args.jobs:
        key, d, features = job.split(":")
        start = time.time()
        r = train_to_convergence(SETTINGS[key], int(d), reps=args.reps, seed=args.seed, features=features,
                                 method="lbfgs", progress=False, max_iter=20000, n_jobs=2, cache_dir=args.cache_dir)
        fp = fixed_point(SETTINGS[key])
        rec = dict(seed=args.seed, key=key, d=int(d), feat=features, reps=args.reps, conv=bool(r.converged.all()),
                   loss=np.asarray(r.loss).tolist(), mse=np.asarray(r.mse).tolist(),
                   rank=np.asarray(r.rank).tolist(), theory_loss=fp.loss, theory_mse=fp.mse,
                   sec=time.time() - start)
        print(json.dumps(rec), flush=True)
        records.append(rec)
    for rec in records:
        for n in (5, 10, 16, 24):
            if n <= len(rec["loss"]):
                v = np.asarray(rec["loss"][:n])
                m, s = v.mean(), v.std(ddof=1) / math.sqrt(n)
                print(f'{rec["key"]} d={rec["d"]} {rec["feat"]} seed={rec["seed"]} n={n} converged={rec["conv"]}: '
                      f'Loss_train {m:.5f} +- {s:.5f} (theory {rec["theory_loss"]:.5f}, '
                      f'z {(m - rec["theory_loss"]) / s:+.2f})')


if __name__ == "__main__":
    main()
