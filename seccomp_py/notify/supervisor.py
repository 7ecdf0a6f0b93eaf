"""Serve many listeners, and the sandboxes that hand theirs over, in one loop.

See seccomp_unotify(2) and unix(7).  Every notification goes through
:class:`~.dispatch.Dispatch`; handshakes never block the loop.
"""

from __future__ import annotations

import contextlib
import errno
import os
import selectors
import socket
import threading
import time
from typing import Any, Callable, Protocol

from ..errors import HandoffError, HangupError, InvalidArgumentError, SeccompError
from .dispatch import AnswerHook, Dispatch, Handler, Reporter, _guarded
from .handoff import Handoff, peer_credentials, receive_listener
from .listener import Listener
from .types import Response


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

    Every notification is received, handled and answered by one
    :class:`~seccomp_py.notify.dispatch.Dispatch`; ``on_answer(notification,
    response, error)`` is told of each answer (``error``: None, or the
    NotificationGoneError / SeccompError it failed with).
    """

    def __init__(self, handler: Handler, *, on_error: Response | None = None,
                 report: Reporter | None = None, server: Any = None,
                 on_handoff: Callable[[Handoff], bool | None] | None = None,
                 on_drop: Callable[[Listener, str], None] | None = None,
                 max_handshakes: int = MAX_HANDSHAKES,
                 on_answer: AnswerHook | None = None) -> None:
        if isinstance(max_handshakes, bool) or not isinstance(max_handshakes, int) \
                or max_handshakes < 1:
            raise InvalidArgumentError(func="Supervisor",
                                       detail=f"max_handshakes must be >= 1, not "
                                              f"{max_handshakes!r}")
        self._dispatch = Dispatch(handler, on_error, report, on_answer)
        self.server = server
        self.on_handoff = on_handoff
        self.on_drop = on_drop
        self.max_handshakes = max_handshakes
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
    def handler(self) -> Handler:
        return self._dispatch.handler

    @handler.setter
    def handler(self, handler: Handler) -> None:
        self._dispatch.handler = handler

    @property
    def on_error(self) -> Response:
        return self._dispatch.on_error

    @on_error.setter
    def on_error(self, response: Response) -> None:
        self._dispatch.on_error = response

    @property
    def report(self) -> Reporter:
        return self._dispatch.report

    @report.setter
    def report(self, report: Reporter) -> None:
        self._dispatch.report = _guarded(report)

    @property
    def handled(self) -> int:
        """How many notifications were received (and so answered)."""
        return self._dispatch.received

    @handled.setter
    def handled(self, count: int) -> None:
        self._dispatch.received = count

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
            data = os.read(self._stop_r, 512)
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
        try:
            self._dispatch.one(listener)
        except HangupError:
            self._drop(listener, "no process uses the filter any more")
        except SeccompError as err:  # the receive failed
            self.report(err, None)
            self._drop(listener, str(err))

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

