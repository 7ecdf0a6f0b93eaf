"""The handoff, monitor side: the payload, socket paths, receiving listeners.

A sandbox sends its listener fd with SCM_RIGHTS and a small versioned
payload over a Unix socket (:mod:`.notifier` is the sending side).  See
unix(7) (SCM_RIGHTS, SO_PEERCRED, MSG_CMSG_CLOEXEC) and seccomp_unotify(2).
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import stat
import struct
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..errors import (
    HandoffError,
    InvalidArgumentError,
    ListenerClosedError,
    NotAListenerError,
    PeerRefusedError,
    UnsafeSocketPathWarning,
)
from .listener import Listener

# -- the handoff: payload --------------------------------------------------

PAYLOAD_MAGIC = b"SPYN"
PAYLOAD_VERSION = 1
MAX_NAME = 255
MAX_METADATA = 4 * 1024
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


def _socket_is_live(path: str, kind: int = socket.SOCK_STREAM) -> bool:
    """True when something listens on the Unix socket ``path`` (a stream socket, or a
    SOCK_SEQPACKET / DGRAM one: the stream probe gets EPROTOTYPE and the seqpacket
    probe then decides); False when nobody does (ECONNREFUSED: a stale file)."""
    probe = socket.socket(socket.AF_UNIX, kind | socket.SOCK_CLOEXEC)
    try:
        probe.setblocking(False)
        try:
            probe.connect(path)
        except (BlockingIOError, InterruptedError):
            return True  # someone listens, its backlog is full
        except OSError as exc:
            if kind == socket.SOCK_STREAM:
                if exc.errno == errno.EPROTOTYPE:
                    return _socket_is_live(path, socket.SOCK_SEQPACKET)
                return False  # ECONNREFUSED: nobody listens (stale)
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

    #: The socket type (a subclass may serve SOCK_STREAM peers, as the OCI agent does).
    _SOCK_TYPE = socket.SOCK_SEQPACKET

    def __init__(self, path: str | os.PathLike[str], *,
                 allowed_uids: Iterable[int] | None = None, mode: int = 0o600,
                 backlog: int = 64, timeout: float | None = 5.0) -> None:
        self.path = os.fspath(path)
        self.allowed_uids = None if allowed_uids is None else set(allowed_uids)
        self.timeout = timeout
        warn_unsafe_socket_dir(self.path)
        sock = socket.socket(socket.AF_UNIX, self._SOCK_TYPE | socket.SOCK_CLOEXEC)
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

