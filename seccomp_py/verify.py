"""Prove that a BPF program decides as its rules say, on every input, before the kernel sees it.

:func:`verify` takes a :class:`~seccomp_py.model.Policy` (what the user
asked for) and a program, and raises :class:`FilterVerificationError`
naming one input where they disagree.  The proof is by partition, not
sampling (docs/failclosed.md):

* arch tokens: every token the filter holds, plus foreign ones;
* syscall numbers: every number a rule names on each arch (and the
  multiplexer's), every constant the *program* compares the number with,
  each with its neighbours, plus 0, -1, the x32 bit's boundaries and the
  top of the range.  Between two of these points neither the model nor the
  program (which only compares the number with those constants) can change
  its decision.  Each number is run in C (``spy_bpf_scan``) with the
  arguments unknown: a path that reads no argument decides every call with
  that number;
* arguments, for each number whose rules compare arguments or whose
  program path reads one: the program's comparisons on the reachable paths
  (``spy_bpf_probe``, an abstract run) and the rules' datums give, for each
  32-bit half, the points on, just below and just above each constant, and
  for a masked comparison the datum and each single-bit flip under the
  mask; the cross product over the arguments that matter is run in C and
  compared with the model.

A program that computes on the arguments in a way this partition does not
cover (arithmetic other than AND with a constant, a jump on a register
loaded from data) is refused as "cannot prove", never guessed.
"""

from __future__ import annotations

import itertools
from array import array
from collections.abc import Iterable, Sequence

from ._native import ffi, lib
from .arch import Arch
from .bpf import INSN_SIZE, action_name, host_program
from .errors import FilterVerificationError
from .model import MASK32, MASKED_EQ, Entry, Policy, decide_entries

_FOREIGN = (0xC00000B7, 0xC000003E, 0x40000003, 0x12345678)  # aarch64, x86_64, x86, nonsense
#: the largest argument cross product verified for one syscall
MAX_POINTS = 1 << 18
_PROBE_MAX = 4096


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


_BASE_NRS = (0, 1, 0xFFFFFFFF, 0xFFFFFFFE, 0x3FFFFFFF, 0x40000000, 0x40000001, 0x7FFFFFFF,
             0x80000000, 0xBFFFFFFF, 0xC0000000)


def verify(policy: Policy, program: bytes | bytearray | memoryview) -> int:
    """Raise FilterVerificationError unless ``program`` decides as ``policy`` on every
    input; return the number of inputs run."""
    raw = host_program(program)
    n = len(raw) // INSN_SIZE
    prog = ffi.from_buffer("char[]", raw)
    if lib.spy_bpf_check(prog, n) < 0:
        _cannot("the kernel would refuse the program")
    consts = ffi.new("uint32_t[]", _PROBE_MAX)
    masks = ffi.new("uint32_t[]", _PROBE_MAX)
    count = lib.spy_bpf_nr_consts(prog, n, consts, masks, _PROBE_MAX)
    if count < 0:
        _cannot("the program compares the syscall number with too many constants")
    prog_nrs: set[int] = set()
    for i in range(count):
        m, k = int(masks[i]), int(consts[i])
        if m == MASK32:
            prog_nrs.add(k)
        else:
            prog_nrs.update(_masked(m, k))
    tokens = {int(Arch.X86_64) if a is Arch.X32 else int(a) for a in policy.arches}
    tokens.update(t for t in _FOREIGN[:2] if t not in tokens)
    tokens.add(next(t for t in _FOREIGN if t not in tokens))
    tokens.add(0)
    ran = 0
    for token in sorted(tokens):
        rule_nrs: set[int] = set()
        for arch in policy.arches:
            if (int(Arch.X86_64) if arch is Arch.X32 else int(arch)) == token:
                rule_nrs.update(policy.table(arch))
        points = sorted(_around(rule_nrs | prog_nrs) | set(_BASE_NRS))
        ran += _verify_token(policy, prog, n, token, points)
    return ran


def _verify_token(policy: Policy, prog: object, n: int, token: int, points: list[int]) -> int:
    count = len(points)
    nrs = array("I", points)
    arches = array("I", [token]) * count
    results = array("I", bytes(4 * count))
    dep = bytearray(count)
    lib.spy_bpf_scan(prog, n, count, ffi.from_buffer("uint32_t[]", arches),
                     ffi.from_buffer("uint32_t[]", nrs),
                     ffi.from_buffer("uint32_t[]", results), ffi.from_buffer("uint8_t[]", dep))
    deep: list[int] = []
    ran = count
    zeros = (0,) * 6
    bad_arch = policy.bad_arch
    default = policy.default
    for i, nr in enumerate(points):
        entries = policy.entries(token, nr)
        if dep[i] or (entries and not any(e.unconditional for e in entries)):
            deep.append(nr)
            continue
        got = results[i]
        if entries is None:
            if got != bad_arch:
                _fail(policy, token, nr, zeros, {bad_arch}, got, None)
        elif not entries:
            if got != default:
                _fail(policy, token, nr, zeros, {default}, got, entries)
        else:
            want = decide_entries(entries, default, zeros)
            if got not in want:
                _fail(policy, token, nr, zeros, want, got, entries)
    for nr in deep:
        ran += _verify_args(policy, prog, n, token, nr)
    return ran


def _verify_args(policy: Policy, prog: object, n: int, token: int, nr: int) -> int:
    words = ffi.new("uint32_t[]", _PROBE_MAX)
    masks = ffi.new("uint32_t[]", _PROBE_MAX)
    ks = ffi.new("uint32_t[]", _PROBE_MAX)
    ops = ffi.new("uint8_t[]", _PROBE_MAX)
    count = lib.spy_bpf_probe(prog, n, token, nr, words, masks, ks, ops, _PROBE_MAX)
    entries = policy.entries(token, nr)
    if count < 0:
        _cannot(f"the program computes on the arguments of syscall {nr} on arch "
                f"{token:#x} in a way the verifier does not cover")
    little = bool(token & 0x40000000)
    wide = bool(token & 0x80000000)
    # 32-bit candidates per data word (2..15: ip and the arguments' halves)
    cand: dict[int, set[int]] = {}
    for i in range(count):
        w, m, k, op = int(words[i]), int(masks[i]), int(ks[i]), int(ops[i])
        s = cand.setdefault(w, {0, MASK32})
        if m == MASK32 and op < 3:
            s.update(_around((k,)))
        elif op == 3:
            s.update(_masked(m & k, 0))
        else:
            s.update(_masked(m, k))
            s.update(_around((k,)))
    for e in entries or ():
        for c in e.cmps:
            lo_w = 4 + 2 * c.index + (0 if little else 1)
            hi_w = 4 + 2 * c.index + (1 if little else 0)
            lo = cand.setdefault(lo_w, {0, MASK32})
            hi = cand.setdefault(hi_w, {0, MASK32})
            if c.op == MASKED_EQ:
                lo.update(_masked(c.a & MASK32, c.b & MASK32))
                hi.update(_masked(c.a >> 32, c.b >> 32))
            else:
                lo.update(_around((c.a & MASK32,)))
                hi.update(_around((c.a >> 32,)))
    if 2 in cand or 3 in cand:
        _cannot(f"the program compares the instruction pointer (syscall {nr})")
    if not wide:  # the kernel zero-extends a 32-bit arch's arguments
        for i in range(6):
            cand[4 + 2 * i + (1 if little else 0)] = {0}
    # per argument: its 64-bit candidates
    per_arg: list[list[int]] = []
    used: list[int] = []
    total = 1
    for i in range(6):
        lo_w = 4 + 2 * i + (0 if little else 1)
        hi_w = 4 + 2 * i + (1 if little else 0)
        lo, hi = cand.get(lo_w, {0}), cand.get(hi_w, {0})
        if len(lo) == 1 and len(hi) == 1:
            per_arg.append([(next(iter(hi)) << 32) | next(iter(lo))])
            continue
        values = [(h << 32) | v for h in sorted(hi) for v in sorted(lo)]
        per_arg.append(values)
        used.append(i)
        total *= len(values)
    if total > MAX_POINTS:
        _cannot(f"syscall {nr} on arch {token:#x} needs {total} argument points "
                f"(more than {MAX_POINTS})")
    combos = list(itertools.product(*per_arg))
    buf = array("I")
    for args in combos:
        buf.append(nr)
        buf.append(token)
        buf.append(0)
        buf.append(0)
        for a in args:
            if little:
                buf.append(a & MASK32)
                buf.append(a >> 32)
            else:
                buf.append(a >> 32)
                buf.append(a & MASK32)
    results = array("I", bytes(4 * len(combos)))
    lib.spy_bpf_eval_words(prog, n, len(combos), ffi.from_buffer("uint32_t[]", buf),
                           ffi.from_buffer("uint32_t[]", results))
    default = policy.default
    for args, got in zip(combos, results):
        if entries is None:
            want = frozenset({policy.bad_arch})
        else:
            want = decide_entries(entries, default, args)
        if got not in want:
            _fail(policy, token, nr, args, want, got, entries)
    return len(combos)


__all__ = ["MAX_POINTS", "verify"]
