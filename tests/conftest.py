"""Shared pytest fixtures.

``browser``: one headless Debian Chromium (``/usr/bin/chromium``, driven by playwright; never ``playwright install``)
per test module, with the flags that keep it off the network (see ../shared/TOOLING.md). Used by the browser tests of
the built book and of the Voila apps (``pytest -m browser``).
"""
from __future__ import annotations

from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """A persistent playwright browser context of Debian's Chromium (fails clearly if it is not installed)."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} not found: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=str(CHROMIUM),
            args=CHROMIUM_FLAGS, headless=True)
        yield context
        context.close()
