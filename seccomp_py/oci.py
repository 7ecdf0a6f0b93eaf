"""An OCI seccomp agent: serve the listeners container runtimes hand over.

:class:`Agent` accepts the runtime's connection on ``linux.seccomp.listenerPath``, checks
the peer and the container state it sends, and serves each container's listener with
handlers chosen by syscall name and metadata.  See seccomp_unotify(2), unix(7), the
runtime-spec (config-linux.md "Seccomp", runtime.md "State"), and docs/oci.md.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import json
import logging
import os
import posixpath
import socket
import struct
import threading
import time
from collections.abc import Iterable, Sequence
from typing import IO, Any, Callable, Optional

from . import _json
from .errors import AgentPeerError as AgentPeerError
from .errors import AgentProtocolError as AgentProtocolError
from .errors import InvalidArgumentError, SeccompError
from .notify import (
    Handoff,
    Listener,
    ListenerServer,
    NotAListenerError,
    Notification,
    NotificationGoneError,
    Response,
    Supervisor,
    peer_credentials,
)

log = logging.getLogger("seccomp_py.oci")

#: The name runtimes give the notify fd in ``fds``.
SECCOMP_FD_NAME = "seccompFd"
#: Largest state message accepted (runc's is a few hundred bytes; annotations add more).
MAX_MESSAGE = 1 << 16
#: Most fds accepted in one message.
MAX_FDS = 16
#: Deepest JSON nesting accepted in a message (a real state nests 3 levels).
MAX_DEPTH = 16
#: Most handshakes in progress at once (more runtimes wait in the backlog).
MAX_CONNECTIONS = 64
STATUSES = frozenset({"creating", "created", "running", "stopped"})


# -- the message ------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ContainerState:
    """The runtime-spec ``state`` of the container (runtime.md, "State")."""

    oci_version: str
    id: str
    status: str
    pid: int
    bundle: str
    annotations: dict[str, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class ProcessState:
    """The container process state a runtime sends with the fds (config-linux.md)."""

    oci_version: str
    fds: tuple[str, ...]
    pid: int
    metadata: str
    state: ContainerState


def _want(obj: dict[str, Any], key: str, kind: type, path: str, required: bool = True) -> Any:
    if key not in obj:
        if required:
            raise AgentProtocolError(f"{path}{key}: missing")
        return None
    value = obj[key]
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise AgentProtocolError(f"{path}{key}: expected an integer, got {value!r:.40}")
    elif not isinstance(value, kind):
        raise AgentProtocolError(
            f"{path}{key}: expected {kind.__name__}, got {type(value).__name__}")
    return value


def parse_process_state(data: bytes | str, nfds: int | None = None) -> ProcessState:
    """Parse and validate a container process state message.

    ``nfds`` is the number of fds that came with it; ``fds`` must name each
    of them, once, and include ``seccompFd``.  Raises AgentProtocolError
    naming the offending field.
    """
    if isinstance(data, (bytes, bytearray)) and len(data) > MAX_MESSAGE:
        raise AgentProtocolError(f"message of {len(data)} bytes exceeds {MAX_MESSAGE}",
                                 errno.EMSGSIZE)
    try:
        obj = _json.loads(data, max_size=MAX_MESSAGE, max_depth=MAX_DEPTH, what="message")
    except _json.JsonLimitError as exc:
        if exc.kind == "syntax":
            raise AgentProtocolError(f"message is not JSON ({exc.detail})") from None
        raise AgentProtocolError(str(exc), errno.EMSGSIZE if exc.kind in ("size", "depth")
                                 else errno.EBADMSG) from None
    if not isinstance(obj, dict):
        raise AgentProtocolError(f"message must be a JSON object, not {type(obj).__name__}")
    version = _want(obj, "ociVersion", str, "")
    fds = _want(obj, "fds", list, "")
    for i, name in enumerate(fds):
        if not isinstance(name, str) or not name:
            raise AgentProtocolError(f"fds[{i}]: expected a non-empty string, got {name!r:.40}")
    if len(set(fds)) != len(fds):
        raise AgentProtocolError("fds: names must be unique")
    if SECCOMP_FD_NAME not in fds:
        raise AgentProtocolError(f"fds: no {SECCOMP_FD_NAME!r} entry")
    if nfds is not None and len(fds) != nfds:
        raise AgentProtocolError(f"fds: names {len(fds)} fds but {nfds} came with the message")
    pid = _want(obj, "pid", int, "")
    if pid <= 0:
        raise AgentProtocolError(f"pid: must be positive, got {pid}")
    metadata = _want(obj, "metadata", str, "", required=False) or ""
    st = _want(obj, "state", dict, "")
    st_version = _want(st, "ociVersion", str, "state.")
    cid = _want(st, "id", str, "state.")
    if not cid:
        raise AgentProtocolError("state.id: must not be empty")
    status = _want(st, "status", str, "state.")
    if status not in STATUSES:
        raise AgentProtocolError(f"state.status: unknown status {status!r:.40}")
    st_pid = _want(st, "pid", int, "state.", required=False) or 0
    if st_pid < 0:
        raise AgentProtocolError(f"state.pid: must not be negative, got {st_pid}")
    bundle = _want(st, "bundle", str, "state.")
    annotations = _want(st, "annotations", dict, "state.", required=False) or {}
    for key, value in annotations.items():
        if not isinstance(value, str):
            raise AgentProtocolError(f"state.annotations.{key}: expected a string")
    state = ContainerState(st_version, cid, status, st_pid, bundle, dict(annotations))
    return ProcessState(version, tuple(fds), pid, metadata, state)


# -- containers and handlers ------------------------------------------------------------------


@dataclasses.dataclass
class Container:
    """One container served by the agent: its state, listener and peer."""

    process: ProcessState
    listener: Listener
    peer_pid: int
    peer_uid: int
    handled: int = 0

    @property
    def id(self) -> str:
        return self.process.state.id

    @property
    def metadata(self) -> str:
        return self.process.metadata


Handler = Callable[[Container, Notification], Optional[Response]]


@dataclasses.dataclass(frozen=True)
class Route:
    """Send notifications to ``handler`` when the syscall and metadata match.

    ``syscalls`` None matches every syscall; ``metadata`` None matches every
    container.
    """

    handler: Handler
    syscalls: frozenset[str] | None = None
    metadata: str | None = None

    def matches(self, container: Container, name: str) -> bool:
        if self.metadata is not None and container.metadata != self.metadata:
            return False
        return self.syscalls is None or name in self.syscalls


# -- the agent ------------------------------------------------------------------------------


class _Handshake:
    """One runtime's connection, read without blocking (a notify.Handshake).

    The peer is checked (SO_PEERCRED) when it connects; ``feed()`` then
    collects the state message and its fds as they arrive, and returns the
    Handoff once the message is a complete JSON object (or the peer closed).
    The Supervisor bounds the whole handshake by the agent's
    ``handshake_timeout``.
    """

    def __init__(self, conn: socket.socket, agent: Agent) -> None:
        self.conn = conn
        self.agent = agent
        self.fds: list[int] = []
        self.chunks: list[bytes] = []
        self.size = 0
        self.peer_pid, self.peer_uid, _gid = peer_credentials(conn)
        if self.peer_uid not in agent.allowed_uids:
            raise AgentPeerError(f"peer pid {self.peer_pid} runs as uid {self.peer_uid}, not "
                                 f"in {sorted(agent.allowed_uids)}", errno.EACCES,
                                 "SO_PEERCRED")

    def feed(self) -> Handoff | None:
        while True:
            try:
                data, anc, flags, _ = self.conn.recvmsg(MAX_MESSAGE + 1 - self.size,
                                                        socket.CMSG_SPACE(MAX_FDS * 4),
                                                        socket.MSG_CMSG_CLOEXEC)
            except (BlockingIOError, InterruptedError):
                return None
            for level, kind, cdata in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    usable = len(cdata) - len(cdata) % 4
                    self.fds.extend(struct.unpack(f"{usable // 4}i", cdata[:usable]))
            if flags & socket.MSG_CTRUNC:
                raise AgentProtocolError(f"more than {MAX_FDS} fds sent (MSG_CTRUNC)",
                                         errno.EMSGSIZE, "recvmsg")
            if len(self.fds) > MAX_FDS:
                raise AgentProtocolError(f"more than {MAX_FDS} fds sent", errno.EMSGSIZE,
                                         "recvmsg")
            if not data:
                return self._finish()
            self.chunks.append(data)
            self.size += len(data)
            if self.size > MAX_MESSAGE:
                raise AgentProtocolError(f"message exceeds {MAX_MESSAGE} bytes",
                                         errno.EMSGSIZE)
            # runc sends the whole state in one sendmsg; stop at a complete JSON object.
            if data.rstrip().endswith(b"}"):
                try:
                    _json.loads(b"".join(self.chunks), max_size=MAX_MESSAGE,
                                max_depth=MAX_DEPTH, what="message")
                except _json.JsonLimitError as exc:
                    if exc.kind in ("depth", "size"):  # no more bytes can fix that
                        raise AgentProtocolError(str(exc), errno.EMSGSIZE) from None
                    continue
                return self._finish()

    def _finish(self) -> Handoff:
        if not self.chunks:
            raise AgentProtocolError("the peer closed without sending a state",
                                     errno.ECONNRESET)
        process = parse_process_state(b"".join(self.chunks), len(self.fds))
        index = process.fds.index(SECCOMP_FD_NAME)
        try:
            listener = Listener(self.fds[index])
        except NotAListenerError:
            raise AgentProtocolError("fds: the seccompFd is not a seccomp listener",
                                     errno.ENOTTY) from None
        del self.fds[index]
        _close_all(self.fds)  # other fds are not ours to keep
        self.fds.clear()
        container = Container(process, listener, self.peer_pid, self.peer_uid)
        return Handoff(listener, process.pid, process.state.id, process.metadata.encode(),
                       self.peer_pid, self.peer_uid, -1, extra={"container": container})

    def refused(self, exc: BaseException) -> None:
        self.close()
        self.agent._refused(exc)

    def close(self) -> None:
        fds, self.fds = self.fds, []
        _close_all(fds)


class _Server(ListenerServer):
    """The agent's listening socket: a ListenerServer for SOCK_STREAM peers
    whose handshake is the OCI state message (the Supervisor's hook)."""

    _SOCK_TYPE = socket.SOCK_STREAM

    def __init__(self, agent: Agent, mode: int) -> None:
        super().__init__(agent.path, allowed_uids=agent.allowed_uids, mode=mode, backlog=128,
                         timeout=agent.handshake_timeout)
        self.agent = agent

    def handshake(self, conn: socket.socket) -> _Handshake:
        return _Handshake(conn, self.agent)

    def refused(self, exc: BaseException) -> None:
        self.agent._refused(exc)


class Agent:
    """An OCI seccomp agent listening on a Unix stream socket at ``path``.

    ``Agent(path, allowed_uids=None, default=Response.errno(EPERM))``; add
    handlers with :meth:`route` (first match wins); run with
    :meth:`serve_forever` or :meth:`start` (a daemon thread), end with
    :meth:`stop` / :meth:`close` (or the context manager).  Notifications
    no route matches, and those whose handler raises or returns nothing, get
    ``default`` (fail closed).  ``events`` (a text stream) receives one JSON
    line per connection, refusal and decision.

    The agent is a :class:`~seccomp_py.notify.Supervisor` with an OCI-state
    handshake: no runtime can stall it (non-blocking handshakes, one
    ``handshake_timeout`` for the whole handshake, at most
    ``max_connections`` at once, any exception from one connection closes
    that connection only), every notification is answered whatever a
    handler raises, and a loop that dies closes every listener (targets see
    ENOSYS).

    Raises SeccompError (OSError) if the socket cannot be bound (a live
    socket at ``path`` is never replaced).
    """

    def __init__(self, path: str | os.PathLike[str], *,
                 allowed_uids: Iterable[int] | None = None, mode: int = 0o600,
                 default: Response | None = None, events: IO[str] | None = None,
                 handshake_timeout: float = 5.0,
                 max_connections: int = MAX_CONNECTIONS) -> None:
        self.path = os.fspath(path)
        self.allowed_uids = {os.getuid()} if allowed_uids is None else set(allowed_uids)
        self.default = Response.errno(errno.EPERM) if default is None else default
        if not isinstance(self.default, Response) or self.default.sent:
            raise InvalidArgumentError(func="Agent", detail="default must be an answering Response")
        self.events = events
        self.handshake_timeout = handshake_timeout
        self.routes: list[Route] = []
        self.containers: dict[int, Container] = {}
        self.refused = 0
        self.accepted = 0
        self._events_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        # A stale socket from an earlier run is replaced; a live one never.
        self._server: _Server | None = _Server(self, mode)
        self._sup = Supervisor(self._decide, on_error=self.default, report=self._report,
                               server=self._server, on_handoff=self._on_handoff,
                               on_drop=self._on_drop, max_handshakes=max_connections,
                               on_answer=self._answered)
        self._stop_r, self._stop_w = self._sup._stop_r, self._sup._stop_w

    @property
    def _sock(self) -> socket.socket | None:
        """The listening socket (None once closed)."""
        return None if self._server is None else self._server._sock

    # -- configuration
    def route(self, handler: Handler, syscalls: Iterable[str] | None = None,
              metadata: str | None = None) -> Agent:
        """Send matching notifications to ``handler(container, notification)``."""
        if not callable(handler):
            raise TypeError("a handler must be callable")
        names = None if syscalls is None else frozenset(syscalls)
        self.routes.append(Route(handler, names, metadata))
        return self

    # -- events
    def _event(self, kind: str, **fields: Any) -> None:
        if self.events is None:
            return
        record = {"time": round(time.time(), 6), "event": kind, **fields}
        line = json.dumps(record, sort_keys=True, default=str)
        with self._events_lock:
            self.events.write(line + "\n")
            self.events.flush()

    def _report(self, exc: BaseException, n: Notification | None) -> None:
        log.error("oci agent: %s", exc, exc_info=exc if n is not None else None)

    # -- accepting runtimes (driven by the Supervisor)
    def _refused(self, exc: BaseException) -> None:
        self.refused += 1
        reason = str(exc) if isinstance(exc, (SeccompError, OSError)) else \
            f"{type(exc).__name__}: {exc}"
        log.warning("oci agent: refused a connection: %s", reason)
        self._event("refused", reason=reason)

    def _on_handoff(self, handoff: Handoff) -> bool:
        container: Container = handoff.extra["container"]
        self.containers[container.listener.fileno()] = container
        self.accepted += 1
        log.info("oci agent: serving container %s (pid %d)", container.id, container.process.pid)
        self._event("container", id=container.id, pid=container.process.pid,
                    metadata=container.metadata, peer_pid=container.peer_pid)
        return True

    def _on_drop(self, listener: Listener, reason: str) -> None:
        for fd, container in list(self.containers.items()):
            if container.listener is listener:
                del self.containers[fd]
                self._event("gone", id=container.id, reason=reason,
                            handled=container.handled)

    # -- serving
    def _decide(self, n: Notification) -> Response:
        """The Supervisor's handler: route and return the answer (the default
        when no route matches or the handler fails); the Supervisor answers."""
        listener = n.listener
        assert listener is not None
        container = self.containers.get(listener._fd)
        if container is None:
            return self.default
        container.handled += 1
        name = n.syscall_name or str(n.syscall)
        response: Response | None = None
        for route in self.routes:
            if route.matches(container, name):
                try:
                    response = route.handler(container, n)
                except Exception as exc:
                    log.error("oci agent: handler for %s in %s failed: %s", name,
                              container.id, exc, exc_info=exc)
                    self._event("handler-error", id=container.id, syscall=name, error=str(exc))
                    response = None
                break
        if not isinstance(response, Response):
            response = self.default
        return response

    def _answered(self, n: Notification, response: Response,
                  error: SeccompError | None) -> None:
        """The Supervisor's on_answer: one event per answer (a failure other
        than the target being gone is reported by the Supervisor)."""
        listener = n.listener
        container = None if listener is None else self.containers.get(listener._fd)
        if container is None:
            return
        name = n.syscall_name or str(n.syscall)
        if error is None:
            self._event("decision", id=container.id, pid=n.pid, syscall=name,
                        args=[hex(a) for a in n.args], response=str(response))
        elif isinstance(error, NotificationGoneError):
            self._event("interrupted", id=container.id, syscall=name, pid=n.pid)

    def serve_forever(self, timeout: float | None = None) -> None:
        """Serve until :meth:`stop` (or ``timeout`` seconds without any event).

        A BaseException from a handler is re-raised after its notification
        was answered with ``default``; every listener is then closed.
        """
        if self._server is None:
            return
        self._sup.run(timeout)

    def start(self) -> threading.Thread:
        """Serve from a daemon thread; returns it."""
        if self._thread is not None:
            raise InvalidArgumentError(errno.EALREADY, "Agent.start", "already started")
        self._thread = threading.Thread(target=self._run_thread, name="oci-agent", daemon=True)
        self._thread.start()
        return self._thread

    def _run_thread(self) -> None:
        try:
            self.serve_forever()
        except BaseException as exc:  # listeners are closed; say why
            log.error("oci agent: the serving loop died: %r", exc, exc_info=exc)

    def stop(self, timeout: float | None = 5.0) -> None:
        """Make serve_forever() return (and join the thread if started)."""
        self._sup.stop(0)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def close(self) -> None:
        """Stop, close every listener (their targets then see ENOSYS) and the socket."""
        server = self._server
        if server is None:
            return
        self.stop()
        for listener in list(self._sup.listeners):
            self._sup._drop(listener, "agent closed")
        self._sup.close()
        self._server = None
        server.close()  # removes the socket file if it is still ours

    def __enter__(self) -> Agent:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _close_all(fds: Iterable[int]) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


# -- built-in handlers ------------------------------------------------------------------------


def log_calls(stream: IO[str], then: Handler | None = None) -> Handler:
    """Write each call as a JSON line to ``stream``, then answer with ``then``.

    Without ``then`` the call is let through (CONTINUE): an audit log, not a
    security decision.
    """
    lock = threading.Lock()

    def handler(container: Container, n: Notification) -> Response | None:
        record = {"time": round(time.time(), 6), "container": container.id,
                  "metadata": container.metadata, "pid": n.pid,
                  "syscall": n.syscall_name or n.syscall, "args": [hex(a) for a in n.args]}
        with lock:
            stream.write(json.dumps(record, sort_keys=True) + "\n")
            stream.flush()
        return Response.CONTINUE if then is None else then(container, n)

    return handler


def deny(errnum: int = errno.EPERM) -> Handler:
    """Fail every call routed here with ``errnum``."""
    response = Response.errno(errnum)

    def handler(container: Container, n: Notification) -> Response:
        return response

    return handler


#: For each path syscall: the index of (dirfd, path, mode) among its args; dirfd None = AT_FDCWD.
_MKDIR_ARGS: dict[str, tuple[int | None, int, int]] = {
    "mkdir": (None, 0, 1),
    "mkdirat": (0, 1, 2),
}
_AT_FDCWD = -100


def _container_path(container: Container, n: Notification, dirfd: int | None,
                    raw: str) -> str:
    """The absolute, normalized path as the container sees it; raises PermissionError."""
    if raw.startswith("/"):
        path = raw
    else:
        pid = n.pid
        root = os.readlink(f"/proc/{pid}/root")
        if dirfd is None or dirfd == _AT_FDCWD:
            base = os.readlink(f"/proc/{pid}/cwd")
        else:
            base = os.readlink(f"/proc/{pid}/fd/{dirfd}")
        if root != "/":
            if base != root and not base.startswith(root.rstrip("/") + "/"):
                raise PermissionError(errno.EACCES, "the base directory is outside the root")
            base = "/" + base[len(root):].lstrip("/")
        path = posixpath.join(base, raw)
    return posixpath.normpath(path)


def mkdir_under(prefixes: Sequence[str], errnum: int = errno.EACCES) -> Handler:
    """Allow mkdir/mkdirat only below one of ``prefixes`` (paths in the container).

    The path is read from the target's memory with the ID_VALID rule, made
    absolute in the container's view and normalized; outside every prefix the
    call fails with ``errnum``.  Inside, the agent creates the directory
    itself, walking the container's root (``/proc/PID/root``) one component
    at a time with O_NOFOLLOW, so neither a symlink nor a path changed after
    the check can move the directory elsewhere, and returns mkdir's result.
    The new directory belongs to the agent's user; its mode is the requested
    one less the target's umask.
    """
    roots = []
    for prefix in prefixes:
        if not isinstance(prefix, str) or not prefix.startswith("/"):
            raise InvalidArgumentError(func="mkdir_under",
                                       detail=f"prefix must be an absolute path: {prefix!r}")
        roots.append(posixpath.normpath(prefix))
    refuse = Response.errno(errnum)

    def handler(container: Container, n: Notification) -> Response:
        spec = _MKDIR_ARGS.get(n.syscall_name)
        if spec is None:
            return refuse
        dirfd_i, path_i, mode_i = spec
        dirfd = None
        if dirfd_i is not None:
            dirfd = struct.unpack("i", struct.pack("I", n.args[dirfd_i] & 0xFFFFFFFF))[0]
        raw = container.listener.read_string(n, n.args[path_i]).decode("utf-8", "surrogateescape")
        try:
            path = _container_path(container, n, dirfd, raw)
        except OSError:
            return refuse
        if not any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots):
            return refuse
        mode = n.args[mode_i] & 0o7777 & ~_umask_of(n.pid)
        try:
            _mkdir_in_root(n.pid, path, mode)
        except OSError as exc:
            return Response.errno(exc.errno or errno.EIO)
        if not container.listener.id_valid(n):
            return refuse  # the target was interrupted; the answer is not delivered anyway
        return Response.value(0)

    return handler


def _umask_of(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


def _mkdir_in_root(pid: int, path: str, mode: int) -> None:
    parts = [p for p in path.split("/") if p]
    if not parts or any(p in (".", "..") for p in parts):
        raise PermissionError(errno.EACCES, "bad path")
    flags = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(f"/proc/{pid}/root", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for part in parts[:-1]:
            nxt = os.open(part, flags, dir_fd=fd)
            os.close(fd)
            fd = nxt
        os.mkdir(parts[-1], mode, dir_fd=fd)
    finally:
        os.close(fd)


def load_handler(spec: str) -> Handler:
    """Import ``module:function`` and return the handler it names.

    If the function takes no arguments it is called to build the handler
    (a factory).  Raises InvalidArgumentError for a bad spec or a missing name.
    """
    import importlib
    import inspect

    module_name, sep, func_name = spec.partition(":")
    if not sep or not module_name or not func_name:
        raise InvalidArgumentError(func="load_handler",
                                   detail=f"expected module:function, got {spec!r}")
    try:
        module = importlib.import_module(module_name)
        obj = getattr(module, func_name)
    except (ImportError, AttributeError) as exc:
        raise InvalidArgumentError(func="load_handler", detail=f"{spec}: {exc}") from None
    if not callable(obj):
        raise InvalidArgumentError(func="load_handler", detail=f"{spec} is not callable")
    try:
        takes = len(inspect.signature(obj).parameters)
    except (TypeError, ValueError):
        takes = 2
    handler = obj() if takes == 0 else obj
    if not callable(handler):
        raise InvalidArgumentError(func="load_handler", detail=f"{spec}() returned no handler")
    return handler  # type: ignore[no-any-return]
