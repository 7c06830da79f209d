"""qnn: theory and simulation of gradient flow for extensive-width quadratic neural networks.

Companion package of the qnn-book (arXiv:2601.10483). Conventions: :mod:`qnn.conventions` (Theory:
book/theory/conventions.md).
"""

from .conventions import lazy_submodules
from .conventions import Setting, __version__
from .longtime.fixed_point import (EstimatorDensity, FixedPoint, FixedPointCurve, estimator_density, fixed_point,
                                   fixed_point_curve, xi_branch)
from .mean_field import DMFTResult, dmft
from .optimal.bayes import BayesOptimal, BayesOptimalCurve, bayes_optimal, bayes_optimal_branch, bayes_optimal_curve
from .simulation.oja import OjaResult, oja_flow, oja_power_law
from .simulation.gradient_flow import ConvergenceResult, SimulationResult, simulate, train_to_convergence
from .simulation.threshold_estimate import ThresholdEstimate, estimate_threshold

__all__ = ["Setting", "__version__"]
__all__ += ["simulate", "train_to_convergence", "SimulationResult", "ConvergenceResult"]
__all__ += ["dmft", "DMFTResult"]
__all__ += ["fixed_point", "fixed_point_curve", "xi_branch", "estimator_density", "FixedPoint", "FixedPointCurve",
            "EstimatorDensity"]
__all__ += ["oja_flow", "oja_power_law", "OjaResult", "estimate_threshold", "ThresholdEstimate"]
__all__ += ["bayes_optimal", "bayes_optimal_curve", "bayes_optimal_branch", "BayesOptimal", "BayesOptimalCurve"]

# qnn.<subpackage>.<module> resolves after a plain `import qnn` (submodules are imported on first use)
__getattr__ = lazy_submodules(__name__)
