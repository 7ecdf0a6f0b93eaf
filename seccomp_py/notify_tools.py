"""Helpers for supervisors acting on behalf of a notified target: ``get_fd``, ``decode_sockaddr``.

See seccomp_unotify(2), pidfd_getfd(2), and docs/notify.md ("Acting on behalf of the
target").
"""

from __future__ import annotations

import errno as _errno
import ipaddress
import os
import socket
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ._native import lib
from .errors import InvalidArgumentError, SeccompError

if TYPE_CHECKING:  # pragma: no cover
    from .notify import Notification

__all__ = ["SockAddr", "decode_sockaddr", "get_fd"]

_PIDFD_THREAD = 0o200  # O_EXCL: a pidfd for a thread (Linux 6.9+)
_SOCKADDR_MAX = 128  # sizeof(struct sockaddr_storage): the kernel refuses more


def get_fd(notification: Notification, target_fd: int) -> int:
    """A copy of the target's ``target_fd`` (O_CLOEXEC), owned by the caller.

    The target is ``notification.pid``; it stays blocked in the notified
    syscall, so the fd is the one it passed.  Following seccomp_unotify(2),
    the notification is checked with SECCOMP_IOCTL_NOTIF_ID_VALID after the
    pidfd is opened (so the pid still named the target, not a recycled
    process) and again after pidfd_getfd(2) (so the target was still waiting
    when its fd was taken); on failure the copy is closed.  Needs ptrace
    access to the target (PTRACE_MODE_ATTACH_REALCREDS) and Linux 5.6+.

    Raises NotificationGoneError (the target left the syscall or died),
    InvalidArgumentError (bad fd number, a target outside our pid namespace,
    a notification without its listener), SeccompError (func ``pidfd_open`` /
    ``pidfd_getfd``: EBADF for an fd the target does not have, EPERM without
    ptrace access, ENOSYS on old kernels).
    """
    from .notify import Notification, NotificationGoneError

    if not isinstance(notification, Notification):
        raise TypeError(f"get_fd() needs a Notification, not {type(notification).__name__}")
    listener = notification.listener
    if listener is None:
        raise InvalidArgumentError(func="get_fd", detail="the notification has no listener "
                                   "(the ID_VALID checks need it)")
    if isinstance(target_fd, bool) or not isinstance(target_fd, int) \
            or not 0 <= target_fd <= 0x7FFFFFFF:
        raise InvalidArgumentError(func="pidfd_getfd",
                                   detail=f"target_fd must be an fd number, not {target_fd!r}")
    pid = notification.pid
    if pid <= 0:
        raise InvalidArgumentError(_errno.ESRCH, "pidfd_open",
                                   "the target is not visible in this pid namespace")
    pidfd = int(lib.spy_pidfd_open(pid, _PIDFD_THREAD))
    if pidfd == -_errno.EINVAL:  # before 6.9: no PIDFD_THREAD, so the thread group leader
        pidfd = int(lib.spy_pidfd_open(_tgid(pid), 0))
    if pidfd < 0:
        if pidfd == -_errno.ESRCH or not listener.id_valid(notification):
            raise NotificationGoneError("pidfd_open", f"target {pid} is gone")
        raise SeccompError(-pidfd, "pidfd_open", f"pid {pid}")
    try:
        if not listener.id_valid(notification):
            raise NotificationGoneError("pidfd_open", f"notification {notification.id} is no "
                                        "longer pending (the pid may have been reused)")
        fd = int(lib.spy_pidfd_getfd(pidfd, target_fd))
        if fd < 0:
            if not listener.id_valid(notification):
                raise NotificationGoneError("pidfd_getfd", f"target {pid} left the syscall")
            raise SeccompError(-fd, "pidfd_getfd", f"fd {target_fd} of pid {pid}")
        if not listener.id_valid(notification):
            os.close(fd)
            raise NotificationGoneError("pidfd_getfd", f"target {pid} left the syscall while "
                                        "its fd was taken")
        return fd
    finally:
        os.close(pidfd)


def _tgid(tid: int, gone: int | None = None) -> int:
    """The thread group (process) of thread ``tid``; ``gone`` (default ``tid`` itself,
    so that pidfd_open(tid) reports the failure) when it is gone or unreadable."""
    try:
        with open(f"/proc/{tid}/status", "rb") as fh:
            for line in fh:
                if line.startswith(b"Tgid:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return tid if gone is None else gone


@dataclass(frozen=True)
class SockAddr:
    """A decoded socket address.

    ``family`` (``socket.AF_*`` number) and ``family_name`` ("AF_INET"...);
    for AF_INET/AF_INET6 ``host`` (text) and ``port`` (plus ``flowinfo`` and
    ``scope_id`` for IPv6); for AF_UNIX ``path`` (bytes, without the
    trailing NULs; for an abstract address the name after the leading NUL)
    with ``abstract`` set, or both empty for an unnamed address; for
    AF_NETLINK ``port`` (nl_pid) and ``groups``.  ``raw`` keeps the input.
    ``str()`` gives a readable form ("1.2.3.4:80", "[::1]:443",
    "/run/x.sock", "@abstract", "AF_PACKET(...)").
    """

    family: int
    family_name: str
    raw: bytes
    host: str | None = None
    port: int | None = None
    flowinfo: int | None = None
    scope_id: int | None = None
    path: bytes | None = None
    abstract: bool = False
    groups: int | None = None

    def __str__(self) -> str:
        if self.family == socket.AF_INET:
            return f"{self.host}:{self.port}"
        if self.family == socket.AF_INET6:
            scope = f"%{self.scope_id}" if self.scope_id else ""
            return f"[{self.host}{scope}]:{self.port}"
        if self.family == socket.AF_UNIX:
            if self.path is None or (not self.path and not self.abstract):
                return "(unnamed)"
            text = self.path.decode("utf-8", "backslashreplace")
            return "@" + text if self.abstract else text
        if self.family == socket.AF_NETLINK:
            return f"netlink(pid={self.port}, groups={self.groups:#x})"
        return f"{self.family_name}({self.raw[2:].hex()})"


def _family_name(family: int) -> str:
    try:
        return socket.AddressFamily(family).name
    except ValueError:
        return f"AF_{family}"


def decode_sockaddr(data: bytes | bytearray | memoryview) -> SockAddr:
    """Decode a ``struct sockaddr`` (as passed to connect(2), bind(2), sendto(2)).

    ``data`` is the ``addrlen`` bytes the call passed (read them with
    ``listener.read_memory(n, n.args[1], n.args[2])``).  Host byte order
    for the family, network order for ports and IPv4/IPv6 addresses, as the
    kernel reads them.  Unknown families decode to family and ``raw``.
    Raises ValueError for fewer than 2 bytes, more than 128 (the kernel's
    limit), or an address too short for its family (the kernel would answer
    EINVAL); TypeError for a non-bytes argument.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"decode_sockaddr() takes bytes, not {type(data).__name__}")
    raw = bytes(data)
    if len(raw) < 2:
        raise ValueError(f"a sockaddr holds at least its 2-byte family, not {len(raw)} bytes")
    if len(raw) > _SOCKADDR_MAX:
        raise ValueError(f"a sockaddr is at most {_SOCKADDR_MAX} bytes, not {len(raw)}")
    (family,) = struct.unpack_from("=H", raw)
    name = _family_name(family)
    if family == socket.AF_INET:
        if len(raw) < 16:
            raise ValueError(f"AF_INET address of {len(raw)} bytes (sockaddr_in is 16)")
        port, addr = struct.unpack_from("!H4s", raw, 2)
        return SockAddr(family, name, raw, host=str(ipaddress.IPv4Address(addr)), port=port)
    if family == socket.AF_INET6:
        if len(raw) < 24:
            raise ValueError(f"AF_INET6 address of {len(raw)} bytes (sockaddr_in6 is 28)")
        port, flow, addr = struct.unpack_from("!HI16s", raw, 2)
        scope = struct.unpack_from("=I", raw, 24)[0] if len(raw) >= 28 else 0
        return SockAddr(family, name, raw, host=str(ipaddress.IPv6Address(addr)), port=port,
                        flowinfo=flow, scope_id=scope)
    if family == socket.AF_UNIX:
        body = raw[2:]
        if not body:
            return SockAddr(family, name, raw, path=b"")
        if body[0] == 0:  # abstract: every byte counts, NULs included
            return SockAddr(family, name, raw, path=body[1:], abstract=True)
        nul = body.find(b"\0")
        return SockAddr(family, name, raw, path=body if nul < 0 else body[:nul])
    if family == socket.AF_NETLINK:
        if len(raw) < 12:
            raise ValueError(f"AF_NETLINK address of {len(raw)} bytes (sockaddr_nl is 12)")
        pid, groups = struct.unpack_from("=II", raw, 4)
        return SockAddr(family, name, raw, port=pid, groups=groups)
    return SockAddr(family, name, raw)
