"""`seccomp-py groups [NAME...] [--json]`: the named syscall groups (seccomp_py.groups)."""

from __future__ import annotations

TYPE_CHECKING = False  # not typing's (start-up time)
if TYPE_CHECKING:
    import argparse
    from typing import Any

__all__ = ["register"]


def register(sub: Any) -> None:
    p = sub.add_parser("groups", help="named syscall groups (@file-system, @network-io, ...)",
                       description="List the syscall groups, or the syscalls of the groups "
                                   "named. Members this libseccomp does not know are marked "
                                   "'(unknown to libseccomp)': a filter or profile cannot "
                                   "name them, and they get the default action.")
    p.add_argument("names", nargs="*", metavar="NAME", help="a group, e.g. @network-io")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_groups)


def _info(name: str) -> dict[str, Any]:
    from .groups import Group

    g = Group[name]
    return {"name": g.name, "description": g.description, "groups": list(g.groups()),
            "syscalls": list(g.names()), "unknown": list(g.unknown())}


def cmd_groups(args: argparse.Namespace) -> int:
    import json

    from ._cli_errors import CliError
    from .groups import Group

    for name in args.names:
        if name not in Group:
            try:
                Group[name]
            except KeyError as exc:
                raise CliError(f"groups: {exc.args[0]}") from None
    if not args.names:
        infos = [_info(n) for n in Group]
        if args.json:
            print(json.dumps(infos, indent=2))
            return 0
        width = max(len(i["name"]) for i in infos)
        for i in infos:
            print(f"{i['name']:<{width}}  {len(i['syscalls']):>3}  {i['description']}")
        return 0
    infos = [_info(n) for n in args.names]
    if args.json:
        print(json.dumps(infos[0] if len(infos) == 1 else infos, indent=2))
        return 0
    for k, i in enumerate(infos):
        if k:
            print()
        print(f"{i['name']}: {i['description']}")
        if i["groups"]:
            print(f"  includes {', '.join(i['groups'])}")
        unknown = set(i["unknown"])
        for n in i["syscalls"]:
            print(f"  {n}" + ("  (unknown to libseccomp)" if n in unknown else ""))
    return 0
