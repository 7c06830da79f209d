"""Captions and the "How this figure was made" block under every figure of the book.

A figure of the book is followed by

* a short **caption** (at most about 60 words): what is plotted, at which parameters, what to see;
* a collapsed **details block** (``<details><summary>How this figure was made</summary>``, works in the static
  site without JavaScript): how the numbers were computed, in sentences — the solver and its stopping rule, the
  number of runs and the size ``d``, the error-bar convention, how the figure differs from the paper's.

The method sentences are written by the code that knows them (the figure builders in :mod:`qnn.figures` compute
them from the cached data), and passed to :func:`qnn.plotting.show` as ``details=[...]``: a list of sentences, so
that adding one is one more item. ``None`` or empty items are skipped. The error-bar convention of the simulation
markers drawn in the figure is added automatically (:func:`marker_sentence`).

Functions
---------
:func:`word_count`      words of a caption (what the book's tests limit).
:func:`differences`     the sentence "Differences from the paper: ...".
:func:`marker_sentence` the error-bar convention of the simulation markers of a figure, read from its traces.
:func:`details_html`    the collapsed details block.
:func:`caption_html`    the caption paragraph.
"""
from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["SUMMARY", "CAPTION_WORDS", "word_count", "differences", "sentences", "marker_sentence",
           "details_html", "caption_html"]

#: The summary line of the details block.
SUMMARY = "How this figure was made"
#: The caption length the book aims at (the tests fail above 90 words).
CAPTION_WORDS = 60

_WORD = re.compile(r"[^\s]+")


def word_count(text: str) -> int:
    """Number of whitespace-separated words of ``text`` (a symbol such as ``α = 0.3`` counts 3)."""
    return len(_WORD.findall(text or ""))


def differences(text: str | None) -> str | None:
    """The sentence "Differences from the paper: ``text``." (``None`` for an empty ``text``)."""
    if not text or not text.strip():
        return None
    body = text.strip()
    return f"Differences from the paper: {body}" + ("" if body.endswith(".") else ".")


def sentences(details: str | Iterable[str | None] | None) -> list[str]:
    """The non-empty sentences of ``details`` (a string or a sequence of strings/None), stripped, each ending
    with a full stop."""
    if details is None:
        return []
    items: Iterable[str | None] = [details] if isinstance(details, str) else details
    out = []
    for item in items:
        if item is None:
            continue
        if not isinstance(item, str):
            raise ValueError(f"details must be strings (or None), got {type(item).__name__}")
        text = item.strip()
        if text:
            out.append(text if text[-1] in ".!?)" else text + ".")
    return out


def marker_sentence(fig: Any) -> str | None:
    """The error-bar convention of the simulation markers drawn in ``fig`` (``None`` without markers).

    Reads the ``meta`` that :func:`qnn.plotting.simulation_trace` stores on each marker trace (number of runs,
    whether error bars are drawn).
    """
    metas = [t.meta for t in getattr(fig, "data", ()) if isinstance(t.meta, dict) and t.meta.get("kind") ==
             "simulation"]
    reps = sorted({int(m["reps"]) for m in metas if "reps" in m})
    if not metas or reps == [1] or not reps:  # single-sample markers (e.g. a ratio of means): nothing to say
        return None
    runs = (f"{reps[0]} independent run" + ("s" if reps[0] != 1 else "")) if len(reps) == 1 else \
        f"{reps[0]} to {reps[-1]} independent runs"
    bars = [m.get("error_bars", True) for m in metas]
    if all(bars):
        bar = ("the error bars span ±2 standard deviations of the runs (the population standard deviation, "
               "as in the paper), not the uncertainty of the mean")
    elif not any(bars):
        bar = "no error bars are drawn, as in the paper's time courses"
    else:
        bar = ("where error bars are drawn they span ±2 standard deviations of the runs (the population "
               "standard deviation, as in the paper)")
    return f"Each marker is the mean over {runs}; {bar}."


def details_html(details: str | Sequence[str | None] | None, fig: Any = None) -> str:
    """The collapsed "How this figure was made" block (empty string when there is nothing to say).

    Parameters
    ----------
    details : str or sequence of (str or None)
        Method sentences; ``None``/empty items are skipped.
    fig : plotly Figure, optional
        The figure: its simulation markers' convention (:func:`marker_sentence`) is appended.
    """
    parts = sentences(details)
    marker = marker_sentence(fig) if fig is not None else None
    if marker and marker not in parts:
        parts.append(marker)
    if not parts:
        return ""
    body = " ".join(html.escape(p) for p in parts)
    return (f'<details class="qnn-details"><summary>{SUMMARY}</summary>'
            f'<p>{body}</p></details>')


def caption_html(text: str | None) -> str:
    """The caption paragraph (empty string for no caption)."""
    if not text or not text.strip():
        return ""
    return f'<p class="qnn-caption"><em>{html.escape(text.strip())}</em></p>'
