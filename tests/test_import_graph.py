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
    assert "qnn.conventions" in graph["qnn.simulation.gradient_flow"]
    assert "qnn.apps.base" in graph["qnn.apps.double_descent"]                 # relative, inside a subpackage
    assert "qnn.longtime.thresholds" in graph["qnn.apps.threshold_lines"]      # from ..longtime import thresholds


def test_no_import_cycle_in_qnn():
    cycle = find_cycle(import_graph())
    assert cycle is None, f"import cycle in qnn: {' -> '.join(cycle)}"


# The layers of the package, bottom to top (CONTRIBUTING.md draws the same map). A module may import its own
# subpackage's modules (cycles are caught above) and any layer strictly below its own; never a layer at or above.
LAYERS: dict[str, int] = {
    "qnn.conventions": 0,
    "qnn.spectra": 1, "qnn.simulation": 1,          # spectral laws | finite-d simulation (independent of theory)
    "qnn.longtime": 2, "qnn.mean_field": 2,         # long-time fixed point, thresholds | the DMFT and its check
    "qnn.optimal": 3,                               # Bayes-optimal error (uses the threshold alpha_BO)
    "qnn.plotting": 4, "qnn.figdata": 4,            # the book layer: figure style, captions, tables | figure data
    "qnn.figures": 5,                               # what each figure computes and draws
    "qnn.apps": 6,                                  # Voila apps and their launcher
    "qnn.__main__": 7,                              # the command line
}


# The one import that points up, on purpose: the figure registry (figdata) discovers the figure modules (its
# plugins, which register themselves with figdata's decorator) by importing qnn.figures on first use.
PLUGIN_DISCOVERY = {("qnn.figdata.specs", "qnn.figures")}


def layer_of(module: str) -> str:
    """The layer (a subpackage or top-level module of LAYERS) that ``module`` belongs to."""
    for name in sorted(LAYERS, key=len, reverse=True):
        if module == name or module.startswith(name + "."):
            return name
    raise KeyError(f"{module} is in no layer of LAYERS: add its subpackage there and to CONTRIBUTING.md")


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    """Every import that points to the same or a higher layer (outside the module's own subpackage)."""
    bad = []
    for module, targets in graph.items():
        if module == "qnn":
            continue                                  # the package root re-exports the public API of every layer
        for target in targets:
            source_layer, target_layer = layer_of(module), layer_of(target) if target != "qnn" else None
            if target_layer is None:
                bad.append(f"{module} -> qnn (import from the subpackage instead)")
            elif (module, target) in PLUGIN_DISCOVERY:
                continue
            elif source_layer != target_layer and LAYERS[target_layer] >= LAYERS[source_layer]:
                bad.append(f"{module} ({source_layer}, {LAYERS[source_layer]}) -> {target} "
                           f"({target_layer}, {LAYERS[target_layer]})")
    return bad


def test_every_module_belongs_to_a_layer():
    for module in import_graph():
        if module != "qnn":
            layer_of(module)


def test_imports_point_down_the_layers():
    bad = upward_imports(import_graph())
    assert not bad, "imports that point up or sideways:\n" + "\n".join(bad)


def test_the_layer_check_can_fail():
    graph = {"qnn.spectra.laws": {"qnn.longtime.equations"}, "qnn.longtime.equations": set(),
             "qnn.simulation.data": {"qnn.spectra.laws"}, "qnn.figures.x": {"qnn.simulation.data"}}
    assert upward_imports(graph) == ["qnn.spectra.laws (qnn.spectra, 1) -> qnn.longtime.equations (qnn.longtime, 2)",
                                     "qnn.simulation.data (qnn.simulation, 1) -> qnn.spectra.laws (qnn.spectra, 1)"]


def test_theory_layers_import_downward():
    """Inside the long-time theory: the equations at given (xi, q) sit below both the public fixed point and the
    thresholds; thresholds does not reach up into the fixed point, nor the equations into thresholds."""
    graph = import_graph()
    assert "qnn.longtime.fixed_point" not in graph["qnn.longtime.thresholds"]
    assert "qnn.longtime.thresholds" not in graph["qnn.longtime.equations"]
    assert "qnn.longtime.equations" in graph["qnn.longtime.thresholds"]


def test_the_tree_shows_the_architecture():
    """Issue 25: at least 4 subpackages, at most 5 plain modules at the top besides __init__ and __main__."""
    root = Path(__file__).resolve().parents[1] / "qnn"
    subpackages = [p.name for p in root.iterdir() if (p / "__init__.py").exists()]
    plain = [p.name for p in root.glob("*.py") if p.name not in ("__init__.py", "__main__.py")]
    assert len(subpackages) >= 4, subpackages
    assert len(plain) <= 5, plain
    assert set(LAYERS) == {f"qnn.{name}" for name in subpackages} | {f"qnn.{Path(n).stem}" for n in plain} | {
        "qnn.__main__"}, "LAYERS must name every subpackage and top-level module"


def _packages(root: Path = ROOT) -> list[str]:
    return sorted(name for name, path in _module_names(root).items() if path.name == "__init__.py")


def test_no_submodule_is_shadowed_by_a_reexported_name():
    """Wherever ``P/X.py`` or ``P/X/`` exists, ``P.X`` (after ``import P``) is that module, not a function or a
    class re-exported under the same name (issue 25: ``qnn.fixed_point`` was a function hiding the module)."""
    import importlib
    import types

    modules = _module_names(ROOT)
    shadowed = []
    for package in _packages():
        obj = importlib.import_module(package)
        for name in modules:
            parent, _, leaf = name.rpartition(".")
            if parent == package and hasattr(obj, leaf):
                value = getattr(obj, leaf)
                if not (isinstance(value, types.ModuleType) and value.__name__ == name):
                    shadowed.append(f"{name} is shadowed by {value!r}")
    assert not shadowed, "\n".join(shadowed)


def test_public_api_after_import_qnn():
    """The names the README and the book use at the top level work after a plain ``import qnn``."""
    import qnn
    import qnn.mean_field.validation

    for name in ["Setting", "fixed_point", "fixed_point_curve", "xi_branch", "estimator_density", "simulate",
                 "train_to_convergence", "dmft", "DMFTResult", "bayes_optimal", "bayes_optimal_curve", "oja_flow",
                 "estimate_threshold"]:
        assert callable(getattr(qnn, name)), name
    assert callable(qnn.longtime.fixed_point.xi_branch) and callable(qnn.longtime.thresholds.alpha_pr)
    assert callable(qnn.mean_field.validation.compare) and callable(qnn.optimal.bayes.bayes_optimal)
