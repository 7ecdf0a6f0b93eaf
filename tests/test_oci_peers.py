"""The OCI agent never blocks on one peer, answers every notification and
refuses deep JSON in one line.

Misbehaving peers are real connections (silent, trickling a byte at a time,
deeply nested JSON); the containers are forked processes with a NOTIFY
filter that hand their listener over the way runc does.  Ordering, not
timing, is asserted: a container's call is answered while a slow peer is
still in its handshake.
"""

from __future__ import annotations

import errno
import io
import json
import os
import select
import signal
import socket
import threading
import time
from typing import Any

import pytest
from helpers.oci_sandbox import start_sandbox

from seccomp_py.oci import Agent, deny


def _result(pid: int, r: int, timeout: float = 15.0) -> Any:
    data = b""
    deadline = time.monotonic() + timeout
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([r], [], [], left)[0]:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                return "hung"
            chunk = os.read(r, 4096)
            if not chunk:
                break
            data += chunk
    finally:
        os.close(r)
    os.waitpid(pid, 0)
    return json.loads(data) if data else None


class Peer(threading.Thread):
    """A misbehaving runtime: connects, then trickles ``payload`` one byte per
    ``every`` seconds (never, when ``every`` is None) until stopped."""

    def __init__(self, path: str, payload: bytes = b"{", every: float | None = 0.1) -> None:
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.payload = payload
        self.every = every
        self.stop = threading.Event()
        self.sent = 0
        self.reset = False

    def run(self) -> None:
        while not self.stop.wait(self.every if self.every is not None else 0.05):
            if self.every is None:
                continue
            byte = self.payload[self.sent % len(self.payload):][:1]
            try:
                self.sock.send(byte)
            except OSError:
                self.reset = True
                return
            self.sent += 1

    def close(self) -> None:
        self.stop.set()
        if self.is_alive():
            self.join(5)
        self.sock.close()


@pytest.mark.parametrize("every", [0.05, None], ids=["trickling", "silent"])
def test_a_slow_peer_never_stalls_another_container(every: float | None, tmp_path: Any) -> None:
    path = str(tmp_path / "agent.sock")
    with Agent(path, handshake_timeout=120) as agent:
        agent.route(deny(errno.EXDEV))
        agent.start()
        peer = Peer(path, b'{"ociVersion": "1.0.2", ' + b" " * 10000, every)
        peer.start()
        try:
            while every is not None and peer.sent < 5:
                time.sleep(0.01)
            pid, r = start_sandbox(path, [("mkdir", str(tmp_path / "x"))])
            result = _result(pid, r)
            # answered while the slow peer is still in its handshake
            assert not peer.reset and agent.refused == 0
        finally:
            peer.close()
    assert result == [errno.EXDEV]


def test_handshakes_are_capped_and_expire(tmp_path: Any) -> None:
    path = str(tmp_path / "agent.sock")
    events = io.StringIO()
    with Agent(path, handshake_timeout=0.5, max_connections=2, events=events) as agent:
        agent.route(deny(errno.EXDEV))
        agent.start()
        peers = [Peer(path, every=None) for _ in range(4)]
        try:
            pid, r = start_sandbox(path, [("mkdir", str(tmp_path / "x"))])
            seen = 0
            while agent.accepted == 0:
                seen = max(seen, len(agent._sup._conns))
                time.sleep(0.005)
            result = _result(pid, r)
        finally:
            for peer in peers:
                peer.close()
    assert result == [errno.EXDEV]
    assert seen <= 2
    reasons = [json.loads(line).get("reason", "") for line in events.getvalue().splitlines()]
    assert sum("in time" in x for x in reasons) >= 3  # the silent ones expired


def test_deep_json_is_refused_in_one_line_and_the_agent_keeps_serving(tmp_path: Any) -> None:
    path = str(tmp_path / "agent.sock")
    events = io.StringIO()
    deep = b'{"a": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    with Agent(path, events=events) as agent:
        agent.route(deny(errno.EXDEV))
        agent.start()
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(path)
        s.sendall(deep)
        s.close()
        while agent.refused == 0:
            time.sleep(0.01)
        pid, r = start_sandbox(path, [("mkdir", str(tmp_path / "x"))])
        assert _result(pid, r) == [errno.EXDEV]
    reasons = [json.loads(line).get("reason", "") for line in events.getvalue().splitlines()
               if json.loads(line)["event"] == "refused"]
    assert len(reasons) == 1 and "levels deep" in reasons[0] and "\n" not in reasons[0], reasons


@pytest.mark.parametrize("exc", [SystemExit(1), KeyboardInterrupt()])
def test_handler_baseexception_answers_then_closes_every_listener(exc: BaseException,
                                                                   tmp_path: Any) -> None:
    path = str(tmp_path / "agent.sock")

    def handler(container: Any, n: Any) -> Any:
        raise exc

    with Agent(path) as agent:
        agent.route(handler)
        agent.start()
        pid, r = start_sandbox(path, [("mkdir", str(tmp_path / "x")),
                                      ("mkdir", str(tmp_path / "y"))])
        result = _result(pid, r)
        assert agent._thread is not None
        agent._thread.join(5)
        assert not agent._thread.is_alive()
        assert agent.containers == {}
    assert result == [errno.EPERM, errno.ENOSYS]
