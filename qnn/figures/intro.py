"""Figure data of the introduction: gradient flow in action (MSE and training loss along time)."""
from __future__ import annotations

from ..figdata import register
from ..simulation.gradient_flow import simulate
from .common import FLOW_CHECKS, setting_of

#: Final time (paper units) and number of record times of the introduction's runs.
INTRO_T_MAX = 300.0
INTRO_N_RECORDS = 40


@register("intro_dynamics", d=30, reps=4, version="1",
          grid={"alpha": [0.1, 0.2, 0.3, 0.4, 0.5]},
          fixed={"kappa": 0.5, "kappa_star": 0.2, "noise": 0.0, "lam": 0.0, "gamma": 1.0,
                 "features": "gaussian", "t_max": INTRO_T_MAX},
          checks=FLOW_CHECKS, check_budget_s=20.0,
          description="MSE(t) and Loss_train(t) of gradient flow at several alpha (intro page)")
def intro_dynamics(task: dict) -> dict:
    """One repetition of gradient flow (adaptive RK23) with the network's own features; see ``qnn.simulate``."""
    run = simulate(setting_of(task), task["d"], task["t_max"], reps=1, seed=task["seed"], features=task["features"],
                   n_records=INTRO_N_RECORDS, progress=False)
    return {"t": run.t, "mse": run.mse[0], "loss_train": run.loss[0]}
