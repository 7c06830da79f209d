"""Static checks of the book's sources (fast; no build): table of contents, page headers, cached data in use."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from qnn import figdata
from book_pages import toc_pages

ROOT = Path(__file__).resolve().parents[1]


def toc_files() -> list[Path]:
    return [ROOT / f"{page}.md" for page in toc_pages()]


def test_config_has_the_settings_the_build_relies_on():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert config["only_build_toc_files"] is True
    assert config["execute"]["execute_notebooks"] == "cache" and config["execute"]["allow_errors"] is False
    assert config["sphinx"]["config"]["nb_execution_raise_on_error"] is True
    for pattern in ("tests/**", "qnn/**", "benchmarks/**", ".venv/**", "README.md", "_build/**"):
        assert pattern in config["exclude_patterns"]


@pytest.mark.parametrize("page", toc_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_toc_page_is_an_executable_myst_notebook(page):
    assert page.exists(), f"{page} is listed in _toc.yml but does not exist"
    text = page.read_text()
    header = yaml.safe_load(text.split("---")[1]) if text.startswith("---") else None
    assert header and header["jupytext"]["text_representation"]["format_name"] == "myst", \
        f"{page}: missing jupytext MyST header"
    assert header["kernelspec"]["name"] == "python3"


def test_pages_use_only_registered_and_fresh_caches():
    """Every ``figdata.load("NAME")`` in a toc page names a registered figure whose cache loads (not stale)."""
    used = sorted({name for page in toc_files() if page.exists()
                   for name in re.findall(r"figdata\.load\(\s*[\"']([\w-]+)[\"']", page.read_text())})
    assert used, "no page reads cached data (the intro should)"
    problems = []
    for name in used:
        try:
            figdata.load(name)
        except (figdata.CacheError, ValueError) as error:
            problems.append(str(error))
    assert problems == []
