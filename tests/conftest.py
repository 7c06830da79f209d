"""Shared pytest fixtures.

``browser``: one headless Debian Chromium (``/usr/bin/chromium``, driven by playwright; never ``playwright install``)
per test module, with flags that keep it off the network (no downloads, no background services). Used by the browser
tests of the built book and of the Voila apps (``pytest -m browser``).

``time_first_figures``: how long a page of the built book, opened at its first figure, takes to draw the figures on
the screen (shared by tests/test_browser_book.py and benchmarks/bench_site.py).
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  # no host name resolves except the local server's address: nothing can leave the machine
                  "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"]


@pytest.fixture(scope="module")
def playwright_driver():
    """playwright's driver, one per test module (fails clearly if Debian's Chromium is not installed)."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} not found: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="module")
def browser(playwright_driver, tmp_path_factory):
    """A persistent playwright browser context of Debian's Chromium."""
    context = playwright_driver.chromium.launch_persistent_context(
        str(tmp_path_factory.mktemp("chromium-profile")), executable_path=str(CHROMIUM),
        args=CHROMIUM_FLAGS, headless=True)
    yield context
    context.close()


@pytest.fixture(scope="module")
def fresh_browser(playwright_driver):
    """Debian's Chromium without a persistent profile: each ``new_context()`` starts with nothing cached."""
    browser = playwright_driver.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS, headless=True)
    yield browser
    browser.close()


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


FIRST_FIGURE = re.compile(r'<div id="([^"]+)" class="plotly-graph-div"')
#: every figure that is on the screen is drawn (an svg and its data), and the page was scrolled to figure `id`
ON_SCREEN_DRAWN = """id => {
    const first = document.getElementById(id);
    if (!first) { return false; }
    const r0 = first.getBoundingClientRect();
    if (!(r0.bottom > 0 && r0.top < innerHeight)) { return false; }
    const shown = Array.from(document.querySelectorAll('.plotly-graph-div')).filter(d => {
        const r = d.getBoundingClientRect(); return r.height > 0 && r.bottom > 0 && r.top < innerHeight; });
    return shown.every(d => d.querySelector('svg.main-svg') && (d.data || []).length > 0); }"""
#: figures whose top is more than `screens` screens below the bottom of the viewport: [drawn?, ...]
FAR_BELOW = """screens => Array.from(document.querySelectorAll('.plotly-graph-div')).filter(d =>
    d.getBoundingClientRect().top > innerHeight * (1 + screens)).map(d => !!d.querySelector('svg.main-svg'))"""


def first_figure_id(directory: Path, page: str) -> str:
    match = FIRST_FIGURE.search((directory / f"{page}.html").read_text(encoding="utf-8"))
    if match is None:
        raise ValueError(f"page {page!r} of {directory} has no plotly figure")
    return match.group(1)


def time_first_figures(browser, base: str, page: str, figure_id: str, width: int = 1400, height: int = 900,
                       far_screens: int = 3) -> dict:
    """Open ``page`` at its first figure in a fresh context: ms until the figures on screen are drawn (``ms``, and
    the page's main-thread CPU time to then, ``cpu_ms``), and which figures more than ``far_screens`` screens below
    were drawn by then (``far_drawn``), with the console errors; the caller closes ``context``."""
    context = browser.new_context(viewport={"width": width, "height": height})
    try:
        tab = context.new_page()
        cdp = context.new_cdp_session(tab)  # main-thread CPU time: the page's own work, whatever the machine's load
        cdp.send("Performance.enable")
        errors: list[str] = []
        tab.on("pageerror", lambda error: errors.append(str(error)))
        tab.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        tab.goto(f"{base}/{page}.html#{figure_id}", wait_until="commit", timeout=60_000)
        tab.wait_for_function(ON_SCREEN_DRAWN, arg=figure_id, polling="raf", timeout=60_000)
        ms = tab.evaluate("() => performance.now()")
        metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
        far = tab.evaluate(FAR_BELOW, far_screens)
        return {"ms": ms, "cpu_ms": 1000 * metrics.get("ThreadTime", float("nan")), "far_drawn": far,
                "errors": errors, "tab": tab, "context": context}
    except BaseException:
        context.close()
        raise
