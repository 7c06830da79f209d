"""Browser tests of the Voila apps (marker ``browser``; needs /usr/bin/chromium, playwright and voila).

For each app: convert its notebook (:func:`qnn.apps.launcher.build_app_notebooks`), start Voila on a free port of
127.0.0.1 (:func:`qnn.apps.launcher.voila_command`, the command ``python -m qnn voila`` runs), open it in headless
Chromium with every non-local request blocked, wait for the sliders and the plotly figure, then focus the first
slider's handle and press ArrowRight a few times. Each press must change the figure's data (the plotly graph
div's ``data``), the time from key press to changed data is the measured update latency; no JavaScript error may
occur and no request may leave the machine (the book's Voila template drops the Font Awesome stylesheets Voila's
"lab" template fetches from a CDN; the icons still render, from the bundled widget styles).

Run:  ``python -m pytest -m browser tests/test_browser_apps.py``. With ``QNN_APPS_LATENCY_FILE=path.json`` the
measured latencies are written there (``benchmarks/bench_apps.py --browser`` does this).
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import open_offline_page

from qnn.apps.launcher import APPS, build_app_notebooks, free_port, voila_command

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
N_PRESSES = 3
START_TIMEOUT_S = 60
READY_TIMEOUT_MS = 150_000     # kernel start + first computation on 2 busy cores


def _figure_data_js() -> str:
    return """() => Array.from(document.querySelectorAll('.js-plotly-plot')).map(div =>
        JSON.stringify((div.data || []).map(t => [t.x ? Array.from(t.x).slice(0, 400) : null,
                                                  t.y ? Array.from(t.y).slice(0, 400) : null])))"""


def _wait_for_server(url: str, process: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"voila exited with status {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"voila did not answer at {url} within {timeout} s")


def _selection_js() -> str:
    return """() => { const div = document.querySelector('.js-plotly-plot');
        const t = (div.data || []).find(t => t.name === 'inspected point');
        return t ? [Array.from(t.x)[0], Array.from(t.y)[0]] : null; }"""


def _check_click_selects_point(page) -> None:
    before = page.evaluate(_selection_js())
    assert before is not None, "phase diagram: no 'inspected point' trace"
    drag = page.locator(".js-plotly-plot .nsewdrag").first          # plot area of the first panel
    box = drag.bounding_box()
    page.mouse.move(box["x"] + 0.8 * box["width"], box["y"] + 0.25 * box["height"])
    page.wait_for_timeout(300)
    page.mouse.click(box["x"] + 0.8 * box["width"], box["y"] + 0.25 * box["height"])
    page.wait_for_function(f"(before) => JSON.stringify(({_selection_js()})()) !== JSON.stringify(before)",
                           arg=before, timeout=60_000, polling=50)
    kappa, alpha = page.evaluate(_selection_js())
    # 80% across kappa in [0, 1.1] and 25% down from the top of alpha in [0, 0.6]
    assert abs(kappa - 0.88) < 0.05 and abs(alpha - 0.45) < 0.03, (kappa, alpha)


@pytest.fixture(scope="module")
def notebooks():
    return dict(zip(APPS, build_app_notebooks()))


@pytest.fixture(scope="module")
def latencies():
    results: dict[str, dict] = {}
    yield results
    path = os.environ.get("QNN_APPS_LATENCY_FILE")
    if path and results:
        Path(path).write_text(json.dumps(results, indent=2))


@pytest.mark.parametrize("app", list(APPS))
def test_app_loads_and_slider_changes_figure(app, notebooks, browser, latencies, tmp_path):
    port = free_port()
    log = (tmp_path / "voila.log").open("w")
    process = subprocess.Popen(voila_command(notebooks[app], port), cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for_server(base + "/", process, START_TIMEOUT_S)
        page, errors, blocked = open_offline_page(browser, (base, "data:", "blob:"))
        start = time.monotonic()
        page.goto(base + "/", wait_until="load", timeout=READY_TIMEOUT_MS)
        handle = page.locator(".widget-slider .noUi-handle").first
        handle.wait_for(state="visible", timeout=READY_TIMEOUT_MS)
        page.wait_for_function("() => Array.from(document.querySelectorAll('.js-plotly-plot'))"
                               ".some(div => (div.data || []).some(t => t.x && t.x.length > 0))",
                               timeout=READY_TIMEOUT_MS)
        page.wait_for_function("() => (document.querySelector('.qnn-app-busy') || {}).textContent"
                               "?.includes('updated in')", timeout=READY_TIMEOUT_MS)
        load_seconds = time.monotonic() - start
        assert page.locator(".qnn-app-error").count() == 0, page.locator(".qnn-app-status").all_inner_texts()
        measured = []
        for _ in range(N_PRESSES):
            before = page.evaluate(_figure_data_js())
            handle.focus()
            pressed = time.monotonic()
            page.keyboard.press("ArrowRight")
            page.wait_for_function(f"(before) => ({_figure_data_js()})().join('|') !== before.join('|')",
                                   arg=before, timeout=60_000, polling=20)
            measured.append(time.monotonic() - pressed)
            page.wait_for_function("() => (document.querySelector('.qnn-app-busy') || {}).textContent"
                                   "?.includes('updated in')", timeout=60_000)
        if app == "phase_diagram":      # clicking the diagram moves the inspected point there
            _check_click_selects_point(page)
        status = page.locator(".qnn-app-status").all_inner_texts()
        assert page.locator(".qnn-app-error").count() == 0, f"{app}: error message after slider move: {status}"
        assert blocked == [], f"{app}: requests leaving the machine: {blocked[:5]}"
        assert errors == [], f"{app}: JavaScript errors {errors}"
        icons = page.evaluate("() => Array.from(document.querySelectorAll('.fa')).map("
                              "i => getComputedStyle(i, '::before').fontFamily)")
        assert all("Awesome" in family for family in icons), f"{app}: icons without their font: {icons}"
        latencies[app] = {"load_seconds": round(load_seconds, 2), "slider_to_figure_seconds":
                          [round(v, 3) for v in measured], "median_seconds": round(statistics.median(measured), 3)}
        print(f"{app}: page ready in {load_seconds:.1f} s, slider-to-figure latency {latencies[app]}")
        page.close()
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
