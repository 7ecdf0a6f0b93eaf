"""Architectures (AUDIT_ARCH_* tokens) known to libseccomp.

See seccomp_arch_add(3).  The values are the kernel's AUDIT_ARCH constants, a
stable ABI; which of them the *linked* libseccomp supports is asked at run
time (:meth:`Arch.available`), since 2.6 added loongarch64, m68k and sh.
"""

from __future__ import annotations

import enum
import functools

from . import _kernel as _k
from ._native import lib
from .errors import UnknownArchError

# typing is not imported at run time (import time): see docs/benchmarks.md
TYPE_CHECKING = False


class Arch(enum.IntEnum):
    """An architecture token; ``Arch.NATIVE`` is the one this process runs on."""

    NATIVE = 0
    X86 = _k.AUDIT_ARCH_I386
    X86_64 = _k.AUDIT_ARCH_X86_64
    X32 = _k.SCMP_ARCH_X32
    ARM = _k.AUDIT_ARCH_ARM
    AARCH64 = _k.AUDIT_ARCH_AARCH64
    LOONGARCH64 = _k.AUDIT_ARCH_LOONGARCH64
    M68K = _k.AUDIT_ARCH_M68K
    MIPS = _k.AUDIT_ARCH_MIPS
    MIPSEL = _k.AUDIT_ARCH_MIPSEL
    MIPS64 = _k.AUDIT_ARCH_MIPS64
    MIPSEL64 = _k.AUDIT_ARCH_MIPSEL64
    MIPS64N32 = _k.AUDIT_ARCH_MIPS64N32
    MIPSEL64N32 = _k.AUDIT_ARCH_MIPSEL64N32
    PARISC = _k.AUDIT_ARCH_PARISC
    PARISC64 = _k.AUDIT_ARCH_PARISC64
    PPC = _k.AUDIT_ARCH_PPC
    PPC64 = _k.AUDIT_ARCH_PPC64
    PPC64LE = _k.AUDIT_ARCH_PPC64LE
    S390 = _k.AUDIT_ARCH_S390
    S390X = _k.AUDIT_ARCH_S390X
    RISCV64 = _k.AUDIT_ARCH_RISCV64
    SHEB = _k.AUDIT_ARCH_SHEB
    SH = _k.AUDIT_ARCH_SH

    @property
    def libseccomp_name(self) -> str:
        """The name libseccomp uses ("x86_64", "aarch64", ...)."""
        if self is Arch.NATIVE:
            return native().libseccomp_name
        return self.name.lower()

    @classmethod
    def native(cls) -> Arch:
        """The architecture of the running process (seccomp_arch_native(3))."""
        return native()

    @classmethod
    def from_name(cls, name: str) -> Arch:
        """Resolve a libseccomp arch name ("x86_64", "aarch64", "native").

        Raises UnknownArchError when the linked libseccomp does not know it.
        """
        return from_name(name)

    @classmethod
    def available(cls) -> tuple[Arch, ...]:
        """Every architecture the linked libseccomp supports."""
        return _available()

    def is_available(self) -> bool:
        """True when the linked libseccomp supports this architecture."""
        return self is Arch.NATIVE or self in _available()


if TYPE_CHECKING:
    from typing import Union

    ArchLike = Union[Arch, str, int]
else:
    def __getattr__(name: str) -> object:
        if name == "ArchLike":  # made on first use, so that typing is not imported before
            from typing import Union

            alias = globals()["ArchLike"] = Union[Arch, str, int]
            return alias
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@functools.cache
def native() -> Arch:
    """The architecture of the running process."""
    return Arch(int(lib.seccomp_arch_native()))


@functools.cache
def _available() -> tuple[Arch, ...]:
    found = []
    for arch in Arch:
        if arch is Arch.NATIVE:
            continue
        if int(lib.seccomp_arch_resolve_name(arch.name.lower().encode())) == int(arch):
            found.append(arch)
    return tuple(found)


def from_name(name: str) -> Arch:
    """Resolve ``name`` to an Arch; ``"native"`` gives the running one."""
    if not isinstance(name, str):
        raise TypeError(f"an arch name must be a str, not {type(name).__name__}")
    key = name.strip().lower()
    if key == "native":
        return native()
    token = int(lib.seccomp_arch_resolve_name(key.encode())) if key.isprintable() else 0
    if token == 0:
        raise UnknownArchError(name)
    try:
        return Arch(token)
    except ValueError:  # a libseccomp newer than this table
        raise UnknownArchError(name) from None


def coerce(arch: ArchLike) -> Arch:
    """Accept an Arch, a libseccomp name or an AUDIT_ARCH token.

    ``Arch.NATIVE`` (0) is resolved to the running architecture.
    Raises UnknownArchError or TypeError.
    """
    if isinstance(arch, Arch):
        return native() if arch is Arch.NATIVE else arch
    if isinstance(arch, str):
        return from_name(arch)
    if isinstance(arch, int) and not isinstance(arch, bool):
        if arch == 0:
            return native()
        try:
            found = Arch(arch)
        except ValueError:
            raise UnknownArchError(arch, func="Arch") from None
        if found not in _available():
            raise UnknownArchError(found.name.lower())
        return found
    raise TypeError(f"expected an Arch, a name or a token, not {type(arch).__name__}")


__all__ = ["Arch", "ArchLike", "coerce", "from_name", "native"]
