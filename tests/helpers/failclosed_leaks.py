"""Leak measurement shared by tests/test_fuzz_leaks.py and scripts/leaks_long.py.

Around a loop of ``fn(i)`` (after a warm-up, so caches such as syscall
resolution are filled first) it reads:

* the bytes malloc has handed out and not got back (glibc mallinfo2():
  uordblks + hblkhd): where libseccomp's and cffi's allocations live.  Unlike
  RSS it does not depend on how much freed memory the heap had lying around,
  so a leak shows from the first iteration;
* the number of blocks Python's own allocator holds (sys.getallocatedblocks());
* RSS (/proc/self/statm) and open fds (/proc/self/fd), for the report.
"""

from __future__ import annotations

import ctypes
import dataclasses
import errno
import gc
import os
import sys
from typing import Any, Callable

from seccomp_py import Action, Arg, Filter, SeccompError

#: A per-iteration growth of malloc'd bytes above this is a leak.
#: libseccomp's smallest allocation for a rule is tens of bytes and a context
#: hundreds, so leaking either is above it; noise averaged over thousands of
#: iterations stays far below.
PER_ITERATION_BOUND = 16
#: Python allocator blocks per iteration above this is a leak (a kept object).
BLOCKS_BOUND = 0.05

_PAGE = os.sysconf("SC_PAGE_SIZE")


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]


_mallinfo2: Any
try:
    _mallinfo2 = ctypes.CDLL(None).mallinfo2
    _mallinfo2.restype = _MallInfo2
    _mallinfo2.argtypes = []
except AttributeError:  # not glibc >= 2.33
    _mallinfo2 = None


def malloc_in_use() -> int:
    """Bytes handed out by malloc and not freed (0 when unknown)."""
    if _mallinfo2 is None:
        return 0
    info: Any = _mallinfo2()
    return int(info.uordblks + info.hblkhd)


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
    refusals: tuple[Callable[[], None], ...] = (
        lambda: f.add_rule(f.default_action, "close"),        # EACCES
        lambda: f.add_rule(Action.ALLOW, "no_such_call"),     # unknown name
        lambda: f.add_rule(Action.ALLOW, "read", Arg(0) == 1, Arg(0) == 2),  # EINVAL
        lambda: f.add_rule(Action.LOG, "write", Arg(0) == 1))  # EEXIST
    for bad in refusals:
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


@dataclasses.dataclass
class Growth:
    """What n iterations added."""

    n: int
    malloc: int  # bytes
    blocks: int  # Python allocator blocks
    rss: int  # bytes
    fds: int
    rss_before: int
    fds_before: int

    @property
    def malloc_per_iteration(self) -> float:
        return self.malloc / self.n

    @property
    def blocks_per_iteration(self) -> float:
        return self.blocks / self.n

    @property
    def leaked(self) -> bool:
        return (self.malloc_per_iteration > PER_ITERATION_BOUND
                or self.blocks_per_iteration > BLOCKS_BOUND or self.fds > 0)

    def __str__(self) -> str:
        return (f"{self.n} iterations: malloc {self.malloc:+d} B "
                f"({self.malloc_per_iteration:+.2f} B/iteration), Python blocks "
                f"{self.blocks:+d} ({self.blocks_per_iteration:+.3f}/iteration), RSS "
                f"{self.rss_before // 1024} KiB -> {(self.rss_before + self.rss) // 1024} KiB, "
                f"open fds {self.fds_before} -> {self.fds_before + self.fds}")


def _snapshot() -> tuple[int, int, int, int]:
    gc.collect()
    return malloc_in_use(), sys.getallocatedblocks(), rss(), fd_count()


def measure(fn: Callable[[int], None], n: int, warmup: int = 500) -> Growth:
    """What n calls of fn(i) leave behind, after ``warmup`` calls."""
    for i in range(warmup):
        fn(i)
    m0, b0, r0, f0 = _snapshot()
    for i in range(n):
        fn(i)
    m1, b1, r1, f1 = _snapshot()
    return Growth(n, m1 - m0, b1 - b0, r1 - r0, f1 - f0, r0, f0)


# -- notify and spawn -----------------------------------------------------------------------


_ANSWERED_WINDOW = 4096


def notify_round_trips(n: int, warmup: int = 500) -> Growth:
    """n notify round trips: the target calls getppid(), the monitor receives
    the notification and answers with a value.  Measures the monitor side.

    Uses seccomp_py.notify (Filter.set_notifier, UnixNotifier,
    receive_listener).
    ``n`` is rounded up to a multiple of the Listener's window of answered
    ids (4096, kept to detect double answers and cleared when full), so the
    window is in the same state at both ends of the measurement.
    """
    import socket

    from seccomp_py.notify import UnixNotifier, receive_listener

    n = -(-n // _ANSWERED_WINDOW) * _ANSWERED_WINDOW
    total = n + warmup
    parent_sock, child_sock = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the target
        code = 0
        try:
            parent_sock.close()
            f = Filter(Action.ALLOW)
            f.add_rule(Action.NOTIFY, "getppid")
            f.set_notifier(UnixNotifier(sock=child_sock), timeout=5.0)
            f.load()
            for i in range(total):
                if os.getppid() != i:
                    code = 2
                    break
        except BaseException:
            code = 3
        finally:
            os._exit(code)
    child_sock.close()
    try:
        handoff = receive_listener(parent_sock, timeout=10.0)
    finally:
        parent_sock.close()
    with handoff.listener as listener:
        def trip(i: int) -> None:
            note = listener.receive(timeout=10)
            listener.respond_value(note, i)

        counter = iter(range(total))
        growth = measure(lambda _i: trip(next(counter)), n, warmup=warmup)
    _, status = os.waitpid(pid, 0)
    if not os.WIFEXITED(status) or os.WEXITSTATUS(status) != 0:
        raise AssertionError(f"the target saw wrong answers or failed (status {status:#x})")
    return growth


def spawns(n: int, warmup: int = 20) -> Growth:
    """n spawns of /bin/true under a filter, each waited for.

    Uses seccomp_py.spawn.spawn(args, filter, **popen_options).
    """
    from seccomp_py.spawn import spawn

    f = Filter(Action.ALLOW)
    f.add_rule(Action.errno(errno.EPERM), "mkdir")
    f.add_rule(Action.errno(errno.EPERM), "mkdirat")

    def one(i: int) -> None:
        proc = spawn(["/bin/true"], f)
        if proc.wait(timeout=30) != 0:
            raise AssertionError(f"spawn {i}: /bin/true exited with {proc.returncode}")

    try:
        return measure(one, n, warmup=warmup)
    finally:
        f.close()
