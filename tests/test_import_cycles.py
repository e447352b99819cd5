"""No import cycles in src/cpmap, counting the imports inside functions too.

A lazy import inside a function still couples two modules both ways: it only moves the failure
from import time to the first call. The walk reads every module with :mod:`ast`:

- ``import a.b`` and ``from a import b`` (resolved to the module ``a.b`` when it is one, else to
  the package ``a``), relative imports resolved against the importing package;
- ``importlib.import_module("cpmap.x")`` and string tables of the form ``"cpmap.x"`` or
  ``"cpmap.x:func"`` (the CLI's groups, the store's table modules, the BOM's model sources):
  they are imports too, made later;
- a package ``__init__``'s lazy export map (PEP 562 ``__getattr__`` over a dict of names);
- but not ``if TYPE_CHECKING:`` blocks, which never run;
- nor the ``"module:attr"`` names in control declarations (``<package>/control.py``,
  ``cpmap/controls.py``, the CLI's own table in ``cpmap/cli/app.py``): like the entry points of
  a package's metadata, they are a plugin registry that everything reads, resolved by name when
  one is used, and the code they name reads the registry in turn by design.

Importing ``a.b.c`` also runs the packages' ``__init__`` files; those edges are left out, since
a package re-exporting its own modules is not a cycle Python trips on.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"

# Import edges allowed to close a cycle, each with what would cut it (none today). An entry
# whose edge is gone fails test_allowed_edges_still_exist, so the list cannot hide a new cycle.
ALLOWED: dict[tuple[str, str], str] = {}

# Modules whose "module:attr" strings are registry entries, not imports (see the docstring).
DECLARATIONS = ("cpmap.controls", "cpmap.cli.app")


def _is_declaration(name: str) -> bool:
    return name in DECLARATIONS or name.endswith(".control")


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted((SRC / "cpmap").rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node, except the bodies of ``if TYPE_CHECKING:`` (their ``else`` does run)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))


def _targets(name: str, path: Path, tree: ast.AST, known: dict[str, Path]) -> Iterator[str]:
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]

    def resolve(dotted: str) -> str | None:
        while dotted and dotted not in known:
            dotted = dotted.rpartition(".")[0]
        return dotted or None

    loggers = {id(n.args[0]) for n in ast.walk(tree) if isinstance(n, ast.Call) and n.args
               and isinstance(n.func, ast.Attribute) and n.func.attr == "getLogger"}
    for node in _nodes(tree):
        if id(node) in loggers:  # logging.getLogger("cpmap.gateway") names a logger
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield from filter(None, [resolve(alias.name)])
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                yield from filter(None, [resolve(f"{base}.{alias.name}")])
        elif (isinstance(node, ast.Constant) and isinstance(node.value, str)
              and not _is_declaration(name)):
            text = node.value.partition(":")[0]
            if text.startswith("cpmap.") and text in known:
                yield text
        elif (isinstance(node, ast.FunctionDef) and node.name == "__getattr__"
              and path.name == "__init__.py"):
            yield from _lazy_exports(name, tree, known)


def _lazy_exports(package: str, tree: ast.AST, known: dict[str, Path]) -> Iterator[str]:
    """A PEP 562 package's export map: ``{"Name": "submodule"}`` values naming its modules."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict):
            for value in node.value.values:
                if isinstance(value, ast.Constant) and isinstance(value.value, str):
                    sub = f"{package}.{value.value}"
                    if sub in known:
                        yield sub


def import_graph() -> dict[str, set[str]]:
    known = _modules()
    graph = {}
    for name, path in known.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        graph[name] = set(_targets(name, path, tree, known)) - {name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def _path(graph: dict[str, set[str]], component: list[str]) -> list[str]:
    """One concrete loop through a component, to print: a -> b -> ... -> a."""
    members = set(component)
    start = component[0]
    prev: dict[str, str] = {}
    frontier = [start]
    while frontier:
        nxt = []
        for node in frontier:
            for child in sorted(graph[node] & members):
                if child == start:
                    loop = [start]
                    while node != start:
                        loop.append(node)
                        node = prev[node]
                    return [start, *reversed(loop[1:]), start]
                if child not in prev:
                    prev[child] = node
                    nxt.append(child)
        frontier = nxt
    return component


def test_the_walk_sees_lazy_and_relative_imports(tmp_path: Path) -> None:
    src = (
        "from __future__ import annotations\n"
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from cpmap.b import x\n"
        "def f():\n    from . import c\n    import cpmap.d.e\n"
        "TABLE = ['cpmap.f:run']\n"
    )
    names = ("cpmap", "cpmap.a", "cpmap.b", "cpmap.c", "cpmap.d", "cpmap.d.e", "cpmap.f")
    known = dict.fromkeys(names, tmp_path)
    got = set(_targets("cpmap.a", tmp_path / "a.py", ast.parse(src), known))
    assert got == {"cpmap.c", "cpmap.d.e", "cpmap.f"}


def test_cycle_finder_reports_a_loop() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert _path(graph, ["a", "b", "c"]) == ["a", "b", "c", "a"]


def test_no_import_cycles() -> None:
    graph = import_graph()
    assert "cpmap.core.ledger" in graph and graph["cpmap.core.ledger"]  # the walk found imports
    for importer, imported in ALLOWED:
        graph[importer].discard(imported)
    bad = cycles(graph)
    message = "\n".join(" -> ".join(_path(graph, c)) + f"   (cycle of {len(c)} modules)"
                        for c in bad)
    assert not bad, f"import cycles in src/cpmap:\n{message}"


def test_allowed_edges_still_exist() -> None:
    """An allow-list entry whose import is gone must go too (it could hide a new cycle)."""
    graph = import_graph()
    assert not [edge for edge in ALLOWED if edge[1] not in graph.get(edge[0], set())]
