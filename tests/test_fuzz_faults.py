"""Fault injection for notify and spawn (runs once those modules are merged).

* an EINTR storm (SIGALRM every millisecond) while the monitor receives and
  answers notifications: every round trip completes with the right answer;
* the listener closed by another thread while a receive() is blocked: the
  receive returns with a SeccompError within the bound, no hang;
* the target killed while its notification is pending: the answer fails with
  a SeccompError (the notification is gone), the listener keeps working;
* an EINTR storm while spawning: every child starts under its filter and
  exits as expected.

Every test has a time bound; the storm tests also check the signal really
fired.  See docs/failclosed.md for the rest of the plan.
"""

from __future__ import annotations

import errno
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import Any, Callable

import pytest
from helpers.faults import eintr_storm

from seccomp_py import Action, Filter, SeccompError, notify
from seccomp_py.spawn import spawn


def start_target(body: Callable[[int], int], notified: str = "getppid") -> tuple[int, Any, int]:
    """Fork a target that loads Filter(ALLOW) + NOTIFY for ``notified``,
    hands the listener over, then runs ``body(ctl)`` and exits with its
    result; ``ctl`` is the read end of a pipe whose write end is returned."""
    parent_sock, child_sock = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    ctl_r, ctl_w = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the target
        code = 3
        try:
            parent_sock.close()
            os.close(ctl_w)
            f = Filter(Action.ALLOW)
            f.add_rule(Action.NOTIFY, notified)
            f.set_notifier(notify.UnixNotifier(sock=child_sock), timeout=5.0)
            f.load()
            code = body(ctl_r)
        finally:
            os._exit(code)
    child_sock.close()
    os.close(ctl_r)
    try:
        handoff = notify.receive_listener(parent_sock, timeout=10.0)
    except BaseException:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        raise
    finally:
        parent_sock.close()
    return pid, handoff.listener, ctl_w


def wait_exit(pid: int, timeout: float = 10.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.WEXITSTATUS(status) if os.WIFEXITED(status) else -os.WTERMSIG(status)
        time.sleep(0.01)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    pytest.fail(f"target {pid} did not exit within {timeout}s")


def test_eintr_storm_during_notify_round_trips() -> None:
    rounds = 150

    def body(ctl: int) -> int:
        for i in range(rounds):
            time.sleep(0.002)  # the monitor waits in receive() meanwhile: alarms hit it
            if os.getppid() != i:
                return 2
        return 0

    pid, listener, ctl = start_target(body)
    os.close(ctl)
    start = time.monotonic()
    with listener, eintr_storm() as hits:
        for i in range(rounds):
            n = listener.receive(timeout=10)
            listener.respond_value(n, i)
    assert wait_exit(pid) == 0, "the target saw a wrong answer"
    assert hits[0] >= 10, f"the storm fired only {hits[0]} times in {time.monotonic() - start:.2f}s"


def test_listener_closed_under_a_blocked_receive() -> None:
    def body(ctl: int) -> int:
        os.read(ctl, 1)  # wait until the monitor is done; never make the notified call
        return 0

    pid, listener, ctl = start_target(body)
    outcome: list[BaseException | None] = []

    def receiver() -> None:
        try:
            listener.receive(timeout=None)
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    t = threading.Thread(target=receiver, daemon=True)
    t.start()
    time.sleep(0.2)
    assert t.is_alive(), "receive() returned without a notification"
    listener.close()
    t.join(5.0)
    try:
        assert not t.is_alive(), "receive() still blocked 5 s after the listener was closed"
        assert outcome and isinstance(outcome[0], SeccompError), outcome
    finally:
        os.write(ctl, b"x")
        os.close(ctl)
        wait_exit(pid)


def test_target_killed_while_its_notification_is_pending() -> None:
    def body(ctl: int) -> int:
        os.getppid()  # blocks until answered; the monitor kills us instead
        return 0

    pid, listener, ctl = start_target(body)
    os.close(ctl)
    with listener:
        n = listener.receive(timeout=10)
        os.kill(pid, signal.SIGKILL)
        assert wait_exit(pid) == -signal.SIGKILL
        with pytest.raises(SeccompError) as info:
            listener.respond_value(n, 1)
        assert info.value.errno == errno.ENOENT
        assert not listener.id_valid(n)


def test_eintr_storm_while_spawning() -> None:
    f = Filter(Action.ALLOW)
    f.add_rule(Action.errno(errno.EPERM), "mkdir")
    f.add_rule(Action.errno(errno.EPERM), "mkdirat")
    target = f"/tmp/seccomp_py_failclosed_{os.getpid()}"
    with eintr_storm() as hits:
        for _ in range(30):
            ok = spawn(["/bin/true"], f)
            assert ok.wait(timeout=20) == 0
            denied = spawn(["/bin/mkdir", target], f, stderr=subprocess.DEVNULL)
            assert denied.wait(timeout=20) != 0
    assert not os.path.exists(target), "mkdir ran unfiltered"
    assert hits[0] >= 10, f"the storm fired only {hits[0]} times"
    f.close()
