#!/usr/bin/env bash
# A bare `pip install .` (declared dependencies only, no requirements file) in a fresh venv outside the checkout:
# every module of qnn must import and `python -m qnn data --list` must list the figures.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
PYTHON=${PYTHON:-python3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
$PYTHON -m venv "$tmp/venv"
mkdir "$tmp/src" && cp -r "$repo/qnn" "$repo/pyproject.toml" "$tmp/src/"  # build there, not in the checkout
find "$tmp/src" -name __pycache__ -prune -exec rm -rf {} +
"$tmp/venv/bin/pip" install -q "$tmp/src"
cd "$tmp"  # import the installed package, not the source tree
"$tmp/venv/bin/python" - <<'PY'
import importlib, pkgutil, qnn
names = [m.name for m in pkgutil.walk_packages(qnn.__path__, "qnn.")]
for name in names:
    importlib.import_module(name)
assert "site-packages" in qnn.__file__, qnn.__file__
print(f"imported {len(names) + 1} qnn modules from {qnn.__file__}")
PY
"$tmp/venv/bin/python" -m qnn data --list > "$tmp/list.txt"
test "$(grep -c . "$tmp/list.txt")" -ge 10 || { echo "error: data --list printed too few figures"; cat "$tmp/list.txt"; exit 1; }
echo "python -m qnn data --list: $(grep -c . "$tmp/list.txt") figures"
