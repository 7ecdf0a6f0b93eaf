"""The sandbox checks its monitor; socket paths are made and removed safely.

An impostor running as uid 65534 (nobody) binds the monitor's path first in a
world-writable sticky directory: ``UnixNotifier`` refuses it with
PeerRefusedError before anything is installed, so the impostor never gets
the listener.  Each enforcement case runs in a forked child.
"""

from __future__ import annotations

import errno
import os
import socket
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
from helpers.child import in_child

from seccomp_py import Action, Filter
from seccomp_py.errors import UnsafeSocketPathWarning
from seccomp_py.notify import (
    HandoffError,
    ListenerServer,
    PeerRefusedError,
    UnixNotifier,
    receive_listener,
)

NOBODY = 65534

_IMPOSTOR = r"""
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.bind(sys.argv[1])
os.chmod(sys.argv[1], 0o777)
s.listen(8)
print("ready", flush=True)
s.settimeout(20)
try:
    conn, _ = s.accept()
    conn.settimeout(10)
    data, anc, _, _ = conn.recvmsg(8192, socket.CMSG_SPACE(64))
    print("GOT", len(anc), flush=True)
except OSError as exc:
    print("NOTHING", exc, flush=True)
"""


@pytest.fixture
def shared_dir() -> Iterator[str]:
    """A world-writable sticky directory, like /tmp."""
    with tempfile.TemporaryDirectory() as tmp:
        os.chmod(tmp, 0o1777)
        yield tmp


def _impostor(path: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", _IMPOSTOR, path], user=NOBODY,
                            stdout=subprocess.PIPE, text=True, cwd="/")
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    return proc


def _mkdir_errno() -> int:
    try:
        os.mkdir("/nonexistent-seccomp-py/x")
    except OSError as exc:
        return exc.errno or -1
    return 0


def test_impostor_monitor_is_refused_before_anything_is_installed(shared_dir: str) -> None:
    if os.getuid() != 0:
        pytest.skip("needs root to run the impostor as another uid")
    path = os.path.join(shared_dir, "monitor.sock")
    proc = _impostor(path)

    def body() -> Any:
        f = Filter(Action.ALLOW)
        f.add_rule(Action.NOTIFY, "mkdir")
        f.set_notifier(UnixNotifier(path), timeout=5)
        try:
            f.load()
        except PeerRefusedError as exc:
            return ("refused", exc.errno, f.loaded, "uid 65534" in str(exc), _mkdir_errno())
        return ("loaded", f.loaded)

    try:
        out = in_child(body)
    finally:
        try:
            stdout, _ = proc.communicate(timeout=30)
        finally:
            proc.kill()
    assert out.value == ("refused", errno.EACCES, False, True, errno.ENOENT), out
    assert "GOT 1" not in stdout, stdout  # the impostor never received an fd


def test_allowed_pids_refuses_another_process() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "sock")
        with ListenerServer(path):
            def body() -> Any:
                f = Filter(Action.ALLOW)
                f.add_rule(Action.NOTIFY, "mkdir")
                f.set_notifier(UnixNotifier(path, allowed_pids=[1]), timeout=5)
                try:
                    f.load()
                except PeerRefusedError as exc:
                    return ("refused", f.loaded, _mkdir_errno(), "pid" in str(exc))
                return "loaded"

            assert in_child(body).value == ("refused", False, errno.ENOENT, True)


def test_allowed_uids_accepts_the_real_monitor() -> None:
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    notifier = UnixNotifier(sock=b, allowed_uids=[os.getuid()], allowed_pids=[os.getpid()])
    notifier.prepare(1.0)  # our own pair: the peer is us
    notifier.close()
    a.close()
    c, d = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    refused = UnixNotifier(sock=d, allowed_uids=[os.getuid() + 1])
    with pytest.raises(PeerRefusedError):
        refused.prepare(1.0)
    assert d.fileno() == -1  # closed with the refusal
    c.close()


def test_server_never_unlinks_a_live_socket_or_another_file() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "sock")
        with ListenerServer(path):
            with pytest.raises(HandoffError) as info:
                ListenerServer(path)
            assert info.value.errno == errno.EADDRINUSE
            assert os.path.exists(path)
        assert not os.path.exists(path)
        # a stale socket (nobody listens) is replaced
        stale = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        stale.bind(path)
        stale.close()
        with ListenerServer(path) as server:
            assert oct(os.stat(path).st_mode & 0o777) == oct(0o600)
            # someone replaced our socket file: close() leaves theirs alone
            os.unlink(path)
            other = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            other.bind(path)
            server.close()
            assert os.path.exists(path)
            other.close()
        os.unlink(path)
        with open(path, "w") as fh:
            fh.write("not a socket")
        with pytest.raises(HandoffError):
            ListenerServer(path)
        assert os.path.isfile(path)


def test_world_writable_directory_warns() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        os.chmod(tmp, 0o777)
        path = os.path.join(tmp, "sock")
        with pytest.warns(UnsafeSocketPathWarning, match="sticky"):
            server = ListenerServer(path)
        server.close()
        os.chmod(tmp, 0o1777)
        with warnings.catch_warnings():
            warnings.simplefilter("error", UnsafeSocketPathWarning)
            ListenerServer(path).close()


def test_receive_listener_still_checks_the_sandbox() -> None:
    # the monitor side's own check is unchanged: wrong uid refused
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    with a, b, pytest.raises(PeerRefusedError):
        receive_listener(a, allowed_uids=[os.getuid() + 1], timeout=1)


_STREAM_IMPOSTOR = _IMPOSTOR.replace("SOCK_SEQPACKET", "SOCK_STREAM")


def test_cli_run_refuses_an_impostor_listener_path(shared_dir: str) -> None:
    import json

    from helpers.cli import cli

    if os.getuid() != 0:
        pytest.skip("needs root to run the impostor as another uid")
    path = os.path.join(shared_dir, "agent.sock")
    proc = subprocess.Popen([sys.executable, "-c", _STREAM_IMPOSTOR, path], user=NOBODY,
                            stdout=subprocess.PIPE, text=True, cwd="/")
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    profile = os.path.join(shared_dir, "p.json")
    with open(profile, "w") as fh:
        json.dump({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": path,
                   "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_NOTIFY"}]}, fh)
    try:
        out = cli("run", "--profile", profile, "--", "true")
    finally:
        proc.kill()
        stdout, _ = proc.communicate(timeout=30)
    assert out.returncode == 1, out
    assert "runs as uid 65534" in out.stderr.decode()
    assert "GOT 1" not in stdout
