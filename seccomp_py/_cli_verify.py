"""``seccomp-py verify``, ``query`` and ``diff``: what a profile or a program decides.

See docs/cli.md (the commands, their options and exit statuses) and docs/failclosed.md.
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

    from . import _kernel as _k
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

    from . import _kernel as _k
    from . import bpf
    from .arch import Arch
    from .errors import FilterVerificationError, SeccompError
    from .model import MASK32, X32_BIT, Policy
    from .profile import Compiled, Profile, ProfileError, builtin_path, parse_kernel

    globals().update(json=json, _k=_k, bpf=bpf, Arch=Arch,
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
    from ._cli_errors import UsageError
    from ._cli_target import _arch_arg, _caps

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
    from ._cli_errors import UsageError
    from .verify import verify

    if args.pid is not None or args.runc is not None:
        return _verify_live(args)
    if args.root is not None:
        raise UsageError("verify: --root is for --runc")
    if args.runtime is not None:
        raise UsageError("verify: --runtime is for --pid/--runc")
    if args.input is None:
        raise UsageError("verify: give PROFILE.json, PROGRAM.bpf --profile P, or --pid PID "
                         "--profile P")
    data = _read(args.input)
    layout: str | None = None
    if args.profile is None:
        if not _is_json(data):
            raise _BadInput(f"{args.input}: a BPF program needs --profile PROFILE.json")
        compiled = _compile(args, args.input, data)
        subject = args.input
        flt = compiled.filter
        # the program `seccomp-py run` loads (after runc's -ENOSYS stub, which the run
        # puts in front by default): the filter's own, as export_bpf() makes it with
        # verification on -- seccomp_py's RANGES program where the automatic layout
        # picks it, else libseccomp's (repaired where it is wrong)
        try:
            program = compiled.program()
        except FilterVerificationError as err:  # no correct program: run would refuse
            result = {"subject": subject, "verified": False, "repaired": False,
                      "layout": "libseccomp", "difference": _describe(err)}
            _out(args, result, _error_text(err) + "\n(libseccomp's program; seccomp_py "
                 "found no correct program to load instead, so `run` refuses this profile)")
            flt.close()
            return 1
        layout, repaired = _run_layout(flt)
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
        result = {"subject": subject, "verified": False, "repaired": repaired,
                  "difference": _describe(err)}
        if layout is not None:
            result["layout"] = layout
        _out(args, result, _error_text(err))
        flt.close()
        return 1
    arches = [a.libseccomp_name for a in sorted(policy.arches, key=int)]
    count = len(program) // bpf.INSN_SIZE
    result = {"subject": subject, "verified": True, "inputs": inputs, "arches": arches,
              "instructions": count, "enosys_stub": len(stub) // bpf.INSN_SIZE}
    note = " after runc's -ENOSYS stub" if stub else ""
    what = ""
    if layout is not None:
        result["layout"] = layout
        result["repaired"] = repaired
        what = (f"; the program `seccomp-py run` loads after its -ENOSYS stub: {layout}"
                + (", libseccomp's program repaired by seccomp_py" if repaired else ""))
    _out(args, result, f"verified{note}: {subject} decides as its rules say on every input "
                       f"({inputs} input classes; {', '.join(arches)}; {count} instructions"
                       f"{what})")
    flt.close()
    return 0


def _run_layout(flt: Any) -> tuple[str, bool]:
    """The layout of the program the filter exports (and `run` loads): Optimize's
    name (RANGES: seccomp_py's own; PRIORITY, BINARY_TREE: libseccomp's), and
    whether it is libseccomp's program repaired by seccomp_py."""
    return flt.layout.name, bool(flt._own_program() and not flt._is_ranges())


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
    """One side of a diff: a stack of programs (install order; one program for a
    profile or a raw program file, the live filters for a process), and the
    policy when it came from a profile.  A stack decides as the kernel runs it
    (seccomp_py.inspect.stack_verdict): every program runs, the most
    restrictive action wins, the newest of equals."""

    def __init__(self, args: argparse.Namespace, name: str, runtime: str | None = None) -> None:
        from .verify import verify

        data = _read(name)
        self.name = name
        self.policy: Policy | None = None
        self.is_live = False
        if _is_json(data):
            compiled = _compile(args, name, data)
            program = compiled.filter.export_bpf()  # verified
            self.policy = compiled.filter.policy()
            self.arches = set(self.policy.arches)
            verify(self.policy, program)
            if runtime == "runc":
                try:
                    program = compiled.runc_program()
                except ProfileError as exc:
                    raise _BadInput(f"{name}: {exc}") from None
            compiled.filter.close()
        else:
            program = _program(name, data)
            self.arches = set()
        self._load([program])

    @classmethod
    def live(cls, pid: int, label: str, command: str) -> _Side:
        """The filters process ``pid`` runs under (seccomp_py.inspect.read)."""
        import errno as _errno

        from . import inspect as _inspect
        from ._cli_errors import CliError
        from .errors import InspectError

        try:
            stack = _inspect.read(pid)
        except InspectError as exc:
            why = _errno.errorcode.get(exc.errno or 0, str(exc.errno))
            raise CliError(f"{command}: {exc.detail} ({why})") from None
        if stack.mode == "strict":
            raise CliError(f"{command}: pid {pid} is in strict mode (SECCOMP_MODE_STRICT): only "
                           "read, write, _exit and sigreturn run; no filter to compare")
        side = cls.__new__(cls)
        side.name = label
        side.policy = None
        side.is_live = True
        # every arch whose syscalls this host's kernel can hand to the filters (the
        # native one and its compat mode), named by the filters or not: a live
        # stack is compared on each, also where neither side checks for it
        side.arches = set(_inspect.named_arches(stack.filters)) | set(_host_arches())
        side._load([f.program for f in stack.filters])
        return side

    def _load(self, programs: list[bytes]) -> None:
        from ._native import ffi

        self.programs = programs
        #: (program, length) per filter, newest first: the order ties are decided in
        self.cprogs = [(ffi.from_buffer("char[]", p), len(p) // bpf.INSN_SIZE)
                       for p in reversed(programs)]

    def combine(self, outs: list[array[int]]) -> array[int]:
        """The kernel's result from each program's (``outs``, newest first)."""
        from .inspect import ALLOW, _rank

        if not outs:
            return array("I", [ALLOW])
        result = array("I", outs[0])
        for out in outs[1:]:
            for i, v in enumerate(out):
                if _rank(v) < _rank(result[i]):
                    result[i] = v
        return result


def _host_arches() -> list[Arch]:
    """The arches a process on this host can make syscalls as (x32 shares x86_64's token)."""
    host = Arch.native()
    compat = {Arch.X86_64: [Arch.X86], Arch.AARCH64: [Arch.ARM], Arch.PPC64: [Arch.PPC],
              Arch.S390X: [Arch.S390], Arch.MIPS64: [Arch.MIPS, Arch.MIPS64N32],
              Arch.MIPSEL64: [Arch.MIPSEL, Arch.MIPSEL64N32],
              Arch.PARISC64: [Arch.PARISC]}.get(host, [])
    return [host, *compat]


def _nr_points(sides: list[_Side], token: int) -> list[int]:
    from ._native import ffi, lib

    base: set[int] = {0, 1, X32_BIT - 1, X32_BIT, 0x7FFFFFFF, 1 << 31, MASK32 - 1, MASK32}
    for s in sides:
        for cprog, n in s.cprogs:  # the constants of every program of the stack
            consts = ffi.new("uint32_t[]", 2 * n + 16)
            masks = ffi.new("uint32_t[]", 2 * n + 16)
            count = lib.spy_bpf_nr_consts(cprog, n, token, consts, masks, 2 * n + 16)
            base.update(ffi.unpack(consts, max(count, 0)))
        if s.policy is not None:
            for a in s.policy.arches:
                if (int(Arch.X86_64) if a is Arch.X32 else int(a)) == token:
                    base.update(s.policy.table(a))
        if s.is_live:  # every named syscall its own point, so that differences show by name
            from .syscall import _table

            for a in s.arches:
                if (int(Arch.X86_64) if a is Arch.X32 else int(a)) == token:
                    base.update(_table(a).values())
    return sorted({(v + d) & MASK32 for v in base for d in (-1, 0, 1)})


def _scan(side: _Side, token: int, points: list[int]) -> tuple[array[int], bytearray]:
    """The stack's result for each syscall number, and whether it depends on the
    arguments (on any program of the stack)."""
    from ._native import ffi, lib

    count = len(points)
    if not side.cprogs:
        return side.combine([]) * count, bytearray(count)
    nrs = array("I", points)
    toks = array("I", [token]) * count
    outs = []
    dep = bytearray(count)
    for cprog, n in side.cprogs:
        results = array("I", bytes(4 * count))
        seen = bytearray(count)
        lib.spy_bpf_scan(cprog, n, count, ffi.from_buffer("uint32_t[]", toks),
                         ffi.from_buffer("uint32_t[]", nrs),
                         ffi.from_buffer("uint32_t[]", results),
                         ffi.from_buffer("uint8_t[]", seen))
        outs.append(results)
        dep = bytearray(a | b for a, b in zip(dep, seen))
    return side.combine(outs), dep


def _arch_of(token: int, nr: int) -> Arch | None:
    if token == int(Arch.X86_64):
        return Arch.X32 if X32_BIT <= nr < MASK32 else Arch.X86_64
    for a in Arch:
        if int(a) == token and a is not Arch.NATIVE:
            return a
    return None


def _signed(nr: int) -> int:
    return nr if nr < 1 << 31 else nr - (1 << 32)


def _syscall_name(token: int, nr: int) -> str:
    from .syscall import _resolve_number

    arch = _arch_of(token, nr)
    name = None
    if arch is not None and nr < 1 << 31:
        name = _resolve_number(arch, nr)
    return name or f"syscall {nr if nr < 0x80000000 else nr - (1 << 32)}"


def _word_values(side: _Side, token: int, nr: int) -> dict[int, set[int]] | None:
    """Candidate values per data word from the comparisons of every program of the
    stack (None: cannot tell)."""
    from ._native import ffi, lib
    from .verify import _around, _buffers, _masked

    size = 1 << 10
    out: dict[int, set[int]] = {}
    for cprog, n in side.cprogs:
        c_word, c_mask, c_k, c_op, ends, _rets = _buffers(size)
        npaths = lib.spy_bpf_paths(cprog, n, token, nr, c_word, c_mask, c_k, c_op,
                                   size * 16, ends, _rets, size)
        if npaths < 0:
            return None
        total = ends[npaths - 1] if npaths else 0
        for w, m, k, op in set(zip(ffi.unpack(c_word, total), ffi.unpack(c_mask, total),
                                   ffi.unpack(c_k, total), ffi.unpack(c_op, total))):
            s = out.setdefault(w, {0, MASK32})
            op &= 0x7F
            if m == MASK32 and op < 3:
                s.update(_around((k,)))
            else:
                s.update(_masked(m & k if op == 3 else m, 0 if op == 3 else k))
    return out


def _diff_args(sides: list[_Side], token: int, nr: int,
               partial: list[str] | None = None) -> list[tuple[tuple[int, ...], int, int]]:
    """Argument points where the two sides differ for (token, nr); the syscall's name
    goes to ``partial`` when the combinations were too many to try them all, or when
    a program reads the instruction pointer (tried as 0 only)."""
    from ._native import ffi, lib

    words: dict[int, set[int]] = {}
    for s in sides:
        found = _word_values(s, token, nr)
        if found is None:
            return [((0,) * 6, -1, -1)]
        for w, seen in found.items():
            words.setdefault(w, set()).update(seen)
    if partial is not None and (2 in words or 3 in words):
        partial.append(_syscall_name(token, nr))  # the instruction pointer: tried as 0 only
    little = bool(token & _k.AUDIT_ARCH_LE)
    wide = bool(token & _k.AUDIT_ARCH_64BIT)
    per_arg: list[list[int]] = []
    for i in range(6):
        lo = sorted(words.get(4 + 2 * i + (0 if little else 1), {0}))
        hi = sorted(words.get(4 + 2 * i + (1 if little else 0), {0})) if wide else [0]
        per_arg.append([(h << 32) | v for h in hi for v in lo])
    total = 1
    for vals in per_arg:
        total *= len(vals)
    if total > _MAX_DIFF_POINTS:  # keep one argument varying at a time
        if partial is not None:
            partial.append(_syscall_name(token, nr))
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
        outs = []
        for cprog, n in s.cprogs:
            out = array("I", bytes(4 * len(combos)))
            lib.spy_bpf_eval_words(cprog, n, len(combos), ffi.from_buffer("uint32_t[]", buf),
                                   ffi.from_buffer("uint32_t[]", out))
            outs.append(out)
        res.append(s.combine(outs) * (len(combos) if not outs else 1))
    return [(args, a, b) for args, a, b in zip(combos, res[0], res[1]) if a != b]


def _differences(sides: list[_Side],
                 partial: list[str] | None = None) -> dict[str, list[dict[str, Any]]]:
    """Every syscall (and argument class) where the two sides decide differently,
    by name; a proof by partition: the numbers and argument values tried
    include every constant any program of either stack compares with."""
    arches = sides[0].arches | sides[1].arches
    tokens = {int(Arch.X86_64) if a is Arch.X32 else int(a) for a in arches}
    if not tokens:
        tokens = {int(Arch.native())}
    groups: dict[str, list[dict[str, Any]]] = {}
    for token in sorted(tokens):
        points = _nr_points(sides, token)
        (ra, da), (rb, db) = (_scan(s, token, points) for s in sides)
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
            diffs = _diff_args(sides, token, nr, partial)
            for args_, va, vb in diffs[:_SHOWN]:
                groups.setdefault(name, []).append(
                    {"arch": where, "nr": nr, "args": [f"{v:#x}" for v in args_],
                     "a": bpf.action_name(va) if va >= 0 else "?",
                     "b": bpf.action_name(vb) if vb >= 0 else "?"})
            if len(diffs) > _SHOWN:
                groups[name].append({"arch": where, "nr": nr, "more": len(diffs) - _SHOWN})
    return groups


def _difference_lines(groups: dict[str, list[dict[str, Any]]]) -> list[str]:
    lines = []
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
    return lines


def _live_label(kind: str, value: str) -> str:
    return f"container {value}" if kind == "runc" else f"pid {value}"


def _live(args: argparse.Namespace, kind: str, value: str, command: str) -> _Side:
    from ._cli_errors import CliError
    from ._cli_inspect import runc_pid

    if kind == "runc":
        try:
            pid = runc_pid(value, args.root)
        except CliError as exc:
            raise CliError(str(exc).replace("inspect:", f"{command}:", 1)) from None
    else:
        pid = int(value)
    return _Side.live(pid, _live_label(kind, value), command)


def cmd_diff(args: argparse.Namespace) -> int:
    from ._cli_errors import UsageError

    order = [(k, v) for k, v in getattr(args, "diff_sides", []) if v is not None]
    if len(order) != 2:
        raise UsageError("diff: give two of PROFILE/PROGRAM, --pid PID, --runc ID "
                         f"(got {len(order)})")
    if args.root is not None and not any(k == "runc" for k, _ in order):
        raise UsageError("diff: --root is for --runc")
    runtime = None if args.runtime == "none" else args.runtime
    sides = [_Side(args, v, runtime) if k == "file" else _live(args, k, v, "diff")
             for k, v in order]
    names = [s.name for s in sides]
    groups = _differences(sides)
    if args.json:
        _out(args, {"a": names[0], "b": names[1], "same": not groups, "syscalls": groups}, "")
    else:
        lines = [f"--- {names[0]}", f"+++ {names[1]}", *_difference_lines(groups)]
        if not groups:
            lines.append("same decisions on every input")
        _out(args, None, "\n".join(lines))
    return 1 if groups else 0


def _verify_live(args: argparse.Namespace) -> int:
    """verify --pid/--runc: the live stack against the profile under a runtime."""
    from ._cli_errors import UsageError

    if args.input is not None:
        raise UsageError("verify: with --pid/--runc give the profile with --profile, "
                         "not as PROFILE.json")
    if args.profile is None:
        raise UsageError("verify: --pid/--runc needs --profile PROFILE")
    if args.pid is not None and args.runc is not None:
        raise UsageError("verify: give --pid PID or --runc ID, not both")
    runtime = None if args.runtime == "none" else args.runtime
    if args.runc is not None:
        live = _live(args, "runc", args.runc, "verify")
    else:
        live = _live(args, "pid", str(args.pid), "verify")
    expected = _Side(args, args.profile, runtime)
    partial: list[str] = []
    groups = _differences([live, expected], partial)
    under = f" under {runtime}" if runtime else ""
    stub = " (with runc's -ENOSYS stub)" if runtime == "runc" else ""
    count = len(live.programs)
    filters = f"{count} filter{'s' if count != 1 else ''}"
    result = {"subject": live.name, "profile": args.profile, "runtime": runtime or "none",
              "filters": count, "verified": not groups, "differences": groups,
              "sampled": sorted(set(partial))}
    if not groups:
        note = ""
        if partial:  # too many argument combinations: each argument varied alone there
            note = (f" (except for {', '.join(sorted(set(partial)))}: too many argument "
                    "combinations, each argument varied alone, or the instruction pointer "
                    "read, tried as 0 only)")
        _out(args, result, f"verified: {live.name} ({filters}) decides as {args.profile}"
                           f"{under}{stub} on every input{note}")
        return 0
    lines = [f"DIFFERS: {live.name} ({filters}) does not decide as {args.profile}{under}"
             f"{stub}", f"--- {live.name}", f"+++ {args.profile}{under}",
             *_difference_lines(groups)]
    _out(args, result, "\n".join(lines))
    return 1


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


class _Ordered(argparse.Action):
    """Record diff's sides in command-line order: (kind, value) in ``diff_sides``."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        kind = str(self.const)
        if values is not None and kind == "pid":
            try:
                values = str(int(values, 10))
            except ValueError:
                raise argparse.ArgumentError(self, f"{values!r} is not a pid") from None
            if int(values) <= 0:
                raise argparse.ArgumentError(self, f"{values!r} is not a pid")
        found = list(getattr(namespace, "diff_sides", None) or [])
        found.append((kind, values))
        namespace.diff_sides = found


def _pid(text: str) -> int:
    try:
        pid = int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a pid") from None
    if pid <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a pid")
    return pid


def _add_live_options(p: argparse.ArgumentParser, ordered: bool) -> None:
    if ordered:
        p.add_argument("--pid", action=_Ordered, const="pid", dest="diff_pid", metavar="PID",
                       help="the filters process PID runs under (read with ptrace; needs "
                            "root, see docs/inspect.md); repeatable")
        p.add_argument("--runc", action=_Ordered, const="runc", dest="diff_runc",
                       metavar="ID", help="the filters of runc container ID's init process")
    else:
        p.add_argument("--pid", type=_pid, metavar="PID",
                       help="prove the filters process PID runs under (read with ptrace; "
                            "needs root, see docs/inspect.md) against --profile")
        p.add_argument("--runc", metavar="ID",
                       help="the same for runc container ID's init process (runc state)")
    p.add_argument("--root", metavar="DIR", help="runc's state directory (runc --root)")
    p.add_argument("--runtime", choices=("runc", "none"),
                   help="the profile as this runtime installs it: runc puts its -ENOSYS stub "
                        "in front (as `seccomp-py run` does by default); none: libseccomp's "
                        "program alone (the default)")


def register(sub: Any) -> None:
    """Add ``verify``, ``query`` and ``diff`` to the ``seccomp-py`` subparsers."""
    from ._cli_target import _add_target_options

    p = sub.add_parser("verify", help="prove a profile's (or a raw program's) decisions",
                       description="Prove that the BPF program decides as the profile's "
                                   "rules say on every input (docs/failclosed.md).")
    p.add_argument("input", metavar="PROFILE.json|PROGRAM.bpf", nargs="?",
                   help="a profile (or a shipped profile name: docker, podman), or a raw "
                        "program with --profile")
    p.add_argument("--profile", metavar="PROFILE.json",
                   help="the profile a raw PROGRAM.bpf (or the process of --pid) should "
                        "decide as")
    _add_live_options(p, ordered=False)
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
                                   "differently, grouped by syscall.  A side is a profile, a "
                                   "raw program, --pid PID or --runc ID (the live filter "
                                   "stack, in the order given).  Exit 1 when they differ.")
    p.add_argument("a", metavar="A", nargs="?", action=_Ordered, const="file",
                   help="a profile (or shipped name) or a raw program")
    p.add_argument("b", metavar="B", nargs="?", action=_Ordered, const="file")
    _add_live_options(p, ordered=True)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    _add_target_options(p)
    p.set_defaults(func=_guard(cmd_diff))


__all__ = ["register"]
