"""The handoff, sandbox side: the Notifier protocol and :class:`UnixNotifier`.

``Filter.load()`` runs a notifier set with ``Filter.set_notifier()``
(see :mod:`.install`).  See unix(7) (SCM_RIGHTS, SO_PEERCRED).
"""

from __future__ import annotations

import errno
import os
import socket
import time
from collections.abc import Iterable, Sequence
from typing import Any, Protocol, Union, runtime_checkable

from .._native import check, lib
from ..arg import Arg
from ..errors import HandoffError, InvalidArgumentError, PeerRefusedError
from ..syscall import SyscallLike
from .handoff import encode_payload, peer_credentials, warn_unsafe_socket_dir

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

