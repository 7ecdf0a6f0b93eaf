"""User notification, end to end, with real processes (seccomp_unotify(2)).

The test process is the monitor; each target is a forked child that loads a
filter (permanent, so only in the child) and hands its listener fd back over
a socket with the library's own UnixNotifier.  Every test asserts what the
target saw (errno, return value, data read) and is bounded in time.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import gc
import os
import pickle
import select
import signal
import socket
import struct
import tempfile
import threading
import time
from typing import Any

import pytest
from helpers.targets import Target, close_other_fds, start_target
from hypothesis import given, settings
from hypothesis import strategies as st

from seccomp_py import Action, Arg, Filter, InvalidArgumentError, SeccompError
from seccomp_py.notify import (
    MAX_PAYLOAD,
    HandoffError,
    HangupError,
    Listener,
    ListenerServer,
    NotAListenerError,
    Notification,
    NotificationGoneError,
    PeerRefusedError,
    Response,
    Supervisor,
    UnixNotifier,
    encode_payload,
    notif_sizes,
    receive_listener,
    serve,
    serve_async,
    serve_in_thread,
)


def fd_count() -> int:
    gc.collect()  # objects left over by earlier tests must not close fds mid-test
    return len(os.listdir("/proc/self/fd"))


MKDIR_PATH = "/nonexistent-seccomp-py/dir"


def _mkdir_errno(path: str = MKDIR_PATH) -> int:
    try:
        os.mkdir(path)
    except OSError as exc:
        return exc.errno or -1
    return 0


def test_kernel_sizes() -> None:
    sizes = notif_sizes()
    assert sizes.notif >= 80 and sizes.resp >= 24 and sizes.data >= 64


def test_deny_spoof_continue() -> None:
    def body() -> Any:
        return (_mkdir_errno(), os.getppid(), os.getpid())

    target, handoff = start_target(["mkdir", "getppid", "getpid"], body)
    assert handoff is not None
    assert handoff.name == "target" and handoff.pid == target.pid
    assert handoff.peer_uid == os.getuid()
    with handoff.listener as listener:
        seen = []
        for _ in range(3):
            n = listener.receive(timeout=10)
            assert n.pid == target.pid
            seen.append(n.syscall_name)
            if n.syscall_name == "mkdir":
                assert listener.id_valid(n)
                listener.respond_errno(n, errno.EACCES)
                assert not listener.id_valid(n)
            elif n.syscall_name == "getppid":
                listener.respond_value(n, 4242)
            else:
                listener.respond_continue(n)
        assert seen == ["mkdir", "getppid", "getpid"]
        assert target.result() == (errno.EACCES, 4242, target.pid)


def test_read_path_from_target_memory() -> None:
    target, handoff = start_target(["mkdir"], _mkdir_errno)
    assert handoff is not None
    with handoff.listener as listener:
        n = listener.receive(timeout=10)
        path = listener.read_string(n, n.args[0])
        assert path == MKDIR_PATH.encode()
        assert listener.read_memory(n, n.args[0], 5) == MKDIR_PATH.encode()[:5]
        listener.respond_errno(n, errno.EROFS)
        # Answered: the target is no longer in the syscall, reading is refused.
        with pytest.raises(NotificationGoneError):
            listener.read_memory(n, n.args[0], 5)
        assert target.result() == errno.EROFS


def test_add_fd_puts_a_pipe_into_the_target() -> None:
    magic = "/seccomp-py-magic/pipe"

    def body() -> Any:
        fd = os.open(magic, os.O_RDONLY)
        data = os.read(fd, 100)
        cloexec = bool(__import__("fcntl").fcntl(fd, __import__("fcntl").F_GETFD) & 1)
        return (fd, data, cloexec)

    target, handoff = start_target(["openat"], body)
    assert handoff is not None
    r, w = os.pipe()
    os.write(w, b"from the monitor")
    os.close(w)
    try:
        with handoff.listener as listener:
            while True:
                n = listener.receive(timeout=10)
                if listener.read_string(n, n.args[1]) == magic.encode():
                    break
                listener.respond_continue(n)
            got = listener.add_fd(n, r, target_fd=77, cloexec=True, send=True)
            assert got == 77
            with pytest.raises(NotificationGoneError, match="already answered"):
                listener.respond_continue(n)
            assert target.result() == (77, b"from the monitor", True)
    finally:
        os.close(r)


def test_add_fd_without_send_then_value() -> None:
    def body() -> Any:
        fd = os.getppid()  # the monitor answers with the installed fd number
        return os.read(fd, 100)

    target, handoff = start_target(["getppid"], body)
    assert handoff is not None
    r, w = os.pipe()
    os.write(w, b"xyz")
    os.close(w)
    try:
        with handoff.listener as listener:
            n = listener.receive(timeout=10)
            fd = listener.add_fd(n, r)
            listener.respond_value(n, fd)
            assert target.result() == b"xyz"
    finally:
        os.close(r)


def test_two_targets_on_one_listener() -> None:
    def body() -> Any:
        pid = os.fork()  # the child inherits the filter and the listener
        if pid == 0:
            os._exit(0 if os.getppid() == 1000 else 1)
        mine = os.getppid()
        _, status = os.waitpid(pid, 0)
        return (mine, os.waitstatus_to_exitcode(status))

    target, handoff = start_target(["getppid"], body)
    assert handoff is not None
    pids = set()

    def handler(n: Notification) -> Response:
        pids.add(n.pid)
        return Response.value(1000 if n.pid != target.pid else 2000)

    with handoff.listener as listener:
        sup = serve_in_thread(listener, handler)
        try:
            assert target.result() == (2000, 0)
        finally:
            sup.stop(5)
        assert len(pids) == 2 and target.pid in pids


def test_target_killed_while_pending_supervisor_keeps_serving() -> None:
    killed: list[int] = []

    def body() -> Any:
        victim = os.fork()
        if victim == 0:
            _mkdir_errno()  # hangs until the monitor kills us
            os._exit(7)
        _, status = os.waitpid(victim, 0)
        return (os.WIFSIGNALED(status), _mkdir_errno("/nonexistent-seccomp-py/2"))

    def handler(n: Notification) -> Response:
        assert n.listener is not None
        path = n.listener.read_string(n, n.args[0])
        if path == MKDIR_PATH.encode():
            os.kill(n.pid, signal.SIGKILL)
            killed.append(n.pid)
            deadline = time.monotonic() + 5
            while n.listener.id_valid(n) and time.monotonic() < deadline:
                time.sleep(0.001)
            return Response.CONTINUE  # answering a gone target: ENOENT, handled
        return Response.errno(errno.EXDEV)

    target, handoff = start_target(["mkdir"], body)
    assert handoff is not None
    errors: list[BaseException] = []
    with handoff.listener as listener:
        count = serve(listener, handler, report=lambda e, n: errors.append(e), timeout=10)
    assert target.result() == (True, errno.EXDEV)
    assert len(killed) == 1 and count == 2 and errors == []


def test_supervisor_gone_target_gets_enosys() -> None:
    target, handoff = start_target(["mkdir"], lambda: (_mkdir_errno(), os.getpid() > 0))
    assert handoff is not None
    handoff.listener.close()
    assert target.result(timeout=10) == (errno.ENOSYS, True)


def test_monitor_process_dies_target_gets_enosys() -> None:
    # The monitor is a separate process that takes the listener and dies
    # without answering: the pending syscall fails with ENOSYS, no hang.
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    target, _ = start_target(["mkdir"], lambda: (_mkdir_errno(), _mkdir_errno()), sock=b)
    b.close()
    monitor = os.fork()
    if monitor == 0:
        try:
            handoff = receive_listener(a, timeout=10)
            handoff.listener.receive(timeout=10)  # the first mkdir is now pending
        finally:
            os._exit(0)
    a.close()
    _, status = os.waitpid(monitor, 0)
    assert os.WIFEXITED(status)
    assert target.result() == (errno.ENOSYS, errno.ENOSYS)


def test_hangup_when_all_targets_exit() -> None:
    target, handoff = start_target(["mkdir"], lambda: 0)
    assert handoff is not None
    assert target.result() == 0
    with handoff.listener as listener:
        with pytest.raises(HangupError):
            listener.receive(timeout=5)
        assert serve(listener, lambda n: Response.CONTINUE, timeout=5) == 0


def test_handler_exception_gets_the_safe_default() -> None:
    def body() -> Any:
        return (_mkdir_errno(), os.getppid())

    reported: list[tuple[BaseException, Any]] = []

    def handler(n: Notification) -> Response:
        if n.syscall_name == "mkdir":
            raise KeyError("boom")
        return "not a response"  # type: ignore[return-value]

    target, handoff = start_target(["mkdir", "getppid"], body)
    assert handoff is not None
    with handoff.listener as listener:
        serve(listener, handler, on_error=Response.errno(errno.EPERM),
              report=lambda e, n: reported.append((e, n)), timeout=10)
    # getppid() cannot fail in libc: the -EPERM answer shows up as -1.
    assert target.result() == (errno.EPERM, -1)
    assert [type(e) for e, _ in reported] == [KeyError, TypeError]
    assert [n.syscall_name for _, n in reported] == ["mkdir", "getppid"]


def test_asyncio_supervisor() -> None:
    def body() -> Any:
        return [_mkdir_errno() for _ in range(3)]

    async def handler(n: Notification) -> Response:
        await asyncio.sleep(0.001)
        return Response.errno(errno.EDQUOT)

    target, handoff = start_target(["mkdir"], body)
    assert handoff is not None
    with handoff.listener as listener:
        count = asyncio.run(asyncio.wait_for(serve_async(listener, handler), 10))
    assert count == 3
    assert target.result() == [errno.EDQUOT] * 3


def test_receive_does_not_hold_the_gil() -> None:
    target, handoff = start_target(["mkdir"], lambda: _mkdir_errno())
    assert handoff is not None
    ticks = 0
    got: list[Notification] = []
    with handoff.listener as listener:
        def waiter() -> None:
            time.sleep(0.05)
            got.append(listener.receive(timeout=10))

        # The target mkdir()s at once; hold the notification until we counted.
        t = threading.Thread(target=waiter)
        stop = time.monotonic() + 0.3
        t.start()
        while time.monotonic() < stop:
            ticks += 1
        t.join(10)
        assert got and ticks > 10000
        listener.respond_errno(got[0], errno.EBUSY)
    assert target.result() == errno.EBUSY


def test_blocked_receive_releases_gil_while_waiting() -> None:
    # No notification ever comes: a receive() blocked in poll must let us run.
    def slow() -> int:
        time.sleep(0.6)
        return 0

    target, handoff = start_target(["mkdir"], slow)
    assert handoff is not None
    with handoff.listener as listener:
        result: list[object] = []

        def waiter() -> None:
            try:
                listener.receive(timeout=0.5)
            except BaseException as exc:
                result.append(exc)

        t = threading.Thread(target=waiter)
        t.start()
        ticks = 0
        stop = time.monotonic() + 0.3
        while time.monotonic() < stop:
            ticks += 1
        t.join(10)
        assert ticks > 10000
        assert isinstance(result[0], TimeoutError)
    assert target.result() == 0


def test_sync_wakeup() -> None:
    target, handoff = start_target(["getppid"], lambda: [os.getppid() for _ in range(5)])
    assert handoff is not None
    with handoff.listener as listener:
        supported = listener.set_sync_wakeup()
        if os.uname().release >= "6.6" and os.uname().release[0] != "5":
            assert supported
        for _ in range(5):
            listener.respond_value(listener.receive(timeout=10), 9)
    assert target.result() == [9] * 5


# -- bad input ---------------------------------------------------------------------------


def test_respond_twice_and_unknown_id() -> None:
    target, handoff = start_target(["mkdir"], _mkdir_errno)
    assert handoff is not None
    with handoff.listener as listener:
        n = listener.receive(timeout=10)
        listener.respond_errno(n, errno.EACCES)
        with pytest.raises(NotificationGoneError, match="already answered") as info:
            listener.respond_errno(n, errno.EACCES)
        assert info.value.errno in (errno.ENOENT, errno.EINPROGRESS)
        with pytest.raises(NotificationGoneError, match="no pending notification") as info:
            listener.respond_continue(n.id + 12345)
        assert info.value.errno == errno.ENOENT
        assert not listener.id_valid(12345)
        with pytest.raises(InvalidArgumentError):
            listener.respond_continue(-1)
        with pytest.raises(InvalidArgumentError):
            Response.errno(0)
        with pytest.raises(InvalidArgumentError):
            Response.errno(5000)
        with pytest.raises(InvalidArgumentError):
            Response.value(2**63)
    assert target.result() == errno.EACCES
    with pytest.raises(SeccompError):
        listener.receive(timeout=0)


def test_not_a_listener() -> None:
    r, w = os.pipe()
    try:
        with pytest.raises(NotAListenerError) as info:
            Listener(r)
        assert isinstance(info.value, ValueError)
        os.fstat(r)  # ownership not taken on failure: still open
    finally:
        os.close(r)
        os.close(w)
    with pytest.raises(SeccompError):
        Listener(r)  # closed fd
    with pytest.raises(TypeError):
        Listener("3")  # type: ignore[arg-type]


def test_peer_with_wrong_uid_is_refused() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        os.chmod(tmp, 0o755)
        path = os.path.join(tmp, "sock")
        with ListenerServer(path, mode=0o666) as server:
            def body() -> Any:
                return _mkdir_errno()

            def other_user_target() -> tuple[Target, None]:
                rfd, wfd = os.pipe()
                pid = os.fork()
                if pid == 0:
                    code = 0
                    try:
                        os.close(rfd)
                        close_other_fds(wfd)
                        os.setgid(65534)
                        os.setuid(65534)
                        f = Filter(Action.ALLOW)
                        f.add_rule(Action.NOTIFY, "mkdir")
                        f.no_new_privileges = True
                        f.set_notifier(UnixNotifier(path, name="nobody"), timeout=5)
                        # Refused before the send: EPIPE, but the filter is in force.
                        with contextlib.suppress(HandoffError):
                            f.load()
                        os.write(wfd, pickle.dumps((f.loaded, _mkdir_errno())))
                    except BaseException as exc:
                        os.write(wfd, pickle.dumps(repr(exc)))
                        code = 3
                    finally:
                        os._exit(code)
                os.close(wfd)
                return Target(pid, rfd), None

            if os.getuid() != 0:
                pytest.skip("needs root to run a target as another uid")
            target, _ = other_user_target()
            before = fd_count()
            with pytest.raises(PeerRefusedError) as info:
                server.accept(timeout=10)
            assert info.value.errno == errno.EACCES and "uid 65534" in str(info.value)
            assert fd_count() == before
            # The target's listener went nowhere: its mkdir now fails with ENOSYS.
            assert target.result() == (True, errno.ENOSYS)

            server.allowed_uids = {65534}
            target, _ = other_user_target()
            handoff = server.accept(timeout=10)
            assert handoff.peer_uid == 65534 and handoff.name == "nobody"
            with handoff.listener as listener:
                listener.respond_errno(listener.receive(timeout=10), errno.EMLINK)
            assert target.result() == (True, errno.EMLINK)


def _send_raw(sock: socket.socket, payload: bytes, fds: list[int]) -> None:
    sock.sendmsg([payload], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                              struct.pack(f"{len(fds)}i", *fds))] if fds else [])


def test_oversized_and_malformed_handoffs_are_refused_without_leaks() -> None:
    with socket.socket(socket.AF_UNIX) as unused, pytest.raises(InvalidArgumentError):
        UnixNotifier(sock=unused, name="x" * 300)
    with pytest.raises(InvalidArgumentError):
        encode_payload(1, "n", b"m" * 5000)
    target, handoff = start_target(["mkdir"], _mkdir_errno)
    assert handoff is not None
    listener = handoff.listener
    r, w = os.pipe()
    before = fd_count()
    cases = [
        (b"\0" * (MAX_PAYLOAD + 10), [listener.fileno()], "larger than"),
        (encode_payload(1, "a"), [listener.fileno(), r], "exactly one fd"),
        (encode_payload(1, "a"), [], "exactly one fd"),
        (encode_payload(1, "a"), [r], "not a seccomp listener"),
        (b"SPYN\x09" + b"\0" * 20, [listener.fileno()], "version 9"),
        (b"garbage-garbage-garbage", [listener.fileno()], "not a seccomp_py handoff"),
    ]
    try:
        for payload, fds, message in cases:
            a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            with a, b:
                _send_raw(a, payload, fds)
                with pytest.raises(HandoffError, match=message):
                    receive_listener(b, timeout=5)
            assert fd_count() == before, message
        # Too many fds for the control buffer: MSG_CTRUNC, nothing leaks.
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        with a, b:
            _send_raw(a, encode_payload(1, "a"), [r] * 40)
            with pytest.raises(HandoffError, match="MSG_CTRUNC"):
                receive_listener(b, timeout=5)
        assert fd_count() == before
        # A peer that sends nothing: a timeout, not a hang.
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        with a, b, pytest.raises(TimeoutError):
            receive_listener(b, timeout=0.2)
    finally:
        os.close(r)
        os.close(w)
        listener.close()
    assert target.result() == errno.ENOSYS


def test_no_fd_growth_across_1000_round_trips() -> None:
    rounds = 1000

    def body() -> Any:
        first = len(os.listdir("/proc/self/fd"))
        for _ in range(rounds):
            os.getppid()
        return (first, len(os.listdir("/proc/self/fd")))

    target, handoff = start_target(["getppid"], body)
    assert handoff is not None
    with handoff.listener as listener:
        n = listener.receive(timeout=10)
        before = fd_count()
        listener.respond_value(n, 1)
        count = 1
        while count < rounds:
            n = listener.receive(timeout=10)
            listener.read_memory(n, n.ip, 1)  # opens and closes /proc/PID/mem
            listener.respond_continue(n)
            count += 1
        assert fd_count() == before
    first, last = target.result()
    assert first == last


def test_handoff_needs_only_sendmsg_and_close() -> None:
    # Default KILL_PROCESS: after load() the child may only getppid (notified),
    # write its result and exit.  If the handoff made any syscall but the
    # exempt sendmsg(sock) and close, the kernel would kill it with SIGSYS.
    def body() -> Any:
        return None

    rfd, wfd = os.pipe()
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            a.close()
            os.close(rfd)
            close_other_fds(wfd, b.fileno())
            f = Filter(Action.KILL_PROCESS)
            f.add_rule(Action.NOTIFY, "getppid")
            for name in ("write", "exit_group", "exit"):
                f.add_rule(Action.ALLOW, name)
            f.set_notifier(UnixNotifier(sock=b), timeout=5)
            f.load()
            os.write(wfd, struct.pack("i", os.getppid()))
        except BaseException:
            code = 3
        finally:
            os._exit(code)
    b.close()
    os.close(wfd)
    target = Target(pid, rfd)
    try:
        handoff = receive_listener(a, timeout=10)
    finally:
        a.close()
    with handoff.listener as listener:
        listener.respond_value(listener.receive(timeout=10), 31337)
    status = target.wait(10)
    data = os.read(rfd, 4)
    os.close(rfd)
    target.rfd = -1
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
    assert struct.unpack("i", data)[0] == 31337


def test_handoff_to_missing_server_fails_before_loading() -> None:
    def body() -> Any:
        f = Filter(Action.ALLOW)
        f.add_rule(Action.NOTIFY, "mkdir")
        f.set_notifier(UnixNotifier("/nonexistent-seccomp-py/sock"), timeout=1)
        try:
            f.load()
        except HandoffError as exc:
            return (exc.errno, f.loaded, _mkdir_errno())
        return None

    from helpers.child import in_child

    out = in_child(body)
    assert out.value == (errno.ENOENT, False, errno.ENOENT)


def test_server_accepts_many_sandboxes() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "sock")
        with ListenerServer(path) as server:
            names: list[str] = []

            def handler(n: Notification) -> Response:
                return Response.errno(errno.ENOSPC)

            with Supervisor(handler, server=server,
                            on_handoff=lambda h: names.append(h.name)) as sup:
                sup.start()
                targets = [start_target(["mkdir"], _mkdir_errno, name=f"t{i}",
                                        notifier=UnixNotifier(path, name=f"t{i}"))[0]
                           for i in range(3)]
                results = [t.result() for t in targets]
            assert results == [errno.ENOSPC] * 3
            assert sorted(names) == ["t0", "t1", "t2"]


def test_serve_static_answers_in_c_and_hands_the_rest_to_python() -> None:
    def body() -> Any:
        return ([os.getppid() for _ in range(50)], _mkdir_errno())

    seen: list[str] = []

    def handler(n: Notification) -> Response:
        seen.append(n.syscall_name)
        return Response.errno(errno.ENAMETOOLONG)

    target, handoff = start_target(["getppid", "mkdir"], body)
    assert handoff is not None
    with handoff.listener as listener:
        count = serve(listener, handler, static={"getppid": Response.value(77)}, timeout=10)
    assert target.result() == ([77] * 50, errno.ENAMETOOLONG)
    assert seen == ["mkdir"] and count == 51
    with pytest.raises(InvalidArgumentError):
        serve(listener, handler, static={"getppid": Response.HANDLED})


class RecordingNotifier:
    """A notifier of the seed's protocol without the C fast path: handle(fd)
    sends the fd from Python (socket.send_fds), then closes it."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.calls: list[str] = []

    def exempt(self) -> list[Any]:
        self.calls.append("exempt")
        return ["sendmsg", "close"]

    def prepare(self, timeout: float | None) -> None:
        self.calls.append(f"prepare {timeout}")

    def handle(self, fd: int) -> None:
        self.calls.append("handle")
        socket.send_fds(self.sock, [encode_payload(os.getpid(), "generic")], [fd])
        os.close(fd)
        self.sock.close()


def test_generic_notifier_protocol() -> None:
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            a.close()
            os.close(rfd)
            close_other_fds(wfd, b.fileno())
            n = RecordingNotifier(b)
            f = Filter(Action.ALLOW)
            f.add_rule(Action.NOTIFY, "mkdir")
            f.set_notifier(n, timeout=3.5)
            f.load()
            os.write(wfd, pickle.dumps((n.calls, f.loaded, _mkdir_errno())))
        except BaseException as exc:
            os.write(wfd, pickle.dumps(repr(exc)))
            code = 3
        finally:
            os._exit(code)
    b.close()
    os.close(wfd)
    target = Target(pid, rfd)
    with a:
        handoff = receive_listener(a, timeout=10)
    assert handoff.name == "generic"
    with handoff.listener as listener:
        listener.respond_errno(listener.receive(timeout=10), errno.ELOOP)
    assert target.result() == (["prepare 3.5", "exempt", "handle"], True, errno.ELOOP)


def test_set_notifier_rejects_objects_without_the_protocol() -> None:
    f = Filter(Action.ALLOW)
    with pytest.raises(TypeError, match="exempt"):
        f.set_notifier(object())
    f.set_notifier(None)


def test_inexact_exempt_rule_is_a_clear_error_and_nothing_is_loaded() -> None:
    # The handoff's exemptions live in a prologue that allows exact calls
    # only (== and masked_eq): a range cannot be exempted, and load() refuses
    # before installing anything.
    class Loose(RecordingNotifier):
        def exempt(self) -> list[Any]:
            return [("sendmsg", Arg(0) > 2), "close"]

    def body() -> Any:
        _a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        f = Filter(Action.ALLOW)
        f.add_rule(Action.NOTIFY, "mkdir")
        f.set_notifier(Loose(b))
        try:
            f.load()
        except HandoffError as exc:
            return ("exactly" in str(exc), f.loaded, _mkdir_errno())
        return "loaded"

    from helpers.child import in_child

    out = in_child(body)
    assert out.value == (True, False, errno.ENOENT), out


def test_bpf_run_matches_the_rules() -> None:
    from seccomp_py import Arch, Arg
    from seccomp_py.notify import bpf_run
    from seccomp_py.syscall import resolve_name

    f = Filter(Action.KILL_PROCESS)
    f.add_rule(Action.ALLOW, "read")
    f.add_rule(Action.errno(errno.EPERM), "write", Arg(0) > 2)
    f.add_rule(Action.ALLOW, "write", Arg(0) <= 2)
    f.add_rule(Action.NOTIFY, "openat", Arg(2).masked_eq(3, 1))
    bpf = f.export_bpf()
    native = int(Arch.native())
    nr = resolve_name
    assert bpf_run(bpf, nr("read"), native) == 0x7FFF0000
    assert bpf_run(bpf, nr("write"), native, [1]) == 0x7FFF0000
    assert bpf_run(bpf, nr("write"), native, [5]) == 0x00050000 | errno.EPERM
    assert bpf_run(bpf, nr("write"), native, [2**40]) == 0x00050000 | errno.EPERM
    assert bpf_run(bpf, nr("openat"), native, [0, 0, 1]) == 0x7FC00000
    assert bpf_run(bpf, nr("openat"), native, [0, 0, 2]) == 0x80000000
    assert bpf_run(bpf, nr("getpid"), native) == 0x80000000
    assert bpf_run(bpf, nr("read"), int(Arch.AARCH64)) == 0  # bad arch: KILL_THREAD


def test_libseccomp_notify_fd_is_process_wide() -> None:
    # A plain load(): libseccomp creates the listener and keeps it; a second
    # filter with NOTIFY rules reuses it (seccomp_notify_fd(3)).
    def body() -> Any:
        f = Filter(Action.ALLOW)
        f.add_rule(Action.NOTIFY, "mkdir")
        f.load()
        fd = f.notify_fd()
        g = Filter(Action.ALLOW)
        g.add_rule(Action.NOTIFY, "rmdir")
        g.load()
        listener = Listener(os.dup(fd))
        is_listener = listener.fileno() >= 0
        listener.close()
        return (fd >= 0, g.notify_fd() == fd, is_listener)

    from helpers.child import in_child

    out = in_child(body)
    assert out.value == (True, True, True), out

    def none_yet() -> Any:
        try:
            Filter(Action.ALLOW).notify_fd()
        except SeccompError as exc:
            return exc.errno
        return None

    assert in_child(none_yet).value == errno.ENOENT


def test_supervisor_add_from_another_thread_and_stop() -> None:
    with Supervisor(lambda n: Response.errno(errno.ETXTBSY)) as sup:
        sup.start()
        target, handoff = start_target(["mkdir"], _mkdir_errno)
        assert handoff is not None
        sup.add(handoff.listener)
        assert target.result() == errno.ETXTBSY
        deadline = time.monotonic() + 5
        while sup.listeners and time.monotonic() < deadline:  # dropped at hang-up
            time.sleep(0.01)
        assert sup.listeners == [] and sup.handled == 1
        sup.stop(5)
        assert sup._thread is not None and not sup._thread.is_alive()


def test_listener_is_pollable_and_closes() -> None:
    target, handoff = start_target(["mkdir"], _mkdir_errno)
    assert handoff is not None
    listener = handoff.listener
    poller = select.poll()
    poller.register(listener.fileno(), select.POLLIN)
    assert poller.poll(10000)
    assert listener.poll(0)
    listener.respond_errno(listener.receive(timeout=0), errno.EISDIR)
    assert target.result() == errno.EISDIR
    listener.close()
    listener.close()
    assert listener.closed
    with pytest.raises(SeccompError):
        listener.fileno()
    with pytest.raises(SeccompError):
        listener.respond_continue(1)


@given(st.binary(max_size=MAX_PAYLOAD + 20))
@settings(max_examples=300, deadline=None)
def test_decode_payload_never_crashes(data: bytes) -> None:
    from seccomp_py.notify import decode_payload

    try:
        _pid, name, metadata = decode_payload(data)
    except HandoffError as exc:
        assert exc.errno in (errno.EBADMSG, errno.EPROTO)
    else:
        assert isinstance(name, str) and len(metadata) <= 4096


@given(st.integers(0, 2**32 - 1), st.text(max_size=60), st.binary(max_size=4096))
@settings(max_examples=100, deadline=None)
def test_payload_round_trip(pid: int, name: str, metadata: bytes) -> None:
    from seccomp_py.notify import decode_payload

    if len(name.encode()) > 255:
        return
    assert decode_payload(encode_payload(pid, name, metadata)) == (pid, name, metadata)


def test_server_refuses_a_handoff_the_caller_rejects() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "sock")
        with ListenerServer(path) as server, \
                Supervisor(lambda n: Response.CONTINUE, server=server,
                           on_handoff=lambda h: h.name != "evil") as sup:
            sup.start()
            evil, _ = start_target(["mkdir"], _mkdir_errno,
                                   notifier=UnixNotifier(path, name="evil"))
            good, _ = start_target(["mkdir"], _mkdir_errno,
                                   notifier=UnixNotifier(path, name="good"))
            # Refused: its listener was closed, so its mkdir fails with ENOSYS.
            assert evil.result() == errno.ENOSYS
            assert good.result() == errno.ENOENT  # CONTINUE: the real mkdir ran


def test_server_is_not_stalled_by_a_silent_peer() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "sock")
        reported: list[BaseException] = []
        with ListenerServer(path, timeout=60) as server, \
                Supervisor(lambda n: Response.errno(errno.EROFS), server=server,
                           report=lambda e, n: reported.append(e)) as sup:
            sup.start()
            silent = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            silent.connect(path)  # connects, never sends: pending for 60 s
            try:
                target, _ = start_target(["mkdir"], _mkdir_errno,
                                         notifier=UnixNotifier(path, name="t"))
                # Served while the silent connection is still pending.
                assert target.result(timeout=20) == errno.EROFS
                assert reported == []
                # A silent connection is dropped at the server's deadline.
                server.timeout = 0.1
                late = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
                late.connect(path)
                deadline = time.monotonic() + 10
                while not reported and time.monotonic() < deadline:
                    time.sleep(0.01)
                late.close()
                assert [type(e) for e in reported] == [TimeoutError]
            finally:
                silent.close()
