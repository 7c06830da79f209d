"""Captions, the "How this figure was made" block (qnn.plotting.captions) and the book's one table helper
(qnn.plotting.tables)."""
from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest

from qnn import plotting

from qnn.plotting import captions, tables


# ------------------------------------------------------------------------------------------------ captions
def test_details_block_is_collapsed_html_of_sentences():
    block = captions.details_html(["Simulations at d = 40", None, "", "  solver: L-BFGS.  "])
    assert block.startswith('<details class="qnn-details"><summary>How this figure was made</summary>')
    assert block.endswith("</details>") and " open" not in block  # collapsed by default
    assert "<p>Simulations at d = 40. solver: L-BFGS.</p>" in block
    assert captions.details_html(None) == "" and captions.details_html([None, " "]) == ""
    assert "&lt;b&gt;" in captions.details_html("<b>x</b>")  # text, not markup
    with pytest.raises(ValueError, match="details must be strings"):
        captions.details_html([3.0])


def test_adding_a_sentence_is_one_more_item():
    base = ["Simulations at d = 40."]
    more = captions.details_html([*base, "The authors' d = 100 data are drawn as crosses."])
    assert more.count(". ") == 1 and "crosses." in more


def test_marker_sentence_reads_runs_and_bars_from_the_figure():
    fig = plotting.new_figure("alpha", "mse")
    assert captions.marker_sentence(fig) is None
    plotting.add_simulation(fig, [0.1, 0.2], np.ones((2, 5)), "sim")
    sentence = captions.marker_sentence(fig)
    assert "mean over 5 independent runs" in sentence and "±2 standard deviations" in sentence
    block = captions.details_html("Solver: L-BFGS.", fig)
    assert block.count("Each marker is the mean over 5") == 1
    lines = plotting.new_figure("t", "mse")
    plotting.add_simulation(lines, [1, 2], np.ones((2, 3)), "sim", error_bars=False)
    assert "no error bars" in captions.marker_sentence(lines)
    single = plotting.new_figure("t", "ratio")
    plotting.add_simulation(single, [1, 2], np.ones((2, 1)), "ratio of means")
    assert captions.marker_sentence(single) is None  # one sample per point: nothing to average


def test_differences_and_word_count():
    assert captions.differences("d = 40 instead of 100") == "Differences from the paper: d = 40 instead of 100."
    assert captions.differences("  ") is None
    assert captions.word_count("MSE at α = 0.3 and d = 40.") == 9


def test_show_prints_caption_details_and_csv_link(monkeypatch):
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda *objs, **kw: shown.extend(objs))
    fig = plotting.new_figure("alpha", "mse")
    plotting.add_simulation(fig, [0.1, 0.2], np.arange(6.0).reshape(2, 3), "sim")
    monkeypatch.setattr(type(fig), "show", lambda self, *a, **k: None)
    plotting.show(fig, caption_text=plotting.caption(6, "MSE against α."), details=["Solver: L-BFGS."],
                  csv_name="figure6.csv")
    html = shown[-1].data
    caption_at, details_at, link_at = (html.index(s) for s in ("qnn-caption", "qnn-details", "qnn-csv-download"))
    assert caption_at < details_at < link_at
    assert "Solver: L-BFGS. Each marker is the mean over 3 independent runs" in html


# ------------------------------------------------------------------------------------------------ tables
def test_table_formats_numbers_and_replaces_missing_values_by_a_footnoted_dash():
    frame = pd.DataFrame({"alpha": [0.25, 0.3, 0.35], "mse": [0.669272, math.nan, -0.5],
                          "rel": [0.1234, math.inf, -0.02], "n": [60, 61, 62]})
    table = tables.table(frame, headers={"alpha": "α", "rel": "relative deviation"},
                         formats={"mse": ".3f", "rel": "+.1%"}, units={"mse": "per d"},
                         missing_note="not computed at this α")
    html = table.html
    assert table.n_missing == 2 and table.n_rows == 3
    assert "<th>α</th>" in html and "<th>mse (per d)</th>" in html and "<th>relative deviation</th>" in html
    assert ">0.669<" in html and ">+12.3%<" in html and ">−2.0%<" in html and ">−0.500<" in html and ">61<" in html
    assert html.count("qnn-missing") == 2 and "not computed at this α" in html
    assert not re.search(r"nan|inf", html, re.IGNORECASE)
    assert html.startswith('<div class="qnn-table-wrap">')  # its own scrolling box
    assert table._repr_html_() == html
    # one number per cell: no digits run together as in a plain-text frame
    assert re.findall(r"<td[^>]*>([^<]*)</td>", html)[:4] == ["0.25", "0.669", "+12.3%", "60"]


def test_table_without_missing_values_has_no_footnote_and_rejects_bad_columns():
    html = tables.table([{"a": 1.0, "b": "x"}]).html
    assert "qnn-table-note" not in html and ">1<" in html and ">x<" in html
    with pytest.raises(ValueError, match="formats names columns"):
        tables.table([{"a": 1}], formats={"b": ".2f"})
    with pytest.raises(ValueError, match="no columns"):
        tables.table([])
    with pytest.raises(ValueError, match="sequence of mappings"):
        tables.table([(1, 2)])


def test_markdown_tables_go_through_the_same_helper():
    text = "Before the table.\n\n| Δ | gap |\n|---|---|\n| 0.5 | +nan% |\n| 1 | -3.5% |\n\nAfter it."
    out = tables.markdown(text).data
    assert out.startswith("Before the table.") and out.rstrip().endswith("After it.")
    assert "| Δ |" not in out and '<table class="qnn-table">' in out
    assert "nan" not in out.lower() and "−3.5%" in out and "qnn-missing" in out
    with pytest.raises(ValueError, match="pipe table"):
        tables.from_markdown("no table here")
    with pytest.raises(ValueError, match="cells"):
        tables.from_markdown("| a | b |\n|---|---|\n| 1 |")
