"""seccomp_py's own code generator: the ``Optimize.RANGES`` layout.

:func:`generate` compiles a :class:`~seccomp_py.model.Policy` into a classic BPF seccomp
program without libseccomp: arch dispatch, ranges of equal decision found by binary
search, argument checks only where rules have them, and the most restrictive action
(:func:`pick`) where several hold.  Every program it emits is verified
(:func:`seccomp_py.verify.verify`) before it leaves seccomp_py.  See seccomp(2), and
docs/api.md ("seccomp_py's own layout: Optimize.RANGES").
"""

from __future__ import annotations

import struct
import sys
from bisect import bisect_left
from collections.abc import Iterable, Sequence

from . import _kernel as _k
from .arch import Arch
from .errors import UnsupportedError
from .model import EQ, GE, GT, LE, LT, MASK32, MASKED_EQ, NE, NR_SKIP, X32_BIT, Cmp, Entry, Policy

# classic BPF opcodes
_LD_ABS = _k.BPF_LD | _k.BPF_W | _k.BPF_ABS
_AND_K = _k.BPF_ALU | _k.BPF_AND | _k.BPF_K
_JA = _k.BPF_JMP | _k.BPF_JA
_JEQ, _JGT, _JGE = (_k.BPF_JMP | op | _k.BPF_K for op in (_k.BPF_JEQ, _k.BPF_JGT, _k.BPF_JGE))
_RET_K = _k.BPF_RET | _k.BPF_K
# seccomp_data as 32-bit words: nr, arch, the instruction pointer, then the arguments
_NR_WORD, _ARCH_WORD = _k.SECCOMP_DATA_NR // 4, _k.SECCOMP_DATA_ARCH // 4
_ARGS_WORD = _k.SECCOMP_DATA_ARGS // 4
_X86_64 = int(Arch.X86_64)
#: above this many memo entries the argument checks stop carrying facts
#: (still correct, only less shared): a bound on hostile rule sets
_FACTS_BUDGET = 20000
#: the most comparisons the rules of one syscall may hold (the argument checks
#: are built recursively); more raises UnsupportedError
MAX_COMPARISONS = 128

__all__ = ["MAX_COMPARISONS", "generate", "libseccomp_floor", "pick", "ranges"]


def _rank(action: int) -> tuple[int, int]:
    raw = action & _k.SECCOMP_RET_ACTION_FULL
    return (raw - (1 << 32) if raw & 0x80000000 else raw, action & MASK32)


def pick(actions: Iterable[int]) -> int:
    """The action the generated program returns when several conditional rules
    with different actions hold for one call: the most restrictive (the
    kernel's precedence, seccomp(2); equal kinds: the lower value)."""
    return min(actions, key=_rank)


def libseccomp_floor(policy: Policy) -> int:
    """A lower bound on the size of the program libseccomp would export for
    ``policy``, in either of its layouts (default and binary tree).

    libseccomp's rule database holds one entry per (arch, syscall number) a
    rule was added for, and never drops one (db.c: ``db_rule_add`` only
    merges into an existing entry); its BPF generator (gen_bpf.c,
    ``_gen_bpf_syscall``) emits for every entry a block ending in ``jeq
    nr`` with the entry's own number, in both layouts.  Blocks with equal
    instructions may be shared, so only the distinct numbers are counted
    (two arches' entries for the same number could share a block): the
    program holds at least one instruction per distinct syscall number the
    rules name on the filter's arches.  Numbers the model places at or above
    0x80000000 (a rule given as a negative number) are not counted.  The
    bound is checked against libseccomp's own output in
    tests/test_codegen_floor.py.  Used to skip libseccomp's export when the
    RANGES program is smaller than any program libseccomp could give."""
    seen: set[int] = set()
    for arch in policy.arches:
        seen.update(policy.table(arch))
    return sum(1 for nr in seen if nr < 1 << 31)  # a negative int32: no compare


# -- decisions per token ----------------------------------------------------------------


def _tokens(policy: Policy) -> list[int]:
    tokens = {_X86_64 if a is Arch.X32 else int(a) for a in policy.arches}
    native = int(Arch.native())

    def order(t: int) -> tuple[bool, bool, int]:  # the native arch, then x86_64, then by token
        return (t != native, t != _X86_64, t)

    return sorted(tokens, key=order)


def _rank_first(rule: tuple[int, tuple[Cmp, ...]]) -> tuple[int, int]:
    return _rank(rule[0])


def _key(entries: list[Entry] | None, policy: Policy) -> tuple[object, ...]:
    """What decides a number: ("ret", action) or ("args", narrow, rules)."""
    if entries is None:
        return ("ret", policy.bad_arch)
    if not entries:
        return ("ret", policy.default)
    for e in entries:
        if e.unconditional:
            return ("ret", e.rule.action & MASK32)
    rules = tuple(sorted(((e.rule.action & MASK32, e.cmps) for e in entries), key=_rank_first))
    return ("args", entries[0].narrow, rules)


def ranges(policy: Policy, token: int) -> list[tuple[int, tuple[object, ...]]]:
    """The syscall-number space of ``token`` as (first number, decision key)
    runs of equal decision, in order; the last run ends at 0xffffffff."""
    points = {0, X32_BIT, NR_SKIP}
    for held in policy.arches:
        if (_X86_64 if held is Arch.X32 else int(held)) == token:
            numbers = policy.table(held)
            points.update(numbers)
            points.update([nr + 1 for nr in numbers if nr < NR_SKIP])
    out: list[tuple[int, tuple[object, ...]]] = []
    bad: tuple[object, ...] = ("ret", policy.bad_arch)
    default: tuple[object, ...] = ("ret", policy.default)
    last: tuple[object, ...] | None = None
    key: tuple[object, ...]
    # Policy.arch_for is constant on [0, X32_BIT), [X32_BIT, NR_SKIP) and {NR_SKIP}:
    # one lookup per segment, then the per-arch maps (Policy.simple) per number
    ordered = sorted(points)
    for lo, hi in ((0, X32_BIT), (X32_BIT, NR_SKIP), (NR_SKIP, NR_SKIP + 1)):
        arch = policy.arch_for(token, lo)
        if arch is not None:
            table = policy.table(arch)
            simple = policy.simple(arch)[0]
        for start in ordered[bisect_left(ordered, lo):bisect_left(ordered, hi)]:
            if arch is None:
                key = bad
            else:
                action = simple.get(start)
                if action is not None:
                    key = ("ret", action & MASK32)
                else:
                    entries = table.get(start)
                    key = default if entries is None else _key(entries, policy)
            if key != last:
                out.append((start, key))
                last = key
    return out


# -- the decision graph ----------------------------------------------------------------
#
# Nodes are interned tuples: ("ret", k) or ("test", word, mask, op, k, t, f) with
# word the seccomp_data word index (0 nr, 1 arch, 4.. the arguments' halves),
# op one of _JEQ/_JGT/_JGE on (word & mask), t/f node ids.

class _Graph:
    def __init__(self) -> None:
        self.nodes: list[tuple[int, ...]] = []
        self.ids: dict[tuple[int, ...], int] = {}

    def ret(self, k: int) -> int:
        return self._intern((_RET_K, k & MASK32))

    def test(self, word: int, mask: int, op: int, k: int, t: int, f: int) -> int:
        if t == f:
            return t
        return self._intern((op, word, mask, k, t, f))

    def _intern(self, node: tuple[int, ...]) -> int:
        found = self.ids.get(node)
        if found is None:
            found = self.ids[node] = len(self.nodes)
            self.nodes.append(node)
        return found


# A predicate over the argument words: True, False, or (word, mask, op, k, then, else).
_Pred = object


def _cmp_pred(c: Cmp, narrow: bool, little: bool, then: _Pred, other: _Pred) -> _Pred:
    """``c`` as word tests: ``then`` when it holds, else ``other``."""
    lo_w = _ARGS_WORD + 2 * c.index + (0 if little else 1)
    hi_w = _ARGS_WORD + 2 * c.index + (1 if little else 0)
    op = c.op
    if op == MASKED_EQ:
        mask, datum = c.a, c.b & c.a
        out = then
        if mask & MASK32:
            out = (lo_w, mask & MASK32, _JEQ, datum & MASK32, out, other)
        if not narrow and mask >> 32:
            out = (hi_w, mask >> 32, _JEQ, datum >> 32, out, other)
        return out
    if op in (NE, LT, LE):  # the negations of EQ, GE, GT
        then, other = other, then
        op = {NE: EQ, LT: GE, LE: GT}[op]
    k = c.a
    lo_op = {EQ: _JEQ, GT: _JGT, GE: _JGE}[op]
    low = (lo_w, MASK32, lo_op, k & MASK32, then, other)
    if narrow:
        return low
    khi = k >> 32
    if op == EQ:
        return (hi_w, MASK32, _JEQ, khi, low, other)
    return (hi_w, MASK32, _JGT, khi, then, (hi_w, MASK32, _JEQ, khi, low, other))


def _conj(cmps: Sequence[Cmp], narrow: bool, little: bool) -> _Pred:
    pred: _Pred = True
    for c in reversed(cmps):
        if not c.tautology:
            pred = _cmp_pred(c, narrow, little, pred, False)
    return pred


# facts: ((word, mask), lo, hi, excluded values) known on the path, sorted
_Facts = tuple[tuple[tuple[int, int], int, int, frozenset[int]], ...]


def _outcome(facts: _Facts, word: int, mask: int, op: int, k: int) -> bool | None:
    lo, hi, excl = 0, mask, frozenset[int]()
    for key, flo, fhi, fex in facts:
        if key == (word, mask):
            lo, hi, excl = flo, fhi, fex
            break
    if op == _JEQ:
        if lo == hi == k:
            return True
        if k < lo or k > hi or k in excl:
            return False
    elif op == _JGT:
        if lo > k:
            return True
        if hi <= k:
            return False
    else:  # _JGE
        if lo >= k:
            return True
        if hi < k:
            return False
    return None


def _fact_word(fact: tuple[tuple[int, int], int, int, frozenset[int]]) -> tuple[int, int]:
    return fact[0]


def _learn(facts: _Facts, word: int, mask: int, op: int, k: int, result: bool) -> _Facts:
    lo, hi, excl = 0, mask, frozenset[int]()
    rest = []
    for item in facts:
        if item[0] == (word, mask):
            lo, hi, excl = item[1], item[2], item[3]
        else:
            rest.append(item)
    if op == _JEQ:
        if result:
            lo = hi = k
            excl = frozenset()
        else:
            excl = excl | {k}
    elif op == _JGT:
        if result:
            lo = max(lo, k + 1)
        else:
            hi = min(hi, k)
    elif result:
        lo = max(lo, k)
    else:
        hi = min(hi, k - 1)
    while lo in excl and lo < hi:
        lo += 1
    while hi in excl and hi > lo:
        hi -= 1
    excl = frozenset(x for x in excl if lo < x < hi)
    rest.append(((word, mask), lo, hi, excl))
    rest.sort(key=_fact_word)
    return tuple(rest)


class _Args:
    """The argument checks of one conditional decision: the first rule (most
    restrictive first) whose comparisons all hold decides, else the default."""

    def __init__(self, g: _Graph, rules: Sequence[tuple[int, tuple[Cmp, ...]]], narrow: bool,
                 little: bool, default: int) -> None:
        if sum(len(cmps) for _, cmps in rules) > MAX_COMPARISONS:
            raise UnsupportedError("codegen", f"more than {MAX_COMPARISONS} comparisons for "
                                   "one syscall: Optimize.RANGES does not compile it")
        self.g = g
        self.actions = [a for a, _ in rules]
        self.preds = [_conj(cmps, narrow, little) for _, cmps in rules]
        self.default = default
        self.memo: dict[tuple[int, _Pred, _Facts], int] = {}

    def build(self) -> int:
        return self._node(0, self.preds[0] if self.preds else False, ())

    def _node(self, i: int, pred: _Pred, facts: _Facts) -> int:
        if len(self.memo) > _FACTS_BUDGET:
            facts = ()
        key = (i, pred, facts)
        found = self.memo.get(key)
        if found is not None:
            return found
        if pred is True:
            out = self.g.ret(self.actions[i])
        elif pred is False:
            j = i + 1
            out = (self._node(j, self.preds[j], facts) if j < len(self.preds)
                   else self.g.ret(self.default))
        else:
            assert isinstance(pred, tuple)
            word, mask, op, k, then, other = pred
            known = _outcome(facts, word, mask, op, k)
            if known is True:
                out = self._node(i, then, facts)
            elif known is False:
                out = self._node(i, other, facts)
            else:
                t = self._node(i, then, _learn(facts, word, mask, op, k, True))
                f = self._node(i, other, _learn(facts, word, mask, op, k, False))
                out = self.g.test(word, mask, op, k, t, f)
        self.memo[key] = out
        return out


def _graph(policy: Policy) -> tuple[_Graph, int]:
    g = _Graph()
    leaves: dict[tuple[object, ...], int] = {}

    def leaf(key: tuple[object, ...], little: bool) -> int:
        found = leaves.get((key, little))
        if found is not None:
            return found
        if key[0] == "ret":
            out = g.ret(key[1])  # type: ignore[arg-type]  # an action: ("ret", int)
        else:
            narrow = bool(key[1])
            rules = key[2]
            assert isinstance(rules, tuple)
            out = _Args(g, rules, narrow, little, policy.default).build()
        leaves[(key, little)] = out
        return out

    def search(runs: list[tuple[int, tuple[object, ...]]], lo: int, hi: int,
               little: bool) -> int:
        if hi - lo == 1:
            return leaf(runs[lo][1], little)
        mid = (lo + hi) // 2
        return g.test(_NR_WORD, MASK32, _JGE, runs[mid][0], search(runs, mid, hi, little),
                      search(runs, lo, mid, little))

    roots = []
    for token in _tokens(policy):
        runs = ranges(policy, token)
        roots.append((token, search(runs, 0, len(runs), bool(token & _k.AUDIT_ARCH_LE))))
    node = g.ret(policy.bad_arch)
    for token, root in reversed(roots):
        node = g.test(_ARCH_WORD, MASK32, _JEQ, token, root, node)
    return g, node


# -- layout ----------------------------------------------------------------------------------


def _order(g: _Graph, root: int) -> list[int]:
    """The nodes in postorder (every node after the nodes it jumps to)."""
    seen = {root}
    post: list[int] = []
    stack: list[tuple[int, int]] = [(root, 0)]
    while stack:
        node, state = stack.pop()
        n = g.nodes[node]
        kids = () if n[0] == _RET_K else (n[5], n[4])
        if state < len(kids):
            stack.append((node, state + 1))
            kid = kids[state]
            if kid not in seen:
                seen.add(kid)
                stack.append((kid, 0))
        else:
            post.append(node)
    return post


def _emit(g: _Graph, root: int) -> list[tuple[int, int, int, int]]:
    """Lay the graph out from the end backwards; positions count from the end."""
    rev: list[tuple[int, int, int, int]] = []  # instructions, last first
    full: dict[int, int] = {}  # node -> position of its first instruction
    ready: dict[int, int] = {}  # test node -> position of its jump (A loaded)
    stubs: dict[tuple[int, bool], int] = {}  # (node, ready) -> a nearer ja / ret copy

    def where(node: int, want_ready: bool) -> int:
        pos = ready[node] if want_ready else full[node]
        near = stubs.get((node, want_ready))
        return pos if near is None else near

    order = _order(g, root)
    needs_load = {root}  # nodes some path enters with another word in A
    for node in order:
        n = g.nodes[node]
        if n[0] != _RET_K:
            for kid in (n[4], n[5]):
                kn = g.nodes[kid]
                if kn[0] != _RET_K and (kn[1] != n[1] or kn[2] != n[2]):
                    needs_load.add(kid)
    for node in order:
        n = g.nodes[node]
        if n[0] == _RET_K:
            full[node] = len(rev)
            rev.append((_RET_K, 0, 0, n[1]))
            continue
        op, word, mask, k, t, f = n
        targets = []
        for kid in (t, f):
            kn = g.nodes[kid]
            targets.append((kid, kn[0] != _RET_K and kn[1] == word and kn[2] == mask))
        while True:
            here = len(rev)
            far = [(kid, r) for kid, r in targets if here - where(kid, r) - 1 > 255]
            if not far:
                break
            kid, r = far[0]
            kn = g.nodes[kid]
            if kn[0] == _RET_K:
                rev.append((_RET_K, 0, 0, kn[1]))
            else:
                rev.append((_JA, 0, 0, len(rev) - where(kid, r) - 1))
            stubs[(kid, r)] = len(rev) - 1
        here = len(rev)
        jt = here - where(t, targets[0][1]) - 1
        jf = here - where(f, targets[1][1]) - 1
        rev.append((op, jt, jf, k))
        ready[node] = here
        if node in needs_load:
            if mask != MASK32:
                rev.append((_AND_K, 0, 0, mask))
            rev.append((_LD_ABS, 0, 0, 4 * word))
        full[node] = len(rev) - 1
    rev.reverse()
    return rev


def generate(policy: Policy) -> bytes:
    """The RANGES program for ``policy`` (raw ``struct sock_filter`` bytes in the
    byte order of the filter's arches).  It may exceed the kernel's 4096
    instructions for huge policies; the caller checks the size and verifies.
    Raises UnsupportedError when the rules of one syscall hold more than
    MAX_COMPARISONS comparisons."""
    g, root = _graph(policy)
    insns = _emit(g, root)
    big = bool(policy.arches) and not any(int(a) & _k.AUDIT_ARCH_LE for a in policy.arches)
    fmt = struct.Struct((">" if big else "<") + "HBBI")
    if not policy.arches:
        fmt = struct.Struct(("<" if sys.byteorder == "little" else ">") + "HBBI")
    return b"".join(fmt.pack(*i) for i in insns)

