"""One adapter per Python library, calling each library's real public API.

Each adapter offers:
  available  -> None, or a string saying why the library cannot run here
  build(flat, optimize) -> BPF bytes   (scenario 1; optimize 1 = libseccomp's
                                        default layout, 2 = binary tree)
  resolver() -> callable(name) -> int  (scenario 2)
  module     -> the import name       (scenario 6)

``prepare(flat)`` turns the flat rule list (bench/harness/flatten.py) into
plain tuples once, outside the timed region: (name, action value,
[(index, op name, datum_a, datum_b)]).  Each build() then creates the
filter, makes each library's own comparison objects, adds every rule and
exports the BPF, which is what a user of the library does.
"""

from __future__ import annotations

import io
import os
from typing import Any, Callable

Rule = tuple[str, int, list[tuple[int, str, int, int]]]
KIND_MASK = 0xFFFF0000


def prepare(flat: dict[str, Any]) -> tuple[int, list[Rule]]:
    rules = [(r["name"], int(r["action_value"]),
              [(a["index"], a["op"], a["value"], a["valueTwo"]) for a in r["args"]])
             for r in flat["rules"]]
    return int(flat["default_value"]), rules


def _memfd_file() -> io.BufferedRandom:
    return os.fdopen(os.memfd_create("bench-export", os.MFD_CLOEXEC), "w+b")


class Peer:
    name = "?"
    module = "?"
    layouts = (1, 2)
    #: True for a second way of building with the same library (scenario 1 only)
    build_only = False

    def __init__(self) -> None:
        self.available: str | None = None
        try:
            self.setup()
        except LookupError as exc:  # a feature the peer lacks
            self.available = str(exc.args[0])
        except Exception as exc:  # the peer is reported as unavailable, never dropped
            self.available = f"not installable/importable here: {type(exc).__name__}: {exc}"

    def setup(self) -> None:
        raise NotImplementedError

    def build(self, default: int, rules: list[Rule], optimize: int) -> bytes:
        raise NotImplementedError

    def resolver(self) -> Callable[[str], int]:
        raise NotImplementedError


class SeccompPy(Peer):
    name = "seccomp_py"
    module = "seccomp_py"
    #: Filter(verify=...): verification runs in export_bpf (docs/failclosed.md)
    verify = True

    def setup(self) -> None:
        import seccomp_py as m
        self.m = m
        self.ops = {f"SCMP_CMP_{op.name}": op for op in m.Op}

    def build(self, default: int, rules: list[Rule], optimize: int) -> bytes:
        m = self.m
        ops = self.ops
        ArgCmp = m.ArgCmp
        actions: dict[int, Any] = {}
        f = m.Filter(m.Action(default), verify=self.verify)
        # explicit in both layouts: seccomp_py picks the binary tree by itself
        # above 32 rules when OPTIMIZE was never set (docs/api.md)
        f.set_attribute(m.Attribute.OPTIMIZE, m.Optimize(optimize))
        for name, act, args in rules:
            action = actions.get(act) or actions.setdefault(act, m.Action(act))
            f.add_rule(action, name, *[ArgCmp(i, ops[op], a, b) for i, op, a, b in args])
        data: bytes = f.export_bpf()
        f.close()
        return data

    def resolver(self) -> Callable[[str], int]:
        Syscall = self.m.Syscall
        return lambda name: Syscall.from_name(name).number


class SeccompPyBatch(SeccompPy):
    """seccomp_py through a batch call, ``Filter.add_rules([(action, syscall, *cmps), ...])``.

    Proposed in docs/benchmarks.md ("Proposals"); shown as n/a until the core
    has it, then measured automatically.
    """

    name = "seccomp_py add_rules"
    build_only = True

    def setup(self) -> None:
        super().setup()
        if not hasattr(self.m.Filter, "add_rules"):
            raise LookupError("n/a: Filter.add_rules not in this seccomp_py yet "
                              "(proposed in docs/benchmarks.md)")

    def build(self, default: int, rules: list[Rule], optimize: int) -> bytes:
        m = self.m
        ops = self.ops
        ArgCmp = m.ArgCmp
        actions: dict[int, Any] = {}
        f = m.Filter(m.Action(default), verify=self.verify)
        # explicit in both layouts: seccomp_py picks the binary tree by itself
        # above 32 rules when OPTIMIZE was never set (docs/api.md)
        f.set_attribute(m.Attribute.OPTIMIZE, m.Optimize(optimize))
        f.add_rules([(actions.get(act) or actions.setdefault(act, m.Action(act)), name,
                      *[ArgCmp(i, ops[op], a, b) for i, op, a, b in args])
                     for name, act, args in rules])
        data: bytes = f.export_bpf()
        f.close()
        return data


class SeccompPyNoVerify(SeccompPy):
    """seccomp_py's ``add_rule`` loop with ``Filter(verify=False)``: what verification
    at export costs (scenario 1 only)."""

    name = "seccomp_py verify=False"
    build_only = True
    verify = False


class SeccompPyBatchNoVerify(SeccompPyBatch):
    """seccomp_py's ``add_rules`` batch with ``Filter(verify=False)`` (scenario 1 only)."""

    name = "seccomp_py add_rules verify=False"
    build_only = True
    verify = False


class Official(Peer):
    """libseccomp's own Cython module (Debian: python3-seccomp), ``import seccomp``."""

    name = "official"
    module = "seccomp"

    def setup(self) -> None:
        import importlib

        m = importlib.import_module(self.module)
        self.m = m
        self.ops = {f"SCMP_CMP_{k}": getattr(m, k)
                    for k in ("NE", "LT", "LE", "EQ", "GE", "GT", "MASKED_EQ")}

    def build(self, default: int, rules: list[Rule], optimize: int) -> bytes:
        m = self.m
        ops = self.ops
        Arg = m.Arg
        f = m.SyscallFilter(default)
        if optimize == 2:
            f.set_attr(m.Attr.CTL_OPTIMIZE, 2)
        for name, act, args in rules:
            f.add_rule(act, name, *[Arg(i, ops[op], a, b) for i, op, a, b in args])
        with _memfd_file() as fh:
            f.export_bpf(fh)
            fh.seek(0)
            return fh.read()

    def resolver(self) -> Callable[[str], int]:
        m = self.m
        native = m.Arch.NATIVE
        return lambda name: m.resolve_syscall(native, name)


class PySeccomp(Official):
    """pyseccomp (PyPI): ctypes over libseccomp, the official module's API (same calls)."""

    name = "pyseccomp"
    module = "pyseccomp"


class Seccompy(Peer):
    """seccompy (PyPI): pure Python, its own BPF assembler and syscall table.

    No libseccomp, so no binary-tree layout (shown as n/a), native arch only.
    """

    name = "seccompy"
    module = "seccompy"
    layouts = (1,)

    def setup(self) -> None:
        import seccompy as m
        self.m = m
        self.ops = {f"SCMP_CMP_{op.name}": op for op in m.CmpOp}
        A = m.Action
        self.methods = {int(A.ALLOW): "allow", int(A.KILL_PROCESS): "kill",
                        int(A.KILL_THREAD): "kill_thread", int(A.TRAP): "trap",
                        int(A.LOG): "log", int(A.USER_NOTIF): "notify"}

    def build(self, default: int, rules: list[Rule], optimize: int) -> bytes:
        if optimize != 1:
            raise ValueError("seccompy has no binary-tree layout")
        m = self.m
        ops = self.ops
        ArgCmp = m.ArgCmp
        masked = ops["SCMP_CMP_MASKED_EQ"]
        f = m.Filter(default=default)
        for name, act, args in rules:
            conds = [ArgCmp(i, masked, b, a) if ops[op] is masked else ArgCmp(i, ops[op], a)
                     for i, op, a, b in args]
            kind = act & KIND_MASK
            if kind == int(m.Action.ERRNO):
                f.errno(name, act & 0xFFFF, args=conds)
            elif kind == int(m.Action.TRACE):
                f.trace(name, act & 0xFFFF, args=conds)
            else:
                getattr(f, self.methods[act])(name, args=conds)
        program: bytes = f.program
        return program

    def resolver(self) -> Callable[[str], int]:
        return self.m.syscall_nr


ALL = (SeccompPy, SeccompPyBatch, SeccompPyNoVerify, SeccompPyBatchNoVerify, Official,
       PySeccomp, Seccompy)


def load_all() -> list[Peer]:
    return [cls() for cls in ALL]
