"""Spectral laws (free probability) behind the long-time theory and the optimal error.

* :mod:`qnn.spectra.teacher` — the teacher's spectrum ``S* = W* W*^T / m*`` (Marchenko-Pastur law with an atom at 0
  when ``kappa* < 1``) and the semicircle.
* :mod:`qnn.spectra.laws` — the law of ``Y = S* + sqrt(xi) Z_GOE`` (free convolution): density, support, Stieltjes
  transform, tail integrals (:class:`~qnn.spectra.laws.SpectralLaw`).
* :mod:`qnn.spectra.batch` — the same laws for many ``xi`` at once (vectorised; used by the fast fixed-point path).

Layer: imports only :mod:`qnn.conventions`.
"""

from qnn.conventions import lazy_submodules

# qnn.<subpackage>.<module> resolves after a plain `import qnn` (submodules are imported on first use)
__getattr__ = lazy_submodules(__name__)
