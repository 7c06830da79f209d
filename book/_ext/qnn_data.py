"""Sphinx extension: a rebuilt book always shows the figure data on disk (``book/data``), or stops and says why.

jupyter-book re-executes a page only when its own text changes (the execution cache is keyed by the code cells).
Without this extension a page whose cache ``book/data/NAME.json`` was regenerated kept its old figure, and a cache
with a broken checksum built with exit status 0 as long as no page had to be executed. Three mechanisms:

1. **Every cache is validated when the build starts** (:func:`validate_caches`: :func:`qnn.figdata.load` of every
   registered figure whose file exists: checksum, schema, code version, task list). A damaged or stale cache stops
   the build with the command that regenerates it.
2. **A page's execution-cache key includes the checksums of the data it reads.** When Sphinx reads a page, a
   hidden (``remove-cell``) code cell listing the SHA-256 of every data file the page reads is appended to its
   source (:func:`data_cell`); the execution cache is keyed by the code cells, so new data means a new key and the
   page is executed again.
3. **Sphinx re-reads a page when a data file it reads changes**: the files are registered as the page's
   dependencies (``env.dependencies``), so a newer file makes the page outdated.

Which files a page reads: the names it quotes (``figdata.load("fig2")`` -> ``book/data/fig2.json``; a quoted folder
such as ``"data/dmft"`` -> every file in it), plus every file that :func:`qnn.figdata.load` actually read during
the page's last execution (recorded through the environment variable ``QNN_DATA_READS``, which the kernels inherit:
this catches data read inside the package, e.g. ``gf_check`` by ``flow_check_note``). The records live in
``<doctrees>/qnn_data/``.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.errors import ExtensionError

_QUOTED = re.compile(r"""["']([\w./-]+)["']""")
MARKER = "# qnn_data: the data files this page reads"


def data_dir() -> Path:
    from qnn.figdata import default_data_dir

    return default_data_dir().resolve()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def quoted_data_files(source: str, directory: Path) -> set[Path]:
    """The data files that ``source`` names: ``"NAME"`` with ``directory/NAME.json`` present, or a quoted folder
    (``"data/dmft"``, ``"dmft"``) inside ``directory`` (all its files)."""
    found: set[Path] = set()
    for text in set(_QUOTED.findall(source)):
        stem = text.split("data/", 1)[1] if "data/" in text else text
        if not stem or stem.startswith(("/", ".")):
            continue
        candidate = directory / f"{stem}.json"
        if candidate.is_file():
            found.add(candidate)
        folder = directory / stem
        if folder.is_dir():
            found.update(p for p in folder.rglob("*") if p.is_file())
    return found


def data_cell(paths: set[Path]) -> str:
    """A hidden code cell listing ``paths`` with their SHA-256 (appended to a page's MyST source)."""
    lines = [f"# {path.name} sha256:{sha256(path)}" if path.exists() else f"# {path.name} missing"
             for path in sorted(paths)]
    return "\n\n```{code-cell} ipython3\n:tags: [remove-cell]\n" + MARKER + "\n" + "\n".join(lines) + "\n```\n"


def validate_caches(directory: Path) -> list[str]:
    """The error message of every registered figure whose cache in ``directory`` fails :func:`qnn.figdata.load`."""
    from qnn.figdata import CacheError, load, registry

    problems = []
    for name in sorted(registry()):
        if (directory / f"{name}.json").exists():
            try:
                load(name, data_dir=None if directory == data_dir() else directory)
            except CacheError as error:
                problems.append(str(error))
    return problems


def _records(app: Sphinx) -> Path:
    folder = Path(app.doctreedir) / "qnn_data"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _record_file(app: Sphinx, docname: str, suffix: str) -> Path:
    return _records(app) / (docname.replace("/", "__") + suffix)


def _recorded(app: Sphinx, docname: str) -> set[Path]:
    record = _record_file(app, docname, ".json")
    if not record.exists():
        return set()
    return {Path(p) for p in json.loads(record.read_text())}


def _validate(app: Sphinx) -> None:
    problems = validate_caches(data_dir())
    if problems:
        raise ExtensionError("the book's figure data is damaged or stale:\n  " + "\n  ".join(problems))


def _source_read(app: Sphinx, docname: str, source: list[str]) -> None:
    if "```{code-cell}" not in source[0]:
        return
    paths = quoted_data_files(source[0], data_dir()) | _recorded(app, docname)
    reads = _record_file(app, docname, ".reads")
    reads.unlink(missing_ok=True)
    # the kernel that executes this page (started while Sphinx parses it) inherits this: qnn.figdata.load
    # appends every file it reads to it
    os.environ["QNN_DATA_READS"] = str(reads)
    if paths:
        source[0] = source[0].rstrip("\n") + "\n" + data_cell(paths)


def _doctree_read(app: Sphinx, doctree) -> None:
    docname = app.env.docname
    reads = _record_file(app, docname, ".reads")
    os.environ.pop("QNN_DATA_READS", None)
    if reads.exists():  # the page was executed: what it read replaces the previous record
        read = sorted({line.strip() for line in reads.read_text().splitlines() if line.strip()})
        record = _record_file(app, docname, ".json")
        temporary = record.with_suffix(".tmp")
        temporary.write_text(json.dumps(read))
        os.replace(temporary, record)
        reads.unlink()
    source = Path(app.env.doc2path(docname)).read_text()
    for path in quoted_data_files(source, data_dir()) | _recorded(app, docname):
        app.env.dependencies[docname].add(str(path))


def setup(app: Sphinx) -> dict:
    app.connect("builder-inited", _validate)
    app.connect("source-read", _source_read)
    app.connect("doctree-read", _doctree_read)
    return {"parallel_read_safe": False, "parallel_write_safe": True, "env_version": 1}
