"""The project's conventions, stated once.

Everything in :mod:`qnn` follows the book's theory reference (book/theory/conventions.md), which uses
the conventions of Martin, Biroli & Bach, *High-Dimensional Analysis of Gradient Flow for Extensive-Width
Quadratic Neural Networks* (arXiv:2601.10483).

Model
-----
* Input dimension ``d``; ``n = floor(alpha d^2)`` samples; student width ``m = round(kappa d)``;
  teacher width ``m* = round(kappa_star d)`` (each at least 1).
* Features ``Z(x) = (x x^T - I_d) / sqrt(d)`` with ``x ~ N(0, I_d)`` (the network itself, ``"gaussian"``), or a
  GOE matrix ``Z = (H + H^T) / sqrt(2 d)`` with the same entry variances ``E Z_ij^2 = 1/d`` (i != j),
  ``2/d`` (i = j) (``"goe"``, the paper's simulation model).
* Teacher ``S* = W* W*^T / m*``, ``W*_ij ~ N(0, 1)``; its spectral law has mean 1 and second moment
  ``1 + 1/kappa*`` (atom ``1 - kappa*`` at 0 when ``kappa* < 1``).
* Student ``S = W W^T``, ``W in R^{d x m}``, ``W_ij(0) ~ N(0, gamma/m)`` so ``tr S(0)/d ~ gamma``;
  ``f_W(x) = tr(S Z(x))``.
* Labels ``y_mu = tr(S* Z_mu) + sqrt(Delta) xi_mu``, ``xi_mu ~ N(0, 1)``; ``Delta`` is ``noise``.
* Loss ``L(W) = (1/(4n)) sum_mu (y_mu - tr(S Z_mu))^2 + (lambda/d) |W|_F^2``; ``lambda`` is ``lam``.
* Gradient flow in the paper's time units: ``dW/dt = -d grad_W L = -G W`` with
  ``G = (d/n) sum_mu (tr(S Z_mu) - y_mu) Z_mu + 2 lambda I``; equivalently ``dS/dt = -(G S + S G)``.
  Population limit (alpha -> inf): ``G = 2 (S - S*) + 2 lambda I``.

Metrics
-------
* ``MSE = |S - S*|_F^2 / d`` (the network's test error ``E (f - f*)^2`` equals ``2 MSE``).
* ``Loss_train = (1/(4n)) sum_mu (y_mu - tr(S Z_mu))^2`` (no regulariser).
* ``ISE = (1/(4n)) sum_mu tr((S - S*) Z_mu)^2`` (in-sample error against the clean labels).

This module holds only :class:`Setting`, the validation helpers every other module uses and the package version
(``__version__``, re-exported as ``qnn.__version__``; the figure caches record it).
"""

from __future__ import annotations

import importlib
import importlib.util
import math
import numbers
from dataclasses import dataclass, replace
from typing import Any, Literal
from collections.abc import Callable

import numpy as np

__all__ = ["Setting", "__version__", "Features", "FEATURES", "check_positive", "check_nonnegative", "check_features",
           "check_dimension", "check_int", "check_jobs", "MAX_SAMPLES", "lazy_submodules"]

#: Largest sample count ``n = floor(alpha d^2)`` that :meth:`Setting.dims` accepts (exact in float64; far beyond
#: any memory: the data size checks of :mod:`qnn.simulation.data` stop much earlier).
__version__ = "0.1.0"     # the package version (pyproject.toml states the same)

MAX_SAMPLES = 2.0**53

Features = Literal["gaussian", "goe"]
FEATURES: tuple[str, ...] = ("gaussian", "goe")


def _is_real_number(value: object) -> bool:
    """True for real numbers (Python or numpy scalars, 0-d real arrays); False for bools, strings, complex."""
    if isinstance(value, np.ndarray):
        return value.ndim == 0 and value.dtype.kind in "iuf"
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def _check_finite(name: str, value: float, allowed: str) -> float:
    if not _is_real_number(value):
        raise ValueError(f"{name} must be a real number in {allowed}, got {value!r} ({type(value).__name__})")
    try:
        value = float(value)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{name} must be a real number in {allowed}, got {value!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, in {allowed}, got {value!r}")
    return value


def check_positive(name: str, value: float) -> float:
    """Return ``float(value)``; raise ``ValueError`` unless it is finite and > 0."""
    value = _check_finite(name, value, "(0, inf)")
    if value <= 0:
        raise ValueError(f"{name} must be > 0 (allowed range (0, inf)), got {value!r}")
    return value


def check_nonnegative(name: str, value: float) -> float:
    """Return ``float(value)``; raise ``ValueError`` unless it is finite and >= 0."""
    value = _check_finite(name, value, "[0, inf)")
    if value < 0:
        raise ValueError(f"{name} must be >= 0 (allowed range [0, inf)), got {value!r}")
    return value


def check_jobs(name: str, value: int) -> int:
    """Validate a number of parallel workers: a positive integer, or ``-1`` for all cores (joblib's convention)."""
    if isinstance(value, bool) or not isinstance(value, int) or value == 0 or value < -1:
        raise ValueError(f"{name} must be a positive integer or -1 (all cores), got {value!r}")
    return value


def check_int(name: str, value: int, minimum: int = 1) -> int:
    """Return ``int(value)``; raise ``ValueError`` unless it is an integer >= ``minimum``."""
    integral = isinstance(value, numbers.Integral) or (isinstance(value, float) and value.is_integer())
    if isinstance(value, (bool, np.bool_)) or not integral:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    value = int(value)
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def check_dimension(d: int) -> int:
    """Validate the input dimension ``d`` (an integer >= 2)."""
    return check_int("d", d, minimum=2)


def check_features(features: str) -> str:
    """Validate the feature model name (``"gaussian"`` or ``"goe"``)."""
    if features not in FEATURES:
        raise ValueError(f"features must be one of {FEATURES}, got {features!r}")
    return features


@dataclass(frozen=True)
class Setting:
    """One point of the model's phase diagram (book/theory/conventions.md).

    Parameters
    ----------
    alpha : float
        Sample ratio ``n / d^2``, in ``(0, inf)``.
    kappa : float
        Student width ratio ``m / d``, in ``(0, inf)``.
    kappa_star : float
        Teacher width ratio ``m* / d``, in ``(0, inf)``.
    noise : float, default 0
        Label-noise variance ``Delta``, in ``[0, inf)``.
    lam : float, default 0
        l2-regularisation strength ``lambda``, in ``[0, inf)``.
    gamma : float, default 1
        Initialisation variance: ``W_ij(0) ~ N(0, gamma/m)``, in ``[0, inf)`` (``gamma = 0`` starts at the
        saddle ``W = 0``, which gradient flow never leaves; it is allowed for theory only).

    Raises
    ------
    ValueError
        If a parameter is NaN, infinite, or outside its allowed range (the message names it).
    """

    alpha: float
    kappa: float
    kappa_star: float
    noise: float = 0.0
    lam: float = 0.0
    gamma: float = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "alpha", check_positive("alpha", self.alpha))
        object.__setattr__(self, "kappa", check_positive("kappa", self.kappa))
        object.__setattr__(self, "kappa_star", check_positive("kappa_star", self.kappa_star))
        object.__setattr__(self, "noise", check_nonnegative("noise", self.noise))
        object.__setattr__(self, "lam", check_nonnegative("lam", self.lam))
        object.__setattr__(self, "gamma", check_nonnegative("gamma", self.gamma))

    def replace(self, **changes: float) -> Setting:
        """A copy with some parameters changed (validated again)."""
        return replace(self, **changes)

    def dims(self, d: int) -> tuple[int, int, int]:
        """Finite-size dimensions ``(n, m, m_star)`` at input dimension ``d``.

        ``n = floor(alpha d^2)``, ``m = round(kappa d)``, ``m* = round(kappa_star d)``, each at least 1.

        Raises
        ------
        ValueError
            If ``d`` is not an integer >= 2, or ``alpha d^2``, ``kappa d`` or ``kappa_star d`` is not below
            ``MAX_SAMPLES`` (2^53) (the message names the parameter).
        """
        d = check_dimension(d)
        samples = self.alpha * float(d) * float(d)
        if not samples < MAX_SAMPLES:
            raise ValueError(f"alpha * d^2 = {samples:.3g} samples at alpha = {self.alpha:.3g}, d = {d}: too many "
                             f"(n = floor(alpha d^2) must be < {MAX_SAMPLES:.0e}); use a smaller alpha or d")
        n = max(1, int(math.floor(samples)))
        widths = []
        for name, ratio in (("kappa", self.kappa), ("kappa_star", self.kappa_star)):
            width = ratio * float(d)
            if not width < MAX_SAMPLES:
                raise ValueError(f"{name} * d = {width:.3g} at {name} = {ratio:.3g}, d = {d}: too large "
                                 f"(must be < {MAX_SAMPLES:.0e}); use a smaller {name} or d")
            widths.append(max(1, int(round(width))))
        return n, widths[0], widths[1]

    @property
    def teacher_second_moment(self) -> float:
        """``lim tr(S*^2)/d = 1 + 1/kappa*``: the MSE of the zero estimator ``S = 0``."""
        return 1.0 + 1.0 / self.kappa_star


def lazy_submodules(package: str) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package`` that imports its submodules on first use.

    With it, every dotted name the book prints resolves after a plain ``import qnn``: ``qnn.figdata.load``,
    ``qnn.simulation.oracle``, ``qnn.mean_field.validation.energy_balance`` (the way ``scipy.linalg`` resolves
    after ``import scipy``). A name that is no submodule raises ``AttributeError`` as usual.
    """
    def __getattr__(name: str) -> Any:
        if not name.startswith("__"):
            try:
                found = importlib.util.find_spec(f"{package}.{name}") is not None
            except (ImportError, ValueError):
                found = False
            if found:
                return importlib.import_module(f"{package}.{name}")
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
