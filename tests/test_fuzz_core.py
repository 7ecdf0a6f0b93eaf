"""Fuzzing the core's input parsers: only documented exceptions, and a refused
call never changes the filter.

Every public entry point that takes user input (Filter(), add_rule,
add_rule_exact, set_priority, set_attribute, add_arch/remove_arch,
Action/Arg/ArgCmp constructors, Syscall and Arch resolution) is fed arbitrary
Python values.  What may come out: a SeccompError subclass or TypeError (the
documented exceptions).  Never another exception, a crash, or a refused call
that still changed the compiled BPF (a half-applied rule could widen or narrow
the policy behind the caller's back).  scripts/fuzz_long.py runs the same
properties for much longer and prints the number of inputs tried.
"""

from __future__ import annotations

import os
from functools import partial
from typing import Any, Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seccomp_py import (
    Action,
    Arch,
    Arg,
    ArgCmp,
    Attribute,
    Filter,
    Op,
    SeccompError,
    Syscall,
)
from seccomp_py import arch as arch_mod
from seccomp_py import syscall as syscall_mod

DOCUMENTED = (SeccompError, TypeError)
EXAMPLES = int(os.environ.get("SECCOMP_PY_FUZZ_EXAMPLES", "150"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# -- what a careless or hostile caller may pass -------------------------------------------------

ints = st.one_of(st.integers(-(2**70), 2**70), st.sampled_from(
    [-1, 0, 1, 2**15, 2**16, 2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**63 - 1, 2**63, 2**64 - 1,
     2**64, -(2**31), -(2**31) - 1, -(2**63), 4095, 4096, 0x7FFF0000, 0x80000000, 0x7FFC0000,
     0x00050000 | 4095, 0x00050000 | 4096, 0x7FF00000 | 65535, 0x80000000 - 1]))
names = st.one_of(
    st.text(max_size=80),
    st.sampled_from(["read", "write", "openat", "socket", "SOCKET", " read", "read ", "",
                     "\x00", "read\x00write", "é", "a" * 65, "a" * 1000, "\udc80", "native",
                     "x86_64", "x32", "arm", "s390x", "bogus", "-1", "1", "__NR_read"]),
)
actions_ok = st.one_of(
    st.sampled_from([Action.ALLOW, Action.KILL_PROCESS, Action.KILL_THREAD, Action.TRAP,
                     Action.LOG, Action.NOTIFY]),
    st.integers(0, 4095).map(Action.errno),
    st.integers(0, 65535).map(Action.trace),
)
#: libseccomp refuses ERRNO(4095) (its MAX_ERRNO check is exclusive), so a
#: filter default drawn from here stays within what seccomp_init() accepts.
defaults_ok = actions_ok.filter(lambda a: a != Action.errno(4095))
cmps_ok = st.builds(ArgCmp, st.integers(0, 5), st.sampled_from(list(Op)),
                    st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1),
                    st.sampled_from([64]))
anything = st.one_of(st.none(), st.booleans(), ints, st.floats(), names, st.binary(max_size=16),
                     actions_ok, st.sampled_from(list(Arch)), st.sampled_from(list(Attribute)),
                     st.just(object()), st.lists(st.integers(), max_size=3), cmps_ok)
action_like = st.one_of(actions_ok, ints, anything)
syscall_like = st.one_of(names, ints, st.sampled_from(["read", "write", "getppid", "socket"]),
                         st.builds(lambda n: Syscall.from_name(n),
                                   st.sampled_from(["read", "close", "ptrace"])), anything)
cmp_like = st.one_of(cmps_ok, cmps_ok, anything)
arch_like = st.one_of(st.sampled_from(list(Arch)), names, ints, anything)


def documented_only(call: Callable[[], Any]) -> BaseException | None:
    """Run ``call``; return the documented exception it raised (or None)."""
    try:
        call()
    except DOCUMENTED as exc:
        assert str(exc), f"{type(exc).__name__} without a message"
        if isinstance(exc, SeccompError):
            assert exc.errno, f"{exc!r} carries no errno"
            assert exc.func, f"{exc!r} names no C function"
        return exc
    return None


def bpf_or_error(f: Filter) -> Any:
    try:
        return f.export_bpf()
    except SeccompError as exc:
        return ("error", type(exc), exc.errno)


# -- value constructors ------------------------------------------------------------------


@FUZZ
@given(ints)
def test_action_from_any_int(value: int) -> None:
    exc = documented_only(lambda: Action(value))
    if exc is None:
        a = Action(value)
        assert a.value == value and Action(a.value) == a


@FUZZ
@given(anything, anything)
def test_action_helpers(n: Any, x: Any) -> None:
    documented_only(lambda: Action.errno(n))
    documented_only(lambda: Action.trace(n))
    documented_only(lambda: Action.coerce(x))


@FUZZ
@given(anything, anything, anything, anything, anything)
def test_argcmp_and_arg(index: Any, op: Any, a: Any, b: Any, bits: Any) -> None:
    documented_only(lambda: ArgCmp(index, op, a, b, bits))
    documented_only(lambda: Arg(index, bits))
    documented_only(lambda: Arg(0) == a)
    documented_only(lambda: Arg(1, bits=32) < a)
    documented_only(lambda: Arg(2).masked_eq(a, b))


@FUZZ
@given(st.integers(0, 5), st.sampled_from(list(Op)), ints, ints, st.sampled_from([32, 64]))
def test_argcmp_values_are_exact_or_refused(index: int, op: Op, a: int, b: int,
                                            bits: int) -> None:
    # A value is either stored exactly (two's complement of the width) or
    # refused: never silently truncated into another comparison.
    exc = documented_only(lambda: ArgCmp(index, op, a, b, bits))
    if exc is None:
        c = ArgCmp(index, op, a, b, bits)
        mask = (1 << bits) - 1
        assert c.a == a & mask and c.b == b & mask
        assert -(1 << (bits - 1)) <= a < (1 << bits)


@FUZZ
@given(anything, arch_like)
def test_syscall_and_arch_resolution(name: Any, arch: Any) -> None:
    documented_only(lambda: Syscall.from_name(name))
    documented_only(lambda: Syscall.from_name(name, arch))
    documented_only(lambda: Syscall.from_number(name))
    documented_only(lambda: Syscall.from_number(name, arch))
    documented_only(lambda: Syscall.coerce(name))
    documented_only(lambda: syscall_mod.resolve_name(name, arch))
    documented_only(lambda: syscall_mod.resolve_number(name, arch))
    documented_only(lambda: Arch.from_name(name))
    documented_only(lambda: arch_mod.coerce(arch))


@FUZZ
@given(names)
def test_unknown_names_never_resolve_to_a_number(name: str) -> None:
    # A name either resolves to the number libseccomp has for it or raises:
    # never a number for a different syscall (e.g. after stripping or folding case).
    try:
        sc = Syscall.from_name(name)
    except DOCUMENTED:
        return
    assert sc.name == name
    assert syscall_mod.resolve_number(sc.number) == name or sc.number < 0


@FUZZ
@given(action_like)
def test_filter_default_action(action: Any) -> None:
    documented_only(lambda: Filter(action).close())


# -- operations on a filter: refused means unchanged ------------------------------------------

ops = st.one_of(
    st.tuples(st.just("add_rule"), action_like, syscall_like, st.lists(cmp_like, max_size=4)),
    st.tuples(st.just("add_rule_exact"), action_like, syscall_like,
              st.lists(cmp_like, max_size=4)),
    st.tuples(st.just("set_priority"), syscall_like, st.one_of(ints, anything)),
    st.tuples(st.just("set_attribute"), st.one_of(st.sampled_from(list(Attribute)), anything),
              st.one_of(st.booleans(), ints, actions_ok, anything)),
    st.tuples(st.just("add_arch"), arch_like),
    st.tuples(st.just("remove_arch"), arch_like),
)


def _apply(f: Filter, op: tuple[Any, ...]) -> None:
    name = op[0]
    if name in ("add_rule", "add_rule_exact"):
        getattr(f, name)(op[1], op[2], *op[3])
    elif name == "set_priority":
        f.set_priority(op[1], op[2])
    elif name == "set_attribute":
        f.set_attribute(op[1], op[2])
    else:
        getattr(f, name)(op[1])


@FUZZ
@given(defaults_ok, st.lists(ops, min_size=1, max_size=8))
def test_refused_operations_change_nothing(default: Action, sequence: list[Any]) -> None:
    with Filter(default) as f:
        for op in sequence:
            before = bpf_or_error(f)
            pfc_before = f.export_pfc() if not isinstance(before, tuple) else None
            exc = documented_only(partial(_apply, f, op))
            if exc is not None and op[0] != "set_attribute":
                assert bpf_or_error(f) == before, f"{op!r} raised {exc!r} but changed the BPF"
                if pfc_before is not None:
                    assert f.export_pfc() == pfc_before


@FUZZ
@given(st.sampled_from(["getppid", "read", "openat"]), st.lists(cmps_ok, min_size=1, max_size=4))
def test_duplicate_argument_in_one_rule_is_refused_not_merged(name: str,
                                                               cmps: list[ArgCmp]) -> None:
    with Filter(Action.ALLOW) as f:
        before = f.export_bpf()
        dup = [*cmps, cmps[0]]
        exc = documented_only(lambda: f.add_rule(Action.errno(1), name, *dup))
        assert exc is not None, "two comparisons on one argument were accepted"
        assert f.export_bpf() == before


def test_documented_exceptions_are_what_the_library_raises() -> None:
    # Guard for this file's premise: the core's own errors are SeccompError.
    with pytest.raises(SeccompError):
        Syscall.from_name("no_such_syscall_xyz")
    with pytest.raises(TypeError):
        Filter(Action.ALLOW).add_rule(Action.errno(1), 3.5)  # type: ignore[arg-type]
