"""The Bayes-optimal error, for comparison with gradient flow (an addition to the paper).

* :mod:`qnn.optimal.denoising` — optimal rotation-invariant denoising of ``S* + sqrt(xi) Z_GOE``;
* :mod:`qnn.optimal.bayes` — the Bayes-optimal MSE as a function of ``alpha`` (``qnn.bayes_optimal``).

Layer: imports :mod:`qnn.conventions`, :mod:`qnn.spectra` and :mod:`qnn.longtime` (the threshold ``alpha_BO``).
"""
