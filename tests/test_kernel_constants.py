"""Every kernel constant is written once: in seccomp_py/_kernel.py (Python) and,
for the C fallbacks, in seccomp_py/_shim/shim.h.

The values are checked against the C headers the shim is compiled with
(seccomp_py/_shim/kernel.cdef), and the package is searched for stray copies:
number literals with the value of a kernel constant, names of kernel constants
bound to a literal, and ``#define``\\ s of kernel constants in the .c files.
"""

from __future__ import annotations

import ast
import io
import pathlib
import re
import struct
import tokenize

import pytest

from seccomp_py import _kernel, _native, attribute, features
from seccomp_py._native import ffi, lib
from seccomp_py.action import ActionKind
from seccomp_py.arch import Arch

PACKAGE = pathlib.Path(_kernel.__file__).resolve().parent
SHIM = PACKAGE / "_shim"

#: Modules not (yet) held to the one-definition rule: none.
PENDING: set[str] = set()


def _header_names() -> list[str]:
    text = (SHIM / "kernel.cdef").read_text()
    return re.findall(r"^#define (\w+) \.\.\.$", text, re.M)


def _python_name(c_name: str) -> str:
    return c_name.lstrip("_")


@pytest.mark.parametrize("name", _header_names())
def test_value_matches_the_c_headers(name: str) -> None:
    assert getattr(_kernel, _python_name(name)) == getattr(lib, name), name


def test_the_rest_matches_the_c_side() -> None:
    assert _kernel.SECCOMP_FILTER_FLAG_NEW_LISTENER == lib.SPY_FILTER_FLAG_NEW_LISTENER
    assert _kernel.SECCOMP_FILTER_FLAG_TSYNC_ESRCH == lib.SPY_FILTER_FLAG_TSYNC_ESRCH
    assert _kernel.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV == lib.SPY_FILTER_FLAG_WAIT_KILLABLE_RECV
    assert _kernel.SECCOMP_RET_USER_NOTIF == lib.SCMP_ACT_NOTIFY
    assert _kernel.BPF_MAXINSNS == lib.SPY_BPF_MAXINSNS
    assert struct.calcsize("=HBBI") == _kernel.BPF_INSN_SIZE
    assert ffi.sizeof("struct seccomp_data") == _kernel.SECCOMP_DATA_SIZE
    assert ffi.offsetof("struct seccomp_data", "nr") == _kernel.SECCOMP_DATA_NR
    assert ffi.offsetof("struct seccomp_data", "arch") == _kernel.SECCOMP_DATA_ARCH
    assert ffi.offsetof("struct seccomp_data", "instruction_pointer") == _kernel.SECCOMP_DATA_IP
    assert _kernel.SECCOMP_DATA_ARGS == (
        _kernel.SECCOMP_DATA_SIZE - 8 * _kernel.SECCOMP_DATA_NARGS)
    assert _kernel.SECCOMP_RET_ERRNO == lib.SPY_ACT_ERRNO_BASE
    assert _kernel.SECCOMP_RET_TRACE == lib.SPY_ACT_TRACE_BASE


def test_action_kinds_are_the_kernel_return_values() -> None:
    assert {k.name: int(k) for k in ActionKind} == {
        "KILL_PROCESS": _kernel.SECCOMP_RET_KILL_PROCESS,
        "KILL_THREAD": _kernel.SECCOMP_RET_KILL_THREAD,
        "TRAP": _kernel.SECCOMP_RET_TRAP,
        "ERRNO": _kernel.SECCOMP_RET_ERRNO,
        "TRACE": _kernel.SECCOMP_RET_TRACE,
        "LOG": _kernel.SECCOMP_RET_LOG,
        "ALLOW": _kernel.SECCOMP_RET_ALLOW,
        "NOTIFY": _kernel.SECCOMP_RET_USER_NOTIF,
    }


def test_arch_tokens_are_libseccomps() -> None:
    """libseccomp resolves each name to the token in _kernel, or does not know it."""
    for arch in Arch:
        if arch is Arch.NATIVE:
            continue
        token = int(lib.seccomp_arch_resolve_name(arch.name.lower().encode()))
        assert token in (0, int(arch)), arch
    assert int(Arch.X86_64) == _kernel.AUDIT_ARCH_X86_64
    assert int(Arch.X32) == _kernel.SCMP_ARCH_X32


def test_capability_gates_are_read_once() -> None:
    for name in ("HAS_EXPORT_BPF_MEM", "HAS_TRANSACTIONS", "HAS_PRECOMPUTE", "HAS_WAIT_KILL"):
        assert getattr(features, name) is getattr(_native, name)
    assert attribute.HAS_WAIT_KILL is _native.HAS_WAIT_KILL
    assert _native.HAS_WAIT_KILL is (int(lib.SPY_FLTATR_CTL_WAITKILL) > 0)


# -- no stray copies -----------------------------------------------------------------------

_SIGNED32 = "1 << 32"  # a line converting to a signed 32-bit int may test bit 31

#: value -> what it is; a number literal with one of these values is a stray copy
FORBIDDEN: dict[int, str] = {
    **{v: n for n, v in vars(_kernel).items()
       if n.startswith("SECCOMP_RET_") and isinstance(v, int) and v > 0xFFFF},
    **{v: n for n, v in vars(_kernel).items()
       if n.startswith(("AUDIT_ARCH_", "SCMP_ARCH_")) and isinstance(v, int) and v > 0xFFFF},
    _kernel.SECCOMP_RET_DATA: "SECCOMP_RET_DATA",
    _kernel.MAX_ERRNO: "MAX_ERRNO",
    _kernel.LIBSECCOMP_MAX_ERRNO: "LIBSECCOMP_MAX_ERRNO",
    _kernel.BPF_MAXINSNS: "BPF_MAXINSNS (or PATH_MAX)",
    _kernel.X32_SYSCALL_BIT: "X32_SYSCALL_BIT (or AUDIT_ARCH_LE)",
}

#: names that hold a kernel constant when bound to a number literal
KERNEL_NAME = re.compile(
    r"^_*(BPF_|SECCOMP_|AUDIT_|SCMP_ARCH_|FLAG_|RET_|MAX_ERRNO|X32_|INSN_SIZE|MAXINSNS"
    r"|MAX_STACK_INSNS|MAX_INSNS|LD_|LDX_|ST_|ALU_|JMP_|AND_K|J(A|EQ|GT|GE|SET)(_K)?$|HAS_)")


def _sources() -> list[pathlib.Path]:
    return sorted(p for p in PACKAGE.rglob("*.py")
                  if p.name != "_kernel.py" and p.name not in PENDING
                  and not any(part in PENDING for part in p.relative_to(PACKAGE).parts))


def test_the_sources_are_found() -> None:
    names = {p.name for p in _sources()}
    assert {"bpf.py", "filter.py", "spawn.py", "verify.py", "codegen.py"} <= names


def _stray_numbers(path: pathlib.Path) -> list[str]:
    text = path.read_text()
    lines = text.splitlines()
    out = []
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        if tok.type != tokenize.NUMBER or tok.string[:2].lower() in ("0o", "0b"):
            continue  # octal and binary literals are file modes and bit sets
        try:
            value = int(tok.string.replace("_", ""), 0)
        except ValueError:
            continue  # a float or complex
        line = lines[tok.start[0] - 1]
        if value == _kernel.SECCOMP_RET_KILL_PROCESS and _SIGNED32 in line:
            continue
        if value in FORBIDDEN:
            out.append(f"{path.name}:{tok.start[0]}: {tok.string} ({FORBIDDEN[value]})")
    return out


def _literal(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant):
        return isinstance(node.value, int) and not isinstance(node.value, bool)
    if isinstance(node, ast.Tuple):
        return bool(node.elts) and all(_literal(e) for e in node.elts)
    if isinstance(node, ast.BinOp):
        return _literal(node.left) and _literal(node.right)
    if isinstance(node, ast.UnaryOp):
        return _literal(node.operand)
    return False


def _targets(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Name):
        return [node.id]
    if isinstance(node, ast.Tuple):
        return [n for e in node.elts for n in _targets(e)]
    return []


def _stray_names(path: pathlib.Path) -> list[str]:
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        if not _literal(value):
            continue
        for name in (n for t in targets for n in _targets(t)):
            if KERNEL_NAME.match(name):
                out.append(f"{path.name}:{node.lineno}: {name} = a literal")
    return out


def test_no_stray_kernel_numbers() -> None:
    found = [hit for path in _sources() for hit in _stray_numbers(path)]
    assert not found, "kernel constants written outside _kernel.py:\n" + "\n".join(found)


def test_no_kernel_names_bound_to_literals() -> None:
    found = [hit for path in _sources() for hit in _stray_names(path)]
    assert not found, "kernel constants defined outside _kernel.py:\n" + "\n".join(found)


def test_the_checks_catch_a_copy(tmp_path: pathlib.Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("_RET_ALLOW = 0x7FFF0000\nX = y & 0xffff0000\nZ = v > 4095\n"
                   "ok = v - (1 << 32) if v & 0x80000000 else v\n_FLAG_LOG = 1 << 1\n")
    assert len(_stray_numbers(bad)) == 3
    assert [h.split(": ")[1] for h in _stray_names(bad)] == ["_RET_ALLOW = a literal",
                                                              "_FLAG_LOG = a literal"]


_C_KERNEL_DEFINE = re.compile(
    r"^\s*#\s*define\s+(__NR_\w+|SECCOMP_\w+|PR_\w+|AUDIT_\w+|__AUDIT_\w+|__X32_\w+|BPF_\w+"
    r"|SPY_PTRACE_\w+|\w*X32_BIT)\b", re.M)
_C_KERNEL_NUMBER = re.compile(
    r"\b0x(40000000|80000000|7fff0000|7ffc0000|7ff00000|7fc00000|00030000|00050000|ffff0000)u?\b",
    re.I)


def test_c_fallbacks_only_in_shim_h() -> None:
    found = []
    for path in sorted(SHIM.glob("*.c")):
        text = path.read_text()
        found += [f"{path.name}: #define {m}" for m in _C_KERNEL_DEFINE.findall(text)]
        found += [f"{path.name}: 0x{m}" for m in _C_KERNEL_NUMBER.findall(text)]
    assert not found, "kernel constants in .c files (they belong in shim.h):\n" + "\n".join(found)
    assert _C_KERNEL_DEFINE.search((SHIM / "shim.h").read_text())
