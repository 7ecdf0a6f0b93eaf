"""``seccomp-py profiles``: the built-in profiles and where they come from."""

from __future__ import annotations

import argparse

TYPE_CHECKING = False  # not typing's (start-up time)
if TYPE_CHECKING:
    from typing import Any


def cmd_profiles(args: argparse.Namespace) -> int:
    """List the built-in profiles (name, upstream project, commit, sha256, license)."""
    import json

    from .profile import CAP_SETS, builtin_path, builtin_sources

    sources = builtin_sources()
    rows = []
    for name in sorted(sources):
        entry: dict[str, Any] = dict(sources[name])
        entry["name"] = name
        entry["installed_at"] = builtin_path(name)
        caps = entry.get("runtime_caps", "none")
        entry["default_caps"] = sorted(CAP_SETS.get(caps, frozenset()))
        rows.append(entry)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for r in rows:
        print(f"{r['name']}\t{r.get('project', '?')} {r.get('path', '')} at "
              f"{str(r.get('commit', '?'))[:12]} ({r.get('license', '?')}); default caps: "
              f"{r.get('runtime_caps', 'none')} ({len(r['default_caps'])})")
        if args.verbose:
            for key in ("url", "sha256", "installed_at"):
                print(f"\t{key}: {r.get(key, '')}")
    return 0


def register(sub: Any) -> None:
    """Add ``profiles`` to the ``seccomp-py`` subparsers ``sub``."""
    p = sub.add_parser("profiles", help="list the built-in profiles and their provenance",
                       description="List the profiles shipped with seccomp_py (usable as "
                                   "--profile NAME / PROFILE NAME): the upstream project, "
                                   "file, commit, sha256 and license of each, and the "
                                   "capability set they compile with by default.")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="also the upstream URL, sha256 and the installed path")
    p.set_defaults(func=cmd_profiles)
