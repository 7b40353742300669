"""The package's import graph has no circles: a module two folders need moves down (DESIGN.md).

Every `import` counts, at module level or inside a function: a function-level import only
defers the circle to the first call, it does not remove it. `from a import b` is an edge to the
package `a` (its `__init__` runs) and, where `a.b` is a module, to that module too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import sparring

ROOT = Path(sparring.__file__).parent


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """module -> the sparring modules it imports (any scope)."""
    modules = {module_name(path): path for path in ROOT.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                targets.add(base)
                targets.update(f"{base}.{alias.name}" for alias in node.names)
        graph[name] = {t for t in targets if t in modules and t != name}
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
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
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


def test_the_graph_sees_function_level_imports():
    graph = import_graph()
    # the trainer imports the Ray runner inside make_runner, only when `runner: ray` asks for it
    assert "sparring.distributed" in graph["sparring.training.trainer"]


def test_a_planted_circle_is_found():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]


def test_no_import_circles_between_sparring_modules():
    assert cycles(import_graph()) == []


def test_games_import_judges_and_judges_never_import_games():
    """DESIGN.md's direction, games -> judges: a game that sparring writes owns its rule judge, and judges/
    holds only what several games share (the judge protocol, the sandbox, model judges, folded text)."""
    graph = import_graph()
    edges = {(source, target) for source, targets in graph.items() for target in targets}
    assert {(s, t) for s, t in edges if s.startswith("sparring.judges") and t.startswith("sparring.games")} == set()
    assert ("sparring.games.red_team", "sparring.judges.text_forms") in edges
