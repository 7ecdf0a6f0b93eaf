"""`seccomp-py learn` output options: --format oci|docker|k8s, --name, --merge OLD.json."""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # not typing's (start-up time)
if TYPE_CHECKING:
    import argparse
    from typing import Any

__all__ = ["add_arguments", "render"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--format", choices=("oci", "docker", "k8s"), default="oci",
                   help="oci: the runtime-spec linux.seccomp object (default); docker: "
                        "Docker's format (archMap); k8s: a Security Profiles Operator "
                        "SeccompProfile object (JSON, for kubectl apply -f)")
    p.add_argument("--name", metavar="NAME",
                   help="metadata.name of the k8s object (default: from OUT.json, else the "
                        "command)")
    p.add_argument("--runtime", choices=("runc", "crun"),
                   help="also allow what this container runtime's own init needs after it "
                        "loaded the filter (measured now with the real runtime: needs root "
                        "and busybox-static), so that the profile starts containers")
    p.add_argument("--merge", metavar="OLD.json",
                   help="add the syscalls and arches of an earlier learned profile (any of "
                        "the three formats), so that every run's command runs")


def check(args: argparse.Namespace) -> None:
    """Before the run: read and check --merge and the k8s name (CliError)."""
    from . import formats
    from ._cli_errors import CliError
    from .learn import _allow_list
    from .profile import Profile, ProfileError

    args.merge_profile = None
    args.runtime_names = set()
    if args.runtime is not None:
        from .errors import RuntimeMeasureError
        from .runtime import measure

        try:
            args.runtime_names = measure(args.runtime)
        except RuntimeMeasureError as exc:
            raise CliError(f"learn: --runtime {args.runtime}: {exc.detail}") from None
    if args.merge is not None:
        try:
            old = Profile.load(args.merge)
            _allow_list(old)
        except OSError as exc:
            raise CliError(f"learn: cannot read {args.merge}: {exc.strerror or exc}") from None
        except (ProfileError, ValueError) as exc:
            raise CliError(f"learn: --merge {args.merge}: {exc}") from None
        args.merge_profile = old
    if args.format == "k8s":
        if args.name is None:
            args.name = formats.name_from(args.output if args.output != "-"
                                          else _first(args.cmd))
        try:
            formats.k8s_name(args.name)
        except ValueError as exc:
            raise CliError(f"learn: --name: {exc}") from None


def render(args: argparse.Namespace, result: Any, default: Any) -> str:
    """The learned profile as text in ``args.format`` (CliError for what cannot be done)."""
    from . import formats
    from ._cli_errors import CliError

    old = getattr(args, "merge_profile", None)
    if old is not None and (old.default_action != _action_name(default)
                            or old.default_errno_ret not in (None, _errno_of(default))):
        sys.stderr.write(f"seccomp-py: learn: note: {args.merge} has the default action "
                         f"{old.default_action}; the merged profile uses "
                         f"{_action_name(default)} (--default-action)\n")
    try:
        profile = result.to_profile(default, merge=old,
                                    extra=getattr(args, "runtime_names", ()))
        return formats.dumps(profile, args.format, name=args.name)
    except ValueError as exc:
        raise CliError(f"learn: {exc}") from None


def _first(cmd: list[str]) -> str:
    rest = cmd[1:] if cmd and cmd[0] == "--" else cmd
    return rest[0] if rest else "seccomp-profile"


def _action_name(action: Any) -> str:
    from .profile_schema import _action_fields

    return str(_action_fields(action)[0])


def _errno_of(action: Any) -> int | None:
    from .profile_schema import _action_fields

    value = _action_fields(action)[1]
    return None if value is None else int(value)
