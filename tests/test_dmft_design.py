"""Fast tests of the DMFT-versus-simulation design and acceptance test (qnn.mean_field.validation_design) and of
the validation CLI's bookkeeping (stopping rule, atomic files). The comparison itself: tests/test_dmft_validation.py.
"""
from __future__ import annotations

import importlib
import json

import numpy as np
import pytest

validation = importlib.import_module("qnn.mean_field.validation")
design_module = importlib.import_module("qnn.mean_field.validation_design")
ValidationDesign = design_module.ValidationDesign


def _comparison(sim_values, sim_se, dmft_value, dmft_se, t=None, name="X"):
    """A comparison at two sizes whose extrapolation to d = infinity is known: equal values at both sizes."""
    t = np.array([0.0, 1.0, 2.0, 2.5, 5.0, 10.0]) if t is None else t
    ones = np.ones((2, t.size))
    return validation.Comparison(
        name=name, setting=validation.SETTINGS["A"], features="goe", d=np.array([40, 80]), reps=np.array([8, 8]),
        t=t, sim_mse=sim_values * ones, sim_mse_se=sim_se * ones, sim_loss=sim_values * ones,
        sim_loss_se=sim_se * ones, dmft_mse=np.full(t.size, dmft_value), dmft_mse_se=np.full(t.size, dmft_se),
        dmft_loss=np.full(t.size, dmft_value), dmft_converged=True, dmft_seconds=1.0,
        dmft_loss_se=np.full(t.size, dmft_se), dmft_seeds=3, dmft_d_eff=40)


def test_acceptance_rows_combine_errors_and_sign():
    comp = _comparison(1.0, 0.01, 0.97, 0.02)
    rows = design_module.acceptance_rows(comp)
    assert len(rows) == 2 * len(design_module.ACCEPTANCE_TIMES)
    r = rows[0]
    # both sizes agree, so the extrapolated value is 1.0; its error comes from the two points' errors
    sim, se = validation.extrapolate_in_d(comp.d, comp.sim_mse, comp.sim_mse_se)
    assert r.sim == pytest.approx(1.0) and r.sim_se == pytest.approx(se[1])
    assert r.se == pytest.approx(np.hypot(r.sim_se, 0.02))
    assert r.z == pytest.approx((1.0 - 0.97) / r.se) and r.z > 0   # simulations above the DMFT: z > 0
    assert r.relative == pytest.approx(-0.03)


@pytest.mark.parametrize("dmft_value, dmft_se, expected", [(0.99, 0.01, True),   # close and precise
                                                          (0.90, 0.01, False),   # precise but 10% off: |z| > 2
                                                          (0.90, 0.10, False)])  # |z| < 2 but 10% errors
def test_acceptance_needs_both_precision_and_agreement(dmft_value, dmft_se, expected):
    comp = _comparison(1.0, 0.005, dmft_value, dmft_se)
    assert comp.accepted("mse") is expected and comp.accepted("loss") is expected


def test_acceptance_needs_two_sizes():
    comp = _comparison(1.0, 0.01, 1.0, 0.01)
    one = validation.Comparison(**{**comp.__dict__, "d": comp.d[:1], "sim_mse": comp.sim_mse[:1]})
    with pytest.raises(ValueError, match=">= 2 sizes"):
        design_module.acceptance_rows(one)


def test_acceptance_refuses_a_missing_time():
    comp = _comparison(1.0, 0.01, 1.0, 0.01, t=np.array([0.0, 1.0, 3.0]))
    with pytest.raises(ValueError, match="t = 2"):
        design_module.acceptance_rows(comp)


def test_design_records_the_acceptance_times_and_checks_itself():
    t = design_module.DESIGN.record_times()
    for x in design_module.ACCEPTANCE_TIMES:
        assert np.any(t == x)
    assert t[0] == 0.0 and t[-1] == design_module.DESIGN.t_max
    with pytest.raises(ValueError, match="same length"):
        ValidationDesign(d_values=(40, 60), reps=(8,))
    with pytest.raises(ValueError, match="reps must be"):
        ValidationDesign(d_values=(40, 60), reps=(8, 1))


def test_stopping_rule_uses_finished_prefixes(tmp_path):
    design = ValidationDesign(d_values=(40, 60, 80), reps=(16, 16, 8), dmft_seeds=(0, 1, 2, 3))
    (tmp_path / "completed.json").write_text(json.dumps(
        {"dmft": {"B": 2}, "sims": {"B": {"40": 16, "60": 8, "80": 4}}}))
    cut = validation.completed_design("B", design, tmp_path)
    assert cut.d_values == (40, 60) and cut.reps == (16, 8) and cut.dmft_seeds == (0, 1)
    with pytest.raises(ValueError, match="too little finished"):
        validation.completed_design("A", design, tmp_path)
    (tmp_path / "completed.json").write_text(json.dumps({"dmft": {"B": 1}, "sims": {"B": {"40": 16, "60": 4}}}))
    assert validation.completed_design("B", design, tmp_path).d_values == (40,)   # one size: no extrapolation


def test_ledger_keeps_the_longest_prefix(tmp_path):
    validation._record(tmp_path, "dmft", "B", 3)
    validation._record(tmp_path, "dmft", "B", 2)
    validation._record(tmp_path, "sims", "B", 8, d=40)
    validation._record(tmp_path, "sims", "B", 16, d=40)
    assert validation.completed(tmp_path) == {"dmft": {"B": 3}, "sims": {"B": {"40": 16}}}


def test_comparison_round_trip(tmp_path):
    comp = _comparison(1.0, 0.01, 0.97, 0.02)
    comp.save(tmp_path / "c.npz")
    back = validation.Comparison.load(tmp_path / "c.npz")
    assert back.dmft_seeds == 3 and back.dmft_d_eff == 40
    np.testing.assert_array_equal(back.reps, comp.reps)
    np.testing.assert_array_equal(back.sim_mse, comp.sim_mse)
    assert [p.name for p in tmp_path.iterdir()] == ["c.npz"]   # no temporary file left behind
