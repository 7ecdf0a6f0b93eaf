"""Leak checks: filter lifecycles (success and refusal paths) leave malloc'd
memory, Python objects and the open-fd count flat; the measurement itself
catches a planted leak of each kind.

scripts/leaks_long.py runs 100,000 lifecycles (and notify round trips and
spawns) and prints the figures.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
from helpers.failclosed_leaks import _mallinfo2, lifecycle, measure

from seccomp_py import Action, Filter

N = int(os.environ.get("SECCOMP_PY_LEAK_ITERATIONS", "2000"))
needs_mallinfo = pytest.mark.skipif(_mallinfo2 is None, reason="needs glibc >= 2.33 mallinfo2")


@needs_mallinfo
def test_filter_lifecycles_do_not_leak() -> None:
    growth = measure(lifecycle, N)
    assert not growth.leaked, str(growth)


@needs_mallinfo
def test_the_bound_catches_a_leaked_filter() -> None:
    # The measurement can fail: keeping every Filter (a libseccomp context
    # per iteration) is far above the bound, whatever the heap held before.
    kept: list[Any] = []

    def leaky(i: int) -> None:
        f = Filter(Action.errno(1))
        f.add_rule(Action.ALLOW, "read")
        kept.append(f)

    try:
        growth = measure(leaky, 500, warmup=10)
    finally:
        for f in kept:
            f.close()
    assert growth.leaked and growth.malloc_per_iteration > 100, str(growth)


@needs_mallinfo
def test_the_bound_catches_a_small_c_leak() -> None:
    # 32 bytes of malloc per iteration, never freed: above the bound.
    import ctypes

    libc = ctypes.CDLL(None)
    libc.malloc.restype = ctypes.c_void_p
    libc.malloc.argtypes = [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    ptrs: list[int] = []
    try:
        growth = measure(lambda i: ptrs.append(libc.malloc(32)), 2000, warmup=10)
    finally:
        for p in ptrs:
            libc.free(p)
    assert growth.leaked, str(growth)


def test_the_fd_count_catches_a_leaked_fd() -> None:
    opened: list[int] = []
    try:
        growth = measure(lambda i: opened.append(os.open("/dev/null", os.O_RDONLY)), 50,
                         warmup=0)
    finally:
        for fd in opened:
            os.close(fd)
    assert growth.fds == 50 and growth.leaked


@needs_mallinfo
def test_notify_round_trips_do_not_leak() -> None:
    from helpers.failclosed_leaks import notify_round_trips

    growth = notify_round_trips(4096)
    assert not growth.leaked, str(growth)


@needs_mallinfo
def test_spawns_do_not_leak() -> None:
    from helpers.failclosed_leaks import spawns

    growth = spawns(100)
    assert not growth.leaked, str(growth)
