"""Fault injection for the OCI seccomp agent (seccomp_py.oci.Agent), with
sandboxes in real child processes that hand their listener over the way runc
does (the process state JSON and the fd on a stream socket):

* a container process SIGKILLed while its notification is pending, before
  the agent receives it and while the agent's handler runs: the agent drops
  or skips it and keeps serving the other container;
* the agent closed while a target waits in a notified syscall: the target
  gets ENOSYS, never success.

Each test has a time bound and checks fds and child processes before/after.
"""

from __future__ import annotations

import errno
import io
import json
import os
import select
import signal
import socket
import time
from functools import partial
from typing import Any

import pytest
from helpers.faults import fork_target, no_leaks, read_json, reap, write_json
from helpers.syscalls import errno_of

from seccomp_py import Action, Filter
from seccomp_py.notify import Response
from seccomp_py.oci import Agent, Container


def _container(path: str, cid: str, mkdir_paths: list[str], close: tuple[Any, ...]
               ) -> tuple[int, int, int]:
    """Fork a container process; returns (pid, go_w, out_r).  It hands its
    listener to the agent, then for each path waits for a byte on go and
    reports mkdir's errno on out."""
    (go_r, go_w), (out_r, out_w) = os.pipe(), os.pipe()

    def setup() -> None:
        f = Filter(Action.ALLOW)
        f.add_rule(Action.NOTIFY, "mkdir")
        f.add_rule(Action.NOTIFY, "mkdirat")
        f.load()
        fd = f.notify_fd()
        state = {"ociVersion": "1.0.2", "fds": ["seccompFd"], "pid": os.getpid(),
                 "metadata": "", "state": {"ociVersion": "1.0.2", "id": cid,
                                           "status": "creating", "pid": os.getpid(),
                                           "bundle": "/"}}
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(path)
        s.sendmsg([json.dumps(state).encode()],
                  [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fd.to_bytes(4, "little"))])
        s.close()
        os.close(fd)

    def body() -> None:
        for p in mkdir_paths:
            os.read(go_r, 1)
            write_json(out_w, errno_of(partial(os.mkdir, p)))

    pid = fork_target(body, setup, close=(go_w, out_r, *close))
    os.close(go_r)
    os.close(out_w)
    return pid, go_w, out_r


def _pump(agent: Agent, until: Any, timeout: float = 10.0) -> None:
    """Run the agent's loop in this thread until ``until()`` is true."""
    deadline = time.monotonic() + timeout
    while not until():
        assert time.monotonic() < deadline, "timed out"
        agent.serve_forever(timeout=0.05)


def _readable(fd: int) -> bool:
    return bool(select.select([fd], [], [], 0)[0])


def _by_id(agent: Agent, cid: str) -> Container:
    return next(c for c in agent.containers.values() if c.id == cid)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("when", ["before_receive", "in_handler"])
def test_container_killed_while_its_notification_is_pending(when: str, tmp_path: Any) -> None:
    path = str(tmp_path / "agent.sock")
    events = io.StringIO()
    killed: list[int] = []
    with no_leaks():
        agent = Agent(path, events=events)

        def handler(container: Container, n: Any) -> Response:
            if container.id == "victim":
                os.kill(n.pid, signal.SIGKILL)
                killed.append(n.pid)
                deadline = time.monotonic() + 5
                while container.listener.id_valid(n) and time.monotonic() < deadline:
                    time.sleep(0.002)
            return Response.errno(errno.EXDEV)

        agent.route(handler, syscalls=["mkdir", "mkdirat"])
        try:
            own = (agent._sock, agent._stop_r, agent._stop_w)
            victim, v_go, v_out = _container(path, "victim", [str(tmp_path / "v")], own)
            _pump(agent, lambda: agent.accepted == 1)
            other, o_go, o_out = _container(path, "other", [str(tmp_path / "o")],
                                            (*own, v_go, v_out))
            _pump(agent, lambda: agent.accepted == 2)
            os.write(v_go, b"g")
            if when == "before_receive":
                assert _by_id(agent, "victim").listener.poll(5)  # pending, not received
                os.kill(victim, signal.SIGKILL)
                assert reap(victim) == -signal.SIGKILL
            else:
                _pump(agent, lambda: bool(killed))
                assert reap(victim) == -signal.SIGKILL
            # The agent drops the dead container and keeps serving the other.
            _pump(agent, lambda: len(agent.containers) == 1)
            os.write(o_go, b"g")
            _pump(agent, lambda: _readable(o_out))
            assert read_json(o_out) == errno.EXDEV
            assert reap(other) == 0
            _pump(agent, lambda: not agent.containers)
        finally:
            agent.close()
            for fd in (v_go, v_out, o_go, o_out):
                os.close(fd)
    kinds = [json.loads(line)["event"] for line in events.getvalue().splitlines()]
    assert kinds.count("gone") == 2
    assert kinds.count("decision") == 1  # only the other container's call was answered
    if when == "in_handler":
        assert kinds.count("interrupted") == 1
        assert killed == [victim]
    else:
        assert killed == []
    assert not os.path.exists(tmp_path / "v") and not os.path.exists(tmp_path / "o")


@pytest.mark.timeout(30)
@pytest.mark.parametrize("threaded", [False, True], ids=["loop", "thread"])
def test_agent_closed_while_a_target_waits(threaded: bool, tmp_path: Any) -> None:
    path = str(tmp_path / "agent.sock")
    paths = [str(tmp_path / "one"), str(tmp_path / "two")]
    with no_leaks():
        agent = Agent(path)
        agent.route(lambda c, n: Response.errno(errno.EXDEV))
        try:
            pid, go, out = _container(path, "c1", paths,
                                      (agent._sock, agent._stop_r, agent._stop_w))
            if threaded:
                agent.start()
                deadline = time.monotonic() + 10
                while agent.accepted < 1:
                    assert time.monotonic() < deadline
                    time.sleep(0.01)
                agent.stop()  # the loop ends; the listener stays open
            else:
                _pump(agent, lambda: agent.accepted == 1)
            os.write(go, b"1")
            assert _by_id(agent, "c1").listener.poll(5)  # the target waits on us
        finally:
            agent.close()
        assert read_json(out) == errno.ENOSYS
        os.write(go, b"2")
        assert read_json(out) == errno.ENOSYS
        assert reap(pid) == 0
        os.close(go)
        os.close(out)
    assert not any(os.path.exists(p) for p in paths)
