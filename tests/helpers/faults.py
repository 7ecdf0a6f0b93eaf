"""Shared pieces of the fault-injection tests (tests/test_faults_*.py).

A fork()ed target that loads a NOTIFY filter and hands its listener over, a
pipe protocol to drive it step by step, and the leak checks every fault test
makes: the test process's open fds and its child processes (zombies
included), before and after.
"""

from __future__ import annotations

import gc
import json
import os
import select
import signal
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Callable


def open_fds() -> set[int]:
    """The fds open in this process (after a GC, so dead objects are closed)."""
    gc.collect()
    return {int(x) for x in os.listdir("/proc/self/fd")}


def children() -> set[int]:
    """Pids of this process's children, zombies included (from /proc/*/stat)."""
    me = os.getpid()
    out = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        fields = stat[stat.rindex(b")") + 2:].split()
        if int(fields[1]) == me:
            out.add(int(entry))
    return out


@contextmanager
def no_leaks() -> Iterator[None]:
    """Assert that the block leaves no new fd open and no child unreaped."""
    fds, kids = open_fds(), children()
    yield
    leaked = open_fds() - fds
    assert not leaked, f"fds left open: {sorted(leaked)} " + \
        str({fd: _fd_target(fd) for fd in leaked})
    left = children() - kids
    assert not left, f"children not reaped: {sorted(left)}"


def _fd_target(fd: int) -> str:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return "?"


def read_json(fd: int, timeout: float = 10.0) -> Any:
    """Read one newline-terminated JSON value from a pipe, with a time bound."""
    data = b""
    deadline = time.monotonic() + timeout
    while not data.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise TimeoutError(f"no message within {timeout}s (got {data!r})")
        chunk = os.read(fd, 4096)
        if not chunk:
            raise EOFError(f"pipe closed (got {data!r})")
        data += chunk
    return json.loads(data)


def write_json(fd: int, value: Any) -> None:
    os.write(fd, json.dumps(value).encode() + b"\n")


def reap(pid: int, timeout: float = 10.0) -> int:
    """Wait for ``pid`` (killing it after ``timeout``); exit code or -signal."""
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.WEXITSTATUS(status) if os.WIFEXITED(status) else -os.WTERMSIG(status)
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise TimeoutError(f"process {pid} did not exit within {timeout}s")
        time.sleep(0.005)


def fork_target(body: Callable[[], None], setup: Callable[[], Any],
                close: tuple[Any, ...] = ()) -> int:
    """Fork; the child closes ``close`` (fds or sockets: the parent's ends,
    so that a listener in flight dies with the parent), runs ``setup()``
    (load a filter...) then ``body()`` and exits 0, or 3 if anything raised.
    Returns the pid."""
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the target
        code = 0
        try:
            for obj in close:
                if isinstance(obj, int):
                    os.close(obj)
                else:
                    obj.close()
            setup()
            body()
        except BaseException:
            code = 3
        finally:
            os._exit(code)
    return pid


def notify_setup(sock: socket.socket, notified: tuple[str, ...] = ("mkdir",),
                 errno_rules: tuple[str, ...] = ()) -> Callable[[], None]:
    """A setup for fork_target: Filter(ALLOW), NOTIFY for ``notified``,
    ERRNO(EPERM) for ``errno_rules``, listener handed over on ``sock``."""
    def setup() -> None:
        import errno as _errno

        from seccomp_py import Action, Filter
        from seccomp_py.notify import UnixNotifier

        f = Filter(Action.ALLOW)
        for name in notified:
            f.add_rule(Action.NOTIFY, name)
        for name in errno_rules:
            f.add_rule(Action.errno(_errno.EPERM), name)
        f.set_notifier(UnixNotifier(sock=sock), timeout=5.0)
        f.load()
    return setup


@contextmanager
def eintr_storm(period: float = 0.001) -> Iterator[list[int]]:
    """SIGALRM every ``period`` seconds (a Python handler, so system calls are
    interrupted and restarted or fail with EINTR); yields a hit counter."""
    hits = [0]

    def on_alarm(signum: int, frame: object) -> None:
        hits[0] += 1

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, period, period)
    try:
        yield hits
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0, 0)
        signal.signal(signal.SIGALRM, old)
