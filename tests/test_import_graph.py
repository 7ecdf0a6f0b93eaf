"""The package's modules import each other without a cycle (issue 16).

Every import statement Python executes counts: module-level and inside
functions and methods.  Imports under ``if TYPE_CHECKING:`` are never executed
(they name types for annotations, and mypy resolves mutual references), so the
cycle check leaves them out; the graph still records them.  The graph is read
from the source with ast, not by importing.
"""

from __future__ import annotations

import ast
import os

from helpers.paths import REPO

PACKAGE = "seccomp_py"

# Edges that close a cycle today, each with the reason and who removes it.
# A listed edge that no longer exists fails the test: remove it here then.
KNOWN_CYCLE_EDGES = {
    # Filter.spawn() is public API and calls spawn(); spawn's explain= and
    # no_network= build filters (explain.Policy.watched, sandbox.no_network_filter),
    # so spawn needs filter.py through them.  Removing it needs Filter.spawn to go
    # (an API change) or those two to compile without Filter.
    ("seccomp_py.filter", "seccomp_py.spawn"):
        "Filter.spawn() (public) calls spawn(), which builds filters for explain=/no_network=",
}


def _modules() -> dict[str, str]:
    root = os.path.join(REPO, PACKAGE)
    found = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d != "__pycache__"]
        for name in filenames:
            if not name.endswith(".py"):
                continue
            path = os.path.join(dirpath, name)
            parts = os.path.relpath(path, REPO)[:-3].split(os.sep)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _targets(module: str, is_package: bool, node: ast.Import | ast.ImportFrom,
             modules: dict[str, str]) -> set[str]:
    """The package modules one import statement loads."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        if node.level:
            base = module.split(".") if is_package else module.split(".")[:-1]
            base = base[:len(base) - (node.level - 1)]
            prefix = ".".join(base + ([node.module] if node.module else []))
        else:
            prefix = node.module or ""
        names = []
        for alias in node.names:
            sub = f"{prefix}.{alias.name}"
            names.append(sub if sub in modules else prefix)
    out = set()
    for name in names:
        # `import a.b.c` loads a.b.c; an unknown tail is an attribute or an
        # extension module (seccomp_py._seccomp): its nearest package module
        while name and name not in modules and "." in name:
            name = name.rsplit(".", 1)[0]
        if name in modules:
            out.add(name)
    return out


def _type_only(tree: ast.AST) -> set[int]:
    """The ids of the import nodes under ``if TYPE_CHECKING:`` in ``tree``."""
    found: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and \
                node.test.id == "TYPE_CHECKING":
            for inner in node.body:
                for sub in ast.walk(inner):
                    if isinstance(sub, (ast.Import, ast.ImportFrom)):
                        found.add(id(sub))
    return found


def import_graph(runtime_only: bool = False) -> dict[str, set[str]]:
    """module -> the package modules it imports (the package's own lazy
    ``__init__`` excluded: it imports on attribute access only).  With
    ``runtime_only``, the imports under ``if TYPE_CHECKING:`` are left out."""
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        with open(path, encoding="utf-8") as fh:
            tree = ast.parse(fh.read(), path)
        edges: set[str] = set()
        if module != PACKAGE:
            is_package = path.endswith("__init__.py")
            skip = _type_only(tree) if runtime_only else set()
            for node in ast.walk(tree):
                if isinstance(node, (ast.Import, ast.ImportFrom)) and id(node) not in skip:
                    edges |= _targets(module, is_package, node, modules)
        edges.discard(module)
        # every module of a package loads the package first: only the top-level
        # package is lazy, so a subpackage's __init__ counts
        graph[module] = {e for e in edges if e != PACKAGE}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a path a -> ... -> a, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt):], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state:
            found = visit(start)
            if found:
                return found
    return None


def test_the_graph_sees_every_kind_of_import() -> None:
    graph = import_graph()
    assert "seccomp_py.program" in graph["seccomp_py.filter"]  # module level
    assert "seccomp_py.explain" in graph["seccomp_py.spawn"]  # inside a method
    assert "seccomp_py.profile" in graph["seccomp_py.formats"]  # under TYPE_CHECKING
    assert "seccomp_py.profile" not in import_graph(runtime_only=True)["seccomp_py.formats"]
    assert "seccomp_py._kernel" in graph["seccomp_py.program"]  # `from . import _kernel as _k`
    assert "seccomp_py.errors" in graph["seccomp_py._native"]  # `from .errors import error_for`
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle() -> None:
    graph = import_graph(runtime_only=True)
    for (src, dst), why in KNOWN_CYCLE_EDGES.items():
        assert dst in graph.get(src, set()), (
            f"{src} -> {dst} is gone: remove it from KNOWN_CYCLE_EDGES ({why})")
        graph[src] = graph[src] - {dst}
    cycle = _cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_what_seccomp_py_run_loads_never_imports_filter() -> None:
    """spawn, learn, the program value and the CLI's modules load a Program
    without filter.py (issue 16: they take a Program)."""
    graph = import_graph()
    cli = [m for m in graph if m == "seccomp_py.cli" or m.startswith("seccomp_py._cli_")]
    assert len(cli) > 5
    for module in ["seccomp_py.program", "seccomp_py.spawn", "seccomp_py.learn", *cli]:
        assert "seccomp_py.filter" not in graph[module], module
