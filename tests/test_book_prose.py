"""The built book speaks to readers: no development history, no NaN or inf, short captions.

Scans the reader-visible text of every page of ``_toc.yml`` in the built site (``_build/html`` or
``$QNN_BOOK_HTML``): the article of each page, without code (``pre``, ``code``, input cells), scripts, and the
collapsed "How this figure was made" blocks (``details.qnn-details``, where method details belong). It fails on

* words of development history (:data:`HISTORY`: issue numbers, to-do notes, "we did not", targets, machine load,
  sessions, earlier drafts, ...);
* a NaN or inf shown to the reader (a missing value is a dash with a footnote, see :mod:`qnn.plotting.tables`);
* a figure caption (``p.qnn-caption``) of more than :data:`MAX_CAPTION_WORDS` words.

The scan of the built site needs a built book and runs with the browser tests (marker ``browser``; CI builds the
book first); the scanner's own tests run in the default suite.
"""
from __future__ import annotations

import os
import re
import statistics
from html.parser import HTMLParser
from pathlib import Path

import pytest

from qnn.plotting import captions
from book_pages import toc_pages

ROOT = Path(__file__).resolve().parents[1]
MAX_CAPTION_WORDS = 90

#: Development history, which the reader does not need (case-insensitive regular expressions).
HISTORY: dict[str, str] = {
    "issue number": r"\bissues?\s*#?\s*\d+",
    "to-do note": r"\b(TODO|FIXME|XXX)\b",
    "'we did not'": r"\bwe did not\b",
    "a target": r"\btargets? (we|that we) set\b|\bour targets?\b|\btargets? (is|are|was|were) (not )?met\b",
    "acceptance": r"\bacceptance\b",
    "machine load": r"\bload(s)?\s*(average\s*)?[0-9]",
    "a session": r"\bsessions?\b",
    "members": r"\bother members\b|\bteam members\b",
    "shared machine": r"\bshared\b[^.]{0,20}\bmachine\b|\b\d-core machine\b",
    "compute budget": r"\bcompute budget\b|\bfor lack of compute\b|\bbook's budget\b",
    "earlier draft": r"\b(earlier|previous|first) (draft|version)\b|\bproject's notes\b",
    "old solver": r"\b(previous|old) solver\b",
    "rerun": r"\bwe (did not )?re-?run\b|\bnot rerun\b",
}
NAN_INF = re.compile(r"(?<![\w\\])[+\-−±]?(nan|inf)(?![\w])%?", re.IGNORECASE)
_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class ProseParser(HTMLParser):
    """Collects the reader-visible prose of a page's ``<article>`` and its figure captions."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.in_article = 0
        self.skip = 0
        self.caption_depth = 0
        self.parts: list[str] = []
        self.captions: list[str] = []
        self._caption: list[str] = []

    @staticmethod
    def _skipped(tag: str, classes: set[str]) -> bool:
        return (tag in {"script", "style", "pre", "code", "svg", "template"}
                or (tag == "details" and "qnn-details" in classes)
                or bool(classes & {"cell_input", "plotly-graph-div", "headerlink"}))

    def handle_starttag(self, tag, attrs):
        classes = set((dict(attrs).get("class") or "").split())
        if tag in _VOID:
            return
        if tag == "article" and self.in_article == 0:
            self.in_article = 1
            return
        if not self.in_article:
            return
        self.in_article += 1
        if self.skip:
            self.skip += 1
        elif self._skipped(tag, classes):
            self.skip = 1
        if self.caption_depth:
            self.caption_depth += 1
        elif tag == "p" and "qnn-caption" in classes and not self.skip:
            self.caption_depth = 1
            self._caption = []

    def handle_endtag(self, tag):
        if tag in _VOID or not self.in_article:
            return
        self.in_article -= 1
        if self.skip:
            self.skip -= 1
        if self.caption_depth:
            self.caption_depth -= 1
            if self.caption_depth == 0:
                self.captions.append(" ".join("".join(self._caption).split()))

    def handle_data(self, data):
        if self.in_article and not self.skip:
            self.parts.append(data)
            if self.caption_depth:
                self._caption.append(data)

    @property
    def text(self) -> str:
        return " ".join(" ".join(self.parts).split())


def prose(html_text: str) -> tuple[str, list[str]]:
    """``(text, captions)`` of a built page (see :class:`ProseParser`)."""
    parser = ProseParser()
    parser.feed(html_text)
    parser.close()
    return parser.text, parser.captions


def problems(html_text: str) -> list[str]:
    """Every development-history phrase, NaN/inf and over-long caption of a built page, with its context."""
    text, caps = prose(html_text)
    found = []
    for what, pattern in HISTORY.items():
        for match in re.finditer(pattern, text, re.IGNORECASE):
            found.append(f"{what}: ...{text[max(0, match.start() - 50):match.end() + 50]}...")
    for match in NAN_INF.finditer(text):
        found.append(f"NaN/inf shown: ...{text[max(0, match.start() - 50):match.end() + 50]}...")
    for caption in caps:
        if captions.word_count(caption) > MAX_CAPTION_WORDS:
            found.append(f"caption of {captions.word_count(caption)} words: {caption[:120]}...")
    return found


# ------------------------------------------------------------------------------------------------ the scanner
_PAGE = """<html><body><nav>issue 12 in the navigation is not prose</nav><article class="bd-article">
<h1>Title<a class="headerlink" href="#t">#</a></h1><p>{body}</p>
<div class="cell_input"><pre>x = float("nan")  # TODO</pre></div>
<p class="qnn-caption"><em>{caption}</em></p>
<details class="qnn-details"><summary>How this figure was made</summary><p>{details}</p></details>
<img src="a.png"><br></article><footer>session</footer></body></html>"""


def test_the_scanner_finds_history_nan_and_long_captions():
    bad = _PAGE.format(body="As issue 13 showed, we did not rerun it (load 13-17); MSE = nan, ratio +nan%. "
                            "The target we set ourselves is not met.",
                       caption=" ".join(["word"] * 91), details="fine")
    found = problems(bad)
    kinds = {f.split(":")[0] for f in found}
    assert {"issue number", "'we did not'", "machine load", "a target", "NaN/inf shown"} <= kinds, found
    assert any(f.startswith("caption of 91 words") for f in found)
    assert sum(f.startswith("NaN/inf") for f in found) == 2


def test_the_scanner_ignores_code_details_navigation_and_ordinary_words():
    good = _PAGE.format(body="The information at infinite d: an infimum, MSE = 0.25 and \\(\\infty\\), with a "
                             "teacher of rank κ* d; a GOE target T; sessile words like reissue are fine.",
                        caption=" ".join(["word"] * 90), details="issue 7: we did not rerun; 5 runs, nan")
    assert problems(good) == []
    text, caps = prose(good)
    assert "How this figure was made" not in text and "nan" not in text
    assert caps == [" ".join(["word"] * 90)]


# ------------------------------------------------------------------------------------------------ the built book
def _built(page: str) -> Path:
    directory = Path(os.environ.get("QNN_BOOK_HTML", ROOT / "_build" / "html"))
    path = directory / f"{page}.html"
    if not path.exists():
        pytest.fail(f"no built page {path}: run  jupyter-book build . -W  (or set QNN_BOOK_HTML)")
    return path


@pytest.mark.browser
@pytest.mark.parametrize("page", toc_pages())
def test_built_prose_speaks_to_readers(page):
    found = problems(_built(page).read_text(encoding="utf-8"))
    assert found == [], f"{page}:\n" + "\n".join(found)


@pytest.mark.browser
def test_captions_are_short_across_the_book():
    counts = [captions.word_count(c) for page in toc_pages()
              for c in prose(_built(page).read_text(encoding="utf-8"))[1]]
    assert len(counts) >= 40, f"only {len(counts)} captions found"
    print(f"{len(counts)} captions: median {statistics.median(counts)} words, max {max(counts)}")
    assert max(counts) <= MAX_CAPTION_WORDS
    assert statistics.median(counts) <= captions.CAPTION_WORDS
