"""DMFT versus gradient-flow simulations: the comparison behind the book's DMFT page.

Theory: book/theory/dmft.md and book/theory/validation.md.

For a setting and several input dimensions ``d`` this runs averaged gradient-flow simulations with GOE features
(the DMFT's own universality class, :func:`qnn.simulate`) and the DMFT (:func:`qnn.dmft`), and compares them at
the simulation's record times.

Design and error bars: :mod:`qnn.mean_field.validation_design` (sizes, runs, seeds and the acceptance test, fixed
from a pilot of costs and spreads). The simulation MSE uses the population flow (``alpha = infinity``) from the same
``S*`` and ``W(0)`` as a control variate: ``MSE_cv(t) = mean_r [MSE_r(t) - MSEpop_r(t)] + E_d[MSEpop(t)]``, where
``E_d[MSEpop]`` is the mean over ``pop_reps`` independent population runs at the same ``d``; ``Loss_train`` is the
plain mean. Both are extrapolated linearly in ``1/d`` (weighted least squares over the sizes). The DMFT value is
the mean over independent solves (seeds) and its standard error their spread; the z-score of a time point is
``(sim - dmft) / sqrt(se_sim^2 + se_dmft^2)``.

Regenerate the book's data (``book/data/dmft/``) with one command (resumable: every simulation run and DMFT solve
is cached under ``.cache/dmft``, DMFT solves also per sweep; Ctrl-C and rerun to continue)::

    .venv/bin/python -m qnn.mean_field.validation --jobs 2        # add --quick for a small smoke run

``--phase sims`` and ``--phase dmft`` run only one half (e.g. in two background processes); ``--completed`` builds
the comparison from what those runs finished (the design's stopping rule).
"""
from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import joblib
import numpy as np

from ..conventions import Setting, check_int
from ..simulation.data import init_student, sample_teacher
from . import DMFTResult, dmft
from .result import atomic_savez
from .validation_design import DESIGN, ValidationDesign, acceptance_markdown, acceptance_rows
from .process import _child, population_balance
from ..simulation.network import population_flow_velocity
from ..simulation.gradient_flow import DEFAULT_ATOL, DEFAULT_RTOL, integrate_flow, simulate

__all__ = ["SETTINGS", "Comparison", "population_mean", "compare", "dmft_solves", "simulations", "chi_comparison",
           "save_curves", "acceptance_rows", "acceptance_markdown", "completed", "completed_design",
           "energy_balance", "extrapolate_in_d", "main"]

#: The three validation settings of issue 4 (the third starts near the saddle W = 0: gamma = 0.1).
SETTINGS: dict[str, Setting] = {
    "A": Setting(alpha=0.4, kappa=0.7, kappa_star=0.5, noise=0.0, lam=0.05),
    "B": Setting(alpha=0.3, kappa=0.4, kappa_star=0.3, noise=0.5, lam=0.01),
    "C": Setting(alpha=0.3, kappa=1.0, kappa_star=0.5, noise=0.25, lam=0.02, gamma=0.1),
}

_REPO = Path(__file__).resolve().parents[2]
DATA_DIR = _REPO / "book" / "data" / "dmft"
CACHE_DIR = _REPO / ".cache" / "dmft"


def population_mean(setting: Setting, d: int, t: np.ndarray, reps: int, seed: int = 12345
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard error over ``reps`` independent population flows at dimension ``d`` (MSE at ``t``).

    Same integrator and tolerances as :func:`qnn.simulate`; draws independent of the simulation's.
    """
    reps = check_int("reps", reps, minimum=2)
    m = max(1, int(round(setting.kappa * d)))
    rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(reps)]
    out = np.empty((reps, len(t)))
    for r, rng in enumerate(rngs):
        S_star = sample_teacher(d, setting.kappa_star, rng)
        W0 = init_student(d, m, setting.gamma, rng)

        def record(k: int, W: np.ndarray, r: int = r, S_star: np.ndarray = S_star) -> None:
            D = W @ W.T - S_star
            out[r, k] = float(np.vdot(D, D)) / d

        integrate_flow(lambda W, S_star=S_star: population_flow_velocity(W, S_star, setting.lam), W0, t, None,
                   DEFAULT_RTOL, DEFAULT_ATOL, record)
    return out.mean(axis=0), out.std(axis=0, ddof=1) / math.sqrt(reps)


@dataclass(frozen=True)
class Comparison:
    """Simulation (GOE features, control variate) versus DMFT at the record times ``t``, for each ``d``.

    Arrays indexed ``[k_d, k_t]``.
    """

    name: str
    setting: Setting
    features: str
    d: np.ndarray
    reps: np.ndarray | int
    t: np.ndarray
    sim_mse: np.ndarray
    sim_mse_se: np.ndarray
    sim_loss: np.ndarray
    sim_loss_se: np.ndarray
    dmft_mse: np.ndarray
    dmft_mse_se: np.ndarray
    dmft_loss: np.ndarray
    dmft_converged: bool
    dmft_seconds: float
    dmft_loss_se: np.ndarray | None = None
    dmft_loss_energy: np.ndarray | None = None
    dmft_loss_energy_se: np.ndarray | None = None
    dmft_seeds: int = 1
    dmft_d_eff: int = 0

    @property
    def sim_mse_inf(self) -> tuple[np.ndarray, np.ndarray]:
        """Simulation MSE extrapolated to ``d = infinity`` (linear in ``1/d``) and its standard error."""
        return extrapolate_in_d(self.d, self.sim_mse, self.sim_mse_se)

    @property
    def sim_loss_inf(self) -> tuple[np.ndarray, np.ndarray]:
        """Simulation Loss_train extrapolated to ``d = infinity`` (linear in ``1/d``) and its standard error."""
        return extrapolate_in_d(self.d, self.sim_loss, self.sim_loss_se)

    def z_inf(self, metric: str) -> np.ndarray:
        """z-score of the DMFT against the extrapolated simulations, ``metric`` in {"mse", "loss"}."""
        sim, se = self.sim_mse_inf if metric == "mse" else self.sim_loss_inf
        theory = self.dmft_mse if metric == "mse" else self.dmft_loss
        se_theory = self.dmft_mse_se if metric == "mse" else self.dmft_loss_se
        return (sim - theory) / np.sqrt(se ** 2 + (0.0 if se_theory is None else se_theory) ** 2)

    def accepted(self, metric: str, design: ValidationDesign = DESIGN) -> bool:
        """The design's acceptance for ``metric`` ("mse" or "loss") at every acceptance time: combined standard
        error <= ``design.se_target`` of the value and ``|z| <= design.z_max`` (:func:`acceptance_rows`)."""
        quantity = "MSE" if metric == "mse" else "Loss_train"
        return all(r.passed(design) for r in acceptance_rows(self, design) if r.quantity == quantity)

    @property
    def z_mse(self) -> np.ndarray:
        return (self.sim_mse - self.dmft_mse) / np.sqrt(self.sim_mse_se ** 2 + self.dmft_mse_se ** 2)

    @property
    def z_loss(self) -> np.ndarray:
        """Loss z-score, with the DMFT's jackknife error of the loss when available."""
        se_dmft = 0.0 if self.dmft_loss_se is None else self.dmft_loss_se
        return (self.sim_loss - self.dmft_loss) / np.sqrt(self.sim_loss_se ** 2 + se_dmft ** 2)

    def save(self, path: str | Path) -> None:
        arrays = {k: getattr(self, k) for k in self.__dataclass_fields__ if isinstance(getattr(self, k), np.ndarray)}
        meta = {"name": self.name, "setting": asdict(self.setting), "features": self.features,
                "dmft_converged": self.dmft_converged, "dmft_seconds": self.dmft_seconds,
                "dmft_seeds": self.dmft_seeds, "dmft_d_eff": self.dmft_d_eff}
        atomic_savez(path, meta=json.dumps(meta), **arrays)

    @classmethod
    def load(cls, path: str | Path) -> Comparison:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            arrays = {k: data[k] for k in data.files if k != "meta"}
        meta["setting"] = Setting(**meta["setting"])
        return cls(**meta, **arrays)


def dmft_solves(setting: Setting, design: ValidationDesign = DESIGN, seeds: tuple[int, ...] | None = None, *,
                cache_dir: str | Path | None = CACHE_DIR, n_jobs: int = 1, progress: bool = True) -> list[DMFTResult]:
    """The design's DMFT solves of one setting (or the first ``seeds``): the first from the population flow, the
    others warm-started from its kernels (each converges to its own seed's fixed point). Cached per solve."""
    seeds = design.dmft_seeds if seeds is None else tuple(seeds)
    cache = None if cache_dir is None else Path(cache_dir) / "theory"
    solves: list[DMFTResult] = []
    for seed in seeds:
        solves.append(dmft(setting, design.t_max, seed=seed, warm_start=solves[0] if solves else None,
                           cache_dir=cache, n_jobs=n_jobs, progress=progress, **design.dmft_kwargs()))
    return solves


def _population_mean(cache_dir: str | Path | None):
    """:func:`population_mean`, memoised in ``cache_dir/pop`` when a cache is given."""
    if cache_dir is None:
        return population_mean
    return joblib.Memory(Path(cache_dir) / "pop", verbose=0).cache(population_mean)


def simulations(setting: Setting, design: ValidationDesign = DESIGN, *, features: str = "goe",
                cache_dir: str | Path | None = CACHE_DIR, n_jobs: int = 1, progress: bool = True) -> dict:
    """The design's simulations of one setting at every ``d``: MSE (population control) and Loss_train (plain
    mean), with standard errors, at ``design.record_times()``. Cached per run (resumable)."""
    t = design.record_times()
    rows: dict[str, list] = {k: [] for k in ("sim_mse", "sim_mse_se", "sim_loss", "sim_loss_se")}
    for d, reps in zip(design.d_values, design.reps):
        sim = simulate(setting, d, design.t_max, reps=reps, seed=design.sim_seed, features=features, times=t,
                       population_control=True, n_jobs=n_jobs, progress=progress,
                       cache_dir=None if cache_dir is None else str(Path(cache_dir) / "sim"))
        pop_mean, pop_se = _population_mean(cache_dir)(setting, d, sim.t, design.pop_reps)
        diff = sim.mse - sim.mse_pop
        rows["sim_mse"].append(diff.mean(axis=0) + pop_mean)
        rows["sim_mse_se"].append(np.sqrt(diff.var(axis=0, ddof=1) / reps + pop_se ** 2))
        rows["sim_loss"].append(sim.loss.mean(axis=0))
        rows["sim_loss_se"].append(sim.loss.std(axis=0, ddof=1) / math.sqrt(reps))
    return {"t": sim.t, **{k: np.array(v) for k, v in rows.items()}}


def compare(name: str, setting: Setting, design: ValidationDesign = DESIGN, *, seeds: tuple[int, ...] | None = None,
            features: str = "goe", cache_dir: str | Path | None = CACHE_DIR, n_jobs: int = 1,
            progress: bool = True) -> tuple[Comparison, DMFTResult]:
    """Run (or read from cache) the design's simulations and DMFT solves of one setting and compare them.

    ``features="goe"`` is the DMFT's own universality class; ``"gaussian"`` (the network itself) converges to it
    as ``d`` grows. The DMFT curve is the mean of the independent solves (``seeds``, default the design's) and its
    error is their standard error (the spread of one solve's samples underestimates it: the kernels' noise
    propagates through the self-consistency). Returns the comparison and the first solve.
    """
    start = time.perf_counter()
    solves = dmft_solves(setting, design, seeds, cache_dir=cache_dir, n_jobs=n_jobs, progress=progress)
    seconds = (time.perf_counter() - start) / len(solves)
    theory = solves[0]
    sims = simulations(setting, design, features=features, cache_dir=cache_dir, n_jobs=n_jobs, progress=progress)
    t = sims.pop("t")
    interp = lambda y: np.interp(t, theory.t, y)  # noqa: E731
    mse_runs = np.array([interp(r.mse) for r in solves])
    loss_runs = np.array([interp(r.loss) for r in solves])
    if len(solves) > 1:
        mse_se = mse_runs.std(axis=0, ddof=1) / math.sqrt(len(solves))
        loss_se = loss_runs.std(axis=0, ddof=1) / math.sqrt(len(solves))
    else:
        mse_se, loss_se = interp(theory.mse_stderr), interp(theory.loss_stderr)
    energy = np.array([interp(energy_balance(r)[0]) for r in solves])
    comp = Comparison(name=name, setting=setting, features=features, d=np.array(design.d_values),
                      reps=np.array(design.reps), t=t, **sims, dmft_mse=mse_runs.mean(axis=0), dmft_mse_se=mse_se,
                      dmft_loss=loss_runs.mean(axis=0), dmft_converged=all(r.converged for r in solves),
                      dmft_seconds=seconds, dmft_loss_se=loss_se, dmft_loss_energy=energy.mean(axis=0),
                      dmft_loss_energy_se=(energy.std(axis=0, ddof=1) / math.sqrt(len(solves)) if len(solves) > 1
                                           else interp(energy_balance(theory)[1])),
                      dmft_seeds=len(solves), dmft_d_eff=design.d_eff)
    return comp, theory


def chi_comparison(name: str, setting: Setting, theory: DMFTResult, design: ValidationDesign = DESIGN, *,
                   cache_dir: str | Path | None = CACHE_DIR, n_jobs: int = 1) -> dict[str, np.ndarray]:
    """The sample-side response ``chi(t) = 1 + int_0^t Ru(t, s) ds`` measured in the simulations.

    With label noise (``Delta > 0``), ``f - f* = (f - y) + sqrt(Delta) xi`` and ``E[u xi] = -sqrt(Delta) chi(t)``
    give ``chi = (1 - 4 (ISE - Loss_train) / Delta) / 2`` per repetition: a direct test of the DMFT's response
    kernel, independent of ``C``. Returns ``t``, ``d``, ``sim_chi``/``sim_chi_se`` (d, t) and ``dmft_chi`` (t).
    """
    if setting.noise <= 0:
        raise ValueError(f"chi_comparison needs label noise (noise > 0), got noise = {setting.noise}")
    chi, se = [], []
    for d, reps in zip(design.d_values, design.reps):
        sim = simulate(setting, d, design.t_max, reps=reps, seed=design.sim_seed, features="goe",
                       times=design.record_times(), population_control=True, n_jobs=n_jobs, progress=False,
                       cache_dir=None if cache_dir is None else str(Path(cache_dir) / "sim"))
        c = 0.5 * (1.0 - 4.0 * (sim.ise - sim.loss) / setting.noise)
        chi.append(c.mean(axis=0))
        se.append(c.std(axis=0, ddof=1) / math.sqrt(reps))
    t = sim.t
    return {"t": t, "d": np.array(design.d_values), "sim_chi": np.array(chi), "sim_chi_se": np.array(se),
            "dmft_chi": np.interp(t, theory.t, theory.M.sum(axis=1))}


def save_curves(result: DMFTResult, path: str | Path, n_kernel: int = 60) -> None:
    """Save the book's view of a DMFT result: all curves, and the kernels on ``n_kernel`` grid points."""
    idx = np.unique(np.round(np.linspace(0, result.t.size - 1, n_kernel)).astype(int))
    atomic_savez(
        path, t=result.t, mse=result.mse, mse_stderr=result.mse_stderr, loss=result.loss, ise=result.ise,
        mse_population=result.mse_population, output_variance_train=result.output_variance_train,
        errors=result.errors, loss_history=result.loss_history, kernel_t=result.t[idx],
        C=result.C[np.ix_(idx, idx)], R=result.R[np.ix_(idx, idx)], Cu=result.Cu[np.ix_(idx, idx)],
        Ru=result.Ru[np.ix_(idx, idx)],
        meta=json.dumps({"setting": asdict(result.setting), "d_eff": result.d_eff, "samples": result.samples,
                         "control_samples": result.control_samples, "iterations": result.iterations,
                         "converged": result.converged, "reason": result.reason}))


def energy_balance(result: DMFTResult, correct: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """``Loss_train(t)`` from the parameter side alone, by the energy balance of gradient flow.

    ``d/dt [Loss_train + lambda tr S / d] = -(1/d) |G W|_F^2`` holds for the network (to 2e-7 on simulations)
    and in the DMFT's effective process, so
    ``Loss_E(t) = Loss_train(0) + lambda [trS(0) - trS(t)]/d - int_0^t (1/d)|G W|^2 ds`` with
    ``Loss_train(0) = (C(0,0) + Delta)/4``, per DMFT sample. It uses ``C``, ``R`` only through the effective
    process (not the sample side's ``Cu``), so it cross-checks the sample-side closure. It is a small difference
    of O(1) terms: a diagnostic, not an estimator. Returns the curve and its standard error over the DMFT's samples.

    Two corrections (``correct=True``), both from each sample's population flow (same draws, same grid), whose
    balance and exact loss are both known:

    * the trapezoid rule on the default grid leaves an O(h^2) error accumulated at early times, where the
      dissipation is large (measured at alpha = 1e12, d_eff = 16, t = 10: -0.0052 in setting A, -0.0107 in B,
      -0.0018 in C, as large as the late-time loss);
    * the per-sample terms are O(1) and differ from sample to sample by far more than the loss (standard error
      0.04 in A, 0.10 in B over 4 samples at d_eff = 40).

    Both go away in the control variate ``mean_k [B_k(t) - P_k(t)] + mean Loss_pop(t)``, with ``B_k`` the DMFT
    sample's balance, ``P_k`` its population flow's balance and ``Loss_pop`` the population loss (mean over all
    population runs): exact as alpha -> infinity, and at finite alpha the early-time errors cancel between the two
    runs, which stay close while the noise and memory are small.
    """
    from scipy.integrate import cumulative_trapezoid

    s = result.setting
    per_sample = ((result.sample_C0[:, None] + s.noise) / 4.0
                  + s.lam * (result.sample_trace_S[:, :1] - result.sample_trace_S)
                  - cumulative_trapezoid(result.sample_dissipation, result.t, axis=1, initial=0.0))
    if correct:
        root = np.random.SeedSequence(result.seed)
        pop = np.array([population_balance(s, result.t, result.d_eff, _child(root, k))[0]
                        for k in range(per_sample.shape[0])])
        per_sample = per_sample - pop - s.noise / 4.0 + (result.mse_population / 2.0 + s.noise / 4.0)
    k = per_sample.shape[0]
    se = per_sample.std(axis=0, ddof=1) / math.sqrt(k) if k > 1 else np.full(result.t.size, np.nan)
    return per_sample.mean(axis=0), se


def extrapolate_in_d(d: np.ndarray, y: np.ndarray, se: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted least-squares fit ``y(d) = y_inf + b / d`` at every time; returns ``y_inf`` and its standard error.

    ``d`` (K,), ``y`` and ``se`` (K, T), K >= 2. With K = 2 the line passes through both points (no residual
    check); the error is propagated from the points' standard errors.
    """
    x = 1.0 / np.asarray(d, dtype=float)
    y, se = np.atleast_2d(y), np.atleast_2d(se)
    if x.size < 2:
        raise ValueError(f"extrapolate_in_d needs >= 2 sizes, got {x.size}")
    out, err = np.empty(y.shape[1]), np.empty(y.shape[1])
    for j in range(y.shape[1]):
        w = 1.0 / np.maximum(se[:, j], 1e-300) ** 2
        A = np.stack([np.ones_like(x), x], axis=1)
        cov = np.linalg.inv(A.T @ (A * w[:, None]))
        coef = cov @ (A.T @ (w * y[:, j]))
        out[j], err[j] = coef[0], math.sqrt(cov[0, 0])
    return out, err


def _ledger_path(cache_dir: Path) -> Path:
    return Path(cache_dir) / "completed.json"


def completed(cache_dir: str | Path = CACHE_DIR) -> dict:
    """What the background phases have finished: ``{"dmft": {name: seeds}, "sims": {name: {d: runs}}}`` (prefixes
    of the design's seeds and runs), as recorded by ``--phase dmft`` and ``--phase sims``."""
    path = _ledger_path(Path(cache_dir))
    return json.loads(path.read_text()) if path.exists() else {"dmft": {}, "sims": {}}


def _record(cache_dir: Path, kind: str, name: str, count: int, d: int | None = None) -> None:
    done = completed(cache_dir)
    entry = done.setdefault(kind, {})
    if d is None:
        entry[name] = max(count, entry.get(name, 0))
    else:
        sizes = entry.setdefault(name, {})
        sizes[str(d)] = max(count, sizes.get(str(d), 0))
    path = _ledger_path(cache_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(done, sort_keys=True))
    tmp.replace(path)


def run_dmft_round_robin(names: str, design: ValidationDesign = DESIGN, *, cache_dir: Path = CACHE_DIR,
                         n_jobs: int = 1, progress: bool = True) -> None:
    """The design's DMFT solves, seed-major (seed k of every setting before seed k + 1), so that stopping at any
    time leaves every setting with a prefix of its seeds; each finished prefix is recorded (:func:`completed`)."""
    for k in range(len(design.dmft_seeds)):
        for name in names:
            dmft_solves(SETTINGS[name], design, design.dmft_seeds[:k + 1], cache_dir=cache_dir, n_jobs=n_jobs,
                        progress=progress)
            _record(cache_dir, "dmft", name, k + 1)
            print(f"DMFT {name}: seeds 0..{k} done", flush=True)


def run_simulations_size_major(names: str, design: ValidationDesign = DESIGN, *, cache_dir: Path = CACHE_DIR,
                               n_jobs: int = 1, progress: bool = True, chunk: int = 8) -> None:
    """The design's simulation runs, size-major (every setting at the smallest ``d`` first) in chunks of
    ``chunk`` runs, each finished prefix recorded (:func:`completed`)."""
    t = design.record_times()
    for d, reps in zip(design.d_values, design.reps):
        for name in names:
            done = completed(cache_dir).get("sims", {}).get(name, {}).get(str(d), 0)
            if done >= reps:   # finished earlier (its population mean too): nothing to replay
                continue
            for upto in range(max(min(chunk, reps), done + chunk), reps + chunk, chunk):
                upto = min(upto, reps)
                sim = simulate(SETTINGS[name], d, design.t_max, reps=upto, seed=design.sim_seed, features="goe",
                               times=t, population_control=True, n_jobs=n_jobs, progress=progress,
                               cache_dir=str(Path(cache_dir) / "sim"))
                if upto == reps:   # the control variate's population mean at this size, before recording
                    _population_mean(cache_dir)(SETTINGS[name], d, sim.t, design.pop_reps)
                _record(cache_dir, "sims", name, upto, d)
                if upto == reps:
                    break
            print(f"simulations {name}, d = {d}: {reps} runs done", flush=True)


def completed_design(name: str, design: ValidationDesign = DESIGN, cache_dir: Path = CACHE_DIR,
                     min_runs: int = 8) -> ValidationDesign:
    """The design cut to what finished (the design's stopping rule): per setting the finished prefix of DMFT
    seeds, and the sizes with at least ``min_runs`` finished runs (their finished prefix). With one size only the
    comparison has no ``d -> infinity`` value (:func:`acceptance_rows` needs two)."""
    done = completed(cache_dir)
    sims = done.get("sims", {}).get(name, {})
    sizes = [(d, min(sims.get(str(d), 0), r)) for d, r in zip(design.d_values, design.reps)]
    sizes = [(d, r) for d, r in sizes if r >= min(min_runs, min(design.reps))]
    seeds = design.dmft_seeds[:done.get("dmft", {}).get(name, 0)]
    if not sizes or not seeds:
        raise ValueError(f"setting {name}: too little finished for a comparison (sizes {sizes}, seeds {seeds}); run "
                         f"--phase sims and --phase dmft")
    return replace(design, d_values=tuple(d for d, _ in sizes), reps=tuple(r for _, r in sizes), dmft_seeds=seeds)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--settings", default="BAC", help="settings to run, in this order (default BAC)")
    parser.add_argument("--jobs", type=int, default=1, help="joblib workers (results do not depend on it)")
    parser.add_argument("--phase", choices=("all", "sims", "dmft"), default="all",
                        help="sims: only the simulations; dmft: only the DMFT solves (round-robin over settings); "
                             "all: everything missing, then the comparison files in book/data/dmft")
    parser.add_argument("--completed", action="store_true",
                        help="compare only what --phase sims / --phase dmft runs finished (the design's stopping "
                             "rule): per setting a prefix of the DMFT seeds and of the runs at each size")
    parser.add_argument("--gaussian", default="", help="settings also simulated with Gaussian-input features")
    parser.add_argument("--quick", action="store_true", help="small smoke run (d = 20, 30; d_eff = 20; t = 3)")
    parser.add_argument("--no-progress", action="store_true")
    return parser


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    design, cache, out = DESIGN, CACHE_DIR, DATA_DIR
    if args.quick:
        design = ValidationDesign(d_values=(20, 30), reps=(4, 4), pop_reps=4, d_eff=20, samples=2, control_samples=4,
                                  n_starts=8, dmft_seeds=(0, 1), t_max=3.0, times=(1.0, 2.0, 2.5))
        cache, out = CACHE_DIR / "quick", None
    opts = {"cache_dir": cache, "n_jobs": args.jobs, "progress": not args.no_progress}
    if args.phase == "sims":
        run_simulations_size_major(args.settings, design, **opts)
        return
    if args.phase == "dmft":
        run_dmft_round_robin(args.settings, design, **opts)
        return
    rows = []
    for name in args.settings:
        setting = SETTINGS[name]
        used = design if args.completed is False else completed_design(name, design, cache)
        comp, theory = compare(name, setting, used, **opts)
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
            comp.save(out / f"comparison_{name}.npz")
            save_curves(theory, out / f"dmft_{name}.npz")
            if setting.noise > 0:
                atomic_savez(out / f"chi_{name}.npz", **chi_comparison(name, setting, theory, used, cache_dir=cache,
                                                                        n_jobs=args.jobs))
        if len(comp.d) >= 2:
            rows += acceptance_rows(comp, design)
        else:
            print(f"setting {name}: simulations at one size only (d = {comp.d[0]}), no extrapolation", flush=True)
        if name in args.gaussian:
            gauss, _ = compare(name, setting, used, features="gaussian", **opts)
            if out is not None:
                gauss.save(out / f"comparison_{name}_gaussian.npz")
    print(acceptance_markdown(rows, design), flush=True)


if __name__ == "__main__":
    main()
