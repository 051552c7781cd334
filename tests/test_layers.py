"""Imports point down the layers, and no ``sim`` modules import each other in a circle.

The layers, lowest first (a module may import its own layer and the layers below it):

1. **base** -- ``sim.errors``, ``sim.io``, ``sim.stats``, ``sim.kpis`` (the KPI registry),
   ``sim.formats``, ``sim.display`` and the package root ``sim`` (as an import target: its
   eager imports are the standard library alone, every public name loads lazily);
2. **scenario** -- ``sim.scenario``: the schema, distributions, loading, the summary;
3. **engine** -- ``sim.engine``: the SimPy world and its ledger;
4. **measures** -- ``sim.analysis.metrics``, ``sim.analysis.motion``: KPIs and stage
   tables from a ledger;
5. **outputs** -- ``sim.analysis.plots`` (and ``plotting``), ``sim.analysis.export``: figures
   and finance tables made from ledgers and tables, knowing nothing of runs;
6. **experiment parts** -- ``sim.experiment.executors``, ``results``, ``store``: where tasks
   run, what replications give back, the store layer (every store, and a sweep's rows);
7. **experiment** -- the rest of ``sim.experiment``: ``runner``, ``compare``, ``sweep``,
   ``plan`` (and the ``planning`` modules behind it), ``reverse``, ``bench``;
8. **presentation** -- ``sim.analysis`` ``charts``, ``report``, ``diagnose``;
   ``sim.api`` (report and export of results in memory); ``sim.validation``;
   ``sim.calibrate``;
9. **interfaces** -- the ``sim.cli`` package (every command and its options),
   ``sim.__main__``, ``sim.app``, ``sim.docs``.

``sim/__init__.py`` is exempt as an importer (it names every layer's public names and
imports them only when first used). Imports under ``if TYPE_CHECKING:`` may point anywhere
(they never run), but count towards circles: a circle of type hints is a circle of
knowledge all the same. Imports inside functions count for the order, not for circles.

Drawing is the one way up: a function of any layer may import the drawing modules
(:data:`DRAWING`) when called -- a ``.plot()`` method hands its object to them -- but no
module imports them at its top, so loading a lower layer never loads matplotlib.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import ROOT

PACKAGE = ROOT / "sim"

LAYERS: list[tuple[str, tuple[str, ...]]] = [
    (
        "base",
        ("sim", "sim.errors", "sim.io", "sim.stats", "sim.kpis", "sim.formats", "sim.display"),
    ),
    ("scenario", ("sim.scenario",)),
    ("engine", ("sim.engine",)),
    ("measures", ("sim.analysis.metrics", "sim.analysis.motion")),
    ("outputs", ("sim.analysis.plots", "sim.analysis.plotting", "sim.analysis.export")),
    (
        "experiment parts",
        ("sim.experiment.executors", "sim.experiment.results", "sim.experiment.store"),
    ),
    ("experiment", ("sim.experiment",)),
    ("presentation", ("sim.analysis", "sim.api", "sim.validation", "sim.calibrate")),
    ("interfaces", ("sim.cli", "sim.__main__", "sim.app", "sim.docs")),
]
"""Lowest first; a module belongs to the layer of its longest matching prefix (``sim`` itself
matches the package root only)."""

EXEMPT = {"sim"}
"""Importers the order does not apply to (the package root re-exports lazily)."""

DRAWING = {"sim.analysis.plots", "sim.analysis.charts"}
"""Modules any function may import when called (never at a module's top)."""


@dataclass(frozen=True)
class Import:
    """One import of a ``sim`` module by another."""

    source: str
    target: str
    line: int
    in_function: bool
    type_only: bool


def module_name(path: Path) -> str:
    """``sim/experiment/store.py`` -> ``sim.experiment.store``; a package's ``__init__`` is
    the package."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def all_modules() -> dict[str, Path]:
    """Every module under ``sim/``, by dotted name."""
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def layer_of(module: str) -> int:
    """The index in :data:`LAYERS` of ``module``'s layer."""
    best, best_length = -1, -1
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            matches = module == prefix or (prefix != "sim" and module.startswith(prefix + "."))
            if matches and len(prefix) > best_length:
                best, best_length = index, len(prefix)
    assert best >= 0, f"{module} is in no layer: add it to LAYERS"
    return best


def _is_type_checking(test: ast.expr) -> bool:
    if isinstance(test, ast.Name):
        return test.id == "TYPE_CHECKING"
    return isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


class _Collector(ast.NodeVisitor):
    """The ``sim`` imports of one module, with where they sit."""

    def __init__(self, module: str, is_package: bool, known: set[str]) -> None:
        self.module, self.is_package, self.known = module, is_package, known
        self.functions = 0
        self.type_only = False
        self.found: list[Import] = []

    def visit_If(self, node: ast.If) -> None:
        if not _is_type_checking(node.test):
            self.generic_visit(node)
            return
        before, self.type_only = self.type_only, True
        for child in node.body:
            self.visit(child)
        self.type_only = before
        for child in node.orelse:
            self.visit(child)

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.functions += 1
        self.generic_visit(node)
        self.functions -= 1

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(alias.name, node.lineno)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = node.module or ""
        if node.level:
            package = self.module if self.is_package else self.module.rpartition(".")[0]
            for _ in range(node.level - 1):
                package = package.rpartition(".")[0]
            base = f"{package}.{base}" if base else package
        for alias in node.names:
            # ``from sim.analysis import motion`` imports the module sim.analysis.motion
            submodule = f"{base}.{alias.name}"
            self._add(submodule if submodule in self.known else base, node.lineno)

    def _add(self, target: str, line: int) -> None:
        if target != "sim" and not target.startswith("sim."):
            return
        while target not in self.known:  # ``import sim.engine.world as w``: the module
            target = target.rpartition(".")[0]
        self.found.append(Import(self.module, target, line, self.functions > 0, self.type_only))


def imports() -> Iterator[Import]:
    """Every ``sim`` import of every module under ``sim/``."""
    modules = all_modules()
    for name, path in modules.items():
        collector = _Collector(name, path.name == "__init__.py", set(modules))
        collector.visit(ast.parse(path.read_text(encoding="utf-8"), str(path)))
        yield from collector.found


def upward(found: list[Import]) -> list[str]:
    """Each import of a higher layer, as ``source:line imports target (layer < layer)``."""
    wrong = []
    for imp in found:
        if imp.source in EXEMPT or imp.type_only:
            continue
        if imp.in_function and imp.target in DRAWING:
            continue
        source, target = layer_of(imp.source), layer_of(imp.target)
        if target > source:
            wrong.append(
                f"{imp.source}:{imp.line} imports {imp.target} "
                f"({LAYERS[source][0]} imports {LAYERS[target][0]})"
            )
    return wrong


def circles(found: list[Import]) -> list[list[str]]:
    """The import circles among module-level imports: strongly connected components of more
    than one module (Tarjan), each as a closed path ``a -> b -> ... -> a``."""
    graph: dict[str, set[str]] = {}
    for imp in found:
        if imp.in_function or imp.source in EXEMPT or imp.target in EXEMPT:
            continue
        if imp.source != imp.target:
            graph.setdefault(imp.source, set()).add(imp.target)
            graph.setdefault(imp.target, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(_path(graph, set(component)))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return components


def _path(graph: dict[str, set[str]], members: set[str]) -> list[str]:
    """A closed path through a strongly connected component, from its first module back."""
    start = min(members)
    parent: dict[str, str] = {}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for nxt in sorted(graph[node] & members):
            if nxt == start:
                path = [start]
                while node != start:
                    path.insert(1, node)
                    node = parent[node]
                return [*path, start]
            if nxt not in parent:
                parent[nxt] = node
                queue.append(nxt)
    return sorted(members)  # pragma: no cover - a component always closes


def test_every_module_has_a_layer() -> None:
    for name in all_modules():
        layer_of(name)
    with pytest.raises(AssertionError, match="in no layer"):
        layer_of("sim.somewhere_new")


def test_no_module_imports_a_higher_layer() -> None:
    wrong = upward(list(imports()))
    assert not wrong, "imports against the layers:\n" + "\n".join(wrong)


def test_no_import_circle() -> None:
    found = circles(list(imports()))
    assert not found, "import circles:\n" + "\n".join(" -> ".join(c) for c in found)


def test_the_checks_see_what_they_check() -> None:
    """The checkers find an upward import, a circle, and leave type-only imports alone."""
    found = [
        Import("sim.scenario.summary", "sim.engine.staff", 3, False, False),
        Import("sim.engine.world", "sim.experiment.runner", 4, False, True),
        Import("sim.experiment.store", "sim.experiment.sweep", 5, False, True),
        Import("sim.experiment.sweep", "sim.experiment.store", 6, False, False),
        Import("sim.experiment.runner", "sim.experiment.compare", 7, True, False),
        Import("sim.experiment.compare", "sim.experiment.runner", 8, False, False),
        Import("sim.engine.ledger", "sim.analysis.plots", 9, True, False),
        Import("sim.engine.world", "sim.analysis.plots", 10, False, False),
    ]
    assert upward(found) == [
        "sim.scenario.summary:3 imports sim.engine.staff (scenario imports engine)",
        "sim.engine.world:10 imports sim.analysis.plots (engine imports outputs)",
    ]
    assert circles(found) == [
        ["sim.experiment.store", "sim.experiment.sweep", "sim.experiment.store"]
    ]


@pytest.mark.parametrize(
    ("module", "layer"),
    [
        ("sim.errors", "base"),
        ("sim.analysis.metrics", "measures"),
        ("sim.analysis.report", "presentation"),
        ("sim.experiment.executors", "experiment parts"),
        ("sim.experiment.sweep", "experiment"),
        ("sim.cli.experiment", "interfaces"),
        ("sim.app.state", "interfaces"),
        ("sim", "base"),
    ],
)
def test_modules_land_in_their_layer(module: str, layer: str) -> None:
    assert LAYERS[layer_of(module)][0] == layer
