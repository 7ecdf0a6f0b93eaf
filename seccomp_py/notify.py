"""User notification: hand a filter's listener fd to a monitor and supervise it.

See seccomp_unotify(2), seccomp(2) (SECCOMP_FILTER_FLAG_NEW_LISTENER,
SECCOMP_GET_NOTIF_SIZES), unix(7) (SCM_RIGHTS, SO_PEERCRED) and proc(5)
(/proc/PID/mem).

Sandbox side
    A :class:`Notifier` (the seed's protocol: ``exempt()``, ``prepare()``,
    ``handle(fd)``) is attached with ``Filter.set_notifier()``; ``load()``
    then prepares it (with a timeout), installs the filter in two layers
    (the user's program behind a prologue allowing exactly the handoff's
    calls, then the user's program with NOTIFY made ALLOW: the user's rules
    are never changed) and hands the listener over in between.
    :class:`UnixNotifier` is the ready one: it sends the fd with SCM_RIGHTS
    and a small versioned payload over a Unix socket; install, send and seal
    are ONE C call, which between the layers makes only ``sendmsg(2)``,
    ``close(2)`` and ``seccomp(2)``.

Monitor side
    :func:`receive_listener` (one socket) and :class:`ListenerServer` (a path
    that accepts many sandboxes) receive the fd with MSG_CMSG_CLOEXEC, refuse
    truncated control data, extra fds and peers with an unexpected uid
    (SO_PEERCRED), and return a :class:`Handoff` holding a :class:`Listener`.

Supervising
    :class:`Listener` receives :class:`Notification` objects and answers them
    with a :class:`Response`; :func:`serve`, :class:`Supervisor` (many
    listeners, a server, a thread) and :func:`serve_async` (asyncio) run the
    loop: ENOENT (target gone), EINTR and hang-up (no target left) are
    handled, handler exceptions are reported and answered with a default the
    caller chooses.

Every failure raises a :class:`~seccomp_py.errors.SeccompError` subclass
carrying the errno and the C function (or syscall) that failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import inspect
import logging
import os
import selectors
import socket
import stat
import struct
import sys
import threading
import time
import warnings
from collections.abc import Awaitable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Optional, Protocol, Union, runtime_checkable

from ._native import check, ffi, lib
from .arch import Arch
from .arg import Arg, ArgCmp
from .errors import InvalidArgumentError, SeccompError, UnsafeSocketPathWarning, UnsupportedError
from .syscall import SyscallLike

if TYPE_CHECKING:
    from .filter import Filter

log = logging.getLogger("seccomp_py.notify")

# -- errors --------------------------------------------------


class NotificationGoneError(SeccompError, LookupError):
    """The notification is no longer pending (ENOENT).

    The target was killed or interrupted by a signal, the id was already
    answered, or it was never received on this listener.
    """

    def __init__(self, func: str = "SECCOMP_IOCTL_NOTIF_SEND", detail: str = "",
                 errnum: int = errno.ENOENT) -> None:
        super().__init__(errnum, func, detail or "the notification is no longer pending")

    def __reduce__(self) -> tuple[type[SeccompError], tuple[Any, ...]]:
        return (type(self), (self.func, self.detail, self.errno))


class HangupError(SeccompError, EOFError):
    """The listener hung up: no task uses the filter any more (POLLHUP)."""

    def __init__(self, func: str = "poll", detail: str = "") -> None:
        super().__init__(errno.EPIPE, func, detail or "no task uses the filter any more")


class ListenerClosedError(SeccompError, ValueError):
    """The Listener (or server) was closed."""

    def __init__(self, func: str = "", detail: str = "the listener is closed") -> None:
        super().__init__(errno.EBADF, func, detail)


class NotAListenerError(SeccompError, ValueError):
    """The fd is not a seccomp user-notification listener."""

    def __init__(self, fd: int, func: str = "SECCOMP_IOCTL_NOTIF_ID_VALID") -> None:
        super().__init__(errno.ENOTTY, func, f"fd {fd} is not a seccomp listener")


class HandoffError(SeccompError):
    """Handing a listener fd over failed, or a received handoff was malformed.

    ``installed`` is True when raised by ``Filter.load()`` after the filter
    was put in force (the listener could not be sent: its NOTIFY rules now
    fail with ENOSYS), False otherwise (nothing was loaded).
    """

    installed: bool = False


class PeerRefusedError(HandoffError, PermissionError):
    """The peer's credentials (SO_PEERCRED) are not allowed."""


# -- kernel facts --------------------------------------------------

FLAG_CONTINUE = int(lib.SPY_USER_NOTIF_FLAG_CONTINUE)
ADDFD_FLAG_SETFD = int(lib.SPY_ADDFD_FLAG_SETFD)
ADDFD_FLAG_SEND = int(lib.SPY_ADDFD_FLAG_SEND)
SYNC_WAKE_UP = int(lib.SPY_USER_NOTIF_FD_SYNC_WAKE_UP)
_MAX_ERRNO = 4095


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

_NOTIF = struct.Struct("=QIIiIQ6Q")
_unpack_from = _NOTIF.unpack_from
_new = object.__new__
_getrefcount: Callable[[object], int] | None = getattr(sys, "getrefcount", None)


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
        n._raw = None
        n.listener = listener
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
        from .syscall import resolve_number

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
            import errno

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


# -- the listener --------------------------------------------------

_INT32_MAX = 2**31 - 1
_U64 = 2**64


def _ms(timeout: float | None) -> int:
    if timeout is None:
        return -1
    if timeout < 0:
        raise InvalidArgumentError(func="poll", detail=f"timeout must be >= 0, not {timeout}")
    return min(int(timeout * 1000 + 0.999), _INT32_MAX)


def _check_id(id: object) -> int:
    if isinstance(id, Notification):
        return id.id
    if isinstance(id, bool) or not isinstance(id, int) or not 0 <= id < _U64:
        raise InvalidArgumentError(func="seccomp_unotify",
                                   detail=f"a notification id is an unsigned 64-bit int, "
                                          f"not {id!r}")
    return id


class Listener:
    """A seccomp user-notification listener fd (seccomp_unotify(2)).

    ``Listener(fd)`` takes ownership of ``fd`` once the fd is checked to be a
    listener (raises NotAListenerError, and leaves the fd open, otherwise).
    The fd is pollable (:meth:`fileno`), closed by :meth:`close` or the
    context manager.  Blocking calls release the GIL.  One thread should
    receive at a time; answering from any thread is fine.
    """

    def __init__(self, fd: int) -> None:
        if isinstance(fd, bool) or not isinstance(fd, int):
            raise TypeError(f"Listener() takes an fd (int), not {type(fd).__name__}")
        self._fd = -1
        try:
            kind = os.readlink(f"/proc/self/fd/{fd}")
        except OSError as exc:
            if exc.errno == errno.ENOENT and os.path.isdir("/proc/self/fd"):
                raise ListenerClosedError("Listener", f"fd {fd} is not open") from None
            kind = ""  # no /proc: rely on the ioctl below
        if kind and kind != "anon_inode:seccomp notify":
            # Never send a seccomp ioctl to some other driver's fd.
            raise NotAListenerError(fd, "Listener")
        rc = lib.spy_notify_is_listener(fd)
        if rc == -errno.EBADF:
            raise ListenerClosedError("SECCOMP_IOCTL_NOTIF_ID_VALID", f"fd {fd} is not open")
        if rc < 0:
            raise NotAListenerError(fd)
        self._fd = fd
        self._buf = ffi.new("struct spy_notif *")
        self._raw = ffi.buffer(self._buf)
        self._answered: set[int] = set()
        # close() wakes a receive() blocked in another thread through this pipe
        # (poll() is not woken by a close from another thread) and waits for it
        # to leave before closing the fd, so the number is never reused under it.
        self._wake: tuple[int, int] | None = None
        self._receivers = 0
        self._lock = threading.Lock()
        self._state = threading.Condition(self._lock)

    # -- lifecycle
    def fileno(self) -> int:
        """The listener fd (for poll/select/epoll; readable = a notification waits)."""
        if self._fd < 0:
            raise ListenerClosedError("fileno")
        return self._fd

    @property
    def closed(self) -> bool:
        return self._fd < 0

    def close(self) -> None:
        """Close the fd.  Pending targets then see ENOSYS.  Safe to call twice.

        A receive() blocked in another thread is woken first (it raises
        ListenerClosedError) and the fd is closed once it has left.
        """
        state = getattr(self, "_state", None)
        if state is None:  # __init__ failed early
            return
        with state:
            fd, self._fd = self._fd, -1
            wake, self._wake = self._wake, None
            if wake is not None:
                os.write(wake[1], b"x")
                state.wait_for(lambda: self._receivers == 0, timeout=10.0)
        if wake is not None:
            os.close(wake[0])
            os.close(wake[1])
        if fd >= 0:
            os.close(fd)

    def detach(self) -> int:
        """Give up ownership and return the fd without closing it."""
        with self._state:
            if self._receivers:
                raise InvalidArgumentError(errno.EBUSY, "detach",
                                           "another thread is receiving on this listener")
            fd, self._fd = self._fd, -1
            wake, self._wake = self._wake, None
        if wake is not None:
            os.close(wake[0])
            os.close(wake[1])
        if fd < 0:
            raise ListenerClosedError("detach")
        return fd

    def __enter__(self) -> Listener:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        if getattr(self, "_fd", -1) >= 0:
            with contextlib.suppress(OSError):
                self.close()

    def __repr__(self) -> str:
        return f"<Listener fd={self._fd}>" if self._fd >= 0 else "<Listener closed>"

    def _live(self, func: str) -> int:
        fd = self._fd
        if fd < 0:
            raise ListenerClosedError(func)
        return fd

    # -- receiving
    def poll(self, timeout: float | None = 0.0) -> bool:
        """True when a notification is waiting (within ``timeout`` s, None = forever).

        Raises HangupError when no task uses the filter any more.
        """
        rc = lib.spy_notify_poll(self._live("poll"), _ms(timeout))
        if rc == -errno.EPIPE:
            raise HangupError()
        if rc == -errno.EINTR:
            return False
        check(rc, "poll")
        return bool(rc == 1)

    def receive(self, timeout: float | None = None) -> Notification:
        """Wait for the next notification (SECCOMP_IOCTL_NOTIF_RECV).

        Polls first (a receive after the target exited could block forever),
        receives into a zeroed buffer of the kernel's size, and retries when
        the notification vanished (ENOENT) or a signal interrupted the wait.
        Raises TimeoutError after ``timeout`` seconds, HangupError when no
        task uses the filter any more, ListenerClosedError, SeccompError.
        """
        ms = -1 if timeout is None else _ms(timeout)
        # The Condition's own lock, entered directly: the same mutual exclusion
        # as ``with self._state`` without a Python-level __enter__ per call.
        lock = self._lock
        with lock:
            fd = self._fd
            if fd < 0:
                raise ListenerClosedError("SECCOMP_IOCTL_NOTIF_RECV")
            wake = self._wake
            if wake is None:
                wake = self._wake = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
            stop = wake[0]
            self._receivers += 1
        try:
            while True:
                rc = lib.spy_notify_wait_recv(fd, stop, ms, self._buf)
                if rc == 1:
                    n = _new(Notification)
                    n._v = _unpack_from(self._raw)
                    n._raw = None
                    n.listener = self
                    return n
                if rc == 0:
                    raise TimeoutError(errno.ETIMEDOUT, "no notification within the timeout")
                if rc == 2:
                    raise ListenerClosedError("SECCOMP_IOCTL_NOTIF_RECV",
                                              "the listener was closed during receive()")
                if rc == -errno.EPIPE:
                    raise HangupError()
                if rc != -errno.EINTR:
                    check(rc, "SECCOMP_IOCTL_NOTIF_RECV")
                # EINTR: Python ran its signal handlers when we returned; go on (PEP 475).
        finally:
            with lock:
                self._receivers -= 1
                if self._fd < 0:
                    # close() marked the fd closed and waits for the receivers
                    # to leave (only then is there anyone to wake).
                    self._state.notify_all()

    # -- answering
    def respond(self, notification: Notification | int, response: Response) -> None:
        """Answer a notification (SECCOMP_IOCTL_NOTIF_SEND).

        Raises NotificationGoneError (the target was interrupted or killed,
        the id was already answered or is unknown), InvalidArgumentError.
        """
        id = notification.id if isinstance(notification, Notification) \
            else _check_id(notification)
        if response.__class__ is not Response and not isinstance(response, Response):
            raise TypeError(f"respond() takes a Response, not {type(response).__name__}")
        if response.sent:
            return
        fd = self._fd
        if fd < 0:
            raise ListenerClosedError("SECCOMP_IOCTL_NOTIF_SEND")
        rc = lib.spy_notify_send(fd, id, response.val, response.error, response.flags)
        if rc < 0:
            self._send_failed(rc, id)
        answered = self._answered
        if len(answered) >= 4096:
            answered.clear()
        answered.add(id)

    def respond_continue(self, notification: Notification | int) -> None:
        """Let the syscall run as the target asked (not a security decision)."""
        self.respond(notification, Response.CONTINUE)

    def respond_errno(self, notification: Notification | int, errnum: int) -> None:
        """Fail the syscall with ``errnum``."""
        self.respond(notification, Response.errno(errnum))

    def respond_value(self, notification: Notification | int, value: int) -> None:
        """Make the syscall return ``value`` without running it."""
        self.respond(notification, Response.value(value))

    def _answered_add(self, id: int) -> None:
        answered = self._answered
        if len(answered) >= 4096:
            answered.clear()
        answered.add(id)

    def _send_failed(self, rc: int, id: int, func: str = "SECCOMP_IOCTL_NOTIF_SEND") -> None:
        if rc in (-errno.ENOENT, -errno.EINPROGRESS) and id in self._answered:
            # The kernel says ENOENT, or EINPROGRESS while the target wakes up.
            raise NotificationGoneError(func, f"notification {id} was already answered", -rc)
        if rc == -errno.ENOENT:
            raise NotificationGoneError(
                func, f"no pending notification {id} on this listener: the target was "
                      f"interrupted or killed, or the id is unknown")
        if rc == -errno.EINPROGRESS:
            raise InvalidArgumentError(errno.EINPROGRESS, func,
                                       f"notification {id} was already answered or not "
                                       f"received yet")
        check(rc, func, f"notification {id}")

    def id_valid(self, notification: Notification | int) -> bool:
        """True while the notification is pending (SECCOMP_IOCTL_NOTIF_ID_VALID)."""
        id = _check_id(notification)
        rc = lib.spy_notify_id_valid(self._live("SECCOMP_IOCTL_NOTIF_ID_VALID"), id)
        if rc == -errno.ENOENT:
            return False
        check(rc, "SECCOMP_IOCTL_NOTIF_ID_VALID")
        return True

    def _require_valid(self, id: int, func: str) -> None:
        if not self.id_valid(id):
            raise NotificationGoneError(func, f"notification {id} is no longer pending")

    def add_fd(self, notification: Notification | int, fd: int, *,
               target_fd: int | None = None, cloexec: bool = True,
               send: bool = False) -> int:
        """Install a copy of our ``fd`` in the target (SECCOMP_IOCTL_NOTIF_ADDFD).

        ``target_fd`` chooses the number (SECCOMP_ADDFD_FLAG_SETFD, replacing
        what was there); ``cloexec`` sets O_CLOEXEC on it; ``send=True``
        (kernel 5.14+) also answers the notification atomically, making the
        syscall return the new fd number: do not respond again (a handler
        returns Response.HANDLED).  Returns the fd number in the target.
        Raises NotificationGoneError, UnsupportedError, SeccompError.
        """
        id = _check_id(notification)
        if isinstance(fd, bool) or not isinstance(fd, int) or fd < 0:
            raise InvalidArgumentError(func="SECCOMP_IOCTL_NOTIF_ADDFD",
                                       detail=f"fd must be an open fd, not {fd!r}")
        flags = 0
        newfd = 0
        if target_fd is not None:
            if isinstance(target_fd, bool) or not isinstance(target_fd, int) \
                    or not 0 <= target_fd <= _INT32_MAX:
                raise InvalidArgumentError(func="SECCOMP_IOCTL_NOTIF_ADDFD",
                                           detail=f"target_fd must be >= 0, not {target_fd!r}")
            flags |= ADDFD_FLAG_SETFD
            newfd = target_fd
        if send:
            flags |= ADDFD_FLAG_SEND
        rc = lib.spy_notify_addfd(self._live("SECCOMP_IOCTL_NOTIF_ADDFD"), id, fd, newfd,
                                  os.O_CLOEXEC if cloexec else 0, flags)
        if rc < 0:
            if rc == -errno.EINVAL and send:
                # Old kernels refuse the unknown flag with EINVAL as well.
                detail = "SECCOMP_ADDFD_FLAG_SEND needs Linux 5.14+ (or bad arguments)"
                raise UnsupportedError("SECCOMP_IOCTL_NOTIF_ADDFD", detail) if \
                    not _addfd_send_supported() else InvalidArgumentError(
                        errno.EINVAL, "SECCOMP_IOCTL_NOTIF_ADDFD", "bad fd or flags")
            self._send_failed(rc, id, "SECCOMP_IOCTL_NOTIF_ADDFD")
        if send:
            self._answered_add(id)
        return int(rc)

    def set_flags(self, flags: int) -> None:
        """SECCOMP_IOCTL_NOTIF_SET_FLAGS (Linux 6.6+).  Raises UnsupportedError before."""
        rc = lib.spy_notify_set_flags(self._live("SECCOMP_IOCTL_NOTIF_SET_FLAGS"), flags)
        if rc in (-errno.ENOTTY, -errno.EINVAL) and flags & ~SYNC_WAKE_UP == 0:
            raise UnsupportedError("SECCOMP_IOCTL_NOTIF_SET_FLAGS",
                                   "synchronous wake-up needs Linux 6.6+")
        check(rc, "SECCOMP_IOCTL_NOTIF_SET_FLAGS", hex(flags))

    def set_sync_wakeup(self) -> bool:
        """Ask for synchronous wake-up (SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP, 6.6+).

        The kernel then wakes the supervisor and the target on the same CPU,
        which speeds up round trips.  Returns False when the kernel lacks it.
        """
        try:
            self.set_flags(SYNC_WAKE_UP)
        except UnsupportedError:
            return False
        return True

    # -- target memory
    def read_memory(self, notification: Notification, address: int, size: int) -> bytes:
        """Read ``size`` bytes at ``address`` in the target (/proc/PID/mem).

        Follows seccomp_unotify(2): the notification is checked with
        ID_VALID before the read (so the pid still names the target, not a
        recycled process) and after it (so the target was still blocked in
        the syscall).  The data may still change afterwards if the target has
        other threads: never let CONTINUE depend on it.  Raises
        NotificationGoneError, SeccompError (EIO for unmapped memory),
        InvalidArgumentError.
        """
        if not isinstance(notification, Notification):
            raise TypeError("read_memory() needs the Notification (for its pid)")
        if isinstance(address, bool) or not isinstance(address, int) or not 0 <= address < 2**63:
            raise InvalidArgumentError(func="pread", detail=f"bad address {address!r}")
        if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= 2**30:
            raise InvalidArgumentError(func="pread", detail=f"bad size {size!r}")
        id = notification.id
        func = f"/proc/{notification.pid}/mem"
        if notification.pid <= 0:
            raise InvalidArgumentError(errno.ESRCH, func,
                                       "the target is not visible in this pid namespace")
        self._require_valid(id, func)
        try:
            memfd = os.open(func, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as exc:
            raise SeccompError(exc.errno or errno.EIO, "open", func) from None
        try:
            self._require_valid(id, func)
            parts = []
            left = size
            pos = address
            while left:
                try:
                    chunk = os.pread(memfd, left, pos)
                except OSError as exc:
                    raise SeccompError(exc.errno or errno.EIO, "pread",
                                       f"{func} at {pos:#x}") from None
                if not chunk:
                    raise SeccompError(errno.EIO, "pread", f"{func} at {pos:#x}: short read")
                parts.append(chunk)
                left -= len(chunk)
                pos += len(chunk)
        finally:
            os.close(memfd)
        self._require_valid(id, func)
        return b"".join(parts)

    def read_string(self, notification: Notification, address: int,
                    max_size: int = 4096) -> bytes:
        """Read a NUL-terminated C string at ``address`` (without the NUL).

        Reads page by page (never past the page holding the NUL), with the
        same ID_VALID checks as :meth:`read_memory`.  Raises
        InvalidArgumentError when no NUL is found within ``max_size`` bytes
        (PATH_MAX by default), plus what read_memory raises.
        """
        parts: list[bytes] = []
        total = 0
        pos = address
        while total < max_size:
            page_left = 4096 - (pos % 4096)
            want = min(page_left, max_size - total)
            chunk = self.read_memory(notification, pos, want)
            nul = chunk.find(b"\0")
            if nul >= 0:
                parts.append(chunk[:nul])
                return b"".join(parts)
            parts.append(chunk)
            total += len(chunk)
            pos += len(chunk)
        raise InvalidArgumentError(func="read_string",
                                   detail=f"no NUL within {max_size} bytes at {address:#x}")


def _addfd_send_supported() -> bool:
    return _kernel_at_least(5, 14)


def _kernel_at_least(major: int, minor: int) -> bool:
    try:
        parts = os.uname().release.split("-")[0].split(".")
        return (int(parts[0]), int(parts[1])) >= (major, minor)
    except (ValueError, IndexError):
        return True


def continue_all(listener: Listener, timeout: float | None = None, limit: int = 0) -> int:
    """Answer CONTINUE to every notification, in C, until hang-up or ``timeout``.

    For benchmarks and recording tools only (CONTINUE is never a security
    decision).  Returns how many were answered.  Raises SeccompError.
    """
    count = ffi.new("uint64_t *")
    check(lib.spy_notify_continue_loop(listener.fileno(), _ms(timeout), limit, count),
          "SECCOMP_IOCTL_NOTIF_RECV")
    return int(count[0])


# -- supervisor loops --------------------------------------------------

Handler = Callable[[Notification], Optional[Response]]
AsyncHandler = Callable[[Notification], Union[Optional[Response], Awaitable[Optional[Response]]]]
Reporter = Callable[[BaseException, Optional[Notification]], None]


def _default_report(exc: BaseException, notification: Notification | None) -> None:
    log.error("seccomp notify handler failed on %r", notification, exc_info=exc)


def _guarded(report: Reporter) -> Reporter:
    """``report``, but an Exception it raises is logged instead of ending the
    loop (a BaseException still propagates; the loops answer first)."""
    if getattr(report, "_spy_guarded", False):
        return report

    def guarded(exc: BaseException, notification: Notification | None) -> None:
        try:
            report(exc, notification)
        except Exception as failure:
            log.error("seccomp notify: the report callback failed on %r (reporting %r)",
                      notification, exc, exc_info=failure)

    guarded._spy_guarded = True  # type: ignore[attr-defined]
    return guarded


def _call_handler(handler: Callable[[Notification], Any], n: Notification,
                  on_error: Response, report: Reporter) -> Any:
    """``handler(n)``; ``on_error`` when it raised an Exception (reported).

    A BaseException from the handler or the reporter propagates: the caller
    answers ``n`` (see :func:`_answer_quietly`) and re-raises it.
    """
    try:
        return handler(n)
    except Exception as exc:
        report(exc, n)
        return on_error


def _answer_quietly(listener: Listener, n: Notification, response: Response) -> None:
    """Answer ``n`` ignoring every failure: the last act of a dying loop."""
    fd = listener._fd
    if fd >= 0 and not response.sent:
        lib.spy_notify_send(fd, n.id, response.val, response.error, response.flags)


def _answer(listener: Listener, n: Notification, response: Response | None,
            on_error: Response, report: Reporter) -> bool:
    """Send the response; return False when it could not be sent.  Any
    report is made after the answer went out."""
    bad: BaseException | None = None
    if response is None or not isinstance(response, Response):
        if response is not None:
            bad = TypeError(f"handler returned {type(response).__name__}, not a Response")
        response = on_error
    if response.sent:
        return True
    rc = lib.spy_notify_send(listener._fd, n.id, response.val, response.error, response.flags)
    if bad is not None:
        report(bad, n)
    if rc == 0:
        return True
    if rc == -errno.ENOENT:  # the target went away meanwhile: not an error
        return False
    try:
        listener._send_failed(rc, n.id)
    except SeccompError as exc:
        report(exc, n)
    return False


def _static_rules(static: Mapping[SyscallLike, Response] | None) -> tuple[Any, int]:
    """Turn {syscall: Response} into the shim's rule array (native arch for names)."""
    from .syscall import Syscall

    if not static:
        return ffi.NULL, 0
    rules = ffi.new("struct spy_rule[]", len(static))
    native = int(Arch.native())
    for i, (sc, response) in enumerate(static.items()):
        if not isinstance(response, Response) or response.sent:
            raise InvalidArgumentError(func="serve",
                                       detail=f"static answer for {sc!r} must be a Response "
                                              f"that answers, not {response!r}")
        s = Syscall.coerce(sc)
        arch = int(s.arch) if s.arch is not Arch.NATIVE else native
        rules[i].nr = s.number_on(arch)
        rules[i].arch = arch
        rules[i].val = response.val
        rules[i].error = response.error
        rules[i].flags = response.flags
    return rules, len(static)


def serve(listener: Listener, handler: Handler, *, on_error: Response | None = None,
          report: Reporter | None = None, stop_fd: int = -1,
          timeout: float | None = None,
          static: Mapping[SyscallLike, Response] | None = None,
          sync_wakeup: bool = True) -> int:
    """Answer notifications with ``handler(notification) -> Response`` until hang-up.

    Blocks (without holding the GIL while waiting) until no task uses the
    filter any more, ``stop_fd`` becomes readable, or no notification came
    for ``timeout`` seconds.  A handler that raises or returns something
    other than a Response is reported with ``report(exc, notification)``
    (default: logged to ``seccomp_py.notify``) and answered with
    ``on_error`` (default ``Response.errno(EPERM)``).  A handler returning
    None also gets ``on_error``.  ENOENT (target gone) and EINTR are
    handled.  A reporter that raises an Exception is logged and the loop
    goes on; a BaseException (SystemExit, KeyboardInterrupt...) from the
    handler or the reporter is re-raised after the notification was
    answered with ``on_error``, and the listener is then closed (its
    targets see ENOSYS, never a hang).

    ``static`` maps syscalls (names resolve on the native arch, or Syscall
    objects with an arch) to fixed answers given in C without calling the
    handler: the fast path for bulk answers such as CONTINUE in a recorder.

    Each round trip is one C call: answer, wait (poll first), receive.
    ``sync_wakeup`` (default on) asks the kernel for synchronous wake-up
    (Linux 6.6+, ignored before), which suits a loop that answers each
    notification before taking the next; it stays set on the listener.
    Returns the number of notifications answered.  Raises
    ListenerClosedError, InvalidArgumentError, SeccompError for other
    kernel failures.
    """
    default = Response.errno(errno.EPERM) if on_error is None else on_error
    if not isinstance(default, Response) or default.sent:
        raise InvalidArgumentError(func="serve", detail="on_error must be a Response that answers")
    rep = _guarded(report or _default_report)
    rules, nrules = _static_rules(static)
    if sync_wakeup:
        listener.set_sync_wakeup()
    loop = ffi.new("struct spy_loop *")
    loop.fd = listener._live("serve")
    loop.stopfd = stop_fd
    loop.timeout_ms = _ms(timeout)
    loop.rules = rules
    loop.nrules = nrules
    raw = ffi.buffer(ffi.addressof(loop, "notif"))
    step = lib.spy_notify_loop_step
    refs = _getrefcount
    handled = 0
    # The handler gets a Notification decoded lazily from the loop's buffer
    # (nothing is decoded unless it reads a field).  When it kept no reference
    # the same object serves the next notification; one that was kept (stored,
    # handed to a thread, held by a traceback) is decoded before the buffer is
    # reused, and a fresh object takes its place.
    n = _spare_notification(raw, listener)
    # The notification received and not answered yet: a loop that dies
    # (a BaseException from the handler, the reporter or a signal) answers
    # it with on_error and closes the listener, so no target hangs.
    pending: Notification | None = None
    kept = n  # the notification answered last
    # What getrefcount says with only ``n`` and ``kept`` holding it (the same
    # locals as in the check below; measured, not assumed, as interpreters
    # differ in whether the argument itself counts).
    base = refs(n) if refs is not None else 0
    try:
        rc = step(loop, ffi.NULL)
        while True:
            if rc == 1:
                kept = pending = n
                handled += 1
                try:
                    r = handler(n)
                except Exception as exc:
                    rep(exc, n)
                    r = default
                pending = None
                if refs is None or refs(n) > base:
                    if n._v is None:
                        n._v = _unpack_from(raw)
                    n = _spare_notification(raw, listener)
                if r.__class__ is Response and not r.sent:
                    # The common case: answer and wait for the next one in one C call.
                    if kept is n:
                        n._v = None  # reused for the next one
                    rc = step(loop, r._c)
                    continue
                if kept is n:  # it may be reported: never reuse it
                    n = _spare_notification(raw, listener)
                if kept._v is None:
                    kept._v = _unpack_from(raw)
                _answer(listener, kept, r, default, rep)
            elif rc == 3:
                # The fast-path answer failed; the buffer still holds ``kept``.
                if kept is n:
                    n = _spare_notification(raw, listener)
                if kept._v is None:
                    kept._v = _unpack_from(raw)
                _send_error(listener, loop.send_rc, kept, rep)
            elif rc in (0, 2, -errno.EPIPE):
                return handled + int(loop.answered)
            elif rc != -errno.EINTR:
                check(rc, "SECCOMP_IOCTL_NOTIF_RECV")
            rc = step(loop, ffi.NULL)
    except BaseException:
        if pending is not None:
            _answer_quietly(listener, pending, default)
        listener.close()
        raise


def _spare_notification(raw: Any, listener: Listener) -> Notification:
    n = _new(Notification)
    n._v = None
    n._raw = raw
    n.listener = listener
    return n


def _send_error(listener: Listener, rc: int, n: Notification, rep: Reporter) -> None:
    if rc == -errno.ENOENT:  # the target went away meanwhile: not an error
        return
    try:
        listener._send_failed(rc, n.id)
    except SeccompError as exc:
        rep(exc, n)


class Handshake(Protocol):
    """One connection's handshake, driven by the :class:`Supervisor` without
    blocking: ``feed()`` reads what the peer sent so far (the socket is
    non-blocking) and returns the :class:`Handoff` once complete, None while
    more is needed, or raises to refuse the peer; ``close()`` releases what
    it holds (fds received so far).  A server object may give
    ``handshake(conn) -> Handshake`` (the OCI agent does); the default is
    :class:`ListenerServer`'s one-message SCM_RIGHTS handoff.
    """

    def feed(self) -> Handoff | None: ...

    def close(self) -> None: ...


class _PayloadHandshake:
    """The ListenerServer handoff: one SOCK_SEQPACKET message (receive_listener)."""

    def __init__(self, conn: socket.socket, allowed_uids: set[int] | None) -> None:
        self.conn = conn
        self.allowed_uids = allowed_uids
        peer_credentials(conn)  # fails now for a peer already gone

    def feed(self) -> Handoff | None:
        try:
            return receive_listener(self.conn, allowed_uids=self.allowed_uids, timeout=0.0)
        except TimeoutError:
            return None  # spurious wake-up: keep waiting until the deadline

    def close(self) -> None:
        pass


#: Most handshakes a Supervisor runs at once (more connections wait in the backlog).
MAX_HANDSHAKES = 64


class Supervisor:
    """Serve many listeners (and optionally a :class:`ListenerServer`) in one loop.

    ``Supervisor(handler, on_error=..., report=...)``; :meth:`add` a
    Listener, or give ``server=`` to accept new sandboxes as they connect
    (``on_handoff(handoff)`` sees each one and may return False to refuse
    it).  :meth:`run` blocks until :meth:`stop` (or, without a server, until
    every listener hung up); :meth:`start` runs it in a daemon thread.
    Listeners that hang up are closed and dropped (``on_drop(listener,
    reason)`` is told).

    No peer can stall the loop: connections are accepted and read without
    blocking, each handshake has one deadline for the whole exchange (the
    server's ``timeout``, default 5 s), at most ``max_handshakes`` run at
    once (the server socket is not polled meanwhile; the others wait in its
    backlog), and any exception from one connection (its handshake or
    ``on_handoff``) closes that connection only and is reported.
    """

    def __init__(self, handler: Handler, *, on_error: Response | None = None,
                 report: Reporter | None = None, server: Any = None,
                 on_handoff: Callable[[Handoff], bool | None] | None = None,
                 on_drop: Callable[[Listener, str], None] | None = None,
                 max_handshakes: int = MAX_HANDSHAKES) -> None:
        if isinstance(max_handshakes, bool) or not isinstance(max_handshakes, int) \
                or max_handshakes < 1:
            raise InvalidArgumentError(func="Supervisor",
                                       detail=f"max_handshakes must be >= 1, not "
                                              f"{max_handshakes!r}")
        self.handler = handler
        self.on_error = Response.errno(errno.EPERM) if on_error is None else on_error
        self.report = _guarded(report or _default_report)
        self.server = server
        self.on_handoff = on_handoff
        self.on_drop = on_drop
        self.max_handshakes = max_handshakes
        self.handled = 0
        self._sel = selectors.DefaultSelector()
        self._listeners: dict[int, Listener] = {}
        self._stop_r, self._stop_w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        self._sel.register(self._stop_r, selectors.EVENT_READ, None)
        self._conns: dict[int, tuple[socket.socket, float, Any]] = {}
        self._accepting = False
        if server is not None:
            self._sel.register(server.fileno(), selectors.EVENT_READ, server)
            self._accepting = True
        self._thread: threading.Thread | None = None
        self._served_any = False
        self._stop_requested = False
        self._lock = threading.Lock()
        self._pending: list[Listener] = []

    @property
    def listeners(self) -> list[Listener]:
        return list(self._listeners.values())

    def add(self, listener: Listener) -> None:
        """Supervise ``listener`` too (thread-safe; the supervisor closes it at hang-up)."""
        if self._thread is None or threading.current_thread() is self._thread:
            self.add_now(listener)
            return
        with self._lock:
            self._pending.append(listener)
        os.write(self._stop_w, b"a")

    def _drain_control(self) -> bool:
        try:
            data = os.read(self._stop_r, 4096)
        except BlockingIOError:
            data = b""
        with self._lock:
            pending, self._pending = self._pending, []
        for listener in pending:
            self.add_now(listener)
        return b"s" in data

    def _drop(self, listener: Listener, reason: str = "closed") -> None:
        fd = listener._fd
        if fd >= 0:
            self._sel.unregister(fd)
            del self._listeners[fd]
        listener.close()
        if self.on_drop is not None and fd >= 0:
            try:
                self.on_drop(listener, reason)
            except Exception as exc:
                self.report(exc, None)

    def _accept(self) -> None:
        # Accept without blocking; the handoff is read when the connection
        # becomes readable, so a slow peer never stalls the other targets.
        assert self.server is not None and self.server._sock is not None
        self.server._sock.setblocking(False)
        try:
            conn, _ = self.server._sock.accept()
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self.report(HandoffError(exc.errno or errno.EIO, "accept", str(exc.strerror)), None)
            return
        conn.setblocking(False)
        wait = self.server.timeout if self.server.timeout is not None else 5.0
        try:
            start = getattr(self.server, "handshake", None)
            state = (start(conn) if start is not None
                     else _PayloadHandshake(conn, self.server.allowed_uids))
        except Exception as exc:
            conn.close()
            self._refused(None, exc)
            return
        self._conns[conn.fileno()] = (conn, time.monotonic() + wait, state)
        self._sel.register(conn, selectors.EVENT_READ, conn)
        if len(self._conns) >= self.max_handshakes and self._accepting:
            self._sel.unregister(self.server.fileno())
            self._accepting = False

    def _refused(self, state: Any, exc: BaseException) -> None:
        hook = getattr(state, "refused", None) or getattr(self.server, "refused", None)
        if hook is not None:
            try:
                hook(exc)
                return
            except Exception as failure:
                exc = failure
        self.report(exc, None)

    def _close_conn(self, conn: socket.socket) -> None:
        fd = conn.fileno()
        entry = self._conns.pop(fd, None)
        if fd >= 0:
            self._sel.unregister(conn)
        conn.close()
        if entry is not None:
            with contextlib.suppress(Exception):
                entry[2].close()
        if (not self._accepting and self.server is not None
                and len(self._conns) < self.max_handshakes
                and getattr(self.server, "_sock", None) is not None):
            self._sel.register(self.server.fileno(), selectors.EVENT_READ, self.server)
            self._accepting = True

    def _handoff(self, conn: socket.socket) -> None:
        entry = self._conns.get(conn.fileno())
        if entry is None:
            return
        state = entry[2]
        try:
            handoff = state.feed()
        except Exception as exc:  # this connection only: close it, refuse, go on
            self._close_conn(conn)
            self._refused(state, exc)
            return
        if handoff is None:
            return
        self._close_conn(conn)
        try:
            keep = True if self.on_handoff is None else self.on_handoff(handoff)
        except Exception as exc:
            self.report(exc, None)
            keep = False
        if keep is False:
            handoff.listener.close()
            return
        self.add_now(handoff.listener)

    def _expire(self) -> float | None:
        """Drop connections past their deadline; seconds until the next one."""
        if not self._conns:
            return None
        now = time.monotonic()
        for conn, deadline, state in list(self._conns.values()):
            if deadline <= now:
                self._close_conn(conn)
                self._refused(state, TimeoutError(
                    errno.ETIMEDOUT, "a peer connected but did not complete its handoff "
                                     "in time"))
        if not self._conns:
            return None
        return max(0.0, min(d for _, d, _ in self._conns.values()) - now)

    def add_now(self, listener: Listener) -> None:
        """Register ``listener`` at once: before start(), or from the supervising thread."""
        self._listeners[listener.fileno()] = listener
        self._sel.register(listener.fileno(), selectors.EVENT_READ, listener)
        self._served_any = True

    def run(self, timeout: float | None = None) -> int:
        """Serve until stop(), or all listeners hung up (no server), or ``timeout`` s idle.

        Every notification received is answered, whatever the handler or the
        reporter raises; a BaseException (SystemExit, KeyboardInterrupt...)
        is re-raised after the answer, and run() then closes every listener
        so that their targets see ENOSYS instead of hanging.  Returns the
        number of notifications handled.
        """
        try:
            return self._run(timeout)
        except BaseException:
            self._die()
            raise

    def _run(self, timeout: float | None) -> int:
        self._drain_control()
        if self._stop_requested:  # stop() came before run() got going
            self._stop_requested = False
            return self.handled
        idle_until = None if timeout is None else time.monotonic() + timeout
        while True:
            if self.server is None and not self._listeners and self._served_any:
                with self._lock:
                    if not self._pending:
                        return self.handled
            wait = self._expire()
            if idle_until is not None:
                left = max(0.0, idle_until - time.monotonic())
                wait = left if wait is None else min(wait, left)
            events = self._sel.select(wait)
            if not events:
                if idle_until is not None and time.monotonic() >= idle_until:
                    return self.handled
                continue
            if timeout is not None:
                idle_until = time.monotonic() + timeout
            for key, _ in events:
                obj = key.data
                if obj is None:
                    if self._drain_control():
                        self._stop_requested = False
                        return self.handled
                elif isinstance(obj, Listener):
                    if obj._fd >= 0:
                        self._one(obj)
                elif isinstance(obj, socket.socket):
                    if obj.fileno() in self._conns:
                        self._handoff(obj)
                else:
                    self._accept()

    def _one(self, listener: Listener) -> None:
        rc = lib.spy_notify_wait_recv(listener._fd, -1, 0, listener._buf)
        if rc == 0 or rc == -errno.EINTR:
            return
        if rc == -errno.EPIPE:
            self._drop(listener, "no process uses the filter any more")
            return
        if rc < 0:
            err = SeccompError(-rc, "SECCOMP_IOCTL_NOTIF_RECV")
            self.report(err, None)
            self._drop(listener, str(err))
            return
        n = Notification._from_raw(listener._raw, listener)
        self.handled += 1
        try:
            r = _call_handler(self.handler, n, self.on_error, self.report)
        except BaseException:
            _answer_quietly(listener, n, self.on_error)
            raise
        _answer(listener, n, r, self.on_error, self.report)

    def start(self, name: str = "seccomp-supervisor") -> threading.Thread:
        """Run :meth:`run` in a daemon thread and return it."""
        if self._thread is not None:
            raise InvalidArgumentError(errno.EALREADY, "Supervisor.start", "already started")
        self._thread = threading.Thread(target=self._run_thread, name=name, daemon=True)
        self._thread.start()
        return self._thread

    def _run_thread(self) -> None:
        try:
            self.run()
        except BaseException as exc:  # report, never die silently
            with contextlib.suppress(BaseException):
                self.report(exc, None)

    def _die(self) -> None:
        """run() is dying: close every listener (their targets see ENOSYS)
        and every pending connection."""
        with self._lock:
            pending, self._pending = self._pending, []
        for listener in pending:
            listener.close()
        for listener in list(self._listeners.values()):
            with contextlib.suppress(Exception):
                self._drop(listener, "the supervisor died")
        for conn, *_ in list(self._conns.values()):
            with contextlib.suppress(Exception):
                self._close_conn(conn)

    def stop(self, timeout: float | None = None) -> None:
        """Ask run() to return and wait for the thread (if started).

        A stop() made while run() is not running makes the next run()
        return at once.
        """
        self._stop_requested = True
        with contextlib.suppress(OSError):
            os.write(self._stop_w, b"s")
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def close(self) -> None:
        """Stop, then close every listener and the control pipe."""
        self.stop(5.0)
        for listener in list(self._listeners.values()):
            self._drop(listener)
        for conn, *_ in list(self._conns.values()):
            self._close_conn(conn)
        self._sel.close()
        for fd in (self._stop_r, self._stop_w):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._stop_r = self._stop_w = -1

    def __enter__(self) -> Supervisor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def serve_in_thread(listener: Listener, handler: Handler, *,
                    on_error: Response | None = None,
                    report: Reporter | None = None) -> Supervisor:
    """Serve ``listener`` from a daemon thread; returns the started Supervisor.

    Call ``.stop()`` (or ``.close()``) on it to end; it also ends by itself
    when every target has gone.
    """
    sup = Supervisor(handler, on_error=on_error, report=report)
    sup.add_now(listener)
    sup.start()
    return sup


async def serve_async(listener: Listener, handler: AsyncHandler, *,
                      on_error: Response | None = None,
                      report: Reporter | None = None) -> int:
    """Serve ``listener`` on the running asyncio loop until hang-up.

    The loop watches the fd (``loop.add_reader``); each notification is
    received without blocking and handed to ``handler``, which may be a
    coroutine function (handlers then run concurrently).  Errors are handled
    as in :func:`serve`.  Cancel the task to stop early.  Returns the number
    of notifications handled.
    """
    default = Response.errno(errno.EPERM) if on_error is None else on_error
    rep = _guarded(report or _default_report)
    loop = asyncio.get_running_loop()
    fd = listener._live("serve_async")
    done: asyncio.Future[None] = loop.create_future()
    tasks: dict[asyncio.Task[None], Notification] = {}
    count = 0

    def die(exc: BaseException) -> None:
        if not done.done():
            done.set_exception(exc)

    async def run_one(n: Notification, pending: Awaitable[Response | None]) -> None:
        try:
            try:
                r = await pending
            except Exception as exc:
                r = default
                rep(exc, n)
            _answer(listener, n, r, default, rep)
        except asyncio.CancelledError:
            _answer_quietly(listener, n, default)
            raise
        except BaseException as exc:  # SystemExit...: answer, then end the loop with it
            _answer_quietly(listener, n, default)
            die(exc)

    def readable() -> None:
        nonlocal count
        if done.done():
            return
        rc = lib.spy_notify_wait_recv(fd, -1, 0, listener._buf)
        if rc in (0, -errno.EINTR):
            return
        if rc == -errno.EPIPE:
            done.set_result(None)
            return
        if rc < 0:
            done.set_exception(SeccompError(-rc, "SECCOMP_IOCTL_NOTIF_RECV"))
            return
        n = Notification._from_raw(listener._raw, listener)
        count += 1
        try:
            r = _call_handler(handler, n, default, rep)
            if inspect.isawaitable(r):
                task = loop.create_task(run_one(n, r))
                tasks[task] = n
                task.add_done_callback(lambda t: tasks.pop(t, None))
            else:
                _answer(listener, n, r, default, rep)
        except BaseException as exc:
            _answer_quietly(listener, n, default)
            die(exc)

    loop.add_reader(fd, readable)
    failed = True
    try:
        await done
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        failed = False
    except asyncio.CancelledError:
        failed = False  # cancelling stops the loop; it does not kill the listener
        raise
    finally:
        loop.remove_reader(fd)
        for task, n in list(tasks.items()):
            task.cancel()
            _answer_quietly(listener, n, default)  # never leave a target waiting
        if failed:
            listener.close()
    return count


# -- the handoff: payload --------------------------------------------------

PAYLOAD_MAGIC = b"SPYN"
PAYLOAD_VERSION = 1
MAX_NAME = 255
MAX_METADATA = 4096
_HEADER = struct.Struct("<4sBBHII")  # magic, version, flags, name_len, meta_len, pid
MAX_PAYLOAD = _HEADER.size + MAX_NAME + MAX_METADATA


def encode_payload(pid: int, name: str = "", metadata: bytes = b"") -> bytes:
    """The versioned handoff payload: magic, version, pid, a name and metadata.

    ``name`` is at most 255 UTF-8 bytes and ``metadata`` at most 4096 bytes;
    raises InvalidArgumentError beyond.
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, not {type(name).__name__}")
    if not isinstance(metadata, (bytes, bytearray)):
        raise TypeError(f"metadata must be bytes, not {type(metadata).__name__}")
    raw_name = name.encode()
    if len(raw_name) > MAX_NAME:
        raise InvalidArgumentError(errno.EMSGSIZE, "encode_payload",
                                   f"name is {len(raw_name)} bytes; at most {MAX_NAME}")
    if len(metadata) > MAX_METADATA:
        raise InvalidArgumentError(errno.EMSGSIZE, "encode_payload",
                                   f"metadata is {len(metadata)} bytes; at most {MAX_METADATA}")
    return _HEADER.pack(PAYLOAD_MAGIC, PAYLOAD_VERSION, 0, len(raw_name), len(metadata),
                        pid) + raw_name + bytes(metadata)


def decode_payload(data: bytes) -> tuple[int, str, bytes]:
    """Parse a payload into (pid, name, metadata).  Raises HandoffError."""
    if len(data) < _HEADER.size:
        raise HandoffError(errno.EBADMSG, "decode_payload",
                           f"payload of {len(data)} bytes is shorter than its header")
    magic, version, _flags, nlen, mlen, pid = _HEADER.unpack_from(data)
    if magic != PAYLOAD_MAGIC:
        raise HandoffError(errno.EBADMSG, "decode_payload", "not a seccomp_py handoff")
    if version != PAYLOAD_VERSION:
        raise HandoffError(errno.EPROTO, "decode_payload",
                           f"payload version {version}; this seccomp_py speaks "
                           f"{PAYLOAD_VERSION}")
    if nlen > MAX_NAME or mlen > MAX_METADATA or len(data) != _HEADER.size + nlen + mlen:
        raise HandoffError(errno.EBADMSG, "decode_payload", "payload lengths do not add up")
    body = data[_HEADER.size:]
    try:
        name = body[:nlen].decode()
    except UnicodeDecodeError:
        raise HandoffError(errno.EBADMSG, "decode_payload", "name is not UTF-8") from None
    return pid, name, bytes(body[nlen:])


# -- socket paths --------------------------------------------------


def warn_unsafe_socket_dir(path: str) -> bool:
    """Warn (UnsafeSocketPathWarning) when others may create ``path``.

    True when the directory holding it is writable by group or others
    without the sticky bit, or is owned by a user other than us and root
    (stat(2)).  Returns whether it warned.
    """
    directory = os.path.dirname(os.path.abspath(path)) or "/"
    try:
        st = os.stat(directory)
    except OSError:
        return False
    reason = ""
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH) and not st.st_mode & stat.S_ISVTX:
        reason = "writable by others without the sticky bit"
    elif st.st_uid not in (0, os.getuid()):
        reason = f"owned by uid {st.st_uid}"
    if not reason:
        return False
    warnings.warn(f"{path}: the directory {directory} is {reason}, so another user could "
                  f"bind this socket path first; use a private directory",
                  UnsafeSocketPathWarning, stacklevel=3)
    return True


def _socket_is_live(path: str) -> bool:
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    try:
        probe.setblocking(False)
        try:
            probe.connect(path)
        except (BlockingIOError, InterruptedError):
            return True  # someone listens, its backlog is full
        except OSError as exc:
            if exc.errno == errno.EPROTOTYPE:  # a live SOCK_SEQPACKET / DGRAM socket
                return _seqpacket_live(path)
            return False  # ECONNREFUSED: nobody listens (stale)
        return True
    finally:
        probe.close()


def _seqpacket_live(path: str) -> bool:
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
    try:
        probe.setblocking(False)
        try:
            probe.connect(path)
        except (BlockingIOError, InterruptedError):
            return True
        except OSError as exc:
            return exc.errno != errno.ECONNREFUSED
        return True
    finally:
        probe.close()


def bind_socket(sock: socket.socket, path: str, mode: int) -> tuple[int, int]:
    """Bind ``sock`` at ``path`` with ``mode`` (under a umask: never wider
    meanwhile) and return the file's (st_dev, st_ino).

    A stale socket file at ``path`` (nobody listening) is removed first; a
    live socket, or a file that is not a socket, is left alone and bind
    fails with EADDRINUSE (OSError).
    """
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        st = None
    if st is not None:
        if not stat.S_ISSOCK(st.st_mode) or _socket_is_live(path):
            raise OSError(errno.EADDRINUSE, f"{os.strerror(errno.EADDRINUSE)} (a live socket "
                                            f"or another file is at the path; not removed)")
        os.unlink(path)
    old = os.umask(0o777 & ~mode)
    try:
        sock.bind(path)
    finally:
        os.umask(old)
    st = os.lstat(path)
    return st.st_dev, st.st_ino


def unlink_own_socket(path: str, ident: tuple[int, int]) -> None:
    """Remove ``path`` if it is still the socket file we bound (same inode)."""
    try:
        st = os.lstat(path)
        if stat.S_ISSOCK(st.st_mode) and (st.st_dev, st.st_ino) == ident:
            os.unlink(path)
    except OSError:
        pass


# -- the handoff: monitor side --------------------------------------------------

@dataclass
class Handoff:
    """A received listener: the :class:`Listener`, what the sandbox said and who sent it.

    ``pid``/``name``/``metadata`` come from the payload (the sender's claim);
    ``peer_pid``/``peer_uid``/``peer_gid`` from SO_PEERCRED (the kernel's
    word, as of connect()).
    """

    listener: Listener
    pid: int
    name: str
    metadata: bytes
    peer_pid: int
    peer_uid: int
    peer_gid: int
    version: int = PAYLOAD_VERSION
    extra: dict[str, Any] = field(default_factory=dict)


_UCRED = struct.Struct("3i")


def peer_credentials(sock: socket.socket) -> tuple[int, int, int]:
    """(pid, uid, gid) of a connected Unix socket's peer (SO_PEERCRED, unix(7))."""
    try:
        raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
    except OSError as exc:
        raise HandoffError(exc.errno or errno.ENOTCONN, "getsockopt(SO_PEERCRED)",
                           str(exc.strerror)) from None
    pid, uid, gid = _UCRED.unpack(raw)
    return pid, uid, gid


def _close_fds(fds: Iterable[int]) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


def receive_listener(sock: socket.socket, *, allowed_uids: Iterable[int] | None = None,
                     timeout: float | None = 10.0) -> Handoff:
    """Receive one listener fd and its payload from a connected Unix socket.

    Checks the peer with SO_PEERCRED first: its uid must be in
    ``allowed_uids`` (default: only our own uid).  Receives with
    MSG_CMSG_CLOEXEC; a truncated payload or control message (MSG_TRUNC /
    MSG_CTRUNC), a message without exactly one fd, or an fd that is not a
    seccomp listener is refused, and every fd received is closed.  Raises
    PeerRefusedError, HandoffError, TimeoutError.
    """
    pid, uid, gid = peer_credentials(sock)
    allowed = {os.getuid()} if allowed_uids is None else set(allowed_uids)
    if uid not in allowed:
        raise PeerRefusedError(errno.EACCES, "SO_PEERCRED",
                               f"peer pid {pid} runs as uid {uid}, not in {sorted(allowed)}")
    old_timeout = sock.gettimeout()
    sock.settimeout(timeout)
    try:
        data, anc, flags, _ = sock.recvmsg(MAX_PAYLOAD + 1, socket.CMSG_SPACE(16 * 4),
                                           socket.MSG_CMSG_CLOEXEC)
    except (socket.timeout, BlockingIOError):
        raise TimeoutError(errno.ETIMEDOUT, f"no handoff from pid {pid} within {timeout}s") \
            from None
    except OSError as exc:
        raise HandoffError(exc.errno or errno.EIO, "recvmsg", str(exc.strerror)) from None
    finally:
        sock.settimeout(old_timeout)
    fds: list[int] = []
    for level, kind, cdata in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            usable = len(cdata) - len(cdata) % 4
            fds.extend(struct.unpack(f"{usable // 4}i", cdata[:usable]))
    try:
        if flags & socket.MSG_CTRUNC:
            raise HandoffError(errno.EMSGSIZE, "recvmsg",
                               "control data truncated (MSG_CTRUNC): too many fds sent")
        if flags & socket.MSG_TRUNC or len(data) > MAX_PAYLOAD:
            raise HandoffError(errno.EMSGSIZE, "recvmsg",
                               f"payload larger than {MAX_PAYLOAD} bytes")
        if not data and not fds:
            raise HandoffError(errno.ECONNRESET, "recvmsg", "the peer closed without a handoff")
        if len(fds) != 1:
            raise HandoffError(errno.EBADMSG, "recvmsg",
                               f"expected exactly one fd, got {len(fds)}")
        spid, name, metadata = decode_payload(data)
        try:
            listener = Listener(fds[0])
        except NotAListenerError:
            raise HandoffError(errno.ENOTTY, "recvmsg",
                               "the fd received is not a seccomp listener") from None
    except BaseException:
        _close_fds(fds)
        raise
    return Handoff(listener, spid, name, metadata, pid, uid, gid)


class ListenerServer:
    """A Unix socket at ``path`` where sandboxes hand over their listeners.

    SOCK_SEQPACKET, created with ``mode`` (0o600 by default; widen it and
    ``allowed_uids`` together to accept other users) and never readable or
    writable by others meanwhile (bound under a umask).  A stale socket at
    ``path`` (nobody accepts on it) is replaced; a live one or any other
    file is never removed (HandoffError EADDRINUSE).  Closing removes the
    socket file only if it is still ours.  :meth:`accept`
    returns one :class:`Handoff`; give the server to a :class:`Supervisor`
    to serve many sandboxes.  Closing removes the socket file.
    """

    def __init__(self, path: str | os.PathLike[str], *,
                 allowed_uids: Iterable[int] | None = None, mode: int = 0o600,
                 backlog: int = 64, timeout: float | None = 5.0) -> None:
        self.path = os.fspath(path)
        self.allowed_uids = None if allowed_uids is None else set(allowed_uids)
        self.timeout = timeout
        warn_unsafe_socket_dir(self.path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
        try:
            self._ident = bind_socket(sock, self.path, mode)
            sock.listen(backlog)
        except OSError as exc:
            sock.close()
            raise HandoffError(exc.errno or errno.EIO, "bind", f"{self.path}: {exc.strerror}") \
                from None
        self._sock: socket.socket | None = sock

    def fileno(self) -> int:
        if self._sock is None:
            raise ListenerClosedError("ListenerServer.fileno", "the server is closed")
        return self._sock.fileno()

    def accept(self, timeout: float | None = None) -> Handoff:
        """Accept one sandbox and receive its listener (see receive_listener).

        Waits up to ``timeout`` s for a connection (None = forever), then up
        to the server's ``timeout`` for the handoff.  Raises TimeoutError,
        PeerRefusedError, HandoffError.
        """
        if self._sock is None:
            raise ListenerClosedError("ListenerServer.accept", "the server is closed")
        self._sock.settimeout(timeout)
        try:
            conn, _ = self._sock.accept()
        except socket.timeout:
            raise TimeoutError(errno.ETIMEDOUT, "no sandbox connected") from None
        finally:
            self._sock.settimeout(None)
        with conn:
            return receive_listener(conn, allowed_uids=self.allowed_uids, timeout=self.timeout)

    def close(self) -> None:
        """Close the socket and remove its file.  Safe to call twice."""
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()
            unlink_own_socket(self.path, self._ident)

    def __enter__(self) -> ListenerServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- the handoff: sandbox side --------------------------------------------------

ExemptRule = Union[SyscallLike, tuple[Any, ...]]


@runtime_checkable
class Notifier(Protocol):
    """The seed's handoff protocol, run by ``Filter.load()`` when set with
    ``Filter.set_notifier()``:

    1. ``prepare(timeout)``: before load; connect sockets, start helpers.
       Must give up (raise) after ``timeout`` seconds.
    2. ``exempt()``: the syscalls the handoff itself makes once the filter is
       in force (a name, a Syscall, or a tuple ``(syscall, *ArgCmp)`` with
       ``==`` / ``masked_eq`` conditions only).  They go into layer 1's
       prologue, never into the user's rules, and die with layer 2.
    3. layer 1 is installed with SECCOMP_FILTER_FLAG_NEW_LISTENER, then
       ``handle(fd)`` receives the listener fd (and owns it: it must close
       it, or the targets never see ENOSYS when the monitor goes away);
       layer 2 follows when it returns (NOTIFY = ENOSYS if it raised).

    A notifier that also has ``handoff_target() -> (socket_fd, payload)``
    gets the fast path instead of ``handle``: install and sendmsg in one C
    call (see :class:`UnixNotifier`), then ``handed_over()``.
    """

    def exempt(self) -> Sequence[ExemptRule]: ...

    def prepare(self, timeout: float | None) -> None: ...

    def handle(self, fd: int) -> None: ...


class UnixNotifier:
    """Send the listener fd to a monitor over a Unix socket (SCM_RIGHTS).

    ``UnixNotifier(path)`` connects to a :class:`ListenerServer` (a
    SOCK_SEQPACKET socket; SOCK_STREAM works too) during prepare();
    ``UnixNotifier(sock=connected_socket)`` uses a socket you connected
    (the notifier then owns and closes it).  The message carries a
    versioned payload (our pid, ``name``, ``metadata``; see
    :func:`encode_payload`).

    The monitor is checked before anything is installed: the peer's
    credentials (SO_PEERCRED, unix(7)) must show a uid in ``allowed_uids``
    (default: our own uid and root) and, when ``allowed_pids`` is given, a
    pid in it; otherwise prepare() raises PeerRefusedError and load()
    installs nothing.  A path in a directory others may write to gives an
    UnsafeSocketPathWarning (someone else could bind it first).

    Syscalls between the layers: exactly ``sendmsg(2)`` on the socket,
    ``close(2)`` of the listener and of the socket, and ``seccomp(2)`` for
    layer 2, each allowed for those arguments only (see
    :func:`load_with_notifier`).  Raises TimeoutError, HandoffError,
    InvalidArgumentError (payload too big).
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, *,
                 sock: socket.socket | None = None, name: str = "",
                 metadata: bytes = b"", allowed_uids: Iterable[int] | None = None,
                 allowed_pids: Iterable[int] | None = None) -> None:
        if (path is None) == (sock is None):
            raise InvalidArgumentError(func="UnixNotifier",
                                       detail="give exactly one of a path or a connected socket")
        self.path = None if path is None else os.fspath(path)
        self._sock = sock
        self.allowed_uids = ({os.getuid(), 0} if allowed_uids is None
                             else set(allowed_uids))
        self.allowed_pids = None if allowed_pids is None else set(allowed_pids)
        self.name = name
        self.metadata = bytes(metadata)
        encode_payload(os.getpid(), name, self.metadata)  # validate sizes now
        self._payload: bytes | None = None

    def exempt(self) -> Sequence[ExemptRule]:
        if self._sock is not None:
            return [("sendmsg", Arg(0) == self._sock.fileno()), "close"]
        return ["sendmsg", "close"]

    def prepare(self, timeout: float | None) -> None:
        if self._sock is None:
            assert self.path is not None
            warn_unsafe_socket_dir(self.path)
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
            sock.settimeout(timeout)
            deadline = None if timeout is None else time.monotonic() + timeout
            while True:
                try:
                    sock.connect(self.path)
                    break
                except BlockingIOError:
                    # With a timeout the connect is non-blocking, and a Unix
                    # socket whose backlog is full says EAGAIN at once
                    # (unix(7)): wait for room until the deadline.
                    if deadline is not None and time.monotonic() < deadline:
                        time.sleep(0.002)
                        continue
                    sock.close()
                    raise TimeoutError(errno.ETIMEDOUT, f"could not connect to {self.path} "
                                       f"within {timeout}s: its backlog is full") from None
                except socket.timeout:
                    sock.close()
                    raise TimeoutError(errno.ETIMEDOUT, f"could not connect to {self.path} "
                                       f"within {timeout}s") from None
                except OSError as exc:
                    sock.close()
                    raise HandoffError(exc.errno or errno.EIO, "connect",
                                       f"{self.path}: {exc.strerror}") from None
            sock.settimeout(None)
            self._sock = sock
        try:
            self._check_peer(self._sock)
        except BaseException:
            self.close()
            raise
        self._payload = encode_payload(os.getpid(), self.name, self.metadata)

    def _check_peer(self, sock: socket.socket) -> None:
        pid, uid, _gid = peer_credentials(sock)
        where = self.path or "the socket"
        if uid not in self.allowed_uids:
            raise PeerRefusedError(errno.EACCES, "SO_PEERCRED",
                                   f"the monitor at {where} (pid {pid}) runs as uid {uid}, "
                                   f"not in {sorted(self.allowed_uids)}: refusing to hand "
                                   f"it the listener")
        if self.allowed_pids is not None and pid not in self.allowed_pids:
            raise PeerRefusedError(errno.EACCES, "SO_PEERCRED",
                                   f"the monitor at {where} is pid {pid}, not in "
                                   f"{sorted(self.allowed_pids)}: refusing to hand it the "
                                   f"listener")

    def handoff_target(self) -> tuple[int, bytes]:
        if self._sock is None or self._payload is None:
            raise HandoffError(errno.ENOTCONN, "UnixNotifier", "prepare() was not called")
        return self._sock.fileno(), self._payload

    def handed_over(self) -> None:
        """Close the socket (a close(2), exempted)."""
        self.close()

    def handle(self, fd: int) -> None:
        """Send ``fd`` (slow path, from Python) and close it and the socket."""
        try:
            sockfd, payload = self.handoff_target()
            check(lib.spy_send_fd(sockfd, fd, payload, len(payload)), "sendmsg")
        finally:
            os.close(fd)
            self.close()

    def close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()


def _filter_flags(filt: Filter) -> tuple[int, bool]:
    from .attribute import HAS_WAIT_KILL, Attribute

    flags = 0
    if filt.get_attribute(Attribute.THREAD_SYNC):
        flags |= int(lib.SPY_FILTER_FLAG_TSYNC)
    if filt.get_attribute(Attribute.LOG):
        flags |= int(lib.SPY_FILTER_FLAG_LOG)
    if filt.get_attribute(Attribute.DISABLE_SSB):
        flags |= int(lib.SPY_FILTER_FLAG_SPEC_ALLOW)
    if HAS_WAIT_KILL and filt.get_attribute(Attribute.WAIT_KILL):
        flags |= int(lib.SPY_FILTER_FLAG_WAIT_KILLABLE_RECV)
    return flags, bool(filt.get_attribute(Attribute.NO_NEW_PRIVILEGES))


_INSN = struct.Struct("=HBBI")
_DATA = struct.Struct("=iIQ6Q")
_RET_ACTION_FULL = 0xFFFF0000
_RET_ALLOW = 0x7FFF0000
_RET_LOG = 0x7FFC0000


def bpf_run(bpf: bytes, nr: int, arch: int, args: Sequence[int] = (), ip: int = 0) -> int:
    """Run a seccomp BPF program on one syscall and return its SECCOMP_RET_* value.

    The same evaluator as :func:`seccomp_py.bpf.evaluate` (C, in the shim).
    Used before load() to prove the handoff's own syscalls will be allowed.
    Raises InvalidArgumentError (BpfError) for a program the kernel refuses.
    """
    from .bpf import evaluate

    return evaluate(bpf, nr, arch, args, ip)


_LITTLE = struct.pack("=H", 1) == b"\x01\x00"


# -- the two-layer handoff --------------------------------------------------
#
# Filters cannot be removed, so the handoff's own syscalls are never added to
# the user's rules.  Layer 1 (installed with SECCOMP_FILTER_FLAG_NEW_LISTENER)
# is a short prologue that allows, on the native arch only, exactly the
# handoff's calls with their exact arguments, in front of the user's program
# (everything else falls through to it).  Layer 2, installed right after the
# handoff, is the user's program with each NOTIFY return turned into ALLOW.
# The kernel runs every filter and keeps the most restrictive action
# (seccomp(2)), so once layer 2 is in force each call gets exactly the user's
# decision: NOTIFY (layer 1) beats ALLOW (layer 2), and for every other call
# both layers agree.  The prologue's exemptions are then dead.

_LD_W_ABS = 0x20
_JEQ_K = 0x15
_AND_K = 0x54
_RET_K = 0x06
_RET_USER_NOTIF = 0x7FC00000
_RET_ERRNO = 0x00050000
_SET_MODE_FILTER = 1
_JUMP_MAX = 255


@dataclass(frozen=True)
class _Exempt:
    """One call the prologue allows: ``name``, and (arg index, mask, value) checks."""

    name: str
    checks: tuple[tuple[int, int, int], ...] = ()


def _arg_offsets(index: int) -> tuple[int, int]:
    """Offsets of args[index]'s low and high 32-bit words in struct seccomp_data."""
    base = 16 + 8 * index
    return (base, base + 4) if _LITTLE else (base + 4, base)


def _exempt_from_rule(rule: object) -> _Exempt:
    """An exempt() rule (a syscall, or (syscall, *ArgCmp) with == or masked_eq)."""
    from .arg import Op
    from .syscall import Syscall

    if isinstance(rule, tuple):
        syscall, *cmps = rule
    else:
        syscall, cmps = rule, []
    name = Syscall.coerce(syscall).name
    checks = []
    for cmp in cmps:
        if not isinstance(cmp, ArgCmp):
            raise TypeError(f"exempt rule {rule!r}: conditions must be ArgCmp")
        full = 0xFFFFFFFFFFFFFFFF if cmp.bits == 64 else 0xFFFFFFFF
        if cmp.op is Op.EQ:
            checks.append((cmp.index, full, cmp.a & full))
        elif cmp.op is Op.MASKED_EQ:
            checks.append((cmp.index, cmp.a & full, cmp.b & full))
        else:
            raise HandoffError(errno.EINVAL, "Filter.load",
                               f"exempt rule {rule!r}: only == and masked_eq conditions can "
                               f"be exempted exactly")
    return _Exempt(name, tuple(checks))


def handoff_prologue(calls: Sequence[_Exempt], arch: int | None = None,
                     marker: int | None = None) -> tuple[bytes, int]:
    """The layer-1 prologue: ALLOW exactly ``calls`` on ``arch``, else fall through.

    Returns the BPF bytes (to be put in front of the user's program) and the
    index of the instruction comparing the first argument check equal to
    ``marker`` (-1 when none): the C handoff patches it with the listener's
    fd number.  Raises HandoffError when the prologue cannot be assembled.
    """
    from .syscall import resolve_name

    native = int(Arch.native()) if arch is None else arch
    blocks: list[list[tuple[int, int, int, int]]] = []
    marked = -1
    at = 2
    for call in calls:
        block: list[tuple[int, int, int, int]] = [(_LD_W_ABS, 0, 0, 0)]
        jumps: list[int] = []

        def jeq(k: int, block: list[tuple[int, int, int, int]] = block,
                jumps: list[int] = jumps) -> None:
            jumps.append(len(block))
            block.append((_JEQ_K, 0, 0, k))

        jeq(resolve_name(call.name))
        for index, mask, value in call.checks:
            for off, shift in zip(_arg_offsets(index), (0, 32)):
                m = (mask >> shift) & 0xFFFFFFFF
                if not m:
                    continue
                block.append((_LD_W_ABS, 0, 0, off))
                if m != 0xFFFFFFFF:
                    block.append((_AND_K, 0, 0, m))
                if marker is not None and marked < 0 and shift == 0 and value == marker:
                    marked = at + len(block)
                jeq((value >> shift) & m)
        block.append((_RET_K, 0, 0, _RET_ALLOW))
        for j in jumps:
            code, _, _, k = block[j]
            jf = len(block) - j - 1
            if jf > _JUMP_MAX:
                raise HandoffError(errno.E2BIG, "Filter.load", "an exempt rule is too long")
            block[j] = (code, 0, jf, k)
        blocks.append(block)
        at += len(block)
    rest = sum(len(b) for b in blocks)
    if rest > _JUMP_MAX:
        raise HandoffError(errno.E2BIG, "Filter.load", "too many exempt rules")
    insns = [(_LD_W_ABS, 0, 0, 4), (_JEQ_K, 0, rest, native)]
    for block in blocks:
        insns.extend(block)
    return b"".join(_INSN.pack(*i) for i in insns), marked


def seal_program(bpf: bytes, notify_to: int = _RET_ALLOW) -> bytes:
    """Layer 2: ``bpf`` with every NOTIFY return replaced by ``notify_to``.

    Only ``ret #k`` instructions change, so for every call the result is the
    original's, except NOTIFY.  Raises HandoffError for a program that
    returns a computed value (libseccomp never makes one).
    """
    out = bytearray(bpf)
    for off in range(0, len(bpf) - len(bpf) % _INSN.size, _INSN.size):
        code, jt, jf, k = _INSN.unpack_from(bpf, off)
        if code & 0x07 != 0x06:
            continue
        if code != _RET_K:
            raise HandoffError(errno.EINVAL, "Filter.load",
                               "the program returns a computed action; cannot seal it")
        if k & _RET_ACTION_FULL == _RET_USER_NOTIF:
            _INSN.pack_into(out, off, code, jt, jf, notify_to)
    return bytes(out)


def _layers(filt: Filter, calls: Sequence[_Exempt], marker: int | None
            ) -> tuple[bytes, int, bytes, bytes]:
    """(layer 1, its patch index, layer 2, layer 2 when the handoff failed)."""
    from .errors import FilterTooLargeError

    bpf = filt.export_bpf()
    filt.check_size()
    prologue, marked = handoff_prologue(calls, marker=marker)
    layer1 = prologue + bpf
    count = len(layer1) // _INSN.size
    if count > 4096:
        raise FilterTooLargeError(count, 4096, "Filter.load")
    return (layer1, marked, seal_program(bpf),
            seal_program(bpf, _RET_ERRNO | errno.ENOSYS))


def load_with_notifier(filt: Filter, notifier: Notifier, timeout: float | None) -> None:
    """What ``Filter.load()`` does when a notifier is set (see :class:`Notifier`).

    Two layers (see docs/notify.md, "How the handoff stays inside the
    policy"): layer 1, the user's program behind a prologue that allows
    exactly the handoff's calls, with a new listener; the handoff; layer 2,
    the user's program with NOTIFY made ALLOW, which leaves the combined
    decision equal to the user's policy for every call.  The user's rules are
    not changed.  Installed with raw seccomp(2) (not seccomp_load(3)), so
    libseccomp's process-wide notify fd is left untouched.  Raises
    HandoffError (with ``installed`` True when the filter is in force despite
    the failure: its NOTIFY rules then fail with ENOSYS), TimeoutError,
    FilterTooLargeError, SeccompError.
    """
    from .errors import AlreadyLoadedError

    if filt.loaded:
        raise AlreadyLoadedError()
    notifier.prepare(timeout)
    fast = getattr(notifier, "handoff_target", None)
    try:
        flags, nnp = _filter_flags(filt)
        # Layer 2 has no listener: WAIT_KILLABLE_RECV needs one (EINVAL otherwise).
        flags2 = flags & ~int(lib.SPY_FILTER_FLAG_WAIT_KILLABLE_RECV)
        if flags & int(lib.SPY_FILTER_FLAG_TSYNC):
            flags2 |= int(lib.SPY_FILTER_FLAG_TSYNC_ESRCH)
        seal = _Exempt("seccomp", ((0, 2**64 - 1, _SET_MODE_FILTER), (1, 2**64 - 1, flags2)))
        if fast is not None:
            sockfd, payload = fast()
            marker = 0xFFFFFFFF  # patched in C with the listener's number
            calls = [
                _Exempt("sendmsg", ((0, 2**64 - 1, sockfd),
                                    (2, 2**64 - 1, socket.MSG_NOSIGNAL))),
                _Exempt("close", ((0, 2**64 - 1, marker),)),
                _Exempt("close", ((0, 2**64 - 1, sockfd),)),
                seal,
            ]
        else:
            marker = None
            calls = [_exempt_from_rule(r) for r in notifier.exempt()] + [seal]
        layer1, marked, layer2, layer2_fail = _layers(filt, calls, marker)
    except BaseException:
        _abort(notifier)
        raise
    buf1 = ffi.new("char[]", layer1)
    if fast is not None:
        stage = ffi.new("int *")
        sealed = ffi.new("int *")
        with filt._use("seccomp(SECCOMP_SET_MODE_FILTER)"):
            rc = lib.spy_install_and_send(buf1, len(layer1), layer2, layer2_fail, len(layer2),
                                          marked, flags, flags2, int(nnp), sockfd, payload,
                                          len(payload), stage, sealed)
            if stage[0] >= 1:
                filt._loaded = True
        if stage[0] >= 1:
            # C closed the socket under layer 1: forget it without closing again.
            _forget_socket(notifier)
        if rc < 0:
            if stage[0] == 0:
                _abort(notifier)
                check(rc, "seccomp(SECCOMP_SET_MODE_FILTER)")
            why = ("another thread took the listener's fd number during the handoff"
                   if rc == -errno.EADDRINUSE else os.strerror(-rc))
            err = HandoffError(-rc, "sendmsg",
                               f"the filter IS in force but its listener could not be sent "
                               f"({why}): its NOTIFY rules now fail with ENOSYS")
            err.installed = True
            _abort(notifier)
            raise err
        done = getattr(notifier, "handed_over", None)
        if done is not None:
            done()
        return
    with filt._use("seccomp(SECCOMP_SET_MODE_FILTER)"):
        fd = lib.spy_load_program(buf1, len(layer1) // 8,
                                  flags | int(lib.SPY_FILTER_FLAG_NEW_LISTENER), int(nnp))
        if fd >= 0:
            filt._loaded = True
    if fd < 0:
        _abort(notifier)
        check(fd, "seccomp(SECCOMP_SET_MODE_FILTER)")
    sealed = layer2_fail
    try:
        notifier.handle(fd)
        sealed = layer2
    finally:
        # A handle() that failed may have kept the fd: then NOTIFY = ENOSYS.
        if lib.spy_load_program(sealed, len(sealed) // 8, flags2, 0) != 0:
            os._exit(127)  # never run on with the prologue's exemptions live


def _forget_socket(notifier: object) -> None:
    sock = getattr(notifier, "_sock", None)
    if isinstance(sock, socket.socket):
        sock.detach()


def _abort(notifier: object) -> None:
    close = getattr(notifier, "close", None)
    if close is not None:
        with contextlib.suppress(OSError):
            close()


__all__ = [
    "ADDFD_FLAG_SEND",
    "ADDFD_FLAG_SETFD",
    "FLAG_CONTINUE",
    "MAX_HANDSHAKES",
    "MAX_METADATA",
    "MAX_NAME",
    "MAX_PAYLOAD",
    "PAYLOAD_VERSION",
    "SYNC_WAKE_UP",
    "Handoff",
    "HandoffError",
    "Handshake",
    "HangupError",
    "Listener",
    "ListenerClosedError",
    "ListenerServer",
    "NotAListenerError",
    "NotifSizes",
    "Notification",
    "NotificationGoneError",
    "Notifier",
    "PeerRefusedError",
    "Response",
    "Supervisor",
    "UnixNotifier",
    "bpf_run",
    "continue_all",
    "decode_payload",
    "encode_payload",
    "handoff_prologue",
    "load_with_notifier",
    "notif_sizes",
    "peer_credentials",
    "receive_listener",
    "seal_program",
    "serve",
    "serve_async",
    "serve_in_thread",
]
