"""What the host (or the container runtime) gives a profile: capabilities,
the kernel version and the architecture names.

Profile compilation reads these (moby's includes/excludes on ``caps``,
``minKernel`` and ``arches``); the ``seccomp-py`` command turns its
``--caps``, ``--kernel`` and ``--arch`` options into them here.  See
docs/profiles.md.
"""

from __future__ import annotations

import errno as _errno
import os
import re
from collections.abc import Iterable

from . import arch as _arch
from .arch import Arch

__all__ = [
    "CAPABILITIES",
    "CAP_SETS",
    "DEFAULT_CAPS",
    "DOCKER_ARCHES",
    "arch_names",
    "caps_from_mask",
    "current_caps",
    "current_kernel",
    "docker_arch",
    "kernel_version",
    "named_caps",
    "normalize_caps",
    "parse_kernel",
    "resolve_caps",
    "target_arch",
]

#: The short arch names of includes/excludes "arches" (moby's names, from Go's GOARCH).
DOCKER_ARCHES: dict[Arch, str] = {
    Arch.X86: "x86",
    Arch.X86_64: "amd64",
    Arch.X32: "x32",
    Arch.ARM: "arm",
    Arch.AARCH64: "arm64",
    Arch.MIPS: "mips",
    Arch.MIPSEL: "mipsel",
    Arch.MIPS64: "mips64",
    Arch.MIPSEL64: "mipsel64",
    Arch.MIPS64N32: "mips64n32",
    Arch.MIPSEL64N32: "mips3l64n32",
    Arch.PPC: "ppc",
    Arch.PPC64: "ppc64",
    Arch.PPC64LE: "ppc64le",
    Arch.S390: "s390",
    Arch.S390X: "s390x",
    Arch.RISCV64: "riscv64",
    Arch.LOONGARCH64: "loong64",
    Arch.PARISC: "parisc",
    Arch.PARISC64: "parisc64",
    Arch.M68K: "m68k",
    Arch.SH: "sh",
    Arch.SHEB: "sheb",
}

#: Linux capability numbers (linux/capability.h), for reading /proc/self/status.
CAPABILITIES: tuple[str, ...] = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
    "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
    "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
    "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
    "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
)

#: Named capability sets for ``caps=`` (and ``--caps`` on the command line).
#: docker: moby's default for a container (oci/caps/defaults.go, 14 capabilities);
#: podman: containers/common's default_capabilities (pkg/config, 10 since v0.47:
#: Docker's minus CAP_AUDIT_WRITE, CAP_MKNOD, CAP_NET_RAW and CAP_SYS_CHROOT);
#: all: every capability (``--privileged``); none: an unprivileged process.
CAP_SETS: dict[str, frozenset[str]] = {
    "docker": frozenset({
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
        "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
        "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"}),
    "podman": frozenset({
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
        "CAP_NET_BIND_SERVICE", "CAP_SETFCAP", "CAP_SETGID", "CAP_SETPCAP", "CAP_SETUID"}),
    "all": frozenset(CAPABILITIES),
    "none": frozenset(),
}
#: The capability set of a profile that does not say which runtime it is for (a
#: user's file): none, as an unprivileged container (the strictest reading).
DEFAULT_CAPS = "none"

_MIN_KERNEL = re.compile(r"^(\d+)\.(\d+)")

# -- capabilities ---------------------------------------------------------------------------


def resolve_caps(caps: str | Iterable[str]) -> frozenset[str]:
    """A capability set from a set name (``"docker"``, ``"podman"``, ``"all"``,
    ``"none"``; see :data:`CAP_SETS`), a comma-separated string of names
    (``"CAP_SYS_ADMIN,sys_chroot"``; ``""`` for none) or a collection of names
    (with or without ``CAP_``, any case).

    Raises ValueError for a name that is not a Linux capability (with the
    closest names), TypeError for something that is not names.
    """
    if isinstance(caps, str):
        key = caps.strip().lower()
        if key in CAP_SETS:
            return CAP_SETS[key]
        caps = [c for c in (x.strip() for x in caps.split(",")) if c]
    out = normalize_caps(caps)
    bad = sorted(out - set(CAPABILITIES))
    if bad:
        import difflib

        hints = difflib.get_close_matches(bad[0], CAPABILITIES, n=3)
        hint = f" (did you mean {', '.join(hints)}?)" if hints else ""
        raise ValueError(f"unknown capability {bad[0]!r}{hint}; give names such as "
                         "CAP_SYS_ADMIN, or one of " + ", ".join(CAP_SETS))
    return out

def named_caps(spec: str) -> tuple[frozenset[str], str]:
    """:func:`resolve_caps` of ``spec`` (a set name or names, comma-separated)
    and what to call the result: the set's name (``"docker"``, ``"podman"``,
    ``"all"``, ``"none"``; ``""`` is ``"none"``) or ``"given"`` for a list of
    names.  Raises ValueError / TypeError as resolve_caps."""
    caps = resolve_caps(spec)
    key = spec.strip().lower() or "none"
    return caps, (key if key in CAP_SETS else "given")


def normalize_caps(caps: Iterable[str]) -> frozenset[str]:
    """``{"sys_admin", "CAP_BPF"}`` -> ``{"CAP_SYS_ADMIN", "CAP_BPF"}``."""
    if isinstance(caps, str):
        raise TypeError("caps must be a collection of names, not one string")
    out = set()
    for c in caps:
        if not isinstance(c, str):
            raise TypeError(f"a capability name must be a str, not {type(c).__name__}")
        name = c.strip().upper()
        if not name.startswith("CAP_"):
            name = "CAP_" + name
        out.add(name)
    return frozenset(out)


def caps_from_mask(mask: int) -> frozenset[str]:
    """Capability names of a bit mask (as in /proc/PID/status CapEff)."""
    return frozenset(name for bit, name in enumerate(CAPABILITIES) if mask >> bit & 1)


def current_caps(field: str = "CapEff") -> frozenset[str]:
    """This process's capabilities from /proc/self/status (``CapEff`` by
    default; ``CapBnd`` is the bounding set Docker uses).  Raises OSError."""
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            key, _, value = line.partition(":")
            if key == field:
                return caps_from_mask(int(value.strip(), 16))
    raise OSError(_errno.ENOENT, f"no {field} line in /proc/self/status")


# -- the kernel ------------------------------------------------------------------------------


def parse_kernel(version: str | tuple[int, int]) -> tuple[int, int]:
    """``"5.10.0-21-amd64"`` -> ``(5, 10)`` (moby compares major.minor only).

    Raises ValueError for a string that does not start with ``N.N``.
    """
    if isinstance(version, tuple):
        if len(version) != 2 or not all(isinstance(v, int) for v in version):
            raise ValueError(f"a kernel version is (major, minor), not {version!r}")
        return (version[0], version[1])
    m = _MIN_KERNEL.match(version)
    if not m:
        raise ValueError(f"cannot read kernel version {version!r} (expected e.g. '5.10')")
    return (int(m.group(1)), int(m.group(2)))


def current_kernel() -> tuple[int, int]:
    """The running kernel's major.minor (uname(2))."""
    return parse_kernel(os.uname().release)


def kernel_version(version: str | tuple[int, int] | None = None) -> tuple[int, int]:
    """:func:`parse_kernel` of ``version``, or the running kernel's for None
    (what minKernel is compared with).  Raises ValueError."""
    return current_kernel() if version is None else parse_kernel(version)

def target_arch(arch: Arch | str | int | None = None) -> Arch:
    """An Arch from a libseccomp name, a Docker short name (``amd64``,
    ``arm64``...), a token, or None (native).  Raises UnknownArchError."""
    if arch is None:
        return _arch.native()
    if isinstance(arch, str):
        key = arch.strip().lower()
        for a, short in DOCKER_ARCHES.items():
            if key == short and a.is_available():
                return a
    return _arch.coerce(arch)


def arch_names() -> list[str]:
    """The libseccomp names of the arches this libseccomp compiles for (what
    :func:`target_arch` accepts besides Docker's short names)."""
    return [a.libseccomp_name for a in Arch if a is not Arch.NATIVE and a.is_available()]


def docker_arch(arch: Arch | str | int | None = None) -> str:
    """The short name includes/excludes use for ``arch`` (default: native): ``amd64``..."""
    a = target_arch(arch)
    return DOCKER_ARCHES.get(a, a.name.lower())
