"""Tests of the Voila apps without a browser: launcher, computations, widget callbacks, bad input."""
from __future__ import annotations

import contextlib
import importlib
import inspect
import json
import math
import pkgutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from qnn import Setting, apps

from qnn.longtime import thresholds
from qnn.optimal.bayes import bayes_optimal
from qnn.__main__ import main
from qnn.longtime.fixed_point import fixed_point
from qnn.apps.launcher import (APPS, APPS_DIR, REFILL_DELAY, ROOT, app_entries, app_source, build_app_notebooks, serve,
                               voila_command)


# ---------------------------------------------------------------------------------------------------------------
# launcher
# ---------------------------------------------------------------------------------------------------------------
def test_app_notebooks_convert_and_are_thin(tmp_path):
    paths = build_app_notebooks(build_dir=tmp_path)
    assert [p.stem for p in paths] == list(APPS)
    for name, path in zip(APPS, paths):
        notebook = json.loads(path.read_text())
        code = ["".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "code"]
        assert len(code) == 1 and "from qnn.apps import" in code[0], name   # logic lives in qnn.apps
        assert notebook["metadata"]["kernelspec"]["name"] == "python3"
        assert "jupytext" not in notebook["metadata"]
    # not rewritten when up to date, rewritten when forced
    stamp = paths[0].stat().st_mtime_ns
    time.sleep(0.01)
    assert build_app_notebooks(["double_descent"], build_dir=tmp_path)[0].stat().st_mtime_ns == stamp
    assert build_app_notebooks(["double_descent"], build_dir=tmp_path, force=True)[0].stat().st_mtime_ns != stamp


def test_every_app_module_is_listed_by_the_launcher():
    """Each module of qnn.apps that defines an App subclass is an app: listed by the launcher under its NAME with
    its DESCRIPTION, with a notebook apps/<NAME>.md whose one cell imports that class; and nothing else is listed
    (found independently of qnn.apps.app_modules, which the launcher uses)."""
    found = {}
    for info in pkgutil.iter_modules(apps.__path__):
        module = importlib.import_module(f"qnn.apps.{info.name}")
        classes = [obj for obj in vars(module).values() if inspect.isclass(obj) and issubclass(obj, apps.App)
                   and obj is not apps.App and obj.__module__ == module.__name__]
        if classes:
            assert len(classes) == 1, (info.name, classes)
            assert isinstance(getattr(module, "NAME", None), str), f"qnn.apps.{info.name} declares no NAME"
            assert isinstance(getattr(module, "DESCRIPTION", None), str), f"qnn.apps.{info.name}: no DESCRIPTION"
            found[module.NAME] = (module.DESCRIPTION, classes[0].__name__)
    assert len(found) >= 3
    assert {name: description for name, (description, _) in found.items()} == APPS
    assert sorted(path.stem for path in APPS_DIR.glob("*.md")) == sorted(APPS)
    for name, (_, class_name) in found.items():
        assert f"from qnn.apps import {class_name}" in app_source(name).read_text(), name
        assert getattr(apps, class_name).__name__ == class_name       # public name kept at qnn.apps


def test_app_texts_link_the_books_pages_instead_of_naming_files():
    """Issue 23: the app texts link to the book's pages (served by the launcher under /book/, the built book's
    paths), never name source files such as book/theory/fixed_point.md; every link targets a page of the book."""
    import re

    toc = (ROOT / "_toc.yml").read_text()
    for name in APPS:
        text = app_source(name).read_text()
        assert "THEORY" + ".md" not in text, name  # spelled so that tests/test_book_theory.py finds no citation
        assert not re.findall(r"book/[a-z_/]+\.md", text), (name, "names a source file instead of linking a page")
        links = re.findall(r"\]\((/book/[^)]+)\)", text)
        assert len(links) >= 2, (name, links)
        for link in links:
            page = re.fullmatch(r"/book/(book/[a-z_/]+)\.html", link)
            assert page and (ROOT / f"{page.group(1)}.md").exists() and f"file: {page.group(1)}\n" in toc, link


def test_list_page_entries_name_each_app_with_its_book_page():
    entries = app_entries()
    assert [e.name for e in entries] == list(APPS)
    for entry in entries:
        assert entry.title and not entry.title.endswith(".ipynb") and entry.description == APPS[entry.name]
        assert (ROOT / "book" / f"{entry.book_page}.md").exists(), entry
        assert entry.book_title and "#" not in entry.book_title
    template = (APPS_DIR / "share" / "voila" / "templates" / "qnn" / "tree.html").read_text()
    assert "<script" not in template and "http" not in template.replace("http-equiv", "")  # no code, no CDN


def test_voila_command_uses_local_host_and_tooling_flags(tmp_path):
    command = voila_command(tmp_path / "x.ipynb", 8123)
    assert command[1:3] == ["-m", "qnn.apps.launcher"]                  # run_voila: the book's template on JUPYTER_PATH
    assert "--Voila.ip=127.0.0.1" in command and "--port=8123" in command and "--no-browser" in command
    assert "--VoilaConfiguration.extension_denylist=jupyterlab-jupytext" in command
    assert "--template=qnn" in command and "--classic_tree=True" in command        # the book's list page
    assert "--show_tracebacks=False" in command                  # issue 14 item 14: hidden by default
    assert "--preheat_kernel=True" in command and "--pool_size=1" in command        # issue 23: pre-heated kernels
    assert f"--VoilaKernelManager.fill_delay={REFILL_DELAY}" in command
    assert "--preheat_kernel=True" not in voila_command(tmp_path, 8123, preheat=False)
    assert "--show_tracebacks=True" in voila_command(tmp_path, 8123, show_tracebacks=True)
    assert "--no-browser" not in voila_command(tmp_path, 8123, open_browser=True)
    with pytest.raises(ValueError, match="refill_delay"):
        voila_command(tmp_path, 8123, refill_delay=-1)


def _alive(proc) -> bool:
    import psutil

    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.mark.parametrize("signum, app", [(signal.SIGTERM, None), (signal.SIGINT, "spectrum")],
                         ids=["SIGTERM-list", "SIGINT-one-app"])
def test_launcher_stops_voila_and_every_kernel_on_signal(signum, app):
    """Issue 23: SIGTERM (or Ctrl-C's SIGINT) to ``python -m qnn voila`` stops Voila and every kernel it started
    (the pre-heated kernels run in sessions of their own: a plain exit left them running). The signal comes while
    the kernels are still warming up; afterwards no process of the launcher's tree may be left."""
    import psutil

    from qnn.apps.launcher import free_port

    command = [sys.executable, "-m", "qnn", "voila", *([app] if app else []), f"--port={free_port()}"]
    launcher = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seen: dict[int, object] = {}
    expected = 1 if app else len(APPS)
    try:
        deadline = time.monotonic() + 300
        while True:
            with contextlib.suppress(psutil.NoSuchProcess):
                for proc in psutil.Process(launcher.pid).children(recursive=True):
                    seen.setdefault(proc.pid, proc)
            kernels = []
            for proc in seen.values():
                with contextlib.suppress(psutil.Error):
                    if _alive(proc) and "ipykernel" in " ".join(proc.cmdline()):
                        kernels.append(proc)
            if len(kernels) >= expected:
                break
            assert launcher.poll() is None, f"launcher exited early with {launcher.returncode}"
            assert time.monotonic() < deadline, f"{len(kernels)} of {expected} kernels started in 300 s"
            time.sleep(0.2)
        launcher.send_signal(signum)
        status = launcher.wait(timeout=90)
        left = [proc for proc in seen.values() if _alive(proc)]
        assert left == [], f"left running after {signal.Signals(signum).name}: {left}"
        assert status == 128 + signum
    finally:
        if launcher.poll() is None:
            launcher.kill()
        for proc in seen.values():
            if _alive(proc):
                proc.kill()


def test_cli_show_tracebacks_option(monkeypatch):
    seen = {}
    monkeypatch.setattr("qnn.apps.launcher.serve", lambda app, **kwargs: seen.update(app=app, **kwargs) or 0)
    assert main(["voila", "spectrum"]) == 0 and seen["show_tracebacks"] is False
    assert main(["voila", "spectrum", "--show-tracebacks"]) == 0 and seen["show_tracebacks"] is True


def test_voila_page_requests_nothing_from_a_cdn(tmp_path):
    """The book's Voila template (apps/share/voila/templates/qnn) drops the Font Awesome stylesheets that Voila's
    "lab" template loads from cdn.jsdelivr.net (issue 11: apps must work offline). A one-cell notebook served with
    voila_command must give a page without any external stylesheet or script (mermaid's lazy import, only run
    when a page holds a mermaid diagram, aside)."""
    import re
    import subprocess
    import urllib.request

    import nbformat

    from qnn.apps.launcher import ROOT, free_port

    notebook = tmp_path / "page.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 + 1")],
                                            metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                                     "language": "python"}}), notebook)
    port = free_port()
    process = subprocess.Popen(voila_command(notebook, port), cwd=ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=60) as response:
                    page = response.read().decode()
                break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline, "voila did not start"
                time.sleep(0.5)
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert "/voila/templates/qnn/static/" in page                  # the book's template was used
    external = re.findall(r"<(?:link|script)[^>]*(?:href|src)=[\"']?(?:https?:)?//[^>]*>", page)
    assert external == [] and "cdn.jsdelivr.net" not in page, external


@pytest.mark.parametrize("port", [0, 70000, -1, 1.5, True])
def test_voila_command_rejects_bad_port(port, tmp_path):
    with pytest.raises(ValueError, match="port"):
        voila_command(tmp_path, port)


def test_unknown_app_and_bad_port_are_value_errors():
    with pytest.raises(ValueError, match="app must be one of"):
        app_source("nope")
    with pytest.raises(ValueError, match="app must be one of"):
        serve("nope")
    with pytest.raises(ValueError, match="port"):
        serve("spectrum", port=-3)


def test_cli_lists_apps(capsys):
    assert main(["voila", "--list"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in APPS)
    with pytest.raises(SystemExit):
        main(["voila", "not_an_app"])


# ---------------------------------------------------------------------------------------------------------------
# computations
# ---------------------------------------------------------------------------------------------------------------
SETTINGS_FOR_SPEED_PATHS = [(0.4, 0.3, 0.5, 0.01), (0.4, 0.3, 0.5, 0.0), (0.6, 0.3, 0.0, 0.0), (1.2, 0.5, 1.0, 0.001),
                            (0.1, 0.3, 0.2, 0.05), (0.7, 0.5, 2.0, 0.3)]


@pytest.mark.parametrize("kappa, kappa_star, noise, lam", SETTINGS_FOR_SPEED_PATHS)
def test_kept_laws_give_exactly_the_books_solver(kappa, kappa_star, noise, lam):
    """Issue 23: the slider path (spectral laws kept across moves, qnn.apps.curves.cached_trace) returns the numbers
    of the book's solver (xi_branch with refine=False) bit for bit, also when the laws come from the cache."""
    from qnn.apps.curves import cached_trace, clear_caches
    from qnn.longtime.fixed_point import xi_branch

    xis = apps.double_descent.XI_GRID
    reference = xi_branch(Setting(alpha=1.0, kappa=kappa, kappa_star=kappa_star, noise=noise, lam=lam), xis,
                          refine=False)
    clear_caches()
    for _ in range(2):                                      # built, then kept
        pts = cached_trace(kappa, kappa_star, lam, noise, xis)
        for name in ("alpha", "mse", "loss", "ise", "rank", "xi", "q", "chi", "dof"):
            np.testing.assert_array_equal(pts[name], getattr(reference, name), err_msg=name)


@pytest.mark.parametrize("kappa", [0.35, 0.41, 0.6, 1.2, 0.2])
@pytest.mark.parametrize("noise", [0.05, 0.5, 2.0])
def test_noisy_threshold_of_the_slider_path_matches_the_books(kappa, noise):
    """The noisy interpolation threshold drawn by the app (batched laws, cubic + secant steps) equals
    qnn.longtime.thresholds.alpha_inter within the book's theory tolerance (rtol 1e-5, qnn/figures/common.py);
    NaN exactly where the book's function raises."""
    from qnn.apps.curves import noisy_alpha_inter

    try:
        reference = thresholds.alpha_inter(kappa, 0.3, noise)
    except ValueError:
        reference = math.nan
    value = noisy_alpha_inter(kappa, 0.3, noise)
    if math.isnan(reference):
        assert math.isnan(value)
    else:
        assert value == pytest.approx(reference, rel=1e-5, abs=1e-8)


def test_slider_moves_draw_the_same_numbers_as_a_cold_computation():
    """After a sequence of moves (kept laws, remembered parameter sets, in-place trace updates) the figure holds
    exactly what a cold double_descent_curves computes for the final parameters."""
    from qnn.apps.curves import clear_caches

    app = apps.DoubleDescentApp(delay=0)
    for slider, value in ((app.kappa, 0.5), (app.noise, 1.0), (app.kappa, 0.45), (app.lam, 0.002), (app.kappa, 0.5),
                          (app.kappa_star, 0.35), (app.kappa, 0.45)):
        slider.value = value
    clear_caches()
    cold = apps.double_descent_curves(0.45, 0.35, 1.0, float(app.lam.value))
    np.testing.assert_array_equal(np.array(app.figure.data[0].x, dtype=float), cold.alpha)
    np.testing.assert_array_equal(np.array(app.figure.data[0].y, dtype=float), np.where(cold.mse > 0, cold.mse, np.nan))
    np.testing.assert_array_equal(np.array(app.figure.data[2].y, dtype=float), cold.ise)
    shown = sorted(shape.x0 for shape in app.figure.layout.shapes if shape.xref == "x")
    expected = sorted(v for v in cold.thresholds.values() if math.isfinite(v) and 0.01 <= v <= 0.8)
    assert shown == pytest.approx(expected, rel=1e-12)


def test_double_descent_curve_points_are_fixed_points():
    curves = apps.double_descent_curves(0.4, 0.3, 0.5, 0.05)
    assert np.all(np.diff(curves.alpha) > 0)
    low, high = curves.alpha_range
    assert curves.alpha[0] <= low * 1.5 and curves.alpha[-1] >= high * 0.9   # the window is covered
    for i in (5, len(curves.alpha) // 2, len(curves.alpha) - 3):
        fp = fixed_point(Setting(alpha=float(curves.alpha[i]), kappa=0.4, kappa_star=0.3, noise=0.5, lam=0.05))
        assert fp.converged
        assert curves.mse[i] == pytest.approx(fp.mse, rel=1e-6)
        assert curves.loss[i] == pytest.approx(fp.loss, rel=1e-6, abs=1e-12)
        assert curves.ise[i] == pytest.approx(fp.ise, rel=1e-6)


def test_double_descent_peak_moves_to_noisy_interpolation_threshold():
    """lambda -> 0+: the MSE peak sits at alpha_inter(kappa, kappa*, Delta) (paper Fig. 6), and the peak moves
    with Delta as the noisy threshold does."""
    peaks = {}
    for noise in (0.5, 1.0):
        curves = apps.double_descent_curves(0.4, 0.3, noise, 0.0)
        window = curves.alpha > 0.15
        peaks[noise] = curves.alpha[window][np.argmax(curves.mse[window])]
        assert peaks[noise] == pytest.approx(thresholds.alpha_inter(0.4, 0.3, noise), abs=0.01)
        assert curves.thresholds["alpha_inter_noisy"] == pytest.approx(thresholds.alpha_inter(0.4, 0.3, noise))
    assert peaks[1.0] < peaks[0.5]


def test_noiseless_lambda_zero_reports_perfect_recovery():
    curves = apps.double_descent_curves(0.5, 0.3, 0.0, 0.0)
    assert curves.perfect_from == pytest.approx(thresholds.alpha_pr_plus(0.5, 0.3))
    assert any("α_PR⁺" in text for _, text in curves.notes)
    assert np.all(curves.mse[curves.alpha < curves.perfect_from * 0.98] > 0)


def test_thresholds_undefined_below_teacher_width_with_message():
    values = apps.threshold_values(0.2, 0.3)
    assert values["alpha_bo"] == pytest.approx(0.255)
    assert math.isnan(values["alpha_pr"]) and math.isnan(values["alpha_pr_plus"])
    curves = apps.double_descent_curves(0.2, 0.3, 0.0, 0.01)
    assert any(kind == "warning" and "narrower" in text for kind, text in curves.notes)
    assert "none (κ &lt; κ*)" in apps.threshold_legend_html(values)
    # both widths >= 1: the student can represent any teacher although kappa < kappa*
    wide = apps.threshold_values(1.1, 1.2)
    assert wide["alpha_pr"] == pytest.approx(0.5) and wide["alpha_pr_plus"] == pytest.approx(0.5)
    assert not apps.cannot_recover(1.1, 1.2) and apps.cannot_recover(0.2, 0.3)
    assert not any("narrower" in text for _, text in apps.double_descent_curves(1.1, 1.2, 0.0, 0.01).notes)


@pytest.mark.parametrize("kwargs, name", [
    (dict(kappa=-0.1, kappa_star=0.3, noise=0.0, lam=0.1), "kappa"),
    (dict(kappa=0.4, kappa_star=0.0, noise=0.0, lam=0.1), "kappa_star"),
    (dict(kappa=0.4, kappa_star=0.3, noise=-1.0, lam=0.1), "noise"),
    (dict(kappa=0.4, kappa_star=0.3, noise=0.0, lam=math.nan), "lam"),
])
def test_double_descent_bad_input(kwargs, name):
    with pytest.raises(ValueError, match=name):
        apps.double_descent_curves(**kwargs)


def test_double_descent_bad_window():
    with pytest.raises(ValueError, match="alpha_range"):
        apps.double_descent_curves(0.4, 0.3, 0.0, 0.1, alpha_range=(0.5, 0.1))


def test_threshold_curves_match_reference_values():
    curves = apps.threshold_curves(0.3)
    assert curves.alpha_bo == pytest.approx(0.255)
    assert curves.alpha_pr_plus[0] == pytest.approx(0.255, abs=1e-6)      # alpha_PR+(kappa*, kappa*) = alpha_BO
    assert np.interp(0.5, curves.kappa, curves.alpha_pr_plus) == pytest.approx(0.3270, abs=2e-3)
    assert curves.alpha_pr[-1] == pytest.approx(0.3775, abs=1e-3)          # plateau (book/theory/thresholds.md)
    assert np.all(curves.alpha_pr <= curves.counting + 1e-12)
    with pytest.raises(ValueError, match="kappa_max"):
        apps.threshold_curves(0.3, kappa_max=0.2)


def test_inspect_point_density_is_normalised_and_regime_is_right():
    point = apps.inspect_point(0.5, 0.3, 0.3, 0.01)
    fp = point.fixed_point
    assert point.atom == pytest.approx(1 - fp.rank)
    # the non-zero part integrates to ~1 (trapezoid on 300 points; square-root edges cost ~1e-2)
    assert np.trapezoid(point.density, point.s) == pytest.approx(1.0, abs=0.03)
    assert "does not recover" in point.regime               # 0.3 < alpha_PR+(0.5, 0.3) = 0.327
    assert "recovers S* (α ≥ α_PR⁺" in apps.inspect_point(0.5, 0.3, 0.34, 0.01).regime


# ---------------------------------------------------------------------------------------------------------------
# widgets (synchronous: delay = 0)
# ---------------------------------------------------------------------------------------------------------------
def test_double_descent_app_updates_figure_and_reports_messages():
    app = apps.DoubleDescentApp(delay=0)
    before = np.array(app.figure.data[0].y, dtype=float)
    app.kappa.value = 0.6
    after = np.array(app.figure.data[0].y, dtype=float)
    assert before.shape != after.shape or not np.allclose(before, after, equal_nan=True)
    assert app.n_updates == 2 and app.last_update_seconds > 0
    assert "updated in" in app.busy.value
    app.kappa.value = 0.1                              # below kappa*: a message, no exception
    assert any("narrower" in text for _, text in app.messages)
    assert "qnn-app-warning" in app.status.value
    app.lam_zero.value = True
    app.add_simulation_points()                        # lambda = 0: refused with a message, nothing trained
    assert "need λ &gt; 0" in app.status.value


def test_app_shows_error_message_instead_of_traceback(monkeypatch):
    app = apps.DoubleDescentApp(delay=0)
    shown = np.array(app.figure.data[0].y, dtype=float)

    def fail(*args, **kwargs):
        raise ValueError("kappa must be in (0, inf), got -1")

    monkeypatch.setattr(apps.double_descent, "double_descent_curves", fail)   # the app module's name
    app.noise.value = 1.0
    assert "qnn-app-error" in app.status.value and "kappa must be" in app.status.value
    np.testing.assert_array_equal(np.array(app.figure.data[0].y, dtype=float), shown)   # last valid figure kept


def test_phase_diagram_app_inspects_clicked_point():
    app = apps.PhaseDiagramApp(delay=0)
    app.kappa_star.value = 0.5
    assert np.array(app.figure.data[0].y)[0] == pytest.approx(thresholds.alpha_bo(0.5))

    class Points:
        xs, ys = [0.8], [0.45]

    app._on_click(None, Points(), None)
    assert app.kappa.value == pytest.approx(0.8) and app.alpha.value == pytest.approx(0.45)
    assert list(app.figure.data[6].x) == [pytest.approx(0.8)]
    assert app.inspection.setting.alpha == pytest.approx(0.45)
    assert "MSE =" in app.info.value


def test_phase_diagram_app_keeps_marker_spectrum_and_info_together_at_a_failed_point(monkeypatch):
    """Issue 14 item 13: at a point whose fixed point does not converge the message says the figure keeps the last
    valid parameters; the marker must then stay with the spectrum and the info (it used to move alone)."""
    app = apps.PhaseDiagramApp(delay=0)
    marker = (list(app.figure.data[6].x), list(app.figure.data[6].y))
    spectrum = np.array(app.figure.data[7].y, dtype=float)
    curves = np.array(app.figure.data[1].y, dtype=float)
    info = app.info.value

    def fail(kappa, kappa_star, alpha, lam, noise=0.0, **kwargs):
        raise ValueError(f"the fixed point did not converge at α = {alpha:.4g}, κ = {kappa:.4g}: test")

    monkeypatch.setattr(apps.phase_diagram, "inspect_point", fail)
    app.alpha.value = 0.5
    app.kappa_star.value = 0.4
    assert "qnn-app-error" in app.status.value and "last valid parameters" in app.status.value
    assert (list(app.figure.data[6].x), list(app.figure.data[6].y)) == marker
    np.testing.assert_array_equal(np.array(app.figure.data[7].y, dtype=float), spectrum)
    np.testing.assert_array_equal(np.array(app.figure.data[1].y, dtype=float), curves)
    assert app.info.value == info
    monkeypatch.undo()
    app.kappa.value = 0.6                           # a valid point again: everything follows the sliders
    assert list(app.figure.data[6].x) == [pytest.approx(0.6)] and list(app.figure.data[6].y) == [pytest.approx(0.5)]
    assert app.inspection.setting.kappa_star == pytest.approx(0.4) and "κ* = 0.4" in app.info.value


def test_spectrum_app_theory_without_training():
    app = apps.SpectrumApp(delay=0, auto_train=False)
    y0 = np.array(app.figure.data[1].y, dtype=float)
    app.lam.value = 0.2
    assert not np.allclose(y0, np.array(app.figure.data[1].y, dtype=float))
    assert app.trained is None and any("train now" in text for _, text in app.messages)


def test_debouncer_runs_an_isolated_trigger_at_once_and_coalesces_a_burst():
    """Leading + trailing edge (issue 23: a slider step is answered without waiting for a quiet time): an isolated
    trigger runs at once; triggers arriving while it runs coalesce into ONE more run, which starts after the
    running call ended and ``delay`` after the last trigger. The quiet time (1 s) is long against the burst
    (microseconds) so that a loaded machine cannot split the burst."""
    delay = 1.0
    calls, ends = [], []

    def work():
        calls.append(time.perf_counter())
        time.sleep(0.3)
        ends.append(time.perf_counter())

    debounced = apps.Debouncer(delay, work)
    first = time.perf_counter()
    debounced()
    while not calls:                                 # the leading call starts without waiting for the quiet time
        assert time.perf_counter() - first < delay / 2, "an isolated trigger waited for the quiet time"
        time.sleep(0.005)
    for _ in range(5):                              # a burst while the first call runs
        debounced()
    last_trigger = time.perf_counter()
    assert last_trigger - first < 0.3 + delay / 2, "the burst itself took too long"
    debounced.wait()
    assert len(calls) == 2, calls                   # the burst became one trailing call
    assert calls[1] >= ends[0]                      # never overlapping
    assert calls[1] - last_trigger >= delay * 0.99  # after the quiet time following the *last* trigger
    synchronous = apps.Debouncer(0, lambda: calls.append(-1.0))
    synchronous()
    assert calls[-1] == -1.0                        # delay = 0: run in the caller's thread, at once
    with pytest.raises(ValueError, match="delay"):
        apps.Debouncer(-1.0, lambda: None)


def test_simulation_points_need_lambda():
    with pytest.raises(ValueError, match="lam"):
        apps.simulation_points(0.4, 0.3, 0.0, 0.0, [0.2])


def test_trained_spectrum_small():
    result = apps.trained_spectrum(Setting(alpha=0.4, kappa=0.7, kappa_star=0.5, lam=0.1), d=12, reps=1)
    assert result.eigenvalues.size > 0 and np.all(result.eigenvalues > result.cutoff)
    assert 0 <= result.zero_fraction < 1
    assert apps.trained_spectrum(Setting(alpha=0.4, kappa=0.7, kappa_star=0.5, lam=0.1), d=12,
                                 cancelled=lambda: True) is None


def _slider_ends(slider):
    if type(slider).__name__ == "FloatLogSlider":
        return slider.base ** slider.min, slider.base ** slider.max
    return slider.min, slider.max


@pytest.mark.parametrize("make, names", [
    (lambda: apps.DoubleDescentApp(delay=0), ("kappa", "kappa_star", "noise", "lam")),
    (lambda: apps.PhaseDiagramApp(delay=0), ("kappa_star", "kappa", "alpha", "lam")),
    (lambda: apps.SpectrumApp(delay=0, auto_train=False), ("alpha", "lam", "kappa", "kappa_star")),
], ids=["double_descent", "phase_diagram", "spectrum"])
def test_every_slider_end_gives_a_figure_or_a_clear_message(make, names):
    """Each slider at its minimum and maximum (others at their defaults): no exception, no 'unexpected' error;
    either a valid update (finite theory data) or an error message naming the problem."""
    app = make()
    for name in names:
        slider = getattr(app, name)
        default = slider.value
        for value in _slider_ends(slider):
            slider.value = value
            assert not any("unexpected" in text for _, text in app.messages), (name, value, app.messages)
            errors = [text for kind, text in app.messages if kind == "error"]
            if not errors:
                y = np.array(app.figure.data[0 if not isinstance(app, apps.SpectrumApp) else 1].y, dtype=float)
                assert np.isfinite(y).any(), (name, value)
        slider.value = default


def test_add_simulation_points_draws_markers():
    app = apps.DoubleDescentApp(delay=0, lam=0.1)
    app.sim_d.value = 8
    app.add_simulation_points(n_alpha=2, reps=2)
    markers = app.figure.data[3]
    assert len(markers.x) == 2 and np.all(np.isfinite(np.array(markers.y, dtype=float)))
    assert len(markers.error_y.array) == 2 and "d=8" in markers.name
    assert app.sim_progress.layout.visibility == "hidden" and not app.sim_button.disabled
    app.kappa.value = 0.5                       # parameters changed: stale markers are removed
    assert len(app.figure.data[3].x) == 0 and app.simulation is None


def test_double_descent_app_bayes_optimal_toggle():
    """The "Bayes-optimal" switch draws the MMSE of qnn.bayes_optimal(...) on the MSE panel, below the gradient-flow
    curve, and updates within 0.3 s (CPU time: the shared machine's wall time varies with its load)."""
    import time

    app = apps.DoubleDescentApp(delay=0, noise=1.0, lam=0.001)
    assert len(app.figure.data[6].x) == 0
    start = time.process_time()
    app.bayes.value = True
    first = time.process_time() - start
    x, y = np.array(app.figure.data[6].x, float), np.array(app.figure.data[6].y, float)
    assert x.size > 10 and np.all(np.diff(y) < 0)                      # monotone: no double descent
    for i in (0, x.size // 2, x.size - 1):
        if 0.01 <= x[i] <= 0.8:
            ref = bayes_optimal(Setting(alpha=float(x[i]), kappa=1.0, kappa_star=0.3, noise=1.0)).mmse
            assert y[i] == pytest.approx(ref, rel=1e-8)
    a, m = app.curves.alpha, app.curves.mse                           # gradient flow (its curve folds here)
    inside = (a >= x.min()) & (a <= x.max())
    assert inside.sum() > 10 and np.all(np.interp(a[inside], x, y) < m[inside])   # never below the optimum
    start = time.process_time()
    app.noise.value = 0.5                                              # new (kappa*, Delta): BO recomputed
    second = time.process_time() - start
    assert first < 0.3 and second < 0.3, (first, second)
    app.bayes.value = False
    assert len(app.figure.data[6].x) == 0
