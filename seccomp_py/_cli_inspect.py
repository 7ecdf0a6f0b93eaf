"""``seccomp-py inspect``: the seccomp filters a live process (or runc container) runs under.

Registered by :func:`seccomp_py.cli.build_parser` through :func:`register`.
See docs/inspect.md.
"""

from __future__ import annotations

import argparse
import sys

TYPE_CHECKING = False  # not typing's: start-up time (`seccomp-py --help` imports this module)
if TYPE_CHECKING:
    import errno as _errno
    from typing import Any

    from . import inspect as _inspect
    from .arch import Arch
    from .arch import coerce as _coerce_arch
    from .errors import InspectError, UnknownArchError, UnknownSyscallError


def _load() -> None:
    """Import what ``inspect`` uses into this module, when the command runs (not when the
    parser is built: ``seccomp-py --help`` and ``run`` must not pay for it)."""
    import errno as _errno

    from . import inspect as _inspect
    from .arch import Arch
    from .arch import coerce as _coerce_arch
    from .errors import InspectError, UnknownArchError, UnknownSyscallError

    globals().update(_errno=_errno, _inspect=_inspect, Arch=Arch, _coerce_arch=_coerce_arch,
                     InspectError=InspectError, UnknownArchError=UnknownArchError,
                     UnknownSyscallError=UnknownSyscallError)

#: names shown per group before "... and N more" (all with --full)
SHOWN = 12


def _cli_error(text: str) -> Exception:
    from ._cli_errors import CliError

    return CliError(text)


def runc_pid(container: str, root: str | None = None) -> int:
    """The host pid of runc container ``container``'s init process (``runc state``).

    Raises CliError when runc is missing, does not know the container, or the
    container is stopped or paused (a frozen process cannot be ptrace-stopped).
    """
    import json
    import re
    import shutil
    import subprocess

    exe = shutil.which("runc")
    if exe is None:
        raise _cli_error("inspect: --runc needs the runc binary on PATH")
    cmd = [exe, *(["--root", root] if root else []), "state", container]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=30,
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError) as exc:
        raise _cli_error(f"inspect: cannot run runc state: {exc}") from None
    if done.returncode != 0:
        why = (done.stderr.strip().splitlines() or ["runc state failed"])[-1]
        found = re.search(r'msg="((?:[^"\\]|\\.)*)"', why)  # logrus: time=... msg="..."
        if found:
            why = found.group(1)
        raise _cli_error(f"inspect: runc state {container}: {why}")
    try:
        state = json.loads(done.stdout)
        pid, status = int(state["pid"]), str(state["status"])
    except (ValueError, KeyError, TypeError):
        raise _cli_error(f"inspect: runc state {container}: unreadable output") from None
    if status == "stopped" or pid <= 0:
        raise _cli_error(f"inspect: container {container} is stopped")
    if status == "paused":
        raise _cli_error(f"inspect: container {container} is paused: a frozen process cannot "
                         "be stopped by ptrace; resume it first")
    return pid


def _usage(args: argparse.Namespace, text: str) -> Exception:
    args.inspect_parser.error(text)  # exits with status 2
    raise AssertionError("unreachable")


def _target(args: argparse.Namespace) -> int:
    if args.runc is not None:
        if args.pid is not None:
            raise _usage(args, "give a PID or --runc ID, not both")
        return runc_pid(args.runc, args.root)
    if args.root is not None:
        raise _usage(args, "--root is for --runc")
    if args.pid is None:
        raise _usage(args, "give a PID or --runc ID")
    try:
        return int(args.pid)
    except ValueError:
        raise _usage(args, f"{args.pid!r} is not a pid") from None


def _parse_syscall(spec: str, arch: Arch) -> tuple[str, int, list[int]]:
    """``name`` or ``name:arg0,arg1,...`` (numbers in any base) -> (label, nr, args)."""
    name, _, rest = spec.partition(":")
    try:
        args = [int(a, 0) for a in rest.split(",")] if rest else []
    except ValueError:
        raise _cli_error(f"inspect: --syscall {spec!r}: arguments are numbers, "
                         "e.g. socket:40,1") from None
    if len(args) > 6:
        raise _cli_error(f"inspect: --syscall {spec!r}: at most 6 arguments")
    from . import syscall as _syscall

    try:
        number = int(name, 0)
    except ValueError:
        try:
            number = _syscall.resolve_name(name, arch)
        except UnknownSyscallError as exc:
            raise _cli_error(f"inspect: --syscall: {exc.detail}") from None
    if number < 0:
        raise _cli_error(f"inspect: --syscall: {name} is not a direct syscall on "
                         f"{arch.name.lower()}; give its number")
    return spec, number, args


def _names(items: list[str], full: bool) -> str:
    if full or len(items) <= SHOWN:
        return ", ".join(items)
    return ", ".join(items[:SHOWN]) + f", ... and {len(items) - SHOWN} more"


def _summary_lines(summary: _inspect.ArchSummary, full: bool, indent: str) -> list[str]:
    refused = sum(len(v) for v in summary.refused.values())
    lines = [f"{indent}{summary.arch}: {len(summary.allowed)} allowed, {refused} refused, "
             f"{len(summary.conditional)} depend on arguments"]
    if summary.allowed and (full or len(summary.allowed) <= refused):
        lines.append(f"{indent}  allowed: {_names(summary.allowed, full)}")
    for action, names in sorted(summary.refused.items(), key=lambda kv: -len(kv[1])):
        if len(names) == refused and not summary.allowed and not summary.conditional:
            lines.append(f"{indent}  {action}: every syscall")
        else:
            lines.append(f"{indent}  {action}: {_names(names, full)}")
    if summary.conditional:
        lines.append(f"{indent}  depend on arguments: {_names(summary.conditional, full)}")
    return lines


def cmd_inspect(args: argparse.Namespace) -> int:
    """Read and summarise the seccomp filters of a process."""
    _load()
    pid = _target(args)
    try:
        arches = [_coerce_arch(a) for a in args.arch] if args.arch else None
    except UnknownArchError as exc:
        raise _cli_error(f"inspect: {exc.detail}") from None
    probe_arch = arches[0] if arches else _coerce_arch(Arch.NATIVE)
    probes = [_parse_syscall(s, probe_arch) for s in args.syscall or ()]
    try:
        stack = _inspect.read(pid)
    except InspectError as exc:
        name = _errno.errorcode.get(exc.errno or 0, str(exc.errno))
        raise _cli_error(f"inspect: {exc.detail} ({name})") from None
    if arches is None:
        arches = _inspect.named_arches(stack.filters) or [_coerce_arch(Arch.NATIVE)]
    per_filter = [[_inspect.summarize([f], a) for a in arches] for f in stack.filters]
    combined = ([_inspect.summarize(stack.filters, a) for a in arches]
                if len(stack.filters) > 1 else per_filter[0] if per_filter else [])
    decisions = []
    for label, number, call_args in probes:
        if stack.mode == "strict":
            raise _cli_error(f"inspect: pid {pid} is in strict mode: only read, write, _exit "
                             "and sigreturn run")
        verdict = _inspect.stack_verdict(stack.filters, number, probe_arch, call_args)
        decisions.append((label, number, call_args, verdict))
    if args.json:
        out: dict[str, Any] = {
            "pid": pid,
            "mode": stack.mode,
            "status_filters": stack.status_count,
            "filters": [{
                "index": f.index,
                "instructions": len(f),
                "log": f.log,
                "flags": f.flags,
                "program": f.program.hex(),
                **({"disassembly": f.disassemble().splitlines()} if args.disasm else {}),
                "arches": [s.to_dict() for s in per_filter[f.index]],
            } for f in stack.filters],
            "stack": [s.to_dict() for s in combined],
            "decisions": [{"syscall": label, "nr": number, "args": call_args,
                           "arch": probe_arch.name.lower(), "value": v.value,
                           "action": v.action, "filter": v.filter_index}
                          for label, number, call_args, v in decisions],
        }
        if args.runc is not None:
            out["container"] = args.runc
        import json

        json.dump(out, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    who = f"container {args.runc} (init pid {pid})" if args.runc is not None else f"pid {pid}"
    count = len(stack.filters)
    if stack.mode != "filter":
        print(f"{who}: seccomp mode {stack.mode}"
              + (": no filter, every syscall is allowed" if stack.mode == "disabled" else
                 ": only read, write, _exit and sigreturn run"))
    else:
        print(f"{who}: seccomp mode filter, {count} filter{'s' if count != 1 else ''} "
              f"(oldest first)")
    for f, summaries in zip(stack.filters, per_filter):
        log = {True: "on", False: "off", None: "unknown"}[f.log]
        print(f"filter {f.index}: {len(f)} instructions, log flag {log}")
        for summary in summaries:
            for line in _summary_lines(summary, args.full, "  "):
                print(line)
        if args.disasm:
            sys.stdout.write(f.disassemble())
    if count > 1:
        print("the stack (what the kernel enforces: the most restrictive result wins):")
        for summary in combined:
            for line in _summary_lines(summary, args.full, "  "):
                print(line)
    for label, number, call_args, v in decisions:
        by = "" if v.filter_index is None else f" (filter {v.filter_index})"
        print(f"{label} (nr {number} on {probe_arch.name.lower()}"
              + (f", args {', '.join(hex(a) for a in call_args)}" if call_args else "")
              + f"): {v.action}{by}")
    return 0


def register(sub: Any) -> None:
    """Add the ``inspect`` subcommand to ``sub`` (the argparse subparsers object)."""
    p = sub.add_parser(
        "inspect", help="the seccomp filters a live process runs under",
        description="Read the seccomp filters of a running process with ptrace "
                    "(PTRACE_SECCOMP_GET_FILTER; needs root: CAP_SYS_ADMIN and the right to "
                    "trace it) and summarise them: per filter and per arch, the syscalls it "
                    "allows, refuses (by action) and decides on the arguments; for a stack "
                    "of filters, also what the kernel makes of them together. The process "
                    "is stopped for the reading only and always detached. See "
                    "docs/inspect.md.")
    p.add_argument("pid", nargs="?", metavar="PID", help="the process (or thread) id")
    p.add_argument("--runc", metavar="ID", help="inspect the init process of runc container "
                                                "ID (found with `runc state ID`)")
    p.add_argument("--root", metavar="DIR", help="runc's state directory (runc --root)")
    p.add_argument("--arch", action="append", metavar="ARCH",
                   help="summarise this arch (repeatable; default: the arches the filters "
                        "name)")
    p.add_argument("--syscall", action="append", metavar="NAME[:ARG,...]",
                   help="also decide this syscall on the stack, e.g. socket:40,1 "
                        "(repeatable; on the first --arch, else the native one)")
    p.add_argument("--disasm", action="store_true", help="print each filter's listing")
    p.add_argument("--full", action="store_true", help="list every name, not the first "
                                                       f"{SHOWN} of each group")
    p.add_argument("--json", action="store_true", help="print JSON (programs in hex)")
    p.set_defaults(func=cmd_inspect, inspect_parser=p)


__all__ = ["cmd_inspect", "register", "runc_pid"]
