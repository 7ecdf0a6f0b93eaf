"""Count the BPF instructions a seccomp program executes for one call.

A small classic-BPF stepper for the benchmark only (the opcodes seccomp
programs use); every result is checked against seccomp_py's one evaluator
(``bpf.evaluate``, C), so a count never comes from a wrong run.
"""

from __future__ import annotations

from collections.abc import Sequence

from seccomp_py import bpf


def words(nr: int, arch: int, args: Sequence[int]) -> list[int]:
    little = bool(arch & 0x40000000)
    out = [nr & 0xFFFFFFFF, arch & 0xFFFFFFFF, 0, 0]
    for a in list(args) + [0] * (6 - len(args)):
        lo, hi = a & 0xFFFFFFFF, (a >> 32) & 0xFFFFFFFF
        out += [lo, hi] if little else [hi, lo]
    return out


def _alu(op: int, a: int, src: int) -> int:
    if op == 0x00:
        a += src
    elif op == 0x10:
        a -= src
    elif op == 0x20:
        a *= src
    elif op == 0x30:
        a //= src
    elif op == 0x40:
        a |= src
    elif op == 0x50:
        a &= src
    elif op == 0xA0:
        a ^= src
    elif op == 0x60:
        a <<= src & 31
    elif op == 0x70:
        a >>= src & 31
    else:
        a = -a
    return a & 0xFFFFFFFF


def executed(program: bytes, nr: int, arch: int, args: Sequence[int] = ()) -> tuple[int, int]:
    """(return value, instructions executed)."""
    insns = bpf.parse(program)
    w = words(nr, arch, args)
    a = x = 0
    mem = [0] * 16
    pc = steps = 0
    while True:
        i = insns[pc]
        steps += 1
        pc += 1
        cls, code, k = i.code & 7, i.code, i.k
        if cls == 0:  # ld
            mode = code & 0xE0
            a = w[k // 4] if mode == 0x20 else mem[k] if mode == 0x60 else k
        elif cls == 1:  # ldx
            x = mem[k] if code & 0xE0 == 0x60 else k
        elif cls == 2:
            mem[k] = a
        elif cls == 3:
            mem[k] = x
        elif cls == 4:  # alu
            src = x if code & 0x08 else k
            op = code & 0xF0
            a = _alu(op, a, src)
        elif cls == 5:  # jmp
            op = code & 0xF0
            if op == 0x00:
                pc += k
                continue
            src = x if code & 0x08 else k
            cond = {0x10: a == src, 0x20: a > src, 0x30: a >= src, 0x40: bool(a & src)}[op]
            pc += i.jt if cond else i.jf
        elif cls == 6:  # ret
            result = a if code & 0x18 == 0x10 else k
            break
        else:
            a, x = (x, x) if code & 0xF8 == 0x80 else (a, a)
    check = bpf.evaluate(program, nr, arch, args)
    if check != result:
        raise AssertionError(f"stepper {result:#x} != evaluator {check:#x} for nr {nr}")
    return result, steps
