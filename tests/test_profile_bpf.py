"""seccomp_py.bpf: the evaluator agrees with the kernel, and the disassembler
reads libseccomp's programs."""

from __future__ import annotations

import ctypes
import errno
import os
import random
import warnings
from typing import Any

import pytest
from helpers.child import in_child
from helpers.paths import PROFILES
from helpers.syscalls import raw_syscall

from seccomp_py import Action, Arch, Arg, ArgCmp, Filter, Op, bpf
from seccomp_py.profile import Profile, ProfileWarning
from seccomp_py.syscall import resolve_name

NATIVE = Arch.native()


def _rules_filter() -> Filter:
    # libseccomp 2.5.4 miscompiles these rules (the verifier refuses them: see
    # tests/test_verify.py); these tests are about the evaluator, so unverified
    f = Filter(Action.ALLOW, verify=False)
    if NATIVE == Arch.X86_64:
        f.add_arch(Arch.X86)
    f.add_rule(Action.errno(200), "getpriority", Arg(0) == 7)
    f.add_rule(Action.errno(201), "getpriority", Arg(0) == 2**40 + 8)
    f.add_rule(Action.errno(202), "getpriority", Arg(1).masked_eq(0xF0F0_0000_0000_00F0, 0x10),
               Arg(0) > 2**33)
    f.add_rule(Action.errno(203), "getpriority", ArgCmp(2, Op.GE, 2**63), Arg(0) < 100)
    f.add_rule(Action.errno(204), "getpriority", Arg(3) != 0, Arg(4) <= 5, Arg(0) == 1)
    f.add_rule(Action.errno(205), "getpriority", Arg(5) == 2**64 - 1, Arg(0) == 3)
    return f


def _probes() -> list[tuple[int, ...]]:
    rnd = random.Random(1234)
    interesting = [0, 1, 2, 3, 5, 6, 7, 99, 100, 2**32 - 1, 2**32, 2**33, 2**33 + 1,
                   2**40 + 8, 0x10, 0x1010, 0xF0F0_0000_0000_00F0, 2**63, 2**64 - 1,
                   0x0000_0001_0000_0010]
    probes = []
    for _ in range(120):
        probes.append(tuple(rnd.choice(interesting) for _ in range(6)))
    probes += [(7, 0, 0, 0, 0, 0), (2**40 + 8, 0, 0, 0, 0, 0), (2**34, 0x10, 0, 0, 0, 0),
               (5, 0, 2**63, 0, 0, 0), (1, 0, 0, 9, 5, 0), (3, 0, 0, 0, 0, 2**64 - 1)]
    return probes


def test_evaluate_agrees_with_the_kernel() -> None:
    f = _rules_filter()
    program = f.export_bpf()
    nr = resolve_name("getpriority")
    probes = _probes()
    predicted = [bpf.evaluate(program, nr, int(NATIVE), p) for p in probes]

    def child() -> list[int]:
        f.load()
        return [raw_syscall("getpriority", *p) for p in probes]

    outcome = in_child(child)
    assert outcome.exitcode == 0, outcome
    hits = 0
    for probe, want, got in zip(probes, predicted, outcome.value):
        if want & 0xFFFF0000 == 0x00050000:
            assert got == -(want & 0xFFFF), (probe, bpf.action_name(want), got)
            hits += 1
        else:
            assert bpf.action_name(want) == "ALLOW"
            assert not 200 <= -got <= 205, (probe, got)
    assert 6 <= hits < len(probes)  # both outcomes were exercised


def test_evaluate_other_arches_and_bad_arch() -> None:
    f = _rules_filter()
    program = f.export_bpf()
    if NATIVE == Arch.X86_64:
        nr32 = resolve_name("getpriority", Arch.X86)
        # a 32-bit arch compares only the low word of each argument
        assert bpf.action_name(bpf.evaluate(program, nr32, int(Arch.X86), (7,))) == \
            "ERRNO(200)"
        assert bpf.evaluate(program, 0, int(Arch.AARCH64)) == 0  # KILL_THREAD: bad arch
    # x32 numbers under the x86_64 token are killed, not allowed (the bit-30 pitfall)
    if NATIVE == Arch.X86_64:
        x32_read = resolve_name("read", Arch.X32)
        assert x32_read & 0x40000000
        assert bpf.action_name(bpf.evaluate(program, x32_read, int(Arch.X86_64))) != "ALLOW"


def test_disassemble_names_fields_syscalls_and_actions() -> None:
    f = Filter(Action.errno(errno.EPERM))
    f.add_rule(Action.ALLOW, "read")
    f.add_rule(Action.KILL_PROCESS, "personality", Arg(0).masked_eq(0xFF, 8))
    f.add_rule(Action.trace(7), "mkdir")
    text = bpf.disassemble(f.export_bpf())
    lines = text.splitlines()
    assert len(lines) == f.instruction_count
    assert lines[0].split(":")[0].strip() == "0"
    assert "ld  [4]" in lines[0] and lines[0].endswith("; arch")
    assert any(line.endswith(f"; {NATIVE.name.lower()}") for line in lines)
    for name in ("read", "personality", "mkdir"):
        assert any(line.endswith(f"; {name}") for line in lines), name
    assert any("and #0xff" in line for line in lines)
    for action in ("ALLOW", "KILL_PROCESS", "TRACE(7)", "ERRNO(1 EPERM)"):
        assert any(line.endswith(f"; {action}") for line in lines), action
    assert any("args[0].lo" in line for line in lines)


def test_parse_validate_and_assemble() -> None:
    program = _rules_filter().export_bpf()
    insns = bpf.parse(program)
    assert bpf.assemble(insns) == program
    bpf.validate(insns)
    with pytest.raises(bpf.BpfError, match="whole number of 8-byte"):
        bpf.parse(program[:-3])
    with pytest.raises(bpf.BpfError, match="empty"):
        bpf.parse(b"")
    bad_jump = [bpf.Insn(0x15, 9, 0, 1), bpf.Insn(0x06, 0, 0, 0)]
    with pytest.raises(bpf.BpfError, match=r"instruction 0 .*jump past the end"):
        bpf.validate(bad_jump)
    with pytest.raises(bpf.BpfError, match="not a ret"):
        bpf.validate([bpf.Insn(0x20, 0, 0, 0)])
    with pytest.raises(bpf.BpfError, match="offset 3"):
        bpf.validate([bpf.Insn(0x20, 0, 0, 3), bpf.Insn(0x06, 0, 0, 0)])
    with pytest.raises(bpf.BpfError, match="offset 64"):
        bpf.evaluate([bpf.Insn(0x20, 0, 0, 64), bpf.Insn(0x06, 0, 0, 0)], 0, int(NATIVE))
    # a hand-written program with scratch memory, ALU and ret A
    prog = [bpf.Insn(0x20, 0, 0, 0),     # ld [0]  (nr)
            bpf.Insn(0x04, 0, 0, 5),     # add #5
            bpf.Insn(0x02, 0, 0, 3),     # st M[3]
            bpf.Insn(0x00, 0, 0, 0),     # ld #0
            bpf.Insn(0x60, 0, 0, 3),     # ld M[3]
            bpf.Insn(0x44, 0, 0, 0x00050000),  # or #ERRNO
            bpf.Insn(0x16, 0, 0, 0)]     # ret A
    assert bpf.evaluate(prog, 10, int(NATIVE)) == 0x0005000F
    assert "ret A" in bpf.disassemble(prog)
    assert bpf.is_action(0x7FFF0000) and not bpf.is_action(0x0000FF7F)
    assert not bpf.is_action(0x00050000 | 5000)


# -- runc's -ENOSYS stub -------------------------------------------------------------------------

class _SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte),
                ("k", ctypes.c_uint)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_SockFilter))]


def _load_raw(program: bytes) -> None:
    """prctl(PR_SET_SECCOMP) with a raw program (test-only: the stub is not a Filter)."""
    libc = ctypes.CDLL(None, use_errno=True)
    n = len(program) // 8
    buf = (_SockFilter * n).from_buffer_copy(program)
    prog = _SockFprog(n, ctypes.cast(buf, ctypes.POINTER(_SockFilter)))
    if libc.prctl(38, ctypes.c_ulong(1), ctypes.c_ulong(0), ctypes.c_ulong(0),
                  ctypes.c_ulong(0)) != 0:
        raise OSError(ctypes.get_errno(), "PR_SET_NO_NEW_PRIVS")
    if libc.prctl(22, ctypes.c_ulong(2), ctypes.byref(prog), ctypes.c_ulong(0),
                  ctypes.c_ulong(0)) != 0:
        raise OSError(ctypes.get_errno(), "PR_SET_SECCOMP")


def _docker_compiled() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ProfileWarning)
        return Profile.load(os.path.join(PROFILES, "docker.json")).compile(caps=())


@pytest.mark.skipif(NATIVE != Arch.X86_64, reason="numbers below are x86_64's")
def test_enosys_stub_evaluated() -> None:
    c = _docker_compiled()
    top = c.enosys_maxima()
    assert top[Arch.X86_64] == max(resolve_name(n) for n in c.names)
    program = c.runc_program()
    plain = c.filter.export_bpf()
    bpf.validate(bpf.parse(program))

    def run(prog: bytes, nr: int, arch: Arch = Arch.X86_64) -> str:
        return bpf.action_name(bpf.evaluate(prog, nr, int(arch)))

    x64 = top[Arch.X86_64]
    assert run(program, x64 + 1) == "ERRNO(38 ENOSYS)"
    assert run(plain, x64 + 1) == "ERRNO(1 EPERM)"
    assert run(program, 400) == "ERRNO(1 EPERM)"  # a hole below the maximum: unchanged
    assert run(program, resolve_name("getpid")) == "ALLOW"
    assert run(program, x64) == run(plain, x64)
    assert run(program, top[Arch.X86] + 1, Arch.X86) == "ERRNO(38 ENOSYS)"
    assert run(program, top[Arch.X32] + 1) == "ERRNO(38 ENOSYS)"  # x32: bit 30 set
    assert run(program, resolve_name("read", Arch.X32)) == run(plain, resolve_name("read",
                                                                                  Arch.X32))
    assert run(program, 0, Arch.AARCH64) == "KILL_THREAD"  # other arches: libseccomp's filter
    allow = Profile.from_dict({"defaultAction": "SCMP_ACT_LOG", "syscalls": []}).compile(caps=())
    assert allow.enosys_stub() == b""


def test_enosys_stub_s390_and_x32_only() -> None:
    stub = bpf.enosys_stub({Arch.S390X: 400, Arch.X32: 0x40000000 | 300})
    prog = [*stub, bpf.Insn(0x06, 0, 0, 0x7FFF0000)]
    bpf.validate(prog)

    def run(nr: int, arch: Arch) -> str:
        return bpf.action_name(bpf.evaluate(prog, nr, int(arch)))

    assert run(0, Arch.S390X) == "ERRNO(38 ENOSYS)"
    assert run(401, Arch.S390X) == "ERRNO(38 ENOSYS)"
    assert run(400, Arch.S390X) == "ALLOW"
    assert run(0x40000000 | 301, Arch.X86_64) == "ERRNO(38 ENOSYS)"
    assert run(5000, Arch.X86_64) == "ALLOW"  # no bit 30: x86_64, not in the stub's table


@pytest.mark.skipif(NATIVE != Arch.X86_64, reason="numbers below are x86_64's")
def test_enosys_stub_loaded_in_the_kernel() -> None:
    c = _docker_compiled()
    program = c.runc_program()
    top = c.enosys_maxima()[Arch.X86_64]

    def child() -> list[int]:
        _load_raw(program)
        libc = ctypes.CDLL(None, use_errno=True)
        out = []
        for nr in (top + 1, 1000, 400):
            ctypes.set_errno(0)
            libc.syscall(ctypes.c_long(nr))
            out.append(ctypes.get_errno())
        out.append(-raw_syscall("clone3", 0, 0))
        return out

    outcome = in_child(child)
    assert outcome.exitcode == 0, outcome
    assert outcome.value == [errno.ENOSYS, errno.ENOSYS, errno.EPERM, errno.ENOSYS]
