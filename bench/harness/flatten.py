"""Flatten a Docker / Podman seccomp profile into one flat rule list for one arch.

Every benchmark peer (C, seccomp_py, libseccomp's official module, pyseccomp,
seccompy) builds its filter from the *same* flat list, so that scenario 1
compares libraries and not profile interpretations.

    python bench/harness/flatten.py seccomp_py/profiles/docker.json \
        [--arch amd64] [--caps all|none|CAP_A,CAP_B] [--kernel 6.1] \
        [--json out.json] [--text out.txt]

Choices (the same as moby's profile code, see docs/benchmarks.md):

- arch: the running machine's arch in Docker's short names (x86_64 -> amd64).
  Only the native arch is flattened; the profile's archMap sub-arches (x86,
  x32 on amd64) are *not* added, because seccompy can only build native
  filters.  The x32 ABI is then handled by each library's native-arch logic.
- caps: "all" (the default) = every capability up to CAP_LAST_CAP, like a
  root container started with --privileged=false but all caps added.  An
  entry's ``includes.caps`` needs *all* its caps, ``excludes.caps`` drops the
  entry when *any* of its caps is held (moby).
- kernel: the running kernel's major.minor; ``includes.minKernel`` needs
  kernel >= it, ``excludes.minKernel`` drops the entry when kernel >= it.
- One rule per (name, entry); entries with ``args`` keep them (the ops stay
  as SCMP_CMP_* names; ``value``/``valueTwo`` as in the profile).  Two
  conditions on the same argument index in one entry are split into
  separate rules (OR), like runc; conditions on different indexes are ANDed.
- Rules whose action equals the default action are skipped (libseccomp
  refuses them), as moby/runc do.
- A name libseccomp does not map to a real (>= 0) syscall number on the arch
  is skipped and listed under ``skipped`` with the reason.
- Exact duplicates (same name, action and conditions) are kept once.

The text form (--text) is what the C driver reads: a ``default ACTION`` line,
then one line per rule: ``NAME ACTION NCMP [INDEX OP DATUM_A DATUM_B]...``
with ACTION the 32-bit libseccomp action value and OP the SCMP_CMP_* number.
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import json
import os
import platform
import sys
from typing import Any

#: Docker's short arch names for platform.machine() values.
DOCKER_ARCH = {
    "x86_64": "amd64", "amd64": "amd64", "i386": "x86", "i686": "x86",
    "aarch64": "arm64", "arm64": "arm64", "armv7l": "arm", "ppc64le": "ppc64le",
    "s390x": "s390x", "riscv64": "riscv64", "mips64": "mips64",
}
#: libseccomp arch tokens (AUDIT_ARCH_*) for Docker's short names.
SCMP_ARCH = {
    "amd64": 0xC000003E, "x86": 0x40000003, "arm64": 0xC00000B7, "arm": 0x40000028,
    "ppc64le": 0xC0000015, "s390x": 0x80000016, "riscv64": 0xC00000F3,
}
#: Linux capabilities (linux/capability.h), 0..CAP_LAST_CAP (40 on 5.9+).
ALL_CAPS = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
    "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK",
    "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
    "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
)

OPS = {"SCMP_CMP_NE": 1, "SCMP_CMP_LT": 2, "SCMP_CMP_LE": 3, "SCMP_CMP_EQ": 4,
       "SCMP_CMP_GE": 5, "SCMP_CMP_GT": 6, "SCMP_CMP_MASKED_EQ": 7}
ACTIONS = {"SCMP_ACT_KILL_PROCESS": 0x80000000, "SCMP_ACT_KILL_THREAD": 0x00000000,
           "SCMP_ACT_KILL": 0x00000000, "SCMP_ACT_TRAP": 0x00030000,
           "SCMP_ACT_ERRNO": 0x00050000, "SCMP_ACT_TRACE": 0x7FF00000,
           "SCMP_ACT_LOG": 0x7FFC0000, "SCMP_ACT_ALLOW": 0x7FFF0000,
           "SCMP_ACT_NOTIFY": 0x7FC00000}
EPERM = 1
NR_SCMP_ERROR = -1  # __NR_SCMP_ERROR


def action_value(name: str, errno_ret: int | None, default_errno: int = EPERM) -> int:
    """The 32-bit libseccomp action for a profile action name (errnoRet for ERRNO/TRACE)."""
    if name not in ACTIONS:
        raise ValueError(f"unknown action {name!r}")
    base = ACTIONS[name]
    if name == "SCMP_ACT_ERRNO":
        return base | ((default_errno if errno_ret is None else errno_ret) & 0xFFFF)
    if name == "SCMP_ACT_TRACE":
        return base | ((errno_ret or 0) & 0xFFFF)
    return base


def running_kernel() -> tuple[int, int]:
    major, minor = platform.release().split(".")[:2]
    return int(major), int("".join(ch for ch in minor if ch.isdigit()) or 0)


def _kver(text: str) -> tuple[int, int]:
    parts = text.split(".")
    return int(parts[0]), int(parts[1]) if len(parts) > 1 else 0


def _resolver(arch: str) -> Any:
    """name -> number on ``arch`` via libseccomp itself (neutral: no peer library)."""
    path = ctypes.util.find_library("seccomp")
    if path is None:
        return None
    lib = ctypes.CDLL(path)
    lib.seccomp_syscall_resolve_name_arch.argtypes = (ctypes.c_uint32, ctypes.c_char_p)
    lib.seccomp_syscall_resolve_name_arch.restype = ctypes.c_int
    token = SCMP_ARCH.get(arch)
    if token is None:
        return None
    return lambda name: lib.seccomp_syscall_resolve_name_arch(token, name.encode())


def _selected(entry: dict[str, Any], arch: str, caps: set[str],
              kernel: tuple[int, int]) -> bool:
    exc = entry.get("excludes") or {}
    inc = entry.get("includes") or {}
    if arch in (exc.get("arches") or []):
        return False
    if any(c in caps for c in exc.get("caps") or []):
        return False
    if exc.get("minKernel") and kernel >= _kver(exc["minKernel"]):
        return False
    if inc.get("arches") and arch not in inc["arches"]:
        return False
    if inc.get("caps") and not all(c in caps for c in inc["caps"]):
        return False
    return not (inc.get("minKernel") and kernel < _kver(inc["minKernel"]))


def _split_args(args: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """runc: conditions on distinct indexes are ANDed; a repeated index starts an OR."""
    if not args:
        return [[]]
    by_index: dict[int, list[dict[str, Any]]] = {}
    for a in args:
        by_index.setdefault(int(a["index"]), []).append(a)
    if all(len(v) == 1 for v in by_index.values()):
        return [list(args)]
    # one rule per condition, as runc does when an index repeats
    return [[a] for a in args]


def flatten(profile: dict[str, Any], arch: str | None = None, caps: Any = "all",
            kernel: tuple[int, int] | None = None) -> dict[str, Any]:
    """Flatten ``profile`` (parsed JSON) for ``arch`` (Docker short name).

    ``caps`` is "all", "none" or an iterable of CAP_* names; ``kernel`` a
    (major, minor) tuple, default the running kernel.  Returns a dict (see
    the module docstring); raises ValueError for an unknown action or op.
    """
    arch = arch or DOCKER_ARCH.get(platform.machine(), platform.machine())
    capset = set(ALL_CAPS) if caps == "all" else set() if caps in (None, "none") else set(caps)
    kernel = kernel or running_kernel()
    default_errno = int(profile.get("defaultErrnoRet", EPERM))
    default_name = profile["defaultAction"]
    default = action_value(default_name, profile.get("defaultErrnoRet"), default_errno)
    resolve = _resolver(arch)
    rules: list[dict[str, Any]] = []
    skipped: list[dict[str, str]] = []
    seen: set[tuple[Any, ...]] = set()
    for entry in profile.get("syscalls") or []:
        if not _selected(entry, arch, capset, kernel):
            continue
        names = list(entry.get("names") or []) + ([entry["name"]] if entry.get("name") else [])
        act = action_value(entry["action"], entry.get("errnoRet"), default_errno)
        for conds in _split_args(entry.get("args") or []):
            args = []
            for c in conds:
                if c["op"] not in OPS:
                    raise ValueError(f"unknown op {c['op']!r}")
                args.append({"index": int(c["index"]), "op": c["op"],
                             "value": int(c.get("value", 0)),
                             "valueTwo": int(c.get("valueTwo", 0))})
            for name in names:
                if act == default:
                    skipped.append({"name": name, "reason": "action equals the default"})
                    continue
                if resolve is not None:
                    nr = resolve(name)
                    if nr < 0:
                        why = ("unknown to this libseccomp" if nr == NR_SCMP_ERROR
                               else f"pseudo-syscall {nr}: not a real syscall on {arch}")
                        skipped.append({"name": name, "reason": why})
                        continue
                key = (name, act, tuple(tuple(sorted(a.items())) for a in args))
                if key in seen:
                    continue
                seen.add(key)
                rules.append({"name": name, "action": entry["action"], "action_value": act,
                              "args": args})
    return {"arch": arch, "caps": "all" if caps == "all" else sorted(capset),
            "kernel": f"{kernel[0]}.{kernel[1]}", "default_action": default_name,
            "default_value": default, "rules": rules, "skipped": skipped}


def to_text(flat: dict[str, Any]) -> str:
    """The line format the C drivers read (see the module docstring)."""
    lines = [f"default {flat['default_value']:#x}"]
    for r in flat["rules"]:
        parts = [r["name"], f"{r['action_value']:#x}", str(len(r["args"]))]
        for a in r["args"]:
            # libseccomp's MASKED_EQ: datum_a = mask, datum_b = value (profile: value, valueTwo)
            parts += [str(a["index"]), str(OPS[a["op"]]), str(a["value"]), str(a["valueTwo"])]
        lines.append(" ".join(parts))
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("profile")
    p.add_argument("--arch", default=None, help="Docker arch name (default: running arch)")
    p.add_argument("--caps", default="all", help="all, none, or CAP_A,CAP_B")
    p.add_argument("--kernel", default=None, help="major.minor (default: running kernel)")
    p.add_argument("--json", help="write the flat list as JSON here")
    p.add_argument("--text", help="write the C driver's line format here")
    ns = p.parse_args(argv)
    with open(ns.profile) as fh:
        profile = json.load(fh)
    caps: Any = ns.caps if ns.caps in ("all", "none") else ns.caps.split(",")
    flat = flatten(profile, ns.arch, caps, _kver(ns.kernel) if ns.kernel else None)
    flat["source"] = os.path.basename(ns.profile)
    if ns.json:
        with open(ns.json, "w") as fh:
            json.dump(flat, fh, indent=1)
    if ns.text:
        with open(ns.text, "w") as fh:
            fh.write(to_text(flat))
    if not ns.json and not ns.text:
        json.dump(flat, sys.stdout, indent=1)
        print()
    print(f"flatten: {len(flat['rules'])} rules for {flat['arch']}, "
          f"{len(flat['skipped'])} skipped", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
