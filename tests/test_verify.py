"""The verifier: every program is proven to decide as its rules say before it leaves.

The three fail-open reproductions of docs/failclosed.md end enforced as written (checked
by the kernel in a child); the shipped profiles verify; a program with one
jump changed by hand is refused naming the input it gets wrong.
"""

from __future__ import annotations

import errno
import os
import signal
import termios

import pytest
from helpers.child import exec_under, in_child
from helpers.syscalls import raw_syscall

from seccomp_py import Action, Arch, Arg, Filter, bpf, features
from seccomp_py.errors import FilterVerificationError
from seccomp_py.profile import Profile
from seccomp_py.verify import verify

X86_64 = Arch.native() == Arch.X86_64
needs_x86_64 = pytest.mark.skipif(not X86_64, reason="x86_64 (i386 and x32 probes)")
#: what a child needs to report back under a deny-by-default filter
PLUMBING = ("write", "exit_group", "exit", "brk", "mmap", "munmap", "futex", "madvise",
            "rt_sigprocmask", "getpid")


def _allow_plumbing(f: Filter) -> None:
    for name in PLUMBING:
        f.add_rule(Action.ALLOW, name)


def _range_merge() -> Filter:
    f = Filter(Action.errno(errno.ENOENT))
    f.add_rule(Action.errno(errno.EAGAIN), "getppid", Arg(5) > 2**64 - 1, Arg(2) >= 0)
    f.add_rule(Action.ALLOW, "getppid", Arg(2) > 0x1000, Arg(4) > 8)
    return f


def test_range_merge_reproduction_is_enforced_as_written() -> None:
    # libseccomp 2.5.4 compiles these two rules into a program that ALLOWS
    # getppid(0, 0, 0x351, 0, 9, 0); seccomp_py repairs it and the kernel agrees
    f = _range_merge()
    assert verify(f.policy(), f.export_bpf()) > 0

    def child() -> list[int]:
        g = _range_merge()
        _allow_plumbing(g)
        g.load()
        return [raw_syscall("getppid", 0, 0, 0x351, 0, 9, 0),
                raw_syscall("getppid", 0, 0, 0x2000, 0, 9, 0),
                raw_syscall("getppid", 0, 0, 0x2000, 0, 8, 0),
                raw_syscall("getppid", 0, 0, 0x351, 0, 2**40, 0)]

    out = in_child(child)
    assert out.exitcode == 0, out
    no_rule, allowed, no_rule_2, no_rule_3 = out.value
    assert no_rule == -errno.ENOENT
    assert allowed == os.getpid()
    assert no_rule_2 == -errno.ENOENT
    assert no_rule_3 == -errno.ENOENT


def _ioctl_allow_list() -> Filter:
    f = Filter(Action.errno(errno.EPERM))
    f.add_rule(Action.ALLOW, "ioctl", Arg(0) >= 3)
    f.add_rule(Action.ALLOW, "ioctl", Arg(0) <= 2, Arg(1) == termios.TCGETS)
    return f


def test_same_action_ioctl_reproduction_refuses_tiocsti() -> None:
    def child() -> list[int]:
        null = os.open(os.devnull, os.O_RDWR)
        os.dup2(null, 0)
        g = _ioctl_allow_list()
        _allow_plumbing(g)
        g.load()
        return [raw_syscall("ioctl", 0, termios.TIOCSTI, 0),
                raw_syscall("ioctl", 0, 3, 0),
                raw_syscall("ioctl", 0, termios.TCGETS, 0),
                raw_syscall("ioctl", null, termios.TIOCSTI, 0)]

    out = in_child(child)
    assert out.exitcode == 0, out
    tiocsti, other, tcgets, high_fd = out.value
    assert tiocsti == -errno.EPERM  # terminal input injection refused
    assert other == -errno.EPERM
    assert tcgets in (-errno.ENOTTY, -errno.EFAULT)  # allowed: /dev/null is no tty
    assert high_fd != -errno.EPERM  # fd >= 3: allowed


@needs_x86_64
def test_x86_priority_reproduction_kills_through_int80(c_helpers: dict[str, str]) -> None:
    # libseccomp 2.5.4: a priority on a syscall without a rule plus add_arch("x86")
    # lets the KILL_PROCESS rule's syscall run through int 0x80
    def build() -> Filter:
        f = Filter(Action.ALLOW)
        f.add_arch(Arch.X86)
        f.set_priority("getpid", 100)
        f.add_rule(Action.KILL_PROCESS, "getppid")
        return f

    out, _ = exec_under(build, [c_helpers["probe"], "int80", "64"])  # i386 getppid
    assert out.signal == signal.SIGSYS, out
    out, _ = exec_under(build, [c_helpers["probe"], "int80", "20"])  # i386 getpid
    assert out.exitcode == 0, out


@needs_x86_64
def test_x32_phantom_shape_is_enforced_natively() -> None:
    # libseccomp 2.5.4: with x32 in the filter, a conditional rule on a syscall
    # x32 lacks makes the native program skip `ld [0]`: every call was ALLOWED
    def build() -> Filter:
        f = Filter(Action.ALLOW)
        f.add_arch(Arch.X32)
        f.add_rule(Action.errno(13), "vserver", Arg(1) != 5)
        f.add_rule(Action.errno(14), "getppid", Arg(0) == 1)
        f.add_rule(Action.errno(15), "getppid", Arg(1) == 1)
        return f

    def child() -> list[int]:
        build().load()
        return [raw_syscall("vserver", 0, 7), raw_syscall("vserver", 0, 5),
                raw_syscall("getppid", 1, 0), raw_syscall("getppid", 0, 1),
                raw_syscall("getppid", 0, 0)]

    out = in_child(child)
    assert out.exitcode == 0, out
    assert out.value[:2] == [-13, -errno.ENOSYS]
    assert out.value[2] == -14 and out.value[3] == -15 and out.value[4] == os.getpid()


@pytest.mark.parametrize("name", ["docker", "podman"])
def test_builtin_profiles_verify_on_every_arch(name: str) -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        compiled = Profile.builtin(name).compile(caps=())
    f = compiled.filter
    if X86_64:
        assert set(f.arches) >= {Arch.X86_64, Arch.X86, Arch.X32}
    data = f.export_bpf()
    ran = verify(f.policy(), data)
    assert ran > 1000
    assert f._repaired != f._generation, "libseccomp's own program should verify"


def test_a_jump_changed_by_hand_is_refused_naming_the_input() -> None:
    f = Filter(Action.ALLOW)
    f.add_rule(Action.errno(1), "getppid", Arg(0) == 5)
    f.add_rule(Action.KILL_PROCESS, "getpid")
    prog = bpf.parse(f.export_bpf())
    # the comparison of argument 0's low half with 5: swap where it jumps
    pc = next(i for i, ins in enumerate(prog) if ins.code == 0x15 and ins.k == 5)
    ins = prog[pc]
    prog[pc] = bpf.Insn(ins.code, ins.jf, ins.jt, ins.k)
    with pytest.raises(FilterVerificationError) as info:
        verify(f.policy(), bpf.assemble(prog))
    err = info.value
    assert err.syscall == "getppid"
    assert err.expected and err.actual and err.expected != (err.actual,)
    assert err.version == ".".join(map(str, features.library_version()))
    assert "getppid" in str(err) and "nothing was loaded" in str(err)


def test_a_changed_return_is_refused() -> None:
    f = Filter(Action.ALLOW)
    f.add_rule(Action.KILL_PROCESS, "getpid")
    prog = bpf.parse(f.export_bpf())
    pc = next(i for i, ins in enumerate(prog) if ins.cls == bpf.RET and ins.k == 0x80000000)
    prog[pc] = bpf.Insn(prog[pc].code, 0, 0, 0x7FFF0000)
    with pytest.raises(FilterVerificationError, match="getpid"):
        verify(f.policy(), bpf.assemble(prog))


def test_arithmetic_on_arguments_cannot_be_proven() -> None:
    f = Filter(Action.ALLOW)
    f.add_rule(Action.errno(1), "getppid", Arg(0) == 5)
    getppid = 110 if X86_64 else pytest.skip("x86_64 numbers")
    insns = [(0x20, 0, 0, 4), (0x15, 1, 0, int(Arch.native())), (0x06, 0, 0, 0),
             (0x20, 0, 0, 0), (0x15, 4, 0, getppid), (0x15, 6, 0, 0xFFFFFFFF),
             (0x35, 0, 5, 0x40000000), (0x06, 0, 0, 0), (0x06, 0, 0, 0),
             (0x20, 0, 0, 16), (0x04, 0, 0, 1),  # ld args[0].lo; add #1
             (0x15, 1, 0, 6), (0x06, 0, 0, 0x7FFF0000), (0x06, 0, 0, 0x00050001)]
    program = bpf.assemble([bpf.Insn(*i) for i in insns])
    with pytest.raises(FilterVerificationError, match="cannot prove") as info:
        verify(f.policy(), program)
    assert info.value.reason


def test_opt_out_skips_verification() -> None:
    f = Filter(Action.errno(errno.ENOENT), verify=False)
    f.add_rule(Action.errno(errno.EAGAIN), "getppid", Arg(5) > 2**64 - 1, Arg(2) >= 0)
    f.add_rule(Action.ALLOW, "getppid", Arg(2) > 0x1000, Arg(4) > 8)
    data = f.export_bpf()  # libseccomp's program, as is
    if features.library_version() < (2, 6, 1):
        with pytest.raises(FilterVerificationError):
            verify(f.policy(), data)


def test_x32_only_filter_verifies_and_exports() -> None:
    f = Filter(Action.ALLOW)
    f.add_arch(Arch.X32)
    f.remove_arch(Arch.X86_64)
    f.add_rule(Action.errno(1), "getpid")
    data = f.export_bpf()
    x32_getpid = 39 | 0x40000000
    assert bpf.evaluate(data, x32_getpid, int(Arch.X86_64)) == 0x00050001


def test_rules_before_add_arch_do_not_apply_to_it() -> None:
    f = Filter(Action.ALLOW)
    f.add_rule(Action.errno(1), "getpid")
    f.add_arch(Arch.X86)
    f.add_rule(Action.errno(2), "getppid")
    policy = f.policy()
    verify(policy, f.export_bpf())
    assert policy.decide(int(Arch.X86), 20) == {0x7FFF0000}  # i386 getpid: no rule there
    assert policy.decide(int(Arch.X86), 64) == {0x00050002}


def test_merged_filters_keep_each_sides_rules_on_its_arches() -> None:
    a = Filter(Action.ALLOW)
    a.add_rule(Action.errno(1), "getpid")
    b = Filter(Action.ALLOW)
    b.add_arch(Arch.X86)
    b.remove_arch(Arch.native())
    b.add_rule(Action.errno(2), "getppid")
    a.merge(b)
    a.add_rule(Action.errno(3), "gettid")  # after the merge: on both
    policy = a.policy()
    verify(policy, a.export_bpf())
    x86 = int(Arch.X86)
    native = int(Arch.native())
    assert policy.decide(x86, 20) == {0x7FFF0000}  # i386 getpid: a's rule is not there
    assert policy.decide(x86, 64) == {0x00050002}
    assert policy.decide(x86, 224) == {0x00050003}  # i386 gettid
    assert policy.decide(native, 39 if X86_64 else 0) in ({0x00050001}, {0x7FFF0000})


def test_verifier_threads_do_not_share_buffers() -> None:
    import threading
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        filters = [Profile.builtin(n).compile(caps=()).filter for n in ("docker", "podman")]
    data = [(f.policy(), f.export_bpf()) for f in filters]
    errors: list[BaseException] = []

    def work(policy: object, program: bytes) -> None:
        try:
            for _ in range(5):
                verify(policy, program)  # type: ignore[arg-type]
        except BaseException as exc:  # pragma: no cover - the failure is the assertion
            errors.append(exc)

    threads = [threading.Thread(target=work, args=d) for d in data * 2]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


@needs_x86_64
def test_repair_keeps_the_first_unconditional_rule_deciding() -> None:
    # the x32 phantom shape makes libseccomp's program wrong for every syscall;
    # the repair must decide getppid as the model does: the unconditional rule
    # wins over the earlier conditional one
    def build() -> Filter:
        f = Filter(Action.errno(errno.EPERM))
        f.add_arch(Arch.X32)
        f.set_priority("tuxcall", 32)
        _allow_plumbing(f)
        f.add_rule(Action.errno(5), "getppid", Arg(1) >= 10)
        f.add_rule(Action.errno(6), "getppid")
        return f

    f = build()
    verify(f.policy(), f.export_bpf())

    def child() -> list[int]:
        build().load()
        return [raw_syscall("getppid", 0, 11), raw_syscall("getppid", 0, 1),
                raw_syscall("getuid")]

    out = in_child(child)
    assert out.exitcode == 0, out
    assert out.value == [-6, -6, -errno.EPERM]
