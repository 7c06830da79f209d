"""Finite-d simulation of the network and its gradient flow.

Bottom to top:

* :mod:`qnn.simulation.data` — teacher, initial student, features (Gaussian inputs or GOE) and labels;
* :mod:`qnn.simulation.network` — predictions, losses, gradients, Hessian-vector products;
* :mod:`qnn.simulation.integrator` — time stepping of the flow with recording and step-size checks;
* :mod:`qnn.simulation.gradient_flow` — ``simulate`` (trajectories) and ``train_to_convergence`` (end points);
* :mod:`qnn.simulation.stationary_flow`, :mod:`qnn.simulation.oracle`, :mod:`qnn.simulation.oja`,
  :mod:`qnn.simulation.threshold_estimate` — the flow run to stationarity, the finite-d oracle of the fixed point,
  the Oja flow of the unregularised late phase, and the threshold estimator of paper Figure 21.

Layer: imports only :mod:`qnn.conventions` (no theory: simulations are the independent check of the theory).
"""

from qnn.conventions import lazy_submodules

# qnn.<subpackage>.<module> resolves after a plain `import qnn` (submodules are imported on first use)
__getattr__ = lazy_submodules(__name__)
