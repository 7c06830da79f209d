"""A rebuilt book shows the figure data on disk (book/_ext/qnn_data.py), or the build stops with the command.

Builds a one-page book (with the site's ``qnn_data`` extension, jupyter-book's execution cache as in
``_config.yml``) whose page prints a digest of the results it reads from a copy of a figure cache, then:

1. builds it: the page shows the digest of the cache on disk;
2. regenerates the cache (changed numbers, valid checksum) and rebuilds without touching the page: the page shows
   the new digest (it was executed again: its execution-cache key contains the data's checksum);
3. rebuilding again changes nothing and executes nothing;
4. damages the cache (a number edited, checksum left as it was) and rebuilds: the build fails, naming the command
   that regenerates the cache.

The page reads the cache under a name computed at run time (``"dyn_" + "fig10"``), so only the record of what
the page's last execution read (``QNN_DATA_READS``) can tie the page to the file.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from qnn.figdata.store import checksum

ROOT = Path(__file__).resolve().parents[1]
NAME = "dyn_fig10"
JUPYTER_BOOK = Path(sys.executable).parent / "jupyter-book"

PAGE = textwrap.dedent('''\
    ---
    jupytext:
      text_representation:
        extension: .md
        format_name: myst
        format_version: 0.13
    kernelspec:
      display_name: Python 3
      language: python
      name: python3
    ---

    # Data page

    ```{code-cell} ipython3
    import hashlib, json
    from qnn import figdata
    data = figdata.load("dyn_" + "fig10")
    print("DIGEST", hashlib.sha256(json.dumps(data.results, sort_keys=True).encode()).hexdigest())
    ```
    ''')


def _digest(path: Path) -> str:
    results = json.loads(path.read_text())["results"]
    return hashlib.sha256(json.dumps(results, sort_keys=True).encode()).hexdigest()


def _build(book: Path, data: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "QNN_DATA_DIR": str(data), "PYTHONPATH": str(ROOT)}
    return subprocess.run([str(JUPYTER_BOOK), "build", str(book)], env=env, capture_output=True, text=True,
                          timeout=900)


def _shown(book: Path) -> str:
    html = (book / "_build" / "html" / "page.html").read_text()
    start = html.index("DIGEST ") + len("DIGEST ")
    return html[start:start + 64]


def _scale_first_number(payload: dict, factor: float) -> None:
    result = payload["results"][0]
    key = next(k for k, v in result.items() if isinstance(v, float) and v != 0.0)
    result[key] *= factor


@pytest.mark.slow
def test_a_rebuilt_page_follows_its_data(tmp_path):
    if not JUPYTER_BOOK.exists():
        pytest.fail(f"{JUPYTER_BOOK} not found (pip install -r requirements.txt)")
    book, data = tmp_path / "book", tmp_path / "data"
    book.mkdir()
    data.mkdir()
    cache = data / f"{NAME}.json"
    shutil.copy(ROOT / "book" / "data" / f"{NAME}.json", cache)
    (book / "page.md").write_text(PAGE)
    (book / "_toc.yml").write_text("format: jb-book\nroot: page\n")
    (book / "_config.yml").write_text(textwrap.dedent(f"""\
        title: stale-page test
        only_build_toc_files: true
        execute:
          execute_notebooks: cache
          allow_errors: false
        sphinx:
          local_extensions:
            qnn_data: {ROOT / "book" / "_ext"}
          config:
            nb_execution_raise_on_error: true
        """))

    first = _build(book, data)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert _shown(book) == _digest(cache)

    payload = json.loads(cache.read_text())  # "regenerated": other numbers, a valid checksum
    _scale_first_number(payload, 1.25)
    payload["checksum"] = checksum(payload)
    cache.write_text(json.dumps(payload))
    second = _build(book, data)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert _shown(book) == _digest(cache), "the rebuilt page still shows the old data"
    assert "Executing notebook" in second.stdout + second.stderr

    third = _build(book, data)  # nothing changed: nothing is executed
    assert third.returncode == 0
    assert "Executing notebook" not in third.stdout + third.stderr

    payload = json.loads(cache.read_text())  # damaged: a number edited, the checksum left as it was
    _scale_first_number(payload, 2.0)
    cache.write_text(json.dumps(payload))
    fourth = _build(book, data)
    output = fourth.stdout + fourth.stderr
    assert fourth.returncode != 0, "a cache with a broken checksum built with exit status 0"
    assert "fails its checksum" in output and f"python -m qnn data {NAME}" in output, output[-3000:]
