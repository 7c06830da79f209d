"""qnn: theory and simulation of gradient flow for extensive-width quadratic neural networks.

Companion package of the qnn-book (arXiv:2601.10483). Conventions: :mod:`qnn.conventions`
(theory: book/theory/conventions.md).
"""
from .conventions import Setting

__all__ = ["Setting"]
__version__ = "0.1.0"
from .simulation import ConvergenceResult, SimulationResult, simulate, train_to_convergence
__all__ += ["simulate", "train_to_convergence", "SimulationResult", "ConvergenceResult"]
from .dmft import DMFTResult, dmft
__all__ += ["dmft", "DMFTResult"]
from . import spectral, thresholds
from .fixed_point import EstimatorDensity, FixedPoint, FixedPointCurve, estimator_density, fixed_point, fixed_point_curve, xi_branch
__all__ += ["fixed_point", "fixed_point_curve", "xi_branch", "estimator_density", "FixedPoint", "FixedPointCurve", "EstimatorDensity", "spectral", "thresholds"]
from .oja import OjaResult, oja_flow, oja_power_law
from .threshold_estimate import ThresholdEstimate, estimate_threshold
__all__ += ["oja_flow", "oja_power_law", "OjaResult", "estimate_threshold", "ThresholdEstimate"]
