"""Benchmark: clean build of the whole book (the README's main command) and the figure-data cache.

Usage:  .venv/bin/python benchmarks/bench_book.py [--keep]

Builds the book from scratch with ``jupyter-book build . -W`` into a temporary ``--path-output`` folder (so the
shared ``_build/`` is untouched and no execution cache is reused), then rebuilds it once more (cached execution),
and times ``qnn.figdata.load`` of every cached figure. Acceptance (issue 5): a clean build < 5 min on 2 cores.
"""
from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def build(output: Path) -> float:
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    start = time.perf_counter()
    subprocess.run([str(jupyter_book), "build", ".", "-W", "--path-output", str(output)], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep the build folder and print its path")
    args = parser.parse_args()
    from qnn import figdata

    output = Path(tempfile.mkdtemp(prefix="qnn-bench-book-"))
    try:
        clean = build(output)
        cached = build(output)
        html_dir = output / "_build" / "html"
        pages = sorted(p.relative_to(html_dir) for p in (html_dir / "book").glob("*.html"))
        size = sum(p.stat().st_size for p in (output / "_build" / "html").rglob("*") if p.is_file())
    finally:
        if not args.keep:
            shutil.rmtree(output, ignore_errors=True)
    loads = {}
    for name in figdata.registry():
        start = time.perf_counter()
        try:
            figdata.load(name)
        except figdata.CacheError:
            loads[name] = None
            continue
        loads[name] = time.perf_counter() - start
    print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}")
    print(f"pages: {len(pages)} ({', '.join(map(str, pages))}); site size {size / 2**20:.1f} MiB")
    print(f"clean build (-W, executes every page): {clean:.1f} s")
    print(f"rebuild (execution cached):            {cached:.1f} s")
    for name, seconds in loads.items():
        print(f"figdata.load({name!r}): " + ("missing/stale" if seconds is None else f"{1e3 * seconds:.1f} ms"))
    if args.keep:
        print(f"build kept at {output}")


if __name__ == "__main__":
    main()
