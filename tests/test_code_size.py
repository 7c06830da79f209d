"""Size limits of the package (issue 15; CONTRIBUTING.md): a module of ``qnn`` holds at most 600 lines and a
function (or method) at most 80, docstring included, so that every piece reads on one screen or two."""
from __future__ import annotations

import ast
import pathlib

MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 80
PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "qnn"


def _modules() -> list[pathlib.Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_the_package_is_found():
    assert len(_modules()) > 20


def test_no_module_over_the_line_limit():
    long = {str(p.relative_to(PACKAGE)): n for p in _modules()
            if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES}
    assert long == {}, f"modules over {MAX_MODULE_LINES} lines: {long}"


def test_no_function_over_the_line_limit():
    long = {}
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_FUNCTION_LINES:
                    long[f"{path.relative_to(PACKAGE)}:{node.name}"] = n
    assert long == {}, f"functions over {MAX_FUNCTION_LINES} lines: {long}"
