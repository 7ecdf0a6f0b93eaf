"""Helpers for the core tests: raw syscalls through ctypes, reading
/proc/self/status, and exec'ing a C helper under a filter."""

from __future__ import annotations

import ctypes
import os
import threading
from typing import Callable

from conftest import Outcome, in_child

from seccomp_py import Filter

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long

NR = {
    # x86_64 numbers (the tests that use them run only on x86_64)
    "getpid": 39,
    "getppid": 110,
    "getuid": 102,
    "getgid": 104,
}


def raw(nr: int, *args: int) -> int:
    """syscall(nr, *args) with 64-bit unsigned args: the result, or -errno.

    ctypes releases the GIL around the call, so a thread killed inside it
    does not take the GIL with it.
    """
    ctypes.set_errno(0)
    ret = int(_libc.syscall(ctypes.c_long(nr), *(ctypes.c_ulong(a & (2**64 - 1)) for a in args)))
    if ret == -1 and ctypes.get_errno():
        return -ctypes.get_errno()
    return ret


def status(field: str) -> str:
    """A field of /proc/self/status ("NoNewPrivs", "Seccomp", ...)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            key, _, value = line.partition(":")
            if key == field:
                return value.strip()
    raise KeyError(field)


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
    import time

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
