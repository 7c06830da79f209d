"""Tests of qnn.simulation.stationary_flow (gradient flow run to a stationarity criterion)."""
import numpy as np
import pytest

import qnn
from qnn.simulation.stationary_flow import flow_to_stationarity


def test_reaches_the_convex_minimiser_when_the_width_does_not_bind():
    # kappa = 1: the problem in S is convex and its minimiser is where the flow stops (same seed = same problem).
    # The last stage is slow (directions of W in the null space of S decay at the small eigenvalues of G): at
    # d = 8 the velocity was measured at 6e-5 after t = 2000, hence gtol = 1e-4 and a 1% comparison.
    setting = qnn.Setting(alpha=0.4, kappa=1.0, kappa_star=0.5, noise=0.0, lam=0.2)
    flow = flow_to_stationarity(setting, 8, seed=3, features="goe", gtol=1e-4, t_max=2000.0)
    assert flow.converged and flow.grad_norm <= 1e-4, flow.reason
    convex = qnn.train_to_convergence(setting, 8, seed=3, features="goe", method="convex", gtol=1e-9,
                                      progress=False)
    assert flow.mse == pytest.approx(float(convex.mse[0]), rel=1e-2)
    assert np.allclose(flow.S, convex.S[0], atol=1e-2)


def test_reports_non_convergence_at_t_max():
    setting = qnn.Setting(alpha=0.4, kappa=1.0, kappa_star=0.5, noise=0.0, lam=0.2)
    flow = flow_to_stationarity(setting, 8, seed=3, features="goe", gtol=1e-12, t_max=5.0)
    assert not flow.converged and flow.t == pytest.approx(5.0) and "t_max" in flow.reason


@pytest.mark.parametrize("kwargs, match", [({"gtol": 0.0}, "gtol"), ({"t_max": -1.0}, "t_max"),
                                           ({"growth": 1.0}, "growth"), ({"rep": -1}, "rep")])
def test_bad_input(kwargs, match):
    setting = qnn.Setting(alpha=0.4, kappa=1.0, kappa_star=0.5, noise=0.0, lam=0.2)
    with pytest.raises(ValueError, match=match):
        flow_to_stationarity(setting, 8, **kwargs)
