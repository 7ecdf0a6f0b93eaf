"""Notified targets: a forked child that loads a NOTIFY filter, hands its listener to the
test process (the monitor) and runs a function; ``Target`` collects what it returned."""

from __future__ import annotations

import contextlib
import os
import pickle
import select
import signal
import socket
import sys
import time
from typing import Any, Callable

from seccomp_py import Action, Filter
from seccomp_py.notify import Handoff, UnixNotifier, receive_listener


class Target:
    """A forked child running ``body()`` under a filter; ``result()`` collects it."""

    def __init__(self, pid: int, rfd: int) -> None:
        self.pid = pid
        self.rfd = rfd
        self.status: int | None = None

    def result(self, timeout: float = 10.0) -> Any:
        """What body() returned (exceptions come back as ('error', text))."""
        data = b""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self.kill()
                raise AssertionError(f"target {self.pid} did not finish within {timeout}s")
            ready, _, _ = select.select([self.rfd], [], [], left)
            if not ready:
                continue
            chunk = os.read(self.rfd, 65536)
            if not chunk:
                break
            data += chunk
        os.close(self.rfd)
        self.rfd = -1
        self.wait(timeout)
        return pickle.loads(data) if data else None

    def wait(self, timeout: float = 10.0) -> int:
        deadline = time.monotonic() + timeout
        while self.status is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = status
                break
            if time.monotonic() > deadline:
                self.kill()
                raise AssertionError(f"target {self.pid} did not exit within {timeout}s")
            time.sleep(0.005)
        return self.status

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        if self.status is None:
            _, self.status = os.waitpid(self.pid, 0)
        if self.rfd >= 0:
            os.close(self.rfd)
            self.rfd = -1


def close_other_fds(*keep: int) -> None:
    """In a forked target: drop every fd inherited from the monitor (other
    targets' listeners, the server socket) so that no target keeps another
    one's listener -- or its own, queued in a socket -- alive."""
    low = 3
    for fd in sorted(k for k in keep if k >= 3):
        os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, 65536)


def start_target(notify: list[Any], body: Callable[[], Any], *,
                 default: Action = Action.ALLOW, allow: tuple[Any, ...] = (),
                 name: str = "target", sock: socket.socket | None = None,
                 notifier: Any = None) -> tuple[Target, Handoff | None]:
    """Fork a child that loads a filter (NOTIFY for ``notify``), hands the
    listener over, then runs ``body()``.  Returns the Target and, when the
    test did not give its own socket/notifier, the received Handoff."""
    own = sock is None and notifier is None
    if own:
        parent_sock, child_sock = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    rfd, wfd = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            os.close(rfd)
            if own:
                parent_sock.close()
            keep = [wfd]
            if own:
                keep.append(child_sock.fileno())
            elif sock is not None:
                keep.append(sock.fileno())
            close_other_fds(*keep)
            f = Filter(default)
            for rule in notify:
                f.add_rule(Action.NOTIFY, rule)
            for rule in allow:
                f.add_rule(Action.ALLOW, rule)
            n = notifier or UnixNotifier(sock=child_sock if own else sock, name=name)
            f.set_notifier(n, timeout=5.0)
            f.load()
            try:
                payload = pickle.dumps(body())
            except BaseException as exc:
                payload = pickle.dumps(("error", f"{type(exc).__name__}: {exc}"))
            view = memoryview(payload)
            while view:
                view = view[os.write(wfd, view):]
        except BaseException:
            code = 3
        finally:
            os._exit(code)
    os.close(wfd)
    target = Target(pid, rfd)
    if not own:
        return target, None
    child_sock.close()
    try:
        handoff = receive_listener(parent_sock, timeout=10.0)
    except BaseException:
        target.kill()
        raise
    finally:
        parent_sock.close()
    return target, handoff
