"""Profile documents for other runtimes: OCI, Docker, Kubernetes (Security Profiles Operator).

:func:`document` writes a :class:`~seccomp_py.profile.Profile` in one of :data:`FORMATS`,
with syscall groups expanded; :meth:`Profile.load` reads all three back.  See
docs/cli.md (``seccomp-py learn --format``) and docs/profiles.md.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from .profile_parser import K8S_API_VERSION, k8s_spec

if TYPE_CHECKING:  # pragma: no cover
    from .profile import Profile

__all__ = ["FORMATS", "K8S_API_VERSION", "document", "dumps", "k8s_name", "k8s_spec"]

FORMATS = ("oci", "docker", "k8s")
# the keys SeccompProfileSpec has (and baseProfileName, which seccomp_py cannot resolve)
_K8S_SPEC_KEYS = {"defaultAction", "architectures", "listenerPath", "listenerMetadata",
                  "syscalls", "flags"}
# the kernel runs these under a main arch: Docker lists them as its subArchitectures
_SUB_ARCHES = {
    "SCMP_ARCH_X86_64": ("SCMP_ARCH_X86", "SCMP_ARCH_X32"),
    "SCMP_ARCH_AARCH64": ("SCMP_ARCH_ARM",),
    "SCMP_ARCH_MIPS64": ("SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64N32"),
    "SCMP_ARCH_MIPSEL64": ("SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64N32"),
    "SCMP_ARCH_PPC64": ("SCMP_ARCH_PPC",),
    "SCMP_ARCH_S390X": ("SCMP_ARCH_S390",),
    "SCMP_ARCH_PARISC64": ("SCMP_ARCH_PARISC",),
}
_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def _flat_arches(profile: Profile) -> list[str]:
    if profile.architectures:
        return list(profile.architectures)
    out: list[str] = []
    for entry in profile.arch_map:
        for a in (entry.architecture, *entry.sub_architectures):
            if a not in out:
                out.append(a)
    return out


def _arch_map(arches: list[str]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    taken: set[str] = set()
    for a in arches:
        if a in _SUB_ARCHES:
            subs = [s for s in _SUB_ARCHES[a] if s in arches]
            out.append({"architecture": a, "subArchitectures": subs})
            taken.update((a, *subs))
    for a in arches:  # a sub-arch without its main arch stands alone
        if a not in taken:
            out.append({"architecture": a, "subArchitectures": []})
            taken.add(a)
    return out


def _no_conditions(profile: Profile, fmt: str) -> None:
    for i, entry in enumerate(profile.syscalls):
        if entry.includes or entry.excludes:
            raise ValueError(f"syscalls[{i}]: includes/excludes are Docker's (evaluated by "
                             f"moby when a container starts); the {fmt} format has no such "
                             "conditions: write it as docker, or drop them first")


def document(profile: Profile, format: str = "oci", *, name: str | None = None) -> dict[str, Any]:
    """The JSON object for ``format`` ("oci", "docker" or "k8s").

    ``name`` is the k8s object's ``metadata.name`` (a DNS subdomain name:
    lowercase letters, digits, '-' and '.'; required for k8s).  Raises
    ValueError for an unknown format, a bad name, or what the format cannot
    express (Docker's includes/excludes in oci/k8s; in k8s a
    defaultErrnoRet other than EPERM, which SeccompProfileSpec lacks).
    """
    if format not in FORMATS:
        raise ValueError(f"unknown profile format {format!r} (one of {', '.join(FORMATS)})")
    data = profile.to_dict()
    if format == "docker":
        arches = _flat_arches(profile)
        data.pop("architectures", None)
        data.pop("archMap", None)
        if arches:
            out: dict[str, Any] = {}
            for key, value in data.items():  # keep Docker's key order: archMap after errno
                if key == "syscalls":
                    out["archMap"] = _arch_map(arches)
                out[key] = value
            data = out
        return data
    _no_conditions(profile, format)
    arches = _flat_arches(profile)
    data.pop("archMap", None)
    if arches:
        data["architectures"] = arches
        data = {k: data[k] for k in ("defaultAction", "defaultErrnoRet", "architectures",
                                     "flags", "listenerPath", "listenerMetadata", "syscalls")
                if k in data}
    for entry in data.get("syscalls", []):
        entry.pop("comment", None)
    if format == "oci":
        return data
    errno_ret = data.pop("defaultErrnoRet", None)
    if errno_ret is not None and errno_ret != 1:
        raise ValueError(f"the k8s SeccompProfile has no defaultErrnoRet: the default action "
                         f"would return EPERM, not errno {errno_ret}; use defaultErrnoRet 1 "
                         "(EPERM) or another format")
    for entry in data.get("syscalls", []):
        if "errnoRet" in entry:  # SeccompProfileSpec's errnoRet is a string
            entry["errnoRet"] = str(entry["errnoRet"])
    if name is None:
        raise ValueError("a k8s SeccompProfile needs a name (metadata.name)")
    return {"apiVersion": K8S_API_VERSION, "kind": "SeccompProfile",
            "metadata": {"name": k8s_name(name)}, "spec": data}


def dumps(profile: Profile, format: str = "oci", *, name: str | None = None) -> str:
    """:func:`document` as JSON text (2-space indent, trailing newline)."""
    return json.dumps(document(profile, format, name=name), indent=2) + "\n"


def k8s_name(name: str) -> str:
    """Check a metadata.name (RFC 1123 subdomain, at most 253 characters)."""
    if not isinstance(name, str) or len(name) > 253 or not _NAME_RE.match(name):
        raise ValueError(f"{name!r} is not a Kubernetes object name (lowercase letters, "
                         "digits, '-' and '.', starting and ending with a letter or digit)")
    return name


def name_from(text: str) -> str:
    """A plausible object name from a file or command name ("My_App.json" -> "my-app")."""
    base = text.rsplit("/", 1)[-1]
    if base.endswith(".json"):
        base = base[:-5]
    cleaned = re.sub(r"[^a-z0-9.-]+", "-", base.lower()).strip("-.")
    cleaned = re.sub(r"\.{2,}", ".", cleaned)[:253].strip("-.")
    return cleaned or "seccomp-profile"
