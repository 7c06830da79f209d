"""Options of a DMFT solve, validated once, and the up-front size check.

:class:`DMFTOptions` holds everything the numbers of a solve depend on besides the :class:`~qnn.Setting` (it is the
cache key); :class:`RunControl` holds what only changes how the solve runs (workers, batching, progress).
"""
from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import asdict, dataclass, field

from ..conventions import Setting, check_int, check_nonnegative, check_positive
from .numerics import default_n_times

#: Refuse a solve whose estimated peak memory exceeds this fraction of the machine's physical memory.
MEMORY_FRACTION = 0.8


@dataclass(frozen=True)
class DMFTOptions:
    """Numerical options of :func:`qnn.mean_field.dmft` (see its docstring for each); build with :meth:`create`."""

    t_max: float
    n_times: int
    d_eff: int = 80
    samples: int = 4
    control_samples: int = 16
    n_starts: int = 20
    damping: float = 0.0
    tol: float = 1e-3
    max_iter: int = 40
    refine: float = 10.0
    seed: int = 0
    late_band: float = 0.25
    #: whether ``n_times`` was chosen by :func:`default_n_times` (for messages only; not part of the key)
    default_grid: bool = field(default=False, compare=False)

    @classmethod
    def create(cls, setting: Setting, t_max: float, n_times: int | None = None, **kwargs) -> DMFTOptions:
        """Validate every option (``ValueError`` naming the parameter and its range) and fill the default grid."""
        if not isinstance(setting, Setting):
            raise ValueError(f"setting must be a qnn.Setting, got {type(setting).__name__}")
        t_max = check_positive("t_max", t_max)
        refine = check_positive("refine", kwargs.pop("refine", 10.0))
        if refine < 1:
            raise ValueError(f"refine must be >= 1 (allowed range [1, inf)), got {refine!r}")
        default_grid = n_times is None
        if default_grid:
            n_times = default_n_times(setting, t_max, refine=refine)
        n_times = check_int("n_times", n_times, minimum=3)
        # samples >= 2: the standard errors (and the jackknife of the loss) need two samples
        ints = {"d_eff": 4, "samples": 2, "control_samples": 0, "n_starts": 2, "max_iter": 1, "seed": 0}
        values = {name: check_int(name, kwargs.pop(name), minimum=low) for name, low in ints.items() if name in kwargs}
        for name in ("damping", "late_band"):
            if name in kwargs:
                values[name] = check_nonnegative(name, kwargs.pop(name))
                if values[name] >= 1:
                    raise ValueError(f"{name} must be in [0, 1), got {values[name]!r}")
        if "tol" in kwargs:
            values["tol"] = check_positive("tol", kwargs.pop("tol"))
        if kwargs:
            raise ValueError(f"unknown DMFT options: {sorted(kwargs)}")
        return cls(t_max=t_max, n_times=n_times, refine=refine, default_grid=default_grid, **values)

    def key(self, setting: Setting, extra: str = "") -> str:
        """A short hash of the setting and the options the iteration's kernels depend on (checkpoint names).

        ``max_iter`` and ``tol`` only decide when to stop, so they are left out: a solve stopped by ``max_iter``
        continues from its checkpoint when called again with a larger ``max_iter``.
        """
        params = {k: v for k, v in asdict(self).items() if k not in ("default_grid", "max_iter", "tol")}
        blob = json.dumps({"setting": asdict(setting), **params, "extra": extra}, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def describe_grid(self) -> str:
        """``n_times = N`` plus where it came from, for error messages."""
        origin = " (the default grid for this setting and t_max)" if self.default_grid else ""
        return f"n_times = {self.n_times}{origin}"


@dataclass(frozen=True)
class RunControl:
    """How a solve runs, not what it computes: joblib workers over samples, tangent-run batch, progress bar."""

    n_jobs: int = 1
    batch: int = 5
    progress: bool = True

    @classmethod
    def create(cls, n_jobs: int = 1, batch: int = 5, progress: bool = True) -> RunControl:
        return cls(n_jobs=check_int("n_jobs", n_jobs, minimum=1), batch=check_int("batch", batch, minimum=1),
                   progress=bool(progress))


def memory_estimate(setting: Setting, options: DMFTOptions, control: RunControl) -> float:
    """Estimated peak memory of a solve, in bytes (doubles; measured within a factor ~1.5 at n_times ~ 500).

    Driver: ~``(14 + 3 samples)`` kernels of ``n_times^2`` (the current and new kernels, the sample side's
    matrices, each sample's ``C``). Per worker: the stored trajectory and noise, ``n_times d_eff^2 (5 + batch)``
    plus ``2 n_times d_eff m``, and two ``n_times^2`` matrices.
    """
    n, d = float(options.n_times), float(options.d_eff)
    m = max(1.0, round(setting.kappa * d))
    driver = (14.0 + 3.0 * options.samples) * n * n
    worker = n * d * d * (5.0 + control.batch) + 2.0 * n * d * m + 2.0 * n * n
    return 8.0 * (driver + max(control.n_jobs, 1) * worker)


def physical_memory() -> float:
    """Physical memory of the machine in bytes (``inf`` where unknown)."""
    try:
        return float(os.sysconf("SC_PAGE_SIZE")) * float(os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return math.inf


def check_size(setting: Setting, options: DMFTOptions, control: RunControl) -> None:
    """Refuse, before any work, a solve that cannot fit in memory (``ValueError`` with the estimate)."""
    need, have = memory_estimate(setting, options, control), physical_memory()
    if need > MEMORY_FRACTION * have:
        raise ValueError(
            f"dmft(t_max = {options.t_max:g}, {options.describe_grid()}, d_eff = {options.d_eff}) needs about "
            f"{need / 2**30:.3g} GiB (kernels of n_times^2 doubles, trajectories of n_times d_eff^2), more than "
            f"{MEMORY_FRACTION:.0%} of this machine's {have / 2**30:.3g} GiB: reduce t_max, n_times or d_eff "
            f"(the cost in time grows like n_times^2 d_eff^2 as well)")
