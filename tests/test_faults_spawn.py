"""Fault injection for spawn(): each fault ends in a clear exception in the
parent, no fd left open, no child left unreaped, and the program never runs
with a wider policy than asked (it runs under the filter, or not at all).

* exec fails after the filter is loaded (a NOTIFY filter whose listener was
  already sent; an execve rule on the envp pointer that the pre-flight check
  cannot see);
* the child cannot hand its listener to the parent (sendmsg refused by a
  rule on the msghdr pointer, which the pre-flight check cannot see);
* the parent cannot receive the listener (RLIMIT_NOFILE: no free fd slot);
* fork fails (RLIMIT_NPROC for an unprivileged uid), with and without NOTIFY,
  and for a SpawnTemplate;
* the SpawnTemplate process killed, then used;
* an EINTR storm (a signal every millisecond) while spawning NOTIFY
  children and answering them.

Plain spawns under an EINTR storm are in test_fuzz_faults.py.
"""

from __future__ import annotations

import errno
import fcntl
import os
import resource
import signal
import subprocess
from typing import Any

import pytest
from helpers.child import in_child
from helpers.faults import children, eintr_storm, no_leaks, open_fds

from seccomp_py import Action, Arg, Filter, SeccompError
from seccomp_py.spawn import SpawnTemplate, spawn


def notify_filter() -> Filter:
    f = Filter(Action.ALLOW)
    f.add_rule(Action.NOTIFY, "mkdir")
    f.add_rule(Action.NOTIFY, "mkdirat")
    return f


@pytest.mark.timeout(20)
def test_exec_fails_after_a_notify_filter_was_loaded_and_its_listener_sent() -> None:
    f = notify_filter()
    with no_leaks():
        for _ in range(5):
            with pytest.raises(FileNotFoundError) as info:
                spawn(["/nonexistent/seccomp-py-program"], f)
            assert info.value.filename == "/nonexistent/seccomp-py-program"
    f.close()


@pytest.mark.timeout(20)
def test_exec_refused_by_the_loaded_filter_beyond_the_preflight(tmp_path: Any) -> None:
    # The pre-flight check evaluates execve with envp = NULL (env=None), the
    # child passes the real environ: a rule on that pointer makes execve
    # fail only in the child, after the filter is in force.
    target = str(tmp_path / "d")
    f = Filter(Action.ALLOW)
    f.add_rule(Action.errno(errno.EPERM), "execve", Arg(2) != 0)
    with no_leaks():
        with pytest.raises(PermissionError) as info:
            spawn(["/bin/mkdir", target], f)
        assert info.value.errno == errno.EPERM
    assert not os.path.exists(target), "the program ran"
    f.close()


@pytest.mark.timeout(20)
def test_child_cannot_hand_over_its_listener(tmp_path: Any) -> None:
    # sendmsg refused for a non-NULL msghdr: the pre-flight check (which
    # evaluates sendmsg(sock, NULL, MSG_NOSIGNAL)) lets it through, the
    # child's sendmsg fails after the filter is in force.
    target = str(tmp_path / "d")
    f = notify_filter()
    f.add_rule(Action.errno(errno.EPERM), "sendmsg", Arg(1) != 0)
    with no_leaks():
        with pytest.raises(SeccompError) as info:
            spawn(["/bin/mkdir", target], f)
        assert info.value.errno == errno.EPERM
        assert info.value.func == "sendmsg"
    assert not os.path.exists(target), "the program ran without its supervisor"
    f.close()


def _free_slots_below(limit: int) -> int:
    free = 0
    for fd in range(limit):
        try:
            fcntl.fcntl(fd, fcntl.F_GETFD)
        except OSError:
            free += 1
    return free


def _parent_cannot_receive_the_listener(target: str) -> tuple[Any, ...]:
    f = notify_filter()
    before, kids = open_fds(), children()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    limit = 0
    while _free_slots_below(limit) < 2:  # room for the socketpair, none for the listener
        limit += 1
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))
    try:
        spawn(["/bin/sh", "-c", f"sleep 0.2; mkdir {target}"], f)
        outcome: tuple[Any, ...] = ("spawned",)
    except SeccompError as exc:
        outcome = (exc.errno, exc.func)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    return outcome, sorted(open_fds() - before), sorted(children() - kids)


@pytest.mark.timeout(20)
def test_parent_cannot_receive_the_listener(tmp_path: Any) -> None:
    target = str(tmp_path / "d")
    out = in_child(_parent_cannot_receive_the_listener, target, timeout=15)
    assert out.exitcode == 0, out
    outcome, leaked_fds, left_children = out.value
    assert outcome == (errno.EMSGSIZE, "recvmsg"), outcome
    assert leaked_fds == [] and left_children == []
    assert not os.path.exists(target), "the program went on without its supervisor"


def _fork_fails() -> list[Any]:
    results: list[Any] = []
    filters = [Filter(Action.ALLOW), notify_filter()]
    before, kids = open_fds(), children()
    os.setgroups([])
    os.setresgid(65534, 65534, 65534)
    os.setresuid(65534, 65534, 65534)
    resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))
    for f in filters:
        try:
            spawn(["/bin/true"], f)
            results.append("spawned")
        except SeccompError as exc:
            results.append((exc.errno, exc.func))
    try:
        SpawnTemplate(filters[0]).close()
        results.append("template started")
    except SeccompError as exc:
        results.append((exc.errno, exc.func))
    results.append(sorted(open_fds() - before))
    results.append(sorted(children() - kids))
    return results


@pytest.mark.timeout(20)
def test_fork_fails_under_rlimit_nproc() -> None:
    out = in_child(_fork_fails, timeout=15)
    assert out.exitcode == 0, out
    assert out.value == [(errno.EAGAIN, "vfork"), (errno.EAGAIN, "vfork"), (errno.EAGAIN, "fork"),
                         [], []], out.value


@pytest.mark.timeout(20)
def test_spawn_template_killed_then_used(tmp_path: Any) -> None:
    # The template process dies (SIGKILL): the next spawn says so at once
    # (no hang, no child), the template is closed and reaped.
    target = str(tmp_path / "d")
    f = Filter(Action.ALLOW)
    f.add_rule(Action.errno(errno.EPERM), "mkdir")
    f.add_rule(Action.errno(errno.EPERM), "mkdirat")
    with no_leaks():
        template = SpawnTemplate(f)
        p = template.spawn(["/bin/mkdir", target], stderr=subprocess.DEVNULL)
        assert p.wait(timeout=10) != 0  # it works, under the filter
        os.kill(template.pid, signal.SIGKILL)
        for _ in range(2):
            with pytest.raises((SeccompError, ValueError)) as info:
                template.spawn(["/bin/mkdir", target])
            if isinstance(info.value, SeccompError):
                assert info.value.func == "SpawnTemplate"
        assert template.closed and template.pid == -1
    assert not os.path.exists(target)
    f.close()


@pytest.mark.timeout(30)
def test_eintr_storm_while_spawning_notify_children(tmp_path: Any) -> None:
    target = str(tmp_path / "d")
    f = notify_filter()
    with no_leaks(), eintr_storm() as hits:
        for _ in range(20):
            p = spawn(["/bin/mkdir", target], f, stderr=subprocess.DEVNULL)
            assert p.has_listener
            with p, p.listener as lst:
                n = lst.receive(timeout=10)
                lst.respond_errno(n, errno.EXDEV)
                assert p.wait(timeout=10) != 0
    assert hits[0] >= 10, f"the storm fired only {hits[0]} times"
    assert not os.path.exists(target), "mkdir ran"
    f.close()
