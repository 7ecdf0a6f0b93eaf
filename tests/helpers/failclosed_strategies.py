"""Hypothesis strategies for model policies and the calls that probe them."""

from __future__ import annotations

import os
import sys

from hypothesis import strategies as st

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import model as M  # noqa: E402
from helpers.failclosed_kernel import EXTRA_ARCHES, PROBES, Call, known_bug  # noqa: E402

PROBE_NAMES = tuple(PROBES)

errnos = st.one_of(st.sampled_from([0, 1, 2, 13, 22, 38, 95, 4095]),
                   st.integers(min_value=1, max_value=4095))

actions = st.one_of(
    st.sampled_from([M.ALLOW, M.KILL_PROCESS, M.TRAP, M.LOG, M.KILL_THREAD]),
    errnos.map(M.ERRNO),
    errnos.map(M.ERRNO),
    st.sampled_from([0, 1, 65535]).map(M.TRACE),
)

#: Values around the edges that matter for 64-bit comparisons split in two
#: 32-bit halves.
EDGES = (0, 1, 2, 0x7F, 0xFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 1 << 32, (1 << 32) + 1,
         0x7FFFFFFFFFFFFFFF, 1 << 63, (1 << 64) - 2, (1 << 64) - 1)

datum64 = st.one_of(st.sampled_from(EDGES), st.integers(0, (1 << 64) - 1),
                    st.integers(-(1 << 63), -1), st.integers(0, 16))
datum32 = st.one_of(st.sampled_from([0, 1, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF]),
                    st.integers(-(1 << 31), (1 << 32) - 1), st.integers(0, 16))


@st.composite
def comparisons(draw: st.DrawFn) -> M.MCmp:
    index = draw(st.one_of(st.integers(0, 2), st.integers(0, 5)))
    op = draw(st.sampled_from(M.OPS))
    bits = draw(st.sampled_from([64, 64, 64, 32]))
    values = datum32 if bits == 32 else datum64
    a = draw(values)
    b = draw(values) if op == "MASKED_EQ" else 0
    return M.MCmp(index, op, a, b, bits)


@st.composite
def rules(draw: st.DrawFn, names: tuple[str, ...]) -> M.MRule:
    cmps = draw(st.lists(comparisons(), max_size=3))
    if cmps and draw(st.integers(0, 9)) > 0:  # mostly one comparison per argument
        seen: dict[int, M.MCmp] = {}
        for c in cmps:
            seen.setdefault(c.index, c)
        cmps = list(seen.values())
    return M.MRule(draw(actions), draw(st.sampled_from(names)), tuple(cmps))


@st.composite
def policies(draw: st.DrawFn) -> M.MPolicy:
    # few syscalls per policy, so rules overlap and interact
    names = tuple(draw(st.lists(st.sampled_from(PROBE_NAMES), min_size=1, max_size=3,
                                unique=True)))
    default = draw(actions)
    rule_list = draw(st.lists(rules(names), max_size=6))
    prios = draw(st.lists(st.tuples(st.sampled_from(PROBE_NAMES), st.integers(0, 255)),
                          max_size=2))
    arches = draw(st.lists(st.sampled_from(EXTRA_ARCHES), max_size=2, unique=True))
    optimize = draw(st.sampled_from([None, None, 1, 2]))
    bad_arch = draw(st.one_of(st.none(), st.sampled_from(
        [M.KILL_PROCESS, M.TRAP, M.ERRNO(1), M.ERRNO(77), M.KILL_THREAD])))
    return M.MPolicy(default, tuple(rule_list), tuple(prios), tuple(arches), optimize,
                     bad_arch)


def _related(cmps: list[M.MCmp]) -> list[int]:
    """Argument values that sit on and around the policy's comparison datums."""
    out: list[int] = []
    for c in cmps:
        a = c.datum(c.a)
        out += [a, (a + 1) & M.MASK64, (a - 1) & M.MASK64, a ^ (1 << 32), a | (1 << 63)]
        if c.op == "MASKED_EQ":
            b = c.datum(c.b)
            out += [b & a, (b & a) | (~a & M.MASK64), (b & a) ^ (a & -a & M.MASK64)]
    return out


@st.composite
def cases(draw: st.DrawFn, max_calls: int = 4, avoid_known_bugs: bool = True,
          ) -> tuple[M.MPolicy, tuple[Call, ...]]:
    """A policy and the calls that probe it.

    With ``avoid_known_bugs`` the policy never has the shape of a known
    libseccomp bug (failclosed_kernel.KNOWN_BUGS): those are pinned by xfail
    tests instead, and counted apart by scripts/model_long.py.
    """
    pol = policies()
    if avoid_known_bugs:
        pol = pol.filter(lambda p: known_bug(p) is None)
    policy = draw(pol)
    names = sorted({r.syscall for r in policy.rules} | {PROBE_NAMES[0]})
    pool = sorted(set(_related([c for r in policy.rules for c in r.cmps])) | {0, 1})
    value = st.one_of(st.sampled_from(pool), st.sampled_from(EDGES),
                      st.integers(0, (1 << 64) - 1))
    calls = []
    for _ in range(draw(st.integers(1, max_calls))):
        name = draw(st.one_of(st.sampled_from(names), st.sampled_from(PROBE_NAMES)))
        args = tuple(draw(value) for _ in range(6))
        x32 = "x32" not in policy.arches and draw(st.integers(0, 9)) == 0
        calls.append(Call(name, args, x32))
    return policy, tuple(calls)
