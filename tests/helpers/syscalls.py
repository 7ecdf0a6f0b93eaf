"""Raw syscalls through ctypes, fields of /proc/self/status, and the errno of a call."""

from __future__ import annotations

import ctypes
from typing import Any, Callable

from seccomp_py.syscall import resolve_name

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


def raw_syscall(name: str, *args: int) -> int:
    """``raw()`` of syscall ``name`` (resolved for the native arch): the result, or -errno."""
    return raw(resolve_name(name), *args)


def status(field: str) -> str:
    """A field of /proc/self/status ("NoNewPrivs", "Seccomp", ...)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            key, _, value = line.partition(":")
            if key == field:
                return value.strip()
    raise KeyError(field)


def errno_of(call: Callable[[], Any]) -> int:
    """0 if ``call()`` succeeds, else the errno of the OSError it raised."""
    try:
        call()
    except OSError as exc:
        return exc.errno or -1
    return 0
