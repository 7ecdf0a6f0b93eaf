"""The public import surface: ``__all__``, the lazy names, and what type checkers see.

``seccomp_py/__init__.py`` imports every public name on first use (``_LAZY``, PEP 562)
and declares the same names for static tools in its ``if TYPE_CHECKING:`` block; the
three lists (``__all__``, ``_LAZY``, the block) are written by hand and must agree.  The
public modules that define ``__all__`` must export names that exist, statically and at
run time, and every class, function and module exported is documented and defined in
seccomp_py.  Constants cannot carry a docstring; they are only checked to exist.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import os
import pkgutil
import subprocess
import sys
import types
from typing import Any

import pytest
from helpers.paths import REPO

import seccomp_py

INIT = os.path.join(REPO, "seccomp_py", "__init__.py")
#: Exported names that are not seccomp_py's own, on purpose: compat mirrors the official
#: module, whose star-import hands out its ``errno`` import too.
FOREIGN = {"seccomp_py.compat": {"errno"}}


def _init_tree() -> ast.Module:
    with open(INIT, encoding="utf-8") as fh:
        return ast.parse(fh.read(), INIT)


def _static_all(tree: ast.Module) -> list[str]:
    for node in tree.body:
        if (isinstance(node, ast.Assign) and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name) and node.targets[0].id == "__all__"):
            value = ast.literal_eval(node.value)
            assert isinstance(value, list)
            return value
    raise AssertionError("no literal __all__ = [...] at the top level")


def _type_checking_imports(tree: ast.Module) -> dict[str, str]:
    """{name: module it is imported from} in the ``if TYPE_CHECKING:`` block."""
    blocks = [node for node in tree.body if isinstance(node, ast.If)
              and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"]
    assert len(blocks) == 1, "exactly one `if TYPE_CHECKING:` block"
    names: dict[str, str] = {}
    for node in blocks[0].body:
        assert isinstance(node, ast.ImportFrom) and node.level == 1, ast.dump(node)
        for alias in node.names:
            # `from .x import Name as Name`: the redundant alias is what marks a
            # re-export for mypy (implicit_reexport is off under --strict)
            assert alias.asname == alias.name, f"{alias.name}: import it `as {alias.name}`"
            assert alias.name not in names, f"{alias.name} declared twice"
            names[alias.name] = node.module or ""
    return names


def _public_modules() -> list[str]:
    """seccomp_py's public modules and subpackages (no leading underscore, not __main__)."""
    found = []
    for info in pkgutil.walk_packages(seccomp_py.__path__, "seccomp_py."):
        if any(part.startswith("_") for part in info.name.split(".")[1:]):
            continue
        found.append(info.name)
    return sorted(found)


def _modules_with_all() -> list[str]:
    return [name for name in _public_modules()
            if hasattr(importlib.import_module(name), "__all__")]


def _is_api_object(value: object) -> bool:
    """A class, function or module: something that carries a docstring and a home."""
    return inspect.isclass(value) or inspect.isroutine(value) or inspect.ismodule(value)


def _home(value: object) -> str:
    return value.__name__ if isinstance(value, types.ModuleType) else value.__module__


def test_all_equals_the_lazy_names_and_the_type_checking_block() -> None:
    tree = _init_tree()
    static_all = _static_all(tree)
    declared = _type_checking_imports(tree)
    assert len(static_all) == len(set(static_all)), "__all__ lists a name twice"
    assert static_all == seccomp_py.__all__
    lazy = seccomp_py._LAZY
    assert set(seccomp_py.__all__) == set(lazy) | {"__version__"}
    assert set(declared) == set(lazy)
    for name, module in lazy.items():
        # _LAZY's "" is the submodule of that name: `from . import name as name`
        assert declared[name] == module, (name, module, declared[name])


def test_every_top_level_name_resolves_to_a_documented_seccomp_py_object() -> None:
    lazy = seccomp_py._LAZY
    for name in seccomp_py.__all__:
        value = getattr(seccomp_py, name)
        if name == "__version__":
            assert isinstance(value, str) and value
            continue
        assert _is_api_object(value), f"seccomp_py.{name} is a {type(value).__name__}"
        assert inspect.getdoc(value), f"seccomp_py.{name} has no docstring"
        assert _home(value).startswith("seccomp_py."), f"seccomp_py.{name} is from {_home(value)}"
        source = importlib.import_module(f"seccomp_py.{lazy[name]}" if lazy[name] else "seccomp_py")
        assert value is getattr(source, name), f"seccomp_py.{name} is not .{lazy[name]}.{name}"


def test_star_import_gives_exactly_all() -> None:
    code = ("from seccomp_py import *\n"
            "import seccomp_py\n"
            "names = sorted(n for n in globals() if n not in {'seccomp_py', '__builtins__'}"
            " and not (n.startswith('__') and n != '__version__'))\n"
            "assert names == sorted(seccomp_py.__all__), "
            "set(names) ^ set(seccomp_py.__all__)\n")
    # a fresh interpreter: nothing imported yet, so every lazy name is loaded by the import
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr


def test_public_modules_with_all() -> None:
    checked = _modules_with_all()
    # the modules whose __all__ the package's documentation leans on
    assert {"seccomp_py.bpf", "seccomp_py.compat", "seccomp_py.profile",
            "seccomp_py.spawn", "seccomp_py.verify"} <= set(checked)
    for modname in checked:
        module = importlib.import_module(modname)
        names = list(module.__all__)
        assert len(names) == len(set(names)), f"{modname}.__all__ lists a name twice"
        namespace: dict[str, Any] = {}
        exec(f"from {modname} import *", namespace)
        assert set(namespace) - {"__builtins__"} == set(names), modname
        for name in names:
            value = getattr(module, name)
            if not _is_api_object(value) or name in FOREIGN.get(modname, ()):
                continue  # a constant or a type alias: nothing to document at run time
            where = f"{modname}.{name}"
            assert inspect.getdoc(value), f"{where} has no docstring"
            assert _home(value).startswith("seccomp_py"), f"{where} is from {_home(value)}"


def test_public_modules_define_their_all_statically() -> None:
    """Each name in a module's ``__all__`` is bound at its top level (a def, class,
    assignment or import), so a type checker sees it without running the module."""
    for modname in _modules_with_all():
        spec = importlib.util.find_spec(modname)
        assert spec is not None and spec.origin
        with open(spec.origin, encoding="utf-8") as fh:
            tree = ast.parse(fh.read(), spec.origin)
        bound: set[str] = set()
        # top-level statements, and those of top-level `if` blocks (`if TYPE_CHECKING:`)
        nodes = [*tree.body]
        nodes += [n for top in tree.body if isinstance(top, ast.If) for n in top.body + top.orelse]
        for node in nodes:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                bound.add(node.name)
            elif isinstance(node, ast.Assign):
                bound.update(t.id for t in node.targets if isinstance(t, ast.Name))
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                bound.add(node.target.id)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                bound.update((a.asname or a.name).split(".")[0] for a in node.names)
        missing = set(importlib.import_module(modname).__all__) - bound
        assert not missing, f"{modname}.__all__ names what its top level does not bind: {missing}"


def _mypy_available() -> bool:
    return importlib.util.find_spec("mypy") is not None


@pytest.mark.skipif(not _mypy_available(),
                    reason="mypy is not installed (it is in the test extra: "
                    "pip install -e '.[test]')")
@pytest.mark.timeout(600)
def test_mypy_sees_the_runtime_surface(tmp_path: Any) -> None:
    """mypy --strict resolves every exported name to a real type (not the ``object`` that
    the module's ``__getattr__`` would give an undeclared lazy name, nor Any)."""
    lines = ["import seccomp_py", "from seccomp_py import *  # noqa: F403"]
    probes: list[str] = []
    for name in seccomp_py.__all__:
        lines.append(f"reveal_type({name})  # noqa: F405")
        probes.append(f"seccomp_py.{name} (star import)")
        lines.append(f"reveal_type(seccomp_py.{name})")
        probes.append(f"seccomp_py.{name}")
    for i, modname in enumerate(_modules_with_all()):
        module = importlib.import_module(modname)
        # `as`: the bare `seccomp_py.spawn` is the function, not the module
        lines.append(f"import {modname} as m{i}")
        for name in module.__all__:
            value = getattr(module, name)
            if not _is_api_object(value) and not isinstance(value, (int, str, bytes, tuple,
                                                                    dict, frozenset)):
                continue  # a type alias is not a value to reveal
            lines.append(f"reveal_type(m{i}.{name})")
            probes.append(f"{modname}.{name}")
    probe = tmp_path / "surface.py"
    probe.write_text("\n".join(lines) + "\n")
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", os.path.join(REPO, "pyproject.toml"),
         "--cache-dir", str(tmp_path / "cache"), "--no-error-summary", str(probe)],
        cwd=REPO, capture_output=True, text=True, timeout=600, check=False)
    revealed = [line.split("Revealed type is ", 1)[1].strip('"')
                for line in proc.stdout.splitlines() if "Revealed type is " in line]
    errors = [line for line in proc.stdout.splitlines() if ": error:" in line]
    assert not errors, "\n".join(errors)
    assert len(revealed) == len(probes), proc.stdout + proc.stderr
    vague = [(what, typ) for what, typ in zip(probes, revealed)
             if typ in ("builtins.object", "Any") or typ.startswith("Any ")]
    assert not vague, vague
