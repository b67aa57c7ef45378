"""No import cycle in minillm_core, hidden or not: every import a module runs counts, the lazy ones inside
functions too; only `if TYPE_CHECKING:` references (never executed) are left out."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "minillm_core"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def executed_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    type_only = {id(node) for block in ast.walk(tree) if isinstance(block, ast.If)
                 and isinstance(block.test, ast.Name) and block.test.id == "TYPE_CHECKING" for node in ast.walk(block)}
    found = set()
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("minillm_core"):
            found |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("minillm_core")}
    return found


def test_no_module_imports_itself_back():
    graph = {module_name(path): executed_imports(path) for path in PACKAGE.rglob("*.py")}
    graph = {name: {dep for dep in deps if dep in graph and dep != name} for name, deps in graph.items()}
    cycles = set()

    def walk(node: str, path: list[str], seen: set[str]) -> None:
        for nxt in graph[node]:
            if nxt in path:
                cycles.add(" -> ".join(path[path.index(nxt):] + [nxt]))
            elif nxt not in seen:
                seen.add(nxt)
                walk(nxt, path + [nxt], seen)

    for name in graph:
        walk(name, [name], {name})
    assert len(graph) > 40 and not cycles, sorted(cycles)
