"""Syscall names and numbers, per architecture (seccomp_syscall_resolve_name(3)).

Resolution is cached: a name or number is asked of libseccomp once per arch.
"""

from __future__ import annotations

import functools

from . import arch as _arch
from ._kernel import X32_SYSCALL_BIT
from ._native import ffi, lib
from .arch import Arch
from .errors import InvalidArgumentError, UnknownSyscallError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

    from .arch import ArchLike

# Native name -> libseccomp number, filled by libseccomp_number(): the fast
# path of Filter.add_rule and Syscall.from_name (a plain dict lookup).
_NATIVE_NUMBERS: dict[str, int] = {}
# (name, arch as given) -> Syscall, filled by Syscall.from_name.
_SYSCALLS: dict[tuple[str, object], Syscall] = {}
# name -> Syscall on Arch.NATIVE (the common case of from_name)
_NATIVE_SYSCALLS: dict[str, Syscall] = {}

_NR_ERROR = int(lib.__NR_SCMP_ERROR)
_NATIVE = _arch.native()
_NATIVE_TOKEN = Arch.NATIVE
_NATIVE_INT = int(_NATIVE)
_NAME_BUF = 128

# Where each ABI's syscall numbers start, and how far past it to look when
# listing every name libseccomp knows.
_RANGES: dict[Arch, tuple[tuple[int, int], ...]] = {
    Arch.X32: ((X32_SYSCALL_BIT, X32_SYSCALL_BIT + 1100),),
    Arch.MIPS: ((4000, 5100),),
    Arch.MIPSEL: ((4000, 5100),),
    Arch.MIPS64: ((5000, 6100),),
    Arch.MIPSEL64: ((5000, 6100),),
    Arch.MIPS64N32: ((6000, 7100),),
    Arch.MIPSEL64N32: ((6000, 7100),),
    Arch.ARM: ((0, 1100), (0x0F0000, 0x0F0010)),
}
_DEFAULT_RANGE = ((0, 1100),)


@functools.lru_cache(maxsize=8192)
def _resolve_name(arch: Arch, name: str) -> int:
    return int(lib.seccomp_syscall_resolve_name_arch(int(arch), name.encode()))


@functools.lru_cache(maxsize=8192)
def _resolve_number(arch: Arch, number: int) -> str | None:
    buf = ffi.new("char[]", _NAME_BUF)
    rc = lib.spy_syscall_name(int(arch), number, buf, _NAME_BUF)
    if rc < 0:
        return None
    return str(ffi.string(buf).decode())


@functools.lru_cache(maxsize=64)
def _table(arch: Arch) -> dict[str, int]:
    """name -> kernel number for every number libseccomp knows on ``arch``.

    A number is kept only when libseccomp maps its name back to it, or to a
    negative pseudo-syscall (the multiplexed socket and ipc calls on x86,
    s390, ppc and mips, whose direct numbers are real since Linux 4.3): this
    drops the aliases libseccomp's number lookup accepts (mips resolves both
    0 and 4000 to "syscall").
    """
    found: dict[str, int] = {}
    buf = ffi.new("char[]", _NAME_BUF)  # one buffer for the scan (not one per number)
    token = int(arch)
    for lo, hi in _RANGES.get(arch, _DEFAULT_RANGE):
        for nr in range(lo, hi):
            if lib.spy_syscall_name(token, nr, buf, _NAME_BUF) < 0:
                continue
            name = ffi.string(buf).decode()
            if name in found:
                continue
            back = _resolve_name(arch, name)
            if back == nr or (back < 0 and back != _NR_ERROR):
                found[name] = nr
    return found


@functools.lru_cache(maxsize=64)
def names(arch: ArchLike = Arch.NATIVE) -> tuple[str, ...]:
    """Every syscall name that has a real (kernel) number on ``arch``, sorted."""
    return tuple(sorted(_table(_arch.coerce(arch))))


def similar_names(name: str, arches: Iterable[ArchLike] = (Arch.NATIVE,),
                  n: int = 2) -> list[str]:
    """Up to ``n`` syscall names of ``arches`` closest to ``name`` (a misspelt or
    unknown name: ``"openat3"`` -> ``["openat2", "openat"]``), best first."""
    import difflib

    known: set[str] = set()
    for a in arches:
        known.update(names(a))
    return difflib.get_close_matches(name, sorted(known), n=n)


def _check_name(name: object) -> str:
    if not isinstance(name, str):
        raise TypeError(f"a syscall name must be a str, not {type(name).__name__}")
    if not name or not name.isprintable() or "\x00" in name or len(name) > 64:
        raise InvalidArgumentError(func="Syscall.from_name", detail=f"bad syscall name {name!r}")
    return name


def libseccomp_number(name: str, arch: ArchLike = Arch.NATIVE) -> int:
    """The number libseccomp itself gives ``name`` (seccomp_syscall_resolve_name_arch(3)).

    Differs from :func:`resolve_name` only for the multiplexed socket and ipc
    calls, where libseccomp answers with a negative pseudo-syscall number.
    This is the number filter rules use.  Raises UnknownSyscallError.
    """
    if arch is _NATIVE_TOKEN or arch is _NATIVE:
        if type(name) is str:
            found = _NATIVE_NUMBERS.get(name)
            if found is not None:
                return found
        a = _NATIVE
    else:
        a = _arch.coerce(arch)
    _check_name(name)
    if a is _NATIVE:
        # kept in _NATIVE_NUMBERS below: no need for _resolve_name's lru_cache
        number = int(lib.seccomp_syscall_resolve_name_arch(_NATIVE_INT, name.encode()))
    else:
        number = _resolve_name(a, name)
    if number == _NR_ERROR:
        import difflib  # only for the "did you mean" of the error

        close = difflib.get_close_matches(name, names(a), n=3, cutoff=0.6)
        raise UnknownSyscallError(name, a.libseccomp_name, close)
    if a is _NATIVE and type(name) is str:
        _NATIVE_NUMBERS[name] = number
    return number


def native_number(name: str) -> int:
    """libseccomp_number(name) on the native arch, from a dict when seen before."""
    found = _NATIVE_NUMBERS.get(name) if type(name) is str else None
    return libseccomp_number(name) if found is None else found


def resolve_name(name: str, arch: ArchLike = Arch.NATIVE) -> int:
    """The kernel's number for syscall ``name`` on ``arch``.

    Where the kernel has no number of its own for the name (a socket call on
    an old multiplexing ABI, libseccomp's own pseudo-syscalls) the result is
    libseccomp's negative pseudo-syscall number.  Raises UnknownSyscallError
    (a LookupError and ValueError) with close matches.
    """
    a = _NATIVE if arch is _NATIVE_TOKEN or arch is _NATIVE else _arch.coerce(arch)
    number = libseccomp_number(name, a)
    if number < 0:
        return _table(a).get(name, number)
    return number


def resolve_number(number: int, arch: ArchLike = Arch.NATIVE) -> str:
    """The name of syscall ``number`` on ``arch``; raises UnknownSyscallError.

    Negative pseudo-syscall numbers of libseccomp resolve too.
    """
    a = _arch.coerce(arch)
    if isinstance(number, bool) or not isinstance(number, int):
        raise TypeError(f"a syscall number must be an int, not {type(number).__name__}")
    name = _resolve_number(a, number) if -(2**31) <= number < 2**31 else None
    if (name is not None and number != _resolve_name(a, name)
            and number != _table(a).get(name)):
        name = None  # an alias libseccomp's lookup tolerates, not the number
    if name is None:
        raise UnknownSyscallError(str(number), a.libseccomp_name,
                                  func="seccomp_syscall_resolve_num_arch")
    return name


def libseccomp_name(number: int, arch: ArchLike = Arch.NATIVE) -> str:
    """The name libseccomp's own lookup gives ``number`` on ``arch``.

    Unlike :func:`resolve_number` this accepts the aliases libseccomp
    tolerates (e.g. an x32 number without bit 30), as libseccomp's official
    Python module does.  Raises UnknownSyscallError.
    """
    a = _arch.coerce(arch)
    if isinstance(number, bool) or not isinstance(number, int):
        raise TypeError(f"a syscall number must be an int, not {type(number).__name__}")
    name = _resolve_number(a, number) if -(2**31) <= number < 2**31 else None
    if name is None:
        raise UnknownSyscallError(str(number), a.libseccomp_name,
                                  func="seccomp_syscall_resolve_num_arch")
    return name


class Syscall:
    """A system call on one architecture: its name and its number there.

    Build with :meth:`from_name` or :meth:`from_number`; :meth:`with_arch`
    gives the same call on another arch.  Immutable and hashable.
    Raises UnknownSyscallError for names or numbers libseccomp does not know.

    Attributes (read-only): ``name``, the syscall's name; ``number``, its
    number on ``arch`` (negative for libseccomp pseudo-syscalls); ``arch``,
    the architecture the number belongs to.
    """

    # plain slots, not properties: reading ``number`` is the hot path of warm
    # resolution (docs/benchmarks.md, scenario 2); __setattr__ refuses changes
    __slots__ = ("arch", "name", "number")

    name: str
    number: int
    arch: Arch

    def __init__(self, name: str, number: int, arch: Arch) -> None:
        _set_name(self, name)
        _set_number(self, number)
        _set_arch(self, arch)

    @classmethod
    def from_name(cls, name: str, arch: ArchLike = Arch.NATIVE) -> Syscall:
        """Resolve ``name`` on ``arch`` (default: native).  Cached per (name, arch)."""
        if arch is _NATIVE_TOKEN and type(name) is str and cls is Syscall:
            # the common case first: a plain dict keyed by the name (hashing
            # an Arch member runs Enum.__hash__ in Python)
            found = _NATIVE_SYSCALLS.get(name)
            if found is not None:
                return found
            made = cls(name, resolve_name(name, _NATIVE), _NATIVE)
            if len(_NATIVE_SYSCALLS) < 65536:
                _NATIVE_SYSCALLS[name] = made
            return made
        cacheable = cls is Syscall and type(name) is str and (
            type(arch) is Arch or type(arch) is str)
        if cacheable:
            found = _SYSCALLS.get((name, arch))
            if found is not None:
                return found
        a = _NATIVE if arch is _NATIVE_TOKEN or arch is _NATIVE else _arch.coerce(arch)
        made = cls(name, resolve_name(name, a), a)
        if cacheable and len(_SYSCALLS) < 65536:
            _SYSCALLS[(name, arch)] = made
        return made

    @classmethod
    def from_number(cls, number: int, arch: ArchLike = Arch.NATIVE) -> Syscall:
        """Resolve ``number`` on ``arch`` (default: native)."""
        a = _arch.coerce(arch)
        return cls(resolve_number(number, a), number, a)

    @classmethod
    def coerce(cls, syscall: Syscall | str | int) -> Syscall:
        """Accept a Syscall, a name, or a native syscall number."""
        if isinstance(syscall, Syscall):
            return syscall
        if isinstance(syscall, str):
            return cls.from_name(syscall)
        if isinstance(syscall, int) and not isinstance(syscall, bool):
            return cls.from_number(syscall)
        raise TypeError(f"expected a Syscall, a name or a number, not {type(syscall).__name__}")

    def with_arch(self, arch: ArchLike) -> Syscall:
        """The same syscall (by name) on another architecture."""
        return Syscall.from_name(self.name, arch)

    @property
    def native_number(self) -> int:
        """The number libseccomp expects in rules: libseccomp's native resolution
        of the name (negative for a pseudo-syscall)."""
        return libseccomp_number(self.name, Arch.NATIVE)

    def name_on(self, arch: ArchLike) -> str:
        """The name that this syscall's *number* has on ``arch``."""
        return resolve_number(self.number, arch)

    def number_on(self, arch: ArchLike) -> int:
        """This syscall's number (by name) on ``arch``."""
        return resolve_name(self.name, arch)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Syscall):
            return (self.name, self.number, self.arch) == (
                other.name, other.number, other.arch)
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self.name, self.number, self.arch))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Syscall is immutable")

    def __reduce__(self) -> tuple[type[Syscall], tuple[str, int, Arch]]:
        return (Syscall, (self.name, self.number, self.arch))

    def __repr__(self) -> str:
        return f"Syscall({self.name!r}, {self.number}, {self.arch.name})"

    def __str__(self) -> str:
        return self.name


# the slots' own setters (Syscall.__setattr__ refuses every change)
_set_name = vars(Syscall)["name"].__set__
_set_number = vars(Syscall)["number"].__set__
_set_arch = vars(Syscall)["arch"].__set__

if TYPE_CHECKING:
    from typing import Union

    SyscallLike = Union[Syscall, str, int]
else:
    def __getattr__(name: str) -> object:
        if name == "SyscallLike":  # made on first use (typing is not imported before)
            from typing import Union

            alias = globals()["SyscallLike"] = Union[Syscall, str, int]
            return alias
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
