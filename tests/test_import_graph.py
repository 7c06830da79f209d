"""The ``qnn`` package has no import cycle (issue 15), counting every import statement, also those inside
functions (a deferred import hides a cycle from Python but not from a reader).

The graph is built from the source with :mod:`ast`: one node per module of the package; an edge ``a -> b`` when
``a`` holds ``import qnn.b``, ``from qnn.b import x``, ``from .b import x`` or ``from . import b`` (``b`` a
module), at any depth of its code. ``from . import name`` where ``name`` is not a module is an edge to the package
itself. A module's implicit import of its parent packages is not an edge (a package importing its own submodules
is how packages work).
"""
from __future__ import annotations

import ast
import graphlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "qnn"


def _module_names(root: Path) -> dict[str, Path]:
    names = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join(parts)] = path
    return names


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute name of the module ``from ... import`` reads from."""
    if node.level == 0:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[:len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """Module -> the modules of the package at ``root`` that it imports (anywhere in its source)."""
    modules = _module_names(root)
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                source = _resolve(name, path.name == "__init__.py", node)
                targets = [f"{source}.{alias.name}" if f"{source}.{alias.name}" in modules else source
                           for alias in node.names]
            else:
                continue
            for target in targets:
                while target and target not in modules:      # import qnn.a.b.x where only qnn.a.b is a module
                    target = target.rpartition(".")[0]
                if target and target != name:
                    graph[name].add(target)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` (its modules, the first repeated at the end), or None."""
    try:
        tuple(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as error:
        return list(error.args[1])
    return None


def test_the_graph_catches_a_cycle_through_a_deferred_import(tmp_path):
    """The check can fail: a cycle closed by an import inside a function, across a subpackage, is found."""
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("from .a import x\n")
    (package / "a.py").write_text("from .sub.c import y\nx = 1\n")
    (package / "sub" / "__init__.py").write_text("")
    (package / "sub" / "c.py").write_text("y = 2\n\ndef f():\n    from .. import b\n    return b\n")
    (package / "b.py").write_text("import pkg.a\n")
    graph = import_graph(package)
    assert graph["pkg"] == {"pkg.a"} and graph["pkg.a"] == {"pkg.sub.c"} and graph["pkg.sub.c"] == {"pkg.b"}
    assert graph["pkg.b"] == {"pkg.a"}
    assert set(find_cycle(graph)) == {"pkg.a", "pkg.sub.c", "pkg.b"}
    (package / "b.py").write_text("z = 3\n")                       # the cycle broken: none reported
    assert find_cycle(import_graph(package)) is None


def test_graph_of_qnn_sees_its_imports():
    graph = import_graph()
    assert len(graph) >= 20
    assert "qnn.conventions" in graph["qnn.simulation"]
    assert "qnn.apps.base" in graph["qnn.apps.double_descent"]                 # relative, inside a subpackage
    assert "qnn.thresholds" in graph["qnn.apps.threshold_lines"]                # from .. import thresholds


def test_no_import_cycle_in_qnn():
    cycle = find_cycle(import_graph())
    assert cycle is None, f"import cycle in qnn: {' -> '.join(cycle)}"


def test_theory_layers_import_downward():
    """Layering (issue 15): the equations at given (xi, q) sit below both qnn.fixed_point and qnn.thresholds;
    thresholds does not reach up into fixed_point, nor the equations into thresholds (cycles: test above)."""
    graph = import_graph()
    assert "qnn.fixed_point" not in graph["qnn.thresholds"]
    assert "qnn.thresholds" not in graph["qnn.fixed_point_equations"]
    assert "qnn.fixed_point_equations" in graph["qnn.thresholds"]
