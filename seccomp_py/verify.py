"""Prove that a BPF program decides as its rules say, on every input, before the kernel sees it.

:func:`verify` takes a :class:`~seccomp_py.model.Policy` (what the user asked for) and a
program, and raises :class:`FilterVerificationError` naming one input where they
disagree, or one it cannot prove.  The proof is by partition of the inputs, not by
sampling: see docs/failclosed.md ("The proof").
"""

from __future__ import annotations

import bisect
import errno
import threading
from array import array
from collections.abc import Iterable, Sequence

from . import _kernel as _k
from ._native import ffi, lib
from .arch import Arch
from .bpf import INSN_SIZE, action_name, host_program
from .errors import FilterVerificationError
from .model import EQ, MASK32, MASKED_EQ, NE, X32_BIT, Cmp, Entry, Policy

TYPE_CHECKING = False  # not typing's (start-up time)
if TYPE_CHECKING:
    from typing import Any

    from ._seccomp import CData

_FOREIGN = (_k.AUDIT_ARCH_AARCH64, _k.AUDIT_ARCH_X86_64, _k.AUDIT_ARCH_I386,
            0x12345678)  # the last: nonsense
#: the largest argument cross product verified for one syscall
MAX_POINTS = 1 << 18
_PROBE_MAX = 1 << 16


def _version() -> str:
    from .features import library_version

    try:
        return ".".join(map(str, library_version()))
    except Exception:  # pragma: no cover - defensive
        return "unknown"


def _arch_label(token: int, policy: Policy, nr: int) -> str:
    arch = policy.arch_for(token, nr)
    if arch is not None:
        return arch.libseccomp_name
    for a in Arch:
        if int(a) == token and a is not Arch.NATIVE:
            return f"{a.libseccomp_name} (not in the filter)"
    return f"{token:#010x} (foreign)"


def _syscall_label(policy: Policy, token: int, nr: int) -> str | None:
    from .syscall import _resolve_number

    arch = policy.arch_for(token, nr)
    if arch is None:
        return None
    try:
        return _resolve_number(arch, nr if nr < 0x80000000 else nr - (1 << 32))
    except (ValueError, OverflowError):  # pragma: no cover
        return None


def _fail(policy: Policy, token: int, nr: int, args: Sequence[int],
          expected: Iterable[int], actual: int, entries: Sequence[Entry] | None) -> None:
    name = _syscall_label(policy, token, nr)
    exp = tuple(sorted(action_name(a) for a in expected))
    act = action_name(actual)
    arch = _arch_label(token, policy, nr)
    shown_nr = nr if nr < 0x80000000 else nr - (1 << 32)
    call = f"{name or 'syscall'}({shown_nr})" if name else f"syscall {shown_nr}"
    argtext = ", ".join(f"{a:#x}" for a in args)
    version = _version()
    detail = (f"the program does not enforce the rules: on {arch}, {call} with "
              f"arguments ({argtext}) the rules say {' or '.join(exp)} but the program "
              f"gives {act} (libseccomp {version}); nothing was loaded or written")
    hint = ""
    if entries:
        conditional = [e for e in entries if not e.unconditional]
        if len(conditional) >= 2:
            rules = "; ".join(e.rule.describe() for e in conditional[:2])
            hint = (f"; rules involved: {rules}.  Rewrite them so their conditions do not "
                    "overlap (one rule per action, or split ranges into disjoint ones)")
    err = FilterVerificationError(detail=detail + hint)
    err.arch = arch
    err.syscall = name
    err.nr = shown_nr
    err.args = tuple(args)
    err.expected = exp
    err.actual = act
    err.version = version
    err.hint = hint
    err.token = token
    raise err


def _cannot(reason: str) -> None:
    err = FilterVerificationError(detail=f"cannot prove the program decides as its rules say: "
                                         f"{reason}; refusing it (libseccomp {_version()})")
    err.reason = reason
    err.version = _version()
    raise err


def _around(values: Iterable[int]) -> set[int]:
    out: set[int] = set()
    for v in values:
        out.update(((v - 1) & MASK32, v & MASK32, (v + 1) & MASK32))
    return out


def _masked(mask: int, datum: int) -> set[int]:
    """Points for ``(w & mask) == datum`` on one 32-bit word."""
    base = datum & mask
    out = {base, base | (~mask & MASK32), ~mask & MASK32, 0}
    bit = 1
    while bit <= mask:
        if mask & bit:
            out.add(base ^ bit)
        bit <<= 1
    return out


_BASE_NRS = (0, 1, 0xFFFFFFFF, 0xFFFFFFFE, X32_BIT - 1, X32_BIT, X32_BIT + 1, 0x7FFFFFFF,
             1 << 31, 0xBFFFFFFF, 0xC0000000)


def verify(policy: Policy, program: bytes | bytearray | memoryview) -> int:
    """Raise FilterVerificationError unless ``program`` decides as ``policy`` on every
    input; return the number of inputs run."""
    raw = host_program(program)
    n = len(raw) // INSN_SIZE
    prog = ffi.from_buffer("char[]", raw)
    if lib.spy_bpf_check_any(prog, n) < 0:
        _cannot("the kernel would refuse the program")
    size = min(_PROBE_MAX, 2 * n + 16)
    consts = ffi.new("uint32_t[]", size)
    masks = ffi.new("uint32_t[]", size)
    tokens = {int(Arch.X86_64) if a is Arch.X32 else int(a) for a in policy.arches}
    tokens.add(next(t for t in _FOREIGN if t not in tokens))
    tokens.add(0)
    ran = 0
    for token in sorted(tokens):
        count = lib.spy_bpf_nr_consts(prog, n, token, consts, masks, size)
        if count < 0:
            _cannot("the program compares the syscall number with too many constants")
        prog_nrs: set[int] = set()
        for m, k in zip(ffi.unpack(masks, count), ffi.unpack(consts, count)):
            if m == MASK32:
                prog_nrs.add(k)
            else:
                prog_nrs.update(_masked(m, k))
        for arch in policy.arches:
            if (int(Arch.X86_64) if arch is Arch.X32 else int(arch)) == token:
                prog_nrs.update(policy.table(arch))
        points = {(v - 1) & MASK32 for v in prog_nrs}
        points.update(prog_nrs)
        points.update((v + 1) & MASK32 for v in prog_nrs)
        points.update(_BASE_NRS)
        ran += _verify_token(policy, prog, n, token, sorted(points))
    return ran


def _simple(policy: Policy, arch: Arch) -> tuple[dict[int, int], set[int]]:
    """nr -> the one action the rules give it whatever the arguments (nrs
    without rules are absent: the default), and the nrs whose arguments matter."""
    return policy.simple(arch)


def _verify_token(policy: Policy, prog: CData, n: int, token: int, points: list[int]) -> int:
    count = len(points)
    nrs = array("I", points)
    arches = array("I", [token]) * count
    results = array("I", bytes(4 * count))
    dep = bytearray(count)
    lib.spy_bpf_scan(prog, n, count, ffi.from_buffer("uint32_t[]", arches),
                     ffi.from_buffer("uint32_t[]", nrs),
                     ffi.from_buffer("uint32_t[]", results), ffi.from_buffer("uint8_t[]", dep))
    bad_arch = policy.bad_arch
    default = policy.default
    low = policy.arch_for(token, 0)
    high = policy.arch_for(token, X32_BIT)
    skip = policy.arch_for(token, MASK32)
    deep: set[int] = set()
    if low is None and high is None and skip is None:
        expected = array("I", [bad_arch]) * count
    else:
        values: list[int] = []
        cut = bisect.bisect_left(points, X32_BIT)
        top = bisect.bisect_left(points, MASK32)
        for arch, part in ((low, points[:cut]), (high, points[cut:top]),
                           (skip, points[top:])):
            if arch is None:
                values += [bad_arch] * len(part)
                continue
            table, unsure = _simple(policy, arch)
            get = table.get
            values += [get(nr, default) for nr in part]
            if unsure:
                deep.update(unsure.intersection(part))
        expected = array("I", values)
    i = dep.find(1)
    while i >= 0:
        deep.add(points[i])
        i = dep.find(1, i + 1)
    if deep:
        for nr in deep:
            i = bisect.bisect_left(points, nr)
            expected[i] = results[i]
    if expected.tobytes() != results.tobytes():
        i = next(i for i in range(count) if expected[i] != results[i])
        nr = points[i]
        entries = policy.entries(token, nr)
        _fail(policy, token, nr, (0,) * 6, {expected[i]}, results[i], entries)
    ran = count
    for nr in sorted(deep):
        ran += _verify_args(policy, prog, n, token, nr)
    return ran


def _holds(value: int, mask: int, k: int, op: int) -> bool:
    a = value & mask
    if op == 0:
        return a == k
    if op == 1:
        return a > k
    if op == 2:
        return a >= k
    return bool(a & k)


_MAX_PATHS = 1 << 18


def _verify_args(policy: Policy, prog: CData, n: int, token: int, nr: int) -> int:
    """Every path the program takes for (token, nr) against the model on the
    argument points inside that path's region."""
    size = 1 << 8
    while True:
        bufs = _buffers(size)
        c_word, c_mask, c_k, c_op, ends, rets = bufs
        npaths = lib.spy_bpf_paths(prog, n, token, nr, c_word, c_mask, c_k, c_op, size * 16,
                                   ends, rets, size)
        if npaths != -errno.E2BIG or size >= _MAX_PATHS:
            break
        size *= 16
    if npaths < 0:
        _cannot(f"the program computes on the arguments of syscall {nr} on arch "
                f"{token:#x} in a way the verifier does not cover"
                if npaths == -errno.ENOTSUP else
                f"the program has too many paths for syscall {nr} on arch {token:#x}")
    entries = policy.entries(token, nr)
    little = bool(token & _k.AUDIT_ARCH_LE)
    wide = bool(token & _k.AUDIT_ARCH_64BIT)
    total = int(ends[npaths - 1]) if npaths else 0
    conds = list(zip(ffi.unpack(c_word, total), ffi.unpack(c_mask, total),
                     ffi.unpack(c_k, total), ffi.unpack(c_op, total)))
    # 32-bit candidates per data word (2..15: ip and the arguments' halves)
    cand: dict[int, set[int]] = {}
    for w, m, k, op in set(conds):
        s = cand.setdefault(w, {0, MASK32})
        op &= 0x7F
        if m == MASK32 and op < 3:
            s.update(_around((k,)))
        elif op == 3:
            s.update(_masked(m & k, 0))
        else:
            s.update(_masked(m, k))
            s.update(_around((k,)))
    if 2 in cand or 3 in cand:
        _cannot(f"the program compares the instruction pointer (syscall {nr})")
    for e in entries or ():
        for c in e.cmps:
            lo = cand.setdefault(4 + 2 * c.index + (0 if little else 1), {0, MASK32})
            hi = cand.setdefault(4 + 2 * c.index + (1 if little else 0), {0, MASK32})
            if c.op == MASKED_EQ:
                lo.update(_masked(c.a & MASK32, c.b & MASK32))
                hi.update(_masked(c.a >> 32, c.b >> 32))
            else:
                lo.update(_around((c.a & MASK32,)))
                hi.update(_around((c.a >> 32,)))
    lo_of = [4 + 2 * i + (0 if little else 1) for i in range(6)]
    hi_of = [4 + 2 * i + (1 if little else 0) for i in range(6)]
    if not wide:  # the kernel zero-extends a 32-bit arch's arguments
        for w in hi_of:
            cand[w] = {0}
    ran = 0
    start = 0
    zero = [0]
    lo_sorted = [list(cand[lo_of[i]]) if lo_of[i] in cand else zero for i in range(6)]
    hi_sorted = [list(cand[hi_of[i]]) if hi_of[i] in cand else zero for i in range(6)]
    free = [[(h << 32) | v for h in hi_sorted[i] for v in lo_sorted[i]] for i in range(6)]
    word_arg = {lo_of[i]: i for i in range(6)} | {hi_of[i]: i for i in range(6)}
    memo: dict[tuple[object, ...], list[int]] = {}
    index = _EqIndex(entries or [])
    for p, end in enumerate(ffi.unpack(ends, npaths)):
        got = int(rets[p])
        mine = conds[start:end]
        start = end
        region = list(free)
        touched = {word_arg[w] for w, _, _, _ in mine if w in word_arg}
        for i in touched:
            lw, hw = lo_of[i], hi_of[i]
            los = _narrow(lo_sorted[i], [c for c in mine if c[0] == lw], memo)
            his = _narrow(hi_sorted[i], [c for c in mine if c[0] == hw], memo)
            region[i] = [(h << 32) | v for h in his for v in los]
        if not all(region):
            continue  # no candidate point takes this path
        ran += _check_region(policy, prog, n, token, nr, entries, region, got, index)
    return ran


def _narrow(values: list[int], conds: list[tuple[int, int, int, int]],
            memo: dict[tuple[object, ...], list[int]]) -> list[int]:
    """The values of one word that satisfy a path's conditions on it."""
    if not conds:
        return values
    key = (id(values), *conds)
    found = memo.get(key)
    if found is not None:
        return found
    out = values
    rest = []
    excluded: set[int] = set()
    for c in conds:
        _, m, k, op = c
        if m == MASK32 and op & 0x7F == 0:
            if op & 0x80:  # word == k: at most one value left
                out = [v for v in out if v == k]
            else:
                excluded.add(k)
        else:
            rest.append(c)
    if excluded:
        out = [v for v in out if v not in excluded]
    for _, m, k, op in rest:
        taken = bool(op & 0x80)
        op &= 0x7F
        if op == 0:
            out = [v for v in out if ((v & m) == k) is taken]
        elif op == 1:
            out = [v for v in out if ((v & m) > k) is taken]
        elif op == 2:
            out = [v for v in out if ((v & m) >= k) is taken]
        else:
            out = [v for v in out if bool(v & m & k) is taken]
    memo[key] = out
    return out


_BUFFERS = threading.local()


def _buffers(size: int) -> tuple[Any, ...]:
    """Output buffers for spy_bpf_paths, reused per thread (the C call releases the GIL)."""
    cache: dict[int, tuple[Any, ...]] | None = getattr(_BUFFERS, "cache", None)
    if cache is None:
        cache = _BUFFERS.cache = {}
    found = cache.get(size)
    if found is None:
        found = (ffi.new("uint8_t[]", size * 16), ffi.new("uint32_t[]", size * 16),
                 ffi.new("uint32_t[]", size * 16), ffi.new("uint8_t[]", size * 16),
                 ffi.new("int[]", size), ffi.new("uint32_t[]", size))
        if size <= 1 << 12:
            cache[size] = found
    return found


class _EqIndex:
    """Rules with an EQ comparison, by argument and datum: a region only needs
    the rules whose datum it holds (an allow-list of 1,000 values is not
    1,000 rules to look at on every path)."""

    def __init__(self, entries: list[Entry]) -> None:
        self.by_arg: dict[int, dict[int, list[int]]] = {}
        self.others: list[int] = []
        for pos, e in enumerate(entries):
            eq = None if e.narrow else next((c for c in e.cmps if c.op == EQ), None)
            if eq is None:
                self.others.append(pos)
            else:
                self.by_arg.setdefault(eq.index, {}).setdefault(eq.a, []).append(pos)

    def candidates(self, reg: list[list[int]]) -> list[int]:
        out = list(self.others)
        for arg, table in self.by_arg.items():
            values = reg[arg]
            if len(values) <= len(table):
                for v in values:
                    found = table.get(v)
                    if found:
                        out += found
            else:
                have = set(values)
                for datum, found in table.items():
                    if datum in have:
                        out += found
        out.sort()
        return out


def _check_region(policy: Policy, prog: CData, n: int, token: int, nr: int,
                  entries: list[Entry] | None, region: list[list[int]], got: int,
                  index: _EqIndex | None = None) -> int:
    """The program returns ``got`` on every point of ``region`` (one list of
    candidate values per argument): the model must allow it on each.  The
    region is split on a comparison until every rule is decided on it."""
    if entries is None:
        if got != policy.bad_arch:
            _fail_at(policy, prog, n, token, nr, region, {policy.bad_arch}, got, entries)
        return 1
    for e in entries:
        if e.unconditional:
            if got != e.rule.action:
                _fail_at(policy, prog, n, token, nr, region, {e.rule.action}, got, entries)
            return 1
    narrow = bool(entries) and entries[0].narrow
    stack = [region]
    checks = 0
    while stack:
        reg = stack.pop()
        checks += 1
        if checks > MAX_POINTS:
            _cannot(f"syscall {nr} on arch {token:#x} needs more than {MAX_POINTS} "
                    "argument classes")
        actions: set[int] = set()
        split: tuple[int, Cmp] | None = None
        sets: dict[int, set[int]] = {}
        for pos in (index.candidates(reg) if index is not None else range(len(entries))):
            e = entries[pos]
            never = False
            maybe: Cmp | None = None
            for c in e.cmps:
                values = reg[c.index]
                if not narrow and c.op in (EQ, NE):  # set membership, not a scan
                    found = sets.get(c.index)
                    if found is None:
                        found = sets[c.index] = set(values)
                    inside = c.a in found
                    hits = int(inside) if c.op == EQ else len(values) - int(inside)
                else:
                    hits = 0
                    for v in values:
                        if c.holds_value(v & MASK32 if narrow else v):
                            hits += 1
                if hits == 0:
                    never = True
                    break
                if hits != len(values) and maybe is None:
                    maybe = c
            if never:
                continue
            if maybe is not None:
                split = (maybe.index, maybe)
                break
            actions.add(e.rule.action)
        if split is not None:
            idx, c = split
            yes = [v for v in reg[idx] if c.holds_value(v & MASK32 if narrow else v)]
            no = [v for v in reg[idx] if not c.holds_value(v & MASK32 if narrow else v)]
            for part in (yes, no):
                sub = list(reg)
                sub[idx] = part
                stack.append(sub)
            continue
        want = frozenset(actions) if actions else frozenset({policy.default})
        if got not in want:
            _fail_at(policy, prog, n, token, nr, reg, want, got, entries)
    return checks


def _fail_at(policy: Policy, prog: CData, n: int, token: int, nr: int,
             region: list[list[int]], want: Iterable[int], got: int,
             entries: list[Entry] | None) -> None:
    args = tuple(values[0] for values in region)
    full = ffi.new("uint64_t[6]", list(args))
    result = ffi.new("uint32_t *")
    lib.spy_bpf_eval(prog, n, nr, token, 0, full, result)
    _fail(policy, token, nr, args, want, int(result[0]), entries)


# -- repair: build the part libseccomp gets wrong ------------------------------------------

_LD_ABS = _k.BPF_LD | _k.BPF_W | _k.BPF_ABS
_AND_K = _k.BPF_ALU | _k.BPF_AND | _k.BPF_K
_JEQ, _JGT, _JGE = (_k.BPF_JMP | op | _k.BPF_K for op in (_k.BPF_JEQ, _k.BPF_JGT, _k.BPF_JGE))
_JA = _k.BPF_JMP | _k.BPF_JA
_RET_K = _k.BPF_RET | _k.BPF_K


_Code = list[tuple[int, object, object, object]]


def _cmp_code(c: Cmp, little: bool, narrow: bool, t: str, f: str) -> _Code:
    """Classic BPF for one comparison: jumps to label ``t`` when it holds, ``f`` otherwise
    (0 is the next instruction)."""
    base = _k.SECCOMP_DATA_ARGS + 8 * c.index
    lo_off, hi_off = (base, base + 4) if little else (base + 4, base)
    dl, dh = c.a & MASK32, c.a >> 32
    if c.op == MASKED_EQ:
        ml, mh = c.a & MASK32, c.a >> 32
        vl, vh = c.b & ml, (c.b >> 32) & mh
        low: _Code = [(_LD_ABS, 0, 0, lo_off), (_AND_K, 0, 0, ml), (_JEQ, t, f, vl)]
        if narrow:
            return low
        return [(_LD_ABS, 0, 0, hi_off), (_AND_K, 0, 0, mh), (_JEQ, 0, f, vh), *low]
    # (jump op, swap) for the low half: "holds" when the jump is taken unless swapped
    from .model import EQ, GE, GT, LE, LT, NE

    low_op = {EQ: (_JEQ, False), NE: (_JEQ, True), GT: (_JGT, False), GE: (_JGE, False),
              LT: (_JGE, True), LE: (_JGT, True)}[c.op]
    op, swap = low_op
    last: tuple[int, object, object, object] = (op, f, t, dl) if swap else (op, t, f, dl)
    if narrow:
        return [(_LD_ABS, 0, 0, lo_off), last]
    hi: _Code = [(_LD_ABS, 0, 0, hi_off)]
    if c.op == EQ:
        hi.append((_JEQ, 0, f, dh))
    elif c.op == NE:
        hi.append((_JEQ, 0, t, dh))
    elif c.op in (GT, GE):
        hi += [(_JGT, t, 0, dh), (_JEQ, 0, f, dh)]
    else:  # LT, LE
        hi += [(_JGT, f, 0, dh), (_JEQ, 0, t, dh)]
    return [*hi, (_LD_ABS, 0, 0, lo_off), last]


def _block(policy: Policy, token: int, nr: int) -> list[tuple[int, object, object, object]]:
    """The code deciding (token, nr) as the model says, falling through otherwise."""
    code: list[tuple[int, object, object, object]] = [
        (_LD_ABS, 0, 0, _k.SECCOMP_DATA_ARCH), (_JEQ, 1, 0, token), (_JA, 0, 0, -1),
        (_LD_ABS, 0, 0, _k.SECCOMP_DATA_NR), (_JEQ, 1, 0, nr), (_JA, 0, 0, -1)]
    entries = policy.entries(token, nr)
    if entries is None:
        return [*code, (_RET_K, 0, 0, policy.bad_arch)]
    little = bool(token & _k.AUDIT_ARCH_LE)
    for e in entries:  # an unconditional rule decides every call, wherever it is
        if e.unconditional:
            return [*code, (_RET_K, 0, 0, e.rule.action)]
    for r, e in enumerate(entries):
        fail = f"fail{r}"
        for j, c in enumerate(e.cmps):
            if c.tautology:
                continue
            nxt = f"c{r}.{j + 1}"
            code += [(op, jt, jf, k) for op, jt, jf, k in
                     _cmp_code(c, little, e.narrow, nxt, fail)]
            code.append((-1, 0, 0, nxt))  # label
        code.append((_RET_K, 0, 0, e.rule.action))
        code.append((-1, 0, 0, fail))
    return [*code, (_RET_K, 0, 0, policy.default)]


def _rel(labels: dict[object, int], pc: int, target: object) -> int:
    if isinstance(target, int):
        return target
    off = labels[target] - pc - 1
    if not 0 <= off < 256:
        raise ValueError("jump too long")
    return off


def _assemble(blocks: list[list[tuple[int, object, object, object]]]) -> bytes:
    from .bpf import Insn, assemble

    out: list[Insn] = []
    for block in blocks:
        labels: dict[object, int] = {}
        pcs: list[tuple[int, object, object, object]] = []
        for op, jt, jf, k in block:
            if op == -1:
                labels[k] = len(pcs)
            else:
                pcs.append((op, jt, jf, k))
        end = len(pcs)
        for pc, (op, jt, jf, k) in enumerate(pcs):
            if op == _JA and k == -1:
                out.append(Insn(op, 0, 0, end - pc - 1))
            else:
                assert isinstance(k, int)
                out.append(Insn(op, _rel(labels, pc, jt), _rel(labels, pc, jf), k & MASK32))
    return assemble(out)


def repair(policy: Policy, program: bytes, error: FilterVerificationError,
           limit: int = 64) -> bytes:
    """A program that decides as ``policy`` says: ``program`` with a prefix that
    decides, itself, each (arch, syscall) where ``program`` is wrong.  The result
    is verified; raises ``error`` (with the conflicting rules named) when no
    correct program of at most 4096 instructions is found."""
    import sys

    from .bpf import guess_byteorder

    if guess_byteorder(program) != sys.byteorder:
        raise error
    fixed: list[tuple[int, int]] = []
    current = error
    for _ in range(limit):
        key = (current.token, current.nr & MASK32)
        if current.reason or key in fixed:
            raise error
        fixed.append(key)
        try:
            prefix = _assemble([_block(policy, t, nr) for t, nr in fixed])
        except ValueError:
            raise error from None
        candidate = prefix + bytes(program)
        if len(candidate) // INSN_SIZE > _k.BPF_MAXINSNS:
            raise error
        try:
            verify(policy, candidate)
        except FilterVerificationError as again:
            current = again
            continue
        return candidate
    raise error


__all__ = ["MAX_POINTS", "repair", "verify"]
