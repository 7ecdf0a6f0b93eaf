"""Leak checks: filter lifecycles (success and refusal paths) leave RSS and
the open-fd count flat; the measurement itself catches a planted leak.

scripts/leaks_long.py runs 100,000 lifecycles (and notify round trips and
spawns once merged) and prints the figures.
"""

from __future__ import annotations

import os
from typing import Any

from helpers.failclosed_leaks import PER_ITERATION_BOUND, lifecycle, measure
from seccomp_py import Action, Filter

N = int(os.environ.get("SECCOMP_PY_LEAK_ITERATIONS", "2000"))


def _per_iteration(result: tuple[int, int, int, int], n: int) -> tuple[float, int]:
    rss0, rss1, fd0, fd1 = result
    return (rss1 - rss0) / n, fd1 - fd0


def test_filter_lifecycles_do_not_leak() -> None:
    per, fds = _per_iteration(measure(lifecycle, N), N)
    assert fds == 0, f"{fds} fds leaked over {N} lifecycles"
    assert per <= PER_ITERATION_BOUND, f"RSS grows {per:.1f} bytes per lifecycle"


def test_the_bound_catches_a_leaked_filter() -> None:
    # The measurement can fail: keeping every Filter (a leaked libseccomp
    # context per iteration) is far above the bound.
    kept: list[Any] = []

    def leaky(i: int) -> None:
        f = Filter(Action.errno(1))
        f.add_rule(Action.ALLOW, "read")
        kept.append(f)

    n = 2000
    per, _ = _per_iteration(measure(leaky, n, warmup=10), n)
    for f in kept:
        f.close()
    assert per > PER_ITERATION_BOUND, f"a leaked filter per iteration measured {per:.1f} B"


def test_the_fd_count_catches_a_leaked_fd() -> None:
    opened: list[int] = []

    def leaky(i: int) -> None:
        opened.append(os.open("/dev/null", os.O_RDONLY))

    try:
        _, fds = _per_iteration(measure(leaky, 50, warmup=0), 50)
    finally:
        for fd in opened:
            os.close(fd)
    assert fds == 50
