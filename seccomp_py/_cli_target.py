"""The profile a ``seccomp-py`` command compiles: ``--arch``, ``--caps``,
``--kernel``, ``--strict`` and the compilation they ask for (compile, check,
run, verify, query, diff).  See docs/cli.md."""

from __future__ import annotations

import os
import sys

from ._cli_errors import CliError, UsageError, _err

TYPE_CHECKING = False  # not typing's: importing typing costs start-up time
if TYPE_CHECKING:
    import argparse
    from typing import Any

    from .arch import Arch
    from .profile import Compiled, Profile


# -- shared options ---------------------------------------------------------------------------


def _add_target_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--arch", help="compile for this arch (libseccomp name such as x86_64, "
                                  "aarch64, or Docker's amd64, arm64; default: native)")
    caps = p.add_mutually_exclusive_group()
    caps.add_argument("--caps", metavar="SET|CAP,...",
                      help="the capability set includes/excludes see: docker (Docker's "
                           "default 14), podman (Podman's default 10), all, none, or names "
                           "comma-separated (e.g. CAP_SYS_ADMIN,sys_ptrace; '' for none). "
                           "Default: the profile's runtime set (docker for the docker "
                           "built-in, podman for podman), none for any other profile; "
                           "never this process's own")
    caps.add_argument("--all-caps", action="store_true",
                      help="every capability (a privileged container; same as --caps all)")
    p.add_argument("--kernel", metavar="X.Y",
                   help="kernel version for minKernel (default: the running kernel)")
    p.add_argument("--strict", action="store_true",
                   help="refuse unknown keys and syscall names libseccomp does not know "
                        "(default: skip them with a warning, as runc does)")
    # socketcall/ipc multiplexing (seccomp_py.profile.Profile.compile)
    p.add_argument("--strict-multiplexed", action="store_true",
                   help="refuse socketcall/ipc on arches where argument checks of socket/ipc "
                        "rules cannot apply (i386); default: report them and behave as runc")


def _caps(args: argparse.Namespace, profile: Profile) -> tuple[frozenset[str], str]:
    """The capability set of --caps / --all-caps (default: the profile's runtime set)
    and how to describe it."""
    from .host import named_caps

    spec = "all" if args.all_caps else args.caps
    try:
        return named_caps(profile.runtime_caps() if spec is None else spec)
    except ValueError as exc:
        raise UsageError(f"--caps: {exc}") from None


def _arch_arg(text: str | None) -> Arch | None:
    """--arch: a libseccomp or Docker arch name; an unknown one lists the valid names."""
    if text is None:
        return None
    from .errors import UnknownArchError
    from .host import arch_names, target_arch

    try:
        return target_arch(text)
    except UnknownArchError:
        raise UsageError(f"--arch: unknown architecture {text!r}; valid: "
                         + ", ".join(arch_names())) from None


def _read_input(path: str, binary: bool) -> Any:
    if path == "-":
        return sys.stdin.buffer.read() if binary else sys.stdin.read()
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror}") from None


def _load_profile(path: str, strict: bool, data: bytes | None = None) -> Profile:
    """A profile file, '-' for stdin, or the name of a built-in profile (``docker``,
    ``podman``) when no file of that name exists (Profile.open).  ``data``: the
    file's bytes, read already (run's program cache keys on them)."""
    from .errors import SeccompError
    from .profile import Profile, builtin_names

    if data is not None:
        return Profile.loads(data, strict=strict)
    if path == "-":
        return Profile.loads(_read_input(path, binary=True), strict=strict)
    try:
        return Profile.open(path, strict=strict)
    except SeccompError:  # a ProfileError (an OSError too)
        raise
    except OSError as exc:
        if os.sep not in path and not os.path.exists(path):
            raise CliError(f"cannot read {path}: no such file, and not a built-in profile "
                           f"(built-in: {', '.join(builtin_names())})") from None
        raise CliError(f"cannot read {path}: {exc.strerror}") from None


def _compile(args: argparse.Namespace, data: bytes | None = None,
             notes: list[tuple[str, str]] | None = None) -> tuple[Profile, Compiled]:
    """Compile --profile (``data``: its bytes, read already) as the options say, and
    report the warnings.  ``notes`` collects them as (when, line) too: when is
    "warnings" (shown unless quiet_warnings), "quiet" (unless quiet) or "always"."""
    import warnings

    from .host import parse_kernel

    try:
        kernel = parse_kernel(args.kernel) if args.kernel else None
    except ValueError as exc:
        raise UsageError(f"--kernel: {exc}") from None
    arch = _arch_arg(args.arch)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        profile = _load_profile(args.profile, args.strict, data)
        caps, args.caps_name = _caps(args, profile)
        args.caps_set = caps
        compiled = profile.compile(arch, caps=caps, kernel=kernel,
                                   unknown="error" if args.strict else "ignore",
                                   strict_multiplexed=args.strict_multiplexed)

    def say(when: str, text: str) -> None:
        if notes is not None:
            notes.append((when, text))
        if when == "always" or not getattr(args, "quiet_warnings" if when == "warnings"
                                           else "quiet", False):
            _err(text)

    for w in caught:
        say("warnings", f"warning: {w.message}")
    unknown = compiled.skipped_for("unknown")
    for s in unknown:
        if s.weakens:
            say("always", f"WARNING: {s.path}: a rule refusing {s.name!r} was dropped: "
                          f"libseccomp does not know it, so the filter lets it through with "
                          f"the default action")
    plain = [s.name for s in unknown if not s.weakens]
    if plain:
        say("quiet", f"warning: {len(plain)} syscall names libseccomp does not know were "
                     f"skipped (as runc does; --strict refuses them): " + ", ".join(plain))
    return profile, compiled


def _report_multiplexed(compiled: Compiled) -> None:
    """Rules whose argument checks cannot apply on an arch, in one line."""
    if compiled.widened:
        _err(f"warning: {compiled.multiplexed_note}")
