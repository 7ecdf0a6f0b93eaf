"""Fault injection for user notification: real processes, killed or cut off at
each step, with a time bound, an fd and child-process count before and after,
and a check that the target's syscall never ran when it should not have.

* the target SIGKILLed at each step of a round trip (before the supervisor
  receives, after receive before respond, right after respond); the
  supervisor keeps serving the other targets on the same listener;
* the supervisor process SIGKILLed (in its handler, or idle in its loop)
  while a target waits, for ``serve`` and ``Supervisor``: the target gets
  ENOSYS, never success;
* the socket closed mid-handoff: ``receive_listener``, ``ListenerServer``
  and a ``Supervisor`` with a server when the peer closes without sending,
  and the monitor closing the connection (or its server) while the sandbox
  is inside ``load()``: load() raises HandoffError with ``installed`` True,
  the filter is in force, the notified call fails with ENOSYS; a monitor
  that never accepts makes load() give up within prepare's timeout with
  nothing loaded, and one whose backlog is full for a moment is waited for
  (connect's EAGAIN is not a failure).

See docs/failclosed.md (fault injection).
"""

from __future__ import annotations

import errno
import os
import signal
import socket
import time
from typing import Any

import pytest
from helpers.faults import (
    fork_target,
    no_leaks,
    notify_setup,
    read_json,
    reap,
    write_json,
)
from helpers.syscalls import errno_of

from seccomp_py import Action, Filter
from seccomp_py.notify import (
    HandoffError,
    ListenerServer,
    Notification,
    NotificationGoneError,
    Response,
    Supervisor,
    UnixNotifier,
    receive_listener,
    serve,
)

NOTIFIED = ("mkdir", "mkdirat")


def _pipes(n: int) -> list[tuple[int, int]]:
    return [os.pipe() for _ in range(n)]


def _close(*fds: int) -> None:
    for fd in fds:
        os.close(fd)


# -- the target killed at each step of a round trip -----------------------------------------------


@pytest.mark.timeout(30)
@pytest.mark.parametrize("step", ["before_receive", "after_receive", "after_respond"])
def test_target_killed_at_each_step_of_a_round_trip(step: str, tmp_path: Any) -> None:
    vdir, bdir = str(tmp_path / "victim"), str(tmp_path / "bystander")
    with no_leaks():
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        (v_r, v_w), (b_r, b_w), (out_r, out_w) = _pipes(3)

        def body() -> None:
            victim = os.fork()
            if victim == 0:
                os.read(v_r, 1)
                # Notified; the monitor kills us around it.  If we return,
                # exit with the errno the monitor answered.
                os._exit(errno_of(lambda: os.mkdir(vdir)) & 0xFF)
            write_json(out_w, {"victim": victim})
            os.read(b_r, 1)
            e = errno_of(lambda: os.mkdir(bdir))
            _, status = os.waitpid(victim, 0)
            write_json(out_w, {"bystander": e, "victim": status})

        pid = fork_target(body, notify_setup(b, NOTIFIED), close=(a, v_w, b_w, out_r))
        b.close()
        _close(v_r, b_r, out_w)
        try:
            handoff = receive_listener(a, timeout=10)
        finally:
            a.close()
        victim = read_json(out_r)["victim"]
        with handoff.listener as lst:
            os.write(v_w, b"v")
            if step == "before_receive":
                assert lst.poll(5), "the victim's call was not notified"
                os.kill(victim, signal.SIGKILL)
                deadline = time.monotonic() + 5
                while lst.poll(0) and time.monotonic() < deadline:
                    time.sleep(0.005)
                with pytest.raises(TimeoutError):
                    lst.receive(timeout=0.1)  # the notification went with the target
            elif step == "after_receive":
                n = lst.receive(timeout=5)
                assert n.pid == victim
                os.kill(victim, signal.SIGKILL)
                deadline = time.monotonic() + 5
                while lst.id_valid(n) and time.monotonic() < deadline:
                    time.sleep(0.005)
                with pytest.raises(NotificationGoneError) as info:
                    lst.respond_errno(n, errno.EXDEV)
                assert info.value.errno == errno.ENOENT
            else:
                n = lst.receive(timeout=5)
                assert n.pid == victim
                lst.respond_errno(n, errno.EXDEV)
                os.kill(victim, signal.SIGKILL)
            # The listener keeps serving the other task.
            os.write(b_w, b"b")
            n2 = lst.receive(timeout=5)
            assert n2.pid == pid
            lst.respond_errno(n2, errno.EXDEV)
            result = read_json(out_r)
        _close(v_w, b_w, out_r)
        assert reap(pid) == 0
    assert result["bystander"] == errno.EXDEV
    status = result["victim"]
    if step == "after_respond":
        # Killed before it returned, or returned the answer EXDEV: both fine.
        assert (os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL) or \
            (os.WIFEXITED(status) and os.WEXITSTATUS(status) == errno.EXDEV), status
    else:
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, status
    assert not os.path.exists(vdir), "the victim's mkdir ran"
    assert not os.path.exists(bdir), "the bystander's mkdir ran"


@pytest.mark.timeout(30)
def test_supervisor_keeps_serving_after_a_target_is_killed_in_the_handler(tmp_path: Any) -> None:
    # Two sandboxes, one Supervisor thread: the handler kills the first
    # sandbox while its notification is pending; the answer fails (ENOENT,
    # not reported as an error) and the second sandbox is served.
    errors: list[BaseException] = []
    with no_leaks():
        pids, outs, gos = [], [], []
        sup = Supervisor(lambda n: None, report=lambda e, n: errors.append(e))
        for i in range(2):
            a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            (go_r, go_w), (out_r, out_w) = _pipes(2)
            path = str(tmp_path / f"d{i}")

            def body(go_r: int = go_r, out_w: int = out_w, path: str = path) -> None:
                os.read(go_r, 1)
                write_json(out_w, errno_of(lambda: os.mkdir(path)))

            pids.append(fork_target(body, notify_setup(b, NOTIFIED), close=(a, go_w, out_r)))
            b.close()
            _close(go_r, out_w)
            try:
                sup.add_now(receive_listener(a, timeout=10).listener)
            finally:
                a.close()
            outs.append(out_r)
            gos.append(go_w)
        killed: list[int] = []

        def handler(n: Notification) -> Response:
            if n.pid == pids[0]:
                os.kill(n.pid, signal.SIGKILL)
                killed.append(n.pid)
                assert n.listener is not None
                deadline = time.monotonic() + 5
                while n.listener.id_valid(n) and time.monotonic() < deadline:
                    time.sleep(0.002)
            return Response.errno(errno.EXDEV)

        sup.handler = handler
        sup.start()
        try:
            os.write(gos[0], b"g")
            assert reap(pids[0]) == -signal.SIGKILL
            os.write(gos[1], b"g")
            assert read_json(outs[1]) == errno.EXDEV
            assert reap(pids[1]) == 0
        finally:
            sup.close()
            _close(*outs, *gos)
    assert killed == [pids[0]]
    assert errors == []
    assert not os.path.exists(tmp_path / "d0") and not os.path.exists(tmp_path / "d1")


# -- the supervisor process killed while a target waits ---------------------------------------


@pytest.mark.timeout(30)
@pytest.mark.parametrize("loop", ["serve", "Supervisor"])
@pytest.mark.parametrize("when", ["in_handler", "idle"])
def test_supervisor_killed_target_gets_enosys(loop: str, when: str, tmp_path: Any) -> None:
    d1, d2 = str(tmp_path / "one"), str(tmp_path / "two")
    with no_leaks():
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        (go_r, go_w), (out_r, out_w), (ev_r, ev_w) = _pipes(3)

        def body() -> None:
            os.read(go_r, 1)
            write_json(out_w, errno_of(lambda: os.mkdir(d1)))
            os.read(go_r, 1)
            write_json(out_w, errno_of(lambda: os.mkdir(d2)))

        target = fork_target(body, notify_setup(b, NOTIFIED), close=(a, go_w, out_r, ev_r, ev_w))
        b.close()

        def handler(n: Notification) -> Response:
            write_json(ev_w, "handler")
            if when == "in_handler":
                time.sleep(30)  # killed here
            return Response.errno(errno.EXDEV)

        def monitor() -> None:
            listener = receive_listener(a, timeout=10).listener
            write_json(ev_w, "serving")
            if loop == "serve":
                serve(listener, handler)
            else:
                sup = Supervisor(handler)
                sup.add_now(listener)
                sup.run()

        mon = fork_target(monitor, lambda: None, close=(go_w, go_r, out_r, out_w, ev_r))
        a.close()
        _close(go_r, out_w, ev_w)
        try:
            assert read_json(ev_r) == "serving"
            os.write(go_w, b"1")
            assert read_json(ev_r) == "handler"
            if when == "idle":
                assert read_json(out_r) == errno.EXDEV  # answered; the loop waits again
                time.sleep(0.05)
            os.kill(mon, signal.SIGKILL)
            assert reap(mon) == -signal.SIGKILL
            if when == "in_handler":
                assert read_json(out_r) == errno.ENOSYS
            os.write(go_w, b"2")
            assert read_json(out_r) == errno.ENOSYS
            assert reap(target) == 0
        finally:
            for pid in (mon, target):
                try:
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
                except (ProcessLookupError, ChildProcessError):
                    pass
            _close(go_w, out_r, ev_r)
    assert not os.path.exists(d1) and not os.path.exists(d2)


# -- the socket closed mid-handoff --------------------------------------------------------------


@pytest.mark.timeout(10)
@pytest.mark.parametrize("kind", [socket.SOCK_SEQPACKET, socket.SOCK_STREAM],
                         ids=["seqpacket", "stream"])
def test_receive_listener_when_the_peer_closes_before_sending(kind: int) -> None:
    with no_leaks():
        a, b = socket.socketpair(socket.AF_UNIX, kind)
        b.close()
        start = time.monotonic()
        with pytest.raises(HandoffError) as info:
            receive_listener(a, timeout=5)
        assert time.monotonic() - start < 2, "waited for the timeout instead of seeing EOF"
        assert info.value.errno == errno.ECONNRESET
        a.close()


def _sandbox_via_path(path: str, mkdir_path: str, out_w: int, close: tuple[Any, ...]) -> int:
    def body() -> None:
        write_json(out_w, errno_of(lambda: os.mkdir(mkdir_path)))

    def setup() -> None:
        f = Filter(Action.ALLOW)
        f.add_rule(Action.NOTIFY, "mkdir")
        f.add_rule(Action.NOTIFY, "mkdirat")
        f.set_notifier(UnixNotifier(path), timeout=5.0)
        f.load()
    return fork_target(body, setup, close=close)


@pytest.mark.timeout(20)
def test_listener_server_survives_a_peer_that_closes_after_connecting(tmp_path: Any) -> None:
    path = str(tmp_path / "srv.sock")
    with no_leaks(), ListenerServer(path, timeout=5) as server:
        for _ in range(3):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            s.connect(path)
            s.close()
            with pytest.raises(HandoffError) as info:
                server.accept(timeout=5)
            assert info.value.errno == errno.ECONNRESET
        # A real sandbox is still served.
        out_r, out_w = os.pipe()
        pid = _sandbox_via_path(path, str(tmp_path / "d"), out_w, (server._sock, out_r))
        os.close(out_w)
        with server.accept(timeout=10).listener as lst:
            n = lst.receive(timeout=5)
            lst.respond_errno(n, errno.EXDEV)
            assert read_json(out_r) == errno.EXDEV
        os.close(out_r)
        assert reap(pid) == 0
    assert not os.path.exists(tmp_path / "d")


@pytest.mark.timeout(20)
def test_supervisor_with_server_survives_peers_that_close_after_connecting(tmp_path: Any) -> None:
    path = str(tmp_path / "srv.sock")
    reported: list[BaseException] = []
    with no_leaks():
        server = ListenerServer(path, timeout=5)
        sup = Supervisor(lambda n: Response.errno(errno.EXDEV), server=server,
                         report=lambda e, n: reported.append(e))
        sup.start()
        try:
            for _ in range(3):
                s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
                s.connect(path)
                s.close()
            deadline = time.monotonic() + 5
            while len(reported) < 3 and time.monotonic() < deadline:
                time.sleep(0.01)
            out_r, out_w = os.pipe()
            pid = _sandbox_via_path(path, str(tmp_path / "d"), out_w, (out_r,))
            os.close(out_w)
            assert read_json(out_r) == errno.EXDEV
            os.close(out_r)
            assert reap(pid) == 0
        finally:
            sup.close()
            server.close()
    assert len(reported) == 3, reported
    assert all(isinstance(e, HandoffError) and e.errno == errno.ECONNRESET for e in reported)
    assert not os.path.exists(tmp_path / "d")


class _PausingNotifier(UnixNotifier):
    """A UnixNotifier that, once connected in prepare() (inside load()),
    tells the test and waits for it: the test closes the monitor side then."""

    def __init__(self, path: str, tell: int, wait: int) -> None:
        super().__init__(path)
        self._tell, self._wait = tell, wait

    def prepare(self, timeout: float | None) -> None:
        super().prepare(timeout)
        os.write(self._tell, b"c")
        os.read(self._wait, 1)


@pytest.mark.timeout(20)
@pytest.mark.parametrize("closed", ["connection", "server"])
def test_monitor_closes_while_the_sandbox_is_in_load(closed: str, tmp_path: Any) -> None:
    # The sandbox connected (prepare() done) and is about to install the
    # filter and send the listener when the monitor goes away.  load() must
    # say so (HandoffError, ``installed`` True, within prepare's timeout),
    # and the process must not run unconfined: the filter is in force and
    # its NOTIFY rules fail with ENOSYS (nobody can answer).
    path = str(tmp_path / "srv.sock")
    mkdir_path = str(tmp_path / "d")
    with no_leaks():
        server = ListenerServer(path, timeout=5)
        (t_r, t_w), (w_r, w_w), (out_r, out_w) = _pipes(3)

        def sandbox() -> None:
            f = Filter(Action.ALLOW)
            f.add_rule(Action.NOTIFY, "mkdir")
            f.add_rule(Action.NOTIFY, "mkdirat")
            f.add_rule(Action.errno(errno.EPERM), "rmdir")
            f.set_notifier(_PausingNotifier(path, t_w, w_r), timeout=5.0)
            start = time.monotonic()
            report: dict[str, Any] = {}
            try:
                f.load()
                report["raised"] = None
            except BaseException as exc:
                report["raised"] = type(exc).__name__
                report["errno"] = getattr(exc, "errno", None)
                report["func"] = getattr(exc, "func", None)
                report["installed"] = getattr(exc, "installed", None)
            report["elapsed"] = time.monotonic() - start
            report["loaded"] = f.loaded
            report["mkdir"] = errno_of(lambda: os.mkdir(mkdir_path))
            report["rmdir"] = errno_of(lambda: os.rmdir("/nonexistent-seccomp-py"))
            write_json(out_w, report)

        pid = fork_target(sandbox, lambda: None, close=(server._sock, t_r, w_w, out_r))
        _close(t_w, w_r, out_w)
        try:
            assert os.read(t_r, 1) == b"c"
            if closed == "connection":
                conn, _ = server._sock.accept()  # type: ignore[union-attr]
                conn.close()
            else:
                server.close()  # the connection was never accepted
            os.write(w_w, b"g")
            report = read_json(out_r)
            assert reap(pid) == 0
        finally:
            server.close()
            _close(t_r, w_w, out_r)
    assert report["raised"] == "HandoffError", report
    assert report["errno"] in (errno.EPIPE, errno.ECONNRESET, errno.ECONNREFUSED), report
    assert report["func"] == "sendmsg"
    assert report["installed"] is True, "HandoffError must say the filter is in force"
    assert report["loaded"] is True
    assert report["elapsed"] < 5.0
    assert report["mkdir"] == errno.ENOSYS, "a NOTIFY rule without a monitor must fail ENOSYS"
    assert report["rmdir"] == errno.EPERM, "the rest of the filter must be in force"
    assert not os.path.exists(mkdir_path)


@pytest.mark.timeout(20)
def test_monitor_that_never_accepts_load_gives_up_within_prepares_timeout(tmp_path: Any) -> None:
    # The monitor's backlog is full and it never accepts: connect() blocks
    # in prepare(); load() gives up after the notifier's timeout with
    # TimeoutError, and nothing is loaded (installed False: the caller knows
    # the process is not confined).
    path = str(tmp_path / "srv.sock")

    def sandbox() -> dict[str, Any]:
        f = Filter(Action.ALLOW)
        f.add_rule(Action.NOTIFY, "mkdir")
        f.set_notifier(UnixNotifier(path), timeout=0.5)
        start = time.monotonic()
        try:
            f.load()
        except TimeoutError as exc:
            return {"raised": "TimeoutError", "errno": exc.errno, "loaded": f.loaded,
                    "elapsed": round(time.monotonic() - start, 1)}
        return {"raised": None}

    from helpers.child import in_child

    with no_leaks(), ListenerServer(path, backlog=0) as server:
        fill = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        fill.connect(path)  # the one slot a backlog of 0 allows
        try:
            out = in_child(sandbox, timeout=10)
        finally:
            fill.close()
        assert server.fileno() >= 0
    assert out.value == {"raised": "TimeoutError", "errno": errno.ETIMEDOUT, "loaded": False,
                         "elapsed": 0.5}, out


@pytest.mark.timeout(20)
def test_monitor_with_a_full_backlog_is_waited_for(tmp_path: Any) -> None:
    # UnixNotifier.prepare() waits up to its timeout for the monitor to accept: EAGAIN
    # from a non-blocking connect to a Unix socket with a full backlog is not a failure.
    path = str(tmp_path / "srv.sock")
    with no_leaks(), ListenerServer(path, backlog=0, timeout=5) as server:
        fill = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        fill.connect(path)
        out_r, out_w = os.pipe()
        pid = _sandbox_via_path(path, str(tmp_path / "d"), out_w, (server._sock, out_r, fill))
        os.close(out_w)
        try:
            time.sleep(0.3)  # the sandbox is waiting in connect()
            conn, _ = server._sock.accept()  # type: ignore[union-attr]
            conn.close()
            fill.close()
            with server.accept(timeout=5).listener as lst:
                n = lst.receive(timeout=5)
                lst.respond_errno(n, errno.EXDEV)
                assert read_json(out_r) == errno.EXDEV
            assert reap(pid) == 0
        finally:
            fill.close()
            os.close(out_r)
    assert not os.path.exists(tmp_path / "d")


@pytest.mark.timeout(20)
def test_failure_before_install_leaves_the_sandbox_unconfined_and_says_installed_false(
        tmp_path: Any) -> None:
    # The other half of load()'s contract: when the handoff fails before
    # the filter is installed (nobody listening), HandoffError says
    # ``installed`` False and the filter is not loaded.
    path = str(tmp_path / "nobody.sock")

    def sandbox() -> dict[str, Any]:
        f = Filter(Action.ALLOW)
        f.add_rule(Action.NOTIFY, "mkdir")
        f.set_notifier(UnixNotifier(path), timeout=2.0)
        try:
            f.load()
        except HandoffError as exc:
            return {"installed": exc.installed, "loaded": f.loaded, "errno": exc.errno}
        return {}

    from helpers.child import in_child

    with no_leaks():
        out = in_child(sandbox, timeout=10)
    assert out.value == {"installed": False, "loaded": False, "errno": errno.ENOENT}, out


# -- EINTR storms in the supervisor loops ---------------------------------------------------------


@pytest.mark.timeout(30)
@pytest.mark.parametrize("loop", ["serve", "Supervisor"])
def test_eintr_storm_during_the_supervisor_loops(loop: str) -> None:
    # SIGALRM every millisecond while serve() / Supervisor.run() wait and
    # answer: every answer is right, no call is lost or answered twice.
    rounds = 100
    from helpers.faults import eintr_storm

    with no_leaks():
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        out_r, out_w = os.pipe()

        def body() -> None:
            wrong = 0
            for i in range(rounds):
                time.sleep(0.001)
                if os.getppid() != 1000 + i:
                    wrong += 1
            write_json(out_w, wrong)

        pid = fork_target(body, notify_setup(b, ("getppid",)), close=(a, out_r))
        b.close()
        os.close(out_w)
        try:
            listener = receive_listener(a, timeout=10).listener
        finally:
            a.close()
        answered = [0]

        def handler(n: Notification) -> Response:
            answered[0] += 1
            return Response.value(999 + answered[0])

        with eintr_storm() as hits:
            if loop == "serve":
                with listener:
                    count = serve(listener, handler, timeout=10)
            else:
                sup = Supervisor(handler)
                sup.add_now(listener)
                count = sup.run(timeout=10)
                sup.close()
        assert read_json(out_r) == 0, "the target saw wrong answers"
        os.close(out_r)
        assert reap(pid) == 0
    assert count == rounds and answered[0] == rounds
    assert hits[0] >= 10, f"the storm fired only {hits[0]} times"
