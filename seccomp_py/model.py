"""What a libseccomp filter must decide: an independent model of its documented semantics.

The verifier (:mod:`seccomp_py.verify`) checks every program seccomp_py hands to the kernel
against this model, written from seccomp_rule_add(3), seccomp_attr_set(3),
seccomp_arch_add(3), seccomp_merge(3) and seccomp(2), never from how libseccomp compiles.
The semantics it models (arches, multiplexed calls, rule precedence, 32-bit ABIs) are in
docs/failclosed.md ("The model").
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable, Sequence

from ._kernel import AUDIT_ARCH_64BIT, X32_SYSCALL_BIT
from .arch import Arch

MASK64 = (1 << 64) - 1
MASK32 = (1 << 32) - 1
X32_BIT = X32_SYSCALL_BIT
NR_SKIP = 0xFFFFFFFF
_X86_64_TOKEN = int(Arch.X86_64)

# SCMP_CMP_* values (seccomp.h): NE 1, LT 2, LE 3, EQ 4, GE 5, GT 6, MASKED_EQ 7
NE, LT, LE, EQ, GE, GT, MASKED_EQ = range(1, 8)

#: the multiplexed families: pseudo-syscall base -> the multiplexer's name
_MUX = {100: "socketcall", 200: "ipc"}


@dataclasses.dataclass(frozen=True)
class Cmp:
    """One comparison on argument ``index``: ``a`` is the datum (the mask for MASKED_EQ)."""

    index: int
    op: int
    a: int
    b: int = 0

    @property
    def tautology(self) -> bool:
        return self.op == MASKED_EQ and self.a == 0

    def holds(self, args: Sequence[int]) -> bool:
        return self.holds_value(args[self.index])

    def holds_value(self, x: int) -> bool:
        """The comparison on one argument value."""
        op = self.op
        if op == EQ:
            return x == self.a
        if op == NE:
            return x != self.a
        if op == LT:
            return x < self.a
        if op == LE:
            return x <= self.a
        if op == GT:
            return x > self.a
        if op == GE:
            return x >= self.a
        return (x & self.a) == (self.b & self.a)

    def describe(self) -> str:
        if self.op == MASKED_EQ:
            return f"Arg({self.index}).masked_eq({self.a:#x}, {self.b:#x})"
        sym = {NE: "!=", LT: "<", LE: "<=", EQ: "==", GE: ">=", GT: ">"}[self.op]
        return f"Arg({self.index}) {sym} {self.a:#x}"


class Rule:
    """A rule as added: action value, syscall name (or number as text), comparisons,
    the arches it applies to, and its position (for messages)."""

    __slots__ = ("action", "arches", "cmps", "position", "syscall")

    def __init__(self, action: int, syscall: str, cmps: tuple[Cmp, ...],
                 arches: frozenset[Arch], position: int = 0) -> None:
        self.action = action
        self.syscall = syscall
        self.cmps = cmps
        self.arches = arches
        self.position = position

    @property
    def unconditional(self) -> bool:
        return all(c.tautology for c in self.cmps)

    def describe(self) -> str:
        from .bpf import action_name

        inner = ", ".join([action_name(self.action), repr(self.syscall),
                           *(c.describe() for c in self.cmps)])
        return f"rule {self.position}: add_rule({inner})"


#: int(arch) -> name -> numbers(arch, name), for the hot loop of Policy.table
_NUMBERS: dict[int, dict[str, tuple[tuple[int, int | None], ...]]] = {}


@functools.lru_cache(maxsize=16384)  # type: ignore[misc]  # typeshed: Callable[..., T]
def numbers(arch: Arch, name: str) -> tuple[tuple[int, int | None], ...]:
    """The kernel numbers a rule on ``name`` matches on ``arch``: (nr, call) pairs,
    ``call`` set for a multiplexer entry (argument 0 must equal it)."""
    from .syscall import _NR_ERROR, _resolve_name, _table

    if name.lstrip("-").isdigit():
        value = int(name)
        return ((value & MASK32, None),) if arch is Arch.native() else ()
    nr = _resolve_name(arch, name)
    if nr >= 0:
        return ((nr, None),)
    # Unknown on arch (_NR_ERROR), or a pseudo number of a call arch does not have
    # (libseccomp's __PNR_*, -10000 and below), or a socket/ipc call (pseudo numbers
    # -101.. and -201..) on an arch without the multiplexer (socketcall, ipc): no
    # number maps back to the name, so _table (every number of arch, slow to build)
    # has nothing for it.  Only on an arch with the multiplexer may such a call also
    # have a direct number.  tests/test_codegen.py::
    # test_pseudo_names_outside_mux_have_no_number checks this on every arch.
    base = (-nr // 100) * 100
    mux = _MUX.get(base) if nr != _NR_ERROR else None
    if mux is None:
        return ()
    mnr = _resolve_name(arch, mux)
    if mnr < 0:
        return ()
    out: list[tuple[int, int | None]] = []
    direct = _table(arch).get(name)
    if direct is not None and direct >= 0:
        out.append((direct, None))
    out.append((mnr, -nr - base))
    return tuple(out)


class Entry:
    """One rule as it applies to one (arch, nr): its effective comparisons."""

    __slots__ = ("cmps", "narrow", "rule", "unconditional")

    def __init__(self, rule: Rule, cmps: tuple[Cmp, ...], narrow: bool = False) -> None:
        self.rule = rule
        self.cmps = cmps
        #: a 32-bit ABI: libseccomp compares the low halves only
        self.narrow = narrow
        self.unconditional = not cmps or all(c.op == MASKED_EQ and c.a == 0 for c in cmps)


class Policy:
    """The decisions a filter's rules ask for (see the module docstring)."""

    def __init__(self, default: int, bad_arch: int, arches: Iterable[Arch],
                 rules: Sequence[Rule]) -> None:
        self.default = default & MASK32
        self.bad_arch = bad_arch & MASK32
        self.arches = frozenset(arches)
        self.rules = tuple(rules)
        self._tables: dict[Arch, dict[int, list[Entry]]] = {}
        self._plain: dict[Rule, Entry] = {}
        self._simple: dict[Arch, tuple[dict[int, int], set[int]]] = {}

    def simple(self, arch: Arch) -> tuple[dict[int, int], set[int]]:
        """nr -> the action the rules give it whatever the arguments, and the nrs
        whose arguments matter (for the verifier's bulk comparison)."""
        if arch not in self._simple:
            self.table(arch)
        return self._simple[arch]

    def table(self, arch: Arch) -> dict[int, list[Entry]]:
        """nr -> the entries (in rule order) that may decide it on ``arch``."""
        found = self._tables.get(arch)
        if found is not None:
            return found
        table: dict[int, list[Entry]] = {}
        narrow = not int(arch) & AUDIT_ARCH_64BIT
        get = table.get
        plain = self._plain
        member: dict[int, bool] = {}  # id(rule.arches) -> arch in it (Enum hashing is slow)
        simple: dict[int, int] = {}  # nr -> the action whatever the arguments
        unsure: set[int] = set()  # nrs whose arguments matter
        known = _NUMBERS.setdefault(int(arch), {})
        for rule in self.rules:
            inside = member.get(id(rule.arches))
            if inside is None:
                inside = member[id(rule.arches)] = arch in rule.arches
            if not inside:
                continue
            found_numbers = known.get(rule.syscall)
            if found_numbers is None:
                found_numbers = known[rule.syscall] = numbers(arch, rule.syscall)
            for nr, call in found_numbers:
                if call is None and not rule.cmps:  # the common case: one shared entry
                    have = get(nr)
                    if have is not None and have[-1].unconditional:
                        continue  # after an unconditional one: no effect
                    entry = plain.get(rule)
                    if entry is None:
                        entry = plain[rule] = Entry(rule, (), False)
                    if have is None:
                        table[nr] = [entry]
                    else:
                        have.append(entry)
                        unsure.discard(nr)
                    simple[nr] = rule.action
                    continue
                else:
                    cmps = rule.cmps if call is None else (Cmp(0, EQ, call),)
                    if narrow:
                        cmps = tuple(Cmp(c.index, c.op, c.a & MASK32, c.b & MASK32)
                                     for c in cmps)
                    entry = Entry(rule, cmps, narrow)
                have = get(nr)
                if have is None:
                    table[nr] = [entry]
                elif not have[-1].unconditional:  # after an unconditional one: no effect
                    have.append(entry)
                else:
                    continue
                if entry.unconditional:
                    simple[nr] = entry.rule.action
                    unsure.discard(nr)
                elif nr not in simple:
                    unsure.add(nr)
        self._tables[arch] = table
        self._simple[arch] = (simple, unsure)
        return table

    def arch_for(self, token: int, nr: int) -> Arch | None:
        """The filter arch that decides a call, or None for the bad-arch action."""
        token &= MASK32
        nr &= MASK32
        if token == _X86_64_TOKEN:
            if nr == NR_SKIP:
                if Arch.X86_64 in self.arches:
                    return Arch.X86_64
                return Arch.X32 if Arch.X32 in self.arches else None
            if nr >= X32_BIT:
                return Arch.X32 if Arch.X32 in self.arches else None
            return Arch.X86_64 if Arch.X86_64 in self.arches else None
        for a in self.arches:
            if int(a) == token and a is not Arch.X32:
                return a
        return None

    def entries(self, token: int, nr: int) -> list[Entry] | None:
        """None for a bad-arch call, else the entries for it (maybe none)."""
        arch = self.arch_for(token, nr)
        if arch is None:
            return None
        return self.table(arch).get(nr & MASK32, [])

    def decide(self, token: int, nr: int, args: Sequence[int] = (0,) * 6) -> frozenset[int]:
        """The actions the kernel may take (usually one)."""
        entries = self.entries(token, nr)
        if entries is None:
            return frozenset({self.bad_arch})
        return decide_entries(entries, self.default, args)


def decide_entries(entries: Sequence[Entry], default: int,
                   args: Sequence[int]) -> frozenset[int]:
    for e in entries:
        if e.unconditional:
            return frozenset({e.rule.action})
    if entries and entries[0].narrow:
        args = tuple(a & MASK32 for a in args)
    hits = {e.rule.action for e in entries if all(c.holds(args) for c in e.cmps)}
    return frozenset(hits) if hits else frozenset({default})
