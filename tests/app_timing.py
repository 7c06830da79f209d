"""In-page timing of the Voila apps (used by tests/test_browser_apps.py and benchmarks/bench_apps.py).

Everything is measured by the page itself, with ``performance.now()`` (milliseconds since the navigation started):

* ``first_figure_seconds``: when a plotly graph of the page first holds data (a trace with points), polled every
  5 ms from the first script of the page on (:data:`INIT_SCRIPT`, installed before navigation);
* ``slider_step_seconds``: from the ``keydown`` of ArrowRight on a focused slider handle to the first change of the
  figure's data (the graph's ``data``), seen by the same 5 ms poll and by plotly's own ``plotly_afterplot`` /
  ``plotly_restyle`` / ``plotly_update`` events.
"""
from __future__ import annotations

import statistics

#: Installed with ``page.add_init_script`` before navigating.
INIT_SCRIPT = """
(() => {
  const sig = () => Array.from(document.querySelectorAll('.js-plotly-plot')).map(div =>
      JSON.stringify((div.data || []).map(t => [t.x ? Array.from(t.x).slice(0, 400) : null,
                                                t.y ? Array.from(t.y).slice(0, 400) : null]))).join('|');
  const hasData = () => Array.from(document.querySelectorAll('.js-plotly-plot'))
      .some(div => (div.data || []).some(t => t.x && t.x.length > 0));
  window.__qnn = {first: null, key: null, changed: null, before: null, sig: sig};
  const check = () => {
    const q = window.__qnn;
    if (q.first === null && hasData()) q.first = performance.now();
    if (q.key !== null && q.changed === null && sig() !== q.before) q.changed = performance.now();
  };
  setInterval(check, 5);
  const hooked = new WeakSet();
  setInterval(() => document.querySelectorAll('.js-plotly-plot').forEach(div => {
    if (!hooked.has(div) && div.on) {
      hooked.add(div);
      ['plotly_afterplot', 'plotly_restyle', 'plotly_update', 'plotly_relayout'].forEach(e => div.on(e, check));
    }
  }), 20);
  document.addEventListener('keydown', e => {
    const q = window.__qnn;
    if (e.key === 'ArrowRight' && q.armed) { q.key = performance.now(); q.armed = false; }
  }, true);
})();
"""


def first_figure_seconds(page, timeout_ms: float) -> float:
    """Seconds from navigation start to the first plotly trace with data (waits up to ``timeout_ms``)."""
    page.wait_for_function("() => window.__qnn && window.__qnn.first !== null", timeout=timeout_ms, polling=50)
    return page.evaluate("() => window.__qnn.first") / 1000.0


def slider_step_seconds(page, handle, timeout_ms: float = 30_000) -> float:
    """Press ArrowRight on the focused slider ``handle``; seconds from the key press to the figure's change."""
    page.evaluate("() => { const q = window.__qnn; q.before = q.sig(); q.key = null; q.changed = null; "
                  "q.armed = true; }")
    handle.focus()
    page.keyboard.press("ArrowRight")
    page.wait_for_function("() => window.__qnn.changed !== null", timeout=timeout_ms, polling=20)
    return page.evaluate("() => (window.__qnn.changed - window.__qnn.key) / 1000")


def summary(values: list[float]) -> dict:
    """Median, min, max and the values (rounded to ms)."""
    return {"median": round(statistics.median(values), 3), "min": round(min(values), 3),
            "max": round(max(values), 3), "values": [round(v, 3) for v in values]}
