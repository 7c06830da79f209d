"""The Bayes-optimal error, for comparison with gradient flow (an addition to the paper).

* :mod:`qnn.optimal.denoising` — optimal rotation-invariant denoising of ``S* + sqrt(xi) Z_GOE``;
* :mod:`qnn.optimal.bayes` — the Bayes-optimal MSE as a function of ``alpha`` (``qnn.bayes_optimal``).

Layer: imports :mod:`qnn.conventions`, :mod:`qnn.spectra` and :mod:`qnn.longtime` (the threshold ``alpha_BO``).
"""

from qnn.conventions import lazy_submodules

# qnn.<subpackage>.<module> resolves after a plain `import qnn` (submodules are imported on first use)
__getattr__ = lazy_submodules(__name__)
