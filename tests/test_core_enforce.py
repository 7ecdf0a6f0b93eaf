"""The core binding enforced for real: each test loads a filter in a forked
child (a loaded filter is permanent) and asserts what the kernel did."""

from __future__ import annotations

import errno
import os
import platform
import signal
import threading

import pytest
from helpers.child import exec_under, in_child, in_thread_until_gone
from helpers.syscalls import NR, raw, status
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seccomp_py import Action, Arch, Arg, ArgCmp, Filter, Op, Optimize, SeccompError, features
from seccomp_py.errors import FilterTooLargeError

pytestmark = [
    pytest.mark.skipif(platform.machine() != "x86_64", reason="raw syscall numbers are x86_64's"),
    pytest.mark.timeout(60),
]

U64 = 2**64 - 1


# -- actions ---------------------------------------------------------------------------


def test_allow_listed_syscall_runs_and_the_rest_is_killed() -> None:
    """Default KILL_PROCESS: an allowed syscall runs, any other kills the process."""
    ppid = os.getpid()

    def allowed() -> None:
        f = Filter(Action.KILL_PROCESS)
        for name in ("getppid", "exit_group", "exit", "brk", "mmap", "munmap", "madvise",
                     "futex", "rt_sigreturn", "rt_sigprocmask"):
            f.add_rule(Action.ALLOW, name)
        f.load()
        os._exit(7 if os.getppid() == ppid else 8)

    out = in_child(allowed)
    assert (out.exitcode, out.signal) == (7, None)

    def denied() -> None:
        f = Filter(Action.KILL_PROCESS)
        for name in ("getppid", "exit_group", "exit", "brk", "mmap", "munmap", "madvise",
                     "futex", "rt_sigreturn", "rt_sigprocmask"):
            f.add_rule(Action.ALLOW, name)
        f.load()
        os.getuid()  # not allowed
        os._exit(9)

    out = in_child(denied)
    assert out.signal == signal.SIGSYS


@pytest.mark.parametrize("values", [(0, 1, errno.EACCES, 4094), (errno.ENOSYS, errno.EPERM)])
def test_errno_action_returns_each_value(values: tuple[int, ...]) -> None:
    def run() -> list[int]:
        with Filter(Action.ALLOW) as f:
            for i, value in enumerate(values):
                f.add_rule(Action.errno(value), "getppid", Arg(0) == i)
            f.load()
        return [raw(NR["getppid"], i) for i in range(len(values))] + [raw(NR["getppid"], 99)]

    out = in_child(run)
    assert out.error is None
    *got, untouched = out.value
    assert got == [-v for v in values]  # errno 0: the call "succeeds" with 0 unexecuted
    assert untouched == os.getpid()


def test_kill_thread_kills_only_the_calling_thread() -> None:
    def run() -> tuple[bool, bool, str]:
        f = Filter(Action.ALLOW)
        f.add_rule(Action.KILL_THREAD, "getppid")
        f.load()
        finished, gone = in_thread_until_gone(lambda: raw(NR["getppid"]))
        return finished, gone, status("State")

    out = in_child(run)
    assert out.error is None and out.signal is None
    finished, gone, _ = out.value
    assert (finished, gone) == (False, True)  # the thread died, the process lives on


def test_kill_thread_on_the_only_thread_ends_with_sigsys() -> None:
    def run() -> None:
        f = Filter(Action.ALLOW)
        f.add_rule(Action.KILL_THREAD, "getppid")
        f.load()
        raw(NR["getppid"])

    assert in_child(run).signal == signal.SIGSYS


def test_kill_process_from_a_second_thread_kills_the_whole_process() -> None:
    def run() -> str:
        f = Filter(Action.ALLOW)
        f.add_rule(Action.KILL_PROCESS, "getppid")
        f.load()
        in_thread_until_gone(lambda: raw(NR["getppid"]))
        return "survived"

    out = in_child(run)
    assert out.signal == signal.SIGSYS
    assert out.value is None


def test_trap_delivers_sigsys_with_the_syscall_number(c_helpers: dict[str, str]) -> None:
    def build() -> Filter:
        f = Filter(Action.ALLOW)
        f.add_rule(Action.TRAP, "getppid")
        return f

    out, text = exec_under(build, [c_helpers["probe"], "trap", str(NR["getppid"])])
    assert (out.exitcode, out.signal) == (0, None), text
    # si_code SYS_SECCOMP (1), si_arch the audit arch, si_errno the action data (0)
    assert text.split() == [f"nr={NR['getppid']}", f"arch={int(Arch.X86_64):x}", "code=1",
                            "errno=0"]


def test_trap_leaves_other_syscalls_alone(c_helpers: dict[str, str]) -> None:
    def build() -> Filter:
        f = Filter(Action.ALLOW)
        f.add_rule(Action.TRAP, "getppid")
        return f

    out, text = exec_under(build, [c_helpers["probe"], "trap", str(NR["getuid"])])
    assert out.exitcode == 0 and text.strip() == "no-signal"


def test_log_action_lets_the_syscall_run() -> None:
    assert features.kernel_has_action(Action.LOG)

    def run() -> int:
        f = Filter(Action.ALLOW)
        f.add_rule(Action.LOG, "getppid")
        f.load()
        return raw(NR["getppid"])

    assert in_child(run).value == os.getpid()


def test_trace_without_a_tracer_fails_with_enosys() -> None:
    def run() -> int:
        f = Filter(Action.ALLOW)
        f.add_rule(Action.trace(7), "getppid")
        f.load()
        return raw(NR["getppid"])

    assert in_child(run).value == -errno.ENOSYS


def test_errno_default_action() -> None:
    def run() -> tuple[int, int]:
        f = Filter(Action.errno(errno.EROFS))
        for name in ("exit_group", "exit", "write", "brk", "mmap", "munmap", "madvise",
                     "futex", "rt_sigreturn", "rt_sigprocmask", "getppid", "close"):
            f.add_rule(Action.ALLOW, name)
        f.load()
        return raw(NR["getuid"]), raw(NR["getppid"])

    out = in_child(run)
    assert out.value == (-errno.EROFS, os.getpid())


# -- argument comparisons ----------------------------------------------------------


def _model(cmp: ArgCmp, x: int) -> bool:
    a = cmp.a
    return {
        Op.EQ: x == a, Op.NE: x != a, Op.LT: x < a, Op.LE: x <= a,
        Op.GT: x > a, Op.GE: x >= a, Op.MASKED_EQ: (x & a) == cmp.b,
    }[cmp.op]


def _probe_values(*data: int) -> list[int]:
    found = {0, 1, 2**31, 2**32 - 1, 2**32, 2**32 + 1, 2**63, U64}
    for d in data:
        for delta in (-1, 0, 1, 2**32, -(2**32)):
            found.add((d + delta) & U64)
        found.add(d ^ 1)
        found.add(d ^ (1 << 40))
    return sorted(found)


def _decisions(cmps: list[ArgCmp], values: list[int], arg: int = 0) -> list[bool]:
    """In a child: errno(EXDEV) on getppid when all cmps hold; True where it matched."""

    def run() -> list[bool]:
        f = Filter(Action.ALLOW)
        f.add_rule(Action.errno(errno.EXDEV), "getppid", *cmps)
        f.load()
        result = []
        for v in values:
            args = [0] * 6
            args[arg] = v
            result.append(raw(NR["getppid"], *args) == -errno.EXDEV)
        return result

    out = in_child(run)
    assert out.error is None, out.error
    assert isinstance(out.value, list)
    return out.value


DATA = [0, 5, 2**32 - 1, 2**32 + 5, 0xDEADBEEF_00000000, 2**63 + 7, U64]


@pytest.mark.parametrize("op", [Op.EQ, Op.NE, Op.LT, Op.LE, Op.GT, Op.GE])
def test_every_operator_on_64_bit_values(op: Op) -> None:
    for datum in DATA:
        cmp = ArgCmp(3, op, datum)
        values = _probe_values(datum)
        assert _decisions([cmp], values, arg=3) == [_model(cmp, v) for v in values], (op, datum)


def test_masked_equal() -> None:
    cases = [(os.O_ACCMODE, os.O_WRONLY), (0xFF00_0000_0000, 0x1200_0000_0000),
             (U64, 2**40 + 3), (0xF0F0_F0F0_F0F0_F0F0, 0x1010_0000_0000_0010), (0, 0)]
    for mask, value in cases:
        cmp = Arg(1).masked_eq(mask, value)
        values = _probe_values(mask, value, value | 0x8000_0000_0000_0000)
        assert _decisions([cmp], values, arg=1) == [_model(cmp, v) for v in values]


@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    op=st.sampled_from(list(Op)),
    a=st.integers(0, U64),
    b=st.integers(0, U64),
    extra=st.lists(st.integers(0, U64), max_size=4),
)
def test_comparisons_match_a_model(op: Op, a: int, b: int, extra: list[int]) -> None:
    cmp = ArgCmp(5, op, a, a & b if op is Op.MASKED_EQ else 0)
    values = sorted(set(_probe_values(a) + extra + [a & b]))
    assert _decisions([cmp], values, arg=5) == [_model(cmp, v) for v in values]


def test_several_comparisons_in_one_rule_are_anded() -> None:
    cmps = [Arg(0) == 1, Arg(1) >= 2**33, Arg(2).masked_eq(0xF0, 0x30), Arg(4) != 9]

    def run() -> list[bool]:
        f = Filter(Action.ALLOW)
        f.add_rule(Action.errno(errno.EXDEV), "getppid", *cmps)
        f.load()
        out = []
        for a0 in (1, 2):
            for a1 in (2**33 - 1, 2**33, U64):
                for a2 in (0x30, 0x3F, 0x130, 0x20):
                    for a4 in (9, 10):
                        out.append(raw(NR["getppid"], a0, a1, a2, 0, a4) == -errno.EXDEV)
        return out

    expected = [
        a0 == 1 and a1 >= 2**33 and (a2 & 0xF0) == 0x30 and a4 != 9
        for a0 in (1, 2) for a1 in (2**33 - 1, 2**33, U64)
        for a2 in (0x30, 0x3F, 0x130, 0x20) for a4 in (9, 10)
    ]
    assert sum(expected) > 1
    assert in_child(run).value == expected


def test_separate_rules_are_ored() -> None:
    def run() -> list[int]:
        f = Filter(Action.ALLOW)
        f.add_rule(Action.errno(errno.EXDEV), "getppid", Arg(0) == 1)
        f.add_rule(Action.errno(errno.EXDEV), "getppid", Arg(0) == 2)
        f.load()
        return [raw(NR["getppid"], v) for v in (0, 1, 2, 3)]

    p = os.getpid()
    assert in_child(run).value == [p, -errno.EXDEV, -errno.EXDEV, p]


def test_32_bit_comparisons() -> None:
    """Arg(i, bits=32) truncates the *value* to 32 bits (libseccomp's SCMP_CMP32):
    -1 means 0xFFFFFFFF; the argument itself is still compared in full."""
    eq = Arg(0, bits=32) == -1
    assert eq.a == 0xFFFFFFFF
    values = [0xFFFFFFFF, U64, 0x1_FFFF_FFFF, 0xFFFFFFFE, 0]
    assert _decisions([eq], values) == [True, False, False, False, False]
    gt = Arg(2, bits=32) > 0x7FFFFFFF
    values = [0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 2**32]
    assert _decisions([gt], values, arg=2) == [False, True, True, True]
    masked = Arg(1, bits=32).masked_eq(-1, 0x10)
    assert (masked.a, masked.b) == (0xFFFFFFFF, 0x10)
    values = [0x10, 0x1_0000_0010, 0x11]
    assert _decisions([masked], values, arg=1) == [True, True, False]


# -- attributes with a visible effect ----------------------------------------------------


def test_no_new_privileges_on_and_off() -> None:
    def run(nnp: bool) -> tuple[str, str, str]:
        before = status("NoNewPrivs")
        f = Filter(Action.ALLOW)
        f.no_new_privileges = nnp
        assert f.no_new_privileges is nnp
        f.load()
        return before, status("NoNewPrivs"), status("Seccomp")

    assert in_child(run, True).value == ("0", "1", "2")
    if os.geteuid() == 0:  # CAP_SYS_ADMIN: no need for no_new_privs
        assert in_child(run, False).value == ("0", "0", "2")


def test_without_no_new_privileges_an_unprivileged_load_reports_eacces() -> None:
    """libseccomp would say ECANCELED; the kernel's EACCES must come through,
    whatever RETURN_SYSTEM_RETURN_CODES says."""

    def run(sysrawrc: bool) -> tuple[int, str, str, str]:
        if os.geteuid() == 0:  # drop every capability with root
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
        f = Filter(Action.ALLOW)
        f.no_new_privileges = False
        f.return_system_return_codes = sysrawrc
        try:
            f.load()
        except SeccompError as exc:
            assert f.return_system_return_codes is sysrawrc
            return exc.errno or 0, exc.func, status("Seccomp"), str(exc)
        raise AssertionError("load succeeded")

    for sysrawrc in (True, False):
        out = in_child(run, sysrawrc)
        assert out.error is None, out.error
        err, func, seccomp_mode, text = out.value
        assert (err, func, seccomp_mode) == (errno.EACCES, "seccomp_load", "0"), text


def test_thread_sync_applies_to_threads_already_running() -> None:
    def run(tsync: bool) -> tuple[int, int]:
        go = threading.Event()
        result: list[int] = []

        def worker() -> None:
            go.wait(10)
            result.append(raw(NR["getppid"]))

        t = threading.Thread(target=worker)
        t.start()
        f = Filter(Action.ALLOW)
        f.thread_sync = tsync
        f.add_rule(Action.errno(errno.EXDEV), "getppid")
        f.load()
        go.set()
        t.join(10)
        return result[0], raw(NR["getppid"])

    assert in_child(run, True).value == (-errno.EXDEV, -errno.EXDEV)
    assert in_child(run, False).value == (os.getpid(), -errno.EXDEV)


@pytest.mark.parametrize("sysrawrc", [True, False])
def test_thread_sync_failure_reports_esrch(sysrawrc: bool) -> None:
    """A thread with a filter of its own cannot be synchronised: the kernel's
    refusal comes back as ESRCH from seccomp_load, not as ECANCELED."""

    def run() -> tuple[int, str, str]:
        ready = threading.Event()
        done = threading.Event()

        def own_filter() -> None:
            g = Filter(Action.ALLOW)
            g.add_rule(Action.errno(errno.EXDEV), "getuid")
            g.load()
            ready.set()
            done.wait(10)

        t = threading.Thread(target=own_filter)
        t.start()
        ready.wait(10)
        f = Filter(Action.ALLOW)
        f.thread_sync = True
        f.return_system_return_codes = sysrawrc
        f.add_rule(Action.errno(errno.EPERM), "getppid")
        try:
            f.load()
            result: tuple[int, str, str] = (0, "", status("Seccomp"))
        except SeccompError as exc:
            result = (exc.errno or 0, exc.func, status("Seccomp"))
        done.set()
        t.join(10)
        return result

    out = in_child(run)
    assert out.error is None, out.error
    assert out.value == (errno.ESRCH, "seccomp_load", "0")


def test_bad_arch_action_on_an_i386_syscall(c_helpers: dict[str, str]) -> None:
    probe = c_helpers["probe"]
    i386_getpid = 20

    def default() -> Filter:
        return Filter(Action.ALLOW)  # bad-arch action defaults to KILL_PROCESS

    out, _ = exec_under(default, [probe, "int80", str(i386_getpid)])
    assert out.signal == signal.SIGSYS

    def errno_on_bad_arch() -> Filter:
        f = Filter(Action.ALLOW)
        f.bad_arch_action = Action.errno(errno.EXDEV)
        assert f.bad_arch_action == Action.errno(errno.EXDEV)
        return f

    out, text = exec_under(errno_on_bad_arch, [probe, "int80", str(i386_getpid)])
    assert out.exitcode == 0 and text.strip() == f"ret={-errno.EXDEV}"

    def with_x86() -> Filter:
        f = Filter(Action.ALLOW)
        f.add_arch(Arch.X86)
        f.add_rule(Action.errno(errno.EPERM), "getpid")
        return f

    # the rule is translated to i386's number: int 0x80 getpid is refused, not killed
    out, text = exec_under(with_x86, [probe, "int80", str(i386_getpid)])
    assert out.exitcode == 0 and text.strip() == f"ret={-errno.EPERM}"


def test_x32_syscall_cannot_slip_past_an_x86_64_filter(c_helpers: dict[str, str]) -> None:
    """x32 numbers carry bit 30 under the x86_64 audit arch: libseccomp must
    treat them as a foreign arch, not let them fall through to ALLOW."""
    probe = c_helpers["probe"]

    def deny_getpid() -> Filter:
        f = Filter(Action.ALLOW)
        f.add_rule(Action.KILL_PROCESS, "getpid")
        return f

    out, _ = exec_under(deny_getpid, [probe, "x32", str(NR["getpid"])])
    assert out.signal == signal.SIGSYS

    def errno_bad_arch() -> Filter:
        f = Filter(Action.ALLOW)
        f.bad_arch_action = Action.errno(errno.EXDEV)
        f.add_rule(Action.errno(errno.EPERM), "getpid")
        return f

    out, text = exec_under(errno_bad_arch, [probe, "x32", str(NR["getpid"])])
    assert text.strip() == f"ret={-errno.EXDEV}"
    out, text = exec_under(errno_bad_arch, [probe, "x32", "512"])  # an x32-only number
    assert text.strip() == f"ret={-errno.EXDEV}"


def test_binary_tree_optimization_gives_the_same_decisions() -> None:
    numbers = list(range(600, 900, 3))
    calls = [*range(590, 905), NR["getppid"], NR["getuid"]]

    def run(optimize: int) -> tuple[list[int], int]:
        f = Filter(Action.ALLOW)
        f.optimize = optimize
        for i, nr in enumerate(numbers):
            f.add_rule(Action.errno(1 + i % 200), nr)
        f.add_rule(Action.errno(errno.EXDEV), "getppid", Arg(0) > 5)
        f.add_rule(Action.KILL_PROCESS, "getppid", Arg(0) == 1000)
        count = f.instruction_count
        f.load()
        res = [raw(nr) for nr in calls] + [raw(NR["getppid"], 6), raw(NR["getppid"], 5)]
        return res, count

    linear, tree = in_child(run, int(Optimize.PRIORITY)), in_child(run, int(Optimize.BINARY_TREE))
    assert linear.error is None and tree.error is None
    assert linear.value[0] == tree.value[0]
    assert linear.value[1] != tree.value[1]  # really a different program
    expected = [-(1 + numbers.index(nr) % 200) if nr in numbers else -errno.ENOSYS
                for nr in range(590, 905)]
    assert linear.value[0][: len(expected)] == expected
    assert linear.value[0][-2:] == [-errno.EXDEV, os.getpid()]

    def killed(optimize: int) -> None:
        f = Filter(Action.ALLOW)
        f.optimize = optimize
        for nr in numbers:
            f.add_rule(Action.errno(1), nr)
        f.add_rule(Action.KILL_PROCESS, "getppid", Arg(0) == 1000)
        f.load()
        raw(NR["getppid"], 1000)

    assert in_child(killed, 2).signal == signal.SIGSYS


def test_a_huge_filter_fails_before_the_kernel_sees_it() -> None:
    def run() -> tuple[str, int, str]:
        f = Filter(Action.ALLOW)
        for nr in range(1000, 5200):
            f.add_rule(Action.errno(1 + nr % 100), nr)
        try:
            f.load()
        except FilterTooLargeError as exc:
            return type(exc).__name__, exc.instructions, status("Seccomp")
        return "loaded", 0, status("Seccomp")

    out = in_child(run)
    name, count, mode = out.value
    assert (name, mode) == ("FilterTooLargeError", "0")
    assert count > 4096
    assert isinstance(FilterTooLargeError(5000, 4096), ValueError)


def test_second_load_is_refused_and_loads_nothing_more() -> None:
    def run() -> tuple[str, str]:
        f = Filter(Action.ALLOW)
        f.add_rule(Action.errno(1), "getppid")
        f.load()
        try:
            f.load()
        except SeccompError as exc:
            return type(exc).__name__, status("Seccomp_filters")
        return "loaded twice", status("Seccomp_filters")

    assert in_child(run).value == ("AlreadyLoadedError", "1")


def test_reset_filter_can_be_loaded_and_keeps_default_action() -> None:
    def run() -> list[int]:
        f = Filter(Action.errno(errno.EXDEV))
        f.add_rule(Action.ALLOW, "getppid")
        f.reset()
        for name in ("exit_group", "exit", "write", "brk", "mmap", "munmap", "madvise",
                     "futex", "rt_sigreturn", "rt_sigprocmask", "close", "getuid"):
            f.add_rule(Action.ALLOW, name)
        f.load()
        return [raw(NR["getppid"]), raw(NR["getuid"])]

    assert in_child(run).value == [-errno.EXDEV, os.getuid()]


def test_merged_filter_enforces_both_arches(c_helpers: dict[str, str]) -> None:
    def build() -> Filter:
        a = Filter(Action.ALLOW)
        a.add_rule(Action.errno(errno.EPERM), "getppid")
        b = Filter(Action.ALLOW)
        b.remove_arch(Arch.native())
        b.add_arch(Arch.X86)
        b.add_rule(Action.errno(errno.EXDEV), "getpid")
        a.merge(b)
        assert b.closed
        return a

    out, text = exec_under(build, [c_helpers["probe"], "int80", "20"])
    assert text.strip() == f"ret={-errno.EXDEV}"
    out, text = exec_under(build, [c_helpers["probe"], "x32", "0"])  # still bad-arch killed
    assert out.signal == signal.SIGSYS


def test_priority_keeps_decisions() -> None:
    def run() -> list[int]:
        f = Filter(Action.ALLOW)
        f.add_rule(Action.errno(errno.EXDEV), "getppid", Arg(0) == 3)
        f.add_rule(Action.errno(errno.EPERM), "getuid")
        f.set_priority("getuid", 255)
        pfc = f.export_pfc()
        assert pfc.index('"getuid"') < pfc.index('"getppid"')
        f.load()
        return [raw(NR["getppid"], 3), raw(NR["getppid"], 4), raw(NR["getuid"])]

    out = in_child(run)
    assert out.error is None, out.error
    assert out.value == [-errno.EXDEV, os.getpid(), -errno.EPERM]


def test_socketcall_widening_is_real_and_warned(c_helpers: dict[str, str], tmp_path: str) -> None:
    """An allow rule with argument tests on socket() cannot hold on i386's
    socketcall(2): the kernel lets every socket through that way.  seccomp_py
    warns (WidenedRuleWarning); denying socketcall closes the hole.  The probe
    loads the BPF that export_bpf() produced, so this also checks that output."""
    import socket
    import subprocess

    from seccomp_py.errors import WidenedRuleWarning

    def verdicts(deny_socketcall: bool) -> str:
        f = Filter(Action.errno(errno.EPERM))
        f.add_arch(Arch.X86)
        for name in ("write", "exit_group", "exit"):
            f.add_rule(Action.ALLOW, name)
        with pytest.warns(WidenedRuleWarning, match="socketcall"):
            f.add_rule(Action.ALLOW, "socket", Arg(0) == socket.AF_UNIX)
        if deny_socketcall:
            f.add_rule(Action.errno(errno.EACCES), "socketcall")
        path = os.path.join(tmp_path, "filter.bpf")
        f.write(path)
        return subprocess.run([c_helpers["probe"], "sockets", path], capture_output=True,
                              text=True, timeout=20, check=True).stdout.strip()

    eperm, eacces = -errno.EPERM, -errno.EACCES
    # native and direct i386 socket(AF_INET) are refused; through socketcall it passes
    assert verdicts(False) == f"native={eperm} i386={eperm} socketcall=ok socketcall_unix=ok"
    assert verdicts(True) == (f"native={eperm} i386={eperm} socketcall={eacces} "
                              f"socketcall_unix={eacces}")
