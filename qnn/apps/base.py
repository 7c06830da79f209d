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
import threading
import time
import traceback
from collections.abc import Callable

from ..conventions import check_nonnegative
from ..longtime.fixed_point import FixedPointError

__all__ = ["Debouncer", "App", "BUSY_HTML", "message_html", "float_slider", "log_slider"]


class Debouncer:
    """Call ``function`` once, ``delay`` seconds after the *last* of a burst of triggers.

    Runs ``function`` in a timer thread (one at a time: a lock serialises runs). With ``delay = 0`` the call is
    synchronous (used by the tests).

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
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()
        self._run_lock = threading.Lock()
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
            if self._timer is not None:
                self._timer.cancel()
            self._timer = threading.Timer(self.delay, self._run)
            self._timer.daemon = True
            self._timer.start()

    def _run(self) -> None:
        with self._run_lock:
            self.calls += 1
            self.function()

    def wait(self, timeout: float = 60.0) -> None:
        """Block until a pending call has run (tests and benchmarks)."""
        timer = self._timer
        if timer is not None:
            timer.join(timeout)
        with self._run_lock:
            pass


BUSY_HTML = ('<span class="qnn-app-spinner" style="color:#8a5a00"><span style="display:inline-block;width:0.8em;'
              'height:0.8em;border:2px solid #8a5a00;border-right-color:transparent;border-radius:50%;'
              'animation:qnn-spin 0.8s linear infinite"></span> {text}</span>'
              '<style>@keyframes qnn-spin {{ to {{ transform: rotate(360deg); }} }}</style>')


def message_html(kind: str, text: str) -> str:
    colour = {"error": "#b00020", "warning": "#8a5a00", "info": "#2a5d8a"}[kind]
    icon = {"error": "<b>Error:</b> ", "warning": "<b>Note:</b> ", "info": ""}[kind]
    return f'<div class="qnn-app-{kind}" style="color:{colour}">{icon}{html.escape(text)}</div>'


class App:
    """Common machinery: status line, busy indicator, debounced and guarded refresh."""

    def __init__(self, delay: float):
        import ipywidgets as widgets

        self.busy = widgets.HTML(value="", layout=widgets.Layout(min_height="1.5em"))
        self.busy.add_class("qnn-app-busy")
        self.status = widgets.HTML(value="")
        self.status.add_class("qnn-app-status")
        self.last_update_seconds = math.nan
        self.n_updates = 0
        self.messages: list[tuple[str, str]] = []
        self._debounced = Debouncer(delay, self.refresh)

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
