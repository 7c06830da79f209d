"""Tests of qnn.conventions: Setting validation and finite-size dimensions (issue 14, items 9 and 11)."""
import numpy as np
import pytest

from qnn.conventions import MAX_SAMPLES, Setting, check_int, check_positive


@pytest.mark.parametrize("name", ["alpha", "kappa", "kappa_star", "noise", "lam", "gamma"])
@pytest.mark.parametrize("value", ["0.5", b"1", True, False, np.bool_(True), 1 + 0j, None, [0.5], np.array([0.5])])
def test_setting_rejects_non_numbers_naming_the_parameter(name, value):
    """Issue 14 item 11: Setting(alpha="0.5") and Setting(alpha=True) used to be accepted (float("0.5"), True == 1)."""
    values = dict(alpha=0.5, kappa=0.5, kappa_star=0.3)
    values[name] = value
    with pytest.raises(ValueError, match=name):
        Setting(**values)


@pytest.mark.parametrize("value", [0.5, 1, np.float64(0.5), np.float32(0.5), np.int64(2), np.array(0.5)])
def test_setting_accepts_real_numbers_of_any_kind(value):
    setting = Setting(alpha=value, kappa=0.5, kappa_star=0.3)
    assert type(setting.alpha) is float and setting.alpha == float(value)


def test_check_int_accepts_numpy_integers_and_rejects_bools():
    assert check_int("reps", np.int64(3)) == 3 and type(check_int("reps", np.int32(3))) is int
    assert check_int("reps", 4.0) == 4
    for bad in (True, np.bool_(True), "3", 3.5):
        with pytest.raises(ValueError, match="reps"):
            check_int("reps", bad)


def test_check_positive_message_gives_the_range():
    with pytest.raises(ValueError, match=r"t_max must be > 0 \(allowed range \(0, inf\)\)"):
        check_positive("t_max", -1.0)
    with pytest.raises(ValueError, match="t_max must be finite"):
        check_positive("t_max", float("inf"))


@pytest.mark.parametrize("values, name", [
    (dict(alpha=1e308, kappa=0.5, kappa_star=0.3), "alpha"),
    (dict(alpha=1e15, kappa=0.5, kappa_star=0.3), "alpha"),
    (dict(alpha=0.5, kappa=1e308, kappa_star=0.3), "kappa"),
    (dict(alpha=0.5, kappa=0.5, kappa_star=1e308), "kappa_star"),
])
def test_dims_of_huge_ratios_raise_value_error(values, name):
    """Issue 14 item 9: Setting(1e308, .5, .3).dims(10) raised OverflowError (int(inf))."""
    setting = Setting(**values)
    with pytest.raises(ValueError, match=f"{name} \\* d"):
        setting.dims(10)


def test_dims_just_below_the_cap_are_exact():
    d = 10
    setting = Setting(alpha=(MAX_SAMPLES - 2**12) / d**2, kappa=0.5, kappa_star=0.3)
    n, m, m_star = setting.dims(d)
    assert n == int(setting.alpha * d * d) and (m, m_star) == (5, 3)
    assert Setting(alpha=1e-9, kappa=1e-9, kappa_star=1e-9).dims(2) == (1, 1, 1)
