"""seccomp_py/_seccomp.pyi, the typed stub of the compiled module, is what
scripts/gen-seccomp-stub.py makes of the cdefs, and it declares what the
compiled module really has."""

from __future__ import annotations

import importlib.util
import pathlib
import re
import subprocess
import sys
import types

from seccomp_py._native import ffi, lib

REPO = pathlib.Path(__file__).resolve().parent.parent
SCRIPT = REPO / "scripts" / "gen-seccomp-stub.py"
STUB = REPO / "seccomp_py" / "_seccomp.pyi"


def _generator() -> types.ModuleType:
    spec = importlib.util.spec_from_file_location("gen_seccomp_stub", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_committed_stub_is_the_generated_one() -> None:
    rendered: str = _generator().render()
    assert STUB.read_text() == rendered, (
        "seccomp_py/_seccomp.pyi is stale: run scripts/gen-seccomp-stub.py")


def test_check_mode_reports_a_stale_stub() -> None:
    run = subprocess.run([sys.executable, str(SCRIPT), "--check"], capture_output=True,
                         text=True, check=False)
    assert run.returncode == 0, run.stderr


def _lib_members() -> tuple[set[str], set[str]]:
    body = STUB.read_text().split("class _Lib:", 1)[1]
    functions = set(re.findall(r"^    def (\w+)\(", body, re.M))
    constants = set(re.findall(r"^    (\w+): int$", body, re.M))
    return functions, constants


def test_every_declared_member_exists() -> None:
    functions, constants = _lib_members()
    assert len(functions) > 50 and len(constants) > 100
    for name in functions:
        assert callable(getattr(lib, name)), name
    for name in constants:
        assert isinstance(getattr(lib, name), int), name


def test_every_lib_member_is_declared() -> None:
    functions, constants = _lib_members()
    assert set(dir(lib)) - {"__class__"} <= functions | constants | set(dir(object))


def test_declared_arity_matches_the_cdefs() -> None:
    body = STUB.read_text().split("class _Lib:", 1)[1]
    for match in re.finditer(r"^    def (\w+)\((.*?)\) -> ", body, re.M | re.S):
        name, params = match.groups()
        count = len([p for p in params.split(",") if p.strip()]) - 1  # self
        ctype = ffi.typeof(getattr(lib, name))
        assert len(ctype.args) == count, name
