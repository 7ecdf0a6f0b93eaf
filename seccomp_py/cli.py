"""The ``seccomp-py`` command (also ``python -m seccomp_py``).

Subcommands: ``resolve`` (syscall names <-> numbers on any arch), ``compile``
(a profile to BPF or PFC), ``check`` (validate a profile, report skipped
names and the instruction count), ``disasm`` (a readable listing of a BPF
program), ``features`` (what libseccomp and the kernel support), ``run``
(a command under a profile, exiting with its status) and ``learn`` (record
what a command uses and write the smallest profile).  Errors are one line on
stderr and exit status 1 (2 for bad usage; 126/127 when ``run``/``learn``
cannot execute the command).  See docs/cli.md.

Start-up matters (``seccomp-py run`` is on the path of every command it runs):
the library is imported inside the subcommands that use it, never at the top.
"""

from __future__ import annotations

import os
import sys

from . import _cli_explain, _cli_groups, _cli_learn, _cli_sandbox
from ._cli_errors import PROG, CliError, UsageError, _err, _ExecError
from ._cli_run import OCI_VERSION as OCI_VERSION
from ._cli_run import _command, _exit_status, _quick_run_args, cmd_run
from ._cli_target import (
    _add_target_options,
    _arch_arg,
    _compile,
    _read_input,
    _report_multiplexed,
)
from .errors import SeccompError

TYPE_CHECKING = False  # not typing's: importing typing costs start-up time
if TYPE_CHECKING:  # argparse too is imported where a parser is built (see _quick_run_args)
    import argparse
    from collections.abc import Sequence
    from typing import Any

    from .arch import Arch

#: Where a user of the installed wheel finds the documentation.  No project URL is
#: given: the project has no public home yet (pyproject.toml invents none); the man
#: page is installed with the wheel, and the docs/ directory is in the sdist.
DOCS_HINT = ("the man page (man seccomp-py, installed with the package; also "
             "'seccomp-py manpage'), and docs/cli.md in the source distribution "
             "(pip download --no-deps --no-binary :all: seccomp_py)")
EPILOG = f"Documentation: {DOCS_HINT}."


# -- subcommands ----------------------------------------------------------------------------------


def cmd_resolve(args: argparse.Namespace) -> int:
    import json

    from . import syscall as _syscall
    from .arch import native

    if args.arch is not None and args.arch.strip().lower() != "native":
        arch = _arch_arg(args.arch) or native()
    else:
        arch = native()
    rows: list[dict[str, Any]] = []
    status = 0
    if args.all:
        if args.items:
            raise UsageError("resolve: give names/numbers or --all, not both")
        rows = [{"name": name, "number": _syscall.resolve_name(name, arch)}
                for name in _syscall.names(arch)]
    elif not args.items:
        raise UsageError("resolve: give syscall names or numbers (or --all)")
    for item in args.items:
        try:
            number = int(item, 0)
        except ValueError:
            number = None
        try:
            if number is not None:
                rows.append({"name": _syscall.resolve_number(number, arch), "number": number,
                             "input": item})
            else:
                value = _syscall.resolve_name(item, arch)
                rows.append({"name": item, "number": value, "input": item,
                             "pseudo": value < 0})
        except (LookupError, ValueError) as exc:
            message = str(getattr(exc, "detail", None) or exc)
            _err(f"error: {message}")
            rows.append({"input": item, "error": message})
            status = 1
    if args.json:
        print(json.dumps({"arch": arch.libseccomp_name, "syscalls": rows}, indent=2))
        return status
    for r in rows:
        if "error" in r:
            continue
        if r.get("input", r["name"]) == r["name"] or args.all:
            note = "\t(not on this arch: libseccomp pseudo-number)" if r.get("pseudo") else ""
            print(f"{r['name']}\t{r['number']}{note}")
        else:
            print(f"{r['number']}\t{r['name']}")
    return status


def cmd_compile(args: argparse.Namespace) -> int:
    from . import bpf
    from .program import BPF_MAXINSNS

    if args.runc and args.format != "bpf":
        raise UsageError("compile: --runc needs --format bpf")
    _, compiled = _compile(args)
    _report_multiplexed(compiled)
    with compiled.filter as filt:
        if args.format == "pfc":
            data = filt.export_pfc().encode()
        elif args.runc:
            data = compiled.runc_program()
        else:
            data = compiled.program()
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


def _did_you_mean(name: str, arches: Sequence[Arch]) -> str:
    from .syscall import similar_names

    hints = similar_names(name, arches)
    return f" (did you mean {' or '.join(hints)}?)" if hints else ""


def cmd_check(args: argparse.Namespace) -> int:
    import json

    from . import bpf
    from .errors import FilterTooLargeError
    from .host import kernel_version
    from .program import BPF_MAXINSNS

    args.quiet = True
    profile, compiled = _compile(args)
    with compiled.filter as filt:
        try:
            count = len(compiled.program()) // bpf.INSN_SIZE
            layout = filt.layout.name
        except FilterTooLargeError as exc:  # no layout fits: say how big
            count, layout = exc.instructions, "none fits"
    used = {s.path for s in compiled.skipped if s.reason in ("excluded", "default")}
    unknown = compiled.skipped_for("unknown")
    weak = [s for s in unknown if s.weakens]
    absent = compiled.skipped_for("absent")
    kernel = kernel_version(args.kernel or None)
    ok = count <= BPF_MAXINSNS
    problems: list[str] = []
    if not ok:
        problems.append(f"{count} BPF instructions: the kernel refuses more than {BPF_MAXINSNS}")
    if unknown and not args.allow_unknown:
        problems.append(f"{len(unknown)} syscall names libseccomp does not know: "
                        + ", ".join(s.name + _did_you_mean(s.name, compiled.arches)
                                    for s in unknown))
    if weak and not args.allow_unknown:
        problems.append(f"the filter is weaker than the profile: {len(weak)} refused names "
                        "could not be compiled: " + ", ".join(s.name for s in weak))
    if args.json:
        print(json.dumps({
            "profile": args.profile,
            "ok": not problems,
            "problems": problems,
            "default": str(profile.default()),
            "arches": [a.libseccomp_name for a in compiled.arches],
            "caps": sorted(args.caps_set),
            "caps_set": args.caps_name,
            "kernel": f"{kernel[0]}.{kernel[1]}",
            "entries": len(profile.syscalls),
            "entries_used": len(profile.syscalls) - len(used),
            "skipped": [{"path": s.path, "reason": s.reason, "detail": s.detail}
                        for s in compiled.skipped if s.reason in ("excluded", "default")],
            "rules": len(compiled.rules),
            "unknown": [{"name": s.name, "path": s.path, "weakens": s.weakens}
                        for s in unknown],
            "absent": [s.name for s in absent],
            "instructions": count,
            "instruction_limit": BPF_MAXINSNS,
            "layout": layout,
        }, indent=2))
        return 0 if not problems else 1
    print(f"profile:   {args.profile}")
    print(f"default:   {profile.default()}")
    print("arches:    " + ", ".join(a.libseccomp_name for a in compiled.arches))
    print(f"caps:      {len(args.caps_set)} capabilities ({args.caps_name}); "
          f"kernel {kernel[0]}.{kernel[1]}")
    print(f"entries:   {len(profile.syscalls)} ({len(profile.syscalls) - len(used)} used)")
    for s in compiled.skipped:
        if s.reason in ("excluded", "default"):
            print(f"  skipped {s.path}: {s.detail}")
    print(f"rules:     {len(compiled.rules)}")
    if unknown:
        print(f"unknown:   {len(unknown)} names libseccomp does not know (skipped): "
              + ", ".join(s.name + _did_you_mean(s.name, compiled.arches) for s in unknown))
        if weak:
            print(f"WARNING:   {len(weak)} of them were in rules that refuse: the filter is "
                  "weaker than the profile: " + ", ".join(s.name for s in weak))
    if absent:
        print(f"absent:    {len(absent)} names not on these arches (no effect): "
              + ", ".join(s.name for s in absent))
    # rules whose argument checks cannot apply on an arch (socketcall/ipc)
    refused = compiled.skipped_for("strict-multiplexed")
    if compiled.widened:
        print(f"multiplexed: {compiled.multiplexed_note}")
        for line in compiled.widened:
            print(f"  {line}")
    if refused:
        print(f"multiplexed: {refused[0].detail}; the profile's own rules for it dropped: "
              + ", ".join(s.path for s in refused))
    print(f"size:      {count} BPF instructions (limit {BPF_MAXINSNS}): "
          + ("ok" if ok else "TOO LARGE, the kernel will refuse it"))
    print(f"layout:    {layout}" + (" (seccomp_py's code generator)" if layout == "RANGES"
                                    else " (libseccomp)"))
    for problem in problems:
        _err(f"check: {problem}"
             + ("" if "BPF" in problem else " (--allow-unknown accepts it)"))
    return 0 if not problems else 1


def cmd_disasm(args: argparse.Namespace) -> int:
    from . import bpf

    data = _read_input(args.file, binary=True)
    if data.lstrip()[:1] in (b"{", b"["):
        raise CliError(f"disasm: {args.file} is JSON (a profile?), not a BPF program; "
                       f"compile it first: {PROG} compile {args.file} -o FILE.bpf")
    sys.stdout.write(bpf.disassemble(data))
    return 0


def cmd_features(args: argparse.Namespace) -> int:
    import json

    from . import features

    info = features.summary()
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    for key, value in info.items():
        if isinstance(value, (list, tuple)):
            value = ", ".join(str(v) for v in value) or "(none)"
        print(f"{key}: {value}")
    return 0


# -- agent ----------------------------------------------------------------------------------------


def _errno_arg(text: str) -> int:
    from .profile_schema import errno_number

    try:
        return errno_number(text)
    except ValueError as exc:
        raise UsageError(f"--deny: {exc}") from None


def cmd_agent(args: argparse.Namespace) -> int:
    """Serve OCI runtimes' listener handoffs (seccomp_py.oci.Agent) until SIGTERM/SIGINT."""
    import signal

    from .notify import Response
    from .oci import Agent, load_handler, mkdir_under

    handlers = [load_handler(spec) for spec in args.handler or ()]
    default = Response.errno(_errno_arg(args.deny))
    log_file: Any = None
    if args.log == "-":
        log_file = sys.stderr
    elif args.log:
        log_file = open(args.log, "a", encoding="utf-8")  # noqa: SIM115 (closed below)
    try:
        uids = set(args.allow_uid) | {os.getuid()} if args.allow_uid else None
        with Agent(args.socket, allowed_uids=uids, mode=args.mode, default=default,
                   events=log_file) as agent:
            if args.mkdir_under:
                agent.route(mkdir_under(args.mkdir_under), syscalls=["mkdir", "mkdirat"])
            for handler in handlers:
                agent.route(handler)
            previous = {sig: signal.signal(sig, lambda *_: agent.stop(timeout=0))
                        for sig in (signal.SIGTERM, signal.SIGINT)}
            try:
                _err(f"{PROG} agent: listening on {args.socket}")
                agent.serve_forever(args.idle_timeout)
            finally:
                for sig, old in previous.items():
                    signal.signal(sig, old)
            _err(f"{PROG} agent: stopped ({agent.accepted} containers served, "
                 f"{agent.refused} connections refused)")
    finally:
        if log_file is not None and log_file is not sys.stderr:
            log_file.close()
    return 0


# -- run / learn ----------------------------------------------------------------------------------

def _learn_default(args: argparse.Namespace) -> Any:
    from .learn import learned_default

    try:
        return learned_default(args.default_action, args.default_errno)
    except ValueError as exc:
        raise UsageError(f"learn: {exc}") from None


def _action_text(action: Any) -> str:
    """``SCMP_ACT_ERRNO(EPERM)``, ``SCMP_ACT_KILL_PROCESS``: an action as a profile names it."""
    from .profile import action_text

    return action_text(action)


def cmd_learn(args: argparse.Namespace) -> int:
    import time

    from .learn import LearnProgress, learn

    cmd = _command(args)
    default = _learn_default(args)
    _cli_learn.check(args)
    if args.interval <= 0:
        raise UsageError("learn: --interval must be positive")
    if args.output != "-":
        where = os.path.dirname(os.path.abspath(args.output))
        if not os.path.isdir(where) or not os.access(where, os.W_OK):
            raise CliError(f"cannot write {args.output}: no writable directory {where}")
    tty = sys.stderr.isatty()
    shown = [0.0]

    def progress(p: LearnProgress) -> None:
        if args.quiet or p.elapsed < args.interval or p.elapsed - shown[0] < args.interval * 0.9:
            return
        shown[0] = p.elapsed
        line = (f"{PROG}: learn: {p.elapsed:6.1f} s  {p.calls} calls  "
                f"{p.distinct} distinct syscalls")
        sys.stderr.write(f"\r{line}\033[K" if tty else line + "\n")
        sys.stderr.flush()

    import signal

    def stop(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt  # learn() kills and reaps the command, nothing is written

    started = time.monotonic()
    old_term = signal.signal(signal.SIGTERM, stop)
    try:
        result = learn(cmd, progress=progress, interval=args.interval,
                       sync_wakeup=not args.no_sync_wakeup)
    except SeccompError:
        raise
    except OSError as exc:
        if exc.filename is None:
            raise
        raise _ExecError("learn", cmd[0], exc) from None
    finally:
        signal.signal(signal.SIGTERM, old_term)
        if tty and shown[0]:
            sys.stderr.write("\r\033[K")
    text = _cli_learn.render(args, result, default)
    if args.output == "-":
        sys.stdout.write(text)
    else:
        try:
            with open(args.output, "w") as fh:
                fh.write(text)
        except OSError as exc:
            raise CliError(f"cannot write {args.output}: {exc.strerror}") from None
    status = _exit_status(result.returncode)
    per_arch: dict[str, int] = {}
    for arch, _nr in result.named():
        key = arch.name.lower() if hasattr(arch, "name") else hex(int(arch))
        per_arch[key] = per_arch.get(key, 0) + 1
    arches = ", ".join(f"{k}: {v}" for k, v in per_arch.items())
    how = (f"killed by signal {-result.returncode}" if result.returncode < 0
           else f"exited with status {result.returncode}")
    if args.json:
        import json

        sys.stderr.write(json.dumps({
            "command": cmd, "returncode": result.returncode, "status": status,
            "seconds": round(time.monotonic() - started, 3), "calls": result.calls,
            "distinct": len(result.counts), "per_arch": per_arch, "output": args.output,
            "allowed": len(result.names()), "default": _action_text(default),
        }) + "\n")
    elif not args.quiet:
        _err(f"learn: {cmd[0]} {how} after {time.monotonic() - started:.2f} s; "
             f"{result.calls} syscalls answered, {len(result.counts)} distinct ({arches})")
        _err(f"learn: wrote {args.output}: {len(result.names())} syscalls allowed, "
             f"default {_action_text(default)}")
    for arch, nr in result.unnamed:
        arch_name = arch.name.lower() if hasattr(arch, "name") else hex(int(arch))
        _err(f"warning: syscall {nr} on {arch_name} was used, but libseccomp does not know "
             "it, so the profile cannot allow it")
    if result.other:
        _err(f"warning: {result.other} calls had numbers or arches outside the recording "
             "table (not in the profile)")
    return status


# -- parser ---------------------------------------------------------------------------------------


_PROFILE_HELP = ("profile JSON file ('-' for stdin), or a built-in profile: docker, podman "
                 "(when no file of that name exists)")


class _Ignored:
    """Stands in for the parser of a subcommand :func:`build_parser` does not build:
    every method call is accepted and ignored."""

    def __getattr__(self, name: str) -> Any:
        return self._ignore

    def _ignore(self, *args: object, **kwargs: object) -> _Ignored:
        return self


class _OnlyOne:
    """The subparsers object, building the parser of subcommand ``name`` only (``""``:
    every subcommand is listed, with its help, but gets no arguments)."""

    def __init__(self, sub: Any, name: str) -> None:
        self._sub = sub
        self._name = name

    def add_parser(self, name: str, **kwargs: Any) -> Any:
        if name == self._name:
            return self._sub.add_parser(name, **kwargs)
        if self._name == "":  # listed only: not even its -h is used
            self._sub.add_parser(name, **{"add_help": False, **kwargs})
        return _Ignored()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sub, name)


#: the subcommands build_parser adds itself (before the _cli_* modules' register())
_CORE_COMMANDS = ("resolve", "compile", "check", "disasm", "features", "run", "learn", "agent")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The argparse parser of ``seccomp-py`` (every subcommand has --help).

    With ``only`` (a subcommand's name), the parser has that subcommand only: ``main``
    builds ``run``'s alone, as ``run`` is on the path of every command it starts and
    creating the other subparsers costs milliseconds (argparse looks up its message
    catalog for every parser).  With ``only=""`` every subcommand is there with its
    help but without its arguments: all that ``seccomp-py --help``, ``--version`` or
    no argument at all use.
    """
    import argparse

    from . import __version__
    from ._cli_parser import Parser as _Parser

    parser = _Parser(prog=PROG, description="Linux seccomp tools: resolve syscalls, compile, "
                                            "check and disassemble filters and container "
                                            "profiles (OCI / Docker / Podman JSON).",
                     epilog=EPILOG)
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub: Any = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    if only is not None:
        sub = _OnlyOne(sub, only)

    p = sub.add_parser("resolve", help="syscall names <-> numbers",
                       description="Print the number of each syscall name, or the name of "
                                   "each number, on an arch.")
    p.add_argument("items", nargs="*", metavar="NAME|NUMBER")
    p.add_argument("--arch", help="libseccomp arch name (default: native)")
    p.add_argument("--all", action="store_true", help="list every syscall of the arch")
    p.add_argument("--json", action="store_true",
                   help="print JSON: {arch, syscalls: [{name, number, ...}]}")
    p.set_defaults(func=cmd_resolve)

    p = sub.add_parser("compile", help="compile a profile to BPF or PFC",
                       description="Compile a seccomp profile (OCI / Docker / Podman JSON) "
                                   "to raw BPF (as loaded by the kernel) or libseccomp's PFC "
                                   "text, for one arch, capability set and kernel.")
    p.add_argument("profile", metavar="PROFILE", help=_PROFILE_HELP)
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
                                   "when the profile is invalid or too large, names syscalls "
                                   "libseccomp does not know, or compiles to a filter weaker "
                                   "than it (unless --allow-unknown).")
    p.add_argument("profile", metavar="PROFILE", help=_PROFILE_HELP)
    _add_target_options(p)
    p.add_argument("--allow-unknown", action="store_true",
                   help="exit 0 even when syscall names are unknown to libseccomp (skipped, "
                        "as runc does) or the filter is weaker than the profile")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
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
                       description="Run CMD under a seccomp profile (stdio inherited) and exit "
                                   "with its status: 128+N when a signal N killed it, 127 "
                                   "when it is not found, 126 when it cannot be executed. By "
                                   "default runc's -ENOSYS stub is put in front of the filter, "
                                   "as runc does (see docs/profiles.md).")
    p.add_argument("--profile", required=True, metavar="PROFILE", help=_PROFILE_HELP)
    _add_target_options(p)
    p.add_argument("--runc-stub", action=argparse.BooleanOptionalAction, default=None,
                   help="put runc's -ENOSYS stub in front of the filter (default: on; it is "
                        "empty for an ALLOW/LOG/TRACE default action)")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="print every compile warning (default: only the WARNING lines about "
                        "refusing rules that had to be dropped)")
    p.add_argument("--no-cache", action="store_true",
                   help="compile the profile even when the program cache has its verified "
                        "program, and do not store it (also: SECCOMP_PY_NO_CACHE=1); the "
                        "cache is $XDG_CACHE_HOME/seccomp-py (~/.cache/seccomp-py)")
    _cli_sandbox.add_arguments(p)
    _cli_explain.add_arguments(p)
    p.add_argument("cmd", nargs=argparse.REMAINDER, metavar="-- CMD...")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("learn", help="record the syscalls of a command into a profile",
                       description="Run CMD (stdio inherited) with every syscall of it and its "
                                   "children sent to a supervisor that records it and lets it "
                                   "continue, then write the smallest profile that lets the "
                                   "same command run: the default action for everything, "
                                   "SCMP_ACT_ALLOW for exactly the syscalls seen. Exits with "
                                   "the command's status (the profile is written anyway).")
    p.add_argument("-o", "--output", required=True, metavar="OUT.json",
                   help="where to write the learned profile ('-' for stdout)")
    p.add_argument("--default-action", default="SCMP_ACT_ERRNO", metavar="ACTION",
                   help="default action of the learned profile: SCMP_ACT_ERRNO (default), "
                        "SCMP_ACT_KILL_PROCESS, SCMP_ACT_KILL_THREAD, SCMP_ACT_TRAP, "
                        "SCMP_ACT_LOG (the SCMP_ACT_ prefix is optional)")
    p.add_argument("--default-errno", "--errno", dest="default_errno", default="EPERM",
                   metavar="ERRNO",
                   help="errno of an ERRNO default action, a name or a number "
                        "(default: EPERM)")
    p.add_argument("--interval", type=float, default=0.5, metavar="SECONDS",
                   help="progress every SECONDS on stderr (default: 0.5)")
    p.add_argument("-q", "--quiet", action="store_true",
                   help="no progress and no summary (warnings still)")
    p.add_argument("--no-sync-wakeup", action="store_true",
                   help="do not ask for synchronous supervisor wake-ups (Linux 6.6+)")
    _cli_learn.add_arguments(p)
    p.add_argument("--json", action="store_true",
                   help="print the summary as one JSON object on stderr (stdout is the "
                        "command's)")
    p.add_argument("cmd", nargs=argparse.REMAINDER, metavar="-- CMD...")
    p.set_defaults(func=cmd_learn)

    p = sub.add_parser("agent", help="serve container runtimes' seccomp listeners (OCI)",
                       description="An OCI seccomp agent: listen on a Unix socket where runc or "
                                   "crun hand over each container's notify fd (the profile's "
                                   "listenerPath) and decide the notified syscalls. Runs until "
                                   "SIGTERM or SIGINT. See docs/oci.md.")
    p.add_argument("--socket", required=True, metavar="PATH", help="the Unix socket to listen on")
    p.add_argument("--handler", action="append", metavar="MODULE:FUNCTION",
                   help="a handler(container, notification) -> Response (or a factory of one) "
                        "that gets every notification the options before it did not take; "
                        "repeatable, first match wins")
    p.add_argument("--mkdir-under", action="append", metavar="PREFIX",
                   help="allow mkdir/mkdirat only below PREFIX (a path in the container); "
                        "repeatable")
    p.add_argument("--deny", default="EPERM", metavar="ERRNO",
                   help="errno for every notification no handler decides (default: EPERM)")
    p.add_argument("--log", metavar="FILE",
                   help="append one JSON line per event (connection, refusal, decision) to "
                        "FILE ('-' for stderr)")
    p.add_argument("--allow-uid", action="append", type=int, metavar="UID",
                   help="also accept runtimes running as UID (default: only our own uid)")
    p.add_argument("--mode", type=lambda text: int(text, 8), default=0o600, metavar="OCTAL",
                   help="permissions of the socket file (default: 600)")
    p.add_argument("--idle-timeout", type=float, default=None, metavar="SECONDS",
                   help="exit after SECONDS without any event (default: never)")
    p.set_defaults(func=cmd_agent)
    if only is None or only not in _CORE_COMMANDS:  # else: no need to import the modules
        from ._cli_inspect import register as register_inspect
        register_inspect(sub)
        _cli_groups.register(sub)
        __import__(f"{__package__}._cli_verify", fromlist=["register"]).register(sub)

        from . import _cli_profiles, _cli_shell

        _cli_profiles.register(sub)
        _cli_shell.register(sub, parser)
    for choice in sub.choices.values():
        if choice.epilog is None:
            choice.epilog = EPILOG
    return parser


def _untranslated() -> dict[str, Any] | None:
    """argparse translates each of its messages with gettext, and every lookup stats the
    catalog paths of each language in the environment (hundreds of stat calls for
    --help).  When the current domain has no catalog for these languages, gettext gives
    every message back unchanged: then argparse's ``_`` and ``ngettext`` are that
    identity while main() parses.  Returns what to restore, or None (a catalog exists)."""
    import argparse
    import gettext

    domain = gettext.textdomain()
    if gettext.find(domain, gettext.bindtextdomain(domain), all=True):
        return None
    module = vars(argparse)
    saved = {"_": module["_"], "ngettext": module["ngettext"]}
    module["_"] = _same
    module["ngettext"] = _plural
    return saved


def _same(message: str) -> str:
    return message


def _plural(singular: str, plural: str, n: int) -> str:
    return singular if n == 1 else plural


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``seccomp-py`` with ``argv`` (default: sys.argv[1:]); return the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    # start-up time: `run` alone is all `seccomp-py run ...` needs, and the list of
    # subcommands all that `seccomp-py --help` (or --version, or nothing) needs
    # start-up time: `run ... -- CMD` in its plain form needs no argparse
    args: Any = _quick_run_args(argv) if argv[:1] == ["run"] else None
    if args is None:
        only = ("run" if argv[:1] == ["run"] else
                "" if argv in ([], ["-h"], ["--help"], ["--version"]) else None)
        saved = _untranslated()
        try:
            args = build_parser(only=only).parse_args(argv)
        finally:
            if saved is not None:
                import argparse

                vars(argparse).update(saved)
    try:
        status: int = args.func(args)
        sys.stdout.flush()
        return status
    except CliError as exc:
        _err(f"error: {exc}")
        return exc.status
    except SeccompError as exc:
        profile_mod = sys.modules.get("seccomp_py.profile")
        if profile_mod is not None and isinstance(exc, profile_mod.ProfileError):
            _err(f"error: {getattr(args, 'profile', '') or ''}: {exc}".replace(": : ", ": "))
        else:
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
