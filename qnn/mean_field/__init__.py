"""Dynamical mean-field theory (DMFT) of gradient flow, solved numerically (theory: book/theory/dmft.md).

As ``d -> infinity`` the training dynamics reduces to two coupled effective processes, solved here by iterating
them to self-consistency on a time grid ``t_0 = 0 < t_1 < ... < t_{N-1} = t_max``.

Parameter side
    A ``d_eff x d_eff`` matrix process (a finite-size stand-in for ``d = infinity``, averaged over ``samples``
    independent draws of ``S*``, ``W(0)`` and the noise)::

        dW/dt = -G(t) W,   G(t) = Xi(t) + 2 D(t) + 2 int_0^t Ru(t, s) D(s) ds + 2 lambda I,   D = W W^T - S*,
        Xi(t_i) = alpha^{-1/2} sum_{k <= i} L_ik Z_k,   L L^T = Cu (lower-triangular, causal),  Z_k iid GOE.

    Outputs ``C(t, s) = (2/d) tr(D(t) D(s))`` (``C(t, t) = 2 MSE(t)``) and the response
    ``R(t, s) = (2/d^2) Tr[dS(t)/dG(s)]`` (``<= 0``), estimated by tangent-linear runs of the full effective
    process (memory term included) started at ``n_starts`` times ``s`` by an impulse ``dW(s+) = -P W(s)`` with a
    random GOE probe ``P`` (Hutchinson: ``R(t, s) = E_P (1/d) tr(P dS(t))``), interpolated between start times at
    fixed lag ``t - s``.

Sample side
    A scalar Gaussian process, linear because the loss is quadratic (``u = f - y``)::

        u(t) = h(t) - sqrt(Delta) xi + (1/alpha) int_0^t R(t, s) u(s) ds,   h ~ GP(0, C),

    solved as a discrete Volterra equation: ``M = (I - K)^{-1} = I + Ru`` with ``K = R w / alpha`` (trapezoid
    weights ``w``), ``Cu = M (C + Delta) M^T``, ``Loss_train(t) = Cu(t, t) / 4``,
    ``ISE(t) = [M C M^T](t, t) / 4 + Delta (int_0^t Ru(t, s) ds)^2 / 4``.

Numerics (see the module's benchmark and tests for the measured errors):

* graded time grid (:func:`time_grid`), step ``h(t) = h_late (t + 1/refine) / (t + 1)``: ``h_late / refine`` at
  ``t = 0`` and ``h_late`` for ``t >> 1``; explicit Heun (second-order) steps with a predictor for the implicit
  diagonal memory term; the step is checked against the stability limit of the stiffest mode;
* memory integrals as block-causal matrix products over the stored history (GEMM, no Python loop over matrices);
* all random draws (``S*``, ``W(0)``, ``Z_k``, probes) are fixed across iterations (seeded), so the iteration is a
  deterministic contraction; it starts from the population flow (or a warm start) and stops when one sweep
  moves ``C(t,t)``, ``Cu(t,t)`` and ``chi(t)`` by less than ``tol`` relative at every time, and ``R`` (also on a
  late-time band) by less than ``tol`` relative to its largest entry;
* control variate for the reported MSE: each sample's ``alpha = infinity`` (population) flow from the same
  ``S*``, ``W(0)`` is subtracted and replaced by its mean over ``samples + control_samples`` cheap population
  runs. The kernel ``C`` used in the iteration is the plain sample mean (positive semi-definite).

The quantities the figures need: :attr:`DMFTResult.mse`, :attr:`DMFTResult.loss`, :attr:`DMFTResult.ise`, and
the variance of the network outputs ``f = tr(S Z_mu)`` on training samples,
:attr:`DMFTResult.output_variance_train` (``Cu(t,t) + 2 [M (Cs - Delta)](t) + q* + Delta`` with
``Cs(t) = (2/d) tr(D(t) S*)`` and ``q* = (2/d) tr S*^2``) and on fresh samples
:attr:`DMFTResult.output_variance_test` (``(2/d) tr S(t)^2 = C(t,t) + 2 Cs(t) + q*``).

Layout: :mod:`.numerics` (grid, quadrature, sample side), :mod:`.process` (the effective matrix process),
:mod:`.options` (validated options, size check), :mod:`.solver` (the driver :func:`dmft` and its named steps),
:mod:`.result` (:class:`DMFTResult`), :mod:`.cache` (joblib.Memory + per-sweep checkpoints).
"""
from __future__ import annotations

from qnn.conventions import lazy_submodules

from ..simulation.data import goe
from .numerics import (SampleSide, causal_sqrt, default_n_times, interpolate_response, sample_side, time_grid,
                       trapezoid_weights)
from .options import DMFTOptions, RunControl, memory_estimate
from .process import _CausalMemory, _child, _draws, _effective_run, _tangent_runs, population_flow
from .result import FORMAT_VERSION, DMFTResult
from .solver import dmft, sweep_change

__all__ = ["DMFTResult", "DMFTOptions", "SampleSide", "dmft", "default_n_times", "time_grid", "sample_side",
           "trapezoid_weights", "causal_sqrt", "population_flow", "memory_estimate"]

# names used by the tests and benchmarks
_FORMAT_VERSION = FORMAT_VERSION
_unused = (goe, interpolate_response, RunControl, _CausalMemory, _child, _draws, _effective_run, _tangent_runs,
           sweep_change)

# qnn.<subpackage>.<module> resolves after a plain `import qnn` (submodules are imported on first use)
__getattr__ = lazy_submodules(__name__)
