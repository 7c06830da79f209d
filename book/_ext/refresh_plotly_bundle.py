"""Refresh the vendored plotly.js bundle of the book's site (``book/_ext/vendor/plotly.js-cartesian-dist-min/``).

The site serves plotly.js's *cartesian* bundle (the trace types of every figure of the book, about 1.5 MB instead
of the full 4.8 MB bundle). It is vendored so that the book builds on a machine whose only network is the package
registries, and it must be the plotly.js version of the installed plotly Python package (the figures' JSON is
written for that version; ``book/_ext/qnn_site.py`` stops the build on a mismatch and names this script).

Run after upgrading plotly, from the repository root (needs ``npm``, which reads the npm registry)::

    .venv/bin/python book/_ext/refresh_plotly_bundle.py

It runs ``npm pack plotly.js-cartesian-dist-min@VERSION`` with ``VERSION = plotly.offline.get_plotlyjs_version()``,
checks the tarball against the registry's integrity hash (npm does) and its banner and trace list, and replaces the
vendored files (bundle, LICENSE, README.md, package.json) in one move.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

PACKAGE = "plotly.js-cartesian-dist-min"
BUNDLE = "plotly-cartesian.min.js"
FILES = (BUNDLE, "LICENSE", "README.md", "package.json")
VENDOR = Path(__file__).resolve().parent / "vendor" / PACKAGE
#: how plotly.js registers a trace module (the bundle's own list of trace types; read by qnn_site too)
TRACE_MODULE = re.compile(r'moduleType:"trace",name:"([a-z0-9]+)"')


def installed_plotlyjs_version() -> str:
    """The plotly.js version shipped by the installed plotly Python package."""
    from plotly.offline import get_plotlyjs_version

    return get_plotlyjs_version()


def refresh(version: str | None = None, vendor: Path = VENDOR) -> Path:
    """Download ``PACKAGE@version`` with npm and replace the files in ``vendor``; returns ``vendor``."""
    version = version or installed_plotlyjs_version()
    if not re.fullmatch(r"\d+\.\d+\.\d+", version):
        raise ValueError(f"version must look like 4.1.1, got {version!r}")
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit("npm not found: install Node.js's npm (apt-get install npm) to refresh the bundle")
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        subprocess.run([npm, "pack", f"{PACKAGE}@{version}", "--silent"], cwd=work, check=True)
        (tarball,) = work.glob("*.tgz")
        with tarfile.open(tarball) as archive:
            archive.extractall(work, filter="data")
        package = work / "package"
        meta = json.loads((package / "package.json").read_text())
        bundle = (package / BUNDLE).read_text(encoding="utf-8")
        if meta.get("version") != version or f"v{version}" not in bundle[:300]:
            raise SystemExit(f"{tarball.name}: not version {version} (package.json says {meta.get('version')})")
        if "scatter" not in TRACE_MODULE.findall(bundle):
            raise SystemExit(f"{tarball.name}: no scatter trace module found in {BUNDLE}")
        staged = vendor.with_name(vendor.name + ".new")
        shutil.rmtree(staged, ignore_errors=True)
        staged.mkdir(parents=True)
        for name in FILES:
            shutil.copy2(package / name, staged / name)
        old = vendor.with_name(vendor.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        if vendor.exists():
            vendor.rename(old)
        staged.rename(vendor)
        shutil.rmtree(old, ignore_errors=True)
    print(f"{PACKAGE} {version}: {(vendor / BUNDLE).stat().st_size / 1e6:.2f} MB, trace types "
          f"{', '.join(sorted(set(TRACE_MODULE.findall((vendor / BUNDLE).read_text(encoding='utf-8')))))}")
    return vendor


if __name__ == "__main__":
    refresh(sys.argv[1] if len(sys.argv) > 1 else None)
