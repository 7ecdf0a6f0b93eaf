"""Leak measurement shared by tests/test_fuzz_leaks.py and scripts/leaks_long.py.

RSS is read from /proc/self/statm (resident pages) and open fds from
/proc/self/fd, around a loop of ``fn(i)`` after a warm-up (so caches such as
syscall resolution and the allocator's arenas are filled first).
"""

from __future__ import annotations

import errno
import gc
import os
from typing import Callable

from seccomp_py import Action, Arg, Filter, SeccompError

#: A per-iteration growth above this is a leak.  libseccomp's smallest
#: allocation for a rule is a few hundred bytes and a context several KiB, so
#: leaking either is far above it; allocator noise over thousands of
#: iterations stays far below.
PER_ITERATION_BOUND = 64

_PAGE = os.sysconf("SC_PAGE_SIZE")


def rss() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * _PAGE


def fd_count() -> int:
    return len(os.listdir("/proc/self/fd"))


def lifecycle(i: int) -> None:
    """One filter lifecycle, through success and refusal paths."""
    f = Filter(Action.errno(1) if i % 2 else Action.KILL_PROCESS)
    f.add_rule(Action.ALLOW, "read")
    f.add_rule(Action.ALLOW, "write", Arg(0) == 1)
    f.add_rule(Action.errno(13), "openat", Arg(2).masked_eq(3, 1), Arg(1) > 5)
    f.set_priority("read", 200)
    for bad in (lambda: f.add_rule(f.default_action, "close"),        # EACCES
                lambda: f.add_rule(Action.ALLOW, "no_such_call"),     # unknown name
                lambda: f.add_rule(Action.ALLOW, "read", Arg(0) == 1, Arg(0) == 2),  # EINVAL
                lambda: f.add_rule(Action.LOG, "write", Arg(0) == 1)):  # EEXIST
        try:
            bad()
        except SeccompError as exc:
            assert exc.errno in (errno.EACCES, errno.ENOENT, errno.EINVAL, errno.EEXIST)
    f.export_bpf()
    if i % 8 == 0:
        f.export_pfc()  # a memfd each time: an fd leak shows at once
    if i % 2:
        f.close()
    else:
        del f  # freed by the cffi destructor


def measure(fn: Callable[[int], None], n: int, warmup: int = 500) -> tuple[int, int, int, int]:
    """(rss before, rss after, fds before, fds after) around n calls of fn."""
    for i in range(warmup):
        fn(i)
    gc.collect()
    rss0, fd0 = rss(), fd_count()
    for i in range(n):
        fn(i)
    gc.collect()
    return rss0, rss(), fd0, fd_count()


# -- extension points: filled in once notify and spawn are merged -----------------------


def notify_round_trips(n: int) -> tuple[int, int, int, int]:
    """n notify round trips (target syscall -> receive -> respond).

    Extension point: needs seccomp_py.notify and seccomp_py.spawn (a target
    process under a NOTIFY filter); see docs/failclosed.md.
    """
    raise NotImplementedError("notify round trips are measured after the notify merge")


def spawns(n: int) -> tuple[int, int, int, int]:
    """n spawns of a child under a filter, waited for.

    Extension point: needs seccomp_py.spawn; see docs/failclosed.md.
    """
    raise NotImplementedError("spawns are measured after the spawn merge")
