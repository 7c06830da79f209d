"""Sphinx extension: serve MathJax 3 from the built site instead of a CDN (the book works offline).

The MathJax files come from the PyPI package ``django-static-mathjax`` (a plain copy of MathJax 3.2.2, no
Django needed; it is in requirements.txt). Only the single-file TeX->CHTML component and its web fonts are
copied into ``_static/mathjax/`` (about 1.6 MB per site); ``_config.yml`` points ``mathjax_path`` at it.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.errors import ExtensionError

#: Files of the MathJax es5 distribution the book needs (relative to ``es5/``).
NEEDED = ("tex-chtml.js", "output/chtml/fonts/woff-v2")


def _mathjax_es5() -> Path:
    try:
        import mathjax  # the django-static-mathjax package
    except ImportError:
        raise ExtensionError("offline MathJax needs the package django-static-mathjax "
                             "(pip install -r requirements.txt)") from None
    es5 = Path(mathjax.__file__).parent / "static" / "mathjax" / "es5"
    if not (es5 / NEEDED[0]).exists():
        raise ExtensionError(f"MathJax files not found in {es5}")
    return es5


def _stage(app: Sphinx) -> None:
    es5 = _mathjax_es5()
    staging = Path(app.doctreedir).parent / "qnn_static"
    target = staging / "mathjax"
    for relative in NEEDED:
        source, destination = es5 / relative, target / relative
        if destination.exists():
            continue
        destination.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, destination)
        else:
            shutil.copy2(source, destination)
    app.config.html_static_path = [*app.config.html_static_path, str(staging)]


def setup(app: Sphinx) -> dict:
    app.connect("builder-inited", _stage)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
