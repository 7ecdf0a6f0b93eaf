"""spawn() with NOTIFY rules: the listener comes back to the parent.

The supervisor here drives libseccomp's seccomp_notify_receive/respond through
``seccomp_py._native.lib`` directly.  TODO(after merge of notify.py): switch
the supervisor to ``proc.listener`` (seccomp_py.notify.Listener).
"""

from __future__ import annotations

import errno
import os
import select
import subprocess
import sys
import threading
from typing import Any

import pytest

from seccomp_py import Action, Filter
from seccomp_py._native import check, ffi, lib
from seccomp_py.spawn import ExecForbiddenError, SeccompPopen, spawn

TIMEOUT = 20
CONTINUE = 1  # SECCOMP_USER_NOTIF_FLAG_CONTINUE


def py(code: str) -> list[str]:
    return [sys.executable, "-I", "-S", "-c", code]


def notify_filter(*names: str) -> Filter:
    f = Filter(Action.ALLOW)
    for name in names:
        f.add_rule(Action.NOTIFY, name)
    return f


class Supervisor(threading.Thread):
    """Answer each notification with the next of ``answers``: (error, flags)."""

    def __init__(self, fd: int, answers: list[tuple[int, int]]) -> None:
        super().__init__(daemon=True)
        self.fd = fd
        self.answers = list(answers)
        self.seen: list[tuple[int, int]] = []  # (pid, syscall nr)
        self.stop = threading.Event()
        self.failure: BaseException | None = None

    def run(self) -> None:
        req_p = ffi.new("struct seccomp_notif **")
        resp_p = ffi.new("struct seccomp_notif_resp **")
        check(lib.seccomp_notify_alloc(req_p, resp_p), "seccomp_notify_alloc")
        req: Any = req_p[0]
        resp: Any = resp_p[0]
        try:
            while not self.stop.is_set() and self.answers:
                ready, _, _ = select.select([self.fd], [], [], 0.05)
                if not ready:
                    continue
                ffi.memmove(req, b"\0" * ffi.sizeof("struct seccomp_notif"),
                            ffi.sizeof("struct seccomp_notif"))
                rc = lib.seccomp_notify_receive(self.fd, req)
                if rc == -errno.ENOENT:
                    continue
                check(rc, "seccomp_notify_receive")
                self.seen.append((int(req.pid), int(req.data.nr)))
                error, flags = self.answers.pop(0)
                resp.id = req.id
                resp.val = 0
                resp.error = error
                resp.flags = flags
                rc = lib.seccomp_notify_respond(self.fd, resp)
                if rc != -errno.ENOENT:
                    check(rc, "seccomp_notify_respond")
        except BaseException as exc:  # reported by the test
            self.failure = exc
        finally:
            lib.seccomp_notify_free(req, resp)


def finish(proc: SeccompPopen) -> bytes:
    try:
        out, _ = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        pytest.fail("the supervised child did not finish in time")
    return out or b""


def test_notify_child_supervised_end_to_end(tmp_path: os.PathLike[str]) -> None:
    first = os.path.join(os.fspath(tmp_path), "refused")
    second = os.path.join(os.fspath(tmp_path), "continued")
    code = ("import os\n"
            f"try:\n os.mkdir({first!r})\nexcept OSError as e:\n print(e.errno)\n"
            f"os.mkdir({second!r})\nprint('done')")
    with spawn(py(code), notify_filter("mkdir", "mkdirat"), stdout=subprocess.PIPE) as proc:
        assert proc.has_listener
        fd = proc.detach_listener()
        sup = Supervisor(fd, [(-errno.EXDEV, 0), (0, CONTINUE)])
        sup.start()
        try:
            out = finish(proc)
        finally:
            sup.stop.set()
            sup.join(TIMEOUT)
            os.close(fd)
    assert sup.failure is None, sup.failure
    assert proc.returncode == 0
    assert out.split() == [str(errno.EXDEV).encode(), b"done"]
    names = {lib.seccomp_syscall_resolve_name(n) for n in (b"mkdir", b"mkdirat")}
    assert len(sup.seen) == 2
    assert all(pid == proc.pid and nr in names for pid, nr in sup.seen)
    assert not os.path.exists(first)
    assert os.path.isdir(second)  # CONTINUE let the kernel run it


def test_without_supervisor_notified_syscall_fails_enosys() -> None:
    code = "import os\ntry:\n os.mkdir('/tmp')\nexcept OSError as e:\n print(e.errno)"
    proc = spawn(py(code), notify_filter("mkdir", "mkdirat"), stdout=subprocess.PIPE)
    proc.close_listener()
    proc.close_listener()  # twice is fine
    assert finish(proc).strip() == str(errno.ENOSYS).encode()
    with pytest.raises(ValueError):
        proc.detach_listener()


def test_listener_does_not_leak_into_child_program() -> None:
    ls = ["ls", "-l", "/proc/self/fd/"]
    with spawn(ls, notify_filter("acct"), stdout=subprocess.PIPE) as proc:
        assert proc.listener_fd >= 0
        out = finish(proc)
    assert b"seccomp" not in out and b"anon_inode" not in out
    with spawn(ls, Filter(Action.ALLOW), stdout=subprocess.PIPE) as plain:
        assert plain.listener_fd == -1 and not plain.has_listener
        baseline = finish(plain)
    # same fds (0, 1, 2 and ls's own directory fd) as without a listener
    assert len(out.splitlines()) == len(baseline.splitlines())


def test_listener_is_cloexec_in_parent() -> None:
    import fcntl

    with spawn(["/bin/true"], notify_filter("acct")) as proc:
        fd = proc.listener_fd
        assert fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC
        assert os.readlink(f"/proc/self/fd/{fd}") == "anon_inode:seccomp notify"
        proc.wait(timeout=TIMEOUT)
    assert proc.listener_fd == -1  # closed by __exit__


def test_notify_policy_must_allow_sendmsg() -> None:
    f = notify_filter("acct")
    f.add_rule(Action.KILL_PROCESS, "sendmsg")
    with pytest.raises(ExecForbiddenError) as info:
        spawn(["/bin/true"], f)
    assert info.value.syscall == "sendmsg"


def test_notify_policy_must_not_notify_exit_group() -> None:
    f = Filter(Action.NOTIFY)
    for name in ("execve", "sendmsg"):
        f.add_rule(Action.ALLOW, name)
    with pytest.raises(ExecForbiddenError) as info:
        spawn(["/bin/true"], f)
    assert info.value.syscall == "exit_group"


def test_listener_property_uses_notify_module() -> None:
    from seccomp_py import notify

    with spawn(["/bin/true"], notify_filter("acct")) as proc:
        listener = proc.listener
        assert isinstance(listener, notify.Listener)
        assert proc.listener is listener
        assert proc.listener_fd == -1
        proc.wait(timeout=TIMEOUT)
