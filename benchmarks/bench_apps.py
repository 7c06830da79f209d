"""Benchmark of the Voila apps (results: benchmarks/README.md, section "Apps").

Measures, without a browser, the compute time of one update callback of each app (``qnn.apps``; synchronous,
``delay=0``) for a sequence of slider moves, and the training time behind the spectrum app's histogram. With
``--browser`` it serves the apps as a reader does (``python -m qnn voila`` on 127.0.0.1, the list page mode) and
measures in headless Chromium, in the page (``tests/app_timing.py``): the time from navigation to each app's first
figure, and from an ArrowRight key press on the app's first slider to the changed figure (5 timed presses after
one untimed press); also the CPU time of the page's main thread until the first figure (Chrome's ``TaskDuration``,
read just after it: the page's own work, which depends far less on the machine's load than the wall time). A
launcher that reports pre-heated kernels is waited for before navigating.

``--compare DIR`` runs the same measurements on another checkout (e.g. an export of the commit before a change:
``git archive COMMIT | tar -x -C DIR``) first, in the same run, so that the two columns share the machine's load;
the load average is printed with every measurement.

Usage::

    python benchmarks/bench_apps.py [--browser] [--repeat R] [--compare DIR]
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _moves(app, moves):
    """Apply ``(slider, value)`` moves one by one; return the update times (s)."""
    times = []
    for slider, value in moves:
        slider.value = value
        times.append(app.last_update_seconds)
    return times


def _summary(name: str, times: list[float]) -> str:
    return (f"| {name} | {len(times)} | {statistics.median(times):.3f} | {max(times):.3f} |")


def callback_times(repeat: int, training: bool = True) -> list[str]:
    from qnn import Setting, apps

    rows = []
    dd = apps.DoubleDescentApp(delay=0)
    same_kstar, new_kstar = [], []
    for r in range(repeat):
        same_kstar += _moves(dd, [(dd.kappa, 0.45 + 0.01 * r), (dd.noise, 0.6 + 0.05 * r), (dd.lam, 0.02 + 0.001 * r),
                                  (dd.kappa, 1.2), (dd.noise, 0.0), (dd.lam, 0.005)])
        new_kstar += _moves(dd, [(dd.kappa_star, 0.31 + 0.01 * r)])
    rows.append(_summary("double_descent: κ, Δ, λ moves (spectral laws cached)", same_kstar))
    rows.append(_summary("double_descent: κ* moves (new spectral laws)", new_kstar))
    pd = apps.PhaseDiagramApp(delay=0)
    inspector, kstar = [], []
    for r in range(repeat):
        inspector += _moves(pd, [(pd.kappa, 0.6 + 0.01 * r), (pd.alpha, 0.35 + 0.005 * r), (pd.lam, 0.05)])
        kstar += _moves(pd, [(pd.kappa_star, 0.35 + 0.01 * r)])
    rows.append(_summary("phase_diagram: inspector moves (κ, α, λ)", inspector))
    rows.append(_summary("phase_diagram: κ* moves (threshold curves + point)", kstar))
    sp = apps.SpectrumApp(delay=0, auto_train=False)
    theory = []
    for r in range(repeat):
        theory += _moves(sp, [(sp.alpha, 0.45 + 0.01 * r), (sp.lam, 0.1), (sp.kappa, 0.8 + 0.01 * r)])
    rows.append(_summary("spectrum: theory update (training off)", theory))
    for d in (20, 30, 40) if training else ():
        start = time.perf_counter()
        apps.trained_spectrum(Setting(alpha=0.4, kappa=0.7, kappa_star=0.5, lam=0.05), d, reps=2)
        rows.append(f"| spectrum: training 2 networks, d = {d} (L-BFGS, GOE) | 1 | "
                    f"{time.perf_counter() - start:.2f} | – |")
    return rows


def _load() -> str:
    return "/".join(f"{v:.1f}" for v in os.getloadavg())


def _serve(root: Path, port: int, log) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(root))
    return subprocess.Popen([sys.executable, "-u", "-m", "qnn", "voila", f"--port={port}"], cwd=root, env=env,
                            stdout=subprocess.PIPE, stderr=log, text=True)


def _wait_warm(launcher: subprocess.Popen, base: str, timeout: float = 900.0) -> str:
    """Wait until the server answers and, if the launcher announces pre-heated kernels, until every app's is ready."""
    import threading
    import urllib.request

    from qnn.apps.launcher import APPS

    lines: list[str] = []
    threading.Thread(target=lambda: [lines.append(line) for line in launcher.stdout], daemon=True).start()
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        try:
            with urllib.request.urlopen(base + "/", timeout=5):
                break
        except OSError:
            time.sleep(0.5)
    time.sleep(3.0)
    if any("warming" in line for line in lines):
        while sum("ready (pre-heated" in line for line in lines) < len(APPS) and time.monotonic() - start < timeout:
            time.sleep(0.5)
        return f"pre-heated after {time.monotonic() - start:.0f} s"
    return "no pre-heating"


def _stop(launcher: subprocess.Popen) -> int:
    """SIGTERM to the launcher, then kill whatever of its tree is left (the old launcher left its kernels)."""
    import psutil

    tree = [psutil.Process(launcher.pid), *psutil.Process(launcher.pid).children(recursive=True)]
    launcher.send_signal(signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        launcher.wait(timeout=60)
    left = [p for p in tree if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    for proc in left:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
    launcher.wait()
    return len(left)


def browser_times(root: Path, port: int, presses: int = 5) -> dict:
    """First figure and slider steps of every app served from checkout ``root`` (see the module docstring)."""
    sys.path.insert(0, str(ROOT / "tests"))
    from app_timing import INIT_SCRIPT, first_figure_seconds, slider_step_seconds, summary
    from conftest import CHROMIUM, CHROMIUM_FLAGS
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    from qnn.apps.launcher import APPS

    base = f"http://127.0.0.1:{port}"
    results: dict = {}
    with tempfile.TemporaryFile("w+") as log:
        launcher = _serve(root, port, log)
        try:
            results["server"] = _wait_warm(launcher, base)
            with sync_playwright() as playwright, tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as profile:
                browser = playwright.chromium.launch_persistent_context(
                    profile, executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS, headless=True)
                for app in APPS:
                    page = browser.new_page()
                    page.set_viewport_size({"width": 1400, "height": 900})
                    errors: list[str] = []
                    page.on("pageerror", lambda error, errors=errors: errors.append(str(error)))
                    page.add_init_script(INIT_SCRIPT)
                    cdp = page.context.new_cdp_session(page)
                    cdp.send("Performance.enable", {"timeDomain": "threadTicks"})
                    load_before = _load()
                    page.goto(f"{base}/voila/render/{app}.ipynb", wait_until="commit")
                    first = first_figure_seconds(page, 300_000)
                    metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
                    handle = page.locator(".widget-slider .noUi-handle").first
                    handle.wait_for(state="visible", timeout=60_000)
                    page.wait_for_timeout(500)
                    try:
                        slider_step_seconds(page, handle, timeout_ms=45_000)           # untimed
                        steps = []
                        for _ in range(presses):
                            page.wait_for_timeout(400)
                            steps.append(slider_step_seconds(page, handle, timeout_ms=120_000))
                        slider = summary(steps)
                    except PlaywrightTimeout:
                        slider = "no figure change within 45 s of a key press"
                    results[app] = {"first_figure_seconds": round(first, 2), "slider": slider,
                                    "page_main_thread_cpu_to_first_figure_seconds": round(metrics["TaskDuration"], 2),
                                    "load": f"{load_before} -> {_load()}"}
                    results[app]["page_errors"] = errors[:3]
                    print(f"  {root.name}: {app}: {results[app]}", flush=True)
                    page.close()
                browser.close()
        finally:
            results["left_after_sigterm"] = _stop(launcher)
    return results


def _callback_rows(root: Path, repeat: int) -> list[str]:
    """:func:`callback_times` run with the ``qnn`` of checkout ``root`` (a subprocess)."""
    code = f"import sys; sys.path.insert(0, {str(ROOT / 'benchmarks')!r}); import bench_apps; " \
           f"print('\\n'.join(bench_apps.callback_times({repeat}, training=False)))"
    out = subprocess.run([sys.executable, "-c", code], cwd=root, env=dict(os.environ, PYTHONPATH=str(root)),
                         capture_output=True, text=True, check=True).stdout
    return [line for line in out.splitlines() if line.startswith("|")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--browser", action="store_true", help="also measure in headless Chromium")
    parser.add_argument("--repeat", type=int, default=3, help="rounds of slider moves per app")
    parser.add_argument("--compare", type=Path, help="another checkout, measured first in the same run")
    parser.add_argument("--browser-only", action="store_true", help="skip the update callbacks (with --browser)")
    parser.add_argument("--no-training", action="store_true", help="skip the spectrum app's training times")
    args = parser.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"load average {_load()} at start; python {platform.python_version()}")
    roots = ([args.compare.resolve()] if args.compare else []) + [ROOT]
    for root in roots if not args.browser_only else ():
        print(f"\n{root} (load {_load()})\n| update | n | median (s) | max (s) |\n|---|---|---|---|")
        for row in (_callback_rows(root, args.repeat) if root != ROOT
                    else callback_times(args.repeat, training=not args.no_training)):
            print(row, flush=True)
    if args.browser:
        for index, root in enumerate(roots):
            print(f"\nbrowser, {root} (load {_load()}):", flush=True)
            print(json.dumps(browser_times(root, 8210 + index), indent=1), flush=True)


if __name__ == "__main__":
    main()
