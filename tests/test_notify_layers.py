"""The notifier never widens the policy.

load() with a notifier installs two layers: the user's program behind a
prologue allowing exactly the handoff's calls, then, right after the
handoff, the user's program with NOTIFY made ALLOW.  The kernel keeps the
most restrictive action of all filters, so afterwards every call gets the
user's decision: a KILL on close(1) still kills, and a socket that reuses
the handoff's fd number gets the policy's answer for sendmsg.  Each case
runs in a forked child against a real monitor thread.
"""

from __future__ import annotations

import errno
import os
import socket
import threading
from typing import Any, Callable

from helpers.child import in_child

from seccomp_py import Action, Arch, Arg, Filter
from seccomp_py.notify import (
    HandoffError,
    Notification,
    Response,
    UnixNotifier,
    bpf_run,
    handoff_prologue,
    receive_listener,
    seal_program,
    serve,
)
from seccomp_py.notify import _Exempt as Exempt
from seccomp_py.syscall import resolve_name

# What the forked child needs after load() under an allow-list policy.
_PYTHON_NEEDS = (
    "read", "write", "close", "mmap", "munmap", "brk", "mprotect", "madvise", "futex",
    "exit_group", "exit", "rt_sigprocmask", "rt_sigaction", "getpid", "gettid", "fstat",
    "newfstatat", "lseek", "ioctl", "dup", "dup2", "dup3", "socketpair", "fcntl",
    "getsockopt", "getsockname", "getrandom", "clock_gettime", "getppid",
)


_EXDEV = Response.errno(errno.EXDEV)


def _with_monitor(body: Callable[[socket.socket], Any],
                  answer: Response = _EXDEV) -> tuple[Any, list[str]]:
    """Run ``body(sandbox_socket)`` in a child; a monitor thread receives the
    listener and answers every notification with ``answer``."""
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    seen: list[str] = []

    def monitor() -> None:
        try:
            handoff = receive_listener(a, timeout=15)
        except (HandoffError, TimeoutError) as exc:
            seen.append(f"no handoff: {exc}")
            return
        with handoff.listener as listener:
            def handler(n: Notification) -> Response:
                seen.append(n.syscall_name)
                return answer

            serve(listener, handler, timeout=15)

    thread = threading.Thread(target=monitor, daemon=True)
    thread.start()
    try:
        out = in_child(body, b)
    finally:
        b.close()
    thread.join(20)
    a.close()
    return out, seen


def _allow_list(default: Action) -> Filter:
    f = Filter(default)
    for name in _PYTHON_NEEDS:
        f.add_rule(Action.ALLOW, name)
    return f


def test_kill_on_close_1_still_kills_with_a_notifier() -> None:
    def body(sock: socket.socket) -> Any:
        f = Filter(Action.errno(errno.EACCES))
        for name in _PYTHON_NEEDS:
            if name != "close":
                f.add_rule(Action.ALLOW, name)
        f.add_rule(Action.KILL_PROCESS, "close", Arg(0) == 1)
        f.add_rule(Action.ALLOW, "close", Arg(0) != 1)
        f.add_rule(Action.NOTIFY, "mkdir")
        f.set_notifier(UnixNotifier(sock=sock), timeout=10)
        f.load()
        try:
            os.mkdir("/nonexistent-seccomp-py/x")
        except OSError as exc:
            os.write(2, b"")  # still alive, and allowed
            if exc.errno != errno.EXDEV:
                return f"mkdir gave {exc.errno}"
        os.close(1)
        return "close(1) was allowed"

    out, seen = _with_monitor(body)
    assert out.killed_by_sigsys, out
    assert seen == ["mkdir"], seen


def test_a_socket_reusing_the_handoff_fd_cannot_sendmsg() -> None:
    def body(sock: socket.socket) -> Any:
        number = sock.fileno()
        f = _allow_list(Action.errno(errno.EACCES))  # sendmsg: EACCES (the default)
        f.add_rule(Action.NOTIFY, "mkdir")
        f.set_notifier(UnixNotifier(sock=sock), timeout=10)
        f.load()
        left, _right = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        os.dup2(left.fileno(), number)  # the handoff socket's number, reused
        reused = socket.socket(fileno=number)
        try:
            reused.sendmsg([b"x"])
        except OSError as exc:
            return ("sendmsg", exc.errno)
        return ("sendmsg", 0)

    out, _ = _with_monitor(body)
    assert out.value == ("sendmsg", errno.EACCES), out


def test_errno_on_the_handoffs_own_calls_applies_after_the_handoff() -> None:
    # The user's own answers for close() and sendmsg() are kept: the handoff
    # ran under the prologue, and afterwards the policy decides.
    def body(sock: socket.socket) -> Any:
        f = Filter(Action.ALLOW)
        f.add_rule(Action.errno(errno.EPERM), "close", Arg(0) == 99)
        f.add_rule(Action.errno(errno.ENOLINK), "sendmsg")
        f.add_rule(Action.NOTIFY, "mkdir")
        f.set_notifier(UnixNotifier(sock=sock), timeout=10)
        f.load()
        results = []
        try:
            os.mkdir("/nonexistent-seccomp-py/x")
        except OSError as exc:
            results.append(exc.errno)
        os.dup2(0, 99)
        try:
            os.close(99)
            results.append(0)
        except OSError as exc:
            results.append(exc.errno)
        left, _right = socket.socketpair()
        try:
            left.sendmsg([b"x"])
            results.append(0)
        except OSError as exc:
            results.append(exc.errno)
        return results

    out, seen = _with_monitor(body)
    assert out.value == [errno.EXDEV, errno.EPERM, errno.ENOLINK], out
    assert seen == ["mkdir"]


def test_notify_on_the_handoffs_own_calls_is_served() -> None:
    # NOTIFY for sendmsg and close: the handoff itself is not notified (it
    # would deadlock), later calls are.
    def body(sock: socket.socket) -> Any:
        f = Filter(Action.ALLOW)
        f.add_rule(Action.NOTIFY, "sendmsg")
        f.add_rule(Action.NOTIFY, "close", Arg(0) == 77)
        f.set_notifier(UnixNotifier(sock=sock), timeout=10)
        f.load()
        os.dup2(0, 77)
        try:
            os.close(77)
        except OSError as exc:
            return exc.errno
        return 0

    out, seen = _with_monitor(body)
    assert out.value == errno.EXDEV, out
    assert seen == ["close"], seen


def test_layers_evaluate_to_the_policy() -> None:
    f = Filter(Action.KILL_PROCESS)
    f.add_rule(Action.ALLOW, "read")
    f.add_rule(Action.NOTIFY, "mkdir")
    f.add_rule(Action.errno(errno.EPERM), "close", Arg(0) == 1)
    f.add_rule(Action.NOTIFY, "openat", Arg(2) == 5)
    bpf = f.export_bpf()
    native = int(Arch.native())
    calls = [Exempt("sendmsg", ((0, 2**64 - 1, 9), (2, 2**64 - 1, 0x4000))),
             Exempt("close", ((0, 2**64 - 1, 0xFFFFFFFF),))]
    prologue, marked = handoff_prologue(calls, marker=0xFFFFFFFF)
    assert marked >= 0
    layer1 = prologue + bpf
    layer2 = seal_program(bpf)
    allow, notify = 0x7FFF0000, 0x7FC00000

    def combined(name: str, args: list[int], arch: int = native) -> int:
        r1 = bpf_run(layer1, resolve_name(name), arch, args)
        r2 = bpf_run(layer2, resolve_name(name), arch, args)
        return min((r1, r2), key=lambda r: (r & 0xFFFF0000) - (1 << 32 if r & 0x80000000 else 0))

    # the exemptions hold in layer 1 only, for exactly those arguments
    assert bpf_run(layer1, resolve_name("sendmsg"), native, [9, 0, 0x4000]) == allow
    assert bpf_run(layer1, resolve_name("sendmsg"), native, [9, 0, 0]) == 0x80000000
    assert bpf_run(layer1, resolve_name("sendmsg"), native, [9 + 2**32, 0, 0x4000]) \
        == 0x80000000
    assert bpf_run(layer1, resolve_name("sendmsg"), int(Arch.X86), [9, 0, 0x4000]) != allow
    # combined with layer 2, every call gets the user's decision
    for name, args in [("sendmsg", [9, 0, 0x4000]), ("close", [0xFFFFFFFF]),
                       ("close", [1]), ("mkdir", []), ("openat", [0, 0, 5]),
                       ("openat", [0, 0, 6]), ("read", [])]:
        assert combined(name, args) == bpf_run(bpf, resolve_name(name), native, args), name
    assert combined("mkdir", []) == notify


def test_seal_program_changes_only_notify_returns() -> None:
    f = Filter(Action.NOTIFY)
    f.add_rule(Action.errno(errno.EPERM), "close")
    bpf = f.export_bpf()
    sealed = seal_program(bpf)
    native = int(Arch.native())
    assert bpf_run(sealed, resolve_name("mkdir"), native) == 0x7FFF0000
    assert bpf_run(sealed, resolve_name("close"), native) == 0x00050000 | errno.EPERM
    assert len(sealed) == len(bpf)


def test_thread_sync_filters_get_both_layers() -> None:
    # TSYNC: both layers are synchronised to every thread (TSYNC_ESRCH keeps
    # the return value unambiguous); another thread's calls are notified too.
    def body(sock: socket.socket) -> Any:
        f = Filter(Action.ALLOW)
        f.thread_sync = True
        f.add_rule(Action.errno(errno.EPERM), "close", Arg(0) == 98)
        f.add_rule(Action.NOTIFY, "mkdir")
        out: list[int] = []
        go = threading.Event()

        def other() -> None:
            go.wait(10)
            try:
                os.mkdir("/nonexistent-seccomp-py/y")
            except OSError as exc:
                out.append(exc.errno or -1)
            os.dup2(0, 98)
            try:
                os.close(98)
            except OSError as exc:
                out.append(exc.errno or -1)

        t = threading.Thread(target=other)
        t.start()  # exists before load(): only TSYNC puts the filter on it
        f.set_notifier(UnixNotifier(sock=sock), timeout=10)
        f.load()
        go.set()
        t.join(10)
        return out

    out, seen = _with_monitor(body)
    assert out.value == [errno.EXDEV, errno.EPERM], out
    assert seen == ["mkdir"]
