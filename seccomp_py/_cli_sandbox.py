"""`seccomp-py run` options for the rest of the child's sandbox (see seccomp_py.sandbox).

``add_arguments(p)`` adds --user, --group, --extra-groups, --rlimit, --umask,
--new-session and --no-network to a parser; ``spawn_options(args)`` turns
them into keyword arguments of :func:`seccomp_py.spawn`.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not typing's (start-up time)
if TYPE_CHECKING:
    import argparse
    from typing import Any

__all__ = ["add_arguments", "spawn_options"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("the child's sandbox (applied before the filter, in this order: "
                             "rlimits, groups, gid, uid)")
    g.add_argument("--user", metavar="USER", help="run as this user (name or uid)")
    g.add_argument("--group", metavar="GROUP",
                   help="run with this group (name or gid; default as root: USER's group)")
    g.add_argument("--extra-groups", metavar="G,G...",
                   help="supplementary groups (default as root with --user/--group: none)")
    g.add_argument("--rlimit", action="append", default=[], metavar="RES=SOFT[:HARD]",
                   help="a resource limit, e.g. nofile=64 or as=1g:2g or core=0 "
                        "(unlimited allowed; repeatable)")
    g.add_argument("--umask", metavar="OCTAL", help="the child's umask, e.g. 077")
    g.add_argument("--new-session", action="store_true", help="setsid() in the child")
    g.add_argument("--no-network", action="store_true",
                   help="refuse every socket family but AF_UNIX (a stacked filter)")


_SUFFIX = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def _value(text: str, what: str) -> int:
    from ._cli_errors import CliError

    t = text.strip().lower()
    if t in ("unlimited", "infinity", "inf"):
        return -1
    mult = _SUFFIX.get(t[-1:], 1)
    if mult != 1:
        t = t[:-1]
    try:
        value = int(t, 10) * mult
    except ValueError:
        raise CliError(f"run: --rlimit {what}: {text!r} is not a number, k/m/g/t size or "
                       "'unlimited'") from None
    if value < 0:
        raise CliError(f"run: --rlimit {what}: a limit cannot be negative")
    return value


def spawn_options(args: argparse.Namespace) -> dict[str, Any]:
    """The spawn() keyword arguments the sandbox options ask for (CliError if bad)."""
    from . import sandbox
    from ._cli_errors import CliError

    out: dict[str, Any] = {}
    try:
        if args.user is not None:
            out["user"] = sandbox.resolve_user(_id(args.user))
        if args.group is not None:
            out["group"] = sandbox.resolve_group(_id(args.group))
        if args.extra_groups is not None:
            out["extra_groups"] = sandbox.resolve_groups(
                [_id(g) for g in args.extra_groups.split(",") if g.strip()])
    except KeyError as exc:
        raise CliError(f"run: no such user or group: {exc.args[0]}") from None
    except (TypeError, ValueError) as exc:
        raise CliError(f"run: {exc}") from None
    limits: dict[str, tuple[int, int]] = {}
    for item in args.rlimit:
        name, sep, spec = item.partition("=")
        if not sep or not name:
            raise CliError(f"run: --rlimit {item!r}: expected RES=SOFT[:HARD], e.g. nofile=64")
        soft, _, hard = spec.partition(":")
        limits[name] = (_value(soft, name), _value(hard or soft, name))
    if limits:
        try:
            sandbox.resolve_rlimits(limits)
        except (TypeError, ValueError) as exc:
            raise CliError(f"run: --rlimit: {exc}") from None
        out["rlimits"] = limits
    if args.umask is not None:
        try:
            out["umask"] = int(args.umask, 8)
        except ValueError:
            raise CliError(f"run: --umask {args.umask!r} is not an octal number") from None
        if not 0 <= out["umask"] <= 0o777:
            raise CliError(f"run: --umask {args.umask} is out of range (0..777)")
    if args.new_session:
        out["start_new_session"] = True
    if args.no_network:
        out["no_network"] = True
    return out


def _id(text: str) -> str | int:
    text = text.strip()
    return int(text) if text.isdigit() else text
