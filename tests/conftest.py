"""Shared pytest fixtures.

``browser``: one headless Debian Chromium (``/usr/bin/chromium``, driven by playwright; never ``playwright install``)
per test module, with flags that keep it off the network (no downloads, no background services). Used by the browser
tests of the built book and of the Voila apps (``pytest -m browser``).
"""
from __future__ import annotations

from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  # no host name resolves except the local server's address: nothing can leave the machine
                  "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"]


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


def open_offline_page(browser, allowed_prefixes: tuple[str, ...], *, failed: list | None = None,
                      viewport: dict | None = None, route: bool = True):
    """A new page of ``browser`` that aborts every request not starting with one of ``allowed_prefixes``.

    Returns ``(page, errors, blocked)``: ``errors`` collects page errors and console errors (as strings), ``blocked``
    the URLs of the aborted requests; both fill up while the test drives the page. If ``failed`` is given, it
    collects the allowed requests that failed or were answered with an HTTP status >= 400 (``"404 URL"``).
    ``viewport``: e.g. ``{"width": 400, "height": 900}``. With ``route=False`` requests are only watched, not
    intercepted (playwright's interception turns the HTTP cache off, so a page would re-download plotly.js as no
    reader's browser does); non-local requests are then recorded in ``blocked`` and fail because no host name
    resolves (``--host-resolver-rules`` in :data:`CHROMIUM_FLAGS`).
    """
    page = browser.new_page()
    if viewport:
        page.set_viewport_size(viewport)
    if failed is not None:
        page.on("requestfailed", lambda request: failed.append(f"failed {request.url}")
                if request.url.startswith(allowed_prefixes) else None)
        page.on("response", lambda response: failed.append(f"{response.status} {response.url}")
                if response.status >= 400 else None)
    errors: list[str] = []
    blocked: list[str] = []

    use_route = route

    def route(route_request):
        url = route_request.request.url
        if url.startswith(allowed_prefixes):
            route_request.continue_()
        else:
            blocked.append(url)
            route_request.abort()

    if use_route:
        page.route("**/*", route)
    else:
        page.on("request", lambda request: None if request.url.startswith(allowed_prefixes)
                else blocked.append(request.url))
    page.on("pageerror", lambda error: errors.append(f"pageerror: {error}"))
    page.on("console", lambda message: errors.append(f"console: {message.text}") if message.type == "error"
            else None)
    return page, errors, blocked
