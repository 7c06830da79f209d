"""qnn: theory and simulation of gradient flow for extensive-width quadratic neural networks.

Companion package of the qnn-book (arXiv:2601.10483). Conventions: :mod:`qnn.conventions` (Theory:
book/theory/conventions.md).
"""
from . import spectral, thresholds
from .conventions import Setting
from .dmft import DMFTResult, dmft
from .fixed_point import (EstimatorDensity, FixedPoint, FixedPointCurve, estimator_density, fixed_point,
                          fixed_point_curve, xi_branch)
from .oja import OjaResult, oja_flow, oja_power_law
from .simulation import ConvergenceResult, SimulationResult, simulate, train_to_convergence
from .threshold_estimate import ThresholdEstimate, estimate_threshold

__version__ = "0.1.0"
__all__ = ["Setting"]
__all__ += ["simulate", "train_to_convergence", "SimulationResult", "ConvergenceResult"]
__all__ += ["dmft", "DMFTResult"]
__all__ += ["fixed_point", "fixed_point_curve", "xi_branch", "estimator_density", "FixedPoint", "FixedPointCurve",
            "EstimatorDensity", "spectral", "thresholds"]
__all__ += ["oja_flow", "oja_power_law", "OjaResult", "estimate_threshold", "ThresholdEstimate"]
