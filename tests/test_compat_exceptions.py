"""compat raises what the official module raises.

For each public call of libseccomp's official Python module, the failing
inputs below are run through the official module (Debian's python3-seccomp)
and through seccomp_py.compat: compat's exception must be an instance of
every builtin class the official one is (RuntimeError, ValueError,
OverflowError, TypeError, AttributeError, OSError...), so that ``except``
clauses written for the official module keep catching.  Where the official
module is absent, each case still has to fail with compat's documented
class.

Deliberate differences (compat accepts more; documented in docs/compat.md):
an arch name where the official module wants an int, an fd (int) for
export_*(), and an unknown arch in resolve_syscall (compat refuses it).
"""

from __future__ import annotations

import io
import os
import tempfile
from typing import Any, Callable

import pytest
from helpers.official import OFFICIAL

import seccomp_py.compat as C

BUILTINS = (RuntimeError, ValueError, OverflowError, TypeError, AttributeError, OSError,
            LookupError)

# What compat raises in each case (checked without the official module too).
def cases(m: Any) -> dict[str, Callable[[], Any]]:
    F = m.SyscallFilter
    def ro_file() -> Any:
        return open("/dev/null", "rb")

    def closed_file() -> Any:
        with tempfile.TemporaryFile() as f:
            pass
        return f

    def merge_different_attrs() -> None:
        a, b = F(m.ALLOW), F(m.ALLOW)
        b.remove_arch(m.Arch())
        b.add_arch(m.Arch("x86"))
        b.set_attr(m.Attr.CTL_NNP, 0)
        a.merge(b)

    def exact_socket_on_x86() -> None:
        f = F(m.KILL)
        f.add_arch(m.Arch("x86"))
        f.add_rule_exactly(m.ALLOW, "socket", m.Arg(0, m.EQ, 1))

    def seven_args() -> None:
        F(m.KILL).add_rule(m.ALLOW, "read", *[m.Arg(i % 6, m.EQ, i) for i in range(7)])

    def duplicate_arg() -> None:
        F(m.KILL).add_rule(m.ALLOW, "read", m.Arg(0, m.EQ, 1), m.Arg(0, m.EQ, 2))

    def fd_closed_underneath() -> Any:
        fd = os.open("/dev/null", os.O_WRONLY)
        f = os.fdopen(fd, "wb", closefd=False)
        os.close(fd)
        return f
    return {
        "SyscallFilter(bad action)": lambda: F(0x12345),
        "SyscallFilter(str)": lambda: F("x"),
        "SyscallFilter(None)": lambda: F(None),
        "reset(bad)": lambda: F(m.ALLOW).reset(0x12345),
        "reset(str)": lambda: F(m.ALLOW).reset("x"),
        "merge(None)": lambda: F(m.ALLOW).merge(None),
        "merge(int)": lambda: F(m.ALLOW).merge(3),
        "merge(same arch)": lambda: F(m.ALLOW).merge(F(m.ALLOW)),
        "merge(diff attrs)": merge_different_attrs,
        "exist_arch(bad)": lambda: F(m.ALLOW).exist_arch(12345),
        "add_arch(bad)": lambda: F(m.ALLOW).add_arch(12345),
        "add_arch(existing)": lambda: F(m.ALLOW).add_arch(m.Arch()),
        "add_arch(big endian)": lambda: F(m.ALLOW).add_arch(m.Arch("s390x")),
        "remove_arch(absent)": lambda: F(m.ALLOW).remove_arch(m.Arch("x86")),
        "remove_arch(bad)": lambda: F(m.ALLOW).remove_arch(12345),
        "get_attr(bad)": lambda: F(m.ALLOW).get_attr(12345),
        "get_attr(str)": lambda: F(m.ALLOW).get_attr("x"),
        "set_attr(bad)": lambda: F(m.ALLOW).set_attr(12345, 1),
        "set_attr(badval)": lambda: F(m.ALLOW).set_attr(m.Attr.ACT_BADARCH, 0x12345),
        "set_attr(str)": lambda: F(m.ALLOW).set_attr(m.Attr.CTL_NNP, "x"),
        "set_attr(big)": lambda: F(m.ALLOW).set_attr(m.Attr.CTL_NNP, 2**40),
        "priority(bad name)": lambda: F(m.ALLOW).syscall_priority("nosuch", 1),
        "priority(big)": lambda: F(m.ALLOW).syscall_priority("read", 1000),
        "priority(neg)": lambda: F(m.ALLOW).syscall_priority("read", -1),
        "priority(str)": lambda: F(m.ALLOW).syscall_priority("read", "x"),
        "priority(None)": lambda: F(m.ALLOW).syscall_priority(None, 1),
        "add_rule(bad name)": lambda: F(m.KILL).add_rule(m.ALLOW, "nosuch"),
        "add_rule(same as default)": lambda: F(m.ALLOW).add_rule(m.ALLOW, "read"),
        "add_rule(bad action)": lambda: F(m.KILL).add_rule(0x12345, "read"),
        "add_rule(str action)": lambda: F(m.KILL).add_rule("x", "read"),
        "add_rule(None syscall)": lambda: F(m.KILL).add_rule(m.ALLOW, None),
        "add_rule(bad arg)": lambda: F(m.KILL).add_rule(m.ALLOW, "read", 3),
        "add_rule(arg idx 7)": lambda: F(m.KILL).add_rule(m.ALLOW, "read", m.Arg(7, m.EQ, 1)),
        "add_rule(bad op)": lambda: F(m.KILL).add_rule(m.ALLOW, "read", m.Arg(0, 99, 1)),
        "add_rule(dup arg)": duplicate_arg,
        "add_rule(7 args)": seven_args,
        "add_rule(neg nr)": lambda: F(m.KILL).add_rule(m.ALLOW, -5),
        "add_rule(big nr)": lambda: F(m.KILL).add_rule(m.ALLOW, 2**40),
        "add_rule_exactly(socket x86)": exact_socket_on_x86,
        "add_rule_exactly(bad name)": lambda: F(m.KILL).add_rule_exactly(m.ALLOW, "nosuch"),
        "Arg(big)": lambda: m.Arg(0, m.EQ, 2**70),
        "Arg(neg idx)": lambda: m.Arg(-1, m.EQ, 1),
        "Arg(str)": lambda: m.Arg("x", m.EQ, 1),
        "Arg(neg datum)": lambda: m.Arg(0, m.EQ, -1),
        "Arch(bad str)": lambda: m.Arch("nosuch"),
        "Arch(bad int)": lambda: m.Arch(12345),
        "Arch(float)": lambda: m.Arch(1.5),
        "resolve(bad name)": lambda: m.resolve_syscall(m.Arch(), "nosuch"),
        "resolve(bad nr)": lambda: m.resolve_syscall(m.Arch(), 99999),
        "resolve(None)": lambda: m.resolve_syscall(m.Arch(), None),
        "set_api(99)": lambda: m.set_api(99),
        "set_api(str)": lambda: m.set_api("x"),
        "ERRNO(str)": lambda: m.ERRNO("x"),
        "ERRNO(big)": lambda: m.ERRNO(2**40),
        "TRACE(str)": lambda: m.TRACE("x"),
        "export_bpf(fd closed underneath)":
            lambda: F(m.ALLOW).export_bpf(fd_closed_underneath()),
        "export_pfc(fd closed underneath)":
            lambda: F(m.ALLOW).export_pfc(fd_closed_underneath()),
        "export_bpf(ro file)": lambda: F(m.ALLOW).export_bpf(ro_file()),
        "export_pfc(ro file)": lambda: F(m.ALLOW).export_pfc(ro_file()),
        "export_bpf(closed file)": lambda: F(m.ALLOW).export_bpf(closed_file()),
        "export_pfc(closed file)": lambda: F(m.ALLOW).export_pfc(closed_file()),
        "export_bpf(None)": lambda: F(m.ALLOW).export_bpf(None),
        "export_bpf(str)": lambda: F(m.ALLOW).export_bpf("x"),
        "export_bpf(StringIO)": lambda: F(m.ALLOW).export_bpf(io.StringIO()),
        "get_notify_fd(no notify)": lambda: F(m.ALLOW).get_notify_fd(),
        "receive_notify(no fd)": lambda: F(m.ALLOW).receive_notify(),
        "respond_notify(None)": lambda: F(m.ALLOW).respond_notify(None),
        "NotificationResponse(None)": lambda: m.NotificationResponse(None),
        "Notification()": lambda: m.Notification(),
        "c_str(None)": lambda: m.c_str(None),
        "c_str(int)": lambda: m.c_str(3),
    }


NAMES = sorted(cases(C))


def _run(fn: Callable[[], Any]) -> BaseException | None:
    try:
        fn()
    except Exception as exc:
        return exc
    return None


@pytest.mark.parametrize("name", NAMES)
def test_compat_raises_what_the_official_module_raises(name: str) -> None:
    got = _run(cases(C)[name])
    if OFFICIAL is None:
        assert got is not None, f"{name}: compat did not fail"
        return
    want = _run(cases(OFFICIAL)[name])
    if want is None:
        assert got is None, f"{name}: the official module succeeds, compat raised {got!r}"
        return
    assert got is not None, f"{name}: the official module raised {want!r}, compat did not"
    for builtin in BUILTINS:
        if isinstance(want, builtin):
            assert isinstance(got, builtin), (name, want, got)


def test_export_write_failure_keeps_the_errno() -> None:
    fd = os.open("/dev/null", os.O_WRONLY)
    target = os.fdopen(fd, "wb", closefd=False)
    os.close(fd)
    with pytest.raises(RuntimeError) as info:
        C.SyscallFilter(C.ALLOW).export_bpf(target)
    assert isinstance(info.value, OSError) and info.value.errno == 9


def test_every_public_call_has_a_case() -> None:
    covered = " ".join(NAMES)
    public = ["SyscallFilter", "reset", "merge", "exist_arch", "add_arch", "remove_arch",
              "get_attr", "set_attr", "priority", "add_rule", "add_rule_exactly",
              "export_bpf", "export_pfc", "get_notify_fd", "receive_notify", "respond_notify",
              "Arg", "Arch", "resolve", "set_api", "ERRNO", "TRACE", "c_str",
              "NotificationResponse", "Notification"]
    missing = [p for p in public if p not in covered and p != "SyscallFilter"]
    assert not missing, missing
