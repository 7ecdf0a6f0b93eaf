"""The one BPF evaluator (spy_bpf_eval in C) against the kernel, and its edge cases."""

from __future__ import annotations

import pytest
from helpers import bpf_random

from seccomp_py import bpf, notify

X86_64 = 0xC000003E
ALLOW = 0x7FFF0000


def test_evaluator_agrees_with_the_kernel_on_random_programs(c_helpers: dict[str, str]) -> None:
    counts = bpf_random.run(c_helpers["bpf_kernel"], seed=14, count=300)
    mismatches = counts.pop("_mismatches")
    assert not mismatches, mismatches[:3]
    assert counts["agree"] == 300
    # the sample exercises every outcome
    assert min(counts["refused"], counts["killed"], counts["errno"], counts["allowed"]) > 0


def test_division_by_zero_x_returns_zero_everywhere() -> None:
    prog = [bpf.Insn(0x00, 0, 0, 1), bpf.Insn(0x01, 0, 0, 0), bpf.Insn(0x3C, 0, 0, 0),
            bpf.Insn(0x06, 0, 0, ALLOW)]  # ld #1; ldx #0; div x; ret ALLOW
    raw = bpf.assemble(prog)
    assert bpf.evaluate(raw, 0, X86_64) == 0
    assert notify.bpf_run(raw, 0, X86_64) == 0


@pytest.mark.parametrize("nr", [2**31, 0xFFFFFFFF, -1, 0x40000000 | 2**31])
def test_every_32_bit_syscall_number_evaluates(nr: int) -> None:
    prog = [bpf.Insn(0x20, 0, 0, 0), bpf.Insn(0x15, 0, 1, nr & 0xFFFFFFFF),
            bpf.Insn(0x06, 0, 0, 0x00050001), bpf.Insn(0x06, 0, 0, ALLOW)]
    assert bpf.evaluate(prog, nr, X86_64) == 0x00050001
    assert bpf.evaluate(prog, (nr + 1) & 0xFFFFFFFF, X86_64) == ALLOW


@pytest.mark.parametrize("insn", [bpf.Insn(0x94, 0, 0, 3),  # mod: not in seccomp's list
                                  bpf.Insn(0x64, 0, 0, 32),  # lsh #32
                                  bpf.Insn(0x60, 0, 0, 0),  # ld M[0] before any store
                                  bpf.Insn(0x20, 0, 0, 64),  # beyond seccomp_data
                                  bpf.Insn(0x20, 0, 0, 2)])  # unaligned
def test_programs_the_kernel_refuses_are_refused(insn: bpf.Insn) -> None:
    with pytest.raises(bpf.BpfError):
        bpf.evaluate([insn, bpf.Insn(0x06, 0, 0, ALLOW)], 0, X86_64)
