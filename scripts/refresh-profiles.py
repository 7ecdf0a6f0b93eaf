"""Replace a built-in profile with a given upstream file and record where it came from.

    .venv/bin/python scripts/refresh-profiles.py docker CHECKOUT/seccomp/default.json \\
        --commit 0123abcd... [--project moby/profiles] [--path seccomp/default.json] \\
        [--url https://github.com/...] [--dest seccomp_py/profiles]

The file is checked first (it must load as a profile and compile on this machine, with
the runtime's capability set), then copied byte for byte to DEST/NAME.json, and
DEST/SOURCES.json gets its project, path, url, commit and sha256 (the other fields,
license and runtime_caps, are kept; a new name needs --project, --path and --runtime-caps).
Nothing is fetched: take the file from a checkout of the upstream repository at the
commit you name.  Review the diff (git diff seccomp_py/profiles) before committing.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
import warnings

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("name", help="the built-in name (docker, podman, or a new one)")
    ap.add_argument("file", help="the upstream profile file")
    ap.add_argument("--commit", required=True, help="the upstream commit (40 hex digits)")
    ap.add_argument("--project", help="upstream repository, e.g. moby/profiles")
    ap.add_argument("--path", help="the file's path in the upstream repository")
    ap.add_argument("--url", help="a link to the file at that commit (default: GitHub's)")
    ap.add_argument("--runtime-caps", choices=("docker", "podman", "all", "none"),
                    help="capability set the profile compiles with by default")
    ap.add_argument("--dest", default=os.path.join(REPO, "seccomp_py", "profiles"),
                    help="the profiles directory (default: the package's)")
    args = ap.parse_args(argv)
    if not re.fullmatch(r"[a-z][a-z0-9_-]*", args.name):
        ap.error(f"bad name {args.name!r} (lower-case letters, digits, - and _)")
    if not re.fullmatch(r"[0-9a-f]{40}", args.commit):
        ap.error("--commit must be a full 40-digit commit hash")
    sources_path = os.path.join(args.dest, "SOURCES.json")
    with open(sources_path, encoding="utf-8") as fh:
        sources = json.load(fh)
    entry = dict(sources.get(args.name, {}))
    old_commit = entry.get("commit")
    for key in ("project", "path", "url", "runtime_caps"):
        value = getattr(args, key)
        if value is not None:
            entry[key] = value
    missing = [k for k in ("project", "path", "runtime_caps") if k not in entry]
    if missing:
        ap.error(f"a new built-in needs --{' --'.join(m.replace('_', '-') for m in missing)}")
    with open(args.file, "rb") as fh:
        data = fh.read()

    sys.path.insert(0, REPO)
    from seccomp_py.profile import Profile, ProfileError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            profile = Profile.loads(data)
            profile.to_filter(caps=entry["runtime_caps"]).close()
    except (ProfileError, ValueError, OSError) as exc:
        print(f"refresh-profiles: {args.file} is not a usable profile: {exc}", file=sys.stderr)
        return 1
    digest = hashlib.sha256(data).hexdigest()
    if args.url is None:
        entry["url"] = (f"https://github.com/{entry['project']}/blob/{args.commit}/"
                        f"{entry['path']}")
    entry.update(file=f"{args.name}.json", commit=args.commit, sha256=digest)
    entry.setdefault("license", "Apache-2.0")
    entry.setdefault("license_file", "LICENSE-Apache-2.0")
    entry.setdefault("copyright", "the upstream project's authors (see its repository)")
    sources[args.name] = entry
    target = os.path.join(args.dest, entry["file"])
    tmp = target + ".tmp"
    with open(tmp, "wb") as fh:
        fh.write(data)
    os.replace(tmp, target)
    with open(sources_path + ".tmp", "w", encoding="utf-8") as fh:
        json.dump(sources, fh, indent=2)
        fh.write("\n")
    os.replace(sources_path + ".tmp", sources_path)
    notice = os.path.join(args.dest, "NOTICE")
    if old_commit and os.path.exists(notice):
        with open(notice, encoding="utf-8") as fh:
            text = fh.read()
        with open(notice, "w", encoding="utf-8") as fh:
            fh.write(text.replace(old_commit, args.commit))
    print(f"refresh-profiles: {args.name}: {entry['project']} {entry['path']} at "
          f"{args.commit[:12]}, sha256 {digest[:16]}..., {len(profile.syscalls)} entries")
    return 0


if __name__ == "__main__":
    sys.exit(main())
