"""Random classic-BPF seccomp programs, run by the kernel and by seccomp_py's evaluator.

Used by tests/test_bpf_eval.py (a few hundred programs) and
scripts/bpf_eval_long.py (thousands, with figures).  Each program is a guard
(``ld [0]; jeq #nr, body; ret ALLOW``: every other syscall, write and
exit_group included, runs) and a random body made of every instruction
seccomp accepts: word loads of seccomp_data (nr, arch, the arguments; not
the instruction pointer, which the test cannot know), immediate, length and
scratch loads, stores, every ALU operation with K and X (division by an X
that may be 0, shifts by any X), neg, tax/txa, ja and the four conditional
jumps with K and X, ``ret #k`` and ``ret A``.  Some programs are invalid on
purpose (a scratch slot read before it is stored, mod, a shift by 32...):
the kernel must refuse exactly those the evaluator refuses.
"""

from __future__ import annotations

import errno
import random
import struct
import subprocess
from collections.abc import Iterator
from typing import Any

from seccomp_py import bpf

X86_64 = 0xC000003E
ALLOW = 0x7FFF0000
LD, LDX, ST, STX, ALU, JMP, RET, MISC = range(8)
ABS, IMM, MEM, LEN = 0x20, 0x00, 0x60, 0x80
RET_VALUES = (ALLOW, 0x7FFC0000, 0x00030000, 0x00000000, 0x80000000, 0x00050000)


def _ret_value(rng: random.Random) -> int:
    if rng.random() < 0.6:
        return 0x00050000 | rng.randrange(0, 4200)  # ERRNO(n), above MAX_ERRNO too
    return rng.choice(RET_VALUES)


def random_body(rng: random.Random, invalid: bool = False) -> list[bpf.Insn]:
    """A random body; ``invalid``: one instruction the kernel refuses may slip in."""
    length = rng.randrange(3, 40)
    out: list[bpf.Insn] = []
    stored: set[int] = set()
    for _ in range(rng.randrange(0, 3)):  # some scratch slots stored up front
        slot = rng.randrange(16)
        out += [bpf.Insn(LD | IMM, 0, 0, rng.getrandbits(32)), bpf.Insn(ST, 0, 0, slot)]
        stored.add(slot)
    while len(out) < length:
        left = length - len(out) - 1
        kind = rng.randrange(12)
        if kind <= 2:
            off = rng.choice([0, 4, *range(16, 64, 4)])
            out.append(bpf.Insn(LD | ABS, 0, 0, off))
        elif kind == 3:
            mode = rng.choice([IMM, MEM, LEN])
            if mode == MEM and not stored and not invalid:
                mode = IMM
            k = rng.choice(sorted(stored) or [0]) if mode == MEM else rng.getrandbits(32)
            if mode == MEM and invalid and rng.random() < 0.3:
                k = rng.randrange(16)
            out.append(bpf.Insn(rng.choice([LD, LDX]) | mode, 0, 0, k if mode != LEN else 0))
        elif kind == 4:
            slot = rng.randrange(16)
            out.append(bpf.Insn(rng.choice([ST, STX]), 0, 0, slot))
            # a store inside a branch is not "stored on every path": only count
            # stores before the first jump
            if not any(i.cls == JMP for i in out):
                stored.add(slot)
        elif kind <= 7:
            ops = [0x00, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x80, 0xA0]
            if invalid:
                ops.append(0x90)  # mod: seccomp refuses it
            op = rng.choice(ops)
            src = rng.choice([0x00, 0x08])
            k = rng.choice([rng.getrandbits(32), rng.randrange(0, 40), 0xFF, 0x40000000])
            if op == 0x30 and src == 0 and k == 0 and not invalid:
                k = 3
            if op in (0x60, 0x70) and src == 0 and not invalid:
                k %= 32
            out.append(bpf.Insn(ALU | op | (0 if op == 0x80 else src), 0, 0, k))
        elif kind == 8:
            out.append(bpf.Insn(MISC | rng.choice([0x00, 0x80]), 0, 0, 0))
        elif kind <= 10 and left > 1:
            op = rng.choice([0x10, 0x20, 0x30, 0x40])
            src = rng.choice([0x00, 0x00, 0x08])
            jt, jf = rng.randrange(0, min(left, 255)), rng.randrange(0, min(left, 255))
            k = rng.choice([rng.getrandbits(32), rng.randrange(0, 8), 1000, 0x40000000])
            out.append(bpf.Insn(JMP | op | src, jt, jf, k))
        elif kind == 11 and left > 1:
            if rng.random() < 0.5:
                out.append(bpf.Insn(JMP | 0x00, 0, 0, rng.randrange(0, left)))
            else:
                out += _ret(rng)
        else:
            out += _ret(rng)
    out += _ret(rng)
    return out


def _ret(rng: random.Random) -> list[bpf.Insn]:
    if rng.random() < 0.5:
        return [bpf.Insn(RET, 0, 0, _ret_value(rng))]
    if rng.random() < 0.7:  # make A an ERRNO so its value is visible
        return [bpf.Insn(ALU | 0x50, 0, 0, 0xFFF), bpf.Insn(ALU | 0x40, 0, 0, 0x50000),
                bpf.Insn(RET | 0x10, 0, 0, 0)]
    return [bpf.Insn(RET | 0x10, 0, 0, 0)]


def with_guard(nr: int, body: list[bpf.Insn]) -> list[bpf.Insn]:
    return [bpf.Insn(LD | ABS, 0, 0, 0), bpf.Insn(JMP | 0x10, 1, 0, nr),
            bpf.Insn(RET, 0, 0, ALLOW), *body]


def predicted(value: int) -> str:
    """What the calling process sees for a filter result (seccomp(2)), as bpf_kernel prints it."""
    action = value & 0xFFFF0000
    data = value & 0xFFFF
    if (value & 0x80000000 and action == 0x80000000) or action in (0x00000000, 0x00030000):
        return f"signal {31}"
    if action == 0x00050000:
        return "ret 0 0" if data == 0 else f"ret -1 {min(data, 4095)}"
    if action in (0x7FFF0000, 0x7FFC0000, 0x7FF00000, 0x7FC00000):
        return f"ret -1 {errno.ENOSYS}"  # nr is not a syscall; TRACE/NOTIFY: no tracer/listener
    return "signal 31"  # an unknown action kills the process


def cases(seed: int, count: int) -> Iterator[tuple[list[bpf.Insn], int, tuple[int, ...]]]:
    rng = random.Random(seed)
    for _ in range(count):
        nr = rng.randrange(1000, 1010)
        args = tuple(rng.choice([rng.getrandbits(64), rng.randrange(0, 8), 1000,
                                 0xFFFFFFFF, 1 << 32]) for _ in range(6))
        body = random_body(rng, invalid=rng.random() < 0.1)
        yield with_guard(nr, body), nr, args


def run(helper: str, seed: int, count: int) -> dict[str, Any]:
    """Run ``count`` programs through the kernel and the evaluator; counts and mismatches."""
    batch = list(cases(seed, count))
    blob = bytearray()
    for prog, nr, args in batch:
        blob += struct.pack("=II6Q", len(prog), nr, *args) + bpf.assemble(prog)
    out = subprocess.run([helper], input=bytes(blob), capture_output=True, check=True,
                         timeout=600).stdout.decode().splitlines()
    assert len(out) == len(batch), (len(out), len(batch))
    counts = {"programs": len(batch), "agree": 0, "refused": 0, "killed": 0, "errno": 0,
              "allowed": 0, "mismatch": 0}
    mismatches = []
    for (prog, nr, args), seen in zip(batch, out):
        try:
            value = bpf.evaluate(prog, nr, X86_64, args)
            expect = predicted(value)
        except bpf.BpfError:
            expect = f"refused {errno.EINVAL}"
        if expect == seen:
            counts["agree"] += 1
            key = ("refused" if seen.startswith("refused") else "killed"
                   if seen.startswith("signal") else "allowed" if seen.endswith(f" {errno.ENOSYS}")
                   else "errno")
            counts[key] += 1
        else:
            counts["mismatch"] += 1
            mismatches.append((bpf.disassemble(prog), nr, args, expect, seen))
    counts["_mismatches"] = mismatches  # type: ignore[assignment]
    return counts
