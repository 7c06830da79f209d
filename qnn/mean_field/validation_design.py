"""The statistical design of the DMFT-versus-simulation comparison, and its acceptance test.

Theory: book/theory/dmft.md and book/theory/validation.md. Used by :mod:`qnn.mean_field.validation`.

The design (:data:`DESIGN`) was fixed from a pilot that measured only costs and run-to-run spreads (pilot seed 777,
not used by the design; no comparison with the DMFT was looked at), on the shared 2-core machine, one BLAS thread:

* **Cost of one simulation run** to ``t = 10`` (GOE features, adaptive RK23, with its population flow), CPU
  seconds: 0.31 (d = 40), 1.46 (d = 60), 4.5-5.5 (d = 80), 18-28 (d = 120); it grows like ``d^4``
  (``n = alpha d^2`` samples of ``d x d`` features).
* **Spread of one run**, relative standard deviation at t = 1, 2, 2.5, 5, 10 (32 runs at d = 40, 16 at d = 60):
  MSE 13-22% (A) and 14-15% (B) at d = 40, 11-15% (A) at d = 60; Loss_train 8-10% (A), 12-20% (B) at d = 40,
  5.5-7.5% (A) at d = 60. The spread falls like ``1/d``.
* **Control variates.** For the MSE, the population flow from the same ``S*``, ``W(0)`` (the existing control)
  changes the spread by < 1%: at these sizes the population flow is already self-averaging (its own spread is
  0.01-1% of the MSE); the fluctuation comes from the finite data set. For Loss_train two controls were measured:
  the population flow's MSE (the ``alpha = infinity`` process's training loss is ``MSE_pop/2 + Delta/4``), and
  the training loss of the population trajectory on the run's own data minus its conditional mean
  ``MSE_pop/2 + Delta/4`` (exactly mean zero, it carries the data set's fluctuation). With regression
  coefficients fitted on the pilot itself (optimistic) they reduce the standard deviation by 0-10% (A) and
  0-11% (B), i.e. 0-20% in variance, largest at t = 1, none at t = 10. Loss_train is therefore estimated by the
  plain mean; the MSE keeps the population control (harmless, and the estimator stays the one of the book).
* **Cost of one DMFT solve** at ``d_eff = 40`` (4 samples, 32 population runs, 20 response starts, tol 1e-3, the
  default grid of 285-325 points to t = 10): 46 CPU-s from the population flow (setting A, 22 sweeps, ~2 CPU-s per
  sweep); a warm start from another seed's kernels takes about half the sweeps.
* **Spread of one DMFT solve** (seed to seed, from the two seeds of the previous data, so itself uncertain by a
  factor ~2): up to ~10% (A, MSE and Loss_train), 8% (C, MSE), 16% (C, Loss_train), 14-23% (B, MSE) and 20-70%
  (B, Loss_train, the largest at t = 10).

**Design.** Simulations at ``d = 40, 60, 80`` with 128, 64 and 32 runs (seed 2026), the MSE with the population
control (64 independent population runs per ``d`` for its mean), extrapolated linearly in ``1/d`` by weighted
least squares; projected standard error of the extrapolated value 2.4% (a 13% per-run spread at d = 40) to 4.1%
(22.5%, A's MSE at t = 10); 290 CPU-s per setting. DMFT at ``d_eff = 40`` with 12 seeds per setting (seed 0 from
the population flow, the others warm-started from seed 0's kernels, each converged to its own fixed point), its
value the mean over seeds and its standard error their spread over ``sqrt(12)``; about 30 CPU-s per warm seed,
380 CPU-s per setting. Projected DMFT standard error: ~3% (A), 2.5-4.6% (C), 4-6% (B, MSE and Loss_train up to
t = 5) and ~20% (B, Loss_train at t = 10). The acceptance test (:func:`acceptance_rows`): at t = 1, 2, 2.5, 5, 10,
for MSE and Loss_train, the combined standard error ``sqrt(se_sim^2 + se_dmft^2)`` is at most 5% of the
extrapolated value and ``|z| = |sim - dmft| / se <= 2``. Setting B's Loss_train at t = 10 is projected to miss the
5% criterion by a factor ~4 (needs ~400 seeds, ~3.5 CPU-hours); B at t <= 5 needs ~30 seeds for 5%.

**Budget and stopping rule** (fixed in advance, independent of the results). Planned: 3 x 290 + 3 x 380 = 2000
CPU-s (about 35 CPU-minutes). The machine gives a background job 0.13-0.5 of a core, so not all of it may run.
Two background processes: the simulations size-major (d = 40 for B, A, C, then d = 60, then d = 80, in chunks of 8
runs), the DMFT seeds round-robin (seed k of B, A, C, then seed k + 1). At the deadline (00:35 UTC on the day of the
run) the comparison uses, for each setting, the finished prefix of the DMFT seeds and of the runs at each size
(sizes with fewer than 8 finished runs are dropped; ``--completed``). Fewer seeds or runs only widen the error
bars, which the 5% criterion then reports.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: The times at which the comparison is accepted or not (record times of the simulations include them exactly).
ACCEPTANCE_TIMES: tuple[float, ...] = (1.0, 2.0, 2.5, 5.0, 10.0)


@dataclass(frozen=True)
class ValidationDesign:
    """Sizes, runs, seeds and tolerances of the comparison (see the module docstring for how they were chosen).

    Attributes
    ----------
    d_values, reps : tuple of int
        Simulation sizes and the number of runs at each.
    pop_reps : int
        Independent population runs per size for the mean of the MSE's control variate.
    sim_seed : int
        Base seed of the simulations.
    d_eff, samples, control_samples, n_starts : int
        DMFT options (:func:`qnn.dmft`).
    dmft_seeds : tuple of int
        DMFT seeds; the first is solved from the population flow, the others warm-started from it.
    t_max : float
        Final time.
    times : tuple of float
        Acceptance times.
    se_target : float
        Largest combined standard error, as a fraction of the value.
    z_max : float
        Largest accepted ``|z|``.
    """

    d_values: tuple[int, ...] = (40, 60, 80)
    reps: tuple[int, ...] = (128, 64, 32)
    pop_reps: int = 64
    sim_seed: int = 2026
    d_eff: int = 40
    samples: int = 4
    control_samples: int = 32
    n_starts: int = 20
    dmft_seeds: tuple[int, ...] = tuple(range(12))
    t_max: float = 10.0
    times: tuple[float, ...] = ACCEPTANCE_TIMES
    se_target: float = 0.05
    z_max: float = 2.0

    def __post_init__(self) -> None:
        if len(self.d_values) != len(self.reps) or len(self.d_values) < 1:
            raise ValueError(f"d_values and reps must have the same length >= 1, got {self.d_values}, {self.reps}")
        if min(self.reps) < 2 or len(self.dmft_seeds) < 1:
            raise ValueError(f"reps must be >= 2 and dmft_seeds non-empty, got {self.reps}, {self.dmft_seeds}")

    def dmft_kwargs(self) -> dict:
        """The :func:`qnn.dmft` options of every solve of the design."""
        return {"d_eff": self.d_eff, "samples": self.samples, "control_samples": self.control_samples,
                "n_starts": self.n_starts}

    def record_times(self) -> np.ndarray:
        """25 log-spaced record times from 0.05 to ``t_max`` (and 0) plus the acceptance times."""
        from ..simulation.gradient_flow import record_times

        return np.union1d(record_times(self.t_max, 25, t_first=0.05), np.array(self.times))


#: The design of the book's comparison.
DESIGN = ValidationDesign()


@dataclass(frozen=True)
class AcceptanceRow:
    """One (setting, time, quantity) of the acceptance test."""

    name: str
    t: float
    quantity: str
    dmft: float
    dmft_se: float
    sim: float
    sim_se: float
    seeds: int

    @property
    def se(self) -> float:
        """Combined standard error."""
        return math.sqrt(self.sim_se ** 2 + self.dmft_se ** 2)

    @property
    def se_fraction(self) -> float:
        return self.se / abs(self.sim)

    @property
    def z(self) -> float:
        """``(sim - dmft) / se``: positive when the simulations lie above the DMFT."""
        return (self.sim - self.dmft) / self.se

    @property
    def relative(self) -> float:
        """``dmft / sim - 1``."""
        return self.dmft / self.sim - 1.0

    def passed(self, design: ValidationDesign = DESIGN) -> bool:
        return self.se_fraction <= design.se_target and abs(self.z) <= design.z_max


def acceptance_rows(comp, design: ValidationDesign = DESIGN) -> list[AcceptanceRow]:
    """The acceptance rows of one :class:`~qnn.mean_field.validation.Comparison` at ``design.times`` (it needs
    simulations at two sizes or more, for the extrapolation to ``d = infinity``)."""
    if len(comp.d) < 2:
        raise ValueError(f"setting {comp.name}: the acceptance needs simulations at >= 2 sizes, got d = {list(comp.d)}")
    rows = []
    for x in design.times:
        j = int(np.argmin(np.abs(comp.t - x)))
        if abs(comp.t[j] - x) > 1e-9 * max(x, 1.0):
            raise ValueError(f"the comparison has no record time t = {x:g} (nearest {comp.t[j]:g})")
        for quantity, (sim, se), dmft, dmft_se in (("MSE", comp.sim_mse_inf, comp.dmft_mse, comp.dmft_mse_se),
                                                   ("Loss_train", comp.sim_loss_inf, comp.dmft_loss,
                                                    comp.dmft_loss_se)):
            rows.append(AcceptanceRow(name=comp.name, t=float(x), quantity=quantity, dmft=float(dmft[j]),
                                      dmft_se=float(dmft_se[j]), sim=float(sim[j]), sim_se=float(se[j]),
                                      seeds=int(comp.dmft_seeds)))
    return rows


def acceptance_markdown(rows: list[AcceptanceRow], design: ValidationDesign = DESIGN) -> str:
    """Markdown table of acceptance rows: values, standard errors in % of the value, z and the verdict."""
    lines = ["| setting | t | quantity | DMFT | simulations, d → ∞ | combined s.e. | DMFT / sim − 1 | z | within |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r.name} | {r.t:g} | {r.quantity} | {r.dmft:.4g} ± {100 * r.dmft_se / abs(r.dmft):.1f}% | "
                     f"{r.sim:.4g} ± {100 * r.sim_se / abs(r.sim):.1f}% | {100 * r.se_fraction:.1f}% | "
                     f"{100 * r.relative:+.1f}% ± {100 * r.se_fraction:.1f}% | {r.z:+.2f} | "
                     f"{'yes' if r.passed(design) else 'no'} |")
    return "\n".join(lines)
