"""Machinery shared by the Voila apps: a debouncer, the base class :class:`App`, message and slider helpers.

An app (one module of :mod:`qnn.apps`, see CONTRIBUTING.md) subclasses :class:`App`, builds its controls and a
plotly ``FigureWidget`` in ``__init__``, connects every control to :meth:`App.schedule` and implements
:meth:`App._compute_and_draw`. Live updates are debounced (a slider burst triggers one computation, run in a
worker thread while a busy indicator is shown). Invalid or extreme parameters never produce a traceback: the app
shows the message of the ``ValueError`` (or of a non-converged solver) and keeps the last valid figure.
"""
from __future__ import annotations

import html
import math
import sys
import threading
import time
import traceback
from collections.abc import Callable

from ..conventions import check_nonnegative
from ..longtime.fixed_point import FixedPointError
from .server import announce_ready

__all__ = ["Debouncer", "App", "APP_CSS", "BUSY_HTML", "WIDGET_JS_ENV", "figure_widget", "message_html",
           "float_slider", "log_slider"]


class Debouncer:
    """Run ``function`` at once for an isolated trigger, and once more after a burst (leading + trailing edge).

    A trigger after a quiet time runs ``function`` at once (in a worker thread: the caller never waits), so a single
    slider step is answered without delay. Triggers that arrive while it runs, or less than ``delay`` seconds after
    the previous trigger, are coalesced: ``function`` runs once more, ``delay`` seconds after the *last* of them
    (and after the running call ended). Calls never overlap (a lock serialises them). With ``delay = 0`` the call
    is synchronous in the caller's thread (used by the tests).

    Parameters
    ----------
    delay : float
        Quiet time in seconds, in ``[0, inf)``.
    function : callable
        Called without arguments.
    """

    def __init__(self, delay: float, function: Callable[[], None]):
        self.delay = check_nonnegative("delay", delay)
        self.function = function
        self._lock = threading.Lock()
        self._run_lock = threading.Lock()
        self._worker: threading.Thread | None = None
        self._pending = False
        self._last_trigger = -math.inf
        self.calls = 0

    @property
    def lock(self) -> threading.Lock:
        """Held while ``function`` runs (take it to run other work that must not overlap a call)."""
        return self._run_lock

    def __call__(self, *_ignored: object) -> None:
        if self.delay == 0:
            self._run()
            return
        with self._lock:
            now = time.monotonic()
            quiet = now - self._last_trigger >= self.delay
            self._last_trigger = now
            self._pending = True
            if self._worker is None:
                self._worker = threading.Thread(target=self._loop, args=(quiet,), daemon=True)
                self._worker.start()

    def _loop(self, leading: bool) -> None:
        while True:
            with self._lock:
                wait = 0.0 if leading else self._last_trigger + self.delay - time.monotonic()
                if wait <= 0:
                    if not self._pending:
                        self._worker = None
                        return
                    self._pending = False
            leading = False
            if wait > 0:
                time.sleep(wait)
                continue
            self._run()

    def _run(self) -> None:
        with self._run_lock:
            self.calls += 1
            self.function()

    def wait(self, timeout: float = 60.0) -> None:
        """Block until pending calls have run (tests and benchmarks)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                worker = self._worker
            if worker is None:
                break
            worker.join(max(0.0, min(0.5, deadline - time.monotonic())))
        with self._run_lock:
            pass


BUSY_HTML = ('<span class="qnn-app-spinner" style="color:#8a5a00"><span style="display:inline-block;width:0.8em;'
              'height:0.8em;border:2px solid #8a5a00;border-right-color:transparent;border-radius:50%;'
              'animation:qnn-spin 0.8s linear infinite"></span> {text}</span>'
              '<style>@keyframes qnn-spin {{ to {{ transform: rotate(360deg); }} }}</style>')


#: Layout of every app (an HTML widget with this style sheet is part of each app, so that it applies in Voila and in
#: a notebook alike): rows of controls wrap; a slider is 460 px wide (its track >= 200 px next to a long
#: description and the value readout) and takes the whole width on a narrow screen, its description then on a line
#: of its own above the track; figures never exceed the page's width (their width follows the container).
APP_CSS = """<style>
.qnn-app { max-width: 100%; box-sizing: border-box; }
.qnn-app .widget-hbox, .qnn-app .widget-vbox { flex-wrap: wrap; max-width: 100%; min-width: 0; }
.qnn-app .widget-vbox > *, .qnn-app .widget-hbox > * { min-width: 0; max-width: 100%; }
.qnn-app .widget-hslider { width: 460px; flex: 0 1 460px; }
.qnn-app .widget-hslider .slider-container { flex: 1 1 auto; min-width: 120px; }
.qnn-app .widget-hslider .widget-readout { flex: none; min-width: 3.5em; overflow: visible; }
.qnn-app .widget-checkbox { width: auto; }
.qnn-app .widget-html, .qnn-app .widget-html-content { white-space: normal; overflow-wrap: anywhere; }
.qnn-app .js-plotly-plot, .qnn-app .plot-container { max-width: 100%; min-width: 0; }
@media (max-width: 640px) {
  .qnn-app .widget-hslider { width: 100%; flex: 1 1 100%; flex-wrap: wrap; height: auto; margin-bottom: 6px; }
  .qnn-app .widget-hslider > .widget-label { width: 100% !important; max-width: 100%; text-align: left;
                                             height: auto; line-height: 1.4; }
  .qnn-app .widget-hslider .slider-container { flex: 1 1 0; }
  .qnn-app .widget-checkbox, .qnn-app .widget-button { height: auto; }
}
</style>"""


#: Environment variable with the URL of plotly's widget code, set by the launcher for its kernels.
WIDGET_JS_ENV = "QNN_APPS_WIDGET_JS"


def figure_widget(figure):
    """``plotly.graph_objects.FigureWidget(figure)``, its JavaScript loaded from ``$QNN_APPS_WIDGET_JS`` if set.

    plotly's widget otherwise sends its whole JavaScript (~5 MB) through the kernel's websocket to each page, which
    compiles it only when the widget's model is created; anywidget gives a model 2 s to initialise, and on a busy
    machine the figure then never takes an update ("[anywidget] Failed to initialize model."). Served by the
    launcher as a file, the code is imported by the page itself as soon as it loads (the book's Voila template) and
    by the widget from the same URL (one module, cached by the browser).
    """
    import os

    import plotly.graph_objects as go

    widget = go.FigureWidget(figure)
    url = os.environ.get(WIDGET_JS_ENV)
    if url:
        widget._esm = url
    return widget


def message_html(kind: str, text: str) -> str:
    colour = {"error": "#b00020", "warning": "#8a5a00", "info": "#2a5d8a"}[kind]
    icon = {"error": "<b>Error:</b> ", "warning": "<b>Note:</b> ", "info": ""}[kind]
    return f'<div class="qnn-app-{kind}" style="color:{colour}">{icon}{html.escape(text)}</div>'


class App:
    """Common machinery: status line, busy indicator, debounced and guarded refresh."""

    def __init__(self, delay: float):
        import ipywidgets as widgets

        self.style = widgets.HTML(value=APP_CSS, layout=widgets.Layout(display="none"))
        self.busy = widgets.HTML(value="", layout=widgets.Layout(min_height="1.5em"))
        self.busy.add_class("qnn-app-busy")
        self.status = widgets.HTML(value="")
        self.status.add_class("qnn-app-status")
        self.last_update_seconds = math.nan
        self.n_updates = 0
        self.messages: list[tuple[str, str]] = []
        self._debounced = Debouncer(delay, self.refresh)

    def box(self, children: list) -> object:
        """The app's widget: ``children`` in a column, with the app's style sheet (:data:`APP_CSS`)."""
        import ipywidgets as widgets

        widget = widgets.VBox([self.style, *children], layout=widgets.Layout(width="100%", max_width="100%"))
        widget.add_class("qnn-app")
        return widget

    # -- to be provided by the apps
    def _compute_and_draw(self) -> list[tuple[str, str]]:   # pragma: no cover - abstract
        raise NotImplementedError

    def schedule(self, *_ignored: object) -> None:
        """Request a refresh (debounced); connected to every control."""
        self.busy.value = BUSY_HTML.format(text="updating…")
        self._debounced()

    def wait(self, timeout: float = 120.0) -> None:
        """Block until the pending refresh has finished."""
        self._debounced.wait(timeout)

    def refresh(self) -> None:
        """Recompute and redraw now; errors become messages in the status line, never tracebacks."""
        start = time.perf_counter()
        self.busy.value = BUSY_HTML.format(text="computing…")
        try:
            messages = self._compute_and_draw()
        except (ValueError, FixedPointError) as error:
            messages = [("error", f"{error}. The figure shows the last valid parameters.")]
        except Exception as error:  # any bug: a slider must never show a traceback; report it instead
            traceback.print_exc()
            messages = [("error", f"unexpected {type(error).__name__}: {error} (please report this)")]
        self.last_update_seconds = time.perf_counter() - start
        self.n_updates += 1
        self.messages = messages
        self.status.value = "".join(message_html(kind, text) for kind, text in messages)
        self.busy.value = f'<span class="qnn-app-done">updated in {self.last_update_seconds:.2f} s</span>'
        if self.n_updates == 1:      # the first figure is drawn: tell the launcher (pre-heated kernels)
            announce_ready(getattr(sys.modules[type(self).__module__], "NAME", type(self).__name__),
                           self.last_update_seconds)


def float_slider(description: str, value: float, low: float, high: float, step: float):
    import ipywidgets as widgets

    return widgets.FloatSlider(value=value, min=low, max=high, step=step, description=description,
                               continuous_update=True, readout_format=".3g",
                               style={"description_width": "initial"})


def log_slider(description: str, value: float, low_exp: float, high_exp: float, step: float = 0.1):
    import ipywidgets as widgets

    return widgets.FloatLogSlider(value=value, base=10, min=low_exp, max=high_exp, step=step,
                                  description=description, continuous_update=True, readout_format=".2g",
                                  style={"description_width": "initial"})
