"""Run a function in a forked child and report what the kernel did to it.

A loaded seccomp filter is permanent for the process, so every enforcement test runs the
filtered code in a forked child (``in_child``) and asserts on what the kernel did: the exit
status, the signal, or a value the child sent back through a pipe.
"""

from __future__ import annotations

import dataclasses
import os
import pickle
import select
import signal
import sys
import threading
import time
from typing import Any, Callable

import pytest

from seccomp_py import Filter


@dataclasses.dataclass
class Outcome:
    """What happened to a forked child."""

    exitcode: int | None  # set when the child exited
    signal: int | None  # set when the child was killed by a signal
    value: Any = None  # what the function returned, when it could send it
    error: str | None = None  # the exception the child raised, as text

    @property
    def killed_by_sigsys(self) -> bool:
        return self.signal == signal.SIGSYS


def in_child(func: Callable[..., Any], *args: Any, timeout: float = 20.0) -> Outcome:
    """Run ``func(*args)`` in a forked child and report what happened.

    The child pickles the return value (or the exception text) to a pipe
    before it exits with status 0 (or 1).  If the filter forbids the write,
    only the exit status or signal comes back.  The child is killed after
    ``timeout`` seconds and the test fails.
    """
    rfd, wfd = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # child
        status = 0
        try:
            os.close(rfd)
            try:
                payload = pickle.dumps(("ok", func(*args)))
            except BaseException as exc:
                payload = pickle.dumps(("error", f"{type(exc).__name__}: {exc}"))
                status = 1
            view = memoryview(payload)
            while view:
                view = view[os.write(wfd, view):]
        finally:
            os._exit(status)
    os.close(wfd)
    chunks = []
    deadline = time.monotonic() + timeout
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                pytest.fail(f"child {pid} did not finish within {timeout}s")
            ready, _, _ = select.select([rfd], [], [], left)
            if not ready:
                continue
            chunk = os.read(rfd, 65536)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(rfd)
    _, status = os.waitpid(pid, 0)
    outcome = Outcome(
        exitcode=os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
        signal=os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
    )
    data = b"".join(chunks)
    if data:
        try:
            kind, value = pickle.loads(data)
        except Exception:  # a partial write: the filter stopped the child mid-way
            return outcome
        if kind == "ok":
            outcome.value = value
        else:
            outcome.error = value
    return outcome


def exec_under(build: Callable[[], Filter], argv: list[str],
               timeout: float = 20.0) -> tuple[Outcome, str]:
    """Fork; in the child load ``build()`` and exec ``argv`` with stdout to a
    pipe.  Returns the child's Outcome and what it printed."""
    rfd, wfd = os.pipe()

    def child() -> None:
        os.close(rfd)
        os.dup2(wfd, 1)
        flt = build()
        flt.load()
        os.execv(argv[0], argv)

    try:
        outcome = in_child(child, timeout=timeout)
        os.close(wfd)
        wfd = -1
        chunks = []
        while True:
            chunk = os.read(rfd, 65536)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        if wfd >= 0:
            os.close(wfd)
        os.close(rfd)
    return outcome, b"".join(chunks).decode()


def in_thread_until_gone(func: Callable[[], object], timeout: float = 10.0) -> tuple[bool, bool]:
    """Run ``func`` in a new thread; wait until it finished or its task vanished.

    Returns (finished normally, task gone from /proc/self/task).  Used to see a
    thread killed by SECCOMP_RET_KILL_THREAD without join() (which would hang).
    """
    done = threading.Event()
    tid: list[int] = []
    started = threading.Event()

    def body() -> None:
        tid.append(threading.get_native_id())
        started.set()
        func()
        done.set()

    thread = threading.Thread(target=body, daemon=True)
    thread.start()
    started.wait(timeout)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if done.is_set():
            thread.join(timeout)
            return True, False
        if not os.path.exists(f"/proc/self/task/{tid[0]}"):
            return done.is_set(), True
        time.sleep(0.005)
    return done.is_set(), False
