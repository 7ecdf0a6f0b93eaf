"""Notifications and responses: ``struct seccomp_notif`` and ``_resp``.

See seccomp_unotify(2) and seccomp(2) (SECCOMP_GET_NOTIF_SIZES).
"""

from __future__ import annotations

import errno
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._kernel import (
    MAX_ERRNO,
    SECCOMP_ADDFD_FLAG_SEND,
    SECCOMP_ADDFD_FLAG_SETFD,
    SECCOMP_NOTIF_FORMAT,
    SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP,
    SECCOMP_USER_NOTIF_FLAG_CONTINUE,
)
from .._native import check, ffi, lib
from ..arch import Arch
from ..errors import InvalidArgumentError, SeccompError

if TYPE_CHECKING:
    from .listener import Listener

FLAG_CONTINUE = SECCOMP_USER_NOTIF_FLAG_CONTINUE
ADDFD_FLAG_SETFD = SECCOMP_ADDFD_FLAG_SETFD
ADDFD_FLAG_SEND = SECCOMP_ADDFD_FLAG_SEND
SYNC_WAKE_UP = SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
_MAX_ERRNO = MAX_ERRNO


@dataclass(frozen=True)
class NotifSizes:
    """The kernel's structure sizes (SECCOMP_GET_NOTIF_SIZES, seccomp(2))."""

    notif: int
    resp: int
    data: int


def notif_sizes() -> NotifSizes:
    """Ask the kernel for its seccomp_notif / _resp / _data sizes.

    The shim sizes every receive and response buffer by these, never by
    ``sizeof``.  Raises SeccompError if the kernel lacks user notification.
    """
    out = ffi.new("struct spy_notif_sizes *")
    check(lib.spy_notif_sizes(out), "seccomp(SECCOMP_GET_NOTIF_SIZES)")
    return NotifSizes(int(out.notif), int(out.resp), int(out.data))


# -- notifications and responses --------------------------------------------------

_NOTIF = struct.Struct(SECCOMP_NOTIF_FORMAT)
_unpack_from = _NOTIF.unpack_from
_new = object.__new__


class Notification:
    """One intercepted syscall (``struct seccomp_notif``), read-only.

    ``id`` (the cookie to answer with), ``pid`` (the target's thread id in
    the monitor's pid namespace, 0 if it is not visible there), ``syscall``
    (the number on ``arch``), ``arch`` (an :class:`Arch` token),
    ``ip`` (instruction pointer), ``args`` (six unsigned 64-bit values),
    ``flags`` and the ``listener`` it came from.
    """

    # ``_v`` holds the decoded fields, or None while they still sit in the
    # receive buffer ``_raw`` (serve() hands its handler such a lazily decoded
    # notification: nothing is decoded unless the handler reads a field, and
    # the object is reused for the next one when the handler kept no reference;
    # one that was kept is decoded before the buffer is reused).
    __slots__ = ("_raw", "_v", "listener")

    _v: tuple[int, ...] | None
    _raw: Any
    listener: Listener | None

    def __init__(self, id: int, pid: int, syscall: int, arch: int, ip: int,
                 args: Sequence[int], flags: int = 0,
                 listener: Listener | None = None) -> None:
        values = tuple(args)
        if len(values) != 6:
            raise InvalidArgumentError(func="Notification", detail="args must hold 6 values")
        self._v = (id, pid, flags, syscall, int(arch), ip, *values)
        self._raw = None
        self.listener = listener

    @classmethod
    def _from_raw(cls, raw: Any, listener: Listener | None) -> Notification:
        n = cls.__new__(cls)
        n._v = _unpack_from(raw)
        n.listener = listener  # _raw stays unset: only read while _v is None
        return n

    def _values(self) -> tuple[int, ...]:
        v = self._v
        if v is None:
            v = self._v = _unpack_from(self._raw)
        return v

    @property
    def id(self) -> int:
        """The notification id (the cookie to answer with)."""
        v = self._v
        return (v if v is not None else self._values())[0]

    @property
    def pid(self) -> int:
        """The target thread's id in our pid namespace (0 if not visible)."""
        v = self._v
        return (v if v is not None else self._values())[1]

    @property
    def flags(self) -> int:
        """seccomp_notif.flags (0 today)."""
        v = self._v
        return (v if v is not None else self._values())[2]

    @property
    def syscall(self) -> int:
        """The syscall number on ``arch``."""
        v = self._v
        return (v if v is not None else self._values())[3]

    @property
    def arch_token(self) -> int:
        """The audit arch token, as an int."""
        v = self._v
        return (v if v is not None else self._values())[4]

    @property
    def ip(self) -> int:
        """The instruction pointer at the syscall."""
        v = self._v
        return (v if v is not None else self._values())[5]

    @property
    def args(self) -> tuple[int, ...]:
        """The six syscall arguments, as unsigned 64-bit ints."""
        v = self._v
        return (v if v is not None else self._values())[6:12]

    @property
    def arch(self) -> Arch | int:
        """The audit arch as an :class:`Arch` (an int if unknown)."""
        try:
            return Arch(self.arch_token)
        except ValueError:
            return self.arch_token

    @property
    def syscall_name(self) -> str:
        """The syscall's name on ``arch`` ("" if libseccomp does not know it)."""
        from ..syscall import resolve_number

        try:
            return resolve_number(self.syscall, self.arch_token)
        except (SeccompError, ValueError):
            return ""

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Notification):
            return NotImplemented
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __reduce__(self) -> tuple[Any, ...]:
        v = self._values()
        return (Notification, (v[0], v[1], v[3], v[4], v[5], v[6:12], v[2]))

    def __repr__(self) -> str:
        name = self.syscall_name or str(self.syscall)
        args = ", ".join(hex(a) for a in self.args)
        return f"<Notification id={self.id} pid={self.pid} {name}({args})>"


class Response:
    """How to answer a notification (``struct seccomp_notif_resp``), immutable.

    ``Response.CONTINUE`` lets the syscall run (never a security decision: the
    target may change its memory between the check and the kernel's use);
    ``Response.errno(n)`` fails it with errno ``n``; ``Response.value(v)``
    makes it return ``v`` without running; ``Response.HANDLED`` means the
    handler already answered (e.g. ``add_fd(..., send=True)``).
    """

    __slots__ = ("_c", "error", "flags", "sent", "val")

    CONTINUE: Response
    HANDLED: Response
    _c: Any
    val: int
    error: int
    flags: int
    sent: bool

    def __init__(self, val: int = 0, error: int = 0, flags: int = 0, sent: bool = False) -> None:
        if (error and flags & FLAG_CONTINUE) or (val and (error or flags & FLAG_CONTINUE)):
            raise InvalidArgumentError(func="Response",
                                       detail="CONTINUE needs error == val == 0, and an errno "
                                              "answer needs val == 0")
        if sent:
            c = ffi.NULL  # the handler answered: serve() sends nothing
        else:
            c = ffi.new("struct spy_answer *")
            c.val, c.error, c.flags = val, error, flags
        object.__setattr__(self, "_c", c)
        object.__setattr__(self, "val", val)
        object.__setattr__(self, "error", error)
        object.__setattr__(self, "flags", flags)
        object.__setattr__(self, "sent", sent)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Response is immutable")

    @classmethod
    def errno(cls, errnum: int) -> Response:
        """Fail the syscall with ``errnum`` (1..4095).  Raises InvalidArgumentError."""
        cached = _ERRNO_RESPONSES.get(errnum)
        if cached is not None and not isinstance(errnum, bool):
            return cached
        if isinstance(errnum, bool) or not isinstance(errnum, int) or not 0 < errnum <= _MAX_ERRNO:
            raise InvalidArgumentError(func="Response.errno",
                                       detail=f"errno must be an int in 1..{_MAX_ERRNO}, "
                                              f"not {errnum!r}")
        response = cls(0, -errnum)
        _ERRNO_RESPONSES[errnum] = response
        return response

    @classmethod
    def value(cls, val: int) -> Response:
        """Make the syscall return ``val`` (a signed 64-bit int) without running it."""
        if isinstance(val, bool) or not isinstance(val, int) or not -(2**63) <= val < 2**63:
            raise InvalidArgumentError(func="Response.value",
                                       detail=f"value must be a signed 64-bit int, not {val!r}")
        return cls(val, 0)

    def __str__(self) -> str:
        """The readable name: ``ERRNO(EPERM)``, ``CONTINUE``, ``VALUE(0)``, ``HANDLED``."""
        if self.sent:
            return "HANDLED"
        if self.flags & FLAG_CONTINUE:
            return "CONTINUE"
        if self.error:
            return f"ERRNO({errno.errorcode.get(-self.error, -self.error)})"
        return f"VALUE({self.val})"

    def __repr__(self) -> str:
        if self.sent:
            return "Response.HANDLED"
        if self.flags & FLAG_CONTINUE:
            return "Response.CONTINUE"
        if self.error:
            return f"Response.errno({-self.error})"
        return f"Response.value({self.val})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Response):
            return NotImplemented
        return (self.val, self.error, self.flags, self.sent) == (
            other.val, other.error, other.flags, other.sent)

    def __hash__(self) -> int:
        return hash((self.val, self.error, self.flags, self.sent))

    def __reduce__(self) -> tuple[Any, ...]:
        return (Response, (self.val, self.error, self.flags, self.sent))


_ERRNO_RESPONSES: dict[int, Response] = {}

# CONTINUE requires error == val == 0 (seccomp_unotify(2)).
Response.CONTINUE = Response(0, 0, FLAG_CONTINUE)
Response.HANDLED = Response(sent=True)
