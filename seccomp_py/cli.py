"""The ``seccomp-py`` command (also ``python -m seccomp_py``).

Subcommands: ``resolve`` (syscall names <-> numbers on any arch), ``compile``
(a profile to BPF or PFC), ``check`` (validate a profile, report skipped
names and the instruction count), ``disasm`` (a readable listing of a BPF
program), ``features`` (what libseccomp and the kernel support), and ``run`` /
``learn`` (running a command under a profile; wired by the spawn / notify
modules).  Errors are one line on stderr and exit status 1 (2 for bad usage).
See docs/cli.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from collections.abc import Sequence
from typing import Any, NoReturn

from . import bpf, features
from . import syscall as _syscall
from .arch import Arch
from .arch import coerce as _coerce_arch
from .errors import SeccompError
from .filter import BPF_MAXINSNS
from .profile import (
    CAPABILITIES,
    Compiled,
    Profile,
    ProfileError,
    check_export,
    current_caps,
    current_kernel,
    parse_kernel,
)

PROG = "seccomp-py"


class CliError(Exception):
    """A failure reported as one line and exit status 1."""


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors are one line (and exit status 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _err(text: str) -> None:
    sys.stderr.write(f"{PROG}: {text}\n")


# -- shared options ---------------------------------------------------------------------------


def _add_target_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--arch", help="compile for this arch (libseccomp name such as x86_64, "
                                  "aarch64, or Docker's amd64, arm64; default: native)")
    caps = p.add_mutually_exclusive_group()
    caps.add_argument("--caps", metavar="CAP,...",
                      help="the capability set includes/excludes see, comma-separated "
                           "(e.g. CAP_SYS_ADMIN,sys_ptrace; '' for none; default: this "
                           "process's effective set)")
    caps.add_argument("--all-caps", action="store_true",
                      help="every capability (a privileged container)")
    p.add_argument("--kernel", metavar="X.Y",
                   help="kernel version for minKernel (default: the running kernel)")
    p.add_argument("--strict", action="store_true",
                   help="refuse unknown keys and syscall names libseccomp does not know "
                        "(default: skip them with a warning, as runc does)")


def _caps(args: argparse.Namespace) -> frozenset[str]:
    if args.all_caps:
        return frozenset(CAPABILITIES)
    if args.caps is not None:
        return frozenset(c for c in (x.strip() for x in args.caps.split(",")) if c)
    return current_caps()


def _read_input(path: str, binary: bool) -> Any:
    if path == "-":
        return sys.stdin.buffer.read() if binary else sys.stdin.read()
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror}") from None


def _load_profile(path: str, strict: bool) -> Profile:
    data = _read_input(path, binary=True)
    return Profile.loads(data, strict=strict)


def _compile(args: argparse.Namespace) -> tuple[Profile, Compiled]:
    kernel = parse_kernel(args.kernel) if args.kernel else None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        profile = _load_profile(args.profile, args.strict)
        compiled = profile.compile(args.arch, caps=_caps(args), kernel=kernel,
                                   unknown="error" if args.strict else "ignore")
    for w in caught:
        _err(f"warning: {w.message}")
    unknown = compiled.skipped_for("unknown")
    for s in unknown:
        if s.weakens:
            _err(f"WARNING: {s.path}: a rule refusing {s.name!r} was dropped: libseccomp "
                 f"does not know it, so the filter lets it through with the default action")
    plain = [s.name for s in unknown if not s.weakens]
    if plain and not getattr(args, "quiet", False):
        _err(f"warning: {len(plain)} syscall names libseccomp does not know were skipped "
             f"(as runc does; --strict refuses them): " + ", ".join(plain))
    return profile, compiled


# -- subcommands ----------------------------------------------------------------------------------


def cmd_resolve(args: argparse.Namespace) -> int:
    arch = _coerce_arch(args.arch) if args.arch else _coerce_arch(Arch.NATIVE)
    if args.all:
        for name in _syscall.names(arch):
            print(f"{name}\t{_syscall.resolve_name(name, arch)}")
        return 0
    if not args.items:
        raise CliError("resolve: give syscall names or numbers (or --all)")
    status = 0
    for item in args.items:
        try:
            number = int(item, 0)
        except ValueError:
            number = None
        try:
            if number is not None:
                print(f"{number}\t{_syscall.resolve_number(number, arch)}")
            else:
                value = _syscall.resolve_name(item, arch)
                note = "\t(not on this arch: libseccomp pseudo-number)" if value < 0 else ""
                print(f"{item}\t{value}{note}")
        except (LookupError, ValueError) as exc:
            _err(f"error: {getattr(exc, 'detail', None) or exc}")
            status = 1
    return status


def cmd_compile(args: argparse.Namespace) -> int:
    if args.runc and args.format != "bpf":
        raise CliError("compile: --runc needs --format bpf")
    _, compiled = _compile(args)
    with compiled.filter as filt:
        if args.format == "pfc":
            data = filt.export_pfc().encode()
        elif args.runc:
            data = compiled.runc_program()
        else:
            data = check_export(filt.export_bpf(), compiled.arch)
        if args.format == "bpf":
            count = len(data) // bpf.INSN_SIZE
            if count > BPF_MAXINSNS:
                _err(f"warning: {count} BPF instructions: the kernel refuses more than "
                     f"{BPF_MAXINSNS}")
    if args.output in (None, "-"):
        out = sys.stdout.buffer
        if args.format == "bpf" and out.isatty():
            raise CliError("compile: refusing to write binary BPF to a terminal; use -o FILE "
                           "or --format pfc")
        out.write(data)
        out.flush()
    else:
        try:
            with open(args.output, "wb") as fh:
                fh.write(data)
        except OSError as exc:
            raise CliError(f"cannot write {args.output}: {exc.strerror}") from None
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    args.quiet = True
    profile, compiled = _compile(args)
    with compiled.filter as filt:
        count = len(check_export(filt.export_bpf(), compiled.arch)) // bpf.INSN_SIZE
    used = {s.path for s in compiled.skipped if s.reason in ("excluded", "default")}
    unknown = compiled.skipped_for("unknown")
    absent = compiled.skipped_for("absent")
    kernel = parse_kernel(args.kernel) if args.kernel else current_kernel()
    default = profile.default()
    print(f"profile:   {args.profile}")
    print(f"default:   {default!r}")
    print("arches:    " + ", ".join(a.libseccomp_name for a in compiled.arches))
    print(f"caps:      {len(_caps(args))} capabilities; kernel {kernel[0]}.{kernel[1]}")
    print(f"entries:   {len(profile.syscalls)} ({len(profile.syscalls) - len(used)} used)")
    for s in compiled.skipped:
        if s.reason in ("excluded", "default"):
            print(f"  skipped {s.path}: {s.detail}")
    print(f"rules:     {len(compiled.rules)}")
    if unknown:
        print(f"unknown:   {len(unknown)} names libseccomp does not know (skipped): "
              + ", ".join(s.name for s in unknown))
        weak = [s for s in unknown if s.weakens]
        if weak:
            print(f"WARNING:   {len(weak)} of them were in rules that refuse: the filter is "
                  "weaker than the profile: " + ", ".join(s.name for s in weak))
    if absent:
        print(f"absent:    {len(absent)} names not on these arches (no effect): "
              + ", ".join(s.name for s in absent))
    ok = count <= BPF_MAXINSNS
    print(f"size:      {count} BPF instructions (limit {BPF_MAXINSNS}): "
          + ("ok" if ok else "TOO LARGE, the kernel will refuse it"))
    return 0 if ok else 1


def cmd_disasm(args: argparse.Namespace) -> int:
    data = _read_input(args.file, binary=True)
    sys.stdout.write(bpf.disassemble(data))
    return 0


def cmd_features(args: argparse.Namespace) -> int:
    info = features.summary()
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    for key, value in info.items():
        if isinstance(value, (list, tuple)):
            value = ", ".join(str(v) for v in value) or "(none)"
        print(f"{key}: {value}")
    return 0


def cmd_unavailable(args: argparse.Namespace) -> int:
    raise CliError(f"{args.command}: not available in this build")


# -- parser ---------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of ``seccomp-py`` (every subcommand has --help)."""
    parser = _Parser(prog=PROG, description="Linux seccomp tools: resolve syscalls, compile, "
                                            "check and disassemble filters and container "
                                            "profiles (OCI / Docker / Podman JSON).")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    p = sub.add_parser("resolve", help="syscall names <-> numbers",
                       description="Print the number of each syscall name, or the name of "
                                   "each number, on an arch.")
    p.add_argument("items", nargs="*", metavar="NAME|NUMBER")
    p.add_argument("--arch", help="libseccomp arch name (default: native)")
    p.add_argument("--all", action="store_true", help="list every syscall of the arch")
    p.set_defaults(func=cmd_resolve)

    p = sub.add_parser("compile", help="compile a profile to BPF or PFC",
                       description="Compile a seccomp profile (OCI / Docker / Podman JSON) "
                                   "to raw BPF (as loaded by the kernel) or libseccomp's PFC "
                                   "text, for one arch, capability set and kernel.")
    p.add_argument("profile", metavar="PROFILE", help="profile JSON file ('-' for stdin)")
    p.add_argument("-o", "--output", metavar="FILE", help="output file (default: stdout)")
    p.add_argument("--format", choices=("bpf", "pfc"), default="bpf",
                   help="bpf (binary, default) or pfc (text)")
    p.add_argument("--runc", action="store_true",
                   help="prepend runc's -ENOSYS stub, giving the program runc loads "
                        "(see docs/profiles.md)")
    _add_target_options(p)
    p.set_defaults(func=cmd_compile)

    p = sub.add_parser("check", help="validate a profile and report what it compiles to",
                       description="Validate a profile, compile it, and report skipped "
                                   "entries, unknown syscall names and the BPF instruction "
                                   "count against the kernel's limit of 4096. Exit status 1 "
                                   "when the profile is invalid or too large.")
    p.add_argument("profile", metavar="PROFILE", help="profile JSON file ('-' for stdin)")
    _add_target_options(p)
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("disasm", help="disassemble a BPF program",
                       description="Print a readable listing of a classic BPF seccomp "
                                   "program: loads, jumps with syscall and arch names, and "
                                   "returns with action names.")
    p.add_argument("file", metavar="FILE.bpf", help="raw BPF file ('-' for stdin)")
    p.set_defaults(func=cmd_disasm)

    p = sub.add_parser("features", help="what libseccomp and the kernel support",
                       description="Print the libseccomp version, API level, libseccomp 2.6 "
                                   "features, and the actions and flags the kernel accepts.")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_features)

    p = sub.add_parser("run", help="run a command under a profile",
                       description="Run CMD under a seccomp profile and exit with its "
                                   "status. (Not available in this build yet.)")
    p.add_argument("--profile", required=True, metavar="PROFILE", help="profile JSON file")
    _add_target_options(p)
    p.add_argument("cmd", nargs=argparse.REMAINDER, metavar="-- CMD...")
    p.set_defaults(func=cmd_unavailable)

    p = sub.add_parser("learn", help="record the syscalls of a command into a profile",
                       description="Run CMD with every syscall sent to a supervisor that "
                                   "records it and lets it continue, then write the smallest "
                                   "profile that lets the same command run. (Not available "
                                   "in this build yet.)")
    p.add_argument("-o", "--output", required=True, metavar="OUT.json",
                   help="where to write the learned profile")
    p.add_argument("--default-action", default="SCMP_ACT_ERRNO",
                   help="default action of the learned profile (default: SCMP_ACT_ERRNO)")
    p.add_argument("--errno", default="EPERM",
                   help="errno for an ERRNO default action (default: EPERM)")
    p.add_argument("cmd", nargs=argparse.REMAINDER, metavar="-- CMD...")
    p.set_defaults(func=cmd_unavailable)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``seccomp-py`` with ``argv`` (default: sys.argv[1:]); return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        status: int = args.func(args)
        sys.stdout.flush()
        return status
    except CliError as exc:
        _err(f"error: {exc}")
    except ProfileError as exc:
        _err(f"error: {getattr(args, 'profile', '') or ''}: {exc}".replace(": : ", ": "))
    except SeccompError as exc:
        _err(f"error: {exc.strerror}")
    except BrokenPipeError:
        # the reader went away (e.g. `| head`): not an error worth a traceback
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except (ValueError, LookupError, OSError) as exc:
        _err(f"error: {exc}")
    except KeyboardInterrupt:
        _err("interrupted")
        return 130
    return 1


__all__ = ["build_parser", "main"]
