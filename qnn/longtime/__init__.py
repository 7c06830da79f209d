"""The long-time limit of gradient flow with l2 regularisation (paper, Sections 4-5).

Bottom to top:

* :mod:`qnn.longtime.equations` — the fixed-point equations at given ``(xi, q)``;
* :mod:`qnn.longtime.trace` — curves of solutions in the ``xi``-parametrisation;
* :mod:`qnn.longtime.thresholds` — perfect-recovery and interpolation thresholds;
* :mod:`qnn.longtime.fast`, :mod:`qnn.longtime.reference` — the two solvers (vectorised default, adaptive check);
* :mod:`qnn.longtime.fixed_point` — the public entry points ``fixed_point``, ``fixed_point_curve``, ``xi_branch``,
  ``estimator_density`` (re-exported as ``qnn.fixed_point`` etc.).

Layer: imports :mod:`qnn.conventions` and :mod:`qnn.spectra`.
"""

from qnn.conventions import lazy_submodules

# qnn.<subpackage>.<module> resolves after a plain `import qnn` (submodules are imported on first use)
__getattr__ = lazy_submodules(__name__)
