"""The package's module import graph has no cycles, and the plugin contract
(``hookspecs``, ``readings``, ``options``) imports no part of the framework.

The graph is read from the source with :mod:`ast`: an edge A -> B for every
``import``/``from ... import`` in module A that names module B. Imports under
``if TYPE_CHECKING:`` count (a loop of type-only imports still ties the modules
together); imports inside functions do not. ``from pkg import sub`` counts as an
import of ``pkg.sub``; a module's own enclosing packages, which Python initializes
first anyway, are no edges.

Run as a script to print the graph's cycles::

    python tests/test_import_graph.py [PACKAGE_DIR]
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "tair_ocr"
#: The plugin contract: what a plugin imports. They may import only these.
CONTRACT = {"tair_ocr.hookspecs", "tair_ocr.readings", "tair_ocr.options"}
CONTRACT_MAY_IMPORT = CONTRACT | {
    "tair_ocr.components",  # type annotations of the register_* hooks
    "tair_ocr.results",
    "tair_ocr.geometry",
    "tair_ocr.errors",  # what option validation raises (a leaf module)
}


def _module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(body: list[ast.stmt], module: str, is_package: bool) -> list[tuple[str, str]]:
    """(module, name) pairs imported at module level, type-checking blocks included."""
    found: list[tuple[str, str]] = []
    for node in body:
        if isinstance(node, ast.Import):
            found += [(alias.name, "") for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = module.split(".") if is_package else module.split(".")[:-1]
                parts = parts[: len(parts) - node.level + 1]
                base = ".".join([*parts, *([node.module] if node.module else [])])
            found += [(base, alias.name) for alias in node.names]
        elif isinstance(node, ast.If):
            found += _imports(node.body + node.orelse, module, is_package)
        elif isinstance(node, ast.Try):
            handlers = [stmt for h in node.handlers for stmt in h.body]
            block = node.body + handlers + node.orelse + node.finalbody
            found += _imports(block, module, is_package)
    return found


def import_graph(root: Path = PACKAGE) -> dict[str, set[str]]:
    """Module -> the modules of the same package it imports."""
    files = {_module_name(root, path): path for path in sorted(root.rglob("*.py"))}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        targets: set[str] = set()
        for base, attr in _imports(tree.body, name, path.name == "__init__.py"):
            target = f"{base}.{attr}" if f"{base}.{attr}" in files else base
            while target and target not in files:
                target = target.rpartition(".")[0]
            if target and target != name and not name.startswith(target + "."):
                targets.add(target)
        graph[name] = targets
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_package_has_no_import_cycle() -> None:
    graph = import_graph()
    assert "tair_ocr.hookspecs" in graph and "tair_ocr.fusion" in graph
    assert cycles(graph) == []


def test_the_plugin_contract_imports_no_part_of_the_framework() -> None:
    graph = import_graph()
    for module in sorted(CONTRACT):
        assert graph[module] <= CONTRACT_MAY_IMPORT, (module, graph[module] - CONTRACT_MAY_IMPORT)


def test_the_finder_sees_a_cycle(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from pkg.b import x\n")
    (package / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import a\n"
    )
    (package / "c.py").write_text("def f():\n    from pkg import a\n")  # inside a function
    graph = import_graph(package)
    assert graph["pkg.a"] == {"pkg.b"} and graph["pkg.c"] == set()
    assert cycles(graph) == [["pkg.a", "pkg.b"]]


def test_built_in_plugins_take_the_marker_from_the_contract() -> None:
    checked = 0
    for path in sorted([*PACKAGE.rglob("*.py"), *(ROOT / "plugins").rglob("*.py")]):
        text = path.read_text(encoding="utf-8")
        if "@hookimpl" in text:
            checked += 1
            assert "from tair_ocr.hookspecs import hookimpl" in text, path
    assert checked >= 10


if __name__ == "__main__":
    root = Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else PACKAGE
    graph = import_graph(root)
    found = cycles(graph)
    print(f"{len(graph)} modules, {sum(map(len, graph.values()))} edges, {len(found)} cycles")
    for component in found:
        print("cycle:", ", ".join(component))
        for module in component:
            print(f"  {module} -> {', '.join(sorted(graph[module] & set(component)))}")
    sys.exit(1 if found else 0)
