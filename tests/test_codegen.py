"""seccomp_py's own code generator (Optimize.RANGES, seccomp_py.codegen): every
program it emits is verified against the model, decides as libseccomp's program
for the same filter, and is enforced by the kernel as the rules say (on x86_64,
i386 through int 0x80 and x32 numbers)."""

from __future__ import annotations

import ctypes
import dataclasses
import errno
import os
import warnings

import pytest
from helpers.child import exec_under, in_child

from seccomp_py import Action, Arch, Arg, ArgCmp, Filter, Optimize, bpf
from seccomp_py.attribute import Attribute
from seccomp_py.codegen import generate, pick, ranges
from seccomp_py.model import X32_BIT
from seccomp_py.profile import Profile
from seccomp_py.syscall import resolve_name
from seccomp_py.verify import verify

X86_64 = int(Arch.X86_64)
X86 = int(Arch.X86)
DOCKER_CAPS = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
               "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
               "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"]

pytestmark = pytest.mark.skipif(Arch.native() is not Arch.X86_64, reason="x86_64 layouts")


def _compile(name: str, only_x86_64: bool = False) -> Filter:
    profile = Profile.builtin(name)
    if only_x86_64:
        profile = dataclasses.replace(profile, architectures=("SCMP_ARCH_X86_64",),
                                      arch_map=())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return profile.compile("x86_64", caps=DOCKER_CAPS).filter


def _programs(f: Filter) -> dict[str, bytes]:
    out = {}
    for layout in (Optimize.PRIORITY, Optimize.BINARY_TREE, Optimize.RANGES):
        f.optimize = layout
        out[layout.name] = f.export_bpf()
    return out


def _points(f: Filter) -> list[tuple[int, int, tuple[int, ...]]]:
    """(token, nr, args) on each side of every boundary the rules make, plus
    arguments on and around every datum of the rules."""
    policy = f.policy()
    out: list[tuple[int, int, tuple[int, ...]]] = []
    for token in (X86_64, X86, 0xC00000B7):
        nrs = {0, 1, X32_BIT - 1, X32_BIT, 0xFFFFFFFF, 0xFFFFFFFE, 0x7FFFFFFF}
        for arch in policy.arches:
            if (X86_64 if arch is Arch.X32 else int(arch)) == token:
                for nr in policy.table(arch):
                    nrs.update({nr, (nr + 1) & 0xFFFFFFFF, (nr - 1) & 0xFFFFFFFF})
        for nr in sorted(nrs):
            entries = policy.entries(token, nr) or []
            argsets: set[tuple[int, ...]] = {(0,) * 6}
            for e in entries:
                for c in e.cmps:
                    for v in (c.a - 1, c.a, c.a + 1, c.b, (1 << 64) - 1):
                        args = [0] * 6
                        args[c.index] = v % (1 << 64)
                        argsets.add(tuple(args))
            out.extend((token, nr, a) for a in sorted(argsets))
    return out


@pytest.mark.parametrize("name", ["docker", "podman"])
def test_builtin_profiles_verify_and_decide_as_libseccomp(name: str) -> None:
    f = _compile(name)
    assert _layout(f) is Optimize.RANGES  # chosen automatically: smaller
    progs = _programs(f)
    policy = f.policy()
    for data in progs.values():
        verify(policy, data)  # all three against the same model
    assert progs["RANGES"] == generate(policy)
    assert len(progs["RANGES"]) < len(progs["PRIORITY"]) and \
        len(progs["RANGES"]) < len(progs["BINARY_TREE"])
    points = _points(f)
    assert len(points) > 1000
    for token, nr, args in points:
        ours = bpf.evaluate(progs["RANGES"], nr, token, args)
        for layout in ("PRIORITY", "BINARY_TREE"):
            theirs = bpf.evaluate(progs[layout], nr, token, args)
            assert ours == theirs, (layout, hex(token), nr, args, hex(ours), hex(theirs))


def test_docker_instruction_goals() -> None:
    three = _compile("docker")
    alone = _compile("docker", only_x86_64=True)
    assert alone.arches == (Arch.X86_64,)
    assert set(three.arches) == {Arch.X86_64, Arch.X86, Arch.X32}
    for f, goal in ((alone, 120), (three, 400)):
        f.optimize = Optimize.RANGES
        assert f.instruction_count <= goal


def _errno_of(action: int) -> int | None:
    return action & 0xFFFF if action & 0xFFFF0000 == 0x00050000 else None


@pytest.mark.parametrize("name", ["docker", "podman"])
def test_builtin_profiles_enforced_by_the_kernel_on_every_arch(
        name: str, c_helpers: dict[str, str]) -> None:
    """x86_64 calls in the child, i386 calls through int 0x80 and x32 numbers
    through the probe: each gives what the model decides."""
    f = _compile(name)
    policy = f.policy()
    probe = c_helpers["probe"]

    def expect(token: int, nr: int) -> int:
        (action,) = policy.decide(token, nr)
        return action

    # getpid allowed, kexec_load refused; mount, keyctl, reboot as each profile says
    cases = []
    for arch, token, x32 in ((Arch.X86, X86, False), (Arch.X32, X86_64, True)):
        for sysname in ("getpid", "mount", "keyctl", "reboot", "kexec_load"):
            nr = resolve_name(sysname, arch)
            cases.append((x32, nr, expect(token, nr)))
    seen = []
    for x32, nr, action in cases:
        argv = [probe, "x32" if x32 else "int80", str(nr & ~X32_BIT if x32 else nr)]
        out, text = exec_under(lambda: _compile(name), argv)
        assert out.exitcode == 0, (argv, out, text)
        ret = int(text.strip().split("=")[1])
        err = _errno_of(action)
        if err is not None:
            assert ret == -err, (argv, text, bpf.action_name(action))
        else:
            assert action == 0x7FFF0000
            # allowed: the kernel runs it (with zero arguments it may fail its own
            # way: EFAULT, ENOKEY, EINVAL, ENOSYS for x32 configured out), never EPERM
            assert ret != -errno.EPERM, (argv, text)
        seen.append(ret)
    assert -errno.EPERM in seen and any(r > 0 for r in seen), seen

    def native() -> tuple[int, int, int]:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.syscall.restype = ctypes.c_long
        g = _compile(name)
        assert _layout(g) is Optimize.RANGES
        g.load()
        results = []
        for nr, arg in ((resolve_name("getppid"), 0), (resolve_name("kexec_load"), 0),
                        (resolve_name("personality"), 0xFFFFFFFF)):
            ctypes.set_errno(0)
            r = libc.syscall(ctypes.c_long(nr), ctypes.c_ulong(arg))
            results.append(-ctypes.get_errno() if r == -1 else int(r >= 0))
        return results[0], results[1], results[2]

    out = in_child(native)
    assert out.error is None, out.error
    assert out.value == (1, -errno.EPERM, 1)


def _layout(f: Filter) -> Optimize:
    return f.layout  # read again: mypy keeps what an earlier assert narrowed f.layout to


def test_layout_attribute_and_explicit_ranges() -> None:
    f = Filter(Action.errno(errno.EPERM))
    f.add_rule(Action.ALLOW, "read")
    assert _layout(f) is Optimize.PRIORITY  # few rules: libseccomp's layout
    f.optimize = Optimize.RANGES
    assert f.optimize == Optimize.RANGES == f.get_attribute(Attribute.OPTIMIZE)
    assert _layout(f) is Optimize.RANGES and f.export_bpf() == generate(f.policy())
    f.optimize = Optimize.PRIORITY
    assert _layout(f) is Optimize.PRIORITY and f.optimize == Optimize.PRIORITY
    f.optimize = Optimize.RANGES
    f.reset()
    assert f.optimize == Optimize.PRIORITY and _layout(f) is Optimize.PRIORITY


def test_conflicting_actions_pick_the_most_restrictive() -> None:
    assert pick([0x7FFF0000, 0x00050001, 0x80000000]) == 0x80000000
    assert pick([0x00050005, 0x00050001, 0x7FFC0000]) == 0x00050001
    f = Filter(Action.ALLOW)
    f.optimize = Optimize.RANGES
    f.add_rule(Action.errno(3), "getppid", Arg(0) > 5)
    f.add_rule(Action.TRAP, "getppid", Arg(1) == 1)
    f.add_rule(Action.LOG, "getppid", Arg(2) == 1)
    data = f.export_bpf()
    nr = resolve_name("getppid")
    assert bpf.evaluate(data, nr, X86_64, (6, 1, 1)) == 0x00030000  # TRAP
    assert bpf.evaluate(data, nr, X86_64, (6, 0, 1)) == 0x00050003
    assert bpf.evaluate(data, nr, X86_64, (0, 0, 1)) == 0x7FFC0000
    assert bpf.evaluate(data, nr, X86_64, (0, 0, 0)) == 0x7FFF0000


def test_ranges_collapse_equal_decisions() -> None:
    f = Filter(Action.errno(1))
    f.add_rules([(Action.ALLOW, n) for n in ("read", "write", "open", "close")])
    runs = ranges(f.policy(), X86_64)
    # 0..3 ALLOW, then the default up to the x32 bit, bad-arch x32 numbers, -1 default
    assert [(s, k[1]) for s, k in runs] == [(0, 0x7FFF0000), (4, 0x00050001),
                                            (X32_BIT, 0), (0xFFFFFFFF, 0x00050001)]


def test_issue14_ioctl_same_action_rules_enforced_as_written() -> None:
    """An allow-list with two conditional ALLOW rules for ioctl (fd >= 3;
    fd <= 2 and request == TCGETS): ioctl(0, TIOCSTI) must be refused."""
    def build() -> Filter:
        f = Filter(Action.errno(errno.EPERM))
        f.add_rules([(Action.ALLOW, n) for n in ("write", "exit_group", "exit", "rt_sigreturn",
                                                 "brk", "mmap", "munmap", "futex")])
        f.add_rule(Action.ALLOW, "ioctl", Arg(0) >= 3)
        f.add_rule(Action.ALLOW, "ioctl", Arg(0) <= 2, Arg(1) == 0x5401)
        return f

    f = build()
    data = f.export_bpf()
    nr = resolve_name("ioctl")
    assert bpf.evaluate(data, nr, X86_64, (0, 0x5412)) == 0x00050001  # TIOCSTI: EPERM
    assert bpf.evaluate(data, nr, X86_64, (0, 0x5401)) == 0x7FFF0000
    assert bpf.evaluate(data, nr, X86_64, (7, 0x5412)) == 0x7FFF0000

    def child() -> int:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.syscall.restype = ctypes.c_long
        g = build()
        g.load()
        ctypes.set_errno(0)
        r = libc.syscall(ctypes.c_long(nr), ctypes.c_long(0), ctypes.c_ulong(0x5412),
                         ctypes.c_char_p(b"x"))
        return -ctypes.get_errno() if r == -1 else r

    out = in_child(child)
    assert out.error is None and out.value == -errno.EPERM, out


def test_generated_policies_with_ranges_follow_the_model() -> None:
    """The model test's generated policies, loaded with Optimize.RANGES."""
    from helpers import failclosed_kernel as K
    from helpers import model as M
    from helpers.failclosed_strategies import cases
    from hypothesis import HealthCheck, given, settings

    if K.supported() is not None:
        pytest.skip(str(K.supported()))

    @settings(max_examples=int(os.environ.get("SECCOMP_PY_MODEL_EXAMPLES", "40")),
              deadline=None, suppress_health_check=list(HealthCheck))
    @given(cases())
    def run(case: tuple[M.MPolicy, tuple[K.Call, ...]]) -> None:
        policy, calls = case
        policy = dataclasses.replace(policy, optimize=int(Optimize.RANGES))
        try:
            f = K.build(policy, K.Result(policy, calls), M.Model(policy))
        except K.Refused:
            f = None
        if f is not None:
            try:
                f.export_bpf()  # verified: FilterVerificationError fails the test
            finally:
                f.close()
        result = K.run_policy(policy, calls)
        assert not result.mismatches, result.report()

    run()


def test_ranges_refusals_and_limits() -> None:
    from seccomp_py.codegen import MAX_COMPARISONS
    from seccomp_py.errors import UnsupportedError

    # a plain load() of a RANGES program with NOTIFY rules: refused, nothing loaded
    f = Filter(Action.ALLOW)
    f.optimize = Optimize.RANGES
    f.add_rule(Action.NOTIFY, "getppid")

    def child() -> str:
        try:
            f.load()
        except UnsupportedError as exc:
            return f"refused: {'NOTIFY' in str(exc)} {f.loaded}"
        return "loaded"

    assert in_child(child).value == "refused: True False"
    # the automatic choice never picks RANGES for NOTIFY rules, nor with verify=False
    many: list[tuple[Action, str] | tuple[Action, str, ArgCmp]]
    many = [(Action.errno(errno.EACCES), n) for n in ("mount", "umount2", "reboot", "swapon",
                                                    "swapoff", "kexec_load", "init_module",
                                                    "delete_module", "acct", "pivot_root")]
    many += [(Action.ALLOW, "getppid", Arg(0) == v) for v in range(30)]
    g = Filter(Action.errno(1))
    g.add_rules(many)
    assert _layout(g) is Optimize.RANGES
    g.add_rule(Action.NOTIFY, "getpid")
    assert _layout(g) is not Optimize.RANGES
    h = Filter(Action.errno(1), verify=False)
    h.add_rules(many)
    assert _layout(h) is not Optimize.RANGES
    h.optimize = Optimize.RANGES  # explicit: verified all the same
    assert _layout(h) is Optimize.RANGES
    verify(h.policy(), h.export_bpf())
    # more comparisons for one syscall than the generator builds: a clear error
    big = Filter(Action.errno(1))
    big.optimize = Optimize.RANGES
    big.add_rules([(Action.ALLOW, "getppid", Arg(0) == v) for v in range(MAX_COMPARISONS + 1)])
    with pytest.raises(UnsupportedError, match="comparisons"):
        big.export_bpf()
    # automatic: libseccomp's program is used instead
    big.optimize = Optimize.PRIORITY
    assert _layout(big) is Optimize.PRIORITY


def test_unrepairable_libseccomp_program_is_replaced_by_ranges() -> None:
    """One decision for a program libseccomp gets wrong (docs/failclosed.md): the
    repair first; when the repair gives up (here: libseccomp's range merge on 16
    syscalls x 7 arches, 32 rules so no automatic layout), seccomp_py's own
    verified RANGES program, never libseccomp's."""
    names = ("getppid", "getpid", "getuid", "getgid", "geteuid", "getegid", "getpgrp",
             "setsid", "sync", "pause", "sched_yield", "vhangup", "munlockall", "getpgid",
             "getsid", "umask")

    def build() -> Filter:
        f = Filter(Action.ALLOW)  # (the child must still run)
        for arch in ("x86", "x32", "aarch64", "arm", "ppc64le", "riscv64", "mipsel64"):
            f.add_arch(arch)
        for n in names:  # 32 rules: no automatic layout, libseccomp's program first
            f.add_rule(Action.errno(11), n, Arg(5) > 2**64 - 1, Arg(2) >= 0)
            f.add_rule(Action.errno(errno.EPERM), n, Arg(2) > 0x1000, Arg(4) > 8)
        return f

    f = build()
    data = f.export_bpf()
    assert _layout(f) is Optimize.RANGES and f._repaired != f._generation
    verify(f.policy(), data)
    nr = resolve_name("getppid")
    assert bpf.evaluate(data, nr, X86_64, (0, 0, 0x351, 0, 9, 0)) == 0x7FFF0000
    assert bpf.evaluate(data, nr, X86_64, (0, 0, 0x2000, 0, 9, 0)) == 0x00050001
    raw = build()
    raw.verify = False  # libseccomp's program: the range merge refuses a call no rule names
    assert bpf.evaluate(raw.export_bpf(), nr, X86_64, (0, 0, 0x351, 0, 9, 0)) == 0x00050001

    def child() -> tuple[int, int]:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.syscall.restype = ctypes.c_long
        f.load()  # seccomp_py's program (cached), through the shim's one loader
        out = []
        for a2 in (0x351, 0x2000):
            ctypes.set_errno(0)
            r = libc.syscall(ctypes.c_long(nr), 0, 0, ctypes.c_long(a2), 0, 9, 0)
            out.append(-ctypes.get_errno() if r == -1 else 0)
        return out[0], out[1]

    out = in_child(child)
    assert out.error is None and out.value == (0, -errno.EPERM), out


def test_pseudo_names_outside_mux_have_no_number() -> None:
    """model.numbers skips the (slow) full syscall table for a name libseccomp gives a
    pseudo number outside the socket/ipc multiplexer ranges, or inside them on an arch
    without the multiplexer: that is only right if no number of the arch maps back to
    such a name.  Checked on every arch."""
    import sys

    from seccomp_py import model

    syscall = sys.modules["seccomp_py.syscall"]
    checked = 0
    for arch in Arch:
        if arch is Arch.NATIVE or not arch.is_available():
            continue
        for name, nr in syscall._table(arch).items():
            pseudo = syscall._resolve_name(arch, name)
            if pseudo < 0:
                assert (-pseudo // 100) * 100 in model._MUX, (arch, name, pseudo, nr)
                assert (nr, None) in model.numbers(arch, name), (arch, name)
                checked += 1
    assert checked > 0  # the socket calls of i386 at least
    assert model.numbers(Arch.X86_64, "socketcall") == ()
    assert model.numbers(Arch.X86, "socket")[0][0] == 359
    assert model.numbers(Arch.X86_64, "recv") == ()  # socketcall-only, no socketcall
    assert syscall._table.cache_info().currsize > 0
