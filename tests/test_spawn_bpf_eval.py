"""The shim's BPF evaluator (used by spawn's pre-flight) against the rules it was
compiled from, and against the kernel."""

from __future__ import annotations

import errno
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seccomp_py import Action, Arg, Filter
from seccomp_py._native import lib
from seccomp_py._spawn_plan import plan_for as _plan_for
from seccomp_py.spawn import spawn

U64 = st.integers(min_value=0, max_value=2**64 - 1)
OPS = ["eq", "ne", "lt", "le", "gt", "ge", "masked"]
SYSCALLS = ["getpgid", "getsid", "umask", "setpgid"]


def _cmp(op: str, index: int, a: int, b: int) -> object:
    arg = Arg(index)
    return {"eq": lambda: arg == a, "ne": lambda: arg != a, "lt": lambda: arg < a,
            "le": lambda: arg <= a, "gt": lambda: arg > a, "ge": lambda: arg >= a,
            "masked": lambda: arg.masked_eq(a, a & b)}[op]()


def _holds(op: str, value: int, a: int, b: int) -> bool:
    return {"eq": value == a, "ne": value != a, "lt": value < a, "le": value <= a,
            "gt": value > a, "ge": value >= a, "masked": (value & a) == (a & b)}[op]


@settings(max_examples=60, deadline=None)
@given(rules=st.lists(st.tuples(st.sampled_from(OPS), st.integers(0, 5), U64, U64,
                                st.integers(1, 4094)),
                      min_size=1, max_size=len(SYSCALLS)),
       probe=st.lists(U64, min_size=6, max_size=6), near=st.booleans())
def test_evaluator_matches_rules(rules: list[tuple[str, int, int, int, int]],
                                 probe: list[int], near: bool) -> None:
    f = Filter(Action.ALLOW)
    for name, (op, index, a, b, err) in zip(SYSCALLS, rules):
        f.add_rule(Action.errno(err), name, _cmp(op, index, a, b))  # type: ignore[arg-type]
    plan = _plan_for(f)
    for name, (op, index, a, b, err) in zip(SYSCALLS, rules):
        args = list(probe)
        if near:  # probe around the boundary too
            args[index] = a
        expected = Action.errno(err) if _holds(op, args[index], a, b) else Action.ALLOW
        assert plan.evaluate(lib.seccomp_syscall_resolve_name(name.encode()), args) == expected


def test_evaluator_agrees_with_kernel() -> None:
    f = Filter(Action.ALLOW)
    f.add_rule(Action.errno(errno.EXDEV), "getpgid", Arg(0) > 2**40)
    f.add_rule(Action.errno(errno.EMLINK), "getpgid", Arg(0) == 7)
    plan = _plan_for(f)
    nr = lib.seccomp_syscall_resolve_name(b"getpgid")
    code = ("import ctypes, sys\nlibc = ctypes.CDLL(None, use_errno=True)\n"
            "for v in map(int, sys.argv[1:]):\n"
            " libc.syscall.restype = ctypes.c_long\n"
            f" r = libc.syscall(ctypes.c_long({nr}), ctypes.c_ulong(v))\n"
            " print(ctypes.get_errno() if r < 0 else 0)")
    values = [0, 7, 2**40, 2**40 + 1, 2**64 - 1]
    p = spawn([sys.executable, "-I", "-S", "-c", code, *map(str, values)], f,
              stdout=subprocess.PIPE)
    out, _ = p.communicate(timeout=20)
    kernel = [int(x) for x in out.split()]
    for value, seen in zip(values, kernel):
        action = plan.evaluate(nr, [value])
        if action == Action.ALLOW:
            assert seen in (0, errno.ESRCH)  # no such process group: the call ran
        else:
            assert seen == action.data
    assert kernel[1] == errno.EMLINK and kernel[3] == errno.EXDEV and kernel[4] == errno.EXDEV


@settings(max_examples=40, deadline=None)
@given(rules=st.lists(st.tuples(st.sampled_from(OPS), st.integers(0, 5), U64, U64,
                                st.integers(1, 4094)),
                      min_size=0, max_size=len(SYSCALLS)),
       probes=st.lists(st.lists(U64, min_size=6, max_size=6), min_size=1, max_size=4))
def test_decide_equals_evaluate_for_any_arguments(rules: list[tuple[str, int, int, int, int]],
                                                  probes: list[list[int]]) -> None:
    # decide() keeps a decision only when no argument can change it: it must agree
    # with a full run on every argument vector, first call or cached
    f = Filter(Action.ALLOW)
    for name, (op, index, a, b, err) in zip(SYSCALLS, rules):
        f.add_rule(Action.errno(err), name, _cmp(op, index, a, b))  # type: ignore[arg-type]
    f.add_rule(Action.errno(9), "acct")  # no argument: a decision kept on first use
    plan = _plan_for(f)
    for name in [*SYSCALLS, "acct", "getpid"]:
        nr = lib.seccomp_syscall_resolve_name(name.encode())
        for args in probes:
            action, kind = plan.decide(nr, lambda args=args: args)  # type: ignore[misc]
            assert action == plan.evaluate(nr, args) and kind == action.kind


def test_execve_rule_on_an_argument_is_checked_per_spawn() -> None:
    # an execve decision that depends on an argument is never cached: each spawn is
    # checked with the real pointers (argv is never NULL, so only the first refuses)
    from seccomp_py import ExecForbiddenError

    refuse_real = Filter(Action.ALLOW)
    refuse_real.add_rule(Action.KILL_PROCESS, "execve", Arg(1) != 0)
    allow_real = Filter(Action.ALLOW)
    allow_real.add_rule(Action.KILL_PROCESS, "execve", Arg(1) == 0)
    for _ in range(2):
        with pytest.raises(ExecForbiddenError) as info:
            spawn(["/bin/true"], refuse_real)
        assert info.value.syscall == "execve"
        assert spawn(["/bin/true"], allow_real).wait(timeout=20) == 0
