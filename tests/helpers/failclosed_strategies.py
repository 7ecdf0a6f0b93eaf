"""Generators of model policies and the calls that probe them.

Written once against a tiny "chooser" interface (``integer``, ``choice``,
``sample``) with two back ends: hypothesis (``cases()``, shrinkable, for the CI
property test) and ``random.Random`` (``random_case()``, for the ten-thousand
case run of scripts/model_long.py, where hypothesis's search would spend its
time mutating a few examples instead of drawing independent ones).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any, Protocol, TypeVar

from hypothesis import strategies as st

from . import model as M
from .failclosed_kernel import EXTRA_ARCHES, PROBES, Call, known_bug

T = TypeVar("T")
PROBE_NAMES = tuple(PROBES)

#: Values around the edges that matter for 64-bit comparisons split in two
#: 32-bit halves.
EDGES = (0, 1, 2, 0x7F, 0xFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 1 << 32, (1 << 32) + 1,
         0x7FFFFFFFFFFFFFFF, 1 << 63, (1 << 64) - 2, (1 << 64) - 1)
EDGES32 = (0, 1, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF)
ERRNOS = (0, 1, 2, 13, 22, 38, 95, 4095)
SIMPLE_ACTIONS = (M.ALLOW, M.KILL_PROCESS, M.TRAP, M.LOG, M.KILL_THREAD)
BAD_ARCH = (M.KILL_PROCESS, M.TRAP, M.ERRNO(1), M.ERRNO(77), M.KILL_THREAD)


class Chooser(Protocol):
    def integer(self, lo: int, hi: int) -> int: ...
    def choice(self, options: Sequence[T]) -> T: ...


class RandomChooser:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def integer(self, lo: int, hi: int) -> int:
        return self.rng.randint(lo, hi)

    def choice(self, options: Sequence[T]) -> T:
        return self.rng.choice(list(options))


class DrawChooser:
    def __init__(self, draw: Any) -> None:
        self.draw = draw

    def integer(self, lo: int, hi: int) -> int:
        return int(self.draw(st.integers(lo, hi)))

    def choice(self, options: Sequence[T]) -> T:
        return self.draw(st.sampled_from(list(options)))  # type: ignore[no-any-return]


# -- the generator ------------------------------------------------------------------------


def gen_errno(c: Chooser) -> int:
    return c.choice(ERRNOS) if c.integer(0, 1) else c.integer(1, 4095)


def gen_action(c: Chooser, notify: bool = False) -> M.MAction:
    if notify and c.integer(0, 3) == 0:
        return M.NOTIFY
    k = c.integer(0, 3)
    if k == 0:
        return c.choice(SIMPLE_ACTIONS)
    if k in (1, 2):
        return M.ERRNO(gen_errno(c))
    return M.TRACE(c.choice((0, 1, 65535)))


def gen_datum(c: Chooser, bits: int) -> int:
    k = c.integer(0, 3)
    if bits == 32:
        if k == 0:
            return c.choice(EDGES32)
        if k == 1:
            return c.integer(-(1 << 31), (1 << 32) - 1)
        return c.integer(0, 16)
    if k == 0:
        return c.choice(EDGES)
    if k == 1:
        return c.integer(0, (1 << 64) - 1)
    if k == 2:
        return c.integer(-(1 << 63), -1)
    return c.integer(0, 16)


def gen_cmp(c: Chooser) -> M.MCmp:
    index = c.integer(0, 2) if c.integer(0, 1) else c.integer(0, 5)
    op = c.choice(M.OPS)
    bits = 32 if c.integer(0, 3) == 0 else 64
    a = gen_datum(c, bits)
    b = gen_datum(c, bits) if op == "MASKED_EQ" else 0
    return M.MCmp(index, op, a, b, bits)


def gen_rule(c: Chooser, names: Sequence[str], notify: bool = False) -> M.MRule:
    cmps = [gen_cmp(c) for _ in range(c.integer(0, 3))]
    if cmps and c.integer(0, 9) > 0:  # mostly one comparison per argument
        seen: dict[int, M.MCmp] = {}
        for cmp in cmps:
            seen.setdefault(cmp.index, cmp)
        cmps = list(seen.values())
    action = gen_action(c, notify)
    return M.MRule(action, c.choice(names), tuple(cmps))


def gen_policy(c: Chooser, notify: bool = False) -> M.MPolicy:
    # few syscalls per policy, so rules overlap and interact
    names = tuple(dict.fromkeys(c.choice(PROBE_NAMES) for _ in range(c.integer(1, 3))))
    default = gen_action(c)
    rules = tuple(gen_rule(c, names, notify) for _ in range(c.integer(0, 6)))
    prios = tuple((c.choice(PROBE_NAMES), c.integer(0, 255)) for _ in range(c.integer(0, 2)))
    arches = tuple(dict.fromkeys(c.choice(EXTRA_ARCHES) for _ in range(c.integer(0, 2))))
    optimize = c.choice((None, None, 1, 2))
    bad_arch = c.choice(BAD_ARCH) if c.integer(0, 1) else None
    return M.MPolicy(default, rules, prios, arches, optimize, bad_arch)


def _related(cmps: list[M.MCmp]) -> list[int]:
    """Argument values that sit on and around the policy's comparison datums."""
    out: list[int] = []
    for cmp in cmps:
        a = cmp.datum(cmp.a)
        out += [a, (a + 1) & M.MASK64, (a - 1) & M.MASK64, a ^ (1 << 32), a | (1 << 63)]
        if cmp.op == "MASKED_EQ":
            b = cmp.datum(cmp.b)
            out += [b & a, (b & a) | (~a & M.MASK64), (b & a) ^ (a & -a & M.MASK64)]
    return out


def gen_calls(c: Chooser, policy: M.MPolicy, max_calls: int = 4) -> tuple[Call, ...]:
    names = sorted({r.syscall for r in policy.rules} | {PROBE_NAMES[0]})
    pool = sorted(set(_related([cmp for r in policy.rules for cmp in r.cmps])) | {0, 1})

    def value() -> int:
        k = c.integer(0, 2)
        if k == 0:
            return c.choice(pool)
        if k == 1:
            return c.choice(EDGES)
        return c.integer(0, (1 << 64) - 1)

    calls = []
    for _ in range(c.integer(1, max_calls)):
        name = c.choice(names) if c.integer(0, 1) else c.choice(PROBE_NAMES)
        args = tuple(value() for _ in range(6))
        x32 = "x32" not in policy.arches and c.integer(0, 9) == 0
        calls.append(Call(name, args, x32))
    return tuple(calls)


def gen_case(c: Chooser, avoid_known_bugs: bool, notify: bool = False,
             ) -> tuple[M.MPolicy, tuple[Call, ...]]:
    while True:
        policy = gen_policy(c, notify)
        if not avoid_known_bugs or known_bug(policy) is None:
            return policy, gen_calls(c, policy)


# -- back ends -----------------------------------------------------------------------------


@st.composite
def cases(draw: st.DrawFn, avoid_known_bugs: bool = True, notify: bool = False,
          ) -> tuple[M.MPolicy, tuple[Call, ...]]:
    """Hypothesis strategy of (policy, calls).

    With ``avoid_known_bugs`` the policy never has the shape of a known
    libseccomp bug (failclosed_kernel.KNOWN_BUGS): those are pinned by strict
    xfail tests instead, and counted apart by scripts/model_long.py.
    """
    return gen_case(DrawChooser(draw), avoid_known_bugs, notify)


def random_case(rng: random.Random, avoid_known_bugs: bool = False,
                ) -> tuple[M.MPolicy, tuple[Call, ...]]:
    """One independent random (policy, calls), reproducible from ``rng``."""
    return gen_case(RandomChooser(rng), avoid_known_bugs)
