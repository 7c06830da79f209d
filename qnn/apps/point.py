"""One ``(kappa, alpha)`` point of the long-time theory: fixed point, estimator spectrum and regime (used by the
phase-diagram and spectrum apps).

Theory: book/theory/fixed_point.md, book/theory/spectral_laws.md.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..conventions import Setting
from ..longtime.fixed_point import FixedPoint, estimator_density, fixed_point
from ..spectra.laws import spectral_law
from .threshold_lines import cannot_recover, threshold_values

__all__ = ["PointInspection", "inspect_point"]


@dataclass(frozen=True)
class PointInspection:
    """One ``(kappa, alpha)`` point of the phase diagram: fixed point, estimator spectrum, regime.

    Attributes
    ----------
    setting : Setting
    fixed_point : FixedPoint
    s, density : numpy.ndarray
        Density of the non-zero eigenvalues of ``S_hat`` (normalised to 1), on a grid ``s``.
    atom : float
        Mass of the eigenvalue atom at 0 (``1 - kappa_min``).
    regime : str
        Plain-language classification of the point relative to the thresholds.
    """

    setting: Setting
    fixed_point: FixedPoint
    s: np.ndarray
    density: np.ndarray
    atom: float
    regime: str


def _regime(setting: Setting, values: dict[str, float]) -> str:
    alpha, kappa, kappa_star = setting.alpha, setting.kappa, setting.kappa_star
    if cannot_recover(kappa, kappa_star):
        return "κ < κ*: the student cannot represent the teacher; no perfect recovery at any α."
    parts = []
    if alpha < values["alpha_bo"]:
        parts.append(f"α < α_BO = {values['alpha_bo']:.4f}: too few samples for any estimator to recover S*")
    else:
        pr_plus, pr = values["alpha_pr_plus"], values["alpha_pr"]
        parts.append(f"λ → 0⁺ estimator {'recovers' if alpha >= pr_plus else 'does not recover'} S* "
                     f"(α {'≥' if alpha >= pr_plus else '<'} α_PR⁺ = {pr_plus:.4f})")
        parts.append(f"unregularised gradient flow {'recovers' if alpha >= pr else 'does not recover'} S* "
                     f"(α {'≥' if alpha >= pr else '<'} α_PR = {pr:.4f})")
    return "; ".join(parts) + "."


def inspect_point(kappa: float, kappa_star: float, alpha: float, lam: float, noise: float = 0.0, *,
                  n_s: int = 300) -> PointInspection:
    """Fixed point and estimator spectrum at one ``(kappa, alpha)``; raises ``ValueError`` when not converged."""
    setting = Setting(alpha=alpha, kappa=kappa, kappa_star=kappa_star, noise=noise, lam=lam)
    fp = fixed_point(setting)
    if not fp.converged:
        raise ValueError(f"the fixed point did not converge at α = {alpha:.4g}, κ = {kappa:.4g}: {fp.reason}")
    if fp.branch == "perfect_recovery":
        top = (1 + 1 / math.sqrt(kappa_star)) ** 2
        s = np.linspace(0.0, top * 1.05, n_s)
    else:
        law = spectral_law(kappa_star, fp.xi)
        s = np.linspace(0.0, max(law.top - fp.q, 1e-6) * 1.05, n_s)
    density = estimator_density(fp, s)
    values = threshold_values(kappa, kappa_star)
    return PointInspection(setting=setting, fixed_point=fp, s=s, density=density.normalised(),
                           atom=float(density.atom), regime=_regime(setting, values))
