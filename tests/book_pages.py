"""The pages of the book, read from its table of contents (shared by the structure, prose and browser tests)."""
from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def toc_pages(toc_path: Path = ROOT / "_toc.yml") -> list[str]:
    """Every page (``root`` and ``file`` entries, without extension) of a Jupyter Book table of contents, in order."""
    toc = yaml.safe_load(toc_path.read_text())
    pages = [toc["root"]]

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                pages.append(node["file"])
            for key in ("parts", "chapters", "sections"):
                walk(node.get(key) or [])
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk({k: v for k, v in toc.items() if k in ("parts", "chapters", "sections")})
    return [str(Path(p).with_suffix("")) for p in pages]
