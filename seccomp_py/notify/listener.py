"""The listener fd: receive notifications, answer them, read target memory.

See seccomp_unotify(2) (SECCOMP_IOCTL_NOTIF_*) and proc(5) (/proc/PID/mem).
"""

from __future__ import annotations

import contextlib
import errno
import os
import threading
from typing import Any

from .. import _kernel as _k
from .._native import check, ffi, lib
from ..errors import (
    HangupError,
    InvalidArgumentError,
    ListenerClosedError,
    NotAListenerError,
    NotificationGoneError,
    SeccompError,
    UnsupportedError,
)
from .types import (
    ADDFD_FLAG_SEND,
    ADDFD_FLAG_SETFD,
    SYNC_WAKE_UP,
    Notification,
    Response,
    _new,
    _unpack_from,
)

#: The receive loop's return codes (seccomp_py/_shim/shim.h); failures are -errno.
TIMEOUT = int(lib.SPY_NOTIFY_TIMEOUT)
RECEIVED = int(lib.SPY_NOTIFY_RECEIVED)
STOPPED = int(lib.SPY_NOTIFY_STOPPED)
SEND_FAILED = int(lib.SPY_NOTIFY_SEND_FAILED)

_recv = lib.spy_listener_recv
_answer = lib.spy_listener_answer
_EBADF = -errno.EBADF
_EINTR = -errno.EINTR
_EPIPE = -errno.EPIPE
_CONTINUE = Response.CONTINUE._c

_INT32_MAX = 2**31 - 1
_U64 = 2**64

#: the page size (reads of the target's memory never cross a page they need not touch)
_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


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
        # The state C shares: the fd, the wake pipe, who is in receive() (so
        # receive() takes no lock) and the ids respond() answered lately.
        c = self._c = ffi.new("struct spy_listener *")
        c.fd = fd
        c.stopfd = -1
        self._fd = fd
        self._buf = ffi.addressof(c, "notif")
        self._raw = ffi.buffer(self._buf)
        # close() wakes a receive() blocked in another thread through this pipe
        # (poll() is not woken by a close from another thread) and waits for it
        # to leave before closing the fd, so the number is never reused under it.
        self._wake: tuple[int, int] | None = None
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
        c = self._c
        with state:
            fd, self._fd = self._fd, -1
            busy = lib.spy_listener_close(c)
            wake, self._wake = self._wake, None
            if wake is not None and busy:
                os.write(wake[1], b"x")
                state.wait_for(lambda: not c.receivers, timeout=10.0)
            c.stopfd = -1
        if wake is not None:
            os.close(wake[0])
            os.close(wake[1])
        if fd >= 0:
            os.close(fd)

    def detach(self) -> int:
        """Give up ownership and return the fd without closing it."""
        c = self._c
        with self._state:
            if lib.spy_listener_close(c):
                c.fd = self._fd  # still ours
                raise InvalidArgumentError(errno.EBUSY, "detach",
                                           "another thread is receiving on this listener")
            fd, self._fd = self._fd, -1
            wake, self._wake = self._wake, None
            c.stopfd = -1
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
        if self._wake is None:
            self._wake_pipe()
        c = self._c
        while True:
            rc = _recv(c, ms)
            if self._fd < 0:
                # close() marked the fd closed and may wait for us to leave.
                self._left()
                if rc != RECEIVED:
                    raise ListenerClosedError("SECCOMP_IOCTL_NOTIF_RECV",
                                              "the listener was closed during receive()"
                                              if rc == STOPPED else "the listener is closed")
            if rc == RECEIVED:
                n = _new(Notification)
                n._v = _unpack_from(self._raw)
                n.listener = self  # _raw stays unset: only read while _v is None
                return n
            if rc == TIMEOUT:
                raise TimeoutError(errno.ETIMEDOUT, "no notification within the timeout")
            if rc == _EPIPE:
                raise HangupError()
            if rc != _EINTR:
                check(rc, "SECCOMP_IOCTL_NOTIF_RECV")
            # EINTR: Python ran its signal handlers when we returned; go on (PEP 475).

    def _left(self) -> None:
        with self._state:
            self._state.notify_all()

    def _wake_pipe(self) -> tuple[int, int]:
        """The pipe close() writes to, to wake a receive() in another thread."""
        with self._lock:
            if self._fd < 0:
                raise ListenerClosedError("SECCOMP_IOCTL_NOTIF_RECV")
            wake = self._wake
            if wake is None:
                wake = self._wake = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
                self._c.stopfd = wake[0]
            return wake

    # -- answering
    def respond(self, notification: Notification | int, response: Response) -> None:
        """Answer a notification (SECCOMP_IOCTL_NOTIF_SEND).

        Raises NotificationGoneError (the target was interrupted or killed,
        the id was already answered or is unknown), InvalidArgumentError.
        """
        if notification.__class__ is Notification:
            v = notification._v
            id = v[0] if v is not None else notification.id
        else:
            id = _check_id(notification)
        if response.__class__ is not Response and not isinstance(response, Response):
            raise TypeError(f"respond() takes a Response, not {type(response).__name__}")
        if response.sent:
            return
        rc = _answer(self._c, id, response._c)
        if rc:
            self._send_failed(rc, id)

    def respond_continue(self, notification: Notification | int) -> None:
        """Let the syscall run as the target asked (not a security decision)."""
        # respond(notification, Response.CONTINUE), one call less per round trip.
        if notification.__class__ is Notification:
            v = notification._v
            id = v[0] if v is not None else notification.id
        else:
            id = _check_id(notification)
        rc = _answer(self._c, id, _CONTINUE)
        if rc:
            self._send_failed(rc, id)

    def respond_errno(self, notification: Notification | int, errnum: int) -> None:
        """Fail the syscall with ``errnum``."""
        self.respond(notification, Response.errno(errnum))

    def respond_value(self, notification: Notification | int, value: int) -> None:
        """Make the syscall return ``value`` without running it."""
        self.respond(notification, Response.value(value))

    def _answered_add(self, id: int) -> None:
        lib.spy_listener_mark(self._c, id)

    def _send_failed(self, rc: int, id: int, func: str = "SECCOMP_IOCTL_NOTIF_SEND") -> None:
        if rc == _EBADF and self._fd < 0:
            raise ListenerClosedError(func)
        if rc in (-errno.ENOENT, -errno.EINPROGRESS) and lib.spy_listener_answered(self._c, id):
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
                    max_size: int = _k.PATH_MAX) -> bytes:
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
            page_left = _PAGE_SIZE - (pos % _PAGE_SIZE)
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


def recv_blocking(fd: int, buf: Any) -> int:
    """SECCOMP_IOCTL_NOTIF_RECV on ``fd`` into ``buf`` (a ``struct spy_notif *``),
    without polling first, retried on EINTR (PEP 475): seccomp_notify_receive(3)'s
    semantics, for the compat module (:meth:`Listener.receive` polls first).
    Returns 0 or -errno (ENOENT: the notification went away)."""
    while True:
        rc = int(lib.spy_notify_recv(fd, buf))
        if rc != -errno.EINTR:
            return rc


def continue_all(listener: Listener, timeout: float | None = None, limit: int = 0) -> int:
    """Answer CONTINUE to every notification, in C, until hang-up or ``timeout``.

    For benchmarks and recording tools only (CONTINUE is never a security
    decision).  Returns how many were answered.  Raises SeccompError.
    """
    count = ffi.new("uint64_t *")
    check(lib.spy_notify_continue_loop(listener.fileno(), _ms(timeout), limit, count),
          "SECCOMP_IOCTL_NOTIF_RECV")
    return int(count[0])
