"""``seccomp-py verify``, ``query`` and ``diff``: what a profile or a program decides.

* ``verify PROFILE.json``: compile the profile and prove libseccomp's program
  decides as the rules say (seccomp_py.verify); ``verify PROGRAM.bpf --profile
  P``: the same proof for a raw program (what bwrap or runc was given; runc's
  -ENOSYS stub in front is recognised).  Exit 0 when proven, 1 with the
  differing input when not.
* ``query PROFILE SYSCALL [ARG...]``: the action and the profile entry that
  decides it (or "default").
* ``diff A B`` (profiles or programs): every syscall, and argument class,
  where they decide differently, grouped by syscall; exit 1 when they differ.

Every command takes ``--json``.  Bad input (a truncated program, JSON that is
not a profile, an unknown syscall) is one line on stderr and exit status 2.
See docs/cli.md and docs/failclosed.md.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import warnings
from array import array

TYPE_CHECKING = False  # not typing's: start-up time (`seccomp-py --help` imports this module)
if TYPE_CHECKING:
    import json
    from typing import Any

    from . import bpf
    from .arch import Arch
    from .errors import FilterVerificationError, SeccompError
    from .model import MASK32, X32_BIT, Policy
    from .profile import Compiled, Profile, ProfileError, builtin_path, parse_kernel


def _load() -> None:
    """Import what the commands use into this module, when one runs (not when the parser
    is built: ``seccomp-py --help`` and ``run`` must not pay for the profile and model
    modules)."""
    import json

    from . import bpf
    from .arch import Arch
    from .errors import FilterVerificationError, SeccompError
    from .model import MASK32, X32_BIT, Policy
    from .profile import Compiled, Profile, ProfileError, builtin_path, parse_kernel

    globals().update(json=json, bpf=bpf, Arch=Arch,
                     FilterVerificationError=FilterVerificationError,
                     SeccompError=SeccompError, MASK32=MASK32, X32_BIT=X32_BIT, Policy=Policy,
                     Compiled=Compiled, Profile=Profile, ProfileError=ProfileError,
                     builtin_path=builtin_path, parse_kernel=parse_kernel)

_BAD_INPUT = 2
_MAX_DIFF_POINTS = 1 << 16
_SHOWN = 3


class _BadInput(Exception):
    """Input the command cannot use: one line, exit status 2."""


def _out(args: argparse.Namespace, data: Any, text: str) -> None:
    if args.json:
        json.dump(data, sys.stdout, indent=2, sort_keys=True)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")


def _path(name: str) -> str:
    """A file path, or the name of a shipped profile ("docker", "podman")."""
    if os.path.exists(name) or os.sep in name or name.endswith(".json"):
        return name
    try:
        return builtin_path(name)
    except ProfileError:
        return name


def _read(name: str) -> bytes:
    path = _path(name)
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError as exc:
        raise _BadInput(f"cannot read {name}: {exc.strerror}") from None


def _is_json(data: bytes) -> bool:
    return data.lstrip()[:1] in (b"{", b"[")


def _profile(name: str, data: bytes | None = None) -> Profile:
    raw = _read(name) if data is None else data
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            profile = Profile.loads(raw)
    except ProfileError as exc:
        raise _BadInput(f"{name}: not a seccomp profile: {exc}") from None
    if _path(name) != name:  # a shipped profile: its runtime's capabilities by default
        import dataclasses

        profile = dataclasses.replace(profile, origin=name)
    return profile


def _program(name: str, data: bytes | None = None) -> bytes:
    raw = _read(name) if data is None else data
    if not raw or len(raw) % bpf.INSN_SIZE:
        raise _BadInput(f"{name}: not a BPF program ({len(raw)} bytes is not a whole number "
                        f"of {bpf.INSN_SIZE}-byte instructions)")
    try:
        program = bpf.host_program(raw)
        bpf.validate(bpf.parse(program))
    except bpf.BpfError as exc:
        raise _BadInput(f"{name}: not a valid seccomp program: {exc.detail}") from None
    return program


def _compile(args: argparse.Namespace, name: str, data: bytes | None = None) -> Compiled:
    from .cli import UsageError, _arch_arg, _caps

    profile = _profile(name, data)
    try:
        kernel = parse_kernel(args.kernel) if args.kernel else None
    except ValueError as exc:
        raise UsageError(f"--kernel: {exc}") from None
    caps, _ = _caps(args, profile)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return profile.compile(_arch_arg(args.arch), caps=caps, kernel=kernel,
                                   unknown="error" if args.strict else "ignore",
                                   strict_multiplexed=args.strict_multiplexed)
        except ProfileError as exc:
            raise _BadInput(f"{name}: {exc}") from None


def _describe(err: FilterVerificationError) -> dict[str, Any]:
    return {"arch": err.arch, "syscall": err.syscall, "nr": err.nr, "args": list(err.args),
            "expected": list(err.expected), "actual": err.actual,
            "libseccomp": err.version, "reason": err.reason or None,
            "hint": err.hint or None}


def _error_text(err: FilterVerificationError) -> str:
    if err.reason:
        return f"NOT PROVEN: {err.reason}"
    call = f"{err.syscall}({err.nr})" if err.syscall else f"syscall {err.nr}"
    args = ", ".join(f"{a:#x}" for a in err.args)
    text = (f"DIFFERS: on {err.arch}, {call} with arguments ({args}): the rules say "
            f"{' or '.join(err.expected)}, the program gives {err.actual} "
            f"(libseccomp {err.version})")
    return text + (f"\n{err.hint.lstrip('; ')}" if err.hint else "")


# -- verify -------------------------------------------------------------------------------


def cmd_verify(args: argparse.Namespace) -> int:
    from .verify import verify

    data = _read(args.input)
    if args.profile is None:
        if not _is_json(data):
            raise _BadInput(f"{args.input}: a BPF program needs --profile PROFILE.json")
        compiled = _compile(args, args.input, data)
        subject = args.input
        flt = compiled.filter
        flt.verify = False
        program = flt.export_bpf()
        repaired = False
    else:
        program = _program(args.input, data)
        compiled = _compile(args, args.profile)
        subject = args.input
        flt = compiled.filter
        repaired = False
    policy = flt.policy()
    stub = b""
    try:
        try:
            inputs = verify(policy, program)
        except FilterVerificationError:
            stub = compiled.enosys_stub()
            if args.profile is None or not stub or not program.startswith(stub):
                raise
            inputs = verify(policy, program[len(stub):])
    except FilterVerificationError as err:
        if args.profile is None and not err.reason:
            # what seccomp_py itself would load: libseccomp's program repaired
            flt.verify = True
            try:
                flt.export_bpf()
                repaired = True
            except FilterVerificationError:
                pass
        result = {"subject": subject, "verified": False, "repaired": repaired,
                  "difference": _describe(err)}
        text = _error_text(err)
        if repaired:
            text += ("\n(libseccomp's program is wrong; seccomp_py repairs it and loads a "
                     "verified program)")
        _out(args, result, text)
        flt.close()
        return 1
    arches = [a.libseccomp_name for a in sorted(policy.arches, key=int)]
    count = len(program) // bpf.INSN_SIZE
    result = {"subject": subject, "verified": True, "inputs": inputs, "arches": arches,
              "instructions": count, "enosys_stub": len(stub) // bpf.INSN_SIZE}
    note = " after runc's -ENOSYS stub" if stub else ""
    _out(args, result, f"verified{note}: {subject} decides as its rules say on every input "
                       f"({inputs} input classes; {', '.join(arches)}; {count} instructions)")
    flt.close()
    return 0


# -- query --------------------------------------------------------------------------------


def cmd_query(args: argparse.Namespace) -> int:
    from .syscall import _resolve_name

    compiled = _compile(args, args.profile)
    flt = compiled.filter
    policy = flt.policy()
    arch = compiled.arch
    try:
        values = [int(a, 0) & ((1 << 64) - 1) for a in args.args]
    except ValueError:
        raise _BadInput(f"query: arguments must be integers, not {' '.join(args.args)}") from None
    if len(values) > 6:
        raise _BadInput("query: a syscall has at most 6 arguments")
    values += [0] * (6 - len(values))
    try:
        nr = int(args.syscall, 0)
        name = args.syscall
    except ValueError:
        name = args.syscall
        nr = _resolve_name(arch, name)
        if nr < 0:
            raise _BadInput(f"query: {name!r} is not a syscall on "
                            f"{arch.libseccomp_name}") from None
    token = int(Arch.X86_64) if arch is Arch.X32 else int(arch)
    entries = policy.entries(token, nr)
    program = flt.export_bpf()
    actual = bpf.evaluate(program, nr, token, values)
    decided = "default"
    rule_source = None
    if entries is None:
        decided = "bad arch"
    else:
        for e in entries:
            if e.unconditional or all(c.holds_value(
                    values[c.index] & MASK32 if e.narrow else values[c.index])
                                      for c in e.cmps):
                pos = e.rule.position
                rule_source = compiled.rules[pos].source if pos < len(compiled.rules) else None
                decided = rule_source or f"rule {pos}"
                break
    action = bpf.action_name(actual)
    result = {"syscall": name, "nr": nr, "arch": arch.libseccomp_name, "args": values,
              "action": action, "decided_by": decided}
    shown = ", ".join(f"{v:#x}" for v in values)
    _out(args, result, f"{name}({shown}) on {arch.libseccomp_name}: {action}  "
                       f"[{decided}]")
    flt.close()
    return 0


# -- diff ---------------------------------------------------------------------------------


class _Side:
    """One side of a diff: a program, and the policy when it came from a profile."""

    def __init__(self, args: argparse.Namespace, name: str) -> None:
        from .verify import verify

        data = _read(name)
        self.name = name
        self.policy: Policy | None = None
        if _is_json(data):
            compiled = _compile(args, name, data)
            self.program = compiled.filter.export_bpf()  # verified
            self.policy = compiled.filter.policy()
            self.arches = set(self.policy.arches)
            verify(self.policy, self.program)
            compiled.filter.close()
        else:
            self.program = _program(name, data)
            self.arches = set()
        from ._native import ffi

        self.n = len(self.program) // bpf.INSN_SIZE
        self.cprog = ffi.from_buffer("char[]", self.program)


def _nr_points(sides: list[_Side], token: int) -> list[int]:
    from ._native import ffi, lib

    base: set[int] = {0, 1, 0x3FFFFFFF, X32_BIT, 0x7FFFFFFF, 0x80000000, MASK32 - 1, MASK32}
    for s in sides:
        consts = ffi.new("uint32_t[]", 2 * s.n + 16)
        masks = ffi.new("uint32_t[]", 2 * s.n + 16)
        count = lib.spy_bpf_nr_consts(s.cprog, s.n, token, consts, masks, 2 * s.n + 16)
        base.update(ffi.unpack(consts, max(count, 0)))
        if s.policy is not None:
            for a in s.policy.arches:
                if (int(Arch.X86_64) if a is Arch.X32 else int(a)) == token:
                    base.update(s.policy.table(a))
    return sorted({(v + d) & MASK32 for v in base for d in (-1, 0, 1)})


def _arch_of(token: int, nr: int) -> Arch | None:
    if token == int(Arch.X86_64):
        return Arch.X32 if X32_BIT <= nr < MASK32 else Arch.X86_64
    for a in Arch:
        if int(a) == token and a is not Arch.NATIVE:
            return a
    return None


def _signed(nr: int) -> int:
    return nr if nr < 0x80000000 else nr - (1 << 32)


def _syscall_name(token: int, nr: int) -> str:
    from .syscall import _resolve_number

    arch = _arch_of(token, nr)
    name = None
    if arch is not None and nr < 0x80000000:
        name = _resolve_number(arch, nr)
    return name or f"syscall {nr if nr < 0x80000000 else nr - (1 << 32)}"


def _word_values(side: _Side, token: int, nr: int) -> dict[int, set[int]] | None:
    """Candidate values per data word from the program's comparisons (None: cannot tell)."""
    from ._native import ffi, lib
    from .verify import _around, _buffers, _masked

    size = 1 << 10
    c_word, c_mask, c_k, c_op, ends, _rets = _buffers(size)
    npaths = lib.spy_bpf_paths(side.cprog, side.n, token, nr, c_word, c_mask, c_k, c_op,
                               size * 16, ends, _rets, size)
    if npaths < 0:
        return None
    total = ends[npaths - 1] if npaths else 0
    out: dict[int, set[int]] = {}
    for w, m, k, op in set(zip(ffi.unpack(c_word, total), ffi.unpack(c_mask, total),
                               ffi.unpack(c_k, total), ffi.unpack(c_op, total))):
        s = out.setdefault(w, {0, MASK32})
        op &= 0x7F
        if m == MASK32 and op < 3:
            s.update(_around((k,)))
        else:
            s.update(_masked(m & k if op == 3 else m, 0 if op == 3 else k))
    return out


def _diff_args(sides: list[_Side], token: int, nr: int) -> list[tuple[tuple[int, ...], int, int]]:
    """Argument points where the two programs differ for (token, nr)."""
    from ._native import ffi, lib

    words: dict[int, set[int]] = {}
    for s in sides:
        found = _word_values(s, token, nr)
        if found is None:
            return [((0,) * 6, -1, -1)]
        for w, seen in found.items():
            words.setdefault(w, set()).update(seen)
    little = bool(token & 0x40000000)
    wide = bool(token & 0x80000000)
    per_arg: list[list[int]] = []
    for i in range(6):
        lo = sorted(words.get(4 + 2 * i + (0 if little else 1), {0}))
        hi = sorted(words.get(4 + 2 * i + (1 if little else 0), {0})) if wide else [0]
        per_arg.append([(h << 32) | v for h in hi for v in lo])
    total = 1
    for vals in per_arg:
        total *= len(vals)
    if total > _MAX_DIFF_POINTS:  # keep one argument varying at a time
        combos = [tuple(vals[0] for vals in per_arg)]
        for i, vals in enumerate(per_arg):
            for v in vals[1:]:
                point = [p[0] for p in per_arg]
                point[i] = v
                combos.append(tuple(point))
    else:
        combos = list(itertools.product(*per_arg))
    buf = array("I")
    for args in combos:
        buf.extend((nr, token, 0, 0))
        for a in args:
            buf.extend((a & MASK32, a >> 32) if little else (a >> 32, a & MASK32))
    res = []
    for s in sides:
        out = array("I", bytes(4 * len(combos)))
        lib.spy_bpf_eval_words(s.cprog, s.n, len(combos), ffi.from_buffer("uint32_t[]", buf),
                               ffi.from_buffer("uint32_t[]", out))
        res.append(out)
    return [(args, a, b) for args, a, b in zip(combos, res[0], res[1]) if a != b]


def cmd_diff(args: argparse.Namespace) -> int:
    from ._native import ffi, lib

    sides = [_Side(args, args.a), _Side(args, args.b)]
    arches = sides[0].arches | sides[1].arches
    tokens = {int(Arch.X86_64) if a is Arch.X32 else int(a) for a in arches}
    if not tokens:
        tokens = {int(Arch.native())}
    groups: dict[str, list[dict[str, Any]]] = {}
    for token in sorted(tokens):
        points = _nr_points(sides, token)
        count = len(points)
        nrs = array("I", points)
        toks = array("I", [token]) * count
        outs = []
        for s in sides:
            results = array("I", bytes(4 * count))
            dep = bytearray(count)
            lib.spy_bpf_scan(s.cprog, s.n, count, ffi.from_buffer("uint32_t[]", toks),
                             ffi.from_buffer("uint32_t[]", nrs),
                             ffi.from_buffer("uint32_t[]", results),
                             ffi.from_buffer("uint8_t[]", dep))
            outs.append((results, dep))
        (ra, da), (rb, db) = outs
        run: dict[str, Any] | None = None  # numbers without a name, merged into ranges
        for i, nr in enumerate(points):
            arch = _arch_of(token, nr)
            where = arch.libseccomp_name if arch is not None else f"{token:#x}"
            name = _syscall_name(token, nr)
            unnamed = name.startswith("syscall ")
            if not da[i] and not db[i]:
                if ra[i] == rb[i]:
                    run = None
                    continue
                a, b = bpf.action_name(ra[i]), bpf.action_name(rb[i])
                if unnamed:
                    if run is not None and (run["arch"], run["a"], run["b"]) == (where, a, b):
                        run["last"] = nr  # every number in between decides the same
                        continue
                    run = {"arch": where, "first": nr, "last": nr, "args": "any", "a": a,
                           "b": b}
                    groups.setdefault("(numbers without a name)", []).append(run)
                    continue
                run = None
                groups.setdefault(name, []).append(
                    {"arch": where, "nr": nr, "args": "any", "a": a, "b": b})
                continue
            run = None
            diffs = _diff_args(sides, token, nr)
            for args_, va, vb in diffs[:_SHOWN]:
                groups.setdefault(name, []).append(
                    {"arch": where, "nr": nr, "args": [f"{v:#x}" for v in args_],
                     "a": bpf.action_name(va) if va >= 0 else "?",
                     "b": bpf.action_name(vb) if vb >= 0 else "?"})
            if len(diffs) > _SHOWN:
                groups[name].append({"arch": where, "nr": nr, "more": len(diffs) - _SHOWN})
    if args.json:
        _out(args, {"a": args.a, "b": args.b, "same": not groups, "syscalls": groups}, "")
    else:
        lines = [f"--- {args.a}", f"+++ {args.b}"]
        for name in sorted(groups):
            lines.append(f"{name}:")
            for d in groups[name]:
                if "more" in d:
                    lines.append(f"  {d['arch']}: ... {d['more']} more argument classes")
                    continue
                shown = "any arguments" if d["args"] == "any" else \
                    "args (" + ", ".join(d["args"]) + ")"
                if "first" in d:
                    shown = (f"{_signed(d['first'])}..{_signed(d['last'])}, {shown}"
                             if d["first"] != d["last"] else f"{_signed(d['first'])}, {shown}")
                lines.append(f"  {d['arch']}: {shown}: {d['a']} -> {d['b']}")
        if not groups:
            lines.append("same decisions on every input")
        _out(args, None, "\n".join(lines))
    return 1 if groups else 0


# -- registration -------------------------------------------------------------------------


def _guard(func: Any) -> Any:
    def run(args: argparse.Namespace) -> int:
        _load()
        try:
            status: int = func(args)
            return status
        except _BadInput as exc:
            sys.stderr.write(f"seccomp-py: error: {exc}\n")
            return _BAD_INPUT
        except (bpf.BpfError, ProfileError) as exc:
            sys.stderr.write(f"seccomp-py: error: {exc}\n")
            return _BAD_INPUT
        except FilterVerificationError as exc:
            sys.stderr.write(f"seccomp-py: error: {exc.strerror}\n")
            return 1
        except SeccompError as exc:
            sys.stderr.write(f"seccomp-py: error: {exc.strerror}\n")
            return 1
    return run


def register(sub: Any) -> None:
    """Add ``verify``, ``query`` and ``diff`` to the ``seccomp-py`` subparsers."""
    from .cli import _add_target_options

    p = sub.add_parser("verify", help="prove a profile's (or a raw program's) decisions",
                       description="Prove that the BPF program decides as the profile's "
                                   "rules say on every input (docs/failclosed.md).")
    p.add_argument("input", metavar="PROFILE.json|PROGRAM.bpf",
                   help="a profile (or a shipped profile name: docker, podman), or a raw "
                        "program with --profile")
    p.add_argument("--profile", metavar="PROFILE.json",
                   help="the profile a raw PROGRAM.bpf should decide as")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    _add_target_options(p)
    p.set_defaults(func=_guard(cmd_verify))

    p = sub.add_parser("query", help="what a profile decides for one syscall",
                       description="The action a profile takes for SYSCALL with ARGs, and "
                                   "the profile entry that decides it (or 'default').")
    p.add_argument("profile", metavar="PROFILE.json")
    p.add_argument("syscall", metavar="SYSCALL", help="a name or a number")
    p.add_argument("args", nargs="*", metavar="ARG", help="argument values (0x... or decimal)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    _add_target_options(p)
    p.set_defaults(func=_guard(cmd_query))

    p = sub.add_parser("diff", help="where two profiles or programs decide differently",
                       description="Every syscall, and argument class, where A and B decide "
                                   "differently, grouped by syscall.  Exit 1 when they differ.")
    p.add_argument("a", metavar="A", help="a profile (or shipped name) or a raw program")
    p.add_argument("b", metavar="B")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    _add_target_options(p)
    p.set_defaults(func=_guard(cmd_diff))


__all__ = ["register"]
