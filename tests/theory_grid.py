"""The grid of settings on which the fast fixed-point path is checked against the reference path (tests) and timed
(benchmarks/bench_theory.py): 11 (kappa, kappa*) pairs x 5 (alpha, Delta, lambda) = 55 settings, spanning
kappa < kappa* (rank cap binds, no perfect recovery), kappa* < kappa < 1, kappa >= 1, noiseless and noisy, lambda from
0.1 down to 1e-4 and the limit lambda -> 0+, and the noisy double-descent fold (Delta = 1, alpha ~ 0.2-0.35)."""
from qnn import Setting

PAIRS = [(0.15, 0.3), (0.2, 0.5), (0.5, 1.5),                 # kappa < kappa*
         (0.4, 0.3), (0.7, 0.5), (0.35, 0.3), (0.5, 0.2),     # kappa* < kappa < 1
         (1.0, 0.3), (2.0, 1.5), (1.2, 0.5), (1.0, 1.0)]      # kappa >= 1
# (alpha, Delta, lambda): noiseless regularised, small lambda, noisy fold at small lambda, lambda -> 0+ with noise,
# noiseless lambda -> 0+ (interpolating branch below alpha_PR+, perfect recovery above)
CASES = [(0.3, 0.0, 0.1), (0.5, 0.0, 1e-4), (0.29, 1.0, 1e-3), (0.2, 1.0, 0.0), (0.15, 0.0, 0.0)]
GRID = [Setting(alpha, kappa, ks, noise=noise, lam=lam) for kappa, ks in PAIRS for alpha, noise, lam in CASES]
