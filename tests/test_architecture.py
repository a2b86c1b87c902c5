"""The package's architecture: layers imported only downwards, no import cycles, small modules.

Every module of ``tomopy_dip`` is read with :mod:`ast` (nothing is imported): every ``import``
and ``from ... import`` counts, those inside functions and ``if TYPE_CHECKING:`` blocks too,
relative ones resolved. An import names the module it loads: ``from a.b import c`` is an import
of the module ``a.b.c`` where that is a module, else of ``a.b``; the parent packages a name
passes through are not counted (their ``__init__`` runs once, whoever asks).
"""

from __future__ import annotations

import ast
import functools
import importlib.util
from dataclasses import dataclass
from pathlib import Path

PACKAGE = "tomopy_dip"

#: The layers of the package, lowest first: a module may import its own top-level unit (a
#: subpackage or a top-level module) and the units of the layers below, never those above.
#: Units of one layer do not depend on each other. The root is the package's face
#: (``tomopy_dip/__init__.py``) and ``python -m tomopy_dip`` (``__main__``).
LAYERS: tuple[tuple[str, ...], ...] = (
    ("_version", "utils", "metrics"),  # no dependency inside the package
    ("data", "physics"),  # files in and out; the measurement
    ("networks",),  # the U-Net
    ("options",),  # the keyword schema
    ("fitting",),  # the engine, and the Method declaration it reads
    ("learning",),  # phantoms, pretraining, checkpoints
    ("methods",),  # the methods: declarations on the engine, EDIP's on the checkpoints
    ("baselines",),  # SIRT and converged TV on the same operator
    ("interfaces",),  # TomoPy callables, tomosipo, the demo
    ("volume",),  # a whole file: plan, tasks, outputs, resume
    ("cli",),  # the command line
    ("__init__", "__main__"),  # the package root
)

#: Modules allowed more than :data:`MAX_LINES` lines: generated data.
LONG_MODULES = {"tomopy_dip.learning.checkpoints._registry"}

#: Most lines of a module.
MAX_LINES = 400


@dataclass(frozen=True)
class Import:
    """One import statement's edge: ``source`` imports ``target`` at ``line``."""

    source: str
    target: str
    line: int


def _package_dir() -> Path:
    spec = importlib.util.find_spec(PACKAGE)  # finds the package without running it
    assert spec is not None and spec.submodule_search_locations, f"{PACKAGE} is not importable"
    return Path(list(spec.submodule_search_locations)[0])


def _modules(root: Path) -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its ``__init__.py``)."""
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The deepest module of the package along the dotted ``name`` (None: outside the package)."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def _base(node: ast.ImportFrom, module: str, path: Path) -> str:
    """The module a ``from ... import`` reads from, relative imports resolved."""
    if not node.level:
        return node.module or ""
    package = module if _is_package(path) else module.rpartition(".")[0]
    for _ in range(node.level - 1):
        package = package.rpartition(".")[0]
    return f"{package}.{node.module}" if node.module else package


def _imports(modules: dict[str, Path]) -> list[Import]:
    """Every import of a module of the package by a module of the package."""
    edges = []
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            targets: list[str | None] = []
            if isinstance(node, ast.Import):
                targets = [_resolve(alias.name, modules) for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _base(node, module, path)
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else _resolve(base, modules)
                           for alias in node.names]
            for target in targets:
                if target is not None and target != module:
                    edges.append(Import(module, target, node.lineno))
    return edges


def _unit(module: str) -> str:
    """The top-level unit of a module: ``fitting`` for ``tomopy_dip.fitting.loop``, ``__init__``
    for the package itself."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _rank() -> dict[str, int]:
    return {unit: i for i, layer in enumerate(LAYERS) for unit in layer}


def _cycles(modules: dict[str, Path], edges: list[Import]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for e in edges:
        graph[e.source].add(e.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []

    def visit(v: str) -> None:
        # iterative depth-first search: (node, iterator over its successors)
        work = [(v, iter(sorted(graph[v])))]
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        while work:
            node, successors = work[-1]
            for w in successors:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                    break
                if w in on_stack:
                    low[node] = min(low[node], index[w])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        component.append(w)
                        if w == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def _shortest_cycle(component: list[str], edges: list[Import]) -> list[str]:
    """A shortest cycle through the first module of ``component`` (breadth-first search)."""
    inside = set(component)
    graph: dict[str, list[str]] = {}
    for e in edges:
        if e.source in inside and e.target in inside:
            graph.setdefault(e.source, []).append(e.target)
    start = component[0]
    came_from: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for v in frontier:
            for w in sorted(graph.get(v, ())):
                if w == start:
                    path = [v]
                    while path[-1] != start:
                        path.append(came_from[path[-1]])
                    return [start, *reversed(path[:-1]), start]
                if w not in came_from:
                    came_from[w] = v
                    following.append(w)
        frontier = following
    return component


@functools.lru_cache(maxsize=1)
def _package() -> tuple[dict[str, Path], list[Import]]:
    modules = _modules(_package_dir())
    return modules, _imports(modules)


def test_every_unit_has_a_layer():
    modules, _ = _package()
    rank = _rank()
    assert len(rank) == sum(len(layer) for layer in LAYERS), "a unit is named in two layers"
    unplaced = sorted({_unit(m) for m in modules} - set(rank))
    assert not unplaced, f"top-level modules or subpackages without a layer in LAYERS: {unplaced}"


def test_no_upward_imports():
    _, edges = _package()
    rank = _rank()
    upward = sorted({f"{e.source} (line {e.line}) imports {e.target}: {_unit(e.source)} is below {_unit(e.target)}"
                     for e in edges
                     if _unit(e.source) in rank and _unit(e.target) in rank
                     and rank[_unit(e.source)] < rank[_unit(e.target)]})
    assert not upward, "imports of a higher layer:\n" + "\n".join(upward)


def test_no_import_cycles():
    modules, edges = _package()
    cycles = _cycles(modules, edges)
    assert not cycles, "modules that import each other (directly or round a cycle):\n" + "\n".join(
        f"{', '.join(c)}\n    e.g. {' -> '.join(_shortest_cycle(c, edges))}" for c in cycles)


def test_modules_are_small():
    modules, _ = _package()
    long = sorted(f"{m}: {n} lines" for m, path in modules.items()
                  if m not in LONG_MODULES and (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES)
    assert not long, f"modules over {MAX_LINES} lines:\n" + "\n".join(long)


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__") and name != "_version"


def _private_reads(modules: dict[str, Path]) -> list[str]:
    """``from X import _name`` or an import of a private module ``..._mod`` where ``X`` lies in
    another top-level unit than the importing module."""
    found = []
    for module, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, ast.ImportFrom):
                base = _base(node, module, path)
                names = [(base, a.name) for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name.rpartition(".")[::2] for a in node.names]
            else:
                continue
            for where, name in names:
                owner = _resolve(f"{where}.{name}", modules) or _resolve(where, modules)
                if owner is None or _unit(owner) == _unit(module):
                    continue
                parts = f"{where}.{name}".split(".")[1:]
                if any(_private(part) for part in parts):
                    found.append(f"{module} (line {node.lineno}) reads {where}.{name}")
    return sorted(set(found))


def test_no_private_names_read_across_units():
    modules, _ = _package()
    found = _private_reads(modules)
    assert not found, "private names read from another top-level unit:\n" + "\n".join(found)


# ---------------------------------------------------------------------------- the checks themselves
def _fake_package(tmp_path: Path, files: dict[str, str]) -> dict[str, Path]:
    for name, text in files.items():
        p = tmp_path / PACKAGE / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return _modules(tmp_path / PACKAGE)


def test_imports_are_resolved_and_cycles_found(tmp_path):
    modules = _fake_package(tmp_path, {
        "__init__.py": "from tomopy_dip.fitting.engine import run\n",
        "fitting/__init__.py": "",
        "fitting/engine.py": "from . import loop\nfrom ..methods import get_method\n",
        "fitting/loop.py": "def f():\n    from .engine import run\n",
        "methods/__init__.py": "import tomopy_dip.fitting.loop\nfrom tomopy_dip.fitting import engine, nothing\n",
    })
    edges = {(e.source, e.target) for e in _imports(modules)}
    assert edges == {("tomopy_dip", "tomopy_dip.fitting.engine"),
                     ("tomopy_dip.fitting.engine", "tomopy_dip.fitting.loop"),
                     ("tomopy_dip.fitting.engine", "tomopy_dip.methods"),
                     ("tomopy_dip.fitting.loop", "tomopy_dip.fitting.engine"),
                     ("tomopy_dip.methods", "tomopy_dip.fitting.loop"),
                     ("tomopy_dip.methods", "tomopy_dip.fitting.engine"),
                     ("tomopy_dip.methods", "tomopy_dip.fitting")}
    cycles = _cycles(modules, _imports(modules))
    assert cycles == [["tomopy_dip.fitting.engine", "tomopy_dip.fitting.loop", "tomopy_dip.methods"]]
    assert _shortest_cycle(cycles[0], _imports(modules)) == [
        "tomopy_dip.fitting.engine", "tomopy_dip.fitting.loop", "tomopy_dip.fitting.engine"]
    assert [_unit(m) for m in sorted(modules)] == ["__init__", "fitting", "fitting", "fitting", "methods"]


def test_private_reads_are_found(tmp_path):
    modules = _fake_package(tmp_path, {
        "__init__.py": "from tomopy_dip._version import __version__\n",
        "data/__init__.py": "", "data/_reader.py": "def _slice(): pass\nX = 1\n",
        "data/files.py": "from tomopy_dip.data._reader import _slice\n",  # the same unit: free
        "volume/__init__.py": "def f():\n    from tomopy_dip.data._reader import X\n    from ..data import files\n",
        "volume/scan.py": "from tomopy_dip.data.files import _slice\n",
        "_version.py": "__version__ = '0'\n",
    })
    assert _private_reads(modules) == ["tomopy_dip.volume (line 2) reads tomopy_dip.data._reader.X",
                                       "tomopy_dip.volume.scan (line 1) reads tomopy_dip.data.files._slice"]
