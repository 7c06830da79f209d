"""``ruff check .`` is clean (configuration: ``[tool.ruff]`` in pyproject.toml). Part of the default suite, so the
README's test command and ``.ci/run`` both lint the code."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_configuration():
    tomllib = pytest.importorskip("tomllib")        # Python >= 3.11
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["ruff"]
    assert config["line-length"] <= 120
    assert {"E", "F", "W", "B", "UP"} <= set(config["lint"]["select"])


def test_ruff_check_is_clean():
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "."], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"ruff check . failed:\n{result.stdout}{result.stderr}"
