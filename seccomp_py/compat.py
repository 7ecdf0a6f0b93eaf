"""Drop-in replacement for libseccomp's own Python module (``import seccomp``).

``import seccomp_py.compat as seccomp``, or :func:`install` / ``python -m seccomp_py.compat
script.py`` to keep ``import seccomp`` lines: same names, constants and BPF/PFC output, with
the official module's bugs fixed.  See seccomp_rule_add(3), seccomp_export_bpf(3),
seccomp_notify_alloc(3), and docs/compat.md (every difference, and why).
"""

from __future__ import annotations

import contextlib
import errno
import functools
import importlib.util
import operator
import os
import sys
from types import ModuleType
from typing import IO, Any, Callable, TypeVar, cast

from . import arch as _arch
from ._kernel import SECCOMP_RET_DATA
from ._native import HAS_WAIT_KILL, check, ffi, lib
from .action import Action, ActionKind
from .arch import Arch as _CoreArch
from .arg import ArgCmp, Op
from .attribute import Attribute
from .errors import (
    AlreadyLoadedError,
    AlreadyLoadedLibraryError,
    ArgumentOverflowError,
    ExportTargetError,
    FilterClosedError,
    FilterClosedLibraryError,
    FilterTooLargeError,
    FilterTooLargeLibraryError,
    InvalidArgumentError,
    InvalidArgumentLibraryError,
    LibraryError,
    NotAFileError,
    SeccompError,
    UnknownArchError,
    UnknownArchLibraryError,
    UnknownSyscallError,
    UnknownSyscallLibraryError,
    UnsupportedError,
    UnsupportedLibraryError,
)
from .filter import Filter
from .syscall import libseccomp_name

__all__ = [
    "ALLOW",
    "EQ",
    "ERRNO",
    "GE",
    "GT",
    "KILL",
    "KILL_PROCESS",
    "LE",
    "LOG",
    "LT",
    "MASKED_EQ",
    "NE",
    "NOTIFY",
    "TRACE",
    "TRAP",
    "Arch",
    "Arg",
    "Attr",
    "Notification",
    "NotificationAddfd",
    "NotificationResponse",
    "SyscallFilter",
    "c_str",
    "errno",  # the official module's star-import exports its `errno` import too
    "get_api",
    "resolve_syscall",
    "set_api",
    "system_arch",
]

F = TypeVar("F", bound=Callable[..., Any])

_U32 = 0xFFFFFFFF
_U64 = 0xFFFFFFFFFFFFFFFF
_MAX_ARGS = 6


def _s32(value: int) -> int:
    """A 32-bit value as the signed C int the official module exposes."""
    value &= _U32
    return value - (1 << 32) if value & 0x80000000 else value


# ----------------------------------------------------------------------------------
# Exceptions (defined in seccomp_py.errors): SeccompError subclasses that are also
# the builtins the official module raised, so that old ``except RuntimeError``
# clauses still catch them.
# ----------------------------------------------------------------------------------


_TWINS: dict[type[SeccompError], type[SeccompError]] = {
    SeccompError: LibraryError,
    InvalidArgumentError: InvalidArgumentLibraryError,
    UnknownSyscallError: UnknownSyscallLibraryError,
    UnknownArchError: UnknownArchLibraryError,
    FilterTooLargeError: FilterTooLargeLibraryError,
    UnsupportedError: UnsupportedLibraryError,
    FilterClosedError: FilterClosedLibraryError,
    AlreadyLoadedError: AlreadyLoadedLibraryError,
}


def _as_library_error(exc: SeccompError) -> SeccompError:
    """Give ``exc`` the RuntimeError twin of its class (same attributes, same traceback).

    An ArgumentOverflowError is kept as it is: the official module raises a
    plain OverflowError there, not a RuntimeError.
    """
    if isinstance(exc, (RuntimeError, OverflowError)):
        return exc
    twin = _TWINS.get(type(exc))
    if twin is not None:
        exc.__class__ = twin
        return exc
    # A subclass we have no twin for: wrap it, keeping errno and the C function.
    new = LibraryError(exc.errno or errno.EIO, getattr(exc, "func", ""),
                       getattr(exc, "detail", str(exc)))
    new.__cause__ = exc
    return new


def _library_errors(func: F) -> F:
    """Raise every SeccompError from ``func`` as its RuntimeError twin."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except SeccompError as exc:
            new = _as_library_error(exc)
            if new is exc:
                raise
            raise new from exc

    return cast(F, wrapper)


def _library_error(errnum: int, func: str, detail: str = "") -> SeccompError:
    if errnum == errno.EINVAL:
        return InvalidArgumentLibraryError(errnum, func, detail)
    return LibraryError(errnum, func, detail)


def _c_int(value: object, what: str, lo: int, hi: int) -> int:
    """Convert like Cython does for a C integer parameter: TypeError, OverflowError."""
    try:
        number = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"{what}: an integer is required, not {type(value).__name__}") from None
    if not lo <= number <= hi:
        raise ArgumentOverflowError(f"{what} {number} does not fit in the C type "
                                    f"({lo}..{hi})", func=what)
    return number


class _CInt:
    """A writable property holding a C integer in ``lo..hi``, converted like
    Cython converts it (TypeError, OverflowError), stored in ``_<name>``."""

    def __init__(self, doc: str, lo: int, hi: int) -> None:
        self.__doc__ = doc
        self.lo = lo
        self.hi = hi
        self.name = self.slot = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name
        self.slot = "_" + name

    def __get__(self, obj: object, owner: type | None = None) -> Any:
        if obj is None:
            return self
        return getattr(obj, self.slot)

    def __set__(self, obj: object, value: int) -> None:
        setattr(obj, self.slot, _c_int(value, self.name, self.lo, self.hi))


# ----------------------------------------------------------------------------------
# Actions and comparison operators (the official module's module-level ints)
# ----------------------------------------------------------------------------------

KILL_PROCESS = _s32(ActionKind.KILL_PROCESS)
KILL = _s32(ActionKind.KILL_THREAD)
TRAP = _s32(ActionKind.TRAP)
LOG = _s32(ActionKind.LOG)
ALLOW = _s32(ActionKind.ALLOW)
NOTIFY = _s32(ActionKind.NOTIFY)

_ERRNO_BASE = int(ActionKind.ERRNO)
_TRACE_BASE = int(ActionKind.TRACE)


def ERRNO(errno: int) -> int:
    """The action ERRNO(x): the syscall fails with errno ``x``.

    Same value as SCMP_ACT_ERRNO(x): only the low 16 bits of ``x`` are kept; a value
    libseccomp refuses (above 4094 with libseccomp 2.5) fails when the action is
    used, as officially.  Raises TypeError for a non-integer.
    """
    value = _c_int(errno, "ERRNO", -(2**31), 2**31 - 1)
    return _s32(_ERRNO_BASE | (value & SECCOMP_RET_DATA))


def TRACE(value: int) -> int:
    """The action TRACE(x): a ptrace tracer gets ``x`` via PTRACE_EVENT_SECCOMP.

    Same value as SCMP_ACT_TRACE(x) (low 16 bits kept).  Raises TypeError for a
    non-integer.
    """
    data = _c_int(value, "TRACE", -(2**31), 2**31 - 1)
    return _s32(_TRACE_BASE | (data & SECCOMP_RET_DATA))


NE = int(Op.NE)
LT = int(Op.LT)
LE = int(Op.LE)
EQ = int(Op.EQ)
GE = int(Op.GE)
GT = int(Op.GT)
MASKED_EQ = int(Op.MASKED_EQ)


def _action(value: object, func: str) -> Action:
    """An official action int (signed or unsigned) as a core Action.

    Raises TypeError, ArgumentOverflowError or InvalidArgumentError.
    """
    number = _c_int(value, "action", -(2**31), _U32)
    return Action(number & _U32)


# ----------------------------------------------------------------------------------
# Module-level functions
# ----------------------------------------------------------------------------------


def c_str(string: str) -> bytes:
    """Convert a Python string to the ASCII bytes handed to C (official helper)."""
    return bytes(string, "ascii")


def system_arch() -> int:
    """Return the native architecture token (unsigned, as the official module does)."""
    return int(_arch.native())


def _arch_token(value: object) -> _CoreArch:
    """An arch given as a signed or unsigned token, an Arch object, or a name."""
    if isinstance(value, Arch):
        return value._arch
    if isinstance(value, str):
        return _arch.from_name(value)
    number = _c_int(value, "architecture", -(2**31), _U32)
    return _arch.coerce(number & _U32)


@_library_errors
def resolve_syscall(arch: int | Arch, syscall: str | int) -> int | bytes:
    """Resolve a syscall name to its number on ``arch``, or a number to its name.

    As in the official module: a name gives the number with libseccomp's
    multiplexer rewriting (seccomp_syscall_resolve_name_rewrite(3)), and -1
    (``__NR_SCMP_ERROR``) when unknown; a number gives the name as ``bytes`` and
    raises ValueError (UnknownSyscallError) when unknown.  TypeError otherwise.
    """
    token = _arch_token(arch)
    if isinstance(syscall, bytes):
        syscall = syscall.decode("ascii")
    if isinstance(syscall, str):
        if "\x00" in syscall:
            return -1
        return int(lib.seccomp_syscall_resolve_name_rewrite(int(token), syscall.encode()))
    if isinstance(syscall, int):
        return libseccomp_name(syscall, token).encode()
    raise TypeError("Syscall must either be an int or str type")


def get_api() -> int:
    """Return libseccomp's API level (seccomp_api_get(3))."""
    level = int(lib.seccomp_api_get())
    if level < 0:  # pragma: no cover - seccomp_api_get returns an unsigned level
        raise _library_error(-level, "seccomp_api_get")
    return level


@_library_errors
def set_api(level: int) -> None:
    """Force libseccomp's API level (seccomp_api_set(3)); strongly discouraged.

    Raises ValueError (InvalidArgumentError) for a level libseccomp refuses.
    """
    number = _c_int(level, "level", 0, _U32)
    check(lib.seccomp_api_set(number), "seccomp_api_set", f"level {number}")


# ----------------------------------------------------------------------------------
# Arch, Attr, Arg
# ----------------------------------------------------------------------------------


class Arch:
    """An architecture, and the official module's arch token constants.

    ``Arch()`` is the native arch, ``Arch("aarch64")`` or ``Arch(Arch.ARM)`` a given
    one; ``int(arch)`` is its token.  The constants are the signed C ints of the
    official module (``Arch.X86_64 == -1073741762``); unsigned tokens (as returned by
    :func:`system_arch`) are accepted wherever a token is.  Raises ValueError
    (UnknownArchError) for an arch the linked libseccomp does not know, TypeError
    for other types.
    """

    NATIVE = 0
    X86 = _s32(_CoreArch.X86)
    X86_64 = _s32(_CoreArch.X86_64)
    X32 = _s32(_CoreArch.X32)
    ARM = _s32(_CoreArch.ARM)
    AARCH64 = _s32(_CoreArch.AARCH64)
    LOONGARCH64 = _s32(_CoreArch.LOONGARCH64)
    M68K = _s32(_CoreArch.M68K)
    MIPS = _s32(_CoreArch.MIPS)
    MIPS64 = _s32(_CoreArch.MIPS64)
    MIPS64N32 = _s32(_CoreArch.MIPS64N32)
    MIPSEL = _s32(_CoreArch.MIPSEL)
    MIPSEL64 = _s32(_CoreArch.MIPSEL64)
    MIPSEL64N32 = _s32(_CoreArch.MIPSEL64N32)
    PARISC = _s32(_CoreArch.PARISC)
    PARISC64 = _s32(_CoreArch.PARISC64)
    PPC = _s32(_CoreArch.PPC)
    PPC64 = _s32(_CoreArch.PPC64)
    PPC64LE = _s32(_CoreArch.PPC64LE)
    S390 = _s32(_CoreArch.S390)
    S390X = _s32(_CoreArch.S390X)
    RISCV64 = _s32(_CoreArch.RISCV64)
    SH = _s32(_CoreArch.SH)
    SHEB = _s32(_CoreArch.SHEB)

    __slots__ = ("_arch",)

    _arch: _CoreArch

    @_library_errors
    def __init__(self, arch: int | str = NATIVE) -> None:
        if isinstance(arch, str):
            self._arch = _arch.from_name(arch)
        elif isinstance(arch, int):
            self._arch = _arch.coerce(_c_int(arch, "architecture", -(2**31), _U32) & _U32)
        else:
            raise TypeError("Architecture must be an int or str type")

    def __int__(self) -> int:
        return _s32(self._arch)

    __index__ = __int__

    @property
    def name(self) -> str:
        """libseccomp's name for the arch ("x86_64") -- a seccomp_py extension."""
        return self._arch.libseccomp_name

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Arch):
            return self._arch is other._arch
        if isinstance(other, int) and not isinstance(other, bool):
            return other & _U32 == int(self._arch) if -(2**31) <= other <= _U32 else False
        return NotImplemented

    def __hash__(self) -> int:
        return hash(_s32(self._arch))

    def __repr__(self) -> str:
        return f"Arch({self._arch.libseccomp_name!r})"


class Attr:
    """Filter attribute constants for SyscallFilter.get_attr / set_attr.

    ACT_DEFAULT (read-only), ACT_BADARCH, CTL_NNP, CTL_TSYNC, API_TSKIP, CTL_LOG,
    CTL_SSB, CTL_OPTIMIZE (1: priority and complexity, 2: binary tree),
    API_SYSRAWRC, CTL_WAITKILL (libseccomp 2.6+; ValueError before).
    """

    ACT_DEFAULT = int(Attribute.DEFAULT_ACTION)
    ACT_BADARCH = int(Attribute.BAD_ARCH_ACTION)
    CTL_NNP = int(Attribute.NO_NEW_PRIVILEGES)
    CTL_TSYNC = int(Attribute.THREAD_SYNC)
    API_TSKIP = int(Attribute.NEGATIVE_SYSCALLS)
    CTL_LOG = int(Attribute.LOG)
    CTL_SSB = int(Attribute.DISABLE_SSB)
    CTL_OPTIMIZE = int(Attribute.OPTIMIZE)
    API_SYSRAWRC = int(Attribute.RETURN_SYSTEM_RETURN_CODES)
    CTL_WAITKILL = int(Attribute.WAIT_KILL)


class Arg:
    """One argument comparison: ``Arg(arg, op, datum_a, datum_b=0)``.

    ``op`` is one of NE, LT, LE, EQ, GE, GT, MASKED_EQ; for MASKED_EQ the test is
    ``(argument & datum_a) == datum_b``, as in libseccomp.  As in the official
    module, values must fit a C ``unsigned int`` (``arg``) and ``uint64_t``
    (data): TypeError for non-integers, OverflowError (ArgumentOverflowError) for
    negative or too large values; a bad index or operator is refused when the rule
    is added.
    """

    __slots__ = ("_arg", "_datum_a", "_datum_b", "_op")

    def __init__(self, arg: int, op: int, datum_a: int, datum_b: int = 0) -> None:
        self._arg = _c_int(arg, "arg", 0, _U32)
        self._op = _c_int(op, "op", -(2**31), 2**31 - 1)
        self._datum_a = _c_int(datum_a, "datum_a", 0, _U64)
        self._datum_b = _c_int(datum_b, "datum_b", 0, _U64)

    @property
    def arg(self) -> int:
        """The argument index (0..5) -- a seccomp_py extension, like the others."""
        return self._arg

    @property
    def op(self) -> int:
        """The comparison operator."""
        return self._op

    @property
    def datum_a(self) -> int:
        """The value (the mask for MASKED_EQ)."""
        return self._datum_a

    @property
    def datum_b(self) -> int:
        """The masked value for MASKED_EQ."""
        return self._datum_b

    def to_cmp(self) -> ArgCmp:
        """This comparison as a core :class:`~seccomp_py.arg.ArgCmp`.

        Raises InvalidArgumentError for an index outside 0..5 or an unknown operator.
        """
        try:
            op = Op(self._op)
        except ValueError:
            raise InvalidArgumentError(func="seccomp_rule_add",
                                       detail=f"unknown comparison operator {self._op}") from None
        return ArgCmp(self._arg, op, self._datum_a, self._datum_b)

    def __repr__(self) -> str:
        return f"Arg({self._arg}, {self._op}, {self._datum_a:#x}, {self._datum_b:#x})"


# ----------------------------------------------------------------------------------
# SyscallFilter
# ----------------------------------------------------------------------------------

_BOOL_ATTRS = {
    Attribute.NO_NEW_PRIVILEGES,
    Attribute.THREAD_SYNC,
    Attribute.NEGATIVE_SYSCALLS,
    Attribute.LOG,
    Attribute.DISABLE_SSB,
    Attribute.WAIT_KILL,
}


def _attribute(attr: object, func: str) -> Attribute:
    number = _c_int(attr, "attr", -(2**31), 2**31 - 1)
    try:
        found = Attribute(number)
    except ValueError:
        raise InvalidArgumentError(func=func, detail=f"Invalid attribute {number}") from None
    if found is Attribute.WAIT_KILL and not HAS_WAIT_KILL:
        raise InvalidArgumentError(func=func,
                                   detail="Invalid attribute: CTL_WAITKILL needs libseccomp >= 2.6")
    return found


def _syscall(syscall: object) -> str | int:
    if isinstance(syscall, str):
        return syscall
    if isinstance(syscall, int):
        return _c_int(syscall, "syscall", -(2**31), 2**31 - 1)
    raise TypeError("Syscall must either be an int or str type")


def _new_filter(action: Action) -> Filter:
    """A Filter that compiles exactly like libseccomp (and the official module):
    no automatic binary-tree layout."""
    flt = Filter(action)
    flt._auto_layout = False
    return flt


class SyscallFilter:
    """A seccomp filter, as the official ``seccomp.SyscallFilter``.

    ``SyscallFilter(defaction)`` creates it with a default action (KILL, ALLOW,
    ERRNO(x)...).  Built on :class:`seccomp_py.Filter`, reachable as
    :attr:`filter` for the rest of seccomp_py's API.  Every failure raises a
    SeccompError (an OSError, with ``errno`` and ``func``) that is also a
    RuntimeError -- and a ValueError where the official module raised ValueError.
    """

    @_library_errors
    def __init__(self, defaction: int) -> None:
        self._defaction = _action(defaction, "seccomp_init")
        self._filter = _new_filter(self._defaction)
        self._sysrawrc = False
        self._transactions: list[Any] = []

    @property
    def filter(self) -> Filter:
        """The underlying :class:`seccomp_py.Filter` (a seccomp_py extension)."""
        return self._filter

    def __repr__(self) -> str:
        return f"<seccomp_py.compat.SyscallFilter default={self._defaction!r}>"

    # -- whole filter ------------------------------------------------------------

    @_library_errors
    def reset(self, defaction: int = -1) -> None:
        """Reset the filter to its initial state (seccomp_reset(3)).

        With no argument (or -1) the filter's current default action is kept --
        the official module documents this but resets to KILL; here it works.
        Raises ValueError (InvalidArgumentError) for an invalid action.
        """
        action = self._defaction if defaction == -1 else _action(defaction, "seccomp_reset")
        self._reset_transactions()
        self._filter.reset(action)
        self._defaction = action
        self._sysrawrc = False

    @_library_errors
    def merge(self, filter: SyscallFilter) -> None:
        """Merge ``filter`` into this one (seccomp_merge(3)).

        Both must have the same attribute values and no architecture in common.
        On success ``filter`` is reset to an empty filter with its default action
        and stays usable (the official module leaves it unusable).  On failure
        both are unchanged.  Raises RuntimeError subclasses (SeccompError).
        """
        if filter is None:
            raise InvalidArgumentError(func="seccomp_merge", detail="cannot merge None")
        if not isinstance(filter, SyscallFilter):
            raise TypeError(f"Argument 'filter' has incorrect type (expected "
                            f"SyscallFilter, got {type(filter).__name__})")
        if filter._sysrawrc != self._sysrawrc:
            raise InvalidArgumentError(func="seccomp_merge",
                                       detail="the filters have different API_SYSRAWRC values")
        self._filter.merge(filter._filter)
        filter._filter = _new_filter(filter._defaction)
        filter._sysrawrc = False
        filter._transactions = []

    @_library_errors
    def load(self) -> None:
        """Load the filter into the kernel (seccomp_load(3)); enforcing at once.

        The program is verified against the rules first (seccomp_py.verify; a
        program libseccomp gets wrong is repaired or refused with
        FilterVerificationError).  Like the official module it may be called
        again (e.g. from other threads).
        Raises FilterTooLargeError above 4096 instructions, and a SeccompError with
        the kernel's errno otherwise (never libseccomp's ECANCELED).
        """
        self._filter.check_size()
        flt = self._filter
        if flt.verify or flt._ranges_set:
            flt.export_bpf()  # proven against the rules first (FilterVerificationError)
            if flt._own_program():  # libseccomp's was wrong (repaired) or RANGES was set
                flt._load_own()
                return
        with self._filter._use("seccomp_load") as ctx:
            check(lib.seccomp_load(ctx), "seccomp_load")
            self._filter._loaded = True

    # -- architectures ---------------------------------------------------------------

    @_library_errors
    def exist_arch(self, arch: int | Arch) -> bool:
        """True if the filter contains ``arch`` (seccomp_arch_exist(3)).

        Raises ValueError (UnknownArchError) for an invalid architecture.
        """
        return self._filter.has_arch(_arch_token(arch))

    @_library_errors
    def add_arch(self, arch: int | Arch) -> None:
        """Add ``arch`` to the filter (seccomp_arch_add(3)).

        Rules added afterwards cover it; existing rules do not.  Raises ValueError
        for an invalid arch and a RuntimeError (errno EEXIST) if already present.
        """
        token = _arch_token(arch)
        if not self._filter.add_arch(token):
            raise LibraryError(errno.EEXIST, "seccomp_arch_add",
                               f"{token.libseccomp_name} is already in the filter")

    @_library_errors
    def remove_arch(self, arch: int | Arch) -> None:
        """Remove ``arch`` from the filter (seccomp_arch_remove(3)).

        Raises ValueError for an invalid arch and a RuntimeError (errno EEXIST) if
        the filter does not contain it.
        """
        token = _arch_token(arch)
        if not self._filter.remove_arch(token):
            raise LibraryError(errno.EEXIST, "seccomp_arch_remove",
                               f"{token.libseccomp_name} is not in the filter")

    # -- attributes ------------------------------------------------------------------

    @_library_errors
    def get_attr(self, attr: int) -> int:
        """The value of attribute ``attr`` (an ``Attr.*`` constant) as an unsigned int.

        See seccomp_attr_get(3).  Raises ValueError for an unknown attribute.
        """
        attribute = _attribute(attr, "seccomp_attr_get")
        if attribute is Attribute.RETURN_SYSTEM_RETURN_CODES:
            return int(self._sysrawrc)
        value = self._filter.get_attribute(attribute)
        if isinstance(value, Action):
            return value.value
        return int(value)

    @_library_errors
    def set_attr(self, attr: int, value: int) -> None:
        """Set attribute ``attr`` to ``value`` (seccomp_attr_set(3)).

        Boolean attributes take any int (non-zero is true), as libseccomp does.
        Raises ValueError for an unknown attribute, and a RuntimeError subclass for a
        value refused (EACCES for ACT_DEFAULT, which is read-only; EOPNOTSUPP for an
        unsupported CTL_OPTIMIZE level or a flag the kernel lacks).
        """
        attribute = _attribute(attr, "seccomp_attr_set")
        number = _c_int(value, "value", -(2**31), 2**31 - 1)
        if attribute is Attribute.DEFAULT_ACTION:
            raise LibraryError(errno.EACCES, "seccomp_attr_set",
                               "ACT_DEFAULT is read-only: use reset(defaction)")
        if attribute is Attribute.RETURN_SYSTEM_RETURN_CODES:
            # Kept on in the real filter so that errors carry the kernel's errno;
            # the caller's value is remembered and reported by get_attr.
            self._sysrawrc = bool(number)
            return
        if attribute is Attribute.BAD_ARCH_ACTION:
            self._filter.set_attribute(attribute, Action(number & _U32))
        elif attribute is Attribute.OPTIMIZE:
            if number not in (1, 2):
                raise LibraryError(errno.EOPNOTSUPP, "seccomp_attr_set",
                                   f"CTL_OPTIMIZE level {number} is not supported (1 or 2)")
            self._filter.set_attribute(attribute, number)
        else:
            self._filter.set_attribute(attribute, number != 0)

    # -- rules ---------------------------------------------------------------------------

    @_library_errors
    def syscall_priority(self, syscall: str | int, priority: int) -> None:
        """Give ``syscall`` a priority 0..255 (seccomp_syscall_priority(3)).

        Higher priority syscalls are checked earlier in the generated filter.
        Raises ValueError for a priority outside 0..255 or an unknown name.
        """
        number = _c_int(priority, "priority", -(2**31), 2**31 - 1)
        if not 0 <= number <= 255:
            raise InvalidArgumentError(func="seccomp_syscall_priority",
                                       detail="Syscall priority must be between 0 and 255")
        self._filter.set_priority(_syscall(syscall), number)

    def _rule(self, exact: bool, action: int, syscall: str | int,
              args: tuple[Arg, ...]) -> None:
        # The official module's checks, in its order: Python-side types and count,
        # then libseccomp's (syscall, action, action == default, arguments).
        target = _syscall(syscall)
        if len(args) > _MAX_ARGS:
            raise InvalidArgumentError(func="seccomp_rule_add",
                                       detail="Maximum number of arguments exceeded")
        for arg in args:
            if not isinstance(arg, Arg):
                raise TypeError(f"Cannot convert {type(arg).__name__} to seccomp.Arg")
        number = target  # a name goes to libseccomp as a name (its own numbering)
        act = _action(action, "seccomp_rule_add")
        comparisons = [arg.to_cmp() for arg in args]
        if exact:
            self._filter.add_rule_exact(act, number, *comparisons)
        else:
            self._filter.add_rule(act, number, *comparisons)

    @_library_errors
    def add_rule(self, action: int, syscall: str | int, *args: Arg) -> None:
        """Add a rule: ``action`` when ``syscall`` is made and every Arg matches.

        ``syscall`` is a name or a native number.  libseccomp may rewrite the rule
        for an arch (socket() via socketcall on x86); use add_rule_exactly() to
        prevent that.  See seccomp_rule_add(3).  Raises a RuntimeError subclass
        (SeccompError with errno) for a rule libseccomp refuses -- e.g. EACCES when
        the action equals the default action -- ValueError and LookupError too for
        an unknown syscall name, TypeError for wrong types.
        """
        self._rule(False, action, syscall, args)

    @_library_errors
    def add_rule_exactly(self, action: int, syscall: str | int, *args: Arg) -> None:
        """Like add_rule(), without rewriting (seccomp_rule_add_exact(3))."""
        self._rule(True, action, syscall, args)

    # -- export ----------------------------------------------------------------------------

    @staticmethod
    def _write(file: Any, data: bytes, func: str, text: bool) -> None:
        """Write ``data`` to ``file`` (a file object or an fd), failing like the
        official module: RuntimeError (here a LibraryError, errno kept) when the
        write fails, AttributeError-compatible TypeError for a non-file,
        ValueError for a closed file or a text stream given binary BPF."""
        if isinstance(file, int) and not isinstance(file, bool):
            fd: int | None = file
        else:
            try:
                fd = file.fileno()
            except AttributeError:
                fd = None
                if not hasattr(file, "write"):
                    raise NotAFileError(f"export needs a file object or an fd, not "
                                        f"{type(file).__name__}") from None
            except (OSError, ValueError):
                if not hasattr(file, "write") or getattr(file, "closed", False):
                    raise
                fd = None  # an in-memory stream (an extension of the official module)
        if fd is not None:
            flush = getattr(file, "flush", None)
            if flush is not None:
                flush()
            view = memoryview(data)
            try:
                while view:
                    view = view[os.write(fd, view):]
            except OSError as exc:
                raise LibraryError(exc.errno or errno.EIO, func,
                                   f"writing to fd {fd}: {exc.strerror}") from None
            return
        try:
            file.write(data)
        except TypeError:
            if not text:
                raise ExportTargetError(errno.EINVAL, func, "binary BPF cannot be written to "
                                        "a text stream") from None
            file.write(data.decode())

    @_library_errors
    def export_pfc(self, file: IO[Any] | int) -> None:
        """Write the filter as Pseudo Filter Code to ``file`` (seccomp_export_pfc(3)).

        ``file`` is a file object with a fileno() (written through the fd, as
        libseccomp does, after a flush), an fd, or an in-memory file object.
        """
        self._write(file, self._filter.export_pfc().encode(), "seccomp_export_pfc", True)

    @_library_errors
    def export_bpf(self, file: IO[Any] | int) -> None:
        """Write the filter as the raw BPF the kernel loads (seccomp_export_bpf(3))."""
        self._write(file, self._filter.export_bpf(), "seccomp_export_bpf", False)

    @_library_errors
    def export_bpf_mem(self) -> memoryview:
        """Return the BPF program (libseccomp 2.6's seccomp_export_bpf_mem(3)).

        A writable memoryview of unsigned bytes, like the official module's; works
        with libseccomp 2.5 too.
        """
        return memoryview(bytearray(self._filter.export_bpf()))

    # -- libseccomp 2.6: transactions and precompute ------------------------------------

    def _reset_transactions(self) -> None:
        while self._transactions:
            cm = self._transactions.pop()
            with contextlib.suppress(_Rejected):
                cm.__exit__(_Rejected, _Rejected(), None)

    @_library_errors
    def start_transaction(self) -> None:
        """Start a transaction (seccomp_transaction_start(3), libseccomp 2.6+).

        Raises UnsupportedError (a RuntimeError) with libseccomp < 2.6.
        """
        cm = self._filter.transaction()
        cm.__enter__()
        self._transactions.append(cm)

    @_library_errors
    def reject_transaction(self) -> None:
        """Abandon the current transaction's changes (seccomp_transaction_reject(3))."""
        if not self._transactions:
            raise InvalidArgumentError(func="seccomp_transaction_reject",
                                       detail="no transaction in progress")
        cm = self._transactions.pop()
        with contextlib.suppress(_Rejected):
            cm.__exit__(_Rejected, _Rejected(), None)

    @_library_errors
    def commit_transaction(self) -> None:
        """Keep the current transaction's changes (seccomp_transaction_commit(3))."""
        if not self._transactions:
            raise InvalidArgumentError(func="seccomp_transaction_commit",
                                       detail="no transaction in progress")
        cm = self._transactions.pop()
        cm.__exit__(None, None, None)

    @_library_errors
    def precompute(self) -> None:
        """Generate the BPF now so load() is quick (seccomp_precompute(3), 2.6+).

        A no-op with libseccomp 2.5.
        """
        self._filter.precompute()

    # -- notifications (see the section below) ------------------------------------------

    def _notify_fd(self, fd: int | None) -> int:
        if fd is not None:
            return _c_int(fd, "fd", -(2**31), 2**31 - 1)
        with self._filter._use("seccomp_notify_fd") as ctx:
            found = int(lib.seccomp_notify_fd(ctx))
        if found < 0:
            raise LibraryError(errno.EBADF, "seccomp_notify_fd",
                               "Notifications not enabled/active: load() a filter that "
                               "uses the NOTIFY action first")
        return found

    @_library_errors
    def get_notify_fd(self) -> int:
        """The notification fd created by load() for a filter using NOTIFY.

        See seccomp_notify_fd(3).  Raises a RuntimeError subclass (errno EBADF) when
        no notification fd exists.  libseccomp keeps one fd per process; it stays
        open until the process ends.
        """
        return self._notify_fd(None)

    @_library_errors
    def receive_notify(self, fd: int | None = None) -> Notification:
        """Wait for and return the next Notification (seccomp_notify_receive(3)).

        ``fd`` defaults to this process's notification fd.  Blocks until a
        notification arrives (the GIL is released); retries on EINTR.  Raises a
        SeccompError with the real errno (ENOENT: the target went away).
        """
        return _notify_receive(self._notify_fd(fd))

    @_library_errors
    def respond_notify(self, response: NotificationResponse, fd: int | None = None) -> None:
        """Send ``response`` to the kernel (seccomp_notify_respond(3))."""
        target = self._notify_fd(fd)  # "Notifications not enabled/active" first
        if not isinstance(response, NotificationResponse):
            raise TypeError(f"expected a NotificationResponse, not {type(response).__name__}")
        _notify_respond(target, response)

    @_library_errors
    def notify_addfd(self, addfd: NotificationAddfd, fd: int | None = None) -> int:
        """Install a file descriptor in the target (SECCOMP_IOCTL_NOTIF_ADDFD).

        Returns the fd number in the target.  Available in libseccomp's development
        version; done here with the ioctl, so it works with any libseccomp (kernel
        5.9+).
        """
        target = self._notify_fd(fd)
        if not isinstance(addfd, NotificationAddfd):
            raise TypeError(f"expected a NotificationAddfd, not {type(addfd).__name__}")
        return _notify_addfd(target, addfd)


class _Rejected(Exception):
    """Internal: thrown into a transaction to reject it."""


# ----------------------------------------------------------------------------------
# Notifications (seccomp_unotify(2), seccomp_notify_alloc(3)).
#
# This section uses the notify shim (seccomp_py/_shim/notify.c, as seccomp_py.notify
# does): every receive buffer is zeroed and sized by the kernel, nothing is
# allocated on the heap per call (the official module leaks here), EINTR is
# retried and the real errno is reported instead of ECANCELED.
# ----------------------------------------------------------------------------------


class Notification:
    """A notification: a syscall the kernel holds until it gets a response.

    ``Notification(id, pid, flags, syscall, arch, ip, args)``; read-only properties
    id, pid, flags, syscall, syscall_arch, syscall_ip, syscall_args (six ints).
    """

    __slots__ = ("_arch", "_args", "_flags", "_id", "_ip", "_pid", "_syscall")

    def __init__(self, id: int, pid: int, flags: int, syscall: int, arch: int,
                 ip: int, args: Any) -> None:
        self._id = _c_int(id, "id", 0, _U64)
        self._pid = _c_int(pid, "pid", 0, _U32)
        self._flags = _c_int(flags, "flags", 0, _U32)
        self._syscall = _c_int(syscall, "syscall", -(2**31), 2**31 - 1)
        self._arch = _c_int(arch, "arch", 0, _U32)
        self._ip = _c_int(ip, "ip", 0, _U64)
        self._args = [_c_int(args[i], "args", 0, _U64) for i in range(6)]

    @property
    def id(self) -> int:
        """The notification id (a cookie for the response)."""
        return self._id

    @property
    def pid(self) -> int:
        """The thread id of the target, in the supervisor's pid namespace."""
        return self._pid

    @property
    def flags(self) -> int:
        """The notification flags."""
        return self._flags

    @property
    def syscall(self) -> int:
        """The syscall number (on :attr:`syscall_arch`)."""
        return self._syscall

    @property
    def syscall_arch(self) -> int:
        """The AUDIT_ARCH token of the syscall (unsigned)."""
        return self._arch

    @property
    def syscall_ip(self) -> int:
        """The instruction pointer of the syscall."""
        return self._ip

    @property
    def syscall_args(self) -> list[int]:
        """The six syscall arguments."""
        return list(self._args)

    def __repr__(self) -> str:
        return (f"Notification(id={self._id}, pid={self._pid}, syscall={self._syscall}, "
                f"arch={self._arch:#x}, args={self._args})")


class NotificationResponse:
    """A response: ``NotificationResponse(notify, val=0, error=0, flags=0)``.

    ``error`` is a negative errno to fail the syscall, else ``val`` is its return
    value; ``flags=1`` (SECCOMP_USER_NOTIF_FLAG_CONTINUE, with val and error 0)
    lets the syscall run -- never a security decision (seccomp_unotify(2)).
    Properties id, val, error, flags are writable.
    """

    __slots__ = ("_error", "_flags", "_id", "_val")

    def __init__(self, notify: Notification, val: int = 0, error: int = 0,
                 flags: int = 0) -> None:
        self.id = notify.id
        self.val = val
        self.error = error
        self.flags = flags

    id = _CInt("The id of the notification answered.", 0, _U64)
    val = _CInt("The syscall's return value (when error is 0).", -(2**63), 2**63 - 1)
    error = _CInt("A negative errno to fail the syscall with, or 0.", -(2**31), 2**31 - 1)
    flags = _CInt("Response flags (1: SECCOMP_USER_NOTIF_FLAG_CONTINUE).", 0, _U32)

    def __repr__(self) -> str:
        return (f"NotificationResponse(id={self.id}, val={self.val}, "
                f"error={self.error}, flags={self.flags})")


class NotificationAddfd:
    """``NotificationAddfd(notify, flags, srcfd, newfd=0, newfd_flags=0)``.

    For :meth:`SyscallFilter.notify_addfd`: put the supervisor's ``srcfd`` into the
    target (flags: SECCOMP_ADDFD_FLAG_SETFD = 1 to use ``newfd``,
    SECCOMP_ADDFD_FLAG_SEND = 2 to also answer the syscall with the new fd).
    """

    __slots__ = ("_flags", "_id", "_newfd", "_newfd_flags", "_srcfd")

    def __init__(self, notify: Notification, flags: int, srcfd: int, newfd: int = 0,
                 newfd_flags: int = 0) -> None:
        self.id = notify.id
        self.flags = flags
        self.srcfd = srcfd
        self.newfd = newfd
        self.newfd_flags = newfd_flags

    id = _CInt("The id of the notification.", 0, _U64)
    flags = _CInt("SECCOMP_ADDFD_FLAG_* flags.", 0, _U32)
    srcfd = _CInt("The supervisor's fd to copy.", 0, _U32)
    newfd = _CInt("The fd number wanted in the target (with SECCOMP_ADDFD_FLAG_SETFD).", 0, _U32)
    newfd_flags = _CInt("Flags for the new fd (O_CLOEXEC).", 0, _U32)


def _notify_receive(fd: int) -> Notification:
    # The notify shim zeroes a buffer of the kernel's size before every
    # SECCOMP_IOCTL_NOTIF_RECV and returns the real errno (libseccomp 2.5 masks it).
    from .notify.listener import recv_blocking

    out = ffi.new("struct spy_notif *")
    check(recv_blocking(fd, out), "seccomp_notify_receive", f"fd {fd}")
    check(int(lib.spy_notify_id_valid(fd, out.id)), "seccomp_notify_id_valid",
          f"notification {int(out.id)}")
    return Notification(int(out.id), int(out.pid), int(out.flags), int(out.nr),
                        int(out.arch), int(out.ip), [int(out.args[i]) for i in range(6)])


def _notify_respond(fd: int, response: NotificationResponse) -> None:
    rc = int(lib.spy_notify_send(fd, response.id, response.val, response.error,
                                 response.flags))
    check(rc, "seccomp_notify_respond", f"notification {response.id}")


def _notify_addfd(fd: int, addfd: NotificationAddfd) -> int:
    rc = int(lib.spy_notify_addfd(fd, addfd.id, addfd.srcfd, addfd.newfd,
                                  addfd.newfd_flags, addfd.flags))
    return check(rc, "ioctl(SECCOMP_IOCTL_NOTIF_ADDFD)", f"notification {addfd.id}")


# ----------------------------------------------------------------------------------
# Installing as the `seccomp` module
# ----------------------------------------------------------------------------------


def _this_module() -> ModuleType:
    return sys.modules[__name__]


def install(*, force: bool = False) -> bool:
    """Make ``import seccomp`` give this module; return True if it now does.

    Without ``force`` nothing is shadowed: if a ``seccomp`` module is already
    imported, or importable from ``sys.path`` (Debian's python3-seccomp, say), this
    leaves it alone and returns False.  With ``force=True`` this module replaces it
    in ``sys.modules`` for the rest of the process (an already imported official
    module stays in use by whoever holds a reference to it).
    """
    this = _this_module()
    current = sys.modules.get("seccomp")
    if current is this:
        return True
    if not force:
        if current is not None:
            return False
        try:
            spec = importlib.util.find_spec("seccomp")
        except (ImportError, ValueError):
            spec = None
        if spec is not None:
            return False
    sys.modules["seccomp"] = this
    return True


def uninstall() -> None:
    """Undo :func:`install` (only if this module is the registered ``seccomp``)."""
    if sys.modules.get("seccomp") is _this_module():
        del sys.modules["seccomp"]


def main(argv: list[str] | None = None) -> int:
    """``python -m seccomp_py.compat [--force] SCRIPT [ARGS...]``.

    Run SCRIPT (a program written for libseccomp's official module) with
    ``import seccomp`` giving seccomp_py.compat.  Without --force it refuses, with
    exit status 2, when another ``seccomp`` module is importable.
    """
    import runpy

    args = list(sys.argv[1:] if argv is None else argv)
    force = False
    if args and args[0] == "--force":
        force = True
        args.pop(0)
    if not args or args[0].startswith("-"):
        print("usage: python -m seccomp_py.compat [--force] SCRIPT [ARGS...]", file=sys.stderr)
        return 2
    if not install(force=force):
        spec = importlib.util.find_spec("seccomp")
        where = spec.origin if spec is not None else "sys.modules"
        print(f"seccomp_py.compat: a module named 'seccomp' already exists ({where}); "
              "pass --force to use seccomp_py.compat instead", file=sys.stderr)
        return 2
    sys.argv = args
    runpy.run_path(args[0], run_name="__main__")
    return 0


if __name__ == "__main__":  # pragma: no cover - exercised through a subprocess
    from seccomp_py.compat import main as _main

    sys.exit(_main())
