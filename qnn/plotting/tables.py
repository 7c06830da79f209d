"""The one way the book shows a table: HTML with formatted numbers, headers in words, no NaN or inf.

:func:`table` renders rows (mappings or a pandas DataFrame) as an HTML table inside its own horizontally scrolling
box (a wide table scrolls inside the box on a phone; the page does not). Every number is formatted by the
column's format; a missing value (``None``, NaN, ±inf, or a cell the caller marks missing) is shown as a dash with
a footnote saying why. :func:`from_markdown` renders a Markdown pipe table (the form many figure builders
return) through the same function, and :func:`markdown` converts every pipe table inside a Markdown text, for
pages that show a sentence and a table together.

The result is a :class:`Table`; as the last expression of a notebook cell it displays itself.
"""
from __future__ import annotations

import html
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["DASH", "MISSING_NOTE", "Table", "table", "from_markdown", "markdown", "format_value"]

#: What a missing value is shown as.
DASH = "–"
#: The default footnote of a missing value.
MISSING_NOTE = "no value (not defined or not computed at this point)"

_MISSING_TEXT = {"", "nan", "+nan", "-nan", "inf", "+inf", "-inf", "none", "null", "nan%", "+nan%", "-nan%",
                 "inf%", "+inf%", "-inf%", "–", "—", "-"}
_NUMERIC_CELL = re.compile(r"^[+\-−]?(\d|\.\d)")


@dataclass(frozen=True)
class Table:
    """An HTML table of the book (``html``), with the number of missing cells shown as a dash."""

    html: str
    n_rows: int
    n_missing: int

    def _repr_html_(self) -> str:
        return self.html

    def __str__(self) -> str:
        return self.html


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return value.strip().lower() in _MISSING_TEXT
    try:
        return not math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def format_value(value: Any, fmt: str | Callable[[Any], str] | None = None) -> str:
    """``value`` as table text: ``fmt`` a format spec (``".3f"``, ``"+.1%"``), a callable, or ``None`` (integers
    as they are, other numbers with 4 significant digits); a minus sign is the typographic ``−``.

    Raises
    ------
    ValueError
        If ``value`` is missing (None, NaN, inf): the caller shows :data:`DASH` instead.
    """
    if _is_missing(value):
        raise ValueError(f"value must be a finite number or text, got {value!r}")
    if callable(fmt):
        text = fmt(value)
    elif isinstance(value, str):
        text = value
    elif isinstance(value, bool):
        text = "yes" if value else "no"
    elif fmt:
        text = format(value, fmt)
    elif float(value) == int(float(value)) and abs(float(value)) < 1e15 and not isinstance(value, float):
        text = str(int(value))
    else:
        text = format(float(value), ".4g")
    return text.replace("-", "−") if _NUMERIC_CELL.match(text) else text


def table(rows: Any, columns: Sequence[str] | None = None, *, headers: Mapping[str, str] | None = None,
          formats: Mapping[str, str | Callable[[Any], str]] | None = None, units: Mapping[str, str] | None = None,
          missing_note: str = MISSING_NOTE, notes: Sequence[str] = (), caption: str | None = None,
          index: bool = False) -> Table:
    """An HTML table.

    Parameters
    ----------
    rows : sequence of mappings, or a pandas DataFrame
        One mapping per row (column key -> value).
    columns : sequence of str, optional
        Column keys in display order (default: the keys of the first row / the DataFrame's columns).
    headers : mapping, optional
        Header text per key (default: the key itself); words or symbols (α, κ*, |z|).
    formats : mapping, optional
        Format per key: a format spec (``".3f"``, ``"+.1%"``) or a callable returning text.
    units : mapping, optional
        Unit per key, shown in the header in parentheses.
    missing_note : str
        Footnote explaining the dash shown for a missing value (added only if a value is missing).
    notes : sequence of str
        Further footnotes below the table.
    caption : str, optional
        A caption above the table.
    index : bool
        With a DataFrame: show its index as the first column.

    Returns
    -------
    Table
    """
    records, keys = _records(rows, columns, index)
    headers, formats, units = dict(headers or {}), dict(formats or {}), dict(units or {})
    for name, mapping in (("headers", headers), ("formats", formats), ("units", units)):
        unknown = sorted(set(mapping) - set(keys))
        if unknown:
            raise ValueError(f"{name} names columns that the table does not have: {unknown}")
    head = "".join(f"<th>{html.escape(headers.get(k, str(k)))}"
                   + (f" ({html.escape(units[k])})" if k in units else "") + "</th>" for k in keys)
    body, missing = [], 0
    for record in records:
        cells = []
        for key in keys:
            value = record.get(key)
            if _is_missing(value):
                missing += 1
                cells.append(f'<td class="qnn-missing">{DASH}<sup>*</sup></td>')
            else:
                text = format_value(value, formats.get(key))
                cls = ' class="qnn-num"' if _NUMERIC_CELL.match(text) else ""
                cells.append(f"<td{cls}>{html.escape(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    foot = ([f"<sup>*</sup> {DASH}: {html.escape(missing_note)}"] if missing else []) + \
        [html.escape(note) for note in notes]
    parts = ['<div class="qnn-table-wrap">']
    if caption:
        parts.append(f'<p class="qnn-table-caption">{html.escape(caption)}</p>')
    parts.append(f'<table class="qnn-table"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>')
    parts += [f'<p class="qnn-table-note">{note}</p>' for note in foot]
    parts.append("</div>")
    return Table(html="".join(parts), n_rows=len(records), n_missing=missing)


def _records(rows: Any, columns: Sequence[str] | None, index: bool) -> tuple[list[Mapping[str, Any]], list[str]]:
    if hasattr(rows, "to_dict") and hasattr(rows, "columns"):  # a pandas DataFrame
        frame = rows.reset_index() if index else rows
        records = frame.to_dict("records")
        keys = list(columns) if columns is not None else [str(c) for c in frame.columns]
        records = [{str(k): v for k, v in r.items()} for r in records]
    else:
        rows = list(rows)
        if not all(isinstance(r, Mapping) for r in rows):
            raise ValueError("rows must be a sequence of mappings or a pandas DataFrame")
        records = [dict(r) for r in rows]
        keys = list(columns) if columns is not None else (list(records[0]) if records else [])
    if not keys:
        raise ValueError("the table has no columns: pass rows with keys or columns=[...]")
    return records, keys


def _split_row(line: str) -> list[str]:
    inner = line.strip()
    inner = inner[1:] if inner.startswith("|") else inner
    inner = inner[:-1] if inner.endswith("|") else inner
    return [cell.strip() for cell in inner.split("|")]


def from_markdown(text: str, **kwargs: Any) -> Table:
    """:func:`table` of a Markdown pipe table (header row, ``|---|`` rule, rows); cells are kept as text, and a cell
    reading ``nan``, ``inf``, ``+nan%`` or a dash becomes the footnoted dash. ``**bold**`` and backticks are
    dropped. Keyword arguments go to :func:`table`."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    if len(lines) < 2 or not re.fullmatch(r"\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*", lines[1]):
        raise ValueError("text must be a Markdown pipe table: a header row, a |---| rule, then rows")
    header = _split_row(lines[0])
    keys = [f"c{i}" for i in range(len(header))]
    rows = []
    for line in lines[2:]:
        cells = [re.sub(r"\*\*|`", "", c) for c in _split_row(line)]
        if len(cells) != len(keys):
            raise ValueError(f"row {line!r} has {len(cells)} cells, the header {len(keys)}")
        rows.append(dict(zip(keys, cells)))
    return table(rows, keys, headers=dict(zip(keys, header)), **kwargs)


_TABLE_BLOCK = re.compile(r"(?m)^(\|[^\n]*\|[ \t]*\n\|[ \t]*:?-{3,}[^\n]*\n(?:\|[^\n]*\|[ \t]*(?:\n|$))*)")


def markdown(text: str, **kwargs: Any) -> Any:
    """An IPython ``Markdown`` object of ``text`` with every pipe table replaced by :func:`from_markdown`'s HTML
    (the rest stays Markdown, so sentences around a table keep their formatting)."""
    from IPython.display import Markdown

    def replace(match: re.Match) -> str:
        return "\n" + from_markdown(match.group(1), **kwargs).html + "\n\n"

    return Markdown(_TABLE_BLOCK.sub(replace, text))
