"""Benchmark of the Voila apps' live updates (results: benchmarks/README.md, section "Apps").

Measures, without a browser, the compute time of one update callback of each app (``qnn.apps``; synchronous,
``delay=0``) for a sequence of slider moves, and the training time behind the spectrum app's histogram; with
``--browser`` also runs the browser test (``tests/test_browser_apps.py``) and reports the measured
slider-to-figure latency (key press in Chromium -> changed plotly data, including the 0.15-0.2 s debounce, the
kernel round trip and the rendering).

Usage::

    python benchmarks/bench_apps.py [--browser] [--repeat R]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
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


def callback_times(repeat: int) -> list[str]:
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
    for d in (20, 30, 40):
        start = time.perf_counter()
        apps.trained_spectrum(Setting(alpha=0.4, kappa=0.7, kappa_star=0.5, lam=0.05), d, reps=2)
        rows.append(f"| spectrum: training 2 networks, d = {d} (L-BFGS, GOE) | 1 | "
                    f"{time.perf_counter() - start:.2f} | – |")
    return rows


def browser_latencies() -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "latency.json"
        env = dict(os.environ, QNN_APPS_LATENCY_FILE=str(path))
        subprocess.run([sys.executable, "-m", "pytest", "-m", "browser", "-q", "-p", "no:cacheprovider",
                        str(ROOT / "tests" / "test_browser_apps.py")], cwd=ROOT, env=env, check=False)
        return json.loads(path.read_text()) if path.exists() else {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--browser", action="store_true", help="also run the browser test and report latencies")
    parser.add_argument("--repeat", type=int, default=3, help="rounds of slider moves per app")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"load average {load:.1f} at start; python {platform.python_version()}")
    print("| update | n | median (s) | max (s) |\n|---|---|---|---|")
    for row in callback_times(args.repeat):
        print(row, flush=True)
    if args.browser:
        results = browser_latencies()
        print("\n| app | page ready (s) | slider-to-figure latencies (s) | median (s) |\n|---|---|---|---|")
        for app, result in results.items():
            print(f"| {app} | {result['load_seconds']} | {result['slider_to_figure_seconds']} | "
                  f"{result['median_seconds']} |")


if __name__ == "__main__":
    main()
