"""seccomp_py.notify_tools: get_fd (pidfd_getfd with the ID_VALID rule),
decode_sockaddr, and the connect-on-behalf supervisor of docs/notify.md run
against a real spawned target."""

from __future__ import annotations

import errno
import os
import re
import socket
import struct
import subprocess
import sys
import threading
from typing import Any

import pytest
from helpers.child import in_child
from hypothesis import given
from hypothesis import strategies as st

from seccomp_py import Action, Filter, SeccompError, spawn
from seccomp_py.notify import NotificationGoneError, Response
from seccomp_py.notify_tools import SockAddr, decode_sockaddr, get_fd

HERE = os.path.dirname(os.path.abspath(__file__))
TIMEOUT = 20


def test_decode_inet() -> None:
    a = decode_sockaddr(struct.pack("=H", socket.AF_INET) + struct.pack("!H4s", 8080,
                        socket.inet_aton("10.1.2.3")) + b"\0" * 8)
    assert (a.family, a.family_name, a.host, a.port) == (socket.AF_INET, "AF_INET",
                                                         "10.1.2.3", 8080)
    assert str(a) == "10.1.2.3:8080"
    raw6 = (struct.pack("=H", socket.AF_INET6) + struct.pack("!HI", 443, 7)
            + socket.inet_pton(socket.AF_INET6, "2001:db8::1") + struct.pack("=I", 3))
    b = decode_sockaddr(raw6)
    assert (b.host, b.port, b.flowinfo, b.scope_id) == ("2001:db8::1", 443, 7, 3)
    assert str(b) == "[2001:db8::1%3]:443"


def test_decode_unix_and_others() -> None:
    fam = struct.pack("=H", socket.AF_UNIX)
    assert decode_sockaddr(fam + b"/run/x.sock\0\0\0").path == b"/run/x.sock"
    ab = decode_sockaddr(fam + b"\0name\0with-nul")
    assert ab.abstract and ab.path == b"name\0with-nul" and str(ab).startswith("@name")
    assert str(decode_sockaddr(fam)) == "(unnamed)"
    nl = decode_sockaddr(struct.pack("=HHII", socket.AF_NETLINK, 0, 42, 5))
    assert (nl.port, nl.groups) == (42, 5)
    other = decode_sockaddr(struct.pack("=H", socket.AF_PACKET) + b"\1\2")
    assert other.family_name == "AF_PACKET" and other.raw.endswith(b"\1\2")
    assert decode_sockaddr(struct.pack("=H", 4000) + b"x").family_name == "AF_4000"
    for bad in (b"", b"\2", struct.pack("=H", socket.AF_INET) + b"\0" * 6,
                struct.pack("=H", socket.AF_INET6) + b"\0" * 10, b"\1\0" + b"x" * 127):
        with pytest.raises(ValueError):
            decode_sockaddr(bad)
    with pytest.raises(TypeError):
        decode_sockaddr("1.2.3.4")  # type: ignore[arg-type]


@given(st.binary(max_size=200))
def test_decode_never_crashes(data: bytes) -> None:
    try:
        a = decode_sockaddr(data)
    except ValueError:
        return
    assert isinstance(a, SockAddr) and a.raw == data
    str(a)


def _target(code: str, syscall: str) -> tuple[Filter, list[str]]:
    f = Filter(Action.ALLOW)
    f.add_rule(Action.NOTIFY, syscall)
    return f, [sys.executable, "-I", "-S", "-c", code]


def test_get_fd_is_the_targets_fd(tmp_path: os.PathLike[str]) -> None:
    path = os.path.join(tmp_path, "f")
    code = (f"import os\nfd = os.open({path!r}, os.O_CREAT | os.O_WRONLY)\n"
            "os.dup2(fd, 57)\nos.fsync(57)\n")
    f, cmd = _target(code, "fsync")
    with spawn(cmd, f) as p:
        n = p.listener.receive(timeout=TIMEOUT)
        assert n.args[0] == 57
        fd = get_fd(n, 57)
        try:
            assert os.path.sameopenfile(fd, os.open(path, os.O_RDONLY | os.O_CLOEXEC)) or \
                os.fstat(fd).st_ino == os.stat(path).st_ino
            assert os.get_inheritable(fd) is False
        finally:
            os.close(fd)
        with pytest.raises(SeccompError) as info:
            get_fd(n, 999)
        assert info.value.errno == errno.EBADF and info.value.func == "pidfd_getfd"
        with pytest.raises(Exception):  # noqa: B017 - bad numbers never reach the kernel
            get_fd(n, -1)
        p.listener.respond(n, Response.value(0))
        assert p.wait(timeout=TIMEOUT) == 0
        with pytest.raises(NotificationGoneError):
            get_fd(n, 57)


def test_get_fd_from_a_thread() -> None:
    # The notified task is a non-leader thread: its tid is not a process id.
    code = ("import os, threading\nr, w = os.pipe()\nos.dup2(w, 61)\n"
            "t = threading.Thread(target=os.fsync, args=(61,))\n"
            "t.start(); t.join()\n")
    f, cmd = _target(code, "fsync")
    with spawn(cmd, f, stderr=subprocess.DEVNULL) as p:
        n = p.listener.receive(timeout=TIMEOUT)
        assert n.pid != p.pid
        fd = get_fd(n, 61)
        try:
            assert os.fstat(fd).st_mode & 0o170000 == 0o010000  # a FIFO: the pipe
        finally:
            os.close(fd)
        p.listener.respond(n, Response.value(0))
        p.wait(timeout=TIMEOUT)


def _doc_block() -> str:
    with open(os.path.join(HERE, "..", "docs", "notify.md")) as fh:
        text = fh.read()
    block = re.search(r"<!-- connect-on-behalf:start -->\n```python\n(.*?)```\n", text, re.S)
    assert block is not None
    return block.group(1)


CLIENT = """
import errno, socket, sys
for port in map(int, sys.argv[1:]):
    s = socket.socket()
    try:
        s.connect(("127.0.0.1", port))
        s.sendall(b"hello")
        print("connected", s.getpeername()[1], s.recv(16).decode())
    except OSError as e:
        print("refused", port, errno.errorcode[e.errno])
    s.close()
"""


def test_doc_example(capfd: pytest.CaptureFixture[str]) -> None:
    code = _doc_block()
    assert len(code.strip().splitlines()) <= 30
    ns: dict[str, Any] = {}
    exec(compile(code, "docs/notify.md", "exec"), ns)
    with socket.socket() as server, socket.socket() as other:
        server.bind(("127.0.0.1", 0))
        server.listen(4)
        other.bind(("127.0.0.1", 0))
        other.listen(4)  # listening, but not allowed: must never see a connection
        port, other_port = server.getsockname()[1], other.getsockname()[1]

        def echo() -> None:
            conn, _ = server.accept()
            with conn:
                conn.sendall(conn.recv(16).upper())

        t = threading.Thread(target=echo, daemon=True)
        t.start()
        cmd = [sys.executable, "-I", "-S", "-c", CLIENT, str(port), str(other_port)]
        # in a forked child: a hung supervisor is killed after the timeout
        outcome = in_child(ns["supervise"], cmd, {("127.0.0.1", port)}, timeout=TIMEOUT)
        t.join(TIMEOUT)
        other.setblocking(False)
        with pytest.raises(BlockingIOError):
            other.accept()
    assert outcome.error is None, outcome.error
    assert outcome.value == 0
    lines = capfd.readouterr().out.splitlines()
    assert lines == [f"connected {port} HELLO", f"refused {other_port} ECONNREFUSED"]
