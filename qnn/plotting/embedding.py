"""How a plotly figure is written into an HTML page of the book (its embedding; the figure's style is
:mod:`qnn.plotting`'s).

The book's site (``book/_ext/qnn_site.py``) loads plotly.js once and the script ``qnn-figures.js`` that draws each
figure; what a figure itself carries into its page is trimmed here, in the embedding step, never in the data:

* **one shared template.** plotly writes its whole default template (layout defaults plus defaults for some 24
  trace types, about 7 kB) into every figure. :func:`embed_figure` replaces it by a reference
  ``{"qnnShared": KEY}``; the template itself, reduced to the layout defaults and the defaults of
  :data:`TRACE_TYPES`, is written once per page, by :func:`template_script`, into the first figure that uses it
  (``window.qnnTemplates[KEY]``), and ``qnn-figures.js`` puts it back in place before the figure is drawn.
* **each array once.** A trace array equal to one of an earlier trace of the same figure (curves drawn on the
  same grid) is written as ``{"qnnSame": [TRACE, KEY]}`` (:func:`share_arrays`), which ``qnn-figures.js`` resolves.
* **numbers at the precision the data carry.** The finest numbers of the book are theory values rounded to 7
  significant digits (the simulations carry 3-4: an ODE tolerance of 1e-4, 2-10 runs). plotly encodes every numpy
  array as base64 float64 (16-17 digits); :func:`embed_figure` stores float arrays as float32 instead (24-bit
  mantissa: a relative error <= 6e-8, below the 7th digit; arrays with values outside float32's normal range stay
  float64) and rounds the plain floats of lists and the layout to :data:`SIGNIFICANT_DIGITS` digits.

:func:`site_html` finally undoes plotly's escaping of ``/`` as ``\\u002f`` (6 characters for 1, about 8 % of
base64 data; ``<`` stays escaped, so no ``</script>`` can form).

Only the HTML of the book's pages is trimmed (``QNN_PLOTLYJS=external``, set by the site's Sphinx extension for its
kernels): a notebook or a Voila app keeps plotly's own embedding, which draws without ``qnn-figures.js``.
"""
from __future__ import annotations

import base64
import copy
import hashlib
import json
import math
import re
from typing import Any

import numpy as np

__all__ = ["SIGNIFICANT_DIGITS", "TRACE_TYPES", "embed_figure", "template_script", "trace_types",
           "shared_template", "round_numbers", "share_arrays", "site_html"]

#: Significant digits kept of a plain float (the theory values of the book are rounded to 7).
SIGNIFICANT_DIGITS = 7
#: Trace types whose template defaults the shared template keeps: those of plotly.js's cartesian bundle, the one
#: the book serves (``book/_ext/qnn_site.py`` checks every figure's traces against the bundle's own list).
TRACE_TYPES = frozenset({"bar", "box", "contour", "heatmap", "histogram", "histogram2d", "histogram2dcontour",
                         "image", "pie", "scatter", "scatterternary", "violin"})
#: float32's normal range: arrays with a non-zero magnitude outside it stay float64.
_F4_RANGE = (float(np.finfo(np.float32).tiny), float(np.finfo(np.float32).max))
#: plotly's JSON escape of "/" (not preceded by a backslash: that would be an escaped backslash before "u002f")
_ESCAPED_SLASH = re.compile(r"(?<!\\)\\u002f")


def round_numbers(value: Any, digits: int = SIGNIFICANT_DIGITS) -> Any:
    """``value`` (nested dicts and lists) with every float rounded to ``digits`` significant digits and every
    base64 float64 array (plotly's ``{"dtype": "f8", "bdata": ...}``) stored as float32 where its values fit.

    Integers, booleans, strings and non-finite floats are returned unchanged; the input is not modified.
    """
    if not isinstance(digits, int) or not 1 <= digits <= 17:
        raise ValueError(f"digits must be an integer in [1, 17], got {digits!r}")
    if isinstance(value, float):
        return float(f"{value:.{digits}g}") if math.isfinite(value) else value
    if isinstance(value, dict):
        if value.get("dtype") == "f8" and isinstance(value.get("bdata"), str):
            return _float32_array(value)
        return {key: round_numbers(item, digits) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [round_numbers(item, digits) for item in value]
    if isinstance(value, np.ndarray) and value.dtype.kind == "f":
        return round_numbers(value.tolist(), digits)
    return value


def _float32_array(spec: dict) -> dict:
    values = np.frombuffer(base64.b64decode(spec["bdata"]), dtype="<f8")
    magnitudes = np.abs(values[np.isfinite(values) & (values != 0)])
    if magnitudes.size and (magnitudes.min() < _F4_RANGE[0] or magnitudes.max() > _F4_RANGE[1]):
        return dict(spec)
    return {**spec, "dtype": "f4", "bdata": base64.b64encode(values.astype("<f4").tobytes()).decode("ascii")}


def trace_types(fig_dict: dict) -> set[str]:
    """The trace types of a figure dict (``data`` and ``frames``; a trace without ``type`` is a scatter)."""
    traces = list(fig_dict.get("data") or [])
    for frame in fig_dict.get("frames") or []:
        traces.extend(frame.get("data") or [])
    return {str(trace.get("type") or "scatter") for trace in traces}


def shared_template(template: dict) -> tuple[str, dict]:
    """``(key, reduced)``: the template reduced to its layout defaults and the defaults of :data:`TRACE_TYPES`,
    and a key naming the reduced template (a hash of its JSON)."""
    if not isinstance(template, dict):
        raise ValueError(f"template must be a dict (a figure's layout.template), got {type(template).__name__}")
    data = {name: defaults for name, defaults in (template.get("data") or {}).items() if name in TRACE_TYPES}
    reduced = {key: item for key, item in template.items() if key != "data"}
    if data:
        reduced["data"] = data
    text = json.dumps(reduced, sort_keys=True, separators=(",", ":"), default=str)
    return "t" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:12], reduced


def template_script(key: str, template: dict) -> str:
    """The ``<script>`` that defines ``window.qnnTemplates[key]`` (written once per page)."""
    payload = json.dumps(round_numbers(template), separators=(",", ":")).replace("</", "<\\/")
    return (f'<script type="text/javascript">(window.qnnTemplates = window.qnnTemplates || {{}})["{key}"] = '
            f"{payload};</script>")


def share_arrays(traces: list) -> list:
    """``traces`` (a figure's ``data``, already trimmed) with every base64 array that equals one of an earlier trace
    replaced by ``{"qnnSame": [INDEX, KEY]}`` (trace ``INDEX``'s ``KEY``); only top-level keys of the traces."""
    first: dict[tuple, list] = {}
    shared = []
    for index, trace in enumerate(traces):
        trace = dict(trace) if isinstance(trace, dict) else trace
        for key, value in list(trace.items()) if isinstance(trace, dict) else []:
            if isinstance(value, dict) and isinstance(value.get("bdata"), str):
                identity = (value.get("dtype"), value.get("shape"), value["bdata"])
                if identity in first:
                    trace[key] = {"qnnSame": first[identity]}
                else:
                    first[identity] = [index, key]
        shared.append(trace)
    return shared


def site_html(preamble: str, html: str) -> str:
    """The figure's HTML for a book page: ``preamble`` (see :func:`embed_figure`), then plotly's ``html`` with its
    ``\\u002f`` escapes of ``/`` undone (plotly also escapes ``<`` and ``>``, which stay escaped)."""
    return preamble + _ESCAPED_SLASH.sub("/", html)


def embed_figure(fig_dict: dict, written: set[str]) -> tuple[dict, str]:
    """``(trimmed, preamble)``: the figure dict to embed in a book page, and the HTML to write before it.

    ``trimmed`` is a copy of ``fig_dict`` with its numbers rounded (:func:`round_numbers`), repeated arrays
    shared (:func:`share_arrays`) and its template
    replaced by ``{"qnnShared": KEY}``; ``preamble`` is :func:`template_script` of that template if ``KEY`` is not
    in ``written`` (the keys already written into this page; updated in place), else ``""``.
    """
    if not isinstance(fig_dict, dict) or "data" not in fig_dict:
        raise ValueError("fig_dict must be a plotly figure dict (with 'data'), e.g. fig.to_dict()")
    layout = dict(fig_dict.get("layout") or {})
    template = layout.pop("template", None)
    trimmed = round_numbers({**fig_dict, "layout": layout})
    trimmed["data"] = share_arrays(trimmed["data"])
    if not template:
        return trimmed, ""
    key, reduced = shared_template(copy.deepcopy(template))
    trimmed["layout"]["template"] = {"qnnShared": key}
    if key in written:
        return trimmed, ""
    written.add(key)
    return trimmed, template_script(key, reduced)
