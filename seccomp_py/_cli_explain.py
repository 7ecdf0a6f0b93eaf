"""`seccomp-py run --explain` and `run --complain [-o FIXED.json]` (seccomp_py.explain)."""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # not typing's (start-up time)
if TYPE_CHECKING:
    import argparse
    from typing import Any

__all__ = ["add_arguments", "run"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--explain", action="store_true",
                   help="enforce the profile and report every call it refuses or kills "
                        "(syscall, decoded arguments, action, profile entry) on stderr")
    g.add_argument("--complain", action="store_true",
                   help="enforce nothing: report once each syscall the profile would refuse")
    p.add_argument("-o", "--output", metavar="FIXED.json",
                   help="with --complain: write the profile plus exactly what was missing")


def wanted(args: argparse.Namespace) -> bool:
    from ._cli_errors import CliError

    if args.output is not None and not args.complain:
        raise CliError("run: -o/--output goes with --complain")
    return bool(args.explain or args.complain)


def run(args: argparse.Namespace, cmd: list[str], profile: Any, compiled: Any,
        program: bytes) -> int:
    """Run ``cmd`` watched; returns the exit status (CliError for what cannot be done)."""
    from ._cli_errors import CliError
    from .errors import UnsupportedError
    from .explain import Policy, fixed_profile, watch

    mode = "explain" if args.explain else "complain"
    sandbox = [k for k in ("user", "group", "extra_groups", "umask") if
               getattr(args, k, None) is not None]
    sandbox += [k for k in ("rlimit",) if getattr(args, k, None)]
    sandbox += [k for k in ("new_session", "no_network") if getattr(args, k, False)]
    if sandbox:
        raise CliError(f"run: --{mode} does not combine with "
                       + ", ".join("--" + k.replace("_", "-") for k in sandbox))
    try:
        policy = Policy.from_compiled(compiled, program)
    except UnsupportedError as exc:
        raise CliError(f"run: --{mode}: {exc.detail}") from None

    def report(r: Any) -> None:
        sys.stderr.write(f"seccomp-py: {mode}: {r}\n")
        sys.stderr.flush()

    try:
        result = watch(cmd, policy, mode=mode, report=report)
    except UnsupportedError as exc:
        raise CliError(f"run: --{mode}: {exc.detail}") from None
    if result.killed is not None:
        sys.stderr.write(f"seccomp-py: killed by seccomp: {result.killed.text}\n")
    if mode == "complain":
        n = len(result.refusals)
        sys.stderr.write(f"seccomp-py: complain: {n} syscall{'s' if n != 1 else ''} the "
                         "profile would refuse\n")
        if args.output is not None:
            fixed, notes = fixed_profile(profile, result.refusals)
            for note in notes:
                sys.stderr.write(f"seccomp-py: complain: note: {note}\n")
            try:
                with open(args.output, "w") as fh:
                    fh.write(fixed.dumps())
            except OSError as exc:
                raise CliError(f"run: cannot write {args.output}: {exc.strerror}") from None
    code = int(result.returncode)
    return 128 - code if code < 0 else code
