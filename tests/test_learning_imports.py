"""The learning modules import downward only: no cycle among the checkpoint modules, none of
them imports the package face, the command line, the interfaces or the methods (function-level
imports included)."""

from __future__ import annotations

import ast
from pathlib import Path

import tomopy_dip

LEARNING = Path(tomopy_dip.__file__).parent / "learning"
UPWARD = ("tomopy_dip.cli", "tomopy_dip.interfaces", "tomopy_dip.methods")


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports, at any level (``from a import b`` counts as ``a.b``
    where ``a.b`` is a module of the package, else as ``a``)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for a in node.names:
                sub = f"{node.module}.{a.name}"
                rel = Path(*sub.split(".")[1:])
                is_module = (LEARNING.parent / rel).with_suffix(".py").is_file() or (LEARNING.parent / rel).is_dir()
                found.add(sub if sub.startswith("tomopy_dip.") and is_module else node.module)
    return found


def _module(path: Path) -> str:
    rel = path.relative_to(LEARNING.parent.parent).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def test_no_upward_imports_in_learning():
    for path in LEARNING.rglob("*.py"):
        for name in _imports(path):
            assert name != "tomopy_dip" and not name.startswith(UPWARD), (path.name, name)


def test_the_checkpoint_modules_form_no_cycle():
    package = "tomopy_dip.learning.checkpoints"
    graph = {_module(p): {m for m in _imports(p) if m.startswith(package + ".")}
             for p in (LEARNING / "checkpoints").glob("*.py") if p.name != "__init__.py"}

    def visit(node: str, seen: tuple) -> None:
        assert node not in seen, " -> ".join((*seen, node))
        for nxt in graph.get(node, ()):
            visit(nxt, (*seen, node))

    for node in graph:
        visit(node, ())
