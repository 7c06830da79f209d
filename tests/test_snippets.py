"""The code a reader copies from the book works as printed.

* Every ``qnn.x.y`` named anywhere in the pages (``book/**/*.md``), the app notebooks (``apps/*.md``), the README
  and CONTRIBUTING resolves after a plain ``import qnn`` (attribute by attribute, in a fresh interpreter).
* Every inline code snippet of the pages and the README that is a Python call with actual values (e.g.
  ``qnn.longtime.fixed_point.fixed_point(qnn.Setting(alpha=0.3, kappa=0.4, kappa_star=0.3, lam=20))``) is
  evaluated exactly as printed after ``import qnn`` (in a fresh interpreter). Call *signatures* such as
  ``qnn.dmft(...)`` or ``qnn.Setting(alpha, kappa, kappa_star, noise, lam, gamma)`` (only ``...``, bare parameter
  names or an upper-case placeholder such as ``"NAME"`` as arguments) are not snippets and are listed by
  :func:`classify`.
* Every ``python -m ...`` command the pages print names an importable module; ``python -m qnn data FIG ...`` and
  ``python -m qnn voila APP`` name registered figures and apps; commands that only list (``--list``) are run as
  printed.
"""
from __future__ import annotations

import ast
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = sorted([*(ROOT / "book").rglob("*.md"), *(ROOT / "apps").glob("*.md"), ROOT / "README.md",
                    ROOT / "CONTRIBUTING.md"])
#: documents whose inline snippets and commands a reader runs (CONTRIBUTING's recipes are templates to copy)
READER_DOCUMENTS = [p for p in DOCUMENTS if p.name != "CONTRIBUTING.md" and "_build" not in p.parts]
REFERENCE = re.compile(r"(?<![\w./-])qnn(?:\.[A-Za-z_]\w*)+")
CODE_CELL = re.compile(r"```\{code-cell\}.*?\n```", re.S)
FENCED = re.compile(r"^ *```(\w*)\n(.*?)^ *```", re.S | re.M)
INLINE = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")
COMMAND = re.compile(r"python3? -m ([\w.]+)([^`#\n]*)")


def _relative(path: Path) -> str:
    return str(path.relative_to(ROOT))


def references() -> dict[str, list[str]]:
    """Every dotted ``qnn.x.y`` name in :data:`DOCUMENTS`, with the files naming it."""
    found: dict[str, set[str]] = {}
    for path in DOCUMENTS:
        for match in REFERENCE.finditer(path.read_text()):
            found.setdefault(match.group(), set()).add(_relative(path))
    return {name: sorted(files) for name, files in sorted(found.items())}


def _run_python(code: str, timeout: float = 300) -> dict:
    """Run ``code`` in a fresh interpreter (the repository importable); it prints one JSON object."""
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


_RESOLVE = """
import json, sys
import qnn
failures = {}
for name in json.loads(sys.argv[1] if len(sys.argv) > 1 else %r):
    obj = qnn
    for part in name.split(".")[1:]:
        try:
            obj = getattr(obj, part)
        except AttributeError as error:
            failures[name] = f"{type(error).__name__}: {error}"
            break
print(json.dumps(failures))
"""


def unresolved(names: list[str]) -> dict[str, str]:
    """The names of ``names`` that do not resolve after ``import qnn``, with the error."""
    return _run_python(_RESOLVE % json.dumps(names))


def test_reference_check_can_fail():
    # the example: qnn.fixed_point is the re-exported function, not the module
    assert set(unresolved(["qnn.fixed_point.xi_branch", "qnn.longtime.fixed_point.xi_branch"])) == {
        "qnn.fixed_point.xi_branch"}


def test_every_qnn_name_in_the_book_resolves_after_import_qnn():
    names = references()
    assert len(names) > 30
    failures = unresolved(list(names))
    assert failures == {}, "\n".join(f"{name} ({', '.join(names[name])}): {error}"
                                     for name, error in failures.items())


def _prose(text: str) -> str:
    """The text of a page without its code cells and fenced blocks (what remains: prose and inline code)."""
    return FENCED.sub("", CODE_CELL.sub("", text))


def classify(span: str) -> str | None:
    """``"snippet"`` (a call with actual values: run it), ``"signature"`` (arguments are ``...``, bare names or
    upper-case placeholders) or ``None`` (not a Python call)."""
    try:
        tree = ast.parse(span, mode="eval")
    except SyntaxError:
        return None
    calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call)]
    if not calls:
        return None

    def placeholder(node: ast.expr) -> bool:
        return (isinstance(node, ast.Name) or (isinstance(node, ast.Constant) and node.value is Ellipsis)
                or (isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.isupper()))

    arguments = [arg for call in calls for arg in [*call.args, *(k.value for k in call.keywords)]]
    if any(placeholder(arg) for arg in arguments) or not arguments:
        return "signature"
    return "snippet"


def inline_code(kind: str) -> list[tuple[str, str]]:
    """``(file, span)`` of every inline code span of :data:`READER_DOCUMENTS` classified as ``kind``."""
    return [(_relative(path), match.group(1)) for path in READER_DOCUMENTS
            for match in INLINE.finditer(_prose(path.read_text())) if classify(match.group(1)) == kind]


def test_classify():
    assert classify("qnn.fixed_point(qnn.Setting(alpha=0.3, kappa=0.4, kappa_star=0.3))") == "snippet"
    assert classify("thresholds.alpha_pr_plus(0.3, 0.3)") == "snippet"
    assert classify("qnn.dmft(...)") == "signature"
    assert classify("qnn.Setting(alpha, kappa, kappa_star, noise, lam, gamma)") == "signature"
    assert classify('qnn.figdata.load("NAME")') == "signature"
    assert classify("python -m qnn data") is None and classify("qnn.mean_field") is None


_EVALUATE = """
import json
import qnn
failures = {}
for span in json.loads(%r):
    try:
        value = eval(span, {"qnn": qnn})
        repr(value)
    except Exception as error:  # every failure is reported, with its type
        failures[span] = f"{type(error).__name__}: {error}"
print(json.dumps(failures))
"""


def test_every_inline_snippet_runs_as_printed():
    snippets = inline_code("snippet")
    assert len(snippets) >= 3, snippets
    failures = _run_python(_EVALUATE % json.dumps(sorted({span for _, span in snippets})))
    where = {span: file for file, span in snippets}
    assert failures == {}, "\n".join(f"{where[span]}: `{span}` -> {error}" for span, error in failures.items())


def commands() -> list[tuple[str, str, list[str]]]:
    """``(file, module, arguments)`` of every ``python -m MODULE ...`` command in :data:`READER_DOCUMENTS`
    (inline code and fenced bash/text blocks)."""
    found = []
    for path in READER_DOCUMENTS:
        text = CODE_CELL.sub("", path.read_text())
        pieces = [m.group(1) for m in INLINE.finditer(FENCED.sub("", text))]
        pieces += [block for lang, block in FENCED.findall(text) if lang in ("", "bash", "text", "console")]
        for piece in pieces:
            for line in piece.splitlines():
                for match in COMMAND.finditer(line.split("&&")[-1] if "&&" in line else line):
                    arguments = shlex.split(match.group(2).split("|")[0])
                    found.append((_relative(path), match.group(1), arguments))
    return found


def test_every_printed_command_names_what_exists():
    from qnn.apps.launcher import APPS
    from qnn.figdata import registry

    found = commands()
    assert any(module == "qnn" and args[:1] == ["data"] for _, module, args in found)
    figures, problems, listing = set(registry()), [], set()
    for file, module, args in found:
        status = _run_python(f"import importlib.util, json; print(json.dumps(importlib.util.find_spec({module!r}) "
                             "is not None))", timeout=60) if module != "qnn" else True
        if not status:
            problems.append(f"{file}: python -m {module}: no such module")
            continue
        if module != "qnn" or not args:
            continue
        names = [a for a in args[1:] if not a.startswith("-") and not re.search(r"[\[\]]|\.\.\.", a)
                 and not a.isupper() and not re.fullmatch(r"[\d.]+|\S*[/:]\S*", a)]
        options_with_values = {"--jobs", "--d", "--reps", "--port", "--out", "--scheduler", "--check-seed",
                               "--recompute"}
        names = [a for i, a in enumerate(args[1:], 1) if a in names and args[i - 1] not in options_with_values]
        if args[0] == "data":
            problems += [f"{file}: python -m qnn data {name}: no such figure" for name in names
                         if name not in figures]
        elif args[0] == "voila":
            problems += [f"{file}: python -m qnn voila {name}: no such app" for name in names if name not in APPS]
        else:
            problems.append(f"{file}: python -m qnn {' '.join(args)}: unknown command")
        if args[1:] == ["--list"]:
            listing.add(tuple(args))
    assert problems == [], "\n".join(problems)
    for args in sorted(listing):  # read-only commands: run as printed
        result = subprocess.run([sys.executable, "-m", "qnn", *args], cwd=ROOT, capture_output=True, text=True,
                                timeout=300)
        assert result.returncode == 0 and result.stdout.strip(), (args, result.stderr[-1000:])


@pytest.mark.parametrize("span", ["qnn.fixed_point.fixed_point(qnn.Setting(alpha=0.3, kappa=0.4, kappa_star=0.3))"])
def test_snippet_check_can_fail(span):
    failures = _run_python(_EVALUATE % json.dumps([span]))
    assert failures[span].startswith("AttributeError")
