"""The recovery thresholds as the apps draw them: values at one ``(kappa, kappa*)``, colours and labels.

Theory: book/theory/thresholds.md.
"""
from __future__ import annotations

import math
from functools import lru_cache

from .. import plotting
from ..longtime import thresholds
from ..conventions import check_nonnegative, check_positive
from .curves import noisy_alpha_inter

__all__ = ["THRESHOLD_STYLE", "THRESHOLD_LABEL", "cannot_recover", "threshold_values"]

#: Threshold names, in drawing order, with their colours (paper: alpha_inter blue, alpha_PR+ orange,
#: alpha_PR green) and line styles.
THRESHOLD_STYLE: dict[str, tuple[str, str]] = {
    "alpha_bo": ("#000000", "dot"),
    "alpha_inter": (plotting.PALETTE[0], "dash"),
    "alpha_pr_plus": (plotting.PALETTE[1], "dash"),
    "alpha_pr": (plotting.PALETTE[2], "dash"),
    "alpha_inter_noisy": (plotting.PALETTE[3], "dashdot"),
}
THRESHOLD_LABEL: dict[str, str] = {
    "alpha_bo": "α_BO", "alpha_inter": "α_inter", "alpha_pr_plus": "α_PR⁺", "alpha_pr": "α_PR",
    "alpha_inter_noisy": "α_inter(Δ)",
}


def cannot_recover(kappa: float, kappa_star: float) -> bool:
    """Whether the student cannot represent the teacher: ``min(kappa, 1) < min(kappa*, 1)`` (then no recovery
    threshold exists)."""
    return min(kappa, 1.0) < min(kappa_star, 1.0)


def threshold_values(kappa: float, kappa_star: float, noise: float = 0.0) -> dict[str, float]:
    """The recovery thresholds at one ``(kappa, kappa*)`` (NaN where undefined, e.g. ``kappa < kappa*``).

    Keys: ``alpha_bo``, ``alpha_pr_plus``, ``alpha_pr``, ``alpha_inter`` (noiseless) and, when ``noise > 0``,
    ``alpha_inter_noisy`` (the double-descent peak, :func:`qnn.longtime.thresholds.alpha_inter` at ``Delta``).
    """
    kappa = check_positive("kappa", kappa)
    kappa_star = check_positive("kappa_star", kappa_star)
    noise = check_nonnegative("noise", noise)
    values = {"alpha_bo": float(thresholds.alpha_bo(kappa_star))}
    for name in ("alpha_pr_plus", "alpha_pr", "alpha_inter"):
        value = float(getattr(thresholds, name)(kappa, kappa_star))      # inf when recovery is impossible
        values[name] = value if math.isfinite(value) else math.nan
    if noise > 0:
        values["alpha_inter_noisy"] = _noisy_alpha_inter(kappa, kappa_star, noise)
    return values


@lru_cache(maxsize=256)
def _noisy_alpha_inter(kappa: float, kappa_star: float, noise: float) -> float:
    """:func:`qnn.longtime.thresholds.alpha_inter` at ``noise > 0`` on batched laws kept across slider moves
    (:func:`qnn.apps.curves.noisy_alpha_inter`, same value within the theory tolerance); NaN where it has none."""
    try:
        return noisy_alpha_inter(kappa, kappa_star, noise)
    except (ValueError, ArithmeticError, RuntimeError):
        return math.nan
